//! `switchyard replay run`: sends a replay file's decisions to one or two instances on a
//! fixed open-loop schedule.
//!
//! Request `i` is due at `start + i / rate` whether or not earlier ones were answered, and
//! its latency is measured from that due time, not from when it actually went out: a
//! stalled target then shows its stall in every request that was due meanwhile, instead of
//! hiding it by sending fewer (the "coordinated omission" of closed-loop load tools).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::http::HttpTarget;
use super::stats::{Difference, Quantiles, Report, TargetReport, TargetStats};
use crate::sampling::{Protocol, Sample};

/// Arguments of `replay run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The replay file (from `replay record`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// An instance to send to: `HOST:PORT` (its HTTP traffic listener), or
    /// `http=HOST:PORT,dns=HOST:PORT`. Twice to compare two instances.
    #[arg(long, value_name = "ADDR", required = true, num_args = 1)]
    pub target: Vec<String>,
    /// Requests per second, sent on schedule whatever the answers.
    #[arg(long, value_name = "N")]
    pub rate: f64,
    /// Run this long, going round the file as often as needed. Default: each sample once.
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// Time limit of each request, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub timeout_ms: u64,
    /// Requests in flight at most; a request due beyond it is not sent, and counted.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_in_flight: u64,
    /// Differences printed (all are counted).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub show: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Where one instance listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub name: String,
    pub http: Option<SocketAddr>,
    pub dns: Option<SocketAddr>,
}

impl Target {
    /// `HOST:PORT` (HTTP) or `http=HOST:PORT,dns=HOST:PORT` (either or both).
    pub(super) fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut t = Self { name: spec.to_owned(), http: None, dns: None };
        for part in spec.split(',').map(str::trim) {
            match part.split_once('=') {
                Some(("http", a)) => t.http = Some(super::file::socket_addr(a)?),
                Some(("dns", a)) => t.dns = Some(super::file::socket_addr(a)?),
                Some((k, _)) => bail!("target {spec:?}: {k:?} is not http or dns"),
                None => t.http = Some(super::file::socket_addr(part)?),
            }
        }
        Ok(t)
    }
}

/// What is shared by the request tasks.
struct Shared {
    targets: Vec<(Target, Option<HttpTarget>)>,
    timeout: Duration,
    dns_id: AtomicU16,
    in_flight: AtomicUsize,
    stats: Mutex<Vec<TargetStats>>,
    compared: Mutex<(u64, u64, Vec<Difference>)>,
    show: usize,
}

impl Shared {
    /// One target's answer to `sample`, `None` when it has no listener for its protocol.
    async fn ask(&self, index: usize, sample: &Sample) -> Option<Result<String, String>> {
        let (target, http) = &self.targets[index];
        match sample.protocol {
            Protocol::Http => {
                let http = http.as_ref()?;
                Some(match tokio::time::timeout(self.timeout, http.send(sample)).await {
                    Ok(r) => r,
                    Err(_) => Err("timed out".to_owned()),
                })
            }
            Protocol::Dns => {
                let addr = target.dns?;
                let id = self.dns_id.fetch_add(1, Ordering::Relaxed);
                Some(super::dns::send(addr, sample, id, self.timeout).await)
            }
        }
    }

    /// Sends `sample` to every target, due at `due`, and records what came back.
    async fn one(self: Arc<Self>, sample: Arc<Sample>, due: Instant) {
        let asks = (0..self.targets.len()).map(|i| {
            let (me, sample) = (self.clone(), sample.clone());
            async move {
                let answer = me.ask(i, &sample).await;
                (answer, due.elapsed())
            }
        });
        let answers = futures::future::join_all(asks).await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        {
            let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            for (s, (answer, latency)) in stats.iter_mut().zip(&answers) {
                match answer {
                    None => s.skipped += 1,
                    Some(Ok(_)) => s.latencies.push(*latency),
                    Some(Err(e)) => s.error(e.clone()),
                }
            }
        }
        if let [(Some(Ok(a)), _), (Some(Ok(b)), _)] = &answers[..] {
            let mut c = self.compared.lock().unwrap_or_else(|e| e.into_inner());
            c.0 += 1;
            if a != b {
                c.1 += 1;
                if c.2.len() < self.show {
                    let answers = [a.clone(), b.clone()];
                    c.2.push(Difference { sample: (*sample).clone(), answers });
                }
            }
        }
    }
}

pub(super) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 1_000_000.0) {
        bail!("--rate: {} is not a rate from above 0 to 1000000 per second", args.rate);
    }
    if args.target.len() > 2 {
        bail!("--target: one or two instances, not {}", args.target.len());
    }
    let samples = super::file::read_file(&args.file)?;
    if samples.is_empty() {
        bail!("{}: no samples", args.file.display());
    }
    let scheduled = match args.seconds {
        Some(s) if s.is_finite() && s > 0.0 => (args.rate * s).round().max(1.0) as u64,
        Some(s) => bail!("--seconds: {s} is not a positive number"),
        None => samples.len() as u64,
    };
    let targets = args
        .target
        .iter()
        .map(|spec| {
            let t = Target::parse(spec).with_context(|| format!("--target {spec}"))?;
            let http = t.http.map(HttpTarget::new);
            anyhow::Ok((t, http))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let shared = Arc::new(Shared {
        stats: Mutex::new(targets.iter().map(|_| TargetStats::default()).collect()),
        targets,
        timeout: Duration::from_millis(args.timeout_ms),
        dns_id: AtomicU16::new(rand::random()),
        in_flight: AtomicUsize::new(0),
        compared: Mutex::new((0, 0, Vec::new())),
        show: args.show,
    });
    let samples: Vec<Arc<Sample>> = samples.into_iter().map(Arc::new).collect();
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let max_in_flight = args.max_in_flight as usize;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let (mut sent, mut not_sent) = (0u64, 0u64);
    let mut last_sent = start;
    for i in 0..scheduled {
        let due = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        while tasks.try_join_next().is_some() {}
        if shared.in_flight.load(Ordering::Relaxed) >= max_in_flight {
            not_sent += 1;
            continue;
        }
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let sample = samples[(i % samples.len() as u64) as usize].clone();
        tasks.spawn(shared.clone().one(sample, due));
        sent += 1;
        last_sent = Instant::now();
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let span = last_sent.duration_since(start).as_secs_f64();
    // n sends span n - 1 periods.
    let send_rate = if sent > 1 && span > 0.0 { (sent - 1) as f64 / span } else { 0.0 };

    let shared = Arc::into_inner(shared).context("request tasks outlived the run")?;
    let stats = shared.stats.into_inner().unwrap_or_else(|e| e.into_inner());
    let (compared, differences, first_differences) =
        shared.compared.into_inner().unwrap_or_else(|e| e.into_inner());
    let report = Report {
        scheduled,
        sent,
        not_sent,
        rate: args.rate,
        elapsed_seconds: elapsed.as_secs_f64(),
        send_rate,
        targets: shared
            .targets
            .iter()
            .zip(stats)
            .map(|((t, _), mut s)| TargetReport {
                target: t.name.clone(),
                answered: s.latencies.len() as u64,
                errors: s.errors,
                skipped: s.skipped,
                error_examples: s.error_examples,
                latency_ms: Quantiles::of(&mut s.latencies),
            })
            .collect(),
        compared,
        differences,
        first_differences,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(if differences > 0 { ExitCode::from(3) } else { ExitCode::SUCCESS })
}
