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
//!
//! HTTP decisions of a service with deep caching first try the client's deep coverage zone,
//! whose caches are ranked the same way (see [`DeepCaching`]).

use std::net::IpAddr;

use super::health_state::{Slot, Slots};
use super::{DeepZoneInfo, RoutingTable, ServiceInfo};
use crate::decision::{
    Decision, DeepCaching, DnsRequest, Family, HttpRequest, Localization, LocalizationMethod,
    MAX_NODES, RouteError, ServiceIndex, SkipReason, Skipped, ZoneIndex, ZoneSource,
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
    /// listed with its reason. A service with deep caching tries the client's deep coverage
    /// zone first.
    pub fn route_http(
        &self,
        req: &HttpRequest<'_>,
        explain: bool,
    ) -> Result<Decision<'_>, RouteError> {
        let svc = self.service(req.service).ok_or(RouteError::UnknownService)?;
        // The one test a service without deep caching pays; the deep path is out of line.
        if svc.deep_caching == DeepCaching::Always {
            return self.route_http_deep_first(svc, req, explain);
        }
        self.route_http_normal(svc, req, explain)
    }

    /// [`RoutingTable::route_http`] with deep caching as `deep` says rather than as the
    /// service says: Traffic Router's API answers "which cache would the coverage zones give"
    /// and "which would the deep coverage zones give" whatever the delivery service's own
    /// setting. A decision from a deep zone has [`LocalizationMethod::DeepCoverageZone`].
    pub fn route_http_deep(
        &self,
        req: &HttpRequest<'_>,
        explain: bool,
        deep: DeepCaching,
    ) -> Result<Decision<'_>, RouteError> {
        let svc = self.service(req.service).ok_or(RouteError::UnknownService)?;
        match deep {
            DeepCaching::Always => self.route_http_deep_first(svc, req, explain),
            DeepCaching::Never => self.route_http_normal(svc, req, explain),
        }
    }

    #[inline(always)]
    fn route_http_normal<'t>(
        &'t self,
        svc: &'t ServiceInfo,
        req: &HttpRequest<'_>,
        explain: bool,
    ) -> Result<Decision<'t>, RouteError> {
        let (mut ctx, dispersion) = self.http_ctx(svc, req, explain);
        let mut top = Best::new(ctx.want);
        let (loc, pick) = self.select(&mut ctx, req.client_ip, &mut top)?;
        Ok(self.http_decision(req, ctx, &top, dispersion, loc, pick, None))
    }

    /// The deep coverage zone's caches first, then (none usable, or no deep zone) the
    /// normal decision, whose explain report then starts with the deep zone's.
    #[inline(never)]
    fn route_http_deep_first<'t>(
        &'t self,
        svc: &'t ServiceInfo,
        req: &HttpRequest<'_>,
        explain: bool,
    ) -> Result<Decision<'t>, RouteError> {
        let (mut ctx, dispersion) = self.http_ctx(svc, req, explain);
        let mut top = Best::new(ctx.want);
        let (loc, pick, deep) = match self.select_deep(&mut ctx, req.client_ip, &mut top)? {
            Some((loc, pick, zone)) => (loc, pick, Some(zone)),
            None => {
                let (loc, pick) = self.select(&mut ctx, req.client_ip, &mut top)?;
                (loc, pick, None)
            }
        };
        Ok(self.http_decision(req, ctx, &top, dispersion, loc, pick, deep))
    }

    /// What every HTTP decision starts with: the content key, and the number of ranks kept.
    #[inline(always)]
    fn http_ctx<'t>(
        &'t self,
        svc: &'t ServiceInfo,
        req: &HttpRequest<'_>,
        explain: bool,
    ) -> (Ctx<'t>, usize) {
        let key = match svc.spec.policy {
            Policy::ConsistentHash => content_key(svc, req.path, req.query),
            Policy::WeightedRandom => mix64(req.seed),
        };
        let dispersion = (svc.spec.dispersion as usize).clamp(1, MAX_TOP - ALTERNATES);
        let ctx = Ctx {
            svc,
            key,
            want: dispersion + ALTERNATES,
            family: None,
            panic: self.in_panic(req.service),
            explain,
            skipped: Vec::new(),
        };
        (ctx, dispersion)
    }

    /// The HTTP decision from the ranks in `top`: one node chosen among the best
    /// `dispersion` by the request's seed, the next best as alternates. `deep` is the deep
    /// zone the ranks came from, whose ranks hold positions in its cache list, not slots.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn http_decision<'t>(
        &'t self,
        req: &HttpRequest<'_>,
        mut ctx: Ctx<'t>,
        top: &Best<MAX_TOP>,
        dispersion: usize,
        mut loc: Localization,
        mut pick: Pick,
        deep: Option<&'t DeepZoneInfo>,
    ) -> Decision<'t> {
        let spread = dispersion.min(top.len());
        let key = ctx.key;
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
        if let Some(z) = deep {
            for s in &mut slots[..=len] {
                *s = z.slots[*s as usize];
            }
            // A deep zone is no fleet zone: the decision names the chosen cache's own zone.
            pick.zone = self.zone_of_slot(slots[0]);
            loc.zone = Some(ZoneIndex(pick.zone));
            if ctx.explain {
                self.explain_deep(&mut ctx, z, Some(pick.degraded), &[slots[0]]);
            }
        } else if ctx.explain {
            self.explain_zone(&mut ctx, &pick, top, &[chosen]);
        }
        self.decision(req.service, ctx, loc, pick, slots, 1, len + 1)
    }

    /// Fleet zone of the node in `slot`.
    fn zone_of_slot(&self, slot: u32) -> u32 {
        let node = self.fleet.members[slot as usize].node;
        self.fleet.nodes[node as usize].zone
    }

    /// The deep coverage zone of `ip`, when it has a cache the service may use: its caches
    /// ranked into `top` (as positions in its cache list), the localization and the pick.
    /// `None` sends the request down the normal path.
    #[allow(clippy::type_complexity)]
    fn select_deep<'t>(
        &'t self,
        ctx: &mut Ctx<'t>,
        ip: IpAddr,
        top: &mut Best<MAX_TOP>,
    ) -> Result<Option<(Localization, Pick, &'t DeepZoneInfo)>, RouteError> {
        if ctx.panic && ctx.svc.spec.panic_mode == PanicMode::Closed {
            return Err(RouteError::PanicFailClosed);
        }
        let Some(deep) = &self.fleet.deep else { return Ok(None) };
        // `PrefixIndex::lookup` spelled out: a second caller of it (or of `rank_members` or
        // `Best::offer_all`) makes the compiler stop inlining it on the normal path, which
        // costs every decision a few percent.
        let hit = match ip {
            IpAddr::V4(a) => deep.index.lookup_v4(a),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => deep.index.lookup_v4(v4),
                None => deep.index.lookup_v6(a),
            },
        };
        let Some(hit) = hit else { return Ok(None) };
        let Some(z) = deep.zones.get(hit.value as usize) else { return Ok(None) };
        top.clear(0);
        let need = family_flags(ctx.family);
        let weights = if ctx.panic { &self.slots.inv_panic_weight } else { &self.slots.inv_weight };
        let mut seeds = [0u64; RANK_CHUNK];
        let mut inv_weight = [0f32; RANK_CHUNK];
        let mut utilization = [f32::NEG_INFINITY; RANK_CHUNK];
        let mut out = [NO_RANK; RANK_CHUNK];
        let mut at = 0;
        while at < z.slots.len() {
            let len = (z.slots.len() - at).min(RANK_CHUNK);
            let padded = len.next_multiple_of(8).min(RANK_CHUNK);
            // The caches are anywhere in the slot arrays: gather them. A cache outside the
            // service's zones is marked as in maintenance, which every rank refuses.
            for i in 0..len {
                let slot = z.slots[at + i] as usize;
                let allowed = ctx.svc.allowed[z.zones[at + i] as usize];
                let refuse = if allowed { 0 } else { u64::from(Slot::MAINTENANCE) };
                seeds[i] = self.slots.seed_flags[slot] | refuse;
                inv_weight[i] = weights[slot];
                utilization[i] = self.slots.utilization[slot];
            }
            // Padding up to a whole vector: never eligible, and never offered.
            seeds[len..padded].fill(u64::from(Slot::MAINTENANCE));
            let batch = Batch {
                seed_flags: &seeds[..padded],
                inv_weight: &inv_weight[..padded],
                utilization: &utilization[..padded],
                panic: ctx.panic,
            };
            rank_gathered(ctx.key, need, ctx.svc.overload, at as u32, batch, &mut out[..padded]);
            out[..len].iter().for_each(|&r| top.offer(r));
            at += len;
        }
        if !ctx.panic {
            top.keep_best_tier();
        }
        if top.len() == 0 {
            if ctx.explain {
                self.explain_deep(ctx, z, None, &[]);
                ctx.skipped.push(Skipped {
                    zone: &z.name,
                    node: None,
                    reason: SkipReason::ZoneExhausted,
                });
            }
            return Ok(None);
        }
        let loc = Localization {
            zone: None,
            method: LocalizationMethod::DeepCoverageZone,
            matched_prefix_len: Some(hit.prefix_len),
            scope_prefix_len: None,
        };
        let pick = Pick { zone: 0, source: ZoneSource::Localized, degraded: top.degraded() };
        Ok(Some((loc, pick, z)))
    }

    /// Explain report for a deep zone: every cache not in `chosen` (slots) and why. `used`
    /// is the tier that answered (degraded or not), `None` when none did.
    fn explain_deep<'t>(
        &'t self,
        ctx: &mut Ctx<'t>,
        z: &'t DeepZoneInfo,
        used: Option<bool>,
        chosen: &[u32],
    ) {
        for (&slot, &zone) in z.slots.iter().zip(z.zones.iter()) {
            if chosen.contains(&slot) {
                continue;
            }
            let node = &self.fleet.nodes[self.fleet.members[slot as usize].node as usize].id;
            let reason = if !ctx.svc.allowed[zone as usize] {
                SkipReason::ZoneNotAllowed
            } else {
                match eligibility(ctx, &self.slots.get(slot as usize)) {
                    Err(r) => r,
                    Ok(Tier::Degraded) if used == Some(false) => SkipReason::Degraded,
                    Ok(_) => SkipReason::Outranked,
                }
            };
            ctx.skipped.push(Skipped { zone: &z.name, node: Some(node), reason });
        }
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

/// [`rank_members`] for the deep path's gathered batches: the same builds, chosen the same
/// way, kept apart so `rank_members` has one caller and stays inlined in `try_zone`.
#[inline(never)]
fn rank_gathered(key: u64, need: u8, overload: f32, base: u32, batch: Batch<'_>, out: &mut [u64]) {
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
/// each configured query parameter present, as raw `name=value`. Always inlined: the deep
/// caching path computes it too, and a second caller would otherwise take it out of line
/// on every HTTP decision.
#[inline(always)]
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
