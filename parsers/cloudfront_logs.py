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
# Copied as they are to aws.cloudfront.*.
_CLOUDFRONT = ("edge_location", "domain", "cookies", "edge_result_type", "edge_response_result_type",
               "fle_status", "fle_encrypted_fields", "edge_detailed_result_type", "content_type", "range_start")


@register("cloudfront_logs", ecs_version="8.0.0")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    text = event.text()
    if text.startswith("#"):  # `#Version:` / `#Fields:` headers of each log file
        return []
    match = _LINE.match(text)
    if match is None or not ip_kind(match["source"]):
        raise EventError("not a CloudFront standard log line", reason="no_match")
    f = match.groupdict()
    cloudfront = {key: f[key] for key in _CLOUDFRONT if f[key]}
    if f["time_to_first_byte"]:
        cloudfront["time_to_first_byte"] = float(f["time_to_first_byte"])
    if f["range_end"] is not None and not f["range_end"].startswith("-"):
        # The grok's last field, `(-|%{DATA:aws.cloudfront.range_end})`, is lazy with nothing after it: it
        # captures "" whatever the column holds, and this pipeline has no clean-up of empty strings.
        cloudfront["range_end"] = ""
    http: dict[str, Any] = {
        "request": {"method": f["method"], "bytes": int(f["request_bytes"]), "id": f["request_id"]},
        "response": {"bytes": int(f["response_bytes"]), "status_code": int(f["status"])},
    }
    if f["referrer"]:
        http["request"]["referrer"] = f["referrer"]
    if f["body_bytes"]:
        http["response"]["body"] = {"bytes": int(f["body_bytes"])}
    _, slash, version = f["protocol_version"].partition("/")
    if slash and version:
        http["version"] = version
    if not f["request_id"]:
        del http["request"]["id"]
    source = f["source"]
    doc: dict[str, Any] = {
        "aws": {"cloudfront": cloudfront},
        "cloud": {"provider": "aws"},
        "event": {"kind": "event", "category": "web", "type": ["access"], "original": text},
        "http": http,
        "source": {"address": source, "ip": source},
        "destination": {"address": f["host"], "domain": f["host"]},
        "network": {"protocol": f["protocol"], "type": "ipv6" if ":" in source else "ipv4"},
    }
    if (timestamp := _timestamp(f["date"], f["time"])) is not None:
        doc["@timestamp"] = timestamp
    if f["port"]:
        doc["source"]["port"] = int(f["port"])
    if f["request_id"]:
        doc["event"]["id"] = f["request_id"]
    status = http["response"]["status_code"]
    if status >= 400 or status == 0:
        doc["event"]["outcome"] = "failure"
    elif status > 0:
        doc["event"]["outcome"] = "success"
    if f["tls_protocol"]:
        doc["tls"] = {"version_protocol": f["tls_protocol"].lower(), "version": f["tls_version"]}
    if f["cipher"]:
        doc.setdefault("tls", {})["cipher"] = f["cipher"]
    _url(doc, f)
    if agent := user_agent(unquote_plus(f["user_agent"])):
        doc["user_agent"] = agent
    geoip.enrich(doc["source"], source, options.geoip_dir)
    forwarded = [ip for ip in (part.strip() for part in (f["forwarded"] or "").split(",")) if ip_kind(ip)]
    if forwarded:
        doc["network"]["forwarded_ip"] = forwarded
    hosts = [f["host"]]
    if f["domain"] != f["host"]:
        hosts.append(f["domain"])
    doc["related"] = {"ip": [*forwarded, source], "hosts": hosts}
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


def _url(doc: dict[str, Any], f: dict[str, str | None]) -> None:
    """url.full = protocol://host/path?query, then its parts and registered domain."""
    full = f"{f['protocol']}://{f['host']}{f['path']}"
    if f["query"]:
        full += "?" + f["query"]
    url = uri_parts(full)
    if url is None:
        return
    del url["original"]  # keep_original: false
    url["full"] = full
    if (domain := url.get("domain")) is not None and (parts := registered_domain(domain)) is not None:
        url.update({k: v for k, v in parts.items() if k != "domain"})
    doc["url"] = url
