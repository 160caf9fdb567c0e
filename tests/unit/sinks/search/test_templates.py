"""Templates and the generated ECS mappings; adapting them to what a cluster can do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sinks.search import templates
from sinks.search.config import SearchSettings

ROOT = Path(__file__).resolve().parents[4]


def settings(**overrides: Any) -> SearchSettings:
    return SearchSettings(hosts=["http://search:9200"], **overrides)


def field(properties: dict[str, Any], dotted: str) -> dict[str, Any]:
    node: dict[str, Any] = {"properties": properties}
    for part in dotted.split("."):
        node = node["properties"][part]
    return node


@pytest.mark.parametrize(("name", "expected"), [
    ("@timestamp", "date"), ("source.ip", "ip"), ("source.port", "long"), ("destination.geo.location", "geo_point"),
    ("event.created", "date"), ("event.duration", "long"), ("related.ip", "ip"), ("url.full", "wildcard"),
    ("message", "match_only_text"), ("http.response.status_code", "long"), ("user.name", "keyword"),
])
def test_common_ecs_fields_have_their_ecs_types(name: str, expected: str) -> None:
    assert field(templates.assets()["common"], name)["type"] == expected


@pytest.mark.parametrize(("dataset", "name", "expected"), [
    ("aws.cloudtrail", "aws.cloudtrail.flattened.request_parameters", "flattened"),
    ("aws.cloudtrail", "aws.cloudtrail.user_identity.session_context.creation_date", "date"),
    ("aws.cloudtrail", "aws.cloudtrail.console_login.additional_eventdata.mfa_used", "boolean"),
    ("aws.vpcflow", "aws.vpcflow.tcp_flags_array", "keyword"),
    ("aws.waf", "aws.waf.rule_group_list", "nested"),
    ("aws.config", "aws.config.result_recorded_time", "date"),
    ("aws.config", "aws.config.rule_info.input_parameters", "flattened"),
    ("kubernetes.audit_logs", "kubernetes.audit.responseStatus.code", "long"),
    # Sub-trees no source types (review D2): mapped, so no first document of a backing index fixes them.
    ("kubernetes.audit_logs", "kubernetes.audit.responseStatus.status", "keyword"),
    ("kubernetes.audit_logs", "kubernetes.audit.responseStatus.reason", "keyword"),
    ("kubernetes.audit_logs", "kubernetes.audit.responseStatus.message", "match_only_text"),
    ("kubernetes.audit_logs", "kubernetes.audit.objectRef.subresource", "keyword"),
    ("kubernetes.audit_logs", "kubernetes.audit.impersonatedUser.username", "keyword"),
    ("kubernetes.audit_logs", "kubernetes.audit.user.username", "keyword"),
    ("aws.waf", "aws.waf.terminating_rule_match_details.location", "keyword"),
    ("aws.waf", "aws.waf.terminating_rule_match_details.matchedData", "keyword"),
    ("aws.waf", "aws.waf.non_terminating_matching_rules.ruleMatchDetails.location", "keyword"),
    ("aws.waf", "aws.waf.rule_group_list.terminatingRule.ruleId", "keyword"),
    ("aws.waf", "aws.waf.rule_group_list.nonTerminatingMatchingRules", "nested"),
    ("aws.waf", "aws.waf.rate_based_rule_list.maxRateAllowed", "long"),
    ("aws.rds", "aws.rds.audit.retcode", "long"),
    ("aws.rds", "aws.rds.query", "keyword"),
    ("aws.rds", "aws.rds.slowlog.query_time", "double"),
    ("aws.redshift", "aws.redshift.connection_log.remote_port", "long"),
    ("aws.redshift", "aws.redshift.user_log.super_user", "boolean"),
    ("aws.redshift", "aws.redshift.user_activity.query", "keyword"),
    ("aws.eks_authenticator", "aws.eks_authenticator.arn", "keyword"),
    # Attacker-chosen keys (review D6): one field each, whatever keys come.
    ("kubernetes.audit_logs", "kubernetes.audit.user.extra", "flattened"),
    ("kubernetes.audit_logs", "kubernetes.audit.impersonatedUser.extra", "flattened"),
    ("kubernetes.audit_logs", "kubernetes.audit.annotations", "flattened"),
])
def test_dataset_fields_have_the_types_of_their_definitions(dataset: str, name: str, expected: str) -> None:
    assert field(templates.assets()["datasets"][dataset], name)["type"] == expected


@pytest.mark.parametrize("name", ["class", "data", "name", "type"])
def test_dns_answers_have_their_ecs_types(name: str) -> None:
    assert field(templates.assets()["common"], f"dns.answers.{name}")["type"] == "keyword"
    assert field(templates.assets()["common"], "dns.answers.ttl")["type"] == "long"


@pytest.mark.parametrize(("dataset", "name"), [
    ("kubernetes.audit_logs", "kubernetes.audit.responseStatus.details"),
    ("kubernetes.audit_logs", "kubernetes.audit.responseStatus.metadata"),
    ("kubernetes.audit_logs", "kubernetes.audit.protoPayload.request"),
    ("aws.rds", "aws.rds.slowlog"),
    ("aws.eks_authenticator", "aws.eks_authenticator"),
    ("aws.waf", "aws.waf.rule_group_list.customerConfig"),
])
def test_free_form_objects_keep_unknown_keys_in_source_unmapped(dataset: str, name: str) -> None:
    assert field(templates.assets()["datasets"][dataset], name)["dynamic"] is False


def test_every_flattened_field_ignores_long_leaves_and_takes_what_parsers_nest() -> None:
    from parsers import flattened

    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "flattened":
                found.append(node)
            for child in node.values():
                walk(child)

    walk(templates.assets())
    assert len(found) >= 15
    for mapping in found:
        # 8191 characters are at most 24 573 UTF-8 bytes: with the key, under Lucene's 32 766-byte term limit.
        assert mapping["ignore_above"] * 3 < flattened.TERM_LIMIT - 1024
        assert mapping["depth_limit"] == flattened.DEPTH_LIMIT


def test_keyword_request_parameters_keep_their_text_multi_field() -> None:
    mapping = field(templates.assets()["datasets"]["aws.cloudtrail"], "aws.cloudtrail.request_parameters")
    assert mapping["type"] == "keyword" and mapping["ignore_above"] == 1024
    assert mapping["fields"]["text"]["type"] == "match_only_text"


def test_generated_asset_matches_the_field_definitions() -> None:
    reference = ROOT.parent / "shared" / "reference"
    if not reference.is_dir():
        pytest.skip("../shared/reference is not here")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_search_mappings.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_index_template_composes_ecs_settings_and_dataset_components_as_a_data_stream() -> None:
    body = templates.index_template(settings(), "aws.cloudtrail")
    assert body["index_patterns"] == ["logs-aws.cloudtrail-*"] and body["data_stream"] == {}
    assert body["composed_of"] == ["secstash-ecs@mappings", "secstash-logs@settings",
                                   "secstash-aws.cloudtrail@mappings", "logs@custom", "logs-aws.cloudtrail@custom"]
    assert body["priority"] == 250


@pytest.mark.parametrize("data_streams", [True, False])
def test_the_users_custom_components_come_last_and_may_be_missing(data_streams: bool) -> None:
    body = templates.index_template(settings(data_streams=data_streams), "aws.vpcflow")
    assert body["composed_of"][-2:] == ["logs@custom", "logs-aws.vpcflow@custom"]
    assert body["ignore_missing_component_templates"] == ["logs@custom", "logs-aws.vpcflow@custom"]


def test_plain_index_templates_sit_one_priority_above_the_data_stream_templates() -> None:
    # A logs- pattern overlaps the data-stream template of the same dataset; equal priorities are refused.
    plain = templates.index_template(settings(data_streams=False, index_pattern="logs-{dataset}-{namespace}-{date}",
                                              template_priority=300), "aws.cloudtrail")
    streams = templates.index_template(settings(template_priority=300), "aws.cloudtrail")
    assert (plain["priority"], streams["priority"]) == (301, 300)


def test_each_mode_has_its_own_settings_component() -> None:
    assert templates.names(settings(), "aws.waf")["settings"] == "secstash-logs@settings"
    assert templates.names(settings(data_streams=False), "aws.waf")["settings"] == "secstash-index@settings"
    assert templates.index_template(settings(data_streams=False), "aws.waf")["composed_of"][1] == \
        "secstash-index@settings"


def test_plain_indices_without_namespace_map_the_namespace_as_a_keyword() -> None:
    # A valueless constant_keyword takes the first document's namespace: the next namespace would be refused.
    body = templates.index_template(settings(data_streams=False, index_pattern="sec-{dataset}-{date}"), "aws.waf")
    namespace = body["template"]["mappings"]["properties"]["data_stream"]["properties"]["namespace"]
    assert namespace == {"type": "keyword", "ignore_above": 1024}
    for kept in (settings(), settings(data_streams=False, index_pattern="sec-{dataset}-{namespace}")):
        assert "template" not in templates.index_template(kept, "aws.waf")  # one namespace per index: a constant


def test_kubernetes_objects_are_not_dynamic_and_carry_only_elastics_fields() -> None:
    # IntOrString/Quantity values (targetPort 8080 then "http") must never meet a type fixed by a first document,
    # and ConfigMap keys or CRD specs must not use up the field limit.
    own = templates.assets()["datasets"]["kubernetes.audit_logs"]
    request = field(own, "kubernetes.audit.requestObject")
    response = field(own, "kubernetes.audit.responseObject")
    assert request["type"] == response["type"] == "object"
    assert request["dynamic"] is False and response["dynamic"] is False
    assert "ports" not in request["properties"]["spec"]["properties"]
    assert field(own, "kubernetes.audit.requestObject.spec.containers.securityContext.privileged")["type"] == "boolean"
    assert field(own, "kubernetes.audit.requestObject.spec.containers.image")["type"] == "text"
    assert field(own, "kubernetes.audit.requestObject.spec.volumes.hostPath.path")["type"] == "text"
    assert field(own, "kubernetes.audit.requestObject.spec.containers.volumeMounts.mountPath")["type"] == "text"
    assert field(own, "kubernetes.audit.responseObject.spec.hostNetwork")["type"] == "boolean"
    assert field(own, "kubernetes.audit.responseObject.spec.containers.securityContext.allowPrivilegeEscalation")[
        "type"] == "boolean"
    assert field(own, "kubernetes.audit.responseObject.roleRef.kind")["type"] == "keyword"

    def leaves(node: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for name, child in node.get("properties", {}).items():
            out |= leaves(child, f"{prefix}{name}.") if "properties" in child else {prefix + name}
        return out

    assert (len(leaves(request)), len(leaves(response))) == (9, 10)  # nothing beyond what Elastic lists


def test_plain_index_templates_have_no_data_stream_and_follow_the_pattern() -> None:
    body = templates.index_template(settings(data_streams=False, index_pattern="sec-{dataset}-{namespace}-{date}"),
                                    "aws.vpcflow")
    assert "data_stream" not in body and body["index_patterns"] == ["sec-aws.vpcflow-*-*"]
    # Named apart from the data-stream template, which a cluster with data streams refuses to overwrite.
    assert templates.names(settings(data_streams=False), "aws.vpcflow")["index"] == "secstash-index-aws.vpcflow"


def test_dataset_component_fixes_the_data_stream_constants() -> None:
    props = templates.dataset_component(settings(), "aws.vpcflow")["template"]["mappings"]["properties"]
    assert props["data_stream"]["properties"]["dataset"] == {"type": "constant_keyword", "value": "aws.vpcflow"}
    assert props["data_stream"]["properties"]["namespace"] == {"type": "constant_keyword"}


def test_ignore_malformed_is_on_by_default_as_in_elastics_logs_settings() -> None:
    index = templates.settings_component(settings(), None)["template"]["settings"]["index"]
    assert index["mapping"]["ignore_malformed"] is True
    off = templates.settings_component(settings(ignore_malformed=False), None)["template"]["settings"]["index"]
    assert off["mapping"]["ignore_malformed"] is False


def test_settings_component_carries_limits_malformed_policy_and_lifecycle() -> None:
    body = templates.settings_component(settings(ignore_malformed=True), {"index.lifecycle.name": "p"})
    index = body["template"]["settings"]["index"]
    assert index["mapping"]["total_fields"]["limit"] == 10_000 and index["mapping"]["ignore_malformed"] is True
    assert body["template"]["settings"]["index.lifecycle.name"] == "p"


def test_datasets_include_registered_ones_without_generated_mappings() -> None:
    assert {"aws.cloudtrail", "aws.eks_authenticator"} <= set(templates.datasets(["aws.eks_authenticator"]))


def test_refused_types_are_replaced_by_the_nearest_the_cluster_has() -> None:
    body = {"template": {"mappings": {"properties": {
        "a": {"type": "constant_keyword", "value": "x"},
        "b": {"type": "match_only_text"},
        "c": {"type": "wildcard", "fields": {"text": {"type": "match_only_text"}}},
        "d": {"type": "flattened", "ignore_above": 8191, "depth_limit": 200},
        "type": {"type": "keyword"},  # a field named "type" is not a type
    }}}}
    props = templates.substitute(body, {"constant_keyword", "match_only_text", "wildcard", "flattened",
                                        "flat_object"})["template"]["mappings"]["properties"]
    assert props["a"] == {"type": "keyword"}
    assert props["b"] == {"type": "text"}
    assert props["c"] == {"type": "keyword", "ignore_above": 8191, "fields": {"text": {"type": "text"}}}
    assert props["d"] == {"type": "object", "enabled": False}
    assert props["type"] == {"type": "keyword"}
    assert body["template"]["mappings"]["properties"]["a"]["type"] == "constant_keyword"  # a copy


def test_flat_object_takes_none_of_the_flattened_parameters() -> None:
    body = {"p": {"properties": {"d": {"type": "flattened", "ignore_above": 8191, "depth_limit": 200}}}}
    assert templates.substitute(body, {"flattened"})["p"]["properties"]["d"] == {"type": "flat_object"}
    assert templates.substitute(body, set())["p"]["properties"]["d"] == body["p"]["properties"]["d"]


def test_constants_without_a_value_become_keywords_where_the_cluster_needs_a_value() -> None:
    body = {"p": {"properties": {"ns": {"type": "constant_keyword"}, "ds": {"type": "constant_keyword",
                                                                          "value": "aws.x"}}}}
    out = templates.substitute(body, set(), valueless_constants=True)["p"]["properties"]
    assert out == {"ns": {"type": "keyword"}, "ds": {"type": "constant_keyword", "value": "aws.x"}}


@pytest.mark.parametrize(("text", "expected"), [
    ("The mapper type [match_only_text] declared on field [text] does not exist.", "match_only_text"),
    ("Failed to parse mapping [_doc]: No handler for type [flattened] declared on field [x]", "flattened"),
    ("something else", None),
])
def test_refused_type_is_read_from_either_engines_error(text: str, expected: str | None) -> None:
    assert templates.refused_type(text) == expected


def test_refused_setting_is_read_and_dropped_in_dotted_or_nested_form() -> None:
    assert templates.refused_setting("unknown setting [index.lifecycle.name] please check") == "index.lifecycle.name"
    body = {"template": {"settings": {"index.lifecycle.name": "p", "index": {"codec": "x", "lifecycle": {"name": "p"}}}}}
    out = templates.drop_setting(body, "index.lifecycle.name")
    assert out["template"]["settings"] == {"index": {"codec": "x", "lifecycle": {}}}
