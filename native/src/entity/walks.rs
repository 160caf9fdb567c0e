//! The entity script's list walks and special targets (`_ec2_related`, `_ssm_targets`, ...): lists of objects,
//! a rule number, action names matched by substring.

use super::record::{at, get, items, Record};
use super::set::Set;
use crate::jv::Value;
use std::borrow::Cow;

const ACCOUNT: &[&str] = &["recipientAccountId"];

pub fn ec2_related<'a>(record: &Record<'a>, related: &mut Set<'a>) {
    for rule in record.items(&["responseElements", "securityGroupRuleSet", "items"]) {
        related.add_values([
            get(rule, "groupId"),
            at(rule, &["referencedGroupInfo", "groupId"]),
            get(rule, "securityGroupRuleId"),
        ]);
    }
    for path in [["responseElements", "groupSet", "items"], ["requestParameters", "groupSet", "items"]] {
        for group in record.items(&path) {
            related.add(get(group, "groupId"));
        }
    }
    for instance in record.items(&["requestParameters", "instancesSet", "items"]) {
        related.add(get(instance, "instanceId"));
    }
    for instance in record.items(&["responseElements", "instancesSet", "items"]) {
        related.add_values([
            get(instance, "subnetId"),
            get(instance, "vpcId"),
            get(instance, "instanceId"),
            get(instance, "imageId"),
            at(instance, &["iamInstanceProfile", "arn"]),
        ]);
        for interface in items(instance, &["networkInterfaceSet", "items"]) {
            related.add_values([
                get(interface, "networkInterfaceId"),
                get(interface, "vpcId"),
                get(interface, "subnetId"),
            ]);
            for group in items(interface, &["groupSet", "items"]) {
                related.add(get(group, "groupId"));
            }
        }
    }
    for rule in record.items(&["requestParameters", "revokedSecurityGroupRuleSet", "items"]) {
        related.add_values([get(rule, "securityGroupRuleId"), get(rule, "groupId")]);
    }
}

pub fn lambda_related<'a>(record: &Record<'a>, related: &mut Set<'a>) {
    related.add_values(record.strings(&["responseElements", "vpcConfig", "securityGroupIds"]).iter().map(Some));
    related.add_values(record.strings(&["responseElements", "vpcConfig", "subnetIds"]).iter().map(Some));
}

pub fn rds_related<'a>(record: &Record<'a>, related: &mut Set<'a>) {
    for subnet in record.items(&["responseElements", "dBSubnetGroup", "subnets"]) {
        related.add(get(subnet, "subnetIdentifier"));
    }
    for group in record.items(&["responseElements", "vpcSecurityGroups"]) {
        related.add(get(group, "vpcSecurityGroupId"));
    }
}

pub fn ec2_targets<'a>(record: &Record<'a>, name: &str, target: &mut Set<'a>) -> Result<(), ()> {
    match name {
        "AuthorizeSecurityGroupIngress" | "AuthorizeSecurityGroupEgress" => {
            target.add(record.at(&["requestParameters", "groupId"]));
            for rule in record.items(&["responseElements", "securityGroupRuleSet", "items"]) {
                target.add(get(rule, "securityGroupRuleId"));
            }
        }
        "DeleteNetworkAclEntry" => match record.at(&["requestParameters", "ruleNumber"]) {
            None | Some(Value::Null) => {}
            Some(number) => {
                // String.valueOf: rule numbers are JSON numbers.
                let text = scalar(number)?;
                if !text.is_empty() {
                    target.insert(text);
                }
            }
        },
        _ => {}
    }
    Ok(())
}

pub fn lambda_targets<'a>(record: &Record<'a>, name: &str, target: &mut Set<'a>) -> Result<(), ()> {
    // Lambda event names carry an API version (AddPermission20150331v2), hence substring matches.
    if name.contains("AddPermission") {
        target.add(record.at(&["requestParameters", "functionName"]));
    } else if name.contains("ListFunctions") {
        target.add(record.at(ACCOUNT));
    }
    Ok(())
}

pub fn monitoring_targets<'a>(record: &Record<'a>, name: &str, target: &mut Set<'a>) -> Result<(), ()> {
    if name == "DeleteAlarms" {
        target.add_all(record.strings(&["requestParameters", "alarmNames"]).iter().map(Some));
    }
    Ok(())
}

pub fn secretsmanager_targets<'a>(record: &Record<'a>, name: &str, target: &mut Set<'a>) -> Result<(), ()> {
    if name == "BatchGetSecretValue" {
        target.add_all(record.strings(&["requestParameters", "secretIdList"]).iter().map(Some));
    }
    Ok(())
}

pub fn ssm_targets<'a>(record: &Record<'a>, name: &str, target: &mut Set<'a>) -> Result<(), ()> {
    if name != "SendCommand" {
        return Ok(());
    }
    let listed = record.strings(&["requestParameters", "instanceIds"]);
    if !listed.is_empty() {
        add_instances(record, listed.iter(), target);
    } else {
        let values = record
            .items(&["requestParameters", "targets"])
            .filter_map(|t| match get(t, "values") {
                Some(Value::Array(values)) => Some(values.iter()),
                _ => None,
            })
            .flatten();
        add_instances(record, values, target);
    }
    Ok(())
}

/// `addValues` of SendCommand's instances; a lone "*" (every instance) makes the account the target.
fn add_instances<'a, I>(record: &Record<'a>, instances: I, target: &mut Set<'a>)
where
    I: Iterator<Item = &'a Value<'a>> + Clone,
{
    let mut head = instances.clone();
    match (head.next(), head.next()) {
        (Some(Value::String(only)), None) if only == "*" => {
            target.add(record.at(ACCOUNT));
        }
        _ => target.add_values(instances.map(Some)),
    }
}

/// `parsers.enrich.javamap.scalar` for the values it renders plainly (texts, integers, booleans); Err for
/// floats and containers. Private until the JSON value utilities of native/src/javamap.rs land.
fn scalar<'a>(value: &'a Value<'a>) -> Result<Cow<'a, str>, ()> {
    match value {
        Value::String(text) => Ok(Cow::Borrowed(text)),
        Value::Bool(true) => Ok(Cow::Borrowed("true")),
        Value::Bool(false) => Ok(Cow::Borrowed("false")),
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(n), _) => Ok(Cow::Owned(n.to_string())),
            (None, Some(n)) => Ok(Cow::Owned(n.to_string())),
            _ => Err(()),
        },
        _ => Err(()),
    }
}
