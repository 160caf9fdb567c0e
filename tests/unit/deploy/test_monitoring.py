"""Prometheus alert rules and the Grafana dashboard, checked in Python (no Prometheus build): every alert
expression and dashboard query parses as PromQL (PyPI promql-parser, a Rust port of Prometheus' parser);
the rules file has Prometheus' structure; every secstash_* series and label used is one the code exports;
annotation templates use only labels the expression keeps; the alerts behave as the cases of
deploy/prometheus/tests/secstash-alerts.test.yml say (promtool's format, run here by tests/unit/deploy/
promeval.py); and together they cover what the issue asks to watch."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from tests.unit.deploy import promeval

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "secstash-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "secstash-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "secstash-dashboard.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}
# Series Prometheus itself records for every target (labels: the target labels only).
PROMETHEUS_SERIES = {"up": set[str]()}
_DEFINITION = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary)\(\s*\"(secstash_\w+)\"")
# Prometheus' model.Duration (the `for:` of a rule): units in this order, each at most once.
_RULE_DURATION = re.compile(r"^(?:0|(?=\d)(?:\d+y)?(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?(?:\d+ms)?)$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
GROUP_KEYS = {"name", "interval", "limit", "query_offset", "labels", "rules"}
ALERT_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}


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


def rule_groups() -> list[dict[str, Any]]:
    return yaml.safe_load(RULES.read_text())["groups"]


def alert_rules() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rule_groups() for rule in group["rules"]}


def rule_exprs() -> dict[str, str]:
    return {name: rule["expr"] for name, rule in alert_rules().items()}


def dashboard_exprs() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {f"{p['title']} [{t['refId']}]": t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])}


def as_plain_promql(expr: str) -> str:
    """Grafana's variables replaced by values Prometheus would get."""
    return expr.replace("$__rate_interval", "5m").replace("$stream", ".*")


def parse(where: str, expr: str) -> Any:
    try:
        return promql_parser.parse(expr)
    except ValueError as error:
        pytest.fail(f"{where}: not valid PromQL ({error}): {expr}")


def nodes(ast: Any) -> list[Any]:
    found: list[Any] = []
    promql_parser.walk(ast, lambda node: found.append(node))
    return found


def check_uses_exported_series(exprs: dict[str, str], exported: dict[str, set[str]]) -> list[str]:
    """Every selector names a secstash series the code exports; every label in a matcher, by/without or
    on/ignoring is one of those series' labels (or a target label)."""
    problems = []
    for where, expr in exprs.items():
        tree = nodes(parse(where, as_plain_promql(expr)))
        selectors = [n for n in tree if isinstance(n, promql_parser.VectorSelector)]
        names = {s.name for s in selectors}
        assert names, f"{where} uses no series"
        known = {**exported, **PROMETHEUS_SERIES}
        for name in sorted(names - known.keys(), key=str):
            problems.append(f"{where}: {name} is not exported by secstash")
        allowed = set().union(*(known.get(n, set()) for n in names if n)) | TARGET_LABELS
        used = {m.name for s in selectors for m in s.matchers.matchers} - {"__name__"}
        for node in tree:
            if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
                used |= set(node.modifier.labels)
            if isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
                matching = node.modifier.matching
                used |= set(matching.labels if matching else []) | set(node.modifier.group_labels or [])
        for label in sorted(used - allowed):
            problems.append(f"{where}: label {label!r} is not on {sorted(names, key=str)}")
    return problems


def output_labels(node: Any, exported: dict[str, set[str]]) -> set[str] | None:
    """The labels every sample of an expression's result carries (None: a scalar)."""
    if isinstance(node, promql_parser.VectorSelector):
        return exported.get(node.name or "", set()) | TARGET_LABELS
    if isinstance(node, promql_parser.MatrixSelector):
        return output_labels(node.vector_selector, exported)
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return output_labels(node.expr, exported)
    if isinstance(node, promql_parser.NumberLiteral | promql_parser.StringLiteral):
        return None
    if isinstance(node, promql_parser.AggregateExpr):
        inner = output_labels(node.expr, exported) or set()
        if node.modifier is None:
            return set()
        if str(node.modifier.type).endswith("By"):
            return set(node.modifier.labels)
        return inner - set(node.modifier.labels)
    if isinstance(node, promql_parser.Call) and node.func.name == "absent":
        # One sample labelled with the argument's equality matchers (a selector's only).
        (arg,) = node.args
        if not isinstance(arg, promql_parser.VectorSelector):
            return set()
        return {m.name for m in arg.matchers.matchers
                if m.name != "__name__" and str(m.op).rsplit(".", 1)[-1] == "Equal"}
    if isinstance(node, promql_parser.Call):
        vectors = [labels for arg in node.args if (labels := output_labels(arg, exported)) is not None]
        if not vectors:
            return None
        return vectors[0] - {"le"} if node.func.name == "histogram_quantile" else vectors[0]
    if isinstance(node, promql_parser.BinaryExpr):
        lhs, rhs = output_labels(node.lhs, exported), output_labels(node.rhs, exported)
        if lhs is None or rhs is None:
            return lhs if rhs is None else rhs
        if str(node.op) == "or":
            return lhs & rhs
        matching = node.modifier.matching if node.modifier is not None else None
        if matching is not None and str(node.op) not in ("and", "unless") and not node.modifier.group_labels:
            on = str(matching.type).endswith("Include")
            return lhs & set(matching.labels) if on else lhs - set(matching.labels)
        return lhs | set(node.modifier.group_labels or []) if node.modifier is not None else lhs
    raise AssertionError(f"unexpected PromQL node {type(node).__name__}")


# ---------------------------------------------------------------- alert rules


def test_alert_rules_file_has_prometheus_rule_structure() -> None:
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}
    groups = document["groups"]
    assert isinstance(groups, list) and groups
    group_names = [group.get("name") for group in groups]
    assert all(isinstance(name, str) and name for name in group_names), group_names
    assert len(group_names) == len(set(group_names)), "group names must be unique"
    alerts: list[str] = []
    for group in groups:
        assert set(group) <= GROUP_KEYS, f"{group['name']}: unknown keys {set(group) - GROUP_KEYS}"
        assert isinstance(group["rules"], list) and group["rules"], group["name"]
        for rule in group["rules"]:
            where = f"{group['name']}/{rule.get('alert')}"
            assert isinstance(rule, dict) and set(rule) <= ALERT_KEYS, f"{where}: keys {sorted(rule)}"
            assert _LABEL_NAME.match(str(rule.get("alert", ""))), f"{where}: bad or missing alert name"
            assert isinstance(rule.get("expr"), str) and rule["expr"].strip(), f"{where}: no expr"
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    assert isinstance(rule[key], str) and _RULE_DURATION.match(rule[key]), f"{where}: {key}"
            for key in ("labels", "annotations"):
                mapping = rule.get(key, {})
                assert isinstance(mapping, dict), f"{where}: {key} must be a mapping"
                for name, value in mapping.items():
                    assert _LABEL_NAME.match(name) and not name.startswith("__"), f"{where}: {key} {name!r}"
                    assert isinstance(value, str), f"{where}: {key}.{name} must be a string"
            alerts.append(rule["alert"])
    assert len(alerts) == len(set(alerts)), "alert names must be unique"


def test_every_alert_expression_is_valid_promql() -> None:
    for name, expr in rule_exprs().items():
        tree = parse(name, expr)
        assert any(isinstance(n, promql_parser.VectorSelector) for n in nodes(tree)), name


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for name, rule in alert_rules().items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name


def test_alert_templates_use_only_labels_their_expression_keeps(exported: dict[str, set[str]]) -> None:
    problems = []
    for name, rule in alert_rules().items():
        kept = output_labels(parse(name, rule["expr"]), exported)
        assert kept is not None, f"{name}: the expression is a scalar"
        for key in ("labels", "annotations"):
            for field, text in rule.get(key, {}).items():
                try:
                    actions = promeval.template_names(text)
                except (promeval.Unsupported, ValueError) as error:
                    problems.append(f"{name} {key}.{field}: {error}")
                    continue
                for subject, _ in actions:
                    label = subject.removeprefix("$labels.")
                    if subject.startswith("$labels.") and label not in kept:
                        problems.append(f"{name} {key}.{field}: $labels.{label} is not in {sorted(kept)}")
    assert not problems, "\n".join(problems)


def test_alerts_cover_lag_dead_letters_spill_restarts_and_rejections() -> None:
    exprs = rule_exprs()

    def alerting_on(*series: str) -> list[str]:
        return [n for n, e in exprs.items() if all(s in e for s in series)]

    assert alerting_on("secstash_checkpoint_lag_milliseconds", "secstash_stream_retention_hours")
    assert alerting_on("secstash_search_dead_lettered_documents_total")
    assert alerting_on("secstash_parse_failures_total")
    assert alerting_on("secstash_search_spill")
    assert alerting_on("secstash_kcl_daemon_restarts_total")
    assert alerting_on("secstash_search_dead_lettered_documents_total", "secstash_search_indexed_documents_total")


def test_an_alert_fires_when_secstash_is_entirely_down() -> None:
    # Every other rule needs secstash_* series: with all instances gone they vanish and nothing fires.
    rules = alert_rules()
    absence = [name for name, rule in rules.items()
               if any(isinstance(n, promql_parser.Call) and n.func.name == "absent"
                      for n in nodes(parse(name, rule["expr"])))]
    assert [rules[name]["labels"]["severity"] for name in absence] == ["critical"], absence
    scrape = [name for name, rule in rules.items()
              if any(isinstance(n, promql_parser.VectorSelector) and n.name == "up"
                     for n in nodes(parse(name, rule["expr"])))]
    assert scrape, "no alert on secstash targets Prometheus cannot scrape"
    # And they do fire on an empty/stale store, where every other rule is silent.
    storage = promeval.Storage.from_promtool(
        [{"series": 'up{job="secstash", instance="a"}', "values": "0x30"}], 60)
    firing = {name for name, rule in rules.items() if promeval.firing_alerts(rule, storage, 30 * 60, 60)}
    assert firing == set(absence) | set(scrape)


def test_alert_rules_use_only_series_and_labels_secstash_exports(exported: dict[str, set[str]]) -> None:
    problems = check_uses_exported_series(rule_exprs(), exported)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- alert behaviour (promtool's test format)


def rule_test_cases() -> list[dict[str, Any]]:
    return yaml.safe_load(RULE_TESTS.read_text())["tests"]


def test_rule_tests_file_points_at_the_rules() -> None:
    document = yaml.safe_load(RULE_TESTS.read_text())
    assert [(RULE_TESTS.parent / f).resolve() for f in document["rule_files"]] == [RULES.resolve()]
    assert set(document) <= {"rule_files", "evaluation_interval", "tests"}


def test_every_alert_has_a_unit_test_where_it_fires() -> None:
    fired = {check["alertname"] for case in rule_test_cases() for check in case["alert_rule_test"]
             if check.get("exp_alerts")}
    assert set(alert_rules()) - fired == set(), "alerts without a firing unit test"


@pytest.mark.parametrize("index", range(len(rule_test_cases())), ids=lambda i: f"case{i}")
def test_alert_rules_pass_their_unit_tests(index: int) -> None:
    document = yaml.safe_load(RULE_TESTS.read_text())
    case = document["tests"][index]
    interval = promeval.seconds(case.get("interval", "1m"))
    evaluation = promeval.seconds(document.get("evaluation_interval", "1m"))
    storage = promeval.Storage.from_promtool(case["input_series"], interval)
    rules = alert_rules()
    for check in case["alert_rule_test"]:
        got = promeval.firing_alerts(rules[check["alertname"]], storage, promeval.seconds(check["eval_time"]),
                                     evaluation)
        # As promtool: the labels (alertname aside) and all the annotations, rendered, must be as expected.
        got_alerts = sorted((sorted((k, v) for k, v in alert.labels.items() if k != "alertname"),
                             sorted(alert.annotations.items())) for alert in got)
        want_alerts = sorted((sorted((k, str(v)) for k, v in want.get("exp_labels", {}).items()),
                              sorted((k, str(v)) for k, v in want.get("exp_annotations", {}).items()))
                             for want in check.get("exp_alerts") or [])
        assert got_alerts == want_alerts, f"{check['alertname']} at {check['eval_time']}"


def test_promeval_extrapolates_increase_like_prometheus() -> None:
    # 0,1,2,...,10 every minute, increase over 5m at t=10m: samples 6..10 (left-open window), 4 per 4
    # minutes, extrapolated to the 5 minute window = 5.
    storage = promeval.Storage.from_promtool([{"series": "c_total", "values": "0+1x10"}], 60)
    (sample,) = promeval.evaluate(promql_parser.parse("increase(c_total[5m])"), storage, 600)
    assert sample.value == pytest.approx(5.0)
    (sample,) = promeval.evaluate(promql_parser.parse("rate(c_total[5m])"), storage, 600)
    assert sample.value == pytest.approx(1 / 60)
    # A counter reset (10 -> 2) counts the 10 before it.
    storage = promeval.Storage.from_promtool([{"series": "c_total", "values": "8 9 10 2 3"}], 60)
    (sample,) = promeval.evaluate(promql_parser.parse("increase(c_total[5m])"), storage, 240)
    assert sample.value == pytest.approx((10 - 8 + 3) * 300 / 240)


def test_promeval_absent_is_one_sample_labelled_by_the_equality_matchers_or_nothing() -> None:
    storage = promeval.Storage.from_promtool([{"series": 'g{job="x"}', "values": "1x5"}], 60)

    def absent(expr: str, at: float) -> list[promeval.Sample]:
        result = promeval.evaluate(promql_parser.parse(expr), storage, at)
        assert isinstance(result, list)
        return result

    assert absent("absent(g)", 300) == []
    assert absent('absent(g{job="x"})', 300) == []
    # The last sample is at 5m: it is visible for the 5 minute lookback, then the series is absent.
    assert absent("absent(g)", 599) == []
    assert absent("absent(g)", 600) == [promeval.Sample(frozenset(), 1.0)]
    assert absent('absent(g{job="y", env=~"p.*"})', 300) == [promeval.Sample(frozenset({("job", "y")}), 1.0)]
    assert absent('absent(nothing{a="1", a="2", b="3"})', 0) == [promeval.Sample(frozenset({("b", "3")}), 1.0)]
    assert absent("absent(sum(nothing))", 0) == [promeval.Sample(frozenset(), 1.0)]


def test_promeval_humanizes_like_prometheus() -> None:
    assert promeval.humanize_duration(46800) == "13h 0m 0s"
    assert promeval.humanize_duration(90061) == "1d 1h 1m 1s"
    assert promeval.humanize_duration(42) == "42s"
    assert promeval.humanize(5) == "5"
    assert promeval.humanize(1234567) == "1.235M"
    assert promeval.humanize(0.005) == "5m"


# ---------------------------------------------------------------- dashboard


def test_every_dashboard_query_is_valid_promql() -> None:
    for where, expr in dashboard_exprs().items():
        plain = as_plain_promql(expr)
        assert "$" not in plain, f"{where}: unknown Grafana variable in {expr}"
        parse(where, plain)


def test_dashboard_queries_use_only_series_and_labels_secstash_exports(exported: dict[str, set[str]]) -> None:
    problems = check_uses_exported_series(dashboard_exprs(), exported)
    assert not problems, "\n".join(problems)


def test_dashboard_is_well_formed_and_uses_the_provisioned_datasource(exported: dict[str, set[str]]) -> None:
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
    match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variables["stream"]["definition"])
    assert match, variables["stream"]["definition"]
    series, label = match.groups()
    assert label == "stream" and label in exported.get(series, set()), variables["stream"]["definition"]


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
