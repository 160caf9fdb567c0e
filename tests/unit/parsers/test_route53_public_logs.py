"""Route 53 public DNS query logs: one space-separated line per query."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from parsers import registry
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from tests.unit.parsers._line_mutations import mutated_lines
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text

SPEC = registry.get("route53_public_logs")
QUERY = "1.0 2017-12-13T08:15:50.342Z Z123412341234 bad.example.com A NXDOMAIN UDP IAD12 89.160.20.112 192.168.111.0/24"
IPV6 = "1.0 2017-12-13T08:16:03.983Z Z123412341234 example.com ANY NOERROR TCP FRA6-C1 2a02:cf40:add::1 -"
REVERSE = "1.0 2017-12-13T08:16:05.744Z Z123412341234 4.3.2.1.in-addr.arpa PTR NOERROR UDP GRU1 89.160.20.112 -"


def parse(line: str) -> dict:
    [doc] = SPEC.parse_unguarded(Event(message=line), ParseOptions())
    return doc


def test_query_maps_question_zone_edge_and_client():
    doc = parse(QUERY)
    assert doc["@timestamp"] == "2017-12-13T08:15:50.342Z"
    assert doc["dns"] == {"question": {"type": "A", "name": "bad.example.com", "registered_domain": "example.com",
                                       "top_level_domain": "com", "subdomain": "bad"}, "response_code": "NXDOMAIN"}
    assert doc["aws"]["route53"] == {"hosted_zone_id": "Z123412341234", "edge_location": "IAD12",
                                     "edns_client_subnet": "192.168.111.0/24"}
    assert doc["network"] == {"transport": "udp", "protocol": "dns", "type": "ipv4", "iana_number": "17"}
    assert doc["source"] == {"address": "89.160.20.112", "ip": "89.160.20.112"}
    assert doc["related"] == {"ip": ["89.160.20.112"], "hosts": ["bad.example.com"]}
    assert doc["event"]["outcome"] == "failure" and doc["event"]["category"] == ["network"]


def test_ipv6_client_over_tcp_without_subnet():
    doc = parse(IPV6)
    assert doc["network"]["type"] == "ipv6" and doc["network"]["iana_number"] == "6"
    assert "edns_client_subnet" not in doc["aws"]["route53"] and doc["event"]["outcome"] == "success"
    assert "subdomain" not in doc["dns"]["question"]


@pytest.mark.parametrize("name", ["com", "co.uk"])
def test_a_name_that_is_a_public_suffix_is_the_question_name(name):
    # registered_domain: a public suffix gives DomainInfo(domain=eTLD, eTLD); `rename` domain -> name.
    doc = parse(QUERY.replace("bad.example.com", name))
    assert doc["dns"]["question"] == {"type": "A", "name": name, "top_level_domain": name}
    assert doc["related"]["hosts"] == [name]


def test_reverse_names_get_no_question_name_as_in_elastics_pipeline():
    doc = parse(REVERSE)
    assert doc["dns"]["question"] == {"type": "PTR"} and "hosts" not in doc["related"]


@pytest.mark.parametrize("line", ["", "1.0 garbage", QUERY.replace("89.160.20.112", "89.160.20.999"),
                                  QUERY.replace("IAD12", "iad12")])
def test_lines_the_grok_refuses_are_event_errors(line):
    with pytest.raises(EventError):
        parse(line)


@settings(max_examples=700, deadline=None)
@given(mutated_lines([QUERY, IPV6, REVERSE]))
def test_mutated_lines_parse_or_fail_cleanly(line):
    assert_parses_cleanly(SPEC, Event(message=line))


@settings(max_examples=300, deadline=None)
@given(cut_or_random_text([QUERY, IPV6]))
def test_random_or_cut_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))
