"""Notable occurrences of the archive: each function logs once and updates its metric.

Labels: `stream` (configured streams), `kind` (data, manifest), `outcome`, `error_type`: small fixed sets.
Shard ids, keys and error texts go to the log line only. Bytes are counted before compression
(`archived_bytes`: the records' payload) and as stored (`stored_bytes`: what S3 holds).
"""

from __future__ import annotations

from typing import Literal

import structlog
from prometheus_client import Counter, Histogram

log = structlog.get_logger("secstash.archive")

ARCHIVED_RECORDS = Counter("secstash_archive_archived_records_total",
                           "Records stored in the archive (re-read duplicates dropped by the writer excluded)",
                           ["stream"])
ARCHIVED_BYTES = Counter("secstash_archive_archived_bytes_total",
                         "Payload bytes of archived records, before encoding and compression", ["stream"])
OBJECTS = Counter("secstash_archive_objects_total", "Objects written to the archive bucket", ["stream", "kind"])
STORED_BYTES = Counter("secstash_archive_stored_bytes_total", "Bytes written to the archive bucket, as stored",
                       ["stream", "kind"])
DUPLICATES = Counter("secstash_archive_duplicate_records_total",
                     "Records not archived again because the shard's chain already holds them (re-reads)",
                     ["stream"])
CHAIN_LOADS = Counter("secstash_archive_chain_loads_total",
                      "Shard chain heads read from S3 (outcome: found, empty, unsigned)", ["stream", "outcome"])
CHAIN_CONFLICTS = Counter("secstash_archive_chain_conflicts_total",
                          "Manifest keys found taken by another writer of the same shard (lease hand-over)",
                          ["stream"])
ERRORS = Counter("secstash_archive_errors_total", "Batches the archive could not take", ["stream", "error_type"])
DELIVERY_SECONDS = Histogram("secstash_archive_delivery_seconds",
                             "From deliver() to the batch's last manifest entry stored", ["stream"],
                             buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


def object_stored(stream: str, shard: str, kind: Literal["data", "manifest"], key: str, size: int) -> None:
    OBJECTS.labels(stream, kind).inc()
    STORED_BYTES.labels(stream, kind).inc(size)
    log.debug("archive object stored", stream=stream, shard=shard, kind=kind, key=key, size=size)


def batch_archived(stream: str, shard: str, records: int, payload_bytes: int, objects: int, seconds: float) -> None:
    ARCHIVED_RECORDS.labels(stream).inc(records)
    ARCHIVED_BYTES.labels(stream).inc(payload_bytes)
    DELIVERY_SECONDS.labels(stream).observe(seconds)
    log.debug("archive batch stored", stream=stream, shard=shard, records=records, objects=objects,
              seconds=round(seconds, 3))


def duplicates_skipped(stream: str, shard: str, records: int, head_last: str) -> None:
    DUPLICATES.labels(stream).inc(records)
    log.info("archive skipped re-read records", stream=stream, shard=shard, records=records, chain_head=head_last)


def chain_loaded(stream: str, shard: str, head_key: str | None, head_last: str | None, lookups: int) -> None:
    CHAIN_LOADS.labels(stream, "found" if head_key else "empty").inc()
    log.info("archive chain head loaded", stream=stream, shard=shard, manifest=head_key, last=head_last,
             s3_requests=lookups)


def unsigned_head(stream: str, shard: str, manifest_key: str) -> None:
    CHAIN_LOADS.labels(stream, "unsigned").inc()
    log.warning("archive chain head is unsigned though manifests are signed (written before signing was "
                "turned on, or planted): this batch is archived whole, re-read records included; run "
                "`secstash verify` if signing was on before", stream=stream, shard=shard, manifest=manifest_key)


def chain_conflict(stream: str, shard: str, manifest_key: str) -> None:
    CHAIN_CONFLICTS.labels(stream).inc()
    log.warning("archive manifest key taken by another writer; reloading the chain head", stream=stream,
                shard=shard, manifest=manifest_key)


def batch_failed(stream: str, shard: str, error: BaseException) -> None:
    ERRORS.labels(stream, type(error).__name__).inc()
    log.error("archive batch failed", stream=stream, shard=shard, error=type(error).__name__,
              detail=str(error)[:500])


def object_lock_checked(bucket: str, mode: str | None, days: int | None, years: int | None,
                        retention_days: int | None) -> None:
    log.info("archive bucket object lock", bucket=bucket, default_mode=mode, default_days=days,
             default_years=years, retention_days=retention_days)
