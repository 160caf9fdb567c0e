from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from sinks.batch import DeadLetter, Source
from sinks.deadletter import DeadLetterSink, iter_dead_letters
from sinks.errors import SinkClosed
from sinks.s3store import LockedObjectStore
from tests.unit.sinks.archive.fakes import FakeS3


def letter(sequence: int, stage: str = "parse", shard: str = "shardId-1", ordinal: int | None = 0) -> DeadLetter:
    return DeadLetter(stage=stage, reason="invalid_json", message="not JSON", dataset="cloudtrail",  # type: ignore[arg-type]
                      source=Source("logs", shard, str(sequence), 0, ordinal), raw="{oops",
                      index="logs-aws.cloudtrail-default" if stage == "index" else None,
                      id="abc" if stage == "index" else None)


def sink(s3: FakeS3, day: datetime) -> DeadLetterSink:
    return DeadLetterSink(LockedObjectStore(s3, "archive-bucket", kms_key_id="k", retention_days=7), "dead-letter",
                          clock=lambda: day)


def test_entries_are_grouped_into_deterministic_objects_per_shard_and_stage():
    s3 = FakeS3()
    day = datetime(2024, 5, 1, 12, tzinfo=UTC)
    entries = [letter(20), letter(10), letter(10, stage="index"), letter(5, shard="shardId-2")]
    sink(s3, day).deliver(entries).result(5)
    keys = s3.keys()
    assert len(keys) == 3
    assert any(k.startswith("dead-letter/stream=logs/dt=2024-05-01/shardId-1/10.0-20.0-parse.") for k in keys)
    sink(s3, day).deliver(entries).result(5)  # a retry: same keys, same bytes
    assert s3.keys() == keys
    assert all(len({v.body for v in s3.objects[k]}) == 1 for k in keys)


def test_dead_letters_read_back_whole_and_filtered_by_day_and_stage():
    s3 = FakeS3()
    sink(s3, datetime(2024, 5, 1, tzinfo=UTC)).deliver([letter(1), letter(2, stage="index")]).result(5)
    sink(s3, datetime(2024, 5, 3, tzinfo=UTC)).deliver([letter(3, ordinal=None)]).result(5)
    everything = list(iter_dead_letters(s3, "archive-bucket", "dead-letter"))
    assert sorted(int(e.source.sequence) for e in everything) == [1, 2, 3]
    assert letter(2, stage="index") in everything and letter(3, ordinal=None) in everything
    recent = list(iter_dead_letters(s3, "archive-bucket", "dead-letter", since=datetime(2024, 5, 2, tzinfo=UTC)))
    assert [e.source.sequence for e in recent] == ["3"]
    index_only = list(iter_dead_letters(s3, "archive-bucket", "dead-letter", stage="index"))
    assert [e.stage for e in index_only] == ["index"]


def test_close_gives_up_on_a_write_s3_keeps_refusing_and_fails_its_batch():
    def throttled(operation, params):
        raise ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, operation)

    s3 = FakeS3(fail=throttled)
    subject = DeadLetterSink(LockedObjectStore(s3, "archive-bucket", kms_key_id="k", retention_days=7,
                                              backoff_initial_s=0.001, backoff_max_s=0.01), "dead-letter")
    future = subject.deliver([letter(1)])
    started = time.monotonic()
    subject.close(timeout=0.2)
    assert time.monotonic() - started < 5  # not held by the retry loop
    with pytest.raises(SinkClosed):
        future.result(5)
    assert s3.keys() == []
