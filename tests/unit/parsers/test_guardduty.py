"""GuardDuty findings: Elastic's aws 1.45.3 `guardduty` pipeline rules, on findings the fixtures do not cover."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from parsers import EventError, registry
from parsers.event import Event
from parsers.options import ParseOptions
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text, mutated_events

SPEC = registry.get("guardduty")
OPTIONS = ParseOptions()
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The shape of GetFindings output (https://docs.aws.amazon.com/guardduty/latest/APIReference/API_Finding.html),
# with the network-connection and port-probe actions no Elastic fixture has.
OUTBOUND = {
    "schemaVersion": "2.0", "accountId": "123456789012", "region": "eu-west-1", "partition": "aws",
    "id": "f1", "arn": "arn:aws:guardduty:eu-west-1:123456789012:detector/d1/finding/f1",
    "type": "Backdoor:EC2/C&CActivity.B", "severity": 8, "createdAt": "2024-01-02T03:04:05.678Z",
    "updatedAt": "2024-01-02T04:04:05.678Z", "title": "t", "description": "EC2 instance talks to a C&C server",
    "resource": {"resourceType": "Instance", "instanceDetails": {
        "instanceId": "i-0abc", "instanceType": "t3.micro", "platform": "linux",
        "networkInterfaces": [{"privateIpAddress": "10.0.0.5", "publicIp": "203.0.113.9",
                               "ipv6Addresses": ["2001:db8::5", "not-an-ip"], "vpcId": "vpc-1"}]}},
    "service": {"serviceName": "guardduty", "detectorId": "d1", "archived": False, "count": 4,
                "eventFirstSeen": "2024-01-01T00:00:00Z", "eventLastSeen": "2024-01-02T00:00:00Z",
                "action": {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
                    "connectionDirection": "OUTBOUND", "protocol": "TCP", "blocked": "false",
                    "localIpDetails": {"ipAddressV4": "10.0.0.5"},
                    "localPortDetails": {"port": 40000, "portName": "Unknown"},
                    "remoteIpDetails": {"ipAddressV4": "198.51.100.7",
                                        "organization": {"asn": "64500", "asnOrg": "Example Org"},
                                        "country": {"countryName": "Nowhere"}, "geoLocation": {"lat": 1.5, "lon": 2.5}},
                    "remotePortDetails": {"port": "443", "portName": "HTTPS"}}}},
}
PORT_PROBE = {
    "accountId": "123456789012", "id": "f2", "type": "Recon:EC2/PortProbeUnprotectedPort", "severity": 2,
    "updatedAt": "2024-01-02T04:04:05Z", "service": {"action": {"actionType": "PORT_PROBE", "portProbeAction": {
        "blocked": False, "portProbeDetails": [
            {"localPortDetails": {"port": 22, "portName": "SSH"}, "localIpDetails": {"ipAddressV4": "10.0.0.5"},
             "remoteIpDetails": {"ipAddressV4": "192.0.2.1", "organization": {"asn": "64501"},
                                 "geoLocation": {"lat": 1, "lon": 2}, "city": {"cityName": "A"}}},
            {"localPortDetails": {"port": 3389, "portName": "RDP"}, "localIpDetails": {"ipAddressV4": "10.0.0.5"},
             "remoteIpDetails": {"ipAddressV4": "192.0.2.2", "organization": {"asn": "64502"},
                                 "geoLocation": {"lat": 3, "lon": 4}, "city": {"cityName": "B"}}}]}}},
}


def parse(finding: dict) -> dict:
    docs = SPEC.parse(Event(message=orjson.dumps(finding).decode()), OPTIONS)
    assert len(docs) == 1
    return docs[0]


def test_outbound_connection_puts_the_instance_on_the_source_side():
    doc = parse(OUTBOUND)
    assert doc["source"]["address"] == ["10.0.0.5"]
    assert doc["destination"]["address"] == ["198.51.100.7"]
    assert doc["network"] == {"direction": "outbound", "transport": ["tcp"]}
    assert doc["source"]["port"] == [40000]
    assert doc["source"]["as"] == {"number": [64500], "organization": {"name": ["Example Org"]}}
    assert doc["source"]["geo"] == {"country_name": ["Nowhere"], "location": [{"lat": 1.5, "lon": 2.5}]}


def test_connection_details_are_converted_as_the_pipeline_converts_them():
    action = parse(OUTBOUND)["aws"]["guardduty"]["service"]["action"]["network_connection_action"]
    assert action["blocked"] is False  # "false" -> boolean
    assert action["remote_port_details"]["port"] == {"value": 443, "name": "HTTPS"}  # "443" -> long
    assert action["local_ip_details"] == {"ip_address_v4": "10.0.0.5"}


def test_ipv6_addresses_that_are_not_addresses_are_dropped_and_the_rest_are_related():
    doc = parse(OUTBOUND)
    nic = doc["aws"]["guardduty"]["resource"]["instance_details"]["network_interfaces"][0]
    assert nic["ipv6_addresses"] == ["2001:db8::5"]
    assert nic["private"] == {"ip_address": "10.0.0.5"} and nic["public"] == {"ip": "203.0.113.9"}
    assert sorted(doc["related"]["ip"]) == ["10.0.0.5", "198.51.100.7", "2001:db8::5", "203.0.113.9"]


def test_instance_and_timing_fields_are_mapped_to_ecs():
    doc = parse(OUTBOUND)
    assert doc["@timestamp"] == "2024-01-02T04:04:05.678Z"
    assert doc["event"]["created"] == "2024-01-02T03:04:05.678Z"
    assert (doc["event"]["start"], doc["event"]["end"]) == ("2024-01-01T00:00:00.000Z", "2024-01-02T00:00:00.000Z")
    assert doc["host"] == {"id": "i-0abc", "type": "t3.micro", "os": {"platform": "linux"}}
    assert doc["rule"] == {"name": "Backdoor:EC2/C&CActivity.B", "ruleset": "Backdoor:EC2", "category": "Backdoor"}
    assert doc["aws"]["guardduty"]["severity"] == {"code": 8.0, "value": "High"}
    assert doc["event"]["severity"] == 8


def test_port_probes_list_remote_addresses_before_local_ones():
    doc = parse(PORT_PROBE)
    assert doc["source"]["address"] == ["192.0.2.1", "192.0.2.2", "10.0.0.5"]
    assert doc["source"]["port"] == [22, 3389]
    assert doc["source"]["as"]["number"] == [64501, 64502]
    assert doc["source"]["geo"]["location"] == [{"lat": 1, "lon": 2}, {"lat": 3, "lon": 4}]
    probe = doc["aws"]["guardduty"]["service"]["action"]["port_probe_action"]["port_probe_details"][0]
    assert probe["local_port_details"] == {"port": {"value": 22, "name": "SSH"}}
    assert "localIpDetails" not in probe and "remoteIpDetails" not in probe


def test_a_fractional_severity_is_no_long_and_marks_a_pipeline_error():
    finding = {**PORT_PROBE, "severity": 5.5}
    doc = parse(finding)
    assert "severity" not in doc["event"]
    assert doc["event"]["kind"] == ["event", "pipeline_error"]
    assert doc["error"]["message"] == ["unable to convert [5.5] to long"]
    assert doc["aws"]["guardduty"]["severity"] == {"code": 5.5, "value": "Medium"}


def test_an_unknown_action_value_type_is_reported_not_raised():
    finding = copy.deepcopy(OUTBOUND)
    finding["service"]["action"]["networkConnectionAction"]["localPortDetails"]["port"] = "ssh"
    doc = parse(finding)
    assert "unable to convert [ssh] to long" in doc["error"]["message"]
    assert "port" not in doc["source"]


def test_fields_the_pipeline_does_not_name_are_dropped():
    doc = parse({**PORT_PROBE, "somethingNew": {"x": 1}, "resource": {"resourceType": "Instance", "odd": 1}})
    assert doc["aws"]["guardduty"]["resource"] == {"type": "Instance"}
    del doc["event"]["original"]
    assert "somethingNew" not in orjson.dumps(doc).decode()


def test_s3_bucket_epoch_creation_time_is_read_as_unix_seconds():
    finding = {"id": "f3", "resource": {"resourceType": "S3Bucket", "s3BucketDetails": [
        {"name": "b", "createdAt": 1513612691.551, "owner": {"id": "canonical-owner"}, "publicAccess": {"x": "y"}}]}}
    bucket = parse(finding)["aws"]["guardduty"]["resource"]["s3_bucket_details"][0]
    assert bucket == {"name": "b", "created_at": "2017-12-18T15:58:11.551Z", "owner": {"id": "canonical-owner"},
                      "public_access": {"x": "y"}}


def test_an_empty_findings_page_is_dropped():
    assert SPEC.parse(Event(message='{"findings": []}'), OPTIONS) == []


def test_a_page_of_findings_is_a_document_per_finding_with_its_own_original():
    second = {**PORT_PROBE, "id": "second"}
    page = orjson.dumps({"findings": [PORT_PROBE, second]}).decode()
    docs = SPEC.parse(Event(message=page), ParseOptions(keep_original=True))
    assert [d["event"]["id"] for d in docs] == [PORT_PROBE["id"], "second"]
    assert orjson.loads(docs[1]["event"]["original"]) == second


def test_a_page_holding_something_other_than_findings_is_an_error_not_an_empty_document():
    with pytest.raises(EventError, match="other than findings"):
        SPEC.parse_unguarded(Event(message=orjson.dumps({"findings": [PORT_PROBE, 7]}).decode()), OPTIONS)


def test_unicode_text_is_kept_as_is():
    text = "Zugriff über Tor — 東京 \u202e\u200b"  # with a right-to-left override and a zero-width space
    doc = parse({**PORT_PROBE, "description": text})
    assert doc["message"] == text


def test_a_huge_value_passes_through():
    doc = parse({**PORT_PROBE, "title": "x" * 1_000_000})
    assert len(doc["aws"]["guardduty"]["title"]) == 1_000_000


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"a string"', ""])
def test_anything_but_a_json_object_is_rejected(text):
    with pytest.raises(EventError):
        SPEC.parse(Event(message=text), OPTIONS)


def test_original_text_is_kept_for_finalize():
    text = orjson.dumps(PORT_PROBE).decode()
    assert SPEC.parse(Event(message=text), OPTIONS)[0]["event"]["original"] == text


# --- properties ------------------------------------------------------------------------------------------


@PROPERTY
@given(mutated_events([OUTBOUND, PORT_PROBE]))
def test_findings_with_any_value_swapped_in_parse_or_fail_cleanly(event):
    assert_parses_cleanly(SPEC, event)


@PROPERTY
@given(cut_or_random_text([orjson.dumps(OUTBOUND).decode()]))
def test_arbitrary_and_truncated_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))
