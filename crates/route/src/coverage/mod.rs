//! Coverage zones: Traffic Router's coverage zone file (CZF JSON) and a `cidr,zone` CSV,
//! parsed in one pass straight into a [`PrefixIndex`], and Traffic Router's deep coverage
//! zone file ([`DeepCoverageZones`]).
//!
//! The JSON form is the one Traffic Control documents:
//! `{"coverageZones": {"<zone>": {"network": [..], "network6": [..], "coordinates":
//! {"latitude": .., "longitude": ..}}}}`, read as Traffic Router reads it (see [`json`] for
//! the details: other keys ignored, coordinates as numbers or numeric strings).
//!
//! Overlapping networks resolve as in Traffic Router: the longest matching prefix wins, and
//! a prefix listed again by a later zone stays with the zone that listed it first (Traffic
//! Router's tree refuses the second of two identical networks); the later listing is
//! reported as a [`ZoneConflict`]. Host bits do not count: `2001:db8:0:1::/48` is the same
//! prefix as `2001:db8::/48`, so it too stays with the first zone. (Traffic Router compares
//! those as equal but not identical, and its tree then lets the later spelling take the
//! network over; files that rely on that are rare, and first-wins is the rule stated for
//! every other duplicate.)

mod csv;
mod deep;
mod json;
#[cfg(test)]
mod tests;

pub use deep::{DeepCoverageZone, DeepCoverageZones};

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

/// Parsed coverage zones: the zones and their coordinates, plus the prefix index mapping
/// addresses to them. The index is shared (`Arc`) with every routing table built from it.
#[derive(Debug, Clone, Default)]
pub struct CoverageZones {
    zones: Vec<CoverageZone>,
    index: Arc<PrefixIndex>,
    conflicts: Vec<ZoneConflict>,
    misfiled: Vec<MisfiledNetwork>,
    /// Deep coverage zones loaded beside these, travelling with them into the table.
    deep: Option<Arc<DeepCoverageZones>>,
}

impl CoverageZones {
    /// Parses a Traffic Router coverage zone file.
    pub fn from_czf_json(text: &str) -> Result<Self, CzfError> {
        let c = json::parse(text, json::Kind::Coverage)?;
        Ok(c.finish()?.0)
    }

    /// Parses `cidr,zone` lines; blank lines and lines starting with `#` are skipped, and a
    /// first line `cidr,zone` is taken as a header.
    pub fn from_csv(text: &str) -> Result<Self, CzfError> {
        csv::parse(text)
    }

    /// Zones in the order the file first names them; the index values are positions here.
    pub fn zones(&self) -> &[CoverageZone] {
        &self.zones
    }

    /// Coordinates the file gives for `zone`.
    pub fn coordinates(&self, zone: &str) -> Option<Coordinates> {
        self.zones.iter().find(|z| z.name == zone).and_then(|z| z.coordinates)
    }

    /// Duplicate prefixes that named different zones.
    pub fn conflicts(&self) -> &[ZoneConflict] {
        &self.conflicts
    }

    /// Networks listed under the other family's key, left out of the index.
    pub fn misfiled(&self) -> &[MisfiledNetwork] {
        &self.misfiled
    }

    /// These coverage zones with Traffic Router's deep coverage zones beside them: a table
    /// built from the result routes the clients they cover to their caches first, for the
    /// services that ask for deep caching.
    pub fn with_deep(self, deep: DeepCoverageZones) -> Self {
        Self { deep: Some(Arc::new(deep)), ..self }
    }

    /// These coverage zones with the deep coverage zones `other` carries (none if it has
    /// none): coverage from one source, deep zones from another.
    pub fn with_deep_of(self, other: &CoverageZones) -> Self {
        Self { deep: other.deep.clone(), ..self }
    }

    /// The deep coverage zones loaded beside these, if any.
    pub fn deep(&self) -> Option<&DeepCoverageZones> {
        self.deep.as_deref()
    }

    /// The prefix index; hit values are indexes into [`CoverageZones::zones`].
    pub fn index(&self) -> &Arc<PrefixIndex> {
        &self.index
    }

    /// Zone name and matched prefix length for `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<(&str, u8)> {
        let hit = self.index.lookup(ip)?;
        let zone = self.zones.get(hit.value as usize)?;
        Some((zone.name.as_str(), hit.prefix_len))
    }

    /// Heap bytes held, dominated by the index (the deep zones' included).
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
            + self.zones.iter().map(|z| size_of::<CoverageZone>() + z.name.len()).sum::<usize>()
            + self.deep.as_ref().map_or(0, |d| d.memory_bytes())
    }
}

/// Shared state while parsing any of the formats.
#[derive(Default)]
struct Collector {
    zones: Vec<CoverageZone>,
    by_name: HashMap<String, u32>,
    builder: PrefixIndexBuilder,
    misfiled: Vec<MisfiledNetwork>,
    /// Deep files only: cache names per zone index (shorter when the last zones list none).
    caches: Vec<Vec<String>>,
}

impl Collector {
    fn zone(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.zones.len() as u32;
        self.zones.push(CoverageZone { name: name.to_owned(), coordinates: None });
        self.by_name.insert(name.to_owned(), id);
        id
    }

    /// The zones and index, and the cache names of a deep file.
    fn finish(self) -> Result<(CoverageZones, Vec<Vec<String>>), IndexError> {
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
        let zones = CoverageZones {
            zones: self.zones,
            index: Arc::new(index),
            conflicts,
            misfiled: self.misfiled,
            deep: None,
        };
        Ok((zones, self.caches))
    }
}

/// Parses `addr/len` (or a bare address as a host route). Host bits beyond the prefix are
/// accepted and cleared: Traffic Router matches under the mask, so they never matter.
fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
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
