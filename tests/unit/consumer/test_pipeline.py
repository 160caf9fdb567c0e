"""The pipeline delivers a batch to every sink before it returns, and raises when any sink cannot take it."""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import pytest

from consumer.embedded.process import wait_until
from consumer.pipeline import ByteBudget, Delivered, Pipeline
from consumer.pool import Parsed
from sinks.batch import BulkItem, DeadLetter, DocumentRun, RecordBatch, Source
from sinks.errors import SinkError
from tests.unit.sinks.search.fakes import run


def done(value: object = None) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def failed(error: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(error)
    return future


class FakeParser:
    def __init__(self, dead: bool = False) -> None:
        self.dead = dead

    def parse(self, stream: str, shard: str, records: Sequence) -> Parsed:
        out = Parsed(event_count=len(records))
        for wire in records:
            source = Source(stream, shard, wire[0], wire[1], 0)
            if self.dead:
                out.dead_letters.append(DeadLetter("parse", "invalid_json", "bad", None, source, wire[4]))
            else:
                out.items.append(BulkItem("logs-aws.cloudtrail-default", wire[0], b"{}", "aws.cloudtrail", source))
                out.documents["aws.cloudtrail"] += 1
        return out


class Recorder:
    def __init__(self, reply: Future | None = None) -> None:
        self.calls: list = []
        self.reply = reply

    def deliver(self, work: object) -> Future:
        self.calls.append(work)
        return self.reply if self.reply is not None else done()

    def wait_for_room(self) -> None:
        pass


def wire(n: int, size: int = 10) -> list[list]:
    data = base64.b64encode(b"x" * size).decode()
    return [[str(100 + i), 0, 1_700_000_000_000, "pk", data] for i in range(n)]


def make(parser: FakeParser | None = None, archive: Recorder | None = None, search: Recorder | None = None,
         dead: Recorder | None = None, budget: int = 1 << 20) -> tuple[Pipeline, Recorder, Recorder, Recorder]:
    archive, search, dead = archive or Recorder(), search or Recorder(), dead or Recorder()
    return Pipeline(parser or FakeParser(), archive, search, dead, ByteBudget(budget)), archive, search, dead


def test_a_batch_reaches_archive_and_search() -> None:
    pipeline, archive, search, dead = make()
    delivered = pipeline.deliver("logs", "shardId-0", wire(3))
    assert isinstance(archive.calls[0], RecordBatch) and len(archive.calls[0].records) == 3
    assert [item.id for item in search.calls[0]] == ["100", "101", "102"]
    assert dead.calls == []
    assert (delivered.records, delivered.documents, delivered.dead_letters) == (3, 3, 0)


class RunParser(FakeParser):
    """Every other record rendered whole by the compiled path (three documents), as a worker returns them."""

    def parse(self, stream: str, shard: str, records: Sequence) -> Parsed:
        out = super().parse(stream, shard, records[1::2])
        for position, wire in enumerate(records[::2]):
            rendered = run(3, sequence=wire[0])
            out.runs.append((position, rendered))
            out.run_documents += len(rendered)
        return out


def test_the_compiled_paths_runs_reach_the_search_sink_whole_in_record_order() -> None:
    pipeline, _, search, _ = make(parser=RunParser())
    delivered = pipeline.deliver("logs", "shardId-0", wire(4))
    [entries] = search.calls
    assert [(type(e).__name__, e.sequence if isinstance(e, DocumentRun) else e.id) for e in entries] == [
        ("DocumentRun", "100"), ("BulkItem", "101"), ("DocumentRun", "102"), ("BulkItem", "103")]
    assert delivered.documents == 8


def test_parse_failures_go_to_the_dead_letter_sink_and_count_as_delivered() -> None:
    pipeline, archive, search, dead = make(parser=FakeParser(dead=True))
    delivered = pipeline.deliver("logs", "shardId-0", wire(2))
    assert search.calls == [] and len(dead.calls[0]) == 2
    assert delivered.dead_letters == 2


@pytest.mark.parametrize("which", ["archive", "search", "dead"])
def test_any_sink_failure_fails_the_batch(which: str) -> None:
    broken = Recorder(failed(SinkError(f"{which} is down")))
    kwargs = {which: broken}
    if which == "dead":
        kwargs["parser"] = FakeParser(dead=True)
    pipeline, *_ = make(**kwargs)
    with pytest.raises(SinkError, match=f"{which} is down"):
        pipeline.deliver("logs", "shardId-0", wire(1))


def test_the_pipeline_waits_for_a_slow_sink_before_returning() -> None:
    slow: Future = Future()
    pipeline, *_ = make(search=Recorder(slow))
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (pipeline.deliver("logs", "s", wire(1)), finished.set()))
    worker.start()
    assert not finished.wait(0.3)  # still blocked: the sink has not taken the batch
    slow.set_result(None)
    assert finished.wait(5)
    worker.join()


def test_budget_blocks_admission_until_bytes_are_released() -> None:
    budget = ByteBudget(100)
    entered = threading.Event()
    with budget.hold(80):
        thread = threading.Thread(target=lambda: budget.hold(50).__enter__() and None or entered.set())
        thread.start()
        assert not entered.wait(0.3)  # 80 + 50 > 100: waits
    assert entered.wait(5)
    thread.join()


def test_budget_admits_in_arrival_order_so_small_batches_cannot_starve_a_large_one() -> None:
    budget = ByteBudget(100)
    order: list[str] = []
    release = threading.Event()

    def hold(name: str, size: int) -> None:
        with budget.hold(size):
            order.append(name)
            release.wait(5)

    with budget.hold(60):
        large = threading.Thread(target=hold, args=("large", 90))
        large.start()
        wait_until(lambda: len(budget._waiting) == 1, timeout=5, what="the large batch waiting")
        small = threading.Thread(target=hold, args=("small", 10))
        small.start()
        wait_until(lambda: len(budget._waiting) == 2, timeout=5, what="the small batch waiting behind it")
        assert order == []  # 60 + 10 fits, but the large batch came first
    release.set()
    large.join(5)
    small.join(5)
    assert sorted(order) == ["large", "small"]  # both fit once the first batch is out


def test_budget_admits_an_oversized_batch_alone() -> None:
    budget = ByteBudget(10)
    with budget.hold(1000):
        assert budget.used == 1000
    assert budget.used == 0


def test_batch_raw_bytes_match_the_decoded_payload() -> None:
    pipeline, archive, *_ = make()
    pipeline.deliver("logs", "s", wire(4, size=7))
    assert archive.calls[0].raw_bytes == 28


class DeferringParser(FakeParser):
    """Parses at most `per_round` records a call and defers the rest, as a chunk over its document cap does."""

    def __init__(self, per_round: int) -> None:
        super().__init__()
        self.per_round = per_round
        self.rounds: list[int] = []

    def parse(self, stream: str, shard: str, records: Sequence) -> Parsed:
        self.rounds.append(len(records))
        out = super().parse(stream, shard, records[:self.per_round])
        out.deferred = list(records[self.per_round:])
        return out


def test_deferred_records_are_delivered_in_further_rounds_before_the_batch_returns() -> None:
    parser = DeferringParser(per_round=2)
    pipeline, archive, search, _ = make(parser=parser)
    delivered = pipeline.deliver("logs", "shardId-0", wire(5))
    assert parser.rounds == [5, 3, 1]
    assert [[item.id for item in call] for call in search.calls] == [["100", "101"], ["102", "103"], ["104"]]
    assert len(archive.calls) == 1 and len(archive.calls[0].records) == 5  # the batch is archived once, whole
    assert (delivered.records, delivered.events, delivered.documents) == (5, 5, 5)


def test_a_failing_later_round_fails_the_whole_batch() -> None:
    class FailsSecondTime(Recorder):
        def deliver(self, work: object) -> Future:
            self.calls.append(work)
            return done() if len(self.calls) == 1 else failed(SinkError("search is down"))

    pipeline, *_ = make(parser=DeferringParser(per_round=1), search=FailsSecondTime())
    with pytest.raises(SinkError, match="search is down"):
        pipeline.deliver("logs", "shardId-0", wire(3))


class ResumingParser(FakeParser):
    """Parses one log object of the first record a round and hands the record back to go on from the next,
    as a chunk that fills up between two objects of one record does (a sixth field: the next pointer)."""

    def __init__(self, objects: int) -> None:
        super().__init__()
        self.objects = objects
        self.rounds: list[list] = []

    def parse(self, stream: str, shard: str, records: Sequence) -> Parsed:
        self.rounds.append([list(r) for r in records])
        first = records[0]
        nxt = (first[5] if len(first) > 5 else 0) + 1
        out = super().parse(stream, shard, [first[:5]])
        out.deferred = ([[*first[:5], nxt]] if nxt < self.objects else []) + list(records[1:])
        return out


def test_a_record_handed_back_to_go_on_from_a_later_object_is_progress_not_a_loop() -> None:
    parser = ResumingParser(objects=3)
    pipeline, *_ = make(parser=parser)
    pipeline.deliver("logs", "shardId-0", wire(1))
    assert [[r[5] if len(r) > 5 else 0 for r in round_] for round_ in parser.rounds] == [[0], [1], [2]]


def test_a_parser_that_defers_everything_cannot_loop_forever() -> None:
    pipeline, *_ = make(parser=DeferringParser(per_round=0))
    with pytest.raises(RuntimeError, match="deferred every record"):
        pipeline.deliver("logs", "shardId-0", wire(2))


# --------------------------------------------------------------------------- documents waiting for search


def test_chunk_count_matches_the_pools_chunks() -> None:
    from consumer.pipeline import chunk_count
    from consumer.pool import _chunks

    for workers in (1, 2, 3, 8, 64):
        for records in (0, 1, 63, 64, 65, 127, 128, 129, 500, 4096, 10_000):
            assert chunk_count(records, workers) == len(_chunks(list(range(records)), workers)), (records, workers)


class RoomGate(Recorder):
    """A search sink that is full until `room` is set (or raises `closed` once that is set)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = threading.Event()
        self.room = threading.Event()
        self.closed: BaseException | None = None

    def wait_for_room(self) -> None:
        self.asked.set()
        self.room.wait(10)
        if self.closed is not None:
            raise self.closed


def test_a_round_is_parsed_only_once_the_search_sink_has_room() -> None:
    parser, search = DeferringParser(per_round=10), RoomGate()
    pipeline, *_ = make(parser=parser, search=search)
    worker = threading.Thread(target=pipeline.deliver, args=("logs", "shardId-0", wire(3)))
    worker.start()
    assert search.asked.wait(WAIT)
    assert parser.rounds == [] and worker.is_alive()  # nothing parsed while the sink is full
    search.room.set()
    worker.join(WAIT)
    assert parser.rounds == [3] and len(search.calls) == 1


def test_a_search_sink_closing_while_a_round_waits_for_room_fails_the_batch() -> None:
    from sinks.errors import SinkClosed

    parser, search, archive = DeferringParser(per_round=10), RoomGate(), Recorder()
    pipeline, *_ = make(parser=parser, search=search, archive=archive)
    search.closed = SinkClosed("search sink is closing")
    search.room.set()
    with pytest.raises(SinkClosed):
        pipeline.deliver("logs", "shardId-0", wire(3))
    assert parser.rounds == [] and len(archive.calls) == 1  # the archive's write was still awaited


WAIT = 20.0
MiB = 1 << 20


def metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


class ExpandingParser:
    """Each record becomes `per_record` documents of ~`size` bytes, as a CloudWatch Logs record's gzip payload
    expands ~90x; `workers` as a pool of that many reports it. Counts what it produced."""

    def __init__(self, per_record: int, size: int, workers: int = 2) -> None:
        self.per_record, self.workers = per_record, workers
        self.body = b'{"pad":"' + b"x" * size + b'"}'
        self.lock = threading.Lock()
        self.rounds = 0
        self.documents = 0

    def parse(self, stream: str, shard: str, records: Sequence) -> Parsed:
        out = Parsed(event_count=len(records) * self.per_record)
        for wire_record in records:
            for k in range(self.per_record):
                source = Source(stream, shard, wire_record[0], wire_record[1], k)
                out.items.append(BulkItem("logs-aws.cloudtrail-default", f"{shard}-{wire_record[0]}-{k}",
                                          self.body, "aws.cloudtrail", source))
        with self.lock:
            self.rounds += 1
            self.documents += len(out.items)
        return out


class DownCluster:
    """A real SearchSink (1 MiB in-flight cap) in front of a FakeCluster that is down, counting what it took."""

    def __init__(self) -> None:
        from sinks.s3store import LockedObjectStore
        from sinks.search.config import SearchSettings
        from sinks.search.service import SearchSink
        from tests.unit.sinks.archive.fakes import FakeS3
        from tests.unit.sinks.search.fakes import FakeCluster, FakeDeadLetters

        self.cluster = FakeCluster(reachable=False)
        s3 = FakeS3()
        store = LockedObjectStore(s3, "archive", kms_key_id=None, retention_days=None, backoff_initial_s=0.001,
                                  backoff_max_s=0.002)
        settings = SearchSettings(hosts=["http://search:9200"], start_timeout_s=0, install_templates=False,
                                  redrive_spill=False, max_in_flight_bytes=MiB, bulk_max_bytes=256 * 1024,
                                  retry_initial_backoff_s=0.001, retry_max_backoff_s=0.01, health_interval_s=0.05)
        self.lock = threading.Lock()
        self.accepted_documents = 0
        self.accepted_rounds = 0
        outer = self

        class Counting(SearchSink):
            def deliver(self, items: Sequence[BulkItem]) -> Future:
                future = super().deliver(items)
                with outer.lock:
                    outer.accepted_documents += len(items)
                    outer.accepted_rounds += 1
                return future

        self.sink = Counting(settings, FakeDeadLetters(), store, "spill", s3=s3, client_factory=self.cluster.factory,
                             datasets=["aws.cloudtrail"], tick_s=0.01)
        self.sink.start()


def run_batches(pipeline: Pipeline, count: int) -> tuple[list[threading.Thread], dict[int, object]]:
    """`count` batches of one record each, each from its own thread (shard), as the server runs them."""
    results: dict[int, object] = {}

    def run(n: int) -> None:
        try:
            results[n] = pipeline.deliver("logs", f"shardId-{n:012d}", wire(1))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def waits() -> tuple[float, float]:
    return metric("secstash_search_waiting_for_room"), metric("secstash_queue_depth", queue="parse_slots")


def settle_while_down(down: DownCluster, parser: ExpandingParser, batches: int, before: tuple[float, float]) -> None:
    """Until every batch is stuck: waiting on its accepted documents, for the sink's room, or for parse slots
    (or, as before the fix, every batch parsed). `before`: the wait gauges before the batches started."""
    waiting, queued = before

    def stuck() -> bool:
        if parser.rounds == batches:
            return True
        blocked = (metric("secstash_search_waiting_for_room") - waiting
                   + metric("secstash_queue_depth", queue="parse_slots") - queued)
        return down.accepted_rounds + round(blocked) == batches

    wait_until(stuck, timeout=WAIT, what="every batch waiting")


def test_documents_waiting_for_a_down_search_cluster_are_bounded_by_the_parse_slots_not_the_batches() -> None:
    batches, per_record = 16, 100  # each batch: one record of ~100 B that expands to ~400 KiB of documents
    down = DownCluster()
    parser = ExpandingParser(per_record=per_record, size=4000, workers=2)
    pipeline = Pipeline(parser, Recorder(), down.sink, Recorder(), ByteBudget(64 * MiB))
    slots = 4  # two per parser worker
    before = waits()
    try:
        threads, results = run_batches(pipeline, batches)
        settle_while_down(down, parser, batches, before)
        parked = parser.documents - down.accepted_documents  # parsed, not taken by the sink
        assert parked <= slots * per_record, f"{parked} documents parked outside the sink"
        assert parser.rounds < batches  # the others wait unparsed
        now = waits()
        assert now[0] - before[0] >= 1 and now[1] - before[1] >= 1  # an operator sees batches waiting
        assert not results

        down.cluster.reachable = True
        for thread in threads:
            thread.join(WAIT)
        assert all(isinstance(r, Delivered) for r in results.values()) and len(results) == batches
        assert len(down.cluster.indexed) == batches * per_record and parser.rounds == batches
        assert pipeline.parse_slots == slots
    finally:
        down.sink.close(1.0)


def test_closing_the_search_sink_fails_every_batch_waiting_for_it() -> None:
    from sinks.errors import SinkClosed

    batches = 12
    down = DownCluster()
    parser = ExpandingParser(per_record=100, size=4000, workers=2)
    pipeline = Pipeline(parser, Recorder(), down.sink, Recorder(), ByteBudget(64 * MiB))
    before = waits()
    threads, results = run_batches(pipeline, batches)
    settle_while_down(down, parser, batches, before)
    down.sink.close(0.2)
    for thread in threads:
        thread.join(WAIT)
    assert len(results) == batches
    assert all(isinstance(r, SinkClosed) for r in results.values()), results  # none may be checkpointed
    assert not down.cluster.indexed


def test_unclaimed_log_groups_reach_the_metric_and_are_logged_once_per_group() -> None:
    from prometheus_client import REGISTRY
    from structlog.testing import capture_logs

    class Unclaimed(FakeParser):
        def parse(self, stream: str, shard: str, records: Sequence) -> Parsed:
            out = super().parse(stream, shard, records)
            out.unclaimed["cloudtrail"] += 2
            out.unclaimed_groups["/aws/lambda/forged"] = "cloudtrail"
            return out

    labels = {"stream": "unclaimed-test", "dataset": "cloudtrail"}
    before = REGISTRY.get_sample_value("secstash_events_unclaimed_total", labels) or 0
    pipeline, _, _, _ = make(parser=Unclaimed())
    with capture_logs() as logged:
        pipeline.deliver("unclaimed-test", "shardId-0", wire(1))
        pipeline.deliver("unclaimed-test", "shardId-0", wire(1))
    assert REGISTRY.get_sample_value("secstash_events_unclaimed_total", labels) == before + 4
    warnings = [e for e in logged if e.get("log_group") == "/aws/lambda/forged"]
    assert len(warnings) == 1 and warnings[0]["looks_like"] == "cloudtrail" and warnings[0]["log_level"] == "warning"
