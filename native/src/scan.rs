//! Byte searches eight bytes at a time (SWAR) for the line reader: a line's fields are mostly long runs of
//! ordinary characters between rare delimiters.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// Where the first byte of a word's marks is (the lowest marked byte is always exact: a false mark can only
/// follow a true one).
fn first(marks: u64) -> usize {
    (marks.trailing_zeros() / 8) as usize
}

/// The first `needle` in `hay`.
pub fn find(hay: &[u8], needle: u8) -> Option<usize> {
    let pattern = ONES * u64::from(needle);
    let mut at = 0;
    while at + 8 <= hay.len() {
        let w = word(hay, at) ^ pattern;
        let zero = w.wrapping_sub(ONES) & !w & HIGH;
        if zero != 0 {
            return Some(at + first(zero));
        }
        at += 8;
    }
    hay[at..].iter().position(|&b| b == needle).map(|p| at + p)
}

/// How many bytes at the start of `hay` are printable ASCII (0x21..=0x7e).
pub fn printable(hay: &[u8]) -> usize {
    let mut at = 0;
    while at + 8 <= hay.len() {
        let w = word(hay, at);
        let below = w.wrapping_sub(ONES * 0x21) & !w & HIGH;
        let above = (w.wrapping_add(ONES) | w) & HIGH;
        if below | above != 0 {
            return at + first(below | above);
        }
        at += 8;
    }
    at + hay[at..].iter().take_while(|b| (0x21..=0x7e).contains(*b)).count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn agree_with_byte_loops() {
        let mut text: Vec<u8> = (0u8..=255).collect();
        text.extend(b"abc def\"ghi\n\x7f\x20\x21\x7e\x80\xff");
        for start in 0..text.len() {
            let hay = &text[start..];
            for needle in [b' ', b'"', b'\n', 0, 0xff] {
                assert_eq!(super::find(hay, needle), hay.iter().position(|&b| b == needle));
            }
            assert_eq!(super::printable(hay), hay.iter().take_while(|b| (0x21..=0x7e).contains(*b)).count());
        }
    }
}
