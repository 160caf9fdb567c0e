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

The daemon's output (stdout and stderr, one pipe) is read by a thread of its own: KCL's log lines (JSON from
logback, see logback.xml) at `kcl.log_level` and above are logged again through secstash's log, so its
warnings and errors (DynamoDB access, throttling, lost leases, and every stderr line of a record processor,
which KCL logs at ERROR) reach the container's output with secrets scrubbed. The last lines are kept in
memory for the exit's log line. Nothing is written to disk: a file would grow without bound in /tmp.
"""

from __future__ import annotations

import ctypes
import os
import re
import select
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
import structlog

from consumer import events
from sinks.backoff import full_jitter

log = structlog.get_logger("secstash.kcl")

_PR_SET_PDEATHSIG = 1
# A daemon that stayed up this long is healthy again: the next restart starts from the initial backoff.
STABLE_AFTER_S = 300.0
# (stream, silent for at least, registered at or after) -> the shards found stalled; see ShardRegistry.stalled.
StallWatch = Callable[[str, float, float], list[str]]
TAIL_LINES, TAIL_CHARS = 20, 500  # of the daemon's output, logged when it exits
MAX_LINE_BYTES = 64 * 1024  # a longer line is cut there once, its rest dropped
MAX_FIELD_CHARS = 4096  # of a re-logged line's message and exception
# After the daemon exits, its output is read for at most this long: a descendant that kept the pipe open
# must not keep the reader (and the exit's log line, which waits for the tail) going.
DRAIN_AFTER_EXIT_S = 2.0
LEVELS = {"TRACE": 0, "DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40, "OFF": 100}
# logback's own status lines (printed when its configuration has problems): `12:00:00,000 |-WARN in ...`.
_STATUS_LINE = re.compile(r"\|-(INFO|WARN|ERROR) in ")
# logback's JSON, cut at MAX_LINE_BYTES (no longer parseable): its level, and its message up to the cut.
_CUT_LEVEL = re.compile(r'^\{.*?"level"\s*:\s*"(\w+)"')
_CUT_MESSAGE = re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)')


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: the supervisor's own shutdown path still stops the daemon


class DaemonSupervisor:
    def __init__(self, stream: str, command: list[str], env: dict[str, str],
                 backoff_initial_s: float, backoff_max_s: float, stop_grace_s: float,
                 clock: Callable[[], float] = time.monotonic, stalled: StallWatch | None = None,
                 stall_timeout_s: float = 300.0, relog_from: str = "WARN") -> None:
        self.stream = stream
        self._command = command
        self._env = env
        self._relog_from = LEVELS[relog_from]  # the daemon's log lines at this level and above are re-logged
        self._output: OutputReader | None = None
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
        process = subprocess.Popen(self._command, env=self._env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        self._output = OutputReader(self.stream, process, self._relog_from)
        self._output.start()
        return process

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
        """The end of the daemon's output, for the exit's log line: the reason (credentials, DynamoDB, heap, a
        processor's failed batch) is there, whatever its level."""
        output = self._output
        if output is None:
            return []
        output.join(DRAIN_AFTER_EXIT_S + 1)  # the lines written just before the exit
        return output.tail()

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


class OutputReader:
    """Reads a daemon's output until it ends (or, once the daemon has exited, for at most
    DRAIN_AFTER_EXIT_S): re-logs its log lines at `relog_from` and above, keeps the last TAIL_LINES."""

    def __init__(self, stream: str, process: subprocess.Popen[bytes], relog_from: int) -> None:
        assert process.stdout is not None
        self._stream = stream
        self._process = process
        self._relog_from = relog_from
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"kcl-output-{stream}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def tail(self) -> list[str]:
        with self._lock:
            return list(self._tail)

    def _run(self) -> None:
        pipe = self._process.stdout
        assert pipe is not None
        fd = pipe.fileno()
        pending = b""
        skipping = False  # the rest of a line cut at MAX_LINE_BYTES: dropped up to its newline
        exited_at: float | None = None
        try:
            while True:
                if exited_at is None and self._process.poll() is not None:
                    exited_at = time.monotonic()
                if exited_at is not None and time.monotonic() - exited_at > DRAIN_AFTER_EXIT_S:
                    break
                # A timeout, not a blocking read: the exit is noticed even when a descendant holds the pipe.
                if not select.select([fd], [], [], 0.2)[0]:
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                if skipping and lines:
                    lines, skipping = lines[1:], False  # the end of the line already handled, cut
                if skipping:
                    pending = b""
                elif len(pending) > MAX_LINE_BYTES:
                    # One line, cut once, whatever sizes the pipe hands it over in: its rest is dropped.
                    lines.append(pending[:MAX_LINE_BYTES])
                    pending, skipping = b"", True
                for line in lines:
                    self._line(line[:MAX_LINE_BYTES])
            if pending:
                self._line(pending)
        except Exception:  # the reader must not die silently mid-way; the pipe is closed below
            log.exception("reading the kcl daemon's output failed", stream=self._stream)
        finally:
            pipe.close()

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return
        with self._lock:
            self._tail.append(text[:TAIL_CHARS])
        level, message, fields = parse_line(text)
        if LEVELS.get(level, LEVELS["WARN"]) >= self._relog_from:
            events.daemon_logged(self._stream, level, message, fields)


def parse_line(text: str) -> tuple[str, str, dict[str, Any]]:
    """(level, message, other fields) of one line of the daemon's output: logback's JSON (logback.xml), a
    logback status line, or anything else the JVM prints (a VM warning, a crash): level UNKNOWN, except
    stack frames (DEBUG: kept in the tail, not re-logged one by one) and the JVM's `Picked up ...` (INFO)."""
    if text.startswith("{"):
        try:
            entry = orjson.loads(text)
        except orjson.JSONDecodeError:
            entry = None
        if entry is None and (level := _CUT_LEVEL.search(text)):
            # A JSON line cut at MAX_LINE_BYTES: its level and as much of its message as was kept.
            message = _CUT_MESSAGE.search(text)
            return (level.group(1).upper(), (message.group(1) if message else text)[:MAX_FIELD_CHARS],
                    {"truncated": True})
        if isinstance(entry, dict) and isinstance(entry.get("level"), str):
            fields: dict[str, Any] = {"kcl_logger": entry.get("loggerName"), "thread": entry.get("threadName")}
            if isinstance(entry.get("throwable"), dict):
                fields["exception"] = _throwable(entry["throwable"])[:MAX_FIELD_CHARS]
            return entry["level"].upper(), str(entry.get("message"))[:MAX_FIELD_CHARS], fields
    if status := _STATUS_LINE.search(text):
        return status.group(1), text[:MAX_FIELD_CHARS], {"kcl_logger": "logback-status"}
    if text[:1].isspace() or text.startswith("Picked up "):
        return ("DEBUG" if text[:1].isspace() else "INFO"), text[:MAX_FIELD_CHARS], {}
    return "UNKNOWN", text[:MAX_FIELD_CHARS], {}


def _throwable(throwable: dict[str, Any]) -> str:
    """`Class: message` of a logback throwable and its causes, with the first frames of the outermost."""
    parts = []
    frames = [f"{f.get('className')}.{f.get('methodName')}({f.get('fileName')}:{f.get('lineNumber')})"
              for f in (throwable.get("stepArray") or [])[:5] if isinstance(f, dict)]
    current: Any = throwable
    while isinstance(current, dict) and len(parts) < 10:
        parts.append(f"{current.get('className')}: {current.get('message')}")
        current = current.get("cause")
    return "; caused by ".join(parts) + ("\n  at " + "\n  at ".join(frames) if frames else "")
