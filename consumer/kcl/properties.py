"""The MultiLangDaemon properties file, generated from the settings, one per stream, and checked.

The daemon sets each property through commons-beanutils and only logs a line for a key it does not know,
so a misspelt key silently falls back to a default. Every key written here must be in KNOWN_KEYS, and an
integration test checks KNOWN_KEYS against the setters of the daemon's configuration class in the jars
actually installed (`known_keys_in_jar`).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from consumer.settings import Settings, StreamSettings

# Keys of KCL 3.x's MultiLangDaemonConfiguration (and the polling/fan-out beans it delegates to) that we
# write or allow in kcl.extra_properties. Dotted keys address nested client builders.
KNOWN_KEYS = frozenset({
    "executableName", "applicationName", "streamName", "streamArn", "regionName", "kinesisEndpoint",
    "dynamoDBEndpoint", "AwsCredentialsProvider", "AwsCredentialsProviderDynamoDB",
    "AwsCredentialsProviderCloudWatch", "initialPositionInStream", "retrievalMode", "maxRecords",
    "idleTimeBetweenReadsInMillis", "failoverTimeMillis", "shardSyncIntervalMillis",
    "leaseAssignmentIntervalMillis", "parentShardPollIntervalMillis", "metricsLevel", "disableWorkerMetrics",
    "shutdownGraceMillis", "processingLanguage", "maxLeasesForWorker", "maxLeasesToStealAtOneTime",
    "cleanupLeasesUponShardCompletion", "callProcessRecordsEvenForEmptyRecordList", "workerId",
    "taskBackoffTimeMillis", "metricsBufferTimeMillis", "metricsMaxQueueSize", "logWarningForTaskAfterMillis",
    "validateSequenceNumberBeforeCheckpointing", "retryGetRecordsInSeconds", "maxGetRecordsThreadPool",
    "consumerArn", "consumerName", "cloudWatchClient.endpointOverride", "cloudWatchClient.region",
    "tableName", "clientVersionConfig",
    "workerMetricsReporterFreqInMillis", "inMemoryWorkerMetricsCaptureFrequencyMillis", "reBalanceThresholdPercentage",
    "dampeningPercentage", "varianceBalancingFrequency", "maxThroughputPerHostKBps", "isGracefulLeaseHandoffEnabled",
    "gracefulLeaseHandoffTimeoutMillis", "schedulerInitializationBackoffTimeMillis",
    "skipShardSyncAtWorkerInitializationIfLeasesExist", "leaseTableDeletionProtectionEnabled", "leaseTablePitrEnabled",
    "workerMetricsTableName", "coordinatorStateTableName", "enablePriorityLeaseAssignment",
})
# Read by the daemon itself (MultiLangDaemonConfig), not set on its configuration bean.
DAEMON_KEYS = frozenset({"executableName", "processingLanguage"})
# Setting these would break secstash's contract (e.g. a processing timeout kills a processor that is
# correctly blocked on a slow sink), so extra_properties may not touch them.
RESERVED_KEYS = frozenset({
    "executableName", "applicationName", "streamName", "streamArn", "AwsCredentialsProvider",
    "AwsCredentialsProviderDynamoDB", "AwsCredentialsProviderCloudWatch", "timeoutInSeconds",
    "callProcessRecordsEvenForEmptyRecordList",
})
_VALUE = re.compile(r"^[^\r\n]*$")


class PropertiesError(ValueError):
    pass


def processor_command(python: str | None = None) -> str:
    """What the daemon runs per shard. The daemon splits on spaces, so the interpreter path must have none."""
    python = python or sys.executable
    if " " in python:
        raise PropertiesError(f"the Python interpreter path {python!r} contains a space; the KCL daemon "
                              "splits executableName on spaces: install secstash under a path without spaces")
    return f"{python} -m consumer.kcl.processor"


def build(settings: Settings, stream: StreamSettings, python: str | None = None,
          worker_id: str | None = None) -> dict[str, str]:
    kcl = settings.kcl
    props: dict[str, str] = {
        "executableName": processor_command(python),
        "applicationName": stream.lease_table,
        "regionName": settings.stream_region(stream),
        "initialPositionInStream": stream.initial_position,
        "retrievalMode": "FANOUT" if stream.retrieval_mode == "fanout" else "POLLING",
        "maxRecords": str(kcl.max_records),
        "idleTimeBetweenReadsInMillis": str(kcl.idle_time_between_reads_ms),
        "failoverTimeMillis": str(kcl.failover_time_ms),
        "shardSyncIntervalMillis": str(kcl.shard_sync_interval_ms),
        "leaseAssignmentIntervalMillis": str(kcl.lease_assignment_interval_ms),
        "parentShardPollIntervalMillis": str(kcl.parent_shard_poll_interval_ms),
        "metricsLevel": kcl.metrics_level,
        "shutdownGraceMillis": str(kcl.shutdown_grace_ms),
        # Every read reaches the record processor, records or not: its heartbeats tell a hung daemon (which
        # still runs, so nothing else notices) from an idle stream (consumer.kcl.daemon).
        "callProcessRecordsEvenForEmptyRecordList": "true",
        "processingLanguage": f"python/{sys.version_info.major}.{sys.version_info.minor}",
        # The lease table and metrics stay in this account even when the stream is read through a role.
        "AwsCredentialsProviderDynamoDB": "DefaultCredentialsProvider",
        "AwsCredentialsProviderCloudWatch": "DefaultCredentialsProvider",
    }
    props["disableWorkerMetrics"] = "false" if kcl.worker_metrics else "true"
    props["clientVersionConfig"] = ("CLIENT_VERSION_CONFIG_COMPATIBLE_WITH_2X" if kcl.lease_assignment == "lease_count"
                                    else "CLIENT_VERSION_CONFIG_3X")
    props["workerId"] = worker_id or kcl.worker_id or socket.gethostname()
    if stream.arn:
        props["streamArn"] = stream.arn
    else:
        props["streamName"] = stream.stream_name
    if stream.role_arn:
        # The stream's key, like its files and labels: one stream read under two ids shows as two sessions.
        session = re.sub(r"[^\w+=,.@-]", "-", f"secstash-{stream.key}")[:64]
        props["AwsCredentialsProvider"] = f"KclStsAssumeRoleCredentialsProvider|{stream.role_arn}|{session}"
    else:
        props["AwsCredentialsProvider"] = "DefaultCredentialsProvider"
    if endpoint := settings.aws.endpoint("kinesis"):
        props["kinesisEndpoint"] = endpoint
    if endpoint := settings.aws.endpoint("dynamodb"):
        props["dynamoDBEndpoint"] = endpoint
    if endpoint := settings.aws.endpoint("cloudwatch"):
        props["cloudWatchClient.endpointOverride"] = endpoint
    for key, value in kcl.extra_properties.items():
        if key in RESERVED_KEYS:
            raise PropertiesError(f"kcl.extra_properties.{key}: managed by secstash, cannot be overridden")
        props[key] = value
    check(props)
    return props


def check(props: Mapping[str, str]) -> None:
    for key, value in props.items():
        if key not in KNOWN_KEYS:
            raise PropertiesError(f"kcl property {key!r} is not a known MultiLangDaemon property (misspelt?)")
        if not _VALUE.match(value):
            raise PropertiesError(f"kcl property {key!r} has a line break in its value")
    for required in ("executableName", "applicationName", "regionName"):
        if required not in props:
            raise PropertiesError(f"kcl property {required!r} is required")
    if ("streamName" in props) == ("streamArn" in props):
        raise PropertiesError("exactly one of streamName and streamArn is required")


def render(props: Mapping[str, str]) -> str:
    # java.util.Properties syntax: escape backslashes, and ':'/'=' in keys (values may keep them).
    lines = ["# generated by secstash from its settings; do not edit"]
    for key, value in props.items():
        lines.append(f"{key} = {value.replace(chr(92), chr(92) * 2)}")
    return "\n".join(lines) + "\n"


def write(path: Path, props: Mapping[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(props))
    os.replace(tmp, path)
    return path


def known_keys_in_jar(jars_dir: str, javap: str = "javap") -> set[str]:
    """Property names the installed daemon accepts: the setters of its configuration class and the
    polling/fan-out beans it delegates to, as `javap` lists them."""
    classes = ["software.amazon.kinesis.multilang.config.MultiLangDaemonConfiguration",
               "software.amazon.kinesis.multilang.config.PollingConfigBean",
               "software.amazon.kinesis.multilang.config.FanoutConfigBean",
               "software.amazon.kinesis.multilang.config.GracefulLeaseHandoffConfigBean",
               "software.amazon.kinesis.multilang.config.WorkerUtilizationAwareAssignmentConfigBean",
               "software.amazon.kinesis.multilang.config.CoordinatorStateConfigBean",
               "software.amazon.kinesis.multilang.config.WorkerMetricStatsTableConfigBean"]
    found: set[str] = set()
    for cls in classes:
        out = subprocess.run([javap, "-cp", f"{jars_dir}/*", cls], capture_output=True, text=True)
        for name in re.findall(r"\bpublic [\w.<>\[\], ]+ set(\w+)\(", out.stdout):
            found.add(name[0].lower() + name[1:])
            found.add(name)
    return found


def command_line(java: str, jars_dir: str, properties: Path, heap_mb: int, logback: Path | None,
                 disable_cbor: bool = False, log_level: str = "WARN") -> list[str]:
    cmd = [java, f"-Xmx{heap_mb}m", "-XX:+ExitOnOutOfMemoryError"]
    if disable_cbor:
        # CBOR is the SDK's wire format for Kinesis; emulators speak only JSON, and this JVM property is
        # the only switch KCL 2/3 honours (AWS_CBOR_DISABLE is ignored).
        cmd.append("-Daws.cborEnabled=false")
    if logback is not None:
        # logback.xml reads its root level from ${SECSTASH_KCL_LOG_LEVEL}: a system property first, then
        # the environment; an unknown level would silently mean DEBUG, hence kcl.log_level's Literal.
        cmd += [f"-Dlogback.configurationFile={logback}", f"-DSECSTASH_KCL_LOG_LEVEL={log_level}"]
    cmd += ["-cp", f"{jars_dir}/*", "software.amazon.kinesis.multilang.MultiLangDaemon",
            "--properties-file", str(properties)]
    return cmd


def describe(cmd: list[str]) -> str:
    return " ".join(shlex.quote(part) for part in cmd)
