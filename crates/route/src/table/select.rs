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

use std::net::IpAddr;

use super::health_state::{Slot, Slots};
use super::{RoutingTable, ServiceInfo};
use crate::decision::{
    Decision, DnsRequest, Family, HttpRequest, Localization, MAX_NODES, RouteError, ServiceIndex,
    SkipReason, Skipped, ZoneIndex, ZoneSource,
};
use crate::rendezvous::{
    Best, DEGRADED_RANK, NO_RANK, combine, hash_bytes, hash_name, mix64, rank,
};
use crate::spec::{PanicMode, Policy};

/// Upper bound on dispersion + alternates and on DNS answers per decision.
const MAX_TOP: usize = MAX_NODES;
/// Alternates reported with an HTTP decision.
const ALTERNATES: usize = 2;

/// A zone's outcome before it becomes a [`Decision`]; the ranked slots stay in the caller's
/// [`Best`], filled in place so the pick is never copied.
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
    skipped: Vec<Skipped<'a>>,
}

impl RoutingTable {
    /// Routes an HTTP request: one node by weighted rendezvous hashing of the content key
    /// (or weighted random under the `weighted_random` policy), chosen among the top
    /// `dispersion` ranked nodes by `seed`. With `explain`, every passed-over candidate is
    /// listed with its reason.
    pub fn route_http(
        &self,
        req: &HttpRequest<'_>,
        explain: bool,
    ) -> Result<Decision<'_>, RouteError> {
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
        let mut top = Best::new(ctx.want);
        let (loc, pick) = self.select(&mut ctx, req.client_ip, &mut top)?;
        let spread = dispersion.min(top.len());
        let chosen = if spread > 1 { (mix64(req.seed ^ key) % spread as u64) as usize } else { 0 };
        // The chosen node first, then the best-ranked others as alternates.
        let mut slots = [0u32; MAX_NODES];
        let mut len = 0;
        for (i, slot) in top.items().enumerate() {
            if i == chosen {
                slots[0] = slot;
            } else if len < ALTERNATES {
                len += 1;
                slots[len] = slot;
            }
        }
        if explain {
            self.explain_zone(&mut ctx, &pick, &top, &[chosen]);
        }
        Ok(self.decision(req.service, ctx, loc, pick, slots, 1, len + 1))
    }

    /// Routes a DNS query: up to `dns_answers` distinct nodes with an address of the wanted
    /// family, from one zone, ranked by weighted rendezvous hashing of the query name
    /// (`consistent_hash`) or drawn by weighted random sampling seeded by `seed`.
    pub fn route_dns(&self, req: &DnsRequest<'_>) -> Result<Decision<'_>, RouteError> {
        self.route_dns_explained(req, false)
    }

    /// [`RoutingTable::route_dns`] with the skipped-candidate report for `/debug`.
    pub fn route_dns_explained(
        &self,
        req: &DnsRequest<'_>,
        explain: bool,
    ) -> Result<Decision<'_>, RouteError> {
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
        let mut top = Best::new(ctx.want);
        let (loc, pick) = self.select(&mut ctx, req.client_ip, &mut top)?;
        let mut slots = [0u32; MAX_NODES];
        for (dst, slot) in slots.iter_mut().zip(top.items()) {
            *dst = slot;
        }
        if explain {
            let all: Vec<usize> = (0..top.len()).collect();
            self.explain_zone(&mut ctx, &pick, &top, &all);
        }
        let n = top.len();
        Ok(self.decision(req.service, ctx, loc, pick, slots, n, n))
    }

    #[allow(clippy::too_many_arguments)]
    fn decision<'t>(
        &'t self,
        service: ServiceIndex,
        ctx: Ctx<'t>,
        localization: Localization,
        pick: Pick,
        slots: [u32; MAX_NODES],
        chosen: usize,
        len: usize,
    ) -> Decision<'t> {
        Decision {
            fleet: &self.fleet,
            service,
            zone: ZoneIndex(pick.zone),
            zone_source: pick.source,
            localization,
            ttl_seconds: ctx.svc.spec.ttl_seconds,
            panic: ctx.panic,
            degraded: pick.degraded,
            slots,
            chosen: chosen as u8,
            len: len as u8,
            skipped: ctx.skipped.into_boxed_slice(),
        }
    }

    /// Localizes, then walks the zone chain until a zone yields nodes.
    fn select<'t>(
        &'t self,
        ctx: &mut Ctx<'t>,
        ip: IpAddr,
        top: &mut Best<MAX_TOP>,
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
    fn try_zone<'t>(
        &'t self,
        ctx: &mut Ctx<'t>,
        top: &mut Best<MAX_TOP>,
        zone: u32,
        source: ZoneSource,
    ) -> Option<Pick> {
        let z = &self.fleet.zones[zone as usize];
        if !ctx.svc.allowed[zone as usize] {
            if ctx.explain {
                ctx.skipped.push(Skipped {
                    zone: &z.name,
                    node: None,
                    reason: SkipReason::ZoneNotAllowed,
                });
            }
            return None;
        }
        top.clear(z.members.start);
        let need = family_flags(ctx.family);
        let key = ctx.key;
        // Ranks are computed a chunk at a time into a buffer, every member whether eligible
        // or not (an ineligible one gets NO_RANK): the scoring loop then has no
        // data-dependent branch and no dependency between members, so they overlap in the
        // pipeline, and the selection that follows is a short chain of `min`/`max`.
        // A batch is rounded up to whole vectors of eight; the extra members (the next
        // zone's, or padding) are ranked and then ignored.
        let mut buf = [NO_RANK; RANK_CHUNK];
        let (start, end) = (z.members.start as usize, z.members.end as usize);
        let mut at = start;
        while at < end {
            let len = (end - at).min(RANK_CHUNK);
            let padded = len.next_multiple_of(8).min(RANK_CHUNK);
            debug_assert!(at + padded <= self.slots.seed_flags.len());
            let batch = Batch::new(&self.slots, at, padded, ctx.panic);
            let out = &mut buf[..padded];
            rank_members(key, need, ctx.svc.overload, (at - start) as u32, batch, out);
            top.offer_all(&out[..len]);
            at += len;
        }
        if !ctx.panic {
            top.keep_best_tier();
        }
        if top.len() == 0 {
            if ctx.explain {
                self.explain_members(ctx, zone, None, &[]);
                ctx.skipped.push(Skipped {
                    zone: &z.name,
                    node: None,
                    reason: SkipReason::ZoneExhausted,
                });
            }
            return None;
        }
        Some(Pick { zone, source, degraded: top.degraded() })
    }

    /// Explain report for the zone that answered: everything not chosen.
    fn explain_zone<'t>(
        &'t self,
        ctx: &mut Ctx<'t>,
        pick: &Pick,
        top: &Best<MAX_TOP>,
        chosen: &[usize],
    ) {
        let chosen: Vec<u32> = chosen.iter().filter_map(|&i| top.get(i)).collect();
        let tier = if pick.degraded { Tier::Degraded } else { Tier::Healthy };
        self.explain_members(ctx, pick.zone, Some(tier), &chosen);
    }

    fn explain_members<'t>(
        &'t self,
        ctx: &mut Ctx<'t>,
        zone: u32,
        used: Option<Tier>,
        chosen: &[u32],
    ) {
        let z = &self.fleet.zones[zone as usize];
        for slot in z.members.clone() {
            if chosen.contains(&slot) {
                continue;
            }
            let m = self.fleet.members[slot as usize].node;
            let reason = match eligibility(ctx, &self.slots.get(slot as usize)) {
                Err(r) => r,
                Ok(t) if Some(t) == used => SkipReason::Outranked,
                Ok(Tier::Degraded) => SkipReason::Degraded,
                Ok(_) => SkipReason::Outranked,
            };
            ctx.skipped.push(Skipped {
                zone: &z.name,
                node: Some(&self.fleet.nodes[m as usize].id),
                reason,
            });
        }
    }
}

/// Members ranked per batch (a stack buffer of this many ranks).
const RANK_CHUNK: usize = 32;

/// Consecutive slots to rank, as slices of equal length of the fields the rank reads.
#[derive(Clone, Copy)]
pub(super) struct Batch<'a> {
    seed_flags: &'a [u64],
    /// Effective weights, or panic weights in fail-open panic.
    inv_weight: &'a [f32],
    utilization: &'a [f32],
    panic: bool,
}

impl<'a> Batch<'a> {
    pub(super) fn new(slots: &'a Slots, at: usize, len: usize, panic: bool) -> Self {
        let weights = if panic { &slots.inv_panic_weight } else { &slots.inv_weight };
        Self {
            seed_flags: &slots.seed_flags[at..at + len],
            inv_weight: &weights[at..at + len],
            utilization: &slots.utilization[at..at + len],
            panic,
        }
    }
}

/// Ranks a batch of members into `out` with [`rank_batch`], compiled for the widest vector
/// unit the CPU has.
///
/// The loop is plain Rust that the compiler vectorizes. x86-64's baseline (SSE2) has no
/// vector 64-bit multiply or integer-to-double conversion, which the hash and the score
/// need, so builds of the same loop for AVX2 and AVX-512 are selected at run time (the
/// detection result is cached by the standard library). Every build computes the same
/// IEEE operations in the same order, so all give identical ranks, which a test checks.
#[inline]
fn rank_members(key: u64, need: u8, overload: f32, base: u32, batch: Batch<'_>, out: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has AVX-512 F/DQ/VL (DQ and VL imply F), checked just above.
            return unsafe { wide::rank_avx512(key, need, overload, base, batch, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { wide::rank_avx2(key, need, overload, base, batch, out) };
        }
    }
    rank_batch(key, need, overload, base, batch, out);
}

#[cfg(target_arch = "x86_64")]
pub(super) mod wide {
    use super::{Batch, rank_batch};

    /// [`rank_batch`] compiled with the given target features.
    macro_rules! build_for {
        ($name:ident, $features:literal) => {
            #[target_feature(enable = $features)]
            pub(in crate::table) fn $name(
                key: u64,
                need: u8,
                overload: f32,
                base: u32,
                batch: Batch<'_>,
                out: &mut [u64],
            ) {
                rank_batch(key, need, overload, base, batch, out);
            }
        };
    }

    build_for!(rank_avx512, "avx512f,avx512dq,avx512vl");
    build_for!(rank_avx2, "avx2");
}

/// Ranks members for a pick. Not in panic: eligible healthy members by effective weight,
/// eligible degraded ones behind every healthy one, others NO_RANK. In fail-open panic:
/// health ignored, admin state and family respected, panic weights.
#[inline(always)]
pub(super) fn rank_batch(
    key: u64,
    need: u8,
    overload: f32,
    base: u32,
    batch: Batch<'_>,
    out: &mut [u64],
) {
    let n = batch.seed_flags.len();
    let (seeds, weights, utils) =
        (&batch.seed_flags[..n], &batch.inv_weight[..n], &batch.utilization[..n]);
    let out = &mut out[..n];
    let (reject, degraded_flag, overload) = if batch.panic {
        // Nothing is "degraded" and nothing is over the threshold in panic.
        (Slot::DRAIN | Slot::MAINTENANCE | Slot::ZERO_PANIC_WEIGHT, 0, f32::INFINITY)
    } else {
        (Slot::DRAIN | Slot::MAINTENANCE | Slot::DOWN | Slot::ZERO_WEIGHT, Slot::DEGRADED, overload)
    };
    for i in 0..n {
        let flags = seeds[i] as u8;
        // Unknown utilization is minus infinity: never over the threshold.
        let ok = (flags & reject == 0) & (flags & need != 0) & (utils[i] <= overload);
        let tier = if flags & degraded_flag != 0 { DEGRADED_RANK } else { 0 };
        let r = rank(key, seeds[i] & !0xFF, weights[i], base + i as u32) | tier;
        out[i] = if ok { r } else { NO_RANK };
    }
}

/// Whether the node in a slot may be picked, and in which tier; else why not. The same
/// rules as [`rank_normal`] and [`rank_panic`], spelled out for the explain report.
fn eligibility(ctx: &Ctx<'_>, st: &Slot) -> Result<Tier, SkipReason> {
    let flags = st.flags();
    if flags & (Slot::DRAIN | Slot::MAINTENANCE) != 0 {
        return Err(if flags & Slot::DRAIN != 0 {
            SkipReason::Draining
        } else {
            SkipReason::Maintenance
        });
    }
    if flags & family_flags(ctx.family) == 0 {
        return Err(SkipReason::NoAddress);
    }
    if ctx.panic {
        return if flags & Slot::ZERO_PANIC_WEIGHT == 0 {
            Ok(Tier::Healthy)
        } else {
            Err(SkipReason::ZeroWeight)
        };
    }
    if flags & Slot::DOWN != 0 {
        return Err(SkipReason::Down);
    }
    if st.utilization > ctx.svc.overload {
        return Err(SkipReason::Overloaded { utilization: st.utilization });
    }
    if flags & Slot::ZERO_WEIGHT != 0 {
        return Err(SkipReason::ZeroWeight);
    }
    Ok(if flags & Slot::DEGRADED != 0 { Tier::Degraded } else { Tier::Healthy })
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
