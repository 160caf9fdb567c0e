//! `user_agent` objects, rendered by the Python reference (`parsers.enrich.useragent.user_agent`, through the
//! callable the writer is given) and kept here per agent string.
//!
//! Why not in Rust: Elasticsearch's matching rules sit on top of a regex set that `ua_parser_rs` already runs
//! in Rust, and agents repeat so much (an SDK's, a browser's) that after the first few records nearly every
//! look-up is a hit in this cache, which costs no call into Python.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rustc_hash::FxHashMap;

const MAX_AGENTS: usize = 4096;
// Longer agents are rendered each time: they are rare, and caching them would let a sender's texts fill memory.
const MAX_CACHED_CHARS: usize = 1024;

pub struct UserAgents {
    render: Py<PyAny>, // (agent: str) -> bytes | None: the user_agent object as JSON, None when there is none
    cache: FxHashMap<Box<str>, Option<Box<[u8]>>>,
}

impl UserAgents {
    pub fn new(render: Py<PyAny>) -> Self {
        UserAgents { render, cache: FxHashMap::default() }
    }

    /// Appends the `user_agent` object's JSON (braces included) for `agent` to `out`; Ok(false) when the
    /// reference writes none, Err when the callable failed or returned something else (the caller then
    /// refuses the record).
    pub fn write(&mut self, py: Python<'_>, out: &mut Vec<u8>, agent: &str) -> Result<bool, ()> {
        if let Some(found) = self.cache.get(agent) {
            return Ok(found.as_ref().map(|json| out.extend_from_slice(json)).is_some());
        }
        let rendered = self.call(py, agent)?;
        if let Some(json) = &rendered {
            out.extend_from_slice(json);
        }
        let written = rendered.is_some();
        if agent.len() <= MAX_CACHED_CHARS {
            if self.cache.len() >= MAX_AGENTS {
                self.cache.clear();
            }
            self.cache.insert(agent.into(), rendered.map(Vec::into_boxed_slice));
        }
        Ok(written)
    }

    fn call(&self, py: Python<'_>, agent: &str) -> Result<Option<Vec<u8>>, ()> {
        let result = self.render.call1(py, (agent,)).map_err(|_| ())?;
        if result.is_none(py) {
            return Ok(None);
        }
        let bytes = result.downcast_bound::<PyBytes>(py).map_err(|_| ())?;
        Ok(Some(bytes.as_bytes().to_vec()))
    }
}
