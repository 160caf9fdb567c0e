"""Amazon Route 53 public DNS query logs (`aws.route53_public_logs`), delivered through CloudWatch Logs.

`1.0 <timestamp> <hosted zone> <query name> <type> <rcode> <protocol> <edge location> <resolver ip>
<edns client subnet|->`, matched with the pipeline's grok rewritten as a Python regex.

Documents follow the aws 1.45.3 pipeline. As there, `dns.question.name` comes only from the
registered-domain lookup: reverse (`in-addr.arpa`) names and names under no known suffix get none.
"""

from __future__ import annotations

import re
from typing import Any

from parsers._lines import HOSTNAME, NUMBER, ip_kind, iso8601_ms
from parsers.enrich import geoip
from parsers.enrich.domain import registered_domain
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register
from parsers.short_cache import cached_when_short

_IP = r"[0-9A-Fa-f:.]+"  # checked with ip_kind afterwards, as grok's IP pattern would refuse the same
_LINE = re.compile(
    rf"{NUMBER} (?P<timestamp>\S+) (?P<hosted_zone_id>\S*) (?P<question>{HOSTNAME})"
    rf" (?P<type>\w+) (?P<rcode>\w+) (?P<transport>\w+) (?P<edge_location>[A-Z]{{3}}\d+(?:-[A-Z]+\d+)?)"
    rf" (?P<source>{_IP}) (?:(?P<subnet>{_IP}/[0-9]+)|-)",
    re.ASCII,
)
if tuple(_LINE.groupindex) != ("timestamp", "hosted_zone_id", "question", "type", "rcode", "transport",
                                "edge_location", "source", "subnet"):  # parse() unpacks match.groups() so
    raise ImportError("route53_public_logs: _LINE's groups are not in the order parse() unpacks them")
_IANA = {"tcp": "6", "udp": "17"}


@register("route53_public_logs", ecs_version="8.0.0")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    text = event.text()
    match = _LINE.match(text)
    if match is None:
        raise EventError("not a Route 53 public DNS query log line", reason="no_match")
    # _LINE's groups in order, as locals: cheaper than groupdict() and a look-up per field.
    timestamp_text, hosted_zone_id, question, kind, rcode, transport_text, edge_location, source, subnet = match.groups()
    if ip_kind(source) is None:
        raise EventError("not a Route 53 public DNS query log line", reason="no_match")
    transport = transport_text.lower()
    route53 = {"hosted_zone_id": hosted_zone_id, "edge_location": edge_location}
    if subnet:
        route53["edns_client_subnet"] = subnet
    doc: dict[str, Any] = {
        "aws": {"route53": route53},
        "cloud": {"provider": "aws"},
        "event": {"kind": "event", "category": ["network"], "type": ["protocol"], "original": text,
                  "outcome": "success" if rcode == "NOERROR" else "failure"},
        "dns": {"question": {"type": kind}, "response_code": rcode},
        "network": {"transport": transport, "protocol": "dns", "type": "ipv6" if ":" in source else "ipv4"},
        "source": {"address": source, "ip": source},
        "related": {"ip": [source]},
    }
    if (timestamp := iso8601_ms(timestamp_text)) is not None:
        doc["@timestamp"] = timestamp
    if iana := _IANA.get(transport):
        doc["network"]["iana_number"] = iana
    if (fields := _question_fields(question)) is not None:
        doc["dns"]["question"].update(fields)
        if (name := fields.get("name")) is not None:
            doc["related"]["hosts"] = [name]
    geoip.enrich(doc["source"], source, options.geoip_dir)
    return [doc]


# A zone's queries repeat the same few names: each is looked up and renamed once. The cached object is flat
# (text values) and only ever copied from.
@cached_when_short(256, maxsize=8192)  # a DNS name is at most 253 characters
def _question_fields(question: str) -> dict[str, str] | None:
    """dns.question.* from the registered-domain lookup (`domain` becomes `name`), or None without one."""
    if question.endswith("in-addr.arpa") or (parts := registered_domain(question)) is None:
        return None
    fields = {("name" if k == "domain" else k): v for k, v in parts.items()}
    if "domain" not in parts:
        # The name is itself a public suffix (`co.uk`): registered_domain's DomainInfo.of(eTLD) writes it as
        # `domain` too.
        fields["name"] = question
    return fields
