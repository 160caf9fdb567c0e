"""`secstash bench`: our throughput and memory against the floor, on a seeded corpus.

    workload   the corpus's records as the KCL daemon hands them over, and the same events bare
    floor      (a) the least work that reads and writes every field of each event
    stages     (b) parse on one core, (c) parse on the pool, (d) the whole pipeline with discarding sinks
    sinks      those sinks: real bulk-request and archive encoding, bytes dropped
    rss        peak RSS (and PSS) of this process and its children, sampled during (d)
    e2e        (e) kinesis-local + KCL daemon + search engine, bounded by the emulator
    report     targets, text rendering, the closing `bench:` line

`run(plan)` measures everything the plan asks for and returns `report.Results`.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from consumer import corpus
from consumer.bench import floor, stages, workload
from consumer.bench.report import DatasetResult, Pickling, Results, render
from consumer.pool import IndexNaming, ParserPool, WorkerConfig, parse_chunk, tune_gc
from parsers import ParseOptions

__all__ = ["Plan", "Results", "render", "run"]

MIXED = "mixed"
_WARM_UP_SEED_OFFSET = 1000  # warm-up corpora use other values, so measured passes find no answers cached


@dataclass(frozen=True, slots=True)
class Plan:
    """How much to measure. `quick()` fits in under a minute on two cores; `full()` takes a few."""

    dataset_events: int = 10_000  # per dataset, for (a) and (b)
    mixed_events: int = 100_000  # the mixed corpus, for (a) to (d)
    backlog_events: int = 1_000_000  # (d) again, fed lazily, while memory is sampled
    warm_up_events: int = 5_000
    floor_passes: int = 3  # the floor has no caches to warm: best of a few passes
    seed: int = 1
    workers: int | None = None  # default: one per core
    geoip_dir: str | None = None
    datasets: tuple[str, ...] = tuple(corpus.SOURCES)
    e2e_events: int = 0  # 0: no (e)

    @classmethod
    def quick(cls, **overrides: object) -> Plan:
        return cls(**{"dataset_events": 2_000, "mixed_events": 20_000, "backlog_events": 100_000,
                      "warm_up_events": 2_000, **overrides})  # type: ignore[arg-type]


def run(plan: Plan, progress: Callable[[str], None] = lambda _: None) -> Results:
    config = WorkerConfig({}, ParseOptions(geoip_dir=plan.geoip_dir), IndexNaming())
    workers = plan.workers or os.cpu_count() or 1
    warm_seed = plan.seed + _WARM_UP_SEED_OFFSET
    # (a) and (b) run in a process of their own: their caches must not count in the pipeline's memory.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as one_core:
        pending = [(name, one_core.submit(measure, name, plan, config)) for name in (*plan.datasets, MIXED)]
        pickling = one_core.submit(measure_pickling, plan, config)
        results = []
        for name, future in pending:
            progress(f"(a) and (b): {name}")
            results.append(future.result())
        pickled = pickling.result()
    mixed = results.pop()
    # Only the records stay in this process: it stands for the daemon's, whose memory is being measured.
    mixed_load = replace(workload.build(MIXED, plan.mixed_events, plan.seed, corpus.BENCH_MIX), bare=())
    warm = replace(workload.build(MIXED, plan.warm_up_events, warm_seed, corpus.BENCH_MIX), bare=())
    pool = ParserPool(config, workers)
    try:
        progress(f"(c) pool of {workers}")
        stages.parse_pool(pool, warm.wire, warm.events, warm.bare_bytes, workers)  # starts and warms every worker
        parse_n = stages.parse_pool(pool, mixed_load.wire, mixed_load.events, mixed_load.bare_bytes, workers)
        progress("(d) pipeline")
        bytes_per_event = mixed_load.bare_bytes / mixed_load.events
        line = stages.pipeline(pool, mixed_load.wire, workers, bytes_per_event)
        progress(f"(d) backlog of {plan.backlog_events:,} events")
        backlog = stages.pipeline(pool, workload.backlog(mixed_load, plan.backlog_events), workers, bytes_per_event)
    finally:
        pool.close()
    out = Results(plan.seed, plan.geoip_dir, workers, results, mixed, parse_n, line, backlog, backlog.timing.events,
                  pickled)
    if plan.e2e_events:
        from consumer.bench import e2e

        progress(f"(e) end to end, {plan.e2e_events:,} events")
        out.e2e = e2e.run(plan.e2e_events, plan.seed)
    return out


def measure(name: str, plan: Plan, config: WorkerConfig) -> DatasetResult:
    """(a) and (b) for one dataset, or for the mixed corpus, in a process set up as a pool worker is."""
    tune_gc()
    mix = corpus.BENCH_MIX if name == MIXED else None
    events = plan.mixed_events if name == MIXED else plan.dataset_events
    return measure_dataset(workload.build(name, events, plan.seed, mix),
                           workload.build(name, plan.warm_up_events, plan.seed + _WARM_UP_SEED_OFFSET, mix),
                           config, plan.floor_passes)


def measure_pickling(plan: Plan, config: WorkerConfig, records: int = 500) -> Pickling:
    """What sending a parsed chunk back from a worker costs: pickling it there, unpickling it here."""
    load = workload.build(MIXED, plan.warm_up_events, plan.seed, corpus.BENCH_MIX)
    parsed = parse_chunk(stages.STREAM, "shardId-000000000000", load.wire[:records], config)
    documents = max(1, len(parsed.items))
    started = time.process_time()
    data = pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
    dumped = time.process_time()
    pickle.loads(data)
    loaded = time.process_time()
    return Pickling((dumped - started) / documents * 1e6, (loaded - dumped) / documents * 1e6, len(data) / documents)


def measure_dataset(load: workload.Workload, warm: workload.Workload, config: WorkerConfig,
                    floor_passes: int = 3) -> DatasetResult:
    """(a) and (b) on one workload, after a warm-up pass over another seed's events (the user agent regexes
    compile, the GeoIP readers open, the caches fill with values the measured pass will not see)."""
    stages.parse_one_core(warm.wire, config, warm.events, warm.bare_bytes)
    walls, cpus = zip(*(floor.timed(load.bare) for _ in range(floor_passes)))
    floor_timing = stages.Timing(load.events, load.bare_bytes, min(walls), min(cpus))
    parse = stages.parse_one_core(load.wire, config, load.events, load.bare_bytes)
    return DatasetResult(load.name, load.events, floor_timing, parse, load.record_bytes, len(load.wire))
