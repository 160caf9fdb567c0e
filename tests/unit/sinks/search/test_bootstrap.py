"""Installing templates and the lifecycle policy: what the cluster cannot do is skipped with a warning."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from sinks.errors import SinkConfigError
from sinks.search.bootstrap import Installer
from sinks.search.client import Reply, ServerInfo
from sinks.search.config import SearchSettings

ES = ServerInfo("elasticsearch", "8.19.21", 8)
OS = ServerInfo("opensearch", "2.19.6", 2)
DATASETS = ["aws.cloudtrail", "aws.vpcflow"]


class Scripted:
    """Answers with `rule(method, path, body)` (None: 200 acknowledged) and records what was sent."""

    def __init__(self, rule: Callable[[str, str, Any], Reply | None] = lambda *_: None) -> None:
        self.rule = rule
        self.sent: list[tuple[str, str, Any, Any]] = []

    def request(self, method: str, path: str, *, params: Any = None, body: Any = None, **_: Any) -> Reply:
        self.sent.append((method, path, params, body))
        return self.rule(method, path, body) or Reply(200, {"acknowledged": True})

    def bodies(self, path: str) -> list[Any]:
        return [b for m, p, _, b in self.sent if p == path and m == "PUT"]


def settings(**overrides: Any) -> SearchSettings:
    return SearchSettings(hosts=["http://search:9200"], **overrides)


def refuse_type(kind: str) -> Callable[[str, str, Any], Reply | None]:
    def rule(method: str, path: str, body: Any) -> Reply | None:
        if method == "PUT" and f'"{kind}"' in json.dumps(body):
            return Reply(400, {"error": {"type": "mapper_parsing_exception",
                                         "reason": f"The mapper type [{kind}] declared on field [x] does not exist."}})
        return None
    return rule


def test_elasticsearch_gets_an_ilm_policy_named_by_the_settings_template() -> None:
    client = Scripted()
    report = Installer(client, settings(), ES).install(DATASETS)
    assert report.policy == "ilm:secstash-logs" and len(client.bodies("/_ilm/policy/secstash-logs")) == 1
    [component] = client.bodies("/_component_template/secstash-logs@settings")
    assert component["template"]["settings"]["index.lifecycle.name"] == "secstash-logs"
    assert report.index_templates == ["secstash-logs-aws.cloudtrail", "secstash-logs-aws.vpcflow"]
    assert len(report.component_templates) == 4


def test_missing_ilm_is_skipped_with_a_warning_and_no_policy_is_named() -> None:
    client = Scripted(lambda m, p, b: Reply(400, {"error": f"no handler found for uri [{p}] and method [{m}]"})
                      if p.startswith("/_ilm") else None)
    with capture_logs() as logs:
        report = Installer(client, settings(), ES).install(DATASETS)
    assert report.policy is None and report.skipped == ["ilm"]
    [component] = client.bodies("/_component_template/secstash-logs@settings")
    assert "index.lifecycle.name" not in component["template"]["settings"]
    assert any(e["event"].startswith("search setup step skipped") and e["feature"] == "ilm" for e in logs)


def test_a_refused_mapping_type_is_replaced_everywhere_after_one_refusal() -> None:
    client = Scripted(refuse_type("match_only_text"))
    report = Installer(client, settings(), ES).install(DATASETS)
    assert report.refused_types == {"match_only_text"}
    refused = [b for m, _, _, b in client.sent if m == "PUT" and '"match_only_text"' in json.dumps(b)]
    assert len(refused) == 1  # the first try; every later body was adapted before sending
    [ecs] = client.bodies("/_component_template/secstash-ecs@mappings")[-1:]
    assert ecs["template"]["mappings"]["properties"]["message"] == {"type": "text"}


def test_an_unknown_index_setting_is_dropped() -> None:
    def rule(method: str, path: str, body: Any) -> Reply | None:
        if "codec" in json.dumps(body):
            return Reply(400, {"error": {"type": "illegal_argument_exception",
                                         "reason": "unknown setting [index.codec] please check"}})
        return None

    client = Scripted(rule)
    report = Installer(client, settings(), ES).install(DATASETS)
    assert report.dropped_settings == {"index.codec"}
    assert "codec" not in json.dumps(client.bodies("/_component_template/secstash-logs@settings")[-1])


def test_a_writer_without_template_rights_skips_templates_and_goes_on() -> None:
    client = Scripted(lambda m, p, b: Reply(403, {"error": {"type": "security_exception", "reason": "unauthorized"}})
                      if m == "PUT" else None)
    report = Installer(client, settings(), ES).install(DATASETS)
    assert "templates" in report.skipped and report.index_templates == []


def test_any_other_refusal_of_our_templates_is_a_configuration_error() -> None:
    client = Scripted(lambda m, p, b: Reply(400, {"error": {"type": "illegal_argument_exception",
                                                            "reason": "composable template conflicts"}})
                      if p.startswith("/_index_template") else None)
    with pytest.raises(SinkConfigError, match="composable template conflicts"):
        Installer(client, settings(), ES).install(DATASETS)


def test_opensearch_updates_an_existing_ism_policy_by_sequence_number_and_knows_flattened_is_missing() -> None:
    def rule(method: str, path: str, body: Any) -> Reply | None:
        if method == "GET" and path.startswith("/_plugins/_ism"):
            return Reply(200, {"_id": "secstash-logs", "_seq_no": 7, "_primary_term": 2, "policy": {}})
        if method == "PUT" and '"type": "flattened"' in json.dumps(body):
            raise AssertionError("flattened sent to OpenSearch")
        return None

    client = Scripted(rule)
    report = Installer(client, settings(kind="opensearch"), OS).install(DATASETS)
    put = next(s for s in client.sent if s[0] == "PUT" and s[1] == "/_plugins/_ism/policies/secstash-logs")
    assert put[2] == {"if_seq_no": 7, "if_primary_term": 2} and report.policy == "ism:secstash-logs"
    assert put[3]["policy"]["ism_template"][0]["index_patterns"] == ["logs-aws.cloudtrail-*", "logs-aws.vpcflow-*"]


def test_opensearch_without_ism_is_skipped() -> None:
    client = Scripted(lambda m, p, b: Reply(400, {"error": "no handler found for uri"}) if "_ism" in p else None)
    report = Installer(client, settings(kind="opensearch"), OS).install(DATASETS)
    assert report.skipped == ["ism"] and report.index_templates
