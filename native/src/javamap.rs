//! `parsers.enrich.javamap` (Java's `toString()` of decoded JSON, in `java.util.HashMap` order) and
//! `parsers.cloudtrail._clean` (Elastic's drop of null, "" and emptied members at every level), over
//! `jv` values.
//!
//! Anything whose rendering is not proven equal to the Python reference's is refused (Err): the record then
//! takes the Python path. Refused: values nested deeper than MAX_DEPTH, and the floats `value_json::Shortest` does
//! not cover.

use crate::jv::{self, Map, Number, Value};
use crate::value_json::{Shortest, Text};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::borrow::Cow;

pub const MAX_DEPTH: usize = 200;

/// Keys a HashMap bucket takes before one more turns it into a tree (TREEIFY_THRESHOLD) ...
const TREEIFY_AT: u32 = 8;
/// ... unless the table is smaller than this: then it doubles instead (MIN_TREEIFY_CAPACITY).
const MIN_TREE_CAPACITY: u32 = 64;
/// Objects of up to this many keys are ordered on the stack: nearly all of CloudTrail's.
const SMALL: usize = 16;

static NULL: Value<'static> = Value::Null;

/// parsers.enrich.javamap.render: (Java toString text, the value without its null, "" and emptied members);
/// (None, None) when nothing is left. Err(()) for anything not covered here (the record then takes the Python
/// path) and for values nested deeper than MAX_DEPTH (Python raises TooDeep; the Python path reports it).
pub fn render<'a>(value: &'a Value<'a>) -> Result<(Option<String>, Option<Cow<'a, Value<'a>>>), ()> {
    match value {
        Value::Null => Ok((None, None)),
        Value::String(s) if s.is_empty() => Ok((None, None)),
        Value::String(s) => Ok((Some(s.to_string()), Some(Cow::Borrowed(value)))),
        Value::Bool(_) | Value::Number(_) => {
            let mut text = String::new();
            scalar_into(&mut text, value)?;
            Ok((Some(text), Some(Cow::Borrowed(value))))
        }
        Value::Array(_) | Value::Object(_) => {
            let mut text = String::with_capacity(256);
            Ok(match render_into(&mut text, value, 0)? {
                Some(cleaned) => (Some(text), Some(cleaned)),
                None => (None, None),
            })
        }
    }
}

/// parsers.enrich.javamap.scalar (a non-null value as a mustache template / Java concatenation prints it).
pub fn scalar(value: &Value<'_>) -> Result<String, ()> {
    match value {
        Value::String(s) => Ok(s.to_string()),
        _ => Ok(render(value)?.0.unwrap_or_default()),
    }
}

/// parsers.enrich.javamap.java_length: UTF-16 code units.
pub fn java_length(text: &str) -> usize {
    if text.is_ascii() {
        return text.len();
    }
    // Every character but the first byte of a 4-byte one (outside the BMP: two units) is one unit.
    text.bytes().filter(|&b| !(0x80..0xC0).contains(&b)).count() + text.bytes().filter(|&b| b >= 0xF0).count()
}

/// parsers.enrich.javamap.iteration_order: indexes of the (distinct) keys in java.util.HashMap iteration order.
pub fn iteration_order(keys: &[&str]) -> Vec<usize> {
    let hashes: Vec<u32> = keys.iter().map(|k| spread_hash(k)).collect();
    let mask = capacity(&hashes) - 1;
    let mut order: Vec<(u32, u32)> = hashes.iter().zip(0..).map(|(h, i)| (h & mask, i)).collect();
    order.sort_unstable(); // by bucket, then by insertion: a stable sort by bucket
    order.into_iter().map(|(_, i)| i as usize).collect()
}

/// parsers.cloudtrail._clean: Ok(None) when nothing is left, the value itself (Borrowed) when nothing had to go;
/// Err(()) deeper than MAX_DEPTH.
pub fn clean<'a>(value: &'a Value<'a>) -> Result<Option<Cow<'a, Value<'a>>>, ()> {
    clean_at(value, 0)
}

fn clean_at<'a>(value: &'a Value<'a>, depth: usize) -> Result<Option<Cow<'a, Value<'a>>>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(Some(Cow::Borrowed(value))),
        Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => Err(()),
        Value::Array(items) => {
            let mut out: Option<Vec<Value<'a>>> = None;
            for (i, item) in items.iter().enumerate() {
                match (clean_at(item, depth + 1)?, &mut out) {
                    (Some(Cow::Borrowed(_)), None) => {}
                    (Some(kept), Some(out)) => out.push(kept.into_owned()),
                    (cleaned, out @ None) => {
                        let mut copy = items[..i].to_vec();
                        copy.extend(cleaned.map(Cow::into_owned));
                        *out = Some(copy);
                    }
                    (None, Some(_)) => {}
                }
            }
            Ok(match out {
                None if items.is_empty() => None,
                None => Some(Cow::Borrowed(value)),
                Some(out) if out.is_empty() => None,
                Some(out) => Some(Cow::Owned(Value::Array(out))),
            })
        }
        Value::Object(map) => {
            let mut out: Option<Map<'a>> = None;
            for (i, (key, item)) in map.iter().enumerate() {
                match (clean_at(item, depth + 1)?, &mut out) {
                    (Some(Cow::Borrowed(_)), None) => {}
                    (Some(kept), Some(out)) => {
                        out.insert(key.clone(), kept.into_owned());
                    }
                    (cleaned, out @ None) => {
                        let mut copy: Map<'a> = map.iter().take(i).map(|(k, v)| (k.clone(), v.clone())).collect();
                        if let Some(cleaned) = cleaned {
                            copy.insert(key.clone(), cleaned.into_owned());
                        }
                        *out = Some(copy);
                    }
                    (None, Some(_)) => {}
                }
            }
            Ok(match out {
                None if map.is_empty() => None,
                None => Some(Cow::Borrowed(value)),
                Some(out) if out.is_empty() => None,
                Some(out) => Some(Cow::Owned(Value::Object(out))),
            })
        }
    }
}

/// Appends the text of a bool or number (Long.toString, Double.toString).
fn scalar_into(out: &mut String, value: &Value<'_>) -> Result<(), ()> {
    match value {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number_into(out, n)?,
        _ => return Err(()),
    }
    Ok(())
}

fn number_into(out: &mut String, n: &Number) -> Result<(), ()> {
    if let Some(u) = n.as_u64() {
        out.push_str(itoa::Buffer::new().format(u));
    } else if let Some(i) = n.as_i64() {
        out.push_str(itoa::Buffer::new().format(i));
    } else {
        java_double(out, n.as_f64().ok_or(())?)?;
    }
    Ok(())
}

/// Appends the text of a container and returns its cleaned value; None (and `out` as it was) when nothing is
/// left of it. `depth`: the container's own (the top one's is 0).
fn render_into<'a>(out: &mut String, value: &'a Value<'a>, depth: usize) -> Result<Option<Cow<'a, Value<'a>>>, ()> {
    match value {
        Value::Object(_) | Value::Array(_) if depth >= MAX_DEPTH => Err(()),
        Value::Object(map) if map.is_empty() => Ok(None),
        Value::Object(map) => render_map(out, value, map, depth + 1),
        Value::Array(items) if items.is_empty() => Ok(None),
        Value::Array(items) => render_list(out, value, items, depth + 1),
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => {
            out.push_str(s);
            Ok(Some(Cow::Borrowed(value)))
        }
        Value::Bool(_) | Value::Number(_) => {
            scalar_into(out, value)?;
            Ok(Some(Cow::Borrowed(value)))
        }
    }
}

type Entry<'a> = (&'a str, &'a Value<'a>);

/// What became of a member that had to change: its cleaned value, or None when it goes.
type Change<'a> = (usize, Option<Cow<'a, Value<'a>>>);

fn render_map<'a>(
    out: &mut String,
    value: &'a Value<'a>,
    map: &'a Map<'a>,
    depth: usize,
) -> Result<Option<Cow<'a, Value<'a>>>, ()> {
    let n = map.len();
    let mut small_entries = [("", &NULL); SMALL];
    let mut small_order = [(0u32, 0u32); SMALL];
    let (mut big_entries, mut big_order);
    let (entries, order): (&mut [Entry<'a>], &mut [(u32, u32)]) = if n <= SMALL {
        (&mut small_entries[..n], &mut small_order[..n])
    } else {
        big_entries = vec![("", &NULL); n];
        big_order = vec![(0u32, 0u32); n];
        (&mut big_entries, &mut big_order)
    };
    for ((slot, place), ((key, item), i)) in entries.iter_mut().zip(order.iter_mut()).zip(map.iter().zip(0..)) {
        *slot = (key.as_ref(), item);
        *place = (spread_hash(key), i);
    }
    hash_order(order);

    let start = out.len();
    out.push('{');
    let mut parts = 0usize;
    let mut changes: Vec<Change<'a>> = Vec::new();
    for &(_, i) in order.iter() {
        let (key, item) = entries[i as usize];
        let member = out.len();
        if parts > 0 {
            out.push_str(", ");
        }
        out.push_str(key);
        out.push('=');
        match render_into(out, item, depth)? {
            Some(Cow::Borrowed(_)) => parts += 1,
            Some(cleaned) => {
                parts += 1;
                changes.push((i as usize, Some(cleaned)));
            }
            None => {
                out.truncate(member);
                changes.push((i as usize, None));
            }
        }
    }
    if parts == 0 {
        out.truncate(start);
        return Ok(None);
    }
    out.push('}');
    if changes.is_empty() {
        return Ok(Some(Cow::Borrowed(value)));
    }
    // The copy keeps the JSON's key order.
    changes.sort_unstable_by_key(|&(i, _)| i);
    let mut changes = changes.into_iter().peekable();
    let mut copy = Map::with_capacity(n);
    for (i, &(key, item)) in entries.iter().enumerate() {
        match changes.next_if(|&(at, _)| at == i) {
            Some((_, Some(cleaned))) => {
                copy.insert(Cow::Borrowed(key), cleaned.into_owned());
            }
            Some((_, None)) => {}
            None => {
                copy.insert(Cow::Borrowed(key), item.clone());
            }
        }
    }
    Ok(Some(Cow::Owned(Value::Object(copy))))
}

fn render_list<'a>(
    out: &mut String,
    value: &'a Value<'a>,
    items: &'a [Value<'a>],
    depth: usize,
) -> Result<Option<Cow<'a, Value<'a>>>, ()> {
    let start = out.len();
    out.push('[');
    let mut kept: Option<Vec<Value<'a>>> = None; // the cleaned items, once one of them changed
    let mut parts = 0usize;
    for (i, item) in items.iter().enumerate() {
        let member = out.len();
        if parts > 0 {
            out.push_str(", ");
        }
        match (render_into(out, item, depth)?, &mut kept) {
            (Some(Cow::Borrowed(_)), None) => parts += 1,
            (Some(cleaned), Some(kept)) => {
                parts += 1;
                kept.push(cleaned.into_owned());
            }
            (cleaned, kept @ None) => {
                let mut copy = items[..i].to_vec();
                if let Some(cleaned) = cleaned {
                    parts += 1;
                    copy.push(cleaned.into_owned());
                } else {
                    out.truncate(member);
                }
                *kept = Some(copy);
            }
            (None, Some(_)) => out.truncate(member),
        }
    }
    if parts == 0 {
        out.truncate(start);
        return Ok(None);
    }
    out.push(']');
    Ok(Some(match kept {
        None => Cow::Borrowed(value),
        Some(kept) => Cow::Owned(Value::Array(kept)),
    }))
}

/// HashMap.hash(key): String.hashCode() (over UTF-16 code units) with its high half folded into the low half.
fn spread_hash(key: &str) -> u32 {
    let bytes = key.as_bytes();
    let h = if bytes.is_ascii() {
        bytes.iter().fold(0u32, |h, &b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
    } else {
        key.encode_utf16().fold(0u32, |h, unit| h.wrapping_mul(31).wrapping_add(u32::from(unit)))
    };
    h ^ (h >> 16)
}

/// Sorts `(spread hash, insertion index)` pairs into iteration order, leaving `(bucket, index)` pairs.
fn hash_order(order: &mut [(u32, u32)]) {
    let mask = if order.len() <= TREEIFY_AT as usize {
        15 // too few keys to pass the threshold (12) or fill a bucket to nine
    } else {
        let hashes: Vec<u32> = order.iter().map(|&(h, _)| h).collect();
        capacity(&hashes) - 1
    };
    for place in order.iter_mut() {
        place.0 &= mask;
    }
    order.sort_unstable(); // by bucket, then by insertion: a stable sort by bucket
}

/// The table size a default-constructed HashMap reaches after putting these (distinct) keys in order.
fn capacity(hashes: &[u32]) -> u32 {
    let mut capacity: u32 = 16;
    if hashes.len() <= TREEIFY_AT as usize {
        return capacity;
    }
    let mut in_bucket = vec![0u32; capacity as usize];
    for (size, &h) in (1..).zip(hashes) {
        let bucket = &mut in_bucket[(h & (capacity - 1)) as usize];
        let already = *bucket;
        *bucket += 1;
        let mut grow = already >= TREEIFY_AT && capacity < MIN_TREE_CAPACITY;
        if grow {
            capacity *= 2;
        }
        if size > capacity / 4 * 3 {
            capacity *= 2;
            grow = true;
        }
        if grow {
            in_bucket.clear();
            in_bucket.resize(capacity as usize, 0);
            for &earlier in &hashes[..size as usize] {
                in_bucket[(earlier & (capacity - 1)) as usize] += 1;
            }
        }
    }
    capacity
}

/// Parses a test hook's JSON, wrapped in `wrap`'s containers (outermost first: `o` an object `{"k": ..}`, `l` a
/// list): serde_json reads no more than 128 levels, and MAX_DEPTH is deeper.
pub(crate) fn parse_wrapped(json_text: &str, wrap: &str) -> Option<Value<'static>> {
    let mut value = jv::from_serde_owned(serde_json::from_str(json_text).ok()?);
    for kind in wrap.chars().rev() {
        value = match kind {
            'o' => Value::Object(Map::from_iter([(Cow::Borrowed("k"), value)])),
            'l' => Value::Array(vec![value]),
            _ => return None,
        };
    }
    Some(value)
}

fn json_bytes<'py>(py: Python<'py>, value: &Value<'_>) -> Option<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    crate::value_json::write(&mut out, value).ok()?;
    Some(PyBytes::new_bound(py, &out))
}

type Rendered<'py> = (Option<String>, Option<Bound<'py, PyBytes>>, bool);

/// `(text, the cleaned value as value_json bytes, whether it is the value itself)`, None when refused.
#[pyfunction]
#[pyo3(signature = (json_text, wrap=""))]
fn _javamap_render<'py>(py: Python<'py>, json_text: &str, wrap: &str) -> Option<Rendered<'py>> {
    let value = parse_wrapped(json_text, wrap)?;
    let (text, cleaned) = render(&value).ok()?;
    let borrowed = matches!(cleaned, Some(Cow::Borrowed(_)));
    let bytes = match &cleaned {
        Some(cleaned) => Some(json_bytes(py, cleaned)?),
        None => None,
    };
    Some((text, bytes, borrowed))
}

/// `(the cleaned value as value_json bytes or None, whether it is the value itself)`, None when refused.
#[pyfunction]
#[pyo3(signature = (json_text, wrap=""))]
fn _javamap_clean<'py>(py: Python<'py>, json_text: &str, wrap: &str) -> Option<(Option<Bound<'py, PyBytes>>, bool)> {
    let value = parse_wrapped(json_text, wrap)?;
    let cleaned = clean(&value).ok()?;
    let borrowed = matches!(cleaned, Some(Cow::Borrowed(_)));
    let bytes = match &cleaned {
        Some(cleaned) => Some(json_bytes(py, cleaned)?),
        None => None,
    };
    Some((bytes, borrowed))
}

#[pyfunction]
fn _javamap_scalar(json_text: &str) -> Option<String> {
    scalar(&jv::from_serde_owned(serde_json::from_str(json_text).ok()?)).ok()
}

#[pyfunction]
fn _javamap_java_length(text: &str) -> usize {
    java_length(text)
}

#[pyfunction]
fn _javamap_iteration_order(keys: Vec<String>) -> Vec<usize> {
    iteration_order(&keys.iter().map(String::as_str).collect::<Vec<_>>())
}

#[pyfunction]
#[pyo3(signature = (json_text, field, rendered, wrap=""))]
fn _flattened_refused(json_text: &str, field: &str, rendered: Option<&str>, wrap: &str) -> Option<bool> {
    Some(crate::flattened::refused(&parse_wrapped(json_text, wrap)?, field, rendered))
}

#[pyfunction]
#[pyo3(signature = (json_text, wrap=""))]
fn _value_json<'py>(py: Python<'py>, json_text: &str, wrap: &str) -> Option<Bound<'py, PyBytes>> {
    json_bytes(py, &parse_wrapped(json_text, wrap)?)
}

#[pyfunction]
fn _value_json_floats_covered() -> bool {
    crate::value_json::floats_covered()
}

/// The test hooks of javamap, flattened and value_json (names with `_`: they are no API).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_javamap_render, m)?)?;
    m.add_function(wrap_pyfunction!(_javamap_clean, m)?)?;
    m.add_function(wrap_pyfunction!(_javamap_scalar, m)?)?;
    m.add_function(wrap_pyfunction!(_javamap_java_length, m)?)?;
    m.add_function(wrap_pyfunction!(_javamap_iteration_order, m)?)?;
    m.add_function(wrap_pyfunction!(_flattened_refused, m)?)?;
    m.add_function(wrap_pyfunction!(_value_json, m)?)?;
    m.add_function(wrap_pyfunction!(_value_json_floats_covered, m)?)?;
    Ok(())
}

/// Double.toString as parsers.enrich.javamap.java_double writes it: Python's repr from 1e-3 to below 1e7,
/// else `d.dddE<exponent>`.
fn java_double(out: &mut String, f: f64) -> Result<(), ()> {
    let digits = Shortest::of(f)?;
    let magnitude = f.abs();
    let mut text = Text::new();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        digits.positional(&mut text);
    } else if digits.digits().len() == 1 && magnitude < f64::MIN_POSITIVE {
        // Java writes two digits, and for the smallest subnormals not `d.0` (Double.MIN_VALUE is 4.9E-324):
        // the reference works them out from the exact binary value; not done here.
        return Err(());
    } else {
        digits.scientific(&mut text, b'E', "", 1);
    }
    out.push_str(text.as_str());
    Ok(())
}
