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
from pathlib import Path
from typing import Any

import pytest

from consumer import corpus
from consumer.sandbox import wait_for
from tests.e2e.conftest import Case, SecstashProcess, wait_indexed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENTS = 20_000
MIXED = dict(total_events=EVENTS, cwl_batch=100, line_batch=20)  # ~850 records: quick for the emulator
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
    first = case.start("worker-a")
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
    assert not [p for p in tree if p.is_running()], "a child outlived `secstash run`"

    second = case.start("worker-a")
    wait_indexed(case, EVENTS, timeout=600, processes=[second])
    wait_checkpointed_at_last_sequence(case)
    assert case.indexed() == EVENTS
    # A graceful stop checkpointed everything it delivered: the restart re-reads nothing already indexed.
    duplicates = second.metric("secstash_search_duplicate_documents_total")
    rearchived = second.metric("secstash_archive_duplicate_records_total")
    restart_code = second.terminate(timeout=grace + 60)
    assert restart_code == 0, second.log_tail()
    print(f"\nsigterm: exit 0 after {exit_s:.1f}s (grace {grace}s) with {at_stop} of {EVENTS} indexed; "
          f"after restart {case.indexed()}; re-read duplicates: {duplicates:.0f} documents, "
          f"{rearchived:.0f} archive records")
    assert duplicates == 0 and rearchived == 0


# --- issue 7: secrets never reach the logs -------------------------------------------------------------


def test_credentials_in_the_settings_and_environment_never_reach_any_log(case: Case, tmp_path: Path) -> None:
    """Two runs of one worker: basic auth (and a password in a host URL) then an API key, each with AWS
    credentials in the environment and a dead search node among the hosts, so connection errors are logged
    while documents still flow through the live one; each run starts, indexes, and stops on SIGTERM."""
    token = secrets.token_hex(6)
    secret = {name: f"hunter2-{name}-{token}" for name in
              ("search-password", "url-password", "api-key", "aws-secret-key", "aws-session-token")}
    search = case.sandbox.search
    assert search is not None
    dead = closed_port()
    records = list(corpus.records(total_events=4000, seed=31, cwl_batch=100, line_batch=20))
    half = len(records) // 2
    runs = [
        ({"username": "elastic", "password": secret["search-password"],
          "hosts": [search.url, f"http://elastic:{secret['url-password']}@127.0.0.1:{dead}"]}, records[:half]),
        ({"api_key": secret["api-key"], "hosts": [search.url, f"http://127.0.0.1:{dead}"]}, records[half:]),
    ]
    expected = 0
    for auth, batch in runs:
        with pytest.MonkeyPatch.context() as env:  # only the started process tree sees these
            env.setenv("AWS_SECRET_ACCESS_KEY", secret["aws-secret-key"])
            env.setenv("AWS_SESSION_TOKEN", secret["aws-session-token"])
            process = case.start("worker-a", log_level="debug", search={**auth, "health_interval_s": 1.0})
        case.put_records(batch)
        expected += sum(r.events for r in batch)
        wait_indexed(case, expected, timeout=300, processes=[process])
        wait_for(lambda: f"127.0.0.1:{dead}" in process.log_path.read_text(), 60,
                 what="a connection error to the dead search node in the log")
        assert process.terminate(timeout=120) == 0, process.log_tail()

    logs = {}
    for process in case.processes:
        logs[process.log_path] = process.log_path.read_text(errors="replace")
        for path in (process.workdir / "run").glob(f"{case.name}.*"):  # KCL daemon log, properties file
            logs[path] = path.read_text(errors="replace")
    assert any(p.name.endswith(".kcl.log") for p in logs) and any(p.name.endswith(".properties") for p in logs)
    for path, text in logs.items():
        for name, value in secret.items():
            assert value not in text, f"the {name} leaked into {path}"
    assert case.indexed() == expected
    everything = "\n".join(logs.values())
    print(f"\nsecrets: {len(secret)} secrets absent from {len(logs)} files "
          f"({sum(len(t) for t in logs.values()) // 1024} KiB; "
          f"{everything.count('unreachable')} 'unreachable' mentions, "
          f"{everything.count(f'127.0.0.1:{dead}')} mentions of the dead node)")
