"""parse_record: a whole Kinesis record through envelopes, detection, parsers, filters and the shipper layer.

Runs against a registry of fake parsers (and the real generic one), so the record layer is tested apart
from the dataset parsers.
"""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import cloudwatch_logs as generic_parser
from parsers import registry
from parsers.errors import EventError
from parsers.event import Event
from parsers.fuzz_samples import EVENTS, cloudwatch_message, eventbridge_event
from parsers.options import ParseOptions
from parsers.record import parse_record
from parsers.registry import DatasetSpec
from parsers.rules import Condition, DetectionRule, FilterRule, StreamParsing

OPTIONS = ParseOptions()
seen: list[tuple[str, Event]] = []


def _fake(name: str):
    def parse(event: Event, options: ParseOptions) -> list[dict]:
        seen.append((name, event))
        text = event.text()
        if "!fail!" in text:
            raise EventError("cannot parse this", reason="bad_fake")
        if "!bug!" in text:
            raise ValueError("a parser bug")
        if "!drop!" in text:
            return []
        if "!not_a_dict!" in text:
            return [{"message": "fine"}, "not a dict"]
        docs = [{"message": text, "event": {"original": text}, "user": {"name": "bob"}}]
        if "!two!" in text:
            docs.append({"message": "second"})
        return docs

    return DatasetSpec(name, f"aws.{name}", "8.11.0", parse)


@pytest.fixture(autouse=True)
def fake_registry(monkeypatch):
    fakes = {name: _fake(name) for name in ("cloudtrail", "vpcflow", "waf", "guardduty", "securityhub_findings",
                                             "config", "kubernetes.audit_logs")}
    fakes["cloudwatch_logs"] = DatasetSpec("cloudwatch_logs", "aws.cloudwatch_logs", "8.0.0", generic_parser.parse)
    monkeypatch.setattr(registry, "_REGISTRY", fakes)
    monkeypatch.setattr(registry, "_loaded", True)
    seen.clear()


def _cw_record(group: str, stream: str, messages: list[str]) -> bytes:
    return gzip.compress(orjson.dumps(cloudwatch_message(group, stream, messages)))


def test_subscription_record_gives_one_document_per_log_event_with_envelope_and_shipper_fields():
    parsing = StreamParsing(namespace="prod", labels=(("team", "sec"),))
    outcome = parse_record(_cw_record("/aws/lambda/app", "s", ["one", "two", "three"]), parsing, OPTIONS)
    assert outcome.events == 3 and outcome.failures == [] and outcome.events_by_dataset == {"cloudwatch_logs": 3}
    assert [d.ordinal for d in outcome.documents] == [0, 1, 2]
    doc = outcome.documents[1].doc
    assert doc["message"] == "two"
    assert doc["@timestamp"] == "2023-11-14T22:13:20.001Z"
    assert doc["aws"]["cloudwatch"]["log_group"] == "/aws/lambda/app"
    assert doc["cloud"]["account"]["id"] == "123456789012"
    assert doc["data_stream"] == {"type": "logs", "dataset": "aws.cloudwatch_logs", "namespace": "prod"}
    assert doc["event"]["dataset"] == "aws.cloudwatch_logs" and doc["labels"] == {"team": "sec"}
    assert "original" not in doc["event"]  # keep_original is off


def test_keep_original_keeps_the_raw_event_text():
    outcome = parse_record(b"plain line", StreamParsing(), ParseOptions(keep_original=True))
    assert outcome.documents[0].doc["event"]["original"] == "plain line"


def test_log_group_routes_events_to_their_dataset():
    outcome = parse_record(_cw_record("aws-waf-logs-x", "s", [EVENTS["waf"][0]]), StreamParsing(), OPTIONS)
    assert [(d.dataset, d.event_dataset) for d in outcome.documents] == [("waf", "aws.waf")]


def test_json_events_reach_the_parser_decoded_once():
    parse_record(_cw_record("/aws/lambda/x", "s", [EVENTS["waf"][0]]), StreamParsing(detection_by_content=True),
                 OPTIONS)
    [(name, event)] = seen
    assert name == "waf" and isinstance(event.obj, dict)  # decoded by detection; event.json() reuses it


def test_control_message_is_a_counted_drop_and_no_event():
    record = orjson.dumps({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
                           "logStream": "", "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE"}]})
    outcome = parse_record(gzip.compress(record), StreamParsing(), OPTIONS)
    assert outcome.events == 0 and outcome.documents == [] and outcome.failures == []
    assert outcome.dropped == {"control_message": 1}


def test_record_over_the_decompression_cap_is_one_failed_event_with_the_record_in_base64():
    data = gzip.compress(bytes(5000))
    outcome = parse_record(data, StreamParsing(), ParseOptions(max_decompressed_bytes=4096))
    assert outcome.events == 1 and outcome.documents == []
    [failure] = outcome.failures
    assert (failure.reason, failure.ordinal, failure.dataset) == ("payload_too_large", None, None)
    assert base64.b64decode(failure.raw) == data


def test_malformed_envelope_fails_the_whole_record():
    record = orjson.dumps({"messageType": "DATA_MESSAGE", "logGroup": "g", "logStream": "s", "logEvents": [1]})
    outcome = parse_record(record, StreamParsing(), OPTIONS)
    assert [(f.reason, f.ordinal) for f in outcome.failures] == [("bad_cloudwatch_logs", None)]
    assert outcome.events == 1


def test_a_failing_event_is_dead_lettered_and_its_neighbours_are_parsed():
    record = _cw_record("aws-waf-logs-x", "s", ["ok 1", "!fail! here", "!bug! there", "ok 2"])
    outcome = parse_record(record, StreamParsing(), OPTIONS)
    assert [d.ordinal for d in outcome.documents] == [0, 3]
    assert [(f.reason, f.ordinal, f.dataset, f.raw) for f in outcome.failures] == [
        ("bad_fake", 1, "waf", "!fail! here"), ("parser_bug", 2, "waf", "!bug! there")]
    assert outcome.events == 4


def test_an_event_whose_documents_break_the_record_layer_leaves_no_partial_output():
    outcome = parse_record(b"!not_a_dict!", StreamParsing(dataset="waf"), OPTIONS)
    assert outcome.documents == []
    assert [(f.reason, f.ordinal) for f in outcome.failures] == [("internal_error", 0)]


def test_parser_returning_nothing_is_a_counted_drop():
    outcome = parse_record(b"!drop! me", StreamParsing(dataset="waf"), OPTIONS)
    assert outcome.events == 1 and outcome.documents == [] and outcome.dropped == {"parser_drop": 1}


def test_several_documents_of_one_event_share_its_ordinal():
    outcome = parse_record(b"!two! docs", StreamParsing(dataset="waf"), OPTIONS)
    assert [(d.ordinal, d.part) for d in outcome.documents] == [(0, 0), (0, 1)]


def test_dataset_without_a_parser_is_dead_lettered():
    outcome = parse_record(b"line", StreamParsing(dataset="rds"), OPTIONS)
    assert [(f.reason, f.dataset, f.raw) for f in outcome.failures] == [("unknown_dataset", "rds", "line")]


def test_settings_rule_and_its_vpcflow_format_reach_the_parser():
    parsing = StreamParsing(detection=(DetectionRule("vpcflow", "/custom/*", vpcflow_format="${version} ${action}"),))
    parse_record(_cw_record("/custom/flows", "s", ["2 ACCEPT"]), parsing, OPTIONS)
    [(name, event)] = seen
    assert name == "vpcflow" and event.meta.hints == {"vpcflow_format": "${version} ${action}"}


def test_eventbridge_findings_become_one_document_each_without_re_encoding():
    finding = orjson.loads(EVENTS["securityhub_findings"][0])
    record = orjson.dumps(eventbridge_event("aws.securityhub", "Security Hub Findings - Imported",
                                            {"findings": [finding, finding]}))
    outcome = parse_record(record, StreamParsing(), OPTIONS)
    assert [(d.dataset, d.ordinal) for d in outcome.documents] == [("securityhub_findings", 0),
                                                                   ("securityhub_findings", 1)]
    assert all(event.obj == finding for _, event in seen)


def test_eventbridge_events_delivered_through_a_log_group_are_unwrapped():
    event = orjson.dumps(eventbridge_event("aws.guardduty", "GuardDuty Finding", {"id": "finding-1"})).decode()
    outcome = parse_record(_cw_record("/aws/events/guardduty", "s", [event, "not eventbridge"]), StreamParsing(),
                           OPTIONS)
    assert [(d.dataset, d.ordinal) for d in outcome.documents] == [("guardduty", 0)]
    # the stream is an EventBridge stream: what is not an EventBridge event there is dead-lettered, not lost
    assert [(f.reason, f.ordinal, f.raw) for f in outcome.failures] == [("invalid_json", 1, "not eventbridge")]
    doc = outcome.documents[0].doc
    assert doc["aws"]["cloudwatch"]["log_group"] == "/aws/events/guardduty"
    assert doc["@timestamp"] == "2024-01-02T03:04:05.000Z" and doc["cloud"]["region"] == "us-east-1"


def test_malformed_eventbridge_event_inside_a_log_group_fails_only_that_event():
    good = orjson.dumps(eventbridge_event("aws.ec2", "EC2 Instance State-change Notification", {})).decode()
    bad = orjson.dumps({"source": 1, "detail-type": "x", "detail": {}}).decode()
    outcome = parse_record(_cw_record("/aws/events/x", "s", [good, bad, good]), StreamParsing(), OPTIONS)
    assert [(f.reason, f.ordinal, f.dataset) for f in outcome.failures] == [("bad_eventbridge", 1, None)]
    assert [d.ordinal for d in outcome.documents] == [0, 2]


def test_cloudtrail_file_records_each_become_a_cloudtrail_document():
    records = [orjson.loads(EVENTS["cloudtrail"][0])] * 3
    outcome = parse_record(orjson.dumps({"Records": records}), StreamParsing(), OPTIONS)
    assert [d.dataset for d in outcome.documents] == ["cloudtrail"] * 3
    assert outcome.events_by_dataset == {"cloudtrail": 3}


def test_plain_lines_are_detected_one_by_one():
    data = "\n".join([EVENTS["vpcflow"][0], EVENTS["waf"][0], "something else", ""]).encode()
    outcome = parse_record(data, StreamParsing(), OPTIONS)
    assert [d.dataset for d in outcome.documents] == ["vpcflow", "waf", "cloudwatch_logs"]


def test_filters_drop_count_by_reason_and_rule_and_edit_before_shipping():
    parsing = StreamParsing(filters=(
        FilterRule("drop", ("waf",), (Condition("message", matches="^noisy"),), name="noise"),
        FilterRule("mask", (), (), ("user.name",), mask_with="x"),
    ))
    outcome = parse_record(b"noisy 1\nkeep\nnoisy 2", StreamParsing(dataset="waf", filters=parsing.filters), OPTIONS)
    assert outcome.dropped == {"filtered": 2} and outcome.filtered == {"noise": 2}
    [kept] = outcome.documents
    assert kept.ordinal == 1 and kept.doc["user"]["name"] == "x" and kept.doc["data_stream"]["dataset"] == "aws.waf"


def test_emit_takes_each_document_as_it_is_made_instead_of_the_outcome():
    record = _cw_record("aws-waf-logs-x", "s", ["ok", "!two!", "!fail!", EVENTS["waf"][0]])
    collected = parse_record(record, StreamParsing(), OPTIONS)
    emitted: list = []
    outcome = parse_record(record, StreamParsing(), OPTIONS, emit=emitted.append)
    assert outcome.documents == [] and len(emitted) == len(collected.documents) >= 3
    assert [(d.ordinal, d.part, d.doc) for d in emitted] == [(d.ordinal, d.part, d.doc) for d in collected.documents]
    assert outcome.failures == collected.failures and outcome.events == collected.events


def test_empty_record_is_a_counted_drop():
    outcome = parse_record(b"  \n", StreamParsing(), OPTIONS)
    assert outcome.events == 0 and outcome.dropped == {"empty_record": 1}


@pytest.mark.parametrize("depth", [600, 1000])  # past what orjson writes (254), and near what it reads (1024)
def test_object_nested_past_what_orjson_writes_is_dead_lettered_with_its_text(depth):
    deep = "[" * depth + "]" * depth
    record = b'{"Records": [{"eventVersion": "1.08", "x": ' + deep.encode() + b"}]}"
    outcome = parse_record(record, StreamParsing(), OPTIONS)
    assert outcome.events == 1 and len(outcome.failures) == 1 and outcome.failures[0].ordinal == 0
    assert orjson.loads(outcome.failures[0].raw)["eventVersion"] == "1.08"  # the event, to redrive


def test_settings_are_compiled_once_per_stream_parsing(monkeypatch):
    from parsers import record

    built = []
    real = record._Context
    monkeypatch.setattr(record, "_Context", lambda parsing: built.append(parsing) or real(parsing))
    parsing = StreamParsing(stream="once")
    for _ in range(3):
        parse_record(b"x", parsing, OPTIONS)
    assert built == [parsing]


records = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from([*EVENTS["waf"], "!fail!", "!bug!", "!drop!", "!two!", "plain", "", "!not_a_dict!"]),
             max_size=5).map(lambda lines: "\n".join(lines).encode()),
    st.lists(st.sampled_from(["ok", "!fail!", "!drop!", "!two!", EVENTS["waf"][0]]), max_size=5).map(
        lambda messages: _cw_record("aws-waf-logs-x", "s", messages)),
)


@settings(max_examples=300, deadline=None)
@given(records)
def test_every_event_ends_as_documents_a_counted_drop_or_a_failure(data):
    outcome = parse_record(data, StreamParsing(), OPTIONS)
    produced = {d.ordinal for d in outcome.documents}
    failed = {f.ordinal for f in outcome.failures}
    assert not produced & failed
    assert len(produced) + len(failed) + outcome.dropped["parser_drop"] + outcome.dropped["filtered"] == outcome.events
    for parsed in outcome.documents:
        orjson.dumps(parsed.doc)


def test_a_record_of_more_events_than_max_events_per_object_is_one_failure_of_the_whole_record() -> None:
    # 1.9 KiB of gzip hold a million two-byte lines: ~1 GB of a worker's memory once parsed, 33 million of
    # them (30 GB) fit under the 64 MiB decompression cap.
    data = gzip.compress(b"a\n" * 1001)
    outcome = parse_record(data, StreamParsing(), ParseOptions(max_events_per_object=1000))
    assert outcome.events == 1 and not outcome.documents
    (failure,) = outcome.failures
    assert (failure.reason, failure.ordinal, failure.raw) == ("too_many_events", None, base64.b64encode(data).decode())
    assert len(parse_record(gzip.compress(b"a\n" * 1000), StreamParsing(),
                            ParseOptions(max_events_per_object=1000)).documents) == 1000


def test_findings_of_eventbridge_events_in_a_log_group_count_toward_the_records_cap() -> None:
    findings = orjson.dumps(eventbridge_event("aws.securityhub", "Security Hub Findings - Imported",
                                              {"findings": [{}] * 600})).decode()
    data = _cw_record("/aws/events/hub", "s", [findings, findings])
    outcome = parse_record(data, StreamParsing(), ParseOptions(max_events_per_object=1000), emit=lambda d: None)
    # The first event's 600 findings fit; the second's would pass 1,000: that event alone is dead-lettered.
    assert outcome.events == 601
    assert [(f.reason, f.raw) for f in outcome.failures] == [("too_many_events", findings)]
