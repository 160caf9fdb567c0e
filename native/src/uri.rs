//! `url.*` as `parsers._lines.uri_parts` writes it, for its common shape (`_SIMPLE_URI`:
//! `[scheme://host[:port]][/path][?query]` in plain ASCII with nothing to decode), and for that shape with
//! percent escapes, which it reads as java.net.URI (`_java_uri`: decoded path and query). Any other text is
//! Err: the Python path reads it.

use crate::json::Members;

/// Appends `,"url":{...}` for `uri`, or Err when it is neither shape.
pub fn write(out: &mut Vec<u8>, uri: &str) -> Result<(), ()> {
    simple(out, uri).or_else(|_| escaped(out, uri))
}

/// `_SIMPLE_URI`'s shape; writes nothing when Err.
fn simple(out: &mut Vec<u8>, uri: &str) -> Result<(), ()> {
    let b = uri.as_bytes();
    let mut at = 0;
    let mut authority = None;
    if let Some(end) = scheme_end(b) {
        if !b[end..].starts_with(b"://") {
            return Err(());
        }
        let host_start = end + 3;
        let host_len =
            b[host_start..].iter().take_while(|&&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-').count();
        if host_len == 0 {
            return Err(());
        }
        at = host_start + host_len;
        let mut port = None;
        if b.get(at) == Some(&b':') {
            let digits = b[at + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&digits) {
                return Err(());
            }
            port = Some(&uri[at + 1..at + 1 + digits]);
            at += 1 + digits;
        }
        let host = &uri[host_start..host_start + host_len];
        if !host_ok(host) {
            return Err(());
        }
        authority = Some((&uri[..end], host, port));
    }
    let mut path = None;
    if b.get(at) == Some(&b'/') {
        let len = 1 + b[at + 1..].iter().take_while(|&&c| path_char(c)).count();
        path = Some(&uri[at..at + len]);
        at += len;
    }
    let mut query = "";
    if b.get(at) == Some(&b'?') {
        let len = b[at + 1..].iter().take_while(|&&c| path_char(c) || c == b'?').count();
        query = &uri[at + 1..at + 1 + len];
        at += 1 + len;
    }
    if at != b.len() || (authority.is_none() && path.is_none()) {
        return Err(());
    }
    out.extend_from_slice(b",\"url\":{");
    let mut url = Members::new();
    url.str(out, "original", uri);
    if let Some((scheme, host, port)) = authority {
        url.str(out, "scheme", scheme);
        url.str(out, "domain", host);
        if let Some(port) = port {
            url.int(out, "port", port.parse().map_err(|_| ())?);
        }
    }
    if let Some(path) = path {
        url.str(out, "path", path);
        if let Some(extension) = extension(path) {
            url.str(out, "extension", extension); // maybe empty (`/a.`): kept on this path
        }
    }
    if !query.is_empty() {
        url.str(out, "query", query);
    }
    out.push(b'}');
    Ok(())
}

/// `scheme://host[:port][/path][?query]` or `/path[?query]`, ASCII, with `%XX` escapes, as `_java_uri` reads
/// it: the keys in its order, path and query decoded, empty values left out. No user info, fragment,
/// brackets, or escapes that do not decode to UTF-8 (Python replaces those): Err.
fn escaped(out: &mut Vec<u8>, uri: &str) -> Result<(), ()> {
    let b = uri.as_bytes();
    if !b.iter().all(|&c| path_char(c) || c == b'?' || c == b'%') {
        return Err(());
    }
    let mut at = 0;
    let mut authority = None;
    if let Some(end) = scheme_end(b) {
        if !b[end..].starts_with(b"://") {
            return Err(());
        }
        let start = end + 3;
        let stop = b[start..].iter().position(|&c| c == b'/' || c == b'?').map_or(b.len(), |p| start + p);
        let (host, port) = match uri[start..stop].rsplit_once(':') {
            Some((host, port)) => (host, Some(port).filter(|p| !p.is_empty())),
            None => (&uri[start..stop], None),
        };
        if !host_ok(host) || port.is_some_and(|p| !(1..=9).contains(&p.len()) || !p.bytes().all(|c| c.is_ascii_digit()))
        {
            return Err(()); // `@`, `%` or another colon in the host, a long port: user info, or Java's own reading
        }
        authority = Some((&uri[..end], host, port));
        at = stop;
    } else if !b.starts_with(b"/") || b.starts_with(b"//") {
        return Err(());
    }
    let (path, query) = match uri[at..].split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (&uri[at..], None),
    };
    let path = decode(path)?;
    let query = query.map(decode).transpose()?;
    out.extend_from_slice(b",\"url\":{");
    let mut url = Members::new();
    if let Some((scheme, host, port)) = authority {
        url.str(out, "scheme", scheme);
        url.str(out, "domain", host);
        if let Some(port) = port {
            url.int(out, "port", port.parse().map_err(|_| ())?);
        }
    }
    if !path.is_empty() {
        url.str(out, "path", &path);
    }
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        url.str(out, "query", &query);
    }
    if let Some(extension) = extension(&path).filter(|e| !e.is_empty()) {
        url.str(out, "extension", extension);
    }
    url.str(out, "original", uri);
    out.push(b'}');
    Ok(())
}

/// What follows the last dot of the path's last segment (`_extension`).
fn extension(path: &str) -> Option<&str> {
    let last_segment = &path[path.rfind('/')?..];
    last_segment.rfind('.').map(|dot| &last_segment[dot + 1..])
}

/// Percent escapes decoded, as `urllib.parse.unquote` decodes them when the bytes are UTF-8; Err for a `%`
/// without two hex digits (java.net.URI refuses it) or bytes that are not UTF-8.
fn decode(text: &str) -> Result<String, ()> {
    let b = text.as_bytes();
    let mut bytes = Vec::with_capacity(b.len());
    let mut at = 0;
    while at < b.len() {
        if b[at] == b'%' {
            let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16)).ok_or(());
            bytes.push((hex(b.get(at + 1))? * 16 + hex(b.get(at + 2))?) as u8);
            at += 3;
        } else {
            bytes.push(b[at]);
            at += 1;
        }
    }
    String::from_utf8(bytes).map_err(|_| ())
}

/// Where a scheme (`[A-Za-z][A-Za-z0-9+.-]*`) at the start ends, if the text starts with one.
fn scheme_end(b: &[u8]) -> Option<usize> {
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    Some(1 + b[1..].iter().take_while(|&&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'.' || c == b'-').count())
}

/// A path or query character of `_SIMPLE_URI` (ASCII only: Python's also takes characters past U+FFFF).
fn path_char(c: u8) -> bool {
    PATH[usize::from(c)]
}

const PATH: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0x21;
    while c <= 0x7e {
        table[c] = true;
        c += 1;
    }
    let refused = b"\"<>\\^`{|}#?[]%";
    let mut i = 0;
    while i < refused.len() {
        table[refused[i] as usize] = false;
        i += 1;
    }
    table
};

/// `_URI_HOST`: dot-separated labels of letters, digits and inner hyphens, the last one starting with a
/// letter, maybe a final dot; or four groups of one to three digits.
fn host_ok(host: &str) -> bool {
    let digits = |p: &str| (1..=3).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit());
    if host.split('.').count() == 4 && host.split('.').all(digits) {
        return true;
    }
    let label_ok = |label: &str| {
        let l = label.as_bytes();
        !l.is_empty()
            && l[0].is_ascii_alphanumeric()
            && l[l.len() - 1].is_ascii_alphanumeric()
            && l.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    let labels = host.strip_suffix('.').unwrap_or(host);
    let last = labels.rsplit('.').next().unwrap_or("");
    labels.split('.').all(label_ok) && last.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
}
