"""Kubernetes API server audit events (`kubernetes.audit_logs`): EKS control-plane `kube-apiserver-audit-*` streams.

Reproduces Elastic's kubernetes package `audit_logs` pipeline as its current test case shows it: the event is
decoded into `kubernetes.audit.*` as-is (GKE's Cloud Audit Logs shape and AKS's diagnostic wrapper are first
brought to the Kubernetes shape), annotation keys get `.` replaced by `_`, and the ECS fields come from the
user, source IPs, user agent, verb and the authorization decision. Request/response object metadata is dropped.
No `@timestamp`: the pipeline sets none for Kubernetes events, so it comes from the envelope.
"""

from __future__ import annotations

from typing import Any

import orjson

from parsers import ecs
from parsers._findings import add
from parsers._prune import prune
from parsers._put import put_key
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

_AKS_KEYS = ("category", "operationName", "resourceId", "time")
# AKS metadata fields renamed to snake_case, and `properties.*` lifted one level.
_AKS_RENAMES = (
    (("operationName",), "operation_name"),
    (("resourceId",), "resource_id"),
    (("serviceBuild",), "service_build"),
    (("properties", "containerID"), "container_id"),
    (("properties", "pod"), "pod"),
    (("properties", "stream"), "stream"),
)
# GKE (Cloud Audit Logs) names for what Kubernetes audit events call otherwise; used only when missing.
_GKE_RENAMES = (
    ("insertId", "auditID"),
    ("receiveTimestamp", "requestReceivedTimestamp"),
    ("timestamp", "stageTimestamp"),
)
_DECISION_OUTCOME = {"allow": "success", "forbid": "failure"}


@register("kubernetes.audit_logs", event_dataset="kubernetes.audit_logs")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    original = event.text()
    audit = event.json_object()
    doc: dict[str, Any] = {"event": {"kind": "event", "original": original}}
    if _is_aks(audit):
        audit = _from_aks(audit, doc)
    for key in ("responseObject", "requestObject"):
        obj = audit.get(key)
        if isinstance(obj, dict):
            obj.pop("metadata", None)
    # ECS fields are written straight into place (ecs.put's order, its null and "" left out): splitting the
    # dotted paths of each was a fifth of the parse.
    event_fields = doc["event"]
    put_key(event_fields, "action", audit.get("verb"))
    _from_gke(audit)
    annotations = audit.get("annotations")
    if isinstance(annotations, dict):
        audit["annotations"] = {key.replace(".", "_"): value for key, value in annotations.items()}
        decision = annotations.get("authorization.k8s.io/decision")
        if isinstance(decision, str):
            put_key(event_fields, "outcome", _DECISION_OUTCOME.get(decision))
    user = audit.get("user")
    if isinstance(user, dict):
        ecs_user: dict[str, Any] = {}
        put_key(ecs_user, "name", user.get("username"))
        put_key(ecs_user, "id", user.get("uid"))
        if ecs_user:
            doc["user"] = ecs_user
        users: list[str] = []
        add(users, user.get("uid"), user.get("username"))
        if users:
            doc["related"] = {"user": users}
    if (agent := audit.get("userAgent")) is not None and agent != "":
        doc["user_agent"] = {"original": agent}
    _source(doc, audit.get("sourceIPs"))
    if event.meta.log_group is not None:
        ecs.put(doc, "cloud.provider", "aws")  # the pipeline's rule for the aws-cloudwatch input
    doc["kubernetes"] = {"audit": audit}
    return [prune(doc)]


def _is_aks(audit: dict[str, Any]) -> bool:
    """Whether every AKS wrapper key is set. A loop, not all() over a generator: that cost 7 % of the parse
    of the (nearly always) Kubernetes-shaped event, whose first key is missing."""
    for key in _AKS_KEYS:
        value = audit.get(key)
        if value is None or value == "":
            return False
    return True


def _from_aks(wrapper: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """AKS diagnostic logs carry the audit event as JSON text in `properties.log`, the rest is metadata."""
    properties = wrapper.get("properties")
    log = properties.pop("log", None) if isinstance(properties, dict) else None
    audit: Any = log
    if isinstance(log, str):
        try:
            audit = orjson.loads(log)
        except orjson.JSONDecodeError:
            audit = None
    if not isinstance(audit, dict):
        audit = {}
    for path, name in _AKS_RENAMES:
        node: Any = wrapper
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            wrapper[name] = node.pop(path[-1])
    try:
        ecs.put(doc, "@timestamp", ecs.iso_to_iso_ms(str(wrapper["time"])))
    except ValueError:
        pass  # the envelope's timestamp stands in
    audit["aks_metadata"] = wrapper
    return audit


def _from_gke(audit: dict[str, Any]) -> None:
    for source, target in _GKE_RENAMES:
        if audit.get(target) in (None, "") and audit.get(source) not in (None, ""):
            audit[target] = audit.pop(source)
    payload = audit.get("protoPayload")
    status = payload.get("status") if isinstance(payload, dict) else None
    response = audit.get("responseStatus")
    has_code = isinstance(response, dict) and response.get("code") not in (None, "")
    if not has_code and isinstance(status, dict) and status.get("code") not in (None, ""):
        if not isinstance(response, dict):
            response = audit["responseStatus"] = {}
        response["code"] = status.pop("code")
    if audit.get("annotations") in (None, "") and audit.get("labels") not in (None, ""):
        audit["annotations"] = audit.pop("labels")


def _source(doc: dict[str, Any], source_ips: Any) -> None:
    """`convert: ip` on the list: all addresses valid or none copied (the processor ignores its failure)."""
    if source_ips is None:
        return
    addresses = source_ips if isinstance(source_ips, list) else [source_ips]
    if not addresses or not all(isinstance(a, str) and ecs.is_ip(a) for a in addresses):
        return
    doc["source"] = {"ip": source_ips}
    doc["client"] = {"ip": source_ips}
    if isinstance(source_ips, list):
        ecs.append_unique(doc, "related.ip", *addresses)
