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


def test_opensearch_maps_wildcard_fields_as_aggregatable_keywords() -> None:
    # OpenSearch's wildcard has no doc values by default (terms aggregations on url.* fail), and 2.19 answers
    # terms aggregations on one with doc_values: true with empty buckets.
    client = Scripted()
    report = Installer(client, settings(kind="opensearch"), OS).install(DATASETS)
    [ecs] = client.bodies("/_component_template/secstash-ecs@mappings")
    url = ecs["template"]["mappings"]["properties"]["url"]["properties"]
    assert url["original"]["type"] == url["full"]["type"] == url["path"]["type"] == "keyword"
    assert url["original"]["fields"]["text"]["type"] == "match_only_text"
    assert '"wildcard"' not in json.dumps(client.sent) and "wildcard" in report.refused_types
    [ecs_es] = (c := Scripted(), Installer(c, settings(), ES).install(DATASETS))[0].bodies(
        "/_component_template/secstash-ecs@mappings")
    assert ecs_es["template"]["mappings"]["properties"]["url"]["properties"]["original"]["type"] == "wildcard"


def test_elasticsearch_composes_the_custom_components_even_before_they_exist() -> None:
    client = Scripted()
    Installer(client, settings(), ES).install(DATASETS)
    [body] = client.bodies("/_index_template/secstash-logs-aws.cloudtrail")
    assert body["composed_of"][-2:] == ["logs@custom", "logs-aws.cloudtrail@custom"]
    assert body["ignore_missing_component_templates"] == ["logs@custom", "logs-aws.cloudtrail@custom"]
    assert not [p for m, p, _, _ in client.sent if m == "GET" and "@custom" in p]


def only_existing(existing: set[str], refuse_key: bool) -> Callable[[str, str, Any], Reply | None]:
    """A cluster where only `existing` custom components exist; `refuse_key`: it does not know
    ignore_missing_component_templates (OpenSearch, Elasticsearch before 8.7)."""
    def rule(method: str, path: str, body: Any) -> Reply | None:
        name = path.rsplit("/", 1)[-1]
        if method == "GET" and path.startswith("/_component_template/"):
            return None if name in existing else Reply(404, {"error": "missing"})
        if method == "PUT" and path.startswith("/_index_template/"):
            if refuse_key and "ignore_missing_component_templates" in body:
                return Reply(400, {"error": {"type": "x_content_parse_exception", "reason":
                                            "[1:69] [index_template] unknown field [ignore_missing_component_templates]"}})
            if missing := [c for c in body["composed_of"] if c.endswith("@custom") and c not in existing]:
                return Reply(400, {"error": {"type": "invalid_index_template_exception",
                                             "reason": f"specifies a missing component templates {missing}"}})
        return None
    return rule


@pytest.mark.parametrize(("server", "kind"), [(OS, "opensearch"), (ServerInfo("elasticsearch", "8.6.2", 8),
                                                                  "elasticsearch")])
def test_without_ignore_missing_only_the_custom_components_that_exist_are_composed(server: ServerInfo,
                                                                                    kind: str) -> None:
    client = Scripted(only_existing({"logs-aws.vpcflow@custom"}, refuse_key=True))
    report = Installer(client, settings(kind=kind), server).install(DATASETS)
    assert report.index_templates == ["secstash-logs-aws.cloudtrail", "secstash-logs-aws.vpcflow"]
    trail = client.bodies("/_index_template/secstash-logs-aws.cloudtrail")[-1]
    flow = client.bodies("/_index_template/secstash-logs-aws.vpcflow")[-1]
    assert "ignore_missing_component_templates" not in trail and "ignore_missing_component_templates" not in flow
    assert not [c for c in trail["composed_of"] if c.endswith("@custom")]
    assert flow["composed_of"][-1] == "logs-aws.vpcflow@custom"


def test_each_mode_installs_its_own_lifecycle_policy_and_settings_component() -> None:
    streams, plain = Scripted(), Scripted()
    Installer(streams, settings(), ES).install(DATASETS)
    Installer(plain, settings(data_streams=False, index_pattern="sec-{dataset}-{namespace}-{date}"), ES).install(
        DATASETS)
    assert streams.bodies("/_ilm/policy/secstash-logs") and not streams.bodies("/_ilm/policy/secstash-index")
    assert plain.bodies("/_ilm/policy/secstash-index") and not plain.bodies("/_ilm/policy/secstash-logs")
    [component] = plain.bodies("/_component_template/secstash-index@settings")
    assert component["template"]["settings"]["index.lifecycle.name"] == "secstash-index"
    assert not plain.bodies("/_component_template/secstash-logs@settings")
    assert "rollover" not in json.dumps(plain.bodies("/_ilm/policy/secstash-index"))
    # A plain daemon without {date} has no policy, and leaves the data streams' settings component alone.
    undated = Scripted()
    Installer(undated, settings(data_streams=False), ES).install(DATASETS)
    assert not undated.bodies("/_component_template/secstash-logs@settings")


def test_opensearch_plain_index_policy_is_named_apart_and_ranks_above_the_data_stream_one() -> None:
    client = Scripted()
    Installer(client, settings(kind="opensearch", data_streams=False,
                               index_pattern="logs-{dataset}-{namespace}-{date}"), OS).install(DATASETS)
    [policy] = client.bodies("/_plugins/_ism/policies/secstash-index")
    assert policy["policy"]["ism_template"] == [{"index_patterns": ["logs-aws.cloudtrail-*-*", "logs-aws.vpcflow-*-*"],
                                                 "priority": 101}]
