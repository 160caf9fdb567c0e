"""Java's `toString()` of decoded JSON, as Elasticsearch's painless scripts write it into keyword fields.

Elastic's CloudTrail pipeline stores `requestParameters` and its siblings as `ctx.json.requestParameters
.toString()`: `{policyArn=arn:aws:iam::aws:policy/AdministratorAccess, userName=bob}`. Detection rules match
substrings of that text, so it has to come out the same, key order included. The `json` processor builds every
object as a `java.util.HashMap`, filled one key at a time in document order, so the order is HashMap's bucket
order, which this module reproduces:

* a key's bucket is `spread(String.hashCode()) & (capacity - 1)`, hashCode over UTF-16 code units;
* capacity starts at 16 and doubles when the size passes 0.75 x capacity, or when a ninth key lands in one
  bucket of a table smaller than 64 (HashMap resizes instead of turning the bucket into a tree);
* within a bucket keys keep insertion order (appended at the tail, and resizing splits buckets in order).
  Buckets that did turn into trees (nine colliding keys in a table of 64 or more) are not reproduced.

The pipeline removes null, "" and empty objects/lists before rendering; removal does not shrink a HashMap, so
the capacity is decided by all the keys the JSON had, and only the surviving ones are printed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from math import copysign, inf, isnan
from typing import Any

from parsers.short_cache import cached_when_short

MAX_DEPTH = 200  # deeper values are refused: orjson renders at most 255 levels, and ES maps far fewer
_MASK32 = 0xFFFFFFFF
_TREEIFY_AT = 8  # keys already in a bucket when one more triggers treeifyBin (TREEIFY_THRESHOLD)
_MIN_TREE_CAPACITY = 64  # below this, treeifyBin resizes the table instead (MIN_TREEIFY_CAPACITY)


# The caches below are keyed by JSON keys, which the event's writer chooses (requestParameters holds user
# maps: tags, metadata, policies' condition keys). Only short keys, and key sets of a few short keys, are
# cached: long ones would each keep their text alive in a cache of tens of thousands of entries (~4 GiB per
# worker at 64 KiB a key, measured), and are rare enough that computing them each time costs nothing.
CACHED_KEY_CHARS = 256  # per key
CACHED_KEY_SET_CHARS = 4096  # all the keys of one object together


@cached_when_short(CACHED_KEY_CHARS, maxsize=65536)
def spread_hash(key: str) -> int:
    """HashMap.hash(key): String.hashCode() with its high half folded into the low half (unsigned 32 bits)."""
    h = 0
    if key.isascii():
        for unit in key.encode():
            h = (31 * h + unit) & _MASK32
    else:
        data = key.encode("utf-16-be", "surrogatepass")
        for i in range(0, len(data), 2):
            h = (31 * h + (data[i] << 8 | data[i + 1])) & _MASK32
    return h ^ (h >> 16)


def _capacity(hashes: list[int]) -> int:
    """The table size a default-constructed HashMap reaches after putting these (distinct) keys in order."""
    capacity = 16
    if len(hashes) <= _TREEIFY_AT:  # too few keys to pass the threshold (12) or fill a bucket to nine
        return capacity
    in_bucket: dict[int, int] = {}
    for size, h in enumerate(hashes, start=1):
        bucket = h & (capacity - 1)
        already = in_bucket.get(bucket, 0)
        in_bucket[bucket] = already + 1
        grow = already >= _TREEIFY_AT and capacity < _MIN_TREE_CAPACITY
        if grow:
            capacity *= 2
        if size > capacity * 3 // 4:
            capacity *= 2
            grow = True
        if grow:
            in_bucket = {}
            for earlier in hashes[:size]:
                b = earlier & (capacity - 1)
                in_bucket[b] = in_bucket.get(b, 0) + 1
    return capacity


def iteration_order(keys: tuple[str, ...]) -> tuple[int, ...]:
    """Positions of `keys` (distinct, in insertion order) in the order a java.util.HashMap iterates them.

    Also the order of a `new HashSet()` filled with the same strings (a HashSet is a HashMap's key set).
    """
    if len(keys) <= 64 and sum(map(len, keys)) <= CACHED_KEY_SET_CHARS:
        return _cached_order(keys)
    return _iteration_order(keys)


def _iteration_order(keys: tuple[str, ...]) -> tuple[int, ...]:
    hashes = [spread_hash(k) for k in keys]
    mask = _capacity(hashes) - 1
    return tuple(sorted(range(len(keys)), key=lambda i: hashes[i] & mask))


_cached_order = lru_cache(maxsize=16384)(_iteration_order)


def ordered(keys: list[str]) -> list[str]:
    """Distinct strings in `java.util.HashSet` iteration order (the first occurrence of a repeat counts)."""
    distinct = tuple(dict.fromkeys(keys))
    return [distinct[i] for i in iteration_order(distinct)]


def to_string(value: Any) -> str | None:
    """Java `toString()` of a JSON value after Elastic's clean-up; None when nothing is left of it.

    Objects render like AbstractMap (`{k=v, k2=v2}` in HashMap order), arrays like AbstractCollection
    (`[a, b]`), numbers like Long/Double.toString, booleans as `true`/`false`, strings as they are.
    """
    return render(value)[0]


class TooDeep(ValueError):
    """A value nested deeper than MAX_DEPTH."""


def render(value: Any, depth: int = 0) -> tuple[str | None, Any]:
    """`to_string` and Elastic's clean-up in one walk: (text, the value without its null, "" and emptied
    members). The cleaned value is the same object when nothing had to go, a copy otherwise.

    Raises TooDeep for objects/arrays nested more than MAX_DEPTH levels.
    """
    kind = type(value)
    if kind is dict or kind is list:
        if depth >= MAX_DEPTH:
            raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
        if not value:
            return None, None
        return _render_map(value, depth + 1) if kind is dict else _render_list(value, depth + 1)
    if kind is str:
        return (value, value) if value else (None, None)
    if value is None:
        return None, None
    return _scalar_text(value), value


def _render_map(value: dict[str, Any], depth: int) -> tuple[str | None, Any]:
    keys = tuple(value)
    parts = []
    changed: dict[str, Any] | None = None  # key -> cleaned value, None for a removed one
    for i in iteration_order(keys):
        key = keys[i]
        item = value[key]
        kind = type(item)
        if kind is str:  # scalars inline: most values are, and a call per value would double the cost
            if item:
                parts.append(f"{key}={item}")
                continue
            cleaned = None
        elif kind is dict or kind is list:
            text, cleaned = render(item, depth)
            if text is not None:
                parts.append(f"{key}={text}")
                if cleaned is item:
                    continue
        elif item is None:
            cleaned = None
        else:
            parts.append(f"{key}={_scalar_text(item)}")
            continue
        if changed is None:
            changed = {}
        changed[key] = cleaned
    if not parts:
        return None, None
    if changed is None:
        return "{" + ", ".join(parts) + "}", value
    cleaned_map = {}
    for k, v in value.items():  # the copy keeps the JSON's key order
        if k in changed:
            v = changed[k]
            if v is None:
                continue
        cleaned_map[k] = v
    return "{" + ", ".join(parts) + "}", cleaned_map


def _render_list(value: list[Any], depth: int) -> tuple[str | None, Any]:
    texts = []
    items = []
    changed = False
    for item in value:
        text, cleaned = render(item, depth)
        if text is None:
            changed = True
            continue
        texts.append(text)
        items.append(cleaned)
        changed = changed or cleaned is not item
    if not texts:
        return None, None
    return "[" + ", ".join(texts) + "]", items if changed else value


def _scalar_text(value: Any) -> str:
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return java_double(value)
    return str(value)  # int: Integer/Long/BigInteger.toString are all plain decimal


def scalar(value: Any) -> str:
    """How a non-null value prints in Java string concatenation or a mustache template (`'{{field}}'`)."""
    if isinstance(value, str):
        return value
    text = to_string(value)
    return "" if text is None else text


def java_double(number: float) -> str:
    """Double.toString: the shortest digits that round-trip (as Python's repr), in Java's layout.

    Decimal notation for 1e-3 <= |x| < 1e7 (always with a fractional part), else `d.dddE<exp>`.
    """
    if isnan(number):
        return "NaN"
    if number in (inf, -inf):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "-0.0" if copysign(1.0, number) < 0 else "0.0"
    magnitude = abs(number)
    if 1e-3 <= magnitude < 1e7:
        return repr(number)  # repr stays positional in this range and always has a fractional part
    sign, digits, exponent = Decimal(repr(number)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = exponent + len(digits) - 1  # type: ignore[operator]  # finite: never 'n'/'N'/'F'
    if len(text) == 1 and magnitude < _MIN_NORMAL:
        text, power = _two_digits(magnitude, text, power)
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


_MIN_NORMAL = 2.2250738585072014e-308


def _two_digits(magnitude: float, text: str, power: int) -> tuple[str, int]:
    """Java writes at least two digits, and of the two-digit decimals that read back as the number it takes the
    one closest to its exact value. For a normal double that is always `d.0`; the smallest subnormals cover so
    wide a range that it is not: Double.MIN_VALUE (repr 5e-324) is `4.9E-324`, 1e-323 is `9.9E-324`."""
    exact = Decimal(magnitude)  # the binary value itself
    top = exact.adjusted()
    pair = int(exact.scaleb(1 - top).to_integral_value(ROUND_HALF_EVEN))
    if pair == 100:
        pair, top = 10, top + 1
    if float(f"{pair}e{top - 1}") != magnitude:
        return text, power
    return str(pair).rstrip("0") if pair % 10 == 0 else str(pair), top


def java_length(text: str) -> int:
    """String.length(): UTF-16 code units, so characters outside the BMP count twice."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
