"""Hypothesis strategy for the line-format parsers: sample lines with fields swapped, dropped or repeated.

    mutated_lines(samples)   a sample line split on its separator (tab if it has one, else space), with 1-4
                             fields replaced by tricky values, deleted or duplicated, or cut short
"""

from __future__ import annotations

from hypothesis import strategies as st

# Values that trip parsers: dashes and quotes, numbers out of range or in other scripts, odd addresses,
# URL syntax, control and bidi characters.
TRICKY = ["-", "", " ", "\t", '"', '""', '"-"', "-1", "0", "00", "+5", "1.5", "9" * 25, "1e308", "NaN",
          "١٢٣", "\u200f", "\u00a0", "ǅ", "\x00", "😀", "::", "::ffff:1.2.3.4", "2a02:cf40::", "256.1.1.1",
          "1.2.3.4:0", "[::1]:443", "%", "%zz", "?#", "http://", "http://[::1", "/a b", "x" * 2000]


@st.composite
def _mutate(draw: st.DrawFn, samples: list[str]) -> str:
    line = draw(st.sampled_from(samples))
    separator = "\t" if "\t" in line else " "
    fields = line.split(separator)
    for _ in range(draw(st.integers(1, 4))):
        if not fields:
            break
        at = draw(st.integers(0, len(fields) - 1))
        action = draw(st.sampled_from(("replace", "replace", "delete", "duplicate", "text")))
        if action == "replace":
            fields[at] = draw(st.sampled_from(TRICKY))
        elif action == "delete":
            del fields[at]
        elif action == "duplicate":
            fields.insert(at, fields[at])
        else:
            fields[at] = draw(st.text(max_size=30))
    mutated = separator.join(fields)
    return mutated[:draw(st.integers(0, len(mutated)))] if draw(st.booleans()) else mutated


def mutated_lines(samples: list[str]) -> st.SearchStrategy[str]:
    return _mutate(samples)
