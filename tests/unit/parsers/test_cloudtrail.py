"""CloudTrail: Elastic's pipeline rules on records the fixtures do not cover (errors, partial identities,
service callers, digests, odd values), the input shapes, and a fuzz property."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from parsers import EventError, registry
from parsers.event import Event, EventMeta
from parsers.options import ParseOptions
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text, mutated_events

SPEC = registry.get("cloudtrail")
OPTIONS = ParseOptions()
PROPERTY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ASSUMED_ROLE = {
    "eventVersion": "1.10",
    "userIdentity": {
        "type": "AssumedRole", "principalId": "AROAEXAMPLE:alice@example.com",
        "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com", "accountId": "111122223333",
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                              "arn": "arn:aws:iam::111122223333:role/Admin", "accountId": "111122223333",
                              "userName": "Admin"},
            "attributes": {"creationDate": "2024-05-01T10:00:00Z", "mfaAuthenticated": "true"}}},
    "eventTime": "2024-05-01T10:15:30Z", "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
    "awsRegion": "us-east-1", "sourceIPAddress": "2001:db8::1", "userAgent": "AWS Internal",
    "requestParameters": {"userName": "bob"},
    "responseElements": {"accessKey": {"accessKeyId": "AKIANEW", "status": "Active", "userName": "bob",
                                       "createDate": "May 1, 2024 10:15:30 AM"}},
    "requestID": "r-1", "eventID": "e-1", "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
    "recipientAccountId": "111122223333", "eventCategory": "Management", "sessionCredentialFromConsole": "true",
    "tlsDetails": {"tlsVersion": "TLSv1.2", "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                   "clientProvidedHostHeader": "iam.amazonaws.com"},
}
SERVICE_ASSUME_ROLE = {
    "eventVersion": "1.08", "userIdentity": {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
    "eventTime": "2024-05-01T10:15:30Z", "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
    "awsRegion": "eu-west-1", "sourceIPAddress": "lambda.amazonaws.com", "userAgent": "lambda.amazonaws.com",
    "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/fn-role", "roleSessionName": "fn",
                          "durationSeconds": 43200},
    "responseElements": {"credentials": {"accessKeyId": "ASIATEMP", "sessionToken": "t", "expiration": "x"},
                         "assumedRoleUser": {"assumedRoleId": "AROA:fn",
                                             "arn": "arn:aws:sts::111122223333:assumed-role/fn-role/fn"}},
    "resources": [{"accountId": "111122223333", "type": "AWS::IAM::Role",
                   "ARN": "arn:aws:iam::111122223333:role/fn-role"},
                  {"accountId": "111122223333", "type": "AWS::IAM::Role",
                   "ARN": "arn:aws:iam::111122223333:role/fn-role"}],
    "eventID": "e-2", "readOnly": True, "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
    "sharedEventID": "s-1", "eventCategory": "Management",
}
CONSOLE_FAILURE = {
    "eventVersion": "1.05", "userIdentity": {"type": "IAMUser", "principalId": "AIDA", "accountId": "111122223333",
                                             "userName": "carol"},
    "eventTime": "2024-05-01T10:15:30Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
    "awsRegion": "us-east-1", "sourceIPAddress": "89.160.20.156",
    "userAgent": "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:24.0) Gecko/20100101 Firefox/24.0",
    "errorMessage": "Failed authentication", "requestParameters": None,
    "responseElements": {"ConsoleLogin": "Failure"},
    "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/", "MobileVersion": "No", "MFAUsed": "Yes"},
    "eventID": "e-3", "eventType": "AwsConsoleSignIn", "recipientAccountId": "111122223333",
}
DIGEST = {
    "awsAccountId": "111122223333", "digestStartTime": "2024-05-01T09:00:00Z", "digestEndTime": "2024-05-01T10:00:00Z",
    "digestS3Bucket": "trail-bucket", "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/x.json.gz",
    "digestSignatureAlgorithm": "SHA256withRSA", "newestEventTime": "2024-05-01T09:59:00Z",
    "oldestEventTime": "2024-05-01T09:01:00Z", "previousDigestS3Bucket": "trail-bucket",
    "previousDigestHashAlgorithm": "SHA-256", "previousDigestSignature": "abcdef",
    "logFiles": [{"s3Bucket": "trail-bucket", "s3Object": "a.json.gz", "hashValue": "00", "hashAlgorithm": "SHA-256",
                  "newestEventTime": "2024-05-01T09:59:00Z", "oldestEventTime": "2024-05-01T09:01:00Z"}],
}
SAMPLES = [ASSUMED_ROLE, SERVICE_ASSUME_ROLE, CONSOLE_FAILURE, DIGEST]


def parse(record: dict, options: ParseOptions = OPTIONS) -> dict:
    docs = SPEC.parse(Event(message=orjson.dumps(record).decode()), options)
    assert len(docs) == 1
    return docs[0]


def test_assumed_role_caller_is_named_after_its_role() -> None:
    doc = parse(ASSUMED_ROLE)
    assert doc["user"]["name"] == "Admin"
    assert doc["user"]["id"] == "AROAEXAMPLE:alice@example.com"
    assert "email" not in doc["user"]  # only a user *name* with an @ is an email
    assert set(doc["related"]["user"]) == {"bob", "AROAEXAMPLE:alice@example.com", "Admin"}
    ui = doc["aws"]["cloudtrail"]["user_identity"]
    assert ui["session_context"] == {
        "creation_date": "2024-05-01T10:00:00.000Z", "mfa_authenticated": "true",
        "session_issuer": {"type": "Role", "principal_id": "AROAEXAMPLE",
                           "arn": "arn:aws:iam::111122223333:role/Admin", "account_id": "111122223333"}}


def test_identity_user_name_is_kept_when_the_session_issuer_also_names_one() -> None:
    # Pipeline processor `rename json.userIdentity.sessionContext.sessionIssuer.userName -> user.name`
    # (ignore_failure): ES refuses to rename onto an existing field, so the identity's own userName stays;
    # the `append related.user {{json.userIdentity.userName}}` before it keeps that name in related.user.
    record = copy.deepcopy(ASSUMED_ROLE)
    record["userIdentity"]["userName"] = "alice"
    doc = parse(record)
    assert doc["user"]["name"] == "alice"
    assert {"alice", "Admin"} <= set(doc["related"]["user"])


def test_digest_account_does_not_replace_the_identity_account() -> None:
    # Pipeline processor `rename json.awsAccountId -> cloud.account.id` (ignore_failure) runs after the
    # userIdentity.accountId rename and cannot overwrite it.
    record = {**DIGEST, "userIdentity": {"type": "IAMUser", "accountId": "444455556666"}}
    assert parse(record)["cloud"]["account"] == {"id": "444455556666"}
    assert parse(DIGEST)["cloud"]["account"] == {"id": "111122223333"}


def test_log_event_time_becomes_event_created() -> None:
    # Pipeline processor `set event.created copy_from @timestamp` (before the eventTime date processor): the
    # aws-cloudwatch input's @timestamp is the CloudWatch Logs event's timestamp.
    event = Event(message=orjson.dumps(ASSUMED_ROLE).decode(), meta=EventMeta(timestamp_ms=1714558531250))
    doc = SPEC.parse(event, OPTIONS)[0]
    assert doc["event"]["created"] == "2024-05-01T10:15:31.250Z"
    assert doc["@timestamp"] == "2024-05-01T10:15:30.000Z"
    assert "created" not in parse(ASSUMED_ROLE)["event"]  # no envelope time (secstash parse): none to copy


def test_categorization_outcome_and_renames() -> None:
    doc = parse(ASSUMED_ROLE)
    assert doc["event"] == {"kind": "event", "action": "CreateAccessKey", "provider": "iam.amazonaws.com",
                            "id": "e-1", "category": ["iam"], "type": ["user", "change"], "outcome": "success"}
    assert doc["@timestamp"] == "2024-05-01T10:15:30.000Z"
    assert doc["cloud"] == {"account": {"id": "111122223333"}, "region": "us-east-1"}
    ct = doc["aws"]["cloudtrail"]
    assert (ct["management_event"], ct["read_only"], ct["session_credential_from_console"]) == (True, False, "true")
    assert doc["user"]["target"] == {"name": "bob"}


def test_request_and_response_render_as_java_maps_and_flattened_objects() -> None:
    ct = parse(ASSUMED_ROLE)["aws"]["cloudtrail"]
    assert ct["request_parameters"] == "{userName=bob}"
    assert ct["response_elements"] == (  # the order an OpenJDK HashMap prints these keys in
        "{accessKey={accessKeyId=AKIANEW, userName=bob, status=Active, createDate=May 1, 2024 10:15:30 AM}}")
    assert ct["flattened"]["response_elements"] == ASSUMED_ROLE["responseElements"]


def test_ipv6_source_gets_an_ip_and_hostnames_do_not() -> None:
    assert parse(ASSUMED_ROLE)["source"] == {"address": "2001:db8::1", "ip": "2001:db8::1"}
    assert parse(SERVICE_ASSUME_ROLE)["source"] == {"address": "lambda.amazonaws.com"}


def test_tls_details() -> None:
    assert parse(ASSUMED_ROLE)["tls"] == {"version_protocol": "tls", "version": "1.2",
                                          "cipher": "ECDHE-RSA-AES128-GCM-SHA256",
                                          "client": {"server_name": "iam.amazonaws.com"}}


def test_entities_of_an_iam_call() -> None:
    doc = parse(ASSUMED_ROLE)
    assert doc["actor"] == {"entity": {"id": ["arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com"]}}
    assert doc["target"] == {"entity": {"id": ["AKIANEW", "bob"]}}
    assert doc["related"]["entity"] == sorted({
        "ASIAEXAMPLE", "arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com",
        "arn:aws:iam::111122223333:role/Admin", "Admin", "bob", "AKIANEW"})


def test_service_assuming_a_role_is_the_actor() -> None:
    doc = parse(SERVICE_ASSUME_ROLE)
    assert doc["actor"]["entity"]["id"] == ["lambda.amazonaws.com"]
    assert doc["target"]["entity"]["id"] == ["arn:aws:iam::111122223333:role/fn-role"]
    assert "user" not in doc and "related" in doc and "user" not in doc["related"]
    assert doc["event"]["category"] == ["authentication"]
    assert doc["aws"]["cloudtrail"]["user_identity"] == {"type": "AWSService", "invoked_by": "lambda.amazonaws.com"}


def test_repeated_resources_are_kept_once() -> None:
    assert parse(SERVICE_ASSUME_ROLE)["aws"]["cloudtrail"]["resources"] == [
        {"account_id": "111122223333", "type": "AWS::IAM::Role", "arn": "arn:aws:iam::111122223333:role/fn-role"}]


def test_failed_console_login() -> None:
    doc = parse(CONSOLE_FAILURE)
    assert doc["event"]["outcome"] == "failure"
    assert doc["aws"]["cloudtrail"]["error_message"] == "Failed authentication"
    assert doc["aws"]["cloudtrail"]["console_login"] == {"additional_eventdata": {
        "login_to": "https://console.aws.amazon.com/", "mobile_version": False, "mfa_used": True}}
    assert doc["user_agent"]["version"] == "24.0."
    assert doc["target"]["entity"]["id"] == ["111122223333"]
    assert "request_parameters" not in doc["aws"]["cloudtrail"]


def test_console_login_outcome_comes_from_the_response() -> None:
    record = dict(CONSOLE_FAILURE, responseElements={"ConsoleLogin": "Success"})
    del record["errorMessage"]
    assert parse(record)["event"]["outcome"] == "success"


def test_error_code_alone_means_failure() -> None:
    record = dict(ASSUMED_ROLE, errorCode="AccessDenied", responseElements=None)
    doc = parse(record)
    assert doc["event"]["outcome"] == "failure"
    assert doc["aws"]["cloudtrail"]["error_code"] == "AccessDenied"
    assert "response_elements" not in doc["aws"]["cloudtrail"]


def test_record_without_user_identity_or_event_name() -> None:
    doc = parse({"eventTime": "2024-05-01T10:15:30Z", "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1"})
    assert doc["event"] == {"kind": "event", "provider": "s3.amazonaws.com", "type": ["info"], "outcome": "success"}
    assert "actor" not in doc and "aws" not in doc and "user" not in doc


def test_user_identity_with_only_some_parts() -> None:
    record = {"eventVersion": "1.08", "eventName": "GetObject", "eventSource": "s3.amazonaws.com",
              "userIdentity": {"type": "AWSAccount", "principalId": "", "accountId": "444455556666",
                               "sessionContext": {"sessionIssuer": {}, "attributes": {"creationDate": None}}}}
    doc = parse(record)
    assert doc["aws"]["cloudtrail"]["user_identity"] == {"type": "AWSAccount"}
    assert doc["cloud"] == {"account": {"id": "444455556666"}}
    assert "user" not in doc and "actor" not in doc


def test_email_user_names_also_fill_user_email() -> None:
    record = dict(CONSOLE_FAILURE, userIdentity={"type": "IAMUser", "userName": "dave@example.com"})
    assert parse(record)["user"]["email"] == "dave@example.com"
    record = dict(CONSOLE_FAILURE, userIdentity={"type": "IAMUser", "userName": "@team"})
    assert "email" not in parse(record)["user"]


def test_empty_values_are_dropped_everywhere() -> None:
    record = dict(ASSUMED_ROLE, requestParameters={"userName": "bob", "path": "", "tags": [], "x": {"y": None}},
                  vpcEndpointId="", apiVersion=None)
    ct = parse(record)["aws"]["cloudtrail"]
    assert ct["request_parameters"] == "{userName=bob}"
    assert ct["flattened"]["request_parameters"] == {"userName": "bob"}
    assert "vpc_endpoint_id" not in ct and "api_version" not in ct


def test_huge_request_parameters_keep_their_text_but_lose_the_flattened_copy() -> None:
    record = dict(ASSUMED_ROLE, requestParameters={"policyDocument": "x" * 40000, "policyName": "p"})
    ct = parse(record)["aws"]["cloudtrail"]
    assert ct["request_parameters"].startswith("{")
    assert len(ct["request_parameters"]) > 32766
    assert "request_parameters" not in ct["flattened"]
    assert "response_elements" in ct["flattened"]


def test_unicode_keys_and_values() -> None:
    record = dict(ASSUMED_ROLE, requestParameters={"ünïcode": "✓", "emoji😀": "😀", "userName": "Zoë"})
    doc = parse(record)
    text = doc["aws"]["cloudtrail"]["request_parameters"]
    assert sorted(text[1:-1].split(", ")) == sorted(["ünïcode=✓", "emoji😀=😀", "userName=Zoë"])
    assert doc["user"]["target"]["name"] == "Zoë"
    orjson.dumps(doc)


def test_values_of_unexpected_types_are_kept_or_skipped_without_failing() -> None:
    record = dict(ASSUMED_ROLE, userAgent=42, eventName=7, sourceIPAddress=["1.2.3.4"],
                  requestParameters="not an object", tlsDetails={"tlsVersion": 1.2})
    doc = parse(record)
    assert doc["user_agent"] == {"original": 42}
    assert doc["event"]["action"] == "7"
    assert doc["source"] == {"address": ["1.2.3.4"]}
    assert doc["aws"]["cloudtrail"]["request_parameters"] == "not an object"
    assert doc["tls"]["version"] == 1.2


def test_iso8601_basic_format_dates_are_left_out() -> None:
    record = copy.deepcopy(ASSUMED_ROLE)
    record["userIdentity"]["sessionContext"]["attributes"]["creationDate"] = "20131102T010628Z"
    session = parse(record)["aws"]["cloudtrail"]["user_identity"]["session_context"]
    assert "creation_date" not in session


def test_digest_file() -> None:
    doc = parse(DIGEST)
    assert doc["@timestamp"] == "2024-05-01T10:00:00.000Z"
    assert doc["file"] == {"path": "AWSLogs/111122223333/CloudTrail-Digest/x.json.gz", "hash": {"sha256": "abcdef"}}
    assert doc["related"] == {"hash": ["abcdef"]}
    assert doc["cloud"] == {"account": {"id": "111122223333"}}
    digest = doc["aws"]["cloudtrail"]["flattened"]["digest"]
    assert digest["start_time"] == "2024-05-01T09:00:00.000Z"
    assert digest["log_files"] == DIGEST["logFiles"]
    assert "actor" not in doc  # no eventName: Elastic's entity script does not run


def test_insight_details_go_under_flattened() -> None:
    record = {"eventVersion": "1.07", "eventTime": "2024-05-01T10:00:00Z", "eventType": "AwsCloudTrailInsight",
              "eventCategory": "Insight", "insightDetails": {"state": "Start", "baseline": [], "eventName": "X"}}
    ct = parse(record)["aws"]["cloudtrail"]
    assert ct["flattened"]["insight_details"] == {"state": "Start", "eventName": "X"}


def test_categories_with_no_types_leave_event_type_out() -> None:
    record = dict(ASSUMED_ROLE, eventSource="bedrock.amazonaws.com", eventName="Converse",
                  requestParameters={"modelId": "m-1"}, responseElements=None)
    doc = parse(record)
    assert doc["event"]["category"] == ["api"] and "type" not in doc["event"]
    assert doc["target"]["entity"]["id"] == ["m-1"]


def test_ec2_item_lists_stop_at_the_first_known_value() -> None:
    record = dict(ASSUMED_ROLE, eventSource="ec2.amazonaws.com", eventName="AuthorizeSecurityGroupIngress",
                  requestParameters={"groupId": "sg-1"},
                  responseElements={"securityGroupRuleSet": {"items": [
                      {"groupId": "sg-1", "securityGroupRuleId": "sgr-1"},
                      {"groupId": "sg-2", "securityGroupRuleId": "sgr-2"}]}})
    doc = parse(record)
    assert doc["target"]["entity"]["id"] == ["sg-1", "sgr-1", "sgr-2"]
    # painless addValues: sg-1 was already related, so that item's rule id is skipped; sgr-1 arrives as a target.
    assert {"sg-1", "sg-2", "sgr-1", "sgr-2"} <= set(doc["related"]["entity"])


def test_ssm_command_on_every_instance_targets_the_account() -> None:
    record = dict(ASSUMED_ROLE, eventSource="ssm.amazonaws.com", eventName="SendCommand",
                  requestParameters={"targets": [{"key": "InstanceIds", "values": ["*"]}]}, responseElements=None)
    assert parse(record)["target"]["entity"]["id"] == ["111122223333"]


def test_eventbridge_detail_object_parses_like_its_text() -> None:
    text_doc = parse(ASSUMED_ROLE)
    obj_doc = SPEC.parse(Event(obj=copy.deepcopy(ASSUMED_ROLE)), OPTIONS)[0]
    assert obj_doc == text_doc


def test_original_is_left_to_finalize() -> None:
    assert "original" not in parse(ASSUMED_ROLE)["event"]


def test_splunk_export_is_unwrapped() -> None:
    raw = orjson.dumps(CONSOLE_FAILURE).decode()
    doc = parse({"preview": False, "result": {"_raw": raw, "_time": "x"}})
    assert doc["event"]["original"] == raw
    assert doc["event"]["action"] == "ConsoleLogin"
    assert SPEC.parse(Event(message='{"preview": false, "result": {}}'), OPTIONS) == []


def test_blank_lines_give_the_pipeline_defaults_and_bad_json_fails() -> None:
    assert SPEC.parse(Event(message="  "), OPTIONS) == [
        {"event": {"kind": "event", "type": ["info"], "outcome": "success"}}]
    with pytest.raises(EventError):
        SPEC.parse(Event(message='{"eventVersion": '), OPTIONS)
    with pytest.raises(EventError):
        SPEC.parse(Event(message="[1, 2]"), OPTIONS)


def test_records_nested_too_deeply_are_refused() -> None:
    deep: object = "x"
    for _ in range(300):
        deep = {"a": deep}
    with pytest.raises(EventError) as caught:
        SPEC.parse_unguarded(Event(obj=dict(ASSUMED_ROLE, requestParameters=deep)), OPTIONS)
    assert caught.value.reason == "too_deep"
    docs = SPEC.parse_unguarded(Event(obj=dict(ASSUMED_ROLE, unmapped=deep)), OPTIONS)
    orjson.dumps(docs)  # a deep field nothing copies into the document is no obstacle


def test_geoip_enrichment_is_copied_per_document() -> None:
    options = ParseOptions(geoip_dir="../shared/reference/geoip")
    first = parse(CONSOLE_FAILURE, options)
    if "geo" not in first["source"]:
        pytest.skip("MaxMind test databases not found")
    first["source"]["geo"]["location"]["lat"] = 0
    assert parse(CONSOLE_FAILURE, options)["source"]["geo"]["city_name"] == "Linköping"
    assert parse(CONSOLE_FAILURE, options)["source"]["geo"]["location"]["lat"] != 0


@PROPERTY
@given(mutated_events(SAMPLES))
def test_mutated_records_parse_or_fail_cleanly(event: Event) -> None:
    assert_parses_cleanly(SPEC, event)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut_or_random_text([orjson.dumps(sample).decode() for sample in SAMPLES]))
def test_cut_or_random_text_parses_or_fails_cleanly(text: str) -> None:
    assert_parses_cleanly(SPEC, Event(message=text))


def test_a_leaf_over_lucenes_term_limit_in_utf8_bytes_drops_only_the_flattened_copy() -> None:
    # 12 000 euro signs: 12 000 UTF-16 units (Elastic's length test passes) but 36 000 UTF-8 bytes.
    ct = parse({**ASSUMED_ROLE, "requestParameters": {"policyDocument": "\u20ac" * 12000}})["aws"]["cloudtrail"]
    assert ct["request_parameters"] == "{policyDocument=" + "\u20ac" * 12000 + "}"  # the text keeps it all
    assert "request_parameters" not in ct["flattened"]
    assert ct["flattened"]["response_elements"] == ASSUMED_ROLE["responseElements"]
    ascii_leaf = parse({**ASSUMED_ROLE, "requestParameters": {"policyDocument": "a" * 32000}})["aws"]["cloudtrail"]
    assert ascii_leaf["flattened"]["request_parameters"] == {"policyDocument": "a" * 32000}


def test_deeply_nested_parameters_keep_their_flattened_copy_within_the_mapping_depth() -> None:
    value: object = "leaf"
    for i in range(21):  # past Elasticsearch's default depth_limit (20); the mappings allow 200
        value = {f"k{i}": value}
    ct = parse({**ASSUMED_ROLE, "requestParameters": value})["aws"]["cloudtrail"]
    assert ct["flattened"]["request_parameters"] == value


def test_a_long_event_time_is_tried_but_not_kept_alive_by_the_date_cache() -> None:
    import sys

    from parsers import cloudtrail

    text = "2014-03-06T21:22:54." + "1" * 64 * 1024 + "Z"  # past the date processor's 9 fraction digits
    before = sys.getrefcount(text)
    assert cloudtrail._date(text) is None
    assert sys.getrefcount(text) == before
    assert cloudtrail._date("2014-03-06T21:22:54Z") == "2014-03-06T21:22:54.000Z"  # the usual ones: cached
    assert cloudtrail._parse_date.cache_info().currsize >= 1


def test_nulls_inside_copied_objects_and_lists_are_dropped_as_the_pipelines_script_drops_them() -> None:
    # Elastic's first script removes null, "" and emptied values at every depth, before anything is copied.
    record = {**ASSUMED_ROLE, "resources": [{"ARN": "arn:aws:s3:::b", "accountId": None, "type": "AWS::S3::Bucket"},
                                            None],
              "insightDetails": {"state": "Start", "attributes": None, "context": {"statistics": None}}}
    doc = parse(record)
    assert doc["aws"]["cloudtrail"]["resources"] == [{"arn": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}]
    assert doc["aws"]["cloudtrail"]["flattened"]["insight_details"] == {"state": "Start"}
