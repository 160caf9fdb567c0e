//! Document ids as `sinks.documents` makes them: base64url (no padding) of a 120-bit BLAKE2b of the
//! document's position, `<stream>\x1f<shard>\x1f<sequence>\x1f<sub-sequence>\x1f<ordinal>\x1f<part>`.

use base64::Engine;
use blake2::digest::{Update, VariableOutput};

pub const LEN: usize = 20;

/// Appends the id of part 0 of event `ordinal` of the record at `position` (its first four fields and
/// their separators).
pub fn write(out: &mut Vec<u8>, position: &str, ordinal: usize) {
    let mut hasher = blake2::Blake2bVar::new(15).expect("15 is a valid BLAKE2b size");
    hasher.update(position.as_bytes());
    hasher.update(itoa::Buffer::new().format(ordinal).as_bytes());
    hasher.update(b"\x1f0");
    let mut digest = [0u8; 15];
    hasher.finalize_variable(&mut digest).expect("the buffer is the hasher's size");
    let mut text = [0u8; LEN];
    let written = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode_slice(digest, &mut text)
        .expect("15 bytes are 20 characters");
    out.extend_from_slice(&text[..written]);
}
