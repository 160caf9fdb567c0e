"""Deliver one batch of one shard to every sink; return only when each has durably taken its part.

    raw records ──► archive (S3, raw bytes as received)          ┐
               └──► parser pool ──► search (bulk create)         ├─► all resolved: the caller checkpoints
                                └──► dead letters (S3)            ┘

A failure anywhere raises: the caller must not checkpoint, and the shard is re-read from its last
checkpoint (archive keys and document ids are deterministic, so the re-read duplicates nothing in the
index).

Memory is bounded three ways:

- Raw records: a batch waits for admission (`ByteBudget`) while the raw bytes of batches in flight exceed
  `pipeline.max_in_flight_bytes`; that wait blocks the shard's processor, which blocks the KCL daemon's
  fetching.
- What a batch expands to: a parser chunk stops taking records once it holds
  `pipeline.max_documents_per_chunk` documents (S3 notifications can point at far more events than their
  bytes say), nor further log objects of a record (the record goes on from its next pointer in the next
  round), and the deferred records are parsed in another round once the first round's documents are in
  the sinks; the shard is checkpointed after the last round.
- Documents: raw bytes say little about them (CloudWatch Logs records are gzip, ~90x smaller than their
  documents), so a round is parsed only once the search sink has room (`wait_for_room`: its accepted bytes
  are below `search.max_in_flight_bytes`), and only while it holds parse slots (`parse_slots`, 2 per
  parser worker, one per chunk of the round) until the sink has accepted its documents. Documents parsed
  and not yet accepted are thus at most `parse_slots` chunks' worth, however many batches are admitted;
  accepted ones are the sink's, within its cap. Neither wait needs parsing to end: the sink frees room by
  indexing, by spilling after `spill_after_s`, or by failing everything at close (the waits then raise
  SinkClosed and the batch is not checkpointed).
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

from prometheus_client import Gauge

from consumer import events
from consumer.pool import Parsed, WireRecord, chunk_count
from sinks.batch import DeadLetter, Entry, RawRecord, RecordBatch


class RecordSink(Protocol):
    def deliver(self, batch: RecordBatch) -> Future[None]: ...


class ItemSink(Protocol):
    def deliver(self, entries: Sequence[Entry]) -> Future[None]: ...

    def wait_for_room(self) -> None:
        """Return once the sink's accepted bytes are below its cap; raise SinkClosed if it closes first."""


class DeadLetterSink(Protocol):
    def deliver(self, entries: Sequence[DeadLetter]) -> Future[None]: ...


class Parser(Protocol):
    def parse(self, stream: str, shard: str, records: Sequence[WireRecord]) -> Parsed: ...


class Budget:
    """Admission by units, first come first served: a holder waits while those that came before it wait, so
    small holders cannot keep a large one out for ever (its shard's lag would grow while it held its lease).
    A holder bigger than the whole budget is admitted alone, never refused. Waiters are counted in
    `secstash_queue_depth{queue=<queue>}`."""

    def __init__(self, limit: int, queue: str, used: Gauge | None = None) -> None:
        self.limit = limit
        self._queue = queue
        self._gauge = used
        self._used = 0
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()  # tickets of the holders waiting for admission, in order

    @property
    def used(self) -> int:
        return self._used

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        with self._cond:
            if self._waiting or (self._used and self._used + size > self.limit):
                ticket = object()
                self._waiting.append(ticket)
                events.QUEUE.labels(self._queue).inc()
                try:
                    self._cond.wait_for(lambda: self._waiting[0] is ticket
                                        and (not self._used or self._used + size <= self.limit))
                finally:
                    self._waiting.remove(ticket)
                    events.QUEUE.labels(self._queue).dec()
                    self._cond.notify_all()  # the next in line may fit too
            self._used += size
            if self._gauge is not None:
                self._gauge.set(self._used)
        try:
            yield
        finally:
            with self._cond:
                self._used -= size
                if self._gauge is not None:
                    self._gauge.set(self._used)
                self._cond.notify_all()


class ByteBudget(Budget):
    """Batches admitted by their raw bytes (`pipeline.max_in_flight_bytes`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit, "admission", events.INFLIGHT)
        events.INFLIGHT_LIMIT.set(limit)


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


# Parse slots per parser worker: chunks parsed (or being parsed) whose documents the search sink has not
# taken yet. Two per worker keep every worker busy (a chunk queued behind each running one) while the sink
# takes documents as fast as they come; when it does not, they are all the documents that wait outside it.
PARSE_SLOTS_PER_WORKER = 2


class Pipeline:
    def __init__(self, parser: Parser, archive: RecordSink, search: ItemSink, dead_letters: DeadLetterSink,
                 budget: ByteBudget, clock: Callable[[], float] = time.time,
                 on_delivered: Callable[[str, Delivered], None] | None = None,
                 parse_slots: int | None = None) -> None:
        """`parse_slots`: chunks parsed and not yet taken by the search sink, over all batches (default:
        `PARSE_SLOTS_PER_WORKER` per worker of `parser`, one worker if it does not say)."""
        self._parser = parser
        self._archive = archive
        self._search = search
        self._dead_letters = dead_letters
        self._budget = budget
        self._clock = clock
        self._on_delivered = on_delivered
        self._workers = max(1, int(getattr(parser, "workers", 1)))
        slots = parse_slots if parse_slots is not None else PARSE_SLOTS_PER_WORKER * self._workers
        # Each round takes one slot per chunk, at most `workers`: fewer slots would admit a round alone.
        self._slots = Budget(max(1, slots), "parse_slots")

    @property
    def parse_slots(self) -> int:
        return self._slots.limit

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
                pending: list[Future[Any]] = []
                # Parse only when the search sink has room, and hold the round's slots until it has taken
                # the documents: what waits outside the sink is bounded by the slots, not by the batches.
                with self._slots.hold(chunk_count(len(remaining), self._workers)):
                    self._search.wait_for_room()
                    parsed = self._parser.parse(stream, shard, remaining)
                    events.batch_parsed(stream, parsed.events, parsed.documents, parsed.dropped,
                                        parsed.failures, parsed.objects_read, parsed.object_bytes,
                                        parsed.unclaimed, parsed.unclaimed_groups, parsed.native_records)
                    documents = len(parsed.items) + parsed.run_documents
                    # The sink holds the documents now and drops each once it is done with it: so must we,
                    # or a round waiting for its last document would keep all of them.
                    if entries := parsed.take_entries():
                        pending.append(self._search.deliver(entries))  # returns once taken
                if parsed.dead_letters:
                    pending.append(self._dead_letters.deliver(parsed.dead_letters))
                _wait_all(pending)
                totals.event_count += parsed.event_count
                totals.documents_total += documents
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
