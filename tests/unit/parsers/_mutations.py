"""Hypothesis helpers for the parsers' property tests: realistic events with values swapped or text cut.

    mutated_events(samples)   Events built from JSON samples with 1-3 values replaced by arbitrary JSON,
                              handed over decoded (as an envelope does) or as text
    cut_or_random_text(lines) arbitrary text, or a prefix of one of the sample lines
    assert_parses_cleanly(spec, event)
                              only a ParseError may escape; the output is a list of JSON-serialisable dicts
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

from parsers import ParseError, ParseOptions
from parsers.event import Event
from parsers.registry import DatasetSpec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _resolves(value: Any, key: Any) -> bool:
    if isinstance(value, dict):
        return key in value
    return isinstance(value, list) and isinstance(key, int) and key < len(value)


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> None:
    """Put `new` at `path`, unless an earlier replacement removed the path."""
    for key in path[:-1]:
        if not _resolves(value, key):
            return
        value = value[key]
    if _resolves(value, path[-1]):
        value[path[-1]] = new


def mutated_events(samples: list[dict[str, Any]]) -> st.SearchStrategy[Event]:
    prepared = [(orjson.dumps(sample), _paths(sample)) for sample in samples]

    @st.composite
    def build(draw: st.DrawFn) -> Event:
        text, paths = draw(st.sampled_from(prepared))
        obj = orjson.loads(text)
        for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
            _replace(obj, path, draw(json_values))
        if draw(st.booleans()):
            return Event(obj=obj)
        return Event(message=orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode())

    return build()


def cut_or_random_text(lines: list[str]) -> st.SearchStrategy[str]:
    prefixes = st.sampled_from(lines).flatmap(lambda line: st.integers(0, len(line)).map(lambda cut: line[:cut]))
    return st.text() | prefixes


def assert_parses_cleanly(spec: DatasetSpec, event: Event) -> None:
    try:
        docs = spec.parse_unguarded(event, ParseOptions())
    except ParseError:
        return
    assert isinstance(docs, list)
    for doc in docs:
        assert isinstance(doc, dict)
        orjson.dumps(doc)
