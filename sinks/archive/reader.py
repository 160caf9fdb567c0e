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
from sinks.archive.manifest import ManifestEntry, parse_entry, position_of_manifest_key, shard_prefix
from sinks.batch import Position

HOUR_MS = 3_600_000
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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


def hour_partitions(s3: Any, bucket: str, base: str, since: int | None = None,
                    until: int | None = None) -> Iterator[str]:
    """`<base>dt=.../hour=.../` prefixes overlapping [since, until), oldest first."""
    low = None if since is None else since - since % HOUR_MS
    for day in list_prefixes(s3, bucket, base):
        try:
            start = datetime.strptime(_segment(day, "dt"), "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            continue
        day_ms = int(start.timestamp() * 1000)
        if (low is not None and day_ms + 24 * HOUR_MS <= low) or (until is not None and day_ms >= until):
            continue
        for hour in list_prefixes(s3, bucket, day):
            try:
                hour_ms = day_ms + int(_segment(hour, "hour")) * HOUR_MS
            except ValueError:
                continue
            if (low is None or hour_ms >= low) and (until is None or hour_ms < until):
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


def latest_entry(s3: Any, bucket: str, manifest_prefix: str, stream: str,
                 shard: str) -> tuple[str, ManifestEntry, int] | None:
    """The shard's chain head: (manifest key, entry, S3 requests made), or None for a shard never archived.

    The head is the entry with the highest last position. Entries are partitioned by their first record's
    arrival hour, which rises with the position, so the head is in the newest partition; the one before it
    is read too in case arrival times stepped back across the hour boundary.
    """
    requests = 0
    base = shard_prefix(manifest_prefix, stream, shard)
    days = list_prefixes(s3, bucket, base)
    requests += 1
    hours: list[str] = []
    for day in reversed(days[-2:]):
        hours = list_prefixes(s3, bucket, day) + hours
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
            entry = read_entry(s3, bucket, best[1])
            requests += 1
            if entry is not None:
                candidates.append((best[1], entry))
    if not candidates:
        return None
    key, entry = max(candidates, key=lambda c: c[1].last)
    return key, entry, requests
