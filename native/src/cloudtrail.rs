//! One CloudTrail record (a CloudWatch Logs event's message) to its document, as `parsers.cloudtrail.parse`,
//! then `parsers.document.finalize` and `ship`, then `sinks.documents.BulkItemBuilder.add` make it, byte for
//! byte: every object's members in the order Python's dicts get them. What this does not cover (digest files,
//! Insights events, Splunk results, floats, a value Python renders its own way) makes `write` return Err, and
//! the record goes to the Python path whole.

use crate::ct_categories;
use crate::cwl;
use crate::dates;
use crate::entity;
use crate::flattened;
use crate::geoip::GeoIp;
use crate::javamap;
use crate::json::{self, Members};
use crate::jv::{self, Map, Value};
use crate::useragent::UserAgents;
use crate::value_json;
use crate::vpcflow;
use pyo3::Python;
use std::borrow::Cow;
use std::net::IpAddr;

/// What every document of one record shares.
pub struct Context<'a> {
    pub record: &'a cwl::Record,
    pub cloudwatch: &'a [u8], // the record's `"log_group":...,"log_stream":...` members
    pub ingested: &'a [u8],   // the record's arrival time, rendered
    pub ecs_version: &'a str,
    pub namespace: &'a str,
    pub labels: Option<&'a [u8]>, // the stream's labels as a JSON object, or None
    pub keep_original: bool,
}

/// The per-process state a document may need: GeoIP readers and the user-agent cache.
pub struct Enrichers<'a, 'py> {
    pub py: Python<'py>,
    pub geoip: &'a mut GeoIp,
    pub agents: &'a mut UserAgents,
}

const KEYWORD_LIMIT: usize = 32766; // Lucene's term limit: longer texts get no `flattened` copy
                                    // JSON source -> aws.cloudtrail field, and the field of its `flattened` copy.
const RENDERED: [(&str, &str, &str); 4] = [
    ("requestParameters", "request_parameters", "aws.cloudtrail.flattened.request_parameters"),
    ("responseElements", "response_elements", "aws.cloudtrail.flattened.response_elements"),
    ("additionalEventData", "additional_eventdata", "aws.cloudtrail.flattened.additional_eventdata"),
    ("serviceEventDetails", "service_event_details", "aws.cloudtrail.flattened.service_event_details"),
];
const CT_EARLY: [(&str, &str); 5] = [
    ("eventVersion", "event_version"),
    ("sessionCredentialFromConsole", "session_credential_from_console"),
    ("eventCategory", "event_category"),
    ("errorCode", "error_code"),
    ("errorMessage", "error_message"),
];
const EVENT: [(&str, &str); 2] = [("eventSource", "provider"), ("eventID", "id")];
const IDENTITY: [(&str, &str); 4] =
    [("type", "type"), ("arn", "arn"), ("accessKeyId", "access_key_id"), ("invokedBy", "invoked_by")];
const IDENTITY_USER: [(&str, &str); 2] = [("userName", "name"), ("principalId", "id")];
const ISSUER: [(&str, &str); 4] =
    [("type", "type"), ("principalId", "principal_id"), ("arn", "arn"), ("accountId", "account_id")];
const RENAMED: [(&str, &str); 8] = [
    ("requestID", "request_id"),
    ("eventType", "event_type"),
    ("apiVersion", "api_version"),
    ("managementEvent", "management_event"),
    ("readOnly", "read_only"),
    ("recipientAccountId", "recipient_account_id"),
    ("sharedEventId", "shared_event_id"),
    ("vpcEndpointId", "vpc_endpoint_id"),
];

type Obj<'a> = Map<'a>;

static EMPTY: Obj<'static> = Map::new();

/// The record's members this reads, found in one walk over it (not a hash look-up each).
struct Top<'a>([Option<&'a Value<'a>>; 27]);

enum Slot {
    At(usize),
    Refused, // a Splunk result, an Insights event, a digest file (`parsers.cloudtrail._DIGEST_KEYS`)
    Other,
}

#[inline(always)]
fn slot(key: &str) -> Slot {
    match key {
        "eventTime" => Slot::At(0),
        "eventName" => Slot::At(1),
        "eventSource" => Slot::At(2),
        "eventVersion" => Slot::At(3),
        "sessionCredentialFromConsole" => Slot::At(4),
        "eventCategory" => Slot::At(5),
        "errorCode" => Slot::At(6),
        "errorMessage" => Slot::At(7),
        "userIdentity" => Slot::At(8),
        "eventID" => Slot::At(9),
        "additionalEventData" => Slot::At(10),
        "awsRegion" => Slot::At(11),
        "sourceIPAddress" => Slot::At(12),
        "userAgent" => Slot::At(13),
        "requestParameters" => Slot::At(14),
        "responseElements" => Slot::At(15),
        "serviceEventDetails" => Slot::At(16),
        "requestID" => Slot::At(17),
        "eventType" => Slot::At(18),
        "apiVersion" => Slot::At(19),
        "managementEvent" => Slot::At(20),
        "readOnly" => Slot::At(21),
        "recipientAccountId" => Slot::At(22),
        "sharedEventId" => Slot::At(23),
        "vpcEndpointId" => Slot::At(24),
        "resources" => Slot::At(25),
        "tlsDetails" => Slot::At(26),
        "preview"
        | "insightDetails"
        | "awsAccountId"
        | "digestS3Object"
        | "previousDigestSignature"
        | "logFiles"
        | "digestS3Bucket"
        | "previousDigestS3Bucket"
        | "previousDigestHashAlgorithm"
        | "publicKeyFingerprint"
        | "digestSignatureAlgorithm"
        | "digestStartTime"
        | "digestEndTime"
        | "newestEventTime"
        | "oldestEventTime" => Slot::Refused,
        _ => Slot::Other,
    }
}

impl<'a> Top<'a> {
    /// The members, or Err when one of them sends the record to the Python path.
    fn of(record: &'a Obj<'a>) -> Result<Top<'a>, ()> {
        let mut top = Top([None; 27]);
        for (key, value) in record {
            match slot(key) {
                Slot::At(i) => top.0[i] = Some(value),
                Slot::Refused => return Err(()),
                Slot::Other => {}
            }
        }
        Ok(top)
    }

    #[inline(always)]
    fn get(&self, key: &str) -> Option<&'a Value<'a>> {
        match slot(key) {
            Slot::At(i) => self.0[i],
            _ => unreachable!("a key Top does not hold"),
        }
    }
}

/// Appends the document of one event (and its newline), or Err: the caller refuses the whole record.
pub fn write(out: &mut Vec<u8>, enrichers: &mut Enrichers, event: &cwl::Event, cx: &Context) -> Result<(), ()> {
    if event.timestamp.is_some_and(|ms| ms >= dates::EXACT_MS) {
        return Err(()); // Python renders such times through a float
    }
    let unescaped: String;
    let parsed = if event.escaped { jv::parse_nested(event.text) } else { jv::parse(event.text) };
    let parsed = match parsed {
        Err(jv::Unread::Unescape) => {
            // An escape of the message the nested reader does not follow (`\u0022`, say): unescaped first.
            unescaped = jv::unescape_content(event.text).ok_or(())?;
            jv::parse(&unescaped)
        }
        parsed => parsed,
    };
    let Ok(Value::Object(record)) = parsed else {
        return Err(()); // blank, not JSON, not an object, a float: the Python path takes it
    };
    let doc = Document::of(&record, enrichers)?;
    doc.write(out, event, cx)
}

/// An object of the document this writer builds, in the order Python's dict gets its members: a few members
/// each, so a linear search costs less than hashing, and values are borrowed from the record where they can be.
#[derive(Default)]
struct Small<'a>(Vec<(&'static str, Node<'a>)>);

enum Node<'a> {
    Value(Cow<'a, Value<'a>>),
    Object(Small<'a>),
}

impl<'a> Small<'a> {
    /// `dict[key] = value`: a present key keeps its place.
    fn insert(&mut self, key: &'static str, node: Node<'a>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = node,
            None => self.0.push((key, node)),
        }
    }

    fn set(&mut self, key: &'static str, value: Cow<'a, Value<'a>>) {
        self.insert(key, Node::Value(value));
    }

    fn text(&mut self, key: &'static str, text: impl Into<Cow<'a, str>>) {
        self.insert(key, Node::Value(Cow::Owned(Value::String(text.into()))));
    }

    fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| *k == key)
    }

    fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, node)| node)
    }

    /// The value at `key`, when it is one (not an object this built).
    fn value(&self, key: &str) -> Option<&Value<'a>> {
        match self.get(key)? {
            Node::Value(value) => Some(value),
            Node::Object(_) => None,
        }
    }

    /// `dict.setdefault(key, {})`; Err where a value is there (never made so here).
    fn child(&mut self, key: &'static str) -> Result<&mut Small<'a>, ()> {
        let at = match self.0.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                self.0.push((key, Node::Object(Small::default())));
                self.0.len() - 1
            }
        };
        match &mut self.0[at].1 {
            Node::Object(child) => Ok(child),
            Node::Value(_) => Err(()),
        }
    }

    /// `del dict[key]`: the others keep their order.
    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| *k != key);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The object, braces included.
    fn write(&self, out: &mut Vec<u8>) -> Result<(), ()> {
        out.push(b'{');
        self.write_members(out, &mut Members::new())?;
        out.push(b'}');
        Ok(())
    }

    fn write_members(&self, out: &mut Vec<u8>, members: &mut Members) -> Result<(), ()> {
        for (key, node) in &self.0 {
            members.key(out, key);
            match node {
                Node::Value(value) => value_json::write(out, value)?,
                Node::Object(child) => child.write(out)?,
            }
        }
        Ok(())
    }
}

/// What `parsers.cloudtrail._document` builds, its parts kept apart (or rendered) until `write` assembles them
/// in the order Python's `doc` gets them.
struct Document<'a> {
    timestamp: Option<i64>,
    entities: Option<entity::Entities<'a>>,
    source: Vec<u8>,     // `"source":{...}`, or empty
    user_agent: Vec<u8>, // the user_agent object, or empty
    group: Small<'a>,
    tls: Small<'a>,
    related_users: Vec<Cow<'a, str>>,
    ct: Vec<u8>, // aws.cloudtrail's members
    cloud: Small<'a>,
    ev: Small<'a>,
    user: Small<'a>,
}

impl<'a> Document<'a> {
    fn of(record: &'a Obj<'a>, enrichers: &mut Enrichers) -> Result<Document<'a>, ()> {
        let top = Top::of(record)?;
        let mut ct = Vec::with_capacity(1024);
        let mut ct_members = Members::new();
        let mut ev = Small::default();
        let mut user = Small::default();
        let mut cloud = Small::default();
        ev.text("kind", "event");

        let timestamp = date(top.get("eventTime"))?;
        let name: Option<Cow<Value<'a>>> = match top.get("eventName") {
            Some(Value::String(s)) if s.is_empty() => None,
            Some(value @ Value::String(_)) => Some(Cow::Borrowed(value)),
            Some(value) => javamap::clean(value)?,
            None => None,
        };
        let entities = match &name {
            Some(name) => {
                Some(entity::entities(record, top.get("eventSource").filter(|v| !v.is_null()), name.as_ref())?)
            }
            None => None,
        };

        let mut failed = false;
        for (key, to) in CT_EARLY {
            if let Some(value) = present(top.get(key))? {
                ct_members.key(&mut ct, to);
                value_json::write(&mut ct, &value)?;
                failed |= to == "error_code" || to == "error_message";
            }
        }
        let mut identity_names: Vec<Value<'a>> = Vec::new();
        if let Some(Value::Object(identity)) = top.get("userIdentity") {
            let ui = identity_fields(identity, &mut user, &mut cloud, &mut identity_names)?;
            if !ui.is_empty() {
                ct_members.key(&mut ct, "user_identity");
                ui.write(&mut ct)?;
            }
        }
        move_fields(record, &EVENT, &mut ev)?;
        let action = match &name {
            Some(name) => Some(javamap::scalar(name)?),
            None => None,
        };
        if let Some(action) = &action {
            ev.text("action", action.clone());
        }
        let name_is = |text: &str| matches!(name.as_deref(), Some(Value::String(s)) if s == text);
        let additional = top.get("additionalEventData");
        if name_is("UserAuthentication") && !user.contains_key("name") {
            if let Some(Value::Object(additional)) = additional {
                put(&mut user, "name", additional.get("UserName"), None)?;
            }
        }
        put(&mut cloud, "region", top.get("awsRegion"), None)?;
        let source = source(top.get("sourceIPAddress"), enrichers.geoip)?;
        let user_agent = user_agent(top.get("userAgent"), enrichers)?;
        if !ct_members.is_empty() {
            // The pipeline's script dereferences aws.cloudtrail: without it, no texts and no `flattened`.
            rendered(&top, &mut ct, &mut ct_members)?;
        }
        for (key, to) in RENAMED {
            if let Some(value) = present(top.get(key))? {
                ct_members.key(&mut ct, to);
                value_json::write(&mut ct, &value)?;
            }
        }
        if let Some(resources) = resources(top.get("resources"))? {
            ct_members.key(&mut ct, "resources");
            value_json::write(&mut ct, &resources)?;
        }

        let request = match top.get("requestParameters") {
            Some(Value::Object(request)) => request,
            _ => &EMPTY,
        };
        let response = match top.get("responseElements") {
            Some(Value::Object(response)) => response,
            _ => &EMPTY,
        };
        let mut related_user: Vec<Option<Value<'a>>> = vec![
            request.get("userName").cloned(),
            request.get("newUserName").cloned(),
            dig(response, &["user", "userId"]).cloned(),
        ];
        if name_is("ConsoleLogin") {
            if let Some(details) = console_login(additional)? {
                ct_members.key(&mut ct, "console_login");
                ct.extend_from_slice(b"{\"additional_eventdata\":");
                details.write(&mut ct)?;
                ct.push(b'}');
            }
        }
        categorize(&mut ev, failed, action.as_deref(), response)?;
        let group = target_names(&mut user, request, response)?;
        let tls = tls(top.get("tlsDetails"))?;

        let user_name = user.value("name").cloned();
        if let Some(Value::String(name)) = &user_name {
            if name.find('@').is_some_and(|at| at > 0) {
                user.text("email", name.clone());
            }
        }
        related_user.push(user.value("id").cloned());
        related_user.extend(identity_names.into_iter().map(Some));
        related_user.push(user_name);
        related_user.push(match user.get("changes") {
            Some(Node::Object(changes)) => changes.value("name").cloned(),
            _ => None,
        });
        let mut related_users: Vec<Cow<'a, str>> = Vec::new();
        for value in related_user.iter().flatten() {
            if let Some(text) = text(Some(value))? {
                if !related_users.contains(&text) {
                    related_users.push(text);
                }
            }
        }
        Ok(Document { timestamp, entities, source, user_agent, group, tls, related_users, ct, cloud, ev, user })
    }

    /// The document, then what `finalize`, `ship` and the bulk item add.
    fn write(mut self, out: &mut Vec<u8>, event: &cwl::Event, cx: &Context) -> Result<(), ()> {
        out.push(b'{');
        let mut doc = Members::new();
        if let Some(ms) = self.timestamp {
            doc.key(out, "@timestamp");
            date_string(out, ms);
        }
        let mut related_written = false;
        if let Some(entities) = &self.entities {
            if let Some(actor) = &entities.actor {
                doc.key(out, "actor");
                out.extend_from_slice(b"{\"entity\":{\"id\":[");
                json::string(out, actor);
                out.extend_from_slice(b"]}}");
            }
            if !entities.targets.is_empty() {
                doc.key(out, "target");
                out.extend_from_slice(b"{\"entity\":{\"id\":");
                strings(out, &entities.targets);
                out.extend_from_slice(b"}}");
            }
            if !entities.related.is_empty() {
                doc.key(out, "related");
                out.extend_from_slice(b"{\"entity\":");
                strings(out, &entities.related);
                if !self.related_users.is_empty() {
                    out.extend_from_slice(b",\"user\":");
                    strings(out, &self.related_users);
                }
                out.push(b'}');
                related_written = true;
            }
        }
        if !self.source.is_empty() {
            doc.key(out, "source");
            out.extend_from_slice(&self.source);
        }
        if !self.user_agent.is_empty() {
            doc.key(out, "user_agent");
            out.extend_from_slice(&self.user_agent);
        }
        for (key, object) in [("group", &self.group), ("tls", &self.tls)] {
            if !object.is_empty() {
                doc.key(out, key);
                object.write(out)?;
            }
        }
        if !related_written && !self.related_users.is_empty() {
            doc.key(out, "related");
            out.extend_from_slice(b"{\"user\":");
            strings(out, &self.related_users);
            out.push(b'}');
        }
        let mut cloudwatch = Vec::new();
        vpcflow::write_cloudwatch(&mut cloudwatch, cx.cloudwatch, event); // `,"cloudwatch":{...}` or nothing
        if !self.ct.is_empty() {
            doc.key(out, "aws");
            out.extend_from_slice(b"{\"cloudtrail\":{");
            out.extend_from_slice(&self.ct);
            out.push(b'}');
            out.extend_from_slice(&cloudwatch);
            out.push(b'}');
        }
        // finalize: the envelope owner's account, when the record named none
        let owner = cx.record.owner().filter(|o| !o.is_empty());
        let owner_account = owner.filter(|_| !self.cloud.contains_key("account"));
        let has_cloud = !self.cloud.is_empty();
        if has_cloud {
            if let Some(owner) = owner_account {
                self.cloud.child("account")?.text("id", owner.to_string());
            }
            doc.key(out, "cloud");
            self.cloud.write(out)?;
        }

        doc.key(out, "event");
        out.push(b'{');
        let mut ev = Members::new();
        self.ev.write_members(out, &mut ev)?;
        if let Some(ms) = event.timestamp {
            ev.key(out, "created");
            date_string(out, ms);
        }
        if cx.keep_original && !event.text.is_empty() {
            ev.key(out, "original");
            json::string(out, &event.message().ok_or(())?);
        }
        out.extend_from_slice(b",\"dataset\":\"aws.cloudtrail\",\"module\":\"aws\",\"ingested\":\"");
        out.extend_from_slice(cx.ingested);
        out.extend_from_slice(b"\"}");
        if !self.user.is_empty() {
            doc.key(out, "user");
            self.user.write(out)?;
        }

        out.extend_from_slice(b",\"ecs\":{\"version\":");
        json::string(out, cx.ecs_version);
        out.push(b'}');
        if let (None, Some(ms)) = (self.timestamp, event.timestamp) {
            out.extend_from_slice(b",\"@timestamp\":");
            date_string(out, ms);
        }
        if self.ct.is_empty() && !cloudwatch.is_empty() {
            out.extend_from_slice(b",\"aws\":{");
            out.extend_from_slice(&cloudwatch[1..]);
            out.push(b'}');
        }
        if !has_cloud {
            if let Some(owner) = owner_account {
                out.extend_from_slice(b",\"cloud\":{\"account\":{\"id\":");
                json::string(out, owner);
                out.extend_from_slice(b"}}");
            }
        }
        out.extend_from_slice(b",\"data_stream\":{\"type\":\"logs\",\"dataset\":\"aws.cloudtrail\",\"namespace\":");
        json::string(out, cx.namespace);
        out.push(b'}');
        if let Some(labels) = cx.labels {
            out.extend_from_slice(b",\"labels\":");
            out.extend_from_slice(labels);
        }
        if self.timestamp.is_none() && event.timestamp.is_none() {
            out.extend_from_slice(b",\"@timestamp\":\"");
            out.extend_from_slice(cx.ingested);
            out.push(b'"');
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }
}

fn date_string(out: &mut Vec<u8>, ms: i64) {
    out.push(b'"');
    dates::iso_ms(out, ms);
    out.push(b'"');
}

fn strings(out: &mut Vec<u8>, items: &[Cow<str>]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::string(out, item);
    }
    out.push(b']');
}

/// `_clean` of a member that may be absent: None for absent, null, "" and emptied containers.
fn present<'a>(value: Option<&'a Value<'a>>) -> Result<Option<Cow<'a, Value<'a>>>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value @ (Value::Bool(_) | Value::Number(_))) => Ok(Some(Cow::Borrowed(value))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(value @ Value::String(_)) => Ok(Some(Cow::Borrowed(value))),
        Some(value) => javamap::clean(value),
    }
}

/// `_move`: target[to] = source[key] for each pair whose value is not empty.
fn move_fields<'a>(source: &'a Obj<'a>, fields: &[(&str, &'static str)], target: &mut Small<'a>) -> Result<(), ()> {
    for (key, to) in fields {
        if let Some(value) = present(source.get(key))? {
            target.set(to, value);
        }
    }
    Ok(())
}

/// `_put`: target[key] (or target[key][inner]) = value unless it is empty.
fn put<'a>(
    target: &mut Small<'a>,
    key: &'static str,
    value: Option<&'a Value<'a>>,
    inner: Option<&'static str>,
) -> Result<(), ()> {
    let Some(value) = present(value)? else { return Ok(()) };
    match inner {
        None => target.set(key, value),
        Some(inner) => target.child(key)?.set(inner, value),
    }
    Ok(())
}

/// `_dig`: node[k0][k1]... through objects only.
fn dig<'a>(node: &'a Obj<'a>, keys: &[&str]) -> Option<&'a Value<'a>> {
    let mut value = node.get(keys[0])?;
    for key in &keys[1..] {
        value = value.as_object()?.get(key)?;
    }
    Some(value)
}

/// `_text`: a value as a mustache template renders it, None for an empty one (or one rendered empty).
fn text<'a>(value: Option<&Value<'a>>) -> Result<Option<Cow<'a, str>>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok((!s.is_empty()).then(|| s.clone())),
        Some(value) => match javamap::clean(value)? {
            // Every caller takes an empty rendering (`[null]` renders so) as no text, as Python's truth tests do.
            Some(cleaned) => Ok(Some(javamap::scalar(&cleaned)?).filter(|text| !text.is_empty()).map(Cow::Owned)),
            None => Ok(None),
        },
    }
}

/// aws.cloudtrail.user_identity; fills `user`, `cloud.account` and the names for related.user.
fn identity_fields<'a>(
    identity: &'a Obj<'a>,
    user: &mut Small<'a>,
    cloud: &mut Small<'a>,
    names: &mut Vec<Value<'a>>,
) -> Result<Small<'a>, ()> {
    let mut ui = Small::default();
    move_fields(identity, &IDENTITY, &mut ui)?;
    move_fields(identity, &IDENTITY_USER, user)?;
    names.extend(user.value("name").cloned());
    put(cloud, "account", identity.get("accountId"), Some("id"))?;
    if let Some(Value::Object(context)) = identity.get("sessionContext") {
        let mut session = Small::default();
        if let Some(Value::Object(attributes)) = context.get("attributes") {
            put(&mut session, "mfa_authenticated", attributes.get("mfaAuthenticated"), None)?;
            if let Some(ms) = date(attributes.get("creationDate"))? {
                let mut text = Vec::with_capacity(24);
                dates::iso_ms(&mut text, ms);
                session.text("creation_date", String::from_utf8(text).map_err(|_| ())?);
            }
        }
        if let Some(Value::Object(issuer)) = context.get("sessionIssuer") {
            let mut issuer_out = Small::default();
            move_fields(issuer, &ISSUER, &mut issuer_out)?;
            // An assumed role is named after its role only when the identity has no userName.
            if !user.contains_key("name") {
                put(user, "name", issuer.get("userName"), None)?;
            }
            names.extend(issuer.get("userName").cloned());
            if !issuer_out.is_empty() {
                session.insert("session_issuer", Node::Object(issuer_out));
            }
        }
        if !session.is_empty() {
            ui.insert("session_context", Node::Object(session));
        }
    }
    if !user.contains_key("id") && matches!(identity.get("type"), Some(Value::String(t)) if t == "IdentityCenterUser") {
        put(user, "id", dig(identity, &["onBehalfOf", "userId"]), None)?;
    }
    Ok(ui)
}

/// `source`: the address, and when it is an IP address, the address again and its GeoIP fields.
fn source(address: Option<&Value<'_>>, geoip: &mut GeoIp) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    let address = match present(address)? {
        None => return Ok(out),
        Some(Cow::Borrowed(Value::String(address))) => address.as_ref(),
        Some(_) => return Err(()), // a non-text address: Python's own way
    };
    out.extend_from_slice(b"{\"address\":");
    json::string(&mut out, address);
    match address.parse::<IpAddr>() {
        Ok(ip) => {
            out.extend_from_slice(b",\"ip\":");
            json::string(&mut out, address);
            geoip.write(&mut out, ip)?;
        }
        // What Rust does not read as an address but Python might (an IPv6 zone index, an odd form): refused.
        Err(_) if address.contains(':') || address.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.') => {
            return Err(())
        }
        Err(_) => {}
    }
    out.push(b'}');
    Ok(out)
}

fn user_agent(agent: Option<&Value<'_>>, enrichers: &mut Enrichers) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    match agent {
        None | Some(Value::Null) => {}
        Some(Value::String(agent)) => {
            if agent.is_empty() {
                return Ok(out);
            }
            enrichers.agents.write(enrichers.py, &mut out, agent)?;
            if out == b"{}" {
                out.clear(); // an empty object is falsy in Python: no user_agent
            }
        }
        Some(other) => {
            if present(Some(other))?.is_some() {
                return Err(()); // a non-text agent is kept as it is, Python's way
            }
        }
    }
    Ok(out)
}

/// The four rendered fields: `flattened` first (kept even when empty), then each text.
fn rendered(top: &Top, ct: &mut Vec<u8>, members: &mut Members) -> Result<(), ()> {
    let mut texts: Vec<(&str, String)> = Vec::new();
    members.key(ct, "flattened");
    ct.push(b'{');
    let mut flat = Members::new();
    for (key, target, field) in RENDERED {
        let Some(value) = top.get(key).filter(|v| !v.is_null()) else { continue };
        let (text, cleaned) = javamap::render(value)?;
        let Some(text) = text else { continue };
        let cleaned = cleaned.ok_or(())?;
        if javamap::java_length(&text) < KEYWORD_LIMIT && !flattened::refused(&cleaned, field, Some(&text)) {
            flat.key(ct, target);
            value_json::write(ct, &cleaned)?;
        }
        texts.push((target, text));
    }
    ct.push(b'}');
    for (target, text) in texts {
        members.key(ct, target);
        json::string(ct, &text);
    }
    Ok(())
}

/// resources[] with ARN->arn, accountId->account_id, de-duplicated through a HashMap (so in its order).
fn resources<'a>(resources: Option<&'a Value<'a>>) -> Result<Option<Value<'a>>, ()> {
    let items = match resources {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(()), // `_put` of a non-list: rare, left to Python
    };
    let mut keys: Vec<String> = Vec::new();
    let mut unique: Vec<Obj<'a>> = Vec::new();
    for item in items {
        if !item.is_object() {
            continue;
        }
        let Some(cleaned) = javamap::clean(item)? else { continue };
        let Value::Object(mut resource) = cleaned.into_owned() else { return Err(()) };
        if let Some(arn) = resource.shift_remove("ARN") {
            resource.insert(Cow::Borrowed("arn"), arn);
        }
        if let Some(account) = resource.shift_remove("accountId") {
            resource.insert(Cow::Borrowed("account_id"), account);
        }
        let mut key = String::new();
        for (i, k) in ["arn", "account_id", "type"].iter().enumerate() {
            if i > 0 {
                key.push('_');
            }
            if let Some(value) = resource.get(k) {
                key.push_str(&javamap::scalar(value)?);
            }
        }
        match keys.iter().position(|k| *k == key) {
            Some(at) => unique[at] = resource, // HashMap.put: the first place, the later value
            None => {
                keys.push(key);
                unique.push(resource);
            }
        }
    }
    if unique.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut unique: Vec<Option<Obj<'a>>> = unique.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(unique.len());
    for i in javamap::iteration_order(&names) {
        ordered.push(Value::Object(unique.get_mut(i).and_then(Option::take).ok_or(())?));
    }
    Ok(Some(Value::Array(ordered)))
}

fn console_login<'a>(additional: Option<&'a Value<'a>>) -> Result<Option<Small<'a>>, ()> {
    let Some(Value::Object(additional)) = additional else { return Ok(None) };
    let mut details = Small::default();
    let no = |value: &Value<'_>| matches!(value, Value::String(s) if s == "No");
    if let Some(mobile) = present(additional.get("MobileVersion"))? {
        details.set("mobile_version", Cow::Owned(Value::Bool(!no(&mobile))));
    }
    put(&mut details, "login_to", additional.get("LoginTo"), None)?;
    if let Some(mfa) = present(additional.get("MFAUsed"))? {
        details.set("mfa_used", Cow::Owned(Value::Bool(!no(&mfa))));
    }
    Ok((!details.is_empty()).then_some(details))
}

fn strings_value<'a>(items: &[&'static str]) -> Cow<'a, Value<'a>> {
    Cow::Owned(Value::Array(items.iter().map(|s| Value::String(Cow::Borrowed(s))).collect()))
}

fn categorize(ev: &mut Small<'_>, failed: bool, action: Option<&str>, response: &Obj<'_>) -> Result<(), ()> {
    ev.set("type", strings_value(&["info"]));
    ev.text("outcome", if failed { "failure" } else { "success" });
    let Some(action) = action else { return Ok(()) };
    if action == "ConsoleLogin" {
        if let Some(result) = present(response.get("ConsoleLogin"))? {
            let text = javamap::scalar(&result)?;
            if !text.is_ascii() {
                return Err(()); // Python's lower() and Rust's differ on a few letters
            }
            ev.text("outcome", text.to_ascii_lowercase());
        }
    }
    if let Some((category, types)) = ct_categories::get(action) {
        ev.set("category", strings_value(category));
        if types.is_empty() {
            ev.remove("type");
        } else {
            ev.set("type", strings_value(types));
        }
    }
    Ok(())
}

/// group.*, user.target.* and user.changes.name; returns `group`.
fn target_names<'a>(user: &mut Small<'a>, request: &'a Obj<'a>, response: &'a Obj<'a>) -> Result<Small<'a>, ()> {
    let mut group = Small::default();
    let (mut group_id, mut target_id) = (None, None);
    if !response.is_empty() {
        group_id = text(dig(response, &["group", "groupId"]))?;
        target_id = text(dig(response, &["user", "userId"]))?;
    }
    if !request.is_empty() {
        if let Some(name) = text(request.get("groupName"))? {
            group.text("name", name);
        }
        for (key, to) in [("userName", "target"), ("newUserName", "changes")] {
            if let Some(name) = text(request.get(key))? {
                let mut inner = Small::default();
                inner.text("name", name);
                user.insert(to, Node::Object(inner));
            }
        }
    }
    if let Some(id) = group_id {
        group.text("id", id);
    }
    if let Some(id) = target_id {
        user.child("target")?.text("id", id);
    }
    Ok(group)
}

fn tls<'a>(details: Option<&'a Value<'a>>) -> Result<Small<'a>, ()> {
    let mut tls = Small::default();
    let Some(Value::Object(details)) = details else { return Ok(tls) };
    match present(details.get("tlsVersion"))? {
        Some(Cow::Borrowed(Value::String(version))) if version.contains('v') => {
            let (protocol, number) = version.split_once('v').ok_or(())?;
            if !protocol.is_empty() {
                if !protocol.is_ascii() {
                    return Err(()); // Python's lower() and Rust's differ on a few letters
                }
                tls.text("version_protocol", protocol.to_ascii_lowercase());
            }
            if !number.is_empty() {
                tls.text("version", number);
            }
        }
        Some(version) => tls.set("version", version),
        None => {}
    }
    move_fields(details, &[("cipherSuite", "cipher")], &mut tls)?;
    put(&mut tls, "client", details.get("clientProvidedHostHeader"), Some("server_name"))?;
    Ok(tls)
}

/// `_date`: an ES `date` processor with format ISO8601, as epoch milliseconds; Ok(None) where Python's
/// `_parse_date` gives None, Err for a date this does not render as Python does (before 1970).
fn date(value: Option<&Value<'_>>) -> Result<Option<i64>, ()> {
    let Some(Value::String(text)) = value else { return Ok(None) };
    match parse_iso8601(text.as_bytes()) {
        Some(ms) if ms < 0 => Err(()),
        found => Ok(found),
    }
}

/// `_ISO8601.fullmatch` and the datetime arithmetic after it: Some(epoch ms) or None.
fn parse_iso8601(text: &[u8]) -> Option<i64> {
    let mut at = 0;
    let digits = |at: &mut usize, n: usize| -> Option<i64> {
        let part = text.get(*at..*at + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *at += n;
        Some(part.iter().fold(0i64, |v, b| v * 10 + i64::from(b - b'0')))
    };
    let literal = |at: &mut usize, c: u8| -> bool {
        if text.get(*at) == Some(&c) {
            *at += 1;
            true
        } else {
            false
        }
    };
    let year = digits(&mut at, 4)?;
    if !literal(&mut at, b'-') {
        return None;
    }
    let month = digits(&mut at, 2)?;
    if !literal(&mut at, b'-') {
        return None;
    }
    let day = digits(&mut at, 2)?;
    let (mut hour, mut minute, mut second, mut milli) = (0, 0, 0, 0);
    if literal(&mut at, b'T') {
        hour = digits(&mut at, 2)?;
        if literal(&mut at, b':') {
            minute = digits(&mut at, 2)?;
            if literal(&mut at, b':') {
                second = digits(&mut at, 2)?;
                if literal(&mut at, b'.') || literal(&mut at, b',') {
                    let start = at;
                    while at < text.len() && text[at].is_ascii_digit() && at - start < 9 {
                        at += 1;
                    }
                    if at == start {
                        return None;
                    }
                    // microseconds // 1000: the first three digits, padded
                    let fraction = &text[start..at];
                    for i in 0..3 {
                        milli = milli * 10 + fraction.get(i).map_or(0, |b| i64::from(b - b'0'));
                    }
                }
            }
        }
    }
    let mut offset = 0;
    if literal(&mut at, b'Z') {
    } else if text.get(at) == Some(&b'+') || text.get(at) == Some(&b'-') {
        let sign = if text[at] == b'+' { 1 } else { -1 };
        at += 1;
        let hours = digits(&mut at, 2)?;
        let had_colon = literal(&mut at, b':');
        let minutes = if had_colon { digits(&mut at, 2)? } else { digits(&mut at, 2).unwrap_or(0) };
        offset = sign * (hours * 3600 + minutes * 60);
    }
    if at != text.len() {
        return None;
    }
    if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    // datetime's range: 0001-01-01T00:00:00 to 9999-12-31T23:59:59.999999
    if !(-62_135_596_800..=dates::MAX_SECONDS).contains(&seconds) {
        return None;
    }
    Some(seconds * 1000 + milli)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_read_through_top_has_a_slot() {
        let read = ["eventTime", "eventName", "eventSource", "userIdentity", "additionalEventData", "awsRegion"]
            .into_iter()
            .chain(["sourceIPAddress", "userAgent", "resources", "requestParameters", "responseElements", "tlsDetails"])
            .chain(CT_EARLY.iter().chain(RENAMED.iter()).map(|(key, _)| *key))
            .chain(RENDERED.iter().map(|(key, _, _)| *key));
        for key in read {
            assert!(matches!(slot(key), Slot::At(_)), "{key}");
        }
    }

    #[test]
    fn dates_as_python_reads_them() {
        assert_eq!(parse_iso8601(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601(b"2024-02-29T12:30:45.1239Z"), Some(1_709_209_845_123));
        assert_eq!(parse_iso8601(b"2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_iso8601(b"1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_iso8601(b"1970-01-01T01:00:00+0100"), Some(0));
        assert_eq!(parse_iso8601(b"1970-01-01T00:00:00-01"), Some(3_600_000));
        assert_eq!(parse_iso8601(b"1970-01-01T00:00:00.1234567891Z"), None);
        assert_eq!(parse_iso8601(b"1970-01-01"), Some(0));
        assert_eq!(parse_iso8601(b"1970-01-01T24:00"), None);
        assert_eq!(parse_iso8601(b"19700101T000000Z"), None);
        assert_eq!(parse_iso8601(b"1970-01-01T00:00:00+05:3"), None);
    }
}
