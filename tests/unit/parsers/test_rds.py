"""RDS and Aurora logs published to CloudWatch Logs.

Sample lines follow AWS's documentation of each log:
* PostgreSQL: "RDS for PostgreSQL database log files" (USER_LogAccess.Concepts.PostgreSQL.html) - the default
  `log_line_prefix` is `%t:%r:%u@%d:[%p]:`, e.g. `2019-03-10 03:54:59 UTC:10.0.0.123(52834):postgres@logs:[20175]:ERROR: ...`
* MySQL error, general and slow query logs: "MySQL database log files" (USER_LogAccess.Concepts.MySQL.html)
* MySQL audit: "MariaDB Audit Plugin support for MySQL" (Appendix.MySQL.Options.AuditPlugin.html), records
  `timestamp,serverhost,username,host,connectionid,queryid,operation,database,object,retcode`; Aurora MySQL
  "Using Advanced Auditing" (AuroraMySQL.Auditing.html) writes the timestamp in Unix microseconds.
* Log groups: "Publishing database logs to Amazon CloudWatch Logs": `/aws/rds/instance/<id>/<log type>`,
  `/aws/rds/cluster/<cluster id>/<log type>` for Aurora.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from parsers import registry
from parsers.event import Event, EventMeta
from parsers.options import ParseOptions
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text

SPEC = registry.get("rds")
OPTIONS = ParseOptions()
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PG_AUTH_FAILED = ('2024-05-02 10:15:07 UTC:10.0.1.23(51234):app@orders:[4242]:FATAL:  '
                  'password authentication failed for user "app"')
PG_CHECKPOINT = "2024-05-02 10:15:07 UTC::@:[3505]:LOG:  checkpoint starting: time"
PG_AUTHORIZED = ("2024-05-02 10:15:08 UTC:2001:db8::5(51236):app@orders:[4243]:LOG:  connection authorized: "
                 "user=app database=orders SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)")
PG_DURATION = ("2024-05-02 10:15:09 UTC:10.0.1.23(51236):app@orders:[4243]:LOG:  duration: 4.550 ms  "
               "statement: SELECT id FROM t WHERE a = 1")
PG_DISCONNECT = ("2024-05-02 10:15:10 UTC:[local]:rdsadmin@rdsadmin:[99]:LOG:  disconnection: session time: "
                 "0:00:01.006 user=rdsadmin database=rdsadmin host=[local]")
PG_AUDIT = ('2024-05-02 10:15:09 UTC:10.0.1.23(51236):app@orders:[4243]:LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,'
            '"select 1, \'a\'",<not logged>')
PG_NO_HBA = ('2024-05-02 10:15:10 UTC:10.0.9.9(4000):eve@postgres:[100]:FATAL:  no pg_hba.conf entry for host '
             '"10.0.9.9", user "eve", database "postgres", SSL off')
MYSQL_DENIED = ("2024-05-02T10:15:07.123456Z 42 [Note] [MY-010926] [Server] Access denied for user "
                "'admin'@'10.0.1.5' (using password: YES)")
MYSQL_57_ABORTED = ("2020-04-09T15:43:37.456345Z 24 [Note] Aborted connection 24 to db: 'shop' user: 'web' "
                    "host: '10.0.2.2' (Got an error reading communication packets)")
MYSQL_GENERAL_CONNECT = "2024-05-02T10:15:07.870164Z\t   12 Connect\tadmin@10.0.1.5 on mydb using TCP/IP"
MYSQL_GENERAL_QUERY = "2024-05-02T10:15:07.870164Z\t   12 Query\tselect * from t"
MYSQL_AUDIT = "20230424 07:00:31,ip-10-0-1-5,admin,10.0.1.5,12,123,QUERY,mydb,'select \\'a,b\\' from t',0"
MYSQL_AUDIT_FAILED = "20230424 07:00:31,ip-10-0-1-5,bob,10.0.1.6,13,0,FAILED_CONNECT,,,1045"
AURORA_AUDIT = "1653053459680124,c731-instance-1,admin,52.94.133.136,35,698024,WRITE,testdb,test2,0"
SLOW_QUERY = ("# Time: 2024-05-02T10:15:07.870164Z\n"
              "# User@Host: admin[admin] @  [10.0.1.5]  Id:    12\n"
              "# Query_time: 2.000228  Lock_time: 0.000000 Rows_sent: 1  Rows_examined: 0\n"
              "use mydb;\nSET timestamp=1714644907;\nselect sleep(2);")
LINES = [PG_AUTH_FAILED, PG_CHECKPOINT, PG_AUTHORIZED, PG_DURATION, PG_DISCONNECT, PG_AUDIT, PG_NO_HBA,
         MYSQL_DENIED, MYSQL_57_ABORTED, MYSQL_GENERAL_CONNECT, MYSQL_GENERAL_QUERY, MYSQL_AUDIT,
         MYSQL_AUDIT_FAILED, AURORA_AUDIT, SLOW_QUERY]


def parse(line: str, log_group: str | None = None) -> dict:
    docs = SPEC.parse(Event(message=line, meta=EventMeta(log_group=log_group)), OPTIONS)
    assert len(docs) == 1
    return docs[0]


def test_postgres_password_failure_is_a_failed_login():
    doc = parse(PG_AUTH_FAILED, "/aws/rds/instance/orders-db/postgresql")
    assert doc["event"]["category"] == ["database", "authentication"]
    assert doc["event"]["outcome"] == "failure"
    assert doc["user"] == {"name": "app"}
    assert doc["source"] == {"ip": "10.0.1.23", "port": 51234}
    assert doc["aws"]["rds"] == {"db_instance_identifier": "orders-db", "log_type": "postgresql",
                                 "database": "orders"}
    assert doc["@timestamp"] == "2024-05-02T10:15:07.000Z"
    assert (doc["process"], doc["log"], doc["service"]) == ({"pid": 4242}, {"level": "FATAL"}, {"type": "postgresql"})
    assert doc["message"] == 'password authentication failed for user "app"'


def test_postgres_background_lines_have_no_client():
    doc = parse(PG_CHECKPOINT)
    assert "source" not in doc and "user" not in doc
    assert doc["message"] == "checkpoint starting: time"


def test_postgres_ipv6_client_and_successful_login():
    doc = parse(PG_AUTHORIZED)
    assert doc["source"] == {"ip": "2001:db8::5", "port": 51236}
    assert doc["event"]["outcome"] == "success"


def test_postgres_user_names_may_hold_an_at_sign():
    doc = parse("2024-05-02 10:15:08 UTC:10.0.1.23(51236):ana@corp.example@orders:[4243]:LOG:  statement: select 1")
    assert doc["user"] == {"name": "ana@corp.example"} and doc["aws"]["rds"]["database"] == "orders"


def test_a_line_of_at_signs_where_the_prefix_ends_is_kept_as_a_message():
    # Used to be quadratic in the run's length (about 5 minutes for CloudWatch Logs' largest event).
    line = "2024-05-02 10:15:08 UTC:10.0.1.23(5432):" + "@" * 256_000
    assert parse(line, "/aws/rds/instance/db1/postgresql")["message"] == line


def test_postgres_durations_and_statements():
    doc = parse(PG_DURATION)
    assert doc["event"]["duration"] == 4_550_000
    assert doc["aws"]["rds"]["query"] == "SELECT id FROM t WHERE a = 1"
    disconnect = parse(PG_DISCONNECT)
    assert disconnect["event"]["type"] == ["connection", "end"]
    assert disconnect["event"]["duration"] == 1_006_000_000
    assert "source" not in disconnect


def test_pgaudit_records_are_split():
    audit = parse(PG_AUDIT)["aws"]["rds"]["pgaudit"]
    assert audit == {"audit_type": "SESSION", "statement_id": "1", "substatement_id": "1", "class": "READ",
                     "command": "SELECT", "statement": "select 1, 'a'", "parameter": "<not logged>"}


def test_pg_hba_rejection_is_a_failed_login():
    doc = parse(PG_NO_HBA)
    assert doc["event"]["outcome"] == "failure"
    assert doc["user"] == {"name": "eve"}


def test_mysql_access_denied_is_a_failed_login():
    doc = parse(MYSQL_DENIED, "/aws/rds/instance/shop/error")
    assert doc["event"]["outcome"] == "failure"
    assert doc["user"] == {"name": "admin"}
    assert doc["source"] == {"ip": "10.0.1.5"}
    assert doc["aws"]["rds"]["error"] == {"code": "MY-010926", "subsystem": "Server"}
    assert doc["@timestamp"] == "2024-05-02T10:15:07.123Z"


def test_mysql_57_error_lines_without_codes():
    doc = parse(MYSQL_57_ABORTED)
    assert doc["log"] == {"level": "Note"}
    assert (doc["user"], doc["source"], doc["aws"]["rds"]) == ({"name": "web"}, {"ip": "10.0.2.2"},
                                                               {"database": "shop"})


def test_mysql_general_log_commands():
    connect = parse(MYSQL_GENERAL_CONNECT, "/aws/rds/instance/shop/general")
    assert connect["event"]["action"] == "connect"
    assert connect["event"]["outcome"] == "success"
    assert connect["aws"]["rds"]["database"] == "mydb"
    assert parse(MYSQL_GENERAL_QUERY)["aws"]["rds"]["query"] == "select * from t"


def test_mysql_audit_object_keeps_its_quoted_commas():
    doc = parse(MYSQL_AUDIT, "/aws/rds/instance/shop/audit")
    assert doc["aws"]["rds"]["query"] == "select 'a,b' from t"
    assert doc["aws"]["rds"]["audit"]["retcode"] == 0
    assert doc["event"]["action"] == "query" and doc["event"]["outcome"] == "success"
    assert doc["@timestamp"] == "2023-04-24T07:00:31.000Z"


def test_mysql_audit_failed_connect_and_aurora_microsecond_timestamps():
    failed = parse(MYSQL_AUDIT_FAILED)
    assert failed["event"]["outcome"] == "failure"
    assert failed["event"]["category"] == ["database", "authentication"]
    aurora = parse(AURORA_AUDIT, "/aws/rds/cluster/aurora-1/audit")
    assert aurora["@timestamp"] == "2022-05-20T13:30:59.680Z"
    assert aurora["aws"]["rds"]["db_cluster_identifier"] == "aurora-1"
    assert aurora["event"]["type"] == ["change"]


def test_slow_query_entries_are_parsed_whole():
    doc = parse(SLOW_QUERY, "/aws/rds/instance/shop/slowquery")
    assert doc["event"]["duration"] == 2_000_228_000
    assert doc["aws"]["rds"]["query"] == "select sleep(2);"
    assert doc["aws"]["rds"]["database"] == "mydb"
    assert doc["aws"]["rds"]["slowlog"] == {"query_time": 2.000228, "lock_time": 0.0, "rows_sent": 1,
                                            "rows_examined": 0}
    assert (doc["user"], doc["source"]) == ({"name": "admin"}, {"ip": "10.0.1.5"})


@pytest.mark.parametrize("line", ["", "-", "some upgrade log text", "Ω≈ç√∫"])
def test_unrecognised_lines_are_kept_as_message(line):
    doc = parse(line)
    assert doc.get("message", "") == line
    assert doc["event"]["category"] == ["database"]


def test_an_impossible_timestamp_leaves_the_envelope_time():
    doc = parse("2024-13-45 99:99:99 UTC::@:[1]:LOG:  x")
    assert "@timestamp" not in doc
    assert doc["message"] == "x"


def test_the_log_group_type_wins_over_the_look_of_the_line():
    doc = parse(MYSQL_GENERAL_QUERY, "/aws/rds/instance/db/error")
    assert doc["message"] == MYSQL_GENERAL_QUERY
    assert "query" not in doc.get("aws", {}).get("rds", {})


def test_huge_numbers_are_not_written():
    doc = parse("2024-05-02T10:15:07.123456Z 99999999999999999999999 [Note] hello")
    assert "process" not in doc


@PROPERTY
@given(cut_or_random_text(LINES))
def test_arbitrary_and_truncated_lines_parse_or_fail_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))


@PROPERTY
@given(cut_or_random_text(LINES), cut_or_random_text(["/aws/rds/instance/db/", "/aws/rds/cluster/c/audit"]))
def test_any_log_group_parses_or_fails_cleanly(text, log_group):
    assert_parses_cleanly(SPEC, Event(message=text, meta=EventMeta(log_group=log_group)))
