//! CloudWatch Logs subscription records (gzip of one DATA_MESSAGE), decoded as `parsers.envelopes` does
//! for the plain case: one gzip member, one JSON object of the keys AWS writes, a list of log events. Any
//! other shape is refused (`None`), and the caller leaves the record to the Python path, which knows every
//! envelope and says what is wrong with a bad one.

use flate2::{Decompress, FlushDecompress};
use serde::Deserialize;
use std::borrow::Cow;
use std::cell::RefCell;

/// Largest CloudWatch Logs timestamp Python renders as a date (9999-12-31T23:59:59.999Z).
const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

// Only the keys AWS writes: any other (an SNS `Type`, an SQS `eventSource`) could make the Python path read
// the object as another envelope, so its presence sends the record there.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(rename = "messageType", borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow)]
    owner: Option<Cow<'a, str>>,
    #[serde(rename = "logGroup", borrow)]
    log_group: Cow<'a, str>,
    #[serde(rename = "logStream", borrow)]
    log_stream: Cow<'a, str>,
    #[serde(rename = "subscriptionFilters")]
    #[allow(dead_code)]
    subscription_filters: Option<serde::de::IgnoredAny>,
    #[serde(rename = "policyLevel")]
    #[allow(dead_code)]
    policy_level: Option<serde::de::IgnoredAny>,
    #[serde(rename = "logEvents", borrow)]
    log_events: Vec<LogEvent<'a>>,
}

#[derive(Deserialize)]
struct LogEvent<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    timestamp: Option<i64>,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

/// A string of the record: where it is in the decompressed JSON when it needed no unescaping (the usual
/// case: no copy), else its own text.
enum Text {
    Span(u32, u32),
    Owned(String),
}

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
    message: Text,
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
    pub message: &'a str,
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
            message: e.message.get(&self.json),
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
    let envelope: Envelope = serde_json::from_slice(&json).ok()?;
    if envelope.message_type != "DATA_MESSAGE"
        || envelope.log_events.is_empty()
        || envelope.log_events.len() > max_events
    {
        return None;
    }
    let mut events = Vec::with_capacity(envelope.log_events.len());
    for event in envelope.log_events {
        if matches!(event.timestamp, Some(t) if !(0..=MAX_TIMESTAMP_MS).contains(&t)) {
            return None;
        }
        events.push(EventText {
            id: event.id.map(|t| Text::of(t, &json)),
            timestamp: event.timestamp,
            message: Text::of(event.message, &json),
        });
    }
    let owner = envelope.owner.map(|t| Text::of(t, &json));
    let (log_group, log_stream) = (Text::of(envelope.log_group, &json), Text::of(envelope.log_stream, &json));
    Some(Record { json, owner, log_group, log_stream, events })
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
