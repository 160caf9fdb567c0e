"""Filters on finished documents: drop, remove and mask, by dataset and field conditions."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from parsers.filters import FilterSet, Path
from parsers.registry import DatasetSpec
from parsers.rules import Condition, FilterRule

CLOUDTRAIL = DatasetSpec("cloudtrail", "aws.cloudtrail", "8.11.0", lambda event, options: [])
VPCFLOW = DatasetSpec("vpcflow", "aws.vpcflow", "8.11.0", lambda event, options: [])


def _doc() -> dict:
    return {
        "event": {"action": "GetObject", "category": ["iam", "configuration"], "outcome": "success",
                  "original": "userName=bob password=hunter2 other=1"},
        "user": {"name": "bob", "id": "AIDA1"},
        "http": {"response": {"status_code": 200}},
        "aws": {"cloudtrail": {"read_only": True, "resources": [{"arn": "arn:aws:s3:::a"}, {"arn": "arn:aws:s3:::b"}],
                               "request_parameters": "{userName=bob, password=hunter2}"}},
        "labels.team": "blue",
    }


def _apply(*rules: FilterRule, doc: dict | None = None, spec: DatasetSpec = CLOUDTRAIL) -> tuple[str | None, dict]:
    doc = _doc() if doc is None else doc
    return FilterSet(rules).apply(doc, spec), doc


def test_drop_when_every_condition_holds_returns_the_rule_name():
    rule = FilterRule("drop", conditions=(Condition("aws.cloudtrail.read_only", (True,)),
                                          Condition("event.action", matches="^Get")), name="read-only")
    assert _apply(rule)[0] == "read-only"


def test_drop_needs_every_condition():
    rule = FilterRule("drop", conditions=(Condition("aws.cloudtrail.read_only", (True,)),
                                          Condition("event.action", matches="^Put")))
    assert _apply(rule)[0] is None


def test_unnamed_rule_is_named_by_its_position():
    assert _apply(FilterRule("remove", fields=("x",)), FilterRule("drop"))[0] == "filters[1]"


def test_datasets_accept_registry_names_and_event_datasets():
    assert _apply(FilterRule("drop", datasets=("cloudtrail",)))[0] is not None
    assert _apply(FilterRule("drop", datasets=("aws.cloudtrail",)))[0] is not None
    assert _apply(FilterRule("drop", datasets=("vpcflow",)))[0] is None
    assert _apply(FilterRule("drop", datasets=("vpcflow",)), spec=VPCFLOW)[0] is not None


@pytest.mark.parametrize(("condition", "holds"), [
    (Condition("aws.cloudtrail.read_only", ("true",)), True),  # booleans compare as true/false
    (Condition("aws.cloudtrail.read_only", (False,)), False),
    (Condition("http.response.status_code", ("200",)), True),  # numbers compare as their text
    (Condition("http.response.status_code", (200.0,)), True),
    (Condition("http.response.status_code", (404, 200)), True),  # any of the values
    (Condition("event.category", ("iam",)), True),  # any element of a list
    (Condition("aws.cloudtrail.resources.arn", ("arn:aws:s3:::b",)), True),  # through a list of objects
    (Condition("labels.team", ("blue",)), True),  # a dotted key held literally
    (Condition("user.name", matches="o"), True),  # searched, not anchored
    (Condition("user.name", matches="^o$"), False),
    (Condition("user", ("bob",)), False),  # objects never equal
    (Condition("user", matches="bob"), False),
    (Condition("missing.field", ("x",)), False),
    (Condition("missing.field", ("x",), negate=True), True),
    (Condition("user.name", ("bob",), negate=True), False),
    (Condition("user.id"), True),  # neither test: the field exists
    (Condition("user.email"), False),
    (Condition("user.email", negate=True), True),
])
def test_condition_semantics(condition, holds):
    assert (_apply(FilterRule("drop", conditions=(condition,)))[0] is not None) is holds


def test_remove_deletes_fields_and_prunes_objects_left_empty():
    _, doc = _apply(FilterRule("remove", fields=("http.response.status_code", "aws.cloudtrail.resources.arn",
                                                 "labels.team", "not.there")))
    assert "http" not in doc and "labels.team" not in doc
    assert doc["aws"]["cloudtrail"]["resources"] == [{}, {}]  # list elements keep their place


def test_remove_a_whole_object():
    _, doc = _apply(FilterRule("remove", fields=("aws",)))
    assert "aws" not in doc


def test_mask_replaces_strings_and_removes_numbers_and_booleans():
    _, doc = _apply(FilterRule("mask", fields=("user", "aws.cloudtrail.read_only", "event.category",
                                               "http.response"), mask_with="***"))
    assert doc["user"] == {"name": "***", "id": "***"}
    assert "read_only" not in doc["aws"]["cloudtrail"]
    assert doc["event"]["category"] == ["***", "***"]
    assert "http" not in doc


def test_mask_pattern_masks_only_the_matching_parts():
    rule = FilterRule("mask", fields=("event.original", "aws.cloudtrail.request_parameters"),
                      mask_pattern=r"(?<=password=)[^,} ]+", mask_with=r"\1[x]")
    _, doc = _apply(rule)
    assert doc["event"]["original"] == "userName=bob password=\\1[x] other=1"  # mask_with is literal text
    assert doc["aws"]["cloudtrail"]["request_parameters"] == "{userName=bob, password=\\1[x]}"


def test_rules_run_in_order_and_see_earlier_edits():
    rules = (FilterRule("mask", fields=("user.name",)),
             FilterRule("drop", conditions=(Condition("user.name", ("bob",)),)))
    assert _apply(*rules)[0] is None


def test_drop_stops_later_rules():
    rules = (FilterRule("drop"), FilterRule("remove", fields=("user",)))
    name, doc = _apply(*rules)
    assert name == "filters[0]" and "user" in doc


def test_regular_expressions_are_compiled_once_per_rule_set(monkeypatch):
    filters = FilterSet((FilterRule("mask", conditions=(Condition("user.name", matches="b.b"),),
                                    fields=("event.original",), mask_pattern="hunter2"),))

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled while filtering")

    monkeypatch.setattr(re, "compile", no_compile)
    doc = _doc()
    filters.apply(doc, CLOUDTRAIL)
    assert "hunter2" not in doc["event"]["original"]


def test_empty_filter_set_is_falsy():
    assert not FilterSet(())
    assert FilterSet((FilterRule("drop"),))


def test_path_values_collects_through_lists():
    assert Path("aws.cloudtrail.resources.arn").values(_doc()) == ["arn:aws:s3:::a", "arn:aws:s3:::b"]
    assert Path("event.category").values(_doc()) == ["iam", "configuration"]


documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "a.b", "c"]), inner,
                                                                  max_size=3),
    max_leaves=15,
).filter(lambda value: isinstance(value, dict))
fields = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map(".".join)


@settings(max_examples=300, deadline=None)
@given(documents, st.sampled_from(["drop", "remove", "mask"]), fields, fields, st.booleans())
# Found once: masking pruned an object that was empty already, which uncovered an unmasked dotted key.
@example({"a": {"a.b": False, "a": {}}}, "drop", "a", "a.a.b", False)
# Found once: the path reached both a nested `a: {b: ...}` and a literal `a.b`; only the first was masked.
@example({"a": {"b": None}, "a.b": False}, "drop", "a", "a.b", False)
@example({"a": {"b": "secret"}, "a.b": "secret"}, "mask", "c", "a.b", True)
def test_any_document_is_filtered_without_errors_and_masked_values_never_leak(doc, action, field, target, negate):
    condition = Condition(field, ("x", 1, True), matches="a", negate=negate)
    rule = FilterRule(action, conditions=(condition,), fields=(target,), mask_with="M")
    before = copy.deepcopy(doc)
    FilterSet((rule,)).apply(doc, CLOUDTRAIL)
    if action == "drop":
        assert doc == before
    FilterSet((FilterRule("mask", fields=(target,), mask_with="M"),)).apply(doc, CLOUDTRAIL)
    for value in Path(target).values(doc):
        assert value == "M" or isinstance(value, dict | list)
