//! The key layout under the prefix (default `/switchyard/`):
//!
//! | key | value |
//! | --- | --- |
//! | `nodes/<id>`, `zones/<name>`, `services/<name>` | JSON objects with the fields of `[[inventory.nodes]]`, `[[inventory.zones]]`, `[[inventory.services]]` |
//! | `coverage` | a Traffic Router coverage-zone JSON document |
//! | `admin/nodes/<id>` | `{"admin": "drain"}` (an operator state) |
//! | `maintenance`, `maintenance/<instance>` | `{"enabled": true, "reason": "..."}` |
//! | `members/<instance>` | written by each instance, bound to its lease |
//! | `health/<node>/<instance>` | an instance's verdict on a node, bound to its lease |

/// What a key (relative to the prefix) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key<'a> {
    /// `nodes/<id>`.
    Node(&'a str),
    /// `zones/<name>`.
    Zone(&'a str),
    /// `services/<name>`.
    Service(&'a str),
    /// `coverage`.
    Coverage,
    /// `admin/nodes/<id>`.
    Operator(&'a str),
    /// `maintenance`.
    MaintenanceAll,
    /// `maintenance/<instance>`.
    MaintenanceOf(&'a str),
    /// `members/<instance>`.
    Member(&'a str),
    /// `health/<node>/<instance>`.
    Verdict {
        /// The node judged.
        node: &'a str,
        /// The instance that judged it.
        instance: &'a str,
    },
    /// Anything else (ignored, reported).
    Other(&'a str),
}

impl<'a> Key<'a> {
    /// Classifies a key with the prefix already removed.
    pub fn parse(rel: &'a str) -> Self {
        let named = |rest: &'a str, f: fn(&'a str) -> Key<'a>| {
            if rest.is_empty() || rest.contains('/') { Key::Other(rel) } else { f(rest) }
        };
        if let Some(rest) = rel.strip_prefix("nodes/") {
            named(rest, Key::Node)
        } else if let Some(rest) = rel.strip_prefix("zones/") {
            named(rest, Key::Zone)
        } else if let Some(rest) = rel.strip_prefix("services/") {
            named(rest, Key::Service)
        } else if rel == "coverage" {
            Key::Coverage
        } else if let Some(rest) = rel.strip_prefix("admin/nodes/") {
            named(rest, Key::Operator)
        } else if rel == "maintenance" {
            Key::MaintenanceAll
        } else if let Some(rest) = rel.strip_prefix("maintenance/") {
            named(rest, Key::MaintenanceOf)
        } else if let Some(rest) = rel.strip_prefix("members/") {
            named(rest, Key::Member)
        } else if let Some(rest) = rel.strip_prefix("health/") {
            match rest.rsplit_once('/') {
                Some((node, instance)) if !node.is_empty() && !instance.is_empty() => {
                    Key::Verdict { node, instance }
                }
                _ => Key::Other(rel),
            }
        } else {
            Key::Other(rel)
        }
    }

    /// Whether the key is part of the inventory (a change rebuilds the routing table), as
    /// opposed to the cluster's own bookkeeping (members, verdicts, maintenance).
    pub fn is_inventory(&self) -> bool {
        matches!(
            self,
            Key::Node(_) | Key::Zone(_) | Key::Service(_) | Key::Coverage | Key::Operator(_)
        )
    }
}

/// Key names relative to the prefix, for writers.
pub mod rel {
    /// `nodes/<id>`.
    pub fn node(id: &str) -> String {
        format!("nodes/{id}")
    }
    /// `zones/<name>`.
    pub fn zone(name: &str) -> String {
        format!("zones/{name}")
    }
    /// `services/<name>`.
    pub fn service(name: &str) -> String {
        format!("services/{name}")
    }
    /// `coverage`.
    pub const COVERAGE: &str = "coverage";
    /// `admin/nodes/<id>`.
    pub fn operator(id: &str) -> String {
        format!("admin/nodes/{id}")
    }
    /// `maintenance`.
    pub const MAINTENANCE: &str = "maintenance";
    /// `maintenance/<instance>`.
    pub fn maintenance_of(instance: &str) -> String {
        format!("maintenance/{instance}")
    }
    /// `members/<instance>`.
    pub fn member(instance: &str) -> String {
        format!("members/{instance}")
    }
    /// `health/<node>/<instance>`.
    pub fn verdict(node: &str, instance: &str) -> String {
        format!("health/{node}/{instance}")
    }
    /// The prefixes of the inventory keys, which `etcd import --prune` may delete.
    pub const INVENTORY: [&str; 4] = ["nodes/", "zones/", "services/", "coverage"];
}

#[cfg(test)]
mod tests {
    use super::Key;

    #[test]
    fn keys_classify() {
        assert_eq!(Key::parse("nodes/ams-1"), Key::Node("ams-1"));
        assert_eq!(Key::parse("nodes/"), Key::Other("nodes/"));
        assert_eq!(Key::parse("nodes/a/b"), Key::Other("nodes/a/b"));
        assert_eq!(Key::parse("coverage"), Key::Coverage);
        assert_eq!(Key::parse("admin/nodes/x"), Key::Operator("x"));
        assert_eq!(Key::parse("maintenance"), Key::MaintenanceAll);
        assert_eq!(Key::parse("maintenance/i1"), Key::MaintenanceOf("i1"));
        assert_eq!(Key::parse("members/i1"), Key::Member("i1"));
        assert_eq!(Key::parse("health/n1/i2"), Key::Verdict { node: "n1", instance: "i2" });
        assert_eq!(Key::parse("health/n1"), Key::Other("health/n1"));
        assert!(Key::parse("zones/z").is_inventory());
        assert!(!Key::parse("health/n/i").is_inventory());
    }
}
