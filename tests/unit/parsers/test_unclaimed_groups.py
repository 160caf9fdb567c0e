"""In CloudWatch Logs the log group, not what its writer put in it, decides a security dataset (review D1).

Anyone who may write to a subscribed log group (an application's own group; every group under an account-level
subscription policy) chooses its stream names and lines. Before, the first event's shape (or a
`<account>_CloudTrail_<region>` stream name) of a log group no rule claimed picked the dataset: one line forged
CloudTrail or GuardDuty events, and an EventBridge "Object Created" line made secstash read the S3 object it
named. Now those events are `cloudwatch_logs` and counted; `detection_by_content` restores the old behaviour.
"""

from __future__ import annotations

import gzip

import orjson
import pytest

from parsers import ObjectRef, ParseOptions, StreamParsing, parse_record
from parsers.fuzz_samples import EVENTS, eventbridge_event
from parsers.rules import DetectionRule

OPTIONS = ParseOptions()
APP = "/aws/lambda/app"

CLOUDTRAIL = {"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
              "eventTime": "2024-05-02T10:00:00Z", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
              "userIdentity": {"type": "IAMUser", "userName": "alice-the-admin",
                               "arn": "arn:aws:iam::111122223333:user/alice-the-admin"},
              "requestParameters": {"userName": "backdoor"}, "eventID": "forged"}
GUARDDUTY = {"schemaVersion": "2.0", "accountId": "111122223333", "type": "Recon:EC2/PortProbeUnprotectedPort",
             "service": {"serviceName": "guardduty"}, "id": "forged-finding", "severity": 8, "title": "forged",
             "createdAt": "2024-05-02T10:00:00Z", "updatedAt": "2024-05-02T10:00:00Z", "region": "us-east-1",
             "resource": {"resourceType": "Instance"}}
CT_KEY = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/02/111122223333_CloudTrail_us-east-1_x.json.gz"
S3_CREATED = {"version": "0", "id": "x", "detail-type": "Object Created", "source": "aws.s3",
              "account": "111122223333", "time": "2024-05-02T10:00:00Z", "region": "us-east-1", "resources": [],
              "detail": {"version": "0", "bucket": {"name": "any-bucket-the-role-can-read"},
                         "object": {"key": CT_KEY, "size": 10}}}


def cwl(group: str, stream: str, *messages: object) -> bytes:
    events = [{"id": str(n), "timestamp": 1_714_644_000_000 + n,
               "message": m if isinstance(m, str) else orjson.dumps(m).decode()} for n, m in enumerate(messages)]
    return gzip.compress(orjson.dumps({"messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": group,
                                       "logStream": stream, "subscriptionFilters": ["all"], "logEvents": events}))


class Reader:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def __call__(self, ref: ObjectRef) -> bytes:
        self.asked.append((ref.bucket, ref.key))
        return gzip.compress(orjson.dumps({"Records": [CLOUDTRAIL]}))


def parse(data: bytes, parsing: StreamParsing | None = None, reader: Reader | None = None):
    return parse_record(data, parsing or StreamParsing(), OPTIONS, reader)


FORGED = [("cloudtrail", CLOUDTRAIL), ("guardduty", GUARDDUTY), ("eventbridge", S3_CREATED)]


@pytest.mark.parametrize(("looks_like", "line"), FORGED)
def test_security_shaped_lines_in_an_unclaimed_group_are_generic_documents_counted_and_read_nothing(looks_like, line):
    reader = Reader()
    outcome = parse(cwl(APP, "2024/05/02/[$LATEST]abc", line, "plain app log line 2"), reader=reader)
    assert outcome.failures == []  # the app's own plain line is no longer an invalid_json dead letter
    assert [d.event_dataset for d in outcome.documents] == ["aws.cloudwatch_logs"] * 2
    assert all(d.doc["data_stream"]["dataset"] == "aws.cloudwatch_logs" for d in outcome.documents)
    assert reader.asked == []
    assert outcome.unclaimed == {looks_like: 2}  # the stream would have been that dataset, both its events
    assert outcome.unclaimed_groups == {APP: looks_like}


def test_with_detection_by_content_the_same_lines_are_detected_as_before():
    parsing = StreamParsing(detection_by_content=True)
    reader = Reader()
    trail = parse(cwl(APP, "s1", CLOUDTRAIL), parsing)
    assert [d.event_dataset for d in trail.documents] == ["aws.cloudtrail"]
    assert trail.documents[0].doc["user"]["name"] == "alice-the-admin"
    assert [d.event_dataset for d in parse(cwl(APP, "s2", GUARDDUTY), parsing).documents] == ["aws.guardduty"]
    pointed = parse(cwl(APP, "s3", S3_CREATED), parsing, reader)
    assert reader.asked == [("any-bucket-the-role-can-read", CT_KEY)]
    assert [d.event_dataset for d in pointed.documents] == ["aws.cloudtrail"]
    assert not (trail.unclaimed or pointed.unclaimed)


def test_a_cloudtrail_named_stream_in_an_unclaimed_group_is_not_cloudtrail():
    record = cwl(APP, "111122223333_CloudTrail_us-east-1", CLOUDTRAIL)
    outcome = parse(record)
    assert [d.event_dataset for d in outcome.documents] == ["aws.cloudwatch_logs"]
    assert outcome.unclaimed == {"cloudtrail": 1}
    by_content = parse(record, StreamParsing(detection_by_content=True))
    assert [d.event_dataset for d in by_content.documents] == ["aws.cloudtrail"]


def test_flow_log_stream_names_in_an_unclaimed_group_are_not_vpcflow():
    outcome = parse(cwl("/custom/flows", "eni-0123456789abcdef0-all", EVENTS["vpcflow"][0]))
    assert [d.event_dataset for d in outcome.documents] == ["aws.cloudwatch_logs"]
    assert outcome.unclaimed == {"vpcflow": 1}


def test_the_console_default_cloudtrail_group_is_still_cloudtrail():
    outcome = parse(cwl("aws-cloudtrail-logs-111122223333-0a1b2c3d", "111122223333_CloudTrail_us-east-1", CLOUDTRAIL))
    assert [d.event_dataset for d in outcome.documents] == ["aws.cloudtrail"]
    assert not outcome.unclaimed and not outcome.unclaimed_groups


def test_a_detection_rule_claims_a_custom_named_group():
    parsing = StreamParsing(detection=(DetectionRule("cloudtrail", "org-trail"), DetectionRule("vpcflow", "/vpc/*")))
    assert [d.event_dataset for d in parse(cwl("org-trail", "x", CLOUDTRAIL), parsing).documents] == ["aws.cloudtrail"]
    flows = parse(cwl("/vpc/flow-logs", "eni-0123456789abcdef0-all", EVENTS["vpcflow"][0]), parsing)
    assert [d.event_dataset for d in flows.documents] == ["aws.vpcflow"] and not flows.unclaimed


def test_a_route53_group_holds_route53_datasets_only():
    resolver = parse(cwl("/aws/route53/resolver", "vpc-1", EVENTS["route53_resolver_logs"][0]))
    assert [d.event_dataset for d in resolver.documents] == ["aws.route53_resolver_logs"]
    public = parse(cwl("/aws/route53/example.com", "Z123/FRA6", EVENTS["route53_public_logs"][0]))
    assert [d.event_dataset for d in public.documents] == ["aws.route53_public_logs"]
    for parsing in (StreamParsing(), StreamParsing(detection_by_content=True)):
        forged = parse(cwl("/aws/route53/example.com", "forged", CLOUDTRAIL), parsing)
        assert "cloudtrail" not in forged.events_by_dataset
        assert all(d.dataset != "cloudtrail" for d in forged.documents)
        assert [f.dataset for f in forged.failures] in ([], ["route53_public_logs"])


def test_eventbridge_events_in_events_groups_are_unwrapped_and_their_pointers_read():
    finding = eventbridge_event("aws.guardduty", "GuardDuty Finding", {"id": "finding-1"})
    outcome = parse(cwl("/aws/events/guardduty", "s", finding))
    assert [d.event_dataset for d in outcome.documents] == ["aws.guardduty"]
    reader = Reader()
    pointed = parse(cwl("/aws/events/s3", "s", S3_CREATED), reader=reader)
    assert reader.asked == [("any-bucket-the-role-can-read", CT_KEY)]
    assert [d.event_dataset for d in pointed.documents] == ["aws.cloudtrail"]
    assert not (outcome.unclaimed or pointed.unclaimed)


def test_an_operator_rule_claims_a_group_for_eventbridge():
    parsing = StreamParsing(detection=(DetectionRule("eventbridge", "/custom/bus/*"),))
    reader = Reader()
    outcome = parse(cwl("/custom/bus/s3", "s", S3_CREATED), parsing, reader)
    assert reader.asked == [("any-bucket-the-role-can-read", CT_KEY)]
    assert [d.event_dataset for d in outcome.documents] == ["aws.cloudtrail"]
    # other lines of such a group stay generic; a CloudTrail-shaped one too
    other = parse(cwl("/custom/bus/x", "s", CLOUDTRAIL), parsing)
    assert [d.event_dataset for d in other.documents] == ["aws.cloudwatch_logs"] and not other.unclaimed


def test_plain_lines_and_bare_json_records_keep_shape_detection():
    assert [d.event_dataset for d in parse(orjson.dumps(GUARDDUTY)).documents] == ["aws.guardduty"]
    assert [d.event_dataset for d in parse(EVENTS["vpcflow"][0].encode()).documents] == ["aws.vpcflow"]


def test_ordinary_application_logs_are_not_counted():
    outcome = parse(cwl(APP, "s", "START RequestId: 1", '{"level": "info", "msg": "hello"}'))
    assert [d.event_dataset for d in outcome.documents] == ["aws.cloudwatch_logs"] * 2
    assert not outcome.unclaimed and not outcome.unclaimed_groups


@pytest.mark.parametrize(("source", "dataset"), [("com.example.app", "aws.cloudwatch_logs"),
                                                 ("aws.iam", "aws.cloudtrail")])
def test_in_an_eventbridge_group_only_an_aws_source_makes_a_via_cloudtrail_event_cloudtrail(source, dataset):
    # PutEvents: anyone may choose detail-type and any source but aws.*; a rule selecting on detail-type alone
    # delivers such an event to the /aws/events/ group like AWS's own.
    event = {**eventbridge_event(source, "AWS API Call via CloudTrail", CLOUDTRAIL), "account": "111122223333"}
    outcome = parse(cwl("/aws/events/api-calls", "s", event))
    assert [doc.doc["data_stream"]["dataset"] for doc in outcome.documents] == [dataset] and not outcome.failures
