"""AWS WAF logs: JSON in, request and rule fields out, with the pipeline's fallbacks and clean-up."""

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

SPEC = registry.get("waf")
BLOCK = {
    "timestamp": 1576280412771, "formatVersion": 1,
    "webaclId": "arn:aws:wafv2:ap-southeast-2:123456789012:regional/webacl/STMTest/1EXAMPLE",
    "terminatingRuleId": "STMTest_SQLi_XSS", "terminatingRuleType": "REGULAR", "action": "BLOCK",
    "terminatingRuleMatchDetails": [{"conditionType": "SQL_INJECTION", "location": "HEADER",
                                     "matchedData": ["10", "AND", "-"]}],
    "httpSourceName": "-", "httpSourceId": "-", "ruleGroupList": [], "rateBasedRuleList": [],
    "nonTerminatingMatchingRules": [], "ClientASN": 64500,
    "httpRequest": {"clientIp": "10.1.2.3", "country": "AU", "uri": "/foo", "args": "", "httpVersion": "HTTP/1.1",
                    "httpMethod": "GET", "requestId": "rid",
                    "headers": [{"name": "Host", "value": "localhost:1989"}, {"name": "x-stm-test", "value": "1 AND 1"},
                                {"name": "Host", "value": "second"}]},
    "labels": [{"name": "value"}],
}


def parse(log: dict | str) -> dict:
    message = log if isinstance(log, str) else orjson.dumps(log).decode()
    [doc] = SPEC.parse_unguarded(Event(message=message), ParseOptions())
    return doc


def test_blocked_request_maps_request_rule_and_acl():
    doc = parse(BLOCK)
    assert doc["@timestamp"] == "2019-12-13T23:40:12.771Z"
    assert doc["event"]["type"] == ["access", "denied"] and doc["event"]["action"] == "BLOCK"
    assert doc["event"]["category"] == "web" and "outcome" not in doc["event"]
    assert doc["http"] == {"request": {"id": "rid", "method": "GET"}, "version": "1.1"}
    assert doc["network"] == {"protocol": "http", "transport": "tcp"}
    assert doc["url"] == {"path": "/foo"}  # empty args are cleaned away
    assert doc["rule"] == {"id": "STMTest_SQLi_XSS", "ruleset": "REGULAR"}
    assert doc["cloud"] == {"provider": "aws", "region": "ap-southeast-2", "account": {"id": "123456789012"},
                            "service": {"name": "wafv2"}}
    assert doc["aws"]["waf"]["id"] == "regional/webacl/STMTest/1EXAMPLE"
    assert doc["related"] == {"ip": ["10.1.2.3"]}


def test_headers_become_a_map_where_the_last_duplicate_wins():
    assert parse(BLOCK)["aws"]["waf"]["request"]["headers"] == {"Host": "second", "x-stm-test": "1 AND 1"}


def test_country_and_client_asn_fill_in_when_geoip_knows_nothing():
    source = parse(BLOCK)["source"]
    assert source == {"ip": "10.1.2.3", "geo": {"country_iso_code": "AU"}, "as": {"number": 64500}}


def test_clean_up_drops_dashes_and_empty_lists_but_not_list_items():
    waf = parse(BLOCK)["aws"]["waf"]
    assert "source" not in waf and "rule_group_list" not in waf and "non_terminating_matching_rules" not in waf
    assert waf["terminating_rule_match_details"][0]["matchedData"] == ["10", "AND", "-"]


def test_allowed_request_gets_the_allowed_type():
    log = copy.deepcopy(BLOCK) | {"action": "ALLOW"}
    assert parse(log)["event"]["type"] == ["access", "allowed"]


def test_counted_request_gets_only_access():
    log = copy.deepcopy(BLOCK) | {"action": "COUNT"}
    assert parse(log)["event"]["type"] == ["access"]


def test_missing_http_request_still_gives_a_document():
    log = {key: value for key, value in BLOCK.items() if key != "httpRequest"}
    doc = parse(log)
    assert doc["source"] == {"as": {"number": 64500}} and "http" not in doc and "related" not in doc
    assert doc["rule"]["id"] == "STMTest_SQLi_XSS"


def test_unicode_header_names_survive():
    log = copy.deepcopy(BLOCK)
    log["httpRequest"]["headers"] = [{"name": "x-ünïcödé", "value": "✓"}]
    assert parse(log)["aws"]["waf"]["request"]["headers"] == {"x-ünïcödé": "✓"}


@pytest.mark.parametrize("message", ["", "not json", "[1, 2]", '"a string"'])
def test_text_that_is_no_json_object_is_an_event_error(message):
    with pytest.raises(EventError):
        parse(message)


def test_non_string_client_ip_is_an_event_error():
    log = copy.deepcopy(BLOCK)
    log["httpRequest"]["clientIp"] = 12345
    with pytest.raises(EventError):
        parse(log)


@settings(max_examples=600, deadline=None)
@given(mutated_events([BLOCK]))
def test_mutated_logs_parse_or_fail_cleanly(event):
    assert_parses_cleanly(SPEC, event)


@settings(max_examples=400, deadline=None)
@given(cut_or_random_text([orjson.dumps(BLOCK).decode()]))
def test_random_or_cut_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))


def test_an_oversized_header_value_is_cut_so_the_block_still_indexes():
    from parsers import flattened
    log = copy.deepcopy(BLOCK)
    log["httpRequest"]["headers"] += [{"name": "X-Pad", "value": "\u00e9" * 16400},  # 32 800 UTF-8 bytes
                                      {"name": "N" * 9000, "value": "1"}]
    headers = parse(log)["aws"]["waf"]["request"]["headers"]
    assert headers["Host"] == "second" and headers["x-stm-test"] == "1 AND 1"
    pad = headers["X-Pad"]
    assert pad.endswith(flattened.TRUNCATED) and len(pad.encode()) <= flattened.LEAF_BUDGET
    assert pad.startswith("\u00e9" * 4000)
    assert flattened.refusal(headers, "aws.waf.request.headers") is None


def _nested(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_a_log_nested_deeper_than_json_can_render_is_too_deep_whatever_the_stack_depth():
    # aws.waf.rule_group_list sits at the document's 4th level: 251 levels of lists there make 254 in all,
    # the most orjson renders; one more could never be indexed and is refused at parse, not at the sink.
    log = copy.deepcopy(BLOCK) | {"ruleGroupList": _nested(251)}
    assert orjson.dumps(parse(log))
    log["ruleGroupList"] = _nested(252)
    with pytest.raises(EventError) as raised:
        parse(log)
    assert raised.value.reason == "too_deep"


@pytest.mark.parametrize("name, value", [("X-Long", "v" * 2048), ("X-Long", "v" * 2049), ("N" * 2049, "1"),
                                         ("X-Nul\0", "1"), ("X-Int", 7), ("X-Obj", {"a": ["b"]})])
def test_headers_fit_as_flattened_fit_would_at_the_short_cut_s_edges(name, value):
    from parsers import flattened
    log = copy.deepcopy(BLOCK)
    log["httpRequest"]["headers"] = [{"name": name, "value": value}]
    expected = flattened.fit({name: value}, "aws.waf.request.headers")
    assert parse(log)["aws"]["waf"]["request"]["headers"] == expected
