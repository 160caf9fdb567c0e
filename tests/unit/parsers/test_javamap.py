"""Java HashMap.toString() rendering: orders checked against a real JVM (OpenJDK HashMap) when written."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.enrich.javamap import (
    iteration_order,
    java_double,
    java_length,
    ordered,
    render,
    scalar,
    spread_hash,
    to_string,
)


def test_string_hash_matches_java_string_hashcode() -> None:
    # "Aa" and "BB" are Java's textbook hashCode collision (2112); "policyArn".hashCode() is -225708085.
    assert spread_hash("Aa") == spread_hash("BB")
    h = -225708085 & 0xFFFFFFFF
    assert spread_hash("policyArn") == h ^ (h >> 16)


def test_hash_counts_utf16_code_units_outside_the_bmp() -> None:
    # "😀" is the surrogate pair D83D DE00: hashCode = 0xD83D * 31 + 0xDE00.
    h = (0xD83D * 31 + 0xDE00) & 0xFFFFFFFF
    assert spread_hash("😀") == h ^ (h >> 16)


def test_small_maps_iterate_in_bucket_order() -> None:
    # From Elastic's AttachUserPolicy case: userName was written first in the JSON.
    assert to_string({"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}) == (
        "{policyArn=arn:aws:iam::aws:policy/AdministratorAccess, userName=bob}")


def test_thirteen_keys_resize_the_table_to_32() -> None:
    keys = tuple(f"k{i}" for i in range(13))
    # As OpenJDK 17 prints a HashMap filled with k0..k12: the 13th put doubles the table to 32 buckets.
    assert [keys[i] for i in iteration_order(keys)] == [
        "k0", "k1", "k2", "k3", "k4", "k5", "k11", "k6", "k10", "k7", "k8", "k12", "k9"]


def test_nine_colliding_keys_resize_instead_of_making_a_tree() -> None:
    colliding = ["".join(p) for p in itertools.product(["Aa", "BB"], repeat=4)][:9]
    others = [f"x{i}" for i in range(3)]
    keys = tuple(others + colliding)
    # Verified on OpenJDK 17: 12 keys, below the threshold of 12, yet the table is 32 because of the 9th collision.
    assert [keys[i] for i in iteration_order(keys)] == [
        "AaAaAaAa", "AaAaAaBB", "AaAaBBAa", "AaAaBBBB", "AaBBAaAa", "AaBBAaBB", "AaBBBBAa", "AaBBBBBB", "BBAaAaAa",
        "x0", "x1", "x2"]


def test_removed_values_still_count_for_the_table_size() -> None:
    full = {f"k{i}": "v" for i in range(13)}
    with_empties = dict(full, k3=None, k4="", k5={}, k6=[None])
    full_order = to_string(full)[1:-1].split(", ")  # 13 keys: a 32-bucket table
    gone = {"k3=v", "k4=v", "k5=v", "k6=v"}
    assert to_string(with_empties) == "{" + ", ".join(p for p in full_order if p not in gone) + "}"
    nine = {k: "v" for k in list(full)[:9] if k not in ("k3", "k4", "k5", "k6")}
    assert to_string(with_empties) != to_string(nine)  # 9 keys alone would sit in 16 buckets


def test_nested_objects_and_arrays_render_like_java_collections() -> None:
    value = {"createVolumePermission": {"remove": {"items": [{"group": "all"}]}}, "snapshotId": "snap-1",
             "attributeType": "CREATE_VOLUME_PERMISSION"}
    assert to_string(value) == (
        "{snapshotId=snap-1, attributeType=CREATE_VOLUME_PERMISSION, createVolumePermission={remove={items=[{group=all}]}}}")


def test_scalars_render_like_java() -> None:
    assert to_string({"a": True, "b": False, "c": 222, "d": 2.0, "e": 1e7, "f": 0.0001, "g": -0.0}) is not None
    assert scalar(True) == "true"
    assert scalar(18446744073709551615) == "18446744073709551615"
    assert [java_double(x) for x in (2.0, 0.1, 1e7, 9999999.0, 1.5e-5, 12345678.9, 0.001, 0.0001, -3.25e10)] == [
        "2.0", "0.1", "1.0E7", "9999999.0", "1.5E-5", "1.23456789E7", "0.001", "1.0E-4", "-3.25E10"]
    assert java_double(float("inf")) == "Infinity"
    assert java_double(float("nan")) == "NaN"


def test_nothing_left_renders_as_none() -> None:
    assert to_string({"a": None, "b": "", "c": {"d": []}}) is None
    assert to_string([]) is None
    assert to_string(None) is None


def test_render_returns_the_same_object_when_nothing_is_removed() -> None:
    clean = {"a": "x", "b": [1, {"c": True}]}
    assert render(clean)[1] is clean
    text, cleaned = render({"a": "x", "b": [None, {"c": ""}, 2], "d": None})
    assert cleaned == {"a": "x", "b": [2]}
    assert text == "{a=x, b=[2]}"


def test_java_length_counts_utf16_units() -> None:
    assert java_length("abc") == 3
    assert java_length("é😀") == 3


def test_hashset_order_is_the_hashmap_key_order() -> None:
    assert ordered(["userName", "policyArn", "userName"]) == ["policyArn", "userName"]


def _has_empty(value: object) -> bool:
    if value is None or value == "" or value == {} or value == []:
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(_has_empty(item) for item in items)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                  max_size=6),
                    max_leaves=12))
def test_any_json_value_renders_and_cleans_together(value: object) -> None:
    text, cleaned = render(value)
    assert (text is None) == (cleaned is None)
    if cleaned is not None:
        assert not _has_empty(cleaned)
        assert isinstance(text, str)


@pytest.mark.parametrize("count", [1, 12, 13, 24, 25, 100])
def test_order_is_a_permutation(count: int) -> None:
    keys = tuple(f"key-{i}" for i in range(count))
    assert sorted(iteration_order(keys)) == list(range(count))


def test_long_keys_are_rendered_but_not_kept_alive_by_the_caches() -> None:
    import sys

    from parsers.enrich.javamap import to_string

    # The event's writer chooses keys (tags, metadata); the hash and order caches hold 65,536 and 16,384 entries.
    key = "k" * 64 * 1024
    before = sys.getrefcount(key)
    assert to_string({key: "v", "short": 1}) in (f"{{{key}=v, short=1}}", f"{{short=1, {key}=v}}")
    assert sys.getrefcount(key) == before


@pytest.mark.parametrize(("number", "java"), [
    (5e-324, "4.9E-324"), (1e-323, "9.9E-324"), (6e-323, "5.9E-323"), (-5e-324, "-4.9E-324"),
    (1.5e-323, "1.5E-323"), (2.5e-323, "2.5E-323"), (2e-322, "2.0E-322"), (2.2250738585072014e-308,
                                                                            "2.2250738585072014E-308"),
])
def test_the_smallest_subnormals_print_as_double_to_string_does(number: float, java: str) -> None:
    # Java writes at least two digits and picks the pair closest to the exact value (checked on JDK 25):
    # Double.MIN_VALUE, whose shortest repr is 5e-324, is 4.9E-324.
    assert java_double(number) == java
