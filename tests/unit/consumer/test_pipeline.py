"""The pipeline delivers a batch to every sink before it returns, and raises when any sink cannot take it."""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import pytest

from consumer.embedded.process import wait_until
from consumer.pipeline import ByteBudget, Pipeline
from consumer.pool import Parsed
from sinks.batch import BulkItem, DeadLetter, RecordBatch, Source
from sinks.errors import SinkError


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
