"""Amazon CloudFront standard access logs (`aws.cloudfront_logs`): tab-separated, `#` header lines dropped.

The line is matched with the pipeline's grok rewritten as one Python regex. Its separators are `\\s`, so
space-separated copies of the log (as in Elastic's own test cases) parse too. `url.full` is rebuilt from
protocol, host header, path and query, then split again the way `uri_parts` does (which decodes the path).

Documents follow the aws 1.45.3 pipeline: no `event.duration` (the pipeline never moves time-taken there),
`event.category` a string.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from parsers._lines import HOSTNAME, LONG, NUMBER, POSINT, committed, ip_kind, uri_parts
from parsers.ecs import iso_ms
from parsers.enrich import geoip
from parsers.enrich.domain import registered_domain
from parsers.enrich.useragent import user_agent
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register
from parsers.short_cache import cached_when_short

_IP = r"[0-9A-Fa-f:.]+"  # checked with ip_kind afterwards, as grok's IP pattern would refuse the same
# The pipeline's grok, with some differences. Its DATA fields (`.*?`) are `\S*` here: CloudFront
# URL-encodes whitespace inside fields, so a field never holds any and the two read the same lines the same
# way, but lazy fields backtrack polynomially on a long line that does not match. And where the grok fails the
# whole line, real logs hold (Elastic's newer test cases show) a path outside UNIXPATH's characters
# (`/en(test)`), an x-forwarded-for that is no IP list (`localhost:8080`), or no range columns: these parse
# here, invalid forwarded addresses left out of the ip-typed fields.
_LINE = re.compile(committed(
    rf"(?P<date>\d{{4}}-\d{{1,2}}-\d{{1,2}})\s*(?P<time>\d{{1,2}}:\d{{2}}:\d{{2}}(?:[:.,]\d+)?)\s"
    rf"(?P<edge_location>[A-Z]{{3}}\d+(?:-[A-Z]+\d+)?)\s(?P<response_bytes>{LONG})\s(?P<source>{_IP})\s"
    rf"(?P<method>\w+)\s(?P<domain>{HOSTNAME})\s(?P<path>/\S*)\s(?P<status>{LONG})\s"
    r"(?:-|(?P<referrer>\S*))\s(?P<user_agent>\S*)\s(?:-|(?P<query>\S*))\s(?:-|(?P<cookies>\S*))\s"
    rf"(?P<edge_result_type>\w+)\s(?P<request_id>\S*)\s(?P<host>{HOSTNAME})\s(?P<protocol>\w+)\s"
    rf"(?P<request_bytes>{LONG})\s(?P<duration>{NUMBER})\s"
    rf"(?:-|(?P<forwarded>[^\s,]*(?:, *[^\s,]*)*))\s(?:-|(?P<tls_protocol>TLS|SSL)v(?P<tls_version>{NUMBER}))\s"
    r"(?:-|(?P<cipher>\S*))\s(?P<edge_response_result_type>\w+)\s(?P<protocol_version>\S*)\s"
    rf"(?:-|(?P<fle_status>\w+))\s(?:-|(?P<fle_encrypted_fields>\S*))\s(?:-|(?P<port>{POSINT}))\s"
    rf"(?:-|(?P<time_to_first_byte>{NUMBER}))\s(?:-|(?P<edge_detailed_result_type>\w+))\s"
    rf"(?P<content_type>\S*)\s(?:-|(?P<body_bytes>{LONG}))(?:\s(?:-|(?P<range_start>\S+))(?:\s(?P<range_end>\S*))?)?"),
    re.ASCII,
)
_GROUPS = ("date", "time", "edge_location", "response_bytes", "source", "method", "domain", "path", "status",
           "referrer", "user_agent", "query", "cookies", "edge_result_type", "request_id", "host", "protocol",
           "request_bytes", "duration", "forwarded", "tls_protocol", "tls_version", "cipher",
           "edge_response_result_type", "protocol_version", "fle_status", "fle_encrypted_fields", "port",
           "time_to_first_byte", "edge_detailed_result_type", "content_type", "body_bytes", "range_start", "range_end")
if tuple(_LINE.groupindex) != _GROUPS:  # parse() unpacks match.groups() in this order
    raise ImportError("cloudfront_logs: _LINE's groups are not in _GROUPS order")
# Copied as they are to aws.cloudfront.*.
_CLOUDFRONT = ("edge_location", "domain", "cookies", "edge_result_type", "edge_response_result_type",
               "fle_status", "fle_encrypted_fields", "edge_detailed_result_type", "content_type", "range_start")


@register("cloudfront_logs", ecs_version="8.0.0")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    text = event.text()
    if text.startswith("#"):  # `#Version:` / `#Fields:` headers of each log file
        return []
    match = _LINE.match(text)
    if match is None:
        raise EventError("not a CloudFront standard log line", reason="no_match")
    # The columns as locals, in _LINE's group order (_GROUPS): a third cheaper than groupdict() and its look-ups.
    (date, time, edge_location, response_bytes, source, method, domain, path, status_text, referrer, agent_text,
     query, cookies, edge_result_type, request_id, host, protocol, request_bytes, _, forwarded_text, tls_protocol,
     tls_version, cipher, edge_response_result_type, protocol_version, fle_status, fle_encrypted_fields, port,
     time_to_first_byte, edge_detailed_result_type, content_type, body_bytes, range_start,
     range_end) = match.groups()
    if not ip_kind(source):
        raise EventError("not a CloudFront standard log line", reason="no_match")
    cloudfront = {key: value for key, value in zip(_CLOUDFRONT, (
        edge_location, domain, cookies, edge_result_type, edge_response_result_type, fle_status,
        fle_encrypted_fields, edge_detailed_result_type, content_type, range_start)) if value}
    if time_to_first_byte:
        cloudfront["time_to_first_byte"] = float(time_to_first_byte)
    if range_end is not None and not range_end.startswith("-"):
        # The grok's last field, `(-|%{DATA:aws.cloudfront.range_end})`, is lazy with nothing after it: it
        # captures "" whatever the column holds, and this pipeline has no clean-up of empty strings.
        cloudfront["range_end"] = ""
    request: dict[str, Any] = {"method": method, "bytes": int(request_bytes)}
    if request_id:
        request["id"] = request_id
    if referrer:
        request["referrer"] = referrer
    status = int(status_text)
    response: dict[str, Any] = {"bytes": int(response_bytes), "status_code": status}
    if body_bytes:
        response["body"] = {"bytes": int(body_bytes)}
    http: dict[str, Any] = {"request": request, "response": response}
    _, slash, version = protocol_version.partition("/")
    if slash and version:
        http["version"] = version
    source_fields: dict[str, Any] = {"address": source, "ip": source}
    network = {"protocol": protocol, "type": "ipv6" if ":" in source else "ipv4"}
    event_fields: dict[str, Any] = {"kind": "event", "category": "web", "type": ["access"], "original": text}
    doc: dict[str, Any] = {
        "aws": {"cloudfront": cloudfront},
        "cloud": {"provider": "aws"},
        "event": event_fields,
        "http": http,
        "source": source_fields,
        "destination": {"address": host, "domain": host},
        "network": network,
    }
    if (timestamp := _timestamp(date, time)) is not None:
        doc["@timestamp"] = timestamp
    if port:
        source_fields["port"] = int(port)
    if request_id:
        event_fields["id"] = request_id
    if status >= 400 or status == 0:
        event_fields["outcome"] = "failure"
    elif status > 0:
        event_fields["outcome"] = "success"
    if tls_protocol:
        doc["tls"] = {"version_protocol": tls_protocol.lower(), "version": tls_version}
    if cipher:
        doc.setdefault("tls", {})["cipher"] = cipher
    if (url := _url(protocol, host, path, query)) is not None:
        doc["url"] = url
    if agent := user_agent(_unquote_plus(agent_text)):
        doc["user_agent"] = agent
    geoip.enrich(source_fields, source, options.geoip_dir)
    forwarded = _forwarded(forwarded_text) if forwarded_text else []
    if forwarded:
        network["forwarded_ip"] = forwarded
    doc["related"] = {"ip": [*forwarded, source], "hosts": [host] if domain == host else [host, domain]}
    return [doc]


def _timestamp(date: str, time: str) -> str | None:
    """`yyyy-MM-dd` + `HH:mm:ss` (UTC) as an ES date; None where that strict format fails, as the pipeline's."""
    return _date_time(f"{date} {time}")


@cached_when_short(64, maxsize=4096)  # real columns are 10 and 8 characters
def _date_time(text: str) -> str | None:
    try:
        return iso_ms(datetime.strptime(text, "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return None


def _forwarded(column: str) -> list[str]:
    """The x-forwarded-for column's valid addresses, in order."""
    return [ip for ip in (part.strip() for part in column.split(",")) if ip_kind(ip)]


# A distribution serves the same few hosts, paths and queries, and clients repeat their user agents: each
# text is decoded once. The cached url object is flat (strings and an int), so a dict() copy is a whole one.
_unquote_plus = cached_when_short(512, maxsize=4096)(unquote_plus)


def _url(protocol: str, host: str, path: str, query: str | None) -> dict[str, Any] | None:
    """url.full = protocol://host/path?query, then its parts and registered domain (a fresh object)."""
    full = f"{protocol}://{host}{path}"
    if query:
        full += "?" + query
    url = _url_fields(full)
    return dict(url) if url is not None else None


@cached_when_short(512, maxsize=4096)
def _url_fields(full: str) -> dict[str, Any] | None:
    """Shared between calls: never change it (`_url` hands out copies)."""
    url = uri_parts(full)
    if url is None:
        return None
    del url["original"]  # keep_original: false
    url["full"] = full
    if (domain := url.get("domain")) is not None and (parts := registered_domain(domain)) is not None:
        url.update({k: v for k, v in parts.items() if k != "domain"})
    return url
