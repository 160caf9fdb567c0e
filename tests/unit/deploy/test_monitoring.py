"""Prometheus alert rules and the Grafana dashboard: promtool (built from the Go module proxy) checks and
unit-tests the rules and parses every dashboard query; every secstash_* series they use is one the code
exports, with labels it has; and together they cover what the issue asks to watch."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "secstash-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "secstash-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "secstash-dashboard.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
# Labels Prometheus adds to every scraped series (and `le` of histogram buckets).
TARGET_LABELS = {"instance", "job"}
_DEFINITION = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary)\(\s*\"(secstash_\w+)\"")
_SERIES = re.compile(r"\bsecstash_[a-z0-9_]+\b")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"")


def exported_series() -> dict[str, set[str]]:
    """Series names secstash exposes (with _total/_bucket/... suffixes) -> their label names."""
    for package in ("consumer", "sinks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if _DEFINITION.search(path.read_text()):
                importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    series: dict[str, set[str]] = {}
    seen: set[int] = set()
    for collector in list(REGISTRY._names_to_collectors.values()):  # no public listing
        if id(collector) in seen or not hasattr(collector, "_labelnames"):
            continue
        seen.add(id(collector))
        name, kind, labels = collector._name, collector._type, set(collector._labelnames)
        if not name.startswith("secstash_"):
            continue
        if kind == "counter":
            series[f"{name}_total"] = labels
        elif kind == "histogram":
            series[f"{name}_bucket"] = labels | {"le"}
            series[f"{name}_sum"] = series[f"{name}_count"] = labels
        elif kind == "summary":
            series[f"{name}_sum"] = series[f"{name}_count"] = labels
            series[name] = labels | {"quantile"}
        else:
            series[name] = labels
    return series


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    found = exported_series()
    assert len(found) > 20, "found too few secstash metrics: is the scan right?"
    return found


def rule_exprs() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard_exprs() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {f"{p['title']} [{t['refId']}]": t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])}


def as_plain_promql(expr: str) -> str:
    """Grafana variables replaced by values promtool can parse."""
    return expr.replace("$__rate_interval", "5m").replace("$stream", ".*")


def check_uses_exported_series(exprs: dict[str, str], exported: dict[str, set[str]]) -> list[str]:
    problems = []
    for where, expr in exprs.items():
        names = set(_SERIES.findall(expr))
        assert names, f"{where} uses no secstash series"
        for name in names - exported.keys():
            problems.append(f"{where}: {name} is not exported by secstash")
        allowed = set().union(*(exported.get(n, set()) for n in names)) | TARGET_LABELS
        used = {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",") if label.strip()}
        used |= set(_MATCHER.findall(expr))
        for label in used - allowed:
            problems.append(f"{where}: label {label!r} is not on {sorted(names)}")
    return problems


def promtool(tools: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tools["promtool"], *args], capture_output=True, text=True, timeout=120, check=False)


def test_alert_rules_pass_promtool_check(deploy_tools: dict[str, Any]) -> None:
    done = promtool(deploy_tools, "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_pass_their_unit_tests(deploy_tools: dict[str, Any]) -> None:
    done = promtool(deploy_tools, "test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_alerts_cover_lag_dead_letters_spill_restarts_and_rejections() -> None:
    exprs = rule_exprs()
    covered = {name: expr for name, expr in exprs.items()}

    def alerting_on(*series: str) -> list[str]:
        return [n for n, e in covered.items() if all(s in e for s in series)]

    assert alerting_on("secstash_checkpoint_lag_milliseconds", "secstash_stream_retention_hours")
    assert alerting_on("secstash_search_dead_lettered_documents_total")
    assert alerting_on("secstash_parse_failures_total")
    assert alerting_on("secstash_search_spill")
    assert alerting_on("secstash_kcl_daemon_restarts_total")
    assert alerting_on("secstash_search_dead_lettered_documents_total", "secstash_search_indexed_documents_total")


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


def test_alert_rules_use_only_series_and_labels_secstash_exports(exported: dict[str, set[str]]) -> None:
    problems = check_uses_exported_series(rule_exprs(), exported)
    assert not problems, "\n".join(problems)


def test_dashboard_queries_use_only_series_and_labels_secstash_exports(exported: dict[str, set[str]]) -> None:
    problems = check_uses_exported_series(dashboard_exprs(), exported)
    assert not problems, "\n".join(problems)


def test_every_dashboard_query_is_valid_promql(deploy_tools: dict[str, Any], tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": as_plain_promql(expr)} for i, expr in enumerate(exprs.values())]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    done = promtool(deploy_tools, "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_is_well_formed_and_uses_the_provisioned_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "secstash"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    (datasource,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == datasource["type"]
    assert variables["datasource"]["current"]["value"] == datasource["uid"]
    assert "secstash_" in variables["stream"]["definition"]


def test_dashboard_shows_what_the_issue_asks_to_watch() -> None:
    text = " ".join(dashboard_exprs().values())
    for series in ("secstash_records_received_total", "secstash_records_received_bytes_total",
                   "secstash_events_received_total", "secstash_parse_failures_total",
                   "secstash_search_indexed_documents_total", "secstash_search_retried_documents_total",
                   "secstash_search_dead_lettered_documents_total", "secstash_search_spilled_documents_total",
                   "secstash_search_bulk_duration_seconds_bucket", "secstash_archive_objects_total",
                   "secstash_archive_stored_bytes_total", "secstash_archive_delivery_seconds_bucket",
                   "secstash_checkpoint_lag_milliseconds", "secstash_stream_retention_hours",
                   "secstash_inflight_bytes", "secstash_queue_depth", "secstash_kcl_daemon_restarts_total"):
        assert series in text, f"the dashboard does not show {series}"
