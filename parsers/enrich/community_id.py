"""Community ID v1 flow hashes (`network.community_id`) as Elasticsearch's `community_id` processor writes them.

The hash itself is a SHA-1 over a few packed bytes; the `communityid` reference library spends ~60 µs per
flow building tuple objects around it, which VPC Flow volumes cannot afford. Flows rarely repeat, so there
is no cache either: a miss in a large LRU cache costs about as much as the hash. The unit tests check this
against the library (seed 0, endpoints ordered smaller-first) wherever Elasticsearch agrees with it. Where it
does not, this follows Elasticsearch (CommunityIdProcessor), whose output the documents must match:

* ICMP and ICMPv6 never read the ports: type and code come from `icmp.type`/`icmp.code`, which no AWS pipeline
  sets, so they are 0 and 0 (ICMP then hashes as an echo reply, paired with 8; ICMPv6 type 0 is one-way);
* its message-type pairs lack two of the specification's (ICMP 16 -> 15, ICMPv6 131 -> 130);
* a missing TCP/UDP/SCTP port counts as 0; protocol 255 is refused;
* addresses are compared as unsigned numbers (only mixed families differ from byte order), an IPv4-mapped
  IPv6 address is hashed as its IPv4 address (Java's InetAddress.getByAddress), and a scope id is ignored.
"""

from __future__ import annotations

import struct
from binascii import b2a_base64
from hashlib import sha1

from parsers.ecs import packed_ip

_SEED = b"\x00\x00"
_PROTO_PAD = [bytes((proto, 0)) for proto in range(256)]  # protocol number, then one byte of padding
_PORTS = struct.Struct("!HH").pack
_PORT_PROTOCOLS = frozenset((6, 17, 132))  # TCP, UDP, SCTP
_ICMP, _ICMP6 = 1, 58
# Request/response message types that form one flow (type -> the type answering it), as Elasticsearch has them.
_ICMP_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 139: 140, 140: 139,
                144: 145, 145: 144}
_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def community_id(src_ip: str, dst_ip: str, proto: int, src_port: int | None, dst_port: int | None,
                 *, icmp_type: int = 0, icmp_code: int = 0) -> str | None:
    """The v1 hash, or None where Elasticsearch computes none (bad address or protocol, port out of range)."""
    if type(proto) is not int or not 0 <= proto < 255:
        return None
    src, dst = packed_ip(src_ip), packed_ip(dst_ip)
    if src is None or len(src) == 16:  # IPv4 takes the fast path; the rest may need Java's reading
        src = _address(src_ip, src)
    if dst is None or len(dst) == 16:
        dst = _address(dst_ip, dst)
    if src is None or dst is None:
        return None
    if proto in _PORT_PROTOCOLS:
        src_port = 0 if src_port is None else src_port
        dst_port = 0 if dst_port is None else dst_port
        if not (type(src_port) is int and type(dst_port) is int
                and 0 <= src_port <= 65535 and 0 <= dst_port <= 65535):
            return None
        if not (src < dst or (src == dst and src_port < dst_port) if len(src) == len(dst)
                else _ordered(src, dst, src_port, dst_port)):
            src, dst, src_port, dst_port = dst, src, dst_port, src_port
        return _hash(_SEED + src + dst + _PROTO_PAD[proto] + _PORTS(src_port, dst_port))
    if proto == _ICMP or proto == _ICMP6:
        answer = (_ICMP_PAIRS if proto == _ICMP else _ICMP6_PAIRS).get(icmp_type)
        src_port, dst_port = icmp_type, icmp_code if answer is None else answer
        if not (0 <= src_port <= 65535 and 0 <= dst_port <= 65535):
            return None
        if answer is not None and not _ordered(src, dst, src_port, dst_port):  # a one-way type keeps its order
            src, dst, src_port, dst_port = dst, src, dst_port, src_port
        return _hash(_SEED + src + dst + _PROTO_PAD[proto] + _PORTS(src_port, dst_port))
    if not _ordered(src, dst, 0, 0):
        src, dst = dst, src
    return _hash(_SEED + src + dst + _PROTO_PAD[proto])


def _address(text: str, packed: bytes | None) -> bytes | None:
    if packed is None:  # InetAddresses.forString ignores a scope id (`fe80::1%eth0`)
        if not isinstance(text, str):
            return None
        address, percent, scope = text.partition("%")
        if not (percent and scope) or (packed := packed_ip(address)) is None:
            return None
    if len(packed) == 16 and packed.startswith(_V4_MAPPED):
        return packed[12:]
    return packed


def _ordered(src: bytes, dst: bytes, src_port: int, dst_port: int) -> bool:
    """Flow.isOrdered: source before destination, addresses compared as unsigned numbers, then ports."""
    if len(src) != len(dst):
        a, b = int.from_bytes(src), int.from_bytes(dst)
        return a < b or (a == b and src_port < dst_port)
    return src < dst or (src == dst and src_port < dst_port)


def _hash(data: bytes) -> str:
    return "1:" + b2a_base64(sha1(data).digest(), newline=False).decode("ascii")
