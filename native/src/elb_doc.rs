//! One ALB line's document as `parsers.elb_logs.parse`, then `parsers.document.finalize` and `ship`, then
//! `sinks.documents.BulkItemBuilder.add` make it, byte for byte: the fields in the order those dicts get
//! them. Err for what this does not reproduce (a url `uri_parts` reads the Java way, a failed look-up):
//! the record then goes to the Python path whole.

use crate::elb::{Alb, Seconds};
use crate::geoip::GeoIp;
use crate::json::{self, Members};
use crate::uri;
use crate::useragent::UserAgents;
use pyo3::Python;

/// What every document of one record shares.
pub struct Context<'a> {
    pub ingested: &'a [u8], // the record's arrival time, rendered
    pub ecs_version: &'a str,
    pub namespace: &'a str,
    pub labels: Option<&'a [u8]>, // the stream's labels as a JSON object, or None
    pub keep_original: bool,
}

/// Appends the document of one line (and its newline), or Err.
pub fn write(
    out: &mut Vec<u8>,
    py: Python<'_>,
    geoip: &mut GeoIp,
    agents: &mut UserAgents,
    line: &str,
    f: &Alb,
    cx: &Context,
) -> Result<(), ()> {
    let timestamp = iso8601_ms(f.timestamp);
    out.extend_from_slice(b"{\"aws\":{\"elb\":{");
    write_elb(out, f);
    out.extend_from_slice(b"}},\"cloud\":{\"provider\":\"aws\"},\"source\":{\"address\":");
    json::string(out, f.source);
    out.extend_from_slice(b",\"ip\":");
    json::string(out, f.source);
    out.extend_from_slice(b",\"port\":");
    json::int(out, f.source_port);
    geoip.write(out, f.source_ip)?;
    out.extend_from_slice(b"},\"event\":{\"kind\":\"event\"");
    if cx.keep_original {
        out.extend_from_slice(b",\"original\":");
        json::string(out, line);
    }
    out.extend_from_slice(if f.status < 400 { b",\"outcome\":\"success\"" } else { b",\"outcome\":\"failure\"" });
    out.extend_from_slice(b",\"start\":");
    json::string(out, f.created);
    out.extend_from_slice(b",\"category\":\"web\",\"end\":");
    out.extend_from_slice(&timestamp);
    out.extend_from_slice(b",\"dataset\":\"aws.elb_logs\",\"module\":\"aws\",\"ingested\":\"");
    out.extend_from_slice(cx.ingested);
    out.extend_from_slice(b"\"},\"http\":{\"request\":{\"body\":{\"bytes\":");
    json::int(out, f.received);
    out.push(b'}');
    if let Some(method) = f.method {
        out.extend_from_slice(b",\"method\":");
        json::string(out, method);
    }
    out.extend_from_slice(b"},\"response\":{\"status_code\":");
    json::int(out, f.status);
    out.extend_from_slice(b",\"body\":{\"bytes\":");
    json::int(out, f.sent);
    out.extend_from_slice(b"}}");
    if let Some(version) = f.http_version {
        out.extend_from_slice(b",\"version\":");
        json::string(out, version);
    }
    out.push(b'}');
    if f.uri != "-" {
        uri::write(out, f.uri)?;
    }
    let start = out.len();
    out.extend_from_slice(b",\"user_agent\":");
    if !agents.write(py, out, f.user_agent)? {
        if f.user_agent.is_empty() {
            // `""`: the processor runs on any non-null value (parsers.elb_logs._http).
            out.extend_from_slice(b"{\"original\":\"\",\"name\":\"Other\",\"device\":{\"name\":\"Other\"}}");
        } else {
            out.truncate(start);
        }
    }
    out.extend_from_slice(b",\"trace\":{\"id\":");
    mustache(out, f.trace_id);
    out.push(b'}');
    if let Some(domain) = f.domain {
        out.extend_from_slice(b",\"destination\":{\"domain\":");
        json::string(out, domain);
        out.push(b'}');
    }
    out.extend_from_slice(b",\"@timestamp\":");
    out.extend_from_slice(&timestamp);
    write_tls(out, f.ssl_cipher, f.ssl_protocol);
    out.extend_from_slice(b",\"ecs\":{\"version\":");
    json::string(out, cx.ecs_version);
    out.extend_from_slice(b"},\"data_stream\":{\"type\":\"logs\",\"dataset\":\"aws.elb_logs\",\"namespace\":");
    json::string(out, cx.namespace);
    out.push(b'}');
    if let Some(labels) = cx.labels {
        out.extend_from_slice(b",\"labels\":");
        out.extend_from_slice(labels);
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// `aws.elb`'s members, in the order `parse`, `_http` and `_alb` add them.
fn write_elb(out: &mut Vec<u8>, f: &Alb) {
    let mut elb = Members::new();
    elb.str(out, "name", f.name);
    let backend_http = |out: &mut Vec<u8>, status: i64| {
        out.extend_from_slice(b"\"http\":{\"response\":{\"status_code\":");
        json::int(out, status);
        out.extend_from_slice(b"}}");
    };
    if let Some((ip, port)) = f.backend {
        elb.key(out, "backend");
        out.extend_from_slice(b"{\"ip\":");
        json::string(out, ip);
        out.extend_from_slice(b",\"port\":");
        json::string(out, port);
        if let Some(status) = f.backend_status {
            out.push(b',');
            backend_http(out, status);
        }
        out.push(b'}');
    }
    for (key, time) in
        ["request_processing_time", "backend_processing_time", "response_processing_time"].into_iter().zip(&f.times)
    {
        if let Some(time) = time {
            elb.key(out, key);
            out.extend_from_slice(b"{\"sec\":");
            seconds(out, time);
            out.push(b'}');
        }
    }
    if let (None, Some(status)) = (f.backend, f.backend_status) {
        elb.key(out, "backend");
        out.push(b'{');
        backend_http(out, status);
        out.push(b'}');
    }
    elb.str(out, "type", f.kind);
    elb.key(out, "target_group");
    out.extend_from_slice(b"{\"arn\":");
    json::string(out, f.target_group);
    out.push(b'}');
    elb.str(out, "trace_id", f.trace_id);
    if let Some(cert) = f.chosen_cert {
        elb.key(out, "chosen_cert");
        out.extend_from_slice(b"{\"arn\":");
        json::string(out, cert);
        out.push(b'}');
    }
    if let Some(actions) = f.actions {
        elb.key(out, "action_executed");
        java_split(out, actions, ',');
    }
    if let Some(reason) = f.error_reason {
        elb.key(out, "error");
        out.extend_from_slice(b"{\"reason\":");
        json::string(out, reason);
        out.push(b'}');
    }
    for (key, value) in [("target_port", f.target_port), ("target_status_code", f.target_status_code)] {
        if let Some(value) = value {
            elb.key(out, key);
            java_split(out, value, ' ');
        }
    }
    for (key, value) in [
        ("matched_rule_priority", f.matched_rule_priority),
        ("redirect_url", f.redirect_url),
        ("classification", f.classification),
        ("classification_reason", f.classification_reason),
    ] {
        if let Some(value) = value {
            elb.str(out, key, value);
        }
    }
    elb.str(out, "protocol", "http");
    if let Some(cipher) = f.ssl_cipher {
        elb.str(out, "ssl_cipher", cipher);
    }
    if let Some(protocol) = f.ssl_protocol {
        elb.str(out, "ssl_protocol", protocol);
    }
}

/// `tls`: the cipher (through its template), then version and protocol from `TLSv1.2` or `tlsv12`.
fn write_tls(out: &mut Vec<u8>, cipher: Option<&str>, protocol: Option<&str>) {
    let version = protocol.and_then(|p| p.split_once('v').filter(|(_, version)| !version.contains('v')));
    if cipher.is_none() && version.is_none() {
        return;
    }
    out.extend_from_slice(b",\"tls\":{");
    let mut tls = Members::new();
    if let Some(cipher) = cipher {
        tls.key(out, "cipher");
        mustache(out, cipher);
    }
    if let Some((name, version)) = version {
        tls.key(out, "version");
        if version.contains('.') || version.is_empty() {
            // An empty version becomes "." in Python (version[:1] + "." + version[1:]).
            json::string(out, if version.is_empty() { "." } else { version });
        } else {
            let (first, rest) = version.split_at(version.chars().next().map_or(0, char::len_utf8));
            json::string(out, &format!("{first}.{rest}"));
        }
        tls.str(out, "version_protocol", &name.to_ascii_lowercase());
    }
    out.push(b'}');
}

/// The `split` processor's String.split: trailing empty strings dropped, an empty value kept as [""].
fn java_split(out: &mut Vec<u8>, value: &str, separator: char) {
    out.push(b'[');
    if value.is_empty() {
        out.extend_from_slice(b"\"\"");
    } else {
        let kept = value.trim_end_matches(separator); // nothing left: every part was empty
        if !kept.is_empty() {
            for (i, part) in kept.split(separator).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json::string(out, part);
            }
        }
    }
    out.push(b']');
}

/// A processing time, as orjson writes `float(text)` (`elb::seconds` admits only texts where that is their
/// own digits).
fn seconds(out: &mut Vec<u8>, time: &Seconds) {
    out.extend_from_slice(if time.whole.is_empty() { b"0" } else { time.whole.as_bytes() });
    out.push(b'.');
    out.extend_from_slice(if time.fraction.is_empty() { b"0" } else { time.fraction.as_bytes() });
}

/// `"<date>T<clock>.<ms>Z"` from a timestamp `elb::iso8601` took, as `parsers._lines.iso8601_ms` renders it:
/// its own digits, the fraction cut or padded to three.
fn iso8601_ms(text: &str) -> [u8; 26] {
    let b = text.as_bytes();
    let mut out = *b"\"0000-00-00T00:00:00.000Z\"";
    out[1..20].copy_from_slice(&b[..19]);
    let fraction = if b.len() > 20 { &b[20..b.len() - 1] } else { &[][..] };
    for (i, &digit) in fraction.iter().take(3).enumerate() {
        out[21 + i] = digit;
    }
    out
}

/// A value set from a `{{field}}` template (`parsers._lines.mustache_text`): Elasticsearch's mustache
/// JSON-escapes what it inserts, so the document holds the escaped text, escaped again as JSON.
fn mustache(out: &mut Vec<u8>, text: &str) {
    if !text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        json::string(out, text);
        return;
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\u{8}' => escaped.push_str("\\b"),
            '\u{c}' => escaped.push_str("\\f"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if (c as u32) < 0x20 => escaped.push_str(&format!("\\u{:04X}", c as u32)),
            c => escaped.push(c),
        }
    }
    json::string(out, &escaped);
}
