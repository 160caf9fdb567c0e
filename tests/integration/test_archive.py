"""The archive against a real moto server (S3 with Object Lock, KMS): locking, verify, replay."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from consumer import cli
from consumer.pool import IndexNaming, WorkerConfig, parse_chunk
from parsers import ParseOptions, StreamParsing
from sinks import aws
from sinks.archive import ArchiveSettings, ArchiveSink, Replayer, Verifier
from sinks.archive.encode import plan_objects
from sinks.archive.manifest import parse_entry
from sinks.batch import BulkItem, RawRecord, RecordBatch
from sinks.errors import ObjectLockMissing, SinkConfigError, SinkError
from sinks.s3store import LockedObjectStore

pytestmark = pytest.mark.integration

SHARD = "shardId-000000000000"
T0 = int(datetime(2024, 5, 1, 9, 58, tzinfo=UTC).timestamp() * 1000)  # batches cross the 10:00 boundary
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "elastic-aws"


@pytest.fixture(autouse=True)
def _keep_test_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands configure structlog for a terminal; inside pytest that would outlive the test."""
    monkeypatch.setattr("consumer.logs.configure", lambda *args, **kwargs: None)


@pytest.fixture(scope="module")
def clients(moto_server: Any) -> Iterator[tuple[Any, Any, str]]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    s3 = aws.client("s3", "us-east-1", moto_server.endpoint)
    kms = aws.client("kms", "us-east-1", moto_server.endpoint)
    yield s3, kms, moto_server.endpoint


def new_bucket(s3: Any, locked: bool, default_days: int | None = None,
               encryption: str | None = "aws:kms") -> str:
    """A fresh bucket, by default encrypted with SSE-KMS (the AWS managed key), as the archive requires of a
    bucket when archive.kms_key_id is unset."""
    name = f"archive-{uuid.uuid4().hex[:12]}"
    if locked:
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        if default_days:
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": default_days}}})
    else:
        s3.create_bucket(Bucket=name)
    if encryption:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": encryption}}]})
    return name


def corpus(count: int = 200) -> list[bytes]:
    """`count` raw records of several datasets: the shared Elastic fixtures (repeated as needed) when present,
    else generated JSON."""
    lines: list[bytes] = []
    for dataset in ("cloudtrail", "vpcflow", "elb_logs", "s3access", "waf", "guardduty", "route53_resolver_logs"):
        for path in sorted((FIXTURES / dataset).glob("*/*.log")):
            lines.extend(line for line in path.read_bytes().splitlines() if line.strip())
    lines = lines or [orjson.dumps({"eventName": f"Get{i}", "n": i}) for i in range(50)]
    return [lines[i % len(lines)] for i in range(count)]


def records(payloads: list[bytes], start: int = 0) -> list[RawRecord]:
    return [RawRecord(str(49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000 + (start + i) * 10), 0,
                      T0 + (start + i) * 1000, f"pk-{(start + i) % 4}", base64.b64encode(p).decode())
            for i, p in enumerate(payloads)]


def sink(s3: Any, kms: Any, bucket: str, kms_key: str | None = None, **settings: Any) -> ArchiveSink:
    config = ArchiveSettings(bucket=bucket, kms_key_id=kms_key, **settings)
    store = LockedObjectStore(s3, bucket, kms_key_id=kms_key, retention_days=config.retention_days,
                              multipart_threshold=config.multipart_threshold_bytes, backoff_initial_s=0.01)
    archive = ArchiveSink(config, store, s3, kms=kms)
    archive.start()
    return archive


def verify_cli(endpoint: str, bucket: str, *extra: str, capsys: Any) -> tuple[int, str]:
    code = cli.main(["verify", "--bucket", bucket, "--endpoint-url", endpoint, "--region", "us-east-1", *extra])
    return code, capsys.readouterr().out


# --- locking -------------------------------------------------------------------------------------------------


def test_every_archived_object_carries_sse_kms_a_checksum_and_compliance_retention(clients):
    s3, kms, _ = clients
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    bucket = new_bucket(s3, locked=True)
    archive = sink(s3, kms, bucket, key_id, retention_days=2)
    archive.deliver(RecordBatch("logs", SHARD, tuple(records(corpus()[:50])))).result(30)
    big = [os.urandom(700 * 1024) for _ in range(9)]  # ~8 MiB incompressible: a multipart upload
    archive.deliver(RecordBatch("logs", SHARD, tuple(records(big, start=1000)))).result(60)
    archive.close(10)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 4  # two objects, two manifest entries
    now = datetime.now(UTC)
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
        assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"] > now
        assert head.get("ChecksumSHA256"), key
        if key.startswith("manifests/"):
            entry = parse_entry(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            body = s3.get_object(Bucket=bucket, Key=entry.key)["Body"].read()
            assert hashlib.sha256(body).hexdigest() == entry.sha256
            if entry.size < 5 * 1024 * 1024:
                object_head = s3.head_object(Bucket=bucket, Key=entry.key, ChecksumMode="ENABLED")
                assert base64.b64decode(object_head["ChecksumSHA256"]).hex() == entry.sha256
        with pytest.raises(ClientError) as refused:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
        assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_the_bucket_default_compliance_retention_locks_objects_when_retention_days_is_unset(clients):
    s3, kms, _ = clients
    bucket = new_bucket(s3, locked=True, default_days=1)
    archive = sink(s3, kms, bucket)
    archive.deliver(RecordBatch("logs", SHARD, tuple(records(corpus()[:5])))).result(30)
    archive.close(10)
    for item in s3.list_objects_v2(Bucket=bucket)["Contents"]:
        head = s3.head_object(Bucket=bucket, Key=item["Key"])
        assert head["ObjectLockMode"] == "COMPLIANCE"
        with pytest.raises(ClientError):
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=head["VersionId"])


@pytest.mark.parametrize(("encryption", "named"),
                         [("AES256", "AES256"), (None, "no encryption configuration")])
def test_without_kms_key_id_a_bucket_not_defaulting_to_sse_kms_is_refused_at_start(clients, encryption,
                                                                                    named):
    s3, kms, _ = clients
    bucket = new_bucket(s3, locked=True, encryption=encryption)
    with pytest.raises(SinkConfigError, match=f"archive.kms_key_id is not set and bucket '{bucket}' "
                                              f"defaults to {named}, not SSE-KMS"):
        sink(s3, kms, bucket, retention_days=1)
    assert not s3.list_objects_v2(Bucket=bucket).get("Contents")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    sink(s3, kms, bucket, key_id, retention_days=1).close(1)  # a key id: every PUT names SSE-KMS itself


def test_without_kms_key_id_objects_take_the_buckets_sse_kms_default(clients):
    s3, kms, _ = clients
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    bucket = new_bucket(s3, locked=True, encryption=None)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]})
    archive = sink(s3, kms, bucket, retention_days=1)
    archive.deliver(RecordBatch("logs", SHARD, tuple(records(corpus()[:5])))).result(30)
    archive.close(10)
    keys = _keys(s3, bucket, "")
    assert len(keys) == 2
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn


def test_a_bucket_without_object_lock_is_refused_at_start(clients):
    s3, kms, _ = clients
    bucket = new_bucket(s3, locked=False)
    with pytest.raises(ObjectLockMissing, match=f"{bucket}.*has no Object Lock"):
        sink(s3, kms, bucket, retention_days=1)
    sink(s3, kms, bucket, require_object_lock=False).close(1)  # allowed when explicitly not required


# --- verify ------------------------------------------------------------------------------------------------


class _DropManifestPuts:
    """An S3 client whose manifest PUTs fail: the process 'crashes' between an object and its entry."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def put_object(self, **params: Any) -> Any:
        if params["Key"].startswith("manifests/"):
            raise ClientError({"Error": {"Code": "InvalidRequest", "Message": "crash"}}, "PutObject")
        return self._s3.put_object(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


def test_verify_is_clean_after_a_crash_re_read_and_lease_hand_overs(clients, capsys):
    s3, kms, endpoint = clients
    bucket = new_bucket(s3, locked=True)
    payloads = corpus()[:120]
    owner = sink(s3, kms, bucket, retention_days=1)
    owner.deliver(RecordBatch("logs", SHARD, tuple(records(payloads[:40])))).result(30)
    # crash: the next object is stored, its manifest entry is not, nothing is checkpointed
    config = ArchiveSettings(bucket=bucket, retention_days=1)
    crashing = ArchiveSink(config, LockedObjectStore(_DropManifestPuts(s3), bucket, kms_key_id=None,
                                                     retention_days=1), _DropManifestPuts(s3))
    with pytest.raises(SinkError):
        crashing.deliver(RecordBatch("logs", SHARD, tuple(records(payloads[40:70], start=40)))).result(30)
    crashing.close(1)
    owner.close(1)
    # restart elsewhere: the re-read starts at the last checkpoint (record 30) and is cut differently
    restarted = sink(s3, kms, bucket, retention_days=1)
    restarted.deliver(RecordBatch("logs", SHARD, tuple(records(payloads[30:60], start=30)))).result(30)
    # a lease hand-over: the new owner re-reads from the checkpoint at 50 while the old one, unaware, still
    # writes its in-flight batch
    new_owner = sink(s3, kms, bucket, retention_days=1)
    new_owner.deliver(RecordBatch("logs", SHARD, tuple(records(payloads[50:90], start=50)))).result(30)
    restarted.deliver(RecordBatch("logs", SHARD, tuple(records(payloads[60:80], start=60)))).result(30)
    new_owner.deliver(RecordBatch("logs", SHARD, tuple(records(payloads[90:120], start=90)))).result(30)
    restarted.close(1)
    new_owner.close(1)

    code, out = verify_cli(endpoint, bucket, capsys=capsys)
    assert code == 0, out
    assert "notice interrupted_write" in out and "clean" in out
    report = Verifier(s3, bucket).run()
    listed = [parse_entry(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
              for o in s3.list_objects_v2(Bucket=bucket, Prefix="manifests/")["Contents"]]
    assert sum(e.records for e in listed) == 120  # every record once in the chain
    assert report.clean


def tamper_remove_object(s3: Any, bucket: str) -> None:
    s3.delete_object(Bucket=bucket, Key=_keys(s3, bucket, "archive/")[1])


def tamper_alter_object(s3: Any, bucket: str) -> None:
    key = _keys(s3, bucket, "archive/")[2]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body[:-9] + bytes(9))


def tamper_add_object(s3: Any, bucket: str) -> None:
    (obj,) = plan_objects("archive", "logs", SHARD, records([b"forged"], start=5000), 1 << 20)
    s3.put_object(Bucket=bucket, Key=obj.key, Body=obj.body)


def tamper_remove_manifest(s3: Any, bucket: str) -> None:
    s3.delete_object(Bucket=bucket, Key=_keys(s3, bucket, "manifests/")[1])


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


@pytest.mark.parametrize(("tamper", "expected"), [
    (tamper_remove_object, ["MISSING"]),
    (tamper_alter_object, ["ALTERED"]),
    (tamper_add_object, ["UNLISTED"]),
    (tamper_remove_manifest, ["CHAIN_BREAK", "UNLISTED"]),
])
def test_verify_catches_tampering(clients, capsys, tamper, expected):
    s3, kms, endpoint = clients
    bucket = new_bucket(s3, locked=False)  # tampering needs a bucket that allows it
    archive = sink(s3, kms, bucket, require_object_lock=False)
    payloads = corpus()[:60]
    for start in range(0, 60, 15):
        archive.deliver(RecordBatch("logs", SHARD, tuple(records(payloads[start:start + 15], start)))).result(30)
    archive.close(1)
    assert verify_cli(endpoint, bucket, capsys=capsys)[0] == 0
    tamper(s3, bucket)
    code, out = verify_cli(endpoint, bucket, capsys=capsys)
    assert code == 1, out
    found = sorted({line.split()[0] for line in out.splitlines() if line and line.split()[0].isupper()})
    assert found == expected, out


def test_signed_manifests_verify_with_kms_and_a_forged_entry_is_caught(clients, capsys):
    s3, kms, endpoint = clients
    signing_key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    bucket = new_bucket(s3, locked=False)
    archive = sink(s3, kms, bucket, require_object_lock=False, signing_key_id=signing_key)
    for start in range(0, 30, 10):
        archive.deliver(RecordBatch("logs", SHARD, tuple(records(corpus()[start:start + 10], start)))).result(30)
    archive.close(1)
    assert verify_cli(endpoint, bucket, "--require-signatures", capsys=capsys)[0] == 0
    key = _keys(s3, bucket, "manifests/")[2]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body.replace(b'"writer":"', b'"writer":"forged-'))
    code, out = verify_cli(endpoint, bucket, capsys=capsys)
    assert code == 1 and "BAD_SIGNATURE" in out, out


# --- replay ------------------------------------------------------------------------------------------------


class Capture:
    def __init__(self) -> None:
        self.items: list[BulkItem] = []

    def deliver(self, items: Any) -> Any:
        from concurrent.futures import Future

        self.items.extend(items)
        done: Future[Any] = Future()
        done.set_result({"created": len(items), "conflicts": 0})
        return done


def worker_config(namespace: str) -> WorkerConfig:
    return WorkerConfig(parsing={"logs": StreamParsing(stream="logs", namespace=namespace)},
                        options=ParseOptions(), naming=IndexNaming())


def test_replay_into_an_empty_namespace_reproduces_the_live_documents(clients, tmp_path, capsys):
    s3, kms, endpoint = clients
    bucket = new_bucket(s3, locked=True)
    live_config = worker_config("default")
    archive = sink(s3, kms, bucket, retention_days=1)
    live: dict[str, BulkItem] = {}
    payloads = corpus()[:150]
    cuts = [(0, 40), (40, 90), (70, 120), (120, 150)]  # (70, 120) is a re-read after a crash
    for start, stop in cuts:
        batch = records(payloads[start:stop], start)
        archive.deliver(RecordBatch("logs", SHARD, tuple(batch))).result(30)
        wire = [[r.sequence, r.sub_sequence, r.arrival_ms, r.partition_key, r.data_b64] for r in batch]
        for item in parse_chunk("logs", SHARD, wire, live_config).items:
            live.setdefault(item.id, item)  # bulk create: the first write of an id stays
    archive.close(1)
    assert live

    def replay(namespace: str) -> dict[str, BulkItem]:
        config = worker_config(namespace)
        target = Capture()
        replayer = Replayer(s3, bucket, "archive", lambda st, sh, recs: parse_chunk(st, sh, recs, config), target)
        report = replayer.run(replayer.plan("logs", None, None), None, None)
        assert report.records == 150 and report.duplicate_records == 0
        assert len(target.items) == len({i.id for i in target.items})
        return {i.id: i for i in target.items}

    same = replay("default")
    assert same == live  # ids, indices and bodies byte for byte
    rebuilt = replay("rebuild")
    assert rebuilt.keys() == live.keys()
    for doc_id, item in rebuilt.items():
        original = live[doc_id]
        assert item.index == original.index.removesuffix("-default") + "-rebuild"
        body, expected = orjson.loads(item.body), orjson.loads(original.body)
        assert body.pop("data_stream")["namespace"] == "rebuild"
        expected.pop("data_stream")
        assert body == expected

    settings = tmp_path / "secstash.yml"
    settings.write_text(f"""
aws: {{region: us-east-1, endpoint_url: "{endpoint}"}}
streams: [{{name: logs}}]
archive: {{bucket: {bucket}, retention_days: 1}}
search: {{hosts: ["http://127.0.0.1:9"]}}
""")
    since = datetime.fromtimestamp(T0 / 1000, UTC).isoformat()
    code = cli.main(["replay", "--from", f"s3://{bucket}/archive", "--since", since, "--until", "2030-01-01",
                     "--config", str(settings), "--namespace", "rebuild", "--dry-run", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(live)} documents" in out and "150 records" in out
