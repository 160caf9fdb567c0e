//! ALB access log lines read as `parsers.elb_logs` reads them: its ALB pattern (the fast form, quoted fields
//! as `[^"]*`, which Python tries first and which decides every line covered here), field for field.
//!
//! Covered: lines whose type is one `parsers.detect` gives to `elb_logs` by shape (`http`, `https`, `h2`,
//! `grpcs`, `ws`, `wss`), with single spaces between fields, unquoted fields of printable ASCII, timestamps
//! of the form `2018-07-02T22:23:00.186641Z`, processing times Python renders as this does. Anything else
//! (Classic ELB and NLB lines, a quote inside a quoted field, a `-` priority, an odd number) is `None`: the
//! record goes to the Python path.

use crate::scan;
use std::net::IpAddr;

/// One ALB line's fields, as the pattern's groups hold them (None: the group did not take part).
pub struct Alb<'a> {
    pub kind: &'a str,
    pub timestamp: &'a str,
    pub name: &'a str,
    pub source: &'a str,
    pub source_ip: IpAddr,
    pub source_port: i64,
    pub backend: Option<(&'a str, &'a str)>, // address, port (kept as text)
    pub times: [Option<Seconds<'a>>; 3],     // request, backend, response processing times
    pub status: i64,
    pub backend_status: Option<i64>,
    pub received: i64,
    pub sent: i64,
    pub method: Option<&'a str>,
    pub uri: &'a str,
    pub http_version: Option<&'a str>,
    pub user_agent: &'a str,
    pub ssl_cipher: Option<&'a str>,
    pub ssl_protocol: Option<&'a str>,
    pub target_group: &'a str,
    pub trace_id: &'a str,
    pub domain: Option<&'a str>,
    pub chosen_cert: Option<&'a str>,
    pub matched_rule_priority: Option<&'a str>,
    pub created: &'a str,
    pub actions: Option<&'a str>,
    pub redirect_url: Option<&'a str>,
    pub error_reason: Option<&'a str>,
    pub target_port: Option<&'a str>,
    pub target_status_code: Option<&'a str>,
    pub classification: Option<&'a str>,
    pub classification_reason: Option<&'a str>,
}

/// A processing time as `float(text)` renders through orjson: the integer digits without leading zeros and
/// the fraction without trailing zeros (`0.000` -> `0.0`).
pub struct Seconds<'a> {
    pub whole: &'a str,
    pub fraction: &'a str,
}

/// The types `parsers.detect`'s line shape gives to `elb_logs` (NLB's `tls` lines are not covered).
const TYPES: [&str; 6] = ["http", "https", "h2", "grpcs", "ws", "wss"];

/// Whether the text starts like a line this module may cover: a type and its space.
pub fn starts_like(text: &[u8]) -> bool {
    TYPES.iter().any(|kind| text.len() > kind.len() && text.starts_with(kind.as_bytes()) && text[kind.len()] == b' ')
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.at..]
    }

    /// An unquoted field up to the next space, which it consumes: `\S+` where every byte is printable ASCII
    /// (anything else, a tab or non-ASCII, is left to Python).
    fn token(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let len = scan::printable(rest);
        if len == 0 || rest.get(len) != Some(&b' ') {
            return None;
        }
        let token = &self.text[self.at..self.at + len];
        self.at += len + 1;
        Some(token)
    }

    /// A quoted field, `"[^"]*"`, and the space after it when `space`.
    fn quoted(&mut self, space: bool) -> Option<&'a str> {
        let rest = self.rest();
        if rest.first() != Some(&b'"') {
            return None;
        }
        let len = scan::find(&rest[1..], b'"')?;
        let content = &self.text[self.at + 1..self.at + 1 + len];
        self.at += len + 2;
        if space {
            if self.rest().first() != Some(&b' ') {
                return None;
            }
            self.at += 1;
        }
        Some(content)
    }

    /// An optional trailing field, ` "(?:-|[^"]*)"`: None when it is not there (the match ends before it).
    fn trailing(&mut self) -> Option<Option<&'a str>> {
        let rest = self.rest();
        if rest.len() < 3 || rest[0] != b' ' || rest[1] != b'"' {
            return None;
        }
        let len = scan::find(&rest[2..], b'"')?;
        let content = &self.text[self.at + 2..self.at + 2 + len];
        self.at += len + 3;
        Some(dashed(content))
    }
}

/// `(?:-|X)` where the whole field is `-`: the group does not take part.
fn dashed(field: &str) -> Option<&str> {
    (field != "-").then_some(field)
}

pub fn parse(line: &str) -> Option<Alb<'_>> {
    let mut c = Cursor { text: line, at: 0 };
    let kind = c.token()?;
    if !TYPES.contains(&kind) {
        return None;
    }
    let timestamp = c.token().filter(|t| iso8601(t))?;
    let name = c.token()?;
    let (source, source_ip, port) = address_port(c.token()?)?;
    let source_port = posint(port)?;
    let backend = match c.token()? {
        "-" => None,
        token => {
            let (address, _, port) = address_port(token)?;
            port.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
            Some((address, port))
        }
    };
    let times = [seconds(c.token()?)?, seconds(c.token()?)?, seconds(c.token()?)?];
    let status = long(c.token()?)?;
    let backend_status = match c.token()? {
        "-" => None,
        token => Some(long(token)?),
    };
    let received = long(c.token()?)?;
    let sent = long(c.token()?)?;
    let (method, uri, http_version) = request(c.quoted(true)?)?;
    let user_agent = c.quoted(true)?;
    let ssl_cipher = dashed(c.token()?);
    let ssl_protocol = dashed(c.token()?);
    let target_group = c.token()?;
    let trace_id = c.quoted(true)?;
    let domain = dashed(c.quoted(true)?);
    let chosen_cert = dashed(c.quoted(true)?);
    let matched_rule_priority = match c.token()? {
        "-1" => None,
        token => Some(Some(token).filter(|t| number(t))?),
    };
    let created = c.token().filter(|t| iso8601(t))?;
    let actions = dashed(c.quoted(true)?);
    let redirect_url = dashed(c.quoted(true)?);
    let error_reason = dashed(c.quoted(false)?);
    let mut trailing = [None; 4];
    for slot in &mut trailing {
        match c.trailing() {
            Some(value) => *slot = value,
            None => break,
        }
    }
    let [target_port, target_status_code, classification, classification_reason] = trailing;
    Some(Alb {
        kind,
        timestamp,
        name,
        source,
        source_ip,
        source_port,
        backend,
        times,
        status,
        backend_status,
        received,
        sent,
        method,
        uri,
        http_version,
        user_agent,
        ssl_cipher,
        ssl_protocol,
        target_group,
        trace_id,
        domain,
        chosen_cert,
        matched_rule_priority,
        created,
        actions,
        redirect_url,
        error_reason,
        target_port,
        target_status_code,
        classification,
        classification_reason,
    })
}

/// `[0-9A-Fa-f:.]+:PORT`, split at the last colon; the address must be one `ip_kind` takes.
fn address_port(token: &str) -> Option<(&str, IpAddr, &str)> {
    let colon = token.bytes().rposition(|b| b == b':')?;
    let (address, port) = (&token[..colon], &token[colon + 1..]);
    if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
        return None;
    }
    if port.is_empty() || port.as_bytes()[0] == b'0' {
        return None;
    }
    Some((address, ip(address)?, port))
}

/// What `socket.inet_pton` takes, for the texts Rust's parser reads the same way: dotted quads, and IPv6
/// without an embedded IPv4 part (the two parsers' corner cases differ there, so those are refused).
fn ip(address: &str) -> Option<IpAddr> {
    let bytes = address.as_bytes();
    if bytes.contains(&b':') {
        (!bytes.contains(&b'.')).then(|| address.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6))?
    } else {
        address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    }
}

/// POSINT (`[1-9][0-9]{0,17}`), converted.
fn posint(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 18 || bytes[0] == b'0' || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.parse().ok()
}

/// LONG (`[+-]?[0-9]{1,18}`), converted as `int()` does.
fn long(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// grok's NUMBER, `[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)`, as the whole text.
fn number(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match fraction {
        None => !whole.is_empty() && all_digits(whole),
        Some(fraction) => !fraction.is_empty() && all_digits(whole) && all_digits(fraction),
    }
}

/// A processing time: `-1` is none (Ok(None)); a plain decimal whose float orjson writes as its own digits
/// (at most 15 significant ones, nothing below 0.0001 but zero) is Some; anything else refuses the line.
fn seconds(text: &str) -> Option<Option<Seconds<'_>>> {
    if text == "-1" {
        return Some(None);
    }
    let (whole, fraction) = match text.bytes().position(|b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, ""),
    };
    let digits = |s: &str, most: usize| s.len() <= most && s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole, 9) || !digits(fraction, 9) || (text.contains('.') && fraction.is_empty()) {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let significant = if whole.is_empty() {
        let zeros = fraction.len() - fraction.trim_start_matches('0').len();
        if !fraction.is_empty() && zeros > 3 {
            return None; // orjson writes 1e-06 and the like its own way
        }
        fraction.len() - zeros
    } else {
        whole.len() + fraction.len()
    };
    (significant <= 15).then_some(Some(Seconds { whole, fraction }))
}

/// `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z` (what `parsers.detect` requires of the first timestamp) with
/// the month, day and clock in the ranges where grok's ISO8601 reads it whole.
fn iso8601(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return false;
    }
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10) && b[10] == b'T')
        || !(digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19))
    {
        return false;
    }
    let two = |at: usize| (b[at] - b'0') * 10 + (b[at + 1] - b'0');
    let fraction = &b[19..b.len() - 1];
    let fraction_ok = fraction.is_empty() || (fraction.len() > 1 && fraction[0] == b'.' && digits(20..b.len() - 1));
    (1..=12).contains(&two(5))
        && (1..=31).contains(&two(8))
        && two(11) <= 23
        && two(14) <= 59
        && two(17) <= 59
        && fraction_ok
}

/// The request field, `(?:-|(\w+)) ([^"]*) (?:HTTP/(\S+)|-)`: (method, uri, version). The uri is greedy, so
/// it ends at the last space the rest of the pattern can follow.
fn request(field: &str) -> Option<(Option<&str>, &str, Option<&str>)> {
    let bytes = field.as_bytes();
    let (method, after) = if bytes.first() == Some(&b'-') && bytes.get(1).is_some_and(|&b| whitespace(b)) {
        (None, 1)
    } else {
        let len = bytes.iter().position(|&b| !(b.is_ascii_alphanumeric() || b == b'_')).unwrap_or(bytes.len());
        if len == 0 {
            return None;
        }
        (Some(&field[..len]), len)
    };
    if bytes.get(after) != Some(&b' ') {
        return None;
    }
    let rest = &field[after + 1..];
    let r = rest.as_bytes();
    for k in (0..r.len()).rev() {
        if r[k] != b' ' {
            continue;
        }
        let tail = &r[k + 1..];
        if tail.len() > 5 && tail.starts_with(b"HTTP/") && !tail[5..].iter().any(|&b| whitespace(b)) {
            return Some((method, &rest[..k], Some(&rest[k + 6..])));
        }
        if tail == b"-" {
            return Some((method, &rest[..k], None));
        }
    }
    None
}

/// `\s` of an ASCII regular expression.
fn whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}
