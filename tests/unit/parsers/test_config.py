"""AWS Config rule evaluations: Elastic's `config` pipeline rules, beyond its single fixture."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from parsers import EventError, registry
from parsers.event import Event
from parsers.options import ParseOptions
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text, mutated_events

SPEC = registry.get("config")
OPTIONS = ParseOptions()
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# An EvaluationResult (https://docs.aws.amazon.com/config/latest/APIReference/API_EvaluationResult.html)
# joined with its rule's ConfigRule (API_ConfigRule.html), as Elastic's CEL input emits them.
EVALUATION = {
    "ComplianceType": "NON_COMPLIANT",
    "ConfigRuleInvokedTime": 1742799479.852,
    "ResultRecordedTime": 1742799480061,
    "EvaluationResultIdentifier": {
        "EvaluationResultQualifier": {"ConfigRuleName": "s3-bucket-versioning-enabled", "ResourceId": "my-bucket",
                                      "ResourceType": "AWS::S3::Bucket", "EvaluationMode": "DETECTIVE"},
        "OrderingTimestamp": 1742541951.883,
        "ResourceEvaluationId": "eval-1",
    },
    "Annotation": "Versioning is not enabled.",
    "ConfigRuleInfo": {
        "ConfigRuleArn": "arn:aws:config:eu-west-1:111122223333:config-rule/config-rule-abc123",
        "ConfigRuleId": "config-rule-abc123", "ConfigRuleName": "s3-bucket-versioning-enabled",
        "ConfigRuleState": "ACTIVE", "CreatedBy": "securityhub.amazonaws.com",
        "Description": "Checks whether versioning is enabled for your S3 buckets.",
        "InputParameters": "{\"isMfaDeleteEnabled\": \"\", \"depth\": {\"n\": 2}}",
        "Source": {"Owner": "AWS", "SourceIdentifier": "S3_BUCKET_VERSIONING_ENABLED",
                   "SourceDetails": [{"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification",
                                      "Extra": 1}]},
        "Scope": {"ComplianceResourceTypes": ["AWS::S3::Bucket"], "TagValue": "prod"},
        "Unknown": "dropped",
    },
}


def parse(evaluation: dict) -> dict:
    docs = SPEC.parse(Event(message=orjson.dumps(evaluation).decode()), OPTIONS)
    assert len(docs) == 1
    return docs[0]


@pytest.mark.parametrize(("compliance", "outcome", "evaluation"), [
    ("COMPLIANT", "success", "passed"),
    ("NON_COMPLIANT", "failure", "failed"),
    ("NOT_APPLICABLE", "unknown", "unknown"),
    ("INSUFFICIENT_DATA", "unknown", "unknown"),
])
def test_compliance_type_sets_outcome_and_result(compliance, outcome, evaluation):
    doc = parse({**EVALUATION, "ComplianceType": compliance})
    assert doc["event"]["outcome"] == outcome
    assert doc["result"] == {"evaluation": evaluation}


def test_without_a_compliance_type_only_the_result_is_unknown():
    doc = parse({key: value for key, value in EVALUATION.items() if key != "ComplianceType"})
    assert "outcome" not in doc["event"]
    assert doc["result"] == {"evaluation": "unknown"}


def test_fractional_epochs_are_unix_seconds_and_integers_unix_milliseconds():
    config = parse(EVALUATION)["aws"]["config"]
    assert config["config_rule_invoked_time"] == "2025-03-24T06:57:59.852Z"
    assert config["result_recorded_time"] == "2025-03-24T06:58:00.061Z"
    assert parse(EVALUATION)["event"]["created"] == "2025-03-21T07:25:51.883Z"


def test_rule_fields_come_from_the_rule_and_its_arn():
    doc = parse(EVALUATION)
    assert doc["rule"] == {
        "reference": EVALUATION["ConfigRuleInfo"]["ConfigRuleArn"], "id": "config-rule-abc123",
        "uuid": "gvdV449IJ+d1Cg85OU8nN1QRDiY=", "name": "s3-bucket-versioning-enabled",
        "description": "Checks whether versioning is enabled for your S3 buckets.", "tags": "prod"}
    assert doc["cloud"] == {"provider": "aws", "account": {"id": "111122223333", "name": "111122223333"}}
    assert doc["resource"] == {"id": "my-bucket", "type": "AWS::S3::Bucket"}
    assert doc["related"] == {"user": ["securityhub.amazonaws.com"]}
    assert doc["message"] == doc["rule"]["description"]


def test_rule_uuid_is_the_fingerprint_processor_digest_of_the_arn():
    # The value Elastic's current test case shows for this ARN.
    arn = "arn:aws:config:us-east-1:329599655752:config-rule/config-rule-rwpvuz"
    doc = parse({"ConfigRuleInfo": {"ConfigRuleArn": arn}})
    assert doc["rule"]["uuid"] == "chfNCTELmFlMeMhp21DvcEjdkK0="


def test_input_parameters_are_decoded_and_cleaned_of_empty_values():
    info = parse(EVALUATION)["aws"]["config"]["rule_info"]
    assert info["input_parameters"] == {"depth": {"n": 2}}
    assert info["source"]["source_details"] == [
        {"event_source": "aws.config", "message_type": "ConfigurationItemChangeNotification", "Extra": 1}]
    assert "Unknown" not in info and "unknown" not in info


def test_undecodable_input_parameters_mark_a_pipeline_error():
    evaluation = {**EVALUATION, "ConfigRuleInfo": {**EVALUATION["ConfigRuleInfo"], "InputParameters": "{nope"}}
    doc = parse(evaluation)
    assert doc["event"]["kind"] == "pipeline_error"
    assert doc["error"]["message"][0].startswith("InputParameters is not JSON")
    assert "input_parameters" not in doc["aws"]["config"]["rule_info"]


def test_no_timestamp_is_set_so_the_envelope_provides_it():
    assert "@timestamp" not in parse(EVALUATION)


def test_the_fixed_categorisation():
    doc = parse(EVALUATION)
    assert doc["observer"] == {"vendor": "AWS Config"}
    assert (doc["event"]["kind"], doc["event"]["category"], doc["event"]["type"]) == (
        "event", ["configuration"], ["info"])


@pytest.mark.parametrize("text", ["", "nope", "[{}]"])
def test_anything_but_a_json_object_is_rejected(text):
    with pytest.raises(EventError):
        SPEC.parse(Event(message=text), OPTIONS)


@PROPERTY
@given(mutated_events([EVALUATION]))
def test_evaluations_with_any_value_swapped_in_parse_or_fail_cleanly(event):
    assert_parses_cleanly(SPEC, event)


@PROPERTY
@given(cut_or_random_text([orjson.dumps(EVALUATION).decode()]))
def test_arbitrary_and_truncated_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))


def _with_parameters(text: str) -> dict:
    return {**EVALUATION, "ConfigRuleInfo": {**EVALUATION["ConfigRuleInfo"], "InputParameters": text}}


def test_an_input_parameter_past_the_leaf_budget_is_cut_so_the_evaluation_still_indexes():
    from parsers import flattened
    doc = parse(_with_parameters(orjson.dumps({"p": "x" * 33000, "q": "short"}).decode()))
    parameters = doc["aws"]["config"]["rule_info"]["input_parameters"]
    assert parameters["q"] == "short"
    assert parameters["p"] == "x" * (flattened.LEAF_BUDGET - len(flattened.TRUNCATED)) + flattened.TRUNCATED
    assert doc["event"]["kind"] == "event"


def test_input_parameters_nested_past_the_mapping_depth_are_left_out_as_a_pipeline_error():
    from parsers import flattened
    value: object = "leaf"
    for i in range(flattened.DEPTH_LIMIT + 1):
        value = {f"k{i}": value}
    doc = parse(_with_parameters(orjson.dumps(value).decode()))
    assert "input_parameters" not in doc["aws"]["config"].get("rule_info", {})
    assert doc["event"]["kind"] == "pipeline_error"
    assert any("deeper" in m for m in doc["error"]["message"])
