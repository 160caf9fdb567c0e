"""What the JSON "finding" pipelines (GuardDuty, Security Hub, AWS Config) have in common.

Elastic's pipelines for these sources are long lists of `rename`/`convert`/`date` processors from the decoded
event (`json.*`) to `aws.<dataset>.*`, followed by `remove: json`: whatever no processor names is dropped.
Here such a list is written once as a *spec*, a nested dict keyed like the source object:

    spec = {
        "accountId": "account_id",                     # moved as-is under the target prefix
        "severity": Move("severity.code", to_double),  # converted; a failure is recorded, the field dropped
        "resource": {"resourceType": "resource.type"}, # walked into (other keys of `resource` are dropped)
        "tags": Move("tags", items=(...)),             # a list whose objects get the `items` renames
    }

`walk(compile_spec(spec), source, target, errors)` applies it by visiting the source's keys once, so the cost
follows the event's size, not the number of rules. Inside list items (the pipelines' `foreach` processors) keys
are renamed in place and unnamed keys are kept, as `foreach` + `rename` does (see `ops`).

The converters reproduce the `convert` and `date` processors, including their failures: a value Elasticsearch
would reject is dropped and noted in `error.message`, as the pipeline's `on_failure` handlers do.

Also used by the line parsers of this family (EKS authenticator, RDS, Redshift): `prune` (the
pipelines' final drop of empty values, faster than `ecs.drop_empty`) and `long_or_none`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any, NamedTuple

from parsers import ecs

Convert = Callable[[Any], Any]

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_MAX_EPOCH_SECONDS = 253402300799  # 9999-12-31T23:59:59Z, the last instant Python's datetime renders
_DECIMAL_LONG = re.compile(r"[+-]?[0-9]{1,20}")
_HEX_LONG = re.compile(r"-?0x[0-9a-fA-F]{1,16}")
_EXACT_DOUBLE = 2**53  # integers up to this magnitude are exact as doubles: float(n) == float(str(n))


class Move(NamedTuple):
    """Where a source value goes (dotted, relative to the target object) and how it is transformed.

    `items` renames keys inside each object of a list value (built with `ops`).
    """

    dst: str
    convert: Convert | None = None
    items: tuple[Any, ...] | None = None


def quiet(fn: Convert) -> Convert:
    """A converter whose failure drops the value without an error (the processor has `ignore_failure`)."""

    def converter(value: Any) -> Any:
        try:
            return fn(value)
        except ValueError:
            return None

    return converter


# ---------------------------------------------------------------------------------------------------------
# The `convert` processor. Elasticsearch converts `value.toString()`, so numbers are judged by their Java text.


def java_string(value: Any) -> str:
    """`Object.toString()` for what JSON decodes to, e.g. 5.0 -> "5.0", 1e7 -> "1.0E7", True -> "true"."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(java_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_string(v)}" for k, v in value.items()) + "}"
    return str(value)


def java_double(value: float) -> str:
    """`Double.toString`: plain notation in [1e-3, 1e7), otherwise `d.dddE±n`, always with a fraction digit."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    power = len(mantissa) - 1 + exponent
    fraction = mantissa[1:] or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{fraction}E{power}"


def _long(value: Any) -> int:
    # Long.parseLong(toString), or Long.decode for hex: 8.0 fails ("8.0" is no long), "42" succeeds.
    text = java_string(value)
    if _DECIMAL_LONG.fullmatch(text):
        number = int(text)
    elif _HEX_LONG.fullmatch(text):
        number = int(text.replace("0x", "", 1), 16)
    else:
        raise ValueError(f"unable to convert [{text}] to long")
    if not _LONG_MIN <= number <= _LONG_MAX:
        raise ValueError(f"unable to convert [{text}] to long")
    return number


def _double(value: Any) -> float:
    # Double.parseDouble(toString): "true" is no number; NaN and infinities are refused (not JSON).
    text = java_string(value).strip()
    try:
        number = float(text) if "_" not in text else math.nan  # Python reads "1_000", Java does not
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or isinstance(value, bool):
        raise ValueError(f"unable to convert [{text}] to double")
    return number


def _boolean(value: Any) -> bool:
    text = java_string(value).lower()
    if text == "true":
        return True
    if text == "false":
        return False
    raise ValueError(f"[{java_string(value)}] is not a boolean value, cannot convert to boolean")


def _ip(value: Any) -> str:
    text = java_string(value)
    if ecs.ip_version(text) is None:
        raise ValueError(f"'{text}' is not an IP string literal.")
    return text


def long_or_none(value: Any) -> int | None:
    """A number (or its decimal text) as an int that fits Elasticsearch's `long`, else None."""
    if type(value) is str:
        value = int(value) if len(value) <= 19 and value.isascii() and value.isdigit() else None
    elif type(value) is float:
        value = int(value) if math.isfinite(value) and abs(value) < 9.2e18 else None
    elif type(value) is not int:
        return None
    return value if value is not None and _LONG_MIN <= value <= _LONG_MAX else None


# The converters below answer the usual JSON value (an int for a long, a float for a double, a bool for a
# boolean, an address for an ip) directly: what `_long`/`_double`/... would return for it, without the Java
# text round trip (a third of GuardDuty's conversion time). Anything else takes the faithful path.


def to_long(value: Any) -> Any:
    if type(value) is int and _LONG_MIN <= value <= _LONG_MAX:
        return value
    return [_long(item) for item in value] if type(value) is list else _long(value)


def to_double(value: Any) -> Any:
    kind = type(value)
    if kind is float and math.isfinite(value):
        return value  # Double.parseDouble(Double.toString(x)) == x
    if kind is int and -_EXACT_DOUBLE <= value <= _EXACT_DOUBLE:
        return float(value)
    return [_double(item) for item in value] if kind is list else _double(value)


def to_boolean(value: Any) -> Any:
    if type(value) is bool:
        return value
    return [_boolean(item) for item in value] if type(value) is list else _boolean(value)


def to_ip(value: Any) -> Any:
    if type(value) is str and ecs.ip_version(value) is not None:
        return value
    return [_ip(item) for item in value] if type(value) is list else _ip(value)


def to_string(value: Any) -> Any:
    if type(value) is str:
        return value
    return [java_string(item) for item in value] if type(value) is list else java_string(value)


def ip_elements(value: Any) -> Any:
    """`foreach` + `convert: ip` with an `on_failure` that removes the element: keep the valid addresses."""
    if not isinstance(value, list):
        return value
    return [item for item in value if isinstance(item, str) and ecs.ip_version(item) is not None]


# ---------------------------------------------------------------------------------------------------------
# The `date` processor: the value's text is tried against each format, the result rendered in UTC with ms.


# AWS's own timestamps: `2024-10-30T20:01:59Z` or `2024-10-30T20:01:59.123Z`, a year from 1000 on. For these
# the rendering is the text itself (with `.000` added), once `fromisoformat` has checked the date exists:
# ~5x cheaper than parsing to a datetime and formatting it back.
_AWS_ISO = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?Z")


def _iso8601(text: str) -> str:
    if _AWS_ISO.fullmatch(text):
        datetime.fromisoformat(text[:19])  # ValueError for a day or time that does not exist, as below
        return text if len(text) == 24 else text[:19] + ".000Z"
    return ecs.iso_to_iso_ms(text)


def _unix(text: str) -> str:
    if "_" in text:
        raise ValueError(text)  # Python's float() reads "1_000", Java's parseDouble does not
    return _unix_seconds(float(text))


def _unix_seconds(seconds: float) -> str:
    # Java: (long) (Double.parseDouble(text) * 1000), truncating toward zero.
    if not math.isfinite(seconds) or abs(seconds) > _MAX_EPOCH_SECONDS:
        raise ValueError(f"unable to parse date [{java_double(seconds)}]")
    return ecs.epoch_ms_to_iso(int(seconds * 1000.0))


def _unix_ms(text: str) -> str:
    if not text.lstrip("-").isdigit():
        raise ValueError(text)
    return ecs.epoch_ms_to_iso(int(text))


def _date(*formats: Callable[[str], str]) -> Convert:
    def converter(value: Any) -> str:
        if type(value) is float:
            # Its Java text ("1.7E9") is no ISO8601 date nor a UNIX_MS integer: only UNIX can read it.
            if _unix not in formats:
                raise ValueError(f"unable to parse date [{java_double(value)}]")
            return _unix_seconds(value)
        text = java_string(value)
        for parse in formats:
            try:
                return parse(text)
            except (ValueError, OverflowError, OSError):
                continue
        raise ValueError(f"unable to parse date [{text}]")

    return converter


date_iso_or_unix = _date(_iso8601, _unix)  # formats: ISO8601, UNIX (the third, a literal ISO form, adds nothing)
date_iso = _date(_iso8601)
date_unix_ms_or_unix = _date(_unix_ms, _unix)


# ---------------------------------------------------------------------------------------------------------
# Mustache: `append` values such as '{{{aws.guardduty.id}}}' are rendered to text.


def add(values: list[str], *candidates: Any) -> None:
    """`append` with `allow_duplicates: false` of templated values: rendered to text, absent and empty ones
    skipped (the pipelines drop the empty strings a missing value renders to)."""
    for value in candidates:
        if value is None:
            continue
        text = value if type(value) is str else java_string(value)
        if text and text not in values:
            values.append(text)


# ---------------------------------------------------------------------------------------------------------
# The spec walk. Specs are compiled once at import (paths split, leaves made uniform) so the walk only does
# dict look-ups.


class _Rule:
    """A compiled leaf: where it goes (`dst`), and the same below its spec node's `base` (`rel` + `leaf`)."""

    __slots__ = ("convert", "dst", "items", "leaf", "plain", "rel")

    def __init__(self, dst: tuple[str, ...], convert: Convert | None, items: tuple[_Op, ...] | None) -> None:
        self.dst = dst
        self.rel = dst[:-1]  # made relative by `_relative`
        self.leaf = dst[-1]
        self.convert = convert
        self.items = items
        self.plain = convert is None and items is None  # moved as it is


class Spec:
    """A compiled spec node: the source keys that are leaves, those walked into, and `base`, the start every
    destination below it shares (`suffix`: what it adds to its parent's), where its leaves' `rel` begin."""

    __slots__ = ("base", "children", "leaves", "suffix")

    def __init__(self, leaves: dict[str, _Rule], children: dict[str, Spec]) -> None:
        self.leaves = leaves
        self.children = children
        self.base: tuple[str, ...] = ()
        self.suffix: tuple[str, ...] = ()


_Op = tuple[tuple[str, ...], tuple[str, ...], Any]


def compile_spec(spec: dict[str, Any]) -> Spec:
    """Turn a readable spec (see the module docstring) into the form `walk` runs.

    No destination may be the start of another (`a.b` and `a.b.c`): `walk` keeps the objects it writes into,
    which holds only while nothing replaces one of them. ValueError otherwise."""
    compiled = _compile(spec)
    destinations = sorted(_destinations(compiled))
    for shorter, longer in pairwise(destinations):
        if longer[:len(shorter)] == shorter and len(longer) > len(shorter):
            raise ValueError(f"spec destination {'.'.join(shorter)} is the start of {'.'.join(longer)}")
    _relative(compiled, ())
    return compiled


def _compile(spec: dict[str, Any]) -> Spec:
    leaves: dict[str, _Rule] = {}
    children: dict[str, Spec] = {}
    for key, rule in spec.items():
        if isinstance(rule, dict):
            children[key] = _compile(rule)
        elif isinstance(rule, str):
            leaves[key] = _Rule(tuple(rule.split(".")), None, None)
        else:
            leaves[key] = _Rule(tuple(rule.dst.split(".")), rule.convert, rule.items)
    return Spec(leaves, children)


def _destinations(spec: Spec) -> list[tuple[str, ...]]:
    found = [rule.dst for rule in spec.leaves.values()]
    for child in spec.children.values():
        found.extend(_destinations(child))
    return found


def _relative(spec: Spec, above: tuple[str, ...]) -> None:
    """Set each node's base (the longest start its destinations' parent objects share) and suffix, and make
    its leaves' paths relative to the base."""
    parents = [dst[:-1] for dst in _destinations(spec)]
    base = parents[0] if parents else above
    for path in parents[1:]:
        while path[:len(base)] != base:
            base = base[:-1]
    spec.base, spec.suffix = base, base[len(above):]
    for rule in spec.leaves.values():
        rule.rel = rule.dst[len(base):-1]
    for child in spec.children.values():
        _relative(child, base)


def items(*triples: tuple[str, str, Any]) -> Move:
    """A nested list inside a list element, for `ops`: its objects get these renames."""
    return Move("", items=ops(*triples))


def ops(*triples: tuple[str, str, Any]) -> tuple[_Op, ...]:
    """Renames inside list elements, written as ("a.b", "x.y", how); `how` is None (move), a converter, DROP
    (a `remove` processor), or `items(...)` for a list nested in the element."""
    return tuple((tuple(src.split(".")), tuple(dst.split(".")), how) for src, dst, how in triples)


def walk(spec: Spec, source: dict[str, Any], target: dict[str, Any], errors: list[str],
         above: dict[str, Any] | None = None) -> None:
    """Move what a compiled `spec` names from `source` into `target`; the rest is dropped.

    The walk is most of these parsers' cost, so the usual leaf (a scalar, moved or converted) is written here
    rather than through `_apply`/`_put`, and not from `target` down: from the object at the spec node's
    `base`, made (or found) at the node's first write, from the enclosing node's (`above`) when that one was
    made. A node's leaves mostly sit right in it, so a field costs a dict store rather than ~2 path steps.
    Objects and lists take `_apply` (they are pruned). No object the walk writes into is ever replaced (no
    destination is the start of another: `compile_spec`), so holding on to them is safe."""
    base = above if not spec.suffix else None
    leaves = spec.leaves
    for key, value in source.items():
        rule = leaves.get(key)
        if rule is None:
            child = spec.children.get(key)
            if child is not None and type(value) is dict:
                walk(child, value, target, errors, base)
            continue
        if not rule.plain:
            if rule.items is not None:
                _apply(rule.dst, None, rule.items, value, target, errors)
                continue
            if value is None or value == "":
                continue
            try:
                value = rule.convert(value)
            except ValueError as exc:
                errors.append(str(exc))
                continue
        kind = type(value)
        if kind is str:
            if not value:
                continue
        elif kind is dict or kind is list:
            # Through `_apply` as before: a value nested close to Python's recursion limit then fails
            # (too_deep) at the same depth as it always has.
            _apply(rule.dst, None, None, value, target, errors)
            continue
        elif value is None:
            continue
        if base is None:
            base = _object_at(above, spec.suffix) if above is not None else _object_at(target, spec.base)
        (_object_at(base, rule.rel) if rule.rel else base)[rule.leaf] = value


def _object_at(node: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The object at `keys` below `node`, made on the way where missing (or not an object), as `_put` does."""
    for key in keys:
        child = node.get(key)
        if type(child) is not dict:
            child = node[key] = {}
        node = child
    return node


def _apply(dst: tuple[str, ...], convert: Convert | None, item_ops: tuple[_Op, ...] | None, value: Any,
           target: dict[str, Any], errors: list[str]) -> None:
    if item_ops is not None:
        if type(value) is list:
            for item in value:
                if type(item) is dict:
                    rename_items(item, item_ops, errors)
    elif convert is not None:
        if value is None or value == "":
            return
        try:
            value = convert(value)
        except ValueError as exc:
            errors.append(str(exc))
            return
    _put(target, dst, value)


def rename_items(item: dict[str, Any], item_ops: tuple[_Op, ...], errors: list[str]) -> None:
    """Rename inside one list element, in place (keys no op names stay, as with `foreach` + `rename`)."""
    for src, dst, how in item_ops:
        # Most ops name a key of the element itself, and most are absent from it: a plain pop, no call.
        value = item.pop(src[0], _MISSING) if len(src) == 1 else _pop_path(item, src)
        if value is _MISSING or how is DROP:
            continue
        if how is None:
            _put(item, dst, value)
        elif type(how) is Move:
            _apply(dst, None, how.items, value, item, errors)
        else:
            _apply(dst, how, None, value, item, errors)


_MISSING = object()
DROP: Any = object()


def _pop_path(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = obj
    for key in path[:-1]:
        node = node.get(key)
        if type(node) is not dict:
            return _MISSING
    return node.pop(path[-1], _MISSING)


def _put(target: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    """Set a path, replacing non-object intermediates (a rename onto `image.value` replaces `image`).

    Empty values are not written, and objects and lists are written without their empty parts: the
    pipelines end by dropping null, "", {} and [] everywhere.
    """
    kind = type(value)
    if kind is dict or kind is list:
        value = prune(value)
        if not value:
            return
    elif value is None or value == "":
        return
    node = target
    for key in keys[:-1]:
        child = node.get(key)
        if type(child) is not dict:
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def prune(value: Any) -> Any:
    """A copy without null, "", {} and [] at any depth (the pipelines' final clean-up script)."""
    if type(value) is dict:
        out = {}
        for key, item in value.items():
            kind = type(item)
            if kind is dict or kind is list:
                item = prune(item)
                if not item:
                    continue
            elif item is None or item == "":
                continue
            out[key] = item
        return out
    if type(value) is list:
        kept = []
        for item in value:
            kind = type(item)
            if kind is dict or kind is list:
                item = prune(item)
                if not item:
                    continue
            elif item is None or item == "":
                continue
            kept.append(item)
        return kept
    return value


def error_fields(doc: dict[str, Any], errors: list[str]) -> None:
    """What the pipelines' `on_failure` handlers leave: the messages in `error.message`."""
    if errors:
        doc["error"] = {"message": errors}


