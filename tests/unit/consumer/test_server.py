"""The processors' socket: which shards are held, when each was last heard from, and what a stall is."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from consumer import events
from consumer.server import PipelineServer, ShardRegistry

SHARD_A, SHARD_B = "shardId-000000000001", "shardId-000000000002"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_shard_is_stalled_once_silent_for_the_timeout_with_no_batch_in_the_pipeline() -> None:
    clock = Clock()
    registry = ShardRegistry(clock)
    registry.add("logs", SHARD_A, owner="a")
    registry.add("logs", SHARD_B, owner="b")
    delivery = registry.delivering("logs", SHARD_A)
    clock.now = 102.0
    delivery.__enter__()  # a slow sink holds A's batch for a long time: the daemon is not what waits
    clock.now = 108.0
    registry.heard("logs", SHARD_B)
    clock.now = 115.0
    assert registry.stalled("logs", 10.0, registered_since=0.0) == []
    clock.now = 130.0
    assert registry.stalled("logs", 10.0, registered_since=0.0) == [SHARD_B]
    delivery.__exit__(None, None, None)  # delivered at 130: heard then
    clock.now = 139.0
    assert registry.stalled("logs", 10.0, registered_since=0.0) == [SHARD_B]
    clock.now = 140.0
    assert registry.stalled("logs", 10.0, registered_since=0.0) == [SHARD_A, SHARD_B]
    # Only shards registered by the daemon running now count.
    assert registry.stalled("logs", 10.0, registered_since=100.5) == []
    assert registry.stalled("other", 10.0, registered_since=0.0) == []


def test_a_closing_old_connection_leaves_the_new_processor_of_its_shard_registered() -> None:
    registry = ShardRegistry()
    registry.add("relet", SHARD_A, owner="old processor")
    registry.add("relet", SHARD_A, owner="new processor")  # a restarted daemon's, before the old one closed
    events.batch_received("relet", SHARD_A, 1, 10, lag_ms=5_000)
    registry.remove("relet", SHARD_A, owner="old processor")
    assert registry.held("relet") == {SHARD_A}
    assert REGISTRY.get_sample_value("secstash_checkpoint_lag_milliseconds", {"stream": "relet"}) == 5_000
    registry.remove("relet", SHARD_A, owner="new processor")
    assert registry.held("relet") == set()
    assert REGISTRY.get_sample_value("secstash_checkpoint_lag_milliseconds", {"stream": "relet"}) == 0


def test_a_heartbeat_keeps_an_idle_shard_alive_and_its_lag_current(tmp_path: Path) -> None:
    clock = Clock()
    server = PipelineServer(str(tmp_path / "p.sock"), pipeline=None)  # type: ignore[arg-type] - no batch here
    server.shards = ShardRegistry(clock)
    try:
        def send(op: str, **fields: object) -> dict:
            return server.dispatch({"op": op, "stream": "idle", "shard": SHARD_A, **fields}, owner="conn")

        assert send("lifecycle", event="initialize") == {"ok": True}
        events.batch_received("idle", SHARD_A, 1, 10, lag_ms=60_000)
        before = REGISTRY.get_sample_value("secstash_shard_heartbeats_total", {"stream": "idle"}) or 0.0
        clock.now = 120.0
        assert send("heartbeat", lag_ms=0) == {"ok": True}
        clock.now = 125.0
        assert server.shards.stalled("idle", 10.0, registered_since=0.0) == []
        assert REGISTRY.get_sample_value("secstash_checkpoint_lag_milliseconds", {"stream": "idle"}) == 0
        assert REGISTRY.get_sample_value("secstash_shard_heartbeats_total", {"stream": "idle"}) == before + 1
        clock.now = 131.0
        assert server.shards.stalled("idle", 10.0, registered_since=0.0) == [SHARD_A]
        assert send("lifecycle", event="lease_lost") == {"ok": True}
        assert server.shards.held("idle") == set()
    finally:
        server.server_close()
