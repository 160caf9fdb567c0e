//! One VPC Flow Logs event to its document, as `parsers.vpcflow.parse`, then `parsers.document.finalize`
//! and `ship`, then `sinks.documents.BulkItemBuilder.add` make it, byte for byte: the same fields in the
//! order those dicts get them. Any case this does not cover makes `write` return Err, and the record goes
//! to the Python path whole.

use crate::community_id;
use crate::cwl;
use crate::dates;
use crate::geoip::GeoIp;
use crate::json::{self, Members};
use crate::layout::Layout;
use crate::numbers::{epoch_seconds, java_long};
use std::net::IpAddr;

/// What every document of one record shares.
pub struct Context<'a> {
    pub record: &'a cwl::Record,
    pub cloudwatch: &'a [u8], // the record's `"log_group":...,"log_stream":...` members (`cloudwatch_members`)
    pub ingested: &'a [u8],   // the record's arrival time, rendered
    pub ecs_version: &'a str,
    pub namespace: &'a str,
    pub labels: Option<&'a [u8]>, // the stream's labels as a JSON object, or None
    pub keep_original: bool,
}

const TRANSPORTS: [(&str, &str); 11] = [
    ("0", "hopopt"),
    ("1", "icmp"),
    ("2", "igmp"),
    ("6", "tcp"),
    ("8", "egp"),
    ("17", "udp"),
    ("47", "gre"),
    ("50", "esp"),
    ("58", "ipv6-icmp"),
    ("112", "vrrp"),
    ("132", "sctp"),
];
const TCP_FLAGS: [(u64, &str); 6] =
    [(0x01, "fin"), (0x02, "syn"), (0x04, "rst"), (0x08, "psh"), (0x10, "ack"), (0x20, "urg")];

fn absent(value: &str) -> bool {
    value.is_empty() || value == "-"
}

/// Objects made by `_put` along a path (`cloud.region`, `orchestrator.cluster.id`, ...), in the order Python's
/// dicts get them.
#[derive(Default)]
struct Tree(Vec<(&'static str, Node)>);

enum Node {
    Leaf(String),
    Branch(Tree),
}

impl Tree {
    fn put(&mut self, path: &[&'static str], value: &str) {
        let (key, rest) = (path[0], &path[1..]);
        let at = self.0.iter().position(|(k, _)| *k == key);
        if rest.is_empty() {
            match at {
                Some(i) => self.0[i].1 = Node::Leaf(value.to_string()),
                None => self.0.push((key, Node::Leaf(value.to_string()))),
            }
            return;
        }
        let i = match at {
            Some(i) if matches!(self.0[i].1, Node::Branch(_)) => i,
            Some(i) => {
                self.0[i].1 = Node::Branch(Tree::default());
                i
            }
            None => {
                self.0.push((key, Node::Branch(Tree::default())));
                self.0.len() - 1
            }
        };
        if let Node::Branch(child) = &mut self.0[i].1 {
            child.put(rest, value);
        }
    }

    fn get(&self, key: &str) -> Option<&Tree> {
        self.0.iter().find(|(k, _)| *k == key).and_then(|(_, node)| match node {
            Node::Branch(tree) => Some(tree),
            Node::Leaf(_) => None,
        })
    }

    /// The members, without braces.
    fn write_members(&self, out: &mut Vec<u8>, members: &mut Members) {
        for (key, node) in &self.0 {
            match node {
                Node::Leaf(value) => members.str(out, key, value),
                Node::Branch(child) => {
                    members.key(out, key);
                    out.push(b'{');
                    child.write_members(out, &mut Members::new());
                    out.push(b'}');
                }
            }
        }
    }
}

/// Appends the document of one event (and its newline), or Err: the caller refuses the whole record.
pub fn write(
    out: &mut Vec<u8>,
    geoip: &mut GeoIp,
    layout: &Layout,
    fields: &[&str],
    event: &cwl::Event,
    cx: &Context,
) -> Result<(), ()> {
    let field = |index: Option<usize>| index.map_or("-", |i| fields[i]); // a field the format lacks reads as `-`
    let end = epoch_seconds(field(layout.end))?;
    let start = epoch_seconds(field(layout.start))?;
    if end.is_none() && event.timestamp.is_some_and(|ms| ms >= dates::EXACT_MS) {
        return Err(()); // @timestamp from the envelope, which Python renders through a float past this
    }

    // What `_put` creates: cloud.region and .availability_zone, network.direction, orchestrator.*,
    // service.name, event.reason. A top-level object it creates (network, orchestrator, service) sits right
    // after `event`, where Python's dict got it.
    let mut puts = Tree::default();
    for (i, path) in &layout.raw {
        if !fields[*i].is_empty() {
            puts.put(path, fields[*i]);
        }
    }
    for (i, path) in &layout.renamed {
        if !absent(fields[*i]) {
            puts.put(path, fields[*i]);
        }
    }
    let aws_value =
        |key: &str| layout.aws.iter().find(|(_, k)| k == key).map(|(i, _)| fields[*i]).filter(|v| !absent(v));
    let action = aws_value("action");
    let account = aws_value("account_id");

    let (src, dst) = (field(layout.src), field(layout.dst));
    let src_ip: Option<IpAddr> = if absent(src) { None } else { src.parse().ok() };
    let dst_ip: Option<IpAddr> = if absent(dst) { None } else { dst.parse().ok() };
    let sport = java_long(field(layout.sport), 32);
    let dport = java_long(field(layout.dport), 32);
    let packets = java_long(field(layout.packets), 64);
    let bytes = java_long(field(layout.bytes), 64);
    let ports_converted =
        (sport.is_some() || absent(field(layout.sport))) && (dport.is_some() || absent(field(layout.dport)));
    let network =
        network_members(&puts, src, src_ip, dst_ip, sport, dport, ports_converted, packets, bytes, field(layout.proto));

    out.extend_from_slice(b"{\"aws\":{\"vpcflow\":");
    write_vpcflow(out, layout, fields);
    write_cloudwatch(out, cx.cloudwatch, event);
    out.push(b'}');
    write_cloud(out, &puts, account, aws_value("instance_id"), cx.record);
    write_event(out, &puts, action, end, start, event, cx);
    for (key, node) in &puts.0 {
        if *key == "cloud" || *key == "event" {
            continue;
        }
        out.push(b',');
        json::string(out, key);
        out.push(b':');
        if *key == "network" {
            object(out, &network);
        } else if let Node::Branch(tree) = node {
            out.push(b'{');
            tree.write_members(out, &mut Members::new());
            out.push(b'}');
        }
    }
    if let Some(seconds) = end {
        out.extend_from_slice(b",\"@timestamp\":\"");
        dates::iso_ms(out, seconds * 1000);
        out.push(b'"');
    }
    if let (Some(_), Some(_)) = (src_ip, dst_ip) {
        out.extend_from_slice(b",\"related\":{\"ip\":[");
        json::string(out, src);
        out.push(b',');
        json::string(out, dst);
        out.extend_from_slice(b"]}");
    }
    write_endpoint(out, geoip, "source", src, src_ip, sport, packets, bytes)?;
    write_endpoint(out, geoip, "destination", dst, dst_ip, dport, None, None)?;
    if puts.get("network").is_none() && !network.is_empty() {
        out.extend_from_slice(b",\"network\":");
        object(out, &network);
    }

    // finalize, ship, and the bulk item's own fields
    out.extend_from_slice(b",\"ecs\":{\"version\":");
    json::string(out, cx.ecs_version);
    out.push(b'}');
    if let (None, Some(ms)) = (end, event.timestamp) {
        out.extend_from_slice(b",\"@timestamp\":\"");
        dates::iso_ms(out, ms);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"data_stream\":{\"type\":\"logs\",\"dataset\":\"aws.vpcflow\",\"namespace\":");
    json::string(out, cx.namespace);
    out.push(b'}');
    if let Some(labels) = cx.labels {
        out.extend_from_slice(b",\"labels\":");
        out.extend_from_slice(labels);
    }
    if end.is_none() && event.timestamp.is_none() {
        out.extend_from_slice(b",\"@timestamp\":\"");
        out.extend_from_slice(cx.ingested);
        out.push(b'"');
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

fn object(out: &mut Vec<u8>, members: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(members);
    out.push(b'}');
}

/// `aws.vpcflow`: the format's own fields, then `sublocation` and `tcp_flags_array`.
fn write_vpcflow(out: &mut Vec<u8>, layout: &Layout, fields: &[&str]) {
    out.push(b'{');
    let mut vpcflow = Members::new();
    let mut tcp_flags = None;
    for (i, key) in &layout.aws {
        if !absent(fields[*i]) {
            vpcflow.str(out, key, fields[*i]);
            if key == "tcp_flags" {
                tcp_flags = Some(fields[*i]);
            }
        }
    }
    if let Some((kind, id)) = layout.sublocation {
        vpcflow.key(out, "sublocation");
        out.push(b'{');
        let mut sublocation = Members::new();
        for (key, index) in [("type", kind), ("id", id)] {
            if let Some(value) = index.map(|i| fields[i]).filter(|v| !absent(v)) {
                sublocation.str(out, key, value);
            }
        }
        out.push(b'}');
    }
    if let Some(flags) = tcp_flags {
        // Painless parseUnsignedInt; the list exists (maybe empty) as soon as the field does.
        vpcflow.key(out, "tcp_flags_array");
        out.push(b'[');
        if let Some(value) = java_long(flags, 64).filter(|v| (0..=0xFFFF_FFFF).contains(v)) {
            let mut first = true;
            for (bit, name) in TCP_FLAGS {
                if value as u64 & bit != 0 {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    json::string(out, name);
                }
            }
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// The members of `aws.cloudwatch` every event of a record shares, rendered once per record.
pub fn cloudwatch_members(record: &cwl::Record) -> Vec<u8> {
    let mut out = Vec::new();
    let mut members = Members::new();
    for (key, value) in [("log_group", record.log_group()), ("log_stream", record.log_stream())] {
        if !value.is_empty() {
            members.str(&mut out, key, value);
        }
    }
    out
}

/// `aws.cloudwatch`, as `finalize` writes it from the envelope: the record's members, then the event's id.
pub fn write_cloudwatch(out: &mut Vec<u8>, shared: &[u8], event: &cwl::Event) {
    let event_id = event.id.filter(|id| !id.is_empty());
    if shared.is_empty() && event_id.is_none() {
        return;
    }
    out.extend_from_slice(b",\"cloudwatch\":{");
    out.extend_from_slice(shared);
    if let Some(id) = event_id {
        out.extend_from_slice(if shared.is_empty() { b"\"id\":" } else { b",\"id\":" });
        json::string(out, id);
    }
    out.push(b'}');
}

/// `cloud`: provider, what `_put` added, account and instance from the line; `finalize` adds the envelope
/// owner's account last, when the line had none.
fn write_cloud(out: &mut Vec<u8>, puts: &Tree, account: Option<&str>, instance: Option<&str>, record: &cwl::Record) {
    out.extend_from_slice(b",\"cloud\":{");
    let mut cloud = Members::new();
    cloud.str(out, "provider", "aws");
    if let Some(tree) = puts.get("cloud") {
        tree.write_members(out, &mut cloud);
    }
    let owner = record.owner().filter(|o| !o.is_empty());
    for (key, value) in
        [("account", account), ("instance", instance), ("account", if account.is_none() { owner } else { None })]
    {
        if let Some(id) = value {
            cloud.key(out, key);
            out.extend_from_slice(b"{\"id\":");
            json::string(out, id);
            out.push(b'}');
        }
    }
    out.push(b'}');
}

fn write_event(
    out: &mut Vec<u8>,
    puts: &Tree,
    action: Option<&str>,
    end: Option<i64>,
    start: Option<i64>,
    event: &cwl::Event,
    cx: &Context,
) {
    out.extend_from_slice(b",\"event\":{\"category\":[\"network\"],");
    out.extend_from_slice(match action {
        Some("ACCEPT") => b"\"type\":[\"connection\",\"allowed\"],\"kind\":\"event\"",
        Some("REJECT") => b"\"type\":[\"connection\",\"denied\"],\"kind\":\"event\"",
        _ => b"\"type\":[\"connection\"],\"kind\":\"event\"",
    });
    // The caller has read the message (its escapes read, or it would have refused the record).
    if let (true, Some(message)) = (cx.keep_original, event.message()) {
        out.extend_from_slice(b",\"original\":");
        json::string(out, &message);
    }
    match action {
        Some("ACCEPT") => out.extend_from_slice(b",\"outcome\":\"success\",\"action\":\"ACCEPT\""),
        Some("REJECT") => out.extend_from_slice(b",\"outcome\":\"failure\",\"action\":\"REJECT\""),
        Some(other) => {
            out.extend_from_slice(b",\"action\":");
            json::string(out, other);
        }
        None => {}
    }
    if let Some(tree) = puts.get("event") {
        tree.write_members(out, &mut Members::after_others());
    }
    for (key, seconds) in [("end", end), ("start", start)] {
        if let Some(seconds) = seconds {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":\"");
            dates::iso_ms(out, seconds * 1000);
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"dataset\":\"aws.vpcflow\",\"module\":\"aws\",\"ingested\":\"");
    out.extend_from_slice(cx.ingested);
    out.extend_from_slice(b"\"}");
}

/// `source` or `destination`: address, ip and GeoIP, port, and (source) the counters.
#[allow(clippy::too_many_arguments)]
fn write_endpoint(
    out: &mut Vec<u8>,
    geoip: &mut GeoIp,
    name: &str,
    text: &str,
    ip: Option<IpAddr>,
    port: Option<i64>,
    packets: Option<i64>,
    bytes: Option<i64>,
) -> Result<(), ()> {
    let start = out.len();
    out.push(b',');
    json::string(out, name);
    out.extend_from_slice(b":{");
    let mut members = Members::new();
    if !absent(text) {
        members.str(out, "address", text);
        if let Some(ip) = ip {
            members.str(out, "ip", text);
            geoip.write(out, ip)?;
        }
    }
    for (key, value) in [("port", port), ("packets", packets), ("bytes", bytes)] {
        if let Some(value) = value {
            members.int(out, key, value);
        }
    }
    if members.is_empty() {
        out.truncate(start);
    } else {
        out.push(b'}');
    }
    Ok(())
}

/// The members of `network`, in Python's order: direction (from `_put`), type, counters, protocol, hash.
#[allow(clippy::too_many_arguments)]
fn network_members(
    puts: &Tree,
    src: &str,
    src_ip: Option<IpAddr>,
    dst_ip: Option<IpAddr>,
    sport: Option<i64>,
    dport: Option<i64>,
    ports_converted: bool,
    packets: Option<i64>,
    bytes: Option<i64>,
    proto: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    let mut members = Members::new();
    if let Some(tree) = puts.get("network") {
        tree.write_members(&mut out, &mut members);
    }
    if src_ip.is_some() {
        members.str(&mut out, "type", if src.contains(':') { "ipv6" } else { "ipv4" });
    }
    for (key, value) in [("packets", packets), ("bytes", bytes)] {
        if let Some(value) = value {
            members.int(&mut out, key, value);
        }
    }
    if !absent(proto) {
        members.str(&mut out, "iana_number", proto);
        if let Some((_, transport)) = TRANSPORTS.iter().find(|(number, _)| *number == proto) {
            members.str(&mut out, "transport", transport);
        }
    }
    // A port the pipeline could not convert fails it before community_id runs; an absent one reads as 0.
    if let (Some(s), Some(d), Some(number), true) = (src_ip, dst_ip, java_long(proto, 32), ports_converted) {
        if let Some(id) = community_id::hash(s, d, number, sport, dport) {
            members.str(&mut out, "community_id", &id);
        }
    }
    out
}

/// The record's fields per event, as `parsers.vpcflow.parse` splits them; Err for what it does otherwise
/// (a header line, a JSON-wrapped line).
pub fn split(message: &str) -> Result<Vec<&str>, ()> {
    if message.starts_with("version ") || message.starts_with("instance-id ") || message.starts_with("{\"message\":\"")
    {
        return Err(());
    }
    // Split as bytes: a space is one byte in UTF-8 and never inside another character, so every piece is
    // still UTF-8 (str::split(char) costs several times more per byte here).
    Ok(message
        .as_bytes()
        .split(|&b| b == b' ')
        // SAFETY: pieces of valid UTF-8 cut at ASCII bytes are valid UTF-8.
        .map(|piece| unsafe { std::str::from_utf8_unchecked(piece) })
        .collect())
}
