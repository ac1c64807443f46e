//! `GET /d?host=&ip=&query=4,6`: HTTPDNS answers for apps that resolve over HTTP, in the
//! shape common HTTPDNS services use: `{host, ips, ipsv6, ttl, client_ip}`.
//!
//! A batch `hosts=a,b` (at most `httpdns_max_hosts`) answers `{"dns": [...]}`, one object
//! per host in request order; a host that cannot be answered carries
//! `{"host": ..., "error": {"code", "message"}}` in its place instead of failing the batch.

use std::net::IpAddr;

use axum::http::StatusCode;
use serde::Serialize;
use serde::ser::SerializeSeq;
use switchyard_route::{Decision, DnsRequest, Family, RoutingTable};

use super::errors::ApiError;
use super::query;
use super::request::{Incoming, Shared};
use super::respond::Reply;
use super::route_api::{client, truncate};
use crate::sampling::{ClientKey, Sample};

/// Address families asked for by `query=`: `4` (default), `6`, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    v4: bool,
    v6: bool,
}

/// Parses `query=`: a comma list of `4` and `6`.
pub fn families(v: Option<&str>) -> Result<Families, ApiError> {
    let Some(v) = v else { return Ok(Families { v4: true, v6: false }) };
    let mut f = Families { v4: false, v6: false };
    for part in v.split(',') {
        match part.trim() {
            "4" => f.v4 = true,
            "6" => f.v6 = true,
            other => {
                return Err(ApiError::bad(
                    "query",
                    format!(
                        "{:?} is not 4 or 6 (use query=4, query=6 or query=4,6)",
                        truncate(other)
                    ),
                ));
            }
        }
    }
    Ok(f)
}

/// Addresses of one family from a decision, as a JSON array.
struct Ips<'a>(Option<&'a Decision<'a>>, Family);

impl Serialize for Ips<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for n in self.0.into_iter().flat_map(|d| d.nodes()) {
            let ip = match self.1 {
                Family::V4 => n.ipv4.map(IpAddr::V4),
                Family::V6 => n.ipv6.map(IpAddr::V6),
            };
            if let Some(ip) = ip {
                seq.serialize_element(&ip)?;
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct HostAnswer<'a> {
    host: &'a str,
    ips: Ips<'a>,
    ipsv6: Ips<'a>,
    ttl: u32,
    client_ip: IpAddr,
}

#[derive(Serialize)]
struct HostError<'a> {
    host: &'a str,
    error: serde_json::Value,
}

struct Resolved<'t> {
    v4: Option<Decision<'t>>,
    v6: Option<Decision<'t>>,
    ttl: u32,
}

/// Routes one host for the wanted families. A family the service has no address of yields
/// an empty list; the request fails only when every wanted family failed.
fn resolve<'t>(
    shared: &Shared,
    table: &'t RoutingTable,
    host: &str,
    client_ip: IpAddr,
    want: Families,
) -> Result<Resolved<'t>, ApiError> {
    let Some(service) = table.service_for_host(host) else {
        shared.metrics.decision("", "none", "unknown_host");
        return Err(ApiError::UnknownHost(truncate(host).to_owned()));
    };
    let info = table.service(service);
    let name = info.map_or("", |s| s.name());
    let ttl = info.map_or(0, |s| s.ttl_seconds());
    let mut out = Resolved { v4: None, v6: None, ttl };
    let mut first_err = None;
    for (wanted, family) in [(want.v4, Family::V4), (want.v6, Family::V6)] {
        if !wanted || !info.is_some_and(|s| s.has_family(family)) {
            continue;
        }
        shared.samples.record(|| {
            let qtype = if family == Family::V4 { "A" } else { "AAAA" };
            Some(Sample::dns(host, name, ClientKey::Addr(client_ip), qtype))
        });
        let req =
            DnsRequest { service, client_ip, qname: host, want: family, seed: rand::random() };
        match shared.decide(name, table.route_dns(&req)) {
            Ok(d) => {
                out.ttl = d.ttl_seconds;
                *(if family == Family::V4 { &mut out.v4 } else { &mut out.v6 }) = Some(d);
            }
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    match first_err {
        Some(e) if out.v4.is_none() && out.v6.is_none() => Err(e),
        _ => Ok(out),
    }
}

/// The `/d` answer.
pub(super) fn answer(shared: &Shared, req: &Incoming<'_>) -> Result<Reply, ApiError> {
    if !req.readable {
        return Err(ApiError::MethodNotAllowed);
    }
    let q = req.query;
    let client = client(shared, req, q)?;
    let want = families(query::get(q, "query")?.as_deref())?;
    let table = shared.table.load();

    if let Some(hosts) = query::get(q, "hosts")? {
        let list: Vec<&str> = hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
        if list.is_empty() {
            return Err(ApiError::bad("hosts", "empty list"));
        }
        if list.len() > shared.max_hosts {
            return Err(ApiError::bad(
                "hosts",
                format!("{} hosts, at most {} per request", list.len(), shared.max_hosts),
            ));
        }
        let mut buf = Vec::with_capacity(64 + 160 * list.len());
        buf.extend_from_slice(b"{\"dns\":[");
        for (i, host) in list.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            let _ = match resolve(shared, &table, host, client.ip, want) {
                Ok(r) => serde_json::to_writer(&mut buf, &host_answer(host, &r, client.ip)),
                Err(e) => serde_json::to_writer(&mut buf, &HostError { host, error: e.to_json() }),
            };
        }
        buf.extend_from_slice(b"]}");
        return Ok(super::respond::raw_json(buf));
    }

    // An empty `host=` is as missing as an absent one, as on `/v1/route`.
    let host = query::get(q, "host")?
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::bad("host", "missing: give host= or hosts="))?;
    let r = resolve(shared, &table, &host, client.ip, want)?;
    Ok(super::respond::json(StatusCode::OK, &host_answer(&host, &r, client.ip)))
}

fn host_answer<'a>(host: &'a str, r: &'a Resolved, client_ip: IpAddr) -> HostAnswer<'a> {
    HostAnswer {
        host,
        ips: Ips(r.v4.as_ref(), Family::V4),
        ipsv6: Ips(r.v6.as_ref(), Family::V6),
        ttl: r.ttl,
        client_ip,
    }
}
