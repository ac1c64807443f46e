use std::collections::BTreeMap;

use switchyard_route::HealthState::{self, Degraded, Down, Up};

use super::*;

fn verdicts(states: &[HealthState]) -> NodeVerdicts {
    states
        .iter()
        .enumerate()
        .map(|(i, &s)| (Arc::from(format!("i{i}")), Verdict::new(s, None, None, None, None, None)))
        .collect()
}

fn merged(states: &[HealthState], policy: MergePolicy) -> HealthState {
    merge(verdicts(states).values(), policy).unwrap().state
}

#[test]
fn majority_needs_more_than_half_to_mark_a_node_bad() {
    use MergePolicy::Majority as M;
    assert_eq!(merged(&[Up, Down], M), Up, "a tie keeps the node");
    assert_eq!(merged(&[Down, Down], M), Down);
    assert_eq!(merged(&[Up, Down, Down], M), Down);
    assert_eq!(merged(&[Up, Degraded, Down], M), Degraded, "two of three see degraded or worse");
    assert_eq!(merged(&[Up, Up, Down], M), Up);
    assert_eq!(merged(&[Degraded], M), Degraded);
}

#[test]
fn optimistic_and_pessimistic_take_the_best_and_the_worst() {
    assert_eq!(merged(&[Up, Down, Down], MergePolicy::Optimistic), Up);
    assert_eq!(merged(&[Down, Down], MergePolicy::Optimistic), Down);
    assert_eq!(merged(&[Up, Up, Degraded], MergePolicy::Pessimistic), Degraded);
    assert_eq!(merged(&[Up, Down], MergePolicy::Pessimistic), Down);
}

#[test]
fn unknown_verdicts_do_not_vote() {
    assert!(merge(verdicts(&[HealthState::Unknown]).values(), MergePolicy::Majority).is_none());
    assert_eq!(merged(&[HealthState::Unknown, Down], MergePolicy::Majority), Down);
}

#[test]
fn figures_are_quantized_and_averaged() {
    let v = Verdict::new(Up, None, Some(12.345), Some(0.437), Some(1.234), None);
    assert_eq!(v.utilization, Some(0.45));
    assert_eq!(v.load, Some(1.2));
    assert_eq!(v.latency_ms, Some(12.3));
    let w = Verdict::new(Up, None, Some(99.0), Some(0.441), Some(1.24), None);
    assert!(!w.differs_from(&v), "only latency moved");
    assert_eq!(w.written_form(), v.written_form(), "the writer's digest agrees");
    let down = Verdict::new(Down, Some("refused"), Some(12.3), Some(0.45), Some(1.2), None);
    assert!(down.differs_from(&v));
    assert_ne!(down.written_form(), v.written_form());
    let cause = Verdict::new(Down, Some("timeout"), Some(12.3), Some(0.45), Some(1.2), None);
    assert_ne!(cause.written_form(), down.written_form(), "the cause counts");
    assert!(Arc::ptr_eq(down.cause.as_ref().unwrap(), &intern("refused")));
    let m = NodeVerdicts::default()
        .with("b".into(), Verdict::new(Up, None, None, Some(0.4), None, None), 1)
        .with("a".into(), Verdict::new(Up, None, None, Some(0.9), None, None), 2);
    assert_eq!(m.iter().map(|(i, _)| &**i).collect::<Vec<_>>(), ["a", "b"], "kept in order");
    let m = m.with("a".into(), Verdict::new(Up, None, None, Some(0.2), None, None), 3);
    assert_eq!(m.len(), 2, "a second verdict of one prober replaces its first");
    assert_eq!((m.revision("a"), m.revision("b")), (Some(3), Some(1)));
    let h = merge(m.values(), MergePolicy::Majority).unwrap();
    assert!((h.utilization.unwrap() - 0.3).abs() < 1e-6);
}

#[test]
fn verdicts_round_trip_as_json() {
    let v = Verdict::new(Down, Some("timeout"), Some(3.0), None, None, None);
    let text = serde_json::to_string(&v).unwrap();
    assert_eq!(text, r#"{"state":"down","cause":"timeout","latency_ms":3.0}"#);
    assert_eq!(serde_json::from_str::<Verdict>(&text).unwrap(), v);
}

#[test]
fn shares_cover_every_node_replicas_times() {
    let members: BTreeMap<String, Member> =
        ["a", "b", "c"].iter().map(|m| (m.to_string(), Member::default())).collect();
    let nodes: Vec<String> = (0..3000).map(|i| format!("n{i}")).collect();
    let shares: Vec<BTreeSet<String>> = ["a", "b", "c"]
        .iter()
        .map(|me| share(me, nodes.iter().map(String::as_str), &members, 2))
        .collect();
    for n in &nodes {
        assert_eq!(shares.iter().filter(|s| s.contains(n)).count(), 2, "{n}");
    }
    for s in &shares {
        assert!((s.len() as f64 / 2000.0 - 1.0).abs() < 0.08, "{}", s.len());
    }
    // Replicas 0 or beyond the membership: everyone probes everything.
    assert_eq!(share("a", nodes.iter().map(String::as_str), &members, 0).len(), 3000);
    assert_eq!(share("a", nodes.iter().map(String::as_str), &members, 5).len(), 3000);
    // An instance not (yet) among the members still does a share.
    let only_b: BTreeMap<String, Member> =
        [("b".to_string(), Member::default())].into_iter().collect();
    let s = share("a", nodes.iter().map(String::as_str), &only_b, 1);
    assert!(!s.is_empty() && s.len() < 3000);
}
