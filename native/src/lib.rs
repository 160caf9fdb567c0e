//! secstash's compiled record path. `parsers` stays the reference: this renders, for the records it
//! covers, exactly the bulk lines the Python path makes from them (tests compare the two byte for byte),
//! and refuses every other record, which the Python path then parses.
//!
//! Covered: CloudWatch Logs subscription records (one gzip member of one DATA_MESSAGE) whose log group the
//! stream's rules give to `vpcflow` (in any format `parsers.vpcflow` knows) or to `cloudtrail` (`cloudtrail.rs`:
//! API calls and sign-ins; not digest files, Insights events or floats), with or without GeoIP; and records of
//! plain ALB access log lines (`elb.rs`, `elb_doc.rs`).

mod b64;
mod cloudtrail;
mod community_id;
mod ct_categories;
mod cwl;
mod dates;
mod doc_id;
mod elb;
mod elb_doc;
mod entity;
mod flattened;
mod geoip;
mod javamap;
mod json;
mod jv;
mod layout;
mod numbers;
mod scan;
mod uri;
mod useragent;
mod value_json;
mod vpcflow;

use base64::Engine;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::HashMap;

/// A decoded CloudWatch Logs DATA_MESSAGE: `CwlRecord(data_b64, max_decompressed_bytes, max_events)` from the
/// record's data as the KCL daemon hands it over (base64), ValueError when the record is anything else (the
/// Python path then takes it).
#[pyclass(frozen, module = "secstash_native")]
struct CwlRecord {
    record: cwl::Record,
}

#[pymethods]
impl CwlRecord {
    #[new]
    fn new(data_b64: &str, max_decompressed_bytes: usize, max_events: usize) -> PyResult<Self> {
        // Strict base64 (what the daemon sends): anything Python's lenient decoder would read otherwise is
        // refused here, and decoded there.
        let data = base64::engine::general_purpose::STANDARD.decode(data_b64).ok();
        data.and_then(|data| cwl::decode(&data, max_decompressed_bytes, max_events))
            .map(|record| CwlRecord { record })
            .ok_or_else(|| PyValueError::new_err("not a plain CloudWatch Logs DATA_MESSAGE"))
    }

    #[getter]
    fn log_group(&self) -> &str {
        self.record.log_group()
    }

    #[getter]
    fn log_stream(&self) -> &str {
        self.record.log_stream()
    }

    fn __len__(&self) -> usize {
        self.record.len()
    }
}

/// Renders VPC Flow Logs records; one per process (it holds the GeoIP readers and their cache).
#[pyclass(module = "secstash_native")]
struct VpcflowDocuments {
    geoip: geoip::GeoIp,
    hinted: HashMap<String, Result<Option<layout::Layout>, ()>>,
}

#[pymethods]
impl VpcflowDocuments {
    #[new]
    #[pyo3(signature = (geoip_dir=None))]
    fn new(geoip_dir: Option<&str>) -> PyResult<Self> {
        let geoip = geoip::GeoIp::open(geoip_dir).map_err(PyValueError::new_err)?;
        Ok(VpcflowDocuments { geoip, hinted: HashMap::new() })
    }

    /// The record's bulk lines and where each document is in them, or None when one of its events is not
    /// a case covered here (a header line, an unknown format, a value Python renders its own way).
    ///
    /// `position`: the record's part of every document id (`sinks.documents._record_position`);
    /// `action_prefix`: the action line up to the id (`{"create":{"_index":"...","_id":"`);
    /// `labels`: the stream's labels as a JSON object, or None. Returns `(lines, bounds)`: `bounds` holds three
    /// little-endian u32 per document, where its action line starts, where its body starts and ends.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (record, position, action_prefix, ingested_ms, ecs_version, namespace, labels, keep_original, format))]
    fn render<'py>(
        &mut self,
        py: Python<'py>,
        record: &CwlRecord,
        position: &str,
        action_prefix: &[u8],
        ingested_ms: i64,
        ecs_version: &str,
        namespace: &str,
        labels: Option<&[u8]>,
        keep_original: bool,
        format: Option<&str>,
    ) -> Option<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        if !(0..dates::EXACT_MS).contains(&ingested_ms) {
            return None;
        }
        let record = &record.record;
        let hinted = match format {
            Some(format) => {
                self.hinted.entry(format.to_string()).or_insert_with(|| layout::hinted(format)).as_ref().ok()?.as_ref()
            }
            None => None,
        };
        let mut ingested = Vec::with_capacity(24);
        dates::iso_ms(&mut ingested, ingested_ms);
        let cloudwatch = vpcflow::cloudwatch_members(record);
        let cx = vpcflow::Context {
            record,
            cloudwatch: &cloudwatch,
            ingested: &ingested,
            ecs_version,
            namespace,
            labels,
            keep_original,
        };
        let mut out = Vec::with_capacity(record.len() * 1600);
        let mut bounds = Vec::with_capacity(record.len() * 12);
        for (ordinal, event) in record.events().enumerate() {
            let message = event.message()?;
            let fields = vpcflow::split(&message).ok()?;
            let layout = match hinted {
                Some(layout) if layout.size == fields.len() => {
                    if fields[0] == layout.first {
                        return None; // the header line of a custom format: the Python path drops it
                    }
                    layout
                }
                _ => layout::by_count(fields.len())?,
            };
            push_document(&mut out, &mut bounds, action_prefix, position, ordinal, |out| {
                vpcflow::write(out, &mut self.geoip, layout, &fields, &event, &cx)
            })?;
        }
        Some((PyBytes::new_bound(py, &out), PyBytes::new_bound(py, &bounds)))
    }
}

/// Renders CloudTrail records; one per process (it holds the GeoIP readers, their cache and the user agents').
/// `user_agent`: `(agent: str) -> bytes | None`, the `user_agent` object as JSON (`consumer.native_path.user_agent_json`).
#[pyclass(module = "secstash_native")]
struct CloudtrailDocuments {
    geoip: geoip::GeoIp,
    agents: useragent::UserAgents,
}

#[pymethods]
impl CloudtrailDocuments {
    #[new]
    #[pyo3(signature = (geoip_dir, user_agent))]
    fn new(geoip_dir: Option<&str>, user_agent: Py<PyAny>) -> PyResult<Self> {
        let (geoip, agents) = enrichers(geoip_dir, user_agent)?;
        Ok(CloudtrailDocuments { geoip, agents })
    }

    /// As `VpcflowDocuments.render` (without a format): the record's bulk lines and where each document is in
    /// them, or None when one of its events is not a case covered here.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (record, position, action_prefix, ingested_ms, ecs_version, namespace, labels, keep_original))]
    fn render<'py>(
        &mut self,
        py: Python<'py>,
        record: &CwlRecord,
        position: &str,
        action_prefix: &[u8],
        ingested_ms: i64,
        ecs_version: &str,
        namespace: &str,
        labels: Option<&[u8]>,
        keep_original: bool,
    ) -> Option<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        if !(0..dates::EXACT_MS).contains(&ingested_ms) {
            return None;
        }
        let record = &record.record;
        let mut ingested = Vec::with_capacity(24);
        dates::iso_ms(&mut ingested, ingested_ms);
        let cloudwatch = vpcflow::cloudwatch_members(record);
        let cx = cloudtrail::Context {
            record,
            cloudwatch: &cloudwatch,
            ingested: &ingested,
            ecs_version,
            namespace,
            labels,
            keep_original,
        };
        let mut enrichers = cloudtrail::Enrichers { py, geoip: &mut self.geoip, agents: &mut self.agents };
        let mut out = Vec::with_capacity(record.len() * 3000);
        let mut bounds = Vec::with_capacity(record.len() * 12);
        for (ordinal, event) in record.events().enumerate() {
            push_document(&mut out, &mut bounds, action_prefix, position, ordinal, |out| {
                cloudtrail::write(out, &mut enrichers, &event, &cx)
            })?;
        }
        Some((PyBytes::new_bound(py, &out), PyBytes::new_bound(py, &bounds)))
    }
}

/// `parsers.cloudtrail_categories.CATEGORIES` as compiled in, for the test that proves the tables equal.
#[pyfunction]
fn cloudtrail_categories() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    ct_categories::CATEGORIES.iter().map(|(name, category, types)| (*name, category.to_vec(), types.to_vec())).collect()
}

/// Renders records of plain ALB access log lines (several newline-separated lines, as forwarders put them on
/// a stream); one per process (it holds the GeoIP readers, the user agents and their caches).
#[pyclass(module = "secstash_native")]
struct ElbDocuments {
    geoip: geoip::GeoIp,
    agents: useragent::UserAgents,
}

#[pymethods]
impl ElbDocuments {
    /// `user_agent`: `consumer.native_path.user_agent_json`, the reference rendering of an agent.
    #[new]
    #[pyo3(signature = (geoip_dir, user_agent))]
    fn new(geoip_dir: Option<&str>, user_agent: Py<PyAny>) -> PyResult<Self> {
        let (geoip, agents) = enrichers(geoip_dir, user_agent)?;
        Ok(ElbDocuments { geoip, agents })
    }

    /// The record's bulk lines and where each document is in them (as `VpcflowDocuments.render`), or None
    /// when the record is not plain text lines that are all ALB lines covered here (`elb::parse`): the
    /// Python path then parses it. `data_b64`: the record's data as the daemon hands it over; `max_events`:
    /// more lines than this and Python fails the record whole.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (data_b64, position, action_prefix, ingested_ms, ecs_version, namespace, labels, keep_original, max_events))]
    fn render<'py>(
        &mut self,
        py: Python<'py>,
        data_b64: &str,
        position: &str,
        action_prefix: &[u8],
        ingested_ms: i64,
        ecs_version: &str,
        namespace: &str,
        labels: Option<&[u8]>,
        keep_original: bool,
        max_events: usize,
    ) -> Option<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        if !(0..dates::EXACT_MS).contains(&ingested_ms) {
            return None;
        }
        // The first bytes say whether it can be one (most records of other datasets stop here, undecoded).
        if !elb::starts_like(&b64::decode(data_b64.as_bytes().get(..8)?)?) {
            return None;
        }
        // Strict base64: what Python's lenient decoder would read otherwise is refused here, decoded there.
        let data = b64::decode(data_b64.as_bytes())?;
        let text = std::str::from_utf8(&data).ok()?; // Python decodes with "replace": its own rendering
        let mut ingested = Vec::with_capacity(24);
        dates::iso_ms(&mut ingested, ingested_ms);
        let cx = elb_doc::Context { ingested: &ingested, ecs_version, namespace, labels, keep_original };
        // Documents are about three times their line (four with the line in `event.original`).
        let mut out = Vec::with_capacity(data.len() * if keep_original { 5 } else { 4 } + 2048);
        let mut bounds = Vec::with_capacity(data.len() / 40);
        let mut ordinal = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let end = scan::find(rest.as_bytes(), b'\n').unwrap_or(rest.len());
            let piece = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            // `parsers.envelopes.lines`: blank lines (str.isspace: ASCII ones here) are no events.
            if piece.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1f)) {
                continue;
            }
            if ordinal >= max_events {
                return None;
            }
            let line = piece.strip_suffix('\r').unwrap_or(piece);
            let fields = elb::parse(line)?;
            push_document(&mut out, &mut bounds, action_prefix, position, ordinal, |out| {
                elb_doc::write(out, py, &mut self.geoip, &mut self.agents, line, &fields, &cx)
            })?;
            ordinal += 1;
        }
        if ordinal == 0 {
            return None;
        }
        Some((PyBytes::new_bound(py, &out), PyBytes::new_bound(py, &bounds)))
    }
}

/// Appends one document's bulk lines: its action line (`action_prefix`, the record's `position` and the event's
/// `ordinal` make its id), then the body `body` appends with its newline; and where each starts and ends, as three
/// little-endian u32, to `bounds`. None when `body` refuses the event (or the buffer passes 4 GiB): the caller
/// then refuses the whole record.
fn push_document(
    out: &mut Vec<u8>,
    bounds: &mut Vec<u8>,
    action_prefix: &[u8],
    position: &str,
    ordinal: usize,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), ()>,
) -> Option<()> {
    let action_start = out.len();
    out.extend_from_slice(action_prefix);
    doc_id::write(out, position, ordinal);
    out.extend_from_slice(b"\"}}\n");
    let body_start = out.len();
    body(out).ok()?;
    for offset in [action_start, body_start, out.len() - 1] {
        bounds.extend_from_slice(&u32::try_from(offset).ok()?.to_le_bytes());
    }
    Some(())
}

/// The GeoIP readers of a folder and the user-agent cache over the reference's rendering, as the CloudTrail and
/// ELB writers hold them; ValueError when a database does not open (its records then take the Python path).
fn enrichers(geoip_dir: Option<&str>, user_agent: Py<PyAny>) -> PyResult<(geoip::GeoIp, useragent::UserAgents)> {
    let geoip = geoip::GeoIp::open(geoip_dir).map_err(PyValueError::new_err)?;
    Ok((geoip, useragent::UserAgents::new(user_agent)))
}

/// `(log group, log stream)` as a gzip CloudWatch Logs record (base64, as the daemon hands it over) names them
/// in its first bytes, or None: a hint only (the record's real envelope is what `CwlRecord` decodes), to skip
/// records no rule of the compiled path claims without decoding them whole.
#[pyfunction]
fn peek_log_group(data_b64: &str) -> Option<(String, String)> {
    // The gzip header and the deflate data of the envelope's first bytes are well within this.
    let head = &data_b64.as_bytes()[..data_b64.len().min(PEEK_BASE64) / 4 * 4];
    cwl::peek(&base64::engine::general_purpose::STANDARD.decode(head).ok()?)
}

const PEEK_BASE64: usize = 2048;

/// A record's data, base64 as the KCL daemon hands it over, decoded; None when it is not strict standard
/// base64 (the caller's lenient decoder reads those). Python's `a2b_base64` decodes ~370 MB/s, a tenth of a
/// GuardDuty record's parse.
#[pyfunction]
fn record_data<'py>(py: Python<'py>, data_b64: &str) -> Option<Bound<'py, PyBytes>> {
    b64::decode(data_b64.as_bytes()).map(|data| PyBytes::new_bound(py, &data))
}

#[pymodule]
fn secstash_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(peek_log_group, m)?)?;
    m.add_function(wrap_pyfunction!(record_data, m)?)?;
    m.add_class::<CwlRecord>()?;
    m.add_class::<VpcflowDocuments>()?;
    m.add_class::<ElbDocuments>()?;
    m.add_class::<CloudtrailDocuments>()?;
    m.add_function(wrap_pyfunction!(cloudtrail_categories, m)?)?;
    javamap::register(m)?;
    entity::register(m)?;
    Ok(())
}
