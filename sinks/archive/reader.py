"""Find and read what the archive wrote: objects and manifest entries by stream, shard and time range.

Time ranges select hour partitions (`dt=YYYY-MM-DD/hour=HH`), found by listing with a delimiter rather than
by counting hours, so an open range over years of archive costs one LIST per day that has data.
`since` is inclusive and `until` exclusive, both epoch milliseconds; a partition is selected when any of
its hour overlaps the range. Callers that need record precision filter on `arrival_ms` themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from sinks.archive.encode import ArchiveKey, parse_archive_key
from sinks.archive.manifest import (
    ManifestEntry,
    ManifestError,
    parse_entry,
    position_of_manifest_key,
    shard_prefix,
)
from sinks.batch import Position

HOUR_MS = 3_600_000
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_HOUR = re.compile(r"[01]\d|2[0-3]")


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    size: int
    parsed: ArchiveKey | None  # None: not a key the archive writes


def parse_time(text: str, now: datetime | None = None) -> int:
    """Epoch ms from ISO 8601 (`2024-05-01`, `2024-05-01T13:00:00Z`, offsets allowed; naive means UTC) or an
    age (`90m`, `24h`, `7d`: that long before now)."""
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        moment = (now or datetime.now(UTC)) - timedelta(seconds=int(match[1]) * _UNITS[match[2]])
        return int(moment.timestamp() * 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO 8601 like 2024-05-01T13:00:00Z, or an age like 24h)") \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def list_prefixes(s3: Any, bucket: str, prefix: str) -> list[str]:
    """The next level of "folders" below `prefix` (which ends with '/')."""
    found: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        found.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    return found


def list_objects(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], int(item["Size"])


def get_bytes(s3: Any, bucket: str, key: str, version_id: str | None = None) -> bytes | None:
    """The object's bytes, or None when there is no such key (or version)."""
    params = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    try:
        return s3.get_object(**params)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404", "InvalidArgument"):
            return None
        raise


def read_entry(s3: Any, bucket: str, key: str) -> ManifestEntry | None:
    body = get_bytes(s3, bucket, key)
    return None if body is None else parse_entry(body)


def _segment(prefix: str, name: str) -> str:
    return prefix.rstrip("/").rsplit("/", 1)[-1].removeprefix(f"{name}=")


def _day_start(prefix: str) -> int | None:
    """Epoch ms of a `dt=YYYY-MM-DD/` prefix; None for anything else."""
    text = _segment(prefix, "dt")
    if not _DAY.fullmatch(text):
        return None
    try:
        start = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(start.timestamp() * 1000)


def _hour_offset(prefix: str) -> int | None:
    """Milliseconds into its day of an `hour=HH/` prefix (00-23); None for anything else, such as hour=99,
    which the archive never writes and which would otherwise pass for a later hour."""
    text = _segment(prefix, "hour")
    return int(text) * HOUR_MS if _HOUR.fullmatch(text) else None


def _days(s3: Any, bucket: str, base: str) -> list[tuple[int, str]]:
    """(start ms, prefix) of the `dt=` partitions below `base`, oldest first."""
    found = [(_day_start(day), day) for day in list_prefixes(s3, bucket, base)]
    return [(start, day) for start, day in found if start is not None]


def _hours(s3: Any, bucket: str, day: str, day_ms: int) -> list[tuple[int, str]]:
    """(start ms, prefix) of the `hour=` partitions below one day, oldest first."""
    found = [(_hour_offset(hour), hour) for hour in list_prefixes(s3, bucket, day)]
    return [(day_ms + offset, hour) for offset, hour in found if offset is not None]


def hour_partitions(s3: Any, bucket: str, base: str, since: int | None = None,
                    until: int | None = None) -> Iterator[str]:
    """`<base>dt=.../hour=.../` prefixes overlapping [since, until), oldest first."""
    low = None if since is None else since - since % HOUR_MS
    for day_ms, day in _days(s3, bucket, base):
        if (low is not None and day_ms + 24 * HOUR_MS <= low) or (until is not None and day_ms >= until):
            continue
        for hour_ms, hour in _hours(s3, bucket, day, day_ms):
            if (low is None or hour_ms >= low) and (until is None or hour_ms < until):
                yield hour


def partitions_before(s3: Any, bucket: str, base: str, moment: int) -> Iterator[str]:
    """`<base>dt=.../hour=.../` prefixes of the hours before the one holding `moment`, newest first.
    Lazy: a caller that stops early lists only the days it walked through."""
    low = moment - moment % HOUR_MS
    for day_ms, day in reversed(_days(s3, bucket, base)):
        if day_ms >= low:
            continue
        for hour_ms, hour in reversed(_hours(s3, bucket, day, day_ms)):
            if hour_ms < low:
                yield hour


def streams(s3: Any, bucket: str, prefix: str, only: str | None = None) -> list[str]:
    if only:
        return [only]
    return [_segment(p, "stream") for p in list_prefixes(s3, bucket, f"{prefix}/")
            if p.rstrip("/").rsplit("/", 1)[-1].startswith("stream=")]


def archive_objects(s3: Any, bucket: str, prefix: str, stream: str | None = None, since: int | None = None,
                    until: int | None = None) -> Iterator[ListedObject]:
    for name in streams(s3, bucket, prefix, stream):
        for hour in hour_partitions(s3, bucket, f"{prefix}/stream={name}/", since, until):
            for key, size in list_objects(s3, bucket, hour):
                yield ListedObject(key, size, parse_archive_key(prefix, key))


def shards(s3: Any, bucket: str, manifest_prefix: str, stream: str) -> list[str]:
    return [p.rstrip("/").rsplit("/", 1)[-1] for p in list_prefixes(s3, bucket, f"{manifest_prefix}/stream={stream}/")]


def manifest_keys(s3: Any, bucket: str, manifest_prefix: str, stream: str | None = None,
                  since: int | None = None, until: int | None = None) -> Iterator[tuple[str, str, str]]:
    """(key, stream, shard) of every manifest entry in the range."""
    for name in streams(s3, bucket, manifest_prefix, stream):
        for shard in shards(s3, bucket, manifest_prefix, name):
            for hour in hour_partitions(s3, bucket, shard_prefix(manifest_prefix, name, shard), since, until):
                for key, _ in list_objects(s3, bucket, hour):
                    yield key, name, shard


def objects_running_into(s3: Any, bucket: str, prefix: str, manifest_prefix: str, stream: str | None,
                         since: int) -> Iterator[ListedObject]:
    """Archive objects filed under an hour before `since`'s whose records run on past `since`.

    An object is filed under its first record's arrival hour, so a batch that spans an hour boundary (a quiet
    or lagging shard) has records after `since` in an earlier partition, which `archive_objects` does not
    select. Each shard's manifest entries are read newest first, back through earlier partitions, until one
    ends before `since`: within a shard arrival rises with position, so every entry before it ends earlier.
    """
    for name in streams(s3, bucket, manifest_prefix, stream):
        for shard in shards(s3, bucket, manifest_prefix, name):
            for entry in _entries_ending_after(s3, bucket, shard_prefix(manifest_prefix, name, shard), since):
                parsed = parse_archive_key(prefix, entry.key)
                if parsed is not None and (parsed.stream, parsed.shard) == (name, shard):
                    yield ListedObject(entry.key, entry.size, parsed)


def _entries_ending_after(s3: Any, bucket: str, base: str, since: int) -> Iterator[ManifestEntry]:
    for hour in partitions_before(s3, bucket, base, since):
        named = [(position_of_manifest_key(key), key) for key, _ in list_objects(s3, bucket, hour)]
        for _, key in sorted(((p, k) for p, k in named if p is not None), reverse=True):
            try:
                entry = read_entry(s3, bucket, key)
            except ValueError:
                continue  # not an entry: `verify` reports it; the walk goes on to the entries around it
            if entry is None:
                continue
            if entry.last_arrival_ms < since:
                return
            yield entry


def latest_entry(s3: Any, bucket: str, manifest_prefix: str, stream: str,
                 shard: str) -> tuple[str, ManifestEntry, int] | None:
    """The shard's chain head: (manifest key, entry, S3 requests made), or None for a shard never archived.

    The head is the entry with the highest last position. Entries are partitioned by their first record's
    arrival hour, which rises with the position, so the head is in the newest partition; the one before it
    is read too in case arrival times stepped back across the hour boundary.
    """
    requests = 0
    base = shard_prefix(manifest_prefix, stream, shard)
    days = _days(s3, bucket, base)
    requests += 1
    hours: list[str] = []
    for day_ms, day in reversed(days[-2:]):
        hours = [hour for _, hour in _hours(s3, bucket, day, day_ms)] + hours
        requests += 1
        if len(hours) >= 2:
            break
    candidates: list[tuple[str, ManifestEntry]] = []
    for hour in hours[-2:]:
        best: tuple[Position, str] | None = None
        for key, _ in list_objects(s3, bucket, hour):
            position = position_of_manifest_key(key)
            if position is not None and (best is None or position > best[0]):
                best = (position, key)
        requests += 1
        if best is not None:
            try:
                entry = read_entry(s3, bucket, best[1])
            except ManifestError as exc:
                raise ManifestError(f"s3://{bucket}/{best[1]}: {exc}") from None
            requests += 1
            if entry is not None:
                candidates.append((best[1], entry))
    if not candidates:
        return None
    key, entry = max(candidates, key=lambda c: c[1].last)
    return key, entry, requests
