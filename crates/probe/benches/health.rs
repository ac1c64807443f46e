//! Hot paths of the scheduler task: the health state machine per result and agent reply
//! parsing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_probe::health::{HealthPolicy, HealthTracker};
use switchyard_probe::kind::agent::parse_reply;
use switchyard_probe::spec::{Check, ProbeSpec, TcpCheck};
use switchyard_probe::{CompiledProbe, ProbeOutcome};

fn outcomes() -> Vec<ProbeOutcome> {
    // Real outcomes from a probe that cannot connect (failure) and a parsed agent reply.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let spec = std::sync::Arc::new(ProbeSpec::new(Check::Tcp(TcpCheck::default())));
    let probe = CompiledProbe::new(spec).unwrap();
    let fail = rt.block_on(probe.run("127.0.0.1:1".parse().unwrap(), &mut Default::default()));
    let mut pass = fail.clone();
    pass.verdict = switchyard_probe::Verdict::Pass;
    pass.cause = None;
    pass.phases.total = Duration::from_millis(3);
    let mut agent = pass.clone();
    agent.agent = parse_reply("up 80%");
    vec![pass.clone(), pass.clone(), fail, agent, pass]
}

fn bench(c: &mut Criterion) {
    let policy = HealthPolicy::from_spec(&ProbeSpec::new(Check::Tcp(TcpCheck::default())));
    let outcomes = outcomes();
    c.bench_function("health_observe", |b| {
        let mut h = HealthTracker::new(policy);
        let now = Instant::now();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % outcomes.len();
            black_box(h.observe(now, black_box(&outcomes[i])));
        })
    });
    c.bench_function("agent_parse_reply", |b| {
        b.iter(|| black_box(parse_reply(black_box("up 75% maxconn:100 #ok"))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
