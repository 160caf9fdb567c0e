"""Supervise one KCL MultiLangDaemon (a JVM) per stream: start it, restart it with backoff when it exits,
stop it gracefully.

The daemon exits whenever one of its record processors exits (which ours do on purpose when a batch was
not delivered), so restarts are part of normal failure handling, not only of crashes. Restarting re-reads
every shard of the stream from its last checkpoint.

On stop, SIGTERM makes the daemon ask every processor to checkpoint (`shutdown_requested`) within
`kcl.shutdown_grace_ms`; after that (plus a margin) it is killed. The JVM runs in its own session so a
terminal's Ctrl-C reaches only `secstash run`, which then stops the daemons in order, and it receives
SIGKILL if `secstash run` itself dies (PR_SET_PDEATHSIG), so no orphan keeps reading a stream.

A daemon can also hang without exiting (a deadlock, a GC spiral, a thread pool that lost its workers): it
still runs, so neither the exit nor the gauges show it. The daemon calls each record processor on every
read, empty or not, and the processors report empty reads now and then (`ShardProcessor._heartbeat`). When a
shard this daemon's processors hold has been silent for `kcl.stall_timeout_s` with no batch of it in the
pipeline, the daemon is killed and restarted like one that exited.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from consumer import events
from sinks.backoff import full_jitter

log = structlog.get_logger("secstash.kcl")

_PR_SET_PDEATHSIG = 1
# A daemon that stayed up this long is healthy again: the next restart starts from the initial backoff.
STABLE_AFTER_S = 300.0
# (stream, silent for at least, registered at or after) -> the shards found stalled; see ShardRegistry.stalled.
StallWatch = Callable[[str, float, float], list[str]]
TAIL_LINES, TAIL_BYTES = 20, 8192  # of the daemon's log, logged when it exits


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: the supervisor's own shutdown path still stops the daemon


class DaemonSupervisor:
    def __init__(self, stream: str, command: list[str], env: dict[str, str], log_path: Path | None,
                 backoff_initial_s: float, backoff_max_s: float, stop_grace_s: float,
                 clock: Callable[[], float] = time.monotonic, stalled: StallWatch | None = None,
                 stall_timeout_s: float = 300.0) -> None:
        self.stream = stream
        self._command = command
        self._env = env
        self._log_path = log_path
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._stop_grace_s = stop_grace_s
        self._clock = clock  # the stall watch's clock too: registration times are compared with `started`
        self._stalled = stalled
        self._stall_timeout_s = stall_timeout_s
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"kcl-{stream}", daemon=True)
        self.restarts = 0
        events.daemon_down(stream)  # the gauge exists (at 0) before the first start, so an alert sees it

    @property
    def running(self) -> bool:
        with self._lock:
            return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process else None

    @property
    def alive(self) -> bool:
        """The supervising thread runs (or has not been started, or was told to stop): when it is gone,
        nothing restarts the daemon, and the process must be restarted instead."""
        return self._thread.ident is None or self._thread.is_alive() or self._stopping.is_set()

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        stderr = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115 - owned by the child
        try:
            return subprocess.Popen(self._command, env=self._env, stdin=subprocess.DEVNULL,
                                    stdout=stderr or None, stderr=stderr or None,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            if stderr:
                stderr.close()

    def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            started = self._clock()
            with self._lock:
                if self._stopping.is_set():
                    break
                try:
                    self._process = self._spawn()
                except Exception as exc:  # noqa: BLE001 - no java, EAGAIN under a process limit: retried
                    self._process = None
                    failure: BaseException | None = exc
                else:
                    failure = None
                process = self._process
            if process is not None:
                events.daemon_started(self.stream, process.pid)
                code = self._wait(process, started)
                if self._stopping.is_set():
                    events.daemon_stopped(self.stream, code)
                    break
            attempt = 1 if self._clock() - started > STABLE_AFTER_S else attempt + 1
            self.restarts += 1
            delay = self._backoff[0] if attempt == 1 else full_jitter(attempt, *self._backoff)
            if failure is not None:
                events.daemon_not_started(self.stream, failure, delay)
            else:
                events.daemon_exited(self.stream, code, delay, self._log_tail())
            self._stopping.wait(delay)

    def _wait(self, process: subprocess.Popen[bytes], started: float) -> int:
        """The daemon's exit code; a daemon found stalled is killed first (its record processors with it)."""
        if self._stalled is None:
            return process.wait()
        check_every = min(5.0, self._stall_timeout_s / 3)
        while True:
            try:
                return process.wait(timeout=check_every)
            except subprocess.TimeoutExpired:
                pass
            if self._stopping.is_set():
                continue  # stop() ends it
            # Only shards registered since this daemon started count: a killed daemon's processors may not
            # have closed their connections yet.
            shards = self._stalled(self.stream, self._stall_timeout_s, started)
            if shards:
                events.daemon_stalled(self.stream, shards, self._stall_timeout_s)
                # SIGKILL, not SIGTERM: a hung JVM cannot run the graceful shutdown, and nothing is lost, as
                # whatever was delivered but not checkpointed is read again (idempotent ids).
                _signal_group(process, signal.SIGKILL)
                return process.wait()

    def _log_tail(self) -> list[str]:
        """The end of the daemon's log, for the exit's log line: the reason (credentials, DynamoDB, heap, a
        processor's failed batch) is there, and the file is not on the container's output."""
        if self._log_path is None:
            return []
        try:
            with open(self._log_path, "rb") as file:
                start = max(0, file.seek(0, os.SEEK_END) - TAIL_BYTES)
                file.seek(start)
                lines = file.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        if start:
            lines = lines[1:]  # begins mid-line
        return [line[:500] for line in lines if line.strip()][-TAIL_LINES:]

    def stop(self) -> None:
        """Graceful: SIGTERM, wait for the checkpoints of the shutdown, then SIGKILL what is left."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            # Only the JVM: its shutdown hook asks each record processor to checkpoint; signalling the
            # processors too would kill them before they can.
            try:
                process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(self._stop_grace_s)
            except subprocess.TimeoutExpired:
                log.warning("kcl daemon did not stop in time, killing it", stream=self.stream)
                _signal_group(process, signal.SIGKILL)
                process.wait()
        self._thread.join(timeout=5)

    def kill(self) -> None:
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    # The daemon's record processors are in its process group: they go with it.
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
