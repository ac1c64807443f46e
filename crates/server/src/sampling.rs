//! Sampled decision inputs: what the front ends decided on (name, client, path, record
//! type), kept while someone records them for `switchyard replay` and costing one relaxed
//! atomic load per decision otherwise.
//!
//! [`Sample`] is also the line format of a replay file: one JSON object per line.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Samples held between two drains by the recorder; beyond it a sample is dropped and
/// counted. The recorder drains every few tens of milliseconds, so this covers well over
/// 100,000 decisions per second.
pub const CAPACITY: usize = 4096;

/// Which front end made the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// An HTTP decision (`/v1/route`, a redirect): replayed as `/v1/route`.
    Http,
    /// A DNS decision (a query over UDP or TCP, or HTTPDNS `/d`): replayed as a UDP query
    /// with a client subnet.
    Dns,
}

/// One decision's inputs; a line of a replay file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// `http` or `dns`.
    pub protocol: Protocol,
    /// The name asked for: the `Host` or `host=` of an HTTP request, the query name of a
    /// DNS one (lower-cased, without the final dot).
    pub host: String,
    /// The service that name belongs to, for reading the file; replay does not use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The client the decision localized: an address, or for a DNS query with an EDNS
    /// Client Subnet the subnet as sent (`10.3.0.0/24`).
    pub client: ClientKey,
    /// HTTP: the content path, with its query when it had one (`/movies/a.ts?x=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// DNS: the record type, `A`, `AAAA` or `ANY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qtype: Option<String>,
}

/// A client address, or a client subnet (ECS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClientKey {
    /// `10.1.2.3`, `2001:db8::1`.
    Addr(IpAddr),
    /// `10.3.0.0/24`.
    Subnet(IpNet),
}

impl Sample {
    /// An HTTP decision's inputs; `query` without its `?`, empty when none.
    pub fn http(host: &str, service: &str, client: IpAddr, path: &str, query: &str) -> Self {
        let path = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
        Self {
            protocol: Protocol::Http,
            host: host.to_owned(),
            service: (!service.is_empty()).then(|| service.to_owned()),
            client: ClientKey::Addr(client),
            path: Some(path),
            qtype: None,
        }
    }

    /// A DNS decision's inputs.
    pub fn dns(host: &str, service: &str, client: ClientKey, qtype: &str) -> Self {
        Self {
            protocol: Protocol::Dns,
            host: host.to_owned(),
            service: (!service.is_empty()).then(|| service.to_owned()),
            client,
            path: None,
            qtype: Some(qtype.to_owned()),
        }
    }
}

/// The switch and the buffer the front ends record into. One per process, shared by the
/// traffic and DNS front ends and the admin endpoint that drains it.
#[derive(Debug, Default)]
pub struct DecisionSampler {
    /// On while a [`Recording`] exists: the only thing the hot path reads when off.
    on: AtomicBool,
    /// Keep one decision in this many (at least 1).
    every: AtomicU64,
    /// Decisions seen while on, for `every`.
    seen: AtomicU64,
    /// Samples dropped because the buffer was full.
    dropped: AtomicU64,
    buffer: Mutex<VecDeque<Sample>>,
}

impl DecisionSampler {
    /// A sampler that is off.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records the sample `make` builds, when recording is on and this decision is one in
    /// `every`; `make` may decline (`None`). Off, this is one relaxed load.
    #[inline]
    pub fn record(&self, make: impl FnOnce() -> Option<Sample>) {
        if self.on.load(Ordering::Relaxed) {
            self.record_slow(make);
        }
    }

    #[cold]
    fn record_slow(&self, make: impl FnOnce() -> Option<Sample>) {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        if !n.is_multiple_of(self.every.load(Ordering::Relaxed).max(1)) {
            return;
        }
        let Some(sample) = make() else { return };
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        if buffer.len() >= CAPACITY {
            drop(buffer);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            buffer.push_back(sample);
        }
    }

    /// Starts recording one decision in `every`; `None` while another recording runs.
    pub fn start(self: &Arc<Self>, every: u64) -> Option<Recording> {
        // `every` and the counters are set before the switch turns on; a decision racing
        // the switch sees either the old or the new values, both harmless.
        if self.on.load(Ordering::Acquire) {
            return None;
        }
        self.every.store(every.max(1), Ordering::Relaxed);
        self.seen.store(0, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
        self.on.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).ok().map(|_| {
            // A decision that saw the switch on just before the last recording ended may
            // have pushed a sample after that recording cleared the buffer.
            self.buffer.lock().unwrap_or_else(|e| e.into_inner()).clear();
            Recording { sampler: self.clone() }
        })
    }
}

/// A recording in progress; recording stops and the buffer is emptied when it is dropped.
#[derive(Debug)]
pub struct Recording {
    sampler: Arc<DecisionSampler>,
}

impl Recording {
    /// Moves up to `max` buffered samples into `out`; returns how many.
    pub fn drain(&self, out: &mut Vec<Sample>, max: usize) -> usize {
        let mut buffer = self.sampler.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let n = buffer.len().min(max);
        out.extend(buffer.drain(..n));
        n
    }

    /// Samples dropped so far because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.sampler.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.sampler.on.store(false, Ordering::Release);
        self.sampler.buffer.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests;
