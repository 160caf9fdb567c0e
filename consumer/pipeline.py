"""Deliver one batch of one shard to every sink; return only when each has durably taken its part.

    raw records ──► archive (S3, raw bytes as received)          ┐
               └──► parser pool ──► search (bulk create)         ├─► all resolved: the caller checkpoints
                                └──► dead letters (S3)            ┘

A failure anywhere raises: the caller must not checkpoint, and the shard is re-read from its last
checkpoint (archive keys and document ids are deterministic, so the re-read duplicates nothing in the
index). Memory is bounded by `ByteBudget`: a batch waits for admission while the raw bytes of batches in
flight exceed the cap, and that wait blocks the shard's processor, which blocks the KCL daemon's fetching.
What a batch expands to is bounded too: a parser chunk stops taking records once it holds
`pipeline.max_documents_per_chunk` documents (S3 notifications can point at far more events than their
bytes say), nor further log objects of a record (the record goes on from its next pointer in the next
round), and the deferred records are parsed in another round once the first round's documents are in
the sinks; the shard is checkpointed after the last round.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from consumer import events
from consumer.pool import Parsed, WireRecord
from sinks.batch import BulkItem, DeadLetter, RawRecord, RecordBatch


class RecordSink(Protocol):
    def deliver(self, batch: RecordBatch) -> Future[None]: ...


class ItemSink(Protocol):
    def deliver(self, items: Sequence[BulkItem]) -> Future[None]: ...


class DeadLetterSink(Protocol):
    def deliver(self, entries: Sequence[DeadLetter]) -> Future[None]: ...


class Parser(Protocol):
    def parse(self, stream: str, shard: str, records: Sequence[WireRecord]) -> Parsed: ...


class ByteBudget:
    """Admission by bytes, first come first served: a batch waits while those that came before it wait, so
    small batches of busy shards cannot keep a large one out for ever (its shard's lag would grow while it
    held its lease). A batch bigger than the whole budget is admitted alone, never refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()  # tickets of the batches waiting for admission, in order
        events.INFLIGHT_LIMIT.set(limit)

    @property
    def used(self) -> int:
        return self._used

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        with self._cond:
            if self._waiting or (self._used and self._used + size > self.limit):
                ticket = object()
                self._waiting.append(ticket)
                events.QUEUE.labels("admission").inc()
                try:
                    self._cond.wait_for(lambda: self._waiting[0] is ticket
                                        and (not self._used or self._used + size <= self.limit))
                finally:
                    self._waiting.remove(ticket)
                    events.QUEUE.labels("admission").dec()
                    self._cond.notify_all()  # the next in line may fit too
            self._used += size
            events.INFLIGHT.set(self._used)
        try:
            yield
        finally:
            with self._cond:
                self._used -= size
                events.INFLIGHT.set(self._used)
                self._cond.notify_all()


@dataclass(slots=True)
class Delivered:
    """What one delivered batch amounted to (the demo's summary and the tests read these)."""

    records: int
    events: int
    documents: int
    dropped_events: int
    dead_letters: int
    arrivals_ms: tuple[int, ...] = ()
    delivered_at: float = 0.0


class Pipeline:
    def __init__(self, parser: Parser, archive: RecordSink, search: ItemSink, dead_letters: DeadLetterSink,
                 budget: ByteBudget, clock: Callable[[], float] = time.time,
                 on_delivered: Callable[[str, Delivered], None] | None = None) -> None:
        self._parser = parser
        self._archive = archive
        self._search = search
        self._dead_letters = dead_letters
        self._budget = budget
        self._clock = clock
        self._on_delivered = on_delivered

    def deliver(self, stream: str, shard: str, wire: Sequence[WireRecord], lag_ms: int | None = None) -> Delivered:
        """Blocks until archive, search and dead-letter sinks all hold the batch; raises if any cannot."""
        started = self._clock()
        batch = RecordBatch(stream, shard, tuple(RawRecord(w[0], w[1], w[2], w[3], w[4]) for w in wire))
        size = batch.raw_bytes
        events.batch_received(stream, shard, len(wire), size, lag_ms)
        with self._budget.hold(size):
            archived = self._archive.deliver(batch)
            parsed = self._rounds(stream, shard, wire, archived)
        oldest = min(r.arrival_ms for r in batch.records) / 1000.0
        now = self._clock()
        events.batch_delivered(stream, now - started, now - oldest)
        delivered = Delivered(len(wire), parsed.event_count, parsed.documents_total, parsed.dropped_events,
                              parsed.dead_letters_total, tuple(r.arrival_ms for r in batch.records), now)
        if self._on_delivered is not None:
            self._on_delivered(stream, delivered)
        return delivered

    def _rounds(self, stream: str, shard: str, wire: Sequence[WireRecord], archived: Future[None]) -> _Totals:
        """Parse and deliver the batch, in as many rounds as the parser defers records to (each round's
        documents are in the sinks before the next is parsed); then wait for the archive."""
        totals = _Totals()
        remaining: Sequence[WireRecord] = wire
        try:
            while remaining:
                parsed = self._parser.parse(stream, shard, remaining)
                events.batch_parsed(stream, parsed.events, parsed.documents, parsed.dropped, parsed.failures,
                                    parsed.objects_read, parsed.object_bytes, parsed.unclaimed,
                                    parsed.unclaimed_groups)
                pending: list[Future[Any]] = []
                if parsed.items:
                    pending.append(self._search.deliver(parsed.items))
                if parsed.dead_letters:
                    pending.append(self._dead_letters.deliver(parsed.dead_letters))
                _wait_all(pending)
                totals.event_count += parsed.event_count
                totals.documents_total += len(parsed.items)
                totals.dropped_events += parsed.dropped_events
                totals.dead_letters_total += len(parsed.dead_letters)
                if _no_progress(parsed.deferred, remaining):
                    raise RuntimeError("the parser deferred every record of a round")  # never loop forever
                remaining = parsed.deferred
        finally:
            _wait_all([archived])  # settle the archive's write even when a round failed
        return totals


@dataclass(slots=True)
class _Totals:
    """What every round of one batch parsed (the rounds' items are released as each is delivered)."""

    event_count: int = 0
    documents_total: int = 0
    dropped_events: int = 0
    dead_letters_total: int = 0


def _no_progress(deferred: Sequence[WireRecord], remaining: Sequence[WireRecord]) -> bool:
    """A round that deferred every record as it got it. A record of many log objects can come back from a
    round, to go on from a later pointer (a sixth field): that is progress, though no fewer records."""
    return len(deferred) >= len(remaining) and [tuple(w) for w in deferred] == [tuple(w) for w in remaining]


def _wait_all(futures: Sequence[Future[Any]]) -> None:
    """Wait for every future, even after one fails (so nothing is still writing when we report), then
    raise the first failure."""
    first: BaseException | None = None
    for future in futures:
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001 - re-raised below after the others settle
            first = first or exc
    if first is not None:
        raise first
