"""The compiled value utilities (native/src/javamap.rs, flattened.rs, value_json.rs) against the Python reference
they stand in for: `parsers.enrich.javamap` (render, scalar, iteration_order, java_length, java_double),
`parsers.cloudtrail._clean`, `parsers.flattened.refusal` and `orjson.dumps`.

Where Rust answers, it answers as Python does, byte for byte; where it refuses (None), the record takes the
Python path. Each test also counts how many values Rust answered, so refusing everything cannot pass.
Values: the request/response members of Elastic's CloudTrail test cases and of the benchmark's corpus, and
seeded fuzzed values (colliding keys that force HashMap resizes, non-BMP keys, escapes, integer edges, floats,
nesting near MAX_DEPTH).
"""

from __future__ import annotations

import math
import os
import random
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer import corpus, native_path
from parsers.cloudtrail import _clean
from parsers.enrich import javamap
from parsers.flattened import TERM_LIMIT, refusal

if not native_path.available() and not os.environ.get("SECSTASH_NATIVE_OPTIONAL"):
    pytest.fail("secstash_native is not installed: run scripts/setup.sh (or set SECSTASH_NATIVE_OPTIONAL=1 to "
                "run without the compiled record path)", pytrace=False)
pytestmark = pytest.mark.skipif(not native_path.available(), reason="secstash_native is not installed")

if native_path.available():
    from secstash_native import secstash_native as hooks  # the `_` hooks are not re-exported by the package

    FLOATS = hooks._value_json_floats_covered()

SHARED = Path(__file__).resolve().parents[4] / "shared"
FIXTURES = SHARED / "fixtures" / "elastic-aws" / "cloudtrail"
MEMBERS = ("requestParameters", "responseElements", "additionalEventData", "serviceEventDetails")
FIELD = "aws.cloudtrail.flattened.request_parameters"


def _records(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if isinstance(value.get("Records"), list):  # a CloudTrail file's wrapping
            for record in value["Records"]:
                yield from _records(record)
        else:
            yield value


def realistic_values() -> list[Any]:
    values = []
    lines = [line for path in sorted(FIXTURES.glob("**/test-*.log")) for line in path.read_bytes().splitlines()]
    lines += [event.encode() for event in corpus.events("cloudtrail", 3000)]
    for line in lines:
        if line.strip():
            for record in _records(orjson.loads(line)):
                values += [record[m] for m in MEMBERS if m in record]
                values += [record[m] for m in ("userIdentity", "resources", "insightDetails") if m in record]
    return values


def has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(has_float(v) for v in value)
    return False


MIN_NORMAL = 2.2250738585072014e-308


def float_covered(f: float, java: bool) -> bool:
    """Whether Rust renders this float (else it refuses it): not -0.0 (serde_json reads the integer -0 so), below
    2**63 (past it, serde_json reads integers orjson refuses); in Java's layout, not one of the subnormals whose
    shortest digits are one (Java writes two, worked out from the exact binary value)."""
    if f == 0 and math.copysign(1, f) < 0 or abs(f) >= 2.0**63:
        return False
    return not (java and abs(f) < MIN_NORMAL and f != 0 and len(repr(abs(f)).split("e")[0].replace(".", "")) == 1)


def floats_covered(value: Any, java: bool) -> bool:
    if isinstance(value, float):
        return FLOATS and float_covered(value, java)
    if isinstance(value, dict):
        return all(floats_covered(v, java) for v in value.values())
    if isinstance(value, list):
        return all(floats_covered(v, java) for v in value)
    return True


def wrapped(value: Any, wrap: str) -> Any:
    for kind in reversed(wrap):
        value = {"k": value} if kind == "o" else [value]
    return value


def python_render(value: Any) -> tuple[str | None, bytes | None, bool] | None:
    """What `_javamap_render` answers, from the reference; None where it raises TooDeep."""
    try:
        text, cleaned = javamap.render(value)
    except javamap.TooDeep:
        return None
    return text, None if cleaned is None else orjson.dumps(cleaned), cleaned is not None and cleaned is value


def python_clean(value: Any) -> tuple[bytes | None, bool] | None:
    try:
        cleaned = _clean(value)
    except javamap.TooDeep:
        return None
    return None if cleaned is None else orjson.dumps(cleaned), cleaned is not None and cleaned is value


class Tally:
    """Counts the values Rust answered, after checking each answer against the reference."""

    def __init__(self) -> None:
        self.answered = 0
        self.refused = 0

    def check(self, rust: Any, python: Any, context: Any) -> None:
        if rust is None:
            self.refused += 1
            return
        assert rust == python, context
        self.answered += 1


def check_value(value: Any, tallies: dict[str, Tally], wrap: str = "") -> None:
    """Every utility on one value (its JSON as orjson writes it), against the reference."""
    text = orjson.dumps(value).decode()
    full = wrapped(value, wrap)
    tallies["render"].check(hooks._javamap_render(text, wrap), python_render(full), text)
    tallies["clean"].check(hooks._javamap_clean(text, wrap), python_clean(full), text)
    tallies["value_json"].check(hooks._value_json(text, wrap), orjson.dumps(full), text)
    if not wrap:
        try:
            scalar = javamap.scalar(value)
        except javamap.TooDeep:
            scalar = None
        tallies["scalar"].check(hooks._javamap_scalar(text), scalar, text)
    try:
        rendered, cleaned = javamap.render(full)
    except javamap.TooDeep:
        return
    if cleaned is not None:
        cleaned_text = orjson.dumps(cleaned).decode()
        for hint in (rendered, None):
            verdict = refusal(cleaned, FIELD, hint) is not None
            unwrapped = cleaned
            for _ in wrap:  # the hook wraps the JSON it reads; unwrap the cleaned value to hand it over
                unwrapped = unwrapped["k"] if isinstance(unwrapped, dict) else unwrapped[0]
            tallies["refused"].check(hooks._flattened_refused(orjson.dumps(unwrapped).decode(), FIELD, hint, wrap),
                                     verdict, (cleaned_text[:200], hint is None))


def new_tallies() -> dict[str, Tally]:
    return {name: Tally() for name in ("render", "clean", "value_json", "scalar", "refused")}


def test_realistic_values_render_as_python_does_and_rust_answers_them() -> None:
    values = realistic_values()
    assert len(values) > 1500
    tallies = new_tallies()
    for value in values:
        check_value(value, tallies)
    with_floats = sum(has_float(v) for v in values)
    for name, tally in tallies.items():
        # Every value without a float is answered; those with one only when floats are covered.
        expected = len(values) if FLOATS else len(values) - with_floats
        assert tally.answered >= expected, (name, tally.answered, tally.refused, len(values))


# --- fuzzing ---------------------------------------------------------------------------------------------------

TEXTS = ["", "x", "arn:aws:iam::123456789012:user/bob", "a=b, c=d", "{x=y}", "é", "日本語", "😀 non-BMP", "\"q\"",
         "back\\slash", "line\nbreak\ttab\r", "\x00nul", "\x1f\x7f\x08\x0c", "\u2028\u2029", "/slash/", " "]
INTS = [0, 1, -1, 42, 2**31 - 1, -2**31, 2**53 + 1, 2**63 - 1, -2**63, 2**63, 2**64 - 1]
PLAIN_KEYS = ["a", "b", "userName", "policyArn", "Aa", "BB", "AaAa", "BBBB", "AaBB", "BBAa", "", "é", "日本", "😀",
              "a😀b", "\"", "k\\", "tab\t", "x=y", "\u2028"]


def spread_hash(key: str) -> int:
    return javamap.spread_hash(key)


def bucket_keys(rng: random.Random, count: int, bits: int) -> list[str]:
    """`count` distinct keys whose spread hashes share their low `bits` bits: they crowd one bucket of every table
    up to 2**bits, forcing treeify-resizes (and trees, past 64)."""
    target = rng.getrandbits(bits)
    mask = (1 << bits) - 1
    prefix = rng.choice(["", "k", "é", "😀", "Aa", "x_"])
    keys = []
    n = rng.randrange(1000)
    while len(keys) < count:
        key = f"{prefix}{n}"
        if spread_hash(key) & mask == target:
            keys.append(key)
        n += 1
    return keys


def colliding_keys(rng: random.Random, count: int) -> list[str]:
    """Keys with one and the same String.hashCode ("Aa" and "BB" hash alike, so do all their concatenations)."""
    if count == 0:
        return []
    width = max(1, math.ceil(math.log2(count)))
    keys = ["".join("Aa" if (n >> i) & 1 else "BB" for i in range(width)) for n in range(2**width)]
    rng.shuffle(keys)
    return keys[:count]


def random_float(rng: random.Random) -> float:
    while True:  # JSON has no infinity: orjson writes it as null
        f = _random_float(rng)
        if math.isfinite(f):
            return f


def _random_float(rng: random.Random) -> float:
    kind = rng.randrange(8)
    if kind == 0:  # any bit pattern (finite)
        while True:
            f = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if math.isfinite(f):
                return f
    if kind == 1:  # subnormals
        return struct.unpack("<d", struct.pack("<Q", rng.getrandbits(52)))[0] * rng.choice([1, -1])
    if kind == 2:  # powers of ten and their neighbours
        f = 10.0 ** rng.randint(-323, 308)
        return rng.choice([f, math.nextafter(f, 0), math.nextafter(f, math.inf)])
    if kind == 3:  # Java's 1e-3 and 1e7 boundaries
        f = rng.choice([1e-3, 1e7, 1e6, 1e-4, 1e16, 1e15, 1e-5])
        return rng.choice([f, math.nextafter(f, 0), math.nextafter(f, math.inf)]) * rng.choice([1, -1])
    if kind == 4:
        return rng.choice([0.0, -0.0, 0.5, 1.0, 0.1, 0.30000000000000004, 1.5e300, 5e-324, 1.7976931348623157e308])
    if kind == 5:  # few digits, any scale
        return float(f"{rng.randint(1, 999)}e{rng.randint(-330, 310)}")
    if kind == 6:
        return rng.uniform(-1e7, 1e7)
    return rng.uniform(0, 1) * 10.0 ** rng.randint(-20, 20)


def random_value(rng: random.Random, depth: int, floats: bool) -> Any:
    kind = rng.randrange(12 if depth < 6 else 8)
    if kind < 3:
        return rng.choice(TEXTS)
    if kind == 3:
        return rng.choice([None, True, False, {}, [], ""])
    if kind == 4:
        return rng.choice(INTS)
    if kind == 5:
        return random_float(rng) if floats else rng.choice(TEXTS)
    if kind == 6:
        return "".join(rng.choice("ab€😀\"\\\n\x01") for _ in range(rng.randint(0, 12)))
    if kind == 7:
        return rng.randint(-10**6, 10**6)
    if kind in (8, 9):
        return [random_value(rng, depth + 1, floats) for _ in range(rng.randint(0, 5))]
    size = rng.choice([0, 1, 2, 3, 5, 8, 9, 12, 13, 20, 40, 70])
    if size > 8:
        depth += 3  # big objects hold mostly scalars: the values stay small enough to compare in Python
    shape = rng.randrange(4)
    if shape == 0:
        keys = rng.sample(PLAIN_KEYS, min(size, len(PLAIN_KEYS)))
    elif shape == 1:
        keys = bucket_keys(rng, size, rng.choice([4, 5, 6, 7]))
    elif shape == 2:
        keys = colliding_keys(rng, size)
    else:
        keys = [f"k{n}" for n in range(size)]
    return {key: random_value(rng, depth + 1, floats) for key in keys}


@pytest.mark.parametrize("seed", range(4))
def test_fuzzed_values_render_as_python_does(seed: int) -> None:
    rng = random.Random(seed)
    tallies = new_tallies()
    values = [random_value(rng, 0, floats=False) for _ in range(800)]
    for value in values:
        check_value(value, tallies)
    for name, tally in tallies.items():
        assert tally.refused == 0 and tally.answered >= len(values), (name, tally.answered, tally.refused)


@pytest.mark.parametrize("seed", range(2))
def test_fuzzed_values_with_floats_render_as_python_does_where_covered(seed: int) -> None:
    rng = random.Random(100 + seed)
    tallies = new_tallies()
    values = [random_value(rng, 0, floats=True) for _ in range(800)]
    for value in values:
        check_value(value, tallies)
    with_floats = sum(has_float(v) for v in values)
    assert with_floats > 150
    # Answered: every value whose floats are covered (none when serde_json lacks float_roundtrip), no other.
    as_json = sum(floats_covered(v, java=False) for v in values)
    as_java = sum(floats_covered(v, java=False) and floats_covered(v, java=True) for v in values)
    assert tallies["value_json"].answered == tallies["clean"].answered == as_json
    assert tallies["render"].answered == as_java
    assert tallies["scalar"].answered == sum(floats_covered(v, java=True) for v in values)
    if FLOATS:
        assert as_java > len(values) * 0.8


def test_the_utilities_refuse_values_nested_deeper_than_max_depth() -> None:
    tallies = new_tallies()
    for depth in (120, 197, 198, 199, 200, 201, 230):
        for inner in ({"a": 1}, [], {}, "x", [None, {"b": ""}], {"a": [{"c": 2}]}):
            for wrap in ("o" * depth, "l" * depth, ("ol" * depth)[:depth]):
                check_value(inner, tallies, wrap)
    assert tallies["render"].answered > 40 and tallies["render"].refused > 40
    assert tallies["clean"].answered > 40 and tallies["clean"].refused > 40
    assert tallies["refused"].answered > 40  # the walk too (objects deeper than DEPTH_LIMIT)


def test_hashmap_order_matches_for_resizing_and_treeified_key_sets() -> None:
    rng = random.Random(7)
    checked = 0
    for _ in range(1500):
        count = rng.choice([1, 2, 8, 9, 10, 12, 13, 16, 17, 24, 25, 48, 49, 64, 65, 100, 200])
        shape = rng.randrange(3)
        if shape == 0:
            keys = bucket_keys(rng, count, rng.choice([3, 4, 5, 6, 7, 8]))
        elif shape == 1:
            keys = colliding_keys(rng, count)
        else:
            keys = list(dict.fromkeys("".join(rng.choice("aAbB😀é日_") for _ in range(rng.randint(0, 5)))
                                      for _ in range(count)))
        assert hooks._javamap_iteration_order(keys) == list(javamap.iteration_order(tuple(keys))), keys
        checked += 1
    assert checked == 1500


def test_java_length_counts_utf16_units() -> None:
    rng = random.Random(3)
    alphabet = "aZ09 é€日😀\U0010ffff\x00\x7f\u0800\uffff"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert hooks._javamap_java_length(text) == javamap.java_length(text), text


@pytest.mark.skipif(not native_path.available() or not FLOATS, reason="floats need serde_json's float_roundtrip")
def test_floats_render_as_java_and_orjson_do() -> None:
    rng = random.Random(11)
    answered = 0
    floats = [random_float(rng) for _ in range(100_000)]
    floats += [float(f"1e{p}") for p in range(-323, 309)] + [float(f"-1e{p}") for p in range(-323, 309)]
    for f in floats:
        text = repr(f)
        java = hooks._javamap_scalar(text)
        dumped = hooks._value_json(text)
        if not float_covered(f, java=False):
            assert java is None and dumped is None, text
            continue
        assert dumped == orjson.dumps(f), text
        if not float_covered(f, java=True):
            assert java is None, text
            continue
        assert java == javamap.java_double(f), text
        answered += 1
    assert answered == sum(float_covered(f, java=True) for f in floats) > len(floats) * 0.7


def test_numbers_serde_json_and_orjson_read_differently_are_refused() -> None:
    # `-0` is an int for orjson and -0.0 for serde_json; integers past u64/i64 are floats for serde_json and
    # refused by orjson.
    for text in ("-0", "[-0]", '{"a": -0}', "18446744073709551616", "-9223372036854775809", "[1e19]"):
        assert hooks._javamap_render(text) is None, text
        assert hooks._value_json(text) is None, text
        assert hooks._javamap_scalar(text) is None, text
    edges = b"[18446744073709551615,-9223372036854775808]"
    assert hooks._value_json(edges.decode()) == edges
    assert hooks._javamap_scalar("-9223372036854775808") == "-9223372036854775808"


def test_json_texts_with_any_escapes_come_out_as_orjson_writes_them() -> None:
    rng = random.Random(5)
    pieces = ['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0000", "\\u001f", "\\u007f", "\\u00e9",
              "\\u2028", "\\ud83d\\ude00", "é", "😀", "a", " ", "\x7f"]
    answered = 0
    for _ in range(3000):
        key = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        leaf = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        text = f'{{"{key}": ["{leaf}", {{"{leaf}": "{key}"}}]}}'
        value = orjson.loads(text)
        assert hooks._value_json(text) == orjson.dumps(value), text
        assert hooks._javamap_render(text) == python_render(value), text
        answered += 1
    assert answered == 3000


def test_flattened_verdicts_at_the_term_limit() -> None:
    """Leaves and key paths around Lucene's limit, in bytes of 1 to 4, with and without the rendered text's
    shortcut (whose test counts characters)."""
    rng = random.Random(9)
    answered = refused = 0
    for _ in range(600):
        unit = rng.choice(["a", "é", "€", "😀"])
        key = rng.choice(["", "k", "é" * rng.randint(1, 50), "path"])
        room = TERM_LIMIT - len(FIELD) - 2 - len(key.encode()) - rng.randint(-8, 8)
        leaf = unit * max(0, room // len(unit.encode())) + "a" * rng.randint(0, 3)
        value = rng.choice([{key: leaf}, {key: [leaf, 1]}, {"": {key: leaf}}, {"x": {key: {"y": leaf}}}, [leaf],
                            {key: 10**rng.randint(0, 18)}, {key: True}])
        for hint in (None, "short", "nul\x00", "é" * rng.randint(4085, 4100), leaf):
            verdict = refusal(value, FIELD, hint) is not None
            assert hooks._flattened_refused(orjson.dumps(value).decode(), FIELD, hint) == verdict, (key, len(leaf))
            answered += 1
            refused += verdict
    assert answered == 3000 and 300 < refused < 2700
    for _ in range(2000):  # a number's leaf is as long as Python's str() of it (floats: where read exactly)
        number = rng.choice([random_float(rng), rng.choice(INTS), rng.randint(-10**9, 10**9)])
        if not (isinstance(number, int) or FLOATS and float_covered(number, java=False)):
            continue
        key = "k" * (TERM_LIMIT - len(FIELD) - 2 - len(str(number)) + rng.randint(-1, 1))
        verdict = refusal({key: number}, FIELD) is not None
        assert hooks._flattened_refused(orjson.dumps({key: number}).decode(), FIELD, None) == verdict, number
        refused += verdict
    assert hooks._flattened_refused('{"a\\u0000b": "x"}', FIELD, None)
    assert not hooks._flattened_refused(orjson.dumps({"a": "x" * 40_000}).decode(), FIELD, "")  # trusts the text
