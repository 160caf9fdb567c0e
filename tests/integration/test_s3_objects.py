"""Log objects that S3 notifications point at, read from a real moto S3 through the parser pool's reader."""

from __future__ import annotations

import base64
import gzip
import os
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from consumer.objects import ObjectAccess, ObjectReader
from consumer.pool import ParserPool, WorkerConfig, parse_chunk
from parsers import ParseOptions
from parsers.envelopes import unwrap
from sinks import aws
from tests.unit.parsers.test_s3_objects import ALB_KEY, ALB_LINE, created, notification

pytestmark = pytest.mark.integration
STREAM = "pointers"


@pytest.fixture(scope="module")
def s3(moto_server: Any) -> Iterator[Any]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    yield aws.client("s3", "eu-west-1", moto_server.endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"lb-logs-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return name


def config(moto_server: Any, **access: Any) -> WorkerConfig:
    settings = {"region": "us-east-1", "max_bytes": 1 << 20, "s3_endpoint": moto_server.endpoint,
                "sts_endpoint": moto_server.endpoint, **access}
    return WorkerConfig(parsing={}, options=ParseOptions(), objects={STREAM: ObjectAccess(**settings)})


def wire(payload: bytes, number: int = 0) -> list[Any]:
    return [str(49_650_000_000_000_000_000 + number), 0, 1_714_521_600_000, "pk", base64.b64encode(payload).decode()]


def test_the_pool_reads_the_object_a_notification_points_at(moto_server: Any, s3: Any, bucket: str) -> None:
    body = gzip.compress(f"{ALB_LINE}\n{ALB_LINE}\n".encode())
    s3.put_object(Bucket=bucket, Key=ALB_KEY, Body=body)
    parsed = parse_chunk(STREAM, "shardId-0", [wire(notification(created(ALB_KEY, bucket=bucket)))],
                         config(moto_server))
    assert parsed.dead_letters == []
    assert [item.dataset for item in parsed.items] == ["elb_logs", "elb_logs"]
    assert (parsed.objects_read, parsed.object_bytes) == (1, len(body))
    doc = orjson.loads(parsed.items[0].body)
    assert doc["aws"]["s3"]["bucket"]["name"] == bucket
    assert doc["log"]["file"]["path"].endswith(f".s3.eu-west-1.amazonaws.com/{ALB_KEY}")
    assert len({item.id for item in parsed.items}) == 2


def test_missing_objects_and_buckets_are_dead_lettered_with_a_redrivable_notification(
        moto_server: Any, s3: Any, bucket: str) -> None:
    records = [wire(notification(created(ALB_KEY, bucket=bucket)), 0),
               wire(notification(created(ALB_KEY, bucket=f"{bucket}-none")), 1)]
    parsed = parse_chunk(STREAM, "shardId-0", records, config(moto_server))
    assert parsed.items == []
    assert [(d.reason, d.source.ordinal) for d in parsed.dead_letters] == [("s3_object_unavailable", 0)] * 2
    assert "NoSuchKey" in parsed.dead_letters[0].message and "NoSuchBucket" in parsed.dead_letters[1].message
    assert parsed.failures == {"s3_object_unavailable": 2}
    # The dead letter's raw text is a record of its own: once the object exists, it is read.
    s3.put_object(Bucket=bucket, Key=ALB_KEY, Body=f"{ALB_LINE}\n".encode())
    again = parse_chunk(STREAM, "shardId-0", [wire(parsed.dead_letters[0].raw.encode(), 2)], config(moto_server))
    assert [item.dataset for item in again.items] == ["elb_logs"]


def test_an_object_stored_over_the_cap_is_not_downloaded(moto_server: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=ALB_KEY, Body=f"{ALB_LINE}\n".encode() * 50)
    parsed = parse_chunk(STREAM, "shardId-0", [wire(notification(created(ALB_KEY, bucket=bucket)))],
                         config(moto_server, max_bytes=1000))
    assert [d.reason for d in parsed.dead_letters] == ["payload_too_large"]
    assert parsed.objects_read == 0


def test_only_the_streams_buckets_are_read(moto_server: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=ALB_KEY, Body=f"{ALB_LINE}\n".encode())
    records = [wire(notification(created(ALB_KEY, bucket=bucket)))]
    elsewhere = parse_chunk(STREAM, "shardId-0", records, config(moto_server, buckets=(("org-*-logs", None),)))
    assert [d.reason for d in elsewhere.dead_letters] == ["s3_bucket_not_allowed"]
    assert elsewhere.failures == {"s3_bucket_not_allowed": 1} and elsewhere.objects_read == 0
    listed = parse_chunk(STREAM, "shardId-0", records, config(moto_server, buckets=(("lb-logs-*", None),)))
    assert [item.dataset for item in listed.items] == ["elb_logs"] and listed.objects_read == 1


def test_pointers_to_the_archive_bucket_or_that_s3_cannot_answer_are_dead_lettered_unread(
        moto_server: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=ALB_KEY, Body=f"{ALB_LINE}\n".encode())
    records = [wire(notification(created(ALB_KEY, bucket=bucket)), 0),  # the archive bucket, in this test
               wire(notification(created(ALB_KEY, bucket=bucket, region="zz-nowhere-9")), 1),
               wire(notification(created(ALB_KEY, bucket="lb_logs!")), 2),
               wire(notification(created(ALB_KEY, bucket=bucket, versionId="v\u0000")), 3)]
    parsed = parse_chunk(STREAM, "shardId-0", records, config(moto_server, archive_bucket=bucket))
    assert [d.reason for d in parsed.dead_letters] == ["s3_bucket_not_allowed"] + ["bad_s3_notification"] * 3
    assert parsed.objects_read == 0 and parsed.items == []


def test_the_notified_version_is_read_not_the_latest(moto_server: Any, s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key=ALB_KEY, Body=f"{ALB_LINE}\n".encode())["VersionId"]
    s3.put_object(Bucket=bucket, Key=ALB_KEY, Body=f"{ALB_LINE}\n{ALB_LINE}\n{ALB_LINE}\n".encode())
    parsed = parse_chunk(STREAM, "shardId-0",
                         [wire(notification(created(ALB_KEY, bucket=bucket, versionId=first)))], config(moto_server))
    assert len(parsed.items) == 1


def test_a_reader_with_a_role_reads_with_the_roles_credentials(moto_server: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key=ALB_KEY, Body=f"{ALB_LINE}\n".encode())
    access = ObjectAccess(region="us-east-1", max_bytes=1 << 20, role_arn="arn:aws:iam::123456789012:role/log-reader",
                          s3_endpoint=moto_server.endpoint, sts_endpoint=moto_server.endpoint)
    reader = ObjectReader(access)
    [ref] = unwrap(notification(created(ALB_KEY, bucket=bucket)), 1 << 20).objects
    assert reader(ref) == f"{ALB_LINE}\n".encode()
    credentials = reader._session.get_credentials().get_frozen_credentials()  # what was used
    assert credentials.access_key != os.environ["AWS_ACCESS_KEY_ID"]
    assert credentials.token  # temporary credentials from STS AssumeRole


def test_parser_workers_read_objects_with_the_access_the_settings_gave(moto_server: Any, s3: Any, bucket: str) -> None:
    # Through real worker processes: the access crosses by pickle, each worker builds its own reader.
    s3.put_object(Bucket=bucket, Key=ALB_KEY, Body=gzip.compress(f"{ALB_LINE}\n".encode()))
    pool = ParserPool(config(moto_server), workers=1)
    try:
        parsed = pool.parse(STREAM, "shardId-0", [wire(notification(created(ALB_KEY, bucket=bucket)))])
        unread = pool.parse("another-stream", "shardId-0", [wire(notification(created(ALB_KEY, bucket=bucket)))])
    finally:
        pool.close()
    assert [item.dataset for item in parsed.items] == ["elb_logs"] and parsed.objects_read == 1
    # A stream without object access indexes the notification itself.
    assert [item.dataset for item in unread.items] == ["cloudwatch_logs"] and unread.objects_read == 0
