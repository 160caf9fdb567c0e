//! Number conversions as `parsers._lines` does them (Painless/Java semantics).

/// `java_long`: a decimal string with an optional sign, at most 20 characters, within Java's long (or, with
/// `bits` 32, int) range.
pub fn java_long(text: &str, bits: u32) -> Option<i64> {
    if text.len() < 10 && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // The usual case: unsigned and below 10^9, in range for both sizes.
        return Some(text.bytes().fold(0i64, |n, b| n * 10 + i64::from(b - b'0')));
    }
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i128 = text.parse().ok()?;
    let (low, high) = if bits == 32 {
        (i128::from(i32::MIN), i128::from(i32::MAX))
    } else {
        (i128::from(i64::MIN), i128::from(i64::MAX))
    };
    (low..=high).contains(&value).then_some(value as i64)
}

/// `epoch_s_ms`'s common case, whole non-negative seconds up to year 9999: Some(seconds). Anything else the
/// Python path may render differently (a fraction, a sign, out of range): Err, and the record goes there.
/// Absent values (no digits at all, like `-`): Ok(None), as Python's regular expression refuses them.
pub fn epoch_seconds(text: &str) -> Result<Option<i64>, ()> {
    let bytes = text.as_bytes();
    if !bytes.is_empty() && bytes.len() <= 12 && bytes.iter().all(|b| b.is_ascii_digit()) {
        let value: i64 = text.parse().map_err(|_| ())?;
        return if value <= crate::dates::MAX_SECONDS { Ok(Some(value)) } else { Err(()) };
    }
    if bytes.iter().any(|b| b.is_ascii_digit()) {
        return Err(());
    }
    Ok(None)
}
