use std::time::{Duration, Instant};

use super::*;
use crate::kind::agent::parse_reply;
use crate::outcome::{FailureCause, ProbeOutcome, Verdict};
use crate::spec::{Check, InitialState, ProbeSpec, TcpCheck};

fn policy() -> HealthPolicy {
    let mut spec = ProbeSpec::new(Check::Tcp(TcpCheck::default()));
    spec.interval_ms = 2000;
    spec.down_interval_ms = Some(8000);
    spec.transition_interval_ms = Some(500);
    spec.history_len = 4;
    HealthPolicy::from_spec(&spec)
}

fn ok() -> ProbeOutcome {
    let mut o = ProbeOutcome::new();
    o.pass(None);
    o.phases.total = Duration::from_millis(10);
    o
}

fn degraded() -> ProbeOutcome {
    let mut o = ok();
    o.pass(Some(crate::outcome::DegradedCause::Header));
    o
}

fn fail() -> ProbeOutcome {
    let mut o = ProbeOutcome::new();
    o.fail(FailureCause::Refused);
    o
}

fn with_agent(mut o: ProbeOutcome, reply: &str) -> ProbeOutcome {
    o.agent = parse_reply(reply);
    o
}

#[test]
fn unknown_takes_the_first_result_then_rise_and_fall_apply() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    assert_eq!(h.effective(), HealthState::Unknown);
    let tr = h.observe(t0, &ok()).unwrap();
    assert_eq!((tr.from, tr.to), (HealthState::Unknown, HealthState::Up));
    // fall = 3: two failures are not enough.
    assert_eq!(h.observe(t0, &fail()), None);
    assert_eq!(h.observe(t0, &fail()), None);
    assert_eq!(h.effective(), HealthState::Up);
    let tr = h.observe(t0, &fail()).unwrap();
    assert_eq!((tr.from, tr.to), (HealthState::Up, HealthState::Down));
    // rise = 2, and a failure in between restarts the count.
    assert_eq!(h.observe(t0, &ok()), None);
    assert_eq!(h.observe(t0, &fail()), None);
    assert_eq!(h.observe(t0, &ok()), None);
    assert_eq!(h.observe(t0, &ok()).map(|t| t.to), Some(HealthState::Up));
    assert_eq!(h.transitions(), 3);
}

#[test]
fn a_success_between_failures_resets_fall() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    h.observe(t0, &ok());
    for _ in 0..10 {
        h.observe(t0, &fail());
        h.observe(t0, &fail());
        h.observe(t0, &ok());
    }
    assert_eq!(h.effective(), HealthState::Up);
}

#[test]
fn immediate_down_status_bypasses_fall() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    h.observe(t0, &ok());
    let mut o = fail();
    o.cause = Some(FailureCause::BadStatus);
    o.status = Some(503);
    o.immediate_down = true;
    assert_eq!(h.observe(t0, &o).map(|t| t.to), Some(HealthState::Down));
}

#[test]
fn initial_states_are_configurable() {
    let t0 = Instant::now();
    let mut p = policy();
    p.initial = InitialState::Down;
    let mut h = HealthTracker::new(p);
    assert_eq!(h.effective(), HealthState::Down);
    assert_eq!(h.observe(t0, &ok()), None, "rise applies from an initial down");
    assert_eq!(h.observe(t0, &ok()).map(|t| t.to), Some(HealthState::Up));
    p.initial = InitialState::Up;
    let mut h = HealthTracker::new(p);
    assert_eq!(h.observe(t0, &fail()), None, "fall applies from an initial up");
}

#[test]
fn degraded_answers_count_as_success_and_show_as_degraded() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    assert_eq!(h.observe(t0, &degraded()).map(|t| t.to), Some(HealthState::Degraded));
    assert_eq!(h.observe(t0, &ok()).map(|t| t.to), Some(HealthState::Up));
    h.observe(t0, &fail());
    h.observe(t0, &fail());
    h.observe(t0, &fail());
    h.observe(t0, &degraded());
    assert_eq!(h.observe(t0, &degraded()).map(|t| t.to), Some(HealthState::Degraded));
}

#[test]
fn intervals_follow_the_state() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    assert_eq!(h.next_interval(), Duration::from_millis(500), "unknown is transitioning");
    h.observe(t0, &ok());
    assert_eq!(h.next_interval(), Duration::from_millis(2000));
    h.observe(t0, &fail());
    assert_eq!(h.next_interval(), Duration::from_millis(500), "falling");
    h.observe(t0, &fail());
    h.observe(t0, &fail());
    assert_eq!(h.next_interval(), Duration::from_millis(8000), "down");
    h.observe(t0, &ok());
    assert_eq!(h.next_interval(), Duration::from_millis(500), "rising");
}

#[test]
fn jitter_stays_within_bounds_and_spreads() {
    let base = Duration::from_millis(1000);
    assert_eq!(jittered(base, 10, 0.0), Duration::from_millis(900));
    assert_eq!(jittered(base, 10, 0.5), Duration::from_millis(1000));
    assert_eq!(jittered(base, 0, 0.99), base);
    let samples: Vec<Duration> =
        (0..1000).map(|_| jittered(base, 10, rand::random::<f64>())).collect();
    assert!(
        samples
            .iter()
            .all(|d| *d >= Duration::from_millis(900) && *d <= Duration::from_millis(1100))
    );
    let low = samples.iter().filter(|d| **d < Duration::from_millis(950)).count();
    let high = samples.iter().filter(|d| **d > Duration::from_millis(1050)).count();
    assert!(low > 100 && high > 100, "not spread: {low} low, {high} high");
}

#[test]
fn agent_down_and_maint_override_a_passing_check() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    h.observe(t0, &ok());
    let tr = h.observe(t0, &with_agent(ok(), "down#disk full")).unwrap();
    assert_eq!((tr.from, tr.to), (HealthState::Up, HealthState::Down));
    assert_eq!(h.observed(), HealthState::Up);
    assert_eq!(h.weight_percent(), 0);
    // No agent reply this round (unreachable agent): nothing changes.
    assert_eq!(h.observe(t0, &ok()), None);
    assert_eq!(h.effective(), HealthState::Down);
    assert_eq!(h.observe(t0, &with_agent(ok(), "up")).map(|t| t.to), Some(HealthState::Up));
    assert_eq!(h.observe(t0, &with_agent(ok(), "maint")).map(|t| t.to), Some(HealthState::Down));
}

#[test]
fn agent_up_cannot_revive_a_failing_check() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    h.observe(t0, &fail());
    assert_eq!(h.effective(), HealthState::Down);
    assert_eq!(h.observe(t0, &with_agent(fail(), "up 100%")), None);
    assert_eq!(h.effective(), HealthState::Down);
}

#[test]
fn agent_drain_and_weight_shape_the_weight_not_the_state() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    h.observe(t0, &with_agent(ok(), "75% maxconn:30"));
    assert_eq!(h.effective(), HealthState::Up);
    assert_eq!(h.weight_percent(), 75);
    assert_eq!(h.agent().maxconn, Some(30));
    h.observe(t0, &with_agent(ok(), "drain"));
    assert_eq!(h.effective(), HealthState::Up);
    assert_eq!(h.weight_percent(), 0);
    h.observe(t0, &with_agent(ok(), "ready weight:50%"));
    assert_eq!(h.weight_percent(), 50);
}

#[test]
fn latency_ewma_charges_failures_and_history_is_bounded() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    h.observe(t0, &ok());
    assert_eq!(h.latency_ewma_ms(), Some(10.0));
    h.observe(t0, &fail());
    // Penalty = timeout (1000 ms), weight 0.3: 10 + 0.3 * 990.
    let e = h.latency_ewma_ms().unwrap();
    assert!((e - 307.0).abs() < 1e-6, "{e}");
    for _ in 0..10 {
        h.observe(t0, &ok());
    }
    assert_eq!(h.history().len(), 4);
    assert!(h.history().all(|r| r.verdict == Verdict::Pass));
    assert_eq!(h.probes(), 12);
}

#[test]
fn state_changes_are_logged_with_their_time_and_the_log_is_bounded() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    assert_eq!(h.state_changes().len(), 0);
    h.observe(t0, &ok());
    let t1 = t0 + Duration::from_secs(1);
    for _ in 0..3 {
        h.observe(t1, &fail());
    }
    let changes: Vec<_> = h.state_changes().map(|c| (c.at, c.from, c.to)).collect();
    assert_eq!(
        changes,
        [(t0, HealthState::Unknown, HealthState::Up), (t1, HealthState::Up, HealthState::Down)]
    );
    // Flap far past the log's size: only the newest changes stay, oldest first.
    let mut at = t1;
    for _ in 0..STATE_CHANGES_KEPT {
        at += Duration::from_secs(1);
        h.observe(at, &ok());
        h.observe(at, &ok());
        for _ in 0..3 {
            h.observe(at, &fail());
        }
    }
    assert_eq!(h.state_changes().len(), STATE_CHANGES_KEPT);
    let last = h.state_changes().last().unwrap();
    assert_eq!((last.at, last.from, last.to), (at, HealthState::Up, HealthState::Down));
    assert_eq!(h.transitions(), 2 + 2 * STATE_CHANGES_KEPT as u64);
}

#[test]
fn the_history_keeps_each_probes_utilization_reading() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    let mut read = ok();
    read.utilization = Some(0.25);
    h.observe(t0, &read);
    h.observe(t0, &ok());
    let utilization: Vec<_> = h.history().map(|r| r.utilization).collect();
    assert_eq!(utilization, [Some(0.25), None]);
}

#[test]
fn the_history_gives_back_each_record_as_it_was_observed() {
    let t0 = Instant::now();
    let mut h = HealthTracker::new(policy());
    // RCODE 0 is a status like any other; a failure has none.
    let mut noerror = ok();
    noerror.status = Some(0);
    noerror.tier = Tier::L3Service;
    noerror.phases.total = Duration::from_micros(1_234_567);
    noerror.utilization = Some(0.5);
    h.observe(t0, &noerror);
    let t1 = t0 + Duration::from_millis(2_500);
    h.observe(t1, &fail());
    let records: Vec<ProbeRecord> = h.history().collect();
    assert_eq!(
        records,
        [
            ProbeRecord {
                at: t0,
                verdict: Verdict::Pass,
                tier: Tier::L3Service,
                cause: None,
                status: Some(0),
                latency: Duration::from_micros(1_234_567),
                utilization: Some(0.5),
            },
            ProbeRecord {
                at: t1,
                verdict: Verdict::Fail,
                tier: Tier::None,
                cause: Some(FailureCause::Refused),
                status: None,
                latency: Duration::ZERO,
                utilization: None,
            },
        ]
    );
    assert_eq!(size_of::<PackedRecord>(), 24);
}
