"""Raw records to archive objects and back. Pure: no I/O, no clock.

An archive object is gzip (mtime 0, so equal input gives equal bytes) of NDJSON, one line per Kinesis
record, its fields always in this order:

    {"stream": "...", "shard": "...", "sequence": "4959...", "sub_sequence": 0, "arrival_ms": 1700000000123,
     "partition_key": "...", "data": "<the record's bytes, base64, exactly as the KCL daemon handed them>"}

Its key names the stream, the hour of the first record's arrival, the shard and the first and last positions:

    <prefix>/stream=<name>/dt=YYYY-MM-DD/hour=HH/<shard>/<first-seq>.<sub>-<last-seq>.<sub>.ndjson.gz

so a retry of the same records writes the same key with the same bytes.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from sinks.batch import Position, RawRecord
from sinks.compress import DEFAULT_LEVEL, gzip_bytes

SUFFIX = ".ndjson.gz"
_KEY = re.compile(
    r"^stream=(?P<stream>[^/]+)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/hour=(?P<hour>[01]\d|2[0-3])/(?P<shard>[^/]+)/"
    r"(?P<fs>\d+)\.(?P<fu>\d+)-(?P<ls>\d+)\.(?P<lu>\d+)\.ndjson\.gz$")


class ArchiveFormatError(ValueError):
    """An archive object that is not what the archive writes (bad gzip, bad line, too big)."""


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    stream: str
    shard: str
    sequence: str
    sub_sequence: int
    arrival_ms: int
    partition_key: str
    data_b64: str

    @property
    def position(self) -> Position:
        return Position(int(self.sequence), self.sub_sequence)

    def raw(self) -> RawRecord:
        return RawRecord(self.sequence, self.sub_sequence, self.arrival_ms, self.partition_key, self.data_b64)


@dataclass(frozen=True, slots=True)
class ArchiveKey:
    stream: str
    dt: str
    hour: str
    shard: str
    first: Position
    last: Position


@dataclass(frozen=True, slots=True)
class PlannedObject:
    """One archive object ready to PUT."""

    key: str
    body: bytes  # gzip
    records: tuple[RawRecord, ...]
    ndjson_bytes: int  # before compression

    @property
    def first(self) -> Position:
        return self.records[0].position

    @property
    def last(self) -> Position:
        return self.records[-1].position


def partition(arrival_ms: int) -> tuple[str, str]:
    """(`YYYY-MM-DD`, `HH`) of an epoch-milliseconds time, UTC."""
    moment = datetime.fromtimestamp(arrival_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H")


def position_text(position: Position) -> str:
    return f"{position.sequence}.{position.sub_sequence}"


def parse_position(text: str) -> Position:
    sequence, _, sub = text.partition(".")
    return Position(int(sequence), int(sub or 0))


def stream_prefix(prefix: str, stream: str) -> str:
    return f"{prefix}/stream={stream}/"


def archive_key(prefix: str, stream: str, shard: str, first: RawRecord, last: RawRecord) -> str:
    dt, hour = partition(first.arrival_ms)
    return (f"{prefix}/stream={stream}/dt={dt}/hour={hour}/{shard}/"
            f"{first.sequence}.{first.sub_sequence}-{last.sequence}.{last.sub_sequence}{SUFFIX}")


def parse_archive_key(prefix: str, key: str) -> ArchiveKey | None:
    """The parts of a key the archive wrote; None for anything else under the prefix."""
    if not key.startswith(prefix + "/"):
        return None
    match = _KEY.match(key[len(prefix) + 1:])
    if match is None:
        return None
    return ArchiveKey(match["stream"], match["dt"], match["hour"], match["shard"],
                      Position(int(match["fs"]), int(match["fu"])), Position(int(match["ls"]), int(match["lu"])))


def encode_line(stream: str, shard: str, record: RawRecord) -> bytes:
    return orjson.dumps({
        "stream": stream, "shard": shard, "sequence": record.sequence, "sub_sequence": record.sub_sequence,
        "arrival_ms": record.arrival_ms, "partition_key": record.partition_key, "data": record.data_b64,
    }) + b"\n"


def compress(ndjson: bytes, level: int = DEFAULT_LEVEL) -> bytes:
    return gzip_bytes(ndjson, level)


def plan_objects(prefix: str, stream: str, shard: str, records: Sequence[RawRecord], max_object_bytes: int,
                 level: int = DEFAULT_LEVEL) -> list[PlannedObject]:
    """Cut consecutive records into objects of at most `max_object_bytes` of NDJSON (a single larger record
    gets an object of its own). The cut depends only on the records, so a retry cuts the same way."""
    planned: list[PlannedObject] = []
    lines: list[bytes] = []
    start = 0
    size = 0
    for index, record in enumerate(records):
        line = encode_line(stream, shard, record)
        if lines and size + len(line) > max_object_bytes:
            planned.append(_object(prefix, stream, shard, records[start:index], lines, size, level))
            lines, start, size = [], index, 0
        lines.append(line)
        size += len(line)
    if lines:
        planned.append(_object(prefix, stream, shard, records[start:], lines, size, level))
    return planned


def _object(prefix: str, stream: str, shard: str, records: Sequence[RawRecord], lines: list[bytes], size: int,
            level: int) -> PlannedObject:
    return PlannedObject(archive_key(prefix, stream, shard, records[0], records[-1]),
                         compress(b"".join(lines), level), tuple(records), size)


def decompress(body: bytes, max_bytes: int) -> bytes:
    """gunzip, refusing more than `max_bytes` of output (a tampered object may be a gzip bomb)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise ArchiveFormatError(f"not gzip: {exc}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise ArchiveFormatError(f"decompresses to more than {max_bytes} bytes")
    if not inflater.eof:
        raise ArchiveFormatError("truncated gzip")
    return out


def decode_lines(ndjson: bytes) -> list[ArchivedRecord]:
    records = []
    for number, line in enumerate(ndjson.splitlines(), start=1):
        if not line:
            continue
        try:
            obj = orjson.loads(line)
            records.append(ArchivedRecord(
                str(obj["stream"]), str(obj["shard"]), str(obj["sequence"]), int(obj["sub_sequence"]),
                int(obj["arrival_ms"]), str(obj["partition_key"]), str(obj["data"])))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ArchiveFormatError(f"line {number}: not an archive record ({type(exc).__name__})") from None
    return records


def decode_object(body: bytes, max_bytes: int) -> list[ArchivedRecord]:
    return decode_lines(decompress(body, max_bytes))

