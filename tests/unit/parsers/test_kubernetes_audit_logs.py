"""Kubernetes audit events (EKS `kube-apiserver-audit-*` streams): the kubernetes package's `audit_logs` rules."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from parsers import EventError, registry
from parsers.event import Event, EventMeta
from parsers.options import ParseOptions
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text, mutated_events

SPEC = registry.get("kubernetes.audit_logs")
OPTIONS = ParseOptions()
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# An audit.k8s.io/v1 Event (https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/) as EKS logs it.
FORBIDDEN = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": "a1",
    "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/kube-system/secrets", "verb": "list",
    "user": {"username": "system:anonymous", "uid": "", "groups": ["system:unauthenticated"], "extra": {}},
    "sourceIPs": ["2001:db8::7", "198.51.100.7"], "userAgent": "curl/8.5.0",
    "objectRef": {"resource": "secrets", "namespace": "kube-system", "apiVersion": "v1", "apiGroup": ""},
    "responseStatus": {"metadata": {}, "status": "Failure", "reason": "Forbidden", "code": 403},
    "requestObject": {"metadata": {"name": "x", "annotations": {"a": "b"}}, "spec": {"replicas": 3}},
    "responseObject": {"metadata": {"resourceVersion": "1"}, "kind": "Status"},
    "requestReceivedTimestamp": "2024-05-01T10:00:00.000000Z", "stageTimestamp": "2024-05-01T10:00:00.002000Z",
    "annotations": {"authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason": "",
                    "pod-security.kubernetes.io/enforce-policy": "restricted:latest"},
}


def parse(event: dict, meta: EventMeta | None = None) -> dict:
    docs = SPEC.parse(Event(message=orjson.dumps(event).decode(), meta=meta or EventMeta()), OPTIONS)
    assert len(docs) == 1
    return docs[0]


def test_a_forbidden_request_fails_and_keeps_its_ipv6_source():
    doc = parse(FORBIDDEN)
    assert doc["event"] == {"kind": "event", "action": "list", "outcome": "failure",
                            "original": orjson.dumps(FORBIDDEN).decode()}
    assert doc["source"] == {"ip": ["2001:db8::7", "198.51.100.7"]}
    assert doc["client"] == doc["source"]
    assert sorted(doc["related"]["ip"]) == ["198.51.100.7", "2001:db8::7"]


def test_annotation_keys_have_their_dots_replaced():
    annotations = parse(FORBIDDEN)["kubernetes"]["audit"]["annotations"]
    assert annotations == {"authorization_k8s_io/decision": "forbid",
                           "pod-security_kubernetes_io/enforce-policy": "restricted:latest"}


def test_request_and_response_object_metadata_is_removed():
    audit = parse(FORBIDDEN)["kubernetes"]["audit"]
    assert audit["requestObject"] == {"spec": {"replicas": 3}}
    assert audit["responseObject"] == {"kind": "Status"}


def test_empty_user_fields_are_not_copied():
    doc = parse(FORBIDDEN)
    assert doc["user"] == {"name": "system:anonymous"}
    assert doc["related"]["user"] == ["system:anonymous"]
    assert doc["kubernetes"]["audit"]["user"] == {"username": "system:anonymous",
                                                  "groups": ["system:unauthenticated"]}


def test_one_invalid_source_address_leaves_source_ip_out():
    doc = parse({**FORBIDDEN, "sourceIPs": ["10.0.0.1", "localhost"]})
    assert "source" not in doc and "client" not in doc and "ip" not in doc.get("related", {})
    assert doc["kubernetes"]["audit"]["sourceIPs"] == ["10.0.0.1", "localhost"]


def test_an_allowed_request_succeeds_and_an_unknown_decision_says_nothing():
    allowed = {**FORBIDDEN, "annotations": {"authorization.k8s.io/decision": "allow"}}
    assert parse(allowed)["event"]["outcome"] == "success"
    unknown = {**FORBIDDEN, "annotations": {"authorization.k8s.io/decision": {"odd": 1}}}
    assert "outcome" not in parse(unknown)["event"]


def test_gke_cloud_audit_fields_take_the_kubernetes_names():
    gke = {"protoPayload": {"methodName": "io.k8s.core.v1.pods.get", "status": {"code": 7, "message": "denied"}},
           "insertId": "i1", "timestamp": "2024-05-01T10:00:00Z", "receiveTimestamp": "2024-05-01T10:00:01Z",
           "labels": {"authorization.k8s.io/decision": "forbid"}}
    audit = parse(gke)["kubernetes"]["audit"]
    assert audit["auditID"] == "i1"
    assert audit["stageTimestamp"] == "2024-05-01T10:00:00Z"
    assert audit["requestReceivedTimestamp"] == "2024-05-01T10:00:01Z"
    assert audit["responseStatus"] == {"code": 7}
    assert audit["protoPayload"]["status"] == {"message": "denied"}
    assert audit["annotations"] == {"authorization_k8s_io/decision": "forbid"}
    assert parse(gke)["event"]["outcome"] == "failure"


def test_aks_diagnostic_records_are_unwrapped():
    aks = {"category": "kube-audit", "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
           "resourceId": "/SUBSCRIPTIONS/X", "time": "2024-05-01T10:00:00.5Z",
           "properties": {"log": orjson.dumps({**FORBIDDEN, "verb": "get"}).decode(), "pod": "kube-apiserver-1"}}
    doc = parse(aks)
    assert doc["@timestamp"] == "2024-05-01T10:00:00.500Z"
    assert doc["event"]["action"] == "get"
    metadata = doc["kubernetes"]["audit"]["aks_metadata"]
    assert metadata == {"category": "kube-audit", "operation_name": aks["operationName"],
                        "resource_id": "/SUBSCRIPTIONS/X", "time": "2024-05-01T10:00:00.5Z", "pod": "kube-apiserver-1"}


def test_events_from_cloudwatch_are_marked_as_aws():
    doc = parse(FORBIDDEN, EventMeta(log_group="/aws/eks/prod/cluster", log_stream="kube-apiserver-audit-1"))
    assert doc["cloud"] == {"provider": "aws"}


def test_unicode_and_huge_request_objects_pass_through():
    event = {**FORBIDDEN, "requestObject": {"data": {"k": "ünïcødé 🚀" * 100_000}}}
    assert parse(event)["kubernetes"]["audit"]["requestObject"]["data"]["k"] == "ünïcødé 🚀" * 100_000


@pytest.mark.parametrize("text", ["", "I0501 10:00:00.000000 1 audit.go] not json", "[1]"])
def test_anything_but_a_json_object_is_rejected(text):
    with pytest.raises(EventError):
        SPEC.parse(Event(message=text), OPTIONS)


@PROPERTY
@given(mutated_events([FORBIDDEN]))
def test_events_with_any_value_swapped_in_parse_or_fail_cleanly(event):
    assert_parses_cleanly(SPEC, event)


@PROPERTY
@given(cut_or_random_text([orjson.dumps(FORBIDDEN).decode()]))
def test_arbitrary_and_truncated_text_parses_or_fails_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))
