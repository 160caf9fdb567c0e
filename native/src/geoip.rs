//! GeoIP and ASN fields as `parsers.enrich.geoip` writes them (Elasticsearch's geoip processor's
//! properties), from the same MaxMind databases.
//!
//! Answers are cached per network, as in Python, but for the network the databases name rather than a
//! fixed /24 or /48: a lookup also says how many leading bits of the address decided it (its prefix), and
//! every address sharing those bits gets the same answer from that database. The longer of the two
//! databases' prefixes is where both answers hold, so the rendered answer is kept for that network. Flow
//! logs' addresses rarely repeat but crowd into a few networks.

use crate::json::{self, Members};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::net::IpAddr;

const CITY_DATABASES: [&str; 4] =
    ["GeoIP2-City.mmdb", "GeoLite2-City.mmdb", "GeoIP2-City-Test.mmdb", "GeoLite2-City-Test.mmdb"];
const ASN_DATABASES: [&str; 3] = ["GeoLite2-ASN.mmdb", "GeoIP2-ISP.mmdb", "GeoLite2-ASN-Test.mmdb"];
const MAX_NETWORKS: usize = 65_536;

// Only what the processor writes: decoding MaxMind's whole record (every language's names) would cost
// more than the rest of the document.
#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct Place<'a> {
    #[serde(borrow)]
    names: Option<Names<'a>>,
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct City<'a> {
    #[serde(borrow)]
    city: Option<Place<'a>>,
    #[serde(borrow)]
    continent: Option<Place<'a>>,
    #[serde(borrow)]
    country: Option<Place<'a>>,
    location: Option<Location>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Place<'a>>>,
}

#[derive(Deserialize)]
struct Asn<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

type Reader = maxminddb::Reader<Vec<u8>>;

pub struct GeoIp {
    city: Option<Reader>,
    asn: Option<Reader>,
    // One map per (IP version, prefix length): the network's leading bits -> the rendered
    // `,"geo":{..},"as":{..}` (maybe empty). Networks of one database never overlap with different answers,
    // so at most one map holds an address; the fullest maps are asked first.
    networks: Vec<(bool, u8, FxHashMap<u128, Vec<u8>>)>,
    cached: usize,
}

fn bits_of(ip: IpAddr) -> (bool, u128, u8) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (true, u128::from(v6), 128),
    }
}

fn network(address: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        address >> (width - prefix)
    }
}

/// The first of `names` that is a file in `folder` (as in Python), opened; an error when that file is not
/// a database, so that the caller keeps such records on the Python path (which reports the error).
fn open(folder: &str, names: &[&str]) -> Result<Option<Reader>, String> {
    match names.iter().map(|name| std::path::Path::new(folder).join(name)).find(|path| path.is_file()) {
        Some(path) => Reader::open_readfile(&path).map(Some).map_err(|e| format!("{}: {e}", path.display())),
        None => Ok(None),
    }
}

impl GeoIp {
    pub fn open(folder: Option<&str>) -> Result<GeoIp, String> {
        let (city, asn) = match folder {
            Some(folder) if !folder.is_empty() => (open(folder, &CITY_DATABASES)?, open(folder, &ASN_DATABASES)?),
            _ => (None, None),
        };
        Ok(GeoIp { city, asn, networks: Vec::new(), cached: 0 })
    }

    pub fn enabled(&self) -> bool {
        self.city.is_some() || self.asn.is_some()
    }

    /// Appends `,"geo":{...}` and `,"as":{...}` for an address, each when the databases know something; Err
    /// when a database fails to answer (Python raises there, and dead-letters the event).
    pub fn write(&mut self, out: &mut Vec<u8>, ip: IpAddr) -> Result<(), ()> {
        if !self.enabled() {
            return Ok(());
        }
        let (v6, address, width) = bits_of(ip);
        for (version, prefix, map) in &self.networks {
            if *version == v6 {
                if let Some(found) = map.get(&network(address, width, *prefix)) {
                    out.extend_from_slice(found);
                    return Ok(());
                }
            }
        }
        let mut rendered = Vec::new();
        let city_prefix = lookup(&self.city, ip, &mut rendered, write_city)?;
        let asn_prefix = lookup(&self.asn, ip, &mut rendered, write_asn)?;
        out.extend_from_slice(&rendered);
        // A database that could not say (an IPv6 address in an IPv4 database) leaves the answer uncached.
        if let (Some(a), Some(b)) = (city_prefix, asn_prefix) {
            let prefix = a.max(b).min(usize::from(width)) as u8;
            self.remember(v6, prefix, network(address, width, prefix), rendered);
        }
        Ok(())
    }

    fn remember(&mut self, v6: bool, prefix: u8, key: u128, rendered: Vec<u8>) {
        if self.cached >= MAX_NETWORKS {
            self.networks.clear();
            self.cached = 0;
        }
        let at = match self.networks.iter().position(|(version, p, _)| *version == v6 && *p == prefix) {
            Some(at) => at,
            None => {
                self.networks.push((v6, prefix, FxHashMap::default()));
                self.networks.len() - 1
            }
        };
        if self.networks[at].2.insert(key, rendered).is_none() {
            self.cached += 1;
        }
        // Keep the fullest maps first: most addresses are found in the first one asked.
        if at > 0 && self.networks[at].2.len() > self.networks[at - 1].2.len() {
            self.networks.swap(at, at - 1);
        }
    }
}

/// One database's answer for `ip`, written by `write`: Ok(the prefix length that decided it), Ok(None) when the
/// database cannot say (an IPv6 address in an IPv4-only database: Python's reader refuses the look-up, and no
/// answer is written), Err when it fails (a corrupt database: Python raises).
fn lookup<'de, T: Deserialize<'de>>(
    reader: &'de Option<Reader>,
    ip: IpAddr,
    out: &mut Vec<u8>,
    write: fn(&mut Vec<u8>, &T),
) -> Result<Option<usize>, ()> {
    let Some(reader) = reader else { return Ok(Some(0)) };
    if ip.is_ipv6() && reader.metadata.ip_version == 4 {
        return Ok(None);
    }
    let (found, prefix) = reader.lookup_prefix::<T>(ip).map_err(|_| ())?;
    if let Some(answer) = found {
        write(out, &answer);
    }
    Ok(Some(prefix))
}

fn english<'a>(place: &Option<Place<'a>>) -> Option<&'a str> {
    place.as_ref()?.names.as_ref()?.en.filter(|name| !name.is_empty())
}

fn write_city(out: &mut Vec<u8>, city: &City) {
    let start = out.len();
    out.extend_from_slice(b",\"geo\":{");
    let mut geo = Members::new();
    if let Some(name) = english(&city.continent) {
        geo.str(out, "continent_name", name);
    }
    let country_iso = city.country.as_ref().and_then(|c| c.iso_code).filter(|iso| !iso.is_empty());
    if let Some(iso) = country_iso {
        geo.str(out, "country_iso_code", iso);
    }
    if let Some(name) = english(&city.country) {
        geo.str(out, "country_name", name);
    }
    // CityResponse.getMostSpecificSubdivision: the last one (England, then West Berkshire -> West Berkshire).
    if let Some(top) = city.subdivisions.as_ref().and_then(|s| s.last()) {
        if let (Some(country), Some(region)) = (country_iso, top.iso_code.filter(|iso| !iso.is_empty())) {
            geo.str(out, "region_iso_code", &format!("{country}-{region}"));
        }
        if let Some(name) = top.names.as_ref().and_then(|n| n.en).filter(|name| !name.is_empty()) {
            geo.str(out, "region_name", name);
        }
    }
    if let Some(name) = english(&city.city) {
        geo.str(out, "city_name", name);
    }
    if let Some(Location { latitude: Some(lat), longitude: Some(lon) }) = city.location {
        geo.key(out, "location");
        out.extend_from_slice(b"{\"lat\":");
        json::float(out, lat);
        out.extend_from_slice(b",\"lon\":");
        json::float(out, lon);
        out.push(b'}');
    }
    if geo.is_empty() {
        out.truncate(start);
    } else {
        out.push(b'}');
    }
}

fn write_asn(out: &mut Vec<u8>, asn: &Asn) {
    let start = out.len();
    out.extend_from_slice(b",\"as\":{");
    let mut members = Members::new();
    if let Some(number) = asn.autonomous_system_number {
        members.int(out, "number", i64::from(number));
    }
    if let Some(name) = asn.autonomous_system_organization.filter(|name| !name.is_empty()) {
        members.key(out, "organization");
        out.extend_from_slice(b"{\"name\":");
        json::string(out, name);
        out.push(b'}');
    }
    if members.is_empty() {
        out.truncate(start);
    } else {
        out.push(b'}');
    }
}
