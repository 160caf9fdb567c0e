"""AWS VPC Flow Logs (`aws.vpcflow`): one space-separated flow record per event.

The field order is the log's format string. With a detection-rule hint (`hints["vpcflow_format"]`, the AWS
`${field-name} ...` syntax) we use it; without one we recognise the format by its token count, as Elastic's
pipeline does: 14 = default v2, 29 = every v5 field, 36 = Transit Gateway, 39 = v7 with the ECS fields,
40 = v8 (v7 plus reject-reason), and the three custom orders (6, 17, 21) of Elastic's test cases.

The document follows Elastic's current pipeline (event.category/type arrays, `allowed`/`denied`,
event.action, event.reason, orchestrator.* from the ECS fields), including its leftovers: `-` is removed
under `aws.*` only, so `cloud.region: "-"` survives, and an all-`-` sublocation stays as `{}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from parsers._lines import epoch_s_ms, ip_kind, java_long
from parsers.enrich import geoip
from parsers.enrich.community_id import community_id
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

_V2 = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
       "action log-status")
_V5 = (_V2 + " vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type"
       " sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path")
_V7 = (_V5 + " ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id"
       " ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id")
_TGW = ("version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id"
        " tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id"
        " tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end"
        " log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded"
        " packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service")
# Elastic's custom-format test cases (NAT gateway and "all fields in another order" examples).
_CUSTOM_6 = "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr"
_CUSTOM_17 = ("version interface-id account-id vpc-id subnet-id instance-id srcaddr dstaddr srcport dstport protocol"
              " tcp-flags type pkt-srcaddr pkt-dstaddr action log-status")
_CUSTOM_21 = ("version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport"
              " pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status")

# Every field AWS documents for flow log formats (versions 2-8, Transit Gateway): the settings refuse a custom
# format naming something close to one of these but not it (a misspelt `${srcadr}` would leave every flow
# without source.ip, quietly).
FIELD_NAMES = frozenset(f"{_V7} reject-reason {_TGW}".split())

# Fields that leave `aws.vpcflow` for an ECS field. Values of `-` are dropped first (the pipeline renames
# them after its `-` clean-up of `aws.*`).
_RENAMED = {
    "ecs-cluster-arn": ("orchestrator", "cluster", "id"),
    "ecs-cluster-name": ("orchestrator", "cluster", "name"),
    "ecs-container-instance-arn": ("orchestrator", "resource", "name"),
    "ecs-container-instance-id": ("orchestrator", "resource", "id"),
    "ecs-service-name": ("service", "name"),
    "reject-reason": ("event", "reason"),
}
# Fields the pipeline dissects straight into ECS fields, so a `-` survives there.
_RAW = {
    "region": ("cloud", "region"),
    "az-id": ("cloud", "availability_zone"),
    "flow-direction": ("network", "direction"),
}
# AWS names whose `aws.vpcflow` key is not simply the name with `_` for `-`.
_AWS_KEYS = {"pkt-src-aws-service": "pkt_src_service", "pkt-dst-aws-service": "pkt_dst_service"}
# Fields read by position rather than copied to `aws.vpcflow`.
_POSITIONAL = ("srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end")

# A log file's first line names its fields; anything else starting like one is a bad record, not a header.
_HEADER = re.compile(r"[a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*)*\Z")

_TRANSPORTS = {"0": "hopopt", "1": "icmp", "2": "igmp", "6": "tcp", "8": "egp", "17": "udp", "47": "gre",
               "50": "esp", "58": "ipv6-icmp", "112": "vrrp", "132": "sctp"}
_ABSENT = frozenset(("-", ""))
_TCP_FLAGS = ((0x01, "fin"), (0x02, "syn"), (0x04, "rst"), (0x08, "psh"), (0x10, "ack"), (0x20, "urg"))


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each field of one format sits: token indexes, -1 when the format lacks it (the parser appends a
    `-` to every record's fields, so index -1 reads as absent)."""

    size: int
    first: str  # the first field's name: a line starting with it is the file's header line
    aws: tuple[tuple[int, str], ...]  # copied to aws.vpcflow.<key> unless "-"
    raw: tuple[tuple[int, tuple[str, ...]], ...]
    renamed: tuple[tuple[int, tuple[str, ...]], ...]
    sublocation: tuple[int, int] | None
    src: int
    dst: int
    sport: int
    dport: int
    proto: int
    packets: int
    bytes: int
    start: int
    end: int


@lru_cache(maxsize=64)
def _layout(names: tuple[str, ...]) -> _Layout:
    index = {name: i for i, name in enumerate(names)}
    aws, raw, renamed = [], [], []
    for i, name in enumerate(names):
        if name in _POSITIONAL or name in ("sublocation-type", "sublocation-id"):
            continue
        if name in _RAW:
            raw.append((i, _RAW[name]))
        elif name in _RENAMED:
            renamed.append((i, _RENAMED[name]))
        else:
            aws.append((i, _AWS_KEYS.get(name) or name.replace("-", "_")))
    sublocation = None
    if "sublocation-type" in index or "sublocation-id" in index:
        sublocation = (index.get("sublocation-type", -1), index.get("sublocation-id", -1))
    src, dst, sport, dport, proto, packets, size, start, end = (index.get(name, -1) for name in _POSITIONAL)
    return _Layout(len(names), names[0], tuple(aws), tuple(raw), tuple(renamed), sublocation,
                   src, dst, sport, dport, proto, packets, size, start, end)


_BY_COUNT = {layout.size: layout for layout in (
    _layout(tuple(fmt.split())) for fmt in (_V2, _V5, _V7, _V7 + " reject-reason", _TGW, _CUSTOM_6, _CUSTOM_17,
                                            _CUSTOM_21))}


@lru_cache(maxsize=64)
def _hinted_layout(fmt: str) -> _Layout | None:
    """The layout of an AWS format string (`${version} ${account-id} ...`); None if it names no field."""
    names = tuple(token.strip("${}") for token in fmt.split())
    return _layout(names) if names and all(names) else None


@register("vpcflow")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    text = event.text()
    if text.startswith(("version ", "instance-id ")) and _HEADER.match(text):  # a log file's header line
        return []
    if text.startswith('{"message":"'):  # a record some shippers wrap in JSON
        close = text.find('"}', 12)
        if close > 0:
            text = text[12:close]
    fields = text.split(" ")
    layout = None
    fmt = event.meta.hints.get("vpcflow_format")
    if fmt and isinstance(fmt, str):
        layout = _hinted_layout(fmt)
        if layout is not None and layout.size != len(fields):
            layout = None  # the hint is for other records of the stream: fall back to recognising this one
        elif layout is not None and fields[0] == layout.first:
            return []  # the header of a custom format that starts with neither `version` nor `instance-id`
    if layout is None:
        layout = _BY_COUNT.get(len(fields))
        if layout is None:
            raise EventError(f"unrecognised VPC flow log format ({len(fields)} fields)", reason="unknown_format")
    fields.append("-")  # what index -1, a field the layout lacks, reads
    return [_document(fields, layout, text, options.geoip_dir)]


def _document(fields: list[str], layout: _Layout, text: str, geoip_dir: str | None) -> dict[str, Any]:
    # One long function on purpose: this is the hot path of the busiest dataset.
    vpcflow: dict[str, Any] = {key: fields[i] for i, key in layout.aws if fields[i] not in _ABSENT}
    action = vpcflow.get("action")
    event: dict[str, Any]
    if action == "ACCEPT":
        event = {"category": ["network"], "type": ["connection", "allowed"], "kind": "event", "original": text,
                 "outcome": "success", "action": action}
    elif action == "REJECT":
        event = {"category": ["network"], "type": ["connection", "denied"], "kind": "event", "original": text,
                 "outcome": "failure", "action": action}
    else:
        event = {"category": ["network"], "type": ["connection"], "kind": "event", "original": text}
        if action:
            event["action"] = action
    cloud: dict[str, Any] = {"provider": "aws"}
    network: dict[str, Any] = {}
    doc: dict[str, Any] = {"aws": {"vpcflow": vpcflow}, "cloud": cloud, "event": event}
    if layout.sublocation is not None:
        vpcflow["sublocation"] = {key: fields[i] for key, i in zip(("type", "id"), layout.sublocation)
                                  if fields[i] not in _ABSENT}
    for i, path in layout.raw:
        if fields[i]:
            _put(doc, path, fields[i])
    for i, path in layout.renamed:
        if fields[i] not in _ABSENT:
            _put(doc, path, fields[i])
    if (end := epoch_s_ms(fields[layout.end])) is not None:
        doc["@timestamp"] = event["end"] = end
    if (start := epoch_s_ms(fields[layout.start])) is not None:
        event["start"] = start
    if (account := vpcflow.get("account_id")) is not None:
        cloud["account"] = {"id": account}
    if (instance := vpcflow.get("instance_id")) is not None:
        cloud["instance"] = {"id": instance}
    if (flags := vpcflow.get("tcp_flags")) is not None:
        vpcflow["tcp_flags_array"] = _tcp_flags(flags)

    source: dict[str, Any] = {}
    destination: dict[str, Any] = {}
    src, dst = fields[layout.src], fields[layout.dst]
    src_ok = dst_ok = False
    if src not in _ABSENT:
        source["address"] = src
        # The pipeline copies the address unchecked; Elasticsearch would reject the document for a bad one.
        if ip_kind(src):
            source["ip"] = src
            network["type"] = "ipv6" if ":" in src else "ipv4"
            geoip.enrich(source, src, geoip_dir)
            src_ok = True
    if dst not in _ABSENT:
        destination["address"] = dst
        if ip_kind(dst):
            destination["ip"] = dst
            geoip.enrich(destination, dst, geoip_dir)
            dst_ok = True
    # Ports convert to integer, counters to long; a value outside that range fails the conversion.
    if (sport := java_long(fields[layout.sport], 32)) is not None:
        source["port"] = sport
    if (dport := java_long(fields[layout.dport], 32)) is not None:
        destination["port"] = dport
    if (packets := java_long(fields[layout.packets])) is not None:
        source["packets"] = network["packets"] = packets
    if (size := java_long(fields[layout.bytes])) is not None:
        source["bytes"] = network["bytes"] = size
    proto = fields[layout.proto]
    if proto not in _ABSENT:
        network["iana_number"] = proto
        if transport := _TRANSPORTS.get(proto):
            network["transport"] = transport
    if src_ok and dst_ok:
        doc["related"] = {"ip": [src, dst]}
        # A port the pipeline could not convert fails it before community_id runs; an absent one reads as 0.
        ports_converted = ((sport is not None or fields[layout.sport] in _ABSENT)
                           and (dport is not None or fields[layout.dport] in _ABSENT))
        if (ports_converted and (number := java_long(proto, 32)) is not None
                and (cid := community_id(src, dst, number, sport, dport))):
            network["community_id"] = cid
    if source:
        doc["source"] = source
    if destination:
        doc["destination"] = destination
    if network:
        if "network" in doc:  # flow-direction
            doc["network"].update(network)
        else:
            doc["network"] = network
    return doc


def _tcp_flags(flags: str) -> list[str]:
    # Painless parseUnsignedInt; the list exists (maybe empty) as soon as the field does.
    value = java_long(flags)
    if value is None or not 0 <= value <= 0xFFFFFFFF:
        return []
    return [name for bit, name in _TCP_FLAGS if value & bit]


def _put(doc: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
