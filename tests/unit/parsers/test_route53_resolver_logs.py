"""Route 53 Resolver query logs: question, answers, related addresses and hosts, firewall verdicts."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings

from parsers import registry
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text, mutated_events

SPEC = registry.get("route53_resolver_logs")
QUERY = {
    "version": "1.100000", "account_id": "626345947581", "region": "us-east-1", "vpc_id": "vpc-01e31a7c",
    "query_timestamp": "2021-12-11T22:48:33Z", "query_name": "abcd.example.com.", "query_type": "A",
    "query_class": "IN", "rcode": "NOERROR",
    "answers": [{"Rdata": "test.example.com.", "Type": "CNAME", "Class": "IN"},
                {"Rdata": "1.128.3.4", "Type": "A", "Class": "IN"}],
    "srcaddr": "172.31.86.159", "srcport": "52785", "transport": "UDP", "srcids": {"instance": "i-079c44232510ca8ff"},
}
FIREWALL = {
    "srcaddr": "81.2.69.143", "vpc_id": "vpc-7example", "answers": [{"Rdata": "203.0.113.9", "Type": "PTR",
                                                                    "Class": "IN"}],
    "firewall_rule_group_id": "rslvr-frg-01234567890abcdef", "firewall_rule_action": "BLOCK",
    "query_name": "15.199.16.175.in-addr.arpa.", "firewall_domain_list_id": "rslvr-fdl-01234567890abcdef",
    "query_class": "IN", "srcids": {"instance": "i-0d15cd0d3example"}, "rcode": "NOERROR", "query_type": "PTR",
    "transport": "TCP", "version": "1.100000", "account_id": "111122223333", "srcport": 56067,
    "query_timestamp": "2021-02-04T17:51:55Z", "region": "us-east-1",
}


def parse(log: dict | str) -> dict:
    message = log if isinstance(log, str) else orjson.dumps(log).decode()
    [doc] = SPEC.parse_unguarded(Event(message=message), ParseOptions())
    return doc


def test_query_maps_question_answers_and_source():
    doc = parse(QUERY)
    assert doc["@timestamp"] == "2021-12-11T22:48:33.000Z"
    assert doc["dns"]["question"] == {"name": "abcd.example.com", "registered_domain": "example.com",
                                      "top_level_domain": "com", "subdomain": "abcd", "class": "IN", "type": "A"}
    assert doc["dns"]["answers"] == [
        {"class": "IN", "type": "CNAME", "data": "test.example.com", "name": "test.example.com"},
        {"class": "IN", "type": "A", "data": "1.128.3.4"}]
    assert doc["source"] == {"port": 52785, "address": "172.31.86.159", "ip": "172.31.86.159"}
    assert doc["network"] == {"protocol": "dns", "transport": "udp", "iana_number": "17", "type": "ipv4"}
    assert doc["cloud"] == {"provider": "aws", "account": {"id": "626345947581"}, "region": "us-east-1",
                            "instance": {"id": "i-079c44232510ca8ff"}}
    assert doc["event"]["category"] == ["network"] and doc["event"]["type"] == ["protocol"]
    assert doc["event"]["outcome"] == "success"


def test_related_gathers_answer_addresses_hosts_and_the_question():
    related = parse(QUERY)["related"]
    assert related == {"ip": ["1.128.3.4", "172.31.86.159"], "hosts": ["test.example.com", "abcd.example.com"]}


def test_reverse_lookup_adds_the_spelled_address_and_no_registered_domain():
    doc = parse(FIREWALL)
    assert doc["dns"]["question"] == {"name": "15.199.16.175.in-addr.arpa", "class": "IN", "type": "PTR"}
    assert doc["related"] == {"ip": ["81.2.69.143", "175.16.199.15"], "hosts": ["203.0.113.9"]}
    assert doc["aws"]["route53"]["firewall"] == {"action": "BLOCK", "rule_group": {"id": "rslvr-frg-01234567890abcdef"},
                                                 "domain_list": {"id": "rslvr-fdl-01234567890abcdef"}}
    assert doc["network"]["iana_number"] == "6" and doc["source"]["port"] == 56067


def test_ipv6_reverse_name_is_regrouped_in_fours():
    log = copy.deepcopy(FIREWALL) | {"query_name": "6.c.f.6.a.9.0.e.2.b.9.a.2.f.1.9.2.0.0.4.d.d.a.0.0.4.f.c.2.0.a.2."
                                                   "ip6.arpa"}
    assert parse(log)["related"]["ip"][-1] == "2a02:cf40:0add:4002:91f2:a9b2:e09a:6fc6"


def test_reverse_name_that_spells_no_address_adds_nothing():
    log = copy.deepcopy(FIREWALL) | {"query_name": "20.160.89.in-addr.arpa."}
    assert parse(log)["related"]["ip"] == ["81.2.69.143"]


def test_any_rcode_but_noerror_is_a_failure():
    assert parse(copy.deepcopy(QUERY) | {"rcode": "NXDOMAIN", "answers": []})["event"]["outcome"] == "failure"


def test_question_name_in_related_hosts_is_rendered_as_its_template():
    # append related.hosts "{{dns.question.name}}": mustache JSON-escapes the `\\032` Route 53 writes for a
    # space; dns.question.name itself is renamed, not templated.
    doc = parse(copy.deepcopy(QUERY) | {"query_name": "a\\032b.example.com."})
    assert doc["dns"]["question"]["name"] == "a\\032b.example.com"
    assert doc["related"]["hosts"][-1] == "a\\\\032b.example.com"


def test_names_without_a_known_suffix_get_no_registered_domain():
    doc = parse(copy.deepcopy(QUERY) | {"query_name": "instance-data."})
    assert doc["dns"]["question"]["name"] == "instance-data" and "registered_domain" not in doc["dns"]["question"]


def test_private_suffix_rule_makes_the_suffix_the_registered_domain():
    doc = parse(copy.deepcopy(QUERY) | {"query_name": "ec2-instance-connect.us-east-1.amazonaws.com."})
    assert doc["dns"]["question"]["registered_domain"] == "us-east-1.amazonaws.com"
    assert doc["dns"]["question"]["top_level_domain"] == "amazonaws.com"


def test_out_of_range_source_port_is_dropped():
    assert "port" not in parse(copy.deepcopy(QUERY) | {"srcport": 1e308})["source"]


@pytest.mark.parametrize("message", ["", "{", "[]", "null"])
def test_text_that_is_no_json_object_is_an_event_error(message):
    with pytest.raises(EventError):
        parse(message)


@settings(max_examples=600, deadline=None)
@given(mutated_events([QUERY, FIREWALL]))
def test_mutated_logs_parse_or_fail_cleanly(event):
    assert_parses_cleanly(SPEC, event)


@settings(max_examples=400, deadline=None)
@given(cut_or_random_text([orjson.dumps(QUERY).decode()]))
def test_random_or_cut_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))


def test_a_log_too_deep_to_render_is_too_deep_at_parse_not_at_the_sink():
    # vpc_id lands at aws.vpc_id, the document's 3rd level: 252 nested lists there make 254 levels in all, the
    # most orjson renders; one more is refused here (it used to leave an unrenderable document for the sink).
    value: list = ["x"]
    for _ in range(251):
        value = [value]
    assert orjson.dumps(parse(QUERY | {"vpc_id": value}))
    with pytest.raises(EventError) as raised:
        parse(QUERY | {"vpc_id": [value]})
    assert raised.value.reason == "too_deep"
