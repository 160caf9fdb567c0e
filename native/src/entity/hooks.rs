//! Test hooks: the Rust entities of a record as JSON text, for tests/unit/native/test_entity_native.py.
#![allow(clippy::useless_conversion)] // pyo3 0.22's expansion of a #[pyfunction] returning PyResult

use super::entities;
use crate::jv::Value;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Whether Elastic's clean-up leaves nothing of a value (null, "", containers of such).
fn cleaned_away(value: &Value<'_>) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(values) => values.iter().all(cleaned_away),
        Value::Object(members) => members.values().all(cleaned_away),
        _ => false,
    }
}

type Found = (Option<String>, Vec<String>, Vec<String>);

/// Test hook: `entities` of a record (JSON text) with eventSource and eventName taken as
/// parsers.cloudtrail._document takes them; None when the entity script would not run or Rust refuses.
#[pyfunction]
fn _entities(record_json: &str) -> PyResult<Option<Found>> {
    let record: serde_json::Value =
        serde_json::from_str(record_json).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let record = crate::jv::from_serde(&record);
    let Value::Object(record) = record else {
        return Err(PyValueError::new_err("not a JSON object"));
    };
    let name = record.get("eventName").unwrap_or(&Value::Null);
    if cleaned_away(name) {
        return Ok(None);
    }
    let owned = |texts: Vec<std::borrow::Cow<str>>| texts.into_iter().map(|text| text.into_owned()).collect();
    Ok(entities(&record, record.get("eventSource"), name)
        .ok()
        .map(|found| (found.actor.map(str::to_string), owned(found.targets), owned(found.related))))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_entities, m)?)
}
