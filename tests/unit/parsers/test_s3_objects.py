"""S3 event notifications on a stream: pointers to log objects, read through the caller's `fetch`.

Uses the real dataset parsers (ALB, S3 access, CloudTrail) so the documents are what the pipeline indexes.
"""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest

from parsers import ObjectRef, ObjectUnavailable, ParseOptions, StreamParsing, parse_record
from parsers.detect import dataset_for_key
from parsers.envelopes import unwrap
from parsers.record import OBJECT_ORDINALS
from sinks.documents import document_id

ALB_KEY = ("AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/05/01/"
           "123456789012_elasticloadbalancing_eu-west-1_app.web.50dc6c495c0c9188_20240501T0005Z_10.0.0.1_x.log.gz")
ALB_LINE = ('https 2024-05-01T00:04:59.123456Z app/web/50dc6c495c0c9188 203.0.113.9:2817 10.0.0.1:80 0.000 0.001 '
            '0.000 200 200 34 366 "GET https://www.example.com:443/ HTTP/1.1" "curl/8.4.0" '
            'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
            'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/73e2d6bc24d8a067 '
            '"Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "-" 1 2024-05-01T00:04:59.000000Z '
            '"forward" "-" "-" "10.0.0.1:80" "200" "-" "-"')
S3ACCESS_LINE = ('79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be logs-bucket '
                 '[06/Feb/2019:00:00:38 +0000] 192.0.2.3 '
                 '79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE '
                 'REST.GET.VERSIONING - "GET /logs-bucket?versioning HTTP/1.1" 200 - 113 - 7 - "-" '
                 '"S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= '
                 'SigV2 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader logs-bucket.s3.us-west-1.amazonaws.com TLSV1.1')
TRAIL_RECORD = {"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser",
                "eventTime": "2024-05-01T00:00:00Z", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
                "userIdentity": {"type": "Root", "accountId": "123456789012"}, "eventID": "e1",
                "recipientAccountId": "123456789012"}


def notification(*records: dict) -> bytes:
    return orjson.dumps({"Records": list(records)})


def created(key: str, bucket: str = "lb-logs", region: str = "eu-west-1", name: str = "ObjectCreated:Put",
            **obj: object) -> dict:
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region, "eventName": name,
            "eventTime": "2024-05-01T00:05:10.000Z",
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                   "object": {"key": key, "size": 100, **obj}}}


def eventbridge_created(key: str, **obj: object) -> bytes:
    return orjson.dumps({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "123456789012", "time": "2024-05-01T00:05:10Z", "region": "eu-west-1",
        "resources": ["arn:aws:s3:::lb-logs"],
        "detail": {"version": "0", "bucket": {"name": "lb-logs"}, "object": {"key": key, "size": 100, **obj},
                   "reason": "PutObject"}})


class Bucket:
    """A fake `fetch`: objects by (bucket, key), and what was asked for."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects
        self.asked: list[ObjectRef] = []

    def __call__(self, ref: ObjectRef) -> bytes:
        self.asked.append(ref)
        try:
            return self.objects[(ref.bucket, ref.key)]
        except KeyError:
            raise ObjectUnavailable(f"s3://{ref.bucket}/{ref.key}: NoSuchKey") from None


def parse(data: bytes, fetch=None, **options):
    return parse_record(data, StreamParsing(stream="s"), ParseOptions(**options), fetch)


def test_a_notification_is_followed_to_its_log_object_and_every_line_is_parsed():
    bucket = Bucket({("lb-logs", ALB_KEY): gzip.compress(f"{ALB_LINE}\n{ALB_LINE}\n".encode())})
    outcome = parse(notification(created(ALB_KEY)), bucket)
    assert [ref.key for ref in bucket.asked] == [ALB_KEY]
    assert bucket.asked[0].region == "eu-west-1"
    assert outcome.failures == []
    assert [(d.dataset, d.ordinal) for d in outcome.documents] == [("elb_logs", 0), ("elb_logs", 1)]
    assert outcome.events == 2 and outcome.events_by_dataset == {"elb_logs": 2}
    doc = outcome.documents[0].doc
    # What Elastic's aws-s3 input adds, so saved searches on the file fields keep working.
    assert doc["aws"]["s3"] == {"bucket": {"name": "lb-logs", "arn": "arn:aws:s3:::lb-logs"},
                                "object": {"key": ALB_KEY}}
    assert doc["log"]["file"]["path"] == f"https://lb-logs.s3.eu-west-1.amazonaws.com/{ALB_KEY}"
    assert doc["cloud"]["provider"] == "aws" and doc["cloud"]["region"] == "eu-west-1"
    assert doc["aws"]["elb"]["name"] == "app/web/50dc6c495c0c9188"
    assert doc["source"]["ip"] == "203.0.113.9"


def test_objects_of_one_record_number_their_events_within_ranges_of_their_own():
    other = ALB_KEY.replace("_x.log.gz", "_y.log.gz")
    bucket = Bucket({("lb-logs", ALB_KEY): f"{ALB_LINE}\n".encode(),
                     ("lb-logs", other): f"{ALB_LINE}\n{ALB_LINE}\n".encode()})
    outcome = parse(notification(created(ALB_KEY, name="ObjectRemoved:Delete"), created(ALB_KEY), created(other)),
                    bucket)
    # The record's own event first (0), the first object right after it, the second from 2**32 on.
    assert [d.ordinal for d in outcome.documents] == [0, 1, OBJECT_ORDINALS, OBJECT_ORDINALS + 1]
    assert [d.doc["aws"]["s3"]["object"]["key"] for d in outcome.documents[1:]] == [ALB_KEY, other, other]


def test_an_object_that_vanishes_between_two_reads_leaves_the_other_objects_ids_alone():
    # The review's d8: a record of two pointers read twice (a batch re-read), the first object gone the
    # second time. The second object's documents must keep their ids, or they are indexed twice.
    objects = {("lb-logs", "a.log"): b"line a1\nline a2\nline a3\n", ("lb-logs", "b.log"): b"line b1\nline b2\n"}
    bucket = Bucket(objects)
    record = notification(created("a.log"), created("b.log"))

    def ids() -> dict[str, str]:
        outcome = parse(record, bucket)
        return {d.doc["message"]: document_id("s", "shard-0", "1", 0, d.ordinal, d.part) for d in outcome.documents}

    first = ids()
    del objects[("lb-logs", "a.log")]
    second = ids()
    assert set(second) == {"line b1", "line b2"}
    assert {m: first[m] for m in second} == second
    # And the other way round: the first object's ids do not depend on the second.
    objects[("lb-logs", "a.log")] = b"line a1\nline a2\nline a3\n"
    objects[("lb-logs", "b.log")] = b"line b1\n" * 50
    assert {m: i for m, i in ids().items() if m.startswith("line a")} == {m: first[m] for m in first
                                                                           if m.startswith("line a")}


def test_the_documents_of_a_one_pointer_record_keep_the_ids_they_had_before_objects_had_ranges():
    # Ids the code before per-object ranges gave (pinned): most notifications name one object, and an upgrade
    # must not index their documents again on a replay or a re-read.
    from sinks.batch import RawRecord
    from sinks.documents import BulkItemBuilder

    def ids(*records: dict) -> list[str]:
        raw = RawRecord("49650000000000000000000000000000000000000000000000000001", 0, 1_714_521_600_000, "pk", "")
        builder = BulkItemBuilder("logs", "shardId-000000000000", raw, lambda *_: "index")
        parse_record(notification(*records), StreamParsing(stream="s"), ParseOptions(),
                     Bucket({("lb-logs", ALB_KEY): f"{ALB_LINE}\n{ALB_LINE}\n".encode()}), builder.add)
        return [item.id for item in builder.items]

    assert ids(created(ALB_KEY)) == ["gs_moxBUcnvOd_xanpH6", "l57pU1ZPtAKmXWy9TK4n"]
    # With an event of its own before the pointer (an S3 event that is not a creation), as well.
    assert ids(created("k", name="ObjectRemoved:Delete"), created(ALB_KEY)) == [
        "gs_moxBUcnvOd_xanpH6", "l57pU1ZPtAKmXWy9TK4n", "W1E6KsjKnrr0nHssYXJQ"]


def test_an_eventbridge_object_created_event_is_followed_too_with_its_version():
    bucket = Bucket({("lb-logs", ALB_KEY): f"{ALB_LINE}\n".encode()})
    outcome = parse(eventbridge_created(ALB_KEY, **{"version-id": "v7"}), bucket)
    assert [d.dataset for d in outcome.documents] == ["elb_logs"]
    assert bucket.asked[0].version_id == "v7"


def test_keys_are_url_decoded_as_s3_encodes_them_in_notifications():
    key = "access/2024-05-01-00-00-38-0A1B2C3D4E5F6789"
    bucket = Bucket({("logs", "my logs:2024/" + key): f"{S3ACCESS_LINE}\n".encode()})
    outcome = parse(notification(created("my+logs%3A2024/" + key, bucket="logs")), bucket)
    assert bucket.asked[0].key == "my logs:2024/" + key
    assert bucket.asked[0].encoded_key == "my+logs%3A2024/" + key
    assert [d.dataset for d in outcome.documents] == ["s3access"]


def test_a_cloudtrail_file_read_from_s3_gives_one_document_per_record():
    key = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/123456789012_CloudTrail_us-east-1_x.json.gz"
    content = gzip.compress(orjson.dumps({"Records": [TRAIL_RECORD, {**TRAIL_RECORD, "eventID": "e2"}]}))
    outcome = parse(notification(created(key, bucket="trail", region="us-east-1")),
                    Bucket({("trail", key): content}))
    assert [(d.dataset, d.doc["event"]["action"]) for d in outcome.documents] == [("cloudtrail", "CreateUser")] * 2
    assert outcome.documents[1].doc["aws"]["s3"]["object"]["key"] == key


def test_a_key_no_layout_knows_leaves_each_line_to_shape_detection():
    outcome = parse(notification(created("custom/prefix/file.log", bucket="b")),
                    Bucket({("b", "custom/prefix/file.log"): f"{S3ACCESS_LINE}\n{ALB_LINE}\n".encode()}))
    assert [d.dataset for d in outcome.documents] == ["s3access", "elb_logs"]


def test_an_object_that_cannot_be_read_is_dead_lettered_with_a_notification_of_it_alone():
    missing = ALB_KEY.replace("_x.log.gz", "_gone.log.gz")
    bucket = Bucket({("lb-logs", ALB_KEY): f"{ALB_LINE}\n".encode()})
    outcome = parse(notification(created(missing), created(ALB_KEY)), bucket)
    assert [d.ordinal for d in outcome.documents] == [OBJECT_ORDINALS]
    [failure] = outcome.failures
    assert (failure.reason, failure.ordinal, failure.dataset) == ("s3_object_unavailable", 0, "elb_logs")
    assert "NoSuchKey" in failure.message
    raw = orjson.loads(failure.raw)
    assert [r["s3"]["object"]["key"] for r in raw["Records"]] == [missing]
    # Once the object is there, redriving the dead letter's raw text reads it.
    bucket.objects[("lb-logs", missing)] = f"{ALB_LINE}\n".encode()
    again = parse(failure.raw.encode(), bucket)
    assert [d.dataset for d in again.documents] == ["elb_logs"] and not again.failures


def test_a_transient_read_error_escapes_so_the_batch_is_read_again():
    def throttled(ref: ObjectRef) -> bytes:
        raise ConnectionError("SlowDown")

    with pytest.raises(ConnectionError):
        parse(notification(created(ALB_KEY)), throttled)


def test_an_object_over_the_decompression_cap_is_dead_lettered():
    big = gzip.compress(f"{ALB_LINE}\n".encode() * 200)
    outcome = parse(notification(created(ALB_KEY)), Bucket({("lb-logs", ALB_KEY): big}),
                    max_decompressed_bytes=10_000)
    assert [f.reason for f in outcome.failures] == ["payload_too_large"]
    assert outcome.documents == []


def test_an_object_of_more_gzip_members_than_the_limit_is_dead_lettered_as_bad_gzip():
    from parsers.envelopes import gzip as gzip_envelope

    # The review's object of empty members (20 bytes each, nothing out): refused, not minutes of CPU.
    members = gzip.compress(b"", 9) * (gzip_envelope.MAX_MEMBERS + 1)
    outcome = parse(notification(created(ALB_KEY)), Bucket({("lb-logs", ALB_KEY): members}))
    [failure] = outcome.failures
    assert (failure.reason, failure.message) == ("bad_gzip", f"more than {gzip_envelope.MAX_MEMBERS} gzip members")
    assert [r["s3"]["object"]["key"] for r in orjson.loads(failure.raw)["Records"]] == [ALB_KEY]
    assert outcome.documents == []


def test_without_a_reader_the_notification_itself_is_indexed_in_the_generic_dataset():
    outcome = parse(notification(created(ALB_KEY)))
    [document] = outcome.documents
    assert document.dataset == "cloudwatch_logs"
    assert ALB_KEY in document.doc["message"]


def test_other_s3_events_are_kept_whole_and_not_read():
    bucket = Bucket({})
    outcome = parse(notification(created(ALB_KEY, name="ObjectRemoved:Delete")), bucket)
    assert bucket.asked == []
    assert [d.dataset for d in outcome.documents] == ["cloudwatch_logs"]


def test_the_test_event_s3_sends_on_configuration_is_a_counted_drop():
    outcome = parse(orjson.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-05-01T00:00:00Z",
                                  "Bucket": "lb-logs"}), Bucket({}))
    assert outcome.dropped == {"s3_test_event": 1}
    assert outcome.documents == [] and outcome.failures == []


def test_a_notification_without_bucket_or_key_is_a_bad_envelope():
    record = created(ALB_KEY)
    del record["s3"]["bucket"]["name"]
    outcome = parse(notification(record), Bucket({}))
    assert [f.reason for f in outcome.failures] == ["bad_s3_notification"]


def test_pointers_inside_a_log_file_are_indexed_not_followed():
    inner = notification(created(ALB_KEY)).decode()
    bucket = Bucket({("b", "custom/notifications.json"): inner.encode()})
    outcome = parse(notification(created("custom/notifications.json", bucket="b")), bucket)
    assert len(bucket.asked) == 1
    assert [d.dataset for d in outcome.documents] == ["cloudwatch_logs"]


def test_a_bug_past_the_per_event_guards_dead_letters_the_record_whole(monkeypatch):
    import parsers.record

    def broken(key: str) -> str:
        raise LookupError("a bug")

    monkeypatch.setattr(parsers.record, "dataset_for_key", broken)
    data = notification(created(ALB_KEY))
    outcome = parse(data, Bucket({}))
    assert [(f.reason, f.ordinal) for f in outcome.failures] == [("internal_error", None)]
    assert outcome.events == 1 and not outcome.documents
    assert outcome.failures[0].raw == base64.b64encode(data).decode()


def test_a_log_file_whose_wrapped_events_point_at_itself_is_read_once():
    # CloudWatch Logs events carrying EventBridge "Object Created" events that name the same object: the
    # pointers sit two envelopes deep inside the file, and were followed until the stack ran out.
    key = "custom/events.json"
    message = eventbridge_created(key).decode().replace('"lb-logs"', '"b"')
    log_file = orjson.dumps({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/events/s3", "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": [{"id": str(n), "timestamp": 1_714_521_600_000, "message": message} for n in range(2)]})
    bucket = Bucket({("b", key): log_file})
    outcome = parse(notification(created(key, bucket="b")), bucket)
    assert len(bucket.asked) == 1 and not outcome.failures
    assert len(outcome.documents) == 2
    assert all(d.doc["aws"]["s3"]["object"]["key"] == key for d in outcome.documents)


def test_unwrap_collects_objects_instead_of_events():
    unwrapped = unwrap(notification(created(ALB_KEY), created(ALB_KEY, name="ObjectRestore:Completed")), 1 << 20)
    assert [ref.key for ref in unwrapped.objects] == [ALB_KEY]
    assert len(unwrapped.items) == 1 and not unwrapped.dropped


@pytest.mark.parametrize(("key", "dataset"), [
    (ALB_KEY, "elb_logs"),
    ("prefix/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/01/01/x_net.lb_x.log.gz", "elb_logs"),
    ("AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/x.json.gz", "cloudtrail"),
    ("AWSLogs/o-abcdef1234/123456789012/CloudTrail/us-east-1/2024/01/01/x.json.gz", "cloudtrail"),
    ("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/01/x.json.gz", "cloudtrail"),
    ("AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/01/x_vpcflowlogs_us-east-1_fl-1_x.log.gz", "vpcflow"),
    ("AWSLogs/123456789012/vpcdnsquerylogs/vpc-0abc/2024/01/01/x.log.gz", "route53_resolver_logs"),
    ("AWSLogs/123456789012/WAFLogs/us-east-1/acl/2024/01/01/00/00/x_waflogs_us-east-1_acl_x.log.gz", "waf"),
    ("cdn/E2EXAMPLE1234AB.2024-05-01-10.a1b2c3d4.gz", "cloudfront_logs"),
    ("access-logs/2024-05-01-10-11-12-0A1B2C3D4E5F6789", "s3access"),
    ("exports/app.log", None),
    ("AWSLogs/123456789012/unknownservice/x.log.gz", None),
])
def test_the_dataset_of_a_log_object_comes_from_the_key_aws_writes_it_under(key, dataset):
    assert dataset_for_key(key) == dataset


@pytest.mark.parametrize(("key", "dataset"), [
    # the prefix before AWS's own layout is whoever configured the logging's: it never decides
    ("AWSLogs/111122223333/CloudTrail/" + ALB_KEY, "elb_logs"),
    ("AWSLogs/111122223333/CloudTrail/2024-05-01-10-11-12-0A1B2C3D4E5F6789", "s3access"),
    ("AWSLogs/111122223333/WAFLogs/logs/2024-05-01-10-11-12-0A1B2C3D4E5F6789", "s3access"),
    ("app_waflogs_2024-05-01-10-11-12-0A1B2C3D4E5F6789", "s3access"),
    ("AWSLogs/111122223333/vpcflowlogs/E2EXAMPLE1234AB.2024-05-01-10.a1b2c3d4.gz", "cloudfront_logs"),
    ("cdn_waflogs_/E2EXAMPLE1234AB.2024-05-01-10.a1b2c3d4.gz", "cloudfront_logs"),
    ("AWSLogs/111122223333/elasticloadbalancing/x/AWSLogs/o-abcdef1234/123456789012/CloudTrail/us-east-1/x.json.gz",
     "cloudtrail"),
    ("exports/app_waflogs_x/app.log", None),
    ("exportsAWSLogs/123456789012/CloudTrail/us-east-1/x.json.gz", None),
    # AWS Config's history and snapshot files are no CloudTrail: their key's last AWSLogs/ layout is Config/
    (("AWSLogs/123456789012/Config/eu-west-1/2024/5/1/ConfigHistory/123456789012_Config_eu-west-1_ConfigHistory_"
     "AWS::EC2::SecurityGroup_20240501T000000Z_20240501T010000Z_1.json.gz"), None),
    (("AWSLogs/o-abcdef1234/123456789012/Config/eu-west-1/2024/5/1/ConfigSnapshot/123456789012_Config_eu-west-1_"
     "ConfigSnapshot_20240501T000000Z_a1b2.json.gz"), None),
])
def test_only_what_aws_writes_after_the_owners_prefix_decides_a_keys_dataset(key, dataset):
    assert dataset_for_key(key) == dataset


@pytest.mark.parametrize("key", [
    ("AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=05/day=01/"
    "123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20240501T0005Z_h.log.gz"),
    "flows/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/x.log.gz",
])
def test_vpc_flow_logs_under_hive_compatible_prefixes_are_vpcflow(key):
    assert dataset_for_key(key) == "vpcflow"


def test_custom_format_flow_logs_under_hive_compatible_prefixes_are_not_generic():
    key = ("AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=05/"
           "day=01/123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20240501T0005Z_h.log.gz")
    fmt = "${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${action} ${start} ${end} ${interface-id}"
    body = ("srcaddr dstaddr srcport dstport protocol action start end interface-id\n"
            "10.0.0.5 203.0.113.9 443 51234 6 REJECT 1714521600 1714521660 eni-0123456789abcdef0\n")
    out = parse_record(notification(created(key)), StreamParsing(vpcflow_format=fmt), ParseOptions(),
                       fetch=lambda ref: gzip.compress(body.encode()))
    assert [doc.doc["data_stream"]["dataset"] for doc in out.documents] == ["aws.vpcflow"]
    assert out.documents[0].doc["source"]["ip"] == "10.0.0.5" and not out.failures


def test_alb_logs_under_a_cloudtrail_looking_prefix_are_still_alb_documents():
    key = "AWSLogs/111122223333/CloudTrail/" + ALB_KEY
    out = parse_record(notification(created(key)), StreamParsing(), ParseOptions(),
                       fetch=lambda ref: gzip.compress(ALB_LINE.encode()))
    assert [doc.doc["data_stream"]["dataset"] for doc in out.documents] == ["aws.elb_logs"] and not out.failures


def sns(message: bytes | str) -> dict:
    text = message.decode() if isinstance(message, bytes) else message
    return {"Type": "Notification", "MessageId": "2f8e1b7c", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:logs",
            "Subject": "Amazon S3 Notification", "Message": text, "Timestamp": "2024-05-01T00:05:11.000Z"}


def sqs(body: bytes | str | dict) -> dict:
    text = orjson.dumps(body).decode() if isinstance(body, dict) else body.decode() if isinstance(body, bytes) else body
    return {"messageId": "059f36b4", "receiptHandle": "AQEB", "body": text, "attributes": {},
            "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "eu-west-1",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:logs"}


@pytest.mark.parametrize("wrap", [
    pytest.param(lambda n: sns(n), id="sns"),
    pytest.param(lambda n: sqs(n), id="sqs"),
    pytest.param(lambda n: sqs(sns(n)), id="sqs-around-sns"),
])
def test_notifications_wrapped_by_sns_or_sqs_on_their_way_are_followed(wrap):
    bucket = Bucket({("lb-logs", ALB_KEY): f"{ALB_LINE}\n".encode()})
    outcome = parse(orjson.dumps(wrap(notification(created(ALB_KEY)))), bucket)
    assert [ref.key for ref in bucket.asked] == [ALB_KEY]
    assert [d.dataset for d in outcome.documents] == ["elb_logs"]


def test_a_wrapped_test_event_is_still_a_counted_drop():
    test_event = orjson.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "lb-logs"})
    assert parse(orjson.dumps(sqs(sns(test_event))), Bucket({})).dropped == {"s3_test_event": 1}


def test_a_wrapper_around_text_that_is_not_json_is_indexed_whole():
    outcome = parse(orjson.dumps(sns("plain words, not JSON")), Bucket({}))
    [document] = outcome.documents
    assert document.dataset == "cloudwatch_logs" and "plain words" in document.doc["message"]


def test_wrappers_nested_past_any_real_chain_are_not_taken_off_forever():
    wrapped: dict = sns(notification(created(ALB_KEY)))
    for _ in range(10):
        wrapped = sqs(wrapped)
    bucket = Bucket({("lb-logs", ALB_KEY): f"{ALB_LINE}\n".encode()})
    outcome = parse(orjson.dumps(wrapped), bucket)
    assert bucket.asked == []  # four layers come off; the rest is one event for the generic dataset
    assert [d.dataset for d in outcome.documents] == ["cloudwatch_logs"]


# --- what one record may expand to ----------------------------------------------------------------------

def _alb_keys(n: int) -> list[str]:
    return [ALB_KEY.replace("_x.log.gz", f"_{i}.log.gz") for i in range(n)]


def test_pointers_past_the_cap_are_one_dead_letter_whose_raw_text_reads_them():
    keys = _alb_keys(5)
    bucket = Bucket({("lb-logs", key): f"{ALB_LINE}\n{ALB_LINE}\n".encode() for key in keys})
    outcome = parse(notification(*[created(key) for key in keys]), bucket, max_objects_per_record=3)
    assert [ref.key for ref in bucket.asked] == keys[:3]
    assert len(outcome.documents) == 6
    assert {d.doc["aws"]["s3"]["object"]["key"] for d in outcome.documents} == set(keys[:3])
    [failure] = outcome.failures
    assert (failure.reason, failure.ordinal, failure.dataset) == ("too_many_objects", 3 * OBJECT_ORDINALS, None)
    assert "2 log objects past the first 3" in failure.message and keys[3] in failure.message
    assert outcome.events == 6 + 1
    # The raw text is a notification of the two left out: redriven, it reads them.
    assert [r["s3"]["object"]["key"] for r in orjson.loads(failure.raw)["Records"]] == keys[3:]
    bucket.asked.clear()
    again = parse(failure.raw.encode(), bucket, max_objects_per_record=3)
    assert [ref.key for ref in bucket.asked] == keys[3:] and len(again.documents) == 4 and not again.failures


def test_without_a_reader_pointers_past_the_cap_are_still_indexed_as_notifications():
    keys = _alb_keys(4)
    outcome = parse(notification(*[created(key) for key in keys]), max_objects_per_record=2)
    assert [d.dataset for d in outcome.documents] == ["cloudwatch_logs"] * 4 and not outcome.failures


def test_events_of_an_object_past_the_cap_are_one_dead_letter_naming_the_first_line_left_out():
    content = "\n".join([ALB_LINE] * 3 + [""] + [ALB_LINE] * 4).encode()  # line 4 is blank
    bucket = Bucket({("lb-logs", ALB_KEY): gzip.compress(content)})
    outcome = parse(notification(created(ALB_KEY, versionId="v1")), bucket, max_events_per_object=5)
    assert [d.ordinal for d in outcome.documents] == [0, 1, 2, 3, 4]
    [failure] = outcome.failures
    assert (failure.reason, failure.ordinal, failure.dataset) == ("too_many_events", 5, "elb_logs")
    assert failure.message == (f"s3://lb-logs/{ALB_KEY} (version v1): more than 5 events "
                               "(pipeline.max_events_per_object): the first 5 were parsed, the rest, from line 7 "
                               "of the decompressed object on, were not")
    [pointer] = orjson.loads(failure.raw)["Records"]
    assert pointer["s3"]["object"] == {"key": ALB_KEY, "size": 100, "versionId": "v1"}
    assert outcome.events == 6 and outcome.events_by_dataset == {"elb_logs": 5}


def test_a_cloudtrail_file_past_the_cap_names_its_json_document():
    key = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/123456789012_CloudTrail_us-east-1_x.json.gz"
    content = gzip.compress(orjson.dumps({"Records": [{**TRAIL_RECORD, "eventID": f"e{n}"} for n in range(4)]}))
    outcome = parse(notification(created(key, bucket="trail")), Bucket({("trail", key): content}),
                    max_events_per_object=3)
    assert [d.doc["event"]["id"] for d in outcome.documents] == ["e0", "e1", "e2"]
    [failure] = outcome.failures
    assert failure.reason == "too_many_events" and "from line 1 of its JSON document on" in failure.message


def test_each_object_of_a_record_has_its_own_event_cap():
    keys = _alb_keys(2)
    bucket = Bucket({("lb-logs", key): f"{ALB_LINE}\n".encode() * 4 for key in keys})
    outcome = parse(notification(*[created(key) for key in keys]), bucket, max_events_per_object=3)
    assert [d.ordinal for d in outcome.documents] == [0, 1, 2, OBJECT_ORDINALS, OBJECT_ORDINALS + 1,
                                                      OBJECT_ORDINALS + 2]
    assert [(f.reason, f.ordinal) for f in outcome.failures] == [("too_many_events", 3),
                                                                 ("too_many_events", OBJECT_ORDINALS + 3)]


def test_a_record_stopped_between_objects_goes_on_from_the_next_pointer_with_the_same_ids():
    keys = _alb_keys(4)
    bucket = Bucket({("lb-logs", key): f"{ALB_LINE}\n{ALB_LINE}\n".encode() for key in keys})
    record = notification(created(ALB_KEY, name="ObjectRemoved:Delete"), *[created(key) for key in keys])
    whole = parse(record, bucket)

    def run(first: int, stop_after: int) -> object:
        read: list[int] = []

        def full(so_far) -> bool:
            read.append(len(so_far.documents))
            return len(read) >= stop_after

        return parse_record(record, StreamParsing(stream="s"), ParseOptions(), bucket, first_object=first,
                            full=full)

    bucket.asked.clear()
    start = run(0, 2)  # asked before the 2nd and 3rd objects: stops before the 3rd
    assert start.resume_object == 2 and [ref.key for ref in bucket.asked] == keys[:2]
    rest = run(2, 99)
    assert rest.resume_object is None and [ref.key for ref in bucket.asked] == keys
    # Nothing of the record's own, nothing of the first two objects again; the same ordinals as in one go.
    assert [d.ordinal for d in start.documents + rest.documents] == [d.ordinal for d in whole.documents]
    assert start.events + rest.events == whole.events and rest.events == 4


def test_a_pointer_nested_in_a_records_event_is_read_after_the_records_own_events():
    message = eventbridge_created(ALB_KEY).decode()
    record = orjson.dumps({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/events/s3", "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": [{"id": "1", "timestamp": 1_714_521_600_000, "message": message},
                      {"id": "2", "timestamp": 1_714_521_600_000, "message": "plain"}]})
    bucket = Bucket({("lb-logs", ALB_KEY): f"{ALB_LINE}\n".encode()})
    outcome = parse(record, bucket)
    # The log group says EventBridge: "plain" is its own (failed) event 0, the object's line comes after it.
    assert [(f.reason, f.ordinal) for f in outcome.failures] == [("invalid_json", 0)]
    assert [(d.dataset, d.ordinal) for d in outcome.documents] == [("elb_logs", 1)]
    # Going on from a later pointer finds the nested ones again without parsing the record's own events.
    keys = _alb_keys(2)
    bucket = Bucket({("lb-logs", key): f"{ALB_LINE}\n".encode() for key in keys})
    two = orjson.loads(record)
    two["logEvents"][1]["message"] = eventbridge_created(keys[1]).decode()
    two["logEvents"][0]["message"] = eventbridge_created(keys[0]).decode()
    later = parse_record(orjson.dumps(two), StreamParsing(stream="s"), ParseOptions(), bucket, first_object=1)
    assert [ref.key for ref in bucket.asked] == [keys[1]]
    assert [(d.dataset, d.ordinal) for d in later.documents] == [("elb_logs", OBJECT_ORDINALS)]
    assert later.events == 1 and not later.failures


def test_a_line_of_a_log_file_whose_envelope_is_malformed_fails_alone():
    # Lines are unwrapped one at a time as they are parsed (a large file's never all exist as events at once):
    # one bad line is one failed event, and the rest of the file is indexed.
    broken = orjson.dumps({"messageType": "DATA_MESSAGE", "logGroup": "g", "logEvents": "not a list"}).decode()
    bucket = Bucket({("lb-logs", ALB_KEY): f"{ALB_LINE}\n{broken}\n{ALB_LINE}\n".encode()})
    outcome = parse(notification(created(ALB_KEY)), bucket)
    assert [d.ordinal for d in outcome.documents] == [0, 2]
    [failure] = outcome.failures
    assert (failure.reason, failure.ordinal, failure.dataset, failure.raw) == ("bad_cloudwatch_logs", 1, "elb_logs",
                                                                               broken)
    assert outcome.events == 3
