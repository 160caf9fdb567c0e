"""Fields around what a dataset parser writes, in two layers.

`finalize` does what Elastic's ingest pipeline does for every dataset (event.original, ecs.version, the
envelope's timestamp): its output is what `secstash parse --dataset X` prints, comparable field for field
with Elastic's pipeline test cases. `ship` adds what Elastic's agent and Fleet add before indexing
(data_stream.*, event.dataset, event.module, labels, event.ingested): every indexed document has them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from parsers import ecs
from parsers.envelopes.s3_notification import ObjectRef
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import DatasetSpec


def finalize(doc: dict[str, Any], spec: DatasetSpec, event: Event, opts: ParseOptions) -> dict[str, Any]:
    """The ingest-pipeline layer: event.original per the options, ecs.version, envelope metadata."""
    event_fields = doc.get("event")
    if not isinstance(event_fields, dict):
        event_fields = doc["event"] = {}
    if opts.keep_original or spec.keeps_original:
        text = event.text()
        if text:  # Elastic's pipelines drop empty strings: a blank line has no event.original
            event_fields.setdefault("original", text)
    else:
        event_fields.pop("original", None)
    ecs_fields = doc.get("ecs")
    if not isinstance(ecs_fields, dict) or "version" not in ecs_fields:
        doc["ecs"] = {"version": spec.ecs_version}
    meta = event.meta
    if "@timestamp" not in doc and meta.timestamp_ms is not None:
        doc["@timestamp"] = ecs.epoch_ms_to_iso(meta.timestamp_ms)
    group = meta.log_group
    if group is not None:
        # What Elastic's aws-cloudwatch input adds, so saved searches on these fields keep working. Written as
        # ecs.put would write each (empty values skipped), without splitting paths for every event.
        stream, event_id = meta.log_stream, meta.log_event_id
        has_stream = stream is not None and stream != ""
        has_id = event_id is not None and event_id != ""
        if group != "" or has_stream or has_id:
            cloudwatch = _child(_child(doc, "aws"), "cloudwatch")
            if group != "":
                cloudwatch["log_group"] = group
            if has_stream:
                cloudwatch["log_stream"] = stream
            if has_id:
                cloudwatch["id"] = event_id
        if meta.owner and _cloud_value(doc, "account", "id") is None:
            ecs.put(doc, "cloud.account.id", meta.owner)
    if meta.region and _cloud_value(doc, "region") is None:
        ecs.put(doc, "cloud.region", meta.region)
    if meta.source_object is not None:
        _object_fields(doc, meta.source_object)
    return doc


def _object_fields(doc: dict[str, Any], ref: ObjectRef) -> None:
    """What Elastic's aws-s3 input adds to an event read from a log object in S3 (not `log.offset`: events
    here are counted, not located by byte)."""
    s3 = _child(_child(doc, "aws"), "s3")
    s3["bucket"] = {"name": ref.bucket, "arn": f"arn:aws:s3:::{ref.bucket}"}
    s3["object"] = {"key": ref.key}
    _child(_child(doc, "log"), "file")["path"] = ref.url
    if _cloud_value(doc, "provider") is None:
        ecs.put(doc, "cloud.provider", "aws")


def ship(doc: dict[str, Any], spec: DatasetSpec, namespace: str = "default",
         labels: dict[str, str] | None = None, ingested: str | None = None) -> dict[str, Any]:
    """The shipper layer: the data stream and dataset fields rules and dashboards filter on, and labels.

    `ingested` is passed in (the Kinesis arrival time in the daemon) rather than read from a clock, so
    replaying the archive reproduces byte-identical documents.
    """
    doc["data_stream"] = {"type": "logs", "dataset": spec.event_dataset, "namespace": namespace}
    event_fields = doc.setdefault("event", {})
    event_fields["dataset"] = spec.event_dataset
    event_fields["module"] = _module(spec.event_dataset)
    if ingested is not None:
        event_fields["ingested"] = ingested
    if labels:
        merged = dict(labels)
        if isinstance(doc.get("labels"), dict):
            merged.update(doc["labels"])
        doc["labels"] = merged
    return doc


def _child(node: dict[str, Any], key: str) -> dict[str, Any]:
    """node[key] as an object, replacing anything else there (as ecs.put does on its way down)."""
    child = node.get(key)
    if not isinstance(child, dict):
        child = node[key] = {}
    return child


def _cloud_value(doc: dict[str, Any], *keys: str) -> Any:
    """ecs.get(doc, "cloud.<keys>")."""
    node: Any = doc.get("cloud")
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


@lru_cache(maxsize=256)
def _module(event_dataset: str) -> str:
    return event_dataset.split(".", 1)[0]  # DatasetSpec.module, computed once per dataset
