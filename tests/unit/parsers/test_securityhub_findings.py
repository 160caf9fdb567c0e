"""Security Hub findings: Elastic's aws 1.45.3 `securityhub_findings` pipeline rules, beyond its fixtures."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from parsers import EventError, registry
from parsers.event import Event
from parsers.options import ParseOptions
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text, mutated_events

SPEC = registry.get("securityhub_findings")
OPTIONS = ParseOptions()
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# An ASFF finding (https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings-format.html).
FINDING = {
    "SchemaVersion": "2018-10-08", "Id": "arn:aws:securityhub:eu-west-1:123456789012:finding/1",
    "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/guardduty", "AwsAccountId": "123456789012",
    "CreatedAt": "2024-03-01T10:00:00.123Z", "UpdatedAt": "2024-03-02T10:00:00Z", "CompanyName": "Amazon",
    "Title": "Unusual traffic", "Description": "d", "Types": ["TTPs/Command and Control"],
    "Severity": {"Label": "HIGH", "Normalized": 70, "Original": "8"},
    "Confidence": "", "Criticality": "90",
    "Action": {"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": {
        "ConnectionDirection": "OUTBOUND", "Protocol": "TCP", "Blocked": "true",
        "RemoteIpDetails": {"IpAddressV4": "198.51.100.7", "GeoLocation": {"Lat": "1.5", "Lon": 2},
                            "Organization": {"Asn": 64500, "AsnOrg": "Example"}},
        "RemotePortDetails": {"Port": 443, "PortName": "HTTPS"}}},
    "Network": {"Direction": "OUT", "Protocol": "UDP", "SourceIpV4": "10.0.0.5", "SourceIpV6": "fe80::1",
                "SourcePort": 53000, "SourceMac": "00:0d:83:b1:c0:8e", "DestinationIpV4": "not-an-ip",
                "DestinationPort": "53"},
    "Process": {"Name": "curl", "Path": "/usr/bin/curl", "Pid": "4242", "ParentPid": 1,
                "LaunchedAt": "2024-03-01T09:59:59Z"},
    "SourceUrl": "https://user:secret@console.example.com:8443/findings/view.html?id=1#top",
    "ThreatIntelIndicators": [
        {"Type": "IPV4_ADDRESS", "Value": "198.51.100.7", "LastObservedAt": "2024-02-01T00:00:00Z"},
        {"Type": "DOMAIN", "Value": "bad.example", "LastObservedAt": "yesterday"}],
    "Vulnerabilities": [
        {"Id": "CVE-2024-0001", "Cvss": [{"BaseScore": 9.8, "Version": "3.1"}], "Vendor": {"Name": "NVD"}},
        {"Id": "CVE-2024-0002", "ReferenceUrls": ["https://nvd.example/2"], "FixAvailable": "YES",
         "Cvss": [{"BaseScore": "5", "Version": "2.0"}]}],
    "ProductFields": {"aws/guardduty/service/count": "3", "Resources:0/Id": "i-1"},
    "Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE", "UnmappedSection": {"x": 1},
}


def parse(finding: dict) -> dict:
    docs = SPEC.parse(Event(message=orjson.dumps(finding).decode()), OPTIONS)
    assert len(docs) == 1
    return docs[0]


def test_network_section_becomes_source_destination_and_network():
    doc = parse(FINDING)
    assert doc["source"] == {"ip": ["10.0.0.5", "fe80::1"], "port": 53000, "mac": "00-0D-83-B1-C0-8E"}
    assert doc["network"] == {"direction": "OUT", "protocol": "udp"}
    assert doc["destination"] == {"port": 53}
    assert sorted(doc["related"]["ip"]) == ["10.0.0.5", "198.51.100.7", "fe80::1"]


def test_an_invalid_address_is_reported_and_left_out():
    doc = parse(FINDING)
    assert "'not-an-ip' is not an IP string literal." in doc["error"]["message"]
    assert "ip" not in doc["aws"]["securityhub_findings"]["network"]["destination"]
    assert doc["event"]["kind"] == "event"  # this pipeline does not mark its errors in event.kind


def test_action_values_are_converted_and_the_action_type_lowercased():
    doc = parse(FINDING)
    connection = doc["aws"]["securityhub_findings"]["action"]["network_connection"]
    assert connection["blocked"] is True
    assert connection["remote_ip"]["geolocation"] == {"latitude": 1.5, "longitude": 2.0}
    assert connection["remote_ip"]["organization"] == {"asn": "64500", "asn_organization": "Example"}
    assert connection["remote"]["port"] == {"number": 443, "name": "HTTPS"}
    assert doc["event"]["action"] == "network_connection"


def test_empty_string_values_are_not_converted():
    sh = parse(FINDING)["aws"]["securityhub_findings"]
    assert "confidence" not in sh
    assert sh["criticality"] == 90
    assert sh["severity"] == {"label": "HIGH", "normalized": "70", "original": "8"}


def test_process_fields_are_mapped_to_ecs():
    assert parse(FINDING)["process"] == {"name": "curl", "executable": "/usr/bin/curl", "pid": 4242,
                                         "parent": {"pid": 1}, "start": "2024-03-01T09:59:59.000Z"}


def test_source_url_is_split_into_url_parts():
    assert parse(FINDING)["url"] == {
        "original": FINDING["SourceUrl"], "full": FINDING["SourceUrl"], "scheme": "https",
        "domain": "console.example.com", "port": 8443, "path": "/findings/view.html", "query": "id=1",
        "fragment": "top", "extension": "html", "username": "user", "password": "secret",
        "user_info": "user:secret"}


def test_the_last_threat_indicator_and_vulnerability_win():
    doc = parse(FINDING)
    assert doc["threat"]["indicator"] == {"type": "DOMAIN", "last_seen": "2024-02-01T00:00:00.000Z"}
    assert doc["vulnerability"] == {"id": "CVE-2024-0002", "reference": ["https://nvd.example/2"],
                                    "scanner": {"vendor": "NVD"}, "score": {"base": 5.0, "version": "2.0"}}
    indicators = doc["aws"]["securityhub_findings"]["threat_intel_indicators"]
    assert "last_observed_at" not in indicators[1]  # an unparsable date is dropped quietly (ignore_failure)


def test_unnamed_keys_inside_list_items_stay_and_unnamed_sections_go():
    sh = parse(FINDING)["aws"]["securityhub_findings"]
    assert sh["vulnerabilities"][1]["FixAvailable"] == "YES"
    assert "UnmappedSection" not in sh and "unmapped_section" not in sh
    assert sh["product"]["fields"] == FINDING["ProductFields"]


def test_created_at_is_the_timestamp_and_the_finding_id_the_event_id():
    doc = parse(FINDING)
    assert doc["@timestamp"] == "2024-03-01T10:00:00.123Z"
    assert doc["event"]["id"] == FINDING["Id"]
    assert doc["cloud"] == {"account": {"id": "123456789012"}}
    assert doc["organization"] == {"name": "Amazon"}


@pytest.mark.parametrize("text", ["{", "[]", "null", "\u00e9"])
def test_anything_but_a_json_object_is_rejected(text):
    with pytest.raises(EventError):
        SPEC.parse(Event(message=text), OPTIONS)


@PROPERTY
@given(mutated_events([FINDING]))
def test_findings_with_any_value_swapped_in_parse_or_fail_cleanly(event):
    assert_parses_cleanly(SPEC, event)


@PROPERTY
@given(cut_or_random_text([orjson.dumps(FINDING).decode()]))
def test_arbitrary_and_truncated_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))
