"""parsers._prune.drop_empty: ecs.drop_empty's output for every document orjson can render, in less time."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import ecs
from parsers._prune import RENDERED_DEPTH, drop_empty, prune
from parsers.errors import EventError

_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False),
                    st.sampled_from(["", "-", "x", " ", "0"]), st.text(max_size=4))
_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["a", "b", "", "c"]), inner, max_size=4)),
    max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _VALUES, max_size=5))
def test_drop_empty_writes_what_ecs_drop_empty_writes(doc):
    assert orjson.dumps(drop_empty(doc)) == orjson.dumps(ecs.drop_empty(doc))


def test_drop_empty_leaves_its_input_alone():
    doc = {"a": {"b": ""}, "c": [None, {}], "d": 0}
    assert drop_empty(doc) == {"d": 0}
    assert doc == {"a": {"b": ""}, "c": [None, {}], "d": 0}


def _nested(levels: int) -> list:
    value: list = ["x"]
    for _ in range(levels - 1):
        value = [value]
    return value


def test_a_document_nested_as_deep_as_json_renders_is_kept_one_level_more_is_too_deep():
    deepest = {"a": _nested(RENDERED_DEPTH - 1)}
    assert orjson.dumps(drop_empty(deepest))
    with pytest.raises(EventError) as raised:
        drop_empty({"a": _nested(RENDERED_DEPTH)})
    assert raised.value.reason == "too_deep"


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _VALUES, max_size=5))
def test_prune_in_place_leaves_what_ecs_drop_empty_writes(doc):
    expected = orjson.dumps(ecs.drop_empty(doc))
    assert orjson.dumps(prune(copy.deepcopy(doc))) == expected


def test_prune_cleans_an_object_met_twice_as_drop_empty_cleans_both_copies():
    shared = {"x": "", "y": [None, "1", {}], "z": {"w": None}}
    doc = {"a": shared, "b": [shared, ""], "c": shared}
    expected = orjson.dumps(ecs.drop_empty(doc))
    assert orjson.dumps(prune(doc)) == expected == b'{"a":{"y":["1"]},"b":[{"y":["1"]}],"c":{"y":["1"]}}'


def test_prune_refuses_a_document_nested_deeper_than_json_renders():
    assert orjson.dumps(prune({"a": _nested(RENDERED_DEPTH - 1)}))
    with pytest.raises(EventError) as raised:
        prune({"a": _nested(RENDERED_DEPTH)})
    assert raised.value.reason == "too_deep"
