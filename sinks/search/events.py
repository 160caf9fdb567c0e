"""Notable occurrences of the search sink: each function logs once (or not at all, for per-request
successes) and updates its metric, so logs and metrics never drift apart.

Metrics (labels are small fixed sets: dataset, reason, outcome, status class, origin, feature):

    secstash_search_indexed_documents_total{dataset}              created (201)
    secstash_search_duplicate_documents_total{dataset}            409 on create: already there, delivered
    secstash_search_retried_documents_total{dataset,reason}       items sent again (429, 5xx, timeout, ...)
    secstash_search_blocked_documents_total{dataset}              items refused by an index block (403/429
                                                                  cluster_block_exception); alert on its rate
    secstash_search_index_blocked                                 gauge: 1 while the last reply had a block
    secstash_search_dead_lettered_documents_total{dataset,reason} permanently refused, written to dead-letter
    secstash_search_spilled_documents_total{dataset}              written to the spill prefix after spill_after
    secstash_search_spilled_objects_total                         spill objects written
    secstash_search_redriven_documents_total{origin}              re-sent from spill or dead-letter, delivered
    secstash_search_redriven_objects_total                        spill objects fully redriven
    secstash_search_bulk_requests_total{outcome}                  ok / item_errors / http_<class> / unreachable
    secstash_search_sent_bytes_total                              NDJSON bytes sent, before compression
    secstash_search_bulk_duration_seconds                         histogram of bulk round trips
    secstash_search_in_flight_bytes                               gauge: accepted, not yet delivered
    secstash_search_waiting_for_room                              gauge: batches waiting for in-flight bytes to
                                                                  drop below max_in_flight_bytes (unparsed, or
                                                                  parsed and not yet accepted)
    secstash_search_spilling                                      gauge: 1 while new documents go to spill
    secstash_search_healthy                                       gauge: 1 when the last health check answered
    secstash_search_setup_skipped_total{feature}                  capabilities the cluster lacks (warned once)
"""

from __future__ import annotations

from collections import Counter as Tally

import structlog
from prometheus_client import Counter, Gauge, Histogram

log = structlog.get_logger("secstash.sinks.search")

INDEXED = Counter("secstash_search_indexed_documents_total", "documents created in the cluster", ["dataset"])
DUPLICATES = Counter("secstash_search_duplicate_documents_total",
                     "documents the cluster already had (409 on create); delivered", ["dataset"])
RETRIED = Counter("secstash_search_retried_documents_total", "documents sent again after a transient refusal",
                  ["dataset", "reason"])
BLOCKED = Counter("secstash_search_blocked_documents_total",
                  "documents refused by an index block (read-only, flood-stage disk); retried", ["dataset"])
BLOCK_ACTIVE = Gauge("secstash_search_index_blocked", "1 while the latest bulk reply carried an index block")
DEAD_LETTERED = Counter("secstash_search_dead_lettered_documents_total",
                        "documents permanently refused, written to the dead-letter prefix", ["dataset", "reason"])
SPILLED = Counter("secstash_search_spilled_documents_total",
                  "documents written to the spill prefix after spill_after", ["dataset"])
SPILL_OBJECTS = Counter("secstash_search_spilled_objects_total", "spill objects written")
REDRIVEN = Counter("secstash_search_redriven_documents_total", "re-sent documents now delivered", ["origin"])
REDRIVEN_OBJECTS = Counter("secstash_search_redriven_objects_total", "spill objects fully redriven")
REQUESTS = Counter("secstash_search_bulk_requests_total", "bulk requests by outcome", ["outcome"])
SENT_BYTES = Counter("secstash_search_sent_bytes_total", "NDJSON bytes sent in bulk requests, before compression")
DURATION = Histogram("secstash_search_bulk_duration_seconds", "bulk request round trip",
                     buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
IN_FLIGHT = Gauge("secstash_search_in_flight_bytes", "document bytes accepted and not yet delivered")
WAITING = Gauge("secstash_search_waiting_for_room", "batches waiting for the search sink's in-flight bytes to drop "
                "below max_in_flight_bytes: before parsing a round, or with its documents parsed")
SPILLING = Gauge("secstash_search_spilling", "1 while documents go to the spill prefix instead of the cluster")
HEALTHY = Gauge("secstash_search_healthy", "1 when the latest cluster health check answered")
SKIPPED = Counter("secstash_search_setup_skipped_total", "setup steps the cluster cannot do", ["feature"])


def bulk_sent(outcome: str, raw_bytes: int, seconds: float) -> None:
    REQUESTS.labels(outcome).inc()
    SENT_BYTES.inc(raw_bytes)
    DURATION.observe(seconds)


def documents_done(indexed: Tally[str], duplicates: Tally[str]) -> None:
    for dataset, n in indexed.items():
        INDEXED.labels(dataset).inc(n)
    for dataset, n in duplicates.items():
        DUPLICATES.labels(dataset).inc(n)


def documents_retried(counts: Tally[tuple[str, str]], attempt: int, sample: str) -> None:
    """`counts` by (dataset, reason); one log line per bulk reply, with one error as a sample."""
    if not counts:
        return
    for (dataset, reason), n in counts.items():
        RETRIED.labels(dataset, reason).inc(n)
    log.warning("search documents retried", documents=sum(counts.values()),
                reasons=sorted({r for _, r in counts}), attempt=attempt, sample=sample[:300])


_block_active = False  # the gauge's value, readable: log on transitions, not on every reply


def documents_blocked(counts: Tally[str], sample: str) -> None:
    global _block_active
    for dataset, n in counts.items():
        BLOCKED.labels(dataset).inc(n)
    if counts:
        if not _block_active:
            log.error("search index write blocked", documents=sum(counts.values()), detail=sample[:300])
        _block_active = True
        BLOCK_ACTIVE.set(1)


def block_cleared() -> None:
    global _block_active
    if _block_active:
        log.info("search index block cleared")
    _block_active = False
    BLOCK_ACTIVE.set(0)


def documents_dead_lettered(dataset: str, reason: str, count: int, sample: str) -> None:
    DEAD_LETTERED.labels(dataset, reason).inc(count)
    log.error("search documents dead-lettered", dataset=dataset, reason=reason, documents=count,
              sample=sample[:300])


def request_unreachable(reason: str, documents: int, detail: str) -> None:
    REQUESTS.labels("unreachable").inc()
    log.warning("search cluster unreachable", reason=reason, documents=documents, detail=detail[:300])


def request_refused(status: int, reason: str, documents: int, detail: str) -> None:
    REQUESTS.labels(f"http_{status // 100}xx").inc()
    log.warning("search bulk request refused", status=status, reason=reason, documents=documents,
                detail=detail[:300])


def request_split(documents: int) -> None:
    log.warning("search bulk request too large, splitting", documents=documents)


def spill_started(oldest_age_s: float, pending: int) -> None:
    SPILLING.set(1)
    log.error("search spill started", oldest_age_s=round(oldest_age_s, 1), pending_documents=pending)


def spill_stopped() -> None:
    SPILLING.set(0)
    log.info("search spill stopped: cluster healthy again")


def spilled(key: str, counts: Tally[str], raw_bytes: int) -> None:
    for dataset, n in counts.items():
        SPILLED.labels(dataset).inc(n)
    SPILL_OBJECTS.inc()
    log.warning("search documents spilled", key=key, documents=sum(counts.values()), bytes=raw_bytes)


def redriven(origin: str, documents: int, key: str | None = None) -> None:
    REDRIVEN.labels(origin).inc(documents)
    if origin == "spill":
        REDRIVEN_OBJECTS.inc()
    log.info("search documents redriven", origin=origin, documents=documents, key=key)


def redrive_failed(key: str, error: BaseException) -> None:
    log.warning("search spill redrive failed, will retry", key=key, error=type(error).__name__,
                detail=str(error)[:300])


def health_changed(healthy: bool, detail: str) -> None:
    HEALTHY.set(1 if healthy else 0)
    if healthy:
        log.info("search cluster healthy", detail=detail)
    else:
        log.warning("search cluster unhealthy", detail=detail[:300])


def in_flight(nbytes: int) -> None:
    IN_FLIGHT.set(nbytes)


def waiting_for_room(change: int) -> None:
    WAITING.inc(change)


def connected(server: str, client: str, hosts: list[str]) -> None:
    log.info("search cluster connected", server=server, client=client, hosts=hosts)


def start_degraded(detail: str) -> None:
    HEALTHY.set(0)
    log.error("search cluster not reachable at start; documents wait (and spill) until it is", detail=detail[:300])


def tls_unverified(hosts: list[str]) -> None:
    log.warning("search TLS verification is off: the cluster's identity is not checked", hosts=hosts)


def credentials_in_clear(hosts: list[str]) -> None:
    log.warning("search credentials go to plain http:// hosts: anyone on the path can read them", hosts=hosts)


def outside_logs_view(index_pattern: str) -> None:
    log.warning("search plain indices are outside logs-*: Elastic's detection rules (logs-aws.*) and dashboards "
                "(the logs-* data view) will not see them; use an index_pattern starting with logs- or add the "
                "pattern to the rules' and data view's index patterns (docs/search-sink.md)",
                index_pattern=index_pattern)


def setup_skipped(feature: str, detail: str) -> None:
    SKIPPED.labels(feature).inc()
    log.warning("search setup step skipped: the cluster cannot do it", feature=feature, detail=detail[:300])


def templates_installed(component: int, index: int, lifecycle: str | None) -> None:
    log.info("search templates installed", component_templates=component, index_templates=index,
             lifecycle=lifecycle)


def setup_failed(detail: str) -> None:
    log.error("search sink setup failed; retrying", detail=detail[:500])


def callback_failed(what: str, error: BaseException) -> None:
    log.error("search sink callback failed; its documents' delivery fails", callback=what,
              error=type(error).__name__, detail=str(error)[:300], exc_info=error)


def worker_failed(error: BaseException) -> None:
    log.error("search worker failed; its batch is retried", error=type(error).__name__, detail=str(error)[:300],
              exc_info=error)
