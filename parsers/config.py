"""AWS Config rule evaluations (`aws.config`): one `EvaluationResult` joined with its `ConfigRuleInfo` per event.

Reproduces Elastic's `config` pipeline (ECS 8.17.0) as its current test case shows it: `aws.config.*` in
snake_case, `InputParameters` decoded from its JSON text, dates from epoch seconds, `event.outcome` and
`result.evaluation` from the compliance type, `rule.*` and `resource.*` from the rule and the evaluated resource.
`rule.uuid` is the `fingerprint` processor's digest of the rule ARN. No `@timestamp`: the pipeline sets none,
so it comes from the envelope. The `aws.config.*` copies of fields mapped to ECS are kept
(`preserve_duplicate_custom_fields`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

from parsers import ecs, flattened
from parsers._findings import (
    Move,
    Spec,
    add,
    compile_spec,
    date_unix_ms_or_unix,
    error_fields,
    ops,
    prune,
    to_boolean,
    walk,
)
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

_QUALIFIER = "evaluation_result_identifier.evaluation_result_qualifier"

SPEC: Spec = compile_spec({
    "Annotation": "annotation",
    "ComplianceType": "compliance_type",
    "ConfigRuleInvokedTime": Move("config_rule_invoked_time", date_unix_ms_or_unix),
    "ConfigRuleInfo": {
        "ConfigRuleArn": "rule_info.config_rule_arn",
        "ConfigRuleId": "rule_info.config_rule_id",
        "ConfigRuleName": "rule_info.config_rule_name",
        "ConfigRuleState": "rule_info.config_rule_state",
        "CreatedBy": "rule_info.created_by",
        "Description": "rule_info.description",
        "EvaluationModes": Move("rule_info.evaluation_modes", items=ops(("Mode", "mode", None))),
        "MaximumExecutionFrequency": "rule_info.maximum_execution_frequency",
        "Scope": {
            "ComplianceResourceId": "rule_info.scope.compliance_resource_id",
            "ComplianceResourceTypes": "rule_info.scope.compliance_resource_types",
            "TagKey": "rule_info.scope.tag_key",
            "TagValue": "rule_info.scope.tag_value",
        },
        "Source": {
            "CustomPolicyDetails": {
                "EnableDebugLogDelivery": Move(
                    "rule_info.source.custom_policy_details.enable_debug_log_delivery", to_boolean),
                "PolicyRuntime": "rule_info.source.custom_policy_details.policy_runtime",
                "PolicyText": "rule_info.source.custom_policy_details.policy_text",
            },
            "Owner": "rule_info.source.owner",
            "SourceDetails": Move("rule_info.source.source_details", items=ops(
                ("EventSource", "event_source", None),
                ("MaximumExecutionFrequency", "maximum_execution_frequency", None),
                ("MessageType", "message_type", None),
            )),
            "SourceIdentifier": "rule_info.source.source_identifier",
        },
    },
    "EvaluationResultIdentifier": {
        "EvaluationResultQualifier": {
            "ConfigRuleName": f"{_QUALIFIER}.config_rule_name",
            "EvaluationMode": f"{_QUALIFIER}.evaluation_mode",
            "ResourceId": f"{_QUALIFIER}.resource_id",
            "ResourceType": f"{_QUALIFIER}.resource_type",
        },
        "OrderingTimestamp": Move("evaluation_result_identifier.ordering_timestamp", date_unix_ms_or_unix),
        "ResourceEvaluationId": "evaluation_result_identifier.resource_evaluation_id",
    },
    "ResultRecordedTime": Move("result_recorded_time", date_unix_ms_or_unix),
    "ResultToken": "result_token",
})

_NOTHING: dict[str, Any] = {}
_OUTCOME = {"COMPLIANT": ("success", "passed"), "NON_COMPLIANT": ("failure", "failed")}


@register("config", ecs_version="8.17.0", keeps_original=True)  # its pipeline never removes event.original
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    original = event.text()
    evaluation = event.json_object()
    errors: list[str] = []
    cfg: dict[str, Any] = {}
    walk(SPEC, evaluation, cfg, errors)
    _input_parameters(cfg, ecs.get(evaluation, "ConfigRuleInfo.InputParameters"), errors)
    doc: dict[str, Any] = {
        "cloud": {"provider": "aws"},
        "observer": {"vendor": "AWS Config"},
        "event": {"category": ["configuration"], "kind": "event", "type": ["info"], "original": original},
        "aws": {"config": cfg},
    }
    _ecs(doc, cfg)
    error_fields(doc, errors)
    if errors:
        doc["event"]["kind"] = "pipeline_error"
    return [doc]


def _input_parameters(cfg: dict[str, Any], text: Any, errors: list[str]) -> None:
    if text is None or text == "":
        return
    if not isinstance(text, str):
        errors.append("InputParameters is not a JSON text")
        return
    try:
        parameters = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        errors.append(f"InputParameters is not JSON: {exc}")
        return
    if type(parameters) in (dict, list):
        parameters = prune(parameters)
    if parameters in (None, "", {}, []):
        return
    # Cut long leaves (Config allows 1 KB per parameter; a longer one is forged or a change in AWS): over
    # Lucene's term limit the flattened field would make the cluster refuse the whole evaluation.
    fitted = flattened.fit(parameters, "aws.config.rule_info.input_parameters")
    if fitted is None:
        errors.append(f"InputParameters nested deeper than {flattened.DEPTH_LIMIT} objects: left out")
        return
    cfg.setdefault("rule_info", {})["input_parameters"] = fitted


# `_ecs` reads `cfg` as the walk left it: no None nor "" in it, and the objects the spec only writes into
# (`rule_info`, its `scope`, `evaluation_result_identifier` and its qualifier) are dicts whenever present.


def _ecs(doc: dict[str, Any], cfg: dict[str, Any]) -> None:
    info = cfg.get("rule_info", _NOTHING)
    arn = info.get("config_rule_arn")
    if isinstance(arn, str):
        # dissect "%{}:%{}:%{}:%{}:%{cloud.account.id}:%{}" (the last part takes the rest)
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[4]:
            doc["cloud"]["account"] = {"id": parts[4], "name": parts[4]}
        doc["rule"] = {"reference": arn, "uuid": _fingerprint(arn)}
    rule_id = info.get("config_rule_id")
    if rule_id is not None:
        doc.setdefault("rule", {})["id"] = rule_id
    name = info.get("config_rule_name")
    if name is not None:
        doc.setdefault("rule", {})["name"] = name
    creator = info.get("created_by")
    if creator is not None:
        users: list[str] = []
        add(users, creator)
        if users:
            doc["related"] = {"user": users}
    description = info.get("description")
    if description is not None:
        doc.setdefault("rule", {})["description"] = description
        doc["message"] = description
    identifier = cfg.get("evaluation_result_identifier", _NOTHING)
    event = doc["event"]
    created = identifier.get("ordering_timestamp")
    if created is not None:
        event["created"] = created
    evaluation_id = identifier.get("resource_evaluation_id")
    if evaluation_id is not None:
        event["id"] = evaluation_id
    qualifier = identifier.get("evaluation_result_qualifier", _NOTHING)
    resource: dict[str, Any] = {}
    resource_id = qualifier.get("resource_id")
    if resource_id is not None:
        resource["id"] = resource_id
    resource_type = qualifier.get("resource_type")
    if resource_type is not None:
        resource["type"] = resource_type
    if resource:
        doc["resource"] = resource
    compliance = cfg.get("compliance_type")
    if isinstance(compliance, str):
        event["outcome"], evaluation = _OUTCOME.get(compliance, ("unknown", "unknown"))
    else:
        evaluation = "unknown"
    doc["result"] = {"evaluation": evaluation}
    tags = info.get("scope", _NOTHING).get("tag_value")
    if tags is not None:
        doc.setdefault("rule", {})["tags"] = tags


def _fingerprint(value: str) -> str:
    """Elasticsearch's `fingerprint` processor (SHA-1, no salt) over one string field: a 0 byte, then UTF-8."""
    return base64.b64encode(hashlib.sha1(b"\x00" + value.encode("utf-8", "surrogatepass")).digest()).decode()
