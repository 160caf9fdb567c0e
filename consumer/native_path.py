"""The compiled record path: records the `secstash_native` module renders whole, straight to bulk lines.

`parsers` stays the reference implementation. For the records it covers, the compiled path makes exactly
the bulk lines (ids, index, bodies, byte for byte) the Python path makes from them; the unit tests compare
the two over generated corpora, Elastic's test cases and fuzzed input. It covers what dominates a
security-logging platform's volume: CloudWatch Logs subscription records of VPC Flow Logs (any format
`parsers.vpcflow` knows), in log groups the stream's rules give to `vpcflow` by name, on streams without
filters, into indices whose name does not depend on the document's date. It refuses every other record,
and any record with one event it does not cover (a header line, a value Python renders its own way); the
Python path parses those, so nothing depends on the module being there: without it (`secstash_native`
not installed, or `pipeline.native_records: false`) every record takes the Python path.

Why: a VPC Flow event costs ~30-45 µs through the Python parser, document and bulk item, and ~3 µs here
(`secstash bench`, docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parsers import ParseOptions, StreamParsing, registry
from parsers.detect import VPCFLOW, Detector
from parsers.ecs import EXACT_MS
from sinks.batch import DocumentRun, RawRecord
from sinks.documents import record_position
from sinks.search.request_builder import action_prefix

try:
    import secstash_native
except ImportError:  # not built on this machine: every record takes the Python path
    secstash_native = None

import orjson

if TYPE_CHECKING:
    from consumer.pool import IndexNaming

_GZIP = b"\x1f\x8b"
_ROUTES = 4096  # (log group, log stream) decisions remembered per stream, as parsers.detect does


def available() -> bool:
    return secstash_native is not None


def state(enabled: bool) -> str:
    """For the start-up log line: whether records take this path."""
    if not enabled:
        return "off (pipeline.native_records: false)"
    return "on" if available() else "off (secstash_native not installed)"


@dataclass(slots=True)
class _Plan:
    """What a stream's settings compile to for this path."""

    detector: Detector
    forced: bool  # the stream's `dataset` is vpcflow: every event is, whatever its log group
    namespace: str
    labels: bytes | None
    routes: dict[tuple[str, str], tuple[bool, str | None]]

    def claim(self, group: str, stream: str) -> tuple[bool, str | None]:
        """(whether names give the (group, stream) to vpcflow, its format hint)."""
        key = (group, stream)
        found = self.routes.get(key)
        if found is None:
            decided = self.detector.by_names(group, stream)
            found = (decided[0] == VPCFLOW, decided[1]) if decided is not None else (False, None)
            if len(self.routes) >= _ROUTES:
                self.routes.clear()
            self.routes[key] = found
        return found


_PLANS: dict[int, tuple[StreamParsing, _Plan | None]] = {}
_WRITERS: dict[str | None, Any] = {}  # GeoIP folder -> VpcflowDocuments (None: databases unusable)


def _plan(parsing: StreamParsing) -> _Plan | None:
    """None when no record of the stream can take this path."""
    entry = _PLANS.get(id(parsing))
    if entry is not None and entry[0] is parsing:
        return entry[1]
    plan = None
    may_claim = parsing.dataset == VPCFLOW or (
        parsing.dataset is None and any(rule.dataset == VPCFLOW for rule in parsing.detection))
    if may_claim and not parsing.filters:
        labels = orjson.dumps(dict(parsing.labels)) if parsing.labels else None
        plan = _Plan(Detector(parsing), parsing.dataset == VPCFLOW, parsing.namespace, labels, {})
    if len(_PLANS) >= 64:
        _PLANS.clear()
    _PLANS[id(parsing)] = (parsing, plan)  # keeps `parsing` alive, so its id is not reused while cached
    return plan


def _writer(geoip_dir: str | None) -> Any:
    if geoip_dir not in _WRITERS:
        try:
            _WRITERS[geoip_dir] = secstash_native.VpcflowDocuments(geoip_dir)
        except ValueError:  # a database that does not open: the Python path reports it per event
            _WRITERS[geoip_dir] = None
    return _WRITERS[geoip_dir]


def render(stream: str, shard: str, record: RawRecord, data: bytes, parsing: StreamParsing, options: ParseOptions,
           index_for: IndexNaming) -> DocumentRun | None:
    """The record's documents, or None: the Python path parses it (`index_for`: the pool's IndexNaming)."""
    if secstash_native is None or data[:2] != _GZIP or not 0 <= record.arrival_ms < EXACT_MS:
        return None
    if "{date}" in index_for.pattern:  # the index would depend on each document's @timestamp
        return None
    plan = _plan(parsing)
    if plan is None:
        return None
    if not plan.forced:
        names = secstash_native.peek_log_group(data)
        if names is not None and not plan.claim(*names)[0]:
            return None  # another dataset's record (CloudTrail, ...): not worth decoding twice
    try:
        cwl = secstash_native.CwlRecord(data, options.max_decompressed_bytes, options.max_events_per_object)
    except ValueError:
        return None
    claimed, fmt = plan.claim(cwl.log_group, cwl.log_stream)
    writer = _writer(options.geoip_dir)
    if not claimed or writer is None:
        return None
    spec = registry.get(VPCFLOW)
    index = index_for(spec.event_dataset, parsing.namespace)
    prefix = action_prefix(index)
    rendered = writer.render(cwl, record_position(stream, shard, record.sequence, record.sub_sequence),
                             prefix, record.arrival_ms, spec.ecs_version, parsing.namespace, plan.labels,
                             options.keep_original or spec.keeps_original, fmt)
    if rendered is None:
        return None
    lines, bounds = rendered
    return DocumentRun(index, spec.name, spec.event_dataset, stream, shard, record.sequence, record.sub_sequence,
                       lines, bounds, len(prefix))
