"""ObjectReader: which S3 errors dead-letter a pointer and which fail the batch (botocore's Stubber)."""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from consumer.objects import ObjectAccess, ObjectReader
from parsers import ObjectRef, ObjectUnavailable

REF = ObjectRef(bucket="logs", key="a b:c.log", region="eu-west-1", size=5, version_id=None,
                notification="{}", encoded_key="a+b%3Ac.log")


def reader(max_bytes: int = 1000, buckets: tuple = ()) -> tuple[ObjectReader, Stubber]:
    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s")
    subject = ObjectReader(ObjectAccess(region="us-east-1", max_bytes=max_bytes, buckets=buckets), session)
    stubber = Stubber(subject._client("eu-west-1"))  # the client the reader will use
    stubber.activate()
    return subject, stubber


def body(data: bytes) -> dict:
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentLength": len(data)}


@pytest.mark.parametrize(("code", "status"), [("NoSuchBucket", 404), ("AccessDenied", 403),
                                              ("InvalidObjectState", 403), ("KMS.AccessDeniedException", 400)])
def test_errors_a_retry_cannot_mend_make_the_object_unavailable(code, status):
    subject, stubber = reader()
    stubber.add_client_error("get_object", code, http_status_code=status)
    with pytest.raises(ObjectUnavailable, match=code) as raised:
        subject(REF)
    assert raised.value.reason == "s3_object_unavailable"
    assert "s3://logs/a b:c.log" in raised.value.message


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("RequestTimeout", 400)])
def test_transient_errors_escape_as_they_are(code, status):
    subject, stubber = reader()
    stubber.add_client_error("get_object", code, http_status_code=status)
    with pytest.raises(ClientError) as raised:
        subject(REF)
    assert not isinstance(raised.value, ObjectUnavailable)


def test_the_key_as_the_notification_wrote_it_is_tried_when_the_decoded_one_is_missing():
    subject, stubber = reader()
    stubber.add_client_error("get_object", "NoSuchKey", http_status_code=404,
                             expected_params={"Bucket": "logs", "Key": "a b:c.log"})
    stubber.add_response("get_object", body(b"line\n"), expected_params={"Bucket": "logs", "Key": "a+b%3Ac.log"})
    assert subject(REF) == b"line\n"
    stubber.assert_no_pending_responses()


def test_a_version_is_asked_for_when_the_notification_names_one():
    subject, stubber = reader()
    versioned = ObjectRef("logs", "k", "eu-west-1", None, "v1", "{}", "k")
    stubber.add_response("get_object", body(b"x"), expected_params={"Bucket": "logs", "Key": "k", "VersionId": "v1"})
    assert subject(versioned) == b"x"


def test_an_object_over_the_cap_is_refused_even_when_its_length_is_not_told():
    subject, stubber = reader(max_bytes=4)
    stubber.add_response("get_object", {"Body": StreamingBody(io.BytesIO(b"12345"), 5)})
    with pytest.raises(ObjectUnavailable) as raised:
        subject(REF)
    assert raised.value.reason == "payload_too_large"


def test_a_bucket_the_stream_may_not_point_at_is_never_asked_for():
    subject, stubber = reader(buckets=(("acme-*-alb-logs", None), ("trail", None)))
    with pytest.raises(ObjectUnavailable) as raised:  # the stubber has no response: a request would fail otherwise
        subject(REF)
    assert raised.value.reason == "s3_bucket_not_allowed"
    assert "s3://logs" in raised.value.message
    stubber.assert_no_pending_responses()


def test_the_first_matching_bucket_rule_pins_the_owner_s3_must_check():
    subject, stubber = reader(buckets=(("lo?s", "111122223333"), ("logs", None)))
    stubber.add_response("get_object", body(b"x"), expected_params={
        "Bucket": "logs", "Key": "a b:c.log", "ExpectedBucketOwner": "111122223333"})
    assert subject(REF) == b"x"
    stubber.assert_no_pending_responses()


def test_a_bucket_owned_by_another_account_is_unavailable_not_retried():
    subject, stubber = reader(buckets=(("logs", "111122223333"),))
    stubber.add_client_error("get_object", "AccessDenied", http_status_code=403)
    with pytest.raises(ObjectUnavailable) as raised:
        subject(REF)
    assert raised.value.reason == "s3_object_unavailable"


def test_without_an_owner_none_is_sent():
    subject, stubber = reader(buckets=(("logs", None),))
    stubber.add_response("get_object", body(b"x"), expected_params={"Bucket": "logs", "Key": "a b:c.log"})
    assert subject(REF) == b"x"
