"""Community ID v1: the fast implementation agrees with the `communityid` reference library."""

from __future__ import annotations

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


@pytest.mark.parametrize("flow", [("not-an-ip", "1.2.3.4", 6, 1, 2), ("1.2.3.4", "1.2.3.5", 6, None, 2),
                                  ("1.2.3.4", "1.2.3.5", 6, 70000, 2), ("1.2.3.4", "1.2.3.5", 256, 1, 2),
                                  ("1.2.3.4", "1.2.3.5", True, 1, 2)])
def test_unhashable_tuples_give_none(flow):
    assert community_id(*flow) is None


_ADDRESSES = st.sampled_from(["10.0.0.1", "10.0.0.2", "89.160.20.156", "0.0.0.0", "255.255.255.255", "::1",
                              "2a02:cf40::", "2001:db8::2", "::ffff:10.0.0.1"])


@settings(max_examples=500, deadline=None)
@given(_ADDRESSES, _ADDRESSES, st.sampled_from([0, 1, 6, 17, 47, 58, 132, 255]),
       st.sampled_from([0, 8, 9, 13, 128, 129, 135, 443, 65535]) | st.integers(0, 65535), st.integers(0, 65535))
def test_matches_the_reference_library(src, dst, proto, sport, dport):
    assert community_id(src, dst, proto, sport, dport) == _reference(src, dst, proto, sport, dport)
