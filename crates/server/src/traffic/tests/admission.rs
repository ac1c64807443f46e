//! Admission control: rate limit, shedding, header and body limits, deterministically.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use tokio::sync::{Semaphore, mpsc};

use super::{app, get};
use crate::metrics::Metrics;
use crate::traffic::fast::RefusalPacer;
use crate::traffic::{AdmissionLayer, Overload, TrafficConfig, TrafficMetrics};

const URI: &str = "/v1/route?host=video.cdn.example.com";

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_after_the_burst() {
    // One request per 1000 s: the window cannot refill while the test runs.
    let config = TrafficConfig {
        rate_limit_per_client_rps: 0.001,
        rate_limit_burst: 2,
        trusted_proxies: vec!["10.0.0.1".into()],
        ..Default::default()
    };
    let a = app(config);
    for _ in 0..2 {
        assert_eq!(get(&a.router, URI, "198.51.100.7:1", &[]).await.status, StatusCode::OK);
    }
    let r = get(&a.router, URI, "198.51.100.7:2", &[]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code(), "rate_limited");
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((900..=1000).contains(&retry), "retry-after {retry}");
    // Another client has its own budget, also behind a trusted proxy.
    let xff = [("x-forwarded-for", "203.0.113.50")];
    for _ in 0..2 {
        assert_eq!(get(&a.router, URI, "10.0.0.1:9", &xff).await.status, StatusCode::OK);
    }
    assert_eq!(get(&a.router, URI, "10.0.0.1:9", &xff).await.status, StatusCode::TOO_MANY_REQUESTS);
    let text = a.metrics.encode();
    assert!(
        text.contains(r#"switchyard_http_admission_rejections_total{reason="rate_limited"} 2"#),
        "{text}"
    );
}

/// An inner service that reports entry and then waits for a permit, so requests can be
/// held in flight for as long as the test needs.
fn held(entered: mpsc::UnboundedSender<()>, gate: Arc<Semaphore>) -> Router {
    Router::new().fallback(move || {
        let entered = entered.clone();
        let gate = gate.clone();
        async move {
            let _ = entered.send(());
            let _permit = gate.acquire().await.unwrap();
            "done"
        }
    })
}

async fn call(svc: &Router, uri: &str) -> Response<Body> {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    tower::ServiceExt::oneshot(svc.clone(), req).await.unwrap_or_else(|e: Infallible| match e {})
}

#[tokio::test]
async fn over_the_concurrency_limit_requests_are_shed_at_once() {
    let config =
        TrafficConfig { max_concurrent_requests: 2, overload_watermark: 0.5, ..Default::default() };
    let metrics = Metrics::new();
    let (layer, overload) = AdmissionLayer::new(&config, TrafficMetrics::register(&metrics));
    let (tx, mut entered) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let svc = held(tx, gate.clone()).layer(layer);
    assert!(overload.check().is_ok());

    let mut running = Vec::new();
    for _ in 0..2 {
        let svc = svc.clone();
        running.push(tokio::spawn(async move { call(&svc, "/").await.status() }));
    }
    for _ in 0..2 {
        entered.recv().await.unwrap();
    }
    assert_eq!(overload.in_flight(), 2);
    let err = overload.check().unwrap_err();
    assert!(err.contains("2 of 2"), "{err}");

    let shed = call(&svc, "/").await;
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body = http_body_util::BodyExt::collect(shed.into_body()).await.unwrap().to_bytes();
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["error"]["code"], "overloaded");
    assert!(entered.try_recv().is_err(), "a shed request must never reach the inner service");

    gate.add_permits(2);
    for r in running {
        assert_eq!(r.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(overload.in_flight(), 0);
    assert!(overload.check().is_ok());
    // A slot freed by completion is usable again.
    gate.add_permits(1);
    assert_eq!(call(&svc, "/").await.status(), StatusCode::OK);
    let text = metrics.encode();
    assert!(text.contains(r#"reason="overloaded"} 1"#), "{text}");
}

#[tokio::test]
async fn a_cancelled_request_gives_its_slot_back() {
    let config = TrafficConfig { max_concurrent_requests: 1, ..Default::default() };
    let (layer, overload) = AdmissionLayer::new(&config, TrafficMetrics::register(&Metrics::new()));
    let (tx, mut entered) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let svc = held(tx, gate.clone()).layer(layer);
    let s = svc.clone();
    let task = tokio::spawn(async move { call(&s, "/").await });
    entered.recv().await.unwrap();
    assert_eq!(overload.in_flight(), 1);
    task.abort();
    let _ = task.await;
    assert_eq!(overload.in_flight(), 0);
    gate.add_permits(1);
    assert_eq!(call(&svc, "/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn oversized_headers_and_bodies_are_refused() {
    let config = TrafficConfig {
        max_headers: 3,
        max_header_bytes: 1024,
        max_request_body_bytes: 10,
        ..Default::default()
    };
    let a = app(config);
    let peer = "198.51.100.7:1";
    let many = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")];
    let r = get(&a.router, URI, peer, &many).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(r.error_code(), "headers_too_large");
    let big = "x".repeat(2000);
    let r = get(&a.router, URI, peer, &[("cookie", &big)]).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let r = get(&a.router, URI, peer, &[("content-length", "11")]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "payload_too_large");
    let r = get(&a.router, URI, peer, &[("content-length", "10")]).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = a.metrics.encode();
    assert!(text.contains(r#"reason="headers_too_large"} 2"#), "{text}");
    assert!(text.contains(r#"reason="payload_too_large"} 1"#), "{text}");
}

/// Refusals the pacer lets through before its first pause, given `answered` requests let
/// through after each refusal.
async fn refusals_before_a_pause(pacer: &mut RefusalPacer, answered: &mut u64, step: u64) -> u64 {
    let start = tokio::time::Instant::now();
    let mut refused = 0;
    while tokio::time::Instant::now() == start {
        *answered += step;
        pacer.refused(*answered).await;
        refused += 1;
    }
    refused
}

#[tokio::test(start_paused = true)]
async fn refusals_are_paid_for_by_answers_and_paced_without_them() {
    let mut answered = 1_000_000;
    // Answers given before refusing started pay for nothing.
    let mut pacer = RefusalPacer::new(answered);
    // No answers: four refusals, then a pause of a millisecond, and four again.
    assert_eq!(refusals_before_a_pause(&mut pacer, &mut answered, 0).await, 4);
    let paused = tokio::time::Instant::now();
    assert_eq!(refusals_before_a_pause(&mut pacer, &mut answered, 0).await, 4);
    assert_eq!(paused.elapsed(), std::time::Duration::from_millis(1));
    // One answer per refusal pays for a third of one: the first three pay for a fifth.
    assert_eq!(refusals_before_a_pause(&mut pacer, &mut answered, 1).await, 5);
    // Many answers at once pay for at most 32 refusals ahead.
    answered += 3_000;
    assert_eq!(refusals_before_a_pause(&mut pacer, &mut answered, 0).await, 33);
}

/// A one-worker runtime running the queue-delay watch of an admission with a 2 ms target:
/// the runtime, the admission, its `overloaded` check and the watch's stop.
fn watched()
-> (tokio::runtime::Runtime, AdmissionLayer, Overload, tokio_util::sync::CancellationToken) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let config = TrafficConfig { shed_queue_delay_ms: 2, ..Default::default() };
    let (layer, overload) = AdmissionLayer::new(&config, TrafficMetrics::register(&Metrics::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    runtime.spawn(layer.clone().watch_queue_delay(stop.clone()));
    (runtime, layer, overload, stop)
}

/// Shedding on queue delay follows the waits the connections' reads report, and the busy
/// share starts it only when high but keeps it on when moderate: reads that waited 20 ms do
/// not start it while the one worker idles about a fifth of the time, do once it is busy
/// throughout, keep it on when it idles again, and reads that waited 100 µs end it.
#[test]
fn shedding_follows_how_long_reads_waited_in_the_kernel() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    let (runtime, layer, overload, stop) = watched();
    let wait_us = Arc::new(AtomicU64::new(20_000));
    // Each 4 ms of work is followed by this long parked (0: none).
    let idle_us = Arc::new(AtomicU64::new(1_000));
    let (reads, wait, idle, stopped) =
        (layer.clone(), wait_us.clone(), idle_us.clone(), stop.clone());
    runtime.spawn(async move {
        while !stopped.is_cancelled() {
            for _ in 0..20 {
                std::thread::sleep(Duration::from_micros(200));
                reads.read_waited(Duration::from_micros(wait.load(Ordering::Relaxed)));
            }
            match idle.load(Ordering::Relaxed) {
                0 => tokio::task::yield_now().await,
                us => tokio::time::sleep(Duration::from_micros(us)).await,
            }
        }
    });
    let until = |shedding: bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while overload.check().is_ok() == shedding {
            assert!(Instant::now() < deadline, "shedding never became {shedding}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let stays = |shedding: bool, what: &str| {
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            assert_eq!(overload.check().is_err(), shedding, "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    stays(false, "late reads started shedding while the worker idled a fifth of the time");
    idle_us.store(0, Ordering::Relaxed);
    until(true);
    let why = overload.check().unwrap_err();
    assert!(why.contains("longer than 2 ms"), "{why}");
    idle_us.store(1_000, Ordering::Relaxed);
    stays(true, "shedding stopped on a moderate busy share while reads still waited long");
    wait_us.store(100, Ordering::Relaxed);
    until(false);
    stop.cancel();
    runtime.shutdown_timeout(Duration::from_secs(5));
}

/// With no connection open and nothing read, the queue-delay watch parks: the worker, with
/// nothing else to run, stays parked (a watch ticking every 5 ms unparks it about 100 times
/// in half a second). The first connection to open wakes it, and late reads on a busy worker
/// then start shedding (a watch left parked would never shed).
#[test]
fn the_idle_watch_parks_and_the_first_connection_wakes_it() {
    use std::time::{Duration, Instant};

    let (runtime, layer, overload, stop) = watched();
    // Idle for a few windows: the watch parks after its first.
    std::thread::sleep(Duration::from_millis(350));
    let parks = || runtime.metrics().worker_park_count(0);
    let before = parks();
    std::thread::sleep(Duration::from_millis(500));
    let woken = parks() - before;
    assert!(woken < 20, "the idle worker was woken {woken} times in 500 ms");
    let slot = layer.connection().expect("the first connection is admitted");
    let (reads, stopped) = (layer.clone(), stop.clone());
    runtime.spawn(async move {
        while !stopped.is_cancelled() {
            for _ in 0..20 {
                std::thread::sleep(Duration::from_micros(200));
                reads.read_waited(Duration::from_millis(20));
            }
            tokio::task::yield_now().await;
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while overload.check().is_ok() {
        assert!(Instant::now() < deadline, "the parked watch never woke to shed");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(slot);
    stop.cancel();
    runtime.shutdown_timeout(Duration::from_secs(5));
}
