//! What a replay measured: per target the latency of every answer (from its scheduled send
//! time) and the errors, and between two targets the answers that differ.

use std::time::Duration;

use serde::Serialize;

use crate::sampling::Sample;

/// Latency quantiles of one target, milliseconds.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(super) struct Quantiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl Quantiles {
    /// Nearest-rank quantiles of `samples` (sorted here).
    pub(super) fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let at = |q: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1].as_secs_f64() * 1000.0
        };
        Self { p50: at(0.5), p90: at(0.9), p99: at(0.99), p99_9: at(0.999), max: at(1.0) }
    }
}

/// What one target did.
#[derive(Debug, Default)]
pub(super) struct TargetStats {
    /// Answer latencies, measured from the scheduled send time.
    pub latencies: Vec<Duration>,
    pub errors: u64,
    /// The first few error messages.
    pub error_examples: Vec<String>,
    /// Samples of a protocol this target was not given an address for.
    pub skipped: u64,
}

/// Errors kept word for word per target.
const ERROR_EXAMPLES: usize = 3;

impl TargetStats {
    pub(super) fn error(&mut self, message: String) {
        self.errors += 1;
        if self.error_examples.len() < ERROR_EXAMPLES {
            self.error_examples.push(message);
        }
    }
}

/// One sample both targets answered differently.
#[derive(Debug, Serialize)]
pub(super) struct Difference {
    pub sample: Sample,
    pub answers: [String; 2],
}

/// The report of `replay run --json`.
#[derive(Debug, Serialize)]
pub(super) struct Report {
    /// Requests the schedule held (`rate` x `seconds`, or one per sample).
    pub scheduled: u64,
    /// Requests sent (the schedule less those over `--max-in-flight`).
    pub sent: u64,
    /// Scheduled but not sent: too many requests were in flight.
    pub not_sent: u64,
    /// The rate asked for, per second.
    pub rate: f64,
    /// From the first scheduled send to the last answer, seconds.
    pub elapsed_seconds: f64,
    /// Sends per second achieved over the schedule's span.
    pub send_rate: f64,
    pub targets: Vec<TargetReport>,
    /// Samples both targets answered (two targets only).
    pub compared: u64,
    /// Of those, how many got different answers.
    pub differences: u64,
    /// The first differences.
    pub first_differences: Vec<Difference>,
}

/// One target in the report.
#[derive(Debug, Serialize)]
pub(super) struct TargetReport {
    pub target: String,
    pub answered: u64,
    pub errors: u64,
    pub skipped: u64,
    pub error_examples: Vec<String>,
    pub latency_ms: Quantiles,
}

impl Report {
    /// The report as text, for people.
    pub(super) fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "sent {} of {} scheduled at {}/s in {:.2} s ({:.1}/s achieved){}",
            self.sent,
            self.scheduled,
            self.rate,
            self.elapsed_seconds,
            self.send_rate,
            if self.not_sent > 0 {
                format!("; {} not sent: too many in flight", self.not_sent)
            } else {
                String::new()
            }
        );
        for t in &self.targets {
            let q = &t.latency_ms;
            let _ = writeln!(
                s,
                "{}: {} answered, {} errors, {} skipped\n  latency ms: p50 {:.3}  p90 {:.3}  \
                 p99 {:.3}  p99.9 {:.3}  max {:.3}",
                t.target, t.answered, t.errors, t.skipped, q.p50, q.p90, q.p99, q.p99_9, q.max
            );
            for e in &t.error_examples {
                let _ = writeln!(s, "  error: {e}");
            }
        }
        if self.targets.len() == 2 {
            let _ = writeln!(s, "differences: {} of {} compared", self.differences, self.compared);
            for d in &self.first_differences {
                let line = serde_json::to_string(&d.sample).unwrap_or_default();
                let _ = writeln!(s, "  {line}\n    {}\n    {}", d.answers[0], d.answers[1]);
            }
        }
        s
    }
}
