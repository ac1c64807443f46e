//! Cost of answering `/readyz`: the framework-neutral core and the axum router, for a
//! typical set of cheap checks, passing and failing.

use std::hint::black_box;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_health::{Check, CheckError, Endpoint, Endpoints, HealthRegistry, Query};
use tower::ServiceExt;

/// `ping`, a gate, `shutdown`, two async checks and one cached async check.
fn registry(failing: bool) -> HealthRegistry {
    let health = HealthRegistry::default();
    health.readiness_gate("started").unwrap().open();
    health.shutdown_check().unwrap();
    health.register(Endpoints::READYZ, Check::new("config", || async { Ok(()) })).unwrap();
    health
        .register(
            Endpoints::LIVEZ | Endpoints::READYZ,
            Check::new("routing-table", move || async move {
                if failing { Err(CheckError::new("stale")) } else { Ok(()) }
            }),
        )
        .unwrap();
    health
        .register(
            Endpoints::READYZ,
            Check::new("etcd", || async { Ok(()) }).cached(std::time::Duration::from_secs(5)),
        )
        .unwrap();
    health
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let passing = registry(false);
    let failing = registry(true);
    let empty = Query::default();
    let verbose = Query::parse("verbose");

    let mut group = c.benchmark_group("readyz");
    group.bench_function("core_pass", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(passing.evaluate(Endpoint::Readyz, &empty).await.render()) })
    });
    group.bench_function("core_pass_verbose", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(passing.evaluate(Endpoint::Readyz, &verbose).await.render())
        })
    });
    group.bench_function("core_fail", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(failing.evaluate(Endpoint::Readyz, &empty).await.render()) })
    });
    let router = switchyard_health::axum::router(passing.clone());
    group.bench_function("axum_pass", |b| {
        b.to_async(&runtime).iter(|| async {
            let request = Request::get("/readyz").body(Body::empty()).unwrap();
            black_box(router.clone().oneshot(request).await.unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
