"""The embedded servers start from the project's own code and behave like the real services we rely on.

Each server starts once for this module; ``scripts/setup.sh`` must have installed them (a missing one
fails with a message naming it).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from consumer.embedded.kcl import MultiLangDaemon
from consumer.embedded.kinesis_local import KinesisLocal
from consumer.embedded.moto_server import MotoServer
from consumer.embedded.process import wait_until
from consumer.embedded.search_engine import SearchEngine

pytestmark = pytest.mark.integration

REGION = "us-east-1"
CREDENTIALS = {
    "aws_access_key_id": "AKIDSECSTASHTEST",
    "aws_secret_access_key": "secret",
    "region_name": REGION,
}


def aws(service: str, endpoint: str):
    return boto3.client(
        service, endpoint_url=endpoint, config=Config(retries={"max_attempts": 2}), **CREDENTIALS
    )


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(log_dir=tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="module")
def kinesis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KinesisLocal]:
    with KinesisLocal(log_dir=tmp_path_factory.mktemp("kinesis")) as server:
        yield server


@pytest.fixture(scope="module")
def elasticsearch() -> Iterator[SearchEngine]:
    with SearchEngine("elasticsearch") as engine:
        yield engine


@pytest.fixture(scope="module")
def opensearch() -> Iterator[SearchEngine]:
    with SearchEngine("opensearch") as engine:
        yield engine


def wait_stream_active(client, name: str) -> None:
    wait_until(
        lambda: (
            client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
            == "ACTIVE"
        ),
        timeout=10,
        interval=0.05,
        what=f"stream {name} ACTIVE",
    )


# --------------------------------------------------------------------------- moto
def test_moto_s3_compliance_locked_kms_encrypted_object_version_cannot_be_deleted(moto: MotoServer) -> None:
    s3, kms = aws("s3", moto.endpoint), aws("kms", moto.endpoint)
    key_id = kms.create_key(Description="archive")["KeyMetadata"]["KeyId"]
    s3.create_bucket(Bucket="archive", ObjectLockEnabledForBucket=True)
    body = b'{"event": 1}\n'

    put = s3.put_object(
        Bucket="archive",
        Key="raw/2024/01/01/batch.json.gz",
        Body=body,
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(days=1),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key_id,
        ChecksumAlgorithm="SHA256",
    )

    version = put["VersionId"]
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    head = s3.head_object(Bucket="archive", Key="raw/2024/01/01/batch.json.gz", ChecksumMode="ENABLED")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert key_id in head["SSEKMSKeyId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(
            Bucket="archive",
            Key="raw/2024/01/01/batch.json.gz",
            VersionId=version,
            BypassGovernanceRetention=True,
        )
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert (
        s3.get_object(Bucket="archive", Key="raw/2024/01/01/batch.json.gz", VersionId=version)["Body"].read()
        == body
    )


def test_moto_dynamodb_stores_and_returns_an_item(moto: MotoServer) -> None:
    ddb = aws("dynamodb", moto.endpoint)
    ddb.create_table(
        TableName="leases",
        AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(
        TableName="leases", Item={"leaseKey": {"S": "shardId-000000000000"}, "checkpoint": {"S": "42"}}
    )
    item = ddb.get_item(TableName="leases", Key={"leaseKey": {"S": "shardId-000000000000"}})["Item"]
    assert item["checkpoint"] == {"S": "42"}


# --------------------------------------------------------------------------- kinesis-local
def test_kinesis_local_returns_put_records_in_order_per_shard(kinesis: KinesisLocal) -> None:
    client = aws("kinesis", kinesis.endpoint)
    client.create_stream(StreamName="roundtrip", ShardCount=1)
    wait_stream_active(client, "roundtrip")

    put = client.put_records(
        StreamName="roundtrip",
        Records=[{"Data": f"event-{i}".encode(), "PartitionKey": str(i)} for i in range(5)],
    )

    assert put["FailedRecordCount"] == 0
    shard = client.list_shards(StreamName="roundtrip")["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(
        StreamName="roundtrip", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    records = client.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [r["Data"] for r in records] == [f"event-{i}".encode() for i in range(5)]


def test_kinesis_local_reshards_and_lists_only_open_shards_at_latest(kinesis: KinesisLocal) -> None:
    client = aws("kinesis", kinesis.endpoint)
    client.create_stream(StreamName="reshard", ShardCount=2)
    wait_stream_active(client, "reshard")

    client.update_shard_count(StreamName="reshard", TargetShardCount=1, ScalingType="UNIFORM_SCALING")
    wait_stream_active(client, "reshard")

    latest = client.list_shards(StreamName="reshard", ShardFilter={"Type": "AT_LATEST"})["Shards"]
    assert [s["ShardId"] for s in latest] == ["shardId-000000000002"]
    assert {latest[0]["ParentShardId"], latest[0]["AdjacentParentShardId"]} == {
        "shardId-000000000000",
        "shardId-000000000001",
    }


# --------------------------------------------------------------------------- search engines
def test_elasticsearch_indexes_a_document_and_counts_it(elasticsearch: SearchEngine) -> None:
    from elasticsearch8 import Elasticsearch

    es = Elasticsearch(elasticsearch.url)
    es.index(index="smoke", id="1", document={"message": "hello", "@timestamp": "2024-01-01T00:00:00Z"})
    es.indices.refresh(index="smoke")
    assert es.count(index="smoke")["count"] == 1
    assert es.cluster.health()["cluster_name"] == elasticsearch.settings["cluster.name"]


def test_opensearch_indexes_a_document_and_counts_it(opensearch: SearchEngine) -> None:
    from opensearchpy import OpenSearch

    client = OpenSearch(opensearch.url)
    client.index(index="smoke", id="1", body={"message": "hello"}, refresh=True)
    assert client.count(index="smoke")["count"] == 1
    assert client.info()["version"]["number"] == opensearch.version


def test_elasticsearch_write_block_refuses_bulk_items_with_403(elasticsearch: SearchEngine) -> None:
    elasticsearch.request("PUT", "/blocked", {"settings": {"index.blocks.write": True}})
    status, body = elasticsearch.request(
        "POST", "/_bulk", '{"create":{"_index":"blocked","_id":"1"}}\n{"a":1}\n'
    )
    assert status == 200
    assert body["items"][0]["create"]["status"] == 403


@pytest.mark.slow
def test_opensearch_restart_keeps_port_and_indexed_documents(opensearch: SearchEngine) -> None:
    opensearch.request("PUT", "/durable/_doc/1?refresh=true", {"kept": True})
    url = opensearch.url

    opensearch.restart()

    assert opensearch.url == url
    status, body = opensearch.request("GET", "/durable/_count")
    assert (status, body["count"]) == (200, 1)


@pytest.mark.slow
def test_elasticsearch_with_security_requires_tls_a_password_and_the_right_role() -> None:
    from elasticsearch8 import AuthenticationException, AuthorizationException, Elasticsearch

    writer_role = {"indices": [{"names": ["logs-*"], "privileges": ["create_doc", "auto_configure"]}]}
    with SearchEngine(
        "elasticsearch",
        security=True,
        users={"writer": ("writer-pass", ["writer"])},
        roles={"writer": writer_role},
    ) as engine:
        assert engine.url.startswith("https://")
        admin = Elasticsearch(engine.url, ca_certs=str(engine.ca_certs), basic_auth=engine.basic_auth)
        writer = Elasticsearch(
            engine.url, ca_certs=str(engine.ca_certs), basic_auth=("writer", "writer-pass")
        )

        writer.create(index="logs-secure", id="1", document={"a": 1}, refresh=True)

        assert admin.count(index="logs-secure")["count"] == 1
        with pytest.raises(AuthorizationException):
            writer.create(index="elsewhere", id="1", document={"a": 1})
        with pytest.raises(AuthenticationException):
            Elasticsearch(engine.url, ca_certs=str(engine.ca_certs), basic_auth=("writer", "wrong")).count()


# --------------------------------------------------------------------------- KCL daemon
PROCESSOR = textwrap.dedent(
    """
    import os
    from amazon_kclpy import kcl
    from amazon_kclpy.v3 import processor

    class AppendToFile(processor.RecordProcessorBase):
        def initialize(self, initialize_input):
            self.shard = initialize_input.shard_id

        def process_records(self, process_records_input):
            records = process_records_input.records
            if not records:
                return
            with open(os.environ["OUT_FILE"], "a") as out:
                for r in records:
                    out.write(f"{self.shard} {r.sequence_number} {r.binary_data.decode()}\\n")
            process_records_input.checkpointer.checkpoint(records[-1].sequence_number, records[-1].sub_sequence_number)

        def lease_lost(self, lease_lost_input):
            pass

        def shard_ended(self, shard_ended_input):
            shard_ended_input.checkpointer.checkpoint()

        def shutdown_requested(self, shutdown_requested_input):
            shutdown_requested_input.checkpointer.checkpoint()

    kcl.KCLProcess(AppendToFile()).run()
    """
)


@pytest.mark.e2e
@pytest.mark.slow
def test_kcl_daemon_delivers_records_and_checkpoints_to_the_lease_table(
    kinesis: KinesisLocal, moto: MotoServer, tmp_path: Path
) -> None:
    client, ddb = aws("kinesis", kinesis.endpoint), aws("dynamodb", moto.endpoint)
    client.create_stream(StreamName="kcl-smoke", ShardCount=2)
    wait_stream_active(client, "kcl-smoke")
    client.put_records(
        StreamName="kcl-smoke",
        Records=[{"Data": f"r{i}".encode(), "PartitionKey": str(i)} for i in range(20)],
    )
    (tmp_path / "processor.py").write_text(PROCESSOR)
    out = tmp_path / "out.txt"
    properties = {
        "executableName": f"{sys.executable} {tmp_path / 'processor.py'}",
        "streamName": "kcl-smoke",
        "applicationName": "kcl-smoke-app",
        "AwsCredentialsProvider": "EnvironmentVariableCredentialsProvider",
        "regionName": REGION,
        "kinesisEndpoint": kinesis.endpoint,
        "dynamoDBEndpoint": moto.endpoint,
        "cloudWatchClient.endpointOverride": moto.endpoint,
        "metricsLevel": "NONE",
        "initialPositionInStream": "TRIM_HORIZON",
        "retrievalMode": "POLLING",
        "idleTimeBetweenReadsInMillis": "200",
        "failoverTimeMillis": "10000",
        "leaseAssignmentIntervalMillis": "1000",
        "shardSyncIntervalMillis": "5000",
        "parentShardPollIntervalMillis": "1000",
        "disableWorkerMetrics": "true",
        "shutdownGraceMillis": "20000",
    }
    (tmp_path / "app.properties").write_text("".join(f"{k} = {v}\n" for k, v in properties.items()))
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
        AWS_REGION=REGION,
        OUT_FILE=str(out),
    )
    daemon = MultiLangDaemon(
        tmp_path / "app.properties", log_path=tmp_path / "kcl.log", env=env, log_level="WARN"
    )

    def delivered() -> list[str]:
        return out.read_text().splitlines() if out.exists() else []

    def daemon_died() -> str | None:
        return None if daemon.is_running else f"daemon exited {daemon.returncode}:\n{daemon.log_tail()}"

    daemon.start()
    try:
        # A new lease table makes the daemon wait 1-30 s (random) before its first shard sync.
        wait_until(
            lambda: len(delivered()) >= 20, timeout=180, what="20 records delivered", abort=daemon_died
        )
        last_sequence = {line.split()[0]: line.split()[1] for line in delivered()}

        def checkpoints() -> dict[str, str]:
            items = ddb.scan(TableName="kcl-smoke-app")["Items"]
            return {i["leaseKey"]["S"]: i.get("checkpoint", {}).get("S", "") for i in items}

        wait_until(lambda: checkpoints() == last_sequence, timeout=30, what="checkpoints at the last records")
        assert sorted(line.split()[2] for line in delivered()) == sorted(f"r{i}" for i in range(20))
    finally:
        started = time.monotonic()
        daemon.stop(timeout=60)
        assert time.monotonic() - started < 60
