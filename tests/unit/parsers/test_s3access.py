"""S3 server access logs: the raw fields under aws.s3access and their ECS counterparts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from parsers import registry, s3access
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from tests.unit.parsers._line_mutations import mutated_lines
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text

SPEC = registry.get("s3access")
GET = ('36c1f05b76016b78528454e6e0c60e2b7ff7aa20c0a5e4c748276e5b0a2debd2 test-s3-ks [01/Aug/2019:00:24:41 +0000] '
       '89.160.20.156 arn:aws:sts::123456:assumed-role/TrustedAdvisor 44EE8651683CB4DA REST.GET.LOCATION - '
       '"GET /test-s3-ks/?location&aws-account=627959692251 HTTP/1.1" 200 - 142 - 17 - "-" '
       '"aws-sdk-java/1.11.590 Linux/4.9.137 OpenJDK_64-Bit_Server_VM/25.212-b03 java/1.8.0_212" - '
       'BsCfJedfuSnds2QFoxi+E/O7M6OEWzJnw4dUaes/2hyA363sONRJKzB7EOY+Bt9DTHYUn+HoHxI= SigV4 ECDHE-RSA-AES128-SHA '
       'AuthHeader s3.ap-southeast-1.amazonaws.com TLSv1.2')
PUT = ('67797214d75628047d9c76b18a78cded1a4b069b71f2a9d5a53649c38da8770b flow-log-test [14/Jul/2021:18:57:31 +0000] - '
       'svc:delivery.logs.amazonaws.com MVGXZXEVN3IG9S24 REST.PUT.OBJECT AWSLogs/1/vpcflowlogs/f%20g.log.gz '
       '"PUT /AWSLogs/1/vpcflowlogs/f%20g.log.gz HTTP/1.1" 200 - - 773 103 13 "-" "-" - '
       '02SxwfXpO5UysN0GsKGa3uGDQ6E/W7+Hwo= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader '
       'flow-log-test.s3.us-gov-west-1.amazonaws.com TLSv1.2 - arn:aws:s3:us-east-1:1:accesspoint/x Yes')
ERROR = ('79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:00:38 '
         '+0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE '
         'REST.GET.OBJECT photos/2019/a.jpg "GET /awsexamplebucket1/photos/2019/a.jpg HTTP/1.1" 404 NoSuchKey 243 - '
         '11 - "https://console.example.com/" "Mozilla/5.0" - 3E57427F3EXAMPLE= SigV4 ECDHE-RSA-AES128-GCM-SHA256 '
         'AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1')


def parse(line: str) -> dict:
    [doc] = SPEC.parse_unguarded(Event(message=line), ParseOptions())
    return doc


def test_get_request_maps_client_request_url_and_timing():
    doc = parse(GET)
    assert doc["@timestamp"] == "2019-08-01T00:24:41.000Z"
    assert doc["client"] == {"ip": "89.160.20.156", "address": "89.160.20.156",
                             "user": {"id": "arn:aws:sts::123456:assumed-role/TrustedAdvisor"}}
    assert doc["event"] == {"category": "web", "type": ["access"], "kind": "event", "original": GET,
                            "outcome": "success", "id": "44EE8651683CB4DA", "action": "REST.GET.LOCATION",
                            "duration": 17_000_000}
    assert doc["http"] == {"request": {"method": "GET"}, "version": "1.1",
                           "response": {"status_code": 200, "body": {"bytes": 142}}}
    assert doc["url"] == {"path": "/test-s3-ks/", "query": "location&aws-account=627959692251",
                          "original": "/test-s3-ks/?location&aws-account=627959692251"}
    assert doc["cloud"] == {"provider": "aws", "region": "ap-southeast-1"}
    assert doc["tls"] == {"cipher": "ECDHE-RSA-AES128-SHA", "version": "1.2", "version_protocol": "tls"}
    assert doc["related"] == {"user": ["36c1f05b76016b78528454e6e0c60e2b7ff7aa20c0a5e4c748276e5b0a2debd2"],
                              "ip": ["89.160.20.156"]}
    assert doc["user_agent"]["name"] == "aws-sdk-java"
    assert doc["aws"]["s3access"]["bytes_sent"] == 142 and "referrer" not in doc["aws"]["s3access"]


def test_service_request_without_client_ip_and_with_trailing_fields():
    doc = parse(PUT)
    assert "client" not in doc or "ip" not in doc["client"]
    assert doc["client"]["user"]["id"] == "svc:delivery.logs.amazonaws.com"
    assert doc["cloud"]["region"] == "us-gov-west-1"  # bucket-style host header
    assert doc["url"]["path"] == "/AWSLogs/1/vpcflowlogs/f g.log.gz"  # java.net.URI decodes the path
    assert doc["url"]["extension"] == "gz"
    assert doc["aws"]["s3access"]["key"] == "AWSLogs/1/vpcflowlogs/f%20g.log.gz"
    assert doc["aws"]["s3access"]["turn_around_time"] == 13 and "user_agent" not in doc


def test_error_code_makes_a_failure_with_event_code_and_referrer():
    doc = parse(ERROR)
    assert doc["event"]["outcome"] == "failure" and doc["event"]["code"] == "NoSuchKey"
    assert doc["http"]["request"]["referrer"] == "https://console.example.com/"
    assert doc["tls"]["version"] == "1.1"  # `TLSV1.1` is lowercased before the split


def test_referrer_is_copied_as_its_template_renders_it():
    # set http.request.referrer from '{{aws.s3access.referrer}}': mustache JSON-escapes quote and backslash;
    # aws.s3access.referrer (the grok's own field) keeps the text as logged.
    doc = parse(ERROR.replace('"https://console.example.com/"', '"https://x/\\"a\\" b\\c"'))
    assert doc["aws"]["s3access"]["referrer"] == 'https://x/\\"a\\" b\\c'
    assert doc["http"]["request"]["referrer"] == 'https://x/\\\\\\"a\\\\\\" b\\\\c'


def test_a_total_time_past_what_a_long_holds_in_nanoseconds_gives_no_duration():
    doc = parse(GET.replace(" 142 - 17 - ", " 142 - 999999999999999999 - "))
    assert doc["aws"]["s3access"]["total_time"] == 999999999999999999 and "duration" not in doc["event"]


@pytest.mark.parametrize("moment", ["01/Jan/0001:00:00:00 +2359", "31/Dec/9999:23:59:59 -2359"])
def test_a_time_that_leaves_the_calendar_in_utc_leaves_the_envelope_time(moment):
    assert "@timestamp" not in parse(GET.replace("01/Aug/2019:00:24:41 +0000", moment))


def test_host_header_without_s3_label_gives_no_region():
    assert "region" not in parse(GET.replace("s3.ap-southeast-1.amazonaws.com", "example.com"))["cloud"]


@pytest.mark.parametrize("line", ["", "not an access log", GET.replace("[01/Aug/2019:00:24:41 +0000]", "[]"),
                                  GET.replace("89.160.20.156", "89.160.20.999"), GET.replace(" 200 ", " 2.5 ")])
def test_lines_the_grok_refuses_are_event_errors(line):
    with pytest.raises(EventError):
        parse(line)


@settings(max_examples=700, deadline=None)
@given(mutated_lines([GET, PUT, ERROR]))
def test_mutated_lines_parse_or_fail_cleanly(line):
    assert_parses_cleanly(SPEC, Event(message=line))


@settings(max_examples=300, deadline=None)
@given(cut_or_random_text([GET, PUT]))
def test_random_or_cut_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))


@pytest.mark.parametrize("line", [GET, PUT, ERROR])
def test_well_formed_lines_match_the_fast_pattern(line):
    # The lazy fallback gives the same document at several times the cost; a fast pattern that stopped
    # matching would only show as lost throughput.
    assert s3access._FAST.match(line)


def test_a_long_time_field_is_tried_but_not_kept_alive_by_the_date_cache() -> None:
    import sys

    from parsers import s3access

    text = "06/Feb/2019:00:00:38 +0000" + " " * 64 * 1024
    before = sys.getrefcount(text)
    assert s3access._httpdate(text) is None  # strptime refuses the trailing text, as the pipeline's date does
    assert sys.getrefcount(text) == before
    assert s3access._httpdate("06/Feb/2019:00:00:38 +0000") == "2019-02-06T00:00:38.000Z"
