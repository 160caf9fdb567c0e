"""The record processor checkpoints only what the pipeline delivered, and exits rather than lose a batch."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from typing import Any

import pytest
from amazon_kclpy import kcl
from amazon_kclpy.messages import Record

from consumer import ipc
from consumer.kcl import processor as processor_module
from consumer.kcl.processor import ShardProcessor


class FakePipeline:
    """A socket server that answers each request with the next scripted reply, and records requests."""

    def __init__(self, replies: list[dict[str, Any]]) -> None:
        self.path = os.path.join(tempfile.mkdtemp(), "p.sock")
        self.requests: list[dict[str, Any]] = []
        self.replies = replies
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(self.path)
        self.server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        try:
            while True:
                message = ipc.receive(conn)
                self.requests.append(message)
                reply = self.replies.pop(0) if message["op"] == "batch" and self.replies else {"ok": True}
                ipc.send(conn, reply)
        except (ipc.ConnectionClosed, OSError):
            return


class FakeCheckpointer:
    def __init__(self, errors: list[str] | None = None) -> None:
        self.calls: list[tuple] = []
        self.errors = errors or []

    def checkpoint(self, sequence_number: str | None = None, sub_sequence_number: int | None = None) -> None:
        self.calls.append((sequence_number, sub_sequence_number))
        if self.errors:
            raise kcl.CheckpointError(self.errors.pop(0))


class Input:
    def __init__(self, records: list[Record] | None = None, checkpointer: FakeCheckpointer | None = None) -> None:
        self.records = records or []
        self.checkpointer = checkpointer
        self.millis_behind_latest = 1234
        self.shard_id = "shardId-000000000001"


def records(*positions: tuple[str, int]) -> list[Record]:
    return [Record({"sequenceNumber": seq, "subSequenceNumber": sub, "approximateArrivalTimestamp": 1700000000000,
                    "partitionKey": "pk", "data": "eyJhIjoxfQ=="}) for seq, sub in positions]


def started(replies: list[dict[str, Any]]) -> tuple[ShardProcessor, FakePipeline]:
    pipeline = FakePipeline(replies)
    processor = ShardProcessor(pipeline.path, "logs")
    processor.initialize(Input())
    return processor, pipeline


def test_checkpoints_the_last_record_after_delivery() -> None:
    processor, pipeline = started([{"ok": True}])
    checkpointer = FakeCheckpointer()
    processor.process_records(Input(records(("49590", 0), ("49591", 0), ("49592", 3)), checkpointer))
    batch = next(r for r in pipeline.requests if r["op"] == "batch")
    assert [r[0] for r in batch["records"]] == ["49590", "49591", "49592"]
    assert batch["lag_ms"] == 1234 and batch["shard"] == "shardId-000000000001"
    assert checkpointer.calls == [("49592", 3)]


def test_an_undelivered_batch_exits_without_checkpointing() -> None:
    processor, _ = started([{"ok": False, "error": "search down"}])
    checkpointer = FakeCheckpointer()
    with pytest.raises(SystemExit):
        processor.process_records(Input(records(("1", 0)), checkpointer))
    assert checkpointer.calls == []


def test_any_error_handing_a_batch_over_exits_without_checkpointing(monkeypatch: pytest.MonkeyPatch) -> None:
    # kclpy reports a batch processed when process_records raises: the next checkpoint would cover it.
    processor, _ = started([{"ok": True}])
    monkeypatch.setattr(ipc, "send", lambda sock, message: (_ for _ in ()).throw(ValueError("frame too large")))
    checkpointer = FakeCheckpointer()
    with pytest.raises(SystemExit):
        processor.process_records(Input(records(("1", 0)), checkpointer))
    assert checkpointer.calls == []


def test_a_lost_pipeline_exits_without_checkpointing() -> None:
    processor, pipeline = started([])
    pipeline.server.close()
    processor._sock.close()  # the pipeline process died
    checkpointer = FakeCheckpointer()
    with pytest.raises(SystemExit):
        processor.process_records(Input(records(("1", 0)), checkpointer))
    assert checkpointer.calls == []


def test_throttled_checkpoints_are_retried_and_a_lost_lease_stops_quietly() -> None:
    processor, _ = started([{"ok": True}, {"ok": True}])
    throttled = FakeCheckpointer(["ThrottlingException"])
    processor.process_records(Input(records(("7", 0)), throttled))
    assert throttled.calls == [("7", 0), ("7", 0)]
    lost = FakeCheckpointer(["ShutdownException"])
    processor.process_records(Input(records(("8", 0)), lost))  # no exit: another worker owns the shard
    assert lost.calls == [("8", 0)]


def test_other_checkpoint_errors_exit() -> None:
    processor, _ = started([{"ok": True}])
    with pytest.raises(SystemExit):
        processor.process_records(Input(records(("9", 0)), FakeCheckpointer(["InvalidStateException"])))


def test_shard_end_checkpoints_at_shard_end_so_children_can_start() -> None:
    processor, pipeline = started([])
    checkpointer = FakeCheckpointer()
    processor.shard_ended(Input(checkpointer=checkpointer))
    assert checkpointer.calls == [(None, None)]


def test_shutdown_checkpoints_what_was_delivered_but_not_yet_checkpointed() -> None:
    processor, _ = started([{"ok": True}])
    processor.process_records(Input(records(("5", 0)), FakeCheckpointer(["ShutdownException"])))
    final = FakeCheckpointer()
    processor.shutdown_requested(Input(checkpointer=final))
    assert final.calls == [("5", 0)]


def test_empty_reads_become_heartbeats_every_few_seconds_never_batches_or_checkpoints(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(processor_module.time, "monotonic", lambda: now[0])
    processor, pipeline = started([{"ok": True}])
    checkpointer = FakeCheckpointer()

    def empty_read_at(t: float) -> None:
        now[0] = t
        processor.process_records(Input([], checkpointer))

    for t in (1000.0, 1001.0, 1004.9, 1005.0, 1009.0):
        empty_read_at(t)
    processor.process_records(Input(records(("7", 0)), checkpointer))  # at 1009: a batch is news enough
    empty_read_at(1013.0)
    empty_read_at(1014.0)

    sent = [(r["op"], r.get("lag_ms")) for r in pipeline.requests if r["op"] in ("heartbeat", "batch")]
    assert sent == [("heartbeat", 1234), ("heartbeat", 1234), ("batch", 1234), ("heartbeat", 1234)]
    assert all(r["shard"] == "shardId-000000000001" and r["stream"] == "logs" for r in pipeline.requests)
    assert checkpointer.calls == [("7", 0)]  # only the batch's
