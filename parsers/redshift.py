"""Amazon Redshift audit logs published to CloudWatch Logs (`aws.redshift`).

Three logs, told apart by the log group (`/aws/redshift/cluster/<name>/connectionlog|userlog|useractivitylog`)
or, without one, by their shape:

* connection log, `|`-separated and space-padded: event|recordtime|remotehost|remoteport|pid|dbname|username|
  authmethod|duration|sslversion|sslcipher|mtu|sslcompression|sslexpansion|iamauthguid|application_name|
  os_version|driver_version|plugin_name|protocol_version|sessionid|compression, e.g.
  `authenticated |Mon, 7 Dec 2020 20:01:55:177|::ffff:10.0.0.5 |53530 |5108|dev |awsuser |password |0|...`
* user log: userid|username|oldusername|action|usecreatedb|usesuper|usecatupd|valuntil|pid|xid|recordtime
* user activity log: `'2020-12-08T22:00:03Z UTC [ db=dev user=rdsdb pid=685 userid=1 xid=245578 ]' LOG: <query>`

Elastic has no pipeline for these; the mapping follows its conventions: authentication and session events with
`event.outcome`, user-definition changes as `iam` events on `user.target.*`, queries as `database` events, and
every column under `aws.redshift.<log>.*` in snake_case.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from parsers import ecs
from parsers._findings import long_or_none
from parsers._prune import prune
from parsers._put import add_related, put_in, put_key
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

_LOG_GROUP = re.compile(r"^/aws/redshift/(?:cluster|serverless)/([^/]+)/([^/]+)$")
_CONNECTION_COLUMNS = (
    "event", "record_time", "remote_host", "remote_port", "pid", "database", "user_name", "auth_method",
    "duration", "ssl_version", "ssl_cipher", "mtu", "ssl_compression", "ssl_expansion", "iam_auth_guid",
    "application_name", "os_version", "driver_version", "plugin_name", "protocol_version", "session_id",
    "compression",
)
_USER_COLUMNS = ("user_id", "user_name", "old_user_name", "action", "create_db", "super_user", "update_catalog",
                 "valid_until", "pid", "xid", "record_time")
_CONNECTION_NUMBERS = ("remote_port", "pid", "duration", "mtu", "protocol_version")
_USER_NUMBERS = ("user_id", "pid", "xid")
_USER_FLAGS = ("create_db", "super_user", "update_catalog")
# Each column's name and whether it holds a number, looked up once rather than per column of every line.
_CONNECTION_NAMES = tuple((name, name in _CONNECTION_NUMBERS) for name in _CONNECTION_COLUMNS)
_USER_NAMES = tuple((name, name in _USER_NUMBERS) for name in _USER_COLUMNS)
_ACTIVITY = re.compile(
    r"^'(?P<time>\S+) UTC \[ db=(?P<db>\S*) user=(?P<user>\S*) pid=(?P<pid>\d+) userid=(?P<userid>\d+) "
    r"xid=(?P<xid>\d+) \]' LOG: (?P<query>.*)$", re.DOTALL)
# recordtime as the audit logs write it: "Mon, 7 Dec 2020 20:01:55:177" (milliseconds after a colon).
_RECORD_TIME = re.compile(r"^\w{3}, (\d{1,2}) (\w{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2})(?:[:.](\d{1,6}))?$")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}
_CONNECTION_EVENTS = {
    "authenticated": (["authentication"], ["start"], "success"),
    "authentication failure": (["authentication"], ["start"], "failure"),
    "initiating session": (["session"], ["start"], None),
    "disconnecting session": (["session"], ["end"], None),
}
_USER_ACTIONS = {"create": "creation", "alter": "change", "rename": "change", "drop": "deletion"}


@register("redshift")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    line = event.text()
    doc: dict[str, Any] = {"event": {"kind": "event", "original": line}, "cloud": {"provider": "aws"},
                           "service": {"type": "redshift"}}
    log_type = _from_log_group(doc, event.meta.log_group)
    if log_type == "useractivitylog" or (log_type is None and line.startswith("'")):
        _user_activity(doc, line)
    else:
        columns = line.split("|")
        if log_type == "userlog" or (log_type is None and _looks_like_user_log(columns)):
            _user_log(doc, columns, line)
        elif log_type == "connectionlog" or (log_type is None and len(columns) >= 15):
            _connection_log(doc, columns, line)
        else:
            doc["message"] = line
    return [prune(doc)]


def _from_log_group(doc: dict[str, Any], log_group: str | None) -> str | None:
    match = _LOG_GROUP.match(log_group or "")
    if not match:
        return None
    doc["aws"] = {"redshift": {"cluster_identifier": match.group(1), "log_type": match.group(2)}}
    return match.group(2)


def _looks_like_user_log(columns: list[str]) -> bool:
    return len(columns) == len(_USER_COLUMNS) and columns[0].strip().isdigit()


def _redshift(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.setdefault("aws", {}).setdefault("redshift", {})


def _record_time(text: str) -> str | None:
    match = _RECORD_TIME.match(text.strip())
    month = _MONTHS.get(match.group(2)) if match else None
    if match is None or month is None:
        return None
    day, _, year, hour, minute, second, fraction = match.groups()
    # Rendered as ecs.iso_ms renders the datetime, which is built only to check the date, once per day: the
    # time of day is two digits each (checked here) and the fraction's milliseconds are its first three digits.
    date = _date(int(year), month, int(day))
    if date is None or hour > "23" or minute > "59" or second > "59":
        return None
    return f"{date}T{hour}:{minute}:{second}.{(fraction or '').ljust(3, '0')[:3]}Z"


@lru_cache(maxsize=1024)
def _date(year: int, month: int, day: int) -> str | None:
    """`YYYY-MM-DD` as ecs.iso_ms writes it (the year unpadded, as strftime leaves it), or None for no date."""
    try:
        moment = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None
    return ecs.iso_ms(moment)[:-14]


def _columns(names: tuple[tuple[str, bool], ...], values: list[str]) -> dict[str, Any]:
    """The non-blank columns by name; number columns (the flag) as `long`s where they convert."""
    row: dict[str, Any] = {}
    for (name, numeric), raw in zip(names, values, strict=False):
        value = raw.strip()
        if value:
            if numeric:
                # Up to 18 digits always fit a long: converted here, without long_or_none's checks.
                number = int(value) if len(value) <= 18 and value.isdigit() and value.isascii() else long_or_none(value)
                row[name] = value if number is None else number
            else:
                row[name] = value
    return row


def _connection_log(doc: dict[str, Any], columns: list[str], line: str) -> None:
    row = _columns(_CONNECTION_NAMES, columns)
    if not row.get("event"):
        doc["message"] = line
        return
    name = row["event"]
    doc["message"] = name
    event = doc["event"]
    event["action"] = name
    category, kinds, outcome = _CONNECTION_EVENTS.get(name, (["session"], ["info"], None))
    event["category"], event["type"] = category, kinds
    put_key(event, "outcome", outcome)
    if name == "disconnecting session" and isinstance(row.get("duration"), int):
        put_key(event, "duration", long_or_none(row["duration"] * 1000))  # microseconds to nanoseconds
    put_key(doc, "@timestamp", _record_time(row.get("record_time", "")))
    _user(doc, "user", row.get("user_name"))
    _source(doc, row.get("remote_host"), row.get("remote_port"))
    put_in(doc, "process", "pid", row.get("pid") if isinstance(row.get("pid"), int) else None)
    _tls(doc, row.get("ssl_version"), row.get("ssl_cipher"))
    row.pop("event", None)
    _redshift(doc)["connection_log"] = row


def _user_log(doc: dict[str, Any], columns: list[str], line: str) -> None:
    row = _columns(_USER_NAMES, columns)
    for flag in _USER_FLAGS:
        if flag in row:
            row[flag] = row[flag] in ("1", "t", "true")
    action = row.get("action")
    doc["message"] = line
    event = doc["event"]
    event["category"] = ["iam"]
    event["type"] = ["user", _USER_ACTIONS.get(str(action).lower(), "info")]
    ecs.put(event, "action", action)
    ecs.put(doc, "@timestamp", _record_time(row.get("record_time", "")))
    ecs.put(doc, "user.target.name", row.get("user_name"))
    user_id = row.get("user_id")
    ecs.put(doc, "user.target.id", str(user_id) if user_id is not None else None)
    ecs.append_unique(doc, "related.user", row.get("user_name"), row.get("old_user_name"))
    ecs.put(doc, "process.pid", row.get("pid") if isinstance(row.get("pid"), int) else None)
    _redshift(doc)["user_log"] = row


def _user_activity(doc: dict[str, Any], line: str) -> None:
    match = _ACTIVITY.match(line)
    if match is None:
        doc["message"] = line
        return
    fields = match.groupdict()
    event = doc["event"]
    event["category"] = ["database"]
    event["type"] = ["info"]
    event["action"] = "query"
    try:
        doc["@timestamp"] = ecs.iso_to_iso_ms(fields["time"])
    except ValueError:
        pass  # the envelope's timestamp stands in
    _user(doc, "user", fields["user"])
    ecs.put(doc, "user.id", fields["userid"])
    ecs.put(doc, "process.pid", long_or_none(fields["pid"]))
    query = fields["query"]
    doc["message"] = query
    _redshift(doc)["user_activity"] = {"database": fields["db"], "user_name": fields["user"],
                                       "pid": long_or_none(fields["pid"]), "user_id": long_or_none(fields["userid"]),
                                       "xid": long_or_none(fields["xid"]), "query": query}


def _user(doc: dict[str, Any], path: str, name: Any) -> None:
    if name:
        put_in(doc, path, "name", name)
        add_related(doc, "user", name)


def _source(doc: dict[str, Any], host: Any, port: Any) -> None:
    """`remotehost` is an address (IPv4-mapped IPv6 for IPv4 clients), a name, or `[local]`."""
    if not isinstance(host, str) or host == "[local]":
        return
    address = host[7:] if host.startswith("::ffff:") and ecs.is_ip(host[7:]) else host
    source: dict[str, Any] = {"address": host}
    if ecs.is_ip(address):
        source["ip"] = address
        add_related(doc, "ip", address)
    else:
        source["domain"] = address
    if isinstance(port, int) and 0 <= port <= 65535:
        source["port"] = port
    doc["source"] = source


def _tls(doc: dict[str, Any], version: Any, cipher: Any) -> None:
    if isinstance(version, str) and version.upper().startswith(("TLSV", "SSLV")):
        put_in(doc, "tls", "version_protocol", version[:3].lower())
        put_in(doc, "tls", "version", version[4:])
    put_in(doc, "tls", "cipher", cipher)
