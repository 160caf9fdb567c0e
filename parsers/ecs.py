"""Small helpers every parser uses to build ECS documents the way Elastic's ingest pipelines do."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from functools import lru_cache
from socket import AF_INET, AF_INET6, inet_pton
from typing import Any

from parsers.short_cache import cached_when_short

_EMPTY: tuple[object, ...] = (None, "", {}, [])


def put(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path, creating objects on the way; None and "" are not written (Elastic drops them)."""
    if value is None or value == "":
        return
    keys = path.split(".")
    node = doc
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def get(doc: dict[str, Any], path: str, default: Any = None) -> Any:
    node: Any = doc
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def pop(doc: dict[str, Any], path: str, default: Any = None) -> Any:
    keys = path.split(".")
    node: Any = doc
    for key in keys[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return default
    return node.pop(keys[-1], default) if isinstance(node, dict) else default


def drop_empty(value: Any, extra_empty: tuple[Any, ...] = ()) -> Any:
    """Remove null, "", empty objects and empty lists recursively (the pipelines' final clean-up script)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = drop_empty(item, extra_empty)
            if item in _EMPTY or (extra_empty and _is(item, extra_empty)):
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        items = [drop_empty(item, extra_empty) for item in value]
        return [i for i in items if not (i in _EMPTY or (extra_empty and _is(i, extra_empty)))]
    return value


def _is(item: Any, candidates: tuple[Any, ...]) -> bool:
    return isinstance(item, str) and item in candidates


def iso_ms(moment: datetime) -> str:
    """ES date rendering: UTC, millisecond precision, `Z`."""
    if moment.tzinfo is not None and moment.utcoffset():
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # year 1 east of UTC, year 9999 west: a bad date, as callers expect
            raise ValueError(f"{moment.isoformat()} is out of range in UTC") from None
    # What strftime("%Y-%m-%dT%H:%M:%S.") writes (glibc leaves years before 1000 unpadded), a few times
    # faster.
    return (f"{moment.year}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


def epoch_ms_to_iso(ms: int | float) -> str:
    global _last_ms
    last = _last_ms
    if last[0] == ms and type(ms) is int:
        return last[1]  # the events of a CloudWatch Logs record often share their timestamp
    if type(ms) is int and 0 <= ms < EXACT_MS:
        # Every event of a record, and every document of a batch (event.ingested), falls in the same few
        # seconds: render each second once.
        text = _second_prefix(ms // 1000) + f"{ms % 1000:03d}Z"
        _last_ms = (ms, text)  # one tuple, swapped whole: safe for threads
        return text
    return iso_ms(datetime.fromtimestamp(ms / 1000, UTC))


# Below this (year 2096), ms / 1000 is within half a microsecond of its true value, so the rendering above
# equals fromtimestamp's; later times keep the float's rounding, as they always had.
EXACT_MS = 4_000_000_000_000
_last_ms: tuple[int, str] = (-1, "")


@lru_cache(maxsize=4096)
def _second_prefix(seconds: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS.` of an epoch second, as iso_ms renders it."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def epoch_s_to_iso(seconds: int | float) -> str:
    return iso_ms(datetime.fromtimestamp(seconds, UTC))


def parse_iso(text: str) -> datetime:
    """ISO 8601 as AWS writes it (`2024-10-30T20:01:59Z`, with or without fractions/offset)."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso_to_iso_ms(text: str) -> str:
    return iso_ms(parse_iso(text))


# Cached for texts up to 64 characters (an IPv6 address with a zone id fits): the parsers ask it of fields the
# log's writer chooses, and a cache keyed by any text would keep 64 KiB values alive (~4 GiB per worker).
@cached_when_short(64, maxsize=65536)
def ip_version(text: str) -> int | None:
    """4 or 6 when `text` is an IP address, else None (hostnames such as `ssm.amazonaws.com` are common)."""
    # inet_pton takes the usual forms ~10x faster than ipaddress, and rejects only what ipaddress rejects
    # too except zone indexes (`fe80::1%eth0`): whatever it refuses goes to ipaddress, which decides.
    try:
        inet_pton(AF_INET, text)
        return 4
    except (OSError, ValueError, TypeError):
        pass
    try:
        inet_pton(AF_INET6, text)
        return 6
    except (OSError, ValueError, TypeError):
        pass
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


def packed_ip(text: str) -> bytes | None:
    """The address in network byte order (4 or 16 bytes), or None when `text` is not one inet_pton takes."""
    try:
        return inet_pton(AF_INET, text)
    except (OSError, ValueError, TypeError):
        pass
    try:
        return inet_pton(AF_INET6, text)
    except (OSError, ValueError, TypeError):
        return None


def is_ip(text: Any) -> bool:
    return isinstance(text, str) and ip_version(text) is not None


def append_unique(doc: dict[str, Any], path: str, *values: Any) -> None:
    """Add values to a list field (related.ip, related.user, ...), keeping order, skipping empties/dupes."""
    current = get(doc, path)
    items = list(current) if isinstance(current, list) else []
    for value in values:
        if value in (None, "") or value in items:
            continue
        items.append(value)
    if items:
        put(doc, path, items)


def to_int(value: Any) -> int | None:
    if value is None or value == "" or value == "-":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return int(number) if number == number and abs(number) != float("inf") else None


def to_float(value: Any) -> float | None:
    if value is None or value == "" or value == "-":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None
