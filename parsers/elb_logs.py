"""Elastic Load Balancing access logs (`aws.elb_logs`): Classic ELB (HTTP and TCP), ALB and NLB lines.

Elastic's pipeline is one grok with four alternatives, tried in order: Classic HTTP, Classic TCP, ALB
(`<type> ` + the Classic HTTP fields + ALB fields) and NLB (`tls 2.0 ...`). The same four patterns are
compiled here as Python regexes, field for field, and tried the same way.

Documents follow the aws 1.45.3 pipeline, the one whose test cases we have (`event.category` is a string).
"""

from __future__ import annotations

import re
from collections import namedtuple
from typing import Any

from parsers._lines import (
    ISO8601,
    LONG,
    NUMBER,
    POSINT,
    committed,
    ip_kind,
    iso8601_ms,
    mustache_text,
    uri_parts,
)
from parsers.enrich import geoip
from parsers.enrich.useragent import user_agent
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

Doc = dict[str, Any]

# Building blocks, named after the pipeline's pattern_definitions. Addresses are matched loosely here and
# checked with ip_kind afterwards, as grok's IP pattern would refuse what inet_pton refuses.
_SOURCE = rf"(?P<source>[0-9A-Fa-f:.]+):(?P<source_port>{POSINT})"
_BACKEND = r"(?:-|(?P<backend>[0-9A-Fa-f:.]+):(?P<backend_port>[1-9][0-9]*))"  # the port stays a string
_TIMES = (rf"(?:-1|(?P<request_processing_time>{NUMBER})) (?:-1|(?P<backend_processing_time>{NUMBER}))"
          rf" (?:-1|(?P<response_processing_time>{NUMBER}))")
_COMMON = rf"(?P<timestamp>{ISO8601}) (?P<name>\S+) {_SOURCE} {_BACKEND} {_TIMES}"
_SSL = r"(?:-|(?P<ssl_cipher>\S+)) (?:-|(?P<ssl_protocol>\S+))"
_HTTP = (rf"{_COMMON} (?P<status>{LONG}) (?:-|(?P<backend_status>{LONG})) (?P<received>{LONG})"
         rf" (?P<sent>{LONG}) \"(?:-|(?P<method>\w+)) (?P<uri>.*?) (?:HTTP/(?P<http_version>\S+)|-)\""
         rf" \"(?P<user_agent>.*?)\" {_SSL}")
_TCP = (rf"{_COMMON} - - (?P<tcp_received>{LONG}) (?P<tcp_sent>{LONG}) \"- - - \" \"-\" {_SSL}")
_ALB = (rf"(?P<type>\w+) {_HTTP} (?P<target_group>\S+) \"(?P<trace_id>.*?)\" \"(?:-|(?P<domain>.*?))\""
        rf" \"(?:-|(?P<chosen_cert>.*?))\" (?:-1|(?P<matched_rule_priority>{NUMBER})) (?P<created>{ISO8601})"
        r" \"(?:-|(?P<actions>.*?))\" \"(?:-|(?P<redirect_url>.*?))\" \"(?:-|(?P<error_reason>.*?))\""
        r"(?: \"(?:-|(?P<target_port>.*?))\")?(?: \"(?:-|(?P<target_status_code>.*?))\")?"
        r"(?: \"(?:-|(?P<classification>.*?))\")?(?: \"(?:-|(?P<classification_reason>.*?))\")?")
_NLB = (rf"(?P<type>\w+) \S+ (?P<timestamp>{ISO8601}) (?P<name>\S+) (?P<listener>\S+) {_SOURCE} {_BACKEND}"
        rf" (?P<connection_time>{NUMBER}) (?P<tls_handshake_time>{NUMBER}) (?P<tcp_received>{LONG})"
        rf" (?P<tcp_sent>{LONG}) (?:-|(?P<incoming_tls_alert>{NUMBER})) (?:-|(?P<chosen_cert>\S+))"
        rf" (?:-|(?P<chosen_cert_serial>\S+)) {_SSL} (?:-|(?P<ssl_named_group>\S+)) (?:-|(?P<domain>\S+))")
# Each pattern twice: quoted fields as `[^"]*` first (no backtracking: about twice as fast), then as the
# pipeline's lazy DATA for the rare line with a quote inside a quoted field. Where both match they agree.
# The lazy form backtracks combinatorially over surplus quotes, so it only gets lines with a few of them:
# an ALB line has 24 quotes, 30 since ALB added transformed_host, transformed_uri and request_transform_status,
# and ten more leave room for a user agent or URL with quotes in it (random and crafted lines of up to 44
# quotes took under 10 ms). Elasticsearch's grok watchdog likewise gives up on such lines after a second.
_MAX_QUOTES = 40
_SOURCES = (_HTTP, _TCP, _ALB, _NLB)
_FAST = tuple(re.compile(committed(p.replace(".*?", '[^"]*')), re.ASCII) for p in _SOURCES)
_EXACT = tuple(re.compile(p, re.ASCII) for p in _SOURCES)
# A match's groups as a named tuple per pattern: much cheaper than groupdict() on a hot path.
_FIELDS = tuple(namedtuple(f"_Fields{i}", sorted(p.groupindex, key=p.groupindex.get))  # type: ignore[misc]
                for i, p in enumerate(_EXACT))

_ELB_SECONDS = ("request_processing_time", "backend_processing_time", "response_processing_time")


@register("elb_logs", ecs_version="8.2.0")
def parse(event: Event, options: ParseOptions) -> list[Doc]:
    text = event.text()
    found = _match(text)
    if found is None:
        raise EventError("not a Classic ELB, ALB or NLB access log line", reason="no_match")
    layout, f = found
    source: Doc = {"address": f.source, "ip": f.source, "port": int(f.source_port)}
    elb: Doc = {"name": f.name}
    event_fields: Doc = {"kind": "event", "original": text}
    doc: Doc = {"aws": {"elb": elb}, "cloud": {"provider": "aws"}, "source": source, "event": event_fields}
    if f.backend is not None:
        elb["backend"] = {"ip": f.backend, "port": f.backend_port}
    if layout == _NLB_LAYOUT:
        _nlb(f, doc, elb)
    else:
        for key in _ELB_SECONDS:
            if (value := getattr(f, key)) is not None:
                elb[key] = {"sec": float(value)}
        if layout == _TCP_LAYOUT:
            source["bytes"] = int(f.tcp_received)
            doc["destination"] = {"bytes": int(f.tcp_sent)}
        else:
            _http(f, doc, elb)
            if layout == _ALB_LAYOUT:
                _alb(f, doc, elb)
    if layout in (_HTTP_LAYOUT, _ALB_LAYOUT):
        elb["protocol"] = "http"
        event_fields["category"] = "web"
    else:
        elb["protocol"] = "tcp"
        event_fields["category"] = "network"
    if (timestamp := iso8601_ms(f.timestamp)) is not None:
        doc["@timestamp"] = event_fields["end"] = timestamp
    geoip.enrich(source, source["ip"], options.geoip_dir)
    if (cipher := f.ssl_cipher) is not None:
        elb["ssl_cipher"] = cipher
        doc["tls"] = {"cipher": mustache_text(cipher)}  # set from '{{aws.elb.ssl_cipher}}'
    if (protocol := f.ssl_protocol) is not None:
        elb["ssl_protocol"] = protocol
        _tls_version(doc, protocol)
    return [doc]


_HTTP_LAYOUT, _TCP_LAYOUT, _ALB_LAYOUT, _NLB_LAYOUT = range(4)


def _match(text: str) -> tuple[int, Any] | None:
    """The grok's alternation, patterns in order, at the start of the line, then the Classic ones after its
    first word.

    Elasticsearch's grok searches every position, trying all four patterns at each. Where the ALB pattern
    refuses a line (a `matched_rule_priority` of `-`, which AWS writes "for any other error"), the Classic
    HTTP one matches from the timestamp, after the type word, and the line is indexed with the Classic
    fields. Other positions only matter for lines with leading junk, and would cost quadratic time on long
    lines that match nowhere.
    """
    patterns_tried = (_FAST, _EXACT) if text.count('"') <= _MAX_QUOTES else (_FAST,)
    for patterns in patterns_tried:
        for layout, pattern in enumerate(patterns):
            if (found := pattern.match(text)) is not None and _addresses_ok(found):
                return layout, _FIELDS[layout]._make(found.groups())
    if (word := _TYPE_WORD.match(text)) is not None:
        for patterns in patterns_tried:
            for layout in (_HTTP_LAYOUT, _TCP_LAYOUT):
                if (found := patterns[layout].match(text, word.end())) is not None and _addresses_ok(found):
                    return layout, _FIELDS[layout]._make(found.groups())
    return None


_TYPE_WORD = re.compile(r"\w+ ", re.ASCII)  # ELBV2TYPE and its space: where the Classic patterns can start next


def _addresses_ok(found: re.Match[str]) -> bool:
    backend = found["backend"]
    return ip_kind(found["source"]) is not None and (backend is None or ip_kind(backend) is not None)


def _http(f: Any, doc: Doc, elb: Doc) -> None:
    """ELBHTTPLOG's fields after the common ones: statuses, sizes, request line and user agent."""
    request: Doc = {"body": {"bytes": int(f.received)}}
    if f.method is not None:
        request["method"] = f.method
    status = int(f.status)
    http: Doc = {"request": request, "response": {"status_code": status, "body": {"bytes": int(f.sent)}}}
    if f.http_version is not None:
        http["version"] = f.http_version
    doc["http"] = http
    doc["event"]["outcome"] = "success" if status < 400 else "failure"
    if f.backend_status is not None:
        elb.setdefault("backend", {})["http"] = {"response": {"status_code": int(f.backend_status)}}
    if f.uri != "-" and (url := uri_parts(f.uri)) is not None:  # `-`: the grok's `(?:-|DATA)`, kept open-ended
        doc["url"] = url
    if (agent := user_agent(f.user_agent)) is not None:
        doc["user_agent"] = agent
    elif f.user_agent == "":
        # `""`: the processor runs on any non-null value and this pipeline has no clean-up of empty strings.
        doc["user_agent"] = {"original": "", "name": "Other", "device": {"name": "Other"}}


def _alb(f: Any, doc: Doc, elb: Doc) -> None:
    """The fields an Application Load Balancer adds after the Classic ones."""
    elb["type"] = f.type
    elb["target_group"] = {"arn": f.target_group}
    elb["trace_id"] = f.trace_id
    doc["trace"] = {"id": mustache_text(f.trace_id)}  # set from '{{aws.elb.trace_id}}'
    doc["event"]["start"] = f.created
    if f.domain is not None:
        doc["destination"] = {"domain": f.domain}
    if f.chosen_cert is not None:
        elb["chosen_cert"] = {"arn": f.chosen_cert}
    if f.actions is not None:
        elb["action_executed"] = _java_split(f.actions, ",")
    if f.error_reason is not None:
        elb["error"] = {"reason": f.error_reason}
    for key in ("target_port", "target_status_code"):
        if (value := getattr(f, key)) is not None:
            elb[key] = _java_split(value, " ")
    for key in ("matched_rule_priority", "redirect_url", "classification", "classification_reason"):
        if (value := getattr(f, key)) is not None:
            elb[key] = value


def _java_split(value: str, separator: str) -> list[str]:
    """The `split` processor's String.split: trailing empty strings are dropped (`"200 "` -> ["200"])."""
    if not value:
        return [value]  # no separator found: Java returns the input itself
    parts = value.split(separator)
    while parts and not parts[-1]:
        parts.pop()
    return parts


def _nlb(f: Any, doc: Doc, elb: Doc) -> None:
    """A Network Load Balancer's TLS listener line."""
    elb.update(type=f.type, listener=f.listener, connection_time={"ms": float(f.connection_time)},
               tls_handshake_time={"ms": float(f.tls_handshake_time)})
    doc["source"]["bytes"] = int(f.tcp_received)
    destination: Doc = {"bytes": int(f.tcp_sent)}
    if f.domain is not None:
        destination["domain"] = f.domain
    doc["destination"] = destination
    if f.chosen_cert is not None:
        elb["chosen_cert"] = {"arn": f.chosen_cert}
    if f.chosen_cert_serial is not None:
        elb.setdefault("chosen_cert", {})["serial"] = f.chosen_cert_serial
    for key in ("incoming_tls_alert", "ssl_named_group"):
        if (value := getattr(f, key)) is not None:
            elb[key] = value


def _tls_version(doc: Doc, protocol: str) -> None:
    """`TLSv1.2` -> 1.2 / tls; `tlsv12` -> 1.2 (the pipeline inserts the dot after the first digit)."""
    parts = protocol.split("v")
    if len(parts) != 2:
        return
    name, version = parts
    if "." not in version:
        version = version[:1] + "." + version[1:]
    tls = doc.setdefault("tls", {})
    tls["version"] = version
    tls["version_protocol"] = name.lower()
