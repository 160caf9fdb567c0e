"""Is the cluster there, and can it take writes? One `_cluster/health` request, judged by a pure function."""

from __future__ import annotations

from dataclasses import dataclass

from sinks.search.client import Reply, SearchClient, Unreachable


@dataclass(frozen=True, slots=True)
class Health:
    answered: bool  # the cluster answered at all (what `SearchSink.healthy()` reports)
    status: str | None  # green / yellow / red, when readable
    detail: str

    @property
    def usable(self) -> bool:
        """Good enough to leave spill mode and redrive: answered, not red, not failing with 5xx."""
        return self.answered and self.status != "red" and not self.detail.startswith("http 5")


def judge(reply: Reply) -> Health:
    if reply.ok and isinstance(reply.body, dict) and "status" in reply.body:
        status = str(reply.body["status"])
        return Health(True, status, f"status {status}")
    # 401/403: a writer without `monitor` cannot read health; 404: Serverless has no such API. The cluster
    # answered, so it is there; bulk replies tell the rest.
    return Health(True, None, f"http {reply.status}")


def check(client: SearchClient, timeout_s: float = 5.0) -> Health:
    try:
        reply = client.request("GET", "/_cluster/health", timeout=timeout_s)
    except Unreachable as exc:
        return Health(False, None, str(exc))
    except Exception as exc:  # noqa: BLE001 - a proxy's HTML page, a client bug: not a cluster that answered
        return Health(False, None, f"unreadable answer: {type(exc).__name__}: {exc}"[:300])
    return judge(reply)
