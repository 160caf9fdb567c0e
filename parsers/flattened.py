"""Values bound for `flattened` fields (OpenSearch: `flat_object`): what makes a cluster refuse the whole document.

A `flattened` field indexes every leaf twice, as `value` and as `path\\0value` (OpenSearch: `value` and
`field.path=value`), one keyword term each, so one oversized leaf fails the document (HTTP 400, a dead letter):

* Lucene refuses a term over 32 766 UTF-8 bytes. Elasticsearch's `ignore_above` on our flattened mappings
  (8191 characters, at most 3 UTF-8 bytes each) leaves long values out, but OpenSearch's flat_object has no
  `ignore_above`, and a long key still counts in the keyed term;
* Elasticsearch refuses a key holding `\\0` (its separator) and an object nested deeper than the mapping's
  `depth_limit`: DEPTH_LIMIT, which the mappings set (scripts/gen_search_mappings.py).

`refusal()` says whether a value would be refused (CloudTrail then leaves out its flattened copy: the rendered
text keeps everything); `fit()` cuts long leaves and keys of free-form values (WAF headers, Config rule
parameters) so the event still indexes, with a marker saying so.
"""

from __future__ import annotations

from typing import Any

TERM_LIMIT = 32766  # Lucene's IndexWriter.MAX_TERM_LENGTH, in UTF-8 bytes
DEPTH_LIMIT = 200  # the flattened mappings' depth_limit: javamap.MAX_DEPTH nested values at most come out
# Leaves and keys of free-form values are cut to this many UTF-8 bytes. 8 KB keeps the leaf under
# Elasticsearch's `ignore_above` (8191 characters), so the cut value is still indexed and searchable by its
# start, and leaves room under TERM_LIMIT for the key and OpenSearch's `field.path=` prefix. Real header values
# and rule parameters are far shorter (ALB accepts 16 KB for a whole header line; Config 1 KB per parameter).
LEAF_BUDGET = 8192
TRUNCATED = "...[truncated]"
_SEPARATOR = "\0"


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _text(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def refusal(value: Any, field: str, rendered: str | None = None) -> str | None:
    """Why a cluster would refuse `value` as the flattened field named `field` (dotted, full), or None.

    `rendered`: a text holding every key and leaf of `value` (its Java-map rendering), nested no deeper than
    DEPTH_LIMIT. When it is short, no key path and leaf together can reach the term limit even at 4 UTF-8
    bytes a character, and only a `\0` in it can be refused: the walk over every leaf is skipped, as it is
    for nearly every CloudTrail value (the check costs ~5 % of CloudTrail's parse when walked every time)."""
    prefix = _size(field) + 2  # OpenSearch's "field." before the path and "=" (Elasticsearch: "\0") after it
    if rendered is not None and prefix + 8 * len(rendered) <= TERM_LIMIT and _SEPARATOR not in rendered:
        return None
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            if depth > DEPTH_LIMIT:
                return f"nested deeper than {DEPTH_LIMIT} objects"
            for key, child in node.items():
                if _SEPARATOR in key:
                    return "a key holds \\0"
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, path, depth) for item in node)  # arrays add no level
        elif node is not None and prefix + _size(path) + _size(_text(node)) > TERM_LIMIT:
            return f"the leaf {path[:80]!r} is longer than Lucene's {TERM_LIMIT}-byte term limit"
    return None


def cut(text: str, budget: int = LEAF_BUDGET) -> str:
    """`text` if it fits in `budget` UTF-8 bytes, else its start (whole characters) and the TRUNCATED marker."""
    if len(text) * 4 <= budget or _size(text) <= budget:
        return text
    head = text.encode("utf-8", "surrogatepass")[:budget - len(TRUNCATED)]
    return head.decode("utf-8", "ignore") + TRUNCATED


def fit(value: Any, field: str, budget: int = LEAF_BUDGET) -> Any:
    """`value` with its string leaves and keys cut to `budget` bytes and `\\0` in keys replaced by U+FFFD, or
    None when it would still be refused (nested too deeply). Returns `value` itself when nothing needed cutting."""
    if refusal(value, field) is None and not _oversized(value, budget):
        return value
    fitted = _fit(value, budget)
    return fitted if refusal(fitted, field) is None else None


def _oversized(value: Any, budget: int) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if any(cut(key, budget) is not key for key in node):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and cut(node, budget) is not node:
            return True
    return False


def _fit(value: Any, budget: int, depth: int = 0) -> Any:
    if depth > DEPTH_LIMIT:
        return value  # refused anyway: refusal() says so, and Python's recursion stays bounded
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out[cut(key.replace(_SEPARATOR, "\ufffd"), budget)] = _fit(child, budget, depth + 1)
        return out
    if isinstance(value, list):
        return [_fit(item, budget, depth + 1) for item in value]
    return cut(value, budget) if isinstance(value, str) else value
