//! `parsers.flattened.refusal`'s verdict: whether a cluster would refuse a value as a `flattened` field (a key
//! holding `\0`, an object nested deeper than DEPTH_LIMIT, a key path and leaf together over Lucene's term
//! limit). Only the verdict: the reason's text is the Python path's to write.

use crate::jv::{Number, Value};
use crate::value_json::{Shortest, Text};

const TERM_LIMIT: usize = 32766; // Lucene's IndexWriter.MAX_TERM_LENGTH, in UTF-8 bytes
const DEPTH_LIMIT: usize = 200; // the flattened mappings' depth_limit

/// parsers.flattened.refusal(value, field, rendered) is not None
pub fn refused(value: &Value<'_>, field: &str, rendered: Option<&str>) -> bool {
    let prefix = field.len() + 2; // OpenSearch's "field." before the path and "=" after it
    if let Some(rendered) = rendered {
        // Python counts characters; bytes are at least as many, so the byte count alone settles most texts.
        let short = prefix + 8 * rendered.len() <= TERM_LIMIT || prefix + 8 * rendered.chars().count() <= TERM_LIMIT;
        if short && !rendered.as_bytes().contains(&0) {
            return false;
        }
    }
    // (node, the UTF-8 size of its key path, the objects it is in + 1): the verdict does not depend on the order.
    let mut stack: Vec<(&Value<'_>, usize, usize)> = vec![(value, 0, 1)];
    while let Some((node, path, depth)) = stack.pop() {
        let leaf = match node {
            Value::Object(map) => {
                if depth > DEPTH_LIMIT {
                    return true;
                }
                for (key, child) in map {
                    if key.as_bytes().contains(&0) {
                        return true;
                    }
                    // Python joins with "." only after a non-empty path (an empty first key adds nothing).
                    stack.push((child, if path > 0 { path + 1 + key.len() } else { key.len() }, depth + 1));
                }
                continue;
            }
            Value::Array(items) => {
                stack.extend(items.iter().map(|item| (item, path, depth))); // arrays add no level
                continue;
            }
            Value::Null => continue,
            Value::Bool(true) => 4,
            Value::Bool(false) => 5,
            Value::String(s) => s.len(),
            Value::Number(n) => number_size(n),
        };
        if prefix + path + leaf > TERM_LIMIT {
            return true;
        }
    }
    false
}

/// The length of Python's `str()` of a number (ASCII: bytes are characters).
fn number_size(n: &Number) -> usize {
    if let Some(u) = n.as_u64() {
        return itoa::Buffer::new().format(u).len();
    }
    if let Some(i) = n.as_i64() {
        return itoa::Buffer::new().format(i).len();
    }
    let Some(f) = n.as_f64() else { return 0 };
    // Any float's: `refused` is asked about values the record's other renderings took, whose floats are covered.
    match Shortest::any(f) {
        Ok(digits) => {
            // Python's repr: positional from 1e-4 to below 1e16, else `1.5e+16`, `1e-05`.
            let mut text = Text::new();
            if (-4..16).contains(&digits.point) {
                digits.positional(&mut text);
            } else {
                digits.scientific(&mut text, b'e', "+", 2);
            }
            text.as_str().len()
        }
        Err(()) => 3, // inf, nan: serde_json reads no such number
    }
}
