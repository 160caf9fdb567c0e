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
# Sub-trees no source types, mapped here so no document decides their types. Without a mapping the first
# document of each backing index fixes them (`responseStatus.status: 1` from a forged event made every later
# `"Failure"` a 400 until rollover). Replaces whatever the sources gave at that path.
_LONG = {"type": "long"}
_MATCH_TEXT = {"type": "match_only_text"}
_KEYWORD_TEXT = {**KEYWORD, **TEXT_MULTI}
_FREE = {"type": "object", "dynamic": False}  # kept in _source, never mapped: keys and types are the writer's
# Values with attacker-chosen keys (Impersonate-Extra-<key> headers, annotations any admission webhook adds):
# as objects, keys `a` and `a.b` conflict and 10 000 keys pass total_fields.limit; one flattened field takes any.
_FLATTENED = {"type": "flattened"}
_WAF_MATCH = {"type": "nested", "properties": {  # AWS WAF log fields (ruleMatchDetails)
    "conditionType": KEYWORD, "location": KEYWORD, "matchedData": KEYWORD, "matchedFieldName": KEYWORD,
    "sensitivityLevel": KEYWORD}}
_WAF_RULE = {"properties": {"ruleId": KEYWORD, "action": KEYWORD, "ruleMatchDetails": _WAF_MATCH}}
EXPLICIT: dict[str, dict[str, dict[str, Any]]] = {
    # Elastic's kubernetes audit_logs fields (code, status, message; objectRef, user, impersonatedUser), keywords
    # where Elastic says text as for the fields above; the rest from the Kubernetes audit.k8s.io/v1 Event type.
    "kubernetes.audit_logs": {
        "kubernetes.audit.responseStatus": {"properties": {
            "code": _LONG, "status": KEYWORD, "reason": KEYWORD, "message": _MATCH_TEXT,
            "metadata": _FREE,
            "details": {"type": "object", "dynamic": False, "properties": {
                "name": KEYWORD, "group": KEYWORD, "kind": KEYWORD, "uid": KEYWORD, "retryAfterSeconds": _LONG}},
        }},
        "kubernetes.audit.objectRef": {"properties": {
            name: KEYWORD for name in ("resource", "namespace", "name", "uid", "apiGroup", "apiVersion",
                                       "resourceVersion", "subresource")}},
        "kubernetes.audit.user": {"properties": {
            "username": KEYWORD, "uid": KEYWORD, "groups": KEYWORD, "extra": _FLATTENED}},
        "kubernetes.audit.impersonatedUser": {"properties": {
            "username": KEYWORD, "uid": KEYWORD, "groups": KEYWORD, "extra": _FLATTENED}},
        "kubernetes.audit.annotations": _FLATTENED,
        # GKE's request and response bodies are the API objects requestObject/responseObject hold on EKS.
        "kubernetes.audit.protoPayload.request": _FREE,
        "kubernetes.audit.protoPayload.response": _FREE,
    },
    # Elastic's newer aws package (non_terminating_matching_rules, rule_group_list) and the AWS WAF log fields.
    "aws.waf": {
        "aws.waf.terminating_rule_match_details": _WAF_MATCH,
        "aws.waf.non_terminating_matching_rules": {"type": "nested", **_WAF_RULE},
        "aws.waf.rule_group_list": {"type": "nested", "properties": {
            "ruleGroupId": KEYWORD,
            "terminatingRule": _WAF_RULE,
            "nonTerminatingMatchingRules": {"type": "nested", **_WAF_RULE},
            "excludedRules": {"properties": {"exclusionType": KEYWORD, "ruleId": KEYWORD}},
            "customerConfig": _FREE,
        }},
        "aws.waf.rate_based_rule_list": {"type": "nested", "properties": {
            "rateBasedRuleId": KEYWORD, "rateBasedRuleName": KEYWORD, "limitKey": KEYWORD, "limitValue": KEYWORD,
            "maxRateAllowed": _LONG, "evaluationWindowSec": KEYWORD, "customValues": _FREE}},
    },
    # Datasets Elastic has no fields for: what their parsers write (parsers/rds.py, redshift.py,
    # eks_authenticator.py).
    "aws.rds": {
        "aws.rds": {"properties": {
            "db_instance_identifier": KEYWORD, "db_cluster_identifier": KEYWORD, "db_proxy_name": KEYWORD,
            "log_type": KEYWORD, "database": KEYWORD, "query": _KEYWORD_TEXT,
            "error": {"properties": {"code": KEYWORD, "subsystem": KEYWORD}},
            "audit": {"properties": {"server_host": KEYWORD, "connection_id": _LONG, "query_id": _LONG,
                                     "operation": KEYWORD, "object": _KEYWORD_TEXT, "retcode": _LONG}},
            "pgaudit": {"properties": {
                **{name: KEYWORD for name in ("audit_type", "statement_id", "substatement_id", "class", "command",
                                              "object_type", "object_name", "parameter")},
                "statement": _KEYWORD_TEXT}},
            # `# Name: value` pairs of the slow-query log, numbers: the MySQL version decides which come.
            "slowlog": {"type": "object", "dynamic": False, "properties": {
                "query_time": {"type": "double"}, "lock_time": {"type": "double"}, "rows_sent": _LONG,
                "rows_examined": _LONG, "rows_affected": _LONG, "bytes_sent": _LONG, "bytes_received": _LONG,
                "thread_id": _LONG, "errno": _LONG, "killed": _LONG, "read_first": _LONG, "read_last": _LONG,
                "read_key": _LONG, "read_next": _LONG, "read_prev": _LONG, "read_rnd": _LONG,
                "read_rnd_next": _LONG, "sort_merge_passes": _LONG, "sort_range_count": _LONG, "sort_rows": _LONG,
                "sort_scan_count": _LONG, "created_tmp_disk_tables": _LONG, "created_tmp_tables": _LONG,
                "start": KEYWORD, "end": KEYWORD}},
        }},
    },
    "aws.redshift": {
        "aws.redshift": {"properties": {
            "cluster_identifier": KEYWORD, "log_type": KEYWORD,
            "connection_log": {"properties": {
                **{name: KEYWORD for name in (
                    "record_time", "remote_host", "database", "user_name", "auth_method", "ssl_version",
                    "ssl_cipher", "ssl_compression", "ssl_expansion", "iam_auth_guid", "application_name",
                    "os_version", "driver_version", "plugin_name", "session_id", "compression")},
                **{name: _LONG for name in ("remote_port", "pid", "duration", "mtu", "protocol_version")}}},
            "user_log": {"properties": {
                **{name: KEYWORD for name in ("user_name", "old_user_name", "action", "valid_until",
                                              "record_time")},
                **{name: _LONG for name in ("user_id", "pid", "xid")},
                **{name: {"type": "boolean"} for name in ("create_db", "super_user", "update_catalog")}}},
            "user_activity": {"properties": {
                "database": KEYWORD, "user_name": KEYWORD, "pid": _LONG, "user_id": _LONG, "xid": _LONG,
                "query": _KEYWORD_TEXT}},
        }},
    },
    # aws-iam-authenticator's logrus keys: strings only; others stay in _source.
    "aws.eks_authenticator": {
        "aws.eks_authenticator": {"type": "object", "dynamic": False, "properties": {
            name: KEYWORD for name in (
                "accesskeyid", "accountid", "arn", "canonicalarn", "client", "error", "groups", "method", "path",
                "session", "sessionidentifier", "stsendpoint", "sts", "uid", "userid", "username")}},
    },
}
# ECS 8.11 dns.answers (an array of objects).
EXPLICIT_COMMON = {"dns.answers": {"type": "object", "properties": {
    "class": KEYWORD, "data": KEYWORD, "name": KEYWORD, "type": KEYWORD, "ttl": _LONG}}}
# Every flattened field: leaves longer than IGNORE_ABOVE characters stay in _source but are not indexed (3 UTF-8
# bytes per character at most keeps the `key\0value` term under Lucene's 32 766), and objects nest as deeply as
# parsers write them (parsers/flattened.py DEPTH_LIMIT; the default, 20, refused the event). OpenSearch's
# flat_object takes neither: sinks/search/templates.py drops them there, and the parsers cut or leave out what
# would be refused.
FLATTENED_PARAMS = {"ignore_above": 8191, "depth_limit": 200}

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
    for dataset, fields in EXPLICIT.items():
        own = datasets.setdefault(dataset, {})
        for name, mapping in fields.items():
            replace(own, name, json.loads(json.dumps(mapping)))
    for name, mapping in EXPLICIT_COMMON.items():
        replace(common, name, json.loads(json.dumps(mapping)))
    put(common, "@timestamp", {"type": "date"})
    for tree in (common, *datasets.values()):
        _flattened_params(tree)
    put(common, "event.module", dict(KEYWORD))
    put(common, "event.dataset", dict(KEYWORD))
    return {
        "generated_by": "scripts/gen_search_mappings.py",
        "sources": ["elastic-aws-1.45.3/*/fields/*.yml", "field-inventory/*.current.tsv", "ECS 8.11 types"],
        "common": _sorted(common),
        "datasets": {k: _sorted(v) for k, v in sorted(datasets.items())},
    }


def replace(properties: dict[str, Any], name: str, mapping: dict[str, Any]) -> None:
    """Set the mapping of a dotted field, whatever the sources put there (children included)."""
    parts = name.split(".")
    node = properties
    for part in parts[:-1]:
        node = node.setdefault(part, {}).setdefault("properties", {})
    node[parts[-1]] = mapping


def _flattened_params(value: Any) -> None:
    if isinstance(value, dict):
        if value.get("type") == "flattened":
            value.update(FLATTENED_PARAMS)
        for child in value.values():
            _flattened_params(child)


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
