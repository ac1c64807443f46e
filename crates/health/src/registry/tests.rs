use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::report::{Format, JSON_CONTENT_TYPE, TEXT_CONTENT_TYPE};

fn ok(name: &str) -> Check {
    Check::new(name, || async { Ok(()) })
}

fn failing(name: &str, reason: &'static str) -> Check {
    Check::new(name, move || async move { Err(CheckError::new(reason)) })
}

/// A registry without the implicit `ping`, holding `a` (ok) and `b` (failing) on readyz.
fn mixed() -> HealthRegistry {
    let health = HealthRegistry::builder().ping(false).build();
    health.register(Endpoints::READYZ, ok("a")).unwrap();
    health.register(Endpoints::READYZ, failing("b", "disk full")).unwrap();
    health
}

#[tokio::test]
async fn passing_endpoint_answers_plain_ok() {
    let health = HealthRegistry::default();
    health.register(Endpoints::ALL, ok("config")).unwrap();
    let response = health.respond("/readyz", None).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type, TEXT_CONTENT_TYPE);
    assert_eq!(response.body, "ok");
}

#[tokio::test]
async fn verbose_lists_every_check_then_passed() {
    let health = HealthRegistry::default();
    health.register(Endpoints::ALL, ok("config")).unwrap();
    let response = health.respond("/livez", Some("verbose")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "[+]ping ok\n[+]config ok\nlivez check passed\n");
    // k8s only looks for the key: `verbose=false` is still verbose.
    let response = health.respond("/livez", Some("verbose=false")).await;
    assert_eq!(response.body, "[+]ping ok\n[+]config ok\nlivez check passed\n");
}

#[tokio::test]
async fn failure_is_always_verbose_and_withholds_the_reason() {
    let health = mixed();
    for query in [None, Some("verbose")] {
        let response = health.respond("/readyz", query).await;
        assert_eq!(response.status, 500);
        assert_eq!(response.content_type, TEXT_CONTENT_TYPE);
        assert_eq!(response.body, "[+]a ok\n[-]b failed: reason withheld\nreadyz check failed\n");
    }
}

#[tokio::test]
async fn exclude_skips_checks_and_can_turn_failure_into_ok() {
    let health = mixed();
    let response = health.respond("/readyz", Some("exclude=b")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "ok");
    let response = health.respond("/readyz", Some("exclude=b&verbose&exclude=a")).await;
    assert_eq!(response.body, "[+]a excluded: ok\n[+]b excluded: ok\nreadyz check passed\n");
}

#[tokio::test]
async fn unmatched_excludes_are_warned_sorted_deduplicated_and_quoted() {
    let health = mixed();
    let response = health
        .respond(
            "/readyz",
            Some("verbose&exclude=zeta&exclude=a&exclude=al%22pha&exclude=zeta&exclude=b"),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body,
        "[+]a excluded: ok\n[+]b excluded: ok\n\
         warn: some health checks cannot be excluded: no matches for \"al\\\"pha\",\"zeta\"\n\
         readyz check passed\n"
    );
    // Non-verbose success stays `ok`; a failure shows the warning before the last line.
    assert_eq!(
        health.respond("/readyz", Some("exclude=x")).await.body,
        "[+]a ok\n[-]b failed: reason withheld\n\
         warn: some health checks cannot be excluded: no matches for \"x\"\n\
         readyz check failed\n"
    );
    assert_eq!(health.respond("/readyz", Some("exclude=x&exclude=b")).await.body, "ok");
}

#[tokio::test]
async fn single_check_shows_the_real_error() {
    let health = mixed();
    let response = health.respond("/readyz/a", None).await;
    assert_eq!((response.status, &*response.body), (200, "ok"));
    let response = health.respond("/readyz/b", Some("verbose")).await;
    assert_eq!(response.status, 500);
    assert_eq!(response.body, "internal server error: disk full\n");
}

#[tokio::test]
async fn unknown_check_or_endpoint_is_404() {
    let health = mixed();
    for path in
        ["/readyz/nope", "/livez/a", "/statusz", "/readyz/a/b", "/", "/readyz/", "//readyz", ""]
    {
        let response = health.respond(path, None).await;
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.body, "404 page not found\n");
    }
}

#[tokio::test]
async fn names_with_slashes_address_one_check() {
    let health = HealthRegistry::default();
    health.register(Endpoints::READYZ, ok("poststarthook/rbac")).unwrap();
    let response = health.respond("/readyz/poststarthook/rbac", None).await;
    assert_eq!((response.status, &*response.body), (200, "ok"));
}

#[tokio::test]
async fn json_lists_checks_with_withheld_errors_and_durations() {
    let health = mixed();
    let response = health.respond("/readyz", Some("format=json&exclude=x")).await;
    assert_eq!(response.status, 500);
    assert_eq!(response.content_type, JSON_CONTENT_TYPE);
    let mut json: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    for check in json["checks"].as_array_mut().unwrap() {
        assert!(check["duration_seconds"].as_f64().unwrap() >= 0.0);
        check.as_object_mut().unwrap().remove("duration_seconds");
    }
    assert_eq!(
        json,
        serde_json::json!({
            "endpoint": "readyz",
            "status": "failed",
            "checks": [
                {"name": "a", "status": "ok", "error": null},
                {"name": "b", "status": "failed", "error": "reason withheld"},
            ],
            "warnings": ["some health checks cannot be excluded: no matches for \"x\""],
        })
    );

    let response = health.respond("/readyz/b", Some("format=json")).await;
    assert_eq!(response.status, 500);
    let json: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(json["checks"][0]["error"], "disk full");
    assert_eq!(json["checks"].as_array().unwrap().len(), 1);

    let response = health.respond("/readyz", Some("format=json&exclude=b")).await;
    assert_eq!(response.status, 200);
    let json: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(json["status"], "passed");
    assert_eq!(json["checks"][1]["status"], "excluded");
}

#[tokio::test(start_paused = true)]
async fn hanging_check_fails_at_its_timeout() {
    let health = HealthRegistry::builder().ping(false).build();
    health
        .register(
            Endpoints::READYZ,
            Check::new("hang", futures::future::pending::<Result<(), CheckError>>),
        )
        .unwrap();
    health
        .register(
            Endpoints::LIVEZ,
            Check::new("hang-short", std::future::pending).timeout(Duration::from_millis(300)),
        )
        .unwrap();

    let start = Instant::now();
    let report = health.evaluate(Endpoint::Readyz, &Query::default()).await;
    assert_eq!(start.elapsed(), DEFAULT_TIMEOUT);
    assert!(matches!(
        report.checks()[0].status,
        CheckStatus::Failed(CheckError::Timeout(t)) if t == DEFAULT_TIMEOUT
    ));

    let start = Instant::now();
    let response = health.respond("/livez/hang-short", None).await;
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(response.body, "internal server error: timed out after 300ms\n");
}

fn sleeper(name: &str, secs: u64) -> Check {
    Check::new(name, move || async move {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Ok(())
    })
    .timeout(Duration::from_secs(10))
}

#[tokio::test(start_paused = true)]
async fn checks_run_concurrently_so_time_is_the_max_not_the_sum() {
    let health = HealthRegistry::builder().ping(false).build();
    for (name, secs) in [("one", 1), ("three", 3), ("two", 2)] {
        health.register(Endpoints::READYZ, sleeper(name, secs)).unwrap();
    }
    let start = Instant::now();
    let report = health.evaluate(Endpoint::Readyz, &Query::default()).await;
    assert!(report.passed());
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let durations: Vec<_> = report.checks().iter().map(|c| c.duration).collect();
    assert_eq!(durations, [1, 3, 2].map(Duration::from_secs), "each check times itself");
}

fn counting(name: &str, runs: &Arc<AtomicUsize>, work: Duration) -> Check {
    let runs = Arc::clone(runs);
    Check::new(name, move || {
        let runs = Arc::clone(&runs);
        async move {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(work).await;
            if n % 2 == 1 { Ok(()) } else { Err(CheckError::new(format!("run {n} failed"))) }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn cached_check_runs_at_most_once_per_interval() {
    let health = HealthRegistry::builder().ping(false).build();
    let runs = Arc::new(AtomicUsize::new(0));
    health
        .register(
            Endpoints::READYZ,
            counting("db", &runs, Duration::ZERO).cached(Duration::from_secs(10)),
        )
        .unwrap();
    for _ in 0..5 {
        assert_eq!(health.respond("/readyz", None).await.status, 200);
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(5)).await;
    // The second run fails, and that result is served until the next interval.
    assert_eq!(
        health.respond("/readyz/db", None).await.body,
        "internal server error: run 2 failed\n"
    );
    assert_eq!(health.respond("/readyz", None).await.status, 500);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_cached_run() {
    let health = HealthRegistry::builder().ping(false).build();
    let runs = Arc::new(AtomicUsize::new(0));
    health
        .register(
            Endpoints::READYZ,
            counting("db", &runs, Duration::from_secs(1)).cached(Duration::from_secs(10)),
        )
        .unwrap();
    let start = Instant::now();
    let query = Query::default();
    let reports = join_all((0..8).map(|_| health.evaluate(Endpoint::Readyz, &query))).await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(reports.iter().all(Report::passed));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn cached_run_finishes_even_when_its_requester_goes_away() {
    let health = HealthRegistry::builder().ping(false).build();
    let runs = Arc::new(AtomicUsize::new(0));
    health
        .register(
            Endpoints::READYZ,
            counting("db", &runs, Duration::from_secs(1))
                .timeout(Duration::from_secs(2))
                .cached(Duration::from_secs(10)),
        )
        .unwrap();
    let abandoned = tokio::time::timeout(
        Duration::from_millis(500),
        health.evaluate(Endpoint::Readyz, &Query::default()),
    )
    .await;
    assert!(abandoned.is_err(), "the client gave up before the check finished");
    // Virtual time passes timer by timer, so the background run wakes at 1 s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The run completed on its own at 1 s; its result is served, not a stale timeout.
    let report = health.evaluate(Endpoint::Readyz, &Query::default()).await;
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.checks()[0].duration, Duration::from_secs(1));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn uncached_check_runs_per_request() {
    let health = HealthRegistry::builder().ping(false).build();
    let runs = Arc::new(AtomicUsize::new(0));
    health.register(Endpoints::READYZ, counting("db", &runs, Duration::ZERO)).unwrap();
    for _ in 0..3 {
        health.respond("/readyz", None).await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn readiness_gate_flips_once_and_stays_open() {
    let health = HealthRegistry::default();
    let gate = health.readiness_gate("started").unwrap();
    let mut changes = health.subscribe_changes();
    changes.borrow_and_update();

    let response = health.respond("/readyz", None).await;
    assert_eq!(response.status, 500);
    assert_eq!(
        response.body,
        "[+]ping ok\n[-]started failed: reason withheld\nreadyz check failed\n"
    );
    assert_eq!(
        health.respond("/readyz/started", None).await.body,
        "internal server error: not started\n"
    );
    // A gate guards readiness only.
    assert_eq!(health.respond("/livez", None).await.status, 200);
    assert_eq!(health.respond("/healthz", None).await.status, 200);

    assert!(!gate.is_open());
    assert!(gate.open());
    assert!(changes.has_changed().unwrap());
    assert!(!gate.open(), "second open is a no-op");
    assert!(gate.clone().is_open());
    for _ in 0..3 {
        assert_eq!(health.respond("/readyz", None).await.body, "ok");
    }
}

#[tokio::test(start_paused = true)]
async fn livez_grace_period_reports_ok_without_running_checks() {
    let health =
        HealthRegistry::builder().ping(false).livez_grace_period(Duration::from_secs(10)).build();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    health
        .register(
            Endpoints::LIVEZ | Endpoints::READYZ,
            Check::immediate("deadlock", move || {
                counted.fetch_add(1, Ordering::SeqCst);
                Err(CheckError::new("worker stuck"))
            }),
        )
        .unwrap();

    assert_eq!(health.respond("/livez", None).await.body, "ok");
    assert_eq!(health.respond("/livez/deadlock", None).await.body, "ok");
    assert_eq!(
        health.respond("/livez", Some("verbose")).await.body,
        "[+]deadlock ok\nlivez check passed\n"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    // Readiness has no grace.
    assert_eq!(health.respond("/readyz", None).await.status, 500);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    tokio::time::advance(Duration::from_secs(10)).await;
    let response = health.respond("/livez", None).await;
    assert_eq!(response.status, 500);
    assert_eq!(response.body, "[-]deadlock failed: reason withheld\nlivez check failed\n");
}

#[tokio::test]
async fn shutdown_fails_readyz_only() {
    let health = HealthRegistry::default();
    let shutdown = health.shutdown_check().unwrap();
    assert_eq!(health.respond("/readyz", None).await.body, "ok");
    assert!(shutdown.begin());
    assert!(!shutdown.begin());
    assert!(shutdown.is_shutting_down());
    let response = health.respond("/readyz", None).await;
    assert_eq!(response.status, 500);
    assert_eq!(
        response.body,
        "[+]ping ok\n[-]shutdown failed: reason withheld\nreadyz check failed\n"
    );
    assert_eq!(
        health.respond("/readyz/shutdown", None).await.body,
        "internal server error: process is shutting down\n"
    );
    assert_eq!(health.respond("/livez", None).await.status, 200);
    assert_eq!(health.respond("/healthz", None).await.status, 200);
}

#[tokio::test]
async fn healthz_runs_checks_of_both_livez_and_readyz() {
    let health = HealthRegistry::builder().ping(false).build();
    health.register(Endpoints::LIVEZ | Endpoints::READYZ, ok("both")).unwrap();
    health.register(Endpoints::READYZ, ok("ready-only")).unwrap();
    health.register(Endpoints::LIVEZ, ok("live-only")).unwrap();
    health.register(Endpoints::HEALTHZ, ok("legacy")).unwrap();
    assert_eq!(health.check_names(Endpoint::Healthz), ["both", "legacy"]);
    assert_eq!(
        health.respond("/healthz", Some("verbose")).await.body,
        "[+]both ok\n[+]legacy ok\nhealthz check passed\n"
    );
    assert_eq!(health.check_names(Endpoint::Livez), ["both", "live-only"]);
}

#[tokio::test]
async fn registration_rejects_duplicates_bad_names_and_empty_endpoints() {
    let health = HealthRegistry::default();
    assert_eq!(
        health.register(Endpoints::LIVEZ, ok("ping")),
        Err(RegisterError::Duplicate("ping".into()))
    );
    for name in ["", "/x", "x/", "a b", "a?b", "a#b", "a//b", "a\nb", "50%"] {
        assert_eq!(
            health.register(Endpoints::LIVEZ, ok(name)),
            Err(RegisterError::InvalidName(name.into())),
            "{name:?}"
        );
    }
    assert_eq!(
        health.register(Endpoints::NONE, ok("x")),
        Err(RegisterError::NoEndpoint("x".into()))
    );
    assert!(matches!(health.readiness_gate("ping"), Err(RegisterError::Duplicate(_))));
    health.shutdown_check().unwrap();
    assert!(health.shutdown_check().is_err());
}

#[tokio::test]
async fn panicking_check_fails_without_taking_the_request_down() {
    let health = HealthRegistry::builder().ping(false).build();
    health
        .register(Endpoints::READYZ, Check::new("boom", || async { panic!("check bug") }))
        .unwrap();
    health
        .register(Endpoints::READYZ, Check::immediate("boom-now", || panic!("check bug")))
        .unwrap();
    let response = health.respond("/readyz", None).await;
    assert_eq!(response.status, 500);
    assert_eq!(
        response.body,
        "[-]boom failed: reason withheld\n[-]boom-now failed: reason withheld\nreadyz check failed\n"
    );
    assert_eq!(
        health.respond("/readyz/boom", None).await.body,
        "internal server error: check panicked\n"
    );
}

#[tokio::test]
async fn metrics_record_status_failures_and_duration() {
    use prometheus_client::encoding::text::encode;

    let health = mixed();
    let mut registry = Registry::default();
    health.register_metrics(&mut registry);
    health.respond("/readyz", None).await;
    health.respond("/readyz/b", None).await;
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    for line in [
        "# TYPE switchyard_health_check_status gauge",
        "switchyard_health_check_status{endpoint=\"readyz\",check=\"a\"} 1",
        "switchyard_health_check_status{endpoint=\"readyz\",check=\"b\"} 0",
        "switchyard_health_check_failures_total{endpoint=\"readyz\",check=\"b\"} 2",
        // Created at registration, so a rate over it starts from zero.
        "switchyard_health_check_failures_total{endpoint=\"readyz\",check=\"a\"} 0",
        "switchyard_health_check_duration_seconds_count{check=\"a\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    // Only the endpoints a check is registered for have series.
    assert!(!text.contains("failures_total{endpoint=\"livez\""), "{text}");
}

/// Encodes the registry's metrics, as `/metrics` would.
fn metrics_text(health: &HealthRegistry) -> String {
    let mut registry = Registry::default();
    health.register_metrics(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

#[tokio::test]
async fn failures_of_a_shared_check_are_counted_per_endpoint() {
    let health = HealthRegistry::default();
    health.register(Endpoints::ALL, failing("disk", "disk full")).unwrap();
    health.respond("/livez", None).await;
    health.respond("/readyz", None).await;
    health.respond("/readyz/disk", None).await;
    let text = metrics_text(&health);
    for line in [
        "switchyard_health_check_failures_total{endpoint=\"livez\",check=\"disk\"} 1",
        "switchyard_health_check_failures_total{endpoint=\"readyz\",check=\"disk\"} 2",
        "switchyard_health_check_failures_total{endpoint=\"healthz\",check=\"disk\"} 0",
        "switchyard_health_check_failures_total{endpoint=\"livez\",check=\"ping\"} 0",
        "switchyard_health_check_status{endpoint=\"readyz\",check=\"disk\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("failures_total{check="), "a series without endpoint:\n{text}");
}

#[tokio::test(start_paused = true)]
async fn a_cached_failure_counts_once_under_the_endpoint_that_ran_it() {
    let health = HealthRegistry::builder().ping(false).build();
    health
        .register(
            Endpoints::LIVEZ | Endpoints::READYZ,
            failing("db", "down").cached(Duration::from_secs(10)),
        )
        .unwrap();
    assert_eq!(health.respond("/readyz", None).await.status, 500);
    // Served from the cache: the same failure, not a new run.
    assert_eq!(health.respond("/livez", None).await.status, 500);
    assert_eq!(health.respond("/healthz", None).await.status, 500);
    let text = metrics_text(&health);
    for line in [
        "switchyard_health_check_failures_total{endpoint=\"readyz\",check=\"db\"} 1",
        "switchyard_health_check_failures_total{endpoint=\"livez\",check=\"db\"} 0",
        "switchyard_health_check_failures_total{endpoint=\"healthz\",check=\"db\"} 0",
        "switchyard_health_check_status{endpoint=\"livez\",check=\"db\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(health.respond("/livez", None).await.status, 500);
    let text = metrics_text(&health);
    let line = "switchyard_health_check_failures_total{endpoint=\"livez\",check=\"db\"} 1";
    assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
}

#[tokio::test]
async fn metrics_prefix_is_configurable() {
    use prometheus_client::encoding::text::encode;

    let health = HealthRegistry::builder().metrics_prefix(None).build();
    let mut registry = Registry::default();
    health.register_metrics(registry.sub_registry_with_prefix("edge"));
    health.respond("/livez", None).await;
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("edge_health_check_status{endpoint=\"livez\",check=\"ping\"} 1"),
        "{text}"
    );
    assert!(!text.contains("switchyard_"), "{text}");
}

#[tokio::test]
async fn query_format_json_needs_exact_value() {
    let query = Query::parse("format=JSON");
    assert_eq!(query.format, Format::Text);
}

#[tokio::test]
async fn a_conditional_check_counts_only_while_its_toggle_is_on() {
    let health = HealthRegistry::builder().ping(false).build();
    let feature = health.toggle(false);
    health
        .register(Endpoints::READYZ, failing("geoip", "no database").when(feature.clone()))
        .unwrap();
    let mut changes = health.subscribe_changes();
    changes.borrow_and_update();

    let off = health.respond("/readyz", Some("verbose")).await;
    assert_eq!((off.status, &*off.body), (200, "[+]geoip inactive: ok\nreadyz check passed\n"));
    let json = health.respond("/readyz", Some("format=json")).await;
    assert!(json.body.contains(r#""status":"inactive""#), "{}", json.body);

    assert!(!feature.set(true));
    assert!(changes.has_changed().unwrap(), "flipping wakes the readiness pollers");
    let on = health.respond("/readyz", Some("verbose")).await;
    assert_eq!(
        (on.status, &*on.body),
        (500, "[-]geoip failed: reason withheld\nreadyz check failed\n")
    );

    feature.set(false);
    assert_eq!(health.respond("/readyz", None).await.status, 200);
}

#[tokio::test]
async fn a_passing_check_shows_its_warning_without_failing_the_endpoint() {
    let health = HealthRegistry::builder().ping(false).build();
    let stale = Arc::new(AtomicUsize::new(0));
    let seen = stale.clone();
    let check = ok("inventory").warn_when(move || match seen.load(Ordering::Relaxed) {
        0 => None,
        s => Some(format!("stale for {s}s")),
    });
    health.register(Endpoints::READYZ, check).unwrap();
    health.register(Endpoints::READYZ, ok("config")).unwrap();

    let fresh = health.respond("/readyz", Some("verbose")).await;
    assert_eq!(fresh.body, "[+]inventory ok\n[+]config ok\nreadyz check passed\n");

    stale.store(42, Ordering::Relaxed);
    let verbose = health.respond("/readyz", Some("verbose")).await;
    assert_eq!(
        (verbose.status, &*verbose.body),
        (
            200,
            "[+]inventory ok\n[+]config ok\nwarn: inventory: stale for 42s\nreadyz check passed\n"
        )
    );
    // The terse answer load balancers read is unchanged.
    let terse = health.respond("/readyz", None).await;
    assert_eq!((terse.status, &*terse.body), (200, "ok"));
    let json = health.respond("/readyz", Some("format=json")).await;
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(v["status"], "passed", "{v}");
    assert_eq!(v["warnings"], serde_json::json!(["inventory: stale for 42s"]), "{v}");
    assert_eq!(v["checks"][0]["warning"], "stale for 42s", "{v}");
    assert!(v["checks"][1].get("warning").is_none(), "{v}");
}

#[tokio::test]
async fn a_shard_gate_names_the_parts_not_loaded_and_the_loaded_ones() {
    let health = HealthRegistry::builder().ping(false).build();
    let services = health.shard_gate("services").unwrap();
    assert_eq!(health.respond("/readyz", None).await.status, 200, "nothing expected yet");

    services.expect(["video", "static", "api"]);
    services.loaded("static");
    let one = health.respond("/readyz/services", None).await;
    assert_eq!(one.status, 500);
    assert_eq!(one.body, "internal server error: not loaded: api, video (loaded: static)\n");
    assert_eq!(services.pending(), ["api", "video"]);

    // A reload that drops `api` and keeps the others keeps what was loaded.
    services.expect(["video", "static"]);
    services.loaded("video");
    assert_eq!(health.respond("/readyz", None).await.status, 200);

    // A part being replaced holds readiness again, by name.
    services.unloaded("video");
    let one = health.respond("/readyz/services", None).await;
    assert_eq!(one.body, "internal server error: not loaded: video (loaded: static)\n");
}

#[tokio::test]
async fn show_reasons_puts_the_error_on_the_aggregated_endpoints() {
    let health = HealthRegistry::builder().ping(false).show_reasons(true).build();
    health.register(Endpoints::READYZ, failing("b", "disk full")).unwrap();
    let text = health.respond("/readyz", None).await;
    assert_eq!(text.body, "[-]b failed: disk full\nreadyz check failed\n");
    let json = health.respond("/readyz", Some("format=json")).await;
    assert!(json.body.contains(r#""error":"disk full""#), "{}", json.body);
}

#[tokio::test]
async fn profiles_set_detail_and_dependency_timing() {
    use crate::config::{HealthConfig, HealthProfile};
    for (profile, shown) in
        [(HealthProfile::Dev, true), (HealthProfile::Test, true), (HealthProfile::Prod, false)]
    {
        let config = HealthConfig { profile, ..HealthConfig::default() };
        let health = config.registry_builder().ping(false).build();
        health.register(Endpoints::READYZ, failing("b", "disk full")).unwrap();
        let body = health.respond("/readyz", None).await.body;
        assert_eq!(body.contains("disk full"), shown, "{}: {body}", profile.as_str());
    }
    assert_eq!(
        HealthProfile::Test.dependency_timing(),
        (Duration::from_millis(500), Duration::from_millis(100))
    );
    let toml = "profile = \"dev\"\n";
    let parsed: HealthConfig = toml::from_str(toml).unwrap();
    assert_eq!(parsed.profile, HealthProfile::Dev);
    assert!(toml::from_str::<HealthConfig>("profile = \"staging\"\n").is_err());
}
