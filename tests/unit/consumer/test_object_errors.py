"""What an error reading a log object means: secstash's own credential faults and the network fail the batch
(the record is read again), every other refusal is a dead letter; and an operator is told of the former."""

from __future__ import annotations

import pickle
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.stub import Stubber
from prometheus_client import REGISTRY
from urllib3.exceptions import ProtocolError

import sinks.aws
from consumer import events
from consumer.object_errors import ReaderCredentialsFailed, classified
from consumer.objects import ObjectAccess, ObjectReader
from parsers import ObjectRef, ObjectUnavailable

WHERE = "s3://logs/k.log"
REF = ObjectRef(bucket="logs", key="k.log", region="us-east-1", size=None, version_id=None, notification="{}",
                encoded_key="k.log")
SERVICE_MESSAGE = "AWSAccessKeyId AKIAEXAMPLEKEY StringToSign ..."


def client_error(code: str, status: int, operation: str = "GetObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": SERVICE_MESSAGE},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def stubbed_reader(access: ObjectAccess | None = None) -> tuple[ObjectReader, Stubber]:
    subject = ObjectReader(access or ObjectAccess(region="us-east-1", max_bytes=100),
                           boto3.Session(aws_access_key_id="k", aws_secret_access_key="s"))
    stubber = Stubber(subject._client("us-east-1"))
    stubber.activate()
    return subject, stubber


@pytest.mark.parametrize(("code", "status"), [
    ("RequestTimeTooSkewed", 403), ("InvalidAccessKeyId", 403), ("SignatureDoesNotMatch", 403),
    ("ExpiredToken", 400), ("TokenRefreshRequired", 400), ("InvalidToken", 400),
])
def test_faults_of_secstashs_own_credentials_fail_the_batch_and_are_never_dead_lettered(code, status):
    subject, stubber = stubbed_reader()
    stubber.add_client_error("get_object", code, http_status_code=status, service_message=SERVICE_MESSAGE)
    with pytest.raises(ReaderCredentialsFailed) as raised:
        subject(REF)
    assert not isinstance(raised.value, ObjectUnavailable)
    assert (raised.value.code, raised.value.operation) == (code, "GetObject")
    assert "AKIA" not in str(raised.value)  # the service's message is never carried


def test_an_assume_role_sts_refuses_fails_the_batch(monkeypatch: pytest.MonkeyPatch):
    # s3_objects.role_arn during an IAM change: botocore raises STS's answer from get_object's credential refresh.
    real = sinks.aws.client
    stubs = []

    def client(service: str, *args: Any, **kwargs: Any) -> Any:
        made = real(service, *args, **kwargs)
        if service == "sts":
            stub = Stubber(made)
            stub.add_client_error("assume_role", "AccessDenied", http_status_code=403,
                                  service_message="not authorized to perform: sts:AssumeRole")
            stub.activate()
            stubs.append(stub)
        return made

    monkeypatch.setattr(sinks.aws, "client", client)
    subject = ObjectReader(ObjectAccess(region="us-east-1", max_bytes=100,
                                        role_arn="arn:aws:iam::111122223333:role/log-reader"))
    with pytest.raises(ReaderCredentialsFailed) as raised:
        subject(REF)
    assert (raised.value.code, raised.value.operation) == ("AccessDenied", "AssumeRole")
    stubs[0].assert_no_pending_responses()


@pytest.mark.parametrize("error", [client_error("AccessDenied", 403, "AssumeRole"),
                                   client_error("RegionDisabledException", 403, "AssumeRole"),
                                   NoCredentialsError(), CredentialRetrievalError(provider="x", error_msg="y")])
def test_credentials_that_cannot_be_had_are_secstashs_fault(error):
    assert isinstance(classified(error, WHERE), ReaderCredentialsFailed)


def test_a_credential_fault_crosses_the_process_pool_intact():
    error = classified(client_error("RequestTimeTooSkewed", 403), WHERE)
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, ReaderCredentialsFailed)
    assert (again.code, again.operation, str(again)) == (error.code, error.operation, str(error))


@pytest.mark.parametrize("error", [
    EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), ConnectTimeoutError(endpoint_url="x"),
    ReadTimeoutError(endpoint_url="x"), ResponseStreamingError(error="reset"), ProtocolError("reset"),
    ConnectionResetError(),
])
def test_network_errors_fail_the_batch_as_they_are(error):
    assert classified(error, WHERE) is error


@pytest.mark.parametrize("error", [ParamValidationError(report="Invalid bucket name"),
                                   InvalidRegionError(region_name="us east 1")])
def test_requests_botocore_refuses_to_build_are_dead_lettered(error):
    result = classified(error, WHERE)
    assert isinstance(result, ObjectUnavailable) and result.reason == "s3_object_unavailable"
    assert result.message.startswith(f"{WHERE}: botocore refused the request: {type(error).__name__}")


def test_a_bug_of_secstashs_own_is_not_dead_lettered():
    bug = TypeError("unexpected")
    assert classified(bug, WHERE) is bug


class _CutBody:
    def read(self, amount: int) -> bytes:
        raise ResponseStreamingError(error="connection reset")

    def close(self) -> None:
        pass


def test_a_body_cut_short_fails_the_batch():
    subject, stubber = stubbed_reader()
    stubber.add_response("get_object", {"Body": _CutBody()})  # what botocore raises when a body is cut
    with pytest.raises(ResponseStreamingError):
        subject(REF)


def test_the_operator_is_told_when_secstashs_credentials_fail(monkeypatch: pytest.MonkeyPatch):
    said: list[tuple[str, str, dict[str, Any]]] = []

    class Log:
        def error(self, event: str, **fields: Any) -> None:
            said.append(("error", event, fields))

    monkeypatch.setattr(events, "log", Log())
    before = REGISTRY.get_sample_value("secstash_s3_reader_credential_failures_total", {"stream": "creds"}) or 0
    events.batch_failed("creds", "shardId-0", classified(client_error("InvalidAccessKeyId", 403), WHERE))
    after = REGISTRY.get_sample_value("secstash_s3_reader_credential_failures_total", {"stream": "creds"})
    assert after == before + 1
    (_, told, fields) = said[-1]
    assert "secstash's own credentials" in told
    assert fields == {"stream": "creds", "shard": "shardId-0", "code": "InvalidAccessKeyId", "operation": "GetObject"}
    assert "AKIA" not in repr(said)


def test_other_batch_failures_are_not_counted_as_credential_faults(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(events, "log", type("Log", (), {"error": lambda self, *a, **k: None})())
    before = REGISTRY.get_sample_value("secstash_s3_reader_credential_failures_total", {"stream": "slow"}) or 0
    events.batch_failed("slow", "shardId-0", client_error("SlowDown", 503))
    assert (REGISTRY.get_sample_value("secstash_s3_reader_credential_failures_total", {"stream": "slow"}) or 0) == before


def test_start_warns_about_streams_that_read_any_bucket(monkeypatch: pytest.MonkeyPatch):
    said: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "log", type("Log", (), {"warning": lambda self, e, **k: said.append((e, k))})())
    events.objects_from_any_bucket([])
    assert said == []
    events.objects_from_any_bucket(["tenant-a"])
    (event, fields), = said
    assert "any bucket" in event and fields == {"streams": ["tenant-a"]}
