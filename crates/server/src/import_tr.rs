//! `switchyard import traffic-router CRCONFIG.json [--czf FILE]`: a Traffic Ops CRConfig
//! snapshot (the document Traffic Router loads) turned into a Switchyard configuration.
//!
//! Cache groups become zones (coordinates and backup lists from `edgeLocations`), EDGE
//! content servers become nodes, delivery services become services (host names from their
//! HOST match lists and routing names, zones from the caches assigned to them, TTL,
//! dispersion, consistent-hash key, miss location). The configuration goes to stdout; every
//! part of the snapshot that has no counterpart goes to stderr, one line each, naming it by
//! its path in the snapshot (`deliveryServices.live.regionalGeoBlocking: ...`).
//!
//! The generated text is loaded with the same code `serve` uses before it is printed, so a
//! configuration that would not load is never printed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use switchyard_route::{
    AdminState, FleetSpec, HashKeySpec, NodeSpec, RedirectScheme, ServiceSpec, ZoneSpec,
};

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Where the inventory comes from.
    #[command(subcommand)]
    pub source: ImportSource,
}

/// The formats `import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// A Traffic Ops CRConfig snapshot (`GET /api/4.0/cdns/NAME/snapshot`, the `response`
    /// object, or the file Traffic Router keeps): prints a configuration on stdout and what it
    /// could not map on stderr.
    #[command(after_help = TRAFFIC_ROUTER_EXAMPLES)]
    TrafficRouter(TrafficRouterArgs),
}

const TRAFFIC_ROUTER_EXAMPLES: &str = "\
Examples:
  switchyard import traffic-router CRConfig.json --czf czf.json > switchyard.toml
  switchyard check-config switchyard.toml

Each line on stderr names a part of the snapshot that has no counterpart (a MID cache, a
delivery service's regional geo-blocking, a HEADER match...) and why. The exit status is 0
when a configuration was printed, whatever was left out.";

/// Arguments of `import traffic-router`.
#[derive(Debug, Args)]
pub struct TrafficRouterArgs {
    /// The CRConfig JSON file. A Traffic Ops API answer (`{"response": {...}}`) is accepted
    /// too.
    #[arg(value_name = "CRCONFIG.json")]
    pub crconfig: PathBuf,
    /// Traffic Router coverage zone file to name as `inventory.coverage_zones_file` (by its
    /// absolute path). It is read and checked here.
    #[arg(long, value_name = "FILE")]
    pub czf: Option<PathBuf>,
}

/// Runs `import`.
pub fn run(args: &ImportArgs) -> ExitCode {
    match &args.source {
        ImportSource::TrafficRouter(a) => match import_files(&a.crconfig, a.czf.as_deref()) {
            Ok((text, unmapped)) => {
                print!("{text}");
                for u in &unmapped {
                    eprintln!("not mapped: {u}");
                }
                if !unmapped.is_empty() {
                    eprintln!("{} thing(s) not mapped; see the lines above", unmapped.len());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("switchyard import traffic-router: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Reads the snapshot (and the coverage zone file), converts it and renders the
/// configuration, checked by loading it. Returns the text and the unmapped lines.
pub fn import_files(crconfig: &Path, czf: Option<&Path>) -> Result<(String, Vec<String>), String> {
    let text = std::fs::read_to_string(crconfig)
        .map_err(|e| format!("{}: cannot read the file: {e}", crconfig.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: not JSON: {}",
            crconfig.display(),
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        )
    })?;
    let coverage = czf.map(read_coverage).transpose()?;
    let imported =
        convert(&doc, coverage.as_ref()).map_err(|e| format!("{}: {e}", crconfig.display()))?;
    let rendered = render(&imported);
    let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if let Err(e) = crate::config::load_str(&rendered, "the generated configuration", &base) {
        return Err(format!(
            "{}: the converted configuration does not load, so it is not printed:\n{e}",
            crconfig.display()
        ));
    }
    Ok((rendered, imported.unmapped))
}

/// serde_json's message without its ` at line L column C` tail (the caller places it).
fn strip_position(message: &str) -> &str {
    message.rsplit_once(" at line ").map_or(message, |(m, _)| m)
}

/// A coverage zone file given with `--czf`.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// Its absolute path, as written into the configuration.
    pub path: PathBuf,
    /// The zones it names, with the coordinates it gives them.
    pub zones: Vec<(String, bool)>,
}

fn read_coverage(path: &Path) -> Result<Coverage, String> {
    let abs = std::path::absolute(path)
        .map_err(|e| format!("{}: cannot resolve the path: {e}", path.display()))?;
    let text = std::fs::read_to_string(&abs)
        .map_err(|e| format!("{}: cannot read the coverage zone file: {e}", path.display()))?;
    let is_csv = abs.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let parsed = if is_csv {
        switchyard_route::CoverageZones::from_csv(&text)
    } else {
        switchyard_route::CoverageZones::from_czf_json(&text)
    };
    let czf = parsed.map_err(|e| format!("{}: {e}", path.display()))?;
    let zones = czf.zones().iter().map(|z| (z.name.clone(), z.coordinates.is_some())).collect();
    Ok(Coverage { path: abs, zones })
}

/// The result of a conversion: the inventory, the other settings taken from the snapshot,
/// and what could not be mapped.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Zones, nodes and services.
    pub spec: FleetSpec,
    /// `stats.CDN_name`.
    pub cdn_name: Option<String>,
    /// `stats.date`, Unix seconds.
    pub snapshot_date: Option<i64>,
    /// `stats.tm_host`.
    pub traffic_ops: Option<String>,
    /// The `[dns]` settings taken from `config`.
    pub dns: DnsSettings,
    /// `--czf`'s absolute path.
    pub coverage_zones_file: Option<PathBuf>,
    /// Comment lines written above each service, by service name.
    pub service_notes: BTreeMap<String, Vec<String>>,
    /// Whether some delivery service is routed over DNS, and whether some over HTTP.
    pub has_dns: bool,
    /// See `has_dns`.
    pub has_http: bool,
    /// One line per thing not mapped: `path: why`.
    pub unmapped: Vec<String>,
}

/// `[dns]` values from the snapshot's `config`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsSettings {
    /// `config.domain_name`.
    pub zone: Option<String>,
    /// `config.soa.admin`, as a name.
    pub soa_rname: Option<String>,
    /// `config.soa.refresh`.
    pub soa_refresh_seconds: Option<u32>,
    /// `config.soa.retry`.
    pub soa_retry_seconds: Option<u32>,
    /// `config.soa.expire`.
    pub soa_expire_seconds: Option<u32>,
    /// `config.soa.minimum`.
    pub negative_ttl_seconds: Option<u32>,
    /// `config.ttls.SOA`.
    pub soa_ttl_seconds: Option<u32>,
}

/// The top-level keys of a snapshot and what becomes of them.
const TOP_LEVEL: &[&str] = &[
    "config",
    "contentServers",
    "deliveryServices",
    "edgeLocations",
    "stats",
    "monitors",
    "trafficRouters",
    "trafficRouterLocations",
    "topologies",
];

/// Delivery service keys that are mapped, or checked for a value that needs mapping, or mean
/// nothing to a router (`soa` and `ttls` per service: Switchyard has one SOA per zone).
const DS_KEYS: &[&str] = &[
    "matchsets",
    "routingName",
    "domains",
    "ttl",
    "ttls",
    "soa",
    "dispersion",
    "maxDnsIpsForLocation",
    "coverageZoneOnly",
    "missLocation",
    "consistentHashRegex",
    "consistentHashQueryParams",
    "protocol",
    "sslEnabled",
    "ip6RoutingEnabled",
    "geolocationProvider",
    "deepCachingType",
    "regionalGeoBlocking",
    "anonymousBlockingEnabled",
    "geoEnabled",
    "geoLimit",
    "geoLimitCountries",
    "geoLimitRedirectURL",
    "bypassDestination",
    "staticDnsEntries",
    "responseHeaders",
    "requestHeaders",
    "tlsVersions",
    "ecsEnabled",
    "topology",
    "requiredCapabilities",
    "anonymousBlocking",
];

/// Converts a parsed snapshot. Fails only when it is not a CRConfig at all; anything else
/// that cannot be mapped is left out and listed in `unmapped`.
pub fn convert(doc: &Value, coverage: Option<&Coverage>) -> Result<Imported, String> {
    let root = doc.as_object().ok_or("the top level is not a JSON object")?;
    // A Traffic Ops API answer wraps the snapshot in `response`.
    let root = match root.get("response").and_then(Value::as_object) {
        Some(inner) if !root.contains_key("contentServers") => inner,
        _ => root,
    };
    let servers = match root.get("contentServers") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err("`contentServers` is not an object".into()),
        None => {
            return Err("no `contentServers` object: not a Traffic Ops CRConfig snapshot".into());
        }
    };
    let delivery_services = object_or_empty(root, "deliveryServices")?;
    let locations = object_or_empty(root, "edgeLocations")?;
    let config = object_or_empty(root, "config")?;

    let mut out = Imported::default();
    if let Some(stats) = root.get("stats").and_then(Value::as_object) {
        out.cdn_name = stats.get("CDN_name").and_then(text);
        out.snapshot_date = stats.get("date").and_then(number).map(|d| d as i64);
        out.traffic_ops = stats.get("tm_host").and_then(text);
    }
    for (key, value) in root {
        if !TOP_LEVEL.contains(&key.as_str()) && key != "response" {
            out.unmapped.push(format!("{key}: not a part of the snapshot this import knows"));
            continue;
        }
        let count = value.as_object().map_or(0, Map::len);
        match key.as_str() {
            "monitors" if count > 0 => out.unmapped.push(format!(
                "monitors: {count} Traffic Monitor(s) not carried over: Switchyard probes the \
                 caches itself ([probe.default])"
            )),
            "trafficRouters" | "trafficRouterLocations" if count > 0 => out.unmapped.push(format!(
                "{key}: {count} entr(ies) not carried over: Switchyard instances take the \
                     Traffic Routers' place and are deployed on their own"
            )),
            "topologies" if count > 0 => out.unmapped.push(format!(
                "topologies: {count} topolog(ies) not mapped: a delivery service's zones are \
                 those of the EDGE caches assigned to it in contentServers"
            )),
            _ => {}
        }
    }

    let domain = config.get("domain_name").and_then(text).filter(|d| valid_host(d));
    out.dns = dns_settings(config, domain.as_deref(), &mut out.unmapped);
    config_notes(config, coverage.is_some(), &mut out.unmapped);

    let mut zones = zones_from_locations(locations, &mut out.unmapped);
    let (nodes, assigned) = nodes_from_servers(servers, &mut zones, &mut out.unmapped);
    let mut zones: Vec<ZoneSpec> = zones.into_values().collect();
    drop_unknown_backups(&mut zones, &mut out.unmapped);

    let mut used_hosts = BTreeSet::new();
    let mut services = Vec::new();
    for (name, ds) in delivery_services {
        let at = format!("deliveryServices.{name}");
        let Some(ds) = ds.as_object() else {
            out.unmapped.push(format!("{at}: not an object; left out"));
            continue;
        };
        let ctx = ServiceContext {
            name,
            at: &at,
            domain: domain.as_deref(),
            zones: &zones,
            nodes: &nodes,
            assigned: &assigned,
        };
        let mut notes = Vec::new();
        if let Some(svc) = service_from_ds(&ctx, ds, &mut used_hosts, &mut notes, &mut out) {
            out.service_notes.insert(svc.name.clone(), notes);
            services.push(svc);
        }
    }
    let nodes = nodes.into_iter().map(Arc::new).collect();
    out.spec = FleetSpec { nodes, zones, services };

    if let Some(cov) = coverage {
        out.coverage_zones_file = Some(cov.path.clone());
        let known: BTreeSet<&str> = out.spec.zones.iter().map(|z| z.name.as_str()).collect();
        for (zone, has_coordinates) in &cov.zones {
            if !known.contains(zone.as_str()) {
                let fate = if *has_coordinates {
                    "its clients go to the zone nearest its coordinates"
                } else {
                    "it has no coordinates, so its clients are not localized by it"
                };
                out.unmapped.push(format!(
                    "{}: coverage zone {zone:?} names no cache group of the snapshot; {fate}",
                    cov.path.display()
                ));
            }
        }
    }
    if out.spec.nodes.is_empty() {
        out.unmapped
            .push("contentServers: no EDGE cache could be mapped; the fleet is empty".into());
    }
    out.spec.validate().map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!("the converted inventory is not valid:\n  {}", lines.join("\n  "))
    })?;
    Ok(out)
}

fn object_or_empty<'a>(
    root: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>, String> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match root.get(key) {
        None | Some(Value::Null) => Ok(EMPTY.get_or_init(Map::new)),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(format!("`{key}` is not an object")),
    }
}

/// `[dns]` from `config.domain_name`, `config.soa` and `config.ttls`.
fn dns_settings(
    config: &Map<String, Value>,
    domain: Option<&str>,
    unmapped: &mut Vec<String>,
) -> DnsSettings {
    let mut dns = DnsSettings { zone: domain.map(str::to_owned), ..DnsSettings::default() };
    if let Some(raw) = config.get("domain_name")
        && domain.is_none()
    {
        unmapped.push(format!("config.domain_name: {raw} is not a domain name"));
    }
    fn seconds(at: &str, v: Option<&Value>, unmapped: &mut Vec<String>) -> Option<u32> {
        let v = v?;
        let n = uint(v).and_then(|n| u32::try_from(n).ok());
        if n.is_none() {
            unmapped.push(format!("{at}: {v} is not a number of seconds; the default stays"));
        }
        n
    }
    if let Some(soa) = config.get("soa").and_then(Value::as_object) {
        dns.soa_refresh_seconds = seconds("config.soa.refresh", soa.get("refresh"), unmapped);
        dns.soa_retry_seconds = seconds("config.soa.retry", soa.get("retry"), unmapped);
        dns.soa_expire_seconds = seconds("config.soa.expire", soa.get("expire"), unmapped);
        dns.negative_ttl_seconds = seconds("config.soa.minimum", soa.get("minimum"), unmapped);
        if let Some(admin) = soa.get("admin").and_then(text) {
            dns.soa_rname = mailbox_name(&admin, domain);
            if dns.soa_rname.is_none() {
                unmapped.push(format!(
                    "config.soa.admin: {admin:?} cannot be written as a SOA mailbox name; the \
                     default hostmaster.<zone> stays"
                ));
            }
        }
    }
    if let Some(ttls) = config.get("ttls").and_then(Value::as_object) {
        dns.soa_ttl_seconds = seconds("config.ttls.SOA", ttls.get("SOA"), unmapped);
    }
    dns
}

/// A SOA RNAME from Traffic Ops' `soa.admin`: `user@example.com` becomes
/// `user.example.com`; a bare name (`traffic_ops`) is placed under the CDN domain, as
/// Traffic Router does.
fn mailbox_name(admin: &str, domain: Option<&str>) -> Option<String> {
    let name = match admin.split_once('@') {
        Some((user, host)) if !user.contains('.') => format!("{user}.{host}"),
        Some(_) => return None,
        None if admin.contains('.') => admin.to_owned(),
        None => format!("{admin}.{}", domain?),
    };
    crate::dns::config::check_name(&name).ok().map(|()| name)
}

/// What the snapshot's `config` asks of a router that an import cannot carry over.
fn config_notes(config: &Map<String, Value>, have_czf: bool, unmapped: &mut Vec<String>) {
    let url = |key: &str| config.get(key).and_then(text).filter(|u| !u.is_empty());
    if !have_czf && let Some(u) = url("coveragezone.polling.url") {
        unmapped.push(format!(
            "config.coveragezone.polling.url: the coverage zone file is not fetched: download \
             {u} and import again with --czf FILE"
        ));
    }
    if let Some(u) = url("deepcoveragezone.polling.url") {
        unmapped.push(format!(
            "config.deepcoveragezone.polling.url: not fetched: download {u} and set \
             inventory.deep_coverage_zones_file (it serves the /crs deep-caching endpoints)"
        ));
    }
    for key in ["geolocation.polling.url", "geolocation6.polling.url"] {
        if let Some(u) = url(key) {
            unmapped.push(format!(
                "config.{key}: not fetched: download {u}, unpack it and set \
                 inventory.geoip_file to the MaxMind City database"
            ));
        }
    }
    for (key, what) in [
        ("federationmapping.polling.url", "federations are not provided"),
        ("steeringmapping.polling.url", "steering delivery services are not provided"),
        ("anonymousip.polling.url", "anonymous-IP blocking is not provided"),
        ("regional_geoblock.polling.url", "regional geo-blocking is not provided"),
    ] {
        if url(key).is_some() {
            unmapped.push(format!("config.{key}: {what}"));
        }
    }
    if config.get("dnssec.enabled").and_then(flag) == Some(true) {
        unmapped.push("config.dnssec.enabled: DNSSEC signing is not provided".into());
    }
}

/// A zone from an `edgeLocations` entry.
fn zones_from_locations(
    locations: &Map<String, Value>,
    unmapped: &mut Vec<String>,
) -> BTreeMap<String, ZoneSpec> {
    let mut zones = BTreeMap::new();
    for (name, loc) in locations {
        let at = format!("edgeLocations.{name}");
        let mut zone =
            ZoneSpec { name: name.clone(), latitude: None, longitude: None, backups: Vec::new() };
        let Some(loc) = loc.as_object() else {
            unmapped.push(format!("{at}: not an object; zone {name:?} has no coordinates"));
            zones.insert(name.clone(), zone);
            continue;
        };
        let lat = loc.get("latitude").and_then(number);
        let lon = loc.get("longitude").and_then(number);
        match (lat, lon) {
            (Some(la), Some(lo))
                if (-90.0..=90.0).contains(&la) && (-180.0..=180.0).contains(&lo) =>
            {
                zone.latitude = Some(la);
                zone.longitude = Some(lo);
            }
            _ => unmapped.push(format!(
                "{at}: latitude {} / longitude {} are not coordinates; zone {name:?} has none",
                show(loc.get("latitude")),
                show(loc.get("longitude"))
            )),
        }
        if let Some(backup) = loc.get("backupLocations").and_then(Value::as_object) {
            if let Some(list) = backup.get("list").and_then(Value::as_array) {
                zone.backups = list.iter().filter_map(text).collect();
            }
            if backup.get("fallbackToClosest").and_then(flag) == Some(false) {
                unmapped.push(format!(
                    "{at}.backupLocations.fallbackToClosest: false is not mapped: Switchyard \
                     decides nearest-zone fallback per service (fallback_to_nearest, on)"
                ));
            }
        }
        if let Some(methods) = loc.get("localizationMethods").and_then(Value::as_array) {
            let methods: Vec<String> = methods.iter().filter_map(text).collect();
            let all = ["CZ", "DEEP_CZ", "GEO"].iter().all(|m| methods.iter().any(|x| x == m));
            if !all {
                unmapped.push(format!(
                    "{at}.localizationMethods: {methods:?} is not mapped: Switchyard localizes \
                     clients to every zone by every method it has"
                ));
            }
        }
        zones.insert(name.clone(), zone);
    }
    zones
}

/// Removes backups naming no zone (a cache group left out of `edgeLocations`).
fn drop_unknown_backups(zones: &mut [ZoneSpec], unmapped: &mut Vec<String>) {
    let names: BTreeSet<String> = zones.iter().map(|z| z.name.clone()).collect();
    for zone in zones {
        let mut seen = BTreeSet::new();
        zone.backups.retain(|b| {
            if !names.contains(b) || *b == zone.name {
                unmapped.push(format!(
                    "edgeLocations.{}.backupLocations.list: {b:?} is no cache group of the \
                     snapshot; left out",
                    zone.name
                ));
                false
            } else {
                seen.insert(b.clone())
            }
        });
    }
}

/// The delivery services each node is assigned to, by node id.
type Assigned = BTreeMap<String, BTreeSet<String>>;

/// Nodes from the EDGE content servers; the zones they name are added when `edgeLocations`
/// lacks them.
fn nodes_from_servers(
    servers: &Map<String, Value>,
    zones: &mut BTreeMap<String, ZoneSpec>,
    unmapped: &mut Vec<String>,
) -> (Vec<NodeSpec>, Assigned) {
    let mut nodes = Vec::new();
    let mut hash_counts = Vec::new();
    let mut assigned = Assigned::new();
    let mut ignored_fields: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, server) in servers {
        let at = format!("contentServers.{id}");
        let Some(s) = server.as_object() else {
            unmapped.push(format!("{at}: not an object; left out"));
            continue;
        };
        let kind = s.get("type").and_then(text).unwrap_or_default();
        if !kind.to_ascii_uppercase().starts_with("EDGE") {
            let kind = if kind.is_empty() { "none".to_owned() } else { kind };
            unmapped.push(format!(
                "{at}: type {kind} is not mapped: clients are routed to EDGE caches only; left out"
            ));
            continue;
        }
        let Some(zone) = s
            .get("locationId")
            .and_then(text)
            .or_else(|| s.get("cacheGroup").and_then(text))
            .filter(|z| !z.trim().is_empty())
        else {
            unmapped.push(format!("{at}: no cacheGroup or locationId; left out"));
            continue;
        };
        let (ipv4, ipv6) = match addresses(s) {
            Ok(a) => a,
            Err(why) => {
                unmapped.push(format!("{at}: {why}; left out"));
                continue;
            }
        };
        let port = match s.get("port") {
            None | Some(Value::Null) => 80,
            Some(p) => match uint(p).and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) {
                Some(p) => p,
                None => {
                    unmapped.push(format!("{at}.port: {p} is not a TCP port; left out"));
                    continue;
                }
            },
        };
        let hostname = match s.get("fqdn").and_then(text).filter(|f| !f.is_empty()) {
            Some(f) if valid_host(&f) => Some(f),
            Some(f) => {
                unmapped.push(format!(
                    "{at}.fqdn: {f:?} is not a host name; redirects name the node by address"
                ));
                None
            }
            None => None,
        };
        let status = s.get("status").and_then(text).unwrap_or_else(|| "REPORTED".into());
        let mut admin = match status.to_ascii_uppercase().as_str() {
            "ONLINE" | "REPORTED" => AdminState::Enabled,
            "ADMIN_DOWN" | "OFFLINE" | "PRE_PROD" => AdminState::Maintenance,
            other => {
                unmapped.push(format!(
                    "{at}.status: {other:?} is not a Traffic Ops status; the node is put in \
                     maintenance"
                ));
                AdminState::Maintenance
            }
        };
        if s.get("routingDisabled").and_then(uint).is_some_and(|d| d != 0) {
            admin = AdminState::Maintenance;
        }
        if !zones.contains_key(&zone) {
            unmapped.push(format!(
                "{at}: cache group {zone:?} has no entry in edgeLocations; the zone has no \
                 coordinates"
            ));
            zones.insert(
                zone.clone(),
                ZoneSpec { name: zone.clone(), latitude: None, longitude: None, backups: vec![] },
            );
        }
        let https_port = match s.get("httpsPort") {
            None | Some(Value::Null) => 443,
            Some(p) => match uint(p).and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) {
                Some(p) => p,
                None => {
                    unmapped.push(format!("{at}.httpsPort: {p} is not a TCP port; 443 is used"));
                    443
                }
            },
        };
        for field in ["interfaceName", "hashId"] {
            if s.get(field).is_some_and(|v| !v.is_null()) {
                *ignored_fields.entry(field).or_default() += 1;
            }
        }
        let services: BTreeSet<String> = match s.get("deliveryServices") {
            Some(Value::Object(m)) => m.keys().cloned().collect(),
            _ => BTreeSet::new(),
        };
        assigned.insert(id.clone(), services);
        hash_counts.push(s.get("hashCount").and_then(uint).filter(|c| *c > 0));
        let tags = s.get("profile").and_then(text).filter(|p| !p.is_empty()).into_iter().collect();
        nodes.push(NodeSpec {
            id: id.clone(),
            zone,
            ipv4,
            ipv6,
            hostname,
            port,
            https_port,
            weight: None,
            capacity_mbps: None,
            admin,
            tags,
        });
    }
    // `hashCount` is the cache's share of Traffic Router's hash ring (the profile's weight
    // times 1000): equal counts are equal weights, so weights are set only when they differ.
    let distinct: BTreeSet<u64> = hash_counts.iter().flatten().copied().collect();
    if distinct.len() > 1 {
        for (node, count) in nodes.iter_mut().zip(&hash_counts) {
            node.weight = count.map(|c| c as f64 / 1000.0);
        }
    }
    for (field, count) in ignored_fields {
        let why = match field {
            "interfaceName" => {
                "Traffic Monitor's astats interface; an snmp probe names its own interface"
            }
            _ => "rendezvous hashing keys a node by its id (the host name) instead",
        };
        unmapped.push(format!("contentServers.*.{field} ({count} caches): not mapped: {why}"));
    }
    (nodes, assigned)
}

/// `ip` and `ip6` of a content server; Traffic Ops writes `ip6` with its prefix length.
fn addresses(s: &Map<String, Value>) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>), String> {
    let field = |key: &str| s.get(key).and_then(text).filter(|v| !v.trim().is_empty());
    let mut v4 = None;
    let mut v6 = None;
    if let Some(ip) = field("ip") {
        match ip.trim().parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => v4 = Some(a),
            Ok(IpAddr::V6(a)) => v6 = Some(a),
            Err(_) => return Err(format!("ip {ip:?} is not an address")),
        }
    }
    if let Some(ip6) = field("ip6") {
        let bare = ip6.trim().split_once('/').map_or(ip6.trim(), |(a, _)| a);
        match bare.parse::<Ipv6Addr>() {
            Ok(a) => v6 = Some(a),
            Err(_) => return Err(format!("ip6 {ip6:?} is not an IPv6 address")),
        }
    }
    if v4.is_none() && v6.is_none() {
        return Err("no ip or ip6".into());
    }
    Ok((v4, v6))
}

/// What a delivery service is converted against.
struct ServiceContext<'a> {
    name: &'a str,
    at: &'a str,
    domain: Option<&'a str>,
    zones: &'a [ZoneSpec],
    nodes: &'a [NodeSpec],
    assigned: &'a Assigned,
}

/// A service from a delivery service, or `None` (with the reason in `out.unmapped`) when it
/// has no host name Switchyard can serve or no cache.
fn service_from_ds(
    ctx: &ServiceContext<'_>,
    ds: &Map<String, Value>,
    used_hosts: &mut BTreeSet<String>,
    notes: &mut Vec<String>,
    out: &mut Imported,
) -> Option<ServiceSpec> {
    let (at, name) = (ctx.at, ctx.name);
    let unmapped = &mut out.unmapped;
    for key in ds.keys() {
        if !DS_KEYS.contains(&key.as_str()) {
            unmapped.push(format!("{at}.{key}: not mapped"));
        }
    }

    // Match lists: host names, and whether it is routed over HTTP or DNS.
    let (mut http, mut dns) = (false, false);
    let mut host_regexes = Vec::new();
    let sets = ds.get("matchsets").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, set) in sets.iter().enumerate() {
        let protocol = set.get("protocol").and_then(text).unwrap_or_default().to_ascii_uppercase();
        match protocol.as_str() {
            "HTTP" => http = true,
            "DNS" => dns = true,
            other => {
                unmapped.push(format!(
                    "{at}.matchsets[{i}].protocol: {other:?} is not mapped (HTTP and DNS are)"
                ));
                continue;
            }
        }
        let list = set.get("matchlist").and_then(Value::as_array).cloned().unwrap_or_default();
        for (j, m) in list.iter().enumerate() {
            let kind = m.get("match-type").and_then(text).unwrap_or_default().to_ascii_uppercase();
            let regex = m.get("regex").and_then(text).unwrap_or_default();
            if kind == "HOST" {
                host_regexes.push((format!("{at}.matchsets[{i}].matchlist[{j}]"), regex));
            } else {
                unmapped.push(format!(
                    "{at}.matchsets[{i}].matchlist[{j}]: {kind} match {regex:?} is not mapped: \
                     Switchyard selects a service by host name only"
                ));
            }
        }
    }
    if !http && !dns {
        unmapped.push(format!("{at}: no HTTP or DNS match set; left out"));
        return None;
    }
    let routing_name = ds
        .get("routingName")
        .and_then(text)
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| if dns { "edge" } else { "tr" }.to_owned());
    let domain = ctx.domain.map(str::to_owned).or_else(|| {
        // Without `config.domain_name`, the service's own domain (`xml-id.cdn.example`).
        let first = ds.get("domains")?.as_array()?.first().and_then(text)?;
        Some(first.split_once('.')?.1.to_owned())
    });
    let mut hostnames = Vec::new();
    for (where_, regex) in &host_regexes {
        match host_from_regex(regex, &routing_name, domain.as_deref()) {
            Ok(host) => {
                let key = host.to_ascii_lowercase();
                if used_hosts.insert(key) {
                    notes.push(format!("{regex:?} -> {host}"));
                    hostnames.push(host);
                } else {
                    unmapped.push(format!(
                        "{where_}: host {host:?} already belongs to another delivery service; \
                         left out"
                    ));
                }
            }
            Err(why) => unmapped.push(format!("{where_}: HOST regex {regex:?} {why}")),
        }
    }
    if hostnames.is_empty() {
        unmapped
            .push(format!("{at}: no host name could be taken from its HOST match list; left out"));
        return None;
    }

    // Zones: those of the EDGE caches assigned to it.
    let mine: Vec<&NodeSpec> = ctx
        .nodes
        .iter()
        .filter(|n| ctx.assigned.get(&n.id).is_some_and(|s| s.contains(ctx.name)))
        .collect();
    if mine.is_empty() {
        unmapped.push(format!("{at}: no EDGE cache of the snapshot is assigned to it; left out"));
        return None;
    }
    let zone_set: BTreeSet<&str> = mine.iter().map(|n| n.zone.as_str()).collect();
    let zones: Vec<String> = ctx
        .zones
        .iter()
        .filter(|z| zone_set.contains(z.name.as_str()))
        .map(|z| z.name.clone())
        .collect();
    let strangers: Vec<&str> = ctx
        .nodes
        .iter()
        .filter(|n| zone_set.contains(n.zone.as_str()) && !mine.iter().any(|m| m.id == n.id))
        .map(|n| n.id.as_str())
        .collect();
    if !strangers.is_empty() {
        unmapped.push(format!(
            "{at}: caches {} share a cache group with its caches but are not assigned to it; \
             Switchyard picks among every node of a service's zones, so they may get its clients",
            strangers.join(", ")
        ));
    }

    let mut svc = ServiceSpec {
        name: name.to_owned(),
        hostnames,
        zones,
        policy: Default::default(),
        hash_key: HashKeySpec::default(),
        dispersion: 1,
        dns_answers: 1,
        ttl_seconds: 30,
        default_zone: None,
        fallback_to_nearest: true,
        fallback_nearest_limit: 3,
        panic_threshold: 0.0,
        panic_mode: Default::default(),
        overload_threshold: 0.9,
        redirect_scheme: Default::default(),
    };

    // TTL: `ttl`, else the A record's.
    let ttl = ds.get("ttl").or_else(|| ds.get("ttls").and_then(|t| t.get("A")));
    if let Some(v) = ttl {
        match uint(v).and_then(|t| u32::try_from(t).ok()).filter(|t| *t > 0) {
            Some(t) => svc.ttl_seconds = t,
            None => unmapped.push(format!("{at}.ttl: {v} is not a TTL; 30 s is used")),
        }
    }
    if let Some(d) = ds.get("dispersion").and_then(Value::as_object) {
        if let Some(limit) = d.get("limit") {
            match uint(limit).and_then(|l| u32::try_from(l).ok()).filter(|l| *l > 0) {
                Some(l) => svc.dispersion = l,
                None => unmapped.push(format!("{at}.dispersion.limit: {limit} is not a count")),
            }
        }
        if svc.dispersion > 1 && d.get("shuffled").and_then(flag) == Some(false) {
            unmapped.push(format!(
                "{at}.dispersion.shuffled: false is not mapped: a request picks among the top \
                 {} nodes by its seed",
                svc.dispersion
            ));
        }
    }
    if dns && let Some(v) = ds.get("maxDnsIpsForLocation") {
        match uint(v).and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0) {
            Some(n) => svc.dns_answers = n,
            None => unmapped.push(format!("{at}.maxDnsIpsForLocation: {v} is not a count")),
        }
    }

    // Consistent hash key.
    if let Some(re) = ds.get("consistentHashRegex").and_then(text).filter(|r| !r.is_empty()) {
        match regex::Regex::new(&re) {
            Ok(_) => {
                svc.hash_key.path_regex = Some(re);
            }
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().trim().to_owned();
                unmapped.push(format!(
                    "{at}.consistentHashRegex: {re:?} is not a regex this router reads ({first}); \
                     the whole path is hashed"
                ));
            }
        }
    }
    if let Some(params) = ds.get("consistentHashQueryParams").and_then(Value::as_array) {
        svc.hash_key.query_params =
            params.iter().filter_map(text).filter(|p| !p.is_empty()).collect();
    }

    // Unlocalized clients: coverage zone only, or the zone nearest the miss location.
    let cz_only = ds.get("coverageZoneOnly").and_then(flag) == Some(true);
    if cz_only {
        notes.push(
            "coverageZoneOnly: no default_zone, so a client outside the coverage zones gets no \
             answer (while no geoip_file is set)"
                .into(),
        );
    } else if let Some(miss) = ds.get("missLocation").and_then(Value::as_object) {
        let lat = miss.get("lat").and_then(number);
        let lon = miss.get("long").and_then(number);
        match (lat, lon) {
            (Some(la), Some(lo)) => match nearest_zone(ctx.zones, &svc.zones, la, lo) {
                Some(z) => {
                    notes.push(format!("missLocation ({la}, {lo}) is nearest to zone {z}"));
                    svc.default_zone = Some(z);
                }
                None => unmapped.push(format!(
                    "{at}.missLocation: none of its zones has coordinates; no default zone"
                )),
            },
            _ => unmapped.push(format!(
                "{at}.missLocation: {} is not a lat/long pair; no default zone",
                Value::Object(miss.clone())
            )),
        }
    }

    // Features without a counterpart, when they are on.
    let on = |key: &str| ds.get(key).and_then(flag) == Some(true);
    if on("regionalGeoBlocking") {
        unmapped.push(format!(
            "{at}.regionalGeoBlocking: regional geo-blocking is not provided; every client is routed"
        ));
    }
    if on("anonymousBlockingEnabled") {
        unmapped.push(format!(
            "{at}.anonymousBlockingEnabled: anonymous-IP blocking is not provided; every client \
             is routed"
        ));
    }
    let non_empty = |key: &str| match ds.get(key) {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::String(s)) => !s.is_empty() && s != "0",
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        _ => false,
    };
    for (key, what) in [
        ("geoEnabled", "geo-limiting by country is not provided"),
        ("geoLimit", "geo-limiting is not provided"),
        ("geoLimitCountries", "geo-limiting by country is not provided"),
        ("bypassDestination", "overflow to a bypass destination is not provided"),
        ("staticDnsEntries", "static DNS entries are not served"),
        ("responseHeaders", "extra response headers are not added"),
        ("tlsVersions", "the traffic listener serves no TLS"),
        ("topology", "topologies are not mapped; the zones come from the assigned caches"),
        ("requiredCapabilities", "server capabilities are not mapped"),
    ] {
        if non_empty(key) {
            unmapped.push(format!("{at}.{key}: {what}"));
        }
    }
    if let Some(kind) = ds.get("deepCachingType").and_then(text)
        && kind.eq_ignore_ascii_case("ALWAYS")
    {
        unmapped.push(format!(
            "{at}.deepCachingType: ALWAYS is not mapped: services do not route by the deep \
             coverage zones (the /crs deep-caching endpoints do)"
        ));
    }
    // Traffic Router's protocol: HTTP only redirects to http://, HTTPS with
    // redirectToHttps always to https://, HTTP and HTTPS keeps the client's scheme.
    if let Some(p) = ds.get("protocol").and_then(Value::as_object) {
        let https = p.get("acceptHttps").and_then(flag) == Some(true);
        let upgrade = p.get("redirectToHttps").and_then(flag) == Some(true);
        let http = p.get("acceptHttp").and_then(flag) != Some(false);
        svc.redirect_scheme = match (https, upgrade || !http) {
            (false, _) => RedirectScheme::Http,
            (true, true) => RedirectScheme::Https,
            (true, false) => RedirectScheme::Request,
        };
    }
    if ds.get("ip6RoutingEnabled").and_then(flag) == Some(false)
        && mine.iter().any(|n| n.ipv6.is_some())
    {
        unmapped.push(format!(
            "{at}.ip6RoutingEnabled: false is not mapped: AAAA answers and IPv6 clients get \
             its nodes' IPv6 addresses"
        ));
    }
    if let Some(provider) = ds.get("geolocationProvider").and_then(text)
        && !provider.is_empty()
        && !provider.to_ascii_lowercase().contains("maxmind")
    {
        unmapped.push(format!(
            "{at}.geolocationProvider: {provider:?} is not mapped: GeoIP reads a MaxMind \
             database (inventory.geoip_file)"
        ));
    }

    if http {
        if mine.iter().any(|n| n.hostname.is_some()) {
            unmapped.push(format!(
                "{at}: the caches' per-service names (contentServers.*.deliveryServices.{name}) \
                 are not mapped: redirects name each node by its fqdn (the node's hostname)"
            ));
        }
        notes.push(
            "HTTP delivery service: publish its names in DNS pointing at Switchyard's HTTP \
             listener (Switchyard's DNS listener would answer them with cache addresses)"
                .into(),
        );
    }
    if dns {
        notes.push("DNS delivery service: delegate its names to Switchyard's DNS listener".into());
    }
    out.has_http |= http;
    out.has_dns |= dns;
    Some(svc)
}

/// The host name a HOST regex of Traffic Control's forms stands for:
///
/// - `.*\.XML-ID\..*` (what Traffic Ops writes): `ROUTING-NAME.XML-ID.CDN-DOMAIN`, the name
///   clients are given;
/// - a literal name (`video\.customer\.example`): that name;
/// - `.*\.SUFFIX`: the wildcard `*.SUFFIX`.
fn host_from_regex(regex: &str, routing: &str, domain: Option<&str>) -> Result<String, String> {
    let r = regex.trim();
    let r = r.strip_prefix('^').unwrap_or(r);
    let r = r.strip_suffix('$').unwrap_or(r);
    let host = if let Some(mid) = r.strip_prefix(".*\\.").and_then(|m| m.strip_suffix("\\..*")) {
        let label = literal(mid).ok_or("is not of a form Switchyard can serve")?;
        let domain = domain
            .ok_or("needs the CDN domain (config.domain_name), which the snapshot does not give")?;
        format!("{routing}.{label}.{domain}")
    } else if let Some(rest) = r.strip_prefix(".*\\.") {
        format!("*.{}", literal(rest).ok_or("is not of a form Switchyard can serve")?)
    } else {
        literal(r).ok_or("is not of a form Switchyard can serve")?
    };
    let base = host.strip_prefix("*.").unwrap_or(&host);
    if !valid_host(base) || (host.starts_with("*.") && !base.contains('.')) {
        return Err(format!("gives {host:?}, which is not a host name"));
    }
    Ok(host.to_ascii_lowercase())
}

/// The text a regex matches when it is a plain name: letters, digits, `-`, `_` and dots
/// (escaped, or bare as hand-written match lists often have them).
fn literal(r: &str) -> Option<String> {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                e @ ('.' | '-') => out.push(e),
                _ => return None,
            },
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') => out.push(c),
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// RFC 1123 host name (underscores allowed, as delivery service names use them).
fn valid_host(name: &str) -> bool {
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

/// The zone among `allowed` nearest to a point, by great-circle distance.
fn nearest_zone(zones: &[ZoneSpec], allowed: &[String], lat: f64, lon: f64) -> Option<String> {
    zones
        .iter()
        .filter(|z| allowed.contains(&z.name))
        .filter_map(|z| Some((great_circle_km(lat, lon, z.latitude?, z.longitude?), &z.name)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name.clone())
}

fn great_circle_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().atan2((1.0 - a).sqrt())
}

// Traffic Ops writes many numbers and flags as strings ("80", "true"); these read both.

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") || s == "1" => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") || s == "0" => Some(false),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        _ => None,
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "missing".to_owned(), ToString::to_string)
}

// ---- Rendering ---------------------------------------------------------------------------

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", quoted.join(", "))
}

fn float(f: f64) -> String {
    toml::Value::Float(f).to_string()
}

/// The configuration text: listeners, `[dns]`, a default probe, `[inventory]` with its
/// zones, nodes and services, each service preceded by comments saying where its settings
/// came from.
pub fn render(imp: &Imported) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Switchyard configuration imported from a Traffic Ops CRConfig snapshot");
    if let Some(cdn) = &imp.cdn_name {
        let _ = writeln!(s, "# CDN: {cdn}");
    }
    if let Some(host) = &imp.traffic_ops {
        let _ = writeln!(s, "# Traffic Ops: {host}");
    }
    if let Some(date) = imp.snapshot_date {
        let _ = writeln!(s, "# snapshot date (Unix seconds): {date}");
    }
    let _ = writeln!(
        s,
        "# by `switchyard import traffic-router`. Check it with `switchyard check-config`.\n"
    );

    s.push_str("[listen]\n# Admin API, health, metrics and /debug on loopback.\nadmin = \"127.0.0.1:9090\"\n");
    if imp.has_http {
        s.push_str("# 302 redirects, /v1/route and HTTPDNS, where Traffic Router's HTTP port was.\nhttp = \"0.0.0.0:80\"\n");
    }
    if imp.has_dns {
        s.push_str("# Authoritative DNS for the delivery services' names.\ndns = \"0.0.0.0:53\"\n");
    }
    s.push('\n');

    let d = &imp.dns;
    if d.zone.is_some() || d.soa_rname.is_some() {
        s.push_str("[dns]\n");
        if let Some(zone) = &d.zone {
            let _ =
                writeln!(s, "# config.domain_name\nzones = {}", list(std::slice::from_ref(zone)));
        }
        if let Some(r) = &d.soa_rname {
            let _ = writeln!(s, "soa_rname = {}", q(r));
        }
        for (key, v) in [
            ("soa_refresh_seconds", d.soa_refresh_seconds),
            ("soa_retry_seconds", d.soa_retry_seconds),
            ("soa_expire_seconds", d.soa_expire_seconds),
            ("soa_ttl_seconds", d.soa_ttl_seconds),
            ("negative_ttl_seconds", d.negative_ttl_seconds),
        ] {
            if let Some(v) = v {
                let _ = writeln!(s, "{key} = {v}");
            }
        }
        s.push('\n');
    }

    s.push_str(
        "[probe.default]\n\
         # Traffic Monitor's health polling (astats URLs and thresholds) lives in the monitoring\n\
         # configuration, not in the snapshot: a TCP connect to each node's port stands in.\n\
         # Replace it with an http check of the caches' health URL; nodes are tagged with their\n\
         # Traffic Ops profile for [probe.by_tag.PROFILE].\n\
         check = { kind = \"tcp\" }\n\
         interval_ms = 2000\n\
         timeout_ms = 1000\n\n",
    );

    s.push_str("[inventory]\n");
    match &imp.coverage_zones_file {
        Some(p) => {
            let _ = writeln!(s, "coverage_zones_file = {}", q(&p.display().to_string()));
        }
        None => s.push_str(
            "# coverage_zones_file = \"czf.json\"   # Traffic Router's coverage zone file\n",
        ),
    }
    s.push_str("# geoip_file = \"GeoLite2-City.mmdb\"\n");

    for z in &imp.spec.zones {
        s.push_str("\n[[inventory.zones]]\n");
        let _ = writeln!(s, "name = {}", q(&z.name));
        if let (Some(la), Some(lo)) = (z.latitude, z.longitude) {
            let _ = writeln!(s, "latitude = {}\nlongitude = {}", float(la), float(lo));
        }
        if !z.backups.is_empty() {
            let _ = writeln!(s, "backups = {}", list(&z.backups));
        }
    }
    for n in &imp.spec.nodes {
        s.push_str("\n[[inventory.nodes]]\n");
        let _ = writeln!(s, "id = {}\nzone = {}", q(&n.id), q(&n.zone));
        if let Some(a) = n.ipv4 {
            let _ = writeln!(s, "ipv4 = {}", q(&a.to_string()));
        }
        if let Some(a) = n.ipv6 {
            let _ = writeln!(s, "ipv6 = {}", q(&a.to_string()));
        }
        if let Some(h) = &n.hostname {
            let _ = writeln!(s, "hostname = {}", q(h));
        }
        let _ = writeln!(s, "port = {}", n.port);
        if n.https_port != 443 {
            let _ = writeln!(s, "https_port = {}", n.https_port);
        }
        if let Some(w) = n.weight {
            let _ = writeln!(s, "weight = {}", float(w));
        }
        if n.admin != AdminState::Enabled {
            let _ = writeln!(s, "admin = {}", q(n.admin.as_str()));
        }
        if !n.tags.is_empty() {
            let _ = writeln!(s, "tags = {}", list(&n.tags));
        }
    }
    for svc in &imp.spec.services {
        s.push('\n');
        let _ = writeln!(s, "# delivery service {}", svc.name);
        for note in imp.service_notes.get(&svc.name).into_iter().flatten() {
            let _ = writeln!(s, "#   {note}");
        }
        s.push_str("[[inventory.services]]\n");
        let _ = writeln!(s, "name = {}", q(&svc.name));
        let _ = writeln!(s, "hostnames = {}", list(&svc.hostnames));
        let _ = writeln!(s, "zones = {}", list(&svc.zones));
        if svc.hash_key != HashKeySpec::default() {
            let mut parts = Vec::new();
            if let Some(re) = &svc.hash_key.path_regex {
                parts.push(format!("path_regex = {}", q(re)));
            }
            if !svc.hash_key.query_params.is_empty() {
                parts.push(format!("query_params = {}", list(&svc.hash_key.query_params)));
            }
            let _ = writeln!(s, "hash_key = {{ {} }}", parts.join(", "));
        }
        if svc.dispersion != 1 {
            let _ = writeln!(s, "dispersion = {}", svc.dispersion);
        }
        if svc.dns_answers != 1 {
            let _ = writeln!(s, "dns_answers = {}", svc.dns_answers);
        }
        let _ = writeln!(s, "ttl_seconds = {}", svc.ttl_seconds);
        if let Some(z) = &svc.default_zone {
            let _ = writeln!(s, "default_zone = {}", q(z));
        }
        if svc.redirect_scheme != RedirectScheme::default() {
            let _ = writeln!(s, "redirect_scheme = {}", q(svc.redirect_scheme.as_str()));
        }
    }
    s
}

#[cfg(test)]
mod tests;
