//! Placeholder until branch `javamap` lands: refuses everything.
#![allow(dead_code)]
use pyo3::prelude::*;
use serde_json::Value;
use std::borrow::Cow;

pub const MAX_DEPTH: usize = 200;

pub fn render(_value: &Value) -> Result<(Option<String>, Option<Cow<'_, Value>>), ()> {
    Err(())
}

pub fn scalar(_value: &Value) -> Result<String, ()> {
    Err(())
}

pub fn java_length(text: &str) -> usize {
    text.encode_utf16().count()
}

pub fn iteration_order(keys: &[&str]) -> Vec<usize> {
    (0..keys.len()).collect()
}

pub fn clean(_value: &Value) -> Result<Option<Cow<'_, Value>>, ()> {
    Err(())
}

pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
