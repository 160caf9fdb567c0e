"""Settings: one YAML file plus `SECSTASH_` environment overrides, validated before any I/O.

Environment overrides use `__` between levels: `SECSTASH_SEARCH__PASSWORD=...`,
`SECSTASH_PIPELINE__WORKERS=4`, `SECSTASH_STREAMS='[{"name": "logs"}]'` (lists and mappings whole, as JSON),
`SECSTASH_SEARCH__PIPELINE=null` (None). Unknown keys are errors, so a misspelt key never silently falls back
to a default; so are a key given twice in one YAML mapping and a `SECSTASH_` variable that reads as an
override but names no setting (`SECSTASH_SEARCH_API_KEY`) or reaches into a list or mapping. `load()` raises
`SettingsError` whose message names every bad key as a dotted path (`streams[0].retrieval_mode`), with the
variable that gave the value when an override did.
Secrets are `SecretStr`: they print as `**********` and never reach logs.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

import orjson
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from consumer.logs import scrub
from parsers.enrich import geoip
from parsers.options import ParseOptions
from parsers.rules import Condition, DetectionRule, FilterRule, StreamParsing
from sinks.archive.config import ArchiveSettings
from sinks.search.config import SearchSettings

if TYPE_CHECKING:
    from consumer.objects import ObjectAccess

MiB = 1024 * 1024
ENV_PREFIX = "SECSTASH_"


class SettingsError(Exception):
    """The settings cannot be used; the message names each offending key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- streams ---------------------------------------------------------------------------------------------

_STREAM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_STREAM_ARN = re.compile(r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/([A-Za-z0-9_.-]{1,128})$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


def _role_arn(value: str) -> str:
    if not _ROLE_ARN.match(value):
        raise ValueError("not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return value


RoleArn = Annotated[str, AfterValidator(_role_arn)]

# What STS takes as an ExternalId ([\w+=,.@:/-], 2-1224), less what the KCL daemon splits its credentials
# property on: `,` (a list of providers), `|` (a provider's arguments) and `=` (a nested `key=value`). A
# value holding one would reach STS cut short, and every AssumeRole would be refused.
# At least 4 characters: secstash's log masks only configured secrets that long (consumer/logs.py).
_EXTERNAL_ID = re.compile(r"^[\w+.@:/-]{4,1224}$")


def _external_id(value: SecretStr) -> SecretStr:
    if not _EXTERNAL_ID.match(value.get_secret_value()):
        raise ValueError("not an STS external id the KCL daemon can pass on (4-1224 of A-Z a-z 0-9 _ + . @ : / -)")
    return value


ExternalId = Annotated[SecretStr, AfterValidator(_external_id)]
# A DynamoDB table name ([A-Za-z0-9_.-], 3-255) with room for the longest table KCL 3 derives from it
# (`<application>-WorkerMetricStats`).
_APPLICATION_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,237}$")

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


def _vpcflow_format(value: str | None) -> str | None:
    """A custom VPC Flow Logs format (`${version} ${srcaddr} ...`) whose field names are AWS's. A name near a
    known one is a typo, refused; one near none may be a field AWS added since, kept (the parser files it under
    aws.vpcflow)."""
    from parsers.vpcflow import FIELD_NAMES

    if value is None:
        return None
    names = [token.strip("${}") for token in value.split()]
    if not names or not all(names):
        raise ValueError("not a VPC Flow Logs format: give its fields as `${version} ${srcaddr} ...`")
    for name in names:
        if name not in FIELD_NAMES and (near := difflib.get_close_matches(name, FIELD_NAMES, n=1, cutoff=0.8)):
            raise ValueError(f"`{name}` is not a VPC Flow Logs field; `{near[0]}`?")
    return value


VpcflowFormat = Annotated[str | None, AfterValidator(_vpcflow_format)]


class DetectionRuleSettings(Strict):
    """Send events of matching CloudWatch log groups/streams (globs) to a dataset."""

    log_group: str = "*"
    log_stream: str = "*"
    dataset: str = Field(description="a dataset name, or `eventbridge`: the group holds EventBridge events (a rule's "
                         "target), unwrapped to their datasets, the S3 objects they name read")
    vpcflow_format: VpcflowFormat = Field(None, description="custom VPC Flow Logs format, `${version} ...` "
                                          "(only with `dataset: vpcflow`)")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        return value if value == "eventbridge" else _check_dataset(value)

    @model_validator(mode="after")
    def _format_for_flows(self) -> DetectionRuleSettings:
        # Elsewhere nothing reads it: a rule given the wrong dataset by mistake would pass unnoticed.
        if self.vpcflow_format is not None and self.dataset != "vpcflow":
            raise ValueError(f"`vpcflow_format` is for `dataset: vpcflow`, not {self.dataset!r}")
        return self


class ConditionSettings(Strict):
    field: str
    equals: list[str | int | float | bool] = []
    matches: str | None = None
    negate: bool = False

    @model_validator(mode="after")
    def _one_test(self) -> ConditionSettings:
        if not self.equals and self.matches is None:
            raise ValueError("give `equals` or `matches`")
        if self.matches is not None:
            try:
                re.compile(self.matches)
            except re.error as exc:
                raise ValueError(f"`matches` is not a valid regular expression: {exc}") from None
        return self


class FilterSettings(Strict):
    """Drop documents, or remove or mask fields, where every condition holds."""

    name: str = ""
    action: Literal["drop", "remove", "mask"]
    datasets: list[str] = []
    when: list[ConditionSettings] = []
    fields: list[str] = []
    mask_with: str = "[REDACTED]"
    mask_pattern: str | None = Field(None, description="mask only the parts of string values matching this regex")

    @field_validator("mask_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, value: list[str]) -> list[str]:
        return [_check_dataset(v) for v in value]

    @model_validator(mode="after")
    def _fields_for_edits(self) -> FilterSettings:
        if self.action in ("remove", "mask") and not self.fields:
            raise ValueError(f"action {self.action!r} needs `fields`")
        return self

    def rule(self) -> FilterRule:
        return FilterRule(
            action=self.action, datasets=tuple(self.datasets), fields=tuple(self.fields),
            mask_with=self.mask_with, name=self.name, mask_pattern=self.mask_pattern,
            conditions=tuple(Condition(c.field, tuple(c.equals), c.matches, c.negate) for c in self.when),
        )


_BUCKET_GLOB = re.compile(r"^[a-z0-9.*?\[\]!-]{1,63}$")


class BucketSettings(Strict):
    """A log bucket a stream's notifications may point at. In YAML, a bare string is its `name`."""

    name: str = Field(description="bucket name, or a glob over names (`acme-*-alb-logs`; needs `owner`)")
    owner: str | None = Field(None, pattern=r"^\d{12}$",
                              description="the account that must own the bucket (sent as ExpectedBucketOwner: "
                                          "a bucket of this name in any other account is never read)")

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _bucket_glob(cls, value: str) -> str:
        if not _BUCKET_GLOB.match(value):
            raise ValueError("not an S3 bucket name or a glob over bucket names (a-z 0-9 . - and * ? [ ] !)")
        return value

    @model_validator(mode="after")
    def _pattern_has_owner(self) -> BucketSettings:
        # Bucket names are global: anyone can create `acme-evil-alb-logs` in their own account, grant secstash's
        # role in its bucket policy, and choose the bytes secstash reads. A listed name is the operator's
        # bucket; a pattern admits names nobody vetted, so it must pin the account that owns them.
        if self.owner is None and any(c in self.name for c in "*?["):
            raise ValueError(f"a pattern ({self.name!r}) needs an `owner` account: a bucket matching it in any "
                             "other account would be read; give {name: ..., owner: '<12-digit account>'}")
        return self


class S3ObjectSettings(Strict):
    """Log objects in S3 that S3 event notifications on the stream point at (ALB, CloudFront, WAF, S3 access
    logs, VPC Flow Logs or CloudTrail delivered to S3)."""

    read: bool = Field(True, description="read each object a notification points at and index its events; "
                                         "false: index the notification itself (generic dataset)")
    role_arn: RoleArn | None = Field(None, description="assume this role (through STS) to read the objects; default: "
                                                   "the process's own credentials (not the stream's role_arn)")
    external_id: ExternalId | None = Field(None, description="the ExternalId role_arn's trust policy requires "
                                                             "(confused-deputy protection); masked in logs")
    # Whoever can put records on the stream chooses which objects secstash reads and indexes; IAM bounds what
    # the credentials can read, this bounds what the stream may ask for, and pins each bucket's owner.
    # Empty stays "any bucket" (what existing deployments were given), with a warning at start; the archive
    # bucket is refused whatever this says (ObjectAccess.expected_owner).
    buckets: list[BucketSettings] = Field([], description="the only buckets notifications may point at (first "
                                                          "match wins; a pattern needs its `owner`); pointers "
                                                          "to others are dead-lettered unread; empty: any "
                                                          "bucket the credentials can read (warned about at "
                                                          "start), never archive.bucket")

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> S3ObjectSettings:
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("`external_id` is sent with AssumeRole of `role_arn`: give `role_arn` too")
        return self


class StreamSettings(Strict):
    """One Kinesis stream. Give `name` or `arn` (an ARN also fixes the account and region).

    Inside secstash a stream is known by its key, `id` or else its name: the KCL properties file, the daemon's
    supervisor, the stream the record processors report, parsing rules, archive, manifest and dead-letter keys,
    document ids, spilled documents' source and metric labels all carry it. Two streams of one name (in two accounts or
    regions, or one stream read under two application names) each need an `id`. Changing a running stream's
    key starts new archive chains and new document ids (records read again are indexed again), so give the
    `id` to the stream that is new."""

    name: str | None = None
    arn: str | None = None
    id: str | None = Field(None, description="the stream's key inside secstash (properties file, archive keys, "
                                             "document ids, metric labels); default: the stream name. Required to "
                                             "tell apart streams of one name")
    region: str | None = Field(None, description="defaults to aws.region, or the ARN's region")
    role_arn: RoleArn | None = Field(None, description="assume this role (through STS) to read the stream; it must be "
                                                   "in the stream's account (the ARN's)")
    external_id: ExternalId | None = Field(None, description="the ExternalId role_arn's trust policy requires "
                                                             "(confused-deputy protection); masked in logs")
    application_name: str | None = Field(None, description="KCL application = lease table name (also the CloudWatch "
                                                           "namespace and the fan-out consumer's name)")
    initial_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON"
    retrieval_mode: Literal["polling", "fanout"] = "polling"
    dataset: str | None = Field(None, description="force one dataset for every event of the stream (not with "
                                                  "`detection` or `detection_by_content`, which it overrides)")
    namespace: str = Field("default", pattern=r"^[a-z0-9_]{1,100}$")
    labels: dict[str, str] = {}
    detection: list[DetectionRuleSettings] = []
    vpcflow_format: VpcflowFormat = Field(None, description="custom VPC Flow Logs format for the whole stream")
    detection_by_content: bool = Field(
        False, description="in CloudWatch log groups no detection rule claims, let each log stream's first event "
        "(its JSON keys or line layout) and its stream name pick a security dataset, and unwrap EventBridge events "
        "(reading the S3 objects they name). This trusts EVERY writer of EVERY log group subscribed to the stream: "
        "one that can write a line can forge CloudTrail, GuardDuty, Security Hub, Config, WAF or k8s audit events "
        "with any user, action and time, and make secstash read S3 objects it names. false (default): such events "
        "are cloudwatch_logs; claim AWS-written groups with `detection` rules instead")
    s3_objects: S3ObjectSettings = S3ObjectSettings()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _STREAM_NAME.match(value):
            raise ValueError("not a Kinesis stream name ([A-Za-z0-9_.-], 1-128 characters)")
        return value

    @field_validator("arn")
    @classmethod
    def _arn(cls, value: str | None) -> str | None:
        if value is not None and not _STREAM_ARN.match(value):
            raise ValueError("not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)")
        return value

    @field_validator("application_name")
    @classmethod
    def _application_name(cls, value: str | None) -> str | None:
        if value is not None and not _APPLICATION_NAME.match(value):
            raise ValueError("not a KCL application name: it names DynamoDB tables ([A-Za-z0-9_.-], 3-237 "
                             "characters, leaving room for `-WorkerMetricStats`)")
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value is not None and not _STREAM_NAME.match(value):
            raise ValueError("not a stream id ([A-Za-z0-9_.-], 1-128 characters, as a stream name)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            raise ValueError("not an AWS region name")
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str | None) -> str | None:
        return None if value is None else _check_dataset(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", key):
                raise ValueError(f"label name {key!r} must be [A-Za-z_][A-Za-z0-9_]*")
        return value

    @model_validator(mode="after")
    def _name_or_arn(self) -> StreamSettings:
        if not self.name and not self.arn:
            raise ValueError("give `name` or `arn`")
        if self.name and self.arn:
            match = _STREAM_ARN.match(self.arn)
            if match and match.group(1) != self.name:
                raise ValueError("`name` and `arn` name different streams")
        return self

    @model_validator(mode="after")
    def _arn_agrees(self) -> StreamSettings:
        """An ARN fixes the stream's partition, region and account; a `region` or `role_arn` naming others is a
        typo in one of them. The daemon would ask the wrong region (and keep its leases there); a role of
        another account could read only a stream whose resource policy lets it in, i.e. one its owner chose
        to offer, whose records would then be indexed as this organisation's logs."""
        if not self.arn:
            return self
        _, partition, _, region, account, _ = self.arn.split(":", 5)
        if self.region and self.region != region:
            raise ValueError(f"`region` ({self.region}) is not the region of `arn` ({region}); drop `region`")
        if self.role_arn:
            _, role_partition, _, _, role_account, _ = self.role_arn.split(":", 5)
            if (role_partition, role_account) != (partition, account):
                raise ValueError(f"`role_arn` is a role of account {role_account}, the stream is in account "
                                 f"{account}: the role that reads a stream is in the stream's account")
        return self

    @model_validator(mode="after")
    def _forced_dataset_alone(self) -> StreamSettings:
        # `dataset` decides for every event: rules next to it would never apply, and whoever wrote them expects
        # they do (a flow log group's rule on a CloudTrail stream would send its flows to the cloudtrail parser).
        if self.dataset is not None and (self.detection or self.detection_by_content):
            given = "`detection` rules" if self.detection else "`detection_by_content`"
            raise ValueError(f"`dataset` ({self.dataset}) decides every event's dataset: {given} would never apply; "
                             "drop one of them")
        return self

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> StreamSettings:
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("`external_id` is sent with AssumeRole of `role_arn`: give `role_arn` too")
        return self

    @property
    def stream_name(self) -> str:
        if self.name:
            return self.name
        match = _STREAM_ARN.match(self.arn or "")
        assert match is not None  # validated above
        return match.group(1)

    def session_name(self, purpose: str, worker: str) -> str:
        """The RoleSessionName for this stream's AssumeRole calls: CloudTrail in the role's account shows it, so
        it names the stream, what the credentials are for and the instance (the KCL worker id)."""
        from sinks.aws import role_session_name

        return role_session_name(purpose, self.key, worker)

    def region_or(self, default: str) -> str:
        """The stream's region: its own, the one its ARN names, or else `default` (aws.region)."""
        if self.region:
            return self.region
        return self.arn.split(":")[3] if self.arn else default

    @property
    def key(self) -> str:
        """What secstash knows the stream by: `id`, or else the stream name (unique among the streams)."""
        return self.id or self.stream_name

    @property
    def lease_table(self) -> str:
        # The stream name, not the key: giving a running stream an `id` keeps its lease table and checkpoints.
        return self.application_name or f"secstash-{self.stream_name}"

    def parsing(self, filters: list[FilterSettings]) -> StreamParsing:
        return StreamParsing(
            stream=self.key, namespace=self.namespace, dataset=self.dataset,
            detection=tuple(DetectionRule(r.dataset, r.log_group, r.log_stream, r.vpcflow_format)
                            for r in self.detection),
            filters=tuple(f.rule() for f in filters),
            labels=tuple(sorted(self.labels.items())),
            vpcflow_format=self.vpcflow_format,
            detection_by_content=self.detection_by_content,
        )


# --- AWS, KCL, pipeline ----------------------------------------------------------------------------------


# No `=`, `|`, `,` or `^`: the sts endpoint travels inside the daemon's credentials property, split on them.
_ENDPOINT = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?(/[^\s=|,^]*)?$")


class AwsSettings(Strict):
    region: str = "us-east-1"
    endpoint_url: str | None = Field(None, description="one endpoint for every AWS API (local emulators)")
    kinesis_endpoint: str | None = None
    dynamodb_endpoint: str | None = None
    s3_endpoint: str | None = None
    kms_endpoint: str | None = None
    sts_endpoint: str | None = None
    cloudwatch_endpoint: str | None = None

    @field_validator("endpoint_url", "kinesis_endpoint", "dynamodb_endpoint", "s3_endpoint", "kms_endpoint",
                     "sts_endpoint", "cloudwatch_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        # boto3 refuses a URL without a scheme only when the first client is built, and the KCL daemon quietly
        # prefixes https://; either way the key that was wrong would go unnamed.
        if value is not None and not _ENDPOINT.match(value):
            raise ValueError("not an endpoint URL (http:// or https://, a host, an optional port and path)")
        return value

    def overridden(self) -> dict[str, str]:
        """The endpoint overrides in effect (local emulators), by setting name: none in production."""
        return {name: value for name in type(self).model_fields
                if name.endswith("endpoint") or name == "endpoint_url"
                if (value := getattr(self, name))}

    def endpoint(self, service: str) -> str | None:
        return getattr(self, f"{service}_endpoint", None) or self.endpoint_url


class KclSettings(Strict):
    java: str = Field("java", description="java executable (17 or newer)")
    jars_dir: str | None = Field(None, description="folder of the MultiLangDaemon jars; default: as installed")
    heap_mb: int = Field(512, ge=128, le=65536, description="JVM -Xmx per daemon")
    max_records: int = Field(10000, ge=1, le=10000)
    idle_time_between_reads_ms: int = Field(1000, ge=200)
    failover_time_ms: int = Field(10000, ge=1000)
    shard_sync_interval_ms: int = Field(60000, ge=1000)
    lease_assignment_interval_ms: int = Field(1000, ge=100)
    parent_shard_poll_interval_ms: int = Field(10000, ge=100)
    shutdown_grace_ms: int = Field(20000, ge=1000, description="time shards get to checkpoint on SIGTERM; must "
                                                              "fit in pipeline.shutdown_grace_s with 3 s to spare")
    metrics_level: Literal["NONE", "SUMMARY", "DETAILED"] = Field(
        "NONE", description="KCL's own CloudWatch metrics (PutMetricData); secstash's Prometheus metrics are separate")
    worker_id: str | None = Field(
        None, pattern=r"^[\w.:@-]{1,128}$",
        description="this instance's KCL worker id; default: the host name. Keep it stable across restarts of one "
                    "instance (a StatefulSet pod name, an ECS task's fixed name): a new id after a crash waits out "
                    "the dead worker's leader lock (about 2 minutes) before leases move")
    worker_metrics: bool = Field(
        True, description="report CPU utilisation for KCL 3's lease balancing (read from the ECS task metadata or "
                          "the EKS cgroup; KCL finds none on other hosts)")
    lease_assignment: Literal["utilization", "lease_count"] = Field(
        "utilization", description="utilization: KCL 3 balances leases by worker CPU (needs ECS/EKS); lease_count: "
                                   "KCL 3's 2.x-compatible mode, balancing by lease count, for hosts without them")
    restart_backoff_initial_s: float = Field(1.0, gt=0)
    restart_backoff_max_s: float = Field(60.0, gt=0)
    stall_timeout_s: float = Field(
        300.0, ge=15, description="a held shard whose processor the daemon has not called for this long (no read, "
                                  "empty or not, and no batch in delivery) means the daemon hangs: it is killed and "
                                  "restarted")
    extra_properties: dict[str, str] = Field({}, description="more daemon properties; checked against the known keys")
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"] = Field(
        "WARN", description="the daemon's logback level (consumer/kcl/logback.xml); its lines at this level and "
                            "above are logged by secstash (DEBUG and TRACE ones only with log_level: debug). INFO "
                            "shows lease assignment; also set by SECSTASH_KCL_LOG_LEVEL")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        if value is False:  # YAML 1.1 reads a bare `OFF` (or `off`) as false
            return "OFF"
        return value.upper() if isinstance(value, str) else value  # logback takes `info` as well as `INFO`


class PipelineSettings(Strict):
    workers: int | None = Field(None, ge=1, le=256, description="parser processes; default: the CPUs this process may use (its affinity, capped by its cgroup CPU quota)")
    max_in_flight_bytes: int = Field(256 * MiB, ge=1 * MiB, description="raw bytes admitted but not delivered")
    max_decompressed_bytes: int = Field(64 * MiB, ge=1024, description="gzip-bomb cap per record (and per S3 log "
                                                                     "object)")
    max_documents_per_chunk: int = Field(50_000, ge=100, description="a parser chunk takes no further record, nor "
                                         "log object of a record, once it holds this many documents and dead "
                                         "letters; the rest are parsed in another round")
    # What one record's S3 notifications may expand to (see docs/performance.md, Memory). The defaults pass
    # real log files whole: a notification names one object (forwarders that batch them, a few dozen), and
    # 64 MiB (max_decompressed_bytes) of the shortest real lines, VPC Flow Logs' ~100 bytes, is ~670,000
    # events (ALB's ~600-byte lines ~110,000; a CloudTrail file far fewer).
    max_objects_per_record: int = Field(100, ge=1, le=10_000, description="log objects read for one record's S3 "
                                        "notifications; pointers past it are dead-lettered (too_many_objects) "
                                        "with a notification of them as raw text")
    max_events_per_object: int = Field(1_000_000, ge=1_000, le=100_000_000, description="events parsed from one "
                                       "S3 log object; the rest are dead-lettered (too_many_events, naming the "
                                       "first line not parsed) for a replay after raising it")
    # A log object failing for an hour is not a blip: its shard, and the stream's daemon that restarts with
    # every failed batch, would wait as long as it fails (consumer/object_retries.py).
    object_retry_budget_s: float = Field(3600.0, ge=0, description="how long a log object in S3 may fail to "
                                         "read transiently (throttling, 5xx, network) before its pointer is "
                                         "read once more and then dead-lettered (object_retries_exhausted) so "
                                         "the shard goes on; 0: retry for ever")
    parse_timeout_s: float = Field(300.0, ge=1, le=86_400, description="CPU seconds a parser worker may spend on "
                                   "one record (S3 reads excluded); a record past it is dead-lettered whole "
                                   "(parse_timeout) and its shard goes on. Raise it with max_events_per_object: "
                                   "10^6 short lines take ~50 s")
    native_records: bool = Field(True, description="render the records the compiled record path covers (VPC Flow "
                                 "Logs and CloudTrail in CloudWatch Logs records) with it, when secstash_native "
                                 "is installed; "
                                 "false: every record takes the Python parsers (the same documents, slower)")
    keep_original: bool = False
    geoip_dir: str | None = Field(None, description="folder with MaxMind City and/or ASN databases; checked at "
                                  "start (each must open); unset: no geo and as fields")
    shutdown_grace_s: float = Field(30.0, gt=0, description="SIGTERM to exit, all in-flight work included")
    socket_dir: str | None = Field(None, description="where the record processors' socket lives")

    @field_validator("geoip_dir")
    @classmethod
    def _geoip_databases_open(cls, value: str | None) -> str | None:
        # A database that does not open would fail every enriched event (dead-lettered), not the start.
        if value is not None and (problem := geoip.problem(value)) is not None:
            raise ValueError(problem)
        return value

    def parse_options(self) -> ParseOptions:
        """What the parsers take from these settings: the daemon and `secstash replay` parse alike."""
        return ParseOptions(keep_original=self.keep_original, geoip_dir=self.geoip_dir,
                            max_decompressed_bytes=self.max_decompressed_bytes,
                            max_objects_per_record=self.max_objects_per_record,
                            max_events_per_object=self.max_events_per_object)


class MetricsSettings(Strict):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = Field(9108, ge=0, le=65535)


class Settings(BaseSettings):
    """The root: everything `secstash run` needs."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, env_prefix=ENV_PREFIX,
                                      env_nested_delimiter="__", nested_model_default_partial_update=True,
                                      # An override can unset what YAML's `null` unsets (search.pipeline,
                                      # search.lifecycle_delete_after_days: "never"); without this, `null`
                                      # would be the string "null" (a pipeline of that name).
                                      env_parse_none_str="null")

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    aws: AwsSettings = AwsSettings()
    streams: Annotated[list[StreamSettings], Field(min_length=1)]
    kcl: KclSettings = KclSettings()
    pipeline: PipelineSettings = PipelineSettings()
    archive: ArchiveSettings
    search: SearchSettings
    filters: list[FilterSettings] = []
    metrics: MetricsSettings = MetricsSettings()

    @model_validator(mode="after")
    def _graces_fit(self) -> Settings:
        # The daemons' checkpoint grace runs inside the process's own; the rest closes sinks and servers.
        if self.kcl.shutdown_grace_ms / 1000 + 3 > self.pipeline.shutdown_grace_s:
            raise ValueError(f"kcl.shutdown_grace_ms ({self.kcl.shutdown_grace_ms}) plus 3 s must fit in "
                             f"pipeline.shutdown_grace_s ({self.pipeline.shutdown_grace_s})")
        return self

    @field_validator("streams")
    @classmethod
    def _unique_streams(cls, streams: list[StreamSettings], info: ValidationInfo) -> list[StreamSettings]:
        """Everything per stream is keyed by the stream's key, and every daemon needs a lease table of its own:
        two streams sharing either read one stream twice and the other never, and mix their archives."""
        aws = info.data.get("aws")
        default_region = aws.region if isinstance(aws, AwsSettings) else AwsSettings().region
        keys: dict[str, int] = {}
        tables: dict[tuple[str, str], int] = {}
        for index, stream in enumerate(streams):
            if (first := keys.setdefault(stream.key, index)) != index:
                raise ValueError(
                    f"streams[{first}] and streams[{index}] have the same key {stream.key!r} (a stream's key is its "
                    f"`id`, or else its stream name): set `streams[{index}].id` to tell them apart")
            # The daemon keeps its lease table in the stream's region (consumer.kcl.properties).
            region = stream.region_or(default_region)
            if (first := tables.setdefault((region, stream.lease_table), index)) != index:
                raise ValueError(
                    f"streams[{first}] and streams[{index}] share the KCL lease table {stream.lease_table!r} in "
                    f"{region}: set `streams[{index}].application_name` to give it its own")
        return streams

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first: an override wins over the file (given as init values).
        return env_settings, init_settings

    def stream_region(self, stream: StreamSettings) -> str:
        return stream.region_or(self.aws.region)

    def worker_id(self) -> str:
        """This instance's KCL worker id (kcl.worker_id, else the host name: the pod's or task's)."""
        return self.kcl.worker_id or socket.gethostname()

    def stream_key(self, wanted: str) -> str:
        """The key of the configured stream `wanted` selects (a command's `--stream`): a stream's key, or else a
        stream name only one configured stream has. Anything else is returned as given (the archive may hold a
        stream no longer configured); a name several streams share is refused, naming their keys."""
        if any(stream.key == wanted for stream in self.streams):
            return wanted
        named = [stream.key for stream in self.streams if stream.stream_name == wanted]
        if len(named) > 1:
            raise SettingsError(f"stream {wanted!r} names {len(named)} configured streams; give the key (`id`) "
                                f"of one: {', '.join(named)}")
        return named[0] if named else wanted

    def object_access(self) -> dict[str, ObjectAccess]:
        """How the parser workers read the log objects each stream's notifications point at, by stream key
        (streams with `s3_objects.read: false` are absent)."""
        from consumer.objects import ObjectAccess

        return {stream.key: ObjectAccess(
            region=self.stream_region(stream), max_bytes=self.pipeline.max_decompressed_bytes,
            role_arn=stream.s3_objects.role_arn, s3_endpoint=self.aws.endpoint("s3"),
            sts_endpoint=self.aws.endpoint("sts"),
            external_id=(stream.s3_objects.external_id.get_secret_value()
                         if stream.s3_objects.external_id else None),
            session_name=stream.session_name("objects", self.worker_id()),
            buckets=tuple((bucket.name, bucket.owner) for bucket in stream.s3_objects.buckets),
            archive_bucket=self.archive.bucket,
        ) for stream in self.streams if stream.s3_objects.read}

    def streams_reading_any_bucket(self) -> list[str]:
        """Keys of the streams that read objects in whatever bucket their notifications name (no
        s3_objects.buckets)."""
        return [s.key for s in self.streams if s.s3_objects.read and not s.s3_objects.buckets]


def _check_dataset(value: str) -> str:
    from parsers import registry

    if value not in registry.names():
        raise ValueError(f"unknown dataset {value!r}; known: {', '.join(registry.names())}")
    return value


def _format_errors(error: ValidationError, overrides: Mapping[tuple[str, ...], str] | None = None) -> str:
    """One line per error, naming its key; and the variable that gave the value, when an override did (the
    key is nowhere in the file)."""
    lines = []
    for item in error.errors():
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        if overrides and (variable := _override_of(item["loc"], overrides)):
            path += f" (from {variable})"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (misspelt?)"
        elif item["type"] == "missing":
            message = "required key missing"
        # Validators may quote the value they refuse; a value can be a secret given in the wrong place.
        lines.append(f"{path or '<root>'}: {scrub(message)}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """Where the YAML is broken and what is wrong, without the source line or the quoted token PyYAML adds
    (`found undefined alias 'Secr3t'`): the broken line is often a password's."""
    problem = getattr(error, "problem", None) or type(error).__name__
    problem = _QUOTED.sub("'...'", problem)
    mark = getattr(error, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that gives a key twice. PyYAML keeps the last silently: a second
    `s3_objects:` of a stream (a role added further down) would drop the first's bucket allow-list, a second
    `detection:` its rules."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: construct_mapping below says so
                continue
            if first is not key_node.start_mark:
                # Named in backquotes: _yaml_problem drops quoted text, which may be a secret in other errors.
                raise yaml.constructor.ConstructorError(
                    None, None, f"key `{key}` given twice (first at line {first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep)

# The project's own variables that share the prefix and a section's name but are not settings.
_NOT_SETTINGS = frozenset({"SECSTASH_KCL_JARS", "SECSTASH_KCL_JARS_FROM", "SECSTASH_PIPELINE_SOCKET",
                           "SECSTASH_SEARCH_USER"})


# Variables named before the settings had `__`, still honoured: legacy name -> the override it stands for.
# consumer/kcl/logback.xml documented SECSTASH_KCL_LOG_LEVEL; it sets kcl.log_level, which reaches the JVM
# as the system property of that name (a system property wins over the environment in logback).
_ALIASES = {"SECSTASH_KCL_LOG_LEVEL": "SECSTASH_KCL__LOG_LEVEL"}


def _with_aliases(environ: Mapping[str, str]) -> dict[str, str] | None:
    """`environ` with each legacy variable given under its setting's name (which wins when both are set),
    or None when no legacy variable is set."""
    found = {alias: name for name in environ for alias_key, alias in _ALIASES.items() if name.upper() == alias_key}
    if not found:
        return None
    mapped = dict(environ)
    for alias, name in found.items():
        value = mapped.pop(name)
        if not any(other.upper() == alias for other in mapped):
            mapped[alias] = value
    return mapped


def _overrides(environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """The settings path each override variable sets, e.g. ("search", "password") -> SECSTASH_SEARCH__PASSWORD."""
    sections = Settings.model_fields.keys()
    found: dict[tuple[str, ...], str] = {}
    # A legacy name stands for its setting's variable, which wins when both are set (`_with_aliases`).
    for name in sorted(environ, key=lambda name: name.upper() in _ALIASES):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in _NOT_SETTINGS:
            setting = _ALIASES.get(name.upper(), name)
            path = tuple(setting[len(ENV_PREFIX):].lower().split("__"))
            if path[0] in sections:
                found.setdefault(path, name)
    return found


def _override_of(loc: tuple[int | str, ...], overrides: Mapping[tuple[str, ...], str]) -> str | None:
    for length in range(len(loc), 0, -1):
        if (variable := overrides.get(tuple(str(part) for part in loc[:length]))) is not None:
            return variable
    return None


def _override_problem(path: tuple[str, ...]) -> str | None:
    """What makes an override's path one the environment cannot set, or None. pydantic-settings would turn
    `SECSTASH_STREAMS__0__ROLE_ARN` into a mapping where the list goes (refused as "streams: Input should be a
    valid list", naming neither the variable nor why), lower-case a mapping's keys (`maxLeasesForWorker` in
    `kcl.extra_properties` would reach the daemon as `maxleasesforworker`), and report a misspelt key without
    the variable that holds it."""
    model: Any = Settings
    for depth, part in enumerate(path):
        fields = model.model_fields
        dotted = ".".join(path[:depth + 1])
        if part not in fields:
            return f"{dotted}: unknown key (misspelt?)"
        if depth == len(path) - 1:
            return None
        annotation = fields[part].annotation
        options = [a for a in (annotation, *get_args(annotation)) if a is not type(None)]
        whole = ENV_PREFIX + "__".join(path[:depth + 1]).upper()
        if any(get_origin(a) is list or a is list for a in options):
            return f"{dotted} is a list, set whole as JSON: {whole}='[...]'"
        if any(get_origin(a) is dict or a is dict for a in options):
            return (f"{dotted} is a mapping whose keys are case-sensitive, and variable names are not: set it "
                    f"whole as JSON: {whole}='{{...}}'")
        model = next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return f"{dotted} is a single value, not a section: set it with {whole}"
    return None


def _misdirected_overrides(environ: Mapping[str, str]) -> list[str]:
    """`SECSTASH_` variables that look meant as overrides but name no setting: pydantic-settings ignores
    them, so `SECSTASH_SEARCH_API_KEY` (one `_`) or `SECSTASH_METRIC__PORT` would silently leave the default.
    Other `SECSTASH_` variables (the tools' own, `SECSTASH_CACHE`, ...) are not settings and pass."""
    sections = Settings.model_fields.keys()
    found = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or name.upper() in _NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX):].lower()
        head, nested, _ = key.partition("__")
        if head in sections:
            if problem := _override_problem(tuple(key.split("__"))):
                found.append(f"{name}: {problem}")
            continue
        if nested:
            found.append(f"{name}: no settings section {head!r}; sections: {', '.join(sections)}")
        elif section := next((s for s in sections if key.startswith(f"{s}_")), None):
            found.append(f"{name}: not a setting; a key inside `{section}` is set with `__`: "
                         f"{ENV_PREFIX}{section.upper()}__{key[len(section) + 1:].upper()}")
    return found


def _unparsable_override(error: PydanticSettingsError, environ: Mapping[str, str]) -> str:
    """Name the variable whose value should have been JSON (a list or an object) and was not."""
    culprits = [name for name, value in sorted(environ.items())
                if name.upper().startswith(ENV_PREFIX) and _expects_json(name) and not _is_json(value)]
    names = ", ".join(culprits) or str(error)
    return (f"invalid settings:\n  {names}: not valid JSON; lists and objects are given as JSON, e.g. "
            f"{ENV_PREFIX}SEARCH__HOSTS='[\"https://es:9200\"]'")


def _expects_json(variable: str) -> bool:
    """Whether the setting `variable` overrides is a list, a mapping or a section (given whole)."""
    model: Any = Settings
    annotation: Any = None
    for part in variable[len(ENV_PREFIX):].lower().split("__"):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        annotation = fields[part].annotation
        model = next((a for a in (annotation, *get_args(annotation)) if isinstance(a, type)
                      and issubclass(a, BaseModel)), None)
    options = [a for a in (annotation, *get_args(annotation)) if a is not type(None)]
    return model is not None or any(get_origin(a) in (list, dict, tuple, set) or a in (list, dict)
                                    for a in options)


def _is_json(value: str) -> bool:
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return True


def load(path: str | os.PathLike[str] | None, environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the YAML file (may be None: environment only) plus `SECSTASH_` overrides."""
    data: Any = {}
    overrides = _overrides(os.environ if environ is None else environ)  # as the user named them (legacy too)
    if path is not None:
        try:
            data = yaml.load(Path(path).read_text(), Loader=_UniqueKeyLoader) or {}
        except OSError as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise SettingsError(f"settings file {path} is not valid YAML: {_yaml_problem(exc)}") from None
        if not isinstance(data, dict):
            raise SettingsError(f"settings file {path} must hold a mapping at the top level")
    if (aliased := _with_aliases(os.environ if environ is None else environ)) is not None:
        environ = aliased
    if misdirected := _misdirected_overrides(os.environ if environ is None else environ):
        raise SettingsError("invalid settings:\n  " + "\n  ".join(misdirected))
    saved = None
    if environ is not None:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise SettingsError(_format_errors(exc, overrides)) from None
    except PydanticSettingsError as exc:
        # A list or object override that is not JSON: pydantic-settings names only the top-level field.
        raise SettingsError(_unparsable_override(exc, os.environ)) from None
    finally:
        if saved is not None:
            os.environ.clear()
            os.environ.update(saved)
