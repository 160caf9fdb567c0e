"""The compiled record path: records the `secstash_native` module renders whole, straight to bulk lines.

`parsers` stays the reference implementation. For the records it covers, the compiled path makes exactly
the bulk lines (ids, index, bodies, byte for byte) the Python path makes from them; the unit tests compare
the two over generated corpora, Elastic's test cases and fuzzed input. It covers what dominates a
security-logging platform's volume, on streams without filters, into indices whose name does not depend on
the document's date:
- CloudWatch Logs subscription records of VPC Flow Logs (any format `parsers.vpcflow` knows) and of CloudTrail,
  in log groups names give to `vpcflow` or `cloudtrail` (the stream's rules, or the default rules for
  CloudTrail's groups); each record goes to the writer of the dataset its log group's names give it;
- records of plain ALB access log lines (several newline-separated lines, not compressed, as forwarders put
  them on a stream), on streams whose `dataset` is unset (each line's shape gives it to `elb_logs`) or
  `elb_logs`: `_elb_lines`. Every line must be an ALB line of the usual form (`native/src/elb.rs`: the fast
  ALB pattern of `parsers.elb_logs`; a url of the usual shape, maybe with percent escapes); a Classic ELB or
  NLB line, or any other, sends the record to Python whole.
It refuses every other record, and any record with one event it does not cover (a VPC Flow header line, a
CloudTrail digest file or Insights event, a float, a value Python renders its own way); the Python path parses
those, so nothing depends on the module being there: without it (`secstash_native` not installed, or
`pipeline.native_records: false`) every record takes the Python path.

Why: a VPC Flow event costs ~30-45 µs through the Python parser, document and bulk item, and ~3 µs here; an ALB
line ~45-50 µs, and ~4 µs here; a CloudTrail record ~55-60 µs, and 12-15 µs here (`secstash bench`,
docs/performance.md).
"""

from __future__ import annotations

from binascii import a2b_base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parsers import ParseOptions, StreamParsing, registry
from parsers.detect import VPCFLOW, Detector
from parsers.ecs import EXACT_MS
from parsers.enrich.useragent import user_agent
from sinks.batch import DocumentRun
from sinks.documents import record_position
from sinks.search.request_builder import action_prefix

try:
    import secstash_native
except ImportError:  # not built on this machine: every record takes the Python path
    secstash_native = None

import orjson

if TYPE_CHECKING:
    from collections.abc import Sequence

    from consumer.pool import IndexNaming

_GZIP_BASE64 = "H4sI"  # the base64 of gzip's magic bytes and its deflate method (1f 8b 08)
_ROUTES = 4096  # (log group, log stream) decisions remembered per stream, as parsers.detect does
CLOUDTRAIL = "cloudtrail"
COVERED = (VPCFLOW, CLOUDTRAIL)  # the datasets this path renders


def available() -> bool:
    return secstash_native is not None


def record_data(data_b64: str) -> bytes:
    """A record's bytes from its base64: the compiled decoder (~9 times binascii's speed) when installed and
    the text is strict standard base64, as the daemon sends it; binascii's lenient decoder otherwise, whose
    bytes the compiled one gives for every text it accepts."""
    if secstash_native is not None:
        data = secstash_native.record_data(data_b64)
        if data is not None:
            return data
    return a2b_base64(data_b64)


def state(enabled: bool) -> str:
    """For the start-up log line: whether records take this path."""
    if not enabled:
        return "off (pipeline.native_records: false)"
    return "on" if available() else "off (secstash_native not installed)"


@dataclass(slots=True, frozen=True)
class _Target:
    """How one covered dataset's records are rendered for a stream."""

    dataset: str
    event_dataset: str
    ecs_version: str
    writer: Any  # secstash_native.VpcflowDocuments or CloudtrailDocuments (GeoIP readers and caches)
    index: str
    prefix: bytes  # the action line up to the id
    keep_original: bool


@dataclass(slots=True)
class _Plan:
    """What a stream's settings, the index naming and the parse options compile to for this path: built
    once, so a record costs a few look-ups here before the compiled code takes it."""

    detector: Detector
    forced: _Target | None  # the stream's `dataset` is a covered one: every event is, whatever its log group
    targets: dict[str, _Target]  # the covered datasets the stream's rules (or the default rules) can claim
    namespace: str
    labels: bytes | None
    max_bytes: int
    max_events: int
    routes: dict[tuple[str, str], tuple[_Target | None, str | None]]

    def claim(self, group: str, stream: str) -> tuple[_Target | None, str | None]:
        """(the covered dataset names alone give the (group, stream) to, or None; its VPC Flow format hint)."""
        key = (group, stream)
        found = self.routes.get(key)
        if found is None:
            decided = self.detector.by_names(group, stream)
            found = (self.targets.get(decided[0]), decided[1]) if decided is not None else (None, None)
            if len(self.routes) >= _ROUTES:
                self.routes.clear()
            self.routes[key] = found
        return found


_PLANS: dict[tuple[int, IndexNaming, ParseOptions], tuple[StreamParsing, _Plan | None]] = {}
# (dataset, GeoIP folder) -> its writer (None: the databases are unusable)
_WRITERS: dict[tuple[str, str | None], Any] = {}


def _claimable(parsing: StreamParsing) -> list[str]:
    """The covered datasets some event of the stream may be given to by names: its forced dataset, or those its
    rules name, and CloudTrail, which the default rules give `aws-cloudtrail-logs-*` and `CloudTrail/*` groups."""
    if parsing.dataset is not None:
        return [parsing.dataset] if parsing.dataset in COVERED else []
    named = {rule.dataset for rule in parsing.detection}
    return [dataset for dataset in COVERED if dataset in named or dataset == CLOUDTRAIL]


def _plan(parsing: StreamParsing, naming: IndexNaming, options: ParseOptions) -> _Plan | None:
    """None when no record of the stream can take this path."""
    key = (id(parsing), naming, options)
    entry = _PLANS.get(key)
    if entry is not None and entry[0] is parsing:
        return entry[1]
    plan = None
    # A dated index would depend on each document's @timestamp; filters work on the documents as dicts.
    if not parsing.filters and "{date}" not in naming.pattern:
        targets = {}
        for dataset in _claimable(parsing):
            writer = _writer(dataset, options.geoip_dir)
            if writer is not None:
                spec = registry.get(dataset)
                index = naming(spec.event_dataset, parsing.namespace)
                targets[dataset] = _Target(dataset, spec.event_dataset, spec.ecs_version, writer, index,
                                           action_prefix(index), options.keep_original or spec.keeps_original)
        forced = targets.get(parsing.dataset) if parsing.dataset is not None else None
        if targets and (parsing.dataset is None or forced is not None):
            plan = _Plan(Detector(parsing), forced, targets, parsing.namespace,
                         orjson.dumps(dict(parsing.labels)) if parsing.labels else None,
                         options.max_decompressed_bytes, options.max_events_per_object, {})
    if len(_PLANS) >= 64:
        _PLANS.clear()
    _PLANS[key] = (parsing, plan)  # keeps `parsing` alive, so its id is not reused while cached
    return plan


def _writer(dataset: str, geoip_dir: str | None) -> Any:
    key = (dataset, geoip_dir)
    if key not in _WRITERS:
        try:
            if dataset == VPCFLOW:
                _WRITERS[key] = secstash_native.VpcflowDocuments(geoip_dir)
            else:
                _WRITERS[key] = secstash_native.CloudtrailDocuments(geoip_dir, user_agent_json)
        except ValueError:  # a database that does not open: the Python path reports it per event
            _WRITERS[key] = None
    return _WRITERS[key]


def render(stream: str, shard: str, wire: Sequence[Any], parsing: StreamParsing, options: ParseOptions,
           naming: IndexNaming) -> DocumentRun | None:
    """The documents of the record (`wire`: the pool's [sequence, sub_sequence, arrival_ms, partition_key,
    data_b64]), or None: the Python path parses it. The compiled code decodes the base64 itself."""
    data = wire[4]
    if not data.startswith(_GZIP_BASE64):
        return _elb_lines(stream, shard, wire, parsing, options, naming)
    if secstash_native is None or not 0 <= wire[2] < EXACT_MS:
        return None
    plan = _plan(parsing, naming, options)
    if plan is None:
        return None
    target = plan.forced
    if target is None:
        names = secstash_native.peek_log_group(data)
        if names is not None and plan.claim(*names)[0] is None:
            return None  # another dataset's record: not worth decoding whole
    try:
        cwl = secstash_native.CwlRecord(data, plan.max_bytes, plan.max_events)
    except ValueError:
        return None
    fmt = None
    if target is None:
        target, fmt = plan.claim(cwl.log_group, cwl.log_stream)
        if target is None:
            return None
    sequence, sub_sequence = wire[0], wire[1]
    position = record_position(stream, shard, sequence, sub_sequence)
    if target.dataset == VPCFLOW:
        rendered = target.writer.render(cwl, position, target.prefix, wire[2], target.ecs_version, plan.namespace,
                                        plan.labels, target.keep_original, fmt)
    else:
        rendered = target.writer.render(cwl, position, target.prefix, wire[2], target.ecs_version, plan.namespace,
                                        plan.labels, target.keep_original)
    if rendered is None:
        return None
    return DocumentRun(target.index, target.dataset, target.event_dataset, stream, shard, sequence, sub_sequence,
                       rendered[0], rendered[1], len(target.prefix))


# --- records of plain ALB lines -----------------------------------------------------------------------

ELB = "elb_logs"
ELB_EVENT_DATASET = registry.get(ELB).event_dataset
ELB_ECS_VERSION = registry.get(ELB).ecs_version


@dataclass(frozen=True, slots=True)
class _LinesPlan:
    """What a stream's settings compile to for records of plain ALB lines."""

    writer: Any  # secstash_native.ElbDocuments
    index: str
    prefix: bytes
    namespace: str
    labels: bytes | None
    keep_original: bool
    max_events: int


_LINES_PLANS: dict[tuple[int, IndexNaming, ParseOptions], tuple[StreamParsing, _LinesPlan | None]] = {}
_ELB_WRITERS: dict[str | None, Any] = {}  # GeoIP folder -> ElbDocuments (None: databases unusable)


def _elb_lines(stream: str, shard: str, wire: Sequence[Any], parsing: StreamParsing, options: ParseOptions,
               naming: IndexNaming) -> DocumentRun | None:
    """A record of plain text lines that are all ALB access log lines, or None. Such lines have no log group:
    `parsers.detect` gives each to `elb_logs` by its shape (or the stream's `dataset` does), which the
    compiled code checks line by line along with everything else it reads."""
    if secstash_native is None or not 0 <= wire[2] < EXACT_MS:
        return None
    plan = _lines_plan(parsing, naming, options)
    if plan is None:
        return None
    sequence, sub_sequence = wire[0], wire[1]
    rendered = plan.writer.render(wire[4], record_position(stream, shard, sequence, sub_sequence), plan.prefix,
                                  wire[2], ELB_ECS_VERSION, plan.namespace, plan.labels, plan.keep_original,
                                  plan.max_events)
    if rendered is None:
        return None
    return DocumentRun(plan.index, ELB, ELB_EVENT_DATASET, stream, shard, sequence, sub_sequence, rendered[0],
                       rendered[1], len(plan.prefix))


def _lines_plan(parsing: StreamParsing, naming: IndexNaming, options: ParseOptions) -> _LinesPlan | None:
    """None when no record of the stream can take this path: another forced dataset, filters (they work on
    the documents as dicts), a dated index (it depends on each document's @timestamp)."""
    key = (id(parsing), naming, options)
    entry = _LINES_PLANS.get(key)
    if entry is not None and entry[0] is parsing:
        return entry[1]
    plan = None
    if parsing.dataset in (None, ELB) and not parsing.filters and "{date}" not in naming.pattern:
        if options.geoip_dir not in _ELB_WRITERS:
            try:
                _ELB_WRITERS[options.geoip_dir] = secstash_native.ElbDocuments(options.geoip_dir, user_agent_json)
            except ValueError:  # a database that does not open: the Python path reports it per event
                _ELB_WRITERS[options.geoip_dir] = None
        writer = _ELB_WRITERS[options.geoip_dir]
        spec = registry.get(ELB)
        if writer is not None:
            index = naming(spec.event_dataset, parsing.namespace)
            plan = _LinesPlan(writer, index, action_prefix(index), parsing.namespace,
                              orjson.dumps(dict(parsing.labels)) if parsing.labels else None,
                              options.keep_original or spec.keeps_original, options.max_events_per_object)
    if len(_LINES_PLANS) >= 64:
        _LINES_PLANS.clear()
    _LINES_PLANS[key] = (parsing, plan)  # keeps `parsing` alive, so its id is not reused while cached
    return plan


def user_agent_json(agent: str) -> bytes | None:
    """The `user_agent` object of a document, as the compiled writers copy it in (they cache it per agent)."""
    parsed = user_agent(agent)
    return orjson.dumps(parsed) if parsed is not None else None
