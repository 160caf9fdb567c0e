"""Amazon RDS and Aurora database logs published to CloudWatch Logs (`aws.rds`).

The log group names the instance (or cluster) and the log type: `/aws/rds/instance/<id>/<type>` or
`/aws/rds/cluster/<id>/<type>`. The type picks the format; without a log group (or for a type not listed) the
format is recognised from the line itself:

* `postgresql`: PostgreSQL with RDS's fixed `log_line_prefix` `%t:%r:%u@%d:[%p]:`, e.g.
  `2024-05-02 10:15:07 UTC:10.0.1.23(51234):app@orders:[4242]:FATAL:  password authentication failed for user "app"`
* `error`: the MySQL/MariaDB error log, `2024-05-02T10:15:07.123456Z 42 [Note] [MY-010926] [Server] Access denied ...`
* `general`: the MySQL general query log, `<time>\\t<thread> <command>\\t<argument>`
* `slowquery`: one MySQL slow-query entry (`# Time:`, `# User@Host:`, `# Query_time:`, statement)
* `audit`: the MariaDB audit plugin (RDS MySQL) or Aurora MySQL advanced auditing, comma-separated
  `timestamp,serverhost,username,host,connectionid,queryid,operation,database,object,retcode`

Elastic has no pipeline for these; the mapping follows its conventions: `event.category: database` (plus
`authentication` for logins), `event.outcome` for login failures (`password authentication failed`,
`Access denied for user`, `FAILED_CONNECT`), `user.name`, `source.*`, `process.*`, and the source-specific
parts under `aws.rds.*` (`aws.rds.database`, `aws.rds.query`, `aws.rds.log_type`, the instance or cluster id).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from parsers import ecs
from parsers._findings import long_or_none
from parsers._prune import prune
from parsers._put import add_related, put_in, put_key
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register
from parsers.short_cache import cached_when_short

_LOG_GROUP = re.compile(r"^/aws/rds/(instance|cluster|proxy)/([^/]+)/([^/]+)$")

_PG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (?P<zone>[A-Z]{3,5}|[+-]\d{2}(?::?\d{2})?)"
    # %r is `host(port)` (an IPv6 host has colons of its own), `[local]`, or empty for background processes.
    r":(?P<remote>[^()\s]*\(\d*\)|\[local\]|[^:]*):(?P<user>[^:]*)@(?P<db>[^:@]*):\[(?P<pid>\d*)\]:"
    r"(?P<severity>[A-Z][A-Z0-9]*):\s*(?P<message>.*)$", re.DOTALL)
if tuple(_PG_LINE.groupindex) != ("time", "zone", "remote", "user", "db", "pid", "severity", "message"):
    raise ImportError("rds: _PG_LINE's groups are not in the order _postgresql() unpacks them")
_PG_REMOTE = re.compile(r"^(?P<host>.*?)(?:\((?P<port>\d*)\))?$")
_PG_AUTH_FAILED = re.compile(r'^(?:password |)authentication failed for user "(?P<user>[^"]*)"')
_PG_NO_HBA = re.compile(r'^no pg_hba\.conf entry for host "(?P<host>[^"]*)", user "(?P<user>[^"]*)", '
                        r'database "(?P<db>[^"]*)"')
_PG_ROLE_MISSING = re.compile(r'^role "(?P<user>[^"]*)" does not exist')
_PG_AUTHORIZED = re.compile(r"^connection authorized: user=(?P<user>\S+)(?: database=(?P<db>\S+))?")
_PG_RECEIVED = re.compile(r"^connection received: host=(?P<host>\S+)(?: port=(?P<port>\d+))?")
_PG_DISCONNECTION = re.compile(
    r"^disconnection: session time: (?P<h>\d{1,9}):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?) user=(?P<user>\S+) "
    r"database=(?P<db>\S+) host=(?P<host>\S+)(?: port=(?P<port>\d+))?")
_PG_DURATION = re.compile(r"^duration: (?P<ms>\d+(?:\.\d+)?) ms(?:\s+(?:statement|execute [^:]*|parse [^:]*|"
                          r"bind [^:]*): (?P<query>.*))?$", re.DOTALL)
_PG_STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (?P<query>.*)$", re.DOTALL)
_PG_ERROR_LEVELS = frozenset({"ERROR", "FATAL", "PANIC"})

_MYSQL_TIME = r"(?P<time>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?)"
_MYSQL_ERROR = re.compile(
    _MYSQL_TIME + r"\s+(?P<thread>\d+)\s+\[(?P<level>[A-Za-z]+)\]"
    r"(?:\s+\[(?P<code>MY-\d+)\]\s+\[(?P<subsystem>[A-Za-z]+)\])?\s*(?P<message>.*)$", re.DOTALL)
_MYSQL_GENERAL = re.compile(_MYSQL_TIME + r"\s+(?P<thread>\d+)\s+(?P<command>[A-Za-z][A-Za-z ]*?)\t(?P<argument>.*)$",
                            re.DOTALL)
_ACCESS_DENIED = re.compile(r"Access denied for user '(?P<user>(?:[^'\\]|\\.)*)'@'(?P<host>[^']*)'")
_ABORTED = re.compile(r"^Aborted connection \d+ to db: '(?P<db>[^']*)' user: '(?P<user>[^']*)' host: '(?P<host>[^']*)'")
_GENERAL_CONNECT = re.compile(r"^(?P<user>\S+)@(?P<host>\S+) on (?P<db>\S*)")

_SLOW_TIME = re.compile(r"^# Time: (?P<time>\S+(?: \S+)?)\s*$", re.MULTILINE)
_SLOW_USER = re.compile(r"^# User@Host: (?P<user>[^\[\s]*)\[[^\]]*\] @ (?P<host>\S*) ?\[(?P<ip>[^\]]*)\]"
                        r"(?:\s+Id:\s*(?P<id>\d+))?", re.MULTILINE)
_SLOW_METRICS = re.compile(r"(\w+): (\S+)")
_SLOW_USE = re.compile(r"^use (?P<db>[^;]+);\s*$", re.MULTILINE | re.IGNORECASE)
_SLOW_SET_TIMESTAMP = re.compile(r"^SET timestamp=(?P<ts>\d+);\s*$", re.MULTILINE)

_AUDIT_START = re.compile(r"^(?:\d{8} \d{2}:\d{2}:\d{2}|\d{16}),")
_AUDIT_OPERATIONS = {
    "CONNECT": (["database", "authentication"], ["start"]),
    "FAILED_CONNECT": (["database", "authentication"], ["start"]),
    "DISCONNECT": (["database", "session"], ["end"]),
    "QUERY": (["database"], ["info"]),
    "READ": (["database"], ["access"]),
}


@register("rds")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    line = event.text()
    doc: dict[str, Any] = {"event": {"kind": "event", "category": ["database"], "type": ["info"], "original": line},
                           "cloud": {"provider": "aws"}}
    log_type = _from_log_group(doc, event.meta.log_group)
    parser = _PARSERS.get(log_type or "") or _sniff(line)
    if parser is None:
        doc["message"] = line
    else:
        parser(doc, line)
    return [prune(doc)]


def _from_log_group(doc: dict[str, Any], log_group: str | None) -> str | None:
    match = _LOG_GROUP.match(log_group or "")
    if not match:
        return None
    kind, identifier, log_type = match.groups()
    key = {"instance": "db_instance_identifier", "cluster": "db_cluster_identifier"}.get(kind, "db_proxy_name")
    doc["aws"] = {"rds": {key: identifier, "log_type": log_type}}
    return log_type


def _sniff(line: str) -> Callable[[dict[str, Any], str], None] | None:
    if _PG_LINE.match(line):
        return _postgresql
    if _AUDIT_START.match(line):
        return _mysql_audit
    if line.startswith(("# Time:", "# User@Host:")):
        return _mysql_slowquery
    if _MYSQL_ERROR.match(line):
        return _mysql_error
    if _MYSQL_GENERAL.match(line):
        return _mysql_general
    return None


def _rds(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.setdefault("aws", {}).setdefault("rds", {})


def _fail_login(doc: dict[str, Any]) -> None:
    event = doc["event"]
    event["category"] = ["database", "authentication"]
    event["type"] = ["start"]
    event["outcome"] = "failure"


def _source(doc: dict[str, Any], host: str | None, port: Any = None) -> None:
    """A client address: an IP goes to source.ip (IPv4-mapped IPv6 unwrapped), a name to source.domain."""
    if not host or host in ("[local]", "%"):
        return
    if host.startswith("::ffff:") and ecs.is_ip(host[7:]):
        host = host[7:]
    if ecs.is_ip(host):
        put_in(doc, "source", "ip", host)
        add_related(doc, "ip", host)
    else:
        put_in(doc, "source", "domain", host)
    number = long_or_none(port)
    if number is not None and number <= 65535:
        put_in(doc, "source", "port", number)


def _user(doc: dict[str, Any], name: str | None) -> None:
    if name:
        put_in(doc, "user", "name", name)
        add_related(doc, "user", name)


# ---------------------------------------------------------------------------------------------------------
# PostgreSQL


def _postgresql(doc: dict[str, Any], line: str) -> None:
    match = _PG_LINE.match(line)
    if match is None:
        doc["message"] = line
        return
    doc["service"] = {"type": "postgresql"}
    time, zone, remote_text, user, database, pid, severity, message = match.groups()  # cheaper than groupdict()
    _pg_timestamp(doc, time, zone)
    remote = _PG_REMOTE.match(remote_text)
    if remote:
        _source(doc, remote.group("host"), remote.group("port"))
    _user(doc, user)
    put_key(_rds(doc), "database", database)
    put_in(doc, "process", "pid", long_or_none(pid))
    doc["log"] = {"level": severity}
    doc["message"] = message
    if severity in _PG_ERROR_LEVELS:
        doc["event"]["type"] = ["error"]
    _pg_message(doc, message)


def _pg_timestamp(doc: dict[str, Any], text: str, zone: str) -> None:
    if zone not in ("UTC", "GMT", "+00", "+00:00", "+0000"):
        return  # RDS logs in UTC; another zone abbreviation is ambiguous, the envelope's time stands in
    if (timestamp := _pg_time(text)) is not None:
        doc["@timestamp"] = timestamp


@cached_when_short(32, maxsize=4096)  # whole seconds, written by the many lines of each second
def _pg_time(text: str) -> str | None:
    try:
        moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return None
    return ecs.iso_ms(moment)


def _pg_message(doc: dict[str, Any], message: str) -> None:
    event = doc["event"]
    failed = _PG_AUTH_FAILED.match(message) or _PG_ROLE_MISSING.match(message)
    if failed:
        _fail_login(doc)
        if "user" not in doc:
            _user(doc, failed.group("user"))
        return
    no_hba = _PG_NO_HBA.match(message)
    if no_hba:
        _fail_login(doc)
        _user(doc, no_hba.group("user"))
        put_key(_rds(doc), "database", no_hba.group("db"))
        if "source" not in doc:
            _source(doc, no_hba.group("host"))
        return
    authorized = _PG_AUTHORIZED.match(message)
    if authorized:
        event["category"] = ["database", "authentication"]
        event["type"] = ["start"]
        event["outcome"] = "success"
        return
    received = _PG_RECEIVED.match(message)
    if received:
        event["category"] = ["database", "network"]
        event["type"] = ["connection", "start"]
        if "source" not in doc:
            _source(doc, received.group("host"), received.group("port"))
        return
    disconnection = _PG_DISCONNECTION.match(message)
    if disconnection:
        event["category"] = ["database", "network"]
        event["type"] = ["connection", "end"]
        seconds = int(disconnection.group("h")) * 3600 + int(disconnection.group("m")) * 60
        put_key(event, "duration", long_or_none((seconds + float(disconnection.group("s"))) * 1e9))
        return
    duration = _PG_DURATION.match(message)
    if duration:
        put_key(event, "duration", long_or_none(float(duration.group("ms")) * 1e6))
        put_key(_rds(doc), "query", duration.group("query"))
        return
    statement = _PG_STATEMENT.match(message)
    if statement:
        put_key(_rds(doc), "query", statement.group("query"))
    elif message.startswith("AUDIT: "):
        _pgaudit(doc, message[7:])


_PGAUDIT_FIELDS = ("audit_type", "statement_id", "substatement_id", "class", "command", "object_type",
                   "object_name", "statement", "parameter")


def _pgaudit(doc: dict[str, Any], text: str) -> None:
    """pgaudit's CSV: AUDIT_TYPE,STATEMENT_ID,SUBSTATEMENT_ID,CLASS,COMMAND,OBJECT_TYPE,OBJECT_NAME,STATEMENT,PARAMETER."""
    try:
        row = next(csv.reader([text]), [])
    except csv.Error:
        return
    audit = {name: value for name, value in zip(_PGAUDIT_FIELDS, row, strict=False) if value != ""}
    if not audit:
        return
    _rds(doc)["pgaudit"] = audit
    put_key(_rds(doc), "query", audit.get("statement"))
    command = audit.get("command")
    if command:
        doc["event"]["action"] = command.lower()


# ---------------------------------------------------------------------------------------------------------
# MySQL / MariaDB / Aurora MySQL


def _mysql_timestamp(doc: dict[str, Any], text: str) -> None:
    try:
        doc["@timestamp"] = ecs.iso_to_iso_ms(text.replace(" ", "T", 1))
    except ValueError:
        pass  # the envelope's timestamp stands in


def _mysql_error(doc: dict[str, Any], line: str) -> None:
    match = _MYSQL_ERROR.match(line)
    if match is None:
        doc["message"] = line
        return
    doc["service"] = {"type": "mysql"}
    _mysql_timestamp(doc, match.group("time"))
    ecs.put(doc, "process.thread.id", long_or_none(match.group("thread")))
    level = match.group("level")
    doc["log"] = {"level": level}
    if level.lower() == "error":
        doc["event"]["type"] = ["error"]
    ecs.put(_rds(doc), "error.code", match.group("code"))
    ecs.put(_rds(doc), "error.subsystem", match.group("subsystem"))
    message = match.group("message")
    doc["message"] = message
    _mysql_access(doc, message)


def _mysql_access(doc: dict[str, Any], message: str) -> None:
    denied = _ACCESS_DENIED.search(message)
    if denied:
        _fail_login(doc)
        _user(doc, denied.group("user"))
        _source(doc, denied.group("host"))
        return
    aborted = _ABORTED.match(message)
    if aborted:
        _user(doc, aborted.group("user"))
        _source(doc, aborted.group("host"))
        put_key(_rds(doc), "database", aborted.group("db") if aborted.group("db") != "unconnected" else None)


def _mysql_general(doc: dict[str, Any], line: str) -> None:
    match = _MYSQL_GENERAL.match(line)
    if match is None:
        doc["message"] = line
        return
    doc["service"] = {"type": "mysql"}
    _mysql_timestamp(doc, match.group("time"))
    ecs.put(doc, "process.thread.id", long_or_none(match.group("thread")))
    command = match.group("command").strip()
    argument = match.group("argument")
    doc["event"]["action"] = command.lower().replace(" ", "-")
    doc["message"] = argument or command
    if command == "Connect":
        connect = _GENERAL_CONNECT.match(argument)
        if connect:
            doc["event"]["category"] = ["database", "authentication"]
            doc["event"]["type"] = ["start"]
            doc["event"]["outcome"] = "success"
            _user(doc, connect.group("user"))
            _source(doc, connect.group("host"))
            put_key(_rds(doc), "database", connect.group("db"))
        else:
            _mysql_access(doc, argument)
    elif command in ("Query", "Execute", "Prepare"):
        put_key(_rds(doc), "query", argument)
    elif command == "Init DB":
        put_key(_rds(doc), "database", argument)


def _mysql_slowquery(doc: dict[str, Any], entry: str) -> None:
    doc["service"] = {"type": "mysql"}
    doc["message"] = entry
    time = _SLOW_TIME.search(entry)
    if time:
        _mysql_timestamp(doc, time.group("time"))
    user = _SLOW_USER.search(entry)
    if user:
        _user(doc, user.group("user"))
        _source(doc, user.group("ip") or user.group("host"))
        ecs.put(doc, "process.thread.id", long_or_none(user.group("id")))
    slowlog: dict[str, Any] = {}
    statement: list[str] = []
    for text in entry.splitlines():
        if text.startswith(("# Query_time:", "# Bytes_sent:")):
            for key, value in _SLOW_METRICS.findall(text):
                number = ecs.to_float(value)
                if number is not None:
                    slowlog[key.lower()] = number if "." in value else long_or_none(number)
        elif not text.startswith("#") and not _SLOW_SET_TIMESTAMP.match(text) and not _SLOW_USE.match(text):
            statement.append(text)
    if "query_time" in slowlog:
        ecs.put(doc, "event.duration", long_or_none(slowlog["query_time"] * 1e9))
    rds = _rds(doc)
    if slowlog:
        rds["slowlog"] = slowlog
    use = _SLOW_USE.search(entry)
    put_key(rds, "database", use.group("db").strip() if use else None)
    put_key(rds, "query", "\n".join(statement).strip())
    set_timestamp = _SLOW_SET_TIMESTAMP.search(entry)
    if "@timestamp" not in doc and set_timestamp:
        seconds = long_or_none(set_timestamp.group("ts"))
        if seconds is not None and seconds <= 253402300799:
            doc["@timestamp"] = ecs.epoch_s_to_iso(seconds)


def _mysql_audit(doc: dict[str, Any], line: str) -> None:
    fields = _audit_fields(line)
    if fields is None:
        doc["message"] = line
        return
    timestamp, server_host, user, host, connection_id, query_id, operation, database, obj, retcode = fields
    doc["service"] = {"type": "mysql"}
    doc["message"] = line
    _audit_timestamp(doc, timestamp)
    _user(doc, user)
    _source(doc, host)
    audit: dict[str, Any] = {"server_host": server_host, "connection_id": long_or_none(connection_id),
                             "query_id": long_or_none(query_id), "operation": operation,
                             "object": obj, "retcode": long_or_none(retcode)}
    rds = _rds(doc)
    rds["audit"] = audit
    put_key(rds, "database", database)
    if operation == "QUERY":
        put_key(rds, "query", obj)
    event = doc["event"]
    event["action"] = operation.lower()
    event["category"], event["type"] = _AUDIT_OPERATIONS.get(operation, (["database"], ["change"]))
    code = audit["retcode"]
    if operation == "FAILED_CONNECT" or (code is not None and code != 0):
        event["outcome"] = "failure"
    elif code == 0:
        event["outcome"] = "success"


def _audit_fields(line: str) -> tuple[str, ...] | None:
    """Split an audit record; `object` is single-quoted with backslash escapes and may hold commas."""
    head = line.split(",", 8)
    if len(head) < 9:
        return None
    rest = head[8]
    if rest.startswith("'"):
        index, chars = 1, []
        while index < len(rest):
            char = rest[index]
            if char == "\\" and index + 1 < len(rest):
                chars.append(rest[index + 1])
                index += 2
                continue
            if char == "'" and (index + 1 == len(rest) or rest[index + 1] == ","):
                break
            chars.append(char)
            index += 1
        obj, tail = "".join(chars), rest[index + 2:]
    else:
        obj, _, tail = rest.partition(",")
    retcode = tail.split(",", 1)[0].strip()
    return (*head[:8], obj, retcode)


def _audit_timestamp(doc: dict[str, Any], text: str) -> None:
    try:
        if text.isdigit():
            doc["@timestamp"] = ecs.epoch_ms_to_iso(int(text) // 1000)  # Aurora: epoch microseconds
        else:
            moment = datetime.strptime(text, "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)
            doc["@timestamp"] = ecs.iso_ms(moment)
    except (ValueError, OverflowError, OSError):
        pass  # the envelope's timestamp stands in


_PARSERS = {
    "postgresql": _postgresql,
    "error": _mysql_error,
    "general": _mysql_general,
    "slowquery": _mysql_slowquery,
    "audit": _mysql_audit,
}
