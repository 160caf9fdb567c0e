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
    props = properties.build(s, s.streams[0], python="/usr/bin/python3")
    assert props["streamArn"] == arn and "streamName" not in props
    assert props["regionName"] == "eu-west-1"  # from the ARN
    assert props["AwsCredentialsProvider"].startswith(
        "KclStsAssumeRoleCredentialsProvider|arn:aws:iam::111122223333:role/secstash-reader|")
    assert props["AwsCredentialsProviderDynamoDB"] == "DefaultCredentialsProvider"
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
])
def test_extra_properties_are_checked(extra: dict, message: str) -> None:
    s = make(kcl={"extra_properties": extra})
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
