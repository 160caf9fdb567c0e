"""Community ID v1 flow hashes (`network.community_id`), via the `communityid` library."""

from __future__ import annotations

from functools import lru_cache

import communityid

_TRANSPORTS = {1: communityid.FlowTuple.make_icmp, 58: communityid.FlowTuple.make_icmp6,
               6: communityid.FlowTuple.make_tcp, 17: communityid.FlowTuple.make_udp,
               132: communityid.FlowTuple.make_sctp}
_CID = communityid.CommunityID(seed=0)


@lru_cache(maxsize=65536)
def community_id(src_ip: str, dst_ip: str, proto: int, src_port: int | None, dst_port: int | None) -> str | None:
    """The v1 hash, or None when the tuple cannot be hashed (bad address, ports missing for TCP/UDP)."""
    try:
        make = _TRANSPORTS.get(proto)
        if make is not None:
            if src_port is None or dst_port is None:
                return None
            flow = make(src_ip, dst_ip, src_port, dst_port)
        else:
            flow = communityid.FlowTuple(proto, src_ip, dst_ip)
        return _CID.calc(flow)
    except Exception:  # the library raises assorted errors on malformed tuples; no hash is the answer
        return None
