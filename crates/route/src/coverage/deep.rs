//! Traffic Router's deep coverage zone file (DCZF): networks of clients served by caches
//! placed deep inside an access network, and which caches those are.
//!
//! `{"deepCoverageZones": {"<zone>": {"network": [..], "network6": [..], "caches": [..],
//! "coordinates": {..}}}}`, read by the same parser as the coverage zone file. `caches` names
//! nodes by id (Traffic Router: the cache's short host name, the key of `contentServers`);
//! names the fleet does not know are ignored when a table is built, as Traffic Router ignores
//! names its cache register does not hold. Deep zones are not fleet zones: a deep zone's
//! caches may belong to any zones.

use std::net::IpAddr;
use std::sync::Arc;

use super::collect::{CzfError, MisfiledNetwork, ZoneConflict};
use super::json::{self, Kind};
use crate::geo::Coordinates;
use crate::prefix_index::PrefixIndex;

/// A zone of a deep coverage zone file.
#[derive(Debug, Clone, PartialEq)]
pub struct DeepCoverageZone {
    /// Zone name as the file gives it (Traffic Router reports it as `deep.<name>`).
    pub name: String,
    /// Coordinates given in the file, if any.
    pub coordinates: Option<Coordinates>,
    /// Node ids of the zone's caches, in file order, without repeats or empty names.
    pub caches: Vec<String>,
}

/// A parsed deep coverage zone file: its zones and the prefix index mapping client
/// addresses to them.
#[derive(Debug, Clone, Default)]
pub struct DeepCoverageZones {
    zones: Vec<DeepCoverageZone>,
    index: Arc<PrefixIndex>,
    conflicts: Vec<ZoneConflict>,
    misfiled: Vec<MisfiledNetwork>,
}

impl DeepCoverageZones {
    /// Parses a Traffic Router deep coverage zone file (`deepCoverageZones` at the top).
    pub fn from_dczf_json(text: &str) -> Result<Self, CzfError> {
        let plain = json::parse(text, Kind::Deep)?.finish()?;
        let mut caches = plain.caches;
        caches.resize_with(plain.zones.len(), Vec::new);
        let zones = plain
            .zones
            .into_iter()
            .zip(caches)
            .map(|(z, caches)| DeepCoverageZone {
                name: z.name,
                coordinates: z.coordinates,
                caches,
            })
            .collect();
        Ok(Self { zones, index: plain.index, conflicts: plain.conflicts, misfiled: plain.misfiled })
    }

    /// Zones in the order the file first names them; the index values are positions here.
    pub fn zones(&self) -> &[DeepCoverageZone] {
        &self.zones
    }

    /// The prefix index; hit values are indexes into [`DeepCoverageZones::zones`].
    pub fn index(&self) -> &Arc<PrefixIndex> {
        &self.index
    }

    /// The deep zone covering `ip` (longest prefix) and the matched prefix length.
    pub fn lookup(&self, ip: IpAddr) -> Option<(&DeepCoverageZone, u8)> {
        let hit = self.index.lookup(ip)?;
        Some((self.zones.get(hit.value as usize)?, hit.prefix_len))
    }

    /// Duplicate prefixes that named different zones (the first is kept).
    pub fn conflicts(&self) -> &[ZoneConflict] {
        &self.conflicts
    }

    /// Networks listed under the other family's key, left out of the index.
    pub fn misfiled(&self) -> &[MisfiledNetwork] {
        &self.misfiled
    }

    /// Heap bytes held, dominated by the index.
    pub fn memory_bytes(&self) -> usize {
        let zones: usize = self
            .zones
            .iter()
            .map(|z| {
                size_of::<DeepCoverageZone>()
                    + z.name.len()
                    + z.caches.iter().map(|c| size_of::<String>() + c.len()).sum::<usize>()
            })
            .sum();
        self.index.memory_bytes() + zones
    }
}
