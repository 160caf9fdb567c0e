"""AWS WAF (v2) web ACL traffic logs (`aws.waf`), one JSON object per event.

Documents follow the aws 1.45.3 pipeline (the one with test cases): GeoIP falls back to the log's own
country and ASN, the header list becomes a name -> value map, and the final clean-up removes null, "",
"-", empty lists and empty objects everywhere.
"""

from __future__ import annotations

from typing import Any

from parsers import ecs, flattened
from parsers._prune import RENDERED_DEPTH  # orjson writes no deeper: such a document could never be indexed
from parsers.enrich import geoip
from parsers.errors import EventError
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

# Log keys moved as they are under aws.waf.
_MOVED = (("terminatingRuleMatchDetails", "terminating_rule_match_details"), ("ruleGroupList", "rule_group_list"),
          ("rateBasedRuleList", "rate_based_rule_list"),
          ("nonTerminatingMatchingRules", "non_terminating_matching_rules"))


@register("waf", ecs_version="8.0.0")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    log = event.json_object()
    request = log.get("httpRequest")
    if not isinstance(request, dict):
        request = {}
    waf: dict[str, Any] = {}
    doc: dict[str, Any] = {
        "aws": {"waf": waf},
        "cloud": {"provider": "aws"},
        "event": {"category": "web", "type": ["access"], "kind": "event", "original": event.text()},
    }
    if (timestamp := _epoch_ms(log.get("timestamp"))) is not None:
        doc["@timestamp"] = timestamp
    _source(doc, request, log.get("ClientASN"), options.geoip_dir)
    http: dict[str, Any] = {"request": {"id": request.get("requestId"), "method": request.get("httpMethod")}}
    version = request.get("httpVersion")
    if isinstance(version, str) and "/" in version:
        protocol, _, http["version"] = version.partition("/")
        doc["network"] = {"protocol": protocol.lower()}
        if protocol.lower() == "http":
            doc["network"]["transport"] = "tcp"
    doc["http"] = http
    doc["url"] = {"query": request.get("args"), "path": request.get("uri")}
    for key, target in _MOVED:
        if key in log:
            waf[target] = log[key]
    headers = request.get("headers")
    if isinstance(headers, list):
        fitted = _fit_headers(_headers(headers))
        if fitted is not None:  # None: a forged value nested too deeply for the flattened field
            waf["request"] = {"headers": fitted}
    action = log.get("action")
    doc["event"]["action"] = action
    if action == "ALLOW":
        doc["event"]["type"].append("allowed")
    elif action == "BLOCK":
        doc["event"]["type"].append("denied")
    if (arn := log.get("webaclId")) is not None:
        waf["arn"] = arn
        _arn(doc, arn)
    doc["rule"] = {"id": log.get("terminatingRuleId"), "ruleset": log.get("terminatingRuleType")}
    waf["source"] = {"name": log.get("httpSourceName"), "id": log.get("httpSourceId")}
    _clean(doc)
    return [doc]


def _source(doc: dict[str, Any], request: dict[str, Any], client_asn: Any, geoip_dir: str | None) -> None:
    ip = request.get("clientIp")
    source: dict[str, Any] = {"ip": ip}
    if isinstance(ip, str) and ecs.is_ip(ip):
        doc["related"] = {"ip": [ip]}
        geoip.enrich(source, ip, geoip_dir)
    elif ip is not None and not isinstance(ip, str):
        raise EventError("httpRequest.clientIp is not a string", reason="invalid_field")
    if "country_iso_code" not in source.get("geo", {}) and request.get("country") is not None:
        source.setdefault("geo", {})["country_iso_code"] = request["country"]
    if "number" not in source.get("as", {}) and client_asn is not None:
        source.setdefault("as", {})["number"] = client_asn
    doc["source"] = source


def _headers(headers: list[Any]) -> dict[str, Any]:
    """[{name, value}, ...] -> {name: value}; later duplicates win, as in the pipeline's script.

    The caller cuts names and values to flattened.LEAF_BUDGET bytes: one header value a client pads past
    Lucene's term limit would otherwise make the cluster refuse the whole record, the BLOCK of that very
    request included."""
    out: dict[str, Any] = {}
    for header in headers:
        if isinstance(header, dict) and isinstance(header.get("name"), str):
            out[header["name"]] = header.get("value")
    return out


_HEADERS_FIELD = "aws.waf.request.headers"
# A name or value of at most this many characters is under flattened.LEAF_BUDGET bytes even at 4 UTF-8 bytes a
# character, so flattened.fit would neither cut it nor find a name and value together past Lucene's term limit.
_SHORT = flattened.LEAF_BUDGET // 4


def _fit_headers(headers: dict[str, Any]) -> Any:
    """flattened.fit(headers, "aws.waf.request.headers"), answered without its two walks for the usual map of
    short text names and values (about a third of a WAF event's parse when walked every time)."""
    for name, value in headers.items():
        if len(name) > _SHORT or "\0" in name or not (value is None or (type(value) is str and len(value) <= _SHORT)):
            return flattened.fit(headers, _HEADERS_FIELD)
    return headers


def _arn(doc: dict[str, Any], arn: Any) -> None:
    """`arn:aws:wafv2:<region>:<account>:<id...>` -> cloud.service.name, cloud.region, cloud.account.id, aws.waf.id."""
    if not isinstance(arn, str):
        return
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return
    doc["cloud"].update(service={"name": parts[2]}, region=parts[3], account={"id": parts[4]})
    doc["aws"]["waf"]["id"] = parts[5]


def _clean(doc: dict[str, Any]) -> None:
    """The pipeline's final script: drop null, "", "-", [] and {} values of objects, depth first.

    List items are cleaned inside but never removed (the script only filters objects). Text, null and number
    leaves are decided in their object's loop rather than in a call each (the call per leaf was half of a WAF
    event's parse). A document nested deeper than orjson renders is refused here, whatever the stack depth.
    """
    _clean_object(doc, 1)


def _clean_object(node: dict[str, Any], depth: int) -> bool:
    """Clean an object at `depth` (the document is 1); whether it is left empty."""
    if depth > RENDERED_DEPTH:
        raise EventError("WAF log nested too deeply", reason="too_deep")
    removed = None
    for key, item in node.items():
        kind = type(item)
        if kind is str:
            empty = item == "" or item == "-"
        elif kind is dict:
            empty = _clean_object(item, depth + 1)
        elif kind is list:
            empty = _clean_list(item, depth + 1)
        elif item is None:
            empty = True
        elif kind is int or kind is float or kind is bool:
            continue
        else:
            empty = _clean_value(item, depth + 1)
        if empty:
            if removed is None:
                removed = [key]
            else:
                removed.append(key)
    if removed is not None:
        for key in removed:
            del node[key]
    return not node


def _clean_list(items: list[Any], depth: int) -> bool:
    if depth > RENDERED_DEPTH:
        raise EventError("WAF log nested too deeply", reason="too_deep")
    for item in items:
        if isinstance(item, (dict, list)):
            _clean_value(item, depth + 1)
    return not items


def _clean_value(value: Any, depth: int) -> bool:
    if isinstance(value, dict):
        return _clean_object(value, depth)
    if isinstance(value, list):
        return _clean_list(value, depth)
    return value is None or value == "" or value == "-"


def _epoch_ms(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    number = ecs.to_float(value) if isinstance(value, str) else value
    if not isinstance(number, (int, float)):
        return None
    try:
        return ecs.epoch_ms_to_iso(number)
    except (ValueError, OverflowError, OSError):
        return None
