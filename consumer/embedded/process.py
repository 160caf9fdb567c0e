"""A child process we start, watch, and always end: the base of every embedded server.

Each :class:`ManagedProcess` runs in its own session (process group), so stopping it also ends whatever
it started (Elasticsearch's launcher starts the real server JVM as a child). Its stdout and stderr go to
one log file; :meth:`ManagedProcess.log_tail` shows the end of it in error messages.

Waiting is always a poll of a condition with a deadline (:func:`wait_until`), never a fixed sleep, and a
wait gives up at once when the process has died.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

#: Started and not yet stopped or killed; killed at interpreter exit.
_STARTED: set[ManagedProcess] = set()
#: Temporary directories we made for servers (data, logs); removed at exit unless SECSTASH_KEEP_TMP is set.
_TEMP_DIRS: list[Path] = []


def temp_dir(prefix: str) -> Path:
    """A new temporary directory, removed at interpreter exit after every process is killed
    (set ``SECSTASH_KEEP_TMP=1`` to keep them for a post-mortem)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _TEMP_DIRS.append(path)
    return path


@atexit.register
def _clean_up_at_exit() -> None:
    """A process we started must not outlive us (a test run that crashed, Ctrl-C, a forgotten stop)."""
    for process in list(_STARTED):
        if process.is_running:
            process.kill()
    if not os.environ.get("SECSTASH_KEEP_TMP"):
        for path in _TEMP_DIRS:
            shutil.rmtree(path, ignore_errors=True)


class ProcessError(RuntimeError):
    """An embedded process failed to start, died, or did not become ready in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now on ``host`` (and, for "0.0.0.0", on every interface).

    Chosen below the kernel's ephemeral range when there is room: a port the kernel handed out (bind to 0) is
    one it may hand out again, as the local port of any outbound connection, between this call and the
    server's own bind; servers started side by side (the sandbox starts them in threads) then fail with
    EADDRINUSE, as kinesis-local once did on its TLS port while the others' readiness probes connected."""
    low, _ = _ephemeral_range()
    if low > _LOWEST_CHOSEN + 1000:
        for _ in range(100):
            port = _random.randrange(_LOWEST_CHOSEN, low)
            if port in _handed_out:  # given a moment ago to a server that may not have bound it yet
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
            _handed_out.append(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


_LOWEST_CHOSEN = 20_000  # clear of the well-known and most registered service ports
_random = random.SystemRandom()  # two test sessions started at once must not draw the same sequence
_handed_out: collections.deque[int] = collections.deque(maxlen=256)


def _ephemeral_range() -> tuple[int, int]:
    """net.ipv4.ip_local_port_range (Linux's default 32768-60999); IANA's 49152-65535 elsewhere."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
    abort: Callable[[], str | None] | None = None,
) -> None:
    """Poll ``condition`` until it returns true; raise :class:`TimeoutError` after ``timeout`` seconds.

    ``abort`` is asked before each poll; a non-None answer (a reason) raises :class:`ProcessError` at once.
    Exceptions from ``condition`` count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        if abort is not None and (reason := abort()) is not None:
            raise ProcessError(f"gave up waiting for {what}: {reason}")
        try:
            if condition():
                return
            last_error = None
        except Exception as exc:  # noqa: BLE001 - any failure of a probe means "not ready yet"
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"{what} not reached within {timeout:.0f} s{detail}")
        time.sleep(interval)


def http_status(url: str, *, timeout: float = 2.0, method: str = "GET") -> int:
    """HTTP status of a request to ``url`` (4xx/5xx returned, not raised; connection errors raise)."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def user_ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def as_user(argv: Sequence[str], user: str) -> list[str]:
    """`argv` run through setpriv as `user`, with its uid, primary gid and groups (only root can switch)."""
    uid, gid = user_ids(user)
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--", *argv]


class ManagedProcess:
    """One child process with its log file.

    ``run_as`` (a user name) runs the command through ``setpriv`` with that user's uid, gid and groups:
    only root can do that, and only root needs to (servers that refuse root).

    ``stop()`` sends SIGTERM to the whole process group by default; with ``term_group=False`` only the
    leader gets it and is left to stop its own children (the KCL daemon must, to let its record
    processors checkpoint); whatever is left of the group is SIGKILLed after the leader exits.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        run_as: str | None = None,
        term_group: bool = True,
    ) -> None:
        self.name = name
        self.term_group = term_group
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.run_as = run_as
        self._popen: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.is_running:
            raise ProcessError(f"{self.name} is already running (pid {self.pid})")
        argv = self.argv
        if self.run_as is not None:
            argv = as_user(argv, self.run_as)
            self.env.setdefault("HOME", pwd.getpwnam(self.run_as).pw_dir)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        _STARTED.add(self)

    def wait_ready(self, condition: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> None:
        """Poll ``condition`` until true; on timeout or early death, kill the process and raise with its log."""
        try:
            wait_until(
                condition,
                timeout=timeout,
                interval=interval,
                what=f"{self.name} ready",
                abort=self._death_reason,
            )
        except (TimeoutError, ProcessError) as exc:
            tail = self.log_tail()
            self.kill()
            raise ProcessError(f"{exc}\n--- last lines of {self.log_path} ---\n{tail}") from None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the process group, wait up to ``timeout`` s for the leader to exit, then SIGKILL it all."""
        if self._popen is None:
            return None
        if self._popen.poll() is None:
            if self.term_group:
                self._signal_group(signal.SIGTERM)
            else:
                with contextlib.suppress(ProcessLookupError):
                    self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)  # stragglers of the group, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=10)
        _STARTED.discard(self)
        return self._popen.returncode

    def kill(self) -> int | None:
        """SIGKILL the whole process group (a crash, as far as the process can tell)."""
        if self._popen is None:
            return None
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=10)
        _STARTED.discard(self)
        return self._popen.returncode

    def wait_exit(self, timeout: float) -> int:
        if self._popen is None:
            raise ProcessError(f"{self.name} was never started")
        return self._popen.wait(timeout=timeout)

    # ------------------------------------------------------------------ state
    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    @property
    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
        except FileNotFoundError:
            return "(no log)"

    def _death_reason(self) -> str | None:
        if self._popen is not None and self._popen.poll() is not None:
            return f"{self.name} exited with status {self._popen.returncode}"
        return None

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._popen is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = (
            "running" if self.is_running else f"exited {self.returncode}" if self._popen else "not started"
        )
        return f"<ManagedProcess {self.name} pid={self.pid} {state}>"


class EmbeddedServer:
    """Common shape of the embedded servers: ``start()`` (waits until ready), ``stop()``, ``kill()``,
    ``restart()``, context manager. Subclasses set :attr:`process` in ``__init__`` and implement
    :meth:`_ready`."""

    process: ManagedProcess
    start_timeout: float = 60.0

    def start(self) -> Self:
        self.process.start()
        self.process.wait_ready(self._ready, timeout=self.start_timeout)
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM, then SIGKILL after ``timeout`` s); returns the exit status."""
        return self.process.stop(timeout=timeout)

    def kill(self) -> int | None:
        """SIGKILL, no chance to flush anything: what a crash looks like."""
        return self.process.kill()

    def restart(self, *, graceful: bool = True) -> Self:
        """Stop (or kill) and start again with the same port and data."""
        if graceful:
            self.stop()
        else:
            self.kill()
        return self.start()

    @property
    def is_running(self) -> bool:
        return self.process.is_running

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines)

    def _ready(self) -> bool:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
