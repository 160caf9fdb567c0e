"""VPC Flow Logs: default and custom field orders, v2 to v8, and Elastic's current document shape."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from parsers import registry
from parsers.errors import EventError
from parsers.event import Event, EventMeta
from parsers.options import ParseOptions
from tests.unit.parsers._line_mutations import mutated_lines
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text

SPEC = registry.get("vpcflow")
V2 = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
V2_IPV6 = ("2 123456789010 eni-1235b8ca123456789 2001:db8::1 2001:db8::2 34892 22 6 54 8855 1477913708 1477913820 "
           "REJECT OK")
NODATA = "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
V5 = ("5 64111117617 eni-069xxxxxb7a490 89.160.20.156 10.200.0.0 50041 33004 17 52 1 164000066 1640000297 REJECT OK "
      "vpc-09676f97xxxxxb8a7 subnet-02d645xxxxxxxdbc0 i-0axxxxxx1ad77 1 IPv4 89.160.20.156 10.200.0.80 us-east-1 "
      "use1-az5 - - AMAZON CLOUDFRONT ingress 1")
V8 = ("3 000000000000 - 2a02:cf40:: 1.128.0.0 42910 80 17 51 33615 1755678754 1755678775 REJECT NODATA - - - - - - - "
      "- - - - - - ingress - arn:aws:ecs:us-east-1:000000000000:cluster/backend-cluster backend-cluster "
      "arn:aws:ecs:us-east-1:000000000000:container-instance/backend-cluster/i-18de i-18de 601a6500-efa "
      "dea79277-480 payments-service arn:aws:ecs:us-east-1:000000000000:task-definition/orders:12 "
      "arn:aws:ecs:us-east-1:000000000000:task/backend-cluster/e504f037-35c e504f037-35c BPA")
TGW = ("3 - 748335378900 tgw-0a12bc34de56f7890 tgw-attach-0789ijkl - - vpc-0jkl5678 vpc-0ghi9012 - - "
       "eni-0cc3dd4ee5f66aa7b eni-0cc3dd4ee5f66aa7b - - - 1.128.0.0 2a02:cf40:: 39464 22 6 49 8947 1755592533 "
       "1755592558 SKIPDATA - - - - - - - ingress - -")
CUSTOM_21 = ("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 "
             "IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 19 OK")


def parse(line: str, fmt: str | None = None) -> list[dict]:
    meta = EventMeta(hints={"vpcflow_format": fmt} if fmt else {})
    return SPEC.parse_unguarded(Event(message=line, meta=meta), ParseOptions())


def test_default_v2_record_maps_endpoints_counters_and_times():
    [doc] = parse(V2)
    assert doc["source"] == {"address": "172.31.16.139", "ip": "172.31.16.139", "port": 20641, "packets": 20,
                             "bytes": 4249}
    assert doc["destination"] == {"address": "172.31.16.21", "ip": "172.31.16.21", "port": 22}
    assert doc["network"]["transport"] == "tcp" and doc["network"]["iana_number"] == "6"
    assert doc["network"]["bytes"] == 4249 and doc["network"]["type"] == "ipv4"
    assert doc["@timestamp"] == doc["event"]["end"] == "2014-12-14T04:07:50.000Z"
    assert doc["event"]["start"] == "2014-12-14T04:06:50.000Z"
    assert doc["cloud"] == {"provider": "aws", "account": {"id": "123456789010"}}
    assert doc["related"]["ip"] == ["172.31.16.139", "172.31.16.21"]
    assert doc["network"]["community_id"].startswith("1:")


def test_accept_is_an_allowed_connection_with_success_outcome():
    [doc] = parse(V2)
    assert doc["event"]["category"] == ["network"]
    assert doc["event"]["type"] == ["connection", "allowed"]
    assert doc["event"]["action"] == "ACCEPT" and doc["event"]["outcome"] == "success"


def test_ipv6_flow_is_typed_ipv6_and_rejected_flows_are_denied():
    [doc] = parse(V2_IPV6)
    assert doc["network"]["type"] == "ipv6"
    assert doc["source"]["ip"] == "2001:db8::1" and doc["destination"]["ip"] == "2001:db8::2"
    assert doc["event"]["type"] == ["connection", "denied"] and doc["event"]["outcome"] == "failure"
    assert doc["network"]["community_id"].startswith("1:")


def test_nodata_record_keeps_only_what_is_not_a_dash():
    [doc] = parse(NODATA)
    assert doc["aws"]["vpcflow"] == {"version": "2", "account_id": "123456789010",
                                     "interface_id": "eni-1235b8ca123456789", "log_status": "NODATA"}
    assert "source" not in doc and "destination" not in doc and "network" not in doc
    assert "outcome" not in doc["event"] and "action" not in doc["event"]
    assert doc["event"]["type"] == ["connection"]


@pytest.mark.parametrize("header", [("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
                                     "packets bytes start end action log-status"),
                                    "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr"])
def test_header_lines_are_dropped(header):
    assert parse(header) == []


@pytest.mark.parametrize("line", ["version 2 corrupt: x y z w", "instance-idle garbage", "versions"])
def test_lines_that_only_start_like_a_header_are_not_dropped_as_one(line):
    with pytest.raises(EventError):
        SPEC.parse_unguarded(Event(message=line), ParseOptions())


def test_v5_record_keeps_pipeline_leftovers_and_maps_region_and_direction():
    [doc] = parse(V5)
    vpcflow = doc["aws"]["vpcflow"]
    assert vpcflow["sublocation"] == {}  # both parts were "-": Elastic keeps the empty object
    assert vpcflow["tcp_flags_array"] == ["fin"] and vpcflow["pkt_src_service"] == "AMAZON"
    assert doc["cloud"]["region"] == "us-east-1" and doc["cloud"]["availability_zone"] == "use1-az5"
    assert doc["cloud"]["instance"] == {"id": "i-0axxxxxx1ad77"}
    assert doc["network"]["direction"] == "ingress" and doc["network"]["transport"] == "udp"
    assert doc["event"]["start"] == "1975-03-14T03:34:26.000Z"


def test_v8_ecs_fields_become_orchestrator_service_and_reject_reason():
    [doc] = parse(V8)
    assert doc["orchestrator"] == {
        "cluster": {"id": "arn:aws:ecs:us-east-1:000000000000:cluster/backend-cluster", "name": "backend-cluster"},
        "resource": {"id": "i-18de",
                     "name": "arn:aws:ecs:us-east-1:000000000000:container-instance/backend-cluster/i-18de"}}
    assert doc["service"] == {"name": "payments-service"}
    assert doc["event"]["reason"] == "BPA"
    assert doc["aws"]["vpcflow"]["ecs_task_id"] == "e504f037-35c"
    assert "ecs_cluster_arn" not in doc["aws"]["vpcflow"] and "interface_id" not in doc["aws"]["vpcflow"]
    assert doc["cloud"]["region"] == "-"  # dissected straight into cloud.*, so Elastic's "-" clean-up misses it


def test_transit_gateway_record_keeps_tgw_fields():
    [doc] = parse(TGW)
    vpcflow = doc["aws"]["vpcflow"]
    assert vpcflow["tgw_id"] == "tgw-0a12bc34de56f7890" and vpcflow["tgw_src_vpc_id"] == "vpc-0jkl5678"
    assert "resource_type" not in vpcflow and "tcp_flags_array" not in vpcflow
    assert doc["destination"]["ip"] == "2a02:cf40::" and doc["network"]["type"] == "ipv4"


def test_21_field_custom_order_reads_bytes_before_packets():
    [doc] = parse(CUSTOM_21)
    assert doc["source"]["bytes"] == 568 and doc["source"]["packets"] == 8
    assert doc["aws"]["vpcflow"]["tcp_flags_array"] == ["fin", "syn", "ack"]
    assert doc["cloud"]["instance"]["id"] == "i-01234567890123456"


def test_format_hint_maps_fields_in_the_given_order():
    fmt = "${srcaddr} ${dstaddr} ${dstport} ${srcport} ${protocol} ${action} ${reject-reason} ${flow-direction}"
    [doc] = parse("10.0.0.1 10.0.0.2 443 51000 17 REJECT BPA egress", fmt)
    assert doc["source"]["port"] == 51000 and doc["destination"]["port"] == 443
    assert doc["event"]["reason"] == "BPA" and doc["network"]["direction"] == "egress"
    assert doc["network"]["transport"] == "udp"


def test_format_hint_drops_its_own_header_line():
    assert parse("vpc-id srcaddr dstaddr", "${vpc-id} ${srcaddr} ${dstaddr}") == []


def test_format_hint_for_another_field_count_falls_back_to_token_count():
    [doc] = parse(V2, "${vpc-id} ${srcaddr} ${dstaddr}")
    assert doc["aws"]["vpcflow"]["version"] == "2"


def test_unknown_field_count_is_an_event_error():
    with pytest.raises(EventError) as caught:
        parse("2 123456789010 eni-1 too-few")
    assert caught.value.reason == "unknown_format"


def test_record_wrapped_in_a_message_object_is_unwrapped():
    [doc] = parse('{"message":"' + NODATA + '"}')
    assert doc["event"]["original"] == NODATA and doc["aws"]["vpcflow"]["log_status"] == "NODATA"


def test_invalid_address_stays_an_address_without_ip_or_community_id():
    [doc] = parse(V2.replace("172.31.16.139", "172.31.16.999"))
    assert doc["source"]["address"] == "172.31.16.999" and "ip" not in doc["source"]
    assert "community_id" not in doc["network"] and "related" not in doc


def test_counters_outside_javas_ranges_are_dropped():
    [doc] = parse(V2.replace(" 20641 ", " 2147483648 ").replace(" 4249 ", " 99999999999999999999 "))
    assert "port" not in doc["source"] and "bytes" not in doc["source"] and doc["source"]["packets"] == 20


def test_unicode_digits_are_not_numbers():
    [doc] = parse(V2.replace(" 20641 ", " ٢٠٦٤١ "))
    assert "port" not in doc["source"]


def test_icmp_community_id_ignores_the_port_columns():
    # Elasticsearch's processor takes ICMP type/code from icmp.*, which the pipeline never sets: 0 and 0.
    icmp = V2.replace(" 6 20 ", " 1 20 ")
    [zero] = parse(icmp.replace(" 20641 22 ", " 0 0 "))
    [other] = parse(icmp.replace(" 20641 22 ", " 3 1 "))
    expected = "1:cbQu7UySfx5hRcwLEXPEyMLGUxs="  # the reference library's hash for ICMP type 0, code 0
    assert other["network"]["community_id"] == zero["network"]["community_id"] == expected


def test_absent_ports_hash_as_zero_but_unconvertible_ones_give_no_community_id():
    [absent] = parse(V2.replace(" 20641 22 ", " - 22 "))
    [zero] = parse(V2.replace(" 20641 22 ", " 0 22 "))
    assert absent["network"]["community_id"] == zero["network"]["community_id"]
    [too_big] = parse(V2.replace(" 20641 22 ", " 2147483648 22 "))  # the pipeline's convert fails first
    assert "community_id" not in too_big["network"]


def test_geoip_enriches_both_ends_when_a_database_folder_is_given(tmp_path):
    [doc] = SPEC.parse_unguarded(Event(message=V2), ParseOptions(geoip_dir=str(tmp_path)))
    assert "geo" not in doc["source"]  # an empty folder: no databases, no geo, no failure


@settings(max_examples=700, deadline=None)
@given(mutated_lines([V2, V2_IPV6, NODATA, V5, V8, TGW, CUSTOM_21]))
def test_mutated_lines_parse_or_fail_cleanly(line):
    assert_parses_cleanly(SPEC, Event(message=line))


@settings(max_examples=300, deadline=None)
@given(cut_or_random_text([V2, V5, V8]))
def test_random_or_cut_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text, meta=EventMeta(hints={"vpcflow_format": "${version} ${srcaddr}"})))
