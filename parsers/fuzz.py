"""The fuzz harness: generated and mutated inputs for every envelope, every registered parser and the whole
record path, each input run under a timeout in a child process.

Targets:

    envelope:gzip             gzip.decompress on mutated gzip bytes and gzip bombs
    envelope:cloudwatch_logs  envelopes.unwrap on mutated subscription records (gzipped or not), and
    envelope:eventbridge      the envelope's own function on the decoded object when it decodes
    envelope:cloudtrail_file
    envelope:lines
    envelope:s3_notification
    record                    parse_record, with detection rules and filters: must never raise at all; S3
                              notifications' objects are read from the envelope samples (or are missing)
    <dataset>                 registry.get(dataset).parse_unguarded on mutated events, as text or decoded JSON

A finding is: any exception but a `ParseError` escaping (for `record`: any exception at all), a parser
output that is not a list of JSON-serialisable dicts, a `parse_record` outcome whose counts do not add up,
a timeout (a hang), or a crashed child. In a parser, nesting deeper than Python's recursion limit or
orjson's rendering depth (255) is counted as `too_deep`, not a finding: `DatasetSpec.parse` and
`parse_record` dead-letter it by design. Envelopes never recurse on input: there it is a finding.

Seeds: Elastic's pipeline fixtures under `fixtures` (default ../shared/fixtures/elastic-aws beside the project, or
$SECSTASH_FUZZ_FIXTURES) when present, plus `parsers.fuzz_samples`, so it also runs without them. Mutations:
truncation, byte and character flips, span deletion and duplication, type swaps inside JSON, huge values,
deep nesting, unicode (digits `int()` refuses, RTL marks, zero-width, case-changing letters), separators,
gzip bombs and broken gzip members. Input `i` of a target is a pure function of (seed, target, i):
`generate(target, seed, i)` rebuilds any finding's input.
"""

from __future__ import annotations

import base64
import copy
import gzip as gzip_module
import multiprocessing
import os
import random
import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import orjson

from parsers import envelopes, registry
from parsers.envelopes import cloudtrail_file, cloudwatch_logs, eventbridge, s3_notification
from parsers.envelopes import gzip as gzip_envelope
from parsers.enrich import useragent
from parsers.errors import ObjectUnavailable, ParseError
from parsers.event import Event
from parsers.fuzz_samples import EVENTS, RECORDS, cloudwatch_message, eventbridge_event
from parsers.options import ParseOptions
from parsers.record import parse_record
from parsers.rules import Condition, DetectionRule, FilterRule, StreamParsing

# ../shared beside the project root, where every checkout and CI run has it.
DEFAULT_FIXTURES = Path(os.environ.get("SECSTASH_FUZZ_FIXTURES")
                        or Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "elastic-aws")
TIMEOUT_S = 10.0  # generous: a real hang (catastrophic backtracking) runs for minutes; a loaded machine slows a sound parse several fold
CHUNK = 250  # inputs per child process: small enough to balance the cores, large enough that forks are cheap
CAP = 4 * 1024 * 1024  # decompression cap while fuzzing: bombs hit it in milliseconds
OPTIONS = ParseOptions(keep_original=True, max_decompressed_bytes=CAP)
ENVELOPES = ("gzip", "cloudwatch_logs", "eventbridge", "cloudtrail_file", "lines", "s3_notification")

# What the `record` target runs with: rules and filters of every kind, so their code is fuzzed too.
RECORD_PARSING = StreamParsing(
    stream="fuzz", namespace="fuzz", labels=(("team", "fuzz"),),
    detection=(DetectionRule("vpcflow", "/custom/flows*", "*", "${version} ${srcaddr} ${dstaddr} ${action}"),
               DetectionRule("cloudtrail", "/custom/trail", "*")),
    filters=(
        FilterRule("drop", ("cloudtrail",), (Condition("aws.cloudtrail.read_only", (True,)),), name="read-only"),
        FilterRule("mask", (), (Condition("event.original", matches="(?i)password"),), ("event.original",),
                   mask_pattern=r"(?i)password=\S+", name="secrets"),
        FilterRule("remove", ("aws.vpcflow",), (Condition("source.ip", negate=True),), ("aws.vpcflow.tcp_flags",)),
        FilterRule("mask", (), (Condition("user.name", ("root", 0, 1.5, False)),), ("user", "related.user")),
    ),
)


@dataclass(slots=True)
class Finding:
    target: str
    index: int  # `generate(target, seed, index)` rebuilds the input
    kind: str  # exception, bad_output, timeout, crash
    detail: str
    input: str  # a short rendering of the input


@dataclass(slots=True)
class Report:
    target: str
    inputs: int = 0
    rejected: int = 0  # a ParseError: the input was refused cleanly
    too_deep: int = 0
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


# --- mutations -----------------------------------------------------------------------------------------

_TRICKY = (
    "", "-", " ", "\t", "\n", "\r", "\r\n", "\x00", "\x7f", "\u200b", "\u202e", "\ufeff", "é", "\U0001f4a5", "²",
    "١٢٣", "Ⅻ", "ß", "İ", "ﬁ", "\u2028", "\\", '"', "'", "%", "%zz", "%00", "{", "}", "[", "]", ":", "=", ",", "|",
    "null", "true", "NaN", "inf", "-0", "1e999", "9" * 25, "-9223372036854775809", "18446744073709551616",
    "0x1f", "1_000", " 12 ", "2024-13-45T99:99:99Z", "0000-00-00T00:00:00Z", "9999-12-31T23:59:59.999Z",
    "::", "::ffff:1.2.3.4", "999.1.1.1", "[::1]:80", "1.2.3.4:99999", "arn:aws", "arn:aws:iam::", "/", "a.b.c",
)
_JSON_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1.5, -0.0, 9223372036854775807, -9223372036854775808, 18446744073709551615, 1e308,
    "", "-", "x", "null", [], {}, [None], [1, "a", None, {}], {"": None}, {"a": {"b": []}},
)
# Huge values: a CloudWatch Logs event holds up to 256 KiB, a Kinesis record 1 MiB (the largest, rarely:
# they dominate the run time of slow parsers).
_HUGE = (1_000, 1_000, 1_000, 10_000, 10_000, 100_000, 100_000, 256 * 1024, 256 * 1024, 1024 * 1024)
_DEPTHS = (20, 100, 250, 300, 600, 990, 1100)
_NUMBERS = ("1" + "0" * 30, "-1" + "0" * 30, "1e400", "-1e400", "1.7976931348623157e309", "1E-400", "-0", "0.0e0")
_SEPARATORS = ((" ", "\t"), ("\t", " "), ('"', ""), (" ", "  "), (",", ";"), ("=", " = "))


def _span(rng: random.Random, length: int) -> tuple[int, int]:
    start = rng.randrange(length + 1)
    return start, min(length, start + rng.choice((1, 2, 8, 64, length or 1)))


def _tricky(rng: random.Random) -> str:
    if rng.random() < 0.08:
        return rng.choice("A9 -\"") * rng.choice(_HUGE)
    return rng.choice(_TRICKY)


def _text_op(rng: random.Random, text: str) -> str:
    op = rng.randrange(10)
    if op == 0:  # truncation
        return text[:rng.randrange(len(text) + 1)]
    if op == 1:  # character flips
        chars = list(text)
        for _ in range(rng.randint(1, 8)):
            if chars:
                chars[rng.randrange(len(chars))] = chr(rng.choice((rng.randrange(32, 127), rng.randrange(0, 0xD800))))
        return "".join(chars)
    if op == 2:
        start, end = _span(rng, len(text))
        return text[:start] + text[end:]
    if op == 3:
        start, end = _span(rng, len(text))
        return text[:end] + text[start:end] * rng.choice((1, 2, 100)) + text[end:]
    if op in (4, 5):  # a tricky or huge value at a random place
        at = rng.randrange(len(text) + 1)
        return text[:at] + _tricky(rng) + text[at:]
    if op == 6:  # a whole field replaced
        fields = text.split(" ")
        fields[rng.randrange(len(fields))] = _tricky(rng)
        return " ".join(fields)
    if op == 7:
        old, new = rng.choice(_SEPARATORS)
        return text.replace(old, new)
    if op == 8:  # fewer or more fields
        fields = text.split(" ")
        return " ".join(fields[:rng.randrange(len(fields) + 1)] if rng.random() < 0.5 else fields + fields[:3])
    return "".join(rng.choice(_TRICKY + tuple("abc 019:-./")) for _ in range(rng.randrange(40)))


def _fresh(value: Any) -> Any:
    """A copy of one of the shared _JSON_VALUES, all the way down: the input's later mutations, and the
    parser, change the input in place, and must not change the constants every later input is made from."""
    return copy.deepcopy(value)


class _Json:
    """A decoded JSON value under mutation; deep nesting and out-of-range numbers go in as placeholders so
    the text can hold what orjson would refuse to write."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.raw: dict[str, str] = {}

    def mutate(self, rng: random.Random) -> None:
        for _ in range(rng.randint(1, 3)):
            parent, key = self._pick(rng)
            if parent is None:
                return
            op = rng.randrange(7)
            if op == 0 and isinstance(parent, dict):
                del parent[key]
            elif op == 1 and isinstance(parent, dict):
                parent[_tricky(rng)[:64]] = _fresh(rng.choice(_JSON_VALUES))
            elif op == 2:
                parent[key] = self._placeholder(self._deep(rng))
            elif op == 3:
                parent[key] = self._placeholder(rng.choice(_NUMBERS))
            elif op == 4:
                parent[key] = _tricky(rng)
            else:  # a type swap
                parent[key] = _fresh(rng.choice(_JSON_VALUES))

    def text(self) -> str:
        try:
            text = orjson.dumps(self.value).decode()
        except TypeError:
            return ""
        for token, raw in self.raw.items():
            text = text.replace(orjson.dumps(token).decode(), raw)
        return text

    def _pick(self, rng: random.Random) -> tuple[Any, Any]:
        parent, key = None, None
        node = self.value
        for _ in range(rng.randint(1, 6)):
            if isinstance(node, dict) and node:
                parent, key = node, rng.choice(list(node))
            elif isinstance(node, list) and node:
                parent, key = node, rng.randrange(len(node))
            else:
                break
            node = parent[key]
        return parent, key

    def _placeholder(self, raw: str) -> str:
        token = f"\x00{len(self.raw)}\x00"
        self.raw[token] = raw
        return token

    @staticmethod
    def _deep(rng: random.Random) -> str:
        depth = rng.choice(_DEPTHS)
        if rng.random() < 0.5:
            return "[" * depth + "1" + "]" * depth
        return '{"a":' * depth + '"x"' + "}" * depth


def _mutate_text(rng: random.Random, text: str) -> str:
    """JSON-aware when the text is a JSON object or array (most of the time), character-level otherwise."""
    if text[:1] in ("{", "[") and rng.random() < 0.7:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if value is not None:
            mutable = _Json(value)
            mutable.mutate(rng)
            text = mutable.text()
            return text if rng.random() < 0.8 else _text_op(rng, text)
    for _ in range(rng.randint(1, 3)):
        text = _text_op(rng, text)
    return text


def _bytes_op(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    op = rng.randrange(4)
    if op == 0 or not buf:
        return bytes(buf[:rng.randrange(len(buf) + 1)]) + rng.randbytes(rng.randrange(4))
    if op == 1:
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        return bytes(buf)
    if op == 2:
        at = rng.randrange(len(buf) + 1)
        return bytes(buf[:at]) + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\x1f\x8b")) + bytes(buf[at:])
    start, end = _span(rng, len(buf))
    return bytes(buf[:start] + buf[end:])


@cache
def _bombs() -> tuple[bytes, ...]:
    def deflate(size: int) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        return packer.compress(bytes(size)) + packer.flush()

    member = deflate(64 * 1024)
    return (deflate(CAP + 1), deflate(4 * CAP), member * (2 * CAP // (64 * 1024)), deflate(CAP) + deflate(1))


def _gzip_op(rng: random.Random, data: bytes) -> bytes:
    op = rng.randrange(8)
    if op == 0:
        return rng.choice(_bombs())
    if op == 1:  # concatenated members, trailing garbage
        return data + rng.choice((data, b"\x00\x00", b"garbage", gzip_module.compress(b"")))
    if op == 2:  # a gzip inside a gzip
        return gzip_module.compress(data)
    if op == 3:  # header flags with nothing behind them, or a zlib stream behind gzip magic
        return rng.choice((b"\x1f\x8b", b"\x1f\x8b\x08\xff" + data[4:], b"\x1f\x8b" + zlib.compress(data)[2:]))
    return _bytes_op(rng, data)


def _mutate_record(rng: random.Random, data: bytes) -> bytes:
    if data[:2] == gzip_envelope.MAGIC:
        if rng.random() < 0.4:
            return _gzip_op(rng, data)
        inner = gzip_module.decompress(data)
        return gzip_module.compress(_mutate_record(rng, inner), 1)
    if rng.random() < 0.2:
        return _bytes_op(rng, data)
    if rng.random() < 0.05:
        return gzip_module.compress(data, 1)
    return _mutate_text(rng, data.decode("utf-8", "replace")).encode("utf-8", "surrogatepass")


# --- seeds -----------------------------------------------------------------------------------------------

_FIXTURE_LOG_GROUPS = {
    "vpcflow": ("/aws/vpc/flowlogs", "eni-0123456789abcdef0-all"),
    "waf": ("aws-waf-logs-fuzz", "us-east-1_fuzz_0"),
    "route53_public_logs": ("/aws/route53/example.com", "Z123412341234/FRA6"),
    "kubernetes.audit_logs": ("/aws/eks/fuzz/cluster", "kube-apiserver-audit-0a1b2c"),
    "cloudtrail": ("aws-cloudtrail-logs-123456789012-fuzz", "123456789012_CloudTrail_us-east-1"),
}


@cache
def fixture_events(root: Path = DEFAULT_FIXTURES) -> dict[str, tuple[str, ...]]:
    """Dataset -> the raw events (lines) of Elastic's pipeline test cases, when the folder exists."""
    found: dict[str, tuple[str, ...]] = {}
    if not root.is_dir():
        return found
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        dataset = "kubernetes.audit_logs" if folder.name == "kubernetes_audit_logs" else folder.name
        events = [line for path in sorted(folder.glob("*/test-*.log"))
                  for line in path.read_text(encoding="utf-8", errors="replace").split("\n") if line.strip()]
        if events:
            found[dataset] = tuple(events)
    return found


def _events(dataset: str, root: Path) -> list[str]:
    return [*EVENTS.get(dataset, ()), *fixture_events(root).get(dataset, ())]


def _records(envelope: str, root: Path) -> list[bytes]:
    if envelope == "gzip":
        return [gzip_module.compress(r, 1) for name in ENVELOPES[1:] for r in _records(name, root)]
    records = list(RECORDS[envelope])
    fixtures = fixture_events(root)
    if envelope == "cloudwatch_logs":
        for dataset, events in fixtures.items():
            group, stream = _FIXTURE_LOG_GROUPS.get(dataset, ("/aws/lambda/fuzz", "2024/01/01/[$LATEST]0"))
            records.append(gzip_module.compress(orjson.dumps(cloudwatch_message(group, stream, list(events))), 1))
    elif envelope == "eventbridge":
        for dataset, source, detail_type in (("guardduty", "aws.guardduty", "GuardDuty Finding"),
                                             ("cloudtrail", "aws.iam", "AWS API Call via CloudTrail")):
            for event in fixtures.get(dataset, ())[:8]:
                records.append(orjson.dumps(eventbridge_event(source, detail_type, _loads(event))))
        findings = [_loads(event) for event in fixtures.get("securityhub_findings", ())]
        if findings:
            records.append(orjson.dumps(eventbridge_event("aws.securityhub", "Security Hub Findings - Imported",
                                                          {"findings": findings})))
    elif envelope == "cloudtrail_file":
        trail = [_loads(event) for event in fixtures.get("cloudtrail", ())]
        if trail:
            records.append(orjson.dumps({"Records": trail}))
    elif envelope == "lines":
        records.extend("\n".join(events).encode() for events in fixtures.values())
    return records


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


# --- targets ---------------------------------------------------------------------------------------------

Verdict = str | tuple[str, str]  # "ok", "rejected", "too_deep", or a finding (kind, detail)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    seeds: tuple[Any, ...]
    mutate: Callable[[random.Random, Any], Any]
    check: Callable[[Any], Verdict]

    def generate(self, seed: int, index: int) -> Any:
        rng = random.Random(f"{seed}:{self.name}:{index}")
        if rng.random() < 0.03:  # noise now and then
            raw = rng.randbytes(rng.randrange(200))
            return raw if isinstance(self.seeds[0], bytes) else raw.decode("latin-1")
        return self.mutate(rng, rng.choice(self.seeds))


def _guard(run: Callable[[], Verdict], *, strict: bool = False) -> Verdict:
    """`strict` (envelopes): nothing there recurses on input, so a RecursionError is a finding too."""
    try:
        return run()
    except ParseError:
        return "rejected"
    except Exception as exc:  # noqa: BLE001 - that is the finding
        if not strict and (isinstance(exc, RecursionError) or _too_deep_to_render(exc)):
            return "too_deep"
        return "exception", f"{type(exc).__name__}: {str(exc)[:300]}"


def _too_deep_to_render(exc: Exception) -> bool:
    """orjson refuses to write more than 254 levels (it reads up to 1024): Event.text() of such an object."""
    return isinstance(exc, TypeError) and str(exc) == "Recursion limit reached"


def _serialisable(docs: Iterable[Any]) -> Verdict:
    for doc in docs:
        if not isinstance(doc, dict):
            return "bad_output", f"a {type(doc).__name__} instead of a dict"
        try:
            orjson.dumps(doc)
        except TypeError as exc:
            if _too_deep_to_render(exc):
                return "too_deep"
            return "bad_output", f"not JSON-serialisable: {exc}"
    return "ok"


# Datasets whose events envelopes can hand over as decoded objects only (EventBridge details, CloudTrail
# file records); every other JSON event arrives with its text.
_OBJECT_ONLY = frozenset({"cloudtrail", "guardduty", "securityhub_findings", "config", "cloudwatch_logs"})


def _parser_target(dataset: str, root: Path) -> Target:
    spec = registry.get(dataset)
    seeds = tuple(_events(dataset, root)) or ("",)
    others = tuple(e for name in EVENTS if name != dataset for e in EVENTS[name])

    def mutate(rng: random.Random, seed: str) -> Event:
        text = rng.choice(others) if rng.random() < 0.05 else seed
        text = _mutate_text(rng, text)
        if text[:1] == "{" and rng.random() < 0.5:  # as an envelope hands it over: decoded once, by orjson
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
            else:  # EventBridge details and CloudTrail file records come without their text
                return Event(message=None if dataset in _OBJECT_ONLY else text, obj=obj)
        return Event(message=text)

    def check(event: Any) -> Verdict:
        if isinstance(event, str):
            event = Event(message=event)

        def run() -> Verdict:
            docs = spec.parse_unguarded(event, OPTIONS)
            if not isinstance(docs, list):
                return "bad_output", f"returned a {type(docs).__name__}, not a list"
            return _serialisable(docs)

        return _guard(run)

    return Target(dataset, seeds, mutate, check)


def _unwrapped_ok(out: envelopes.Unwrapped) -> Verdict:
    for item in out.items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Event)
                and (item[0] is None or isinstance(item[0], str))):
            return "bad_output", f"not a (dataset, Event) item: {item!r:.200}"
        event = item[1]
        if event.message is not None and not isinstance(event.message, str):
            return "bad_output", "an event message that is not a string"
    for ref in out.objects:
        if not (isinstance(ref.bucket, str) and ref.bucket and isinstance(ref.key, str) and ref.key
                and isinstance(ref.notification, str)):
            return "bad_output", f"a malformed object pointer: {ref!r:.200}"
    return "ok"


def _envelope_check(envelope: str) -> Callable[[Any], Verdict]:
    direct: Callable[[dict[str, Any]], None] | None = {
        "cloudwatch_logs": lambda obj: cloudwatch_logs.unwrap(obj, envelopes.Unwrapped()),
        "eventbridge": lambda obj: eventbridge.unwrap(obj, None, envelopes.Unwrapped()),
        "cloudtrail_file": lambda obj: cloudtrail_file.unwrap(obj, None, envelopes.Unwrapped()),
        "s3_notification": lambda obj: s3_notification.unwrap(obj, envelopes.Unwrapped())
        if s3_notification.is_notification(obj) else None,
    }.get(envelope)

    def check(data: Any) -> Verdict:
        if envelope == "gzip":
            return _guard(lambda: (gzip_envelope.decompress(data, CAP), "ok")[1], strict=True)
        verdict = _guard(lambda: _unwrapped_ok(envelopes.unwrap(data, CAP)), strict=True)
        if verdict == "ok" and direct is not None:
            try:
                obj = orjson.loads(gzip_module.decompress(data) if data[:2] == gzip_envelope.MAGIC else data)
            except (orjson.JSONDecodeError, OSError, EOFError, zlib.error):
                obj = None
            if isinstance(obj, dict):
                verdict = _guard(lambda: (direct(obj), "ok")[1], strict=True)
        return verdict

    return check


def _sample_object(ref: envelopes.ObjectRef) -> bytes:
    """A log object for the record target: one of the samples, picked by the key, or none at all."""
    samples = [r for name in ("lines", "cloudtrail_file", "cloudwatch_logs") for r in RECORDS[name]]
    pick = zlib.crc32(ref.key.encode("utf-8", "surrogatepass")) % (len(samples) + 1)
    if pick == len(samples):
        raise ObjectUnavailable(f"s3://{ref.bucket}/{ref.key}: NoSuchKey")
    return samples[pick]


def _record_check(data: Any) -> Verdict:
    try:
        outcome = parse_record(data, RECORD_PARSING, OPTIONS, _sample_object)
    except BaseException as exc:  # noqa: BLE001 - parse_record must never raise
        return "exception", f"parse_record raised {type(exc).__name__}: {str(exc)[:300]}"
    ordinals = {d.ordinal for d in outcome.documents} | {f.ordinal for f in outcome.failures}
    accounted = len(ordinals) + outcome.dropped["parser_drop"] + outcome.dropped["filtered"]
    if accounted != outcome.events:
        return "bad_output", f"{outcome.events} events but {accounted} outcomes ({outcome.dropped})"
    for failure in outcome.failures:
        if not (isinstance(failure.reason, str) and isinstance(failure.raw, str)):
            return "bad_output", f"malformed failure {failure!r:.200}"
    verdict = _serialisable(d.doc for d in outcome.documents)
    return "rejected" if verdict == "ok" and outcome.failures and not outcome.documents else verdict


@cache
def targets(root: Path = DEFAULT_FIXTURES) -> dict[str, Target]:
    """Every fuzz target by name: the envelopes, the record path, and each registered parser."""
    found: dict[str, Target] = {}
    for envelope in ENVELOPES:
        mutate = _gzip_op if envelope == "gzip" else _mutate_record
        found[f"envelope:{envelope}"] = Target(f"envelope:{envelope}", tuple(_records(envelope, root)), mutate,
                                               _envelope_check(envelope))
    record_seeds = (*(r for envelope in ENVELOPES[1:] for r in _records(envelope, root)),
                    orjson.dumps(cloudwatch_message("/custom/flows-1", "x", EVENTS["vpcflow"])),
                    orjson.dumps(cloudwatch_message("/custom/trail", "x", EVENTS["cloudtrail"])))
    found["record"] = Target("record", record_seeds, _mutate_record, _record_check)
    for dataset in registry.names():
        found[dataset] = _parser_target(dataset, root)
    return found


def generate(target: str, seed: int, index: int, root: Path = DEFAULT_FIXTURES) -> Any:
    """Input `index` of a fuzz run: to reproduce a finding."""
    return targets(root)[target].generate(seed, index)


def select(patterns: Sequence[str] | None, root: Path = DEFAULT_FIXTURES) -> list[str]:
    """Target names matching any of the globs (`envelope:*`, `cloudtrail`); all targets for None."""
    names = list(targets(root))
    if not patterns:
        return names
    chosen = [n for n in names if any(fnmatchcase(n, p) for p in patterns)]
    unknown = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if unknown:
        raise ValueError(f"no fuzz target matches {', '.join(unknown)}; targets: {', '.join(names)}")
    return chosen


# --- running ---------------------------------------------------------------------------------------------

# Shared with each child, written without locks (one writer): the input being run, when it started (ns),
# inputs finished, of which rejected and too deep.
_INDEX, _STARTED, _DONE, _REJECTED, _TOO_DEEP = range(5)


def _child(target: Target, seed: int, start: int, stop: int, state: Any, conn: Any) -> None:
    for index in range(start, stop):
        state[_STARTED] = 0  # generating: the harness's own work, not timed (inputs reach megabytes)
        state[_INDEX] = index
        data = target.generate(seed, index)
        state[_STARTED] = time.monotonic_ns()
        verdict = target.check(data)
        if verdict == "rejected":
            state[_REJECTED] += 1
        elif verdict == "too_deep":
            state[_TOO_DEEP] += 1
        elif verdict != "ok":
            conn.send((index, verdict[0], verdict[1], render(data)))
        state[_DONE] += 1
    state[_INDEX] = stop
    conn.close()


def render(data: Any, limit: int = 300) -> str:
    """A short, printable view of an input."""
    if isinstance(data, Event):
        data = data.message if data.message is not None else data.obj
    if isinstance(data, bytes) and data[:2] == gzip_envelope.MAGIC:
        shown = "gzip:" + base64.b64encode(data[:limit]).decode()
    elif isinstance(data, str | bytes):
        shown = repr(data)
    else:
        try:
            shown = "json:" + orjson.dumps(data).decode()
        except TypeError:
            shown = "json: (nested too deeply to render; rebuild it with generate())"
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(shown)} chars)"


class _WarmUpTimeout(Exception):
    pass


def _warm(chosen: Sequence[Target], limit_s: float = 10.0) -> None:
    """Run a few seeds here first, so lazy caches (user-agent regexes, ...) are built once and inherited by
    every child rather than rebuilt in each. Bounded in time: a seed that hangs is left to the children."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: Any) -> None:
        raise _WarmUpTimeout

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        useragent.warm()
        for target in chosen:
            for data in target.seeds[:3]:
                target.check(data)
    except _WarmUpTimeout:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(slots=True)
class _Chunk:
    target: str
    start: int
    stop: int
    process: Any = None
    state: Any = None
    conn: Any = None


def run(names: Sequence[str], iterations: int, seed: int, *, timeout: float = TIMEOUT_S, jobs: int | None = None,
        root: Path = DEFAULT_FIXTURES, on_done: Callable[[Report], None] | None = None,
        catalogue: Mapping[str, Target] | None = None) -> list[Report]:
    """Run `iterations` inputs per target in child processes (`jobs` at a time, default: every core).
    `catalogue` replaces `targets(root)` (tests give targets of their own)."""
    catalogue = catalogue if catalogue is not None else targets(root)
    _bombs()  # built once here, inherited by every child
    _warm([catalogue[name] for name in names])
    context = multiprocessing.get_context("fork")
    reports = {name: Report(name) for name in names}
    pending = [_Chunk(name, start, min(start + CHUNK, iterations)) for name in names
               for start in range(0, iterations, CHUNK)]
    pending.reverse()
    left = {name: sum(1 for c in pending if c.target == name) for name in names}
    started = {name: 0.0 for name in names}
    running: list[_Chunk] = []
    jobs = jobs or os.cpu_count() or 1

    def launch(chunk: _Chunk) -> None:
        started[chunk.target] = started[chunk.target] or time.monotonic()
        chunk.state = context.RawArray("q", 5)
        chunk.state[_INDEX] = chunk.start - 1
        receiver, sender = context.Pipe(duplex=False)
        chunk.conn = receiver
        chunk.process = context.Process(target=_child, daemon=True, args=(
            catalogue[chunk.target], seed, chunk.start, chunk.stop, chunk.state, sender))
        chunk.process.start()
        sender.close()
        running.append(chunk)

    def collect(chunk: _Chunk) -> None:
        try:
            while chunk.conn.poll():
                index, kind, detail, shown = chunk.conn.recv()
                reports[chunk.target].findings.append(Finding(chunk.target, index, kind, detail, shown))
        except (EOFError, OSError):
            pass

    def settle(chunk: _Chunk, kind: str | None) -> None:
        """Count a finished or stopped chunk; after a hang or a crash, go on after the input that caused it."""
        collect(chunk)
        report, state = reports[chunk.target], chunk.state
        report.inputs += state[_DONE]
        report.rejected += state[_REJECTED]
        report.too_deep += state[_TOO_DEEP]
        running.remove(chunk)
        chunk.conn.close()
        if kind is not None:
            index = state[_INDEX]
            report.inputs += 1
            detail = (f"no result after {timeout} s" if kind == "timeout"
                      else f"child exited with status {chunk.process.exitcode}")
            report.findings.append(Finding(chunk.target, index, kind, detail,
                                           render(catalogue[chunk.target].generate(seed, index))))
            if index + 1 < chunk.stop:
                pending.append(_Chunk(chunk.target, index + 1, chunk.stop))
                left[chunk.target] += 1
        left[chunk.target] -= 1
        if not left[chunk.target]:
            report.seconds = time.monotonic() - started[chunk.target]
            if on_done is not None:
                on_done(report)

    while pending or running:
        while pending and len(running) < jobs:
            launch(pending.pop())
        wait([c.process.sentinel for c in running] + [c.conn for c in running], timeout=0.05)
        now = time.monotonic_ns()
        for chunk in tuple(running):  # settle() removes from it
            collect(chunk)
            started_ns = chunk.state[_STARTED]  # read once: the child rewrites it between inputs
            if not chunk.process.is_alive():
                chunk.process.join()
                crashed = chunk.process.exitcode != 0 or chunk.state[_INDEX] != chunk.stop
                settle(chunk, "crash" if crashed else None)
            elif (chunk.start <= chunk.state[_INDEX] < chunk.stop and started_ns
                  and now - started_ns > timeout * 1e9):
                chunk.process.kill()
                chunk.process.join()
                settle(chunk, "timeout")
    return [reports[name] for name in names]
