"""The daemon supervisor restarts an exited daemon with backoff and stops it gracefully."""

from __future__ import annotations

import json
import os
import signal
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
    supervisor = DaemonSupervisor("logs", command, dict(os.environ), 0.05, 0.1, stop_grace_s=5)
    supervisor.start()
    try:
        assert wait_for(lambda: marker.exists() and len(marker.read_text()) >= 3)
        assert supervisor.restarts >= 2
    finally:
        supervisor.stop()


def test_stop_sends_sigterm_and_waits_for_a_clean_exit(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    script = ("import signal, sys, time\n"
              f"say = lambda word: open({str(log)!r}, 'a').write(word + '\\n')\n"
              "signal.signal(signal.SIGTERM, lambda *a: (say('graceful'), sys.exit(0)))\n"
              "say('up')\n"
              "time.sleep(60)\n")
    supervisor = DaemonSupervisor("logs", [sys.executable, "-c", script], dict(os.environ), 1, 1, stop_grace_s=10)
    supervisor.start()
    assert wait_for(lambda: log.exists() and "up" in log.read_text())
    assert supervisor.running
    supervisor.stop()
    assert "graceful" in log.read_text()
    assert not supervisor.running and supervisor.restarts == 0


def test_a_daemon_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    script = (f"import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nopen({str(log)!r}, 'w').write('up')\n"
              "time.sleep(60)\n")
    supervisor = DaemonSupervisor("logs", [sys.executable, "-c", script], dict(os.environ), 1, 1, stop_grace_s=0.5)
    supervisor.start()
    assert wait_for(lambda: log.exists() and "up" in log.read_text())
    started = time.monotonic()
    supervisor.stop()
    assert not supervisor.running and time.monotonic() - started < 10


def test_a_daemon_that_cannot_be_started_is_retried_and_the_supervisor_stays_alive(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    marker = tmp_path / "started"
    supervisor = DaemonSupervisor("unstartable", [str(tmp_path / "no-such-java")], dict(os.environ),
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
    """The daemon's output is kept in memory, not in a file: its last lines, whatever their level."""
    from consumer import events

    exits: list[tuple] = []
    monkeypatch.setattr(events, "daemon_exited", lambda *args: exits.append(args))
    monkeypatch.setattr(events, "daemon_logged", lambda *args: None)
    script = ("import sys\n"
              "for n in range(1000): print(f'line {n}')\n"
              "print('AccessDeniedException: dynamodb:CreateTable', file=sys.stderr, flush=True)\n"
              "sys.exit(3)\n")
    supervisor = DaemonSupervisor("logs", [sys.executable, "-c", script], dict(os.environ), 30, 30,
                                  stop_grace_s=5)
    supervisor.start()
    try:
        assert wait_for(lambda: len(exits) == 1)
    finally:
        supervisor.stop()
    [(stream, code, _, tail)] = exits
    assert (stream, code) == ("logs", 3)
    assert tail == [f"line {n}" for n in range(981, 1000)] + ["AccessDeniedException: dynamodb:CreateTable"]
    assert not list(tmp_path.iterdir())  # and nothing on disk


def logback_line(level: str, message: str, **extra: object) -> str:
    """A line as logback's JsonEncoder writes it (consumer/kcl/logback.xml)."""
    return json.dumps({"sequenceNumber": 0, "timestamp": 1795778649140, "nanoseconds": 1, "level": level,
                       "threadName": "main", "loggerName": "software.amazon.kinesis.leases.LeaseCoordinator",
                       "context": {"name": "default", "birthdate": 1, "properties": {}}, "mdc": {},
                       "message": message, "throwable": None, **extra})


def fake_daemon(tmp_path: Path, lines: list[str], then: str = "import time; time.sleep(60)") -> list[str]:
    """A daemon that writes `lines` on stderr (as the JVM does), then runs `then`."""
    path = tmp_path / "lines.json"
    path.write_text(json.dumps(lines))
    script = (f"import json, sys\nfor line in json.load(open({str(path)!r})): print(line, file=sys.stderr, flush=True)\n"
              f"{then}\n")
    return [sys.executable, "-c", script]


def test_the_daemons_warnings_and_errors_are_logged_again_and_its_info_lines_are_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from consumer import events

    logged: list[tuple] = []
    monkeypatch.setattr(events, "daemon_logged", lambda *args: logged.append(args))
    throwable = {"className": "software.amazon.awssdk.services.dynamodb.model.DynamoDbException",
                 "message": "User is not authorized to perform: dynamodb:DescribeTable",
                 "stepArray": [{"className": "a.B", "methodName": "c", "fileName": "B.java", "lineNumber": 7}],
                 "cause": {"className": "java.io.IOException", "message": "denied", "stepArray": []}}
    lines = [logback_line("INFO", "Worker loop is complete"),
             logback_line("WARN", "Lease lost: shardId-000000000001"),
             logback_line("ERROR", "Caught exception while sync'ing leases", throwable=throwable),
             "OpenJDK 64-Bit Server VM warning: INFO: os::commit_memory failed",
             "	at software.amazon.kinesis.Foo.bar(Foo.java:1)",  # a stack frame: in the tail only
             "Picked up JAVA_TOOL_OPTIONS: -XX:MaxRAMPercentage=25",
             logback_line("WARN", "x" * 100_000),
             logback_line("INFO", "Sleeping"),
             logback_line("WARN", "last")]
    supervisor = DaemonSupervisor("logs", fake_daemon(tmp_path, lines), dict(os.environ), 30, 30, stop_grace_s=5)
    supervisor.start()
    try:
        assert wait_for(lambda: logged and logged[-1][2] == "last")
    finally:
        supervisor.stop()
    assert [(stream, level, message[:40]) for stream, level, message, _ in logged] == [
        ("logs", "WARN", "Lease lost: shardId-000000000001"),
        ("logs", "ERROR", "Caught exception while sync'ing leases"),
        ("logs", "UNKNOWN", "OpenJDK 64-Bit Server VM warning: INFO: "),
        ("logs", "WARN", "x" * 40),
        ("logs", "WARN", "last")]
    error = logged[1][3]
    assert error["kcl_logger"] == "software.amazon.kinesis.leases.LeaseCoordinator"
    assert error["exception"].startswith("software.amazon.awssdk.services.dynamodb.model.DynamoDbException: User "
                                         "is not authorized to perform: dynamodb:DescribeTable; caused by "
                                         "java.io.IOException: denied")
    assert "a.B.c(B.java:7)" in error["exception"]
    assert len(logged[3][2]) <= 4096  # a huge line is cut to a few KB


def test_the_daemons_info_lines_are_logged_again_when_kcl_log_level_asks_for_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from consumer import events

    logged: list[tuple] = []
    monkeypatch.setattr(events, "daemon_logged", lambda *args: logged.append(args))
    lines = [logback_line("DEBUG", "noise"), logback_line("INFO", "Assigning lease"), logback_line("WARN", "last")]
    supervisor = DaemonSupervisor("logs", fake_daemon(tmp_path, lines), dict(os.environ), 30, 30, stop_grace_s=5,
                                  relog_from="INFO")
    supervisor.start()
    try:
        assert wait_for(lambda: logged and logged[-1][2] == "last")
    finally:
        supervisor.stop()
    assert [(level, message) for _, level, message, _ in logged] == [("INFO", "Assigning lease"), ("WARN", "last")]


def test_an_exit_is_reported_while_a_descendant_still_holds_the_daemons_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader stops soon after the daemon exits even when the pipe stays open (a record processor that
    outlived it): neither the restart nor the exit's log line waits for it."""
    from consumer import events

    exits: list[tuple] = []
    monkeypatch.setattr(events, "daemon_exited", lambda *args: exits.append(args))
    monkeypatch.setattr(events, "daemon_logged", lambda *args: None)
    pid_file = tmp_path / "descendant.pid"
    then = ("import subprocess\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            "sys.exit(3)")
    supervisor = DaemonSupervisor("logs", fake_daemon(tmp_path, ["bye"], then), dict(os.environ), 30, 30,
                                  stop_grace_s=5)
    started = time.monotonic()
    supervisor.start()
    try:
        assert wait_for(lambda: len(exits) == 1)
        assert time.monotonic() - started < 8
        assert exits[0][1] == 3 and exits[0][3] == ["bye"]
        output = supervisor._output
        assert output is not None and wait_for(lambda: not output._thread.is_alive())
    finally:
        supervisor.stop()
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


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

    supervisor = DaemonSupervisor("logs", [sys.executable, "-c", script], dict(os.environ), 0.05, 0.1,
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


def test_a_line_longer_than_the_cut_is_logged_once_whatever_pieces_the_pipe_hands_it_over_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from consumer import events
    from consumer.kcl.daemon import MAX_LINE_BYTES

    logged: list[tuple] = []
    monkeypatch.setattr(events, "daemon_logged", lambda *args: logged.append(args))
    long_line = logback_line("ERROR", "y" * (3 * MAX_LINE_BYTES))
    # Written in 10 KB pieces, flushed one by one: the reader sees the line in pieces of any size.
    (tmp_path / "long.txt").write_text(long_line)
    script = (f"import sys\nline = open({str(tmp_path / 'long.txt')!r}).read()\n"
              "for start in range(0, len(line), 10_000):\n"
              "    sys.stderr.write(line[start:start + 10_000]); sys.stderr.flush()\n"
              f"sys.stderr.write('\\n' + {logback_line('WARN', 'after')!r} + '\\n'); sys.stderr.flush()\n"
              "import time; time.sleep(60)\n")
    supervisor = DaemonSupervisor("logs", [sys.executable, "-c", script], dict(os.environ), 30, 30, stop_grace_s=5)
    supervisor.start()
    try:
        assert wait_for(lambda: logged and logged[-1][2] == "after")
    finally:
        supervisor.stop()
    assert [(level, message[:3]) for _, level, message, _ in logged] == [("ERROR", "yyy"), ("WARN", "aft")]
    assert len(logged[0][2]) <= 4096 and logged[0][3].get("truncated") is True
