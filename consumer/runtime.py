"""`secstash run` assembled: sinks, parser pool, pipeline, the processors' socket, health endpoints and one
supervised KCL daemon per stream. Start order is outside-in (sinks first, daemons last) so no record is
read before everything that must take it is ready; stop order is the reverse.

Shutdown (SIGTERM/SIGINT), within `pipeline.shutdown_grace_s`:
  1. stop every daemon gracefully: each stops fetching, lets its in-flight `process_records` finish (our
     processors are blocked on delivery, which the still-running pipeline completes), then asks each
     processor to checkpoint (`shutdown_requested`);
  2. refuse new batches, close the sinks (flushing what they hold), the pool and the servers.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from consumer import events, native_path
from consumer.health import HealthServer
from consumer.kcl import properties
from consumer.kcl.daemon import DaemonSupervisor
from consumer.kcl.processor import SOCKET_ENV, STREAM_ENV
from consumer.pipeline import ByteBudget, Delivered, Pipeline
from consumer.pool import IndexNaming, ParserPool, WorkerConfig
from consumer.server import PipelineServer
from consumer.settings import ENV_PREFIX, Settings
from sinks import aws
from sinks.archive.service import ArchiveSink
from sinks.deadletter import DeadLetterSink
from sinks.s3store import LockedObjectStore
from sinks.search.service import SearchSink

log = structlog.get_logger("secstash")
LOGBACK = Path(__file__).parent / "kcl" / "logback.xml"
STOP_RESERVE_S = 3.0  # of pipeline.shutdown_grace_s, kept for the last steps of stop()


@dataclass
class Totals:
    """Running totals of delivered work, per stream (the demo's summary reads them)."""

    records: int = 0
    events: int = 0
    documents: int = 0
    dropped_events: int = 0
    dead_letters: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, _: str, delivered: Delivered) -> None:
        with self.lock:
            self.records += delivered.records
            self.events += delivered.events
            self.documents += delivered.documents
            self.dropped_events += delivered.dropped_events
            self.dead_letters += delivered.dead_letters


def worker_config(s: Settings) -> WorkerConfig:
    """What the parser workers need, each stream's parsing rules and object access by its key: the stream a
    record processor reports (STREAM_ENV), so the records of two streams of one name never share rules."""
    return WorkerConfig(
        parsing={st.key: st.parsing(s.filters) for st in s.streams},
        options=s.pipeline.parse_options(),
        naming=IndexNaming() if s.search.data_streams else IndexNaming(s.search.index_pattern),
        objects=s.object_access(), max_chunk_documents=s.pipeline.max_documents_per_chunk,
        object_retry_budget_s=s.pipeline.object_retry_budget_s,
        parse_timeout_s=s.pipeline.parse_timeout_s, native_records=s.pipeline.native_records,
        bulk_compression=s.search.compression_level if s.search.compress else None,
        bulk_bounds=(s.search.bulk_max_docs, s.search.bulk_max_bytes))


@dataclass(frozen=True)
class DaemonLaunch:
    """One stream's KCL daemon, ready to supervise: its properties file is written."""

    stream: str  # the stream's key: what its processors report, and the supervisor's name
    command: list[str]
    env: dict[str, str]


# A settings override the record processors still read: their own log level.
_PASSED_OVERRIDES = frozenset({"SECSTASH_LOG_LEVEL"})


def daemon_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What a KCL daemon and the record processors it starts inherit: `environ` less secstash's settings
    overrides (`SECSTASH_SEARCH__PASSWORD`, `SECSTASH_SEARCH__API_KEY`, ...: where secrets are given). Neither
    reads settings; the daemon takes its AWS credentials from the AWS_* variables, which stay."""
    sections = Settings.model_fields.keys()
    return {name: value for name, value in environ.items()
            if name.upper() in _PASSED_OVERRIDES or not name.upper().startswith(ENV_PREFIX)
            or name[len(ENV_PREFIX):].lower().partition("__")[0] not in sections}


def daemon_launches(s: Settings, run_dir: Path, socket_path: str, environ: Mapping[str, str]) -> list[DaemonLaunch]:
    """Write each stream's properties file and say how to start its daemon. The file, the processors' stream
    (STREAM_ENV) and the supervisor are named by the stream's key, unique among the streams: two streams of
    one name (two accounts or regions) must not read each other's properties. The properties themselves name
    the real stream (streamName or streamArn)."""
    from consumer.embedded import paths  # located lazily: a container sets SECSTASH_KCL_JARS

    jars = s.kcl.jars_dir or str(paths.kcl_jars_dir())
    disable_cbor = s.aws.endpoint("kinesis") is not None
    launches = []
    for stream in s.streams:
        props = properties.build(s, stream)
        path = properties.write(run_dir / f"{stream.key}.properties", props)
        env = daemon_environment(environ)
        env[SOCKET_ENV] = socket_path
        env[STREAM_ENV] = stream.key
        env.setdefault("SECSTASH_LOG_LEVEL", "warning" if s.log_level != "debug" else "debug")
        command = properties.command_line(s.kcl.java, jars, path, s.kcl.heap_mb, LOGBACK, disable_cbor,
                                          log_level=s.kcl.log_level)
        launches.append(DaemonLaunch(stream.key, command, env))
    return launches


class App:
    def __init__(self, settings: Settings, run_dir: Path | None = None,
                 on_delivered: Callable[[str, Delivered], None] | None = None) -> None:
        self.settings = settings
        self.run_dir = run_dir or Path(settings.pipeline.socket_dir or tempfile.mkdtemp(prefix="secstash-"))
        self.totals = Totals()
        self.latencies: list[float] = []  # seconds from Kinesis arrival to delivery, per record (the demo)
        self._on_delivered = on_delivered
        self._accepting = True
        self._started: list[Any] = []
        self.supervisors: list[DaemonSupervisor] = []
        self.health: HealthServer | None = None

    # --- assembly ----------------------------------------------------------------------------------------

    def _clients(self) -> tuple[Any, Any]:
        region, aws_settings = self.settings.aws.region, self.settings.aws
        return (aws.client("s3", region, aws_settings.endpoint("s3")),
                aws.client("kms", region, aws_settings.endpoint("kms")))

    def start(self) -> None:
        s = self.settings
        threading.Thread(target=self._read_retention, name="stream-retention", daemon=True).start()
        s3, kms = self._clients()
        store = LockedObjectStore(s3, s.archive.bucket, kms_key_id=s.archive.kms_key_id,
                                  retention_days=s.archive.retention_days,
                                  multipart_threshold=s.archive.multipart_threshold_bytes)
        self.store = store
        self.archive = ArchiveSink(s.archive, store, s3, kms=kms)
        self.archive.start()
        self._started.append(self.archive)
        self.dead_letters = DeadLetterSink(store, s.archive.dead_letter_prefix)
        self._started.append(self.dead_letters)  # closed after the search sink, which dead-letters rejects
        self.search = SearchSink(s.search, self.dead_letters, store, s.archive.spill_prefix)
        self.search.start()
        self._started.append(self.search)

        events.objects_from_any_bucket(s.streams_reading_any_bucket())
        events.aws_endpoints_overridden(s.aws.overridden())
        self.pool = ParserPool(worker_config(s), s.pipeline.workers, keep_runs=True)
        self.pipeline = Pipeline(self.pool, self.archive, self.search, self.dead_letters,
                                 ByteBudget(s.pipeline.max_in_flight_bytes), on_delivered=self._delivered)

        self.run_dir.mkdir(parents=True, exist_ok=True)
        socket_path = str(self.run_dir / "pipeline.sock")
        self.server = PipelineServer(socket_path, self.pipeline, accepting=lambda: self._accepting,
                                     on_shard_started=self.archive.shard_started)
        self.server.start()
        if s.metrics.enabled:
            self.health = HealthServer(s.metrics.host, s.metrics.port, self.readiness, self.liveness)
            self.health.start()
        self._start_daemons(socket_path)
        log.info("secstash running", streams=[st.key for st in s.streams], workers=self.pool.workers,
                 metrics_port=self.health.port if self.health else None,
                 native_records=native_path.state(s.pipeline.native_records))

    def _start_daemons(self, socket_path: str) -> None:
        s = self.settings
        for launch in daemon_launches(s, self.run_dir, socket_path, os.environ):
            supervisor = DaemonSupervisor(
                launch.stream, launch.command, launch.env, s.kcl.restart_backoff_initial_s,
                s.kcl.restart_backoff_max_s,
                stop_grace_s=s.kcl.shutdown_grace_ms / 1000 + 10,
                stalled=self.server.shards.stalled, stall_timeout_s=s.kcl.stall_timeout_s,
                relog_from=s.kcl.log_level)
            supervisor.start()
            self.supervisors.append(supervisor)

    def _read_retention(self) -> None:
        """Export each stream's retention beside its lag (the lag alert compares the two). Read through the
        stream's role when it has one; a failure only costs the gauge."""
        s = self.settings
        for stream in s.streams:
            try:
                session = None
                if stream.role_arn:
                    session = aws.assumed_role_session(
                        stream.role_arn, s.stream_region(stream), sts_endpoint=s.aws.endpoint("sts"),
                        session_name=stream.session_name("retention", s.worker_id()),
                        external_id=stream.external_id.get_secret_value() if stream.external_id else None)
                kinesis = aws.client("kinesis", s.stream_region(stream), s.aws.endpoint("kinesis"), session)
                target = {"StreamARN": stream.arn} if stream.arn else {"StreamName": stream.stream_name}
                summary = kinesis.describe_stream_summary(**target)["StreamDescriptionSummary"]
                events.retention_known(stream.key, int(summary["RetentionPeriodHours"]))
            except Exception as exc:  # noqa: BLE001 - best effort: the daemon runs without the gauge
                events.retention_unknown(stream.key, exc)

    def _delivered(self, stream: str, delivered: Delivered) -> None:
        self.totals.add(stream, delivered)
        if len(self.latencies) < 1_000_000:  # bounded: only the demo and tests read it
            self.latencies.extend(delivered.delivered_at - a / 1000 for a in delivered.arrivals_ms)
        if self._on_delivered:
            self._on_delivered(stream, delivered)

    # --- health ------------------------------------------------------------------------------------------

    def liveness(self) -> dict[str, bool]:
        checks = {f"supervisor:{s.stream}": s.alive for s in self.supervisors}
        search = getattr(self, "search", None)
        if search is not None:
            checks["sink:search"] = search.alive()
        return checks

    def readiness(self) -> dict[str, bool]:
        checks = {f"daemon:{s.stream}": s.running for s in self.supervisors}
        checks["sink:search"] = bool(getattr(self, "search", None) and self.search.healthy())
        checks["sink:archive"] = bool(getattr(self, "archive", None) and self.archive.healthy())
        return checks

    # --- shutdown ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        grace = self.settings.pipeline.shutdown_grace_s
        # Daemons and sinks share the grace period less a reserve for what follows them (servers, the
        # parser pool, the interpreter's exit), so the process is gone within the grace period even when a
        # sink waits for a cluster that does not answer.
        deadline = time.monotonic() + max(grace - STOP_RESERVE_S, grace / 2)
        stoppers = [threading.Thread(target=s.stop, name=f"stop-{s.stream}") for s in self.supervisors]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(max(0.0, deadline - time.monotonic()))
        for supervisor in self.supervisors:
            if supervisor.running:
                supervisor.kill()
        self._accepting = False
        for sink in reversed(self._started):
            sink.close(max(0.5, deadline - time.monotonic()))
        if hasattr(self, "server"):
            self.server.stop()
        if hasattr(self, "pool"):
            self.pool.close()
        if self.health:
            self.health.stop()
        log.info("secstash stopped", records=self.totals.records, documents=self.totals.documents)

