"""Redshift audit logs published to CloudWatch Logs.

Sample lines follow AWS's "Database audit logging" page (redshift/latest/mgmt/db-auditing.html): the
connection log's columns (event, recordtime, remotehost, remoteport, pid, dbname, username, authmethod,
duration, sslversion, sslcipher, mtu, sslcompression, sslexpansion, iamauthguid, application_name, os_version,
driver_version, plugin_name, protocol_version, sessionid, compression), the user log's (userid, username,
oldusername, action, usecreatedb, usesuper, usecatupd, valuntil, pid, xid, recordtime) and the user activity
log's `'<recordtime> UTC [ db=<db> user=<user> pid=<pid> userid=<userid> xid=<xid> ]' LOG: <query>`, with the
`|`-separated, space-padded layout and `Mon, 7 Dec 2020 20:01:55:177` record times the log files use.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from parsers import registry
from parsers.event import Event, EventMeta
from parsers.options import ParseOptions
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text

SPEC = registry.get("redshift")
OPTIONS = ParseOptions()
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

AUTHENTICATED = ("authenticated |Mon, 7 Dec 2020 20:01:55:177|::ffff:10.0.0.5 |53530 |1073815778|dev |awsuser "
                 "|password |0|TLSv1.2 |ECDHE-RSA-AES256-GCM-SHA384 |0| | | |psql |Linux 5.4 |PostgreSQL 12 | "
                 "|2|a1b2c3|none")
DISCONNECTED = ("disconnecting session |Mon, 7 Dec 2020 20:01:55:304|[local] | |5108|dev |rdsdb |Ident |127304| "
                "| |0| | | | | | |")
FAILED = ("authentication failure |Tue, 8 Dec 2020 01:02:03:004|2001:db8::9 |40000 |5109|dev |mallory |password "
          "|0| | |0| | | | | | |")
USER_CREATED = "100|analyst | |create |0|0|0|infinity|14888|1080|Thu, 3 Dec 2020 10:18:38:695"
USER_RENAMED = "101|new_name |old_name |rename |0|1|0|9223372036854775807|14890|1090|Thu, 3 Dec 2020 10:19:00:001"
ACTIVITY = ("'2020-12-08T22:01:55Z UTC [ db=dev user=rdsdb pid=23170 userid=1 xid=245636 ]' LOG: SELECT  ss.node\n"
            "FROM stv_slices as ss\n GROUP BY ss.node;")
LINES = [AUTHENTICATED, DISCONNECTED, FAILED, USER_CREATED, USER_RENAMED, ACTIVITY]


def parse(line: str, log_group: str | None = None) -> dict:
    docs = SPEC.parse(Event(message=line, meta=EventMeta(log_group=log_group)), OPTIONS)
    assert len(docs) == 1
    return docs[0]


def test_a_successful_authentication_with_an_ipv4_mapped_client():
    doc = parse(AUTHENTICATED, "/aws/redshift/cluster/analytics/connectionlog")
    assert doc["event"]["category"] == ["authentication"] and doc["event"]["outcome"] == "success"
    assert doc["source"] == {"address": "::ffff:10.0.0.5", "ip": "10.0.0.5", "port": 53530}
    assert doc["@timestamp"] == "2020-12-07T20:01:55.177Z"
    assert doc["tls"] == {"version_protocol": "tls", "version": "1.2", "cipher": "ECDHE-RSA-AES256-GCM-SHA384"}
    row = doc["aws"]["redshift"]["connection_log"]
    assert (row["database"], row["application_name"], row["protocol_version"]) == ("dev", "psql", 2)
    assert doc["aws"]["redshift"]["cluster_identifier"] == "analytics"


def test_a_local_disconnection_has_a_duration_and_no_source():
    doc = parse(DISCONNECTED)
    assert doc["event"]["type"] == ["end"]
    assert doc["event"]["duration"] == 127_304_000
    assert "source" not in doc and "tls" not in doc


def test_an_authentication_failure_from_ipv6():
    doc = parse(FAILED)
    assert doc["event"]["outcome"] == "failure"
    assert doc["source"]["ip"] == "2001:db8::9"
    assert doc["user"] == {"name": "mallory"}


def test_user_log_changes_are_iam_events_on_the_target_user():
    created = parse(USER_CREATED, "/aws/redshift/cluster/analytics/userlog")
    assert created["event"]["type"] == ["user", "creation"]
    assert created["user"] == {"target": {"name": "analyst", "id": "100"}}
    assert created["aws"]["redshift"]["user_log"]["valid_until"] == "infinity"
    assert created["aws"]["redshift"]["user_log"]["super_user"] is False
    renamed = parse(USER_RENAMED)
    assert renamed["event"]["type"] == ["user", "change"]
    assert sorted(renamed["related"]["user"]) == ["new_name", "old_name"]


def test_user_activity_keeps_a_multi_line_query():
    doc = parse(ACTIVITY, "/aws/redshift/cluster/analytics/useractivitylog")
    assert doc["message"].endswith("GROUP BY ss.node;")
    assert doc["user"] == {"name": "rdsdb", "id": "1"}
    activity = doc["aws"]["redshift"]["user_activity"]
    assert (activity["database"], activity["xid"], activity["pid"]) == ("dev", 245636, 23170)
    assert doc["@timestamp"] == "2020-12-08T22:01:55.000Z"


def test_unicode_user_names_survive():
    doc = parse(AUTHENTICATED.replace("awsuser", "José_東京"))
    assert doc["user"] == {"name": "José_東京"}


@pytest.mark.parametrize("line", ["", "|||", "hello world", "'not an activity line"])
def test_unrecognised_lines_are_kept_as_message(line):
    doc = parse(line)
    assert doc.get("message", "") == line


def test_an_unparsable_record_time_leaves_the_envelope_time():
    doc = parse(AUTHENTICATED.replace("Mon, 7 Dec 2020 20:01:55:177", "Mon, 7 Foo 2020 25:01:55:177"))
    assert "@timestamp" not in doc


def test_a_duration_past_what_a_long_holds_in_nanoseconds_is_left_out():
    doc = parse(DISCONNECTED.replace("|127304|", "|9223372036854775807|"))
    assert "duration" not in doc["event"]
    orjson.dumps(doc)  # serialisable (the multiplied value was not)


def test_a_date_that_leaves_the_calendar_in_utc_leaves_the_envelope_time():
    doc = parse(ACTIVITY.replace("2020-12-08T22:01:55Z UTC", "0001-01-01T00:00:00+23:59 UTC"))
    assert "@timestamp" not in doc


def test_out_of_range_numbers_are_kept_as_text():
    doc = parse(DISCONNECTED.replace("|5108|", "|99999999999999999999999|"))
    assert doc["aws"]["redshift"]["connection_log"]["pid"] == "99999999999999999999999"
    assert "process" not in doc


@PROPERTY
@given(cut_or_random_text(LINES))
def test_arbitrary_and_truncated_lines_parse_or_fail_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))


@PROPERTY
@given(cut_or_random_text(LINES), cut_or_random_text(["/aws/redshift/cluster/c/connectionlog",
                                                      "/aws/redshift/cluster/c/userlog"]))
def test_any_log_group_parses_or_fails_cleanly(text, log_group):
    assert_parses_cleanly(SPEC, Event(message=text, meta=EventMeta(log_group=log_group)))
