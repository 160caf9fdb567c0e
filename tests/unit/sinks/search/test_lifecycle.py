"""ILM and ISM policy bodies."""

from __future__ import annotations

from typing import Any

from sinks.search import lifecycle
from sinks.search.config import SearchSettings


def settings(**overrides: Any) -> SearchSettings:
    return SearchSettings(hosts=["http://search:9200"], **overrides)


def test_ilm_rolls_over_by_age_or_shard_size_and_deletes_after_the_retention() -> None:
    policy = lifecycle.ilm_policy(settings(rollover_max_age="12h", lifecycle_delete_after_days=30))
    assert policy is not None
    phases = policy["policy"]["phases"]
    assert phases["hot"]["actions"]["rollover"] == {"max_age": "12h", "max_primary_shard_size": "50gb"}
    assert phases["delete"] == {"min_age": "30d", "actions": {"delete": {}}}


def test_ilm_without_retention_keeps_indices() -> None:
    policy = lifecycle.ilm_policy(settings(lifecycle_delete_after_days=None))
    assert policy is not None and "delete" not in policy["policy"]["phases"]


def test_ism_rolls_over_then_deletes_after_rollover_age_and_attaches_by_template() -> None:
    policy = lifecycle.ism_policy(settings(), ["logs-aws.cloudtrail-*"])
    assert policy is not None
    hot, delete = policy["policy"]["states"]
    assert hot["actions"] == [{"rollover": {"min_index_age": "1d", "min_primary_shard_size": "50gb"}}]
    assert hot["transitions"] == [{"state_name": "delete", "conditions": {"min_rollover_age": "90d"}}]
    assert delete["actions"] == [{"delete": {}}]
    assert policy["policy"]["ism_template"] == [{"index_patterns": ["logs-aws.cloudtrail-*"], "priority": 100}]


def test_plain_daily_indices_are_deleted_by_age_without_rollover() -> None:
    s = settings(data_streams=False, index_pattern="sec-{dataset}-{namespace}-{date}")
    assert lifecycle.mode(s) == "delete_only"
    ilm = lifecycle.ilm_policy(s)
    assert ilm is not None and ilm["policy"]["phases"]["hot"]["actions"] == {}
    ism = lifecycle.ism_policy(s, ["sec-*"])
    assert ism is not None
    assert ism["policy"]["states"][0]["transitions"][0]["conditions"] == {"min_index_age": "90d"}


def test_plain_index_without_date_gets_no_policy_that_would_delete_everything() -> None:
    s = settings(data_streams=False, index_pattern="sec-{dataset}-{namespace}")
    assert lifecycle.ilm_policy(s) is None and lifecycle.ism_policy(s, ["x"]) is None
    assert lifecycle.attach_settings(s, "elasticsearch") == {}


def test_only_elasticsearch_names_the_policy_in_index_settings() -> None:
    assert lifecycle.attach_settings(settings(), "elasticsearch") == {"index.lifecycle.name": "secstash-logs"}
    assert lifecycle.attach_settings(settings(kind="opensearch"), "opensearch") == {}
