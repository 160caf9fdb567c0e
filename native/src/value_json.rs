//! `jv` values (serde_json's numbers) written exactly as `orjson.dumps` writes the Python value `orjson.loads` makes of the
//! same JSON; and the shortest digits of a float, which the three renderings of floats (orjson's, Python's
//! repr, Java's Double.toString) share and only lay out differently.

use crate::json;
use crate::jv::{Number, Value};
use std::sync::OnceLock;

/// Deeper values are refused: orjson writes at most 254 levels, and nothing real comes near.
const MAX_DEPTH: usize = 200;

/// Appends `value` exactly as orjson.dumps writes it (compact; the escapes orjson uses; non-ASCII as is).
/// Err(()) for values whose rendering is not proven equal (the floats `Shortest::of` refuses, nesting deeper
/// than 200 levels); `out` is then as it was.
pub fn write(out: &mut Vec<u8>, value: &Value<'_>) -> Result<(), ()> {
    let start = out.len();
    let written = write_at(out, value, 0);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

fn write_at(out: &mut Vec<u8>, value: &Value<'_>, depth: usize) -> Result<(), ()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => number(out, n)?,
        Value::String(s) => json::string(out, s),
        Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => return Err(()),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_at(out, item, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json::string(out, key);
                out.push(b':');
                write_at(out, item, depth + 1)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn number(out: &mut Vec<u8>, n: &Number) -> Result<(), ()> {
    if let Some(u) = n.as_u64() {
        out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
    } else if let Some(i) = n.as_i64() {
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    } else {
        let digits = Shortest::of(n.as_f64().ok_or(())?)?;
        // orjson: positional from 1e-5 to below 1e16, else `1.5e+16`, `1e-7`.
        let mut text = Text::new();
        if (-5..=15).contains(&digits.point) {
            digits.positional(&mut text);
        } else {
            digits.scientific(&mut text, b'e', if digits.point > 0 { "+" } else { "" }, 1);
        }
        out.extend_from_slice(text.as_str().as_bytes());
    }
    Ok(())
}

/// A finite float's shortest decimal digits that read back as it (closest to it of those), as Python's repr,
/// orjson, Java (17+) and ryu all choose them: `digits` × 10^(`point` - len + 1), no trailing zeros.
pub struct Shortest {
    negative: bool,
    digits: [u8; 17],
    len: usize,
    /// The power of ten of the first digit.
    pub point: i32,
}

/// From 2^63 up, a float may have been an integer literal outside i64/u64 that serde_json reads as a float
/// where orjson refuses the JSON (Python never renders it).
const INTEGER_LITERAL_FLOATS: f64 = 9_223_372_036_854_775_808.0;

impl Shortest {
    /// Err for the floats not covered: -0.0 (serde_json reads the integer `-0` as it, orjson as the int 0),
    /// magnitudes from 2^63 up, non-finite ones, and all of them when serde_json does not read floats exactly.
    pub fn of(f: f64) -> Result<Shortest, ()> {
        if (f == 0.0 && f.is_sign_negative()) || f.abs() >= INTEGER_LITERAL_FLOATS || !reads_exactly() {
            return Err(());
        }
        Shortest::any(f)
    }

    /// The digits of any finite float (Err for the others), whether its text is covered or not.
    pub fn any(f: f64) -> Result<Shortest, ()> {
        let mut shortest = Shortest { negative: f.is_sign_negative(), digits: [b'0'; 17], len: 1, point: 0 };
        if f == 0.0 {
            return Ok(shortest);
        }
        if !f.is_finite() {
            return Err(());
        }
        // ryu's text: `-`?, digits with a `.`, then `e<exponent>` or not (`1e-7`, `1.5e16`, `0.001`, `123.0`).
        let mut buffer = ryu::Buffer::new();
        let text = buffer.format_finite(f).as_bytes();
        let (mantissa, exponent) = match text.iter().position(|&b| b == b'e') {
            Some(at) => (&text[..at], std::str::from_utf8(&text[at + 1..]).map_err(|_| ())?.parse().map_err(|_| ())?),
            None => (text, 0i32),
        };
        let mantissa = mantissa.strip_prefix(b"-").unwrap_or(mantissa);
        let whole = mantissa.iter().position(|&b| b == b'.').unwrap_or(mantissa.len());
        let mut point = whole as i32 - 1 + exponent;
        let mut len = 0;
        for &b in mantissa.iter().filter(|&&b| b != b'.') {
            if len == 0 && b == b'0' {
                point -= 1; // a leading zero
                continue;
            }
            *shortest.digits.get_mut(len).ok_or(())? = b;
            len += 1;
        }
        while len > 1 && shortest.digits[len - 1] == b'0' {
            len -= 1;
        }
        if len == 0 || !shortest.digits[..len].iter().all(u8::is_ascii_digit) {
            return Err(());
        }
        shortest.len = len;
        shortest.point = point;
        Ok(shortest)
    }

    pub fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// `123.45`, `0.00012`, `1200.0` (Python's repr where it is positional; callers keep `point` within -16..=16).
    pub fn positional(&self, text: &mut Text) {
        if self.negative {
            text.push(b'-');
        }
        let digits = self.digits();
        if self.point >= 0 {
            let whole = self.point as usize + 1;
            text.extend(&digits[..whole.min(digits.len())]);
            for _ in digits.len()..whole {
                text.push(b'0');
            }
            text.push(b'.');
            text.extend(if digits.len() > whole { &digits[whole..] } else { b"0" });
        } else {
            text.extend(b"0.");
            for _ in 1..-self.point {
                text.push(b'0');
            }
            text.extend(digits);
        }
    }

    /// `d.ddd<e><sign><exponent>`: the exponent's `sign` when positive (`-` is always written) and at least
    /// `width` exponent digits; a lone digit gets `.0` when `e` is `E` (Java), none otherwise.
    pub fn scientific(&self, text: &mut Text, e: u8, sign: &str, width: usize) {
        if self.negative {
            text.push(b'-');
        }
        let digits = self.digits();
        text.push(digits[0]);
        if digits.len() > 1 {
            text.push(b'.');
            text.extend(&digits[1..]);
        } else if e == b'E' {
            text.extend(b".0");
        }
        text.push(e);
        if self.point < 0 {
            text.push(b'-');
        } else {
            text.extend(sign.as_bytes());
        }
        let mut buffer = itoa::Buffer::new();
        let power = buffer.format(self.point.unsigned_abs()).as_bytes();
        for _ in power.len()..width {
            text.push(b'0');
        }
        text.extend(power);
    }
}

/// A float's text, on the stack (the longest layout above takes 25 bytes).
pub struct Text {
    bytes: [u8; 40],
    len: usize,
}

impl Text {
    pub fn new() -> Self {
        Text { bytes: [0; 40], len: 0 }
    }

    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Whether serde_json reads floats correctly rounded, as orjson does: only with its `float_roundtrip` feature
/// (without it, a long significand or a large exponent can land one unit off, and the value would render as
/// another number than Python's). Asked of the parser itself, once, with a text its quick path misreads.
fn reads_exactly() -> bool {
    static EXACT: OnceLock<bool> = OnceLock::new();
    *EXACT.get_or_init(|| {
        PROBES.iter().all(|&(text, bits)| serde_json::from_str::<f64>(text).is_ok_and(|f| f.to_bits() == bits))
    })
}

/// Texts and the bits of the float they read as (Python's `float()`), each of which the quick path misreads.
const PROBES: &[(&str, u64)] = &[
    ("9007199254740993.0", 0x4340_0000_0000_0000), // 2^53 + 1: a tie, to even (2^53)
    ("2.2250738585072011e-308", 0x000f_ffff_ffff_ffff), // the largest subnormal
    ("700328328238322310e-40", 0x3b55_2a87_2a42_5ea6), // a long significand and a large exponent
];

/// For the test hooks: whether floats are covered (serde_json built with `float_roundtrip`).
pub fn floats_covered() -> bool {
    reads_exactly()
}
