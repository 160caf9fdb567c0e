"""The health endpoints and the shard registry behind the pipeline server's gauges."""

from __future__ import annotations

import urllib.error
import urllib.request

import orjson
from prometheus_client import REGISTRY

from consumer import events
from consumer.health import HealthServer
from consumer.server import ShardRegistry


def get(server: HealthServer, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as reply:
            return reply.status, orjson.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def test_healthz_fails_once_a_thread_that_keeps_the_process_going_has_died() -> None:
    checks = {"supervisor:logs": True, "sink:search": True}
    server = HealthServer("127.0.0.1", 0, readiness=lambda: {"daemon:logs": False}, liveness=lambda: dict(checks))
    server.start()
    try:
        assert get(server, "/healthz") == (200, {"status": "alive", "checks": checks})
        assert get(server, "/readyz")[0] == 503  # not ready is not dead: a search outage must not restart it
        checks["supervisor:logs"] = False
        assert get(server, "/healthz") == (503, {"status": "dead", "checks": checks})
    finally:
        server.stop()


def test_a_shard_whose_processor_went_away_no_longer_reports_its_lag() -> None:
    registry = ShardRegistry()
    registry.add("lagging", "shardId-000000000001")
    events.batch_received("lagging", "shardId-000000000001", 10, 1000, lag_ms=7_200_000)
    assert REGISTRY.get_sample_value("secstash_checkpoint_lag_milliseconds", {"stream": "lagging"}) == 7_200_000
    registry.remove("lagging", "shardId-000000000001")  # its connection dropped: no lifecycle message
    assert REGISTRY.get_sample_value("secstash_checkpoint_lag_milliseconds", {"stream": "lagging"}) == 0
