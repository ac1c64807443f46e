use std::sync::Arc;

use switchyard_route::{NodeHealth, NodeSpec, ZoneSpec};

use super::*;

fn zone(name: &str) -> ZoneSpec {
    toml::from_str(&format!("name = \"{name}\"\nlatitude = 0.0\nlongitude = 0.0\n")).unwrap()
}

fn node(id: &str, zone: &str) -> NodeSpec {
    toml::from_str(&format!("id = \"{id}\"\nzone = \"{zone}\"\nipv4 = \"127.0.0.1\"\n")).unwrap()
}

fn health(state: HealthState, utilization: Option<f32>) -> NodeHealth {
    NodeHealth { state, utilization, ..NodeHealth::default() }
}

/// The `switchyard_zone_*` lines of the exposition, sorted.
fn lines(metrics: &Metrics) -> Vec<String> {
    let mut l: Vec<String> = metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("switchyard_zone_"))
        .map(str::to_owned)
        .collect();
    l.sort();
    l
}

#[test]
fn nodes_are_counted_per_zone_and_state_and_utilization_averages_the_reporting_ones() {
    let metrics = Metrics::new();
    let zm = ZoneMetrics::register(&metrics);
    let spec = FleetSpec {
        zones: vec![zone("ams"), zone("fra"), zone("lon")],
        nodes: [node("a1", "ams"), node("a2", "ams"), node("a3", "ams"), node("f1", "fra")]
            .map(Arc::new)
            .into(),
        services: vec![],
    };
    let view = HealthView::new(1)
        .with("a1", health(HealthState::Up, Some(0.5)))
        .with("a2", health(HealthState::Down, Some(0.25)))
        .with("f1", health(HealthState::Degraded, None));
    zm.observe(&spec, &view);
    let got = lines(&metrics);
    for want in [
        r#"switchyard_zone_nodes{zone="ams",state="up"} 1"#,
        r#"switchyard_zone_nodes{zone="ams",state="down"} 1"#,
        r#"switchyard_zone_nodes{zone="ams",state="unknown"} 1"#,
        r#"switchyard_zone_nodes{zone="fra",state="degraded"} 1"#,
        r#"switchyard_zone_nodes{zone="lon",state="up"} 0"#,
        r#"switchyard_zone_utilization_ratio{zone="ams"} 0.375"#,
    ] {
        assert!(got.iter().any(|l| l == want), "missing {want} in {got:#?}");
    }
    assert!(!got.iter().any(|l| l.contains(r#"ratio{zone="fra"}"#)), "no report, no series");
    assert_eq!(got.iter().filter(|l| l.starts_with("switchyard_zone_nodes")).count(), 12);
}

#[test]
fn a_zone_that_leaves_the_inventory_leaves_the_metrics() {
    let metrics = Metrics::new();
    let zm = ZoneMetrics::register(&metrics);
    let mut spec = FleetSpec {
        zones: vec![zone("ams"), zone("fra")],
        nodes: [node("a1", "ams"), node("f1", "fra")].map(Arc::new).into(),
        services: vec![],
    };
    let view = HealthView::new(1).with("f1", health(HealthState::Up, Some(0.9)));
    zm.observe(&spec, &view);
    assert!(lines(&metrics).iter().any(|l| l.contains(r#"zone="fra""#)));
    spec.zones.pop();
    spec.nodes.pop();
    zm.observe(&spec, &view);
    let got = lines(&metrics);
    assert!(!got.iter().any(|l| l.contains(r#"zone="fra""#)), "{got:#?}");
    assert_eq!(got.len(), 4, "{got:#?}");
}
