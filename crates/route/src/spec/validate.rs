//! `FleetSpec::validate`: one pass that collects every problem with the path where it is.

use std::collections::{HashMap, HashSet};

use switchyard_config::Problem;

use super::{FleetSpec, ServiceSpec};

/// Problems found so far. Paths locate each one the way a reader of the config file would
/// (`services[2].zones[0]`), so a caller can map it back to a file line.
struct Errors(Vec<Problem>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::at(path, message));
    }
}

impl FleetSpec {
    /// Checks the whole spec and returns every problem found, not only the first.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        check(self)
    }
}

fn check(spec: &FleetSpec) -> Result<(), Vec<Problem>> {
    let mut errs = Errors(Vec::new());
    let zones = validate_zones(spec, &mut errs);
    validate_nodes(spec, &zones, &mut errs);
    let mut hosts: HashMap<String, usize> = HashMap::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, svc) in spec.services.iter().enumerate() {
        let at = format!("services[{i}]");
        if svc.name.trim().is_empty() {
            errs.push(format!("{at}.name"), "must not be empty");
        } else if let Some(first) = names.insert(svc.name.as_str(), i) {
            errs.push(
                format!("{at}.name"),
                format!("duplicate service name {:?} (first at services[{first}])", svc.name),
            );
        }
        validate_service(svc, &at, &zones, &mut hosts, i, &mut errs);
    }
    if errs.0.is_empty() { Ok(()) } else { Err(errs.0) }
}

fn validate_zones<'s>(spec: &'s FleetSpec, errs: &mut Errors) -> HashSet<&'s str> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, z) in spec.zones.iter().enumerate() {
        let at = format!("zones[{i}]");
        if z.name.trim().is_empty() {
            errs.push(format!("{at}.name"), "must not be empty");
        } else if let Some(first) = seen.insert(z.name.as_str(), i) {
            errs.push(
                format!("{at}.name"),
                format!("duplicate zone name {:?} (first at zones[{first}])", z.name),
            );
        }
        match (z.latitude, z.longitude) {
            (Some(_), None) => {
                errs.push(format!("{at}.longitude"), "latitude set without longitude")
            }
            (None, Some(_)) => {
                errs.push(format!("{at}.latitude"), "longitude set without latitude")
            }
            _ => {}
        }
        if let Some(lat) = z.latitude
            && !(-90.0..=90.0).contains(&lat)
        {
            errs.push(format!("{at}.latitude"), format!("{lat} is outside -90..=90"));
        }
        if let Some(lon) = z.longitude
            && !(-180.0..=180.0).contains(&lon)
        {
            errs.push(format!("{at}.longitude"), format!("{lon} is outside -180..=180"));
        }
    }
    let names: HashSet<&str> = seen.keys().copied().collect();
    for (i, z) in spec.zones.iter().enumerate() {
        let mut dup = HashSet::new();
        for (j, b) in z.backups.iter().enumerate() {
            let at = format!("zones[{i}].backups[{j}]");
            if !names.contains(b.as_str()) {
                errs.push(at, format!("unknown zone {b:?}"));
            } else if *b == z.name {
                errs.push(at, "a zone cannot be its own backup");
            } else if !dup.insert(b.as_str()) {
                errs.push(at, format!("zone {b:?} listed twice"));
            }
        }
    }
    names
}

fn validate_nodes(spec: &FleetSpec, zones: &HashSet<&str>, errs: &mut Errors) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut per_zone: HashMap<&str, usize> = HashMap::new();
    for (i, n) in spec.nodes.iter().enumerate() {
        let members = per_zone.entry(n.zone.as_str()).or_default();
        *members += 1;
        if *members == crate::rendezvous::MAX_ZONE_MEMBERS + 1 {
            errs.push(
                format!("nodes[{i}].zone"),
                format!(
                    "zone {:?} has more than {} nodes; split it",
                    n.zone,
                    crate::rendezvous::MAX_ZONE_MEMBERS
                ),
            );
        }
        let at = format!("nodes[{i}]");
        if n.id.trim().is_empty() {
            errs.push(format!("{at}.id"), "must not be empty");
        } else if let Some(first) = seen.insert(n.id.as_str(), i) {
            errs.push(
                format!("{at}.id"),
                format!("duplicate node id {:?} (first at nodes[{first}])", n.id),
            );
        }
        if !zones.contains(n.zone.as_str()) {
            errs.push(format!("{at}.zone"), format!("unknown zone {:?}", n.zone));
        }
        if n.ipv4.is_none() && n.ipv6.is_none() {
            errs.push(at.clone(), "needs at least one of ipv4 / ipv6");
        }
        if n.port == 0 {
            errs.push(format!("{at}.port"), "must not be 0");
        }
        if n.https_port == 0 {
            errs.push(format!("{at}.https_port"), "must not be 0");
        }
        if let Some(w) = n.weight
            && !(w.is_finite() && w > 0.0)
        {
            errs.push(format!("{at}.weight"), format!("{w} must be a finite number > 0"));
        }
        if n.capacity_mbps == Some(0) {
            errs.push(format!("{at}.capacity_mbps"), "must be > 0 when set");
        }
        if let Some(h) = &n.hostname
            && !valid_dns_name(h)
        {
            errs.push(format!("{at}.hostname"), format!("{h:?} is not a valid host name"));
        }
    }
}

fn validate_service(
    svc: &ServiceSpec,
    at: &str,
    zones: &HashSet<&str>,
    hosts: &mut HashMap<String, usize>,
    index: usize,
    errs: &mut Errors,
) {
    if svc.hostnames.is_empty() {
        errs.push(format!("{at}.hostnames"), "needs at least one host name");
    }
    for (j, h) in svc.hostnames.iter().enumerate() {
        let hat = format!("{at}.hostnames[{j}]");
        let norm = normalize_host(h);
        let base = norm.strip_prefix("*.").unwrap_or(&norm);
        if !valid_dns_name(base) {
            errs.push(hat, format!("{h:?} is not a host name or *.wildcard"));
            continue;
        }
        if base.len() < norm.len() && !base.contains('.') {
            errs.push(hat, format!("{h:?} would claim a whole top-level domain"));
            continue;
        }
        if let Some(first) = hosts.insert(norm, index) {
            errs.push(hat, format!("host name {h:?} already belongs to services[{first}]"));
        }
    }
    for (j, z) in svc.zones.iter().enumerate() {
        if !zones.contains(z.as_str()) {
            errs.push(format!("{at}.zones[{j}]"), format!("unknown zone {z:?}"));
        }
    }
    if let Some(d) = &svc.default_zone {
        if !zones.contains(d.as_str()) {
            errs.push(format!("{at}.default_zone"), format!("unknown zone {d:?}"));
        } else if !svc.zones.is_empty() && !svc.zones.contains(d) {
            errs.push(
                format!("{at}.default_zone"),
                format!("zone {d:?} is not among the service's zones"),
            );
        }
    }
    if let Some(re) = &svc.hash_key.path_regex
        && let Err(e) = regex::Regex::new(re)
    {
        let first = e.to_string().lines().last().unwrap_or_default().trim().to_owned();
        errs.push(format!("{at}.hash_key.path_regex"), format!("bad regex: {first}"));
    }
    for (j, q) in svc.hash_key.query_params.iter().enumerate() {
        if q.is_empty() {
            errs.push(format!("{at}.hash_key.query_params[{j}]"), "must not be empty");
        }
    }
    if svc.dispersion == 0 {
        errs.push(format!("{at}.dispersion"), "must be at least 1");
    }
    if svc.dns_answers == 0 {
        errs.push(format!("{at}.dns_answers"), "must be at least 1");
    }
    if svc.ttl_seconds == 0 {
        errs.push(format!("{at}.ttl_seconds"), "must be at least 1");
    }
    if !(0.0..=1.0).contains(&svc.panic_threshold) {
        errs.push(
            format!("{at}.panic_threshold"),
            format!("{} is outside 0..=1", svc.panic_threshold),
        );
    }
    if !(svc.overload_threshold > 0.0 && svc.overload_threshold <= 1.0) {
        errs.push(
            format!("{at}.overload_threshold"),
            format!("{} is outside (0, 1]", svc.overload_threshold),
        );
    }
}

/// Lower-cases a host name and drops one trailing dot, the form every lookup uses.
pub(crate) fn normalize_host(h: &str) -> String {
    h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase()
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens (underscores
/// tolerated, as real delivery-service names use them), 63 octets per label, 253 in all.
fn valid_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
