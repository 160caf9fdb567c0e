"""Settings of the Elasticsearch/OpenSearch sink (the `search:` section).

Validation here is pure; connecting, detecting the server and installing templates happen in
`SearchSink.start()`. Secrets are `SecretStr` and never reach logs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

MiB = 1024 * 1024

_DURATION = re.compile(r"^\d+(d|h|m|s|ms)$")
_SIZE = re.compile(r"^\d+(b|kb|mb|gb|tb)$")
_PLACEHOLDERS = {"dataset", "namespace", "date"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchSettings(Strict):
    """Where and how documents are indexed. Defaults suit one daemon writing a few thousand docs/s."""

    # --- the cluster ----------------------------------------------------------------------------------
    kind: Literal["elasticsearch", "opensearch"] = Field(
        "elasticsearch", description="server family; Elasticsearch 8.x/9.x or OpenSearch 2.x (and Amazon "
        "OpenSearch Service). The Elasticsearch client's major version follows the server's.")
    hosts: list[str] = Field(..., min_length=1, description="http(s)://host:port URLs of the cluster's nodes")
    server_major: Literal[8, 9] | None = Field(
        None, description="Elasticsearch major version to assume when the cluster does not let us read it "
        "(a user without `monitor`) or is down at start; None: detect")
    # --- authentication: at most one of these ---------------------------------------------------------
    username: str | None = Field(None, description="basic authentication user (with `password`)")
    password: SecretStr | None = Field(None, description="basic authentication password")
    api_key: SecretStr | None = Field(None, description="Elasticsearch API key, base64 `id:key` as Kibana shows it")
    bearer_token: SecretStr | None = Field(None, description="sent as `Authorization: Bearer <token>`")
    aws_sigv4: bool = Field(False, description="sign requests (SigV4) with the task's AWS credentials, for "
                            "Amazon OpenSearch Service; needs kind=opensearch")
    aws_service: Literal["es", "aoss"] = Field("es", description="SigV4 service: es (managed domains) or aoss "
                                               "(OpenSearch Serverless)")
    aws_region: str | None = Field(None, description="SigV4 region; None: the AWS SDK's default region")
    # --- TLS -------------------------------------------------------------------------------------------
    ca_certs: str | None = Field(None, description="PEM file of the CA(s) to trust for https hosts; None: the "
                                 "system's trust store")
    verify_certs: bool = Field(True, description="verify the server's certificate and host name; turning this "
                               "off is logged as a warning at every start")
    # --- where documents go ----------------------------------------------------------------------------
    data_streams: bool = Field(True, description="write data streams `logs-<dataset>-<namespace>`; false: plain "
                               "indices named by `index_pattern` (clusters without data streams)")
    index_pattern: str = Field(
        "secstash-{dataset}-{namespace}",
        description="plain-index name when data_streams is false; placeholders {dataset}, {namespace} and "
        "{date} (the document's @timestamp day, UTC, YYYY.MM.DD: see `target()`). Outside `logs-*` Elastic's "
        "rules and dashboards do not see the indices (warned at start). With {date} a re-read "
        "always lands in the same index, so ids deduplicate exactly, and the lifecycle deletes whole old "
        "days; without it no lifecycle policy is attached (it would delete the one index)")
    pipeline: str | None = Field("_none", description="ingest pipeline per bulk request; `_none` bypasses "
                                 "default pipelines (e.g. ones Elastic's integration installed); None: the "
                                 "index's default pipeline runs")
    # --- bulk requests ---------------------------------------------------------------------------------
    bulk_max_docs: int = Field(5000, ge=1, le=100_000, description="documents per bulk request at most")
    bulk_max_bytes: int = Field(5 * MiB, ge=1024, le=100 * MiB,
                                description="uncompressed NDJSON bytes per bulk request at most (one larger "
                                "document goes alone)")
    concurrent_requests: int = Field(2, ge=1, le=64, description="bulk requests in flight at once (worker threads)")
    compress: bool = Field(True, description="gzip request bodies")
    compression_level: int = Field(1, ge=0, le=3, description="gzip level of bulk bodies (ISA-L, 0-3)")
    request_timeout_s: float = Field(60.0, gt=0, description="one HTTP request, including a bulk's indexing")
    max_in_flight_bytes: int = Field(
        64 * MiB, ge=1 * MiB, description="document bytes accepted by deliver() and not yet indexed, "
        "dead-lettered or spilled; deliver() blocks above it (backpressure on the Kinesis readers)")
    # --- retries, spill, health ------------------------------------------------------------------------
    retry_initial_backoff_s: float = Field(0.5, gt=0, description="first retry waits up to this (full jitter)")
    retry_max_backoff_s: float = Field(30.0, gt=0, description="cap of the exponential retry backoff")
    spill_after_s: float = Field(900.0, gt=0, description="documents not indexed this long after deliver() are "
                                 "written to the spill prefix of the archive bucket and count as delivered")
    redrive_spill: bool = Field(True, description="index spilled batches in the background, in order, while "
                                "the cluster is healthy")
    redrive_interval_s: float = Field(60.0, gt=0, description="how often to look for spilled batches to redrive")
    health_interval_s: float = Field(5.0, gt=0, description="how often `_cluster/health` is asked")
    start_timeout_s: float = Field(30.0, ge=0, description="start() waits this long for the cluster; after "
                                   "that the sink starts degraded and sets itself up when the cluster answers")
    # --- templates and lifecycle -----------------------------------------------------------------------
    install_templates: bool = Field(True, description="install component/index templates and the lifecycle "
                                    "policy at start (skipped with a warning where the cluster cannot)")
    template_prefix: str = Field("secstash", pattern=r"^[a-z0-9][a-z0-9_.-]{0,40}$",
                                 description="name prefix of our templates and lifecycle policy")
    template_priority: int = Field(250, ge=1, description="index template priority; above Elastic's integration "
                                   "(200) and built-in logs template (100)")
    total_fields_limit: int = Field(10_000, ge=1000, description="index.mapping.total_fields.limit")
    # On, as Elastic's logs@settings has it for logs-*-*: a value of the wrong type for its mapped field (a forged
    # `"code": "x"`) is left out of the index (listed in `_ignored`, kept in _source) instead of failing its
    # whole document. It cannot cover an object where a value is mapped or the reverse: those still fail.
    ignore_malformed: bool = Field(True, description="index documents with a wrongly typed field (the field is "
                                   "left out, listed in _ignored) instead of dead-lettering them")
    lifecycle_delete_after_days: int | None = Field(90, ge=1, description="delete backing indices this many days "
                                                    "after rollover; None: never")
    rollover_max_age: str = Field("1d", description="roll the write index over at this age")
    rollover_max_primary_shard_size: str = Field("50gb", description="...or at this primary shard size")

    @field_validator("rollover_max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError("a duration like 1d, 12h or 30m")
        return value

    @field_validator("rollover_max_primary_shard_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if not _SIZE.match(value.lower()):
            raise ValueError("a size like 50gb or 512mb")
        return value.lower()

    @field_validator("index_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        names = set(re.findall(r"{(\w*)}", value))
        if unknown := names - _PLACEHOLDERS:
            raise ValueError(f"unknown placeholder(s) {', '.join(sorted(unknown))}; use {{dataset}}, "
                             "{namespace} and {date}")
        if "dataset" not in names:
            raise ValueError("must contain {dataset}: every dataset needs its own mappings")
        if value != value.lower() or value.startswith(("_", "-", "+", ".")):
            raise ValueError("index names are lowercase and do not start with _, -, + or .")
        return value

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for number, host in enumerate(value):
            if "@" in host:
                # Credentials in a URL would be a plain string: printed by repr, never masked as a secret, and
                # outside the one-authentication-method rule. The URL is not echoed, as it holds them.
                raise ValueError(f"host [{number}] carries credentials (user:password@): put them in "
                                 "`username`/`password`, `api_key` or `bearer_token`")
            if not re.match(r"^https?://[^\s/]+/?$", host):
                raise ValueError(f"host {host!r} must be an http:// or https:// URL without a path")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SearchSettings:
        given = [n for n in ("api_key", "bearer_token", "aws_sigv4") if getattr(self, n)]
        if self.username or self.password:
            given.append("username/password")
            if not (self.username and self.password):
                raise ValueError("give both `username` and `password`")
        if len(given) > 1:
            raise ValueError(f"choose one authentication method, not {' and '.join(given)}")
        if self.aws_sigv4 and self.kind != "opensearch":
            raise ValueError("`aws_sigv4` signs for Amazon OpenSearch Service: set kind: opensearch")
        if self.api_key and self.kind == "opensearch":
            raise ValueError("OpenSearch has no API keys: use username/password, bearer_token or aws_sigv4")
        if self.server_major is not None and self.kind == "opensearch":
            raise ValueError("`server_major` is for Elasticsearch (8 or 9)")
        if self.retry_max_backoff_s < self.retry_initial_backoff_s:
            raise ValueError("`retry_max_backoff_s` is below `retry_initial_backoff_s`")
        if self.max_in_flight_bytes < self.bulk_max_bytes:
            raise ValueError("`max_in_flight_bytes` must hold at least one bulk request (`bulk_max_bytes`)")
        return self

    def credentials_in_clear(self) -> list[str]:
        """The http:// hosts that would be sent a password, API key or bearer token (SigV4 sends none)."""
        if not (self.password or self.api_key or self.bearer_token):
            return []
        return [host for host in self.hosts if host.startswith("http://")]

    @property
    def mode_name(self) -> str:
        """`logs` (data streams) or `index` (plain indices): names each mode's index templates, settings
        component and lifecycle policy apart, so a daemon in one mode never rewrites what the other's use."""
        return "logs" if self.data_streams else "index"

    def outside_logs_view(self) -> bool:
        """Plain indices whose names Elastic's rules (`logs-aws.*`) and dashboards (`logs-*`) do not cover."""
        return not self.data_streams and not self.index_pattern.startswith("logs-")

    def target(self, dataset: str, namespace: str, timestamp: datetime | None = None) -> str:
        """Where a document of `dataset` (event.dataset, e.g. aws.cloudtrail) for `namespace` goes.

        Data streams: `logs-<dataset>-<namespace>`. Plain indices: `index_pattern`, where {date} is the UTC
        day of `timestamp` (the document's @timestamp; now when missing).
        """
        if self.data_streams:
            return f"logs-{dataset}-{namespace}"
        day = (timestamp or datetime.now(UTC)).astimezone(UTC).strftime("%Y.%m.%d")
        return self.index_pattern.format(dataset=dataset, namespace=namespace, date=day)

    def index_patterns(self, dataset: str) -> list[str]:
        """Index patterns an index template for `dataset` must cover."""
        if self.data_streams:
            return [f"logs-{dataset}-*"]
        return [self.index_pattern.format(dataset=dataset, namespace="*", date="*").replace("**", "*")]
