"""The pipeline's end of the record processors' socket: one thread per connected shard processor."""

from __future__ import annotations

import os
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from consumer import events, ipc
from consumer.pipeline import Pipeline

log = structlog.get_logger("secstash.server")


@dataclass(slots=True)
class _Held:
    owner: object  # the connection that registered the shard
    registered: float  # monotonic
    heard: float  # monotonic time of its processor's last message
    delivering: int = 0  # batches of the shard in the pipeline now


class ShardRegistry:
    """Which shards have a connected processor, per stream (for the shards-held gauge and readiness), and when
    each processor was last heard from (for the daemon's stall watch)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, dict[str, _Held]] = {}
        self._clock = clock

    def add(self, stream: str, shard: str, owner: object = None) -> None:
        now = self._clock()
        with self._lock:
            held = self._held.setdefault(stream, {})
            held[shard] = _Held(owner, now, now)
            events.SHARDS.labels(stream).set(len(held))

    def remove(self, stream: str, shard: str, owner: object = None) -> None:
        with self._lock:
            held = self._held.get(stream, {})
            entry = held.get(shard)
            if entry is None or (owner is not None and entry.owner is not owner):
                # A new processor holds the shard now (a restarted daemon's); the old one's connection only
                # closed after it registered.
                return
            del held[shard]
            events.SHARDS.labels(stream).set(len(held))
        # However the processor went (a lifecycle message, or its connection dropped when it exited on a
        # failed batch or the JVM died), its lag is no longer this process's to report.
        events.shard_released(stream, shard)

    def held(self, stream: str) -> set[str]:
        with self._lock:
            return set(self._held.get(stream, ()))

    def heard(self, stream: str, shard: str) -> None:
        with self._lock:
            entry = self._held.get(stream, {}).get(shard)
            if entry is not None:
                entry.heard = self._clock()

    @contextmanager
    def delivering(self, stream: str, shard: str) -> Iterator[None]:
        """A batch of the shard is in the pipeline: however long a sink keeps it there, the daemon is not
        the one stalling."""
        with self._lock:
            entry = self._held.get(stream, {}).get(shard)
            if entry is not None:
                entry.delivering += 1
        try:
            yield
        finally:
            with self._lock:
                if entry is not None:
                    entry.delivering -= 1
                    entry.heard = self._clock()

    def stalled(self, stream: str, silent_for_s: float, registered_since: float) -> list[str]:
        """Shards of the stream registered at or after `registered_since` (by the daemon running now) whose
        processor has been silent for `silent_for_s` with no batch in the pipeline."""
        now = self._clock()
        with self._lock:
            return sorted(shard for shard, entry in self._held.get(stream, {}).items()
                          if entry.registered >= registered_since and not entry.delivering
                          and now - entry.heard >= silent_for_s)


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
                ipc.send(self.request, self.server.dispatch(message, owner=self))
        except OSError as exc:
            log.warning("processor connection failed", stream=stream, shard=shard, error=type(exc).__name__)
        finally:
            if stream and shard:
                self.server.shards.remove(stream, shard, owner=self)


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

    def dispatch(self, message: dict[str, Any], owner: object = None) -> dict[str, Any]:
        op = message.get("op")
        stream, shard = str(message.get("stream")), str(message.get("shard"))
        self.shards.heard(stream, shard)
        if op == "heartbeat":
            events.heartbeat(stream, shard, message.get("lag_ms"))
            return {"ok": True}
        if op == "batch":
            if not self._accepting():
                return {"ok": False, "error": "shutting down"}
            try:
                with self.shards.delivering(stream, shard):
                    self.pipeline.deliver(stream, shard, message["records"], message.get("lag_ms"))
            except Exception as exc:  # noqa: BLE001 - reported to the processor, which then does not checkpoint
                events.batch_failed(stream, shard, exc)
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:1000]}
            return {"ok": True}
        if op == "lifecycle":
            event = str(message.get("event"))
            if event == "initialize":
                self.shards.add(stream, shard, owner)
                if self._on_shard_started is not None:
                    # A lease was (re)acquired: the archive reloads the shard's hash-chain head, which
                    # another instance may have moved on while it held the shard.
                    self._on_shard_started(stream, shard)
            elif event in ("lease_lost", "shard_ended", "shutdown_requested"):
                self.shards.remove(stream, shard, owner)
            events.shard_event(stream, shard, event, message.get("position"))
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}
