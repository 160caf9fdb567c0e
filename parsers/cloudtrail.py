"""CloudTrail records (`aws.cloudtrail`): API calls, data events, Insights events and digest files.

Reproduces Elastic's CloudTrail ingest pipeline, in its order:

1. null, "" and emptied objects/lists count as absent everywhere (the pipeline's first script deletes them);
2. actor, targets and related entities from the raw record (`parsers.cloudtrail_entity`);
3. renames to ECS and `aws.cloudtrail.*`, user agent, GeoIP;
4. `requestParameters`, `responseElements`, `additionalEventData` and `serviceEventDetails` twice: as Java
   `Map.toString()` text (what detection rules match on, see `parsers.enrich.javamap`) and, when that text is
   under 32766 UTF-16 units, as the object itself under `aws.cloudtrail.flattened.*`;
5. categorization (`parsers.cloudtrail_categories`), outcome, ConsoleLogin details;
6. digest and Insights fields, group/target user fields, TLS details, related users.

Where Elastic's 1.45.3 pipeline and its current one differ, this follows the current one: `event.type` is a list,
`related.user` also holds the caller's id and name, entities are always written. The record arrives as one
CloudTrail record: a CloudWatch Logs event's message, an EventBridge `detail` object passed as `Event(obj=...)`,
or Elastic's Splunk-style export (`{"preview": ..., "result": {"_raw": "<record>"}}`).
`event.original` is left to `parsers.document.finalize` (the event's own text) except for the Splunk shape,
whose original is the inner record.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import orjson

from parsers import ecs
from parsers.cloudtrail_categories import CATEGORIES
from parsers.cloudtrail_entity import entities
from parsers.enrich import geoip
from parsers.enrich.javamap import MAX_DEPTH, TooDeep, iteration_order, java_length, render, scalar
from parsers.enrich.useragent import user_agent
from parsers.errors import EventError
from parsers.event import Event
from parsers.flattened import refusal
from parsers.options import ParseOptions
from parsers.registry import register
from parsers.short_cache import cached_when_short

_KEYWORD_LIMIT = 32766  # Lucene's term limit: longer texts get no `flattened` copy
# JSON source -> aws.cloudtrail field; each becomes Java toString() text plus a `flattened` copy.
_RENDERED = (
    ("requestParameters", "request_parameters"),
    ("responseElements", "response_elements"),
    ("additionalEventData", "additional_eventdata"),
    ("serviceEventDetails", "service_event_details"),
)
# JSON key -> ECS / aws.cloudtrail key, moved as they are (in groups, by where they go and when).
_CT_EARLY = (  # before the texts: these decide whether aws.cloudtrail exists when they are rendered
    ("eventVersion", "event_version"),
    ("sessionCredentialFromConsole", "session_credential_from_console"),
    ("eventCategory", "event_category"),
    ("errorCode", "error_code"),
    ("errorMessage", "error_message"),
)
_EVENT = (("eventSource", "provider"), ("eventID", "id"))
_IDENTITY = (("type", "type"), ("arn", "arn"), ("accessKeyId", "access_key_id"), ("invokedBy", "invoked_by"))
_IDENTITY_USER = (("userName", "name"), ("principalId", "id"))
_ISSUER = (("type", "type"), ("principalId", "principal_id"), ("arn", "arn"), ("accountId", "account_id"))
_RENAMED = (
    ("requestID", "request_id"),
    ("eventType", "event_type"),
    ("apiVersion", "api_version"),
    ("managementEvent", "management_event"),
    ("readOnly", "read_only"),
    ("recipientAccountId", "recipient_account_id"),
    ("sharedEventId", "shared_event_id"),  # sic: CloudTrail writes sharedEventID, which the pipeline leaves out
    ("vpcEndpointId", "vpc_endpoint_id"),
)
_TLS = (("cipherSuite", "cipher"),)
_DIGEST_RENAMED = (
    ("digestS3Bucket", "s3_bucket"),
    ("previousDigestS3Bucket", "previous_s3_bucket"),
    ("previousDigestHashAlgorithm", "previous_hash_algorithm"),
    ("publicKeyFingerprint", "public_key_fingerprint"),  # sic: digests say digestPublicKeyFingerprint
    ("digestSignatureAlgorithm", "signature_algorithm"),
)
_DIGEST_DATES = (
    ("digestStartTime", "start_time"),
    ("digestEndTime", "end_time"),
    ("newestEventTime", "newest_event_time"),
    ("oldestEventTime", "oldest_event_time"),
)

_DIGEST_KEYS = frozenset(
    ("awsAccountId", "digestS3Object", "previousDigestSignature", "logFiles", *(k for k, _ in _DIGEST_RENAMED),
     *(k for k, _ in _DIGEST_DATES)))

# Elasticsearch's `ISO8601` date format: extended calendar date, optional time (hour, minute, second, up to nine
# fraction digits), optional offset; no offset means UTC. Basic-format values such as 20131102T010628Z fail.
_ISO8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?"
    r"(?:Z|([+-])(\d{2})(?::?(\d{2}))?)?",
    re.ASCII,
)


@register("cloudtrail", ecs_version="8.11.0")
def parse(event: Event, options: ParseOptions) -> list[dict[str, Any]]:
    if event.obj is None and event.message is not None and (not event.message or event.message.isspace()):
        # Elastic's json processor reads a blank message as nothing, and the pipeline still writes its
        # categorization defaults: a shell document, as in Elastic's own expected output for blank lines.
        record: dict[str, Any] = {}
    else:
        record = event.json_object()
    original = None
    if record.get("preview") is not None:
        original = _third_party_raw(record)
        if original is None:
            return []  # the pipeline drops a Splunk result without CloudTrail data
        record = _decode(original)
    try:
        doc = _document(record, options)
    except TooDeep as exc:  # what would be copied into the document could not be indexed, nor even rendered
        raise EventError(f"CloudTrail record {exc}", reason="too_deep") from None
    if original is not None:
        doc["event"]["original"] = original
    if event.meta.timestamp_ms is not None:
        # The pipeline's first `set event.created copy_from @timestamp`: the input's @timestamp, which the
        # aws-cloudwatch input takes from the log event, before eventTime replaces it.
        doc["event"]["created"] = ecs.epoch_ms_to_iso(event.meta.timestamp_ms)
    return [doc]


def _third_party_raw(record: dict[str, Any]) -> str | None:
    result = record.get("result")
    raw = result.get("_raw") if isinstance(result, dict) else None
    if raw is None:
        raw = record.get("_raw")
    return raw if isinstance(raw, str) and raw else None


def _decode(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise EventError(f"Splunk result's _raw is not JSON: {exc}", reason="invalid_json") from None
    if not isinstance(value, dict):
        raise EventError("Splunk result's _raw is not a JSON object", reason="invalid_json")
    return value


def _document(record: dict[str, Any], options: ParseOptions) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    ct: dict[str, Any] = {}  # aws.cloudtrail
    ev: dict[str, Any] = {"kind": "event"}  # event
    user: dict[str, Any] = {}
    cloud: dict[str, Any] = {}

    if timestamp := _date(record.get("eventTime")):
        doc["@timestamp"] = timestamp
    name = record.get("eventName")
    if type(name) is not str:
        name = _clean(name)
    elif not name:
        name = None
    if name is not None:  # the entity script needs an eventName
        _entities(doc, record, name)

    _move(record, _CT_EARLY, ct)
    identity = record.get("userIdentity")
    identity_names: list[Any] = []
    if type(identity) is dict:
        identity_names = _identity(identity, ct, user, cloud)
    _move(record, _EVENT, ev)
    if name is not None:
        ev["action"] = scalar(name)  # set from a template: always text
    additional = record.get("additionalEventData")
    if name == "UserAuthentication" and "name" not in user and isinstance(additional, dict):
        _put(user, "name", additional.get("UserName"))  # IAM Identity Center sign-ins name the user only here
    _put(cloud, "region", record.get("awsRegion"))
    _source(doc, record.get("sourceIPAddress"), options)
    _user_agent(doc, record.get("userAgent"))
    if ct:  # the pipeline's script dereferences aws.cloudtrail: without it, no texts and no `flattened`
        _rendered(record, ct)
    _move(record, _RENAMED, ct)
    _resources(record.get("resources"), ct)

    request = record.get("requestParameters")
    request = request if isinstance(request, dict) else {}
    response = record.get("responseElements")
    response = response if isinstance(response, dict) else {}
    related_user = [request.get("userName"), request.get("newUserName"), _dig(response, "user", "userId")]
    if name == "ConsoleLogin":
        _console_login(additional, ct)
    _categorize(ev, ct, name, response)
    _digest(record, doc, ct, cloud)
    if (insight := _clean(record.get("insightDetails"))) is not None:
        ct.setdefault("flattened", {})["insight_details"] = insight
    _target_names(doc, user, request, response)
    _tls(doc, record.get("tlsDetails"))

    user_name = user.get("name")
    if isinstance(user_name, str) and user_name.find("@") > 0:
        user["email"] = user_name
    related_user += [user.get("id"), *identity_names, user_name, user.get("changes", {}).get("name")]
    if users := _unique_texts(related_user):
        doc.setdefault("related", {})["user"] = users

    if ct:
        doc["aws"] = {"cloudtrail": ct}
    if cloud:
        doc["cloud"] = cloud
    doc["event"] = ev
    if user:
        doc["user"] = user
    return doc


def _identity(identity: dict[str, Any], ct: dict[str, Any], user: dict[str, Any],
              cloud: dict[str, Any]) -> list[Any]:
    """Fills aws.cloudtrail.user_identity, user and cloud.account; returns the names for related.user."""
    ui: dict[str, Any] = {}  # aws.cloudtrail.user_identity
    _move(identity, _IDENTITY, ui)
    _move(identity, _IDENTITY_USER, user)
    names = [user.get("name")]
    _put(cloud, "account", identity.get("accountId"), "id")
    context = identity.get("sessionContext")
    if type(context) is dict:
        session: dict[str, Any] = {}
        attributes = context.get("attributes")
        if type(attributes) is dict:
            _put(session, "mfa_authenticated", attributes.get("mfaAuthenticated"))
            if created := _date(attributes.get("creationDate")):
                session["creation_date"] = created
        issuer = context.get("sessionIssuer")
        if type(issuer) is dict:
            issuer_out: dict[str, Any] = {}
            _move(issuer, _ISSUER, issuer_out)
            # An assumed role is named after its role, but only when the identity has no userName: the pipeline's
            # `rename` onto an existing user.name fails (ignore_failure) and leaves the identity's own name.
            if "name" not in user:
                _put(user, "name", issuer.get("userName"))
            names.append(issuer.get("userName"))
            if issuer_out:
                session["session_issuer"] = issuer_out
        if session:
            ui["session_context"] = session
    if "id" not in user and identity.get("type") == "IdentityCenterUser":
        _put(user, "id", _dig(identity, "onBehalfOf", "userId"))
    if ui:
        ct["user_identity"] = ui
    return names


def _entities(doc: dict[str, Any], record: dict[str, Any], name: Any) -> None:
    found = entities(record, record.get("eventSource"), name)
    if found.actor is not None:
        doc["actor"] = {"entity": {"id": [found.actor]}}
    if found.targets:
        doc["target"] = {"entity": {"id": found.targets}}
    if found.related:
        doc["related"] = {"entity": found.related}


def _source(doc: dict[str, Any], address: Any, options: ParseOptions) -> None:
    address = _clean(address)
    if address is None:
        return
    source: dict[str, Any] = {"address": address}
    if ecs.is_ip(address):  # often a service name instead (ssm.amazonaws.com)
        source["ip"] = address
        geoip.enrich(source, address, options.geoip_dir)
    doc["source"] = source


def _user_agent(doc: dict[str, Any], agent: Any) -> None:
    if isinstance(agent, str):
        if parsed := user_agent(agent):
            doc["user_agent"] = parsed
    elif (agent := _clean(agent)) is not None:
        doc["user_agent"] = {"original": agent}  # the processor's on_failure keeps a non-text value as is


def _rendered(record: dict[str, Any], ct: dict[str, Any]) -> None:
    flattened: dict[str, Any] = {}
    ct["flattened"] = flattened  # kept even when empty, as Elastic's current pipeline does
    for key, target in _RENDERED:
        value = record.get(key)
        if value is None:
            continue
        # Rendered from the raw value: its key count, empty values included, decides the HashMap order.
        text, cleaned = render(value)
        if text is None:
            continue
        ct[target] = text
        # Elastic's test counts UTF-16 units of the whole text. A leaf can still pass Lucene's term limit in
        # UTF-8 bytes (a CJK or euro-sign string of 11 000 characters), or nest deeper than the mapping allows:
        # the cluster would refuse the whole event, so the copy is left out and the text alone is indexed.
        if java_length(text) < _KEYWORD_LIMIT and refusal(cleaned, f"aws.cloudtrail.flattened.{target}", text) is None:
            flattened[target] = cleaned


def _resources(resources: Any, ct: dict[str, Any]) -> None:
    """resources[] with ARN->arn, accountId->account_id, de-duplicated through a HashMap (so in its order)."""
    if not isinstance(resources, list):
        _put(ct, "resources", resources)
        return
    unique: dict[str, dict[str, Any]] = {}
    for item in resources:
        item = _clean(item) if isinstance(item, dict) else None
        if item is None:
            continue
        resource = dict(item)
        if "ARN" in resource:
            resource["arn"] = resource.pop("ARN")
        if "accountId" in resource:
            resource["account_id"] = resource.pop("accountId")
        key = "_".join(scalar(resource[k]) if k in resource else "" for k in ("arn", "account_id", "type"))
        unique[key] = resource  # a repeat keeps its first place and takes the later value, as HashMap.put
    if unique:
        keys = tuple(unique)
        ct["resources"] = [unique[keys[i]] for i in iteration_order(keys)]


def _console_login(additional: Any, ct: dict[str, Any]) -> None:
    if not isinstance(additional, dict):
        return
    details: dict[str, Any] = {}
    mobile = _clean(additional.get("MobileVersion"))
    if mobile is not None:
        details["mobile_version"] = mobile != "No"
    _put(details, "login_to", additional.get("LoginTo"))
    mfa = _clean(additional.get("MFAUsed"))
    if mfa is not None:
        details["mfa_used"] = mfa != "No"
    if details:
        ct["console_login"] = {"additional_eventdata": details}


def _categorize(ev: dict[str, Any], ct: dict[str, Any], name: Any, response: dict[str, Any]) -> None:
    ev["type"] = ["info"]
    ev["outcome"] = "failure" if "error_code" in ct or "error_message" in ct else "success"
    if name is None:
        return
    action = ev["action"]
    if action == "ConsoleLogin":
        result = _clean(response.get("ConsoleLogin"))
        if result is not None:
            ev["outcome"] = scalar(result).lower()
    if found := CATEGORIES.get(action):
        category, types = found
        ev["category"] = list(category)
        if types:
            ev["type"] = list(types)
        else:
            del ev["type"]


def _digest(record: dict[str, Any], doc: dict[str, Any], ct: dict[str, Any], cloud: dict[str, Any]) -> None:
    if _DIGEST_KEYS.isdisjoint(record):
        return  # not a digest file: skip a dozen lookups
    if "account" not in cloud:  # a `rename` onto the identity's cloud.account.id fails and keeps that one
        _put(cloud, "account", record.get("awsAccountId"), "id")
    file: dict[str, Any] = {}
    _put(file, "path", record.get("digestS3Object"))
    signature = _clean(record.get("previousDigestSignature"))
    if signature is not None and record.get("previousDigestHashAlgorithm") == "SHA-256":
        file["hash"] = {"sha256": signature}
        doc.setdefault("related", {})["hash"] = [scalar(signature)]
    if file:
        doc["file"] = file
    digest: dict[str, Any] = {}
    _put(digest, "log_files", record.get("logFiles"))
    for key, target in _DIGEST_DATES:
        if moment := _date(record.get(key)):
            digest[target] = moment
    if end := digest.get("end_time"):
        doc["@timestamp"] = end
    _move(record, _DIGEST_RENAMED, digest)
    if digest:
        ct.setdefault("flattened", {})["digest"] = digest


def _target_names(doc: dict[str, Any], user: dict[str, Any], request: dict[str, Any],
                  response: dict[str, Any]) -> None:
    """group.*, user.target.* and user.changes.name: set from templates, so written as text."""
    group_id = target_id = None
    if response:
        group_id = _text(_dig(response, "group", "groupId"))
        target_id = _text(_dig(response, "user", "userId"))
    if request:
        if group_name := _text(request.get("groupName")):
            doc["group"] = {"name": group_name}
        if target_name := _text(request.get("userName")):
            user["target"] = {"name": target_name}
        if new_name := _text(request.get("newUserName")):
            user["changes"] = {"name": new_name}
    if group_id:
        doc.setdefault("group", {})["id"] = group_id
    if target_id:
        user.setdefault("target", {})["id"] = target_id


def _tls(doc: dict[str, Any], details: Any) -> None:
    if not isinstance(details, dict):
        return
    tls: dict[str, Any] = {}
    version = _clean(details.get("tlsVersion"))
    if type(version) is str and "v" in version:
        protocol, _, number = version.partition("v")  # dissect %{version_protocol}v%{version}: TLSv1.3
        if protocol:
            tls["version_protocol"] = protocol.lower()
        if number:
            tls["version"] = number
    elif version is not None:
        tls["version"] = version  # the dissect's on_failure moves the value as it is
    _move(details, _TLS, tls)
    _put(tls, "client", details.get("clientProvidedHostHeader"), "server_name")
    if tls:
        doc["tls"] = tls


def _move(source: dict[str, Any], fields: tuple[tuple[str, str], ...], target: dict[str, Any]) -> None:
    """Elastic's renames: target[to] = source[key] for each pair whose value is not empty."""
    for key, to in fields:
        value = source.get(key)
        if value is None:
            continue
        kind = type(value)
        if kind is str:
            if value:
                target[to] = value
        elif kind is dict or kind is list:
            if (value := _clean(value)) is not None:
                target[to] = value
        else:
            target[to] = value


def _put(target: dict[str, Any], key: str, value: Any, inner: str | None = None) -> None:
    """target[key] = value (or target[key][inner]) unless the value is empty; emptied containers copied."""
    if value is None or value == "":
        return
    if type(value) is dict or type(value) is list:
        value = _clean(value)
        if value is None:
            return
    if inner is None:
        target[key] = value
    else:
        target.setdefault(key, {})[inner] = value


def _text(value: Any) -> str | None:
    """A value as a mustache template renders it, None for an empty one."""
    if type(value) is str or value is None:
        return value or None
    value = _clean(value)
    return None if value is None else scalar(value)


def _dig(node: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _unique_texts(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if value is None:
            continue
        text = value if type(value) is str else _text(value)
        if text and text not in out:
            out.append(text)
    return out


def _clean(value: Any, depth: int = 0) -> Any:
    """Elastic's drop script on one value: None for null, "" and objects/lists left empty; else the value.

    Containers are copied only when something inside them goes, so a clean record is never copied.
    """
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        return value or None
    if (kind is dict or kind is list) and depth >= MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    if kind is dict:
        out: dict[str, Any] | None = None
        for i, (key, item) in enumerate(value.items()):
            cleaned = _clean(item, depth + 1)
            if cleaned is not item or item is None:  # a null goes too, though _clean(None) is None itself
                if out is None:
                    out = dict(islice(value.items(), i))
                if cleaned is not None:
                    out[key] = cleaned
            elif out is not None:
                out[key] = item
        if out is None:
            return value or None
        return out or None
    if kind is list:
        items: list[Any] | None = None
        for i, item in enumerate(value):
            cleaned = _clean(item, depth + 1)
            if cleaned is not item or item is None:
                if items is None:
                    items = value[:i]
                if cleaned is not None:
                    items.append(cleaned)
            elif items is not None:
                items.append(item)
        if items is None:
            return value or None
        return items or None
    return value


def _date(value: Any) -> str | None:
    """An ES `date` processor with format ISO8601 (UTC millisecond rendering), or None when it would fail."""
    return _parse_date(value) if isinstance(value, str) else None


@cached_when_short(64, maxsize=4096)  # records come in bursts: many share their eventTime second
def _parse_date(text: str) -> str | None:
    m = _ISO8601.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = m.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                          int((fraction or "0")[:6].ljust(6, "0")), tzinfo=UTC)
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
            moment -= offset if sign == "+" else -offset
    except (ValueError, OverflowError):
        return None  # 2024-02-30, hour 24, ...: the date processor fails and the field stays out
    return ecs.iso_ms(moment)
