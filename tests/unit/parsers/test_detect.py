"""Dataset detection: stream settings, envelope knowledge, log group/stream names, event shapes."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import detect
from parsers.detect import EVENTBRIDGE, Detector, by_shape
from parsers.event import Event, EventMeta
from parsers.fuzz_samples import EVENTS, eventbridge_event
from parsers.rules import DetectionRule, StreamParsing


def _cw(message: str, group: str, stream: str = "stream") -> Event:
    return Event(message=message, meta=EventMeta(log_group=group, log_stream=stream))


GD_VIA_EVENTBRIDGE = orjson.dumps(eventbridge_event("aws.guardduty", "GuardDuty Finding", {})).decode()


# (group, stream, message, dataset by default, dataset with detection_by_content)
@pytest.mark.parametrize(("group", "stream", "message", "expected", "by_content"), [
    ("/aws/eks/prod/cluster", "kube-apiserver-audit-0a1b2c3d", EVENTS["kubernetes.audit_logs"][0],
     "kubernetes.audit_logs", "kubernetes.audit_logs"),
    ("/aws/eks/prod/cluster", "authenticator-0a1b2c3d", EVENTS["eks_authenticator"][0], "eks_authenticator",
     "eks_authenticator"),
    ("/aws/eks/prod/cluster", "kube-scheduler-0a1b2c3d", "I0101 scheduler started", "cloudwatch_logs", "cloudwatch_logs"),
    ("aws-waf-logs-prod", "us-east-1_prod_0", EVENTS["waf"][0], "waf", "waf"),
    ("/aws/route53/example.com", "Z123/FRA6", EVENTS["route53_public_logs"][0], "route53_public_logs",
     "route53_public_logs"),
    ("/aws/route53/resolver", "vpc-1", EVENTS["route53_resolver_logs"][0], "route53_resolver_logs",
     "route53_resolver_logs"),
    ("/aws/rds/instance/db1/postgresql", "db1.0", EVENTS["rds"][0], "rds", "rds"),
    ("/aws/rds/cluster/aurora/audit", "i-1", EVENTS["rds"][1], "rds", "rds"),
    ("/aws/redshift/cluster/dw/useractivitylog", "dw", EVENTS["redshift"][0], "redshift", "redshift"),
    ("aws-cloudtrail-logs-123456789012-0a1b", "123456789012_CloudTrail_us-east-1", EVENTS["cloudtrail"][0],
     "cloudtrail", "cloudtrail"),
    ("CloudTrail/DefaultLogGroup", "x", EVENTS["cloudtrail"][0], "cloudtrail", "cloudtrail"),
    # stream names are the writer's: they count only with detection_by_content
    ("my-custom-group", "123456789012_CloudTrail_eu-west-1", EVENTS["cloudtrail"][0], "cloudwatch_logs", "cloudtrail"),
    ("/custom/flows", "eni-0123456789abcdef0-all", EVENTS["vpcflow"][0], "cloudwatch_logs", "vpcflow"),
    ("/custom/flows", "eni-0123456789abcdef0-all", "custom-format 1.2.3.4 ACCEPT", "cloudwatch_logs", "vpcflow"),
    ("vpc-flow-logs-prod", "whatever", "custom-format 1.2.3.4 ACCEPT", "cloudwatch_logs", "cloudwatch_logs"),
    ("/aws/vpc/flowlogs", "tgw-attach-0123456789abcdef0", EVENTS["vpcflow"][0], "cloudwatch_logs", "vpcflow"),
    ("/aws/lambda/cloudtrail-forwarder", "2024/01/01/[$LATEST]abc", "START RequestId: 1", "cloudwatch_logs",
     "cloudwatch_logs"),
    ("/aws/lambda/fn", "2024/01/01/[$LATEST]abc", "START RequestId: 1", "cloudwatch_logs", "cloudwatch_logs"),
    # shapes decide in unclaimed groups only with detection_by_content
    ("/aws/lambda/fn", "2024/01/01/[$LATEST]abc", EVENTS["cloudtrail"][0], "cloudwatch_logs", "cloudtrail"),
    ("/aws/events/guardduty", "x", GD_VIA_EVENTBRIDGE, EVENTBRIDGE, EVENTBRIDGE),
    ("/aws/lambda/fn", "x", GD_VIA_EVENTBRIDGE, "cloudwatch_logs", EVENTBRIDGE),
])
def test_default_rules_by_log_group_stream_and_shape(group, stream, message, expected, by_content):
    assert Detector(StreamParsing()).dataset(_cw(message, group, stream)) == expected
    assert Detector(StreamParsing(detection_by_content=True)).dataset(_cw(message, group, stream)) == by_content


@pytest.mark.parametrize("dataset", sorted(set(EVENTS) - {"cloudwatch_logs", "eks_authenticator", "rds", "redshift"}))
def test_every_sample_without_a_log_group_is_recognised_by_its_shape(dataset):
    for message in EVENTS[dataset]:
        assert Detector(StreamParsing()).dataset(Event(message=message)) == dataset


@pytest.mark.parametrize("line", [
    "2020-02-20T07:01:01.000Z Feb 20 07:01:01 ip-172-31-81-156 systemd: Stopping User Slice of root.",
    "plain text", "", "{broken json", '{"level":"info","msg":"hello"}', "[1, 2, 3]",
    "2 words only", "1.0 not a query log",
])
def test_unrecognised_events_go_to_the_generic_dataset(line):
    assert Detector(StreamParsing()).dataset(Event(message=line)) == "cloudwatch_logs"


def test_wrapped_vpc_flow_line_is_recognised():
    wrapped = orjson.dumps({"message": EVENTS["vpcflow"][1]}).decode()
    assert by_shape(Event(message=wrapped)) == "vpcflow"
    assert by_shape(Event(message='{"message": "hello"}')) is None


def test_s3_notification_record_is_not_cloudtrail():
    notification = {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}
    assert by_shape(Event(obj=notification)) is None


def test_guardduty_api_page_is_guardduty():
    assert by_shape(Event(message='{"findings":[]}')) == "guardduty"
    assert by_shape(Event(message='{"findings":[{"x":1}]}')) is None


def test_json_detected_by_shape_is_decoded_once_for_the_parser():
    event = Event(message=EVENTS["waf"][0])
    assert Detector(StreamParsing()).dataset(event) == "waf"
    assert event.obj == orjson.loads(EVENTS["waf"][0])  # the parser's event.json() reuses it


def test_stream_dataset_overrides_everything():
    detector = Detector(StreamParsing(dataset="rds"))
    assert detector.dataset(_cw(EVENTS["waf"][0], "aws-waf-logs-x"), known="guardduty") == "rds"


def test_envelope_knowledge_beats_rules_and_names():
    detector = Detector(StreamParsing(detection=(DetectionRule("rds", "*"),)))
    assert detector.dataset(_cw("x", "aws-waf-logs-x"), known="guardduty") == "guardduty"


def test_settings_rules_run_in_order_before_the_defaults():
    parsing = StreamParsing(detection=(
        DetectionRule("redshift", "aws-waf-logs-special*"),
        DetectionRule("rds", "aws-waf-logs-*"),
        DetectionRule("vpcflow", "/aws/eks/*/cluster", "kube-apiserver-audit-*"),
    ))
    detector = Detector(parsing)
    assert detector.dataset(_cw("x", "aws-waf-logs-special-1")) == "redshift"
    assert detector.dataset(_cw("x", "aws-waf-logs-other")) == "rds"
    assert detector.dataset(_cw("x", "/aws/eks/c/cluster", "kube-apiserver-audit-1")) == "vpcflow"
    assert detector.dataset(_cw("x", "/aws/eks/c/cluster", "authenticator-1")) == "eks_authenticator"


def test_settings_globs_are_case_sensitive_and_star_crosses_slashes():
    detector = Detector(StreamParsing(detection=(DetectionRule("rds", "/app/*"),)))
    assert detector.dataset(_cw("x", "/app/a/b/c")) == "rds"
    assert detector.dataset(_cw("x", "/APP/a")) == "cloudwatch_logs"


def test_settings_rules_never_apply_to_events_without_a_log_group():
    detector = Detector(StreamParsing(detection=(DetectionRule("rds", "*", "*"),)))
    assert detector.dataset(Event(message="plain line")) == "cloudwatch_logs"


def test_rule_vpcflow_format_reaches_the_event_hints():
    fmt = "${version} ${srcaddr} ${dstaddr} ${action}"
    detector = Detector(StreamParsing(detection=(DetectionRule("vpcflow", "/custom/*", vpcflow_format=fmt),)))
    event = _cw("2 1.2.3.4 5.6.7.8 ACCEPT", "/custom/flows")
    assert detector.dataset(event) == "vpcflow"
    assert event.meta.hints == {"vpcflow_format": fmt}


def test_stream_vpcflow_format_applies_to_vpcflow_events_without_a_rule_format():
    detector = Detector(StreamParsing(vpcflow_format="${version} ${action}",
                                      detection=(DetectionRule("vpcflow", "/aws/vpc/flowlogs"),)))
    flow = _cw(EVENTS["vpcflow"][0], "/aws/vpc/flowlogs")
    other = _cw(EVENTS["waf"][0], "aws-waf-logs-x")
    assert detector.dataset(flow) == "vpcflow" and flow.meta.hints == {"vpcflow_format": "${version} ${action}"}
    assert detector.dataset(other) == "waf" and other.meta.hints == {}


def test_first_event_of_an_unrecognised_stream_decides_for_the_stream():
    detector = Detector(StreamParsing(detection_by_content=True))
    assert detector.dataset(_cw("START RequestId: 1", "/aws/lambda/fn", "s1")) == "cloudwatch_logs"
    assert detector.dataset(_cw(EVENTS["cloudtrail"][0], "/aws/lambda/fn", "s1")) == "cloudwatch_logs"
    assert detector.dataset(_cw(EVENTS["cloudtrail"][0], "/aws/lambda/fn", "s2")) == "cloudtrail"
    assert detector.dataset(_cw("START RequestId: 2", "/aws/lambda/fn", "s2")) == "cloudtrail"


def test_events_without_a_log_group_are_detected_one_by_one():
    detector = Detector(StreamParsing())
    assert [detector.dataset(Event(message=m)) for m in (EVENTS["waf"][0], "x", EVENTS["vpcflow"][0])] == [
        "waf", "cloudwatch_logs", "vpcflow"]


def test_name_decisions_are_cached_per_group_and_stream(monkeypatch):
    detector = Detector(StreamParsing())
    calls = []
    real = detect.by_names
    monkeypatch.setattr(detect, "by_names", lambda *args: calls.append(args) or real(*args))
    for _ in range(3):
        detector.dataset(_cw(EVENTS["waf"][0], "aws-waf-logs-x", "s1"))
    detector.dataset(_cw(EVENTS["waf"][0], "aws-waf-logs-x", "s2"))
    assert [args[:2] for args in calls] == [("aws-waf-logs-x", "s1"), ("aws-waf-logs-x", "s2")]


def test_name_cache_is_bounded():
    detector = Detector(StreamParsing())
    for n in range(detect._CACHE_SIZE + 10):
        detector.dataset(_cw("x", "/aws/vpc/flowlogs", f"eni-{n:017x}-all"))
    assert len(detector._routes) <= detect._CACHE_SIZE


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.text(max_size=40) | st.none(), st.text(max_size=40))
def test_detection_of_any_event_is_a_known_dataset(message, group, stream):
    dataset = Detector(StreamParsing()).dataset(_cw(message, group, stream) if group is not None
                                                else Event(message=message))
    assert dataset in {*EVENTS, EVENTBRIDGE}


def test_a_listed_parser_module_that_is_missing_fails_loudly(monkeypatch):
    from parsers import registry

    monkeypatch.setattr(registry, "PARSER_MODULES", (*registry.PARSER_MODULES, "parsers.cloudtrial_insights"))
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(ModuleNotFoundError, match="parsers.cloudtrial_insights"):
        registry.names()
