//! The zones this server is authoritative for and the settings their SOA and NS records are
//! written from, prepared once from the `[dns]` configuration.

use switchyard_route::RoutingTable;

use super::config::DnsConfig;

/// The zone data the answers need, prepared once from [`DnsConfig`].
#[derive(Debug, Clone)]
pub struct Authority {
    pub(crate) config: DnsConfig,
    /// Configured apexes, lower-case, no trailing dot; empty means the table's.
    zones: Vec<String>,
}

impl Authority {
    /// Prepares the configuration for answering.
    pub fn new(config: &DnsConfig) -> Self {
        let zones = config
            .zones
            .iter()
            .map(|z| z.strip_suffix('.').unwrap_or(z).to_ascii_lowercase())
            .collect();
        Self { config: config.clone(), zones }
    }

    /// The longest apex equal to or above `name`.
    pub(crate) fn zone_of<'t>(&'t self, table: &'t RoutingTable, name: &str) -> Option<&'t str> {
        let pick = |best: Option<&'t str>, apex: &'t str| {
            let inside = name == apex
                || (name.len() > apex.len()
                    && name.ends_with(apex)
                    && name.as_bytes()[name.len() - apex.len() - 1] == b'.');
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
}
