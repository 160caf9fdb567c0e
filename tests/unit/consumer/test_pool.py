"""The parser pool: records become bulk items and dead letters; dying workers are survived without losing
or endlessly retrying records, and a pool that cannot work at all fails the batch."""

from __future__ import annotations

import base64
import gzip
import multiprocessing
import os
import pickle
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ClassVar

import orjson
import pytest

from consumer import corpus
from consumer import pool as pool_module
from consumer.objects import ObjectAccess
from consumer.pool import (
    GROUP_SHARE,
    MAX_ISOLATION_POOLS,
    IndexNaming,
    ParserPool,
    PoolUnusable,
    WorkerConfig,
    parse_chunk,
    parse_in_worker,
)
from parsers import ObjectUnavailable, ParseOptions, StreamParsing
from sinks.batch import Entry, RunGroup, as_items
from sinks.search import request_builder

CONFIG = WorkerConfig({"logs": StreamParsing(stream="logs", namespace="prod")}, ParseOptions())


def wire(seq: int, data: bytes) -> list:
    return [str(seq), 0, 1_700_000_000_000, "pk", base64.b64encode(data).decode()]


def cwl(*messages: str) -> bytes:
    return gzip.compress(orjson.dumps({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/ecs/app", "logStream": "app/1",
        "subscriptionFilters": ["f"],
        "logEvents": [{"id": str(i), "timestamp": 1_700_000_000_000, "message": m} for i, m in enumerate(messages)]}))


def test_parse_chunk_turns_records_into_items_and_failures_into_dead_letters() -> None:
    parsed = parse_chunk("logs", "shardId-0", [wire(1, cwl("hello", "world")), wire(2, b"\x1f\x8bnot gzip")], CONFIG)
    assert [item.index for item in parsed.items] == ["logs-aws.cloudwatch_logs-prod"] * 2
    assert len({item.id for item in parsed.items}) == 2
    assert parsed.event_count == 3 and parsed.failures == {"bad_gzip": 1}
    assert parsed.dead_letters[0].source.sequence == "2" and parsed.dead_letters[0].stage == "parse"


def test_a_chunk_over_its_document_cap_defers_the_records_it_has_not_started() -> None:
    capped = WorkerConfig(CONFIG.parsing, CONFIG.options, max_chunk_documents=3)
    records = [wire(1, cwl("a", "b")), wire(2, cwl("c", "d")), wire(3, cwl("e")), wire(4, cwl("f"))]
    parsed = parse_chunk("logs", "shardId-0", records, capped)
    # A record is parsed whole: the cap is checked before each record, never inside one.
    assert [item.source.sequence for item in parsed.items] == ["1", "1", "2", "2"]
    assert [d[0] for d in parsed.deferred] == ["3", "4"]
    assert parsed.event_count == 4
    rest = parse_chunk("logs", "shardId-0", parsed.deferred, capped)
    assert [item.source.sequence for item in rest.items] == ["3", "4"] and rest.deferred == []
    # Without a cap (replay, bench) every record is parsed in one go.
    assert parse_chunk("logs", "shardId-0", records, CONFIG).deferred == []


def test_dead_letters_count_toward_the_chunk_cap_too() -> None:
    # A log object of bad lines makes a dead letter per line: they are held until the chunk returns as well.
    capped = WorkerConfig(CONFIG.parsing, CONFIG.options, max_chunk_documents=3)
    records = [wire(n, b"\x1f\x8bnot gzip") for n in range(1, 6)]
    parsed = parse_chunk("logs", "shardId-0", records, capped)
    assert [d.source.sequence for d in parsed.dead_letters] == ["1", "2", "3"]
    assert [d[0] for d in parsed.deferred] == ["4", "5"]


# --- S3 log objects: what one record expands to ---------------------------------------------------------

ACCESS = ObjectAccess(region="us-east-1", max_bytes=1 << 20)
KEY = "custom/{}.log"


def notification(*keys: str) -> bytes:
    return orjson.dumps({"Records": [
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
         "s3": {"bucket": {"name": "logs"}, "object": {"key": key}}} for key in keys]})


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Objects by key, read by the stream's reader (in place of S3)."""
    objects: dict[str, bytes] = {}
    monkeypatch.setitem(pool_module._READERS, ("logs", ACCESS), lambda ref: objects[ref.key])
    return objects


def objects_config(max_chunk_documents: int | None = None, **options: int) -> WorkerConfig:
    return WorkerConfig(CONFIG.parsing, ParseOptions(**options), objects={"logs": ACCESS},
                        max_chunk_documents=max_chunk_documents)


def test_a_record_of_more_pointers_than_the_cap_reads_the_cap_and_dead_letters_the_rest(bucket) -> None:
    keys = [KEY.format(n) for n in range(5)]
    bucket.update({key: f"{key} line 1\n{key} line 2\n".encode() for key in keys})
    parsed = parse_chunk("logs", "shardId-0", [wire(1, notification(*keys))], objects_config(max_objects_per_record=3))
    assert parsed.objects_read == 3 and len(parsed.items) == 6
    assert parsed.failures == {"too_many_objects": 1} and parsed.event_count == 7 and parsed.dropped_events == 0
    [letter] = parsed.dead_letters
    assert (letter.reason, letter.source.sequence, letter.source.ordinal) == ("too_many_objects", "1", 3 << 32)
    assert [r["s3"]["object"]["key"] for r in orjson.loads(letter.raw)["Records"]] == keys[3:]


def test_an_object_of_more_events_than_the_cap_makes_the_cap_and_one_dead_letter(bucket) -> None:
    bucket[KEY.format(0)] = gzip.compress(b"".join(b"line %d\n" % n for n in range(1, 11)))
    parsed = parse_chunk("logs", "shardId-0", [wire(1, notification(KEY.format(0)))],
                         objects_config(max_events_per_object=4))
    assert len(parsed.items) == 4 and parsed.failures == {"too_many_events": 1}
    assert parsed.event_count == 5 and parsed.dropped_events == 0
    [letter] = parsed.dead_letters
    assert letter.reason == "too_many_events" and "from line 5 of the decompressed object" in letter.message
    assert letter.source.ordinal == 4


def test_a_record_of_many_objects_goes_on_in_later_rounds_from_its_next_pointer(bucket) -> None:
    # The review's d3 (a): one record naming several objects blew past max_chunk_documents. Now the chunk is
    # checked between objects, and the record comes back, with the pointer to go on from, for another round.
    keys = [KEY.format(n) for n in range(4)]
    bucket.update({key: "".join(f"{key} line {n}\n" for n in range(30)).encode() for key in keys})
    records = [wire(1, notification(*keys)), wire(2, notification(keys[0]))]
    whole = parse_chunk("logs", "shardId-0", records, objects_config())
    capped = objects_config(max_chunk_documents=50)
    rounds = [parse_chunk("logs", "shardId-0", records, capped)]
    while rounds[-1].deferred:
        rounds.append(parse_chunk("logs", "shardId-0", rounds[-1].deferred, capped))
    assert [len(r.items) for r in rounds] == [60, 60, 30]
    assert [[list(d) for d in r.deferred] for r in rounds] == [[[*records[0], 2], records[1]], [records[1]], []]
    # Every document once, under the id it has when the record is parsed in one go.
    assert [i.id for r in rounds for i in r.items] == [i.id for i in whole.items]
    assert sum(r.event_count for r in rounds) == whole.event_count == 150
    assert sum(r.objects_read for r in rounds) == 5


def test_a_chunk_is_checked_between_objects_counting_their_dead_letters(bucket) -> None:
    keys = [KEY.format(n) for n in range(3)]
    bucket.update({key: b"" for key in keys})  # each one empty: no documents, no dead letters
    del bucket[keys[0]]  # ... and the first one missing: a dead letter
    bucket_reader = pool_module._READERS[("logs", ACCESS)]

    def reader(ref):
        if ref.key not in bucket:
            raise ObjectUnavailable(f"s3://logs/{ref.key}: NoSuchKey")
        return bucket_reader(ref)

    pool_module._READERS[("logs", ACCESS)] = reader
    parsed = parse_chunk("logs", "shardId-0", [wire(1, notification(*keys))], objects_config(max_chunk_documents=1))
    assert parsed.failures == {"s3_object_unavailable": 1} and parsed.objects_read == 0
    assert [list(d) for d in parsed.deferred] == [[*wire(1, notification(*keys)), 1]]


def test_index_naming_uses_the_documents_day_for_dated_patterns() -> None:
    naming = IndexNaming("secstash-{dataset}-{namespace}-{date}")
    assert naming("aws.vpcflow", "prod", "2026-11-01T10:00:00.000Z") == "secstash-aws.vpcflow-prod-2026.11.01"
    assert IndexNaming()("aws.vpcflow", "prod", "2026-11-01T10:00:00.000Z") == "logs-aws.vpcflow-prod"


class FakeExecutor:
    """Runs chunks inline, except that chunks `breaks` says so die like a crashed worker."""

    def __init__(self, breaks) -> None:
        self.breaks = breaks
        self._broken = False

    def submit(self, fn, stream, shard, chunk) -> Future:
        future: Future = Future()
        if self.breaks(chunk):
            self._broken = True
            future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
        else:
            future.set_result(fn(stream, shard, chunk, CONFIG))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def test_a_poison_chunk_is_dead_lettered_after_one_retry_and_the_pool_goes_on() -> None:
    poison = wire(9, cwl("crashes the worker"))
    built = []

    def factory(workers, config):
        built.append(workers)
        return FakeExecutor(lambda chunk: any(w[0] == "9" for w in chunk))

    pool = ParserPool(CONFIG, workers=2, executor_factory=factory)
    parsed = pool.parse("logs", "shardId-0", [poison])
    assert parsed.failures == {"worker_crashed": 1} and parsed.dead_letters[0].raw == poison[4]
    assert built == [2, 2, 1, 1]  # the pool, its replacement, the poison chunk's own pool, the canary's
    assert len(pool.parse("logs", "shardId-0", [wire(10, cwl("fine"))]).items) == 1


def test_only_the_record_that_kills_a_worker_is_dead_lettered_not_its_chunk() -> None:
    records = [wire(n, cwl(f"line {n}")) for n in range(1, 12)]
    records[6] = wire(99, cwl("crashes the worker"))
    pool = ParserPool(CONFIG, workers=1, executor_factory=lambda w, c: FakeExecutor(
        lambda chunk: any(w[0] == "99" for w in chunk)))
    parsed = pool.parse("logs", "shardId-0", records)
    assert [d.source.sequence for d in parsed.dead_letters] == ["99"] and parsed.failures == {"worker_crashed": 1}
    assert sorted(int(item.source.sequence) for item in parsed.items) == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11]


def test_when_every_record_kills_a_worker_the_search_for_them_is_bounded() -> None:
    built: list[int] = []

    def factory(workers, config):
        built.append(workers)
        return FakeExecutor(lambda chunk: len(chunk) > 0)  # an empty chunk (the canary) still parses

    pool = ParserPool(CONFIG, workers=1, executor_factory=factory)
    parsed = pool.parse("logs", "shardId-0", [wire(n, cwl("crashes")) for n in range(500)])
    assert parsed.failures == {"worker_crashed": 500} and not parsed.items
    assert len(built) < 2 * MAX_ISOLATION_POOLS  # not the ~2,000 pools halving down to every record takes


def test_a_pool_that_dies_on_everything_fails_the_batch_instead_of_dead_lettering_it() -> None:
    pool = ParserPool(CONFIG, workers=1, executor_factory=lambda w, c: FakeExecutor(lambda chunk: True))
    with pytest.raises(PoolUnusable):
        pool.parse("logs", "shardId-0", [wire(1, cwl("anything"))])


def _die_on_poison(stream: str, shard: str, chunk: list, config: WorkerConfig = CONFIG) -> object:
    if any(w[0] == "999" for w in chunk):
        os._exit(1)  # as a segfault or the OOM killer ends a worker
    return parse_chunk(stream, shard, chunk, config)


class _CrashingExecutor(ProcessPoolExecutor):
    def submit(self, fn, *args):  # type: ignore[override]
        return super().submit(_die_on_poison, *args)


def test_a_worker_killed_by_one_shards_record_costs_other_shards_nothing() -> None:
    # Real worker processes: the crash breaks the pool under every shard's chunks at once. forkserver, as in
    # production: forking this threaded process could deadlock a child.
    context = multiprocessing.get_context("forkserver")
    pool = ParserPool(CONFIG, workers=2,
                      executor_factory=lambda w, c: _CrashingExecutor(max_workers=w, mp_context=context))
    good = cwl("fine")
    batches = {"A": [wire(999, good)] + [wire(n, good) for n in range(40)],
               **{shard: [wire(n, good) for n in range(120)] for shard in "BCD"}}
    results: dict[str, object] = {}

    def parse(shard: str) -> None:
        try:
            results[shard] = pool.parse("logs", shard, batches[shard])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            results[shard] = exc

    threads = [threading.Thread(target=parse, args=(shard,)) for shard in batches]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    finally:
        pool.close()
    assert {shard: type(r).__name__ for shard, r in results.items()} == dict.fromkeys("ABCD", "Parsed")
    assert [d.source.sequence for d in results["A"].dead_letters] == ["999"]
    assert len(results["A"].items) == 40
    assert all(len(results[shard].items) == 120 and not results[shard].failures for shard in "BCD")


# --- log groups no detection rule claims ----------------------------------------------------------------

def _group_record(group: str, stream: str, *messages: str) -> bytes:
    return gzip.compress(orjson.dumps({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group, "logStream": stream,
        "subscriptionFilters": ["f"],
        "logEvents": [{"id": str(i), "timestamp": 1_700_000_000_000, "message": m} for i, m in enumerate(messages)]}))


def test_a_chunk_counts_unclaimed_security_shaped_events_and_names_their_groups() -> None:
    trail = orjson.dumps({"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser",
                          "eventTime": "2024-05-02T10:00:00Z"}).decode()
    records = [wire(1, _group_record("/aws/lambda/a", "s", trail, "line")),
               wire(2, _group_record("/aws/lambda/b", "123456789012_CloudTrail_us-east-1", "line")),
               wire(3, cwl("hello"))]
    parsed = parse_chunk("logs", "shardId-0", records, CONFIG)
    assert {item.index for item in parsed.items} == {"logs-aws.cloudwatch_logs-prod"}
    assert parsed.unclaimed == {"cloudtrail": 3}
    assert parsed.unclaimed_groups == {"/aws/lambda/a": "cloudtrail", "/aws/lambda/b": "cloudtrail"}
    again = pool_module._unpickle_parsed(*parsed.__reduce__()[1])
    assert again.unclaimed == parsed.unclaimed and again.unclaimed_groups == parsed.unclaimed_groups
    merged = pool_module.Parsed()
    merged.merge(parsed)
    merged.merge(parsed)
    assert merged.unclaimed == {"cloudtrail": 6} and len(merged.unclaimed_groups) == 2
    trusting = WorkerConfig({"logs": StreamParsing(stream="logs", namespace="prod", detection_by_content=True)},
                            ParseOptions())
    trusted = parse_chunk("logs", "shardId-0", records, trusting)
    assert {item.index for item in trusted.items} >= {"logs-aws.cloudtrail-prod"} and not trusted.unclaimed


# --- records that make a parser spin ----------------------------------------------------------------------

def _backtracking_parse_record(data: bytes, *args, **kwargs):
    """parse_record, but a record holding b"spin" (plain text) meets a regular expression that backtracks for ever (2^n
    attempts: hours for this input), as hostile text can make a grok-style line regex do."""
    if b"spin" in data:
        import re
        re.search(r"(a+)+$", "a" * 60 + "!")
    return _REAL_PARSE_RECORD(data, *args, **kwargs)


_REAL_PARSE_RECORD = pool_module.parse_record
SPIN_CONFIG = WorkerConfig({"logs": StreamParsing(stream="logs", namespace="prod")}, ParseOptions(),
                           parse_timeout_s=0.5)


def test_a_record_that_makes_a_parser_spin_is_dead_lettered_as_parse_timeout_and_the_chunk_goes_on(monkeypatch) -> None:
    monkeypatch.setattr(pool_module, "parse_record", _backtracking_parse_record)
    records = [wire(1, b"before"), wire(2, b"spin"), wire(3, b"after")]
    started = time.process_time()
    parsed = parse_chunk("logs", "shardId-0", records, SPIN_CONFIG)
    assert time.process_time() - started < 10
    assert [(d.source.sequence, d.reason, d.raw) for d in parsed.dead_letters] == [("2", "parse_timeout", records[1][4])]
    assert parsed.failures == {"parse_timeout": 1} and parsed.event_count == 3
    assert sorted(item.source.sequence for item in parsed.items) == ["1", "3"]


def test_the_cpu_deadline_leaves_no_timer_behind() -> None:
    import signal
    with pool_module.cpu_deadlines(5.0) as deadline:
        with deadline:
            remaining, interval = signal.getitimer(signal.ITIMER_PROF)
            assert interval == 0.5 and 0 < remaining <= 0.6  # ticks every tenth of the limit (kernel clock ticks)
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGPROF) in (signal.SIG_DFL, signal.SIG_IGN, None)


def test_a_record_is_stopped_once_the_cpu_timer_ticked_past_its_limit_during_it_and_never_between_records() -> None:
    watch = pool_module._CpuWatch()
    with watch:  # a sound record: ten ticks during it (the first may come as it begins) are within its limit
        for _ in range(pool_module._TICKS_PER_LIMIT):
            watch.tick(0, None)
    for _ in range(3 * pool_module._TICKS_PER_LIMIT):  # between records: nothing to stop
        watch.tick(0, None)
    with watch:  # the next record counts its own ticks from one
        for _ in range(pool_module._TICKS_PER_LIMIT):
            watch.tick(0, None)
    with pytest.raises(pool_module.Overtime), watch:
        for _ in range(pool_module._TICKS_PER_LIMIT + 1):
            watch.tick(0, None)
    with watch:  # and after a stopped one, too
        watch.tick(0, None)


def test_a_record_within_its_cpu_time_is_parsed_as_usual() -> None:
    parsed = parse_chunk("logs", "shardId-0", [wire(1, cwl("hello", "world"))], SPIN_CONFIG)
    assert len(parsed.items) == 2 and not parsed.dead_letters


def _spin_on_poison(stream: str, shard: str, chunk: list, config: WorkerConfig = SPIN_CONFIG) -> object:
    pool_module.parse_record = _backtracking_parse_record  # in this worker process only
    return parse_chunk(stream, shard, chunk, config)


class _SpinningExecutor(ProcessPoolExecutor):
    def submit(self, fn, *args):  # type: ignore[override]
        return super().submit(_spin_on_poison, *args)


def test_a_spinning_record_in_a_real_worker_costs_its_shard_the_timeout_not_the_shard() -> None:
    context = multiprocessing.get_context("forkserver")
    pool = ParserPool(SPIN_CONFIG, workers=2,
                      executor_factory=lambda w, c: _SpinningExecutor(max_workers=w, mp_context=context))
    records = [wire(n, cwl(f"line {n}")) for n in range(100)]
    records[37] = wire(37, b"spin")
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(parsed=pool.parse("logs", "shardId-0", records)),
                              daemon=True)
    try:
        thread.start()
        thread.join(120)
    finally:
        pool.close() if not thread.is_alive() else None
    assert not thread.is_alive(), "the shard's parse round is still blocked by the spinning record"
    parsed = result["parsed"]
    assert [(d.source.sequence, d.reason) for d in parsed.dead_letters] == [("37", "parse_timeout")]
    assert len(parsed.items) == 99 and parsed.failures == {"parse_timeout": 1}


def _spin_for_the_default_timeout(stream: str, shard: str, chunk: list) -> object:
    return _spin_on_poison(stream, shard, chunk, WorkerConfig({"logs": StreamParsing(stream="logs")}, ParseOptions()))


class _LongSpinningExecutor(ProcessPoolExecutor):
    def submit(self, fn, *args):  # type: ignore[override]
        return super().submit(_spin_for_the_default_timeout, *args)


def test_closing_the_pool_stops_a_worker_that_spins_instead_of_waiting_out_its_timeout() -> None:
    # Runtime.stop closes the pool last, within pipeline.shutdown_grace_s (30 s): a record has 300 s by default.
    context = multiprocessing.get_context("forkserver")
    pool = ParserPool(CONFIG, workers=1,
                      executor_factory=lambda w, c: _LongSpinningExecutor(max_workers=w, mp_context=context))
    outcome: dict[str, BaseException] = {}

    def parse() -> None:
        try:
            pool.parse("logs", "shardId-0", [wire(1, b"spin")])
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcome["error"] = exc

    parser = threading.Thread(target=parse, daemon=True)
    parser.start()
    workers = list(pool._executor._processes.values())
    deadline = time.monotonic() + 30
    while not any(p.is_alive() for p in workers) and time.monotonic() < deadline:
        workers = list(pool._executor._processes.values())
        time.sleep(0.05)
    closer = threading.Thread(target=pool.close, kwargs={"grace_s": 1.0}, daemon=True)
    started = time.monotonic()
    closer.start()
    closer.join(20)
    try:
        assert not closer.is_alive(), "close() waits for the spinning worker"
        assert time.monotonic() - started < 15
        parser.join(20)
        assert isinstance(outcome.get("error"), RuntimeError)  # the batch fails: not parsed, not checkpointed
    finally:
        for process in workers:
            process.kill()


def test_workers_of_a_gzipping_search_sink_send_segments_whose_bodies_hold_the_same_bulk_lines() -> None:
    stream = "security"
    records = [[str(n), 0, 1_793_491_200_000 + n, "pk", base64.b64encode(r.data).decode()]
               for n, r in enumerate(corpus.records(1_500, seed=3, mix=corpus.BENCH_MIX))]
    plain = WorkerConfig({stream: corpus.stream_parsing(stream)}, ParseOptions())
    gzipping = WorkerConfig({stream: corpus.stream_parsing(stream)}, ParseOptions(), bulk_compression=1)
    expected = parse_in_worker(stream, "shardId-0", records, plain)
    sent = pickle.loads(pickle.dumps(parse_in_worker(stream, "shardId-0", records, gzipping)))
    runs = [run for _, run in sent.runs]
    assert len(runs) == len(expected.runs) > 30 and all(run.segment is not None and not run.lines for run in runs)
    assert sum(len(run.segment) for run in runs) * 3 < sum(len(run.lines) for _, run in expected.runs)
    entries = expected.take_entries()
    request = request_builder.build(sent.take_entries(), lambda e: e, compress=True, level=1)
    assert gzip.decompress(request.body) == request_builder.ndjson(entries)
    assert (sent.events, sent.documents, sent.dead_letters) == (expected.events, expected.documents, expected.dead_letters)


def test_workers_of_a_gzipping_search_sink_deflate_runs_of_one_index_together_within_a_share_of_its_bounds() -> None:
    stream, bounds = "security", (5000, 5 << 20)
    records = [[str(n), 0, 1_793_491_200_000 + n, "pk", base64.b64encode(r.data).decode()]
               for n, r in enumerate(corpus.records(1_500, seed=3, mix=corpus.BENCH_MIX))]
    parsing = {stream: corpus.stream_parsing(stream)}
    expected = parse_in_worker(stream, "shardId-0", records, WorkerConfig(parsing, ParseOptions()))
    alone = parse_in_worker(stream, "shardId-0", records, WorkerConfig(parsing, ParseOptions(), bulk_compression=1))
    sent = pickle.loads(pickle.dumps(parse_in_worker(
        stream, "shardId-0", records, WorkerConfig(parsing, ParseOptions(), bulk_compression=1, bulk_bounds=bounds))))
    groups = [entry for _, entry in sent.runs if isinstance(entry, RunGroup)]
    assert len(groups) > 3 and sum(len(g.runs) for g in groups) > 5 * len(groups)
    assert all(len({(run.index, run.dataset) for run in g.runs}) == 1 for g in groups)
    assert all(len(g) <= bounds[0] // GROUP_SHARE and g.nbytes <= bounds[1] // GROUP_SHARE for g in groups)
    deflated = sum(len(entry.segment or b"") for _, entry in sent.runs)
    assert deflated < 0.95 * sum(len(run.segment or b"") for _, run in alone.runs)  # fewer blocks, more history
    entries = sent.take_entries()
    request = request_builder.build(entries, lambda e: e, compress=True, level=1)
    assert gzip.decompress(request.body) == request_builder.ndjson(entries)

    def documents(parsed_entries: list[Entry]) -> list[tuple[object, ...]]:
        return sorted((i.id, i.body, i.source, i.index, i.dataset) for i in as_items(parsed_entries))

    assert documents(entries) == documents(expected.take_entries())


def test_a_pool_that_hands_over_items_has_its_workers_send_lines_not_segments() -> None:
    gzipping = WorkerConfig({"logs": StreamParsing(stream="logs", namespace="prod")}, ParseOptions(),
                            bulk_compression=1)
    pool = ParserPool(gzipping, 1, executor_factory=lambda workers, config: _Inline(config))
    try:
        parsed = pool.parse("logs", "shardId-0", [wire(1, cwl("hello", "world"))])
    finally:
        pool.close()
    assert [orjson.loads(item.body)["message"] for item in parsed.items] == ["hello", "world"]
    assert _Inline.configs[-1].bulk_compression is None


class _Inline:
    """An executor that runs each chunk in this process, with the config the pool gave it."""

    configs: ClassVar[list[WorkerConfig]] = []

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        _Inline.configs.append(config)

    def submit(self, fn, stream, shard, chunk, *rest):  # type: ignore[no-untyped-def]
        future: Future = Future()
        future.set_result(parse_in_worker(stream, shard, chunk, self.config))
        return future

    def shutdown(self, **_: object) -> None:
        pass


def test_a_run_larger_than_a_bulk_request_is_cut_to_the_sinks_bounds_before_it_is_deflated() -> None:
    lines = [f"message-{n}" for n in range(12)]
    records = [wire(1, cwl(*lines)), wire(2, cwl("alone"))]
    bounded = WorkerConfig({"logs": StreamParsing(stream="logs", namespace="prod")}, ParseOptions(),
                           bulk_compression=1, bulk_bounds=(5, 1 << 20))
    expected = parse_chunk("logs", "shardId-0", records, CONFIG)
    sent = pickle.loads(pickle.dumps(parse_in_worker("logs", "shardId-0", records, bounded)))
    runs = [run for _, run in sent.runs]
    assert [len(run) for run in runs] == [5, 5, 2, 1] and all(run.segment is not None for run in runs)
    assert [run.first for run in runs] == [0, 5, 10, 0]
    entries = sent.take_entries()
    assert list(request_builder.fitted(entries, 5, 1 << 20)) == entries  # the sink has nothing left to cut
    request = request_builder.build(entries, lambda e: e, compress=True, level=1)
    assert gzip.decompress(request.body) == request_builder.ndjson(expected.items)
