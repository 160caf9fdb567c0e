"""The KCL properties generated from the settings, and the checks that stop a misspelt key."""

from __future__ import annotations

import pytest

from consumer import settings
from consumer.kcl import properties


def make(**overrides: object) -> settings.Settings:
    data: dict = {"streams": [{"name": "logs"}], "archive": {"bucket": "archive-bucket"},
                  "search": {"hosts": ["http://127.0.0.1:9200"]}}
    data.update(overrides)
    return settings.Settings(**data)


def test_polling_stream_in_this_account() -> None:
    s = make()
    props = properties.build(s, s.streams[0], python="/opt/venv/bin/python")
    assert props["executableName"] == "/opt/venv/bin/python -m consumer.kcl.processor"
    assert props["streamName"] == "logs" and "streamArn" not in props
    assert props["applicationName"] == "secstash-logs"
    assert props["retrievalMode"] == "POLLING"
    assert props["AwsCredentialsProvider"] == "DefaultCredentialsProvider"
    assert int(props["shutdownGraceMillis"]) > 0  # the daemon's default 0 lets nothing checkpoint on SIGTERM
    assert props["callProcessRecordsEvenForEmptyRecordList"] == "true"  # the processors' heartbeats
    assert "kinesisEndpoint" not in props


def test_cross_account_stream_assumes_the_role_for_kinesis_only() -> None:
    arn = "arn:aws:kinesis:eu-west-1:111122223333:stream/org-trail"
    s = make(streams=[{"arn": arn, "role_arn": "arn:aws:iam::111122223333:role/secstash-reader",
                       "retrieval_mode": "fanout", "application_name": "soc-org-trail"}])
    props = properties.build(s, s.streams[0], python="/usr/bin/python3", worker_id="secstash-5f7c9-x2k9p")
    assert props["streamArn"] == arn and "streamName" not in props
    assert props["regionName"] == "eu-west-1"  # from the ARN
    # The daemon's STS client is regional in the stream's region whatever AWS_REGION says (or lacks), and the
    # session names stream and instance for the role account's CloudTrail.
    assert props["AwsCredentialsProvider"] == (
        "KclStsAssumeRoleCredentialsProvider|arn:aws:iam::111122223333:role/secstash-reader|"
        "secstash-kinesis-org-trail@secstash-5f7c9-x2k9p|endpointRegion=eu-west-1")
    assert props["AwsCredentialsProviderDynamoDB"] == "DefaultCredentialsProvider"
    assert props["AwsCredentialsProviderCloudWatch"] == "DefaultCredentialsProvider"
    assert props["retrievalMode"] == "FANOUT"
    assert props["applicationName"] == "soc-org-trail"


def test_local_endpoints_are_written() -> None:
    s = make(aws={"endpoint_url": "http://127.0.0.1:5000", "kinesis_endpoint": "http://127.0.0.1:4568"})
    props = properties.build(s, s.streams[0], python="/usr/bin/python3")
    assert props["kinesisEndpoint"] == "http://127.0.0.1:4568"
    assert props["dynamoDBEndpoint"] == "http://127.0.0.1:5000"


@pytest.mark.parametrize(("extra", "message"), [
    ({"maxRecord": "5"}, "'maxRecord' is not a known MultiLangDaemon property"),
    ({"timeoutInSeconds": "5"}, "managed by secstash"),
    ({"executableName": "/bin/sh"}, "managed by secstash"),
    ({"callProcessRecordsEvenForEmptyRecordList": "false"}, "managed by secstash"),  # the stall watch needs it
    # extra_properties apply to every stream: these would give them all one lease table (colliding shard ids),
    # or a table, region, endpoint or consumer that neither the lease-table check nor the IAM policies know.
    ({"tableName": "shared"}, r"tableName: managed by secstash, cannot be overridden \(set streams\[\]\.application_name"),
    ({"workerMetricsTableName": "shared"}, "managed by secstash"),
    ({"coordinatorStateTableName": "shared"}, "managed by secstash"),
    ({"consumerName": "shared"}, "managed by secstash"),
    ({"regionName": "ap-south-1"}, r"set streams\[\]\.region or aws\.region"),
    ({"kinesisEndpoint": "http://127.0.0.1:1"}, r"set aws\.kinesis_endpoint"),
    ({"cloudWatchClient.region": "ap-south-1"}, "managed by secstash"),
    # a key the settings write names its setting: the IAM generator reads the setting, not extra_properties
    ({"metricsLevel": "SUMMARY"}, r"set kcl\.metrics_level instead"),
    ({"initialPositionInStream": "LATEST"}, r"set streams\[\]\.initial_position instead"),
])
def test_extra_properties_are_checked(extra: dict, message: str) -> None:
    s = make(streams=[{"name": "logs"}, {"name": "flows"}], kcl={"extra_properties": extra})
    with pytest.raises(properties.PropertiesError, match=message):
        properties.build(s, s.streams[0], python="/usr/bin/python3")


def test_interpreter_path_with_a_space_is_refused() -> None:
    s = make()
    with pytest.raises(properties.PropertiesError, match="contains a space"):
        properties.build(s, s.streams[0], python="/opt/my venv/bin/python")


def test_render_is_java_properties_syntax() -> None:
    text = properties.render({"executableName": "C:\\python.exe -m x", "streamName": "a"})
    assert "executableName = C:\\\\python.exe -m x" in text
    assert text.endswith("streamName = a\n")


def test_command_line_caps_the_heap_and_disables_cbor_only_for_emulators(tmp_path) -> None:
    cmd = properties.command_line("java", "/jars", tmp_path / "p.properties", 384, None, disable_cbor=True)
    assert "-Xmx384m" in cmd and "-Daws.cborEnabled=false" in cmd
    assert cmd[-3:] == ["software.amazon.kinesis.multilang.MultiLangDaemon", "--properties-file",
                        str(tmp_path / "p.properties")]
    assert "-Daws.cborEnabled=false" not in properties.command_line("java", "/jars", tmp_path / "p", 384, None)


def test_command_line_passes_the_kcl_log_level_as_the_property_logback_xml_reads(tmp_path) -> None:
    from consumer.runtime import LOGBACK

    cmd = properties.command_line("java", "/jars", tmp_path / "p", 384, LOGBACK, log_level="INFO")
    assert f"-Dlogback.configurationFile={LOGBACK}" in cmd and "-DSECSTASH_KCL_LOG_LEVEL=INFO" in cmd
    assert cmd.index("-DSECSTASH_KCL_LOG_LEVEL=INFO") < cmd.index("-cp")  # a JVM option, not an argument
    assert '<root level="${SECSTASH_KCL_LOG_LEVEL:-WARN}">' in LOGBACK.read_text()


def test_a_new_stream_is_read_from_its_oldest_record_by_default() -> None:
    s = make()
    assert properties.build(s, s.streams[0], python="/p")["initialPositionInStream"] == "TRIM_HORIZON"


def test_the_external_id_reaches_the_daemon_and_is_masked_when_shown() -> None:
    s = make(streams=[{"arn": "arn:aws:kinesis:eu-west-1:444455556666:stream/org",
                       "role_arn": "arn:aws:iam::444455556666:role/reader", "external_id": "Ext-1d-7Q9"}])
    props = properties.build(s, s.streams[0], python="/p", worker_id="w")
    assert props["AwsCredentialsProvider"].split("|")[-1] == "externalId=Ext-1d-7Q9"
    shown = properties.render(properties.masked(props, s))
    assert "Ext-1d-7Q9" not in shown and "externalId=**********" in shown


def test_the_sts_endpoint_override_reaches_the_daemons_sts_client() -> None:
    s = make(streams=[{"name": "logs", "role_arn": "arn:aws:iam::444455556666:role/reader"}],
             aws={"region": "eu-west-1", "sts_endpoint": "http://127.0.0.1:5000"})
    parts = properties.build(s, s.streams[0], python="/p", worker_id="w")["AwsCredentialsProvider"].split("|")
    assert parts[3:] == ["endpointRegion=eu-west-1", "endpoint=http://127.0.0.1:5000^eu-west-1"]


def test_a_long_stream_key_and_worker_id_keep_the_session_name_within_sts_limits() -> None:
    s = make(streams=[{"name": "x" * 128, "role_arn": "arn:aws:iam::444455556666:role/reader"}])
    session = properties.build(s, s.streams[0], python="/p", worker_id="host:" + "w" * 100 + "-tail")[
        "AwsCredentialsProvider"].split("|")[2]
    assert len(session) == 64 and session.startswith("secstash-kinesis-xxx") and session.endswith("w-tail")
    assert all(c.isalnum() or c in "_+=,.@-" for c in session)


def test_the_properties_file_is_readable_by_its_owner_only(tmp_path) -> None:
    path = tmp_path / "logs.properties"
    path.write_text("old")
    path.chmod(0o644)
    properties.write(path, {"streamName": "logs"})
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_text().endswith("streamName = logs\n")


def test_logback_xml_parses_and_keeps_the_property_echo_out_of_the_daemons_log() -> None:
    """A broken logback.xml (`--` inside a comment is enough) silently drops the daemon's whole log config."""
    from xml.etree import ElementTree

    from consumer.runtime import LOGBACK

    loggers = {e.get("name"): e.get("level") for e in ElementTree.parse(LOGBACK).getroot().iter("logger")}
    assert loggers["software.amazon.kinesis.multilang.config.KinesisClientLibConfigurator"] == "WARN"
