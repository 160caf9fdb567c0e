"""`secstash bench`: our throughput and memory against the floor, on a seeded corpus.

    workload   the corpus's records as the KCL daemon hands them over, and the same events bare
    floor      (a) the least work that reads and writes every field of each event
    stages     (b) parse on one core, (c) parse on the pool, (d) the whole pipeline with discarding sinks
    sinks      those sinks: real bulk-request and archive encoding, bytes dropped
    rss        peak RSS (and PSS) of this process and its children, sampled during (d)
    steadiness a fixed loop timed between stages: how far the host's speed moved during the run
    e2e        (e) kinesis-local + KCL daemon + search engine, beside what bounds it
    report     targets, text rendering, the closing `bench:` line

`run(plan)` measures everything the plan asks for and returns `report.Results`.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace

from consumer import corpus, native_path, pool_slots
from consumer.bench import floor, sinks, stages, steadiness, workload
from consumer.bench.report import DatasetResult, Pickling, Results, Round, render
from consumer.pool import IndexNaming, ParserPool, WorkerConfig, parse_in_worker, tune_gc
from parsers import ParseOptions

__all__ = ["Plan", "Results", "render", "run"]

MIXED = "mixed"
# Seeds: pass p of every stage reads seed + p (fresh values, so no pass finds its answers cached by the one
# before); the rounds of (b), (c) and (d) add this offset, so no process meets values it has seen: each round's
# three stages parse the same events, each in processes of its own. Warm-ups read seed + 1000.
_ROUND_SEEDS, _BACKLOG_SEED, _WARM_UP_SEED = 100, 300, 1000


@dataclass(frozen=True, slots=True)
class Plan:
    """How much to measure. `quick()` fits in under a minute on two cores; the default takes a few."""

    dataset_events: int = 10_000  # per dataset, for (a) and (b)
    mixed_events: int = 100_000  # the mixed corpus, for (a) to (d)
    backlog_events: int = 1_000_000  # (d) on a backlog fed lazily, while memory is sampled
    warm_up_events: int = 5_000
    passes: int = 3  # each stage runs this often, each time on another seed's events; the best pass counts
    # Rounds of (b), (c) and (d) of the mixed corpus, one pass of each: the ratios the targets hold are each
    # round's, their median over the rounds (`Results.scaling`). More than `passes`: this host's speed moved
    # 1.3-2.1 x within a run (`steadiness`), and with the best (c) over the best (b), from rounds minutes apart,
    # five of stop 20's eleven full runs missed (c) >= 1.7 x (b) on the same code as the runs that met it.
    # Seven, not five: with five, a run whose first two rounds fell in a slow phase of the host (stop 22's first
    # run: 1.55 and 1.35 x, then 1.88-1.92 x) was one such round from a median that is the host's. Building each
    # round's corpus once (`_mixed`) paid for the two extra rounds.
    rounds: int = 7
    seed: int = 1
    workers: int | None = None  # default: one per core
    geoip_dir: str | None = None
    datasets: tuple[str, ...] = tuple(corpus.SOURCES)
    e2e_events: int = 0  # 0: no (e)
    native: bool = True  # the compiled record path, when installed (False: every record through Python)
    # Each round also runs (b) in two processes at once (`parse_twice`): what this host's two cores give two
    # one-core parsers, the most (c) could reach. Off in `quick()`, which must fit in a minute.
    side_by_side: bool = True

    @classmethod
    def quick(cls, **overrides: object) -> Plan:
        return cls(**{"dataset_events": 2_000, "mixed_events": 20_000, "backlog_events": 100_000,
                      "warm_up_events": 2_000, "passes": 2, "rounds": 3, "side_by_side": False,
                      **overrides})  # type: ignore[arg-type]


def run(plan: Plan, progress: Callable[[str], None] = lambda _: None) -> Results:
    """Best of `plan.passes` passes per stage: other work on the machine only ever slows a pass down, so the
    fastest pass is the closest to what the code does on its own."""
    config = WorkerConfig({stages.STREAM: corpus.stream_parsing(stages.STREAM)},
                          ParseOptions(geoip_dir=plan.geoip_dir), IndexNaming(),
                          native_records=plan.native and native_path.available())
    # (d)'s workers deflate the bulk lines, as the daemon's do for its search sink (the bench's discards them
    # with the same settings); (b) and (c) are the parse stage alone, as the issue defines it.
    piping = replace(config, bulk_compression=sinks.search_compression(), bulk_bounds=sinks.search_bounds())
    workers = plan.workers or os.cpu_count() or 1
    steady = steadiness.Steadiness()
    steady.probe()
    # A helper process runs (a) and (b) (their caches must not count in this process's memory, which stands
    # for the daemon's) and builds the pool stages' records, so this process holds the records and nothing
    # of their making.
    spawn = multiprocessing.get_context("spawn")
    twin_executor = ProcessPoolExecutor(1, mp_context=spawn) if plan.side_by_side else nullcontext()
    with ProcessPoolExecutor(1, mp_context=spawn) as helper, twin_executor as twin:
        pending = [(name, helper.submit(measure, name, plan, config)) for name in (*plan.datasets, MIXED)]
        pickling = helper.submit(measure_pickling, plan, config)
        pickling_deflated = helper.submit(measure_pickling, plan, piping)
        results = []
        for name, future in pending:
            progress(f"(a) and (b): {name}")
            results.append(future.result())
        pickled, pickled_deflated = pickling.result(), pickling_deflated.result()
        mixed = results.pop()
        steady.probe()

        def records(seed: int, events: int = plan.mixed_events) -> workload.Workload:
            return helper.submit(mixed_records, events, seed).result()

        # The twin runs (b) beside the helper's in each round (`parse_twice`); warmed up as the helper was,
        # after the datasets were measured (running beside them would have slowed them).
        if twin is not None:
            twin.submit(warm_up, plan, config).result()

        def round_records(seed: int) -> workload.Workload:
            """The round's corpus, built in the helper and in the twin at once (each parses it for (b))."""
            built = twin.submit(mixed_records, plan.mixed_events, seed) if twin is not None else None
            load = records(seed)
            if built is not None:
                built.result()
            return load

        not_ours = frozenset(executor.submit(os.getpid).result() for executor in (helper, twin) if executor)

        warm = records(plan.seed + _WARM_UP_SEED, plan.warm_up_events)
        # The backlog first, on a pool of its own, while this process's heap holds nothing of the passes
        # below: its memory is then what a daemon reading a backlog holds, not what the bench moved through.
        progress(f"(d) backlog of {plan.backlog_events:,} events")
        with _pool(piping, workers, warm) as pool:
            base = records(plan.seed + _BACKLOG_SEED)
            backlog = stages.pipeline(pool, workload.backlog(base, plan.backlog_events), workers,
                                      base.bare_bytes / base.events, exclude=not_ours)
            del base
        steady.probe()
        # (c) and (d) on fresh pools, warmed as the one-core process was: all three stages then start from
        # the same caches (after a backlog every cache is full, and each miss also evicts). They run in rounds
        # with (b) again: each round parses one seed's events on one core (the helper), then on the pool, then
        # through the pipeline. A shared machine's speed drifts over minutes (two runs minutes apart gave
        # (c) 1.57 and 1.73 x (b) on unchanged code); within a round it moves all three alike, so their ratios
        # hold what the code does, not when each stage happened to run. Probes on both cores frame each round's
        # passes, so the report can say which rounds the host slowed.
        progress(f"(b), (c) pool of {workers} and (d) pipeline, in rounds")
        line, rounds = [], []

        def pair() -> float:
            return steady.probe_pair(lambda: helper.submit(steadiness.probe_ms))

        with _pool(config, workers, warm) as parse_pool, _pool(piping, workers, warm) as pipe_pool:
            for load, seed in _loads(round_records, plan, _ROUND_SEEDS):
                probes = [pair()]
                one_core = helper.submit(measure_parse, plan, config, seed).result()
                twice = parse_twice(helper, twin, plan, config, seed) if twin is not None else None
                probes.append(pair())
                pooled = stages.parse_pool(parse_pool, load.wire, load.events, load.bare_bytes, workers, not_ours)
                probes.append(pair())
                line.append(stages.pipeline(pipe_pool, load.wire, workers, load.bare_bytes / load.events,
                                            exclude=not_ours, pss=False))
                probes.append(pair())
                rounds.append(Round(one_core, pooled, line[-1].timing, tuple(probes), twice))
    out = Results(plan.seed, plan.geoip_dir, workers, results, mixed, _best(run.pool for run in rounds),
                  max(line, key=lambda run: run.timing.events_per_s), backlog,
                  backlog.timing.events, pickled, passes=plan.passes, rounds=plan.rounds,
                  native=config.native_records,
                  pipeline_pickling=pickled_deflated if piping.bulk_compression is not None else None,
                  paired_parse=_best(run.parse for run in rounds), host_probes_ms=steady.samples_ms,
                  rounds_run=rounds)
    if plan.e2e_events:
        from consumer.bench import e2e

        progress(f"(e) end to end, {plan.e2e_events:,} events")
        out.e2e = e2e.run(plan.e2e_events, plan.seed)
    return out


@contextmanager
def _pool(config: WorkerConfig, workers: int, warm: workload.Workload) -> Iterator[ParserPool]:
    """A parser pool whose workers have started and parsed the warm-up records."""
    pool = ParserPool(config, workers, keep_runs=True)  # as the daemon's
    try:
        stages.parse_pool(pool, warm.wire, warm.events, warm.bare_bytes, workers)
        yield pool
    finally:
        pool.close()


def _loads(records: Callable[[int], workload.Workload], plan: Plan,
           offset: int) -> Iterator[tuple[workload.Workload, int]]:
    """One workload per round and its seed, built when its round starts (only one is held at a time)."""
    for number in range(plan.rounds):
        seed = plan.seed + offset + number
        yield records(seed), seed


def _best(timings: Iterable[stages.Timing]) -> stages.Timing:
    return max(timings, key=lambda timing: timing.events_per_s)


def mixed_records(events: int, seed: int) -> workload.Workload:
    """The mixed corpus's records only (no bare events): what the pool stages read. Called in the helper, it
    keeps the corpus it built for the round's (b) (`measure_parse`)."""
    return replace(_mixed(events, seed), bare=())


# The last mixed corpus built in this process: a round's records are built in the helper for the pool stages,
# and its (b) parses the same events there. Building them took ~2.3 s per 20,000 events, twice per round: a
# third of `--quick`. Kept while its round runs, replaced by the next (one corpus at a time).
_LAST_MIXED: dict[tuple[int, int], workload.Workload] = {}


def _mixed(events: int, seed: int) -> workload.Workload:
    built = _LAST_MIXED.get((events, seed))
    if built is None:
        _LAST_MIXED.clear()
        built = _LAST_MIXED[(events, seed)] = workload.build(MIXED, events, seed, corpus.BENCH_MIX)
    return built


def measure(name: str, plan: Plan, config: WorkerConfig) -> DatasetResult:
    """(a) and (b) for one dataset, or for the mixed corpus, in a process set up as a pool worker is: the
    best pass of each, every pass on another seed's events, after a warm-up pass over yet another seed's
    (the GeoIP readers open, the caches fill with values no measured pass will see)."""
    warm_up(plan, config, name)
    mix = corpus.BENCH_MIX if name == MIXED else None
    events = plan.mixed_events if name == MIXED else plan.dataset_events
    floors, parses = [], []
    load = None
    for number in range(plan.passes):
        load = workload.build(name, events, plan.seed + number, mix)
        floors.append(floor.timed_pass(load))
        parses.append(stages.parse_one_core(load.wire, config, load.events, load.bare_bytes))
    assert load is not None
    return DatasetResult(name, load.events, _best(floors), _best(parses), load.record_bytes, len(load.wire))


def measure_parse(plan: Plan, config: WorkerConfig, seed: int) -> stages.Timing:
    """(b) for one round: the mixed corpus of `seed` parsed on one core, in the helper process that measured
    the datasets (warmed up; no other stage running meanwhile)."""
    load = _mixed(plan.mixed_events, seed)
    return stages.parse_one_core(load.wire, config, load.events, load.bare_bytes)


def warm_up(plan: Plan, config: WorkerConfig, name: str = MIXED) -> None:
    """Set this process up as a pool worker is (its collector), and parse a warm-up corpus of `name` of yet
    another seed: the GeoIP readers open, the caches fill with values no measured pass will see."""
    tune_gc()
    warm = workload.build(name, plan.warm_up_events, plan.seed + _WARM_UP_SEED,
                          corpus.BENCH_MIX if name == MIXED else None)
    stages.parse_one_core(warm.wire, config, warm.events, warm.bare_bytes)


def parse_twice(helper: ProcessPoolExecutor, twin: ProcessPoolExecutor, plan: Plan, config: WorkerConfig,
                seed: int) -> stages.Timing:
    """(b) of the round in the helper and the twin at once, each parsing the round's events on its own: what two
    cores of this host give two one-core parsers with no pool between them, the most (c) could reach. Their
    events and CPU summed, over the longer of the two wall times."""
    first, second = (executor.submit(measure_parse, plan, config, seed) for executor in (helper, twin))
    one, other = first.result(), second.result()
    return stages.Timing(one.events + other.events, one.bytes + other.bytes, max(one.wall_s, other.wall_s),
                         None if one.cpu_s is None or other.cpu_s is None else one.cpu_s + other.cpu_s)


def measure_pickling(plan: Plan, config: WorkerConfig, records: int = 500) -> Pickling:
    """What sending a parsed chunk back from a worker costs: pickling it there, unpickling it here."""
    load = workload.build(MIXED, plan.warm_up_events, plan.seed, corpus.BENCH_MIX)
    parsed = parse_in_worker(stages.STREAM, "shardId-000000000000", load.wire[:records], config)
    documents = max(1, len(parsed.items) + sum(len(run) for _, run in parsed.runs))
    # Best of several: one pass alone also measures the page faults of its first large buffers (a single pass
    # gave 11-12 µs per document on a machine where the best of seven gave 1.0-1.6).
    # Written into shared memory and read from it, as the pool's workers hand their results back (their slots'
    # pages stay mapped between chunks, as this map's do between passes).
    dump_s = load_s = float("inf")
    with mmap.mmap(-1, pool_slots.SLOT_BYTES) as memory:
        for _ in range(PICKLING_PASSES):
            started = time.process_time()
            size = pool_slots.pickle_into(memory, parsed)
            dumped = time.process_time()
            pool_slots.unpickle_from(memory, size)
            loaded = time.process_time()
            dump_s, load_s = min(dump_s, dumped - started), min(load_s, loaded - dumped)
    return Pickling(dump_s / documents * 1e6, load_s / documents * 1e6, size / documents)


PICKLING_PASSES = 5
