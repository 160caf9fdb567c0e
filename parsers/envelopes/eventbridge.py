"""EventBridge events, routed to a dataset by `source` and `detail-type`:

    aws.guardduty    "GuardDuty Finding"                 detail = one finding             -> guardduty
    aws.securityhub  "Security Hub Findings - ..."       detail.findings[], one event each -> securityhub_findings
    aws.config       "Config Rules Compliance Change"    detail -> an evaluation result    -> config
    aws.s3           "Object Created"                    detail -> a log object to read    (Unwrapped.objects)
    aws.<service>    "... via CloudTrail"                detail = one CloudTrail record    -> cloudtrail
    anything else: the whole event, for the generic cloudwatch_logs dataset (never dropped)

Only AWS services send events whose `source` starts with `aws.` (PutEvents refuses that prefix; partner
sources are `aws.partner/...`, written by the partner). Anyone allowed `events:PutEvents` chooses every other
field, `detail-type` included: a "via CloudTrail" event from any other source would be a CloudTrail record of
its writer's making (any user, action and time), matched by rules that select on detail-type alone, so it is
kept whole for the generic dataset.

Each event carries the envelope's `time` (as timestamp_ms), `region` and `account` (as owner). The parsers
get the decoded detail (`Event.obj`), so nothing is decoded twice. EventBridge rules that target CloudWatch
Logs (`/aws/events/...` log groups) deliver the same events inside log events: `parsers.record` unwraps
those too, keeping the log group, stream and event id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from parsers.envelopes import s3_notification
from parsers.envelopes.limits import make_room
from parsers.errors import EnvelopeError
from parsers.event import Event, EventMeta

if TYPE_CHECKING:
    from parsers.envelopes import Unwrapped

GENERIC = "cloudwatch_logs"
_MAX_TIMESTAMP_MS = 253_402_300_799_999
# Dates in a compliance change notification are ISO 8601; the config parser reads the API's epoch seconds.
_CONFIG_DATES = frozenset({"orderingTimestamp", "resultRecordedTime", "configRuleInvokedTime"})


def unwrap(obj: dict[str, Any], text: str | None, out: Unwrapped, via: EventMeta | None = None) -> None:
    """`text` is the event's raw JSON when known (kept for the generic dataset); `via` is the meta of the
    CloudWatch Logs event that carried it, if any."""
    source, detail_type, detail = obj.get("source"), obj.get("detail-type"), obj.get("detail")
    if not isinstance(source, str) or not isinstance(detail_type, str):
        raise _bad("source and detail-type must be strings")
    if detail_type.endswith("via CloudTrail") and _from_aws(source):  # API calls, sign-ins, service events, insights
        out.items.append(("cloudtrail", Event(obj=_object(detail), meta=_meta(obj, via))))
    elif source == "aws.guardduty" and detail_type == "GuardDuty Finding":
        out.items.append(("guardduty", Event(obj=_object(detail), meta=_meta(obj, via))))
    elif source == "aws.securityhub" and detail_type.startswith("Security Hub Findings"):
        findings = _object(detail).get("findings")
        if not isinstance(findings, list):
            raise _bad("Security Hub detail.findings must be a list")
        if not findings:
            out.dropped["no_findings"] += 1
        make_room(out, len(findings), "Security Hub event")
        for finding in findings:
            out.items.append(("securityhub_findings", Event(obj=finding, meta=_meta(obj, via))))
    elif source == "aws.s3" and detail_type == "Object Created":  # a log object's pointer: read by the caller
        s3_notification.unwrap_eventbridge(obj, out)
    elif source == "aws.config" and detail_type == "Config Rules Compliance Change":
        out.items.append(("config", Event(obj=config_evaluation(_object(detail)), meta=_meta(obj, via))))
    else:
        out.items.append((GENERIC, Event(message=text, obj=obj, meta=_meta(obj, via))))


def _from_aws(source: str) -> bool:
    """Whether only an AWS service can have sent an event of this `source` (see the module docstring)."""
    return source.startswith("aws.") and not source.startswith("aws.partner/")


def config_evaluation(detail: dict[str, Any]) -> dict[str, Any]:
    """A compliance change notification as the evaluation result GetComplianceDetailsByConfigRule returns
    (the shape of Elastic's AWS Config input): PascalCase keys, epoch-second dates, ConfigRuleInfo from the
    rule's name and ARN. Fields only the API knows (rule description, scope, source) stay absent."""
    result = detail.get("newEvaluationResult")
    if isinstance(result, dict):
        evaluation = _pascal(result)
    else:  # a deleted resource's notification has no new result: identify what was evaluated
        evaluation = {"EvaluationResultIdentifier": {"EvaluationResultQualifier": _drop_none({
            "ConfigRuleName": detail.get("configRuleName"),
            "ResourceType": detail.get("resourceType"),
            "ResourceId": detail.get("resourceId"),
        })}}
    arn = detail.get("configRuleARN")
    info = _drop_none({
        "ConfigRuleName": detail.get("configRuleName"),
        "ConfigRuleArn": arn,
        "ConfigRuleId": arn.rpartition("/")[2] if isinstance(arn, str) and "/" in arn else None,
    })
    if info:
        evaluation["ConfigRuleInfo"] = info
    return evaluation


def _pascal(value: Any, depth: int = 0) -> Any:
    """Keys renamed down to the qualifier (3 levels); anything deeper is not part of the shape, kept as is."""
    if depth == 3:
        return value
    if isinstance(value, dict):
        return {
            key[:1].upper() + key[1:]: _epoch_seconds(item) if key in _CONFIG_DATES else _pascal(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_pascal(item, depth + 1) for item in value]
    return value


def _epoch_seconds(value: Any) -> Any:
    moment = _datetime(value)
    return value if moment is None else round(moment.timestamp(), 3)


def _meta(obj: dict[str, Any], via: EventMeta | None) -> EventMeta:
    region, account = obj.get("region"), obj.get("account")
    moment = _datetime(obj.get("time"))
    timestamp_ms = round(moment.timestamp() * 1000) if moment is not None else None
    if timestamp_ms is not None and not 0 <= timestamp_ms <= _MAX_TIMESTAMP_MS:
        timestamp_ms = None
    meta = EventMeta(
        timestamp_ms=timestamp_ms,
        owner=account if isinstance(account, str) else None,
        region=region if isinstance(region, str) else None,
    )
    if via is not None:
        meta.log_group, meta.log_stream, meta.log_event_id = via.log_group, via.log_stream, via.log_event_id
        if meta.timestamp_ms is None:
            meta.timestamp_ms = via.timestamp_ms
        meta.owner = meta.owner or via.owner
    return meta


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:  # EventBridge writes UTC with `Z`; a bare time is read as UTC too
        moment = moment.replace(tzinfo=UTC)
    return moment


def _object(detail: Any) -> dict[str, Any]:
    if not isinstance(detail, dict):
        raise _bad("detail must be an object")
    return detail


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _bad(message: str) -> EnvelopeError:
    return EnvelopeError(f"EventBridge event: {message}", reason="bad_eventbridge")
