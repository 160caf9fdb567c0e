//! Placeholder until branch `javamap` lands: refuses everything.
#![allow(dead_code)]
use serde_json::Value;

pub fn refused(_value: &Value, _field: &str, _rendered: Option<&str>) -> bool {
    true
}
