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

/// TABLE's values moved to their place in a quad's 24 bits, one table per position, so that a quad is four
/// look-ups or'ed together; an invalid character sets bit 31 whatever its position.
const SHIFTED: [[u32; 256]; 4] = {
    let mut tables = [[0u32; 256]; 4];
    let mut position = 0;
    while position < 4 {
        let mut ch = 0;
        while ch < 256 {
            tables[position][ch] =
                if TABLE[ch] == INVALID { 0x8000_0000 } else { (TABLE[ch] as u32) << (18 - 6 * position) };
            ch += 1;
        }
        position += 1;
    }
    tables
};

/// The decoded bytes, or None for anything but canonical standard base64.
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let padding = text.iter().rev().take(2).take_while(|&&c| c == b'=').count();
    let whole = if padding > 0 { text.len() - 4 } else { text.len() };
    let size = whole / 4 * 3;
    // One spare byte: each quad is stored as four bytes, the last one overwritten by the next quad's.
    let mut out = vec![0u8; size + 1];
    let mut bad = 0u32;
    let start = out.as_mut_ptr();
    for (i, quad) in text[..whole].chunks_exact(4).enumerate() {
        let n = SHIFTED[0][usize::from(quad[0])]
            | SHIFTED[1][usize::from(quad[1])]
            | SHIFTED[2][usize::from(quad[2])]
            | SHIFTED[3][usize::from(quad[3])];
        bad |= n;
        // SAFETY: quad i < whole / 4 is stored at 3i..3i + 4 <= size + 1, within `out`.
        unsafe { start.add(i * 3).cast::<[u8; 4]>().write_unaligned((n << 8).to_be_bytes()) };
    }
    out.truncate(size);
    if bad & 0x8000_0000 != 0 {
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
