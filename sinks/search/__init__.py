"""Elasticsearch / OpenSearch sink: bulk `create` with deterministic ids, per-item retries, dead letters,
spill to the archive bucket and its redrive. See docs/search-sink.md.

    SearchSink(settings, dead_letters, spill_store, spill_prefix).deliver([BulkItem, ...]) -> Future[None]
    SearchSettings                        the `search:` settings section
"""

from __future__ import annotations

from typing import Any

from sinks.search.config import SearchSettings

__all__ = ["SearchSettings", "SearchSink", "Stats"]


def __getattr__(name: str) -> Any:
    # The service pulls in the HTTP clients; loading settings should not.
    if name in ("SearchSink", "Stats"):
        from sinks.search import service

        return getattr(service, name)
    raise AttributeError(name)
