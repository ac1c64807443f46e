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

mod collect;
mod csv;
mod deep;
mod json;
#[cfg(test)]
mod tests;

pub use collect::{CoverageZone, CzfError, MisfiledNetwork, ZoneConflict};
pub use deep::{DeepCoverageZone, DeepCoverageZones};

use std::net::IpAddr;
use std::sync::Arc;

use crate::geo::Coordinates;
use crate::prefix_index::PrefixIndex;

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
        Ok(Self::from_collected(json::parse(text, json::Kind::Coverage)?.finish()?))
    }

    /// Parses `cidr,zone` lines; blank lines and lines starting with `#` are skipped, and a
    /// first line `cidr,zone` is taken as a header.
    pub fn from_csv(text: &str) -> Result<Self, CzfError> {
        Ok(Self::from_collected(csv::parse(text)?.finish()?))
    }

    fn from_collected(c: collect::Collected) -> Self {
        let collect::Collected { zones, index, conflicts, misfiled, caches: _ } = c;
        Self { zones, index, conflicts, misfiled, deep: None }
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
