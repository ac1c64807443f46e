//! Switchyard's fleet in Traffic Router's JSON shapes: `Cache`, `CacheModel`,
//! `CacheLocation`, `Geolocation` and `Location.getProperties()`, as its Jackson
//! serialization writes them (Java number and IPv6 spelling included).

use std::net::Ipv6Addr;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use switchyard_fleet::Inventory;
use switchyard_route::{
    AdminState, Coordinates, HealthState, NodeSpec, RoutingTable, ServiceIndex,
};

use crate::routing::Routing;

/// What every handler reads: one table snapshot and the inventory it was built from.
pub(super) struct View<'a> {
    routing: &'a Routing,
    pub table: Arc<RoutingTable>,
    pub inventory: Arc<Inventory>,
}

impl<'a> View<'a> {
    pub fn new(routing: &'a Routing) -> Self {
        Self {
            routing,
            table: routing.current(),
            inventory: routing.inventory().unwrap_or_default(),
        }
    }

    pub fn node(&self, id: &str) -> Option<&NodeSpec> {
        self.inventory.spec.nodes.iter().find(|n| n.id == id).map(|n| &**n)
    }

    pub fn has_zone(&self, zone: &str) -> bool {
        self.inventory.spec.zones.iter().any(|z| z.name == zone)
    }

    pub fn nodes_in<'v>(&'v self, zone: &'v str) -> impl Iterator<Item = &'v NodeSpec> + 'v {
        self.inventory.spec.nodes.iter().filter(move |n| n.zone == zone).map(|n| &**n)
    }

    /// Traffic Router's `isAvailable`, as Switchyard's routing treats a node: operator state
    /// enabled and not observed down (a node not yet probed is picked, so it counts).
    pub fn available(&self, node: &NodeSpec) -> bool {
        let (admin, _) = self.routing.admin_state(node);
        let health = self
            .table
            .node_by_id(&node.id)
            .and_then(|i| self.table.node_status(i))
            .map_or(HealthState::Unknown, |s| s.health.state);
        admin == AdminState::Enabled && health != HealthState::Down
    }

    fn coordinates(&self, zone: &str) -> Option<Coordinates> {
        self.table.zone_by_name(zone).and_then(|z| self.table.zone_coordinates(z))
    }

    /// Whether `service` may use nodes of `zone`.
    pub fn serves(&self, service: ServiceIndex, zone: &str) -> bool {
        self.table.service(service).is_some_and(|s| {
            let zones = &s.spec().zones;
            zones.is_empty() || zones.iter().any(|z| z == zone)
        })
    }

    /// A node as Traffic Router's `CacheModel` (`/crs/locations/...`): id, name, addresses
    /// and state; the counters Traffic Router never fills keep its defaults.
    pub fn cache_model(&self, n: &NodeSpec) -> Value {
        let addresses: Vec<String> =
            n.ipv4.map(|a| a.to_string()).into_iter().chain(n.ipv6.map(java_ipv6)).collect();
        json!({
            "cacheId": n.id,
            "fqdn": n.hostname,
            "ipAddresses": addresses,
            "port": 0,
            "adminStatus": null,
            "lastUpdateHealthy": false,
            "lastUpdateTime": 0,
            "connections": 0,
            "currentBW": 0,
            "availBW": 0,
            "cacheOnline": self.available(n),
        })
    }

    /// A node as Traffic Router's `Cache` (the coverage zone and consistent hash answers).
    /// `hashValues` stays empty: rendezvous hashing has no ring points to show.
    pub fn cache(&self, n: &NodeSpec) -> Value {
        let host = n.hostname.clone().or_else(|| n.ipv4.map(|a| a.to_string()));
        let services: Vec<Value> = self
            .table
            .services()
            .filter(|(id, _)| self.serves(*id, &n.zone))
            .map(|(_, s)| json!({ "deliveryServiceId": s.name(), "fqdn": host }))
            .collect();
        json!({
            "id": n.id,
            "fqdn": n.hostname,
            "port": n.port,
            "httpsPort": 443,
            "ip4": n.ipv4.map(|a| a.to_string()),
            "ip6": n.ipv6.map(java_ipv6),
            "available": self.available(n),
            "capabilities": [],
            "deliveryServices": services,
            "geolocation": self.coordinates(&n.zone).map(geolocation),
            "hashValues": [],
            "order": 0,
        })
    }

    /// A zone as Traffic Router's `CacheLocation`, with `caches` as its nodes.
    pub fn cache_location<'n>(
        &self,
        id: &str,
        coordinates: Option<Coordinates>,
        caches: impl Iterator<Item = &'n NodeSpec>,
        backups: Option<&[String]>,
        use_closest: bool,
    ) -> Value {
        json!({
            "id": id,
            "geolocation": coordinates.map(geolocation),
            "properties": location_properties(id, coordinates),
            "caches": caches.map(|n| self.cache(n)).collect::<Vec<_>>(),
            "backupCacheGroups": backups.filter(|b| !b.is_empty()),
            "useClosestGeoLoc": use_closest,
        })
    }
}

/// Traffic Router's `Location.getProperties()`: coordinates as strings, the rest null.
pub(super) fn location_properties(id: &str, at: Option<Coordinates>) -> Value {
    let mut p = geo_properties(at);
    p.insert("id".into(), json!(id));
    Value::Object(p)
}

/// `Geolocation.getProperties()`: no id.
pub(super) fn geo_properties(at: Option<Coordinates>) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("latitude".into(), json!(at.map(|c| java_double(c.latitude))));
    p.insert("longitude".into(), json!(at.map(|c| java_double(c.longitude))));
    for key in ["postalCode", "city", "countryCode", "countryName"] {
        p.insert(key.into(), Value::Null);
    }
    p
}

/// Traffic Router's serialized `Geolocation`.
fn geolocation(at: Coordinates) -> Value {
    json!({
        "latitude": at.latitude,
        "longitude": at.longitude,
        "postalCode": null,
        "city": null,
        "countryCode": null,
        "countryName": null,
        "defaultLocation": false,
        "properties": geo_properties(Some(at)),
    })
}

/// `x` as Java's `Double.toString` writes it: at least one digit after the point, and
/// scientific notation (`1.0E-4`) outside 10^-3 .. 10^7.
pub(super) fn java_double(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = x.to_string();
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa =
            if mantissa.contains('.') { mantissa.to_owned() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exp}")
    }
}

/// An IPv6 address as Java's `InetAddress.getHostAddress()` writes it: eight groups, no
/// `::` compression.
pub(super) fn java_ipv6(a: Ipv6Addr) -> String {
    let groups: Vec<String> = a.segments().iter().map(|g| format!("{g:x}")).collect();
    groups.join(":")
}
