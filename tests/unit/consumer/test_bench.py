"""`secstash bench`'s pieces compute what they claim, on corpora of a few hundred events. Nothing here is
timed: the figures themselves are the benchmark's business, not the tests'."""

from __future__ import annotations

import argparse
import base64
import gzip
import inspect
import re
from collections.abc import Sequence
from dataclasses import replace

import orjson
import pytest

from consumer import corpus
from consumer.bench import Plan, floor, report, stages, steadiness, workload
from consumer.bench.rss import Peak, RssSampler
from consumer.bench.sinks import DiscardArchive, DiscardSearch
from consumer.commands import bench as command
from consumer.pool import IndexNaming, Parsed, ParserPool, WorkerConfig, parse_chunk, parse_in_worker
from parsers import ParseOptions
from sinks.archive.encode import encode_line
from sinks.batch import RawRecord, RecordBatch
from sinks.search import request_builder

CONFIG = WorkerConfig({stages.STREAM: corpus.stream_parsing(stages.STREAM)}, ParseOptions(), IndexNaming())


class InlinePool:
    """The parser pool's interface, parsing in this process (the real pool's processes are not the point)."""

    workers = 1

    def parse(self, stream: str, shard: str, records: Sequence[list]) -> Parsed:
        return parse_chunk(stream, shard, records, CONFIG)


@pytest.fixture(scope="module")
def mixed() -> workload.Workload:
    return workload.build("mixed", 400, seed=3, mix=corpus.BENCH_MIX)


# --- workload ---------------------------------------------------------------------------------------------


def test_a_workload_holds_exactly_the_events_asked_for_both_packed_and_bare(mixed):
    assert mixed.events == 400
    assert len(mixed.bare) == 400
    assert mixed.bare_bytes == sum(len(text.encode()) for _, text in mixed.bare)
    assert mixed.record_bytes == sum(len(base64.b64decode(w[4])) for w in mixed.wire)


def test_a_small_corpus_leaves_out_the_sources_whose_share_rounds_to_no_events():
    # Shares of 29.4, 0.3 and 0.3 events: vpcflow 29, and the remainder to the first by name, guardduty.
    records = list(corpus.records(30, seed=3, mix={"vpcflow": 100, "guardduty": 1, "waf": 1}))
    assert sum(record.events for record in records) == 30
    assert {record.dataset for record in records} == {"vpcflow", "guardduty"}


def test_bare_events_are_the_packed_events_cloudwatch_messages_eventbridge_events_and_lines():
    records = list(corpus.records(60, seed=5, mix={"vpcflow": 1, "guardduty": 1, "cloudfront_logs": 1}))
    for record in records:
        bare = workload.bare_events(record)
        assert len(bare) == record.events
        if record.dataset == "vpcflow":
            messages = [e["message"] for e in orjson.loads(gzip.decompress(record.data))["logEvents"]]
            assert bare == [(" ", m) for m in messages]
        elif record.dataset == "guardduty":
            assert bare == [(None, record.data.decode())]  # the whole EventBridge event, read as JSON
        else:
            assert all(separator == "\t" for separator, _ in bare)  # CloudFront lines are tab-separated


def test_the_backlog_repeats_the_base_records_with_new_positions_and_is_generated_lazily(mixed):
    backlog = workload.backlog(mixed, 1000)
    assert inspect.isgenerator(backlog)
    records = list(backlog)
    passes = -(-1000 // mixed.events)
    assert len(records) == passes * len(mixed.wire)
    sequences = [int(r[0]) for r in records]
    assert sequences == sorted(set(sequences))
    assert [r[4] for r in records[:len(mixed.wire)]] == [w[4] for w in mixed.wire]


def test_batches_cut_records_in_order_without_losing_any():
    got = list(workload.batches(iter(range(10)), 4))
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


# --- (a) the floor ----------------------------------------------------------------------------------------


def test_the_floor_pass_counts_the_workloads_events_and_bytes(mixed):
    timing = floor.timed_pass(mixed, repeats=2)
    assert (timing.events, timing.bytes) == (mixed.events, mixed.bare_bytes)
    assert timing.wall_s > 0 and timing.cpu_s is not None


def test_the_floor_decodes_and_encodes_json_events_and_encodes_the_fields_of_lines():
    event = {"eventName": "GetObject", "n": 1, "nested": {"a": [1, 2]}}
    line = "2 123456789012 eni-0a1b 10.0.0.1 10.0.0.2 443 51000 6 10 840 1700000000 1700000060 ACCEPT OK"
    written = floor.run([(None, orjson.dumps(event).decode()), (" ", line)])
    assert written == len(orjson.dumps(event)) + len(orjson.dumps(line.split(" ")))


# --- (b), (c), (d) ----------------------------------------------------------------------------------------


def test_the_one_core_stage_parses_every_record_it_is_given(mixed, monkeypatch):
    seen = []

    def counting(stream, shard, records, config):
        seen.extend(records)
        return parse_in_worker(stream, shard, records, config)

    monkeypatch.setattr(stages, "parse_in_worker", counting)
    timing = stages.parse_one_core(mixed.wire, CONFIG, mixed.events, mixed.bare_bytes)
    assert seen == list(mixed.wire)
    assert (timing.events, timing.bytes) == (mixed.events, mixed.bare_bytes)
    assert timing.cpu_s is not None


def test_the_pool_stage_spreads_every_batch_over_its_feeders(mixed):
    parsed = []

    class Recording(InlinePool):
        def parse(self, stream, shard, records):
            parsed.append(records)
            return super().parse(stream, shard, records)

    timing = stages.parse_pool(Recording(), mixed.wire, mixed.events, mixed.bare_bytes, feeders=2)
    assert sorted(int(w[0]) for batch in parsed for w in batch) == sorted(int(w[0]) for w in mixed.wire)
    assert timing.events == mixed.events


def test_the_pool_stage_runs_on_real_worker_processes(mixed):
    pool = ParserPool(CONFIG, workers=1)
    try:
        timing = stages.parse_pool(pool, mixed.wire, mixed.events, mixed.bare_bytes, feeders=1)
        parsed = pool.parse(stages.STREAM, "shardId-000000000000", mixed.wire)
    finally:
        pool.close()
    assert timing.events == mixed.events
    assert parsed.event_count == mixed.events and not parsed.dead_letters  # the workers started and parsed
    assert timing.cpu_s is not None and timing.cpu_s > 0  # the workers' CPU is counted


def test_the_pipeline_stage_builds_the_bulk_and_archive_bytes_of_every_document_and_record(mixed):
    run = stages.pipeline(InlinePool(), mixed.wire, feeders=2, bytes_per_event=10.0)
    expected = parse_chunk(stages.STREAM, "shardId-000000000000", mixed.wire, CONFIG)
    assert run.timing.events == mixed.events
    assert run.documents == len(expected.items) and run.dead_letters == 0
    # bodies and action lines of every document; the archive's line for every record
    assert run.bulk_raw_bytes == sum(request_builder.item_bytes(item) for item in expected.items)
    assert 0 < run.bulk_bytes < run.bulk_raw_bytes  # gzip, as the search sink sends them
    shards = {f"shardId-{i:012d}" for i in range(2)}
    lines = {shard: sum(len(encode_line(stages.STREAM, shard, RawRecord(*w))) for w in mixed.wire)
             for shard in shards}
    assert min(lines.values()) <= run.archive_raw_bytes <= max(lines.values())
    assert run.peak.rss_mb > 0 and run.peak.processes >= 1


def test_the_discarding_sinks_encode_like_the_real_ones():
    records = tuple(RawRecord(str(100 + i), 0, 1_700_000_000_000, "pk", base64.b64encode(b"x" * 50).decode())
                    for i in range(5))
    archive = DiscardArchive()
    archive.deliver(RecordBatch("s", "shard", records)).result()
    archive.close()
    assert archive.raw_bytes == sum(len(encode_line("s", "shard", r)) for r in records)
    flow = b"2 123456789012 eni-0a1b 10.0.0.1 10.0.0.2 443 51000 6 10 840 1700000000 1700000060 ACCEPT OK"
    parsed = parse_chunk("s", "shard", [[r.sequence, 0, r.arrival_ms, "pk", base64.b64encode(flow).decode()]
                                        for r in records], CONFIG)
    search = DiscardSearch()
    search.deliver(parsed.items).result()
    search.close()
    request = request_builder.build(parsed.items, lambda item: item, compress=True, level=search.level)
    assert (search.raw_bytes, search.bytes) == (request.raw_bytes, len(request.body))


def test_each_pass_of_a_dataset_reads_another_seeds_events_and_the_best_pass_counts(monkeypatch):
    from consumer import bench

    built = []
    real_build = workload.build

    def recording(name, events, seed, mix=None):
        built.append(seed)
        return real_build(name, events, seed, mix)

    monkeypatch.setattr(workload, "build", recording)
    result = bench.measure("vpcflow", Plan(dataset_events=100, warm_up_events=50, passes=3, seed=7), CONFIG)
    assert built == [1007, 7, 8, 9]  # the warm-up's seed, then one per pass
    assert result.name == "vpcflow" and result.events == 100


def test_pickling_is_measured_per_document_of_a_parsed_chunk():
    from consumer.bench import measure_pickling

    pickled = measure_pickling(Plan.quick(warm_up_events=200), CONFIG, records=20)
    assert pickled.bytes > 100  # a document's body is at least that
    assert pickled.dumps_us >= 0 and pickled.loads_us >= 0


def test_the_rss_sampler_counts_children_unless_told_they_are_not_ours():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with RssSampler(interval_s=60) as counted:
            pass
        with RssSampler(interval_s=60, exclude=frozenset({child.pid})) as excluded:
            pass
    finally:
        child.kill()
        child.wait()
    assert counted.peak.processes == excluded.peak.processes + 1


def test_the_rss_sampler_sees_this_process():
    with RssSampler(interval_s=0.01) as sampler:
        _ = bytearray(1024 * 1024)
    peak = sampler.peak
    assert peak.rss_mb >= peak.main_rss_mb > 0
    assert peak.processes >= 1


# --- report -----------------------------------------------------------------------------------------------


def _timing(events: int, seconds: float) -> stages.Timing:
    return stages.Timing(events, events * 100, seconds, seconds)


def _results(parse1: float = 10.0, parse_n: float = 5.5, pipeline: float = 6.0,
             rss: float = 300.0) -> report.Results:
    floor_timing = _timing(1000, 0.01)  # 100,000 events/s
    datasets = [report.DatasetResult("cloudtrail", 1000, floor_timing, _timing(1000, 0.04), 200_000, 10),
                report.DatasetResult("vpcflow", 1000, floor_timing, _timing(1000, 0.1), 100_000, 10)]
    mixed = report.DatasetResult("mixed", 1000, floor_timing, _timing(1000, parse1 / 100), 221_000, 60)
    peak = Peak(rss, rss * 0.8, rss / 2, 4)
    run = stages.PipelineRun(_timing(1000, pipeline / 100), 1000, 0, 1, 2, 3, 4, peak)
    return report.Results(1, None, 2, datasets, mixed, _timing(1000, parse_n / 100), run, run, 1_000_000)


def test_the_report_holds_each_target_against_its_figure():
    checks = {text.split(":")[0]: ok for text, ok in _results().checks()}
    assert checks == {
        "(b) >= 20% of (a) for cloudtrail": True,  # 25,000 vs 100,000 events/s
        "(b) >= 15% of (a) for vpcflow": False,  # 10,000
        "(b) >= 15% of (a) for mixed": False,  # 10,000
        "(c) >= 1.7 x (b)": True,  # 1.82 x
        "(d) >= 0.8 x (c)": True,  # 0.92 x
        "peak RSS <= 512 MB during (d), backlog of 1,000,000 events": True,
    }
    assert not dict(_results(rss=600).checks())[next(t for t, _ in _results(rss=600).checks() if "RSS" in t)]


def test_the_report_ends_with_the_machine_readable_line():
    text = report.render(_results())
    assert re.fullmatch(r"bench: floor=100000 parse1=10000 parseN=18182 pipeline=16667 rss_mb=300",
                        text.splitlines()[-1])
    assert "cloudtrail" in text and "capacity:" in text


def test_end_to_end_names_what_bounds_it():
    results = _results()  # (d): 16,667 events/s of 1000 events in 60 records: 1,000 records/s
    slow_emulator = report.EndToEnd(10_000, 600, 2.0, 2.0, 10_000)  # 300 records/s read
    assert "bounded by kinesis-local's reads" in "\n".join(report.end_to_end(results, slow_emulator))
    both = report.EndToEnd(10_000, 1400, 2.0, 1.0, 10_000)  # 1,400 records/s, above what (d) takes
    assert "bounded by both" in "\n".join(report.end_to_end(results, both))


def test_capacity_is_a_shards_read_rate_over_what_a_core_delivers():
    results = _results()
    line = report.capacity(results)[0]
    # 221 payload bytes per event: 2 MiB/s is 9,489 events/s; (d) gives 8,333 events/s per core
    assert "9,489 events/s" in line and "8,333 events/s per core" in line and "1.14 cores per shard" in line


def test_the_report_says_how_far_the_hosts_speed_moved_and_warns_under_the_targets_when_it_moved_far():
    steady = _results()
    steady.host_probes_ms = [10.0, 10.4, 11.0]
    text = report.render(steady)
    assert "host: a fixed loop of Python took 10.0-11.0 ms in 3 probes between stages: the slowest 1.10 x" in text
    assert "speed moved" not in text
    unsteady = _results()
    unsteady.host_probes_ms = [10.0, 21.0, 10.5]
    lines = report.render(unsteady).splitlines()
    warning = next(n for n, line in enumerate(lines) if "the host's speed moved 2.10 x during this run" in line)
    assert lines.index("targets:") < warning < len(lines) - 1 and lines[-1].startswith("bench: ")
    assert not any(line.startswith("host:") for line in report.render(_results()).splitlines())  # no probes


def test_a_probe_is_the_fastest_of_its_tries_so_one_interrupt_is_not_a_slow_phase(monkeypatch):
    clock = iter([0.0, 0.005, 1.0, 1.003, 2.0, 2.012])  # three loops: 5, 3 and 12 ms
    monkeypatch.setattr(steadiness.time, "perf_counter", lambda: next(clock))
    assert steadiness.probe_ms(loop=10) == pytest.approx(3.0)
    assert steadiness.spread([3.0]) is None and steadiness.spread([3.0, 6.0, 4.5]) == 2.0


# --- the command ------------------------------------------------------------------------------------------


def test_quick_measures_smaller_corpora_and_options_override_the_plan():
    quick = Plan.quick()
    assert quick.mixed_events < Plan().mixed_events and quick.backlog_events < Plan().backlog_events
    assert quick.passes >= 2  # best of several passes even when quick: one busy moment must not decide
    assert Plan().backlog_events == 1_000_000
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--quick", "--dataset", "vpcflow", "--backlog-events", "500",
                              "--geoip-dir", "/g", "--passes", "4", "--rounds", "6"])
    assert args.quick and args.datasets == ["vpcflow"] and args.backlog_events == 500
    assert args.geoip_dir == "/g" and args.passes == 4 and args.rounds == 6
    assert Plan().rounds > Plan().passes and Plan.quick().rounds > Plan.quick().passes  # the ratios' stages


def test_each_round_reads_a_seed_of_its_own_built_when_the_round_starts():
    from consumer import bench

    built: list[int] = []

    def records(seed: int) -> workload.Workload:
        built.append(seed)
        return f"workload {seed}"  # type: ignore[return-value]

    rounds = bench._loads(records, Plan(seed=7, rounds=4), 100)
    first = next(rounds)
    assert built == [107] and first == ("workload 107", 107)  # one workload held at a time
    assert [seed for _, seed in rounds] == [108, 109, 110] and built == [107, 108, 109, 110]


def _round(parse_s: float, pool_s: float, pipeline_s: float, *probes: float) -> report.Round:
    return report.Round(_timing(1000, parse_s), _timing(1000, pool_s), _timing(1000, pipeline_s), probes)


def test_the_report_lists_each_rounds_ratios_beside_the_slowest_probe_around_it():
    results = _results()
    results.rounds_run = [_round(0.10, 0.056, 0.064, 20.0, 20.5, 21.0, 20.0),  # 1.79 x, 0.875 x
                          _round(0.10, 0.080, 0.090, 20.0, 31.0, 20.0, 20.0),  # (c) in a slow phase: 1.25 x
                          _round(0.10, 0.054, 0.060, 21.0, 20.0, 22.9, 20.0),  # 1.85 x, 0.9 x
                          _round(0.10, 0.058, 0.070, 20.0, 20.0, 20.0, 20.0)]  # 1.72 x, 0.829 x
    text = report.render(results)
    assert "    (c)/(b) 1.79 1.25 1.85 1.72: median 1.75 x" in text
    assert "    slowest probe on both cores around the round, ms: 21.0 31.0 22.9 20.0" in text
    assert "[met] (c) >= 1.7 x (b): 1.75 x (median of 4 rounds)" in text
    assert "host: the same loop on both cores at once, around the rounds: 20.0-31.0 ms in 16 probes, the slowest 1.55 x" in text


def _round_with_twice(parse_s: float, pool_s: float, twice_s: float) -> report.Round:
    # (b) twice at once: 2,000 events (1,000 in each process) over the longer wall time
    return report.Round(_timing(1000, parse_s), _timing(1000, pool_s), _timing(1000, pool_s),
                        parse_twice=_timing(2000, twice_s))


def test_the_report_sets_c_beside_two_one_core_parsers_run_side_by_side():
    results = _results()
    results.rounds_run = [_round_with_twice(0.10, 0.056, 0.105),  # the host gave 1.90 x; the pool 1.79 x: 94 %
                          _round_with_twice(0.10, 0.070, 0.125),  # a slow phase: 1.60 x; the pool 1.43 x: 89 %
                          _round_with_twice(0.10, 0.054, 0.100)]  # 2.00 x; 1.85 x: 93 %
    assert [round(run.ceiling or 0, 2) for run in results.rounds_run] == [1.9, 1.6, 2.0]
    assert round(results.ceiling or 0, 2) == 1.9 and round(results.share_of_ceiling or 0, 2) == 0.93
    text = report.render(results)
    assert "    (b) twice at once, no pool, /(b) 1.90 1.60 2.00: median 1.90 x" in text
    assert "    (c)/(b twice) 0.94 0.89 0.93: median 0.93 (what the pool kept of it)" in text
    assert "two one-core parsers side by side, no pool, reached" not in text  # 1.90 x leaves (c) room
    # a host whose two cores give two parsers 1.67 x: (c) cannot reach 1.7 x; the pool gets 1.56 x of it
    results.rounds_run = [replace(run, pool=_timing(1000, 0.064), parse_twice=_timing(2000, 0.12))
                          for run in results.rounds_run]
    text = report.render(results)
    assert "[MISSED] (c) >= 1.7 x (b)" in text  # the target stands as it is
    assert ("two one-core parsers side by side, no pool, reached 1.67 x (b) (median of the rounds): this host's two "
            "cores left (c) little or no room above 1.7 x; the pool kept 94% of what they got") in text


def test_rounds_without_two_parsers_side_by_side_report_no_ceiling():
    results = _results()
    results.rounds_run = [_round(0.10, 0.056, 0.064, 20.0)]
    assert results.ceiling is None and results.share_of_ceiling is None
    assert "(b) twice at once" not in report.render(results)


def test_a_pair_probe_is_the_slower_of_the_loops_run_here_and_on_another_core_at_once(monkeypatch):
    from concurrent.futures import Future

    times = iter([10.0, 12.0])  # the one-core probe, then the loop here beside the other core's
    monkeypatch.setattr(steadiness, "probe_ms", lambda: next(times))
    other: Future[float] = Future()
    other.set_result(15.0)
    steady = steadiness.Steadiness()
    assert steady.probe_pair(lambda: other) == 15.0
    assert steady.samples_ms == [10.0]  # the one-core probe, for the host: line


def test_the_report_says_which_path_parsed_the_records():
    assert "compiled record path: off: every record through the Python parsers" in report.render(_results())
    on = _results()
    on.native = True
    assert "compiled record path: on (VPC Flow Logs" in report.render(on)


def test_c_is_compared_with_b_from_its_own_rounds_when_there_are_any():
    results = _results(parse1=10.0, parse_n=5.5)  # the mixed row's (b): 10,000 events/s; (c) 18,182
    assert round(results.scaling, 2) == 1.82
    results.paired_parse = _timing(1000, 0.08)  # (b) in the rounds beside (c): 12,500 events/s
    assert round(results.scaling, 2) == 1.45
    text = report.render(results)
    assert "= 1.45 x (b)" in text and "(b) 12,500 events/s" in text
    assert "parse1=12500 parseN=18182" in text.splitlines()[-1]  # the line's ratio is the scaling reported
    assert "(b) >= 15% of (a) for mixed: 10.0%" in text  # the mixed row keeps its own (a) and (b)


def test_the_targets_take_the_median_of_each_rounds_own_ratios():
    results = _results(parse1=10.0, parse_n=5.5, pipeline=6.0)  # best against best: 1.82 x and 0.92 x
    # Three rounds: in the second a slow phase hit (c) alone, in the third (b) alone.
    results.rounds_run = [report.Round(_timing(1000, 0.10), _timing(1000, 0.056), _timing(1000, 0.064)),
                          report.Round(_timing(1000, 0.10), _timing(1000, 0.080), _timing(1000, 0.090)),
                          report.Round(_timing(1000, 0.14), _timing(1000, 0.060), _timing(1000, 0.100))]
    assert [round(r.scaling, 2) for r in results.rounds_run] == [1.79, 1.25, 2.33]
    assert round(results.scaling, 2) == 1.79 and round(results.best_scaling, 2) == 1.82
    assert round(results.pipeline_ratio, 3) == 0.875  # of 0.875, 0.889 and 0.6
    text = report.render(results)
    assert "(c)/(b) 1.79 1.25 2.33: median 1.79 x" in text
    assert "[met] (c) >= 1.7 x (b): 1.79 x (median of 3 rounds)" in text
    assert "[met] (d) >= 0.8 x (c): 0.88 x (median of 3 rounds)" in text
    assert "= 1.82 x (b)" in text  # the best passes are still shown as they are
    results.rounds_run[0] = report.Round(_timing(1000, 0.10), _timing(1000, 0.070), _timing(1000, 0.2))
    assert "[MISSED] (c) >= 1.7 x (b): 1.43 x (median of 3 rounds)" in report.render(results)


def test_a_rounds_b_parses_the_mixed_corpus_of_that_rounds_seed(monkeypatch):
    from consumer import bench

    built: list[tuple[str, int, int]] = []
    real_build = workload.build

    def build(name, events, seed, mix=None):
        built.append((name, events, seed))
        return real_build(name, events, seed, mix)

    monkeypatch.setattr(workload, "build", build)
    monkeypatch.setattr(bench, "_LAST_MIXED", {})
    timing = bench.measure_parse(Plan(mixed_events=150, seed=7), CONFIG, 107)
    assert built == [("mixed", 150, 107)]
    assert timing.events == 150 and timing.wall_s > 0


def test_a_rounds_records_and_its_b_build_the_corpus_once_and_the_next_round_builds_its_own(monkeypatch):
    from consumer import bench

    built: list[int] = []
    real_build = workload.build

    def build(name, events, seed, mix=None):
        built.append(seed)
        return real_build(name, events, seed, mix)

    monkeypatch.setattr(workload, "build", build)
    monkeypatch.setattr(bench, "_LAST_MIXED", {})
    plan = Plan(mixed_events=150, seed=7)
    for seed in (107, 108):
        records = bench.mixed_records(plan.mixed_events, seed)
        timing = bench.measure_parse(plan, CONFIG, seed)
        assert timing.events == records.events == 150
        assert records.bare == ()  # the pool stages' copy carries no bare events
    assert built == [107, 108]
    assert list(bench._LAST_MIXED) == [(150, 108)]  # one corpus held at a time


def test_a_whole_run_frames_each_round_with_probes_and_reports_each_rounds_ratios():
    from consumer import bench

    plan = Plan.quick(datasets=("vpcflow",), dataset_events=200, mixed_events=300, backlog_events=300,
                      warm_up_events=100, passes=1, rounds=2, workers=2, side_by_side=True)
    results = bench.run(plan)
    assert len(results.rounds_run) == 2
    assert all(len(run.probes_ms) == 4 and run.pool.events == 300 for run in results.rounds_run)
    # (b) ran in two processes at once on the round's events, beside its one-core pass
    assert all(run.parse_twice is not None and run.parse_twice.events == 600 for run in results.rounds_run)
    text = report.render(results)
    assert "in 2 rounds" in text and "    (c)/(b) " in text and "slowest probe on both cores" in text
    assert "host: the same loop on both cores at once, around the rounds" in text
    assert "    (b) twice at once, no pool, /(b) " in text and "    (c)/(b twice) " in text
