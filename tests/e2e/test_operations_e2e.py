"""Operating secstash, end to end: a search outage, the health endpoints and metrics while it lasts, a
SIGTERM mid-stream, and secrets kept out of every log. Real servers, the real `secstash run`.

The session's Elasticsearch is shared: a test that stops it restarts it in a `finally`.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import psutil
import pytest

from consumer import corpus
from consumer.sandbox import wait_for
from tests.e2e.conftest import Case, SecstashProcess, wait_indexed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENTS = 20_000
MIXED = {"total_events": EVENTS, "cwl_batch": 100, "line_batch": 20}  # ~850 records: quick for the emulator
RSS_LIMIT_MB = 1024


# --- observations ----------------------------------------------------------------------------------------


def get(process: SecstashProcess, path: str) -> tuple[int, Any]:
    """Status and parsed body of one request to the process's health server."""
    url = f"http://127.0.0.1:{process.metrics_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def checkpoints(case: Case) -> dict[str, str | None]:
    return {lease["leaseKey"]: lease.get("checkpoint") for lease in case.leases()}


def wait_checkpointed_at_last_sequence(case: Case, timeout: float = 60) -> None:
    expected = case.last_sequence_per_shard()
    wait_for(lambda: all(checkpoints(case).get(s) == q for s, q in expected.items()), timeout,
             what=f"checkpoints at the last sequences {expected} (have {checkpoints(case)})")


def wait_ready(process: SecstashProcess, ready: bool, timeout: float) -> dict[str, Any]:
    wanted = 200 if ready else 503
    return wait_for(lambda: (reply := get(process, "/readyz"))[0] == wanted and reply[1], timeout,
                    what=f"/readyz answering {wanted} (last: {get(process, '/readyz')})")


# The counters an operator watches, summed over their labels.
WATCHED = {
    "records": ("secstash_records_received_total", {}),
    "events": ("secstash_events_received_total", {}),
    "archived": ("secstash_archive_archived_records_total", {}),
    "indexed": ("secstash_search_indexed_documents_total", {}),
    "checkpoints": ("secstash_checkpoints_total", {}),
    "unreachable": ("secstash_search_bulk_requests_total", {"outcome": "unreachable"}),
    "retried": ("secstash_search_retried_documents_total", {}),
    "inflight_bytes": ("secstash_inflight_bytes", {}),
}


def scrape(process: SecstashProcess) -> dict[str, float]:
    return {key: process.metric(name, **labels) for key, (name, labels) in WATCHED.items()}


@dataclass
class Samples:
    """What one test saw of the process while it waited: memory, health answers, checkpoint changes."""

    process: SecstashProcess
    rss_mb: list[float] = field(default_factory=list)
    healthz: list[int] = field(default_factory=list)

    def take(self) -> float:
        rss = self.process.python_rss_mb()
        self.rss_mb.append(rss)
        self.healthz.append(get(self.process, "/healthz")[0])
        assert rss < RSS_LIMIT_MB, f"secstash Python processes at {rss:.0f} MB"
        return rss

    @property
    def peak(self) -> float:
        return max(self.rss_mb, default=0.0)


def metric(process: SecstashProcess, name: str, **labels: str) -> float:
    """The metric's value, 0 while the health server is not up yet."""
    try:
        return process.metric(name, **labels)
    except OSError:  # urllib's URLError included
        return 0.0


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid} {' '.join(process.cmdline())[:300]}"
    except psutil.Error:
        return f"{process.pid} (gone)"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


# --- issue 2 and issue 7: a search outage --------------------------------------------------------------


def test_search_outage_holds_checkpoints_under_1gb_flips_readyz_and_delivers_exactly_with_moving_metrics(
        case: Case) -> None:
    records = list(corpus.records(seed=23, **MIXED))
    head, rest = records[:20], records[20:]  # a first tranche makes the held checkpoints real positions
    head_events = sum(r.events for r in head)
    process = case.start()
    samples = Samples(process)
    search = case.sandbox.search
    assert search is not None

    # Flowing: every counter moves, the indexed counter agrees with the cluster, checkpoints follow.
    case.put_records(head)
    wait_indexed(case, head_events, timeout=300, processes=[process])
    wait_checkpointed_at_last_sequence(case)
    wait_for(lambda: scrape(process)["indexed"] == case.indexed(), 30,
             what=f"the indexed counter at {case.indexed()} (metrics: {scrape(process)})")
    flowing = scrape(process)
    assert flowing["records"] >= len(head) and flowing["events"] >= head_events
    assert flowing["archived"] >= len(head) and flowing["checkpoints"] > 0
    assert wait_ready(process, True, 30)["checks"]["sink:search"] is True
    held = checkpoints(case)

    search.stop()
    try:
        # Elasticsearch gone: the process stays alive (/healthz) but leaves rotation (/readyz).
        unready = wait_ready(process, False, 60)
        assert unready["checks"]["sink:search"] is False and unready["checks"][f"daemon:{case.name}"] is True
        assert get(process, "/healthz")[0] == 200

        started_put = time.monotonic()
        case.put_records(rest)
        put_s = time.monotonic() - started_put

        def read_and_blocked() -> bool:
            now = scrape(process)
            return (now["records"] > flowing["records"] + 100 and now["retried"] > flowing["retried"]
                    and now["inflight_bytes"] > 0)

        wait_for(read_and_blocked, 180, interval=1, what=f"records read and held (metrics: {scrape(process)})")
        blocked = scrape(process)

        # Hold it there a while: with spill_after_s at its default (900 s) nothing may count as delivered,
        # so no checkpoint may move past what was indexed before the outage.
        def sampled_enough() -> bool:
            samples.take()
            now = checkpoints(case)
            assert now == held, f"a checkpoint moved during the outage: {held} -> {now}"
            assert process.alive, process.log_tail()
            return len(samples.rss_mb) >= 25

        wait_for(sampled_enough, 120, interval=1.0, what="25 samples during the outage")
        during = scrape(process)
        assert during["checkpoints"] == flowing["checkpoints"], "no checkpoint written while nothing is delivered"
        assert during["indexed"] == flowing["indexed"]
        assert during["unreachable"] > blocked["unreachable"] or during["retried"] > blocked["retried"], \
            "the sink keeps retrying"
        assert set(samples.healthz) == {200}, f"/healthz failed during the outage: {samples.healthz}"
    finally:
        if not search.is_running:
            search.start()
    outage_peak = samples.peak

    # Back: everything is delivered exactly once, the process is ready again, checkpoints reach the end.
    def drained() -> bool:
        samples.take()
        assert process.alive, process.log_tail()
        return case.indexed() >= EVENTS

    wait_for(drained, 600, interval=2, what=f"{EVENTS} documents indexed after the restart (have {case.indexed()})")
    wait_checkpointed_at_last_sequence(case)
    assert case.indexed() == EVENTS
    assert case.dead_letters() == 0
    assert wait_ready(process, True, 60)["checks"]["sink:search"] is True
    after = scrape(process)
    assert after["indexed"] == EVENTS and after["checkpoints"] > during["checkpoints"]
    print(f"\noutage: {len(rest)} records ({EVENTS - head_events} events) put in {put_s:.1f}s with the cluster "
          f"down; {blocked['records'] - flowing['records']:.0f} records read and held; peak Python RSS "
          f"{outage_peak:.0f} MB during the outage ({len(samples.rss_mb)} samples overall, peak "
          f"{samples.peak:.0f} MB); metrics flowing={flowing} during={during} after={after}")


# --- issue 7: SIGTERM -----------------------------------------------------------------------------------


def test_sigterm_mid_stream_exits_0_within_the_grace_period_and_a_restart_counts_exactly(case: Case) -> None:
    records = list(corpus.records(seed=29, **MIXED))
    # Small batches, so the signal lands with batches in flight rather than after one big batch per shard.
    kcl = {"max_records": 50}
    first = case.start("worker-a", kcl=kcl)
    grace = case.settings()["pipeline"]["shutdown_grace_s"]
    case.put_records(records)
    wait_indexed(case, EVENTS // 4, timeout=600, processes=[first])

    tree = first.tree()
    signalled = time.monotonic()
    code = first.terminate(timeout=grace + 60)
    exit_s = time.monotonic() - signalled
    at_stop = case.indexed()
    assert code == 0, first.log_tail()
    assert exit_s <= grace, f"exit took {exit_s:.1f}s, over the {grace}s grace period"
    # Children go with it: the multiprocessing forkserver leaves once it reads EOF on its pipe from the dead
    # parent, a moment after it (its own interpreter shutdown), so each gets a few seconds to be gone.
    _, still = psutil.wait_procs([p for p in tree if alive(p)], timeout=10)
    survivors = [p for p in still if alive(p)]
    assert not survivors, f"a child outlived `secstash run`: {[describe(p) for p in survivors]}"
    assert at_stop < EVENTS, "the signal must come mid-stream for this test to mean anything"

    second = case.start("worker-a", kcl=kcl)
    wait_indexed(case, EVENTS, timeout=600, processes=[second])
    wait_checkpointed_at_last_sequence(case)
    assert case.indexed() == EVENTS
    wait_for(lambda: metric(second, "secstash_search_indexed_documents_total") >= EVENTS - at_stop, 60,
             what="the restarted instance's metrics")
    # A graceful stop checkpointed everything it delivered: the restart re-reads nothing already indexed.
    duplicates = second.metric("secstash_search_duplicate_documents_total")
    rearchived = second.metric("secstash_archive_duplicate_records_total")
    signalled = time.monotonic()
    assert second.terminate(timeout=grace + 60) == 0, second.log_tail()
    idle_exit_s = time.monotonic() - signalled
    print(f"\nsigterm: exit 0 after {exit_s:.1f}s (grace {grace}s) with {at_stop} of {EVENTS} indexed; after the "
          f"restart {case.indexed()}; re-read duplicates {duplicates:.0f} documents, {rearchived:.0f} archive "
          f"records; the idle restarted instance exited in {idle_exit_s:.1f}s")
    assert duplicates == 0 and rearchived == 0


# --- a KCL daemon that hangs without exiting ------------------------------------------------------------


def test_a_hung_kcl_daemon_is_killed_and_restarted_and_delivery_resumes(case: Case) -> None:
    """SIGSTOP freezes the JVM as a deadlock would: it still runs, so only its processors' silence tells."""
    stall_timeout_s = 15
    first_half = list(corpus.records(seed=31, total_events=2_000, cwl_batch=100, line_batch=20))
    second_half = list(corpus.records(seed=37, total_events=2_000, cwl_batch=100, line_batch=20))
    process = case.start("worker-a", kcl={"stall_timeout_s": stall_timeout_s})
    case.put_records(first_half)
    wait_indexed(case, 2_000, timeout=300, processes=[process])
    # Empty reads reach the processors of the real daemon (callProcessRecordsEvenForEmptyRecordList).
    wait_for(lambda: metric(process, "secstash_shard_heartbeats_total") >= 2, 60, what="heartbeats of idle shards")

    [jvm] = [p for p in process.tree() if "java" in p.name().lower()]
    jvm.suspend()
    frozen = time.monotonic()
    case.put_records(second_half)
    wait_for(lambda: metric(process, "secstash_kcl_daemon_stalls_total") >= 1, stall_timeout_s + 60,
             what="the frozen daemon found stalled")
    found_s = time.monotonic() - frozen
    # SIGKILL is asynchronous: the stall is counted as the kill is sent, the JVM is gone a moment later.
    wait_for(lambda: not alive(jvm), 30, what="the stalled JVM killed")
    wait_indexed(case, 4_000, timeout=300, processes=[process])
    resumed_s = time.monotonic() - frozen
    assert case.indexed() == 4_000
    assert metric(process, "secstash_kcl_daemon_restarts_total") >= 1
    assert "kcl daemon stalled, killing it" in process.log_path.read_text()
    print(f"\nhung daemon: found stalled {found_s:.1f}s after SIGSTOP (stall timeout {stall_timeout_s}s); all "
          f"4,000 events indexed {resumed_s:.1f}s after it")


# --- issue 7: secrets never reach the logs -------------------------------------------------------------


def test_no_credential_reaches_any_log_through_startup_a_search_outage_and_sigterm(case: Case) -> None:
    """Two runs of one worker, AWS credentials in the environment of both.

    1. Basic auth, and a dead second search node: documents flow through the live node while connection
       errors to the dead one are logged; SIGTERM. (A password in a host URL is refused at start: see
       tests/unit/consumer/test_settings.py.)
    2. An API key, and only the dead node: the sink starts degraded, batches wait, and SIGTERM comes while
       they do (nothing delivered, so nothing checkpointed; the exit must still be clean and in time).
    Then no secret may appear in any log, the KCL daemon's log included, nor in the properties file, nor in
    what /metrics, /readyz and /healthz answer."""
    token = secrets.token_hex(6)
    secret = {name: f"hunter2-{name}-{token}" for name in
              ("search-password", "api-key", "aws-secret-key", "aws-session-token")}
    search = case.sandbox.search
    assert search is not None
    dead = f"127.0.0.1:{closed_port()}"
    records = list(corpus.records(total_events=4000, seed=31, cwl_batch=100, line_batch=20))
    half = len(records) // 2

    def start(**search_settings: Any) -> SecstashProcess:
        with pytest.MonkeyPatch.context() as env:  # only the started process tree sees these
            env.setenv("AWS_SECRET_ACCESS_KEY", secret["aws-secret-key"])
            env.setenv("AWS_SESSION_TOKEN", secret["aws-session-token"])
            # The daemon's INFO lines too reach secstash's log (kcl.log_level): they are checked with it.
            return case.start("worker-a", log_level="debug", kcl={"log_level": "INFO"},
                              search={"health_interval_s": 1.0, "start_timeout_s": 3.0, **search_settings})

    first = start(username="elastic", password=secret["search-password"],
                  hosts=[search.url, f"http://{dead}"])
    case.put_records(records[:half])
    expected = sum(r.events for r in records[:half])
    wait_indexed(case, expected, timeout=300, processes=[first])
    wait_for(lambda: dead in first.log_path.read_text(), 60, what="a connection error to the dead node logged")
    assert first.terminate(timeout=120) == 0, first.log_tail()
    held = checkpoints(case)

    second = start(api_key=secret["api-key"], hosts=[f"http://{dead}"])
    case.put_records(records[half:])
    wait_for(lambda: metric(second, "secstash_records_received_total") > 0
             and metric(second, "secstash_search_in_flight_bytes") > 0, 300, interval=1,
             what="batches read and waiting for the dead cluster")
    endpoints = {path: str(get(second, path)) for path in ("/metrics", "/readyz", "/healthz")}
    grace = case.settings()["pipeline"]["shutdown_grace_s"]
    signalled = time.monotonic()
    code = second.terminate(timeout=grace + 60)
    exit_s = time.monotonic() - signalled
    assert code == 0, second.log_tail()
    assert checkpoints(case) == held, "nothing was delivered in the outage, so no checkpoint may move"
    assert case.indexed() == expected

    files = {}
    for process in case.processes:
        files[process.log_path] = process.log_path.read_text(errors="replace")
        for path in (process.workdir / "run").glob(f"{case.name}.*"):  # the daemon's properties
            files[path] = path.read_text(errors="replace")
    assert sum(p.suffix == ".properties" for p in files) == 2
    # The KCL daemon's output has no file of its own: its lines are in secstash's log, checked below.
    relogged = sum('"logger": "secstash.kcl"' in text or '"logger":"secstash.kcl"' in text for text in files.values())
    assert relogged == 2, "both runs' daemons must have logged through secstash for this test to cover them"
    for path, text in [*files.items(), *endpoints.items()]:
        for name, value in secret.items():
            assert value not in text, f"the {name} leaked into {path}"
    errors = [line for text in files.values() for line in text.splitlines()
              if '"level":"warning"' in line.replace(" ", "") or '"level":"error"' in line.replace(" ", "")]
    assert any(dead in line for line in errors), "the test must have driven connection errors into the logs"
    print(f"\nsecrets: {len(secret)} secrets absent from {len(files)} files "
          f"({sum(len(t) for t in files.values()) // 1024} KiB, {len(errors)} warning/error lines, "
          f"{sum(dead in line for line in errors)} naming the dead node); SIGTERM in the outage: exit 0 "
          f"after {exit_s:.1f}s (grace {grace}s)")
    assert exit_s <= grace, f"exit took {exit_s:.1f}s, over the {grace}s grace period"
