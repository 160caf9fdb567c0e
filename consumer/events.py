"""Notable occurrences of the runtime: each function logs (at most) once and updates its metrics, so logs
and metrics never drift apart. Labels come from small fixed sets: stream (configured), dataset
(registered), reason (a fixed vocabulary); shard ids and error texts go to the logs only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

log = structlog.get_logger("secstash")

RECORDS = Counter("secstash_records_received_total", "Kinesis records received", ["stream"])
RECORD_BYTES = Counter("secstash_records_received_bytes_total", "Kinesis record payload bytes received",
                       ["stream"])
EVENTS = Counter("secstash_events_received_total", "log events found in records", ["stream", "dataset"])
DOCUMENTS = Counter("secstash_documents_produced_total", "documents produced by the parsers",
                    ["stream", "dataset"])
NATIVE_RECORDS = Counter("secstash_records_native_total", "records the compiled record path rendered "
                         "(consumer/native_path.py); the others took the Python parsers", ["stream"])
DROPPED = Counter("secstash_events_dropped_total", "events intentionally not indexed (counted, never silent)",
                  ["stream", "reason"])
UNCLAIMED = Counter("secstash_events_unclaimed_total", "CloudWatch Logs events indexed as cloudwatch_logs because "
                    "no detection rule claims their log group, although their content looks like `dataset` "
                    "(streams[].detection_by_content would trust it)", ["stream", "dataset"])
PARSE_FAILURES = Counter("secstash_parse_failures_total", "events or records that failed to parse "
                         "(dead-lettered)", ["stream", "reason"])
OBJECTS_READ = Counter("secstash_s3_objects_read_total", "log objects in S3 read for notifications on the stream",
                       ["stream"])
OBJECT_BYTES = Counter("secstash_s3_object_bytes_total", "bytes of the log objects read (as stored)", ["stream"])
OBJECT_CREDENTIAL_FAILURES = Counter(
    "secstash_s3_reader_credential_failures_total", "batches failed because secstash's own credentials could "
    "not read a log object in S3 (clock skew, a rotated key, STS AssumeRole refused): re-read, not dead-lettered",
    ["stream"])
OBJECT_READ_FAILURES = Counter(
    "secstash_s3_object_read_failures_total", "transient failures reading a log object in S3 (throttling, 5xx, "
    "network), each failing its batch; given_up=true: pipeline.object_retry_budget_s ran out and the object's "
    "pointer is read once more, then dead-lettered (object_retries_exhausted)", ["stream", "given_up"])
BATCHES = Counter("secstash_batches_total", "record batches handled, by outcome", ["stream", "outcome"])
BATCH_SECONDS = Histogram("secstash_batch_delivery_seconds", "time from receiving a batch to every sink "
                          "holding it", ["stream"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900))
LATENCY = Histogram("secstash_end_to_end_latency_seconds", "Kinesis arrival to delivery, per batch (its "
                    "oldest record)", ["stream"], buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600))
LAG = Gauge("secstash_checkpoint_lag_milliseconds", "MillisBehindLatest of the last batch, largest over the "
            "stream's shards held here", ["stream"])
RETENTION = Gauge("secstash_stream_retention_hours", "the stream's retention period, to compare lag with",
                  ["stream"])
SHARDS = Gauge("secstash_shards_held", "shards whose record processor is connected", ["stream"])
CHECKPOINTS = Counter("secstash_checkpoints_total", "checkpoints written after delivery", ["stream"])
INFLIGHT = Gauge("secstash_inflight_bytes", "raw record bytes admitted and not yet delivered")
INFLIGHT_LIMIT = Gauge("secstash_inflight_bytes_limit", "the in-flight bytes cap (pipeline.max_in_flight_bytes)")
QUEUE = Gauge("secstash_queue_depth", "work waiting, by queue", ["queue"])
DAEMON_UP = Gauge("secstash_kcl_daemon_up", "1 while the stream's KCL daemon runs", ["stream"])
DAEMON_RESTARTS = Counter("secstash_kcl_daemon_restarts_total", "KCL daemon exits followed by a restart",
                          ["stream"])
DAEMON_STALLS = Counter("secstash_kcl_daemon_stalls_total", "KCL daemons killed because a held shard's processor "
                        "was not called for kcl.stall_timeout_s (each also counts as a restart)", ["stream"])
HEARTBEATS = Counter("secstash_shard_heartbeats_total", "empty reads of held shards reported by their processors "
                     "(at most one per shard every few seconds)", ["stream"])
POOL_RESULTS = Counter("secstash_parser_pool_results_total", "chunk results handed back by parser workers, by way: "
                       "slot (shared memory) or pipe (larger than a slot, every slot held, or no memfd)", ["via"])
POOL_RESTARTS = Counter("secstash_parser_pool_restarts_total", "parser pool rebuilt after a worker died")
WORKERS_HUNG = Counter("secstash_parser_workers_killed_total", "parser workers killed because one record kept them "
                       "past its wall-clock deadline (consumer.hang_watch); the record is dead-lettered as parse_timeout")


def daemon_started(stream: str, pid: int) -> None:
    DAEMON_UP.labels(stream).set(1)
    log.info("kcl daemon started", stream=stream, pid=pid)


def daemon_down(stream: str) -> None:
    DAEMON_UP.labels(stream).set(0)


def daemon_exited(stream: str, code: int, restart_in_s: float, log_tail: list[str] | None = None) -> None:
    DAEMON_UP.labels(stream).set(0)
    DAEMON_RESTARTS.labels(stream).inc()
    log.warning("kcl daemon exited, restarting", stream=stream, exit_code=code, restart_in_s=round(restart_in_s, 2),
                log_tail=log_tail or [])


def daemon_not_started(stream: str, error: BaseException, restart_in_s: float) -> None:
    DAEMON_UP.labels(stream).set(0)
    DAEMON_RESTARTS.labels(stream).inc()
    log.error("kcl daemon could not be started, retrying", stream=stream, error=f"{type(error).__name__}: {error}",
              restart_in_s=round(restart_in_s, 2))


def daemon_stalled(stream: str, shards: list[str], silent_for_s: float) -> None:
    DAEMON_STALLS.labels(stream).inc()
    log.error("kcl daemon stalled, killing it", stream=stream, shards=shards[:20], silent_for_s=silent_for_s)


_kcl_log = structlog.get_logger("secstash.kcl")
_KCL_METHODS = {"TRACE": "debug", "DEBUG": "debug", "INFO": "info", "WARN": "warning", "ERROR": "error"}


def daemon_logged(stream: str, level: str, message: str, fields: Mapping[str, Any]) -> None:
    """A line of a KCL daemon's own log (level UNKNOWN: output outside logback, e.g. a JVM crash), logged
    again at its level; scrubbed of secrets like every line (consumer/logs.py)."""
    details = {key: value for key, value in fields.items() if value is not None}
    getattr(_kcl_log, _KCL_METHODS.get(level, "warning"))(message, logger="secstash.kcl", stream=stream,
                                                         kcl_level=level, **details)


def daemon_stopped(stream: str, code: int) -> None:
    DAEMON_UP.labels(stream).set(0)
    log.info("kcl daemon stopped", stream=stream, exit_code=code)


_lag_by_shard: dict[str, dict[str, int]] = {}


def batch_received(stream: str, shard: str, records: int, raw_bytes: int, lag_ms: int | None) -> None:
    RECORDS.labels(stream).inc(records)
    RECORD_BYTES.labels(stream).inc(raw_bytes)
    _lag(stream, shard, lag_ms)


def heartbeat(stream: str, shard: str, lag_ms: int | None) -> None:
    """An empty read of a held shard: its processor is alive, and the shard's lag is current even when idle."""
    HEARTBEATS.labels(stream).inc()
    _lag(stream, shard, lag_ms)


def _lag(stream: str, shard: str, lag_ms: int | None) -> None:
    if lag_ms is not None:
        # The stream is as far behind as its slowest shard held here.
        lags = _lag_by_shard.setdefault(stream, {})
        lags[shard] = lag_ms
        LAG.labels(stream).set(max(lags.values()))


def shard_released(stream: str, shard: str) -> None:
    lags = _lag_by_shard.get(stream, {})
    lags.pop(shard, None)
    LAG.labels(stream).set(max(lags.values(), default=0))


def retention_known(stream: str, hours: int) -> None:
    RETENTION.labels(stream).set(hours)


def retention_unknown(stream: str, error: BaseException) -> None:
    log.warning("stream retention unknown; the lag alert compares against it", stream=stream,
                error=type(error).__name__, detail=str(error)[:300])


def batch_parsed(stream: str, events_by_dataset: Mapping[str, int], documents_by_dataset: Mapping[str, int],
                 dropped: Mapping[str, int], failures: Mapping[str, int], objects_read: int = 0,
                 object_bytes: int = 0, unclaimed: Mapping[str, int] | None = None,
                 unclaimed_groups: Mapping[str, str] | None = None, native_records: int = 0) -> None:
    if native_records:
        NATIVE_RECORDS.labels(stream).inc(native_records)
    if unclaimed:
        for dataset, count in unclaimed.items():
            UNCLAIMED.labels(stream, dataset).inc(count)
    if unclaimed_groups:
        unclaimed_log_groups(stream, unclaimed_groups)
    if objects_read:
        OBJECTS_READ.labels(stream).inc(objects_read)
        OBJECT_BYTES.labels(stream).inc(object_bytes)
    for dataset, count in events_by_dataset.items():
        EVENTS.labels(stream, dataset).inc(count)
    for dataset, count in documents_by_dataset.items():
        DOCUMENTS.labels(stream, dataset).inc(count)
    for reason, count in dropped.items():
        DROPPED.labels(stream, reason).inc(count)
    for reason, count in failures.items():
        PARSE_FAILURES.labels(stream, reason).inc(count)


_unclaimed_seen: set[tuple[str, str]] = set()
UNCLAIMED_GROUPS_LOGGED = 1000  # log groups named in the log per process; the metric counts on past them


def unclaimed_log_groups(stream: str, groups: Mapping[str, str]) -> None:
    """Once per (stream, log group) and process: the group is no detection rule's, and events of it that look
    like a security dataset are indexed as cloudwatch_logs. Bounded: a writer inventing groups cannot flood."""
    for group, dataset in groups.items():
        key = (stream, group)
        if key in _unclaimed_seen:
            continue
        if len(_unclaimed_seen) >= UNCLAIMED_GROUPS_LOGGED:
            return
        _unclaimed_seen.add(key)
        # Bounded here (once per group, at most UNCLAIMED_GROUPS_LOGGED): the rate limit, keyed by the message,
        # would drop every other group named within its interval, and this one is never named again.
        log.warning("events that look like a security dataset came from a log group no detection rule claims; "
                    "indexed as cloudwatch_logs", stream=stream, log_group=group[:512], looks_like=dataset,
                    hint="if AWS writes this group, claim it: streams[].detection: [{log_group: <group>, "
                         "dataset: <dataset>}]", rate_limited=False)
        if len(_unclaimed_seen) == UNCLAIMED_GROUPS_LOGGED:
            log.warning("no further unclaimed log groups will be logged by this process; "
                        "secstash_events_unclaimed_total still counts their events", stream=stream)


def batch_delivered(stream: str, seconds: float, oldest_arrival_age_s: float) -> None:
    BATCHES.labels(stream, "delivered").inc()
    BATCH_SECONDS.labels(stream).observe(seconds)
    LATENCY.labels(stream).observe(max(0.0, oldest_arrival_age_s))


def batch_failed(stream: str, shard: str, error: BaseException) -> None:
    from consumer.object_errors import ReaderCredentialsFailed

    BATCHES.labels(stream, "failed").inc()
    log.error("batch not delivered; the shard will be re-read from its checkpoint", stream=stream, shard=shard,
              error=type(error).__name__, detail=str(error)[:500])
    if isinstance(error, ReaderCredentialsFailed):
        object_reader_credentials_failed(stream, shard, error.code, error.operation)


def object_reader_credentials_failed(stream: str, shard: str, code: str, operation: str) -> None:
    """secstash's own identity, not the object, failed a read: the operator must act (clock, keys, role
    trust); until then the shard is re-read and nothing is dead-lettered. Code and operation only: never the
    credentials, nor the service's message."""
    OBJECT_CREDENTIAL_FAILURES.labels(stream).inc()
    log.error("s3 log objects cannot be read with secstash's own credentials; the shard is re-read until they "
              "work", stream=stream, shard=shard, code=code, operation=operation)


def object_read_failed(stream: str, location: str, failing_for_s: float, budget_s: float, given_up: bool) -> None:
    """A log object failed to read transiently; its batch fails (re-read), or, past the budget, its pointer is
    read one last time and dead-lettered."""
    OBJECT_READ_FAILURES.labels(stream, "true" if given_up else "false").inc()
    if given_up:
        log.error("s3 log object kept failing for pipeline.object_retry_budget_s; reading it once more, then "
                  "dead-lettering its pointer so the shard goes on", stream=stream, object=location,
                  failing_for_s=round(failing_for_s, 1), budget_s=budget_s)
    else:
        log.warning("s3 log object could not be read; the batch fails and is read again", stream=stream,
                    object=location, failing_for_s=round(failing_for_s, 1), budget_s=budget_s)


def objects_from_any_bucket(streams: list[str]) -> None:
    """Streams with no s3_objects.buckets read whatever bucket their notifications name (IAM alone bounds it)."""
    if streams:
        log.warning("streams read log objects from any bucket their notifications name: whoever writes to "
                    "them chooses what secstash reads; list the log buckets in s3_objects.buckets", streams=streams)


def aws_endpoints_overridden(endpoints: dict[str, str]) -> None:
    """aws.*endpoint* settings send AWS calls (signed, with the data) somewhere other than AWS: right for local
    emulators, never in production, where one set by a stray SECSTASH_AWS__... variable would otherwise pass
    unseen."""
    if endpoints:
        log.warning("AWS endpoints overridden: calls go to these instead of AWS (local emulators only)",
                    endpoints=endpoints, plain_http=sorted(k for k, v in endpoints.items() if v.startswith("http:")))


def shard_event(stream: str, shard: str, event: str, position: str | None) -> None:
    if event == "checkpointed":
        CHECKPOINTS.labels(stream).inc()
        log.debug("checkpointed", stream=stream, shard=shard, position=position)
    else:
        log.info("shard " + event.replace("_", " "), stream=stream, shard=shard, position=position)


def parser_worker_hung(pid: int, late_s: float) -> None:
    WORKERS_HUNG.inc()
    log.error("parser worker stuck on one record past its deadline, killing it", pid=pid, late_s=late_s)


def pool_restarted(error: BaseException) -> None:
    POOL_RESTARTS.inc()
    log.error("parser worker died; pool rebuilt", error=type(error).__name__, detail=str(error)[:300])
