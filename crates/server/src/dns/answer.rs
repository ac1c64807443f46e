//! The answer logic as one pure function: query bytes + routing table snapshot + source
//! address in, response bytes out. Both transports and the tests go through [`answer`].

use std::net::IpAddr;

use switchyard_route::{DnsRequest, Family, RoutingTable, ServiceIndex};

use super::authority::Authority;
use super::codes::{Outcome, QType, Rcode, Transport};
use super::codes::{class, flag, rtype};
use super::records::{self, Section};
use super::wire::{self, Edns, NameBuf, ParseError, Query};
use crate::sampling::{ClientKey, Sample};
use crate::telemetry::{self, DecisionTrace};

/// Whether `name` has a service host name below it (an empty non-terminal, which answers
/// NODATA rather than NXDOMAIN: RFC 8020 §2, RFC 4592 §2.2.2 for wildcard owners).
fn has_descendant(table: &RoutingTable, name: &str) -> bool {
    table.services().any(|(_, s)| {
        s.hostnames().iter().any(|h| {
            let h = h.strip_suffix('.').unwrap_or(h);
            h.len() > name.len()
                && h.as_bytes()[h.len() - name.len() - 1] == b'.'
                && h[h.len() - name.len()..].eq_ignore_ascii_case(name)
        })
    })
}

/// Answers one query. `out` must hold at least 512 bytes (65535 for TCP to never
/// truncate); `seed` drives the `weighted_random` policy.
pub fn answer(
    auth: &Authority,
    table: &RoutingTable,
    query: &[u8],
    src: IpAddr,
    transport: Transport,
    seed: u64,
    out: &mut [u8],
) -> Outcome {
    answer_traced(auth, table, query, src, transport, seed, out, None)
}

/// [`answer`], recording the decision's steps into `trace` when the query is sampled.
#[allow(clippy::too_many_arguments)]
pub fn answer_traced(
    auth: &Authority,
    table: &RoutingTable,
    query: &[u8],
    src: IpAddr,
    transport: Transport,
    seed: u64,
    out: &mut [u8],
    trace: Option<&DecisionTrace>,
) -> Outcome {
    let mut name = NameBuf::default();
    let q = match wire::parse(query, &mut name) {
        Ok(q) => q,
        Err(ParseError::Drop) => return Outcome::Drop,
        Err(e) => return records::error_reply(query, e, auth.config.max_udp_payload_bytes, out),
    };
    let limit = match (transport, q.edns) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, None) => 512,
        (Transport::Udp, Some(e)) => {
            usize::from(e.udp_payload.clamp(512, auth.config.max_udp_payload_bytes.max(512)))
        }
    };
    let qtype = QType::from_u16(q.question.qtype);
    if let Some(t) = trace {
        describe(t, name.as_str(), qtype);
    }
    let nsid = match q.edns {
        Some(e) if e.nsid => auth.config.server_id.as_deref().map(str::as_bytes),
        _ => None,
    };
    let max_udp = auth.config.max_udp_payload_bytes;
    let mut resp = records::Response::start(out, limit, &q, max_udp, nsid);
    let rcode = fill(auth, table, &q, name.as_str(), src, seed, &mut resp, trace);
    let (len, truncated) = resp.finish(rcode);
    if len == 0 {
        return Outcome::Drop;
    }
    Outcome::Reply { len, rcode, qtype, truncated }
}

/// The inputs of the decision `answer` makes for `query` from `src`, for
/// [`crate::sampling`]: only address queries (A, AAAA, ANY in class IN) for a service name.
/// Parses the query again, which costs nothing while nobody records.
pub fn sample(table: &RoutingTable, query: &[u8], src: IpAddr) -> Option<Sample> {
    let mut name = NameBuf::default();
    let q = wire::parse(query, &mut name).ok()?;
    let qtype = match q.question.qtype {
        rtype::A => "A",
        rtype::AAAA => "AAAA",
        rtype::ANY => "ANY",
        _ => return None,
    };
    if q.question.qclass != class::IN {
        return None;
    }
    let service = table.service_for_host(name.as_str())?;
    let service = table.service(service).map_or("", |s| s.name());
    let client = match q.edns.and_then(|e| e.ecs).and_then(|e| e.network()) {
        Some(net) if net.prefix_len() > 0 => ClientKey::Subnet(net),
        _ => ClientKey::Addr(src.to_canonical()),
    };
    Some(Sample::dns(name.as_str(), service, client, qtype))
}

/// The reply a rate-limited query gets when it slips through (BIND's RRL `slip`): header
/// and question with TC set and nothing else but the OPT record, so a resolver asks again
/// over TCP, where a spoofed source cannot follow. Costs no routing decision; a packet
/// that does not parse as a query is dropped as usual.
pub fn slip(auth: &Authority, query: &[u8], out: &mut [u8]) -> Outcome {
    let mut name = NameBuf::default();
    let Ok(q) = wire::parse(query, &mut name) else { return Outcome::Drop };
    let mut resp = records::Response::start(out, 512, &q, auth.config.max_udp_payload_bytes, None);
    resp.truncate_all();
    match resp.finish(Rcode::NoError) {
        (0, _) => Outcome::Drop,
        (len, truncated) => Outcome::Reply {
            len,
            rcode: Rcode::NoError,
            qtype: QType::from_u16(q.question.qtype),
            truncated,
        },
    }
}

/// The RCODE sent, for a traced query's `request` span; `None` for a dropped packet.
pub(super) fn rcode_name(outcome: &Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Reply { rcode, .. } => Some(rcode.as_str()),
        Outcome::Drop => None,
    }
}

/// The question, on a traced query's `request` span.
#[cold]
fn describe(trace: &DecisionTrace, name: &str, qtype: QType) {
    use opentelemetry::KeyValue;
    trace.attribute(KeyValue::new("dns.question.name", name.to_owned()));
    trace.attribute(KeyValue::new("dns.question.type", qtype.as_str()));
}

/// Decides the response and writes its sections; returns the RCODE.
#[allow(clippy::too_many_arguments)]
fn fill(
    auth: &Authority,
    table: &RoutingTable,
    q: &Query<'_>,
    name: &str,
    src: IpAddr,
    seed: u64,
    resp: &mut records::Response<'_>,
    trace: Option<&DecisionTrace>,
) -> Rcode {
    if q.edns.is_some_and(|e: Edns| e.version > 0) {
        return Rcode::BadVers;
    }
    if !matches!(q.question.qclass, class::IN | class::ANY) {
        return chaos(auth, q, name, resp);
    }
    if table.counts() == (0, 0, 0) {
        // The empty table published before the inventory is loaded (or after it failed to
        // load): it knows no name, and an authoritative NXDOMAIN now would be cached by
        // resolvers for names that exist. SERVFAIL makes them try another server.
        return Rcode::ServFail;
    }
    let qt = q.question.qtype;
    let service = table.service_for_host(name);
    if let Some(svc) = service
        && matches!(qt, rtype::A | rtype::AAAA | rtype::ANY)
    {
        match address_answers(table, svc, q, name, src, seed, resp, trace) {
            Ok(true) => {
                resp.set_flags(flag::AA);
                return Rcode::NoError;
            }
            Ok(false) => {}
            Err(rcode) => return rcode,
        }
    }
    let zone = auth.zone_of(table, name);
    let apex = zone.filter(|z| *z == name);
    if matches!(qt, rtype::AXFR | rtype::IXFR) {
        return transfer_refused(apex.is_some());
    }
    resp.set_flags(flag::AA);
    if let Some(apex) = apex {
        let written = match qt {
            rtype::SOA => {
                resp.section(Section::Answer, |w| records::soa(w, auth, apex, name, false))
            }
            rtype::NS => records::ns_with_glue(resp, auth),
            // RFC 8482 §4.3 lets ANY be answered with any non-empty subset of the records
            // at the name: all of them here, as there are only these two sets.
            rtype::ANY => resp
                .section(Section::Answer, |w| records::soa(w, auth, apex, name, false))
                .and_then(|_| records::ns_with_glue(resp, auth)),
            _ => Ok(false),
        };
        if written.unwrap_or(false) {
            return Rcode::NoError;
        }
    }
    let ns_host = zone.and_then(|z| auth.name_server_host(z, name));
    if let Some(host) = ns_host {
        let (v4, v6) = match qt {
            rtype::A => (host.v4, &[][..]),
            rtype::AAAA => (&[][..], host.v6),
            rtype::ANY => (host.v4, host.v6),
            _ => (&[][..], &[][..]),
        };
        let ttl = auth.config.soa_ttl_seconds;
        if resp
            .section(Section::Answer, |w| records::host_addresses(w, ttl, v4, v6))
            .unwrap_or(false)
        {
            return Rcode::NoError;
        }
    }
    match zone {
        Some(z) => {
            let exists = service.is_some()
                || apex.is_some()
                || ns_host.is_some()
                || has_descendant(table, name)
                || auth.has_host_below(name);
            let _ = resp.section(Section::Authority, |w| records::soa(w, auth, z, name, true));
            if exists { Rcode::NoError } else { Rcode::NxDomain }
        }
        // A service name under no apex: NODATA without SOA (RFC 2308 §2.2 allows it; such
        // answers are simply not cached).
        None if service.is_some() => Rcode::NoError,
        None => {
            resp.clear_flags(flag::AA);
            Rcode::Refused
        }
    }
}

/// AXFR and IXFR: the zones' content is computed per query, so there is nothing to
/// transfer. Like BIND: REFUSED for one of our apexes (transfer not permitted, RFC 5936
/// §2.2.1) and NOTAUTH for any other name (not a zone we are authoritative for), on UDP
/// and TCP alike; never a NOERROR that a secondary would take for an empty zone.
fn transfer_refused(is_apex: bool) -> Rcode {
    if is_apex { Rcode::Refused } else { Rcode::NotAuth }
}

/// Class CHAOS (and any class but IN and ANY): the TXT records `id.server` (RFC 4892) and
/// `hostname.bind` carry the configured server identity. Everything else, and these too
/// when no identity is configured, is REFUSED, as Knot answers.
fn chaos(auth: &Authority, q: &Query<'_>, name: &str, resp: &mut records::Response<'_>) -> Rcode {
    let asks_identity = q.question.qclass == class::CH
        && q.question.qtype == rtype::TXT
        && matches!(name, "id.server" | "hostname.bind");
    match auth.config.server_id.as_deref() {
        Some(id) if asks_identity => {
            resp.set_flags(flag::AA);
            let _ = resp.section(Section::Answer, |w| records::chaos_txt(w, id.as_bytes()));
            Rcode::NoError
        }
        _ => Rcode::Refused,
    }
}

/// Writes the A/AAAA records for a service name. `Ok(false)` when the service has no
/// address of the asked family (NODATA follows); `Err` when routing found no node.
#[allow(clippy::too_many_arguments)]
fn address_answers(
    table: &RoutingTable,
    svc: ServiceIndex,
    q: &Query<'_>,
    name: &str,
    src: IpAddr,
    seed: u64,
    resp: &mut records::Response<'_>,
    trace: Option<&DecisionTrace>,
) -> Result<bool, Rcode> {
    let info = table.service(svc).ok_or(Rcode::Refused)?;
    let families: &[Family] = match q.question.qtype {
        rtype::A => &[Family::V4],
        rtype::AAAA => &[Family::V6],
        _ => &[Family::V4, Family::V6],
    };
    let ecs = q.edns.and_then(|e| e.ecs);
    let client_ip = ecs.and_then(|e| e.client_ip()).unwrap_or_else(|| src.to_canonical());
    let mut any = false;
    let mut unroutable = false;
    for &want in families.iter().filter(|&&f| info.has_family(f)) {
        let req = DnsRequest { service: svc, client_ip, qname: name, want, seed };
        let decision = match telemetry::route_dns(trace, table, &req) {
            Ok(d) => d,
            // ANY asks for both families: one that finds no node must not throw away the
            // other's answer. SERVFAIL only when nothing could be answered.
            Err(_) if families.len() > 1 => {
                unroutable = true;
                continue;
            }
            Err(_) => return Err(Rcode::ServFail),
        };
        if let Some(ecs) = ecs.filter(|e| e.source_prefix > 0) {
            // Worked out only for queries with a client subnet: others announce no scope.
            let depth = table.scope_prefix_len(client_ip, &decision.localization);
            resp.set_ecs_scope(ecs.scope_for(Some(depth)));
        }
        let ttl = decision.ttl_seconds;
        let _ = resp.section(Section::Answer, |w| {
            for node in decision.nodes() {
                match want {
                    Family::V4 => {
                        if let Some(a) = node.ipv4 {
                            records::address(w, wire::HEADER_LEN, ttl, &a.octets())?;
                        }
                    }
                    Family::V6 => {
                        if let Some(a) = node.ipv6 {
                            records::address(w, wire::HEADER_LEN, ttl, &a.octets())?;
                        }
                    }
                }
            }
            Ok(true)
        });
        any = true;
    }
    if unroutable && !any {
        return Err(Rcode::ServFail);
    }
    Ok(any)
}
