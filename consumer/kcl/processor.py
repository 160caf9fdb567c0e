"""The per-shard record processor the KCL MultiLangDaemon starts (`python -m consumer.kcl.processor`).

It hands each batch to the pipeline process and blocks until every sink has durably taken it; only then
does it checkpoint (sequence and sub-sequence of the batch's last record). amazon-kclpy swallows exceptions
raised in `process_records` and reports the batch processed, so a failure here never raises: it exits the
process instead (SystemExit passes through kclpy), the daemon stops, `secstash run` restarts it, and the
shard is re-read from its last checkpoint. At-least-once, and the deterministic ids make it exactly-once
in the index.

stdout is the protocol channel with the daemon: nothing but kclpy writes there. Logs go to stderr, which
the daemon forwards into its own log, so this process logs only what matters.
"""

from __future__ import annotations

import os
import random
import sys
import time
from typing import Any

import structlog
from amazon_kclpy import kcl
from amazon_kclpy.v3 import processor

from consumer import ipc, logs

log = structlog.get_logger("secstash.processor")

SOCKET_ENV = "SECSTASH_PIPELINE_SOCKET"
STREAM_ENV = "SECSTASH_STREAM"
CONNECT_TIMEOUT_S = 60.0
CHECKPOINT_ATTEMPTS = 8
# The daemon calls process_records on every read, empty ones too (callProcessRecordsEvenForEmptyRecordList);
# an idle shard tells the pipeline it is alive at most this often. kcl.stall_timeout_s is at least 15 s.
HEARTBEAT_INTERVAL_S = 5.0


class DeliveryFailed(Exception):
    pass


class ShardProcessor(processor.RecordProcessorBase):
    def __init__(self, socket_path: str, stream: str) -> None:
        self._socket_path = socket_path
        self._stream = stream
        self._shard = "?"
        self._sock: Any = None
        self._delivered: tuple[str, int] | None = None  # last position every sink holds
        self._checkpointed: tuple[str, int] | None = None
        self._last_message = float("-inf")  # monotonic time of the last message to the pipeline

    # --- KCL lifecycle -----------------------------------------------------------------------------------

    def initialize(self, initialize_input: Any) -> None:
        self._shard = initialize_input.shard_id
        structlog.contextvars.bind_contextvars(stream=self._stream, shard=self._shard)
        self._connect()
        self._lifecycle("initialize")

    def process_records(self, process_records_input: Any) -> None:
        records = process_records_input.records
        if not records:
            self._heartbeat(process_records_input.millis_behind_latest)
            return
        try:
            payload = [[r.sequence_number, r.sub_sequence_number, r.timestamp_millis, r.partition_key, r.data]
                       for r in records]
            self._request({"op": "batch", "stream": self._stream, "shard": self._shard,
                           "lag_ms": process_records_input.millis_behind_latest, "records": payload})
        except Exception as exc:  # noqa: BLE001 - kclpy would swallow it and the next checkpoint cover this batch
            _die("batch not handed over", error=f"{type(exc).__name__}: {exc}"[:500])
        last = records[-1]
        self._delivered = (last.sequence_number, last.sub_sequence_number)
        self._checkpoint(process_records_input.checkpointer, self._delivered)

    def lease_lost(self, lease_lost_input: Any) -> None:
        # Another worker owns the shard now; checkpointing is impossible and pointless. Whatever this
        # processor delivered but did not checkpoint will be re-read there (idempotent ids).
        self._lifecycle("lease_lost")

    def shard_ended(self, shard_ended_input: Any) -> None:
        # Every record of the parent was delivered (process_records blocks until then), so checkpoint
        # SHARD_END: that is what lets the KCL start the child shards.
        self._checkpoint(shard_ended_input.checkpointer, None)
        self._lifecycle("shard_ended")

    def shutdown_requested(self, shutdown_requested_input: Any) -> None:
        if self._delivered is not None and self._delivered != self._checkpointed:
            self._checkpoint(shutdown_requested_input.checkpointer, self._delivered)
        self._lifecycle("shutdown_requested")

    # --- helpers -----------------------------------------------------------------------------------------

    def _connect(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                self._sock = ipc.connect(self._socket_path)
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    _die("pipeline socket unreachable", error=type(exc).__name__, path=self._socket_path)
                time.sleep(0.2)

    def _heartbeat(self, lag_ms: int | None) -> None:
        """An empty read: the daemon is alive and this shard caught up to `lag_ms`. Tell the pipeline now and
        then, so the stall watch (consumer.kcl.daemon) and the lag gauge see an idle shard as alive."""
        if time.monotonic() - self._last_message < HEARTBEAT_INTERVAL_S:
            return
        self._request({"op": "heartbeat", "stream": self._stream, "shard": self._shard, "lag_ms": lag_ms})

    def _request(self, message: dict[str, Any]) -> None:
        self._last_message = time.monotonic()
        try:
            ipc.send(self._sock, message)
            reply = ipc.receive(self._sock)
        except (OSError, ipc.ConnectionClosed) as exc:
            _die("pipeline connection lost", error=type(exc).__name__)
        if not reply.get("ok"):
            _die("batch not delivered", detail=str(reply.get("error"))[:500])

    def _lifecycle(self, event: str) -> None:
        if self._sock is None:
            return
        position = f"{self._checkpointed[0]}.{self._checkpointed[1]}" if self._checkpointed else None
        try:
            ipc.send(self._sock, {"op": "lifecycle", "stream": self._stream, "shard": self._shard,
                                  "event": event, "position": position})
            ipc.receive(self._sock)
        except (OSError, ipc.ConnectionClosed):
            pass  # informational only

    def _checkpoint(self, checkpointer: Any, position: tuple[str, int] | None) -> None:
        for attempt in range(1, CHECKPOINT_ATTEMPTS + 1):
            try:
                if position is None:
                    checkpointer.checkpoint()
                else:
                    checkpointer.checkpoint(position[0], position[1])
                self._checkpointed = position
                if position is not None:
                    self._lifecycle("checkpointed")
                return
            except kcl.CheckpointError as exc:
                if exc.value == "ShutdownException":
                    # The lease is gone: another worker continues from the previous checkpoint.
                    log.warning("checkpoint refused, lease lost")
                    return
                if exc.value in ("ThrottlingException", "KinesisClientLibDependencyException") \
                        and attempt < CHECKPOINT_ATTEMPTS:
                    time.sleep(min(10.0, 0.2 * 2 ** attempt) * random.random())
                    continue
                _die("checkpoint failed", error=str(exc.value))


def _die(message: str, **fields: Any) -> None:
    log.error(message, **fields)
    sys.stderr.flush()
    raise SystemExit(3)


def main() -> None:
    logs.configure(os.environ.get("SECSTASH_LOG_LEVEL", "warning"))
    socket_path = os.environ.get(SOCKET_ENV)
    if not socket_path:
        _die(f"{SOCKET_ENV} is not set; this program is started by `secstash run`")
    kcl.KCLProcess(ShardProcessor(socket_path, os.environ.get(STREAM_ENV, "unknown"))).run()


if __name__ == "__main__":
    main()
