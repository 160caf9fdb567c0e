"""Values bound for flattened fields: what a cluster would refuse, and cutting free-form values to fit."""

from __future__ import annotations

from typing import Any

from parsers import flattened
from parsers.enrich import javamap

FIELD = "aws.cloudtrail.flattened.request_parameters"


def nest(levels: int) -> Any:
    value: Any = "leaf"
    for i in range(levels):
        value = {f"k{i}": value}
    return value


def test_leaves_are_measured_in_utf8_bytes_not_characters() -> None:
    assert flattened.refusal({"policy": "a" * 32000}, FIELD) is None
    assert "term limit" in str(flattened.refusal({"policy": "\u20ac" * 12000}, FIELD))  # 36 000 bytes
    assert flattened.refusal({"a": [{"b": ["\u00e9" * 16400]}]}, FIELD) is not None  # inside lists too


def test_the_key_path_counts_in_the_term() -> None:
    value = "x" * (flattened.TERM_LIMIT - len(FIELD) - 2 - len("k"))
    assert flattened.refusal({"k": value}, FIELD) is None
    assert flattened.refusal({"kk": value}, FIELD) is not None


def test_objects_nested_up_to_the_mapping_depth_limit_fit_and_deeper_do_not() -> None:
    # Elasticsearch counts the objects, the root one included: nest(21) fails a depth_limit of 20.
    assert flattened.refusal(nest(flattened.DEPTH_LIMIT), FIELD) is None
    assert "deeper" in str(flattened.refusal(nest(flattened.DEPTH_LIMIT + 1), FIELD))
    assert flattened.refusal({"a": [[[nest(5)]]]}, FIELD) is None  # arrays add no level


def test_what_the_javamap_renderer_lets_through_is_never_too_deep() -> None:
    assert flattened.DEPTH_LIMIT >= javamap.MAX_DEPTH


def test_a_key_holding_the_separator_is_refused() -> None:
    assert flattened.refusal({"a\0b": "x"}, FIELD) is not None


def test_cut_keeps_whole_characters_and_marks_the_cut() -> None:
    assert flattened.cut("short") == "short"
    cut = flattened.cut("\u00e9" * 16400)
    assert cut.endswith(flattened.TRUNCATED) and len(cut.encode()) <= flattened.LEAF_BUDGET
    assert set(cut[:-len(flattened.TRUNCATED)]) == {"\u00e9"}


def test_fit_cuts_long_leaves_and_keys_and_replaces_the_separator() -> None:
    value = {"Host": "example.com", "X-Pad": "v" * 40000, "k" * 9000: "1", "a\0b": ["\u20ac" * 12000]}
    out = flattened.fit(value, "aws.waf.request.headers")
    assert out["Host"] == "example.com"
    assert out["X-Pad"].endswith(flattened.TRUNCATED) and len(out["X-Pad"].encode()) <= flattened.LEAF_BUDGET
    assert any(key.endswith(flattened.TRUNCATED) for key in out)
    assert out["a\ufffdb"][0].endswith(flattened.TRUNCATED)
    assert flattened.refusal(out, "aws.waf.request.headers") is None
    assert value["X-Pad"] == "v" * 40000  # a copy


def test_fit_returns_the_value_itself_when_it_fits_and_none_when_too_deep() -> None:
    value = {"a": {"b": ["c"]}}
    assert flattened.fit(value, FIELD) is value
    assert flattened.fit(nest(flattened.DEPTH_LIMIT + 5), FIELD) is None


def test_the_rendered_text_spares_the_walk_only_when_no_leaf_could_reach_the_limit() -> None:
    values = [{"policy": "\u20ac" * 12000}, {"k": "x" * 32700}, {"a\0b": "x"}, {"a": [{"b": ["\u00e9" * 16400]}]},
              {"bucketName": "logs", "key": "a/b", "acl": [{"grantee": "x", "n": 1.5, "ok": True}]}]
    for value in values:
        text, cleaned = javamap.render(value)
        assert text is not None
        # Same answer with or without the rendering: the shortcut never hides a refusal.
        assert (flattened.refusal(cleaned, FIELD, text) is None) == (flattened.refusal(cleaned, FIELD) is None), value
