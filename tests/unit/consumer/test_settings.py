"""Settings: a table of bad settings, each refused before any I/O with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from consumer import settings

GOOD = {
    "streams": [{"name": "security-logs", "labels": {"project": "soc", "environment": "prod"}}],
    "archive": {"bucket": "org-security-archive", "kms_key_id": "alias/archive"},
    "search": {"hosts": ["https://search.internal:9200"], "username": "secstash", "password": "s3cret"},
}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "secstash.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def with_change(path: str, value: object) -> dict:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    node = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    node[keys[-1]] = value
    return data


def test_good_settings_load_with_defaults(tmp_path: Path) -> None:
    loaded = settings.load(write(tmp_path, GOOD), environ={})
    stream = loaded.streams[0]
    assert stream.lease_table == "secstash-security-logs"
    assert stream.retrieval_mode == "polling"
    assert loaded.search.verify_certs is True
    assert loaded.search.password is not None and loaded.search.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(loaded)


BAD = [
    ("unknown top-level key", with_change("stremas", []), "stremas: unknown key"),
    ("misspelt nested key", with_change("kcl.heap_mbb", 512), "kcl.heap_mbb: unknown key"),
    ("misspelt stream key", with_change("streams.0.regoin", "us-east-1"), "streams[0].regoin: unknown key"),
    ("bad retrieval mode", with_change("streams.0.retrieval_mode", "fast"), "streams[0].retrieval_mode"),
    ("bad initial position", with_change("streams.0.initial_position", "EARLIEST"), "streams[0].initial_position"),
    ("bad log-object role", with_change("streams.0.s3_objects.role_arn", "log-reader"), "streams[0].s3_objects.role_arn"),
    ("misspelt log-object key", with_change("streams.0.s3_objects.raed", False), "streams[0].s3_objects.raed"),
    ("bad log bucket", with_change("streams.0.s3_objects.buckets", ["logs", "Logs/*"]), "streams[0].s3_objects.buckets[1].name"),
    ("bad bucket owner", with_change("streams.0.s3_objects.buckets", [{"name": "logs", "owner": "1234"}]), "streams[0].s3_objects.buckets[0].owner"),
    ("bucket pattern without owner", with_change("streams.0.s3_objects.buckets", ["logs", "acme-*-alb-logs"]),
     "streams[0].s3_objects.buckets[1]: Value error, a pattern ('acme-*-alb-logs') needs an `owner` account"),
    ("bucket class without owner", with_change("streams.0.s3_objects.buckets", [{"name": "logs-[ab]"}]),
     "streams[0].s3_objects.buckets[0]: Value error, a pattern"),
    ("bad region", with_change("streams.0.region", "mars-1"), "streams[0].region: Value error, not an AWS region"),
    ("bad role arn", with_change("streams.0.role_arn", "role/x"), "streams[0].role_arn"),
    ("bad stream arn", with_change("streams.0.arn", "arn:aws:s3:::x"), "streams[0].arn"),
    ("bad stream id", with_change("streams.0.id", "acct/a"), "streams[0].id: Value error, not a stream id"),
    ("empty stream id", with_change("streams.0.id", ""), "streams[0].id: Value error, not a stream id"),
    ("unknown dataset", with_change("streams.0.dataset", "cloudtrial"), "streams[0].dataset"),
    ("bad namespace", with_change("streams.0.namespace", "Prod-1"), "streams[0].namespace"),
    ("no streams", with_change("streams", []), "streams:"),
    ("stream without name", with_change("streams", [{"region": "us-east-1"}]), "streams[0]: Value error, give `name` or `arn`"),
    ("heap too small", with_change("kcl.heap_mb", 16), "kcl.heap_mb"),
    ("idle time too short", with_change("kcl.idle_time_between_reads_ms", 10), "kcl.idle_time_between_reads_ms"),
    ("workers not a number", with_change("pipeline.workers", "many"), "pipeline.workers"),
    ("bucket missing", with_change("archive", {"prefix": "x"}), "archive.bucket: required key missing"),
    ("search hosts empty", with_change("search.hosts", []), "search.hosts"),
    ("search host with credentials", with_change("search.hosts", ["https://u:Secr3t@search:9200"]),
     "search.hosts: Value error, host [0] carries credentials"),
    ("search host not a URL", with_change("search.hosts", ["search:9200"]), "search.hosts: Value error, host 'search:9200'"),
    ("two auth methods", with_change("search.api_key", "abc"), "search: Value error, choose one authentication method"),
    ("bad filter action", with_change("filters", [{"action": "explode"}]), "filters[0].action"),
    ("mask without fields", with_change("filters", [{"action": "mask"}]), "filters[0]: Value error, action 'mask' needs `fields`"),
    ("bad filter regex", with_change("filters", [{"action": "drop", "when": [{"field": "a", "matches": "("}]}]),
     "filters[0].when[0]: Value error, `matches` is not a valid regular expression"),
    ("metrics port out of range", with_change("metrics.port", 70000), "metrics.port"),
    ("region other than the ARN's",
     with_change("streams", [{"arn": "arn:aws:kinesis:eu-west-1:444455556666:stream/org", "region": "us-east-1"}]),
     "streams[0]: Value error, `region` (us-east-1) is not the region of `arn` (eu-west-1)"),
    ("role of another account than the stream's",
     with_change("streams", [{"arn": "arn:aws:kinesis:eu-west-1:444455556666:stream/org",
                              "role_arn": "arn:aws:iam::999988887777:role/reader"}]),
     "streams[0]: Value error, `role_arn` is a role of account 999988887777, the stream is in account 444455556666"),
    ("role of another partition than the stream's",
     with_change("streams", [{"arn": "arn:aws:kinesis:eu-west-1:444455556666:stream/org",
                              "role_arn": "arn:aws-cn:iam::444455556666:role/reader"}]),
     "streams[0]: Value error, `role_arn` is a role of account"),
    ("external id without a role", with_change("streams.0.external_id", "Ext-1234"),
     "streams[0]: Value error, `external_id` is sent with AssumeRole of `role_arn`"),
    ("external id the daemon would split", with_change("streams", [{"name": "a", "external_id": "a,b=c",
                                                                   "role_arn": "arn:aws:iam::444455556666:role/r"}]),
     "streams[0].external_id: Value error, not an STS external id"),
    ("external id too short to mask", with_change("streams", [{"name": "a", "external_id": "ab",
                                                              "role_arn": "arn:aws:iam::444455556666:role/r"}]),
     "streams[0].external_id: Value error"),
    ("log-object external id without a role", with_change("streams.0.s3_objects.external_id", "Ext-1234"),
     "streams[0].s3_objects: Value error, `external_id` is sent with AssumeRole of `role_arn`"),
    ("application name that is no table name", with_change("streams.0.application_name", "soc trail"),
     "streams[0].application_name: Value error, not a KCL application name"),
    ("application name too long for KCL 3's tables", with_change("streams.0.application_name", "a" * 238),
     "streams[0].application_name: Value error, not a KCL application name"),
    ("endpoint without a scheme", with_change("aws.kinesis_endpoint", "localhost:4568"),
     "aws.kinesis_endpoint: Value error, not an endpoint URL"),
    ("endpoint of another scheme", with_change("aws.endpoint_url", "ftp://emulator"), "aws.endpoint_url: Value error"),
    ("sts endpoint the daemon would split", with_change("aws.sts_endpoint", "http://127.0.0.1:5000/?a=b"),
     "aws.sts_endpoint: Value error"),
    ("log level", with_change("log_level", "verbose"), "log_level"),
]


@pytest.mark.parametrize(("case", "data", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_settings_are_refused_naming_the_key(tmp_path: Path, case: str, data: dict, expected: str) -> None:
    with pytest.raises(settings.SettingsError) as error:
        settings.load(write(tmp_path, data), environ={})
    assert expected in str(error.value)
    assert "Secr3t" not in str(error.value)


def test_environment_overrides_win_and_bad_ones_name_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    loaded = settings.load(path, environ={"SECSTASH_SEARCH__BULK_MAX_DOCS": "7", "SECSTASH_KCL__HEAP_MB": "256"})
    assert (loaded.search.bulk_max_docs, loaded.kcl.heap_mb) == (7, 256)
    assert loaded.search.hosts == GOOD["search"]["hosts"]  # a partial override keeps the file's other keys
    with pytest.raises(settings.SettingsError, match=r"search\.bulk_max_docs"):
        settings.load(path, environ={"SECSTASH_SEARCH__BULK_MAX_DOCS": "lots"})
    with pytest.raises(settings.SettingsError, match=r"kcl\.heap_mbb: unknown key"):
        settings.load(path, environ={"SECSTASH_KCL__HEAP_MBB": "1"})


def test_unreadable_or_non_mapping_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError, match="cannot read settings file"):
        settings.load(tmp_path / "missing.yml", environ={})
    bad = tmp_path / "list.yml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(settings.SettingsError, match="mapping at the top level"):
        settings.load(bad, environ={})
    broken = tmp_path / "broken.yml"
    broken.write_text("streams: [\n")
    with pytest.raises(settings.SettingsError, match="not valid YAML"):
        settings.load(broken, environ={})


def test_stream_parsing_carries_labels_rules_and_filters(tmp_path: Path) -> None:
    data = with_change("streams.0.detection", [{"log_group": "/custom/flows/*", "dataset": "vpcflow",
                                                 "vpcflow_format": "${version} ${srcaddr}"}])
    data["filters"] = [{"action": "drop", "datasets": ["cloudtrail"], "when": [{"field": "event.action",
                                                                                 "equals": ["GetObject"]}]}]
    loaded = settings.load(write(tmp_path, data), environ={})
    parsing = loaded.streams[0].parsing(loaded.filters)
    assert parsing.stream == "security-logs"
    assert dict(parsing.labels) == {"environment": "prod", "project": "soc"}
    assert parsing.detection[0].dataset == "vpcflow" and parsing.detection[0].vpcflow_format
    assert parsing.filters[0].conditions[0].equals == ("GetObject",)


def test_each_stream_says_how_its_log_object_pointers_are_read(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["aws"] = {"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:5000"}
    data["pipeline"] = {"max_decompressed_bytes": 1 << 20}
    data["streams"] = [
        {"name": "central", "s3_objects": {"role_arn": "arn:aws:iam::111122223333:role/log-reader",
                                           "buckets": [{"name": "acme-*-alb-logs", "owner": "111122223333"},
                                                       "org-trail"]}},
        {"arn": "arn:aws:kinesis:us-east-2:444455556666:stream/other"},
        {"name": "pointers-off", "s3_objects": {"read": False}},
    ]
    access = settings.load(write(tmp_path, data), environ={}).object_access()
    assert set(access) == {"central", "other"}
    assert access["central"].role_arn == "arn:aws:iam::111122223333:role/log-reader"
    assert (access["central"].region, access["other"].region) == ("eu-west-1", "us-east-2")
    assert access["other"].role_arn is None
    assert access["central"].buckets == (("acme-*-alb-logs", "111122223333"), ("org-trail", None))
    assert access["other"].buckets == ()
    # Whatever the list says, the archive bucket is never read for a notification.
    assert access["central"].archive_bucket == access["other"].archive_bucket == "org-security-archive"
    assert access["central"].max_bytes == 1 << 20
    assert access["central"].s3_endpoint == access["central"].sts_endpoint == "http://127.0.0.1:5000"


@pytest.mark.parametrize("line", [
    "password: *Secr3tPass",         # PyYAML: found undefined alias 'Secr3tPass'
    "api_key: &Secr3tPass==",        # an anchor name cannot hold `=`
    "password: !Secr3tPass",         # could not determine a constructor for the tag '!Secr3tPass'
    "password: `Secr3tPass",         # found character '`' that cannot start any token
    'password: "Sup3r"Secr3tPass',   # the text after a closing quote
])
def test_a_yaml_error_names_the_line_but_never_echoes_its_value(tmp_path: Path, line: str) -> None:
    path = tmp_path / "secstash.yml"
    path.write_text(f"streams: [{{name: logs}}]\narchive: {{bucket: b}}\nsearch:\n  username: u\n  {line}\n")
    with pytest.raises(settings.SettingsError) as error:
        settings.load(path, environ={})
    message = str(error.value)
    assert "not valid YAML" in message and "line 5" in message
    assert "Secr3t" not in message


def test_an_override_variable_that_names_no_setting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(settings.SettingsError) as error:
        settings.load(path, environ={"SECSTASH_SEARCH_API_KEY": "k", "SECSTASH_METRIC__PORT": "1",
                                     "SECSTASH_ARCHIVE_RETENTION_DAYS": "3650"})
    message = str(error.value)
    assert "SECSTASH_SEARCH_API_KEY: not a setting" in message and "SECSTASH_SEARCH__API_KEY" in message
    assert "SECSTASH_METRIC__PORT: no settings section 'metric'" in message
    assert "SECSTASH_ARCHIVE__RETENTION_DAYS" in message
    # The project's own non-settings variables, and overrides that name a setting, pass.
    tools = {"SECSTASH_KCL_JARS": "/jars", "SECSTASH_CACHE": "/cache", "SECSTASH_PIPELINE_SOCKET": "/s",
             "SECSTASH_STREAM": "logs", "SECSTASH_LOG_LEVEL": "debug"}
    assert settings.load(path, environ=tools).log_level == "debug"


@pytest.mark.parametrize(("variable", "value"), [
    ("SECSTASH_SEARCH__HOSTS", "https://search:9200"),
    ("SECSTASH_STREAMS", "logs"),
    ("SECSTASH_SEARCH", "hosts=x"),
])
def test_an_override_that_should_be_json_is_named(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(settings.SettingsError) as error:
        settings.load(write(tmp_path, GOOD), environ={variable: value, "SECSTASH_SEARCH__USERNAME": "plain"})
    assert f"{variable}: not valid JSON" in str(error.value)
    assert "SECSTASH_SEARCH__USERNAME" not in str(error.value)  # a plain string where a string is wanted


def test_streams_that_read_any_bucket_are_named_for_the_start_warning(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["streams"] = [{"name": "listed", "s3_objects": {"buckets": ["alb-logs"]}},
                       {"name": "unlisted"}, {"name": "off", "s3_objects": {"read": False}}]
    assert settings.load(write(tmp_path, data), environ={}).streams_reading_any_bucket() == ["unlisted"]


def test_kcl_log_level_is_a_setting_and_the_variable_logback_xml_documents_sets_it(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert settings.load(path, environ={}).kcl.log_level == "WARN"  # logback.xml's level before the setting
    assert settings.load(path, environ={"SECSTASH_KCL_LOG_LEVEL": "info"}).kcl.log_level == "INFO"
    assert settings.load(path, environ={"SECSTASH_KCL__LOG_LEVEL": "DEBUG"}).kcl.log_level == "DEBUG"
    both = {"SECSTASH_KCL_LOG_LEVEL": "INFO", "SECSTASH_KCL__LOG_LEVEL": "ERROR"}
    assert settings.load(path, environ=both).kcl.log_level == "ERROR"
    # logback would read an unknown level as DEBUG: refused instead, naming the variable that was set.
    with pytest.raises(settings.SettingsError, match=r"kcl\.log_level \(from SECSTASH_KCL_LOG_LEVEL\)"):
        settings.load(path, environ={"SECSTASH_KCL_LOG_LEVEL": "verbose"})


def test_what_one_record_may_expand_to_is_bounded_by_settings_with_limits(tmp_path: Path) -> None:
    from parsers import ParseOptions

    pipeline = settings.load(write(tmp_path, GOOD), environ={}).pipeline
    assert (pipeline.max_objects_per_record, pipeline.max_events_per_object) == (100, 1_000_000)
    # The parser's own defaults are the same (secstash parse, bench and tests build ParseOptions directly).
    assert (ParseOptions().max_objects_per_record, ParseOptions().max_events_per_object) == (100, 1_000_000)
    loaded = settings.load(write(tmp_path, with_change("pipeline.max_objects_per_record", 5)),
                           environ={"SECSTASH_PIPELINE__MAX_EVENTS_PER_OBJECT": "2000"}).pipeline
    assert (loaded.max_objects_per_record, loaded.max_events_per_object) == (5, 2000)
    # What the daemon and `secstash replay` hand the parsers.
    assert loaded.parse_options() == ParseOptions(max_objects_per_record=5, max_events_per_object=2000)
    for key, value in [("max_objects_per_record", 0), ("max_objects_per_record", 10_001),
                       ("max_events_per_object", 999), ("max_events_per_object", 100_000_001)]:
        with pytest.raises(settings.SettingsError, match=f"pipeline.{key}"):
            settings.load(write(tmp_path, with_change(f"pipeline.{key}", value)), environ={})


def test_detection_by_content_is_off_unless_a_stream_sets_it(tmp_path: Path) -> None:
    loaded = settings.load(write(tmp_path, GOOD), environ={})
    assert loaded.streams[0].detection_by_content is False
    assert loaded.streams[0].parsing(loaded.filters).detection_by_content is False
    loaded = settings.load(write(tmp_path, with_change("streams.0.detection_by_content", True)), environ={})
    assert loaded.streams[0].parsing(loaded.filters).detection_by_content is True


def test_a_detection_rule_may_claim_a_group_for_eventbridge_events(tmp_path: Path) -> None:
    data = with_change("streams.0.detection", [{"log_group": "/custom/bus/*", "dataset": "eventbridge"}])
    loaded = settings.load(write(tmp_path, data), environ={})
    assert loaded.streams[0].parsing(loaded.filters).detection[0].dataset == "eventbridge"
    with pytest.raises(settings.SettingsError, match="unknown dataset"):
        settings.load(write(tmp_path, with_change("streams.0.dataset", "eventbridge")), environ={})


ACCOUNT_A = "arn:aws:kinesis:eu-west-1:111111111111:stream/security-logs"
ACCOUNT_B = "arn:aws:kinesis:eu-west-1:222222222222:stream/security-logs"


def with_streams(*streams: dict) -> dict:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["streams"] = list(streams)
    return data


def test_streams_of_one_name_are_told_apart_by_their_ids(tmp_path: Path) -> None:
    # The multi-account case: one stream name in two accounts, each read through its own role and lease table.
    a = {"arn": ACCOUNT_A, "application_name": "soc-acct-a", "role_arn": "arn:aws:iam::111111111111:role/reader"}
    b = {"arn": ACCOUNT_B, "application_name": "soc-acct-b", "role_arn": "arn:aws:iam::222222222222:role/reader"}
    with pytest.raises(settings.SettingsError) as error:
        settings.load(write(tmp_path, with_streams(a, b)), environ={})
    message = str(error.value)
    assert "streams: Value error, streams[0] and streams[1] have the same key 'security-logs'" in message
    assert "set `streams[1].id`" in message

    loaded = settings.load(write(tmp_path, with_streams({**a, "id": "acct-a"}, {**b, "id": "acct-b"})), environ={})
    assert [s.key for s in loaded.streams] == ["acct-a", "acct-b"]
    assert [s.stream_name for s in loaded.streams] == ["security-logs", "security-logs"]
    assert [s.parsing(loaded.filters).stream for s in loaded.streams] == ["acct-a", "acct-b"]


def test_one_stream_under_two_application_names_needs_an_id_for_the_second(tmp_path: Path) -> None:
    first, second = {"name": "security-logs"}, {"name": "security-logs", "application_name": "soc-replica"}
    with pytest.raises(settings.SettingsError, match=r"set `streams\[1\]\.id`"):
        settings.load(write(tmp_path, with_streams(first, second)), environ={})
    loaded = settings.load(write(tmp_path, with_streams(first, {**second, "id": "replica"})), environ={})
    assert [(s.key, s.lease_table) for s in loaded.streams] == [("security-logs", "secstash-security-logs"),
                                                                 ("replica", "soc-replica")]


def test_an_id_equal_to_another_streams_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError, match=r"streams\[0\] and streams\[1\] have the same key 'audit'"):
        settings.load(write(tmp_path, with_streams({"name": "audit"}, {"name": "flows", "id": "audit"})), environ={})


def test_streams_sharing_a_lease_table_in_one_region_are_refused(tmp_path: Path) -> None:
    # The lease table defaults to the stream name, not the id (an id given later keeps the checkpoints).
    same_region = with_streams({"arn": ACCOUNT_A, "id": "acct-a"}, {"arn": ACCOUNT_B, "id": "acct-b"})
    with pytest.raises(settings.SettingsError) as error:
        settings.load(write(tmp_path, same_region), environ={})
    assert ("streams[0] and streams[1] share the KCL lease table 'secstash-security-logs' in eu-west-1: set "
            "`streams[1].application_name`") in str(error.value)
    shared = with_streams({"name": "audit", "application_name": "soc"}, {"name": "flows", "application_name": "soc"})
    with pytest.raises(settings.SettingsError, match=r"streams\[1\]\.application_name"):
        settings.load(write(tmp_path, shared), environ={})
    # Lease tables live in the stream's region: one name in two regions has two tables.
    regions = with_streams({"name": "security-logs", "id": "eu"}, {"name": "security-logs", "id": "us",
                                                                    "region": "us-east-2"})
    regions["aws"] = {"region": "eu-west-1"}
    loaded = settings.load(write(tmp_path, regions), environ={})
    assert [(s.key, loaded.stream_region(s)) for s in loaded.streams] == [("eu", "eu-west-1"), ("us", "us-east-2")]


def test_a_stream_without_id_is_keyed_by_its_name_as_before(tmp_path: Path) -> None:
    loaded = settings.load(write(tmp_path, with_streams({"arn": ACCOUNT_A}, {"name": "flows"})), environ={})
    assert [s.key for s in loaded.streams] == ["security-logs", "flows"]
    assert [s.lease_table for s in loaded.streams] == ["secstash-security-logs", "secstash-flows"]
    assert set(loaded.object_access()) == {"security-logs", "flows"}


def test_a_commands_stream_selector_takes_a_key_or_an_unambiguous_name(tmp_path: Path) -> None:
    loaded = settings.load(write(tmp_path, with_streams(
        {"arn": ACCOUNT_A, "id": "acct-a", "application_name": "soc-acct-a"},
        {"arn": ACCOUNT_B, "id": "acct-b", "application_name": "soc-acct-b"},
        {"name": "flows", "id": "vpc-flows"}, {"name": "audit"})), environ={})
    assert loaded.stream_key("acct-b") == "acct-b"
    assert loaded.stream_key("flows") == "vpc-flows"  # the name of one configured stream
    assert loaded.stream_key("audit") == "audit"
    assert loaded.stream_key("retired") == "retired"  # archived, no longer configured: as given
    with pytest.raises(settings.SettingsError) as error:
        loaded.stream_key("security-logs")
    assert "names 2 configured streams" in str(error.value) and "acct-a, acct-b" in str(error.value)


def test_stream_ids_come_through_an_environment_override(tmp_path: Path) -> None:
    streams = '[{"arn": "%s", "id": "acct-a", "application_name": "soc-a"}, {"arn": "%s", "application_name": "soc-b"}]'
    loaded = settings.load(write(tmp_path, GOOD), environ={"SECSTASH_STREAMS": streams % (ACCOUNT_A, ACCOUNT_B)})
    assert [s.key for s in loaded.streams] == ["acct-a", "security-logs"]


def test_external_ids_are_secrets_and_travel_to_the_object_readers_out_of_repr(tmp_path: Path) -> None:
    data = with_change("streams", [{
        "arn": "arn:aws:kinesis:eu-west-1:444455556666:stream/org-trail", "id": "org",
        "role_arn": "arn:aws:iam::444455556666:role/stream-reader", "external_id": "Stream-Ext-77",
        "s3_objects": {"role_arn": "arn:aws:iam::444455556666:role/log-reader", "external_id": "Object-Ext-88"}}])
    data["kcl"] = {"worker_id": "secstash-0"}
    loaded = settings.load(write(tmp_path, data), environ={})
    assert "Stream-Ext-77" not in repr(loaded) and "Object-Ext-88" not in repr(loaded)
    from consumer import logs

    assert {"Stream-Ext-77", "Object-Ext-88"} <= set(logs.secrets_in(loaded))  # masked in every log line
    access = loaded.object_access()["org"]
    assert access.external_id == "Object-Ext-88" and "Object-Ext-88" not in repr(access)
    assert access.session_name == "secstash-objects-org@secstash-0"  # CloudTrail names stream and instance


def test_a_stream_arn_and_its_own_account_role_and_region_agree(tmp_path: Path) -> None:
    arn = "arn:aws:kinesis:eu-west-1:444455556666:stream/org"
    loaded = settings.load(write(tmp_path, with_change("streams", [
        {"arn": arn, "region": "eu-west-1", "role_arn": "arn:aws:iam::444455556666:role/reader"}])), environ={})
    assert loaded.stream_region(loaded.streams[0]) == "eu-west-1"


def test_endpoint_overrides_are_none_by_default_and_announced_at_start_when_set(tmp_path: Path) -> None:
    import structlog

    from consumer import events

    assert settings.load(write(tmp_path, GOOD), environ={}).aws.overridden() == {}
    local = settings.load(write(tmp_path, GOOD), environ={"SECSTASH_AWS__ENDPOINT_URL": "http://127.0.0.1:5000",
                                                          "SECSTASH_AWS__KINESIS_ENDPOINT": "https://127.0.0.1:4567"})
    overridden = local.aws.overridden()
    assert overridden == {"endpoint_url": "http://127.0.0.1:5000", "kinesis_endpoint": "https://127.0.0.1:4567"}
    with structlog.testing.capture_logs() as logged:
        events.aws_endpoints_overridden(overridden)
        events.aws_endpoints_overridden({})
    [warning] = logged
    assert warning["log_level"] == "warning" and warning["plain_http"] == ["endpoint_url"]


def test_a_records_parse_time_limit_has_a_default_is_validated_and_reaches_the_workers(tmp_path: Path) -> None:
    from consumer import runtime
    from consumer.pool import PARSE_TIMEOUT_S, WorkerConfig

    loaded = settings.load(write(tmp_path, GOOD), environ={})
    # The workers' own default is the same (bench, tests and `secstash parse` build WorkerConfig directly).
    assert loaded.pipeline.parse_timeout_s == PARSE_TIMEOUT_S == WorkerConfig({}, None).parse_timeout_s  # type: ignore[arg-type]
    changed = settings.load(write(tmp_path, GOOD), environ={"SECSTASH_PIPELINE__PARSE_TIMEOUT_S": "42.5"})
    assert runtime.worker_config(changed).parse_timeout_s == 42.5
    for value in (0, -1, 86_401, "soon"):
        with pytest.raises(settings.SettingsError, match=r"pipeline\.parse_timeout_s"):
            settings.load(write(tmp_path, with_change("pipeline.parse_timeout_s", value)), environ={})


def test_a_key_given_twice_in_the_file_is_refused_naming_it_and_both_lines(tmp_path: Path) -> None:
    # PyYAML keeps the last: the second `s3_objects` would silently drop the first's bucket allow-list.
    path = tmp_path / "secstash.yml"
    path.write_text(
        "streams:\n"
        "  - name: security-logs\n"
        "    s3_objects:\n"
        "      buckets: [{name: acme-alb-logs, owner: '111122223333'}]\n"
        "    s3_objects:\n"
        "      role_arn: arn:aws:iam::111122223333:role/log-reader\n"
        "archive: {bucket: org-security-archive}\n"
        "search: {hosts: ['https://search.internal:9200'], password: Secr3t, username: u}\n")
    with pytest.raises(settings.SettingsError) as error:
        settings.load(path, environ={})
    assert "key `s3_objects` given twice (first at line 3) at line 5" in str(error.value)
    path.write_text(yaml.safe_dump(GOOD) + "search: {hosts: ['https://other:9200'], password: Secr3t}\n")
    with pytest.raises(settings.SettingsError, match="key `search` given twice"):
        settings.load(path, environ={})


def test_null_in_an_override_unsets_an_optional_setting(tmp_path: Path) -> None:
    loaded = settings.load(write(tmp_path, GOOD), environ={"SECSTASH_SEARCH__PIPELINE": "null",
                                                         "SECSTASH_SEARCH__LIFECYCLE_DELETE_AFTER_DAYS": "null"})
    assert loaded.search.pipeline is None and loaded.search.lifecycle_delete_after_days is None
    with pytest.raises(settings.SettingsError, match=r"kcl\.heap_mb \(from SECSTASH_KCL__HEAP_MB\)"):
        settings.load(write(tmp_path, GOOD), environ={"SECSTASH_KCL__HEAP_MB": "null"})


@pytest.mark.parametrize(("variable", "expected"), [
    ("SECSTASH_STREAMS__0__ROLE_ARN", ("SECSTASH_STREAMS__0__ROLE_ARN: streams is a list, set whole as JSON: "
                                      "SECSTASH_STREAMS='[...]'")),
    ("SECSTASH_SEARCH__HOSTS__0", "SECSTASH_SEARCH__HOSTS__0: search.hosts is a list"),
    ("SECSTASH_KCL__EXTRA_PROPERTIES__maxLeasesForWorker",
     ("SECSTASH_KCL__EXTRA_PROPERTIES__maxLeasesForWorker: kcl.extra_properties is a mapping whose keys are "
     "case-sensitive")),
    ("SECSTASH_KCL__HEAP_MB__X", "SECSTASH_KCL__HEAP_MB__X: kcl.heap_mb is a single value"),
    ("SECSTASH_KCL__HEAP_MBB", "SECSTASH_KCL__HEAP_MBB: kcl.heap_mbb: unknown key"),
])
def test_an_override_the_environment_cannot_express_is_refused_naming_the_variable(
        tmp_path: Path, variable: str, expected: str) -> None:
    with pytest.raises(settings.SettingsError) as error:
        settings.load(write(tmp_path, GOOD), environ={variable: "10"})
    assert expected in str(error.value)


def test_a_bad_value_from_an_override_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError) as error:
        settings.load(write(tmp_path, GOOD), environ={"SECSTASH_STREAMS": '[{"name": "x", "regoin": "eu-west-1"}]',
                                                      "SECSTASH_SEARCH__BULK_MAX_DOCS": "lots"})
    message = str(error.value)
    assert "streams[0].regoin (from SECSTASH_STREAMS): unknown key" in message
    assert "search.bulk_max_docs (from SECSTASH_SEARCH__BULK_MAX_DOCS)" in message


def test_kcl_log_level_off_unquoted_in_yaml_is_off(tmp_path: Path) -> None:
    path = tmp_path / "secstash.yml"
    path.write_text(yaml.safe_dump(GOOD) + "kcl:\n  log_level: OFF\n")
    assert settings.load(path, environ={}).kcl.log_level == "OFF"


@pytest.mark.parametrize(("rule", "expected"), [
    ({"log_group": "/vpc/*", "dataset": "vpcflow", "vpcflow_format": "${version} ${srcadr} ${dstaddr}"},
     "streams[0].detection[0].vpcflow_format: Value error, `srcadr` is not a VPC Flow Logs field; `srcaddr`?"),
    ({"log_group": "/vpc/*", "dataset": "vpcflow", "vpcflow_format": "${} ${srcaddr}"},
     "streams[0].detection[0].vpcflow_format: Value error, not a VPC Flow Logs format"),
    ({"log_group": "trail", "dataset": "cloudtrail", "vpcflow_format": "${version} ${srcaddr}"},
     "streams[0].detection[0]: Value error, `vpcflow_format` is for `dataset: vpcflow`, not 'cloudtrail'"),
])
def test_a_vpcflow_format_with_a_misspelt_field_or_on_another_dataset_is_refused(
        tmp_path: Path, rule: dict, expected: str) -> None:
    with pytest.raises(settings.SettingsError) as error:
        settings.load(write(tmp_path, with_change("streams.0.detection", [rule])), environ={})
    assert expected in str(error.value)


def test_a_vpcflow_format_of_known_fields_or_fields_aws_may_add_is_accepted(tmp_path: Path) -> None:
    fmt = "${version} ${account-id} ${srcaddr} ${pkt-src-aws-service} ${reject-reason} ${encryption-status}"
    data = with_change("streams.0.detection", [{"log_group": "/vpc/*", "dataset": "vpcflow", "vpcflow_format": fmt}])
    data["streams"][0]["vpcflow_format"] = "${version} ${tgw-id} ${srcaddr}"
    loaded = settings.load(write(tmp_path, data), environ={})
    assert loaded.streams[0].detection[0].vpcflow_format == fmt
    with pytest.raises(settings.SettingsError, match=r"streams\[0\]\.vpcflow_format: .*`tcpflags`"):
        settings.load(write(tmp_path, with_change("streams.0.vpcflow_format", "${version} ${tcpflags}")), environ={})


@pytest.mark.parametrize(("extra", "expected"), [
    ({"detection": [{"log_group": "/vpc/flows", "dataset": "vpcflow"}]}, "`detection` rules would never apply"),
    ({"detection_by_content": True}, "`detection_by_content` would never apply"),
])
def test_a_forced_dataset_next_to_detection_settings_that_would_never_apply_is_refused(
        tmp_path: Path, extra: dict, expected: str) -> None:
    data = with_change("streams.0.dataset", "cloudtrail")
    data["streams"][0].update(extra)
    with pytest.raises(settings.SettingsError) as error:
        settings.load(write(tmp_path, data), environ={})
    assert f"streams[0]: Value error, `dataset` (cloudtrail) decides every event's dataset: {expected}" in str(error.value)


def test_a_geoip_folder_whose_database_does_not_open_fails_the_start(tmp_path: Path) -> None:
    # Not each enriched event later: a database that does not open fails every lookup.
    path = write(tmp_path, GOOD)
    folder = tmp_path / "geoip"
    folder.mkdir()
    (folder / "GeoLite2-City.mmdb").write_bytes(b"not a database")
    with pytest.raises(settings.SettingsError, match=r"pipeline\.geoip_dir.*does not open"):
        settings.load(path, environ={"SECSTASH_PIPELINE__GEOIP_DIR": str(folder)})
    with pytest.raises(settings.SettingsError, match=r"pipeline\.geoip_dir.*not a directory"):
        settings.load(path, environ={"SECSTASH_PIPELINE__GEOIP_DIR": str(tmp_path / "missing")})


def test_the_compiled_record_path_can_be_turned_off(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert settings.load(path).pipeline.native_records is True
    assert settings.load(path, environ={"SECSTASH_PIPELINE__NATIVE_RECORDS": "false"}).pipeline.native_records is False
