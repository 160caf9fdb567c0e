"""A throwaway local AWS and search cluster for `secstash demo` and the end-to-end tests.

moto server answers S3 (with Object Lock), KMS, STS, DynamoDB (the KCL lease tables) and CloudWatch;
kinesis-local answers Kinesis (the KCL daemon speaks cleartext HTTP/2, which moto cannot); Elasticsearch or
OpenSearch runs from its integ-test zip. Everything listens on 127.0.0.1 ports picked free, and lives in one
work folder. Credentials are fixed dummies, exported to this process so boto3 and the KCL daemons (which
inherit the environment) sign requests the emulators accept — never real credentials against a local port.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from consumer.corpus import KinesisRecord
from consumer.embedded.kinesis_local import KinesisLocal
from consumer.embedded.moto_server import MotoServer
from consumer.embedded.process import free_port
from consumer.embedded.search_engine import SearchEngine
from consumer.settings import Settings

REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "secstash-local", "AWS_SECRET_ACCESS_KEY": "secstash-local",
                     "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}


def wait_for(condition: Any, timeout: float, interval: float = 0.25, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; raise TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Sandbox:
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="secstash-sandbox-")))
    search_kind: str = "elasticsearch"
    with_search: bool = True
    search_settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.environ.update(DUMMY_CREDENTIALS)
        self.moto = MotoServer(log_dir=self.workdir)
        self.kinesis = KinesisLocal(log_dir=self.workdir, region=REGION)
        self.search: SearchEngine | None = None
        if self.with_search:
            # Its own folder under the system temp dir: the engine runs as an unprivileged user, which may
            # not be able to traverse `workdir` (pytest's tmp folders are private to their owner).
            self.search = SearchEngine(self.search_kind, extra_settings=self.search_settings)

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        servers: list[Any] = [self.moto, self.kinesis] + ([self.search] if self.search else [])
        errors: list[BaseException] = []

        def start(server: Any) -> None:
            try:
                server.start()
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(s,)) for s in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.stop()
            raise errors[0]
        return self

    def stop(self) -> None:
        for server in (self.search, self.kinesis, self.moto):
            if server is not None:
                try:
                    server.stop(timeout=30)
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- clients and resources ---------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        endpoint = self.kinesis.endpoint if service == "kinesis" else self.moto.endpoint
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint)

    def create_stream(self, name: str, shards: int) -> None:
        kinesis = self.client("kinesis")
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        wait_for(lambda: kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
                 ["StreamStatus"] == "ACTIVE", 60, what=f"stream {name} to become ACTIVE")

    def create_key(self) -> str:
        return self.client("kms").create_key(Description="secstash archive")["KeyMetadata"]["KeyId"]

    def create_bucket(self, name: str, object_lock: bool = True, retention_days: int | None = 1,
                      kms_key_id: str | None = None) -> None:
        """With `kms_key_id`, the bucket defaults to SSE-KMS with that key, as the Terraform module and the
        LocalStack init set up the archive bucket (the archive refuses one that does not, when its settings
        name no key)."""
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        if kms_key_id:
            default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id}
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": default}]})
        if object_lock:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            if retention_days:
                s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": retention_days}}})

    def put_records(self, stream: str, records: Iterable[KinesisRecord], batch: int = 250) -> int:
        """PutRecords in batches, retrying records the emulator refused. Returns how many were put."""
        kinesis = self.client("kinesis")
        pending: list[KinesisRecord] = []
        total = 0

        def flush() -> None:
            nonlocal pending, total
            while pending:
                reply = kinesis.put_records(StreamName=stream, Records=[
                    {"Data": r.data, "PartitionKey": r.partition_key} for r in pending])
                failed = [r for r, result in zip(pending, reply["Records"]) if "ErrorCode" in result]
                total += len(pending) - len(failed)
                pending = failed

        for record in records:
            pending.append(record)
            if len(pending) >= batch:
                flush()
        flush()
        return total

    def settings(self, streams: list[dict[str, Any]], bucket: str, key_id: str | None,
                 **sections: Any) -> Settings:
        """Settings pointing every client at this sandbox; `sections` override or extend the defaults."""
        data: dict[str, Any] = {
            "aws": {"region": REGION, "endpoint_url": self.moto.endpoint, "kinesis_endpoint": self.kinesis.endpoint},
            "streams": streams,
            # One host runs every instance: KCL cannot tell their CPU apart, so balance by lease count.
            "kcl": {"worker_metrics": False, "lease_assignment": "lease_count", "failover_time_ms": 10000, "shard_sync_interval_ms": 5000, "parent_shard_poll_interval_ms": 1000,
                    "idle_time_between_reads_ms": 250, "heap_mb": 384, "shutdown_grace_ms": 20000},
            "archive": {"bucket": bucket, "kms_key_id": key_id},
            "search": {"kind": self.search_kind, "hosts": [self.search.url if self.search else "http://127.0.0.1:9"],
                       "lifecycle_delete_after_days": 7},
            "metrics": {"host": "127.0.0.1", "port": free_port()},
            "pipeline": {"socket_dir": str(self.workdir / f"run-{free_port()}")},
        }
        for name, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(name), dict):
                data[name] = {**data[name], **value}
            else:
                data[name] = value
        return Settings(**data)
