//! A JSON value that borrows its strings from the text it was read from, and the reader that makes it.
//!
//! The CloudTrail writer reads each record once and renders parts of it several ways; `serde_json::Value`
//! owned a copy of every string and gave every object a hash index (SipHash of each key), which cost more
//! than all the rendering. Here objects are their members in order (a few each: a scan finds a key faster
//! than a hash would), strings without escapes are slices of the text, and the reader is written for what
//! the writer covers: it refuses floats (orjson and Java render them their own ways; an integer beyond 64
//! bits reads as one in serde_json) and anything serde_json refuses.
//!
//! It reads what `serde_json::from_str` reads, the same way: an object's repeated key keeps its first place and
//! takes its last value (serde_json's `preserve_order`, orjson's dicts); at most 127 levels of nesting.

use crate::json;
use crate::scan;
use rustc_hash::FxHashMap;
pub use serde_json::Number;
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Map<'a>),
}

impl<'a> Value<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    pub fn as_object(&self) -> Option<&Map<'a>> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }
}

/// An object's members in their order, each key once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map<'a> {
    members: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl<'a> Map<'a> {
    pub const fn new() -> Self {
        Map { members: Vec::new() }
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Map { members: Vec::with_capacity(capacity) }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, value)| value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Cow<'a, str>, &Value<'a>)> {
        self.members.iter().map(|(key, value)| (key, value))
    }

    pub fn values(&self) -> impl Iterator<Item = &Value<'a>> {
        self.members.iter().map(|(_, value)| value)
    }

    /// `dict[key] = value`: a present key keeps its place.
    pub fn insert(&mut self, key: Cow<'a, str>, value: Value<'a>) {
        match self.members.iter_mut().find(|(k, _)| *k == key) {
            Some(member) => member.1 = value,
            None => self.members.push((key, value)),
        }
    }

    /// `dict.pop(key)`: the others keep their order.
    pub fn shift_remove(&mut self, key: &str) -> Option<Value<'a>> {
        let at = self.members.iter().position(|(k, _)| k == key)?;
        Some(self.members.remove(at).1)
    }

    /// The members, a repeated key in its first place with its last value.
    fn of(mut members: Vec<(Cow<'a, str>, Value<'a>)>) -> Self {
        if members.len() > 1 && has_repeats(&members) {
            let mut kept: Vec<(Cow<'a, str>, Value<'a>)> = Vec::with_capacity(members.len());
            let mut places: FxHashMap<Cow<'a, str>, usize> = FxHashMap::default();
            for (key, value) in members.drain(..) {
                match places.get(&key) {
                    Some(&at) => kept[at].1 = value,
                    None => {
                        places.insert(key.clone(), kept.len());
                        kept.push((key, value));
                    }
                }
            }
            members = kept;
        }
        Map { members }
    }
}

/// Whether a key appears twice: a scan for a few members, a hash set for more.
fn has_repeats(members: &[(Cow<str>, Value)]) -> bool {
    if members.len() <= 32 {
        // Keys of different lengths differ: only a key whose length an earlier key had is looked for among them.
        let mut lengths: u64 = 0;
        for (i, (key, _)) in members.iter().enumerate() {
            let bit = 1u64 << (key.len() % 64);
            if lengths & bit != 0 && members[..i].iter().any(|(k, _)| k == key) {
                return true;
            }
            lengths |= bit;
        }
        return false;
    }
    let mut seen = rustc_hash::FxHashSet::default();
    !members.iter().all(|(key, _)| seen.insert(key.as_ref()))
}

impl<'a> FromIterator<(Cow<'a, str>, Value<'a>)> for Map<'a> {
    fn from_iter<I: IntoIterator<Item = (Cow<'a, str>, Value<'a>)>>(members: I) -> Self {
        Map::of(members.into_iter().collect())
    }
}

impl<'m, 'a> IntoIterator for &'m Map<'a> {
    type Item = (&'m Cow<'a, str>, &'m Value<'a>);
    type IntoIter = std::iter::Map<std::slice::Iter<'m, (Cow<'a, str>, Value<'a>)>, Member<'m, 'a>>;

    fn into_iter(self) -> Self::IntoIter {
        self.members.iter().map(|(key, value)| (key, value))
    }
}

type Member<'m, 'a> = fn(&'m (Cow<'a, str>, Value<'a>)) -> (&'m Cow<'a, str>, &'m Value<'a>);

/// A serde_json value as one of these (the test hooks read their JSON with serde_json, floats included).
pub fn from_serde(value: &serde_json::Value) -> Value<'_> {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Number(n.clone()),
        serde_json::Value::String(s) => Value::String(Cow::Borrowed(s)),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(from_serde).collect()),
        serde_json::Value::Object(map) => Value::Object(Map {
            members: map.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), from_serde(v))).collect(),
        }),
    }
}

/// A serde_json value as one of these, owning its strings.
pub fn from_serde_owned(value: serde_json::Value) -> Value<'static> {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Number(n),
        serde_json::Value::String(s) => Value::String(Cow::Owned(s)),
        serde_json::Value::Array(items) => Value::Array(items.into_iter().map(from_serde_owned).collect()),
        serde_json::Value::Object(map) => {
            Value::Object(Map { members: map.into_iter().map(|(k, v)| (Cow::Owned(k), from_serde_owned(v))).collect() })
        }
    }
}

/// Why a text was not read.
#[derive(Debug, PartialEq)]
pub enum Unread {
    /// Not JSON, a float, too deep: the record is refused.
    Refused,
    /// (`nested` only) an escape of the outer string this reader does not follow: unescape it, then `parse` it.
    Unescape,
}

/// The value of a JSON text, or Err(Unread::Refused).
pub fn parse(text: &str) -> Result<Value<'_>, Unread> {
    Reader::<false>::new(text).document()
}

/// The value of a JSON text that is itself the content of a JSON string, as it stands between that string's
/// quotes (escapes and all): CloudWatch Logs carries each CloudTrail record so. Read in one pass, without
/// unescaping it first, and strings without escapes of their own borrowed from it.
pub fn parse_nested(raw: &str) -> Result<Value<'_>, Unread> {
    Reader::<true>::new(raw).document()
}

/// serde_json's limit: the 128th level of nesting is refused.
const MAX_DEPTH: usize = 127;

/// `NESTED`: the text is a JSON string's escaped content; its `\"` is a quote, `\\` a backslash, and `\n`, `\r`,
/// `\t` are whitespace between tokens.
pub(crate) struct Reader<'a, const NESTED: bool> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    members: Vec<(Cow<'a, str>, Value<'a>)>, // objects' members being read, all levels on one stack
    items: Vec<Value<'a>>,                   // arrays' items, likewise
}

impl<'a, const NESTED: bool> Reader<'a, NESTED> {
    pub(crate) fn new(text: &'a str) -> Self {
        Reader { text, bytes: text.as_bytes(), at: 0, members: Vec::with_capacity(32), items: Vec::new() }
    }

    fn document(mut self) -> Result<Value<'a>, Unread> {
        let value = self.value(0)?;
        self.blank()?;
        if self.at != self.bytes.len() {
            return Err(self.unexpected());
        }
        Ok(value)
    }

    /// What an unexpected byte at `at` means: nested, an escape this does not follow may be anything.
    fn unexpected(&self) -> Unread {
        if NESTED && self.bytes.get(self.at) == Some(&b'\\') {
            Unread::Unescape
        } else {
            Unread::Refused
        }
    }

    /// Skips whitespace.
    pub(crate) fn blank(&mut self) -> Result<(), Unread> {
        loop {
            match self.bytes.get(self.at) {
                Some(b' ') => self.at += 1,
                Some(b'\n' | b'\r' | b'\t') if !NESTED => self.at += 1,
                Some(b'\\') if NESTED && matches!(self.bytes.get(self.at + 1), Some(b'n' | b'r' | b't')) => {
                    self.at += 2
                }
                _ => return Ok(()),
            }
        }
    }

    /// Whether a quote starts at `at`; moves past it.
    pub(crate) fn quote(&mut self) -> bool {
        if NESTED {
            if self.bytes.get(self.at) == Some(&b'\\') && self.bytes.get(self.at + 1) == Some(&b'"') {
                self.at += 2;
                return true;
            }
        } else if self.bytes.get(self.at) == Some(&b'"') {
            self.at += 1;
            return true;
        }
        false
    }

    pub(crate) fn value(&mut self, depth: usize) -> Result<Value<'a>, Unread> {
        self.blank()?;
        let Some(&first) = self.bytes.get(self.at) else { return Err(Unread::Refused) };
        match first {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ if self.quote() => Ok(Value::String(self.string()?)),
            _ => Err(self.unexpected()),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value<'a>) -> Result<Value<'a>, Unread> {
        if !self.bytes[self.at..].starts_with(word) {
            return Err(Unread::Refused);
        }
        self.at += word.len();
        Ok(value)
    }

    /// An integer as serde_json reads it; Refused for what it reads as a float (a fraction, an exponent, `-0`,
    /// beyond i64/u64) and for what it refuses (a leading zero).
    pub(crate) fn number(&mut self) -> Result<Value<'a>, Unread> {
        let negative = self.bytes[self.at] == b'-';
        if negative {
            self.at += 1;
        }
        let start = self.at;
        let mut magnitude: u64 = 0;
        while let Some(&b) = self.bytes.get(self.at) {
            if !b.is_ascii_digit() {
                break;
            }
            magnitude =
                magnitude.checked_mul(10).and_then(|m| m.checked_add(u64::from(b - b'0'))).ok_or(Unread::Refused)?;
            self.at += 1;
        }
        let digits = self.at - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            return Err(Unread::Refused);
        }
        if matches!(self.bytes.get(self.at), Some(b'.' | b'e' | b'E')) {
            return Err(Unread::Refused);
        }
        if !negative {
            return Ok(Value::Number(magnitude.into()));
        }
        match magnitude {
            0 => Err(Unread::Refused),
            m if m <= 1 << 63 => Ok(Value::Number((m as i64).wrapping_neg().into())),
            _ => Err(Unread::Refused),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, Unread> {
        if depth > MAX_DEPTH {
            return Err(Unread::Refused);
        }
        self.at += 1;
        self.blank()?;
        let start = self.members.len();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Value::Object(Map::new()));
        }
        loop {
            self.blank()?;
            if !self.quote() {
                return Err(self.unexpected());
            }
            let key = self.string()?;
            self.blank()?;
            if self.bytes.get(self.at) != Some(&b':') {
                return Err(self.unexpected());
            }
            self.at += 1;
            let value = self.value(depth)?;
            self.members.push((key, value));
            self.blank()?;
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(self.unexpected()),
            }
        }
        Ok(Value::Object(Map::of(self.members.drain(start..).collect())))
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, Unread> {
        if depth > MAX_DEPTH {
            return Err(Unread::Refused);
        }
        self.at += 1;
        self.blank()?;
        if self.bytes.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Value::Array(Vec::new()));
        }
        let start = self.items.len();
        loop {
            let item = self.value(depth)?;
            self.items.push(item);
            self.blank()?;
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(self.unexpected()),
            }
        }
        Ok(Value::Array(self.items.drain(start..).collect()))
    }

    /// A string's value, `at` just past its opening quote; moves past its closing quote.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, Unread> {
        let start = self.at;
        let rest = &self.bytes[start..];
        let end = if NESTED { scan::find(rest, b'\\') } else { json::first_escaped(rest) };
        let Some(end) = end.map(|end| start + end) else { return Err(Unread::Refused) };
        let closing = if NESTED { self.bytes.get(end + 1) == Some(&b'"') } else { self.bytes[end] == b'"' };
        if closing {
            self.at = end + if NESTED { 2 } else { 1 };
            return Ok(Cow::Borrowed(&self.text[start..end]));
        }
        if NESTED {
            self.nested_escapes(start)
        } else {
            self.escapes(start).map(Cow::Owned)
        }
    }

    /// Whether the next byte is `byte`; moves past it.
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes.get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    pub(crate) fn at_end(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// A string's content as it is written (escapes and all) and whether it has escapes, `at` just past its opening
    /// quote; moves past its closing quote. Refused where serde_json refuses the string (a control character, an
    /// escape JSON has not); lone surrogates are for whoever unescapes it.
    pub(crate) fn raw_string(&mut self) -> Result<(&'a str, bool), Unread> {
        let start = self.at;
        let mut at = start;
        let mut escaped = false;
        loop {
            at += json::first_escaped(&self.bytes[at..]).ok_or(Unread::Refused)?;
            match self.bytes[at] {
                b'"' => break,
                b'\\' => escaped = true,
                _ => return Err(Unread::Refused),
            }
            match self.bytes.get(at + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at += 2,
                Some(b'u') => {
                    hex4(self.bytes.get(at + 2..at + 6))?;
                    at += 6;
                }
                _ => return Err(Unread::Refused),
            }
        }
        self.at = at + 1;
        Ok((&self.text[start..at], escaped))
    }

    /// A string with escapes, from its content's start; moves past its closing quote.
    fn escapes(&mut self, start: usize) -> Result<String, Unread> {
        let (text, length) = unescape(&self.bytes[start..])?;
        self.at = start + length + 1;
        Ok(text)
    }

    /// A nested string with escapes of its own: its content as the outer string's escapes give it, then read.
    fn nested_escapes(&mut self, start: usize) -> Result<Cow<'a, str>, Unread> {
        let mut content: Vec<u8> = Vec::new();
        let mut escaping = false; // the content's last byte began an escape of the nested string
        let mut at = start;
        loop {
            let Some(&b) = self.bytes.get(at) else { return Err(Unread::Refused) };
            if b != b'\\' {
                content.push(b);
                escaping = false;
                at += 1;
                continue;
            }
            let decoded = match self.bytes.get(at + 1) {
                Some(b'"') if !escaping => break,
                Some(&c @ (b'"' | b'\\' | b'/')) => c,
                Some(b'u') => return Err(Unread::Unescape),
                _ => return Err(Unread::Refused), // a control character in a string
            };
            escaping = decoded == b'\\' && !escaping;
            content.push(decoded);
            at += 2;
        }
        self.at = at + 2;
        content.push(b'"');
        let (text, length) = unescape(&content)?;
        if length != content.len() - 1 {
            return Err(Unread::Refused);
        }
        Ok(Cow::Owned(text))
    }
}

/// A JSON string's content (escapes and all, no quotes) unescaped; None as serde_json fails on it.
pub(crate) fn unescape_content(content: &str) -> Option<String> {
    let mut quoted = Vec::with_capacity(content.len() + 1);
    quoted.extend_from_slice(content.as_bytes());
    quoted.push(b'"');
    match unescape(&quoted) {
        Ok((text, length)) if length == content.len() => Some(text),
        _ => None,
    }
}

/// A string's content (from just past its opening quote) unescaped, and the length it took up to its closing
/// quote; Refused for a control character, a bad escape, a lone surrogate (serde_json's errors) or no end.
fn unescape(bytes: &[u8]) -> Result<(String, usize), Unread> {
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len().min(256));
    let mut at = 0;
    loop {
        let run = json::first_escaped(&bytes[at..]).ok_or(Unread::Refused)?;
        out.extend_from_slice(&bytes[at..at + run]);
        at += run;
        match bytes[at] {
            b'"' => break,
            b'\\' => {}
            _ => return Err(Unread::Refused),
        }
        let escape = *bytes.get(at + 1).ok_or(Unread::Refused)?;
        at += 2;
        match escape {
            b'"' | b'\\' | b'/' => out.push(escape),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'u' => {
                let unit = hex4(bytes.get(at..at + 4))?;
                at += 4;
                let code = match unit {
                    0xD800..=0xDBFF => {
                        // A leading surrogate must be followed by an escaped trailing one.
                        if bytes.get(at..at + 2) != Some(b"\\u") {
                            return Err(Unread::Refused);
                        }
                        let low = hex4(bytes.get(at + 2..at + 6))?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(Unread::Refused);
                        }
                        at += 6;
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(Unread::Refused),
                    _ => unit,
                };
                let mut buffer = [0u8; 4];
                let c = char::from_u32(code).ok_or(Unread::Refused)?;
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
            _ => return Err(Unread::Refused),
        }
    }
    Ok((String::from_utf8(out).map_err(|_| Unread::Refused)?, at))
}

fn hex4(digits: Option<&[u8]>) -> Result<u32, Unread> {
    let digits = digits.ok_or(Unread::Refused)?;
    digits.iter().try_fold(0u32, |value, &b| Some(value * 16 + char::from(b).to_digit(16)?)).ok_or(Unread::Refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(text: &str) -> Option<Value<'static>> {
        Some(from_serde_owned(serde_json::from_str(text).ok()?))
    }

    fn has_float(value: &Value) -> bool {
        match value {
            Value::Number(n) => n.is_f64(),
            Value::Array(items) => items.iter().any(has_float),
            Value::Object(map) => map.values().any(has_float),
            _ => false,
        }
    }

    const TEXTS: &[&str] = &[
        r#"{"a":1,"b":[true,null,"x\"y"],"a":{"c":-5,"d":18446744073709551615},"e":{}}"#,
        r#"{"k":"v\/\b\f\n\r\t\\\"","u":"\u00e9\u20AC\ud83d\ude00","z":"\u0000"}"#,
        " { \"a\" : [ 1 , 2 ] , \"b\" :\t{ }\n}\r ",
        r#"{"a":"\ud83d"}"#,
        r#"{"a":"\ude00x"}"#,
        r#"{"a":"\ud83d\u0041"}"#,
        r#"{"a":-9223372036854775808,"b":-9223372036854775809,"c":-0}"#,
        r#"{"a":-0}"#,
        r#"{"a":01}"#,
        r#"{"a":1.5}"#,
        r#"{"a":1e3}"#,
        r#"{"a":1,}"#,
        r#"[1,2,]"#,
        r#"{"a" 1}"#,
        r#"{"a":tru}"#,
        "\"s\"",
        "[]",
        "",
        "{} x",
        "NaN",
        "{\"a\":\"\u{1}\"}",
        r#"{"é":"ü","a":"b","é":"c"}"#,
    ];

    #[test]
    fn reads_as_serde_json_does_but_refuses_floats() {
        for text in TEXTS {
            let expected = serde(text).filter(|value| !has_float(value));
            assert_eq!(parse(text).ok(), expected, "{text}");
        }
        let deep = "[".repeat(127) + &"]".repeat(127);
        assert_eq!(parse(&deep).ok(), serde(&deep));
        let deeper = "[".repeat(128) + &"]".repeat(128);
        assert!(parse(&deeper).is_err() && serde(&deeper).is_none());
    }

    #[test]
    fn reads_nested_text_as_its_unescaped_text() {
        let mut texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
        texts.push(r#"{"policy":"{\"Version\":\"2012\",\"s\":[\"a\\\\b\"]}"}"#.into());
        texts.push(r#"{"p":"a\\\/b\\\\"}"#.into());
        for text in &texts {
            let mut raw = Vec::new();
            json::string(&mut raw, text);
            let raw = std::str::from_utf8(&raw[1..raw.len() - 1]).unwrap();
            let expected = parse(text).ok();
            assert_eq!(parse_nested(raw).ok(), expected, "{text}");
            // Other escapings of the same text: `\/`, `\u` escapes, whitespace escapes.
            for other in [raw.replace('/', "\\/"), raw.replace("\\\"", "\\u0022"), raw.replace(' ', "\\n")] {
                match parse_nested(&other) {
                    Err(Unread::Unescape) => {}
                    found => assert_eq!(
                        found.ok(),
                        parse(&serde_json::from_str::<String>(&format!("\"{other}\"")).unwrap()).ok(),
                        "{other}"
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod raw {
    use super::*;

    #[test]
    fn raw_strings_end_where_serde_json_ends_them() {
        let mut texts: Vec<String> = [
            r#""plain text, long enough for words" x"#,
            r#""""#,
            r#""a\"""#,
            r#""\\\\\\\\\\\\\\\\\\\\\"" tail"#,
            r#""0123456\"89\u00e9\/ \b\f\n\r\t" t"#,
            r#""\u12g4""#,
            r#""\x""#,
            r#""no end"#,
            "\"raw\u{1}control\"",
            "\"é ü 😀 \\\" \"",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        // Every escape at every offset across a word's edge.
        for pad in 0..10 {
            texts.push(format!("\"{}\\\"{}\\u0041\" x", "p".repeat(pad), "q".repeat(pad)));
            texts.push(format!("\"{}\\\\\" x", "p".repeat(pad)));
        }
        for text in &texts {
            let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
            let expected = matches!(stream.next(), Some(Ok(_))).then(|| stream.byte_offset());
            let mut reader = Reader::<false>::new(text);
            let found = if reader.quote() { reader.raw_string().ok().map(|(raw, _)| raw.len() + 2) } else { None };
            assert_eq!(found, expected, "{text}");
        }
    }
}

#[cfg(test)]
mod repeats {
    use super::*;

    #[test]
    fn repeated_keys_of_small_and_large_objects_read_as_serde_json_reads_them() {
        for size in [3usize, 20, 32, 33, 80] {
            for repeat in [None, Some(0), Some(size / 2), Some(size - 1)] {
                // Keys of several lengths, so that some share one: `k0`, `kx1`, `kxx2`, ...
                let keys: Vec<String> = (0..size).map(|i| format!("k{}{i}", "x".repeat(i % 3))).collect();
                let mut members: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("\"{k}\":{i}")).collect();
                if let Some(at) = repeat {
                    members.push(format!("\"{}\":-1", keys[at]));
                }
                let text = format!("{{{}}}", members.join(","));
                let expected = from_serde_owned(serde_json::from_str(&text).unwrap());
                let found = parse(&text).unwrap();
                assert_eq!(found, expected, "{text}");
                assert_eq!(found.as_object().unwrap().len(), size);
            }
        }
    }
}
