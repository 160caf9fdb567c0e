//! Where each field of a VPC Flow Logs format sits (`parsers.vpcflow._Layout`): the built-in formats
//! recognised by their token count, and formats named by a detection rule's `vpcflow_format`.

use std::collections::HashMap;
use std::sync::OnceLock;

const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
const V5_MORE: &str = " vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";
const V7_MORE: &str = " ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id";
const TGW: &str = "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service";
const CUSTOM_6: &str = "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr";
const CUSTOM_17: &str = "version interface-id account-id vpc-id subnet-id instance-id srcaddr dstaddr srcport dstport protocol tcp-flags type pkt-srcaddr pkt-dstaddr action log-status";
const CUSTOM_21: &str = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status";

/// A document path: top-level key, then the keys below it.
pub type Path = &'static [&'static str];

/// Fields that leave `aws.vpcflow` for an ECS field (values of `-` dropped first).
fn renamed(name: &str) -> Option<Path> {
    Some(match name {
        "ecs-cluster-arn" => &["orchestrator", "cluster", "id"],
        "ecs-cluster-name" => &["orchestrator", "cluster", "name"],
        "ecs-container-instance-arn" => &["orchestrator", "resource", "name"],
        "ecs-container-instance-id" => &["orchestrator", "resource", "id"],
        "ecs-service-name" => &["service", "name"],
        "reject-reason" => &["event", "reason"],
        _ => return None,
    })
}

/// Fields dissected straight into ECS fields, so a `-` survives there.
fn raw(name: &str) -> Option<Path> {
    Some(match name {
        "region" => &["cloud", "region"],
        "az-id" => &["cloud", "availability_zone"],
        "flow-direction" => &["network", "direction"],
        _ => return None,
    })
}

const POSITIONAL: [&str; 9] =
    ["srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end"];

pub struct Layout {
    pub size: usize,
    pub first: String,
    pub aws: Vec<(usize, String)>,
    pub raw: Vec<(usize, Path)>,
    pub renamed: Vec<(usize, Path)>,
    pub sublocation: Option<(Option<usize>, Option<usize>)>,
    pub src: Option<usize>,
    pub dst: Option<usize>,
    pub sport: Option<usize>,
    pub dport: Option<usize>,
    pub proto: Option<usize>,
    pub packets: Option<usize>,
    pub bytes: Option<usize>,
    pub start: Option<usize>,
    pub end: Option<usize>,
}

/// The layout of a list of field names; None when a name repeats (Python's dict semantics for repeated
/// keys are left to the Python path).
fn layout(names: &[&str]) -> Option<Layout> {
    let mut index = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if index.insert(*name, i).is_some() {
            return None;
        }
    }
    let (mut aws, mut raw_fields, mut renamed_fields) = (Vec::new(), Vec::new(), Vec::new());
    for (i, name) in names.iter().enumerate() {
        if POSITIONAL.contains(name) || *name == "sublocation-type" || *name == "sublocation-id" {
            continue;
        }
        if let Some(path) = raw(name) {
            raw_fields.push((i, path));
        } else if let Some(path) = renamed(name) {
            renamed_fields.push((i, path));
        } else {
            let key = match *name {
                "pkt-src-aws-service" => "pkt_src_service".to_string(),
                "pkt-dst-aws-service" => "pkt_dst_service".to_string(),
                other => other.replace('-', "_"),
            };
            aws.push((i, key));
        }
    }
    let at = |name: &str| index.get(name).copied();
    let sublocation = (at("sublocation-type").is_some() || at("sublocation-id").is_some())
        .then(|| (at("sublocation-type"), at("sublocation-id")));
    Some(Layout {
        size: names.len(),
        first: names[0].to_string(),
        aws,
        raw: raw_fields,
        renamed: renamed_fields,
        sublocation,
        src: at("srcaddr"),
        dst: at("dstaddr"),
        sport: at("srcport"),
        dport: at("dstport"),
        proto: at("protocol"),
        packets: at("packets"),
        bytes: at("bytes"),
        start: at("start"),
        end: at("end"),
    })
}

/// The built-in layout for a record of `count` fields.
pub fn by_count(count: usize) -> Option<&'static Layout> {
    static LAYOUTS: OnceLock<HashMap<usize, Layout>> = OnceLock::new();
    LAYOUTS
        .get_or_init(|| {
            let v5 = format!("{V2}{V5_MORE}");
            let v7 = format!("{v5}{V7_MORE}");
            let v8 = format!("{v7} reject-reason");
            [V2, &v5, &v7, &v8, TGW, CUSTOM_6, CUSTOM_17, CUSTOM_21]
                .iter()
                .map(|format| {
                    layout(&format.split(' ').collect::<Vec<_>>()).expect("built-in formats name each field once")
                })
                .map(|layout| (layout.size, layout))
                .collect()
        })
        .get(&count)
}

/// The layout of a detection rule's format string (`${version} ${srcaddr} ...`): Ok(None) when it names no
/// field (Python then recognises records by their token count too), Err when it repeats one or holds
/// characters whose splitting Python and Rust might not agree on (the Python path takes such records).
pub fn hinted(format: &str) -> Result<Option<Layout>, ()> {
    if !format.bytes().all(|b| b.is_ascii_alphanumeric() || b"-${}_ ".contains(&b)) {
        return Err(());
    }
    let names: Vec<&str> = format
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| t.trim_matches(|c| c == '$' || c == '{' || c == '}'))
        .collect();
    if names.is_empty() || names.iter().any(|n| n.is_empty()) {
        return Ok(None);
    }
    layout(&names).map(Some).ok_or(())
}
