//! Community ID v1 as `parsers.enrich.community_id` computes it, which follows Elasticsearch's
//! CommunityIdProcessor: seed 0; TCP, UDP and SCTP with their ports (a missing one is 0); ICMP and ICMPv6
//! with type and code 0 (no AWS pipeline sets them) paired by Elasticsearch's tables; addresses ordered as
//! unsigned numbers, an IPv4-mapped IPv6 address hashed as its IPv4 address; protocol 255 refused.

use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

// ICMP type 0 (the only type VPC Flow Logs give here) pairs with 8; ICMPv6 type 0 has no pair (one-way).
const ICMP_ZERO_ANSWER: u16 = 8;

/// The address as Java's InetAddress.getByAddress reads it: an IPv4-mapped IPv6 address is IPv4.
fn packed(ip: IpAddr) -> ([u8; 16], usize) {
    let mut bytes = [0u8; 16];
    let v4 = match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    match (v4, ip) {
        (Some(v4), _) => {
            bytes[..4].copy_from_slice(&v4.octets());
            (bytes, 4)
        }
        (None, IpAddr::V6(v6)) => (v6.octets(), 16),
        (None, IpAddr::V4(_)) => unreachable!("an IPv4 address is always Some above"),
    }
}

/// Flow.isOrdered: source before destination, addresses as unsigned numbers, then ports.
fn ordered(a: &[u8], b: &[u8], a_port: u16, b_port: u16) -> bool {
    let number = |x: &[u8]| x.iter().fold(0u128, |n, byte| n << 8 | u128::from(*byte));
    let (x, y) = if a.len() == b.len() { (0, 0) } else { (number(a), number(b)) };
    if a.len() == b.len() {
        a < b || (a == b && a_port < b_port)
    } else {
        x < y || (x == y && a_port < b_port)
    }
}

/// The `1:<base64>` hash, or None where Elasticsearch computes none (a protocol outside 0..=254, a port out
/// of range). `src_port`/`dst_port`: None for a port the record lacks.
pub fn hash(src: IpAddr, dst: IpAddr, proto: i64, src_port: Option<i64>, dst_port: Option<i64>) -> Option<String> {
    if !(0..255).contains(&proto) {
        return None;
    }
    let ((src_bytes, src_len), (dst_bytes, dst_len)) = (packed(src), packed(dst));
    let (mut a, mut b) = (&src_bytes[..src_len], &dst_bytes[..dst_len]);
    let ports = match proto {
        6 | 17 | 132 => {
            let (s, d) = (src_port.unwrap_or(0), dst_port.unwrap_or(0));
            if !(0..=65535).contains(&s) || !(0..=65535).contains(&d) {
                return None;
            }
            let (mut s, mut d) = (s as u16, d as u16);
            if !ordered(a, b, s, d) {
                std::mem::swap(&mut a, &mut b);
                std::mem::swap(&mut s, &mut d);
            }
            Some((s, d))
        }
        1 => {
            let (mut s, mut d) = (0u16, ICMP_ZERO_ANSWER);
            if !ordered(a, b, s, d) {
                std::mem::swap(&mut a, &mut b);
                std::mem::swap(&mut s, &mut d);
            }
            Some((s, d))
        }
        58 => Some((0, 0)), // one-way: the order stays
        _ => {
            if !ordered(a, b, 0, 0) {
                std::mem::swap(&mut a, &mut b);
            }
            None
        }
    };
    let mut hasher = Sha1::new();
    hasher.update([0u8, 0u8]);
    hasher.update(a);
    hasher.update(b);
    hasher.update([proto as u8, 0]);
    if let Some((s, d)) = ports {
        hasher.update(s.to_be_bytes());
        hasher.update(d.to_be_bytes());
    }
    let mut text = String::with_capacity(30);
    text.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(hasher.finalize(), &mut text);
    Some(text)
}
