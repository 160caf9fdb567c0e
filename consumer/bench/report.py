"""The bench's results, the targets they are held to, and their rendering as text.

The last line of every run is machine-readable:

    bench: floor=<events/s> parse1=<events/s> parseN=<events/s> pipeline=<events/s> rss_mb=<n>

each figure on the mixed corpus (rss_mb: peak summed RSS of the Python processes during the backlog run;
parse1: (b) as measured in the rounds beside (c) and (d), so parseN / parse1 is the scaling the targets use).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from consumer.bench import steadiness
from consumer.bench.stages import PipelineRun, Timing

# (b)/(a) per dataset, wall clock; the targets for a 2-core machine.
PARSE_TARGETS = {"cloudtrail": 0.20, "vpcflow": 0.15, "mixed": 0.15}
SCALING_TARGET = 1.7  # (c) >= 1.7 x (b)
PIPELINE_TARGET = 0.8  # (d) >= 0.8 x (c)
RSS_TARGET_MB = 512.0  # peak RSS of the Python processes during (d) with a backlog of a million events
# What one shard delivers to a reader (GetRecords), the basis: a consumer catching up on a backlog
# reads at this rate; a caught-up one sees the shard's ingest, at most 1 MB/s, half of it.
SHARD_BYTES_PER_S = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DatasetResult:
    name: str
    events: int
    floor: Timing
    parse: Timing
    record_bytes: int = 0  # Kinesis payload bytes of the workload (for the capacity table)
    records: int = 0

    @property
    def ratio(self) -> float:
        return self.parse.events_per_s / self.floor.events_per_s if self.floor.events_per_s else 0.0

    @property
    def cpu_ratio(self) -> float | None:
        parse, floor = self.parse.events_per_cpu_s, self.floor.events_per_cpu_s
        return parse / floor if parse and floor else None


@dataclass(frozen=True, slots=True)
class Pickling:
    """A parsed chunk's trip back from a worker, per document."""

    dumps_us: float  # in the worker
    loads_us: float  # in the pipeline's process
    bytes: float


@dataclass(frozen=True, slots=True)
class EndToEnd:
    events: int
    records: int
    put_s: float  # PutRecords into kinesis-local
    deliver_s: float  # from the first put to the last batch delivered
    indexed: int  # documents counted in the search engine

    @property
    def events_per_s(self) -> float:
        return self.events / self.deliver_s if self.deliver_s else 0.0


@dataclass(frozen=True, slots=True)
class Round:
    """One round of the mixed corpus: (b), (c) and (d), one pass of each on the same events, back to back."""

    parse: Timing
    pool: Timing
    pipeline: Timing
    # Two-core probes (`steadiness.Steadiness.probe_pair`) before (b), between the passes and after (d).
    probes_ms: tuple[float, ...] = ()
    # (b) in two processes at once, each on the round's events, no pool between them (`bench.parse_twice`).
    parse_twice: Timing | None = None

    @property
    def scaling(self) -> float:
        return _ratio(self.pool.events_per_s, self.parse.events_per_s)

    @property
    def ceiling(self) -> float | None:
        """What two one-core parsers at once got over one alone: what this host's cores allowed (c) that round."""
        return _ratio(self.parse_twice.events_per_s, self.parse.events_per_s) if self.parse_twice else None

    @property
    def share_of_ceiling(self) -> float | None:
        """(c) over two one-core parsers at once: what the pool kept of what the host's cores gave that round."""
        return _ratio(self.pool.events_per_s, self.parse_twice.events_per_s) if self.parse_twice else None

    @property
    def pipeline_ratio(self) -> float:
        return _ratio(self.pipeline.events_per_s, self.pool.events_per_s)


@dataclass
class Results:
    seed: int
    geoip_dir: str | None
    workers: int
    datasets: list[DatasetResult]
    mixed: DatasetResult
    pool: Timing
    pipeline: PipelineRun
    backlog: PipelineRun
    backlog_events: int
    pickling: Pickling | None = None
    passes: int = 1
    rounds: int = 1  # of (b), (c) and (d) of the mixed corpus
    e2e: EndToEnd | None = None
    notes: list[str] = field(default_factory=list)
    native: bool = False  # the compiled record path took the records it covers
    pipeline_pickling: Pickling | None = None  # (d)'s: the workers' bulk lines as deflate segments
    # (b) of the mixed corpus again, in the rounds that measured (c) and (d) (one pass of each, on the same
    # events): what (c) is compared with. None: the mixed row's (b).
    paired_parse: Timing | None = None
    # A fixed loop's milliseconds, timed between the stages (`steadiness`): how far the host's speed moved.
    host_probes_ms: list[float] = field(default_factory=list)
    # Each round's three passes. The targets hold each round's ratios, the median over the rounds: a round's
    # passes ran seconds apart, while the best (b) and the best (c) may come from rounds minutes apart, on a
    # host whose speed moved between them (`steadiness`).
    rounds_run: list[Round] = field(default_factory=list)

    @property
    def parse_one(self) -> Timing:
        """(b) as (c) and (d) are compared with it."""
        return self.paired_parse or self.mixed.parse

    @property
    def best_scaling(self) -> float:
        """The best (c) over the best (b)."""
        return _ratio(self.pool.events_per_s, self.parse_one.events_per_s)

    @property
    def best_pipeline_ratio(self) -> float:
        return _ratio(self.pipeline.timing.events_per_s, self.pool.events_per_s)

    @property
    def scaling(self) -> float:
        """(c) over (b) as the target holds it: the median of the rounds' own, else the best over the best."""
        if self.rounds_run:
            return statistics.median(run.scaling for run in self.rounds_run)
        return self.best_scaling

    @property
    def pipeline_ratio(self) -> float:
        if self.rounds_run:
            return statistics.median(run.pipeline_ratio for run in self.rounds_run)
        return self.best_pipeline_ratio

    @property
    def ceiling(self) -> float | None:
        """The median of the rounds' `Round.ceiling`, None if no round measured it."""
        ceilings = [run.ceiling for run in self.rounds_run if run.ceiling is not None]
        return statistics.median(ceilings) if ceilings else None

    @property
    def share_of_ceiling(self) -> float | None:
        """(c) over two one-core parsers at once, the median of the rounds': what the pool kept of what the host
        gave, whatever the host's speed."""
        shares = [run.share_of_ceiling for run in self.rounds_run if run.share_of_ceiling is not None]
        return statistics.median(shares) if shares else None

    def cpu_efficiency(self, timing: Timing) -> float | None:
        """Events per CPU-second of a multi-process stage over those of (b): 1.0 means spreading the work
        over processes cost nothing extra, so on idle cores it would scale by the worker count."""
        base, spread = self.parse_one.events_per_cpu_s, timing.events_per_cpu_s
        return spread / base if base and spread else None

    def checks(self) -> list[tuple[str, bool]]:
        """Each target, worded with its figure, and whether it is met."""
        out = []
        for result in [*self.datasets, self.mixed]:
            if (target := PARSE_TARGETS.get(result.name)) is not None:
                out.append((f"(b) >= {target:.0%} of (a) for {result.name}: {result.ratio:.1%}",
                            result.ratio >= target))
        basis = f" (median of {len(self.rounds_run)} rounds)" if self.rounds_run else ""
        out.append((f"(c) >= {SCALING_TARGET} x (b): {self.scaling:.2f} x{basis}", self.scaling >= SCALING_TARGET))
        out.append((f"(d) >= {PIPELINE_TARGET} x (c): {self.pipeline_ratio:.2f} x{basis}",
                    self.pipeline_ratio >= PIPELINE_TARGET))
        rss = self.backlog.peak.rss_mb
        label = f"peak RSS <= {RSS_TARGET_MB:.0f} MB during (d), backlog of {self.backlog_events:,} events"
        out.append((f"{label}: {rss:.0f} MB", rss <= RSS_TARGET_MB))
        return out

    def summary_line(self) -> str:
        return (f"bench: floor={self.mixed.floor.events_per_s:.0f} "
                f"parse1={self.parse_one.events_per_s:.0f} "
                f"parseN={self.pool.events_per_s:.0f} pipeline={self.pipeline.timing.events_per_s:.0f} "
                f"rss_mb={self.backlog.peak.rss_mb:.0f}")


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                         model)
    except OSError:
        pass
    load = ", load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return (f"{os.cpu_count()} cores ({model}){load}; Python {platform.python_version()} "
            f"({sys.implementation.name}), {platform.system()} {platform.release()}")


def render(results: Results) -> str:
    lines = [
        f"machine: {machine()}",
        (f"corpus: seed {results.seed}; GeoIP {results.geoip_dir or 'off'}; pool workers {results.workers}; "
         f"best of {results.passes} passes per stage, each on another seed's events"),
        ("compiled record path: " + ("on (VPC Flow Logs and CloudTrail in CloudWatch Logs records, ALB lines; the rest "
                                     "through Python)"
                                     if results.native else "off: every record through the Python parsers")),
        "",
        "(a) floor and (b) parse stage on one core, per dataset; MB/s of the events' own bytes;",
        "    ratio (b)/(a) by wall clock, and by CPU time of this process (steadier on a busy machine)",
        (f"{'dataset':<22}{'events':>8}{'(a) ev/s':>12}{'MB/s':>8}{'(b) ev/s':>11}{'MB/s':>7}{'µs/ev':>8}"
         f"{'(b)/(a)':>9}{'cpu':>7}{'target':>8}"),
    ]
    for result in [*results.datasets, results.mixed]:
        target = PARSE_TARGETS.get(result.name)
        cpu = result.cpu_ratio
        lines.append(
            f"{result.name:<22}{result.events:>8}"
            f"{result.floor.events_per_s:>12,.0f}{result.floor.mb_per_s:>8.1f}"
            f"{result.parse.events_per_s:>11,.0f}{result.parse.mb_per_s:>7.1f}"
            f"{1e6 / result.parse.events_per_s if result.parse.events_per_s else 0:>8.1f}"
            f"{result.ratio:>9.1%}{(f'{cpu:.1%}' if cpu else '-'):>7}"
            f"{(f'>={target:.0%}' if target else ''):>8}")
    pipe, backlog = results.pipeline, results.backlog
    lines.append("")
    if results.paired_parse is not None:
        one = results.paired_parse
        lines.append(f"(b), (c) and (d) of the mixed corpus in {len(results.rounds_run) or results.rounds} rounds, one pass of each on the same "
                     f"events per round; (b) {one.events_per_s:,.0f} events/s ({1e6 / one.events_per_s:.1f} µs/ev)"
                     if one.events_per_s else "(b) in rounds: no events")
    lines.append(f"(c) parse stage, pool of {results.workers} workers: {results.pool.events_per_s:,.0f} events/s, "
                 f"{results.pool.mb_per_s:.1f} MB/s = {results.best_scaling:.2f} x (b); {_cpu(results, results.pool)}")
    if results.pickling:
        pickling = results.pickling
        lines.append(f"    results cross from workers through shared memory as {pickling.bytes:,.0f} pickled bytes per "
                     f"document: {pickling.dumps_us:.1f} µs to pickle (worker) + {pickling.loads_us:.1f} µs "
                     f"to unpickle (pipeline process)")
    pss = f"; PSS {backlog.peak.pss_mb:.0f} MB)" if backlog.peak.pss_mb is not None else ")"
    lines += [
        (f"(d) whole pipeline, raw records to bulk and archive bytes: "
         f"{pipe.timing.events_per_s:,.0f} events/s, {pipe.timing.mb_per_s:.1f} MB/s = "
         f"{results.best_pipeline_ratio:.2f} x (c); {_cpu(results, pipe.timing)}"),
    ]
    if results.pipeline_pickling:
        pickling = results.pipeline_pickling
        lines.append(f"    workers deflate the bulk lines for the search sink: {pickling.bytes:,.0f} pickled bytes per "
                     f"document, {pickling.dumps_us:.1f} µs to pickle + {pickling.loads_us:.1f} µs to unpickle")
    lines += [
        (f"    {pipe.documents:,} documents, {pipe.dead_letters} dead letters; bulk bodies "
         f"{pipe.bulk_raw_bytes / 1e6:.1f} MB -> {pipe.bulk_bytes / 1e6:.1f} MB gzip; archive "
         f"{pipe.archive_raw_bytes / 1e6:.1f} MB -> {pipe.archive_bytes / 1e6:.1f} MB gzip"),
        (f"(d) backlog of {results.backlog_events:,} events: {backlog.timing.events_per_s:,.0f} events/s "
         f"over {backlog.timing.wall_s:.1f} s; peak RSS {backlog.peak.rss_mb:.0f} MB summed over "
         f"{backlog.peak.processes} processes (this one {backlog.peak.main_rss_mb:.0f} MB{pss}"),
    ]
    lines += by_round(results)
    if results.e2e is not None:
        lines += end_to_end(results, results.e2e)
    lines += ["", *capacity(results), *host(results), "", "targets:"]
    lines += [f"  [{'met' if ok else 'MISSED'}] {text}" for text, ok in results.checks()]
    lines += unsteady(results)
    lines += [f"note: {note}" for note in results.notes]
    lines += [results.summary_line()]
    return "\n".join(lines)


# kinesis-local's GetRecords rate on this kind of machine (../shared/reference/kcl/NOTES.md)
EMULATOR_READ_RECORDS_PER_S = 1400


def end_to_end(results: Results, e2e: EndToEnd) -> list[str]:
    """(e), with what bounds it: the emulator's read rate, or our own pipeline's, (d), in records/s."""
    read = e2e.records / e2e.deliver_s if e2e.deliver_s else 0.0
    mixed = results.mixed
    events_per_record = mixed.events / mixed.records if mixed.records else 1.0
    ours = results.pipeline.timing.events_per_s / events_per_record
    if read < 0.8 * ours:
        bound = "kinesis-local's reads, well below what the pipeline takes"
    elif read < 0.8 * EMULATOR_READ_RECORDS_PER_S:
        bound = "the pipeline, well below what kinesis-local serves"
    else:
        bound = "both: kinesis-local serves about what the pipeline takes"
    put = e2e.records / e2e.put_s if e2e.put_s else 0.0
    return [(f"(e) end to end (kinesis-local, KCL daemon, Elasticsearch): {e2e.events:,} events in "
             f"{e2e.records:,} records put in {e2e.put_s:.1f} s ({put:,.0f} records/s), then delivered at "
             f"{e2e.events_per_s:,.0f} events/s, {e2e.indexed:,} indexed"),
            (f"    read {read:,.0f} records/s; kinesis-local's GetRecords serves about "
             f"{EMULATOR_READ_RECORDS_PER_S:,} records/s, (d) takes {ours:,.0f} records/s: "
             f"bounded by {bound}")]


def by_round(results: Results) -> list[str]:
    """Each round's own ratios, whose medians the targets take (the figures above are each stage's best round),
    and the slowest of the two-core probes around each round."""
    if not results.rounds_run:
        return []
    runs = results.rounds_run

    def listed(figure: Callable[[Round], float], form: str) -> str:
        return " ".join(format(figure(run), form) for run in runs)

    lines = ["by round (a round's passes ran seconds apart; the best above may come from different rounds):",
             f"    (c)/(b) {listed(lambda run: run.scaling, '.2f')}: median {results.scaling:.2f} x",
             f"    (d)/(c) {listed(lambda run: run.pipeline_ratio, '.2f')}: median {results.pipeline_ratio:.2f} x"]
    if results.ceiling is not None and all(run.parse_twice for run in runs):
        lines += [(f"    (b) twice at once, no pool, /(b) {listed(lambda run: run.ceiling or 0.0, '.2f')}: median "
                   f"{results.ceiling:.2f} x (two one-core parsers side by side: the most this host's cores gave (c))"),
                  (f"    (c)/(b twice) {listed(lambda run: run.share_of_ceiling or 0.0, '.2f')}: median "
                   f"{results.share_of_ceiling or 0.0:.2f} (what the pool kept of it)")]
    if all(run.probes_ms for run in runs):
        lines.append(f"    slowest probe on both cores around the round, ms: "
                     f"{listed(lambda run: max(run.probes_ms), '.1f')}")
    return lines


def capacity(results: Results) -> list[str]:
    """What a shard delivering at its read ceiling costs, from the mixed corpus's bytes per event and (d)."""
    mixed = results.mixed
    if not mixed.events or not mixed.record_bytes:
        return []
    bytes_per_event = mixed.record_bytes / mixed.events
    shard_events = SHARD_BYTES_PER_S / bytes_per_event
    per_core = results.pipeline.timing.events_per_s / max(1, results.workers)
    cores = shard_events / per_core if per_core else float("inf")
    return [(f"capacity: a shard at {SHARD_BYTES_PER_S / 1024 / 1024:.0f} MB/s of this mix "
             f"({bytes_per_event:.0f} payload bytes/event) carries {shard_events:,.0f} events/s; (d) does "
             f"{per_core:,.0f} events/s per core: {cores:.2f} cores per shard, "
             f"{1 / cores if cores else 0:.2f} shards per core")]


def host(results: Results) -> list[str]:
    """How far the host's speed moved between the stages (`steadiness`), on one core and on both."""
    lines = []
    probes = results.host_probes_ms
    if (moved := steadiness.spread(probes)) is not None:
        lines.append(f"host: a fixed loop of Python took {min(probes):.1f}-{max(probes):.1f} ms in {len(probes)} "
                     f"probes between stages: the slowest {moved:.2f} x the fastest (a steady host: under "
                     f"{steadiness.UNSTEADY:.2f} x)")
    pairs = [probe for run in results.rounds_run for probe in run.probes_ms]
    if (both := steadiness.spread(pairs)) is not None:
        lines.append(f"host: the same loop on both cores at once, around the rounds: {min(pairs):.1f}-{max(pairs):.1f} "
                     f"ms in {len(pairs)} probes, the slowest {both:.2f} x the fastest")
    return lines


def unsteady(results: Results) -> list[str]:
    """Under the targets, when the host's speed moved more than a steady host's does, and what the host's two
    cores gave two one-core parsers when that bounds (c)."""
    lines = []
    moved = steadiness.spread(results.host_probes_ms)
    if moved is not None and moved > steadiness.UNSTEADY:
        lines.append(f"  the host's speed moved {moved:.2f} x during this run: a stage that ran in a "
                     f"slow phase lowers the ratios it is in; its CPU per event above says so, and another run may not")
    if (ceiling := results.ceiling) is not None and ceiling < CEILING_SHORT * SCALING_TARGET:
        lines.append(f"  two one-core parsers side by side, no pool, reached {ceiling:.2f} x (b) (median of the "
                     f"rounds): this host's two cores left (c) little or no room above {SCALING_TARGET} x; the pool "
                     f"kept {results.share_of_ceiling:.0%} of what they got")
    return lines


# Two one-core parsers side by side below this share over the (c) target: the report says the host bounds (c).
CEILING_SHORT = 1.1


def _cpu(results: Results, timing: Timing) -> str:
    efficiency = results.cpu_efficiency(timing)
    if efficiency is None or timing.events_per_cpu_s is None:
        return "CPU not measured"
    return (f"{timing.events_per_cpu_s:,.0f} events per CPU-second over all processes = {efficiency:.0%} of "
            f"(b)'s, so {efficiency * results.workers:.2f} x (b) on {results.workers} idle cores")


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0
