"""A small PromQL evaluator over promql-parser's AST, enough to unit-test secstash's alert rules without
building promtool: it runs the cases of deploy/prometheus/tests/secstash-alerts.test.yml (promtool's
`test rules` format, so the file still works with promtool) and returns the alerts firing at each
eval_time, with their labels and rendered annotations.

Supported, with Prometheus 3's semantics: instant selectors (5 m lookback) and left-open range selectors;
rate, increase and delta (Prometheus' extrapolation); absent; sum, min, max, avg and count with by/without;
arithmetic and comparison operators between scalars and vectors, one-to-one vector matching with
on/ignoring; and, or, unless; `for`. Templates: $labels.X, $value and the humanize, humanizeDuration and
humanizePercentage functions. Anything else raises Unsupported: extend this module or test that rule
another way.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

Labels = frozenset[tuple[str, str]]
LOOKBACK_S = 300.0


class Unsupported(Exception):
    """A PromQL construct or template this evaluator does not implement."""


@dataclass(frozen=True)
class Sample:
    labels: Labels
    value: float


Vector = list[Sample]
Value = float | Vector


def without_name(labels: Labels) -> Labels:
    return frozenset(item for item in labels if item[0] != "__name__")


# ---------------------------------------------------------------- input series (promtool notation)

_SERIES = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(?:\{(.*)\})?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_series(text: str) -> Labels:
    """`name{a="b", c="d"}` -> its label set, __name__ included."""
    match = _SERIES.match(text)
    if not match:
        raise ValueError(f"bad series {text!r}")
    name, body = match.groups()
    labels = dict(_LABEL.findall(body or ""))
    if name:
        labels["__name__"] = name
    return frozenset(labels.items())


def expand_values(text: str) -> list[float | None]:
    """promtool's value notation: `1 2 _ 4`, `a+bxn` (n+1 values), `axn` (a repeated n+1 times); `_` is
    a missing sample."""
    out: list[float | None] = []
    for token in text.split():
        if token == "_":
            out.append(None)
            continue
        if token.startswith("_x"):
            out.extend([None] * int(token[2:]))
            continue
        match = re.fullmatch(r"([-+]?[0-9.e]+)(?:([-+][0-9.e]+)?x(\d+))?", token)
        if not match:
            raise Unsupported(f"series value {token!r}")
        start, step, count = match.groups()
        if count is None:
            out.append(float(start))
        else:
            delta = float(step) if step else 0.0
            out.extend(float(start) + delta * i for i in range(int(count) + 1))
    return out


def seconds(duration: str | float) -> float:
    if isinstance(duration, int | float):
        return float(duration)
    return pp.parse_duration(duration).total_seconds()


class Storage:
    def __init__(self, series: Mapping[Labels, list[tuple[float, float]]]):
        self.series = series

    @classmethod
    def from_promtool(cls, input_series: Iterable[Mapping[str, str]], interval_s: float) -> Storage:
        data: dict[Labels, list[tuple[float, float]]] = {}
        for entry in input_series:
            values = expand_values(str(entry["values"]))
            data[parse_series(entry["series"])] = [
                (i * interval_s, v) for i, v in enumerate(values) if v is not None]
        return cls(data)

    def select(self, selector: Any) -> Iterable[tuple[Labels, list[tuple[float, float]]]]:
        if selector.offset or selector.at or selector.matchers.or_matchers:
            raise Unsupported("offset, @ and `or` matchers")
        matchers = list(selector.matchers.matchers)
        for labels, samples in self.series.items():
            have = dict(labels)
            if selector.name is not None and have.get("__name__") != selector.name:
                continue
            if all(_matches(m, have.get(m.name, "")) for m in matchers):
                yield labels, samples


def _matches(matcher: Any, value: str) -> bool:
    op = str(matcher.op).rsplit(".", 1)[-1]
    if op == "Equal":
        return value == matcher.value
    if op == "NotEqual":
        return value != matcher.value
    hit = re.fullmatch(matcher.value, value) is not None
    return hit if op == "Re" else not hit


# ---------------------------------------------------------------- evaluation

def _divide(a: float, b: float) -> float:
    """IEEE division, as Go's: x/0 is +-Inf, 0/0 NaN."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _divide, "%": math.fmod, "^": operator.pow,
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
}
_AGGREGATE: dict[str, Callable[[list[float]], float]] = {
    "sum": sum, "min": min, "max": max, "count": len, "avg": lambda v: sum(v) / len(v),
}


def _extrapolated(samples: list[tuple[float, float]], start: float, end: float, range_s: float,
                  *, counter: bool, rate: bool) -> float | None:
    """Prometheus' extrapolatedRate (promql/functions.go) for float samples."""
    if len(samples) < 2:
        return None
    (first_t, first_v), (last_t, last_v) = samples[0], samples[-1]
    result = last_v - first_v
    if counter:
        previous = first_v
        for _, value in samples[1:]:
            if value < previous:
                result += previous
            previous = value
    to_start, to_end = first_t - start, end - last_t
    sampled = last_t - first_t
    average = sampled / (len(samples) - 1)
    threshold = average * 1.1
    if to_start >= threshold:
        to_start = average / 2
    if counter and result > 0 and first_v >= 0:
        to_start = min(to_start, sampled * (first_v / result))
    if to_end >= threshold:
        to_end = average / 2
    factor = (sampled + to_start + to_end) / sampled
    if rate:
        factor /= range_s
    return result * factor


_RANGE_FUNCTIONS = {"rate": (True, True), "increase": (True, False), "delta": (False, False)}


def evaluate(expr: Any, storage: Storage, t: float) -> Value:
    """The value of a parsed expression at time t (seconds): a float (scalar) or a list of samples."""
    kind = type(expr).__name__
    if kind == "NumberLiteral":
        return float(expr.val)
    if kind == "ParenExpr":
        return evaluate(expr.expr, storage, t)
    if kind == "UnaryExpr":
        inner = evaluate(expr.expr, storage, t)
        if isinstance(inner, float):
            return -inner
        return [Sample(without_name(s.labels), -s.value) for s in inner]
    if kind == "VectorSelector":
        out = []
        for labels, samples in storage.select(expr):
            recent = [v for ts, v in samples if t - LOOKBACK_S < ts <= t]
            if recent:
                out.append(Sample(labels, recent[-1]))
        return out
    if kind == "Call":
        return _call(expr, storage, t)
    if kind == "AggregateExpr":
        return _aggregate(expr, storage, t)
    if kind == "BinaryExpr":
        return _binary(expr, storage, t)
    raise Unsupported(kind)


def _absent(expr: Any, storage: Storage, t: float) -> Vector:
    """absent(v): nothing when v has a sample, else one sample of value 1 labelled with v's equality
    matchers (a selector's only; Prometheus' createLabelsForAbsentFunction)."""
    (arg,) = expr.args
    if evaluate(arg, storage, t):
        return []
    labels: dict[str, str] = {}
    if type(arg).__name__ == "VectorSelector":
        has: set[str] = set()
        for matcher in arg.matchers.matchers:
            if matcher.name == "__name__":
                continue
            if str(matcher.op).rsplit(".", 1)[-1] == "Equal" and matcher.name not in has:
                labels[matcher.name] = matcher.value
                has.add(matcher.name)
            else:  # x{job="a", job="b"} or a non-equality matcher: no such label
                labels.pop(matcher.name, None)
    return [Sample(frozenset((k, v) for k, v in labels.items() if v), 1.0)]


def _call(expr: Any, storage: Storage, t: float) -> Vector:
    name = expr.func.name
    if name == "absent":
        return _absent(expr, storage, t)
    if name not in _RANGE_FUNCTIONS:
        raise Unsupported(f"function {name}")
    counter, rate = _RANGE_FUNCTIONS[name]
    (matrix,) = expr.args
    range_s = matrix.range.total_seconds()
    out = []
    for labels, samples in storage.select(matrix.vector_selector):
        window = [(ts, v) for ts, v in samples if t - range_s < ts <= t]
        value = _extrapolated(window, t - range_s, t, range_s, counter=counter, rate=rate)
        if value is not None:
            out.append(Sample(without_name(labels), value))
    return out


def _aggregate(expr: Any, storage: Storage, t: float) -> Vector:
    op = str(expr.op)
    if op not in _AGGREGATE or expr.param is not None:
        raise Unsupported(f"aggregation {op}")
    inner = evaluate(expr.expr, storage, t)
    assert isinstance(inner, list), f"{op} over a scalar"
    modifier = expr.modifier
    by = str(modifier.type).endswith("By") if modifier else True
    names = set(modifier.labels) if modifier else set()
    groups: dict[Labels, list[float]] = {}
    for sample in inner:
        if by:
            key = frozenset((k, v) for k, v in sample.labels if k in names)
        else:
            key = frozenset((k, v) for k, v in sample.labels if k not in names and k != "__name__")
        groups.setdefault(key, []).append(sample.value)
    return [Sample(key, _AGGREGATE[op](values)) for key, values in groups.items()]


def _signature(labels: Labels, matching: Any) -> Labels:
    if matching is None:
        return without_name(labels)
    names = set(matching.labels)
    if str(matching.type).endswith("Include"):  # on(...)
        return frozenset(item for item in labels if item[0] in names)
    return frozenset(item for item in labels if item[0] not in names and item[0] != "__name__")


def _binary(expr: Any, storage: Storage, t: float) -> Value:
    op = str(expr.op)
    modifier = expr.modifier
    matching = getattr(modifier, "matching", None) if modifier is not None else None
    lhs, rhs = evaluate(expr.lhs, storage, t), evaluate(expr.rhs, storage, t)
    if op in ("and", "or", "unless"):
        assert isinstance(lhs, list) and isinstance(rhs, list), f"{op} needs vectors"
        right = {_signature(s.labels, matching) for s in rhs}
        if op == "and":
            return [s for s in lhs if _signature(s.labels, matching) in right]
        if op == "unless":
            return [s for s in lhs if _signature(s.labels, matching) not in right]
        left = {_signature(s.labels, matching) for s in lhs}
        return lhs + [s for s in rhs if _signature(s.labels, matching) not in left]
    if modifier is not None and modifier.return_bool:
        raise Unsupported("bool comparisons")
    if op not in _ARITH and op not in _COMPARE:
        raise Unsupported(f"operator {op}")

    def apply(a: float, b: float, labels: Labels, keep: float) -> Sample | None:
        if op in _ARITH:
            return Sample(without_name(labels), _ARITH[op](a, b))
        return Sample(labels, keep) if _COMPARE[op](a, b) else None

    if isinstance(lhs, float) and isinstance(rhs, float):
        if op in _COMPARE:
            raise Unsupported("scalar comparison without bool")
        return _ARITH[op](lhs, rhs)
    if isinstance(rhs, float):
        assert isinstance(lhs, list)
        return [s for s in (apply(x.value, rhs, x.labels, x.value) for x in lhs) if s]
    if isinstance(lhs, float):
        return [s for s in (apply(lhs, x.value, x.labels, x.value) for x in rhs) if s]
    if modifier is not None and modifier.group_labels:
        raise Unsupported("group_left / group_right")
    right: dict[Labels, Sample] = {}
    for sample in rhs:
        key = _signature(sample.labels, matching)
        if key in right:
            raise ValueError(f"many-to-many matching on the right-hand side of {op}: {sorted(key)}")
        right[key] = sample
    out = []
    for sample in lhs:
        other = right.get(_signature(sample.labels, matching))
        if other is not None and (result := apply(sample.value, other.value, sample.labels, sample.value)):
            out.append(result)
    return out


# ---------------------------------------------------------------- templates

_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_SI = [(1e24, "Y"), (1e21, "Z"), (1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]


def _g4(value: float) -> str:
    return f"{value:.4g}"


def humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    if abs(value) >= 1:
        for factor, prefix in _SI:
            if abs(value) >= factor:
                return _g4(value / factor) + prefix
        return _g4(value)
    for factor, prefix in ((1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")):
        if abs(value) >= factor:
            return _g4(value / factor) + prefix
    return _g4(value / 1e-18) + "a"


def humanize_duration(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    sign, value = ("-", -value) if value < 0 else ("", value)
    if value < 1:
        if value == 0:
            return "0s"
        if value >= 1e-3:
            return f"{sign}{_g4(value * 1e3)}ms"
        return f"{sign}{_g4(value * 1e6)}us"
    whole = int(value)
    days, hours, minutes, secs = whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{sign}{minutes}m {secs}s"
    return f"{sign}{_g4(value)}s"


_FUNCTIONS: dict[str, Callable[[float], str]] = {
    "humanize": humanize, "humanizeDuration": humanize_duration,
    "humanizePercentage": lambda v: _g4(v * 100) + "%",
}


def template_names(text: str) -> list[tuple[str, list[str]]]:
    """Each {{ ... }} action as (subject, [functions]); raises Unsupported for anything else."""
    actions = []
    for action in _TEMPLATE.findall(text):
        subject, *functions = (part.strip() for part in action.split("|"))
        if not re.fullmatch(r"\$value|\$labels\.[a-zA-Z_][a-zA-Z0-9_]*", subject):
            raise Unsupported(f"template action {{{{ {action} }}}}")
        for function in functions:
            if function not in _FUNCTIONS:
                raise Unsupported(f"template function {function}")
        actions.append((subject, functions))
    if "{{" in _TEMPLATE.sub("", text) or "}}" in _TEMPLATE.sub("", text):
        raise ValueError(f"unbalanced template braces in {text!r}")
    return actions


def render(text: str, labels: Mapping[str, str], value: float) -> str:
    def one(match: re.Match[str]) -> str:
        subject, *functions = (part.strip() for part in match.group(1).split("|"))
        if subject == "$value":
            if functions:
                return _FUNCTIONS[functions[0]](value)
            return repr(value) if value != int(value) else str(int(value))
        name = subject.removeprefix("$labels.")
        return labels.get(name, "<no value>")

    template_names(text)
    return _TEMPLATE.sub(one, text)


# ---------------------------------------------------------------- alerting rules

@dataclass(frozen=True)
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str]


def firing_alerts(rule: Mapping[str, Any], storage: Storage, at: float, interval_s: float) -> list[Alert]:
    """The alerts of one alerting rule that fire at `at`, having evaluated the rule every interval_s
    from 0 as Prometheus would (an alert fires once its expression has returned it for `for`)."""
    expr = pp.parse(rule["expr"])
    hold = seconds(rule.get("for", 0))
    active_since: dict[Labels, float] = {}
    last: dict[Labels, Sample] = {}
    steps = round(at / interval_s)
    for step in range(steps + 1):
        t = step * interval_s
        result = evaluate(expr, storage, t)
        if isinstance(result, float):
            raise Unsupported("an alert expression must return a vector")
        now = {}
        for sample in result:
            labels = without_name(sample.labels)
            now[labels] = sample
            active_since.setdefault(labels, t)
        for gone in set(active_since) - set(now):
            del active_since[gone]
        last = now
    alerts = []
    for labels, sample in last.items():
        if at - active_since[labels] >= hold:
            plain = dict(labels)
            rendered = {k: render(v, plain, sample.value) for k, v in rule.get("annotations", {}).items()}
            alerts.append(Alert({**plain, **rule.get("labels", {}), "alertname": rule["alert"]}, rendered))
    return alerts
