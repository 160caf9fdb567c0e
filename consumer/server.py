"""The pipeline's end of the record processors' socket: one thread per connected shard processor."""

from __future__ import annotations

import os
import socketserver
import threading
from collections.abc import Callable
from typing import Any

import structlog

from consumer import events, ipc
from consumer.pipeline import Pipeline

log = structlog.get_logger("secstash.server")


class ShardRegistry:
    """Which shards have a connected processor, per stream (for the shards-held gauge and readiness)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}

    def add(self, stream: str, shard: str) -> None:
        with self._lock:
            self._held.setdefault(stream, set()).add(shard)
            events.SHARDS.labels(stream).set(len(self._held[stream]))

    def remove(self, stream: str, shard: str) -> None:
        with self._lock:
            self._held.get(stream, set()).discard(shard)
            events.SHARDS.labels(stream).set(len(self._held.get(stream, ())))
        # However the processor went (a lifecycle message, or its connection dropped when it exited on a
        # failed batch or the JVM died), its lag is no longer this process's to report.
        events.shard_released(stream, shard)

    def held(self, stream: str) -> set[str]:
        with self._lock:
            return set(self._held.get(stream, ()))


class _Handler(socketserver.BaseRequestHandler):
    server: PipelineServer

    def handle(self) -> None:
        stream = shard = None
        try:
            while True:
                try:
                    message = ipc.receive(self.request)
                except ipc.ConnectionClosed:
                    return
                stream, shard = message.get("stream", "?"), message.get("shard", "?")
                ipc.send(self.request, self.server.dispatch(message))
        except OSError as exc:
            log.warning("processor connection failed", stream=stream, shard=shard, error=type(exc).__name__)
        finally:
            if stream and shard:
                self.server.shards.remove(stream, shard)


class PipelineServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, path: str, pipeline: Pipeline, accepting: Callable[[], bool] = lambda: True,
                 on_shard_started: Callable[[str, str], None] | None = None) -> None:
        if os.path.exists(path):
            os.unlink(path)
        self.pipeline = pipeline
        self.shards = ShardRegistry()
        self._accepting = accepting
        self._on_shard_started = on_shard_started
        super().__init__(path, _Handler)
        os.chmod(path, 0o600)  # only this user's processes may hand us records
        self._thread = threading.Thread(target=self.serve_forever, name="pipeline-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        try:
            os.unlink(self.server_address)  # type: ignore[arg-type]
        except OSError:
            pass

    def dispatch(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        stream, shard = str(message.get("stream")), str(message.get("shard"))
        if op == "batch":
            if not self._accepting():
                return {"ok": False, "error": "shutting down"}
            try:
                self.pipeline.deliver(stream, shard, message["records"], message.get("lag_ms"))
            except Exception as exc:  # noqa: BLE001 - reported to the processor, which then does not checkpoint
                events.batch_failed(stream, shard, exc)
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:1000]}
            return {"ok": True}
        if op == "lifecycle":
            event = str(message.get("event"))
            if event == "initialize":
                self.shards.add(stream, shard)
                if self._on_shard_started is not None:
                    # A lease was (re)acquired: the archive reloads the shard's hash-chain head, which
                    # another instance may have moved on while it held the shard.
                    self._on_shard_started(stream, shard)
            elif event in ("lease_lost", "shard_ended", "shutdown_requested"):
                self.shards.remove(stream, shard)
                events.shard_released(stream, shard)
            events.shard_event(stream, shard, event, message.get("position"))
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}
