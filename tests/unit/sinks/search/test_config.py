"""SearchSettings: strict, documented, validated before any I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from sinks.search.config import SearchSettings

HOSTS = {"hosts": ["https://search.internal:9200"]}


def make(**overrides: Any) -> SearchSettings:
    return SearchSettings(**{**HOSTS, **overrides})


def test_defaults_verify_tls_bypass_pipelines_and_write_data_streams() -> None:
    s = make()
    assert s.verify_certs and s.pipeline == "_none" and s.data_streams and s.compress
    assert s.spill_after_s == 900 and s.install_templates


def test_every_field_is_documented() -> None:
    undocumented = [n for n, f in SearchSettings.model_fields.items() if not f.description]
    assert undocumented == []


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        make(bulk_size=3)


@pytest.mark.parametrize("overrides", [
    {"username": "u"},
    {"username": "u", "password": "p", "api_key": "k"},
    {"bearer_token": "t", "api_key": "k"},
    {"aws_sigv4": True},  # kind elasticsearch
    {"kind": "opensearch", "api_key": "k"},
    {"kind": "opensearch", "server_major": 8},
    {"hosts": ["search:9200"]},
    {"hosts": ["https://search:9200/prefix"]},
    {"index_pattern": "logs-{namespace}"},
    {"index_pattern": "logs-{dataset}-{shard}"},
    {"index_pattern": "Logs-{dataset}"},
    {"max_in_flight_bytes": 2 * 1024 * 1024, "bulk_max_bytes": 5 * 1024 * 1024},
    {"retry_initial_backoff_s": 10, "retry_max_backoff_s": 1},
    {"rollover_max_age": "one day"},
])
def test_inconsistent_settings_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make(**overrides)


def test_secrets_never_print() -> None:
    s = make(username="u", password="hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())


def test_a_host_carrying_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValidationError) as error:
        make(hosts=["https://search:9200", "https://elastic:hunter2@search:9200"])
    message = error.value.errors()[0]["msg"]  # what `secstash` prints (pydantic's own text adds the input)
    assert "host [1] carries credentials" in message and "hunter2" not in message


def test_credentials_for_plain_http_hosts_are_named_and_sigv4_or_no_credentials_are_not() -> None:
    hosts = ["http://a:9200", "https://b:9200", "http://c:9200"]
    assert make(hosts=hosts, username="u", password="p").credentials_in_clear() == [hosts[0], hosts[2]]
    assert make(hosts=hosts, bearer_token="t").credentials_in_clear() == [hosts[0], hosts[2]]
    assert make(hosts=hosts).credentials_in_clear() == []
    assert make(hosts=hosts, kind="opensearch", aws_sigv4=True).credentials_in_clear() == []
    assert make(hosts=["https://b:9200"], api_key="k").credentials_in_clear() == []


def test_target_names_data_streams_and_dated_plain_indices() -> None:
    assert make().target("aws.cloudtrail", "prod") == "logs-aws.cloudtrail-prod"
    plain = make(data_streams=False, index_pattern="sec-{dataset}-{namespace}-{date}")
    assert plain.target("aws.vpcflow", "default", datetime(2024, 3, 5, 23, 59, tzinfo=UTC)) == \
        "sec-aws.vpcflow-default-2024.03.05"
    assert plain.index_patterns("aws.vpcflow") == ["sec-aws.vpcflow-*-*"]


def test_plain_indices_outside_logs_are_flagged_for_a_warning() -> None:
    from sinks.search.config import SearchSettings as S

    hosts = ["http://search:9200"]
    assert S(hosts=hosts, data_streams=False).outside_logs_view()
    assert not S(hosts=hosts, data_streams=False, index_pattern="logs-{dataset}-{namespace}-{date}").outside_logs_view()
    assert not S(hosts=hosts).outside_logs_view()
