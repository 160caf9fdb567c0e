//! CloudWatch Logs subscription records (gzip of one DATA_MESSAGE), decoded as `parsers.envelopes` does
//! for the plain case: one gzip member, one JSON object of the keys AWS writes, a list of log events. Any
//! other shape is refused (`None`), and the caller leaves the record to the Python path, which knows every
//! envelope and says what is wrong with a bad one.

use crate::jv::{self, Unread};
use flate2::{Decompress, FlushDecompress};
use std::borrow::Cow;
use std::cell::RefCell;

/// Largest CloudWatch Logs timestamp Python renders as a date (9999-12-31T23:59:59.999Z).
const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// A string of the record: where it is in the decompressed JSON when it needed no unescaping (the usual
/// case: no copy), else its own text.
enum Text {
    Span(u32, u32),
    Owned(String),
}

type Reader<'a> = jv::Reader<'a, false>;

impl Text {
    fn of(text: Cow<str>, json: &[u8]) -> Text {
        match text {
            Cow::Borrowed(s) => {
                let start = s.as_ptr() as usize - json.as_ptr() as usize;
                Text::Span(start as u32, s.len() as u32)
            }
            Cow::Owned(s) => Text::Owned(s),
        }
    }

    fn get<'a>(&'a self, json: &'a [u8]) -> &'a str {
        match self {
            // SAFETY: the span was a &str borrowed from `json` itself, which never changes.
            Text::Span(start, len) => unsafe {
                std::str::from_utf8_unchecked(&json[*start as usize..(*start + *len) as usize])
            },
            Text::Owned(s) => s,
        }
    }
}

struct EventText {
    id: Option<Text>,
    timestamp: Option<i64>,
    message: (u32, u32), // where the message's JSON string content is, escapes and all
    escaped: bool,       // whether it has escapes
}

/// A decoded DATA_MESSAGE: the decompressed JSON, and where each string is in it.
pub struct Record {
    json: Vec<u8>,
    owner: Option<Text>,
    log_group: Text,
    log_stream: Text,
    events: Vec<EventText>,
}

/// One log event of a Record.
pub struct Event<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<i64>,
    /// The message's JSON string content as the record has it: with its escapes when `escaped` (a CloudTrail
    /// record's JSON has one every few bytes, and `jv::parse_nested` reads it so), else the message itself.
    pub text: &'a str,
    pub escaped: bool,
}

impl<'a> Event<'a> {
    /// The message; None when its escapes do not read (a lone surrogate: serde_json's error, Python's own way).
    pub fn message(&self) -> Option<Cow<'a, str>> {
        if self.escaped {
            jv::unescape_content(self.text).map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(self.text))
        }
    }
}

impl Record {
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_ref().map(|t| t.get(&self.json))
    }

    pub fn log_group(&self) -> &str {
        self.log_group.get(&self.json)
    }

    pub fn log_stream(&self) -> &str {
        self.log_stream.get(&self.json)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn events(&self) -> impl Iterator<Item = Event<'_>> {
        self.events.iter().map(|e| Event {
            id: e.id.as_ref().map(|t| t.get(&self.json)),
            timestamp: e.timestamp,
            // SAFETY: the span is of a &str borrowed from `json` itself, which never changes.
            text: unsafe {
                std::str::from_utf8_unchecked(&self.json[e.message.0 as usize..(e.message.0 + e.message.1) as usize])
            },
            escaped: e.escaped,
        })
    }
}

/// The record, or None when it is not the plain case: not gzip, several members or trailing bytes, more
/// than `max_bytes` decompressed, not a DATA_MESSAGE of AWS's keys, a field of another type, a timestamp
/// Python would refuse, no events, or more than `max_events`.
pub fn decode(data: &[u8], max_bytes: usize, max_events: usize) -> Option<Record> {
    let json = gunzip(data, max_bytes)?;
    if json.len() > u32::MAX as usize {
        return None;
    }
    let text = std::str::from_utf8(&json).ok()?;
    let envelope = envelope(text).ok()?;
    if envelope.message_type != "DATA_MESSAGE" || envelope.events.is_empty() || envelope.events.len() > max_events {
        return None;
    }
    let mut events = Vec::with_capacity(envelope.events.len());
    for event in envelope.events {
        if matches!(event.timestamp, Some(t) if !(0..=MAX_TIMESTAMP_MS).contains(&t)) {
            return None;
        }
        let Text::Span(start, len) = Text::of(Cow::Borrowed(event.message), &json) else { return None };
        events.push(EventText {
            id: event.id.map(|t| Text::of(t, &json)),
            timestamp: event.timestamp,
            message: (start, len),
            escaped: event.escaped,
        });
    }
    let owner = envelope.owner.map(|t| Text::of(t, &json));
    let (log_group, log_stream) = (Text::of(envelope.log_group, &json), Text::of(envelope.log_stream, &json));
    Some(Record { json, owner, log_group, log_stream, events })
}

/// A DATA_MESSAGE's members, as serde_json read them into a struct of AWS's keys (`deny_unknown_fields`: any
/// other key, an SNS `Type`, an SQS `eventSource`, could make the Python path read the object as another
/// envelope, so its presence sends the record there), but its messages left as they are written.
struct Envelope<'a> {
    message_type: Cow<'a, str>,
    owner: Option<Cow<'a, str>>,
    log_group: Cow<'a, str>,
    log_stream: Cow<'a, str>,
    events: Vec<RawEvent<'a>>,
}

struct RawEvent<'a> {
    id: Option<Cow<'a, str>>,
    timestamp: Option<i64>,
    message: &'a str,
    escaped: bool,
}

// The levels a value of the envelope's members, and of a log event's, is within: serde_json's limit on nesting
// (`jv`'s) counts from the envelope.
const ENVELOPE_DEPTH: usize = 1;
const EVENT_DEPTH: usize = 3;

/// The envelope; Err where serde_json's derived reader fails (a missing, repeated or unknown key, a value of
/// another type), and where a value is a float (in the members it ignores: refused, which is always safe).
fn envelope(text: &str) -> Result<Envelope<'_>, Unread> {
    let mut reader = Reader::new(text);
    let (mut message_type, mut owner, mut log_group, mut log_stream, mut events) = (None, None, None, None, None);
    let (mut filters, mut policy) = (false, false);
    members(&mut reader, |reader, key| match key {
        "messageType" => once(&mut message_type, text_of(reader)?),
        "owner" => once(&mut owner, optional_text(reader)?),
        "logGroup" => once(&mut log_group, text_of(reader)?),
        "logStream" => once(&mut log_stream, text_of(reader)?),
        "logEvents" => once(&mut events, log_events(reader)?),
        "subscriptionFilters" | "policyLevel" => {
            let seen = if key == "policyLevel" { &mut policy } else { &mut filters };
            reader.value(ENVELOPE_DEPTH)?;
            if std::mem::replace(seen, true) {
                return Err(Unread::Refused);
            }
            Ok(())
        }
        _ => Err(Unread::Refused),
    })?;
    reader.blank()?;
    if !reader.at_end() {
        return Err(Unread::Refused);
    }
    Ok(Envelope {
        message_type: message_type.ok_or(Unread::Refused)?,
        owner: owner.flatten(),
        log_group: log_group.ok_or(Unread::Refused)?,
        log_stream: log_stream.ok_or(Unread::Refused)?,
        events: events.ok_or(Unread::Refused)?,
    })
}

fn log_events<'a>(reader: &mut Reader<'a>) -> Result<Vec<RawEvent<'a>>, Unread> {
    let mut events = Vec::new();
    reader.blank()?;
    if !reader.eat(b'[') {
        return Err(Unread::Refused);
    }
    reader.blank()?;
    if reader.eat(b']') {
        return Ok(events);
    }
    loop {
        let (mut id, mut timestamp, mut message) = (None, None, None);
        members(reader, |reader, key| match key {
            "id" => once(&mut id, optional_text(reader)?),
            "timestamp" => once(&mut timestamp, optional_integer(reader)?),
            "message" => {
                reader.blank()?;
                if !reader.quote() {
                    return Err(Unread::Refused);
                }
                once(&mut message, reader.raw_string()?)
            }
            _ => reader.value(EVENT_DEPTH).map(drop), // IgnoredAny: an event's other keys are read, ignored
        })?;
        let (message, escaped) = message.ok_or(Unread::Refused)?;
        events.push(RawEvent { id: id.flatten(), timestamp: timestamp.flatten(), message, escaped });
        reader.blank()?;
        if reader.eat(b']') {
            return Ok(events);
        }
        if !reader.eat(b',') {
            return Err(Unread::Refused);
        }
    }
}

/// Reads an object, giving `member` each key with the reader at its value.
fn members<'a>(
    reader: &mut Reader<'a>,
    mut member: impl FnMut(&mut Reader<'a>, &str) -> Result<(), Unread>,
) -> Result<(), Unread> {
    reader.blank()?;
    if !reader.eat(b'{') {
        return Err(Unread::Refused);
    }
    reader.blank()?;
    if reader.eat(b'}') {
        return Ok(());
    }
    loop {
        reader.blank()?;
        if !reader.quote() {
            return Err(Unread::Refused);
        }
        let key = reader.string()?;
        reader.blank()?;
        if !reader.eat(b':') {
            return Err(Unread::Refused);
        }
        member(reader, &key)?;
        reader.blank()?;
        if reader.eat(b'}') {
            return Ok(());
        }
        if !reader.eat(b',') {
            return Err(Unread::Refused);
        }
    }
}

/// Sets a field read once; a repeated key is serde's `duplicate field` error.
fn once<T>(field: &mut Option<T>, value: T) -> Result<(), Unread> {
    match field.replace(value) {
        None => Ok(()),
        Some(_) => Err(Unread::Refused),
    }
}

fn text_of<'a>(reader: &mut Reader<'a>) -> Result<Cow<'a, str>, Unread> {
    reader.blank()?;
    if !reader.quote() {
        return Err(Unread::Refused);
    }
    reader.string()
}

fn optional_text<'a>(reader: &mut Reader<'a>) -> Result<Option<Cow<'a, str>>, Unread> {
    match reader.value(0)? {
        jv::Value::Null => Ok(None),
        jv::Value::String(text) => Ok(Some(text)),
        _ => Err(Unread::Refused),
    }
}

fn optional_integer(reader: &mut Reader<'_>) -> Result<Option<i64>, Unread> {
    match reader.value(0)? {
        jv::Value::Null => Ok(None),
        jv::Value::Number(n) => n.as_i64().map(Some).ok_or(Unread::Refused),
        _ => Err(Unread::Refused),
    }
}

/// The content of a record that is exactly one gzip member of at most `max_bytes` (its trailer's size,
/// checked by decompressing into a buffer of that size and consuming the whole input).
fn gunzip(data: &[u8], max_bytes: usize) -> Option<Vec<u8>> {
    if data.len() < 18 || !data.starts_with(&[0x1f, 0x8b]) {
        return None;
    }
    let size = u32::from_le_bytes(data[data.len() - 4..].try_into().ok()?) as usize;
    if size > max_bytes {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(size); // not zeroed: libdeflate writes all of it, or fails
    let (mut read, mut written) = (0usize, 0usize);
    let result = LIBDEFLATE.with(|d| unsafe {
        // SAFETY: the decompressor is this thread's own; the pointers and lengths are the slices'.
        libdeflate_sys::libdeflate_gzip_decompress_ex(
            d.0,
            data.as_ptr().cast(),
            data.len(),
            out.as_mut_ptr().cast(),
            size,
            &mut read,
            &mut written,
        )
    });
    if result != libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS || read != data.len() || written != size {
        return None;
    }
    // SAFETY: libdeflate reported all `size` bytes of the buffer's capacity written.
    unsafe { out.set_len(size) };
    Some(out)
}

struct Decompressor(*mut libdeflate_sys::libdeflate_decompressor);

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0) }
    }
}

thread_local! {
    // libdeflate: about twice zlib's speed on these records; one decompressor per thread, made once.
    static LIBDEFLATE: Decompressor = Decompressor(unsafe { libdeflate_sys::libdeflate_alloc_decompressor() });
    static PEEKER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// The log group and stream a subscription record names near its start, read from its first bytes only:
/// a cheap look for the caller to decide whether the whole record is worth decoding here. None when they
/// are not found there as plain strings (the caller then decodes the record, or leaves it to Python).
pub fn peek(data: &[u8]) -> Option<(String, String)> {
    let deflate = &data[gzip_header_length(data)?..];
    let mut head = [0u8; PEEK_BYTES];
    let written = PEEKER.with(|cell| {
        let mut inflater = cell.borrow_mut();
        inflater.reset(false);
        // An error past the first bytes (a corrupt or short record) still leaves what was written.
        let _ = inflater.decompress(deflate, &mut head, FlushDecompress::None);
        inflater.total_out() as usize
    });
    let head = &head[..written];
    Some((plain_string_after(head, b"\"logGroup\":\"")?, plain_string_after(head, b"\"logStream\":\"")?))
}

// AWS writes messageType, owner, logGroup and logStream first: well within this for any real names.
const PEEK_BYTES: usize = 768;

/// Where a gzip member's deflate data starts (RFC 1952: the fixed header, then the optional fields its flags
/// name), or None.
fn gzip_header_length(data: &[u8]) -> Option<usize> {
    if data.len() < 10 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8 {
        return None;
    }
    let flags = data[3];
    let mut at = 10;
    if flags & 0x04 != 0 {
        let extra = usize::from(u16::from_le_bytes([*data.get(at)?, *data.get(at + 1)?]));
        at += 2 + extra;
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            at += data.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    (at <= data.len()).then_some(at)
}

fn plain_string_after(text: &[u8], key: &[u8]) -> Option<String> {
    let start = text.windows(key.len()).position(|w| w == key)? + key.len();
    let length = text[start..].iter().position(|&b| b == b'"' || b == b'\\')?;
    if text[start + length] != b'"' {
        return None;
    }
    String::from_utf8(text[start..start + length].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::envelope;
    use serde::Deserialize;
    use std::borrow::Cow;

    // The derived reader this replaces, as the reference for what is accepted.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Derived<'a> {
        #[serde(rename = "messageType", borrow)]
        message_type: Cow<'a, str>,
        #[serde(borrow)]
        owner: Option<Cow<'a, str>>,
        #[serde(rename = "logGroup", borrow)]
        log_group: Cow<'a, str>,
        #[serde(rename = "logStream", borrow)]
        log_stream: Cow<'a, str>,
        #[serde(rename = "subscriptionFilters")]
        subscription_filters: Option<serde::de::IgnoredAny>,
        #[serde(rename = "policyLevel")]
        policy_level: Option<serde::de::IgnoredAny>,
        #[serde(rename = "logEvents", borrow)]
        log_events: Vec<DerivedEvent<'a>>,
    }

    #[derive(Deserialize)]
    struct DerivedEvent<'a> {
        #[serde(borrow)]
        id: Option<Cow<'a, str>>,
        timestamp: Option<i64>,
        #[serde(borrow)]
        message: Cow<'a, str>,
    }

    type Fields = (String, Option<String>, String, String, Vec<(Option<String>, Option<i64>, String)>);

    fn derived(text: &str) -> Option<Fields> {
        let e: Derived = serde_json::from_str(text).ok()?;
        let events = e.log_events.into_iter().map(|v| (v.id.map(Cow::into_owned), v.timestamp, v.message.into_owned()));
        Some((
            e.message_type.into(),
            e.owner.map(Cow::into_owned),
            e.log_group.into(),
            e.log_stream.into(),
            events.collect(),
        ))
    }

    fn read(text: &str) -> Option<Fields> {
        let e = envelope(text).ok()?;
        let mut events = Vec::new();
        for v in e.events {
            let message = if v.escaped { crate::jv::unescape_content(v.message)? } else { v.message.to_string() };
            events.push((v.id.map(Cow::into_owned), v.timestamp, message));
        }
        Some((e.message_type.into(), e.owner.map(Cow::into_owned), e.log_group.into(), e.log_stream.into(), events))
    }

    #[test]
    fn envelopes_read_as_the_derived_reader_reads_them() {
        let texts = [
            r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"i","timestamp":5,"message":"{\"a\":\"b\\\"c\"}"}]}"#,
            r#" {"messageType" : "DATA_MESSAGE", "owner":null, "logGroup":"g\u0041", "logStream":"s", "logEvents":[ ]} "#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","policyLevel":"ACCOUNT","logEvents":[{"message":"m","extra":{"x":[1]}}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"id":null,"timestamp":null,"message":"m"}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"message":"m"}],"Type":"x"}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logGroup":"h","logStream":"s","logEvents":[]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"message":"m","message":"n"}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"message":"m","timestamp":1.5}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"message":"m","timestamp":9223372036854775808}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"message":"m","timestamp":-3}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"message":null}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"id":"i"}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"message":"\ud83d\ude00 \n\t\/"}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s"}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"message":"m"},]}"#,
            r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"message":"m"}]} x"#,
            r#"{"messageType":1,"logGroup":"g","logStream":"s","logEvents":[]}"#,
            r#"[]"#,
        ];
        for text in texts {
            assert_eq!(read(text), derived(text), "{text}");
        }
    }
}

#[cfg(test)]
mod depth {
    #[test]
    fn nesting_counts_from_the_envelope_as_serde_json_counts_it() {
        for levels in [120, 123, 124, 125, 126, 127] {
            let deep = "[".repeat(levels) + &"]".repeat(levels);
            for text in [
                format!(r#"{{"messageType":"D","logGroup":"g","logStream":"s","policyLevel":{deep},"logEvents":[]}}"#),
                format!(
                    r#"{{"messageType":"D","logGroup":"g","logStream":"s","logEvents":[{{"message":"m","x":{deep}}}]}}"#
                ),
            ] {
                let derived = serde_json::from_str::<serde_json::Value>(&text).is_ok();
                assert_eq!(super::envelope(&text).is_ok(), derived, "{levels}");
            }
        }
    }
}
