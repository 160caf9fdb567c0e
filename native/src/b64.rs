//! Strict standard base64 (canonical padding, no stray trailing bits), decoded a quad at a time from a table:
//! a record of plain lines is mostly its base64, which the `base64` crate's general engine decodes at about
//! twice this cost per byte. What this accepts, Python's lenient `b64decode` decodes to the same bytes; what
//! it refuses goes to the Python path.

const INVALID: u8 = 0xFF;

const TABLE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The decoded bytes, or None for anything but canonical standard base64.
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let padding = text.iter().rev().take(2).take_while(|&&c| c == b'=').count();
    let whole = if padding > 0 { text.len() - 4 } else { text.len() };
    let mut out = vec![0u8; whole / 4 * 3];
    let mut bad = 0u8;
    for (quad, bytes) in text[..whole].chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let [a, b, c, d] = [quad[0], quad[1], quad[2], quad[3]].map(|ch| TABLE[usize::from(ch)]);
        bad |= a | b | c | d; // an invalid character sets the high bit
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        bytes.copy_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    if bad & 0x80 != 0 {
        return None;
    }
    if padding > 0 {
        let last = &text[whole..];
        let a = TABLE[usize::from(last[0])];
        let b = TABLE[usize::from(last[1])];
        let c = if padding == 1 { TABLE[usize::from(last[2])] } else { 0 };
        // Bits past the last byte must be zero, as the `base64` crate's strict engine requires.
        let spare = if padding == 2 { b & 0x0f } else { c & 0x03 };
        if (a | b | c) & 0x80 != 0 || spare != 0 {
            return None;
        }
        out.push(a << 2 | b >> 4);
        if padding == 1 {
            out.push(b << 4 | c >> 2);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    #[test]
    fn agrees_with_the_strict_engine() {
        let engine = base64::engine::general_purpose::STANDARD;
        let mut texts: Vec<String> =
            (0..40).map(|n| engine.encode((0..n).map(|i| (i * 37 + n) as u8).collect::<Vec<_>>())).collect();
        texts.extend(
            ["QQ==", "QR==", "QUI=", "QUJ=", "Q===", "====", "QQ=", "QQ==QQ==", "Q Q=", "", "QUJD", "QUJ\n"]
                .map(String::from),
        );
        for text in texts {
            assert_eq!(super::decode(text.as_bytes()), engine.decode(&text).ok(), "{text:?}");
        }
    }
}
