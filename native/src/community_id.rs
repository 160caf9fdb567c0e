//! Community ID v1 (`parsers.enrich.community_id`): seed 0, endpoints smaller first, ICMP message types
//! paired as Zeek pairs them.

use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

const ICMP_PAIRS: [(i64, i64); 10] = [(8, 0), (0, 8), (13, 14), (14, 13), (15, 16), (16, 15), (10, 9), (9, 10), (17, 18), (18, 17)];
const ICMP6_PAIRS: [(i64, i64); 12] = [
    (128, 129), (129, 128), (130, 131), (131, 130), (133, 134), (134, 133),
    (135, 136), (136, 135), (139, 140), (140, 139), (144, 145), (145, 144),
];

fn packed(ip: IpAddr) -> ([u8; 16], usize) {
    let mut bytes = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => {
            bytes[..4].copy_from_slice(&v4.octets());
            (bytes, 4)
        }
        IpAddr::V6(v6) => (v6.octets(), 16),
    }
}

/// The `1:<base64>` hash, or None when the flow cannot be hashed (ports missing or out of range where the
/// protocol has them, a protocol number outside 0..=255).
pub fn hash(src: IpAddr, dst: IpAddr, proto: i64, src_port: Option<i64>, dst_port: Option<i64>) -> Option<String> {
    if !(0..=255).contains(&proto) {
        return None;
    }
    let ((src_bytes, src_len), (dst_bytes, dst_len)) = (packed(src), packed(dst));
    let (mut a, mut b) = (&src_bytes[..src_len], &dst_bytes[..dst_len]);
    let mut hasher = Sha1::new();
    hasher.update([0u8, 0u8]);
    if matches!(proto, 1 | 6 | 17 | 58 | 132) {
        let (mut a_port, mut b_port) = match (src_port, dst_port) {
            (Some(s), Some(d)) if (0..=65535).contains(&s) && (0..=65535).contains(&d) => (s, d),
            _ => return None,
        };
        let mut one_way = false;
        if proto == 1 || proto == 58 {
            let pairs: &[(i64, i64)] = if proto == 1 { &ICMP_PAIRS } else { &ICMP6_PAIRS };
            match pairs.iter().find(|(request, _)| *request == a_port) {
                Some((_, answer)) => b_port = *answer,
                None => one_way = true,
            }
        }
        if !(one_way || a < b || (a == b && a_port < b_port)) {
            std::mem::swap(&mut a, &mut b);
            std::mem::swap(&mut a_port, &mut b_port);
        }
        hasher.update(a);
        hasher.update(b);
        hasher.update([proto as u8, 0]);
        hasher.update((a_port as u16).to_be_bytes());
        hasher.update((b_port as u16).to_be_bytes());
    } else {
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        hasher.update(a);
        hasher.update(b);
        hasher.update([proto as u8, 0]);
    }
    let mut text = String::with_capacity(30);
    text.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(hasher.finalize(), &mut text);
    Some(text)
}
