"""parsers._findings: the spec walk and the converters' shortcuts give what the faithful forms give."""

from __future__ import annotations

import math

import pytest

from parsers import _findings as findings
from parsers._findings import Move, compile_spec, walk


@pytest.mark.parametrize("value", [0, -1, 42, 2**63 - 1, -(2**63), 2**63, 5.0, 1e7, True, False, "42", "0x1f",
                                   "4.2", "", None, [1, "2"], [1, 2.5]])
def test_to_long_answers_as_the_java_text_round_trip_does(value):
    assert _outcome(findings.to_long, value) == _outcome(_each(findings._long), value)


@pytest.mark.parametrize("value", [0, 3, -(2**53), 2**53, 2**53 + 1, 10**400, 5.3, -0.0, 1e308, 1e-320, math.inf,
                                   math.nan, True, "5.3", "1_000", "", [1, 2.5], [True]])
def test_to_double_answers_as_the_java_text_round_trip_does(value):
    expected, got = _outcome(_each(findings._double), value), _outcome(findings.to_double, value)
    assert repr(got) == repr(expected)


@pytest.mark.parametrize("value", [True, False, "true", "FALSE", "yes", 1, 0.0, None, [True, "false"]])
def test_to_boolean_answers_as_the_java_text_round_trip_does(value):
    assert _outcome(findings.to_boolean, value) == _outcome(_each(findings._boolean), value)


@pytest.mark.parametrize("text", [
    "2024-10-30T20:01:59Z", "2024-10-30T20:01:59.123Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
    "2024-13-01T00:00:00Z", "2024-10-30T24:00:00Z", "2024-10-30T23:59:60Z", "0999-01-01T00:00:00Z",
    "1000-01-01T00:00:00.000Z", "2024-10-30T20:01:59.1234Z", "2024-10-30T20:01:59+02:00", "2024-10-30 20:01:59Z",
    "２０２４-10-30T20:01:59Z", "2024-10-30T20:01:59z", " 2024-10-30T20:01:59Z", "1700000000",
])
def test_iso_dates_of_aws_shape_render_as_parsing_them_does(text):
    assert _outcome(findings.date_iso_or_unix, text) == _outcome(_slow_date, text)


def test_a_spec_whose_destination_starts_another_is_refused():
    with pytest.raises(ValueError, match="a.b is the start of a.b.c"):
        compile_spec({"x": "a.b", "y": {"z": "a.b.c"}})


def test_walk_writes_in_the_source_order_and_drops_empty_values():
    spec = compile_spec({"b": "out.b", "n": {"x": "out.n.x", "y": Move("deep.y", findings.to_long)},
                         "a": "a", "l": "out.l"})
    target: dict = {}
    errors: list[str] = []
    walk(spec, {"n": {"y": "7", "x": ""}, "a": 1, "skip": 2, "l": [None, "", {}], "b": "v"}, target, errors)
    assert list(target) == ["deep", "a", "out"] and target == {"deep": {"y": 7}, "a": 1, "out": {"b": "v"}}
    assert errors == []


def _each(fn):
    return lambda value: [fn(item) for item in value] if isinstance(value, list) else fn(value)


def _slow_date(value):
    """The `date` processor as it was: every text parsed to a datetime and formatted back."""
    original = findings._AWS_ISO
    findings._AWS_ISO = _Never()
    try:
        return findings.date_iso_or_unix(value)
    finally:
        findings._AWS_ISO = original


class _Never:
    @staticmethod
    def fullmatch(text):
        return None


def _outcome(fn, value):
    try:
        return "ok", fn(value)
    except ValueError as exc:
        return "error", str(exc)
