//! Placeholder until branch `entity` lands: refuses everything.
#![allow(dead_code)]
use pyo3::prelude::*;
use serde_json::{Map, Value};

pub struct Entities {
    pub actor: Option<String>,
    pub targets: Vec<String>,
    pub related: Vec<String>,
}

pub fn entities(_record: &Map<String, Value>, _source: Option<&Value>, _name: &Value) -> Result<Entities, ()> {
    Err(())
}

pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
