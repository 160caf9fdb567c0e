"""EKS authenticator logs (`aws.eks_authenticator`): the control plane's `authenticator-*` log streams.

Each event is one aws-iam-authenticator (logrus text format) line, `key=value` pairs with Go-quoted values:

    time="2022-11-03T17:33:06Z" level=info msg="access granted" arn="arn:aws:iam::123456789012:role/admin"
    client="127.0.0.1:40394" groups="[system:masters]" method=POST path=/authenticate
    sts=sts.us-east-1.amazonaws.com uid="aws-iam-authenticator:123456789012:AROAEXAMPLE" username="admin"

Elastic has no pipeline for it; the mapping follows its conventions: every pair kept under
`aws.eks_authenticator.*`, plus ECS authentication fields (`event.outcome` from "access granted/denied",
`user.*`, `source.*` from `client`, `http.request.method`, `url.path`, `error.message`). A line that is not
`key=value` text (a stack trace, a startup banner) is kept as `message` alone.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from parsers import ecs
from parsers._findings import long_or_none
from parsers.event import Event
from parsers.options import ParseOptions
from parsers.registry import register

# One token at a time, left to right, each after the blanks before it: a pair, or any other run of non-blanks
# (or the end, after trailing blanks). Matching from a moving position, with a quoted value that cannot fail
# (an unterminated one runs to the end of the line) and blanks taken possessively, keeps the scan linear in
# the line's length. The blanks are part of the next token, and the quoted value is `[^"\\]` runs between
# escapes, so a line is a dozen matches of few steps (half of the parse went to the scan when blanks were
# tokens of their own and the value was matched a character per alternation).
_TOKEN = re.compile(r'\s*+(?:([^\s="]+)=(?:"([^"\\]*+(?:\\.[^"\\]*+)*+)(")?|([^\s"]*))|\S+|\Z)', re.DOTALL)
_GO_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|U[0-9a-fA-F]{8}|[abfv'])")
_GO_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "v": "\v", "'": "'"}
_CLUSTER = re.compile(r"^/aws/eks/([^/]+)/cluster$")
_ACCOUNT_IN_ARN = re.compile(r"^arn:[^:]*:(?:iam|sts)::(\d{12}):")
_UID_ACCOUNT = re.compile(r"^[^:]+:(\d{12}):")
# Messages that report an authentication decision or the identity behind it.
_DECISIONS = {"access granted": "success", "access denied": "failure"}
_IDENTITY_MESSAGES = {"access granted", "access denied", "STS response"}
_ECS_KEYS = frozenset({"time", "level", "msg"})


@register("eks_authenticator")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    line = event.text()
    pairs = _pairs(line)
    doc: dict[str, Any] = {"event": {"kind": "event", "original": line}, "cloud": {"provider": "aws"}}
    _cluster(doc, event.meta.log_group)
    if not pairs or "msg" not in pairs:
        doc["message"] = line
        return [doc]
    details = {key: value for key, value in pairs.items() if key not in _ECS_KEYS}
    groups = details.get("groups")
    if isinstance(groups, str):
        details["groups"] = _go_list(groups)
    message = pairs["msg"]
    doc["message"] = message
    if level := pairs.get("level"):
        doc["log"] = {"level": level}
    timestamp = pairs.get("time")
    if timestamp:
        try:
            doc["@timestamp"] = ecs.iso_to_iso_ms(timestamp)
        except ValueError:
            pass  # the envelope's timestamp stands in
    if details:
        doc["aws"] = {"eks_authenticator": details}
    _authentication(doc, message, details)
    return [doc]


def _pairs(line: str) -> dict[str, str]:
    """The non-empty `key=value` pairs (an empty value says nothing, and Elastic would drop it)."""
    pairs: dict[str, str] = {}
    # findall gives "" for a group that took no part: an empty key is no pair, and an empty value (quoted or
    # bare) is dropped either way, so "" and None need no telling apart.
    for key, inner, closed, bare in _TOKEN.findall(line):
        if not key:
            continue
        value = (_unquote(inner) if closed else inner) if inner else bare
        if value:
            pairs[key] = value
    return pairs


def _unquote(inner: str) -> str:
    """The text of a Go `%q` string: JSON's escapes plus \\xNN, \\UNNNNNNNN and a few single-letter ones."""
    if "\\" not in inner:
        return inner
    try:
        value = orjson.loads(f'"{_GO_ESCAPE.sub(_json_escape, inner)}"')
    except orjson.JSONDecodeError:
        return inner
    return value if isinstance(value, str) else inner


def _json_escape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] in "xU":
        point = min(int(code[1:], 16), 0x10FFFF)
        # A lone surrogate is no character (Go writes U+FFFD for one, and JSON text cannot hold it).
        char = "\ufffd" if 0xD800 <= point <= 0xDFFF else chr(point)
    else:
        char = _GO_SIMPLE[code]
    return orjson.dumps(char).decode()[1:-1]


def _go_list(text: str) -> list[str]:
    """Go's `%v` of a []string: `[a b c]`."""
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    return inner.split()


def _cluster(doc: dict[str, Any], log_group: str | None) -> None:
    match = _CLUSTER.match(log_group or "")
    if match:
        doc["orchestrator"] = {"type": "kubernetes", "cluster": {"name": match.group(1)}}


def _authentication(doc: dict[str, Any], message: str, details: dict[str, Any]) -> None:
    # Fields are written straight into place, in the order (and with the empty values left out) that ecs.put
    # and ecs.append_unique gave them: splitting their dotted paths was a fifth of the parse.
    event = doc["event"]
    outcome = _DECISIONS.get(message)
    if outcome or details.get("path") == "/authenticate":
        event["category"] = ["authentication"]
        event["type"] = ["info"]
        if outcome:
            event["outcome"] = outcome
    if message in _IDENTITY_MESSAGES or message.startswith("mapping IAM"):
        event["action"] = message
    username = details.get("username")
    uid = details.get("uid")
    user: dict[str, Any] = {}
    if username:
        user["name"] = username
    if uid:
        user["id"] = uid
    groups = details.get("groups")
    if isinstance(groups, list) and groups:
        user["roles"] = groups
    if user:
        doc["user"] = user
    users = _unique(username, uid, details.get("session"))
    if users:
        doc["related"] = {"user": users}
    if account := details.get("accountid") or _account(details.get("arn"), uid):
        doc["cloud"]["account"] = {"id": account}
    _client(doc, details.get("client"))
    if method := details.get("method"):
        doc["http"] = {"request": {"method": method}}
    if path := details.get("path"):
        doc["url"] = {"path": path}
    if error := details.get("error"):
        doc["error"] = {"message": error}


def _unique(*values: str | None) -> list[str]:
    """The values that are set, each once, in order (ecs.append_unique onto a new list)."""
    out: list[str] = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out


def _account(arn: Any, uid: Any) -> str | None:
    for value, pattern in ((arn, _ACCOUNT_IN_ARN), (uid, _UID_ACCOUNT)):
        match = pattern.match(value) if isinstance(value, str) else None
        if match:
            return match.group(1)
    return None


def _client(doc: dict[str, Any], client: Any) -> None:
    """`client` is Go's RemoteAddr: `ip:port`, `[v6]:port`."""
    if not isinstance(client, str) or not client:
        return
    host, _, port = client.rpartition(":")
    host = host.strip("[]")
    if not host or not ecs.is_ip(host):
        host, port = client.strip("[]"), ""
        if not ecs.is_ip(host):
            return
    source: dict[str, Any] = {"address": client, "ip": host}
    port_number = long_or_none(port)
    if port_number is not None and 0 <= port_number <= 65535:
        source["port"] = port_number
    doc["source"] = source
    doc.setdefault("related", {})["ip"] = [host]
