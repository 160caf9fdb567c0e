"""The daemon supervisor restarts an exited daemon with backoff and stops it gracefully."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from consumer.kcl.daemon import DaemonSupervisor


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_an_exiting_daemon_is_restarted(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x'); raise SystemExit(1)"]
    supervisor = DaemonSupervisor("logs", command, dict(os.environ), None, 0.05, 0.1, stop_grace_s=5)
    supervisor.start()
    try:
        assert wait_for(lambda: marker.exists() and len(marker.read_text()) >= 3)
        assert supervisor.restarts >= 2
    finally:
        supervisor.stop()


def test_stop_sends_sigterm_and_waits_for_a_clean_exit(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: (print('graceful', flush=True), sys.exit(0)))\n"
              "print('up', flush=True)\n"
              "time.sleep(60)\n")
    supervisor = DaemonSupervisor("logs", [sys.executable, "-c", script], dict(os.environ), log, 1, 1, stop_grace_s=10)
    supervisor.start()
    assert wait_for(lambda: log.exists() and "up" in log.read_text())
    assert supervisor.running
    supervisor.stop()
    assert "graceful" in log.read_text()
    assert not supervisor.running and supervisor.restarts == 0


def test_a_daemon_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(60)\n"
    supervisor = DaemonSupervisor("logs", [sys.executable, "-c", script], dict(os.environ), log, 1, 1, stop_grace_s=0.5)
    supervisor.start()
    assert wait_for(lambda: log.exists() and "up" in log.read_text())
    started = time.monotonic()
    supervisor.stop()
    assert not supervisor.running and time.monotonic() - started < 10


def test_a_daemon_that_cannot_be_started_is_retried_and_the_supervisor_stays_alive(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    marker = tmp_path / "started"
    supervisor = DaemonSupervisor("unstartable", [str(tmp_path / "no-such-java")], dict(os.environ), None,
                                  0.05, 0.1, stop_grace_s=5)
    # The gauge is there, at 0, before any start: `min(secstash_kcl_daemon_up) == 0` alerts see it.
    assert REGISTRY.get_sample_value("secstash_kcl_daemon_up", {"stream": "unstartable"}) == 0
    supervisor.start()
    try:
        assert wait_for(lambda: supervisor.restarts >= 3)  # each failed start is retried after the backoff
        assert supervisor.alive and not supervisor.running
        # Once the command can start, it does.
        supervisor._command = [sys.executable, "-c", f"open({str(marker)!r}, 'w'); import time; time.sleep(60)"]
        assert wait_for(lambda: supervisor.running and marker.exists())
    finally:
        supervisor.stop()


def test_a_daemon_exit_is_logged_with_the_end_of_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from consumer import events

    exits: list[tuple] = []
    monkeypatch.setattr(events, "daemon_exited", lambda *args: exits.append(args))
    log = tmp_path / "daemon.log"
    log.write_text("".join(f"line {n}\n" for n in range(1000)))
    script = "import sys; print('AccessDeniedException: dynamodb:CreateTable', flush=True); sys.exit(3)"
    supervisor = DaemonSupervisor("logs", [sys.executable, "-c", script], dict(os.environ), log, 30, 30,
                                  stop_grace_s=5)
    supervisor.start()
    try:
        assert wait_for(lambda: len(exits) == 1)
    finally:
        supervisor.stop()
    [(stream, code, _, tail)] = exits
    assert (stream, code) == ("logs", 3)
    assert tail == [f"line {n}" for n in range(981, 1000)] + ["AccessDeniedException: dynamodb:CreateTable"]


def test_a_daemon_whose_held_shard_falls_silent_is_killed_and_restarted(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung JVM still runs: only the silence of its processors tells. The first daemon's shard is silent,
    so it is killed (with SIGKILL: it ignores SIGTERM, as a hung JVM may) and restarted; the second one's is not."""
    from consumer import events

    stalls: list[tuple] = []
    monkeypatch.setattr(events, "daemon_stalled", lambda *args: stalls.append(args))
    marker = tmp_path / "starts"
    script = (f"import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              f"open({str(marker)!r}, 'a').write('x')\ntime.sleep(60)\n")
    asked: list[tuple[str, float, float]] = []
    starts: list[float] = []

    def stalled(stream: str, silent_for_s: float, registered_since: float) -> list[str]:
        asked.append((stream, silent_for_s, registered_since))
        if registered_since not in starts:
            starts.append(registered_since)
        return ["shardId-000000000001"] if registered_since == starts[0] else []

    supervisor = DaemonSupervisor("logs", [sys.executable, "-c", script], dict(os.environ), None, 0.05, 0.1,
                                  stop_grace_s=0.5, stalled=stalled, stall_timeout_s=0.3)
    supervisor.start()
    try:
        assert wait_for(lambda: marker.exists() and len(marker.read_text()) == 2 and supervisor.running)
        assert stalls == [("logs", ["shardId-000000000001"], 0.3)] and supervisor.restarts == 1
        assert wait_for(lambda: len({since for *_, since in asked}) == 2 and asked[-1][2] == starts[1])
        assert starts[1] > starts[0] and {(s, t) for s, t, _ in asked} == {("logs", 0.3)}
        assert supervisor.running and supervisor.restarts == 1  # the second daemon's shards are heard from
    finally:
        supervisor.stop()
