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
PLAIN = ObjectRef(bucket="logs", key="plain.log", region="eu-west-1", size=5, version_id=None,
                  notification="{}", encoded_key="plain.log")  # written as it is: one request only


def reader(max_bytes: int = 1000, buckets: tuple = ()) -> tuple[ObjectReader, Stubber]:
    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s")
    subject = ObjectReader(ObjectAccess(region="us-east-1", max_bytes=max_bytes, buckets=buckets), session)
    stubber = Stubber(subject._client("eu-west-1"))  # the client the reader will use
    stubber.activate()
    return subject, stubber


def body(data: bytes) -> dict:
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentLength": len(data)}


@pytest.mark.parametrize(("code", "status"), [
    ("NoSuchBucket", 404), ("AccessDenied", 403), ("InvalidObjectState", 403), ("KMS.AccessDeniedException", 400),
    # S3 answers these for a pointer it can never serve: they used to fail the batch on every re-read.
    ("InvalidArgument", 400),  # a malformed versionId
    ("MethodNotAllowed", 405),  # the versionId of a delete marker
    ("InvalidRequest", 400),  # an object stored with SSE-C
    ("KeyTooLongError", 400),
    ("PermanentRedirect", 301),
    ("SomethingS3AddsNextYear", 400),  # any 4xx not known to be transient
])
def test_errors_a_retry_cannot_mend_make_the_object_unavailable(code, status):
    subject, stubber = reader()
    stubber.add_client_error("get_object", code, http_status_code=status)
    with pytest.raises(ObjectUnavailable) as raised:
        subject(PLAIN)
    assert raised.value.reason == "s3_object_unavailable"
    assert raised.value.message.startswith("s3://logs/plain.log: ")
    assert f"GetObject answered {code} (HTTP {status})" in raised.value.message
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("code", "status"), [
    ("SlowDown", 503), ("InternalError", 500), ("RequestTimeout", 400), ("Throttling", 400),
    ("ThrottlingException", 400), ("RequestLimitExceeded", 400), ("TooManyRequestsException", 429),
    ("ServiceUnavailable", 503), ("AnyServerFault", 502), ("KMS.ThrottlingException", 400),
])
def test_transient_errors_escape_as_they_are(code, status):
    subject, stubber = reader()
    stubber.add_client_error("get_object", code, http_status_code=status)
    with pytest.raises(ClientError) as raised:
        subject(REF)
    assert not isinstance(raised.value, ObjectUnavailable)
    assert raised.value.response["Error"]["Code"] == code


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
        subject(PLAIN)
    assert raised.value.reason == "s3_object_unavailable"


def test_without_an_owner_none_is_sent():
    subject, stubber = reader(buckets=(("logs", None),))
    stubber.add_response("get_object", body(b"x"), expected_params={"Bucket": "logs", "Key": "a b:c.log"})
    assert subject(REF) == b"x"


# --- the pointer is checked before any request (the stubber has no response: a request would fail the test) --

def ref(bucket: str = "logs", key: str = "k.log", region: str | None = "eu-west-1",
        version: str | None = None) -> ObjectRef:
    return ObjectRef(bucket=bucket, key=key, region=region, size=None, version_id=version, notification="{}",
                     encoded_key=key)


@pytest.mark.parametrize(("pointer", "why"), [
    (ref(region="us east 1"), "region"), (ref(region="-"), "region"),
    (ref(region="zz-nowhere-9"), "botocore knows"),  # region-shaped, but its host does not resolve
    (ref(bucket="lb_logs!"), "bucket"), (ref(bucket="Logs"), "bucket"), (ref(bucket="ab"), "bucket"),
    (ref(bucket="-logs"), "bucket"), (ref(bucket="a..b"), "bucket"), (ref(bucket="10.0.0.1"), "bucket"),
    (ref(bucket="logs\n"), "bucket"),
    (ref(bucket="arn:aws:s3:us-east-1:999999999999:accesspoint/x-alb-logs"), "bucket"),
    (ref(bucket="x-alb-logs-abcdefghijklmnopqrstuvwxyz-s3alias"), "bucket"),  # an access point's alias
    (ref(key="k" * 1025), "1025 bytes"), (ref(key="é" * 513), "1026 bytes"),
    (ref(version="v1\n"), "version id"), (ref(version="v" * 1025), "version id"),
])
def test_a_pointer_s3_can_never_answer_is_dead_lettered_before_any_request(pointer, why):
    subject, stubber = reader()
    with pytest.raises(ObjectUnavailable) as raised:
        subject(pointer)
    assert raised.value.reason == "bad_s3_notification"
    assert why in raised.value.message
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("region", ["eusc-de-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-5", None])
def test_every_region_botocore_knows_is_asked(region):
    subject = ObjectReader(ObjectAccess(region="us-east-1", max_bytes=10),
                           boto3.Session(aws_access_key_id="k", aws_secret_access_key="s"))
    stubber = Stubber(subject._client(region or "us-east-1"))
    stubber.activate()
    stubber.add_response("get_object", body(b"x"), expected_params={"Bucket": "logs", "Key": "k.log"})
    assert subject(ref(region=region)) == b"x"


def test_the_configured_region_is_asked_even_when_botocore_does_not_know_it():
    # Local emulators (aws.s3_endpoint) may use a region of their own: the operator set it, not the stream.
    subject = ObjectReader(ObjectAccess(region="zz-local-1", max_bytes=10),
                           boto3.Session(aws_access_key_id="k", aws_secret_access_key="s"))
    stubber = Stubber(subject._client("zz-local-1"))
    stubber.activate()
    stubber.add_response("get_object", body(b"x"))
    assert subject(ref(region="zz-local-1")) == b"x"


# --- the key as the notification wrote it ---------------------------------------------------------------

def test_the_key_as_written_is_tried_when_the_decoded_one_is_denied():
    # S3 answers a missing key 403 to a reader without s3:ListBucket, which the generated policies never grant.
    subject, stubber = reader()
    stubber.add_client_error("get_object", "AccessDenied", http_status_code=403,
                             expected_params={"Bucket": "logs", "Key": "a b:c.log"})
    stubber.add_response("get_object", body(b"line\n"), expected_params={"Bucket": "logs", "Key": "a+b%3Ac.log"})
    assert subject(REF) == b"line\n"
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("first", "second"), [(("AccessDenied", 403), ("AccessDenied", 403)),
                                               (("NoSuchKey", 404), ("AccessDenied", 403)),
                                               (("AccessDenied", 403), ("NoSuchKey", 404))])
def test_when_both_keys_fail_the_dead_letter_says_missing_or_denied(first, second):
    subject, stubber = reader()
    stubber.add_client_error("get_object", first[0], http_status_code=first[1])
    stubber.add_client_error("get_object", second[0], http_status_code=second[1])
    with pytest.raises(ObjectUnavailable) as raised:
        subject(REF)
    assert raised.value.reason == "s3_object_unavailable"
    assert raised.value.message == (
        f"s3://logs/a b:c.log: missing or access denied: GetObject answered {first[0]} (HTTP {first[1]}), and "
        f"{second[0]} (HTTP {second[1]}) for the key as the notification wrote it")
    stubber.assert_no_pending_responses()


def test_a_denied_key_written_as_it_is_is_asked_for_once_and_reported_as_missing_or_denied():
    subject, stubber = reader()
    stubber.add_client_error("get_object", "AccessDenied", http_status_code=403)
    with pytest.raises(ObjectUnavailable, match="missing or access denied: GetObject answered AccessDenied"):
        subject(PLAIN)


def test_a_transient_error_of_the_key_as_written_still_fails_the_batch():
    subject, stubber = reader()
    stubber.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    stubber.add_client_error("get_object", "SlowDown", http_status_code=503)
    with pytest.raises(ClientError) as raised:
        subject(REF)
    assert not isinstance(raised.value, ObjectUnavailable)


# --- which buckets ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("buckets", [(), (("org-security-archive", None),), (("org-*", "111122223333"),)])
def test_the_archive_bucket_is_never_read_whatever_the_allow_list_says(buckets):
    access = ObjectAccess(region="us-east-1", max_bytes=10, buckets=buckets, archive_bucket="org-security-archive")
    subject = ObjectReader(access, boto3.Session(aws_access_key_id="k", aws_secret_access_key="s"))
    stubber = Stubber(subject._client("eu-west-1"))
    stubber.activate()
    with pytest.raises(ObjectUnavailable) as raised:
        subject(ref(bucket="org-security-archive", key="spill/data/2024/05/01/x.ndjson.gz"))
    assert raised.value.reason == "s3_bucket_not_allowed"
    assert "archive bucket" in raised.value.message
    stubber.assert_no_pending_responses()


def test_an_arn_never_matches_a_pattern_even_asked_directly():
    access = ObjectAccess(region="us-east-1", max_bytes=10, buckets=(("*-alb-logs", "111122223333"),))
    with pytest.raises(ObjectUnavailable) as raised:
        access.expected_owner("arn:aws:s3:us-east-1:999999999999:accesspoint/x-alb-logs")
    assert raised.value.reason == "s3_bucket_not_allowed"
    assert access.expected_owner("acme-alb-logs") == "111122223333"


@pytest.mark.parametrize("name", ["abc", "lb-logs", "acme.alb.logs", "123", "a" * 63, "logs-2024.05"])
def test_bucket_names_s3_gives_pass_the_check(name):
    subject, stubber = reader()
    stubber.add_response("get_object", body(b"x"), expected_params={"Bucket": name, "Key": "k.log"})
    assert subject(ref(bucket=name)) == b"x"
