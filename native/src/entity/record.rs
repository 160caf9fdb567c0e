//! Lookups in the record and its objects without hashing: the script reads seven top-level members, found in
//! one pass over the record; objects of a few members are scanned (SipHash of a key costs more).

use serde_json::{Map, Value};

/// The top-level members every path of the script starts from (their slots in `Record::tops`).
const TOPS: usize = 7;

/// The slot of a top-level member. The names' lengths differ: one length test, then one comparison with a
/// constant, which the compiler makes a few word comparisons (no memcmp call for every member of the record).
fn slot(key: &str) -> Option<usize> {
    match key.len() {
        12 if key == "userIdentity" => Some(0),
        9 if key == "resources" => Some(1),
        17 if key == "requestParameters" => Some(2),
        16 if key == "responseElements" => Some(3),
        18 if key == "recipientAccountId" => Some(4),
        19 if key == "additionalEventData" => Some(5),
        14 if key == "sourceIdentity" => Some(6),
        _ => None,
    }
}

/// A CloudTrail record as the script reads it.
pub struct Record<'a> {
    object: &'a Map<String, Value>,
    tops: [Option<&'a Value>; TOPS],
}

impl<'a> Record<'a> {
    pub fn new(object: &'a Map<String, Value>) -> Self {
        let mut tops = [None; TOPS];
        for (key, value) in object {
            if let Some(at) = slot(key) {
                tops[at] = Some(value);
            }
        }
        Record { object, tops }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        match slot(key) {
            Some(at) => self.tops[at],
            None => get(self.object, key),
        }
    }

    /// `_at(record, path)`: the value at a path of member names, None where the path leaves the objects.
    pub fn at(&self, path: &[&str]) -> Option<&'a Value> {
        let (first, rest) = path.split_first()?;
        descend(self.get(first)?, rest)
    }

    /// `_items(record, path)`: the objects of a list field, ignoring anything that is not an object.
    pub fn items(&self, path: &[&str]) -> impl Iterator<Item = &'a Map<String, Value>> + Clone + 'a {
        list(self.at(path)).iter().filter_map(Value::as_object)
    }

    /// `_strings(record, path)`: the values of a list field, none when it is not a list.
    pub fn strings(&self, path: &[&str]) -> &'a [Value] {
        list(self.at(path))
    }
}

/// A member of an object.
pub fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if object.len() <= 16 {
        object.iter().find(|(k, _)| k.as_str() == key).map(|(_, value)| value)
    } else {
        object.get(key)
    }
}

/// The value at a path of member names within an object.
pub fn at<'a>(object: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    descend(get(object, first)?, rest)
}

/// The objects of a list field within an object.
pub fn items<'a>(
    object: &'a Map<String, Value>,
    path: &[&str],
) -> impl Iterator<Item = &'a Map<String, Value>> + Clone + 'a {
    list(at(object, path)).iter().filter_map(Value::as_object)
}

fn descend<'a>(mut node: &'a Value, path: &[&str]) -> Option<&'a Value> {
    for key in path {
        node = get(node.as_object()?, key)?;
    }
    Some(node)
}

fn list(value: Option<&Value>) -> &[Value] {
    match value {
        Some(Value::Array(values)) => values,
        _ => &[],
    }
}
