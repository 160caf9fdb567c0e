"""A log object that keeps failing transiently fails its batch until pipeline.object_retry_budget_s runs out;
then it is read once more and, failing again, dead-lettered, so its shard goes on."""

from __future__ import annotations

import base64
import pickle
from concurrent.futures import Future

import orjson
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from prometheus_client import REGISTRY

from consumer import pool as pool_module
from consumer.object_errors import ObjectReadFailed, ReaderCredentialsFailed
from consumer.object_retries import MAX_TRACKED, STALE_AFTER_S, RetryBudget, guarded
from consumer.objects import ObjectAccess
from consumer.pool import ParserPool, WorkerConfig
from consumer.settings import PipelineSettings
from parsers import ObjectRef, ObjectUnavailable, ParseOptions, StreamParsing

ACCESS = ObjectAccess(region="us-east-1", max_bytes=1 << 20)
BAD, GOOD = "custom/bad.log", "custom/good.log"


def slow_down() -> ClientError:
    return ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                        "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")


def ref(key: str = BAD) -> ObjectRef:
    return ObjectRef(bucket="logs", key=key, region="us-east-1", size=None, version_id=None, notification="{}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def failure(location: str = "s3://logs/a", stream: str = "logs") -> ObjectReadFailed:
    return ObjectReadFailed(f"{location}: SlowDown", stream, location)


def test_an_object_is_given_up_only_once_it_has_failed_for_the_whole_budget() -> None:
    clock = Clock()
    budget = RetryBudget(600, clock)
    assert not budget.exhausted(failure())
    clock.now += 599
    assert not budget.exhausted(failure())
    assert not budget.exhausted(failure("s3://logs/other"))  # each object has a budget of its own
    clock.now += 1
    assert budget.exhausted(failure())
    assert not budget.exhausted(failure(stream="other-stream"))  # and each stream


def test_an_object_that_stopped_failing_for_a_while_starts_a_new_budget() -> None:
    clock = Clock()
    budget = RetryBudget(600, clock)
    budget.exhausted(failure())
    clock.now += STALE_AFTER_S + 1  # it was read in between: a later failure is a new episode
    assert not budget.exhausted(failure())
    clock.now += 599
    assert not budget.exhausted(failure())


def test_a_budget_of_zero_never_gives_up() -> None:
    clock = Clock()
    budget = RetryBudget(0, clock)
    budget.exhausted(failure())
    clock.now += 10 * 24 * 3600
    assert not budget.exhausted(failure())


def test_the_objects_followed_are_bounded() -> None:
    clock = Clock()
    budget = RetryBudget(600, clock)
    budget.exhausted(failure("s3://logs/first"))
    for n in range(MAX_TRACKED):
        budget.exhausted(failure(f"s3://logs/{n}"))
    clock.now += 600
    assert not budget.exhausted(failure("s3://logs/first"))  # forgotten: it starts afresh
    assert budget.exhausted(failure(f"s3://logs/{MAX_TRACKED - 1}"))


def test_a_transient_failure_names_its_object_and_crosses_process_boundaries() -> None:
    def read(_: ObjectRef) -> bytes:
        raise slow_down()

    with pytest.raises(ObjectReadFailed) as caught:
        guarded(read, "logs", frozenset())(ref())
    assert caught.value.location == f"s3://logs/{BAD}" and caught.value.stream == "logs"
    assert "SlowDown" in str(caught.value)
    again = pickle.loads(pickle.dumps(caught.value))
    assert (again.location, again.stream, str(again)) == (caught.value.location, "logs", str(caught.value))


def test_an_object_given_up_becomes_a_dead_letter_when_it_fails_again() -> None:
    def read(_: ObjectRef) -> bytes:
        raise EndpointConnectionError(endpoint_url="https://logs.s3.amazonaws.com")

    with pytest.raises(ObjectUnavailable) as caught:
        guarded(read, "logs", frozenset({f"s3://logs/{BAD}"}))(ref())
    assert caught.value.reason == "object_retries_exhausted" and "object_retry_budget_s" in caught.value.message


@pytest.mark.parametrize("error", [
    ObjectUnavailable("missing"),  # permanent: dead-lettered at once, as before
    ReaderCredentialsFailed("own credentials", "ExpiredToken", "GetObject"),  # never the object's fault
    ValueError("a secstash bug"),  # fails loudly, never counted as the object's
])
def test_only_transient_errors_count_against_the_budget(error: Exception) -> None:
    def read(_: ObjectRef) -> bytes:
        raise error

    with pytest.raises(type(error)):
        guarded(read, "logs", frozenset({f"s3://logs/{BAD}"}))(ref())


# The pool, with chunks parsed inline and a bucket whose `bad` object answers 503 until `mended`.


def notification(*keys: str) -> bytes:
    return orjson.dumps({"Records": [
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
         "s3": {"bucket": {"name": "logs"}, "object": {"key": key}}} for key in keys]})


def wire(seq: int, data: bytes) -> list:
    return [str(seq), 0, 1_700_000_000_000, "pk", base64.b64encode(data).decode()]


class InlineExecutor:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config

    def submit(self, fn, stream, shard, chunk, config=None, give_up=frozenset()) -> Future:  # noqa: ANN001
        future: Future = Future()
        try:
            future.set_result(fn(stream, shard, chunk, self.config, give_up))
        except Exception as exc:  # noqa: BLE001 - as a worker's exception reaches the pool
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


class Bucket:
    def __init__(self) -> None:
        self.mended = False
        self.reads: list[str] = []

    def __call__(self, ref: ObjectRef) -> bytes:
        self.reads.append(ref.key)
        if ref.key == BAD and not self.mended:
            raise slow_down()
        return f"{ref.key} line 1\n{ref.key} line 2\n".encode()


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Bucket:
    reader = Bucket()
    monkeypatch.setitem(pool_module._READERS, ("logs", ACCESS), reader)
    return reader


def pool(budget_s: float, clock: Clock) -> ParserPool:
    config = WorkerConfig({"logs": StreamParsing(stream="logs")}, ParseOptions(), objects={"logs": ACCESS},
                          object_retry_budget_s=budget_s)
    return ParserPool(config, workers=1, executor_factory=lambda _n, c: InlineExecutor(c), clock=clock)


def given_up() -> float:
    return REGISTRY.get_sample_value("secstash_s3_object_read_failures_total",
                                     {"stream": "logs", "given_up": "true"}) or 0.0


def test_a_failing_object_fails_the_batch_until_its_budget_is_spent_then_only_it_is_dead_lettered(bucket) -> None:
    clock = Clock()
    parser = pool(3600, clock)
    batch = [wire(1, notification(GOOD, BAD))]
    for _ in range(12):  # re-read every 5 minutes (restarts are backed off), for an hour
        with pytest.raises(ObjectReadFailed):
            parser.parse("logs", "shardId-0", batch)
        clock.now += 300
    before = given_up()
    parsed = parser.parse("logs", "shardId-0", batch)
    assert given_up() == before + 1
    assert len(parsed.items) == 2 and {orjson.loads(i.body)["message"] for i in parsed.items} == {
        f"{GOOD} line 1", f"{GOOD} line 2"}
    [letter] = parsed.dead_letters
    assert letter.reason == "object_retries_exhausted" and BAD in letter.message
    # Its raw text is a notification of the object alone: `secstash redrive` reads it again once it mends.
    assert [r["s3"]["object"]["key"] for r in orjson.loads(letter.raw)["Records"]] == [BAD]
    assert bucket.reads.count(BAD) == 14  # the last time, read once more before giving it up


def test_an_object_that_reads_on_its_last_chance_is_indexed_not_dead_lettered(bucket) -> None:
    clock = Clock()
    parser = pool(60, clock)
    batch = [wire(1, notification(BAD))]
    with pytest.raises(ObjectReadFailed):
        parser.parse("logs", "shardId-0", batch)
    clock.now += 60
    original = Bucket.__call__

    def mends_on_the_last_read(self: Bucket, r: ObjectRef) -> bytes:
        self.mended = len(self.reads) >= 2  # the failing read that spends the budget, then the last chance
        return original(self, r)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Bucket, "__call__", mends_on_the_last_read)
        parsed = parser.parse("logs", "shardId-0", batch)
    assert len(parsed.items) == 2 and not parsed.dead_letters


def test_without_a_budget_a_failing_object_fails_its_batch_for_ever(bucket) -> None:
    clock = Clock()
    parser = pool(0, clock)
    batch = [wire(1, notification(BAD))]
    for _ in range(3):
        with pytest.raises(ObjectReadFailed):
            parser.parse("logs", "shardId-0", batch)
        clock.now += 24 * 3600


def test_the_budget_defaults_to_an_hour_and_refuses_negative_values() -> None:
    assert PipelineSettings().object_retry_budget_s == 3600.0
    with pytest.raises(ValueError, match="object_retry_budget_s"):
        PipelineSettings(object_retry_budget_s=-1)
