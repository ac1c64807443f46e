//! Building a [`RoutingTable`] from spec, coverage zones and GeoIP.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ahash::AHashMap;

use super::{
    BuildError, DeepZoneInfo, DeepZones, Fleet, Member, NodeInfo, RoutingTable, ServiceInfo,
    ZoneInfo,
};
use crate::coverage::{CoverageZones, DeepCoverageZones};
use crate::decision::{ChoiceData, DeepCaching, NodeIndex};
use crate::geo::{GeoIp, NearestIndex};
use crate::health::HealthView;
use crate::rendezvous::{MAX_ZONE_MEMBERS, node_seed};
use crate::spec::FleetSpec;
use crate::spec::validate::normalize_host;

/// Nearest-zone list kept per zone. Fallback walks at most `fallback_nearest_limit` allowed
/// zones of it; 64 bounds memory at O(zones x 64) while leaving room for services restricted
/// to a few zones.
pub(crate) const NEAREST_KEPT: usize = 64;

impl RoutingTable {
    /// Builds a snapshot. The spec is validated first; the coverage zones' index is shared,
    /// not copied, so a table over a million prefixes builds in milliseconds once the
    /// coverage file is parsed.
    pub fn build(
        spec: &FleetSpec,
        czf: &CoverageZones,
        geo: Option<&GeoIp>,
        health: &HealthView,
    ) -> Result<RoutingTable, BuildError> {
        spec.validate().map_err(BuildError::InvalidSpec)?;
        let zone_ids: AHashMap<&str, u32> =
            spec.zones.iter().enumerate().map(|(i, z)| (z.name.as_str(), i as u32)).collect();

        let nodes: Vec<NodeInfo> = spec
            .nodes
            .iter()
            .map(|n| NodeInfo {
                id: Arc::from(n.id.as_str()),
                zone: zone_ids[n.zone.as_str()],
                ipv4: n.ipv4,
                ipv6: n.ipv6,
                hostname: n.hostname.as_deref().map(Arc::from),
                port: n.port,
                https_port: n.https_port,
                weight: n.configured_weight(),
                admin: n.admin,
                seed: node_seed(&n.id),
            })
            .collect();
        let node_by_id = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (Box::from(n.id.as_str()), i as u32))
            .collect();

        let mut order: Vec<u32> = (0..nodes.len() as u32).collect();
        order.sort_by_key(|&i| nodes[i as usize].zone);
        let mut slot_of = vec![0u32; nodes.len()];
        let mut ranges = vec![0u32..0u32; spec.zones.len()];
        let members: Box<[Member]> = order
            .iter()
            .enumerate()
            .map(|(slot, &i)| {
                let n = &nodes[i as usize];
                slot_of[i as usize] = slot as u32;
                let r = &mut ranges[n.zone as usize];
                if r.start == r.end {
                    *r = slot as u32..slot as u32;
                }
                r.end = slot as u32 + 1;
                Member {
                    seed: n.seed,
                    node: i,
                    admin: n.admin,
                    has_v4: n.ipv4.is_some(),
                    has_v6: n.ipv6.is_some(),
                }
            })
            .collect();
        let coords: Vec<_> = spec
            .zones
            .iter()
            .map(|z| match (z.latitude, z.longitude) {
                (Some(lat), Some(lon)) => Some(crate::Coordinates::new(lat, lon)),
                _ => czf.coordinates(&z.name),
            })
            .collect();
        let nearest = NearestIndex::new(
            coords.iter().enumerate().filter_map(|(i, c)| c.map(|c| (i as u32, c))),
        );
        let zones: Vec<ZoneInfo> = spec
            .zones
            .iter()
            .zip(ranges)
            .enumerate()
            .map(|(i, (z, m))| ZoneInfo {
                name: Arc::from(z.name.as_str()),
                coordinates: coords[i],
                members: m,
                backups: z.backups.iter().map(|b| zone_ids[b.as_str()]).collect(),
                nearest: coords[i]
                    .map(|c| nearest.nearest_n(&c, Some(i as u32), NEAREST_KEPT))
                    .unwrap_or_default()
                    .into_boxed_slice(),
            })
            .collect();

        let choices: Box<[ChoiceData]> = members
            .iter()
            .map(|m| {
                let n = &nodes[m.node as usize];
                ChoiceData {
                    node: NodeIndex(m.node),
                    id: Box::from(&*n.id),
                    zone: Arc::clone(&zones[n.zone as usize].name),
                    ipv4: n.ipv4,
                    ipv6: n.ipv6,
                    hostname: n.hostname.as_deref().map(Box::from),
                    port: n.port,
                    https_port: n.https_port,
                }
            })
            .collect();

        let czf_zones = czf
            .zones()
            .iter()
            .map(|cz| {
                zone_ids
                    .get(cz.name.as_str())
                    .copied()
                    .or_else(|| cz.coordinates.and_then(|c| nearest.nearest(&c)))
            })
            .collect();

        let mut exact_hosts = AHashMap::new();
        let mut wildcard_hosts = AHashMap::new();
        let mut apexes: Vec<Box<str>> = Vec::new();
        let mut seen_apex = HashSet::new();
        let mut services = Vec::with_capacity(spec.services.len());
        for (si, s) in spec.services.iter().enumerate() {
            for h in &s.hostnames {
                let h = normalize_host(h);
                let apex = match h.strip_prefix("*.") {
                    Some(base) => {
                        wildcard_hosts.insert(Box::from(base), si as u32);
                        Some(base.to_owned())
                    }
                    None => {
                        // The parent zone, unless that would be a top-level domain: then
                        // the name is its own apex.
                        let apex = match h.split_once('.') {
                            Some((_, parent)) if parent.contains('.') => parent.to_owned(),
                            _ => h.clone(),
                        };
                        exact_hosts.insert(Box::from(h.as_str()), si as u32);
                        Some(apex)
                    }
                };
                if let Some(a) = apex
                    && seen_apex.insert(a.clone())
                {
                    apexes.push(a.into_boxed_str());
                }
            }
            let allowed: Box<[bool]> = if s.zones.is_empty() {
                vec![true; zones.len()].into_boxed_slice()
            } else {
                let mut v = vec![false; zones.len()];
                for z in &s.zones {
                    v[zone_ids[z.as_str()] as usize] = true;
                }
                v.into_boxed_slice()
            };
            let usable =
                |f: fn(&NodeInfo) -> bool| nodes.iter().any(|n| allowed[n.zone as usize] && f(n));
            services.push(ServiceInfo {
                has_v4: usable(|n| n.ipv4.is_some()),
                has_v6: usable(|n| n.ipv6.is_some()),
                allowed,
                default_zone: s.default_zone.as_deref().map(|d| zone_ids[d]),
                overload: s.overload_threshold as f32,
                // Validated above, so compiling cannot fail here.
                path_regex: s
                    .hash_key
                    .path_regex
                    .as_deref()
                    .and_then(|r| regex::Regex::new(r).ok()),
                // `ServiceSpec` has no deep caching setting: a service routes by the deep
                // coverage zones only when a caller asks (`route_http_deep`).
                deep_caching: DeepCaching::Never,
                spec: s.clone(),
            });
        }
        let deep = czf.deep().map(|d| deep_zones(d, &node_by_id, &slot_of, &nodes));

        // Every build gets an id of its own, for caches of per-node data (`fleet_id`).
        static BUILDS: AtomicU64 = AtomicU64::new(1);
        let fleet = Fleet {
            id: BUILDS.fetch_add(1, Ordering::Relaxed),
            nodes,
            members,
            slot_of: slot_of.into_boxed_slice(),
            choices,
            node_by_id,
            zones,
            services,
            exact_hosts,
            wildcard_hosts,
            apexes,
            czf: Arc::clone(czf.index()),
            czf_zones,
            geo: geo.cloned(),
            nearest,
            deep,
        };
        Ok(RoutingTable::from_fleet(Arc::new(fleet), health))
    }
}

/// The deep coverage zones with their cache names resolved to slots. Unknown names are
/// dropped, as Traffic Router drops names its cache register does not hold.
fn deep_zones(
    deep: &DeepCoverageZones,
    node_by_id: &AHashMap<Box<str>, u32>,
    slot_of: &[u32],
    nodes: &[NodeInfo],
) -> DeepZones {
    let zones = deep
        .zones()
        .iter()
        .map(|z| {
            let known: Vec<u32> = z
                .caches
                .iter()
                .filter_map(|c| node_by_id.get(c.as_str()))
                .take(MAX_ZONE_MEMBERS)
                .copied()
                .collect();
            DeepZoneInfo {
                name: Box::from(z.name.as_str()),
                slots: known.iter().map(|&n| slot_of[n as usize]).collect(),
                zones: known.iter().map(|&n| nodes[n as usize].zone).collect(),
            }
        })
        .collect();
    DeepZones { index: Arc::clone(deep.index()), zones }
}
