//! `parsers.cloudtrail_entity.entities` in Rust (work in progress: refuses every record for now).

use pyo3::prelude::*;
use serde_json::{Map, Value};

/// `actor.entity.id`, `target.entity.id` and `related.entity` of one CloudTrail record (targets and related
/// sorted as Java's TreeSet<String> sorts them; targets are also in related).
#[allow(dead_code)] // the CloudTrail writer (native/src/cloudtrail.rs) is to use it
pub struct Entities {
    pub actor: Option<String>,
    pub targets: Vec<String>,
    pub related: Vec<String>,
}

/// parsers.cloudtrail_entity.entities(record, source, name): `record` the CloudTrail record as parsed,
/// `source` record.get("eventSource"), `name` the eventName as parsers.cloudtrail._document passes it.
/// Err(()) for anything not covered (the record then takes the Python path).
#[allow(clippy::result_unit_err, dead_code)]
pub fn entities(_record: &Map<String, Value>, _source: Option<&Value>, _name: &Value) -> Result<Entities, ()> {
    Err(())
}

/// Test hooks.
pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
