"""What the benchmark feeds each stage: the corpus's Kinesis records, as the KCL daemon hands them over, and
the same events bare, as the floor reads them.

Records come from `consumer.corpus` (seeded, packed the way each source really arrives). The bare events
are taken out of those records before any timing starts (CloudWatch Logs messages, EventBridge events,
plain lines), so the floor and the parse stage see exactly the same events.
"""

from __future__ import annotations

import base64
import gzip
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from consumer import corpus

# A record as the pool and the pipeline take it:
# [sequence, sub_sequence, arrival_ms, partition_key, data_b64].
WireRecord = list
# One bare event for the floor: (field separator, text); separator None for a JSON event.
BareEvent = tuple[str | None, str]

ARRIVAL_MS = 1_793_491_200_000  # 2026-11-01T00:00:00Z, the corpus's own clock
_FIRST_SEQUENCE = 49_650_000_000_000_000_000_000_000_000_000_000_000_000_000  # shaped like a Kinesis sequence
_TAB_SEPARATED = frozenset({"cloudfront_logs"})


@dataclass(frozen=True, slots=True)
class Workload:
    name: str  # "mixed" or a dataset
    wire: tuple[WireRecord, ...]
    bare: tuple[BareEvent, ...]
    events: int
    bare_bytes: int  # UTF-8 bytes of the bare events: the MB/s of every stage are counted on these
    record_bytes: int  # Kinesis record payloads as put (gzip where CloudWatch Logs compresses)


def build(name: str, events: int, seed: int, mix: dict[str, float] | None = None) -> Workload:
    """`events` events of one dataset (`name`) or of `mix` (then `name` is only the label)."""
    records = list(corpus.records(events, seed=seed, mix=mix or {name: 1.0}))
    bare = [event for record in records for event in bare_events(record)]
    return Workload(
        name=name,
        wire=tuple(wire_records(records)),
        bare=tuple(bare),
        events=sum(r.events for r in records),
        bare_bytes=sum(len(text.encode()) for _, text in bare),
        record_bytes=sum(len(r.data) for r in records),
    )


def wire_records(records: list[corpus.KinesisRecord], first: int = 0) -> Iterator[WireRecord]:
    for offset, record in enumerate(records):
        yield wire_record(record, first + offset)


def wire_record(record: corpus.KinesisRecord, number: int) -> WireRecord:
    return [str(_FIRST_SEQUENCE + number), 0, ARRIVAL_MS + number, record.partition_key,
            base64.b64encode(record.data).decode("ascii")]


def backlog(base: Workload, events: int) -> Iterator[WireRecord]:
    """At least `events` events, generated lazily: the base workload's records again and again, each time
    with new sequence numbers, so a million-event backlog never exists in memory at once."""
    per_pass = base.events
    passes = -(-events // per_pass)
    number = 0
    for _ in range(passes):
        for wire in base.wire:
            yield [str(_FIRST_SEQUENCE + number), 0, ARRIVAL_MS + number, wire[3], wire[4]]
            number += 1


def batches(records: Iterator[WireRecord] | tuple[WireRecord, ...], size: int) -> Iterator[list[WireRecord]]:
    iterator = iter(records)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def bare_events(record: corpus.KinesisRecord) -> list[BareEvent]:
    """The events of one record as they were before packing."""
    source = corpus.SOURCES[record.dataset]
    if source.packing == "cwl":
        texts = [e["message"] for e in orjson.loads(gzip.decompress(record.data))["logEvents"]]
    elif source.packing == "eventbridge":
        texts = [record.data.decode()]
    else:
        texts = [line for line in record.data.decode().split("\n") if line]
    separator = "\t" if record.dataset in _TAB_SEPARATED else " "
    return [(None if text.startswith("{") else separator, text) for text in texts]
