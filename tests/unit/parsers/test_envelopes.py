"""Envelopes: gzip, CloudWatch Logs subscriptions, EventBridge, CloudTrail files, plain lines."""

from __future__ import annotations

import gzip as gzip_module
import io
import random
import zlib

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import EnvelopeError, ParseError, PayloadTooLarge
from parsers.envelopes import (
    Unwrapped,
    cloudtrail_file,
    cloudwatch_logs,
    eventbridge,
    gzip,
    lines,
    unwrap,
    unwrap_log_file,
)
from parsers.event import Event, EventMeta
from parsers.fuzz_samples import CONFIG_CHANGE, EVENTS, cloudwatch_message, eventbridge_event

CAP = 1024 * 1024
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


def _items(out: Unwrapped) -> list[tuple[str | None, Event]]:
    return out.items


# --- gzip ------------------------------------------------------------------------------------------------

def test_gzip_is_recognised_by_its_magic_bytes_only():
    assert gzip.is_gzip(gzip_module.compress(b"x"))
    assert not gzip.is_gzip(b'{"messageType": "DATA_MESSAGE"}')
    assert not gzip.is_gzip(b"\x1f")


def test_gzip_concatenated_members_decompress_as_one_payload():
    data = gzip_module.compress(b"first\n") + gzip_module.compress(b"second\n")
    assert gzip.decompress(data, CAP) == b"first\nsecond\n"


def test_gzip_exactly_at_the_cap_is_accepted_and_one_byte_over_is_too_large():
    assert len(gzip.decompress(gzip_module.compress(bytes(1000)), 1000)) == 1000
    with pytest.raises(PayloadTooLarge) as raised:
        gzip.decompress(gzip_module.compress(bytes(1001)), 1000)
    assert raised.value.reason == "payload_too_large"


def test_gzip_bomb_over_the_default_cap_stops_at_the_cap():
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = packer.compress(bytes(65 * 1024 * 1024)) + packer.flush()  # 65 MiB of zeros in ~64 KB
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge):
        gzip.decompress(bomb, 64 * 1024 * 1024)


def test_gzip_cap_counts_every_member_together():
    member = gzip_module.compress(bytes(600))
    with pytest.raises(PayloadTooLarge):
        gzip.decompress(member + member, 1000)


@pytest.mark.parametrize("data", [
    gzip_module.compress(b"hello world")[:-5],  # truncated
    gzip_module.compress(b"hello") + b"trailing",  # garbage after the member
    b"\x1f\x8b\x08\x00" + bytes(20),  # a header and nothing sensible
    b"\x1f\x8b",
    b"not gzip at all",
])
def test_gzip_broken_input_is_an_envelope_error(data):
    with pytest.raises(EnvelopeError) as raised:
        gzip.decompress(data, CAP)
    assert raised.value.reason == "bad_gzip"


@PROPERTY
@given(st.binary(max_size=200), st.integers(0, 64))
def test_gzip_any_bytes_decompress_or_raise_a_parse_error(data, cut):
    for candidate in (data, gzip.MAGIC + data, gzip_module.compress(data)[:cut or None]):
        try:
            assert isinstance(gzip.decompress(candidate, 1000), bytes)
        except ParseError:
            pass


EMPTY_MEMBER = gzip_module.compress(b"", 9)  # 20 bytes that decompress to nothing


def _member(payload: bytes, level: int = 6, name: str = "") -> bytes:
    out = io.BytesIO()
    with gzip_module.GzipFile(filename=name, mode="wb", fileobj=out, compresslevel=level, mtime=0) as file:
        file.write(payload)
    return out.getvalue()


def test_gzip_many_members_of_every_size_decompress_to_their_concatenation():
    noise = random.Random(7).randbytes(300_000)  # incompressible: one member spans many input windows
    payloads = [b"first line\n", b"", noise, b"", b"x" * 5000, noise[:1023], b"", b"last\n" * 1000]
    members = [_member(payloads[0]), EMPTY_MEMBER, _member(noise, 1), _member(b"", name="empty.log"),
               _member(payloads[4], 9, name="a" * 3000 + ".log"), _member(noise[:1023], 0), EMPTY_MEMBER,
               _member(payloads[7])]
    assert gzip.decompress(b"".join(members), CAP) == b"".join(payloads)
    # The same members in another order (the big one last, then first), and each member alone.
    assert gzip.decompress(b"".join(members[::-1]), CAP) == b"".join(payloads[::-1])
    for member, payload in zip(members, payloads, strict=True):
        assert gzip.decompress(member, CAP) == payload


@PROPERTY
@given(st.lists(st.tuples(st.binary(max_size=3000), st.integers(0, 9)), min_size=1, max_size=12))
def test_gzip_concatenated_members_always_decompress_to_their_payloads_joined(members):
    data = b"".join(gzip_module.compress(payload, level) for payload, level in members)
    assert gzip.decompress(data, CAP) == b"".join(payload for payload, _ in members)


@pytest.mark.parametrize("data", [
    _member(random.Random(1).randbytes(100_000))[:-5],  # a member over many windows, cut short
    gzip_module.compress(b"one") + _member(random.Random(2).randbytes(50_000))[:-5000],  # the last one cut
    gzip_module.compress(b"one") + gzip_module.compress(b"two") + b"\x00\x00",  # padding after members
])
def test_gzip_broken_members_after_the_first_are_envelope_errors(data):
    with pytest.raises(EnvelopeError) as raised:
        gzip.decompress(data, CAP)
    assert raised.value.reason == "bad_gzip"


def test_gzip_more_members_than_the_limit_are_refused_as_bad_gzip():
    # The review's 4 MB object of empty members: nothing comes out, so the byte cap never trips, and
    # re-slicing the rest of the input for every member took ~30 s. Past MAX_MEMBERS, the input is refused.
    data = EMPTY_MEMBER * 209_715
    with pytest.raises(EnvelopeError) as raised:
        gzip.decompress(data, 64 * 1024 * 1024)
    assert raised.value.reason == "bad_gzip"
    assert raised.value.message == f"more than {gzip.MAX_MEMBERS} gzip members"


def test_gzip_member_limit_counts_members_exactly():
    member = gzip_module.compress(b"x\n")
    assert gzip.decompress(member * 3, CAP, max_members=3) == b"x\n" * 3
    with pytest.raises(EnvelopeError) as raised:
        gzip.decompress(member * 4, CAP, max_members=3)
    assert raised.value.reason == "bad_gzip"
    # At the default limit, a file of that many members (each a window of its own) still decompresses.
    last = gzip_module.compress(b"end\n")
    assert gzip.decompress(EMPTY_MEMBER * (gzip.MAX_MEMBERS - 1) + last, CAP) == b"end\n"


def test_a_record_of_too_many_gzip_members_is_dead_lettered_as_bad_gzip():
    from parsers import ParseOptions, StreamParsing, parse_record

    outcome = parse_record(EMPTY_MEMBER * (gzip.MAX_MEMBERS + 1), StreamParsing(stream="s"), ParseOptions())
    assert [(f.reason, f.ordinal) for f in outcome.failures] == [("bad_gzip", None)]
    assert outcome.documents == [] and outcome.events == 1


# --- CloudWatch Logs subscriptions -----------------------------------------------------------------------

def test_cloudwatch_data_message_gives_one_event_per_log_event_with_its_metadata():
    out = Unwrapped()
    cloudwatch_logs.unwrap(cloudwatch_message("/aws/lambda/app", "stream-1", ["one", "two"]), out)
    assert [(known, event.message) for known, event in out.items] == [(None, "one"), (None, "two")]
    meta = out.items[1][1].meta
    assert (meta.log_group, meta.log_stream, meta.timestamp_ms, meta.owner) == (
        "/aws/lambda/app", "stream-1", 1700000000001, "123456789012")
    assert meta.log_event_id is not None


def test_cloudwatch_control_message_is_a_counted_drop_without_events():
    out = Unwrapped()
    cloudwatch_logs.unwrap({"messageType": "CONTROL_MESSAGE", "logGroup": "", "logStream": "",
                            "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE"}]}, out)
    assert out.items == [] and out.dropped == {"control_message": 1}


@pytest.mark.parametrize("change", [
    {"messageType": "SOMETHING_ELSE"},
    {"logGroup": None},
    {"logEvents": "not a list"},
    {"logEvents": ["not an object"]},
    {"logEvents": [{"id": "1", "timestamp": 1, "message": 42}]},
    {"logEvents": [{"id": "1", "timestamp": True, "message": "x"}]},
    {"logEvents": [{"id": "1", "timestamp": 10**20, "message": "x"}]},
    {"logEvents": [{"id": 1, "timestamp": 1, "message": "x"}]},
])
def test_cloudwatch_malformed_subscription_message_fails_the_record(change):
    message = {**cloudwatch_message("g", "s", ["x"]), **change}
    with pytest.raises(EnvelopeError) as raised:
        cloudwatch_logs.unwrap(message, Unwrapped())
    assert raised.value.reason == "bad_cloudwatch_logs"


def test_cloudwatch_missing_owner_and_timestamp_are_tolerated():
    message = cloudwatch_message("g", "s", ["x"])
    del message["owner"]
    del message["logEvents"][0]["timestamp"]
    out = Unwrapped()
    cloudwatch_logs.unwrap(message, out)
    assert out.items[0][1].meta.owner is None and out.items[0][1].meta.timestamp_ms is None


@PROPERTY
@given(st.fixed_dictionaries({
    "messageType": st.sampled_from(["DATA_MESSAGE", "CONTROL_MESSAGE"]) | json_values,
    "logGroup": st.text(max_size=10) | json_values,
    "logStream": st.text(max_size=10) | json_values,
    "owner": json_values,
    "logEvents": st.lists(st.fixed_dictionaries({
        "id": st.text(max_size=5) | json_values,
        "timestamp": st.integers(-5, 2**63) | json_values,
        "message": st.text(max_size=30) | json_values,
    }) | json_values, max_size=4) | json_values,
}))
def test_cloudwatch_any_subscription_shape_unwraps_or_raises_an_envelope_error(message):
    out = Unwrapped()
    try:
        cloudwatch_logs.unwrap(message, out)
    except EnvelopeError:
        return
    assert all(isinstance(event.message, str) for _, event in out.items)


# --- EventBridge -----------------------------------------------------------------------------------------

def _eventbridge(source, detail_type, detail, via=None):
    out = Unwrapped()
    event = eventbridge_event(source, detail_type, detail)
    eventbridge.unwrap(event, orjson.dumps(event).decode(), out, via=via)
    return out


def test_eventbridge_guardduty_finding_passes_the_decoded_detail_with_envelope_metadata():
    finding = orjson.loads(EVENTS["guardduty"][0])
    out = _eventbridge("aws.guardduty", "GuardDuty Finding", finding)
    [(dataset, event)] = out.items
    assert dataset == "guardduty" and event.obj is finding and event.message is None
    assert (event.meta.timestamp_ms, event.meta.region, event.meta.owner) == (1704164645000, "us-east-1", "123456789012")


def test_eventbridge_security_hub_findings_become_one_event_each():
    finding = orjson.loads(EVENTS["securityhub_findings"][0])
    out = _eventbridge("aws.securityhub", "Security Hub Findings - Imported", {"findings": [finding, finding, finding]})
    assert [dataset for dataset, _ in out.items] == ["securityhub_findings"] * 3
    assert out.items[0][1].meta is not out.items[1][1].meta  # hints are per event


def test_eventbridge_security_hub_event_without_findings_is_a_counted_drop():
    out = _eventbridge("aws.securityhub", "Security Hub Findings - Custom Action", {"findings": []})
    assert out.items == [] and out.dropped == {"no_findings": 1}


def test_eventbridge_config_compliance_change_becomes_an_evaluation_result():
    out = _eventbridge("aws.config", "Config Rules Compliance Change", CONFIG_CHANGE)
    [(dataset, event)] = out.items
    assert dataset == "config"
    assert event.obj == {
        "EvaluationResultIdentifier": {
            "EvaluationResultQualifier": {"ConfigRuleName": "required-tags", "ResourceType": "AWS::EC2::Instance",
                                          "ResourceId": "i-0a4468fbfafee6a8f", "EvaluationMode": "DETECTIVE"},
            "OrderingTimestamp": 1742541951.883},
        "ComplianceType": "NON_COMPLIANT", "ResultRecordedTime": 1742799480.061,
        "ConfigRuleInvokedTime": 1742799479.852, "Annotation": "missing tag: owner",
        "ConfigRuleInfo": {"ConfigRuleName": "required-tags", "ConfigRuleId": "config-rule-rwpvuz",
                           "ConfigRuleArn": "arn:aws:config:us-east-1:123456789012:config-rule/config-rule-rwpvuz"},
    }


def test_eventbridge_config_change_without_a_new_result_still_names_the_resource():
    detail = {key: value for key, value in CONFIG_CHANGE.items() if key != "newEvaluationResult"}
    out = _eventbridge("aws.config", "Config Rules Compliance Change", detail)
    qualifier = out.items[0][1].obj["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
    assert qualifier == {"ConfigRuleName": "required-tags", "ResourceType": "AWS::EC2::Instance",
                         "ResourceId": "i-0a4468fbfafee6a8f"}


@pytest.mark.parametrize("detail_type", ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"])
def test_eventbridge_cloudtrail_events_pass_the_record(detail_type):
    record = orjson.loads(EVENTS["cloudtrail"][0])
    out = _eventbridge("aws.iam", detail_type, record)
    assert [(dataset, event.obj) for dataset, event in out.items] == [("cloudtrail", record)]


@pytest.mark.parametrize("source", ["com.example.app", "myapp", "aws.partner/example.com/123/events", "AWS.iam"])
def test_eventbridge_via_cloudtrail_from_a_source_only_aws_cannot_write_is_kept_whole(source):
    # PutEvents lets anyone choose detail-type, and any source but `aws.*`: not a CloudTrail record.
    record = orjson.loads(EVENTS["cloudtrail"][0])
    out = _eventbridge(source, "AWS API Call via CloudTrail", record)
    [(dataset, event)] = out.items
    assert dataset == "cloudwatch_logs"
    assert orjson.loads(event.text())["source"] == source


def test_eventbridge_other_events_are_kept_whole_for_the_generic_dataset():
    out = _eventbridge("aws.ec2", "EC2 Instance State-change Notification", {"state": "running"})
    [(dataset, event)] = out.items
    assert dataset == "cloudwatch_logs"
    assert orjson.loads(event.text())["detail"] == {"state": "running"}


def test_eventbridge_inside_cloudwatch_logs_keeps_the_log_event_identity():
    via = EventMeta("/aws/events/guardduty", "stream", "42", 1, "999999999999")
    out = _eventbridge("aws.guardduty", "GuardDuty Finding", {"id": "f"}, via=via)
    meta = out.items[0][1].meta
    assert (meta.log_group, meta.log_stream, meta.log_event_id) == ("/aws/events/guardduty", "stream", "42")
    assert meta.timestamp_ms == 1704164645000 and meta.owner == "123456789012"


@pytest.mark.parametrize("event", [
    {"source": 1, "detail-type": "GuardDuty Finding", "detail": {}},
    {"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": "not an object"},
    {"source": "aws.securityhub", "detail-type": "Security Hub Findings - Imported", "detail": {"findings": {}}},
])
def test_eventbridge_malformed_event_is_an_envelope_error(event):
    with pytest.raises(EnvelopeError) as raised:
        eventbridge.unwrap(event, None, Unwrapped())
    assert raised.value.reason == "bad_eventbridge"


def test_eventbridge_unparseable_time_leaves_the_timestamp_to_the_parser():
    event = eventbridge_event("aws.guardduty", "GuardDuty Finding", {})
    for bad_time in ("yesterday", 17, "0001-01-01T00:00:00Z"):
        out = Unwrapped()
        eventbridge.unwrap({**event, "time": bad_time}, None, out)
        assert out.items[0][1].meta.timestamp_ms is None


@PROPERTY
@given(st.fixed_dictionaries({
    "source": st.sampled_from(["aws.guardduty", "aws.securityhub", "aws.config", "aws.iam"]) | json_values,
    "detail-type": st.sampled_from(["GuardDuty Finding", "Security Hub Findings - Imported",
                                    "Config Rules Compliance Change", "AWS API Call via CloudTrail"]) | json_values,
    "detail": st.fixed_dictionaries({"findings": json_values, "newEvaluationResult": json_values,
                                     "configRuleARN": json_values}) | json_values,
    "time": st.text(max_size=25) | json_values,
    "region": json_values,
    "account": json_values,
}))
def test_eventbridge_any_event_shape_unwraps_or_raises_an_envelope_error(event):
    out = Unwrapped()
    try:
        eventbridge.unwrap(event, None, out)
    except EnvelopeError:
        return
    assert all(isinstance(dataset, str) for dataset, _ in out.items)


# --- CloudTrail files ------------------------------------------------------------------------------------

def test_cloudtrail_file_records_become_one_cloudtrail_event_each():
    records = [orjson.loads(EVENTS["cloudtrail"][0]), orjson.loads(EVENTS["cloudtrail"][1])]
    file = {"Records": records}
    assert cloudtrail_file.is_cloudtrail_file(file)
    out = Unwrapped()
    cloudtrail_file.unwrap(file, None, out)
    assert [(dataset, event.obj) for dataset, event in out.items] == [("cloudtrail", r) for r in records]


def test_cloudtrail_digest_file_is_one_event_with_its_text():
    text = EVENTS["cloudtrail"][2]
    digest = orjson.loads(text)
    assert cloudtrail_file.is_cloudtrail_file(digest)
    out = Unwrapped()
    cloudtrail_file.unwrap(digest, text, out)
    assert [(dataset, event.message) for dataset, event in out.items] == [("cloudtrail", text)]


def test_s3_event_notifications_are_not_taken_for_cloudtrail_files():
    notification = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}
    assert not cloudtrail_file.is_cloudtrail_file(notification)


def test_cloudtrail_file_without_records_is_a_counted_drop():
    out = Unwrapped()
    cloudtrail_file.unwrap({"Records": []}, None, out)
    assert out.items == [] and out.dropped == {"no_records": 1}


@PROPERTY
@given(st.dictionaries(st.sampled_from(["Records", "digestStartTime", "digestS3Object", "x"]), json_values))
def test_cloudtrail_file_any_shape_unwraps_without_errors(obj):
    out = Unwrapped()
    if cloudtrail_file.is_cloudtrail_file(obj):
        cloudtrail_file.unwrap(obj, None, out)
        assert all(dataset == "cloudtrail" for dataset, _ in out.items)


# --- lines -----------------------------------------------------------------------------------------------

def test_lines_split_on_newlines_only_and_skip_blank_lines():
    text = "first line\r\n\n   \nsecond\u2028same line\n\tthird\n"
    assert lines.split(text) == ["first line", "second\u2028same line", "\tthird"]


def test_lines_single_line_without_newline():
    assert lines.split("one") == ["one"]
    assert lines.split("  ") == []


@PROPERTY
@given(st.text())
def test_lines_every_kept_line_is_non_blank_and_has_no_newline(text):
    for line in lines.split(text):
        assert "\n" not in line and line.strip() and not line.endswith("\r")


@PROPERTY
@given(st.text(alphabet="ab \r\n\u2028", max_size=60))
def test_lines_one_at_a_time_are_the_lines_split_gives_at_their_offsets(text):
    taken = list(lines.iter_lines(text))
    assert [line for _, line in taken] == lines.split(text)
    for offset, line in taken:
        assert offset == 0 or text[offset - 1] == "\n"
        assert text.startswith(line, offset)


# --- unwrap: choosing the envelope -----------------------------------------------------------------------

def test_unwrap_gzipped_subscription_message():
    data = gzip_module.compress(orjson.dumps(cloudwatch_message("g", "s", ["a", "b"])))
    assert [event.message for _, event in unwrap(data, CAP).items] == ["a", "b"]


def test_unwrap_gzip_over_the_cap_raises_payload_too_large():
    with pytest.raises(PayloadTooLarge):
        unwrap(gzip_module.compress(bytes(2000)), 1000)


def test_unwrap_bare_json_event_keeps_its_text_and_decoded_object():
    text = EVENTS["waf"][0]
    [(known, event)] = unwrap(text.encode() + b"\n", CAP).items
    assert known is None and event.message == text and event.obj == orjson.loads(text)


def test_unwrap_plain_lines_become_one_event_each():
    data = "\n".join(EVENTS["elb_logs"]).encode()
    assert [event.message for _, event in unwrap(data, CAP).items] == EVENTS["elb_logs"]


def test_unwrap_ndjson_lines_go_through_the_json_envelopes():
    eventbridge_line = orjson.dumps(eventbridge_event("aws.guardduty", "GuardDuty Finding", {"id": "x"})).decode()
    data = "\n".join([eventbridge_line, EVENTS["waf"][0], "{not json", "plain"]).encode()
    items = unwrap(data, CAP).items
    assert [known for known, _ in items] == ["guardduty", None, None, None]
    assert items[1][1].obj is not None and items[2][1].message == "{not json"


def test_unwrap_invalid_utf8_is_replaced_not_rejected():
    [(_, event)] = unwrap(b"caf\xe9 line", CAP).items
    assert event.message == "caf\ufffd line"


def test_unwrap_empty_record_is_a_counted_drop():
    out = unwrap(b"\n \n", CAP)
    assert out.items == [] and out.dropped == {"empty_record": 1}
    out = unwrap(orjson.dumps(cloudwatch_message("g", "s", [])), CAP)
    assert out.items == [] and out.dropped == {"empty_record": 1}


@PROPERTY
@given(st.binary(max_size=300) | st.builds(lambda v: orjson.dumps({"messageType": "DATA_MESSAGE", "logGroup": v}),
                                            json_values))
def test_unwrap_any_bytes_give_events_or_an_envelope_error(data):
    for candidate in (data, gzip_module.compress(data)):
        try:
            out = unwrap(candidate, CAP)
        except EnvelopeError:
            continue
        assert all(isinstance(event, Event) for _, event in out.items)


# --- unwrap_log_file: a log object, lazily, at most max_events --------------------------------------------

def _log_file(data: bytes, max_events: int, cap: int = CAP) -> tuple[list, object, list]:
    bad: list[tuple[str, str]] = []
    out = unwrap_log_file(data, cap, max_events, lambda exc, line: bad.append((exc.reason, line)))
    return list(out.events), out, bad


def test_log_file_takes_at_most_max_events_lines_and_names_the_first_line_left_out():
    data = b"one\n\ntwo\n   \nthree\nfour\nfive\n"
    events, out, _ = _log_file(data, 3)
    assert [event.message for _, event in events] == ["one", "two", "three"]
    assert out.truncated is not None and (out.truncated.taken, out.truncated.line) == (3, 6)  # "four"
    # Exactly as many events as allowed: nothing is left out.
    assert _log_file(b"one\ntwo\n\n", 2)[1].truncated is None
    events, out, _ = _log_file(data, 1000)
    assert len(events) == 5 and out.truncated is None and not out.dropped


def test_log_file_lines_become_events_only_as_they_are_taken():
    out = unwrap_log_file(b"a\nb\nc\n", CAP, 10, lambda exc, line: None)
    first = next(out.events)
    assert first[1].message == "a" and out.truncated is None
    assert [event.message for _, event in out.events] == ["b", "c"]


def test_log_file_cut_inside_a_line_that_holds_several_events():
    message = orjson.dumps(cloudwatch_message("g", "s", ["a", "b", "c"])).decode()
    events, out, _ = _log_file(f"first\n{message}\nlast\n".encode(), 3)
    assert [event.message for _, event in events] == ["first", "a", "b"]
    assert out.truncated is not None and out.truncated.line == 2


def test_log_file_that_is_one_json_document_is_cut_with_no_line_to_name():
    data = orjson.dumps({"Records": [{"eventID": str(n), "eventVersion": "1.08"} for n in range(5)]})
    events, out, _ = _log_file(gzip_module.compress(data), 2)
    assert [event.obj["eventID"] for _, event in events] == ["0", "1"]
    assert out.truncated is not None and (out.truncated.taken, out.truncated.line) == (2, None)
    assert _log_file(data, 5)[1].truncated is None


def test_log_file_counts_pointers_and_bad_lines_as_events_too():
    pointer = orjson.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                         "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}).decode()
    broken = orjson.dumps({"messageType": "DATA_MESSAGE", "logGroup": "g", "logEvents": "not a list"}).decode()
    events, out, bad = _log_file(f"{pointer}\n{broken}\nplain\n{pointer}\n".encode(), 3)
    assert [event.message for _, event in events] == ["plain"] and len(out.objects) == 1
    assert [reason for reason, _ in bad] == ["bad_cloudwatch_logs"] and bad[0][1] == broken
    assert out.truncated is not None and out.truncated.line == 4
    # Past the cap inside one document, events are kept before pointers (the order they are read in).
    both = orjson.loads(pointer)
    both["Records"] *= 3
    events, out, _ = _log_file(orjson.dumps(both), 2)
    assert events == [] and len(out.objects) == 2 and out.truncated is not None


def test_log_file_empty_or_only_drops():
    assert _log_file(b"\n \n", 10)[1].dropped == {"empty_record": 1}
    events, out, _ = _log_file(orjson.dumps(cloudwatch_message("g", "s", [])) + b"\n", 10)
    assert events == [] and out.dropped == {"empty_record": 1}


def test_log_file_gives_the_events_unwrap_gives_for_the_same_bytes():
    eventbridge_line = orjson.dumps(eventbridge_event("aws.guardduty", "GuardDuty Finding", {"id": "x"})).decode()
    message = orjson.dumps(cloudwatch_message("g", "s", ["a", "b"])).decode()
    data = "\n".join([eventbridge_line, EVENTS["waf"][0], "{not json", "plain", message, ""]).encode()
    events, out, bad = _log_file(data, 1000)
    whole = unwrap(data, CAP)
    assert [(k, e.message, e.obj) for k, e in events] == [(k, e.message, e.obj) for k, e in whole.items]
    assert out.dropped == whole.dropped and bad == [] and out.truncated is None


def test_log_file_of_a_million_short_lines_past_the_cap_keeps_only_the_cap():
    # The review's object: 2 bytes a line. Only the first max_events lines become events.
    events, out, _ = _log_file(gzip_module.compress(b"x\n" * 1_000_000), 1000, 64 * 1024 * 1024)
    assert len(events) == 1000 and out.truncated is not None and out.truncated.line == 1001


# --- what one record may unwrap to --------------------------------------------------------------------------

_S3_CREATED = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
               "s3": {"bucket": {"name": "logs"}, "object": {"key": "k"}}}
_MANY = {
    "lines": lambda n: gzip_module.compress(b"a\n" * n),
    "cloudwatch_logs": lambda n: gzip_module.compress(orjson.dumps(cloudwatch_message("/app", "s", ["a"] * n))),
    "cloudtrail_file": lambda n: orjson.dumps({"Records": [{"eventVersion": "1.08"}] * n}),
    "security_hub": lambda n: orjson.dumps(eventbridge_event("aws.securityhub", "Security Hub Findings - Imported",
                                                             {"findings": [{}] * n})),
    "s3_notification": lambda n: orjson.dumps({"Records": [_S3_CREATED] * n}),
}


@pytest.mark.parametrize("shape", sorted(_MANY))
def test_a_record_of_more_events_than_the_cap_is_refused_before_they_are_made(shape) -> None:
    # A few KB of gzip can be millions of events, ~1 GB of a worker's memory per million once parsed.
    assert len(unwrap(_MANY[shape](1000), CAP, max_events=1000).items) + len(
        unwrap(_MANY[shape](1000), CAP, max_events=1000).objects) == 1000
    with pytest.raises(EnvelopeError) as refused:
        unwrap(_MANY[shape](1001), CAP, max_events=1000)
    assert refused.value.reason == "too_many_events" and "pipeline.max_events_per_object" in refused.value.message


def test_without_a_cap_a_record_unwraps_to_all_its_events() -> None:
    assert len(unwrap(_MANY["lines"](5000), CAP).items) == 5000
