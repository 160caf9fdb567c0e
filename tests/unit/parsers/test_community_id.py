"""Community ID v1 as Elasticsearch's community_id processor computes it, checked against the `communityid`
reference library wherever the two agree."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import socket
import struct

import communityid
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.enrich.community_id import community_id

_REFERENCE = communityid.CommunityID(seed=0)
_MAKERS = {1: communityid.FlowTuple.make_icmp, 58: communityid.FlowTuple.make_icmp6,
           6: communityid.FlowTuple.make_tcp, 17: communityid.FlowTuple.make_udp, 132: communityid.FlowTuple.make_sctp}


def _reference(src: str, dst: str, proto: int, sport: int, dport: int) -> str | None:
    make = _MAKERS.get(proto)
    return _REFERENCE.calc(make(src, dst, sport, dport) if make else communityid.FlowTuple(proto, src, dst))


@pytest.mark.parametrize(("flow", "expected"), [
    (("2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", 6, 34892, 22),
     "1:3piNHoW0DjbrWkF//BeRomCaOZQ="),
    (("89.160.20.156", "172.31.16.139", 1, 0, 0), "1:cttDCHp3UNR8SFNTOgVYpAceHf4="),  # ICMP echo reply
    (("2a02:cf40::", "1.128.0.0", 17, 42910, 80), "1:6Lxpa8XQj/6l+zLv/BSTAHZoSJ0="),  # mixed address families
])
def test_elastic_fixture_flows_hash_as_expected(flow, expected):
    assert community_id(*flow) == expected


@pytest.mark.parametrize("flow", [("not-an-ip", "1.2.3.4", 6, 1, 2), ("1.2.3.4", "1.2.3.5", 6, 70000, 2),
                                  ("1.2.3.4", "1.2.3.5", 6, -1, 2), ("1.2.3.4", "1.2.3.5", 256, 1, 2),
                                  ("1.2.3.4", "1.2.3.5", 255, 1, 2), ("1.2.3.4", "1.2.3.5", -1, 1, 2),
                                  ("1.2.3.4", "1.2.3.5", True, 1, 2), ("fe80::1%", "1.2.3.5", 6, 1, 2)])
def test_tuples_elasticsearch_refuses_give_none(flow):
    assert community_id(*flow) is None


@pytest.mark.parametrize("ports", [(0, 0), (3, 1), (8, 0), (None, None), (70000, -1)])
def test_icmp_never_reads_the_ports(ports):
    # Elasticsearch takes type and code from icmp.type/icmp.code, which no AWS pipeline sets: 0 and 0.
    expected = _reference("10.0.0.1", "10.0.0.2", 1, 0, 0)
    assert community_id("10.0.0.1", "10.0.0.2", 1, *ports) == expected
    assert community_id("2001:db8::1", "2001:db8::2", 58, *ports) == _reference("2001:db8::1", "2001:db8::2", 58, 0, 0)


def test_a_missing_port_counts_as_zero():
    assert community_id("10.0.0.1", "10.0.0.2", 6, None, 443) == _reference("10.0.0.1", "10.0.0.2", 6, 0, 443)
    assert community_id("10.0.0.1", "10.0.0.2", 17, 53, None) == _reference("10.0.0.1", "10.0.0.2", 17, 53, 0)


def test_mixed_families_are_ordered_as_numbers():
    # 2.0.0.0 is the smaller number (BigInteger order), though its first byte is larger than 100::'s.
    forward = community_id("2.0.0.0", "100::", 6, 1, 2)
    assert forward == community_id("100::", "2.0.0.0", 6, 2, 1)
    assert forward != _reference("2.0.0.0", "100::", 6, 1, 2)  # the library orders by bytes


def test_an_ipv4_mapped_address_hashes_as_its_ipv4_address():
    assert community_id("::ffff:10.0.0.1", "10.0.0.2", 6, 1, 2) == community_id("10.0.0.1", "10.0.0.2", 6, 1, 2)


def test_a_scope_id_is_ignored():
    assert community_id("fe80::1%eth0", "fe80::2", 6, 1, 2) == community_id("fe80::1", "fe80::2", 6, 1, 2)


@pytest.mark.parametrize(("proto", "message_type"), [(1, 16), (58, 131)])
def test_icmp_types_elasticsearch_does_not_pair_are_one_way(proto, message_type):
    # The specification pairs 16 with 15 and 131 with 130; Elasticsearch's tables lack those two directions,
    # so the flow keeps its order and the code is the second "port".
    data = (b"\x00\x00" + socket.inet_pton(socket.AF_INET, "10.0.0.2") + socket.inet_pton(socket.AF_INET, "10.0.0.1")
            + bytes((proto, 0)) + struct.pack("!HH", message_type, 0))
    expected = "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert community_id("10.0.0.2", "10.0.0.1", proto, 5, 6, icmp_type=message_type, icmp_code=0) == expected


_V4 = ["10.0.0.1", "10.0.0.2", "89.160.20.156", "0.0.0.0", "255.255.255.255"]
_V6 = ["::1", "2a02:cf40::", "2001:db8::2", "::", "ffff::1"]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([_V4, _V6]).flatmap(lambda family: st.tuples(st.sampled_from(family), st.sampled_from(family))),
       st.sampled_from([0, 1, 6, 17, 47, 58, 132, 254]),
       st.sampled_from([0, 8, 9, 13, 128, 129, 135, 443, 65535]) | st.integers(0, 65535), st.integers(0, 65535))
def test_matches_the_reference_library_where_elasticsearch_agrees(pair, proto, sport, dport):
    src, dst = pair
    if proto in (1, 58):
        if sport in (16, 131):  # the two pairs Elasticsearch's tables lack
            return
        ours = community_id(src, dst, proto, None, None, icmp_type=sport, icmp_code=dport)
    else:
        ours = community_id(src, dst, proto, sport, dport)
    assert ipaddress.ip_address(src).version == ipaddress.ip_address(dst).version
    assert ours == _reference(src, dst, proto, sport, dport)
