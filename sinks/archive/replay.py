"""Re-parse archived records into documents and send them to a search target.

The documents are built by the live pipeline's own code (`consumer.pool.parse_chunk`, which calls
`sinks.documents`), with the same ids and `event.ingested`, so replaying a range into an empty namespace
reproduces byte for byte what the live pipeline wrote. Into the live target, documents already there stay as
they are: bulk `create` answers 409 for them, which is counted, not retried. To rebuild after a parser or
mapping change, replay into a new namespace (or index pattern) and switch readers over.

Objects are read per shard in position order; a record at or below the highest position already replayed
for its shard is a re-read duplicate (archived twice) and is skipped. Records are replayed when their
arrival time is in [since, until). An object is filed under its first record's arrival hour, so one that
starts before `since` and runs on into the range is found through its manifest entry's last arrival.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from sinks.archive import reader
from sinks.archive.encode import ArchiveKey, decode_object
from sinks.batch import BulkItem, DeadLetter, Position

MAX_DECODED_BYTES = 1024 * 1024 * 1024
MAX_IN_FLIGHT = 4  # bulk deliveries outstanding at once: keeps the target busy without buffering the archive


class DocumentTarget(Protocol):
    """Where documents go: `sinks.search.service.SearchSink` or a test double.

    Counting: a target with `stats()` (SearchSink: `indexed`, `duplicates` = 409s, `dead_lettered`,
    `spilled`) is read before and after; otherwise each future's result may carry `created`, `conflicts` and
    `dead_lettered`; otherwise every item sent counts as created."""

    def deliver(self, items: Sequence[BulkItem]) -> Future[Any]: ...


Records = dict[tuple[str, str], set[Position]]  # (stream key, shard) -> record positions


class Parse(Protocol):
    """(stream, shard, wire records) -> something with `.items` and `.dead_letters` (consumer.pool.Parsed),
    and optionally `.deferred`: records to parse in another round (a record with a sixth field goes on from
    that log-object pointer), as the live pipeline does."""

    def __call__(self, stream: str, shard: str, records: Sequence[Sequence[Any]]) -> Any: ...


@dataclass(slots=True)
class ReplayReport:
    objects: int = 0
    bytes_read: int = 0
    records: int = 0
    duplicate_records: int = 0
    out_of_range_records: int = 0
    documents: int = 0
    created: int = 0
    conflicts: int = 0
    dead_lettered: int = 0
    parse_failures: int = 0
    skipped_documents: int = 0  # other datasets, with --dataset
    failure_reasons: Counter[str] = field(default_factory=Counter)  # the parse failures, by reason
    seconds: float = 0.0
    high_water: dict[str, str] = field(default_factory=dict)  # "stream/shard" -> last position replayed
    replayed: set[tuple[str, str, Position]] = field(default_factory=set)  # with `only`: the records found


class RateLimiter:
    """At most `rate` documents a second on average, bursts up to one second's worth."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = rate or 0.0
        self._at = clock()

    def acquire(self, count: int) -> None:
        if not self._rate or count <= 0:
            return
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now
        self._tokens -= count
        if self._tokens < 0:
            self._sleep(-self._tokens / self._rate)


@dataclass(slots=True)
class Replayer:
    s3: Any
    bucket: str
    prefix: str
    parse: Parse
    target: DocumentTarget
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(None))
    datasets: frozenset[str] | None = None  # registry names to keep; None: all
    progress: Callable[[int, ReplayReport], None] | None = None  # (bytes of the object just done, totals)
    clock: Callable[[], float] = time.monotonic
    manifest_prefix: str = "manifests"  # where the writer's manifest entries are (archive.manifest_prefix)
    _in_flight: deque[tuple[Future[Any], int]] = field(default_factory=deque)

    def plan(self, stream: str | None, since: int | None, until: int | None) -> list[reader.ListedObject]:
        return plan(self.s3, self.bucket, self.prefix, self.manifest_prefix, stream, since, until)

    def run(self, objects: Sequence[reader.ListedObject], since: int | None, until: int | None,
            only: Records | None = None) -> ReplayReport:
        """Replay the records of `objects` that arrived in [since, until), and with `only`, only the records at
        those positions (`secstash redrive --parse`: the records of parse-stage dead letters)."""
        started = self.clock()
        report = ReplayReport()
        before = _stats(self.target)
        high: dict[tuple[str, str], Position] = defaultdict(lambda: Position(-1, -1))
        try:
            for obj in objects:
                assert obj.parsed is not None
                body = reader.get_bytes(self.s3, self.bucket, obj.key)
                if body is None:
                    continue
                report.objects += 1
                report.bytes_read += len(body)
                shard_key = (obj.parsed.stream, obj.parsed.shard)
                wire: list[list[Any]] = []
                for record in decode_object(body, MAX_DECODED_BYTES):
                    report.records += 1
                    if record.position <= high[shard_key]:
                        report.duplicate_records += 1
                        continue
                    high[shard_key] = record.position
                    if (since is not None and record.arrival_ms < since) or (
                            until is not None and record.arrival_ms >= until) or (
                            only is not None and record.position not in only.get(shard_key, ())):
                        report.out_of_range_records += 1
                        continue
                    if only is not None:
                        report.replayed.add((*shard_key, record.position))
                    wire.append([record.sequence, record.sub_sequence, record.arrival_ms, record.partition_key,
                                 record.data_b64])
                if wire:
                    self._send(report, obj.parsed.stream, obj.parsed.shard, wire)
                report.high_water[f"{obj.parsed.stream}/{obj.parsed.shard}"] = str(high[shard_key])
                if self.progress:
                    self.progress(len(body), report)
        finally:
            while self._in_flight:
                self._settle(report)
            after = _stats(self.target)
            if before is not None and after is not None:
                report.created = after.indexed - before.indexed
                report.conflicts = after.duplicates - before.duplicates
                report.dead_lettered = (after.dead_lettered - before.dead_lettered) + (after.spilled - before.spilled)
            report.seconds = self.clock() - started
        return report

    def _send(self, report: ReplayReport, stream: str, shard: str, wire: list[list[Any]]) -> None:
        """Parse and send the records in as many rounds as the parser defers records to (a parse configured
        with `pipeline.max_documents_per_chunk`, as the live pipeline's is), so what one parse holds is
        bounded however many log objects the records point at."""
        remaining: Sequence[Sequence[Any]] = wire
        while remaining:
            parsed = self.parse(stream, shard, remaining)
            self._take(report, parsed)
            deferred: Sequence[Sequence[Any]] = getattr(parsed, "deferred", None) or []
            if len(deferred) >= len(remaining) and [tuple(w) for w in deferred] == [tuple(w) for w in remaining]:
                raise RuntimeError("the parser deferred every record of a round")  # never loop forever
            remaining = deferred

    def _take(self, report: ReplayReport, parsed: Any) -> None:
        dead: Sequence[DeadLetter] = parsed.dead_letters
        report.parse_failures += len(dead)
        report.failure_reasons.update(letter.reason for letter in dead)
        items: list[BulkItem] = list(parsed.items)
        parsed.items = []  # the target holds them now: a later round must not keep this one's alive
        if self.datasets is not None:
            kept = [i for i in items if i.dataset in self.datasets]
            report.skipped_documents += len(items) - len(kept)
            items = kept
        if not items:
            return
        report.documents += len(items)
        self.limiter.acquire(len(items))
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            self._settle(report)
        self._in_flight.append((self.target.deliver(items), len(items)))

    def _settle(self, report: ReplayReport) -> None:
        future, count = self._in_flight.popleft()
        result = future.result()  # a SinkError ends the replay; the report says how far it got
        created = _count(result, "created")
        conflicts = _count(result, "conflicts")
        dead = _count(result, "dead_lettered")
        if created is None and conflicts is None:
            report.created += count
        else:
            report.created += created or 0
            report.conflicts += conflicts or 0
        report.dead_lettered += dead or 0


def holding(objects: Sequence[reader.ListedObject], records: Records) -> list[reader.ListedObject]:
    """The objects whose position range holds one of `records` (keys name their first and last positions)."""
    ordered = {key: sorted(positions) for key, positions in records.items()}
    kept = []
    for obj in objects:
        parsed = obj.parsed
        if parsed is None:
            continue
        positions = ordered.get((parsed.stream, parsed.shard), [])
        at = bisect_left(positions, parsed.first)
        if at < len(positions) and positions[at] <= parsed.last:
            kept.append(obj)
    return kept


def plan(s3: Any, bucket: str, prefix: str, manifest_prefix: str, stream: str | None, since: int | None,
         until: int | None) -> list[reader.ListedObject]:
    """The archive objects to read, per shard in position order: those filed under the hours of the range,
    and with `since`, those filed earlier whose records run on into the range."""
    listed = list(reader.archive_objects(s3, bucket, prefix, stream, since, until))
    if since is not None:
        listed += reader.objects_running_into(s3, bucket, prefix, manifest_prefix, stream, since)
    objects = list({o.key: o for o in listed if o.parsed is not None}.values())

    def order(obj: reader.ListedObject) -> tuple[str, str, Position, Position]:
        parsed: ArchiveKey = obj.parsed  # type: ignore[assignment]
        return parsed.stream, parsed.shard, parsed.first, parsed.last

    return sorted(objects, key=order)


def _stats(target: Any) -> Any:
    stats = getattr(target, "stats", None)
    return stats() if callable(stats) else None


def _count(result: Any, name: str) -> int | None:
    if result is None:
        return None
    value = result.get(name) if isinstance(result, dict) else getattr(result, name, None)
    return int(value) if isinstance(value, int) else None
