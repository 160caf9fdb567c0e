"""Amazon Route 53 Resolver query logs (`aws.route53_resolver_logs`), one JSON object per query.

Documents follow the aws 1.45.3 pipeline (the one with test cases). `related.ip` gathers the A/AAAA
answers, the client and, for PTR queries, the address spelled by the reverse name; `related.hosts` the
CNAME/PTR answers and the question name.
"""

from __future__ import annotations

from typing import Any

from parsers._lines import ip_kind, iso8601_ms, java_long, mustache_text
from parsers._prune import drop_empty
from parsers.enrich import geoip
from parsers.enrich.domain import registered_domain
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

_IANA = {"tcp": "6", "udp": "17"}
_REVERSE_SUFFIXES = ("in-addr.arpa", "ip6.arpa")


@register("route53_resolver_logs", ecs_version="8.0.0")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    log = event.json_object()
    related: dict[str, list[Any]] = {"ip": [], "hosts": []}
    doc: dict[str, Any] = {
        "cloud": {"provider": "aws", "account": {"id": log.get("account_id")}, "region": log.get("region")},
        "aws": {"vpc_id": log.get("vpc_id")},
        "event": {"kind": "event", "category": ["network"], "type": ["protocol"], "original": event.text()},
        "network": {"protocol": "dns"},
        "related": related,
    }
    if isinstance(timestamp := log.get("query_timestamp"), str) and (iso := iso8601_ms(timestamp)):
        doc["@timestamp"] = iso
    srcids = log.get("srcids")
    if isinstance(srcids, dict) and (instance := srcids.get("instance")) not in (None, ""):
        doc["aws"]["instance_id"] = instance
        doc["cloud"]["instance"] = {"id": instance}
    dns = doc["dns"] = {"question": _question(log.get("query_name"))}
    dns["question"].update(**{"class": log.get("query_class"), "type": log.get("query_type")})
    dns["response_code"] = log.get("rcode")
    answers = log.get("answers")
    if isinstance(answers, list):
        dns["answers"] = [_answer(answer, related) for answer in answers if isinstance(answer, dict)]
    elif answers is not None:
        dns["answers"] = answers
    _network(doc, log.get("transport"))
    _source(doc, log, options.geoip_dir)
    firewall = {"action": log.get("firewall_rule_action"), "rule_group": {"id": log.get("firewall_rule_group_id")},
                "domain_list": {"id": log.get("firewall_domain_list_id")}}
    doc["aws"]["route53"] = {"firewall": firewall}
    doc["event"]["outcome"] = "success" if dns["response_code"] == "NOERROR" else "failure"
    name = dns["question"].get("name")
    if isinstance(name, str):
        if dns["question"]["type"] == "PTR":
            ip = _reverse_ip(name)
            if ip is not None and ip not in related["ip"]:
                related["ip"].append(ip)
        else:
            related["hosts"].append(mustache_text(name))  # append of "{{dns.question.name}}"
    return [drop_empty(doc)]


def _question(query_name: Any) -> dict[str, Any]:
    """dns.question.name (trailing dot removed) and, for forward names, its registered-domain parts."""
    if not isinstance(query_name, str):
        if query_name is None:
            return {}
        raise EventError("query_name is not a string", reason="invalid_field")
    name = query_name.removesuffix(".")
    question: dict[str, Any] = {}
    if not name.endswith(_REVERSE_SUFFIXES) and (parts := registered_domain(name)) is not None:
        question.update(parts)
        if "domain" in question:
            question["name"] = question.pop("domain")
    question.setdefault("name", name)
    return question


def _answer(answer: dict[str, Any], related: dict[str, list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if answer.get("Class") is not None:
        out["class"] = answer["Class"]
    if answer.get("Type") is not None:
        out["type"] = answer["Type"]
    data = answer.get("Rdata")
    if data is not None:
        if isinstance(data, str) and data.endswith("."):
            data = data[:-1]
        out["data"] = data
        if out.get("type") == "CNAME":
            out["name"] = data
    kind = out.get("type")
    if kind in ("A", "AAAA"):
        related["ip"].append(out.get("data"))
    elif kind in ("CNAME", "PTR"):
        related["hosts"].append(out.get("data"))
    return out


def _network(doc: dict[str, Any], transport: Any) -> None:
    if isinstance(transport, str):
        transport = transport.lower()
        doc["network"]["transport"] = transport
        if iana := _IANA.get(transport):
            doc["network"]["iana_number"] = iana
    elif transport is not None:
        doc["network"]["transport"] = transport


def _source(doc: dict[str, Any], log: dict[str, Any], geoip_dir: str | None) -> None:
    source: dict[str, Any] = {"port": java_long(log.get("srcport")), "address": log.get("srcaddr")}
    address = source["address"]
    if isinstance(address, str) and (version := ip_kind(address)) is not None:
        source["ip"] = address
        geoip.enrich(source, address, geoip_dir)
        doc["network"]["type"] = "ipv6" if version == 6 else "ipv4"
        doc["related"]["ip"].append(address)
    doc["source"] = source


def _reverse_ip(name: str) -> str | None:
    """`156.20.160.89.in-addr.arpa` -> 89.160.20.156; ip6.arpa nibbles -> groups of four joined by `:`."""
    if ".in-addr.arpa" in name:
        ip = ".".join(reversed(name.replace(".in-addr.arpa", "").split(".")))
    elif ".ip6.arpa" in name:
        nibbles = list(reversed(name.replace(".ip6.arpa", "").split(".")))
        ip = ":".join("".join(nibbles[i:i + 4]) for i in range(0, len(nibbles), 4))
    else:
        return None
    # The pipeline adds whatever the name spells; an invalid address would make the document unindexable.
    return ip if ip_kind(ip) is not None else None
