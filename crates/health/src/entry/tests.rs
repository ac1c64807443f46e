use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::{Check, CheckError, Endpoints, HealthRegistry};

/// Records every event as `LEVEL message key=value ...`.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Capture {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let level = *event.metadata().level();
        if level <= Level::INFO {
            let mut line = Line(level.to_string());
            event.record(&mut line);
            self.0.lock().unwrap().push(line.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(start_paused = true)]
async fn failures_are_logged_with_the_reason_at_most_once_per_interval() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let health =
        HealthRegistry::builder().ping(false).failure_log_interval(Duration::from_secs(30)).build();
    let healthy = Arc::new(AtomicBool::new(false));
    let state = Arc::clone(&healthy);
    health
        .register(
            Endpoints::READYZ,
            Check::immediate("db", move || {
                if state.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err(CheckError::new("connection refused"))
                }
            }),
        )
        .unwrap();

    for _ in 0..5 {
        health.respond("/readyz", None).await;
        tokio::time::advance(Duration::from_secs(2)).await;
    }
    assert_eq!(
        capture.lines(),
        ["WARN health check failed check=\"db\" error=connection refused suppressed=0"]
    );

    tokio::time::advance(Duration::from_secs(20)).await;
    health.respond("/readyz", None).await;
    healthy.store(true, Ordering::SeqCst);
    health.respond("/readyz", None).await;
    health.respond("/readyz", None).await;
    assert_eq!(
        capture.lines()[1..],
        [
            "WARN health check failed check=\"db\" error=connection refused suppressed=4",
            "INFO health check recovered check=\"db\"",
        ]
    );
}
