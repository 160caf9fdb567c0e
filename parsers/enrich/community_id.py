"""Community ID v1 flow hashes (`network.community_id`).

The hash itself is a SHA-1 over a few packed bytes; the `communityid` reference library spends ~60 µs per
flow building tuple objects around it, which VPC Flow volumes cannot afford. Flows rarely repeat, so there
is no cache either: a miss in a large LRU cache costs about as much as the hash. This is the same algorithm, checked against the library by the unit tests: seed 0,
endpoints ordered smaller-first, ICMP/ICMPv6 message types paired the way Zeek pairs them.
"""

from __future__ import annotations

import struct
from binascii import b2a_base64
from hashlib import sha1

from parsers.ecs import packed_ip

_SEED = b"\x00\x00"
_PROTO_PAD = [bytes((proto, 0)) for proto in range(256)]  # protocol number, then one byte of padding
_PORTS = struct.Struct("!HH").pack
_PORT_PROTOCOLS = frozenset((1, 6, 17, 58, 132))  # ICMP, TCP, UDP, ICMPv6, SCTP
# Request/response message types that form one flow (type -> the type answering it).
_ICMP_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS = {128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133, 135: 136, 136: 135,
                139: 140, 140: 139, 144: 145, 145: 144}


def community_id(src_ip: str, dst_ip: str, proto: int, src_port: int | None, dst_port: int | None) -> str | None:
    """The v1 hash, or None when the tuple cannot be hashed (bad address, ports missing for TCP/UDP)."""
    if type(proto) is not int or not 0 <= proto <= 255:
        return None
    src, dst = packed_ip(src_ip), packed_ip(dst_ip)
    if src is None or dst is None:
        return None
    if proto in _PORT_PROTOCOLS:
        if not (type(src_port) is int and type(dst_port) is int
                and 0 <= src_port <= 65535 and 0 <= dst_port <= 65535):
            return None
        one_way = False
        if proto == 1 or proto == 58:
            pairs = _ICMP_PAIRS if proto == 1 else _ICMP6_PAIRS
            if src_port in pairs:
                dst_port = pairs[src_port]
            else:
                one_way = True
        if not (one_way or src < dst or (src == dst and src_port < dst_port)):
            src, dst, src_port, dst_port = dst, src, dst_port, src_port
        data = _SEED + src + dst + _PROTO_PAD[proto] + _PORTS(src_port, dst_port)
    else:
        if src > dst:
            src, dst = dst, src
        data = _SEED + src + dst + _PROTO_PAD[proto]
    return "1:" + b2a_base64(sha1(data).digest(), newline=False).decode("ascii")
