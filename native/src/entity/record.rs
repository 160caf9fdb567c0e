//! Lookups in the record and its objects without hashing: the script reads seven top-level members, found in
//! one pass over the record; the members of other objects are scanned (`jv` objects have no hash index).

use crate::jv::{Map, Value};

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
    object: &'a Map<'a>,
    tops: [Option<&'a Value<'a>>; TOPS],
}

impl<'a> Record<'a> {
    pub fn new(object: &'a Map<'a>) -> Self {
        let mut tops = [None; TOPS];
        for (key, value) in object {
            if let Some(at) = slot(key) {
                tops[at] = Some(value);
            }
        }
        Record { object, tops }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value<'a>> {
        match slot(key) {
            Some(at) => self.tops[at],
            None => get(self.object, key),
        }
    }

    /// `_at(record, path)`: the value at a path of member names, None where the path leaves the objects.
    pub fn at(&self, path: &[&str]) -> Option<&'a Value<'a>> {
        let (first, rest) = path.split_first()?;
        descend(self.get(first)?, rest)
    }

    /// `_items(record, path)`: the objects of a list field, ignoring anything that is not an object.
    pub fn items(&self, path: &[&str]) -> impl Iterator<Item = &'a Map<'a>> + Clone + 'a {
        list(self.at(path)).iter().filter_map(Value::as_object)
    }

    /// `_strings(record, path)`: the values of a list field, none when it is not a list.
    pub fn strings(&self, path: &[&str]) -> &'a [Value<'a>] {
        list(self.at(path))
    }
}

/// A member of an object.
pub fn get<'a>(object: &'a Map<'a>, key: &str) -> Option<&'a Value<'a>> {
    object.get(key)
}

/// The value at a path of member names within an object.
pub fn at<'a>(object: &'a Map<'a>, path: &[&str]) -> Option<&'a Value<'a>> {
    let (first, rest) = path.split_first()?;
    descend(get(object, first)?, rest)
}

/// The objects of a list field within an object.
pub fn items<'a>(object: &'a Map<'a>, path: &[&str]) -> impl Iterator<Item = &'a Map<'a>> + Clone + 'a {
    list(at(object, path)).iter().filter_map(Value::as_object)
}

fn descend<'a>(mut node: &'a Value<'a>, path: &[&str]) -> Option<&'a Value<'a>> {
    for key in path {
        node = get(node.as_object()?, key)?;
    }
    Some(node)
}

fn list<'a>(value: Option<&'a Value<'a>>) -> &'a [Value<'a>] {
    match value {
        Some(Value::Array(values)) => values,
        _ => &[],
    }
}
