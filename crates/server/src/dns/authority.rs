//! The zones this server is authoritative for and the settings their SOA and NS records are
//! written from, prepared once from the `[dns]` configuration.

use std::net::{Ipv4Addr, Ipv6Addr};

use switchyard_route::RoutingTable;

use super::config::DnsConfig;

/// The zone data the answers need, prepared once from [`DnsConfig`].
#[derive(Debug, Clone)]
pub struct Authority {
    pub(crate) config: DnsConfig,
    /// Configured apexes, lower-case, no trailing dot; empty means the table's.
    zones: Vec<String>,
    /// `config.name_servers` names, lower-case, no trailing dot, in the same order.
    ns_hosts: Vec<String>,
    /// `config.soa_mname`, lower-case, no trailing dot.
    mname: Option<String>,
}

/// A host the zone names as a name server (an NS target or the SOA MNAME), with the glue
/// addresses the NS answer gives for it (none for `ns1.<apex>` or a MNAME that is no NS).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NsHost<'a> {
    /// IPv4 glue.
    pub v4: &'a [Ipv4Addr],
    /// IPv6 glue.
    pub v6: &'a [Ipv6Addr],
}

fn canonical(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Whether `name` lies strictly below `parent` (both canonical).
fn is_below(name: &str, parent: &str) -> bool {
    name.len() > parent.len()
        && name.ends_with(parent)
        && name.as_bytes()[name.len() - parent.len() - 1] == b'.'
}

impl Authority {
    /// Prepares the configuration for answering.
    pub fn new(config: &DnsConfig) -> Self {
        Self {
            config: config.clone(),
            zones: config.zones.iter().map(|z| canonical(z)).collect(),
            ns_hosts: config.name_servers.iter().map(|ns| canonical(&ns.name)).collect(),
            mname: config.soa_mname.as_deref().map(canonical),
        }
    }

    /// The longest apex equal to or above `name`.
    pub(crate) fn zone_of<'t>(&'t self, table: &'t RoutingTable, name: &str) -> Option<&'t str> {
        let pick = |best: Option<&'t str>, apex: &'t str| {
            let inside = name == apex || is_below(name, apex);
            match best {
                Some(b) if !inside || b.len() >= apex.len() => Some(b),
                _ if inside => Some(apex),
                _ => best,
            }
        };
        if self.zones.is_empty() {
            table.apexes().fold(None, pick)
        } else {
            self.zones.iter().map(String::as_str).fold(None, pick)
        }
    }

    /// The name server host called `name`, which lies in `zone`: a configured name server,
    /// the SOA MNAME, or the default `ns1.<zone>` when no name servers are configured.
    pub(crate) fn name_server_host(&self, zone: &str, name: &str) -> Option<NsHost<'_>> {
        if let Some(i) = self.ns_hosts.iter().position(|h| h == name) {
            let ns = &self.config.name_servers[i];
            return Some(NsHost { v4: &ns.ipv4, v6: &ns.ipv6 });
        }
        let default_ns = self.ns_hosts.is_empty()
            && name.strip_prefix("ns1.").is_some_and(|parent| parent == zone);
        (default_ns || self.mname.as_deref() == Some(name)).then_some(NsHost { v4: &[], v6: &[] })
    }

    /// Whether a name server host lies below `name`, making `name` an empty non-terminal
    /// (NODATA, not NXDOMAIN: RFC 8020 §2).
    pub(crate) fn has_host_below(&self, name: &str) -> bool {
        self.ns_hosts.iter().chain(&self.mname).any(|h| is_below(h, name))
    }
}
