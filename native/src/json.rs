//! JSON output exactly as orjson writes it for the documents secstash builds: no spaces, strings with `"`,
//! `\` and control characters escaped (short forms where JSON has them, else `\u00XX` in lower case),
//! everything else, non-ASCII included, as it is.

/// Whether a byte must be escaped in a JSON string: `"`, `\` and the control characters.
const fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The bytes of eight that must be escaped, for eight at a time (SWAR: a byte below 0x20, or equal to `"` or
/// `\`, sets its high bit in the result; the lowest marked byte is always exact, a false mark can only follow
/// a true one).
fn escaped_marks(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES) & !(word ^ (ONES * u64::from(b'"')));
    let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES) & !(word ^ (ONES * u64::from(b'\\')));
    (below_space | quote | backslash) & HIGH
}

fn needs_escaping(bytes: &[u8]) -> bool {
    first_escaped(bytes).is_some()
}

/// Where the first byte that must be escaped is (the end of a JSON string's plain run), if any.
pub fn first_escaped(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let marks = escaped_marks(u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes")));
        if marks != 0 {
            return Some(at + (marks.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| escaped(b)).map(|p| at + p)
}

/// Appends `s` as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !needs_escaping(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    while let Some(run) = first_escaped(&bytes[start..]) {
        let i = start + run;
        let b = bytes[i];
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
                start = i + 1;
                continue;
            }
            _ => unreachable!("first_escaped finds only these"),
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(short);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends an integer.
pub fn int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends a float the way orjson (and Python's repr) renders it for the values GeoIP databases hold:
/// the shortest text that reads back the same, with `.0` on whole numbers.
pub fn float(out: &mut Vec<u8>, f: f64) {
    out.extend_from_slice(ryu::Buffer::new().format(f).as_bytes());
}

/// An object's members, written one at a time: the comma goes before every member but the first.
pub struct Members {
    first: bool,
}

impl Members {
    /// Opens an object whose opening (`{` or `,"key":{`) the caller has written.
    pub fn new() -> Self {
        Members { first: true }
    }

    /// Writes `"key":`, preceded by a comma unless it is the first member. Keys are the document's own field
    /// names (ASCII letters, digits, `_`; a rule's format names are checked to be so), written as they are.
    pub fn key(&mut self, out: &mut Vec<u8>, key: &str) {
        debug_assert!(!needs_escaping(key.as_bytes()));
        if !self.first {
            out.push(b',');
        }
        self.first = false;
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, out: &mut Vec<u8>, key: &str, value: &str) {
        self.key(out, key);
        string(out, value);
    }

    pub fn int(&mut self, out: &mut Vec<u8>, key: &str, value: i64) {
        self.key(out, key);
        int(out, value);
    }

    /// Goes on in an object that already has members.
    pub fn after_others() -> Self {
        Members { first: false }
    }

    pub fn is_empty(&self) -> bool {
        self.first
    }
}
