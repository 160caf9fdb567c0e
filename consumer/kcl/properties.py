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
# extra_properties may not touch these, nor any key build() writes from a setting (which names it). Some would
# break secstash's contract (a processing timeout kills a processor that is correctly blocked on a slow sink).
# The rest name what belongs to one stream, while extra_properties apply to every stream: a `tableName` would
# give all streams one lease table, where their shards' ids (shardId-000000000000, ...) collide and one stream's
# checkpoint skips another's records; a table, region, endpoint or consumer the settings do not know of is
# also one the lease-table checks and the generated IAM policies (deploy/iam) do not cover.
RESERVED_KEYS = frozenset({
    "executableName", "applicationName", "streamName", "streamArn", "AwsCredentialsProvider",
    "AwsCredentialsProviderDynamoDB", "AwsCredentialsProviderCloudWatch", "timeoutInSeconds",
    "callProcessRecordsEvenForEmptyRecordList", "tableName", "workerMetricsTableName", "coordinatorStateTableName",
    "consumerArn", "consumerName", "regionName", "kinesisEndpoint", "dynamoDBEndpoint",
    "cloudWatchClient.endpointOverride", "cloudWatchClient.region",
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
    props["workerId"] = worker_id or settings.worker_id()
    if stream.arn:
        props["streamArn"] = stream.arn
    else:
        props["streamName"] = stream.stream_name
    props["AwsCredentialsProvider"] = kinesis_credentials(settings, stream, props["workerId"])
    if endpoint := settings.aws.endpoint("kinesis"):
        props["kinesisEndpoint"] = endpoint
    if endpoint := settings.aws.endpoint("dynamodb"):
        props["dynamoDBEndpoint"] = endpoint
    if endpoint := settings.aws.endpoint("cloudwatch"):
        props["cloudWatchClient.endpointOverride"] = endpoint
    for key, value in kcl.extra_properties.items():
        if key in RESERVED_KEYS or key in props:
            raise PropertiesError(f"kcl.extra_properties.{key}: managed by secstash, cannot be overridden"
                                  + (f" (set {SETTING_OF[key]} instead)" if key in SETTING_OF else ""))
        props[key] = value
    check(props)
    return props


# The setting each property that has one comes from, for the refusal of an extra_properties key.
SETTING_OF = {
    "applicationName": "streams[].application_name", "tableName": "streams[].application_name",
    "workerMetricsTableName": "streams[].application_name", "coordinatorStateTableName": "streams[].application_name",
    "consumerName": "streams[].application_name", "regionName": "streams[].region or aws.region",
    "streamName": "streams[].name", "streamArn": "streams[].arn", "AwsCredentialsProvider": "streams[].role_arn",
    "kinesisEndpoint": "aws.kinesis_endpoint", "dynamoDBEndpoint": "aws.dynamodb_endpoint",
    "cloudWatchClient.endpointOverride": "aws.cloudwatch_endpoint",
    "initialPositionInStream": "streams[].initial_position", "retrievalMode": "streams[].retrieval_mode",
    "maxRecords": "kcl.max_records", "idleTimeBetweenReadsInMillis": "kcl.idle_time_between_reads_ms",
    "failoverTimeMillis": "kcl.failover_time_ms", "shardSyncIntervalMillis": "kcl.shard_sync_interval_ms",
    "leaseAssignmentIntervalMillis": "kcl.lease_assignment_interval_ms",
    "parentShardPollIntervalMillis": "kcl.parent_shard_poll_interval_ms", "metricsLevel": "kcl.metrics_level",
    "shutdownGraceMillis": "kcl.shutdown_grace_ms", "disableWorkerMetrics": "kcl.worker_metrics",
    "clientVersionConfig": "kcl.lease_assignment", "workerId": "kcl.worker_id",
}


def kinesis_credentials(settings: Settings, stream: StreamSettings, worker_id: str) -> str:
    """The daemon's Kinesis credentials: the process's own, or `streams[].role_arn` assumed through STS (the
    daemon's StsAssumeRoleCredentialsProvider refreshes them in the background before they expire). Leases
    and metrics keep the process's own (AwsCredentialsProviderDynamoDB/CloudWatch): they are this account's.

    `endpointRegion` makes the daemon's STS client regional in the stream's region, as secstash's own STS
    calls are; without it the client takes its region from AWS_REGION or the instance metadata, and where
    neither answers (a container with IMDS's hop limit of 1, EKS Pod Identity) the provider cannot be built
    and the daemon exits at every start. The ExternalId is a nested `externalId=`; the daemon logs this
    property's value (at INFO, and at WARN when the provider fails), so the external id is a SecretStr that
    secstash's log masks wherever it shows up (consumer/logs.py)."""
    if not stream.role_arn:
        return "DefaultCredentialsProvider"
    region = settings.stream_region(stream)
    parts = ["KclStsAssumeRoleCredentialsProvider", stream.role_arn, stream.session_name("kinesis", worker_id),
             f"endpointRegion={region}"]
    if endpoint := settings.aws.endpoint("sts"):
        parts.append(f"endpoint={endpoint}^{region}")
    if stream.external_id is not None:
        parts.append(f"externalId={stream.external_id.get_secret_value()}")
    return "|".join(parts)


def masked(props: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """`props` with the external ids replaced, for showing them (check-config --show-properties)."""
    from consumer.logs import REDACTED

    secrets = [s.external_id.get_secret_value() for s in settings.streams if s.external_id is not None]
    out = {}
    for key, value in props.items():
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        out[key] = value
    return out


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
    """Atomically, readable by this user only: the file may hold a stream's external id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(render(props))
    os.chmod(tmp, 0o600)  # an older file of that name kept its mode through O_TRUNC
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
        out = subprocess.run([javap, "-cp", f"{jars_dir}/*", cls], check=False, capture_output=True, text=True)
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
