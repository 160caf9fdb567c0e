"""Filters from the settings, applied to each finished document (after `document.finalize`, before the
shipper's fields: `data_stream.*`, `event.dataset`, `event.module` and labels are not there yet, and
`event.original` is there only when originals are kept).

Semantics (what the settings documentation promises):

* Rules run in their configured order. A rule applies to a document when its `datasets` is empty or names
  the document's dataset (registry name `cloudtrail` or event dataset `aws.cloudtrail`), and every condition
  holds. `drop` then removes the document (counted as dropped, reason `filtered`, and per rule name) and no
  later rule runs; `remove` and `mask` edit it and the next rules see the edited document.
* A field is a dotted path (`aws.cloudtrail.user_identity.arn`). Lists on the way are searched element by
  element (`aws.cloudtrail.resources.arn` reaches every resource's ARN); a key that itself contains dots
  (`"a.b": 1`) is found as well, as Elasticsearch treats both forms as the same field.
* A condition holds when some value at its field equals one of `equals` or is matched by `matches` (a
  regular expression searched anywhere in the value: anchor it with ^...$ for a whole-value match). Values
  compare as text: true/false for booleans, 200 for 200 and 200.0, so `equals: [200]` and `equals: ["200"]`
  mean the same. Objects never equal or match. A missing field never holds. `negate` inverts the result (a
  missing field then holds). A condition with neither test holds when the field exists.
* `remove` deletes each field (a whole object when the path names one), then any object it left empty.
* `mask` replaces every string at or under each field with `mask_with`, or only the parts matched by
  `mask_pattern` when that is set; numbers and booleans there are removed, so a masked value never leaks and
  never clashes with a numeric mapping. `event.original` holds the raw event when originals are kept: list it
  too to mask or remove a secret everywhere.

Regular expressions are compiled once per rule set (`FilterSet`), never per document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from parsers.registry import DatasetSpec
from parsers.rules import Condition, FilterRule


class Path:
    """A dotted field path, split once."""

    __slots__ = ("_joined", "keys")

    def __init__(self, dotted: str) -> None:
        self.keys = tuple(dotted.split("."))
        # keys[i:j] joined with dots, for documents that hold a dotted key literally
        self._joined = {(i, j): ".".join(self.keys[i:j])
                        for i in range(len(self.keys)) for j in range(i + 2, len(self.keys) + 1)}

    def values(self, doc: dict[str, Any]) -> list[Any]:
        found: list[Any] = []
        self._collect(doc, 0, found)
        return found

    def _collect(self, node: Any, index: int, found: list[Any]) -> None:
        if index == len(self.keys):
            if isinstance(node, list):
                found.extend(node)
            elif node is not None:
                found.append(node)
            return
        if isinstance(node, list):
            for item in node:
                self._collect(item, index, found)
            return
        if isinstance(node, dict):
            for key, end in self._routes(node, index):
                self._collect(node[key], end, found)

    def _routes(self, node: dict[str, Any], index: int) -> list[tuple[str, int]]:
        """Every key of `node` the path goes on through from keys[index], with the index after it: the key
        itself and each dotted key that joins it with the next ones. A document can hold both `a: {b: ...}`
        and a literal `a.b`; a mask that followed only one of them would leave the other in clear."""
        keys, joined = self.keys, self._joined
        routes = [(keys[index], index + 1)] if keys[index] in node else []
        routes += [(joined[index, end], end) for end in range(index + 2, len(keys) + 1) if joined[index, end] in node]
        return routes

    def edit(self, doc: dict[str, Any], change: Callable[[dict[str, Any], str], None]) -> None:
        """Call `change(parent, key)` for every place the path leads to; prune objects left empty."""
        self._edit(doc, 0, change)

    def _edit(self, node: Any, index: int, change: Callable[[dict[str, Any], str], None]) -> None:
        if isinstance(node, list):
            for item in node:
                self._edit(item, index, change)
            return
        if not isinstance(node, dict):
            return
        for key, end in self._routes(node, index):
            if end == len(self.keys):
                change(node, key)
                continue
            child = node[key]
            filled = isinstance(child, dict) and bool(child)
            self._edit(child, end, change)
            if filled and not child:  # emptied by this edit (an object that was empty already stays, as read)
                del node[key]


class _Condition:
    __slots__ = ("equals", "exists", "negate", "path", "search")

    def __init__(self, condition: Condition) -> None:
        self.path = Path(condition.field)
        self.equals = frozenset(_text(value) for value in condition.equals)
        self.search = re.compile(condition.matches).search if condition.matches is not None else None
        self.negate = condition.negate
        self.exists = not condition.equals and condition.matches is None

    def holds(self, doc: dict[str, Any]) -> bool:
        values = self.path.values(doc)
        if self.exists:
            return bool(values) != self.negate
        for value in values:
            text = _text(value)
            if text is not None and (text in self.equals or (self.search is not None and self.search(text))):
                return not self.negate
        return self.negate


class _Rule:
    __slots__ = ("action", "conditions", "datasets", "label", "mask", "paths")

    def __init__(self, rule: FilterRule, position: int) -> None:
        self.action = rule.action
        self.label = rule.name or f"filters[{position}]"
        self.datasets = frozenset(rule.datasets)
        self.conditions = tuple(_Condition(c) for c in rule.conditions)
        self.paths = tuple(Path(f) for f in rule.fields)
        self.mask = _masker(rule.mask_with, rule.mask_pattern)

    def applies(self, doc: dict[str, Any]) -> bool:
        return all(condition.holds(doc) for condition in self.conditions)


class FilterSet:
    """One stream's filter rules, compiled. Raises `re.error` for an invalid pattern (settings validate first)."""

    def __init__(self, rules: tuple[FilterRule, ...]) -> None:
        self._rules = tuple(_Rule(rule, position) for position, rule in enumerate(rules))
        self._by_dataset: dict[str, tuple[_Rule, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._rules)

    def apply(self, doc: dict[str, Any], spec: DatasetSpec) -> str | None:
        """Edit `doc` in place; return the name of the rule that drops it, or None to keep it."""
        rules = self._by_dataset.get(spec.name)
        if rules is None:
            rules = self._by_dataset[spec.name] = tuple(
                r for r in self._rules if not r.datasets or spec.name in r.datasets or spec.event_dataset in r.datasets)
        for rule in rules:
            if not rule.applies(doc):
                continue
            if rule.action == "drop":
                return rule.label
            for path in rule.paths:
                path.edit(doc, _remove if rule.action == "remove" else rule.mask)
        return None


def _remove(parent: dict[str, Any], key: str) -> None:
    del parent[key]


def _masker(mask_with: str, pattern: str | None) -> Callable[[dict[str, Any], str], None]:
    sub = re.compile(pattern).sub if pattern is not None else None

    def masked(value: Any) -> Any:
        """The masked value, or None when it must go (numbers, booleans, emptied containers)."""
        if isinstance(value, str):
            return mask_with if sub is None else sub(mask_with.replace("\\", "\\\\"), value)
        if isinstance(value, dict):
            kept = {k: m for k, v in value.items() if (m := masked(v)) is not None}
            return kept or None
        if isinstance(value, list):
            items = [m for v in value if (m := masked(v)) is not None]
            return items or None
        return None

    def mask(parent: dict[str, Any], key: str) -> None:
        value = masked(parent[key])
        if value is None:
            del parent[key]
        else:
            parent[key] = value

    return mask


def _text(value: Any) -> str | None:
    """How conditions see a value: strings as they are, numbers and booleans as JSON writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None
