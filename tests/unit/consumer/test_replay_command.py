"""`secstash replay` against what the live pipeline indexed for the same records: the same ids, indices and
bodies for every stream key (S3 pointers past the caps, records resumed in later rounds included), parses
bounded as the live ones are, and no guessing for a stream key the settings do not configure."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from consumer import cli
from consumer import pool as pool_module
from consumer import settings as settings_module
from consumer.commands import replay as command
from consumer.pipeline import ByteBudget, Pipeline
from consumer.pool import parse_chunk
from consumer.runtime import worker_config
from parsers import ObjectRef, ObjectUnavailable
from sinks.archive.config import ArchiveSettings
from sinks.archive.service import ArchiveSink
from sinks.batch import BulkItem
from sinks.s3store import LockedObjectStore
from tests.unit.parsers.test_s3_objects import ALB_KEY, ALB_LINE, created, notification
from tests.unit.sinks.archive.fakes import FakeS3

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
SHARD = "shardId-000000000000"
SETTINGS: dict[str, Any] = {
    "streams": [
        {"arn": "arn:aws:kinesis:us-east-1:111111111111:stream/logs", "id": "logs-111", "namespace": "acct111",
         "labels": {"account": "111"}},
        {"arn": "arn:aws:kinesis:us-east-1:222222222222:stream/logs", "id": "logs-222", "namespace": "acct222",
         "application_name": "secstash-logs-222", "detection": [{"log_group": "/custom/*", "dataset": "vpcflow"}]},
    ],
    "archive": {"bucket": "archive-bucket", "require_object_lock": False},
    "search": {"hosts": ["https://search.internal:9200"], "username": "secstash", "password": "s3cret"},
    # A record reads 3 pointers, an object 1,000 events; a round stops at 100 documents, between objects.
    "pipeline": {"max_objects_per_record": 3, "max_events_per_object": 1000, "max_documents_per_chunk": 100},
}
VPC_LINE = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK"


def log_key(n: int) -> str:
    return ALB_KEY.replace("_x.log.gz", f"_{n}.log.gz")


def alb_object(lines: int) -> bytes:
    return gzip.compress("".join(ALB_LINE.replace(":2817", f":{1024 + i}") + "\n" for i in range(lines)).encode())


OBJECTS = {log_key(1): alb_object(1100), log_key(2): alb_object(150), log_key(3): alb_object(30),
           log_key(5): alb_object(5)}  # log_key(4) is missing


class Bucket:
    """The log bucket, in place of `consumer.objects.ObjectReader`."""

    def __init__(self, access: Any) -> None:
        pass

    def __call__(self, ref: ObjectRef) -> bytes:
        try:
            return OBJECTS[ref.key]
        except KeyError:
            raise ObjectUnavailable(f"s3://{ref.bucket}/{ref.key}: NoSuchKey") from None


def subscription(group: str, *messages: str) -> bytes:
    return gzip.compress(orjson.dumps({
        "messageType": "DATA_MESSAGE", "owner": "222222222222", "logGroup": group, "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": [{"id": str(i), "timestamp": T0, "message": m} for i, m in enumerate(messages)]}))


RECORDS = [
    # too_many_events (1), a resume after (2), object unavailable (4), too_many_objects (3 and 5)
    notification(*(created(log_key(n)) for n in (1, 2, 4, 3, 5))),
    notification(created(log_key(3))),
    subscription("/custom/flow", VPC_LINE, "not a flow line"),  # claimed by logs-222's rule only
    subscription("/aws/lambda/x", "hello"),
    b"{not json",
]


def wire() -> list[list[Any]]:
    return [[str(1000 + 10 * i), 0, T0 + 1000 * i, "pk", base64.b64encode(data).decode()]
            for i, data in enumerate(RECORDS)]


def done(value: Any = None) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


class Collect:
    """The search (and dead-letter) sink: what it was handed, and each delivery's size."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.sizes: list[int] = []

    def deliver(self, items: Sequence[Any]) -> Future[Any]:
        self.items.extend(items)
        self.sizes.append(len(items))
        return done({"created": len(items), "conflicts": 0})

    def wait_for_room(self) -> None:
        pass


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> FakeS3:
    monkeypatch.setattr(pool_module, "ObjectReader", Bucket)
    monkeypatch.setattr(pool_module, "_READERS", {})
    monkeypatch.setattr("consumer.logs.configure", lambda *args, **kwargs: None)
    fake = FakeS3(versioned=False, lock=None)
    monkeypatch.setattr("sinks.aws.client", lambda *args, **kwargs: fake)
    return fake


def write(tmp_path: Path, settings: dict[str, Any], name: str = "secstash.yml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def run_live(s3: FakeS3, config: str) -> tuple[Collect, Collect]:
    """Both streams' records through the live pipeline, archived into `s3`."""
    workers = worker_config(settings_module.load(config))

    class Parser:
        def parse(self, stream: str, shard: str, records: Sequence[Any]) -> Any:
            return parse_chunk(stream, shard, records, workers)

    archive = ArchiveSettings(bucket="archive-bucket", require_object_lock=False)
    sink = ArchiveSink(archive, LockedObjectStore(s3, archive.bucket, kms_key_id=None, retention_days=None), s3)
    sink.start()
    search, dead = Collect(), Collect()
    pipeline = Pipeline(Parser(), sink, search, dead, ByteBudget(1 << 30))
    for stream in ("logs-111", "logs-222"):
        pipeline.deliver(stream, SHARD, wire())
    sink.close(1)
    return search, dead


def replay(monkeypatch: pytest.MonkeyPatch, config: str, *argv: str) -> tuple[int, Collect]:
    target = Collect()
    monkeypatch.setattr(command, "_Discard", lambda: target)
    code = cli.main(["replay", "--from", "s3://archive-bucket/archive", "--since", "2023-11-14",
                     "--until", "2023-11-15", "--config", config, "--dry-run", "--no-progress", *argv])
    return code, target


def by_id(items: list[BulkItem]) -> dict[tuple[str, str], bytes]:
    return {(item.index, item.id): item.body for item in items}


def test_replay_rebuilds_what_the_live_pipeline_indexed_for_every_stream_key(s3, tmp_path, monkeypatch) -> None:
    config = write(tmp_path, SETTINGS)
    live, dead = run_live(s3, config)
    assert {"too_many_events", "too_many_objects", "s3_object_unavailable"} <= {d.reason for d in dead.items}
    assert "logs-aws.vpcflow-acct222" in {i.index for i in live.items}  # logs-222's own detection rule
    code, replayed = replay(monkeypatch, config)
    assert code == 0
    assert len(replayed.items) == len(live.items) == len(by_id(live.items))
    assert by_id(replayed.items) == by_id(live.items)


def test_replay_parses_in_rounds_bounded_like_the_live_pipeline(s3, tmp_path, monkeypatch) -> None:
    config = write(tmp_path, SETTINGS)
    live, _ = run_live(s3, config)
    code, replayed = replay(monkeypatch, config, "--stream", "logs-111")
    assert code == 0
    # A round ends once it holds 100 documents, between two log objects: the largest is one object's worth
    # (the first, cut at 1,000 events) and its record's own, never the whole archive object's 5 records.
    assert max(replayed.sizes) <= max(live.sizes) <= 1000 + 10
    assert by_id(replayed.items) == {k: v for k, v in by_id(live.items).items() if k[0].endswith("acct111")}


def test_replay_refuses_a_stream_key_no_configured_stream_has(s3, tmp_path, monkeypatch, capsys) -> None:
    run_live(s3, write(tmp_path, SETTINGS))
    retired = dict(SETTINGS, streams=SETTINGS["streams"][:1])  # logs-222 removed since it was archived
    config = write(tmp_path, retired, "replay.yml")
    for argv in ((), ("--stream", "logs-222")):
        code, replayed = replay(monkeypatch, config, "--namespace", "rebuild1", *argv)
        assert code == 2 and replayed.items == []
        assert "'logs-222'" in capsys.readouterr().err
    code, replayed = replay(monkeypatch, config, "--namespace", "rebuild1", "--stream", "logs-111")
    assert code == 0 and {i.index.rsplit("-", 1)[1] for i in replayed.items} == {"rebuild1"}


def test_replay_refuses_a_namespace_the_index_pattern_does_not_name(s3, tmp_path, monkeypatch, capsys) -> None:
    plain = dict(SETTINGS, search={**SETTINGS["search"], "data_streams": False,
                                   "index_pattern": "secstash-{dataset}-{date}"})
    config = write(tmp_path, plain)
    run_live(s3, config)
    code, replayed = replay(monkeypatch, config, "--namespace", "rebuild1")
    assert code == 2 and replayed.items == []  # not into the live indices, where all would answer 409
    assert "search.index_pattern" in capsys.readouterr().err
    named = dict(plain, search={**plain["search"], "index_pattern": "secstash-{dataset}-{namespace}-{date}"})
    code, replayed = replay(monkeypatch, write(tmp_path, named, "named.yml"), "--namespace", "rebuild1")
    assert code == 0 and replayed.items and all("-rebuild1-" in i.index for i in replayed.items)
