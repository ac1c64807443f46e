use std::time::Duration;

use super::*;
use crate::warm::{WarmStatus, evaluate};

#[test]
fn lateness_quantiles_come_from_buckets() {
    let mut s = EngineStats::default();
    assert_eq!(s.lateness_quantile_ms(0.99), None);
    s.lateness[0] = 98; // <= 1 ms
    s.lateness[3] = 1; // <= 10 ms
    s.lateness[5] = 1; // <= 50 ms
    assert_eq!(s.lateness_quantile_ms(0.5), Some(1));
    assert_eq!(s.lateness_quantile_ms(0.99), Some(10));
    assert_eq!(s.lateness_quantile_ms(1.0), Some(50));
    s.lateness[LATENESS_BUCKETS_MS.len()] = 100;
    assert_eq!(s.lateness_quantile_ms(0.99), None, "beyond the last bound");
}

#[test]
fn warm_passes_on_fraction_or_deadline() {
    let c = crate::WarmConfig::default();
    assert!(matches!(evaluate(0.5, &c, Duration::ZERO), WarmStatus::Cold { .. }));
    assert!(evaluate(0.9, &c, Duration::ZERO).is_ready());
    assert!(matches!(
        evaluate(0.1, &c, Duration::from_secs(30)),
        WarmStatus::DeadlinePassed { .. }
    ));
}

#[test]
fn engine_config_problems_and_serde() {
    let c: EngineConfig = toml::from_str("max_in_flight = 0").unwrap();
    assert_eq!(c.problems("probe")[0].path, "probe.max_in_flight");
    assert!(toml::from_str::<EngineConfig>("max_inflight = 3").is_err());
}

#[tokio::test]
async fn start_rejects_invalid_targets_with_every_problem() {
    let mut spec = ProbeSpec::new(crate::spec::Check::Tcp(Default::default()));
    spec.rise = 0;
    spec.fall = 0;
    let t = Target::new("a", "127.0.0.1:1".parse().unwrap(), Arc::new(spec));
    match ProbeEngine::start(EngineConfig::default(), vec![t], CancellationToken::new()) {
        Err(ProbeError::Invalid(p)) => assert_eq!(p.len(), 2),
        other => panic!("expected Invalid, got {other:?}"),
    }
}
