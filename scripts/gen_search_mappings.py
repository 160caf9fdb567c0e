#!/usr/bin/env python3
"""Generate sinks/search/assets/mappings.json: the ECS mappings of every dataset's index template.

Sources (../shared/reference, see elastic-aws-mappings.md):
  * elastic-aws-1.45.3/<ds>/fields/*.yml   Elastic's field definitions per data stream. Fields marked
    `external: ecs` carry no type there; ECS gives it (the table below, ECS 8.11 types).
  * field-inventory/*.current.tsv          fields of the newer pipelines (AWS Config, Kubernetes audit, newer
    CloudTrail and VPC Flow Logs) with the JSON types seen in their expected documents; used for fields the
    definitions lack.

Output: {"common": <properties of every ECS field any dataset uses>, "datasets": {"aws.cloudtrail":
<properties of that data stream's own fields>, ...}}. Run from the project root:

    .venv/bin/python scripts/gen_search_mappings.py [--reference ../shared/reference] [--check]

`--check` exits 1 when the committed asset differs from what the sources give (for CI).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ASSET = ROOT / "sinks" / "search" / "assets" / "mappings.json"
KEYWORD = {"type": "keyword", "ignore_above": 1024}  # elastic-package's default for keyword fields
TEXT_MULTI = {"fields": {"text": {"type": "match_only_text"}}}

# ECS 8.11 types of the `external: ecs` fields (and the ECS fields of the newer pipelines). Anything not
# listed is a keyword. Multi-fields follow ECS: names, paths and user agents get a `.text` sub-field.
ECS_TYPES: dict[str, dict[str, Any]] = {
    "@timestamp": {"type": "date"},
    "message": {"type": "match_only_text"},
    "error.message": {"type": "match_only_text"},
    "event.original": {"type": "keyword", "index": False, "doc_values": False},
    "event.created": {"type": "date"},
    "event.start": {"type": "date"},
    "event.end": {"type": "date"},
    "event.ingested": {"type": "date"},
    "event.duration": {"type": "long"},
    "event.severity": {"type": "long"},
    "event.sequence": {"type": "long"},
    "event.risk_score": {"type": "float"},
    "client.ip": {"type": "ip"},
    "host.ip": {"type": "ip"},
    "related.ip": {"type": "ip"},
    "network.forwarded_ip": {"type": "ip"},
    "network.bytes": {"type": "long"},
    "network.packets": {"type": "long"},
    "http.request.body.bytes": {"type": "long"},
    "http.request.bytes": {"type": "long"},
    "http.response.body.bytes": {"type": "long"},
    "http.response.bytes": {"type": "long"},
    "http.response.status_code": {"type": "long"},
    "process.pid": {"type": "long"},
    "process.parent.pid": {"type": "long"},
    "process.start": {"type": "date"},
    "process.end": {"type": "date"},
    "process.executable": {**KEYWORD, **TEXT_MULTI},
    "process.name": {**KEYWORD, **TEXT_MULTI},
    "file.path": {**KEYWORD, **TEXT_MULTI},
    "file.size": {"type": "long"},
    "host.os.name": {**KEYWORD, **TEXT_MULTI},
    "host.os.full": {**KEYWORD, **TEXT_MULTI},
    "host.uptime": {"type": "long"},
    "container.labels": {"type": "object"},
    "dns.answers": {"type": "object"},
    "dns.answers.ttl": {"type": "long"},
    "organization.name": {**KEYWORD, **TEXT_MULTI},
    "threat.indicator.first_seen": {"type": "date"},
    "threat.indicator.last_seen": {"type": "date"},
    "threat.indicator.modified_at": {"type": "date"},
    "url.full": {"type": "wildcard", **TEXT_MULTI},
    "url.original": {"type": "wildcard", **TEXT_MULTI},
    "url.path": {"type": "wildcard"},
    "url.port": {"type": "long"},
    "user.name": {**KEYWORD, **TEXT_MULTI},
    "user.full_name": {**KEYWORD, **TEXT_MULTI},
    "user.changes.name": {**KEYWORD, **TEXT_MULTI},
    "user.target.name": {**KEYWORD, **TEXT_MULTI},
    "user_agent.original": {**KEYWORD, **TEXT_MULTI},
    "user_agent.os.full": {**KEYWORD, **TEXT_MULTI},
    "user_agent.os.name": {**KEYWORD, **TEXT_MULTI},
    "vulnerability.score.base": {"type": "float"},
    "vulnerability.score.environmental": {"type": "float"},
    "vulnerability.score.temporal": {"type": "float"},
    "vulnerability.description": {**KEYWORD, **TEXT_MULTI},
}
for _side in ("source", "destination", "client", "server"):
    ECS_TYPES.update({
        f"{_side}.ip": {"type": "ip"},
        f"{_side}.port": {"type": "long"},
        f"{_side}.bytes": {"type": "long"},
        f"{_side}.packets": {"type": "long"},
        f"{_side}.as.number": {"type": "long"},
        f"{_side}.as.organization.name": {**KEYWORD, **TEXT_MULTI},
        f"{_side}.geo.location": {"type": "geo_point"},
        f"{_side}.nat.ip": {"type": "ip"},
        f"{_side}.nat.port": {"type": "long"},
    })
ECS_TYPES["geo.location"] = {"type": "geo_point"}

# Base fields every data stream carries. Newer Elastic packages write event.dataset/event.module into each
# document and map them as keywords (aws 2.11.2 "Remove hardcoded event.dataset field"); follow them, not
# the constant_keyword of 1.45.3, so a routed document never conflicts with a constant.
BASE = {"@timestamp", "data_stream.type", "data_stream.dataset", "data_stream.namespace", "event.module",
        "event.dataset"}

# Inventory-only (newer) fields that are dates although JSON carries them as strings.
INVENTORY_DATES = {
    "aws.config.config_rule_invoked_time",
    "aws.config.result_recorded_time",
    "aws.config.evaluation_result_identifier.ordering_timestamp",
    "kubernetes.audit.requestReceivedTimestamp",
    "kubernetes.audit.stageTimestamp",
}
# Free-form objects of the newer pipelines: mapped whole as flattened so their keys cannot explode a mapping.
INVENTORY_FLATTENED = {"aws.config.rule_info.input_parameters"}
# Kubernetes API objects of audit events, as Elastic's kubernetes package maps them (packages/kubernetes/
# data_stream/audit_logs/fields/fields.yml: both `dynamic: false`, with the few fields its rules read). Their
# other keys stay in _source, unmapped: IntOrString/Quantity values (`targetPort: 8080` vs "http", `cpu: 1` vs
# "500m") cannot conflict with a type fixed by an earlier document, and ConfigMap keys or CRD specs never count
# against total_fields.limit. `rules.*` is an object there too: below a `dynamic: false` object no dynamic
# template applies, so it maps nothing either.
_TEXT = {"type": "text"}
_BOOL = {"type": "boolean"}
_HOST_PATH_VOLUMES = {"properties": {"hostPath": {"properties": {"path": _TEXT}}}}
_MOUNTS = {"properties": {"mountPath": _TEXT}}
KUBERNETES_OBJECTS: dict[str, dict[str, Any]] = {
    "kubernetes.audit.requestObject": {"type": "object", "dynamic": False, "properties": {
        "spec": {"properties": {
            "type": KEYWORD,
            "volumes": _HOST_PATH_VOLUMES,
            "containers": {"properties": {
                "image": _TEXT, "HostNetwork": _BOOL, "HostIPC": _BOOL, "HostPID": _BOOL,
                "volumeMounts": _MOUNTS,
                "securityContext": {"properties": {"privileged": _BOOL}},
            }},
        }},
        "rules": {"type": "object"},
    }},
    "kubernetes.audit.responseObject": {"type": "object", "dynamic": False, "properties": {
        "spec": {"properties": {
            "hostIPC": _BOOL, "hostNetwork": _BOOL, "hostPID": _BOOL, "restartPolicy": KEYWORD,
            "containers": {"properties": {
                "securityContext": {"properties": {"privileged": _BOOL, "allowPrivilegeEscalation": _BOOL}},
                "volumeMounts": _MOUNTS,
            }},
            "volumes": _HOST_PATH_VOLUMES,
        }},
        "rules": {"type": "object"},
        "roleRef": {"properties": {"kind": KEYWORD}},
    }},
}
JSON_TYPES = {"str": KEYWORD, "str[]": KEYWORD, "str,str[]": KEYWORD, "int": {"type": "long"},
              "int[]": {"type": "long"}, "float": {"type": "double"}, "bool": {"type": "boolean"}}

# Inventory file stem -> the data stream's dataset.
INVENTORY_DATASETS = {"cloudtrail": "aws.cloudtrail", "vpcflow": "aws.vpcflow", "config": "aws.config",
                      "kubernetes_audit_logs": "kubernetes.audit_logs"}
LEAF_CONTAINERS = {"flattened", "nested", "geo_point", "object", "flat_object"}


def ecs_type(name: str) -> dict[str, Any]:
    return dict(ECS_TYPES.get(name, KEYWORD))


def field_mapping(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The mapping of one typed field definition (None for a group)."""
    kind = entry.get("type")
    if kind in (None, "group"):
        return None
    if kind == "keyword":
        mapping = dict(KEYWORD)
    elif kind == "alias":
        mapping = {"type": "alias", "path": entry["path"]}
    else:
        mapping = {"type": kind}
    if kind == "constant_keyword" and "value" in entry:
        mapping["value"] = entry["value"]
    for multi in entry.get("multi_fields", []):
        sub = {"type": "match_only_text"} if multi["type"] == "text" else {"type": multi["type"]}
        mapping.setdefault("fields", {})[multi["name"]] = sub
    return mapping


def walk(entries: list[dict[str, Any]], prefix: str = "") -> list[tuple[str, dict[str, Any] | None, bool]]:
    """(dotted name, mapping or None, external) for every leaf of a fields.yml tree."""
    out = []
    for entry in entries or []:
        name = f"{prefix}{entry['name']}"
        if entry.get("external") == "ecs":
            out.append((name, None, True))
        elif entry.get("type") == "group" or "fields" in entry and entry.get("type") is None:
            out.extend(walk(entry.get("fields", []), name + "."))
        else:
            out.append((name, field_mapping(entry), False))
    return out


def put(properties: dict[str, Any], name: str, mapping: dict[str, Any]) -> None:
    """Place a dotted field into nested `properties`, refusing to map inside a leaf container."""
    parts = name.split(".")
    node = properties
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if child.get("type") in LEAF_CONTAINERS - {"object"}:
            return  # a sub-field of a flattened/nested/geo_point field: covered by its parent
        node = child.setdefault("properties", {})
    leaf = node.get(parts[-1])
    if leaf and "properties" in leaf:
        if mapping.get("type") in ("object", None):
            return  # already an object with known children
        raise SystemExit(f"{name}: declared as {mapping['type']} but has sub-fields")
    node[parts[-1]] = mapping


def inside_container(properties: dict[str, Any], name: str) -> bool:
    node: dict[str, Any] = {"properties": properties}
    for part in name.split("."):
        node = node.get("properties", {}).get(part) or {}
        if node.get("type") in LEAF_CONTAINERS:
            return True
    return False


def build(reference: Path) -> dict[str, Any]:
    common: dict[str, Any] = {}
    datasets: dict[str, dict[str, Any]] = {}
    package = reference / "elastic-aws-1.45.3"
    for ds_dir in sorted(p for p in package.iterdir() if (p / "fields").is_dir()):
        dataset = f"aws.{ds_dir.name}"
        own: dict[str, Any] = {}
        for path in sorted((ds_dir / "fields").glob("*.yml")):
            for name, mapping, external in walk(yaml.safe_load(path.read_text()) or []):
                if name in BASE:
                    continue
                if external or name in ECS_TYPES:
                    put(common, name, mapping if mapping and not external and name not in ECS_TYPES
                        else ecs_type(name))
                elif mapping is not None:
                    put(own, name, mapping)
        datasets[dataset] = own
    kubernetes = datasets.setdefault("kubernetes.audit_logs", {})
    for name, mapping in KUBERNETES_OBJECTS.items():
        put(kubernetes, name, json.loads(json.dumps(mapping)))  # a copy: the shared leaves stay unaliased
    for path in sorted((reference / "field-inventory").glob("*.current.tsv")):
        dataset = INVENTORY_DATASETS[path.name.split(".")[0]]
        own = datasets.setdefault(dataset, {})
        with path.open(newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                name, json_type = row["field"], row["json_types"]
                if name in BASE or inside_container(own, name) or inside_container(common, name):
                    continue
                if any(name == f or name.startswith(f + ".") for f in INVENTORY_FLATTENED):
                    top = next(f for f in INVENTORY_FLATTENED if name == f or name.startswith(f + "."))
                    put(own, top, {"type": "flattened"})
                    continue
                if not name.startswith(("aws.", "kubernetes.")):
                    if _defined(common, name):
                        continue
                    put(common, name, ecs_type(name))
                elif _defined(own, name):
                    continue
                elif name in INVENTORY_DATES:
                    put(own, name, {"type": "date"})
                elif json_type in JSON_TYPES:
                    put(own, name, dict(JSON_TYPES[json_type]))
    put(common, "@timestamp", {"type": "date"})
    put(common, "event.module", dict(KEYWORD))
    put(common, "event.dataset", dict(KEYWORD))
    return {
        "generated_by": "scripts/gen_search_mappings.py",
        "sources": ["elastic-aws-1.45.3/*/fields/*.yml", "field-inventory/*.current.tsv", "ECS 8.11 types"],
        "common": _sorted(common),
        "datasets": {k: _sorted(v) for k, v in sorted(datasets.items())},
    }


def _defined(properties: dict[str, Any], name: str) -> bool:
    node: dict[str, Any] = {"properties": properties}
    for part in name.split("."):
        if part not in node.get("properties", {}):
            return False
        node = node["properties"][part]
    return True


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--check", action="store_true", help="compare with the committed asset, write nothing")
    args = parser.parse_args()
    text = json.dumps(build(args.reference), indent=1, sort_keys=False) + "\n"
    if args.check:
        if not ASSET.exists() or ASSET.read_text() != text:
            print(f"{ASSET} is out of date: run scripts/gen_search_mappings.py", file=sys.stderr)
            return 1
        return 0
    ASSET.parent.mkdir(parents=True, exist_ok=True)
    ASSET.write_text(text)
    print(f"wrote {ASSET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
