"""CloudFront standard logs: tab- or space-separated lines, header lines dropped, url.* rebuilt."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from parsers import registry
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from tests.unit.parsers._line_mutations import mutated_lines
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text

SPEC = registry.get("cloudfront_logs")
AGENT = ("Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20(KHTML,%20like%20Gecko)"
         "%20Chrome/78.0.3904.108%20Safari/537.36")
HIT_FIELDS = (
    "2019-12-04", "21:02:31", "LAX1", "392", "89.160.20.112", "GET", "d111111abcdef8.cloudfront.net", "/index.html",
    "200", "-", AGENT, "-", "-", "Hit", "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
    "d111111abcdef8.cloudfront.net", "https", "23", "0.001", "-", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "Hit",
    "HTTP/2.0", "-", "-", "11040", "0.001", "Hit", "text/html", "78", "-", "-")
HIT = "\t".join(HIT_FIELDS)
FORWARDED = ("2022-11-15 08:43:04 SEA19-C2 10157 81.2.69.143 GET d111111abcdef8.cloudfront.net /getApplications 000 "
             "https://test.com/global curl/7.55.1 a=1%20b - Miss hrsHM5OM6sTIXUleC1G20YtDxMf5Cq0Jbz0pwhVpod2kgEn_W6akCQ== "
             "www.test.com https 1057 0.093 81.2.69.142,localhost:8080,216.160.83.56 TLSv1.3 TLS_AES_128_GCM_SHA256 "
             "Miss HTTP/1.1 - - 33359 0.093 Miss application/javascript - - -")
SHORT_FIELDS = (
    "2024-07-13", "15:29:45", "EWR53-C1", "198083", "2a02:cf40::1", "GET", "xxxxxxxxxxxxx.cloudfront.net",
    "/en(test)%20x", "404", "https://domain.tld/", "-", "-", "cookie", "Error", "somevalidbase64==", "domain.tld",
    "https", "609", "0.318", "-", "-", "-", "Error", "HTTP/1.1", "-", "-", "50294", "0.318", "Error", "text/html", "-")
SHORT = "\t".join(SHORT_FIELDS)


def parse(line: str) -> list[dict]:
    return SPEC.parse_unguarded(Event(message=line), ParseOptions())


@pytest.mark.parametrize("header", ["#Version: 1.0", "#Fields: date time x-edge-location sc-bytes c-ip"])
def test_header_lines_are_dropped(header):
    assert parse(header) == []


def test_tab_separated_hit_maps_request_response_url_and_tls():
    [doc] = parse(HIT)
    assert doc["@timestamp"] == "2019-12-04T21:02:31.000Z"
    assert doc["http"] == {"request": {"method": "GET", "bytes": 23,
                                       "id": "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ=="},
                           "response": {"bytes": 392, "status_code": 200, "body": {"bytes": 78}}, "version": "2.0"}
    assert doc["url"] == {"scheme": "https", "domain": "d111111abcdef8.cloudfront.net", "path": "/index.html",
                          "extension": "html", "full": "https://d111111abcdef8.cloudfront.net/index.html",
                          "registered_domain": "cloudfront.net", "top_level_domain": "net",
                          "subdomain": "d111111abcdef8"}
    assert doc["tls"] == {"version_protocol": "tls", "version": "1.2", "cipher": "ECDHE-RSA-AES128-GCM-SHA256"}
    assert doc["user_agent"]["original"].startswith("Mozilla/5.0 (Windows NT 10.0;")  # URL-decoded first
    assert doc["source"]["port"] == 11040 and doc["network"] == {"protocol": "https", "type": "ipv4"}
    assert doc["event"]["outcome"] == "success" and doc["event"]["id"] == doc["http"]["request"]["id"]
    assert doc["related"] == {"ip": ["89.160.20.112"], "hosts": ["d111111abcdef8.cloudfront.net"]}
    assert doc["aws"]["cloudfront"]["time_to_first_byte"] == 0.001 and "duration" not in doc["event"]


def test_space_separated_line_with_forwarded_ips_and_query():
    [doc] = parse(FORWARDED)
    assert doc["network"]["forwarded_ip"] == ["81.2.69.142", "216.160.83.56"]  # `localhost:8080` is no IP
    assert doc["related"]["ip"] == ["81.2.69.142", "216.160.83.56", "81.2.69.143"]
    assert doc["url"]["full"] == "https://www.test.com/getApplications?a=1%20b"
    assert doc["url"]["query"] == "a=1 b" and doc["url"]["subdomain"] == "www"
    assert doc["event"]["outcome"] == "failure"  # status 000: the request never completed
    assert doc["related"]["hosts"] == ["www.test.com", "d111111abcdef8.cloudfront.net"]
    assert doc["tls"]["version"] == "1.3"


@pytest.mark.parametrize(("ranges", "expected"), [
    (["-", "-"], {}),
    (["0", "1023"], {"range_start": "0", "range_end": ""}),
    (["0", "1023", "SE", "/api/*", "TLSv1.3"], {"range_start": "0", "range_end": ""}),  # newer columns after
    (["-", "-", "SE"], {}),
])
def test_range_columns_as_the_grok_captures_them(ranges, expected):
    # `(-|%{DATA:aws.cloudfront.range_start})\s(-|%{DATA:aws.cloudfront.range_end})` ends the grok: range_end's
    # lazy DATA captures "" unless the column starts with the `-` alternative.
    [doc] = parse("\t".join((*HIT_FIELDS[:-2], *ranges)))
    cloudfront = doc["aws"]["cloudfront"]
    assert {key: cloudfront[key] for key in ("range_start", "range_end") if key in cloudfront} == expected


def test_line_without_range_columns_and_a_path_grok_would_refuse_still_parses():
    [doc] = parse(SHORT)
    assert doc["url"]["path"] == "/en(test) x" and doc["network"]["type"] == "ipv6"
    assert doc["http"]["request"]["referrer"] == "https://domain.tld/"
    assert doc["aws"]["cloudfront"]["cookies"] == "cookie"
    assert "tls" not in doc and "body" not in doc["http"]["response"]
    assert doc["user_agent"]["original"] == "-"  # no dash alternative in the grok: "-" is an agent to parse
    assert doc["event"]["outcome"] == "failure"


@pytest.mark.parametrize("line", ["", "2019-12-04\t21:02:31\tLAX1", HIT.replace("89.160.20.112", "89.160.20.999"),
                                  HIT.replace("\tLAX1\t", "\tlax1\t")])
def test_lines_the_grok_refuses_are_event_errors(line):
    with pytest.raises(EventError):
        parse(line)


@settings(max_examples=700, deadline=None)
@given(mutated_lines([HIT, FORWARDED, SHORT]))
def test_mutated_lines_parse_or_fail_cleanly(line):
    assert_parses_cleanly(SPEC, Event(message=line))


@settings(max_examples=300, deadline=None)
@given(cut_or_random_text([HIT, FORWARDED]))
def test_random_or_cut_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))


def test_long_date_columns_are_tried_but_not_kept_alive_by_the_timestamp_cache() -> None:
    import sys

    from parsers import cloudfront_logs

    date = "2019-12-04" + "x" * 64 * 1024
    before = sys.getrefcount(date)
    assert cloudfront_logs._timestamp(date, "21:02:31") is None
    assert sys.getrefcount(date) == before
    assert cloudfront_logs._timestamp("2019-12-04", "21:02:31") == "2019-12-04T21:02:31.000Z"
