"""Which dataset an event belongs to. First answer wins:

1. the stream's `dataset` (settings), for every event;
2. the dataset the envelope knows (EventBridge source and detail-type, CloudTrail files);
3. the stream's detection rules (settings), in order, on the CloudWatch log group and stream names;
4. the default rules below, on the log group and stream names (some let the event's shape decide first);
5. the event's shape (JSON keys, or the layout of a text line);
6. the generic `cloudwatch_logs` dataset: an unrecognised event is indexed, never dropped.

For CloudWatch Logs events steps 3-6 are decided once per (log group, log stream), on the stream's first
event, and cached: a log stream carries one kind of log (a Lambda stream whose first line is not a
recognised shape stays generic, even if it later prints CloudTrail JSON). Plain lines and bare JSON records
have no log group: their shape is checked per event. A shape check costs a few dictionary look-ups (JSON,
decoded once: the parser gets the decoded object) or one anchored regular expression (text).

Default rules, by log group (and stream):

    /aws/eks/<cluster>/cluster   kube-apiserver-audit-*            kubernetes.audit_logs
    /aws/eks/<cluster>/cluster   authenticator-*                   eks_authenticator
    /aws/eks/<cluster>/cluster   other streams                     cloudwatch_logs
    aws-waf-logs-*               (AWS requires the prefix)         waf
    /aws/route53/*               (AWS requires it for public zones) route53_public_logs; shape first
    /aws/rds/*                                                     rds
    /aws/redshift*               (provisioned and serverless)      redshift
    aws-cloudtrail-logs-*, CloudTrail/*  (console defaults)        cloudtrail
    any group   <12 digits>_CloudTrail_<region>  (CloudTrail names its streams so)   cloudtrail
    any group   eni-<id>-all|accept|reject, tgw-attach-<id>  (flow log streams)       vpcflow; shape first

"Shape first": a recognised shape overrides the name's dataset (resolver query-log JSON in a /aws/route53/
group goes to route53_resolver_logs; a custom-format flow line matches no shape and stays vpcflow).
EventBridge rules that target CloudWatch Logs write to /aws/events/* groups: no name rule, the shape sees
EventBridge events and they are unwrapped like EventBridge records.

Shapes: JSON with eventVersion + a service eventSource, an Insight or a digest -> cloudtrail;
query_name + query_timestamp -> route53_resolver_logs; webaclId + httpRequest -> waf;
kind Event + apiVersion audit.k8s.io/* -> kubernetes.audit_logs; a GuardDuty finding (or `{"findings": [...]}`
page) -> guardduty; SchemaVersion + ProductArn -> securityhub_findings; EvaluationResultIdentifier +
ComplianceType -> config; source + detail-type + detail -> an EventBridge event, unwrapped (`EVENTBRIDGE`);
`{"message": "<a VPC Flow line>"}` -> vpcflow.
Log objects in S3 (read through S3 event notifications) get their dataset from the key AWS writes them
under (`dataset_for_key`); a key no pattern knows leaves each line to the steps above.

Text lines: VPC Flow (version, account, interface), Transit Gateway flow and flow-log headers -> vpcflow;
ALB/NLB/Classic ELB -> elb_logs; S3 server access -> s3access; CloudFront standard logs and their `#` headers
-> cloudfront_logs; Route 53 public query logs -> route53_public_logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any

from parsers.errors import EventError
from parsers.event import Event
from parsers.rules import StreamParsing

GENERIC = "cloudwatch_logs"
VPCFLOW = "vpcflow"
# Not a dataset: the event is itself an EventBridge event, to unwrap before parsing.
EVENTBRIDGE = "<eventbridge>"


@dataclass(frozen=True, slots=True)
class Route:
    """A decision for a log group and stream."""

    dataset: str
    hints: dict[str, str] = field(default_factory=dict)
    shape_first: bool = False  # a recognised shape overrides `dataset`


# (log group pattern, log stream pattern or None, route). Patterns are matched from the start.
_EKS = re.compile(r"/aws/eks/[^/]+/cluster$")
_ANY = re.compile(r"")
_DEFAULTS: tuple[tuple[re.Pattern[str], re.Pattern[str] | None, Route], ...] = (
    (_EKS, re.compile(r"kube-apiserver-audit-"), Route("kubernetes.audit_logs")),
    (_EKS, re.compile(r"authenticator-"), Route("eks_authenticator")),
    (_EKS, None, Route(GENERIC)),
    (re.compile(r"aws-waf-logs-"), None, Route("waf")),
    (re.compile(r"/aws/route53/"), None, Route("route53_public_logs", shape_first=True)),
    (re.compile(r"/aws/rds/"), None, Route("rds")),
    (re.compile(r"/aws/redshift"), None, Route("redshift")),
    (re.compile(r"aws-cloudtrail-logs-|CloudTrail/"), None, Route("cloudtrail")),
    (_ANY, re.compile(r"\d{12}_CloudTrail_[a-z0-9-]+$"), Route("cloudtrail")),
    (_ANY, re.compile(r"(?:eni-[0-9a-f]{8,17}-(?:all|accept|reject)|tgw-attach-[0-9a-f]{8,17}\S*)$"),
     Route(VPCFLOW, shape_first=True)),
)
_BY_SHAPE = {name: Route(name) for name in (GENERIC, VPCFLOW, EVENTBRIDGE, "cloudtrail", "route53_resolver_logs",
                                            "waf", "kubernetes.audit_logs", "guardduty", "securityhub_findings",
                                            "config", "elb_logs", "route53_public_logs", "cloudfront_logs",
                                            "s3access")}

# One anchored alternation for text lines: a single regex call per line, `lastgroup` names the dataset.
_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"
_HOST_PORT = r"[0-9A-Fa-f.:\[\]]+:\d+"
_LINE_SHAPES = re.compile(
    "|".join((
        # version account-id interface-id ... (default v2 and custom formats that start the same way)
        (r"(?P<vpcflow>\d{1,2} (?:\d{1,12}|-|unknown) (?:eni-\S+|-) "
         r"|\d{1,2} TransitGateway "
         r"|(?:version|account-id|interface-id|instance-id)(?: [a-z][a-z0-9-]*)+$)"),
        (rf"(?P<elb_logs>(?:http|https|h2|grpcs|ws|wss) {_ISO} \S+ {_HOST_PORT} "
         r"|tls \d+\.\d+ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* "
         rf"|{_ISO} \S+ {_HOST_PORT} )"),
        r"(?P<route53_public_logs>\d\.\d \d{4}-\d\d-\d\dT\S+ \S+ \S+ \S+ [A-Z]+ (?:UDP|TCP) )",
        (r"(?P<cloudfront_logs>\d{4}-\d\d-\d\d[\t ]\d\d:\d\d:\d\d[\t ]\S+[\t ]\d+[\t ]\S+[\t ][A-Z]+[\t ]"
         r"|#(?:Version|Fields):)"),
        r"(?P<s3access>\S+ \S+ \[\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] \S+ \S+ \S+ [A-Z0-9_]+\.)",
    ))
)

_CACHE_SIZE = 4096  # (group, stream) pairs remembered; VPC Flow Logs alone make one stream per interface


class Detector:
    """Detection for one stream's settings; build once per `StreamParsing` (`parsers.record` does)."""

    def __init__(self, parsing: StreamParsing) -> None:
        self._forced = parsing.dataset
        self._rules = tuple(
            (re.compile(translate(rule.log_group)).match, re.compile(translate(rule.log_stream)).match,
             Route(rule.dataset, {"vpcflow_format": rule.vpcflow_format} if rule.vpcflow_format else {}))
            for rule in parsing.detection
        )
        self._stream_hints = {"vpcflow_format": parsing.vpcflow_format} if parsing.vpcflow_format else None
        self._routes: dict[tuple[str, str], Route] = {}
        # The events of one CloudWatch Logs record share their group and stream objects: skip the look-up.
        self._last: tuple[str | None, str | None, Route | None] = (None, None, None)

    def dataset(self, event: Event, known: str | None = None) -> str:
        """The event's dataset (or EVENTBRIDGE); sets `event.meta.hints` from the rule that decided it."""
        meta = event.meta
        if self._forced is not None:
            dataset = self._forced
        elif known is not None:
            dataset = known
        elif meta.log_group is None:
            dataset = by_shape(event) or GENERIC
        else:
            route = self._route(meta.log_group, meta.log_stream or "", event)
            if route.hints:
                meta.hints = route.hints  # shared, read-only: parsers only look hints up
            dataset = route.dataset
        if dataset == VPCFLOW and self._stream_hints is not None and "vpcflow_format" not in meta.hints:
            meta.hints = self._stream_hints
        return dataset

    def _route(self, group: str, stream: str, first: Event) -> Route:
        last_group, last_stream, route = self._last
        if group is last_group and stream is last_stream and route is not None:
            return route
        key = (group, stream)
        route = self._routes.get(key)
        if route is None:
            route = by_names(group, stream, self._rules)
            if route is None:
                route = _BY_SHAPE[by_shape(first) or GENERIC]
            elif route.shape_first:
                shape = by_shape(first)
                route = _BY_SHAPE[shape] if shape else Route(route.dataset, route.hints)
            if len(self._routes) >= _CACHE_SIZE:
                self._routes.clear()
            self._routes[key] = route
        self._last = (group, stream, route)
        return route


def by_names(group: str, stream: str, rules: tuple = ()) -> Route | None:
    """The settings rules (compiled `(group match, stream match, route)`), then the defaults."""
    for group_match, stream_match, route in rules:
        if group_match(group) and stream_match(stream):
            return route
    for group_pattern, stream_pattern, route in _DEFAULTS:
        if group_pattern.match(group) and (stream_pattern is None or stream_pattern.match(stream)):
            return route
    return None


def by_shape(event: Event) -> str | None:
    """The dataset the event's content looks like, or None. A JSON event is decoded here, once, for good."""
    text = event.message
    if text is None:
        return by_json_shape(event.obj) if isinstance(event.obj, dict) else None
    if text[:1] == "{":
        try:
            obj = event.json()
        except EventError:
            return None
        return by_json_shape(obj) if isinstance(obj, dict) else None
    match = _LINE_SHAPES.match(text)
    return match.lastgroup if match else None


def by_json_shape(obj: dict[str, Any]) -> str | None:
    if "eventVersion" in obj:
        source = obj.get("eventSource")
        if (isinstance(source, str) and source.endswith(".amazonaws.com")) or obj.get("eventType") == "AwsCloudTrailInsight":
            return "cloudtrail"
    if "digestStartTime" in obj and "digestS3Object" in obj:
        return "cloudtrail"
    if "query_name" in obj and "query_timestamp" in obj:
        return "route53_resolver_logs"
    if "webaclId" in obj and "httpRequest" in obj:
        return "waf"
    api_version = obj.get("apiVersion")
    if obj.get("kind") == "Event" and isinstance(api_version, str) and api_version.startswith("audit.k8s.io/"):
        return "kubernetes.audit_logs"
    if "schemaVersion" in obj and "service" in obj and "type" in obj and "accountId" in obj:
        return "guardduty"
    # a page of the GetFindings API, as Elastic's GuardDuty input reads them (an empty page is dropped)
    findings = obj.get("findings") if len(obj) == 1 else None
    if isinstance(findings, list) and (not findings or (isinstance(findings[0], dict) and "schemaVersion" in findings[0])):
        return "guardduty"
    if "SchemaVersion" in obj and "ProductArn" in obj:
        return "securityhub_findings"
    if "EvaluationResultIdentifier" in obj and "ComplianceType" in obj:
        return "config"
    if "detail-type" in obj and "source" in obj and "detail" in obj:
        return EVENTBRIDGE
    if len(obj) == 1 and isinstance(message := obj.get("message"), str):
        # a flow log line wrapped by a forwarder, which Elastic's vpcflow pipeline accepts as is
        match = _LINE_SHAPES.match(message)
        if match and match.lastgroup == VPCFLOW:
            return VPCFLOW
    return None


# Where AWS services write their log files (the documented key layouts; any prefix before them).
_KEY_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:^|/)AWSLogs/(?:o-[a-z0-9]+/)?\d{12}/CloudTrail(?:-Digest|-Insight)?/"), "cloudtrail"),
    (re.compile(r"(?:^|/)AWSLogs/\d{12}/elasticloadbalancing/"), "elb_logs"),
    (re.compile(r"(?:^|/)AWSLogs/\d{12}/vpcflowlogs/"), VPCFLOW),
    (re.compile(r"(?:^|/)AWSLogs/\d{12}/vpcdnsquerylogs/"), "route53_resolver_logs"),
    (re.compile(r"(?:^|/)AWSLogs/\d{12}/WAFLogs/|_waflogs_"), "waf"),
    # CloudFront standard logs: <distribution id>.<YYYY-MM-DD-HH>.<unique id>.gz
    (re.compile(r"(?:^|/)E[A-Z0-9]{7,15}\.\d{4}-\d\d-\d\d-\d\d\.[0-9a-zA-Z]+\.gz$"), "cloudfront_logs"),
    # S3 server access logs: <prefix>YYYY-mm-DD-HH-MM-SS-<unique string>, no extension
    (re.compile(r"\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]{16}$"), "s3access"),
)


def dataset_for_key(key: str) -> str | None:
    """The dataset of a log object in S3, from the key the AWS service wrote it under; None if unknown."""
    for pattern, dataset in _KEY_PATTERNS:
        if pattern.search(key):
            return dataset
    return None
