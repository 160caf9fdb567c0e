//! The entity script's TreeSet<String>: membership as `addValue` tests it, Java's order when written out.

use crate::jv::Value;
use rustc_hash::FxHashSet;
use std::borrow::Cow;
use std::cmp::Ordering;

/// Sets past this size switch from a scan to a hash set (a record can list thousands of resources).
const SCANNED: usize = 16;

/// A set of the record's strings (borrowed) and of the few texts made from other values (owned).
pub enum Set<'a> {
    Small(Vec<Cow<'a, str>>),
    Large(FxHashSet<Cow<'a, str>>),
}

impl<'a> Set<'a> {
    /// A set with room for `capacity` texts before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        Set::Small(Vec::with_capacity(capacity))
    }

    /// Adds a non-empty text; false when it was there already.
    pub fn insert(&mut self, text: Cow<'a, str>) -> bool {
        match self {
            Set::Small(items) => {
                if items.contains(&text) {
                    return false;
                }
                if items.len() < SCANNED {
                    items.push(text);
                    return true;
                }
                let mut large: FxHashSet<Cow<'a, str>> = items.drain(..).collect();
                large.insert(text);
                *self = Set::Large(large);
                true
            }
            Set::Large(items) => items.insert(text),
        }
    }

    /// `addValue`: only non-empty strings go in; false for anything else and for a value already there.
    pub fn add(&mut self, value: Option<&'a Value<'a>>) -> bool {
        match value {
            Some(Value::String(text)) if !text.is_empty() => self.insert(Cow::Borrowed(text)),
            _ => false,
        }
    }

    /// `addValues`: stops at the first value that is not added.
    pub fn add_values<I: IntoIterator<Item = Option<&'a Value<'a>>>>(&mut self, values: I) {
        for value in values {
            if !self.add(value) {
                return;
            }
        }
    }

    /// `forEach(f -> addValue(set, f))`: every value, no stop.
    pub fn add_all<I: IntoIterator<Item = Option<&'a Value<'a>>>>(&mut self, values: I) {
        for value in values {
            self.add(value);
        }
    }

    /// Adds every text of `other` (`related.addAll(target)`).
    pub fn extend(&mut self, other: &Set<'a>) {
        match other {
            Set::Small(items) => items.iter().for_each(|text| {
                self.insert(text.clone());
            }),
            Set::Large(items) => items.iter().for_each(|text| {
                self.insert(text.clone());
            }),
        }
    }

    /// The texts in TreeSet<String> order.
    pub fn into_sorted(self) -> Vec<Cow<'a, str>> {
        let mut items: Vec<Cow<'a, str>> = match self {
            Set::Small(items) => items,
            Set::Large(items) => items.into_iter().collect(),
        };
        // Byte order is Java's unless a text holds U+E000..U+FFFF (UTF-8 lead byte 0xEE or 0xEF) or a character
        // beyond U+FFFF (0xF0..): the check costs less than comparing character by character.
        if items.iter().any(|item| !item.is_ascii() && item.bytes().any(|b| b >= 0xEE)) {
            items.sort_unstable_by(|a, b| java_cmp(a, b));
        } else {
            items.sort_unstable();
        }
        items
    }
}

/// String.compareTo: UTF-16 code units. UTF-8 bytes sort as code points, which is the same order except
/// between a character above U+FFFF (a surrogate pair, 0xD800.. in UTF-16) and one in U+E000..U+FFFF.
pub fn java_cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let Some(at) = x.iter().zip(y).position(|(p, q)| p != q) else {
        return x.len().cmp(&y.len());
    };
    // The strings agree up to `at`, so the character holding that byte starts at the same place in both.
    let start = (0..=at).rev().find(|&i| a.is_char_boundary(i)).unwrap_or(0);
    match (a[start..].chars().next(), b[start..].chars().next()) {
        (Some(p), Some(q)) => utf16_rank(p).cmp(&utf16_rank(q)),
        _ => x[at].cmp(&y[at]),
    }
}

/// A character's place in UTF-16 order: U+E000..U+FFFF move above every surrogate pair.
fn utf16_rank(c: char) -> u32 {
    let c = c as u32;
    if (0xE000..=0xFFFF).contains(&c) {
        c + 0x11_0000
    } else {
        c
    }
}
