//! What every coverage format shares: the zone, conflict and error vocabulary, the
//! [`Collector`] the parsers fill, and the CIDR parser. A leaf: the parsers and the public
//! types above build on it, it builds on none of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::geo::Coordinates;
use crate::prefix_index::{IndexError, PrefixIndex, PrefixIndexBuilder};

/// A zone named in a coverage zone file.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageZone {
    /// Zone (cache group) name.
    pub name: String,
    /// Coordinates given in the file, if any (CSV files have none).
    pub coordinates: Option<Coordinates>,
}

/// A prefix listed twice with different zones. The first listing wins, as longest-prefix
/// match cannot choose between equal lengths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConflict {
    /// The prefix, e.g. `192.0.2.0/24`.
    pub prefix: ipnet::IpNet,
    /// Zone kept (listed first).
    pub kept: String,
    /// Zone ignored.
    pub dropped: String,
}

/// A network listed under the other family's key: an IPv4 network in `network6`, or an IPv6
/// one in `network`. Traffic Router files such a network in the tree of the key's family,
/// where no client of its own family is ever looked up, so it never places a client; it is
/// left out of the index and reported here rather than refusing the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MisfiledNetwork {
    /// Zone that listed it.
    pub zone: String,
    /// The network.
    pub network: ipnet::IpNet,
    /// The key it was listed under (`network` or `network6`).
    pub key: &'static str,
}

/// Errors loading coverage zones. Locations are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CzfError {
    /// Malformed JSON or a bad value in it.
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// Line of the offending token.
        line: usize,
        /// Column of the offending token.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A bad CSV line.
    #[error("line {line}, column {column}: {message}")]
    Csv {
        /// Line number.
        line: usize,
        /// Column (character position) of the offending field.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The prefixes could not be indexed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// A parsed file before it becomes [`super::CoverageZones`] or
/// [`super::DeepCoverageZones`].
pub(super) struct Collected {
    pub(super) zones: Vec<CoverageZone>,
    pub(super) index: Arc<PrefixIndex>,
    pub(super) conflicts: Vec<ZoneConflict>,
    pub(super) misfiled: Vec<MisfiledNetwork>,
    /// Deep files only: cache names per zone index (shorter when the last zones list none).
    pub(super) caches: Vec<Vec<String>>,
}

/// Shared state while parsing any of the formats.
#[derive(Default)]
pub(super) struct Collector {
    pub(super) zones: Vec<CoverageZone>,
    by_name: HashMap<String, u32>,
    pub(super) builder: PrefixIndexBuilder,
    pub(super) misfiled: Vec<MisfiledNetwork>,
    /// Deep files only: cache names per zone index (shorter when the last zones list none).
    pub(super) caches: Vec<Vec<String>>,
}

impl Collector {
    pub(super) fn zone(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.zones.len() as u32;
        self.zones.push(CoverageZone { name: name.to_owned(), coordinates: None });
        self.by_name.insert(name.to_owned(), id);
        id
    }

    /// The zones, their index and what was reported while parsing.
    pub(super) fn finish(self) -> Result<Collected, IndexError> {
        let (index, raw) = self.builder.build()?;
        let name = |v: u32| self.zones[v as usize].name.clone();
        let conflicts = raw
            .into_iter()
            .map(|c| ZoneConflict {
                prefix: c.prefix,
                kept: name(c.kept),
                dropped: name(c.dropped),
            })
            .collect();
        Ok(Collected {
            zones: self.zones,
            index: Arc::new(index),
            conflicts,
            misfiled: self.misfiled,
            caches: self.caches,
        })
    }
}

/// Parses `addr/len` (or a bare address as a host route). Host bits beyond the prefix are
/// accepted and cleared: Traffic Router matches under the mask, so they never matter.
pub(super) fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an IP network"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("{s:?} has a bad prefix length (0..={max})")),
        },
    };
    ipnet::IpNet::new(addr, len)
        .map(|n| n.trunc())
        .map_err(|_| format!("{s:?} has a bad prefix length"))
}
