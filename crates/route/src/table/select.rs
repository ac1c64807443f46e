//! Node selection: zone chain, eligibility, panic, and the weighted rendezvous pick.
//!
//! Zone order follows Traffic Router: the localized zone, its backups in order, then (when
//! enabled) the nearest zones by great-circle distance up to the service's limit, and last the
//! service's default zone. Zones the service may not use are passed over. Within a zone,
//! admin-enabled nodes that are up (or not yet probed), not overloaded and of non-zero weight
//! form the first tier; degraded nodes are used only when that tier is empty. A node over the
//! overload threshold is walked past exactly like an unhealthy one, so its keys go to their
//! next-ranked node and come back when it recovers (bounded-load without a ring walk: every
//! member is scored once, so the walk is bounded by the zone size).

use std::cmp::Ordering;
use std::net::IpAddr;

use super::health_state::Slot;
use super::{RoutingTable, ServiceInfo};
use crate::decision::{
    Decision, DnsRequest, Family, HttpRequest, Localization, NodeChoice, RouteError, ServiceId,
    SkipReason, Skipped, ZoneId, ZoneSource,
};
use crate::rendezvous::{TopK, combine, hash_bytes, hash_name, mix64};
use crate::spec::{PanicMode, Policy};

/// Upper bound on dispersion + alternates and on DNS answers per decision.
const MAX_TOP: usize = 16;
/// Alternates reported with an HTTP decision.
const ALTERNATES: usize = 2;

/// A zone's outcome before it becomes a [`Decision`]; the ranked slots stay in the caller's
/// [`TopK`], filled in place so the pick is never copied.
struct Pick {
    zone: u32,
    source: ZoneSource,
    degraded: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    Healthy,
    Degraded,
}

struct Ctx<'a> {
    svc: &'a ServiceInfo,
    key: u64,
    want: usize,
    family: Option<Family>,
    panic: bool,
    explain: bool,
    skipped: Vec<Skipped>,
}

impl RoutingTable {
    /// Routes an HTTP request: one node by weighted rendezvous hashing of the content key
    /// (or weighted random under the `weighted_random` policy), chosen among the top
    /// `dispersion` ranked nodes by `seed`. With `explain`, every passed-over candidate is
    /// listed with its reason.
    pub fn route_http(&self, req: &HttpRequest<'_>, explain: bool) -> Result<Decision, RouteError> {
        let svc = self.service(req.service).ok_or(RouteError::UnknownService)?;
        let key = match svc.spec.policy {
            Policy::ConsistentHash => content_key(svc, req.path, req.query),
            Policy::WeightedRandom => mix64(req.seed),
        };
        let dispersion = (svc.spec.dispersion as usize).clamp(1, MAX_TOP - ALTERNATES);
        let mut ctx = Ctx {
            svc,
            key,
            want: dispersion + ALTERNATES,
            family: None,
            panic: self.in_panic(req.service),
            explain,
            skipped: Vec::new(),
        };
        let mut top = TopK::new(ctx.want);
        let (loc, pick) = self.select(&mut ctx, req.client_ip, &mut top)?;
        let spread = dispersion.min(top.len());
        let chosen = if spread > 1 { (mix64(req.seed ^ key) % spread as u64) as usize } else { 0 };
        let mut nodes = Vec::with_capacity(1);
        nodes.extend(top.get(chosen).map(|n| self.choice(n)));
        let rest = top.len().saturating_sub(1).min(ALTERNATES);
        let mut alternates = Vec::with_capacity(rest);
        alternates.extend(
            top.items()
                .enumerate()
                .filter(|&(i, _)| i != chosen)
                .take(rest)
                .map(|(_, n)| self.choice(n)),
        );
        if explain {
            self.explain_zone(&mut ctx, &pick, &top, &[chosen]);
        }
        Ok(self.decision(req.service, ctx, loc, pick, nodes, alternates))
    }

    /// Routes a DNS query: up to `dns_answers` distinct nodes with an address of the wanted
    /// family, from one zone, ranked by weighted rendezvous hashing of the query name
    /// (`consistent_hash`) or drawn by weighted random sampling seeded by `seed`.
    pub fn route_dns(&self, req: &DnsRequest<'_>) -> Result<Decision, RouteError> {
        self.route_dns_explained(req, false)
    }

    /// [`RoutingTable::route_dns`] with the skipped-candidate report for `/debug`.
    pub fn route_dns_explained(
        &self,
        req: &DnsRequest<'_>,
        explain: bool,
    ) -> Result<Decision, RouteError> {
        let svc = self.service(req.service).ok_or(RouteError::UnknownService)?;
        let key = match svc.spec.policy {
            Policy::ConsistentHash => hash_name(req.qname),
            Policy::WeightedRandom => mix64(req.seed),
        };
        let answers = (svc.spec.dns_answers as usize).clamp(1, MAX_TOP);
        let mut ctx = Ctx {
            svc,
            key,
            want: answers,
            family: Some(req.want),
            panic: self.in_panic(req.service),
            explain,
            skipped: Vec::new(),
        };
        let mut top = TopK::new(ctx.want);
        let (loc, pick) = self.select(&mut ctx, req.client_ip, &mut top)?;
        let mut nodes = Vec::with_capacity(top.len());
        nodes.extend(top.items().map(|n| self.choice(n)));
        if explain {
            let all: Vec<usize> = (0..top.len()).collect();
            self.explain_zone(&mut ctx, &pick, &top, &all);
        }
        Ok(self.decision(req.service, ctx, loc, pick, nodes, Vec::new()))
    }

    fn decision(
        &self,
        service: ServiceId,
        ctx: Ctx<'_>,
        localization: Localization,
        pick: Pick,
        nodes: Vec<NodeChoice>,
        alternates: Vec<NodeChoice>,
    ) -> Decision {
        Decision {
            service,
            nodes,
            zone: ZoneId(pick.zone),
            zone_name: self.fleet.zones[pick.zone as usize].name.clone(),
            zone_source: pick.source,
            localization,
            ttl_seconds: ctx.svc.spec.ttl_seconds,
            alternates,
            panic: ctx.panic,
            degraded: pick.degraded,
            skipped: ctx.skipped,
        }
    }

    #[inline]
    fn choice(&self, slot: u32) -> NodeChoice {
        self.fleet.choices[slot as usize].clone()
    }

    /// Localizes, then walks the zone chain until a zone yields nodes.
    fn select(
        &self,
        ctx: &mut Ctx<'_>,
        ip: IpAddr,
        top: &mut TopK<MAX_TOP>,
    ) -> Result<(Localization, Pick), RouteError> {
        if ctx.panic && ctx.svc.spec.panic_mode == PanicMode::Closed {
            return Err(RouteError::PanicFailClosed);
        }
        let loc = self.localize(ip);
        let (start, source) = match (loc.zone, ctx.svc.default_zone) {
            (Some(z), _) => (z.0, ZoneSource::Localized),
            (None, Some(d)) => (d, ZoneSource::Default),
            (None, None) => return Err(RouteError::NotLocalized),
        };
        if let Some(p) = self.try_zone(ctx, top, start, source) {
            return Ok((loc, p));
        }
        let zones = &self.fleet.zones;
        let mut visited = vec![start];
        for &b in zones[start as usize].backups.iter() {
            if !visited.contains(&b) {
                visited.push(b);
                if let Some(p) = self.try_zone(ctx, top, b, ZoneSource::Backup) {
                    return Ok((loc, p));
                }
            }
        }
        if ctx.svc.spec.fallback_to_nearest {
            let mut tried = 0;
            for &z in zones[start as usize].nearest.iter() {
                if tried >= ctx.svc.spec.fallback_nearest_limit {
                    break;
                }
                if visited.contains(&z) || !ctx.svc.allowed[z as usize] {
                    continue;
                }
                visited.push(z);
                tried += 1;
                if let Some(p) = self.try_zone(ctx, top, z, ZoneSource::Nearest) {
                    return Ok((loc, p));
                }
            }
        }
        if let Some(d) = ctx.svc.default_zone
            && !visited.contains(&d)
            && let Some(p) = self.try_zone(ctx, top, d, ZoneSource::Default)
        {
            return Ok((loc, p));
        }
        Err(RouteError::NoEligibleNode)
    }

    /// Scores a zone's members into `top`; `None` when no member is usable.
    fn try_zone(
        &self,
        ctx: &mut Ctx<'_>,
        top: &mut TopK<MAX_TOP>,
        zone: u32,
        source: ZoneSource,
    ) -> Option<Pick> {
        let z = &self.fleet.zones[zone as usize];
        if !ctx.svc.allowed[zone as usize] {
            if ctx.explain {
                ctx.skipped.push(Skipped {
                    zone: z.name.clone(),
                    node: None,
                    reason: SkipReason::ZoneNotAllowed,
                });
            }
            return None;
        }
        top.clear();
        let first = z.members.start;
        let slots = &self.slots[z.members.start as usize..z.members.end as usize];
        let family = family_flags(ctx.family);
        let mut degraded = false;
        if ctx.panic {
            let reject = Slot::DRAIN | Slot::MAINTENANCE | Slot::ZERO_PANIC_WEIGHT;
            for (slot, st) in (first..).zip(slots) {
                if st.flags & reject == 0 && st.flags & family != 0 {
                    top.offer_hrw(ctx.key, st.seed, st.inv_panic_weight, slot);
                }
            }
        } else {
            // The healthy tier in one pass; the degraded tier is scored only when that pass
            // found nothing, which is the same answer as ranking both tiers side by side.
            let reject = Slot::DRAIN | Slot::MAINTENANCE | Slot::DOWN | Slot::ZERO_WEIGHT;
            let overload = ctx.svc.overload;
            let usable = |st: &Slot| {
                st.flags & reject == 0
                    && st.flags & family != 0
                    && st.utilization.partial_cmp(&overload) != Some(Ordering::Greater)
            };
            for (slot, st) in (first..).zip(slots) {
                if usable(st) {
                    if st.flags & Slot::DEGRADED == 0 {
                        top.offer_hrw(ctx.key, st.seed, st.inv_weight, slot);
                    } else {
                        degraded = true;
                    }
                }
            }
            if top.len() > 0 {
                degraded = false;
            } else if degraded {
                for (slot, st) in (first..).zip(slots) {
                    if usable(st) {
                        top.offer_hrw(ctx.key, st.seed, st.inv_weight, slot);
                    }
                }
            }
        }
        if top.len() == 0 {
            if ctx.explain {
                self.explain_members(ctx, zone, None, &[]);
                ctx.skipped.push(Skipped {
                    zone: z.name.clone(),
                    node: None,
                    reason: SkipReason::ZoneExhausted,
                });
            }
            return None;
        }
        Some(Pick { zone, source, degraded })
    }

    /// Explain report for the zone that answered: everything not chosen.
    fn explain_zone(&self, ctx: &mut Ctx<'_>, pick: &Pick, top: &TopK<MAX_TOP>, chosen: &[usize]) {
        let chosen: Vec<u32> = chosen.iter().filter_map(|&i| top.get(i)).collect();
        let tier = if pick.degraded { Tier::Degraded } else { Tier::Healthy };
        self.explain_members(ctx, pick.zone, Some(tier), &chosen);
    }

    fn explain_members(&self, ctx: &mut Ctx<'_>, zone: u32, used: Option<Tier>, chosen: &[u32]) {
        let z = &self.fleet.zones[zone as usize];
        for slot in z.members.clone() {
            if chosen.contains(&slot) {
                continue;
            }
            let m = self.fleet.members[slot as usize].node;
            let reason = match eligibility(ctx, &self.slots[slot as usize]) {
                Err(r) => r,
                Ok((t, _)) if Some(t) == used => SkipReason::Outranked,
                Ok((Tier::Degraded, _)) => SkipReason::Degraded,
                Ok(_) => SkipReason::Outranked,
            };
            ctx.skipped.push(Skipped {
                zone: z.name.clone(),
                node: Some(self.fleet.nodes[m as usize].id.clone()),
                reason,
            });
        }
    }
}

/// Whether the node in a slot may be picked, in which tier and with what reciprocal weight;
/// else why not.
#[inline]
fn eligibility(ctx: &Ctx<'_>, st: &Slot) -> Result<(Tier, f32), SkipReason> {
    if st.flags & (Slot::DRAIN | Slot::MAINTENANCE) != 0 {
        return Err(if st.flags & Slot::DRAIN != 0 {
            SkipReason::Draining
        } else {
            SkipReason::Maintenance
        });
    }
    if st.flags & family_flags(ctx.family) == 0 {
        return Err(SkipReason::NoAddress);
    }
    if ctx.panic {
        return if st.flags & Slot::ZERO_PANIC_WEIGHT == 0 {
            Ok((Tier::Healthy, st.inv_panic_weight))
        } else {
            Err(SkipReason::ZeroWeight)
        };
    }
    if st.flags & Slot::DOWN != 0 {
        return Err(SkipReason::Down);
    }
    if st.utilization > ctx.svc.overload {
        return Err(SkipReason::Overloaded { utilization: st.utilization });
    }
    if st.flags & Slot::ZERO_WEIGHT != 0 {
        return Err(SkipReason::ZeroWeight);
    }
    let tier = if st.flags & Slot::DEGRADED != 0 { Tier::Degraded } else { Tier::Healthy };
    Ok((tier, st.inv_weight))
}

/// Slot flags of which at least one must be set: any address for HTTP, the asked family
/// for DNS.
#[inline]
fn family_flags(family: Option<Family>) -> u8 {
    match family {
        None => Slot::V4 | Slot::V6,
        Some(Family::V4) => Slot::V4,
        Some(Family::V6) => Slot::V6,
    }
}

/// Content key under the service's hash key rule (Traffic Router's consistentHashRegex and
/// consistentHashQueryParams): the path, or the concatenated capture groups of the path
/// regex (the whole match when it has no groups; the full path when it does not match), then
/// each configured query parameter present, as raw `name=value`.
pub(crate) fn content_key(svc: &ServiceInfo, path: &str, query: &str) -> u64 {
    let mut h = match &svc.path_regex {
        None => hash_bytes(0, path.as_bytes()),
        Some(re) => match re.captures(path) {
            Some(caps) if caps.len() > 1 => caps.iter().skip(1).fold(0x7061_7468, |h, g| {
                combine(h, hash_bytes(1, g.map_or("", |m| m.as_str()).as_bytes()))
            }),
            Some(caps) => hash_bytes(0, caps.get(0).map_or("", |m| m.as_str()).as_bytes()),
            None => hash_bytes(0, path.as_bytes()),
        },
    };
    for name in &svc.spec.hash_key.query_params {
        if let Some(value) = query_param(query, name) {
            h = combine(h, hash_bytes(2, name.as_bytes()) ^ hash_bytes(3, value.as_bytes()));
        }
    }
    h
}

/// First value of `name` in a raw query string (`a=1&b`; a bare name has value "").
fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}
