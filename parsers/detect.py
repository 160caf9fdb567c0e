"""Which dataset an event belongs to. First answer wins:

1. the stream's `dataset` (settings), for every event;
2. the dataset the envelope knows (EventBridge source and detail-type, CloudTrail files);
3. the stream's detection rules (settings), in order, on the CloudWatch log group and stream names;
4. the default rules below, on the log group name (some let the event's shape choose among related datasets);
5. for CloudWatch Logs events of a log group no rule claims: the generic `cloudwatch_logs` dataset, unless the
   stream sets `detection_by_content` (then the default stream-name rules, then the event's shape);
6. for events without a log group: the event's shape (JSON keys, or the layout of a text line);
7. the generic `cloudwatch_logs` dataset: an unrecognised event is indexed, never dropped.

Trust: in CloudWatch Logs a security dataset is decided by WHERE the log is (its log group, claimed by a name
rule), never by what the writer put in it. Anyone who may write to a subscribed log group (an application's
own group, or any group under an account-level subscription policy) chooses its log stream names and every
byte of its lines: were content or stream names to decide, one line could forge CloudTrail, GuardDuty,
Security Hub, Config, WAF or k8s audit events with a chosen user, action and @timestamp, and an EventBridge
"Object Created" event would make secstash read an S3 object the writer names. So the events of an unclaimed
group are `cloudwatch_logs`, whatever they look like, as Elastic's integrations only read the log groups
each input is pointed at. Those that look like a security dataset are counted
(`RecordOutcome.unclaimed`, the metric `secstash_events_unclaimed_total{stream,dataset}`) and the daemon logs
each such log group once, so an operator sees which groups need a `detection` rule.

`streams[].detection_by_content: true` restores content-based detection (and the stream-name rules) for
unclaimed groups: it trusts every writer of every log group subscribed to the stream. Set it only on streams
whose every log group holds AWS-written logs.

Plain lines and bare JSON records (written to Kinesis directly, or lines of an S3 object whose key no pattern
knows) have no log group: their shape is checked per event. There the Kinesis stream, or the S3 object a
notification of the stream names, is the trust boundary: whoever may put records on the stream (or write
to a bucket its notifications come from) may write any dataset, as with Elastic's Kinesis or S3 inputs.

For CloudWatch Logs events steps 3-5 are decided once per (log group, log stream), on the stream's first
event, and cached: a log stream carries one kind of log. A shape check costs a few dictionary look-ups (JSON,
decoded once: the parser gets the decoded object) or one anchored regular expression (text).

Default rules, by log group (and stream), claimed for every stream:

    /aws/eks/<cluster>/cluster   kube-apiserver-audit-*            kubernetes.audit_logs
    /aws/eks/<cluster>/cluster   authenticator-*                   eks_authenticator
    /aws/eks/<cluster>/cluster   other streams                     cloudwatch_logs
    aws-waf-logs-*               (AWS requires the prefix)         waf
    /aws/route53/*               (AWS requires it for public zones) route53_public_logs; shape first among
                                                                     route53_resolver_logs
    /aws/rds/*                                                     rds
    /aws/redshift*               (provisioned and serverless)      redshift
    aws-cloudtrail-logs-*, CloudTrail/*  (console defaults)        cloudtrail
    /aws/events/*                (EventBridge rules' targets)      EventBridge events unwrapped (their S3
                                                                     pointers read); other lines cloudwatch_logs

Only with `detection_by_content` (the writer names its log streams):

    any group   <12 digits>_CloudTrail_<region>  (CloudTrail names its streams so)   cloudtrail
    any group   eni-<id>-all|accept|reject, tgw-attach-<id>  (flow log streams)       vpcflow

"Shape first": a recognised shape among the group's related datasets overrides the name's dataset (resolver
query-log JSON in a /aws/route53/ group goes to route53_resolver_logs); any other shape does not (a
CloudTrail-shaped line in a Route 53 group stays route53_public_logs, and fails to parse there).
EventBridge events in CloudWatch Logs are unwrapped like EventBridge records only in /aws/events/* groups or
groups a settings rule claims with `dataset: eventbridge`; elsewhere the line is generic and nothing it
names is read.

Log groups of your own naming (a custom CloudTrail trail's group, VPC Flow Logs, Route 53 Resolver query
logs) are claimed with a settings rule, e.g.

    streams:
      - name: security-logs
        detection:
          - {log_group: "org-trail-logs", dataset: cloudtrail}
          - {log_group: "/vpc/flow-logs/*", dataset: vpcflow}
          - {log_group: "/custom/bus/*", dataset: eventbridge}

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
from parsers.rules import DetectionRule, StreamParsing

GENERIC = "cloudwatch_logs"
VPCFLOW = "vpcflow"
# Not a dataset: the event is itself an EventBridge event, to unwrap before parsing.
EVENTBRIDGE = "<eventbridge>"


@dataclass(frozen=True, slots=True)
class Route:
    """A decision for a log group and stream."""

    dataset: str
    hints: dict[str, str] = field(default_factory=dict)
    # "Shape first": a recognised shape among these overrides `dataset` (the related datasets the group may hold).
    shapes: frozenset[str] = frozenset()
    # Set on a generic route: the dataset content-based detection would have chosen (counted, never applied).
    withheld: str | None = None


# (log group pattern, log stream pattern or None, route). Patterns are matched from the start. These name log
# groups AWS enforces or creates by default: they hold what their name says, whoever writes the stream names.
_EKS = re.compile(r"/aws/eks/[^/]+/cluster$")
_GROUP_DEFAULTS: tuple[tuple[re.Pattern[str], re.Pattern[str] | None, Route], ...] = (
    (_EKS, re.compile(r"kube-apiserver-audit-"), Route("kubernetes.audit_logs")),
    (_EKS, re.compile(r"authenticator-"), Route("eks_authenticator")),
    (_EKS, None, Route(GENERIC)),
    (re.compile(r"aws-waf-logs-"), None, Route("waf")),
    (re.compile(r"/aws/route53/"), None, Route("route53_public_logs", shapes=frozenset({"route53_resolver_logs"}))),
    (re.compile(r"/aws/rds/"), None, Route("rds")),
    (re.compile(r"/aws/redshift"), None, Route("redshift")),
    (re.compile(r"aws-cloudtrail-logs-|CloudTrail/"), None, Route("cloudtrail")),
    (re.compile(r"/aws/events/"), None, Route(GENERIC, shapes=frozenset({EVENTBRIDGE}))),
)
# Log STREAM names in any group: the writer chooses them, so they count only with `detection_by_content`.
_STREAM_DEFAULTS: tuple[tuple[re.Pattern[str], Route], ...] = (
    (re.compile(r"\d{12}_CloudTrail_[a-z0-9-]+$"), Route("cloudtrail")),
    (re.compile(r"(?:eni-[0-9a-f]{8,17}-(?:all|accept|reject)|tgw-attach-[0-9a-f]{8,17}\S*)$"), Route(VPCFLOW)),
)
_BY_SHAPE = {name: Route(name) for name in (GENERIC, VPCFLOW, EVENTBRIDGE, "cloudtrail", "route53_resolver_logs",
                                            "waf", "kubernetes.audit_logs", "guardduty", "securityhub_findings",
                                            "config", "elb_logs", "route53_public_logs", "cloudfront_logs",
                                            "s3access")}
# What content-based detection would have chosen in an unclaimed group, as the counter's `dataset` label.
_WITHHELD = {name: Route(GENERIC, withheld="eventbridge" if name == EVENTBRIDGE else name)
             for name in _BY_SHAPE if name != GENERIC}
# A settings rule's `dataset: eventbridge`: unwrap the group's EventBridge events (other lines are generic).
EVENTBRIDGE_RULE = "eventbridge"

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


def _rule_route(rule: DetectionRule) -> Route:
    if rule.dataset == EVENTBRIDGE_RULE:
        return Route(GENERIC, shapes=frozenset({EVENTBRIDGE}))
    return Route(rule.dataset, {"vpcflow_format": rule.vpcflow_format} if rule.vpcflow_format else {})


class Detector:
    """Detection for one stream's settings; build once per `StreamParsing` (`parsers.record` does).

    `withheld`: after `dataset()` returned GENERIC for an event of an unclaimed log group whose content looks
    like a security dataset, that dataset's name (for the caller to count, and to reset to None); else None.
    """

    def __init__(self, parsing: StreamParsing) -> None:
        self._forced = parsing.dataset
        self._by_content = parsing.detection_by_content
        self._rules = tuple(
            (re.compile(translate(rule.log_group)).match, re.compile(translate(rule.log_stream)).match,
             _rule_route(rule))
            for rule in parsing.detection
        )
        self._stream_hints = {"vpcflow_format": parsing.vpcflow_format} if parsing.vpcflow_format else None
        self._routes: dict[tuple[str, str], Route] = {}
        # The events of one CloudWatch Logs record share their group and stream objects: skip the look-up.
        self._last: tuple[str | None, str | None, Route | None] = (None, None, None)
        self.withheld: str | None = None

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
            if route.withheld is not None:
                self.withheld = route.withheld
            dataset = route.dataset
        if dataset == VPCFLOW and self._stream_hints is not None and "vpcflow_format" not in meta.hints:
            meta.hints = self._stream_hints
        return dataset

    def by_names(self, group: str, stream: str) -> tuple[str, str | None] | None:
        """(dataset, VPC Flow format or None) for every event of a CloudWatch Logs (group, stream) when names
        alone decide it (a forced dataset, or a rule without shapes claiming the group); None when content
        may decide, or would be counted (`withheld`). For callers that decide once per record."""
        if self._forced is not None:
            dataset, hints = self._forced, {}
        else:
            route = by_names(group, stream, self._rules)
            if route is None or route.shapes or route.withheld is not None:
                return None
            dataset, hints = route.dataset, route.hints
        if dataset == EVENTBRIDGE:
            return None
        fmt = hints.get("vpcflow_format")
        if dataset == VPCFLOW and fmt is None and self._stream_hints is not None:
            fmt = self._stream_hints["vpcflow_format"]
        return dataset, fmt

    def _route(self, group: str, stream: str, first: Event) -> Route:
        last_group, last_stream, route = self._last
        if group is last_group and stream is last_stream and route is not None:
            return route
        key = (group, stream)
        route = self._routes.get(key)
        if route is None:
            route = self._decide(group, stream, first)
            if len(self._routes) >= _CACHE_SIZE:
                self._routes.clear()
            self._routes[key] = route
        self._last = (group, stream, route)
        return route

    def _decide(self, group: str, stream: str, first: Event) -> Route:
        """Once per (group, stream), on the stream's first event."""
        route = by_names(group, stream, self._rules)
        if route is not None:  # a claimed group: its content chooses among related datasets at most
            if route.shapes:
                shape = by_shape(first)
                if shape in route.shapes:
                    return _BY_SHAPE[shape]
            return route
        # An unclaimed group: whoever can write to it chooses the stream's name and content.
        route = by_stream_name(stream) or _BY_SHAPE[by_shape(first) or GENERIC]
        if self._by_content or route.dataset == GENERIC:
            return route
        return _WITHHELD[route.dataset]


def by_names(group: str, stream: str, rules: tuple = ()) -> Route | None:
    """The settings rules (compiled `(group match, stream match, route)`), then the default group rules."""
    for group_match, stream_match, route in rules:
        if group_match(group) and stream_match(stream):
            return route
    for group_pattern, stream_pattern, route in _GROUP_DEFAULTS:
        if group_pattern.match(group) and (stream_pattern is None or stream_pattern.match(stream)):
            return route
    return None


def by_stream_name(stream: str) -> Route | None:
    """The default rules on log stream names alone (any group): trusted only with `detection_by_content`."""
    for stream_pattern, route in _STREAM_DEFAULTS:
        if stream_pattern.match(stream):
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


# Where AWS services write their log files (the documented key layouts; any prefix before them). The prefix is
# chosen by whoever configures the logging (a load balancer's `access_logs.s3.prefix`, a bucket's access-log
# TargetPrefix, a distribution's log prefix), who may be anyone allowed to configure one in a subscribed
# account: only what AWS itself writes after it may decide. So the file names S3 access logs and CloudFront
# end with are tried first (an `AWSLogs/<account>/CloudTrail/` TargetPrefix must not make S3 access logs
# CloudTrail), and the `AWSLogs/<account>/<service>/` layouts are read from the key's LAST `AWSLogs/`, which
# is the one AWS wrote (nothing AWS writes after it holds another).
_FILE_NAMES: tuple[tuple[re.Pattern[str], str], ...] = (
    # CloudFront standard logs: <distribution id>.<YYYY-MM-DD-HH>.<unique id>.gz
    (re.compile(r"(?:^|/)E[A-Z0-9]{7,15}\.\d{4}-\d\d-\d\d-\d\d\.[0-9a-zA-Z]+\.gz$"), "cloudfront_logs"),
    # S3 server access logs: <prefix>YYYY-mm-DD-HH-MM-SS-<unique string>, no extension
    (re.compile(r"\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]{16}$"), "s3access"),
)
_AWSLOGS = "AWSLogs/"
_AWSLOGS_LAYOUTS: tuple[tuple[re.Pattern[str], str], ...] = (
    # [org trails: <org id>/]; digest and Insights files have folders of their own
    (re.compile(r"AWSLogs/(?:o-[a-z0-9]{10,32}/)?\d{12}/CloudTrail(?:-Digest|-Insight)?/"), "cloudtrail"),
    (re.compile(r"AWSLogs/\d{12}/elasticloadbalancing/"), "elb_logs"),
    # plain, or with Hive-compatible prefixes (aws-account-id=<account>/aws-service=vpcflowlogs/...)
    (re.compile(r"AWSLogs/(?:aws-account-id=)?\d{12}/(?:aws-service=)?vpcflowlogs/"), VPCFLOW),
    (re.compile(r"AWSLogs/\d{12}/vpcdnsquerylogs/"), "route53_resolver_logs"),
    (re.compile(r"AWSLogs/\d{12}/WAFLogs/"), "waf"),
)
# WAF's own file name (<account>_waflogs_<region>_<web ACL>_...), where the folders above are missing.
_WAF_FILE_NAME = re.compile(r"(?:^|/)\d{12}_waflogs_[^/]+$")


def dataset_for_key(key: str) -> str | None:
    """The dataset of a log object in S3, from the key the AWS service wrote it under; None if unknown."""
    for pattern, dataset in _FILE_NAMES:
        if pattern.search(key):
            return dataset
    start = key.rfind(_AWSLOGS)
    if start == 0 or (start > 0 and key[start - 1] == "/"):
        for pattern, dataset in _AWSLOGS_LAYOUTS:
            if pattern.match(key, start):
                return dataset
    if _WAF_FILE_NAME.search(key):
        return "waf"
    return None
