r"""Amazon S3 server access logs (`aws.s3access`), one request per line.

The line is matched with the pipeline's grok, rewritten as one Python regex; its operation is
`WORD\.WORD\.WORD` where the grok's dots match any character (which only adds backtracking). Newer logs
append fields (access point ARN, ACL required) after tls_version; like the grok, the match ignores them.

Documents follow the aws 1.45.3 pipeline (the one with test cases): every raw value under `aws.s3access.*`,
GeoIP in top-level `geo` (no ASN), `event.category` a string. One deliberate difference: a request target
that both java.net.URI and java.net.URL refuse (`/bucket/?prefix={x}`) gets no `url.*` here, while the
pipeline's `uri_parts` (no ignore_failure) fails the whole pipeline there and indexes the line with
`error.message` and without `@timestamp`, `client.*`, `related.*` and every other field set after it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from parsers import ecs
from parsers._findings import long_or_none
from parsers._lines import HOSTNAME, LONG, committed, ip_kind, mustache_text, uri_parts
from parsers.enrich import geoip
from parsers.enrich.useragent import user_agent
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register
from parsers.short_cache import cached_when_short

_S3KEY = r"[a-zA-Z0-9/_.\-%+]+"
_S3ID = r"[a-zA-Z0-9/_.\-%+=]+"
_IP = r"[0-9A-Fa-f:.]+"  # checked with ip_kind afterwards, as grok's IP pattern would refuse the same
_LINE = re.compile(
    rf"(?P<bucket_owner>[0-9A-Fa-f]+) (?P<bucket>{HOSTNAME}) \[(?P<time>[^\]]+)\] "
    rf"(?:-|(?P<remote_ip>{_IP})) (?:-|(?P<requester>[a-zA-Z0-9/_.\-%:@]+)) (?P<request_id>[a-zA-Z0-9]+) "
    rf"(?P<operation>\w+\.\w+\.\w+) (?:-|(?P<key>{_S3KEY})) (?:-|\"(?P<request_uri>.*?)\") "
    rf"(?P<http_status>{LONG}) (?:-|(?P<error_code>\w+)) (?:-|(?P<bytes_sent>{LONG})) "
    rf"(?:-|(?P<object_size>{LONG})) (?:-|(?P<total_time>{LONG})) (?:-|(?P<turn_around_time>{LONG})) "
    rf"(?:-|\"-\"|\"(?P<referrer>.*?)\") (?:-|\"(?:-|(?P<user_agent>.*?))\") (?:-|(?P<version_id>{_S3KEY})) "
    rf"(?:-|(?P<host_id>{_S3ID})) (?:-|(?P<signature_version>[a-zA-Z0-9.]+)) (?:-|(?P<cipher_suite>{_S3KEY})) "
    rf"(?:-|(?P<authentication_type>\w+)) (?:-|(?P<host_header>{_S3ID})) (?:-|(?P<tls_version>[a-zA-Z0-9.]+))",
    re.ASCII,
)
# As in elb_logs: quoted fields without quotes inside first, the grok's lazy DATA only for lines with a few
# surplus quotes (a line has six), where its backtracking stays cheap.
_FAST = re.compile(committed(_LINE.pattern.replace(".*?", '[^"]*')), re.ASCII)
_MAX_QUOTES = 14
_GROUPS = tuple(_LINE.groupindex)  # _FAST's too: the same groups in the same order
_LONGS = ("http_status", "bytes_sent", "object_size", "total_time", "turn_around_time")
# Unanchored like the grok, but tried only at token starts, with possessive runs: a start inside a token
# can only fail where the token's own start failed, and without this a long token makes the search quadratic.
_REQUEST = re.compile(r"(?<!\S)(\S++) (\S++) [hH][tT][tT][pP]/(\S++)")
_HTTPDATE = "%d/%b/%Y:%H:%M:%S %z"


@register("s3access", ecs_version="8.0.0")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    text = event.text()
    match = _FAST.match(text)
    if match is None and text.count('"') <= _MAX_QUOTES:
        match = _LINE.match(text)
    if match is None:
        raise EventError("not an S3 server access log line", reason="no_match")
    raw = {key: value for key, value in zip(_GROUPS, match.groups()) if value}  # groupdict() costs more
    time = raw.pop("time")
    if not _valid_ip(raw.get("remote_ip")):
        raise EventError("not an S3 server access log line (remote ip)", reason="no_match")
    for key in _LONGS:
        if key in raw:
            raw[key] = int(raw[key])
    s3: dict[str, Any] = raw
    doc: dict[str, Any] = {
        "aws": {"s3access": s3},
        "cloud": {"provider": "aws"},
        "event": {"category": "web", "type": ["access"], "kind": "event", "original": text,
                  "outcome": "failure" if "error_code" in s3 else "success"},
    }
    event_fields = doc["event"]
    if (timestamp := _httpdate(time)) is not None:
        doc["@timestamp"] = timestamp
    if (host_header := s3.get("host_header")) and (region := _region(host_header)):
        doc["cloud"]["region"] = region
    _request_fields(doc, s3.get("request_uri"))
    doc["related"] = {"user": [s3["bucket_owner"]]}
    if (remote_ip := s3.get("remote_ip")) is not None:
        doc["client"] = {"ip": remote_ip, "address": remote_ip}
        doc["related"]["ip"] = [remote_ip]
        if geo := geoip.geo(remote_ip, options.geoip_dir):
            doc["geo"] = geo
    if (requester := s3.get("requester")) is not None:
        doc.setdefault("client", {})["user"] = {"id": requester}
    event_fields["id"] = s3["request_id"]
    event_fields["action"] = s3["operation"]
    http = doc.setdefault("http", {})
    if (status := s3.get("http_status")) is not None:
        http.setdefault("response", {})["status_code"] = status
    if (code := s3.get("error_code")) is not None:
        event_fields["code"] = code
    if (sent := s3.get("bytes_sent")) is not None:
        http.setdefault("response", {})["body"] = {"bytes": sent}
    if (total := s3.get("total_time")) is not None and (duration := long_or_none(total * 1_000_000)) is not None:
        event_fields["duration"] = duration  # nanoseconds; a total_time past ~292 years has none
    if (referrer := s3.get("referrer")) is not None:
        http.setdefault("request", {})["referrer"] = mustache_text(referrer)  # '{{aws.s3access.referrer}}'
    if (agent := user_agent(s3.get("user_agent"))) is not None:
        doc["user_agent"] = agent
    if (cipher := s3.get("cipher_suite")) is not None:
        doc["tls"] = {"cipher": cipher}
    if (tls_version := s3.get("tls_version")) is not None:
        parts = tls_version.lower().split("v")
        if len(parts) == 2:
            doc.setdefault("tls", {}).update(version=parts[1], version_protocol=parts[0])
    if not http:
        del doc["http"]
    return [doc]


def _request_fields(doc: dict[str, Any], request_uri: str | None) -> None:
    """`GET /key?query HTTP/1.1` -> http.request.method, http.version and url.* (keeping url.original)."""
    if request_uri is None or (request := _request(request_uri)) is None:
        return
    method, version, url = request
    http = doc.setdefault("http", {})
    http["request"] = {"method": method}
    http["version"] = version
    if url is not None:
        doc["url"] = dict(url)


# A bucket's clients ask for the same objects again and again: each request line is split and its target
# parsed once. The url object is flat (text and a port number), so dict() makes each document its own copy.
@cached_when_short(512, maxsize=4096)
def _request(request_uri: str) -> tuple[str, str, dict[str, Any] | None] | None:
    """(method, HTTP version, url.* or None) of a request line, or None when it is none."""
    if (request := _REQUEST.search(request_uri)) is None:
        return None
    method, target, version = request.groups()
    return method, version, uri_parts(target)


def _region(host_header: str) -> str | None:
    r"""The pipeline's `^%{DATA}s3\.%{DATA:cloud.region}\.%{DATA}$`: the label after the first `s3.`."""
    start = host_header.find("s3.")
    end = host_header.find(".", start + 3) if start >= 0 else -1
    return (host_header[start + 3:end] or None) if end >= 0 else None


def _valid_ip(ip: str | None) -> bool:
    return ip is None or ip_kind(ip) is not None


@cached_when_short(64, maxsize=4096)  # a real one is 26 characters
def _httpdate(text: str) -> str | None:
    """`[01/Aug/2019:00:24:41 +0000]` (without brackets) -> `2019-08-01T00:24:41.000Z`."""
    try:
        return ecs.iso_ms(datetime.strptime(text, _HTTPDATE))
    except ValueError:
        return None
