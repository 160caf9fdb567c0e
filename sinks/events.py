"""Notable occurrences shared by every sink: each function logs once and updates its metric, in one place.

Sink-specific events live beside each sink (`sinks/archive/events.py`, `sinks/search/events.py`).
"""

from __future__ import annotations

import structlog
from prometheus_client import Counter

log = structlog.get_logger("secstash.sinks")

S3_PUT_RETRIES = Counter("secstash_s3_put_retries_total", "S3 writes retried after a transient failure",
                         ["bucket"])


def s3_put_retried(bucket: str, key: str, attempt: int, error: Exception) -> None:
    S3_PUT_RETRIES.labels(bucket).inc()
    log.warning("s3 put retried", bucket=bucket, key=key, attempt=attempt, error=type(error).__name__,
                detail=str(error)[:300])
