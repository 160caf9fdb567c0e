"""The measured stages, each timed over a whole workload:

    parse_one_core   (b) envelope + parser + ECS document + bulk line, inline in this process
    parse_pool       (c) the same through the parser pool, one worker per core
    pipeline         (d) raw Kinesis records to bulk request bytes and archive bytes (`consumer.pipeline`
                         with the discarding sinks of `consumer.bench.sinks`)

(c) and (d) are fed by one thread per worker, as the daemon is fed by one connection per shard: while one
batch's results come back, the next batch's chunks are already parsing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from consumer.bench.cpu import GroupCpu
from consumer.bench.rss import Peak, RssSampler
from consumer.bench.sinks import DiscardArchive, DiscardDeadLetters, DiscardSearch
from consumer.bench.workload import WireRecord, batches
from consumer.pipeline import ByteBudget, Pipeline
from consumer.pool import ParserPool, WorkerConfig, parse_in_worker
from sinks.search.request_builder import ndjson

STREAM = "bench"
BATCH_RECORDS = 200  # records per delivered batch: a few thousand events, what one GetRecords call holds
IN_FLIGHT_BYTES = 256 * 1024 * 1024  # pipeline.max_in_flight_bytes' default


@dataclass(frozen=True, slots=True)
class Timing:
    events: int
    bytes: int  # bare event bytes (the floor's input) of the events processed
    wall_s: float
    cpu_s: float | None = None  # CPU seconds of every process that did the work: steadier than wall time

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.wall_s / 1e6 if self.wall_s else 0.0

    @property
    def events_per_cpu_s(self) -> float | None:
        return self.events / self.cpu_s if self.cpu_s else None


@dataclass(frozen=True, slots=True)
class PipelineRun:
    timing: Timing
    documents: int
    dead_letters: int
    bulk_bytes: int  # bulk request bodies as sent (gzip)
    bulk_raw_bytes: int  # NDJSON before compression
    archive_bytes: int  # archive objects as stored (gzip)
    archive_raw_bytes: int
    peak: Peak


def parse_one_core(wire: Iterable[WireRecord], config: WorkerConfig, events: int, size: int) -> Timing:
    """(b): a worker's parse (`parse_in_worker`) inline, then the bulk lines of its documents (the compiled
    path's records come with theirs)."""
    started, cpu = time.perf_counter(), time.process_time()
    for batch in batches(iter(wire), BATCH_RECORDS):
        parsed = parse_in_worker(STREAM, "shardId-000000000000", batch, config)
        ndjson(parsed.take_entries())
    return Timing(events, size, time.perf_counter() - started, time.process_time() - cpu)


def parse_pool(pool: ParserPool, wire: Iterable[WireRecord], events: int, size: int, feeders: int,
               exclude: frozenset[int] = frozenset()) -> Timing:
    """(c): the pool's parse on every core, then the bulk lines of its documents (in this process, as the search
    sink builds them here: the compiled path's records come with theirs)."""
    source = _Shared(batches(iter(wire), BATCH_RECORDS))

    def feed(shard: str) -> None:
        while (batch := source.next()) is not None:
            ndjson(pool.parse(STREAM, shard, batch).take_entries())

    with GroupCpu(exclude) as cpu:
        started = time.perf_counter()
        _run_threads(feed, feeders)
        wall = time.perf_counter() - started
    return Timing(events, size, wall, cpu.seconds)


def pipeline(pool: ParserPool, wire: Iterable[WireRecord], feeders: int, bytes_per_event: float,
             sample_interval_s: float = 0.5, exclude: frozenset[int] = frozenset(),
             pss: bool = True) -> PipelineRun:
    """(d): `Pipeline.deliver` for every batch, from `feeders` threads (shards), sinks discarding their
    bytes; memory sampled all along. `wire` may be a generator: it is read one batch at a time. `exclude`:
    child processes that are not part of what is measured; `pss`: also sample PSS (reading smaps costs the
    sampling process a few ms per process and sample, so passes timed for throughput leave it out)."""
    archive, search, dead = DiscardArchive(), DiscardSearch(), DiscardDeadLetters()
    line = Pipeline(pool, archive, search, dead, ByteBudget(IN_FLIGHT_BYTES))
    source = _Shared(batches(iter(wire), BATCH_RECORDS))
    lock = threading.Lock()
    totals = {"events": 0, "documents": 0, "dead_letters": 0}

    def feed(shard: str) -> None:
        while (batch := source.next()) is not None:
            delivered = line.deliver(STREAM, shard, batch)
            with lock:
                totals["events"] += delivered.events
                totals["documents"] += delivered.documents
                totals["dead_letters"] += delivered.dead_letters

    with RssSampler(sample_interval_s, pss=pss, exclude=exclude) as sampler, GroupCpu(exclude) as cpu:
        started = time.perf_counter()
        _run_threads(feed, feeders)
        wall = time.perf_counter() - started
    for sink in (archive, search, dead):
        sink.close()
    timing = Timing(totals["events"], round(totals["events"] * bytes_per_event), wall, cpu.seconds)
    return PipelineRun(timing, totals["documents"], totals["dead_letters"], search.bytes, search.raw_bytes,
                       archive.bytes, archive.raw_bytes, sampler.peak)


class _Shared:
    """One iterator read by several threads."""

    def __init__(self, iterator: Iterator[list[WireRecord]]) -> None:
        self._iterator = iterator
        self._lock = threading.Lock()

    def next(self) -> list[WireRecord] | None:
        with self._lock:
            return next(self._iterator, None)


def _run_threads(target: object, count: int) -> None:
    errors: list[BaseException] = []

    def guarded(shard: str) -> None:
        try:
            target(shard)  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(f"shardId-{i:012d}",), name=f"bench-feed-{i}")
               for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
