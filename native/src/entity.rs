//! `parsers.cloudtrail_entity.entities` in Rust: actor.entity.id, target.entity.id and related.entity of a
//! CloudTrail record, exactly as the Python reference finds and orders them. Values are borrowed from the
//! record until the result is built; the per-service tables are indexed once per process.
//!
//! Covered: every record, except a `DeleteNetworkAclEntry` whose ruleNumber is a float or a container, or an
//! integer serde_json reads as a float (`-0`, beyond u64): its Java rendering is left to the Python path.

mod hooks;
mod record;
mod set;
mod tables;
mod walks;

use crate::jv::{Map, Value};
use pyo3::prelude::*;
use record::{at, get, Record};
use set::Set;
use std::borrow::Cow;
use std::sync::OnceLock;
use tables::{Target, Trie};

/// `actor.entity.id`, `target.entity.id` and `related.entity` of one CloudTrail record (targets and related
/// sorted as Java's TreeSet<String> sorts them; targets are also in related).
#[derive(Debug, PartialEq)]
pub struct Entities<'a> {
    pub actor: Option<&'a str>,
    pub targets: Vec<Cow<'a, str>>,
    pub related: Vec<Cow<'a, str>>,
}

/// parsers.cloudtrail_entity.entities(record, source, name): `record` the CloudTrail record as parsed,
/// `source` record.get("eventSource"), `name` the eventName as parsers.cloudtrail._document passes it.
/// Err(()) for anything not covered (the record then takes the Python path).
#[allow(clippy::result_unit_err)]
pub fn entities<'a>(record: &'a Map<'a>, source: Option<&'a Value<'a>>, name: &Value<'_>) -> Result<Entities<'a>, ()> {
    let record = Record::new(record);
    let source = match source {
        Some(Value::String(source)) => source.as_ref(),
        _ => "",
    };
    let name = match name {
        Value::String(name) => name.as_ref(),
        _ => "",
    };
    let identity = match record.get("userIdentity") {
        Some(Value::Object(identity)) => Some(identity),
        _ => None,
    };
    let mut related = Set::with_capacity(16); // a record's identity alone gives four or five
    if let Some(identity) = identity {
        add_fields(&mut related, identity, identity_fields());
        if matches!(get(identity, "type"), Some(Value::String(kind)) if kind == "IdentityCenterUser") {
            related.add(at(identity, &["onBehalfOf", "identityStoreArn"]));
        }
    }
    let resources = match record.get("resources") {
        Some(Value::Array(resources)) => resources.as_slice(),
        _ => &[],
    };
    let arns = || resources.iter().filter_map(Value::as_object).map(|resource| get(resource, "ARN"));
    related.add_all(arns());
    let service = tables::service(source);
    let mut target = Set::with_capacity(0); // most calls have none
    if let Some(service) = service {
        if let Some(trie) = &service.related {
            add_root_fields(&mut related, &record, trie);
            if let Some(walk) = service.walk {
                walk(&record, &mut related);
            }
        }
        for path in service.targets.get(name).map(Vec::as_slice).unwrap_or_default() {
            match path {
                Target::ResourceArns => target.add_all(arns()),
                Target::Path(path) => {
                    target.add(record.at(path));
                }
            }
        }
        if let Some(special) = service.special {
            special(&record, name, &mut target)?;
        }
    }
    related.extend(&target);
    let actor = match actor(identity, source, name) {
        Some(Value::String(actor)) if !actor.is_empty() => Some(actor.as_ref()),
        _ => None,
    };
    Ok(Entities { actor, targets: target.into_sorted(), related: related.into_sorted() })
}

/// The caller: the identity's ARN (an IAM Identity Center user's id when it has none); for STS's AssumeRole by
/// a service, the service, and by an assumed role, the role behind it.
fn actor<'a>(identity: Option<&'a Map<'a>>, source: &str, name: &str) -> Option<&'a Value<'a>> {
    let identity = identity?;
    if source == "sts.amazonaws.com" && (name == "AssumeRole" || name == "GetCallerIdentity") {
        if name == "AssumeRole" {
            match get(identity, "type") {
                Some(Value::String(kind)) if kind == "AWSService" => return get(identity, "invokedBy"),
                Some(Value::String(kind)) if kind == "AssumedRole" => {
                    return at(identity, &["sessionContext", "sessionIssuer", "arn"])
                }
                _ => {}
            }
        }
        return get(identity, "arn");
    }
    match get(identity, "arn") {
        None | Some(Value::Null) => at(identity, &["onBehalfOf", "userId"]),
        arn => arn,
    }
}

/// The identity's fields that go to related.
fn identity_fields() -> &'static Trie {
    static FIELDS: OnceLock<Trie> = OnceLock::new();
    FIELDS.get_or_init(|| {
        Trie::from_paths(&[
            "accessKeyId",
            "arn",
            "userName",
            "sessionContext.sessionIssuer.arn",
            "sessionContext.sessionIssuer.userName",
        ])
    })
}

/// `add_fields` from the record's top-level members.
fn add_root_fields<'a>(set: &mut Set<'a>, record: &Record<'a>, trie: &Trie) {
    for (key, sub) in &trie.children {
        match (sub, record.get(key)) {
            (None, Some(Value::String(text))) if !text.is_empty() => {
                set.insert(std::borrow::Cow::Borrowed(text));
            }
            (Some(sub), Some(Value::Object(child))) => add_fields(set, child, sub),
            _ => {}
        }
    }
}

/// Every non-empty string at the trie's leaves (no stop at a miss: the script's plain `addValue` calls).
fn add_fields<'a>(set: &mut Set<'a>, node: &'a Map<'a>, trie: &Trie) {
    for (key, sub) in &trie.children {
        match (sub, get(node, key)) {
            (None, Some(Value::String(text))) if !text.is_empty() => {
                set.insert(std::borrow::Cow::Borrowed(text));
            }
            (Some(sub), Some(Value::Object(child))) => add_fields(set, child, sub),
            _ => {}
        }
    }
}

/// Test hooks.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    hooks::register(m)
}
