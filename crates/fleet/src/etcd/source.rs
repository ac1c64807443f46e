//! The etcd source at run time: three tasks around one connection.
//!
//! - The watcher lists the prefix at a revision, then watches from the next one, with
//!   progress requests so a silent stream is noticed. Responses go into a bounded queue; a
//!   full queue slows the stream (etcd keeps the events), nothing is dropped. On a lost
//!   stream it resumes from the next revision, with exponential backoff and jitter; when
//!   etcd has compacted that revision away it lists again.
//! - The applier folds the queue into the [`State`], coalescing a burst into one publication
//!   (quiet for `debounce_ms`, at most `max_delay_ms` after its first change), publishes the
//!   inventory and the cluster view, and keeps the last-known-good cache file.
//! - The member task holds the membership lease and the `members/<instance>` key, and writes
//!   this instance's verdicts (only those that changed, in bounded transactions).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, ArcSwapOption};
use etcd_client::{
    Client, EventType, LeaseKeepAliveStream, LeaseKeeper, PutOptions, Txn, TxnOp, WatchOptions,
};
use rand::Rng;
use switchyard_route::{AdminState, CoverageZones, GeoIp};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::cache;
use super::client::{self, describe, is_compacted};
use super::config::{EtcdConfig, Password};
use super::keys::rel;
use super::metrics::{ErrorKind, EtcdMetrics, Resync, WriteKind};
use super::state::{Change, KeyProblem, State};
use crate::cluster::{ClusterView, Member, Verdict};
use crate::inventory::{Inventory, Origin};
use crate::source::{InventoryFeed, Publisher};

/// How often the watcher asks etcd for a progress notification; a stream that answers
/// nothing for three of these is taken as lost.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// Most operations in one transaction (etcd's default `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 128;
/// The member key is rewritten for a new inventory revision at most this often.
const MEMBER_REFRESH: Duration = Duration::from_secs(1);

/// What the watcher hands the applier.
#[derive(Debug)]
enum Batch {
    /// A full listing at a revision (first, after a compaction, or after etcd lost history).
    Snapshot { kvs: Vec<client::Listed>, revision: i64, why: Resync },
    /// Events of one watch response.
    Events(Vec<Change>),
}

/// Files the inventory takes from the local machine in etcd mode: the GeoIP database, and
/// coverage zones used while etcd has no `coverage` key.
#[derive(Debug, Clone, Default)]
pub struct LocalFiles {
    /// GeoIP database.
    pub geo: Option<GeoIp>,
    /// Coverage zones from `inventory.coverage_zones_file`, with the deep coverage zones of
    /// `inventory.deep_coverage_zones_file` (kept when etcd holds the coverage zones).
    pub coverage: Arc<CoverageZones>,
}

/// How the source stands with etcd.
#[derive(Debug, Clone, Default)]
pub struct SourceStatus {
    /// The watch is established.
    pub connected: bool,
    /// Last time etcd answered anything.
    pub last_contact: Option<Instant>,
    /// Store revision applied.
    pub revision: i64,
    /// Revision of the last inventory change applied.
    pub inventory_revision: i64,
    /// The inventory in force came from the cache file and etcd has not confirmed it yet.
    pub from_cache: bool,
    /// The membership lease held, if any.
    pub lease: Option<i64>,
}

impl SourceStatus {
    /// How long since etcd last answered (from start when it never did).
    pub fn silence(&self, started: Instant) -> Duration {
        self.last_contact.unwrap_or(started).elapsed()
    }
}

/// Why an operator write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// etcd could not be reached or refused the write.
    #[error("etcd write failed: {0}")]
    Etcd(String),
    /// Not connected yet.
    #[error("not connected to etcd")]
    NotConnected,
}

struct Inner {
    config: EtcdConfig,
    base_dir: PathBuf,
    password: Option<Password>,
    instance: String,
    prefix: String,
    started: Instant,
    client: ArcSwapOption<Client>,
    publisher: Publisher,
    local: LocalFiles,
    cluster: watch::Sender<Arc<ClusterView>>,
    status: watch::Sender<SourceStatus>,
    desired: watch::Sender<Arc<BTreeMap<Arc<str>, Verdict>>>,
    admin: ArcSwapOption<String>,
    problems: ArcSwap<Vec<KeyProblem>>,
    metrics: EtcdMetrics,
    stop: CancellationToken,
}

/// Handle to a running etcd source. Cheap to clone.
#[derive(Clone)]
pub struct EtcdSource {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EtcdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSource")
            .field("endpoints", &self.inner.config.endpoints)
            .field("prefix", &self.inner.prefix)
            .field("instance", &self.inner.instance)
            .finish()
    }
}

impl EtcdSource {
    /// Starts the source's tasks; they run until `stop`. `base_dir` resolves the relative
    /// file names of the configuration. The feed publishes the first inventory once etcd has
    /// been listed, or once `dial_timeout_ms` passed with a cache file to serve from.
    pub fn start(
        config: EtcdConfig,
        base_dir: PathBuf,
        password: Option<Password>,
        local: LocalFiles,
        metrics: EtcdMetrics,
        stop: CancellationToken,
    ) -> (Self, InventoryFeed) {
        let (publisher, feed) = Publisher::new();
        let instance = config.instance();
        let prefix = config.prefix.clone();
        let inner = Arc::new(Inner {
            base_dir,
            password,
            instance,
            prefix,
            started: Instant::now(),
            client: ArcSwapOption::empty(),
            publisher,
            local,
            cluster: watch::channel(Arc::new(ClusterView::default())).0,
            status: watch::channel(SourceStatus::default()).0,
            desired: watch::channel(Arc::new(BTreeMap::new())).0,
            admin: ArcSwapOption::empty(),
            problems: ArcSwap::from_pointee(Vec::new()),
            metrics,
            stop,
            config,
        });
        let (tx, rx) = mpsc::channel(inner.config.queue_capacity);
        tokio::spawn(watch_task(inner.clone(), tx));
        tokio::spawn(apply_task(inner.clone(), rx));
        tokio::spawn(member_task(inner.clone()));
        (Self { inner }, feed)
    }

    /// This instance's id among the members.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// The settings it runs with.
    pub fn config(&self) -> &EtcdConfig {
        &self.inner.config
    }

    /// The cluster view: members, verdicts, maintenance.
    pub fn cluster(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.inner.cluster.subscribe()
    }

    /// How the source stands with etcd now.
    pub fn status(&self) -> SourceStatus {
        self.inner.status.borrow().clone()
    }

    /// Follows the status.
    pub fn subscribe_status(&self) -> watch::Receiver<SourceStatus> {
        self.inner.status.subscribe()
    }

    /// The source's metrics.
    pub fn metrics(&self) -> &EtcdMetrics {
        &self.inner.metrics
    }

    /// When the source started (staleness counts from here until etcd first answers).
    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// Announces the admin listener's address in the member key (for `etcd status`).
    pub fn set_admin_address(&self, addr: String) {
        self.inner.admin.store(Some(Arc::new(addr)));
    }

    /// Keys whose value is not in force, and why.
    pub fn problems(&self) -> Arc<Vec<KeyProblem>> {
        self.inner.problems.load_full()
    }

    /// The verdicts this instance holds on the nodes it probes; the member task writes
    /// what changed and deletes what is no longer there.
    pub fn report_verdicts(&self, verdicts: Arc<BTreeMap<Arc<str>, Verdict>>) {
        self.inner.desired.send_replace(verdicts);
    }

    /// Writes a node's operator state to `admin/nodes/<id>`, so every instance applies it.
    /// Returns the revision of the write.
    pub async fn set_operator_state(
        &self,
        node: &str,
        state: AdminState,
    ) -> Result<i64, WriteError> {
        let mut client = (*self.inner.client.load_full().ok_or(WriteError::NotConnected)?).clone();
        let key = format!("{}{}", self.inner.prefix, rel::operator(node));
        let value = format!(r#"{{"admin":"{}"}}"#, state.as_str());
        match client.put(key, value, None).await {
            Ok(resp) => {
                self.inner.metrics.wrote(WriteKind::Operator, 1);
                Ok(resp.header().map_or(0, |h| h.revision()))
            }
            Err(e) => {
                self.inner.metrics.error(ErrorKind::Write);
                Err(WriteError::Etcd(describe(&e)))
            }
        }
    }

    /// Waits until the applier has applied `revision` (read-your-writes for an operator
    /// write); false after `timeout`.
    pub async fn wait_applied(&self, revision: i64, timeout: Duration) -> bool {
        let mut rx = self.inner.status.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|s| s.revision >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

fn set_status(inner: &Inner, f: impl FnOnce(&mut SourceStatus)) {
    inner.status.send_modify(f);
}

/// Records that etcd answered. Followers are woken only by the first contact: the watch's
/// progress answers come every few seconds, and waking the cluster and member tasks for each
/// would recompute a large fleet's views for nothing (they re-read `last_contact` on their
/// own ticks).
fn contact(inner: &Inner) {
    inner.status.send_if_modified(|s| s.last_contact.replace(Instant::now()).is_none());
}

/// Doubling delays with full jitter, from 100 ms up to 5 s.
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn new() -> Self {
        Self { next: Self::FIRST }
    }

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    async fn wait(&mut self, stop: &CancellationToken) {
        let jittered = self.next.mul_f64(rand::rng().random_range(0.5..1.0));
        self.next = (self.next * 2).min(Self::MAX);
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(jittered) => {}
        }
    }
}

/// The client, connecting first when there is none.
async fn client(inner: &Inner) -> Result<Client, String> {
    if let Some(c) = inner.client.load_full() {
        return Ok((*c).clone());
    }
    let c = client::connect(&inner.config, &inner.base_dir, inner.password.as_ref()).await?;
    inner.client.store(Some(Arc::new(c.clone())));
    Ok(c)
}

async fn watch_task(inner: Arc<Inner>, tx: mpsc::Sender<Batch>) {
    let mut backoff = Backoff::new();
    // The revision to resume from; `None` means list first.
    let mut resume: Option<i64> = None;
    let mut why = Resync::Start;
    let stop = inner.stop.clone();
    while !stop.is_cancelled() {
        let mut c = match client(&inner).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "etcd: cannot connect");
                inner.metrics.error(ErrorKind::Connect);
                disconnected(&inner);
                backoff.wait(&stop).await;
                continue;
            }
        };
        let start = match resume {
            Some(r) => r,
            None => {
                let listed = tokio::select! {
                    _ = stop.cancelled() => return,
                    l = client::list(&mut c, &inner.prefix) => l,
                };
                match listed {
                    Ok((kvs, revision)) => {
                        inner.metrics.resync(why);
                        contact(&inner);
                        tracing::info!(keys = kvs.len(), revision, reason = ?why, "etcd: listed the prefix");
                        if send(&inner, &tx, Batch::Snapshot { kvs, revision, why }).await.is_err()
                        {
                            return;
                        }
                        revision + 1
                    }
                    Err(e) => {
                        tracing::warn!(error = %describe(&e), "etcd: listing failed");
                        inner.metrics.error(ErrorKind::Connect);
                        disconnected(&inner);
                        backoff.wait(&stop).await;
                        continue;
                    }
                }
            }
        };
        resume = Some(start);
        let opts =
            WatchOptions::new().with_prefix().with_start_revision(start).with_progress_notify();
        let mut stream = match c.watch(inner.prefix.clone(), Some(opts)).await {
            Ok(s) => s,
            Err(e) => {
                if is_compacted(&e) {
                    resume = None;
                    why = Resync::Compacted;
                    continue;
                }
                tracing::warn!(error = %describe(&e), "etcd: watch failed");
                inner.metrics.error(ErrorKind::Watch);
                disconnected(&inner);
                backoff.wait(&stop).await;
                continue;
            }
        };
        set_status(&inner, |s| s.connected = true);
        inner.metrics.connected(true);
        let mut progress = tokio::time::interval(PROGRESS_EVERY);
        progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => return,
                _ = progress.tick() => {
                    if last_heard.elapsed() > PROGRESS_EVERY * 3 {
                        tracing::warn!("etcd: the watch stream went silent; reconnecting");
                        inner.metrics.error(ErrorKind::Watch);
                        break;
                    }
                    if stream.request_progress().await.is_err() {
                        break;
                    }
                    continue;
                }
                m = stream.message() => m,
            };
            let resp = match msg {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %describe(&e), "etcd: watch stream lost");
                    inner.metrics.error(ErrorKind::Watch);
                    break;
                }
            };
            last_heard = Instant::now();
            contact(&inner);
            backoff.reset();
            if resp.canceled() {
                if resp.compact_revision() > 0 {
                    tracing::warn!(
                        compacted = resp.compact_revision(),
                        resume = start,
                        "etcd: history compacted past the watch; listing again"
                    );
                    why = Resync::Compacted;
                } else {
                    tracing::warn!(
                        reason = resp.cancel_reason(),
                        "etcd: watch cancelled; listing again"
                    );
                    why = Resync::Reconnect;
                }
                resume = None;
                break;
            }
            let mut changes = Vec::with_capacity(resp.events().len());
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let Some(rel) = kv.key().strip_prefix(inner.prefix.as_bytes()) else { continue };
                let value = match ev.event_type() {
                    EventType::Put => Some(kv.value().to_vec()),
                    EventType::Delete => None,
                };
                changes.push(Change {
                    key: String::from_utf8_lossy(rel).into_owned(),
                    value,
                    revision: kv.mod_revision(),
                });
            }
            if let Some(last) = changes.iter().map(|c| c.revision).max() {
                resume = Some(last + 1);
                if send(&inner, &tx, Batch::Events(changes)).await.is_err() {
                    return;
                }
                // Time spent waiting for room in the queue is not silence of the stream.
                last_heard = Instant::now();
            }
        }
        if stop.is_cancelled() {
            return;
        }
        disconnected(&inner);
        backoff.wait(&stop).await;
    }
}

fn disconnected(inner: &Inner) {
    set_status(inner, |s| s.connected = false);
    inner.metrics.connected(false);
}

async fn send(inner: &Inner, tx: &mpsc::Sender<Batch>, batch: Batch) -> Result<(), ()> {
    let r = tx.send(batch).await.map_err(|_| ());
    inner.metrics.queue_depth(tx.max_capacity() - tx.capacity());
    r
}

async fn apply_task(inner: Arc<Inner>, mut rx: mpsc::Receiver<Batch>) {
    let mut state = State::new(&inner.prefix, &inner.instance);
    let cache_file = inner.config.cache_file.as_ref().map(|f| inner.base_dir.join(f));
    let mut from_cache = false;
    if let Some(path) = &cache_file {
        // Serve from the cache only when etcd does not answer in time.
        let first = tokio::select! {
            _ = inner.stop.cancelled() => return,
            b = rx.recv() => Some(b),
            _ = tokio::time::sleep(inner.config.dial_timeout()) => None,
        };
        match first {
            Some(Some(batch)) => fold(&inner, &mut state, batch, &mut from_cache),
            Some(None) => return,
            None => match cache::read(path, &inner.prefix) {
                Ok(Some((revision, kvs))) => {
                    tracing::warn!(
                        file = %path.display(),
                        revision,
                        keys = kvs.len(),
                        "etcd unreachable at start: serving the inventory from the cache file"
                    );
                    state.apply_snapshot(kvs, revision);
                    from_cache = true;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(file = %path.display(), "etcd cache file not used: {e}"),
            },
        }
        publish(&inner, &mut state, from_cache, cache_file.as_deref());
    }
    let debounce = Duration::from_millis(inner.config.debounce_ms);
    let max_delay = Duration::from_millis(inner.config.max_delay_ms);
    loop {
        let batch = tokio::select! {
            _ = inner.stop.cancelled() => return,
            b = rx.recv() => match b { Some(b) => b, None => return },
        };
        let cap = tokio::time::Instant::now() + max_delay;
        fold(&inner, &mut state, batch, &mut from_cache);
        // Coalesce the burst: wait until quiet, but not past the cap.
        loop {
            let until = (tokio::time::Instant::now() + debounce).min(cap);
            tokio::select! {
                _ = inner.stop.cancelled() => return,
                b = rx.recv() => match b {
                    Some(b) => fold(&inner, &mut state, b, &mut from_cache),
                    None => return,
                },
                _ = tokio::time::sleep_until(until) => break,
            }
            if tokio::time::Instant::now() >= cap {
                break;
            }
        }
        inner.metrics.queue_depth(rx.len());
        publish(&inner, &mut state, from_cache, cache_file.as_deref());
    }
}

fn fold(inner: &Inner, state: &mut State, batch: Batch, from_cache: &mut bool) {
    match batch {
        Batch::Snapshot { kvs, revision, why } => {
            let changed = state.apply_snapshot(kvs, revision);
            *from_cache = false;
            tracing::debug!(changed, revision, reason = ?why, "etcd: listing applied");
        }
        Batch::Events(changes) => {
            let mut applied = 0;
            for c in changes {
                applied += u64::from(state.apply(c));
            }
            inner.metrics.events(applied);
        }
    }
}

fn publish(inner: &Inner, state: &mut State, from_cache: bool, cache_file: Option<&Path>) {
    // The members first: a consumer woken by a new inventory then finds the membership that
    // came with it, and computes its share of the probing from both.
    if state.cluster_dirty() {
        let view = state.cluster_view();
        inner.metrics.members(view.members.len());
        inner.cluster.send_replace(Arc::new(view));
    }
    if state.inventory_dirty() || inner.publisher.current().is_none() {
        let assembled = state.assemble();
        // Deep coverage zones stay local (`deep_coverage_zones_file`), whichever source the
        // coverage zones come from.
        let coverage = if assembled.coverage.zones().is_empty() {
            inner.local.coverage.clone()
        } else if inner.local.coverage.deep().is_some() {
            Arc::new((*assembled.coverage).clone().with_deep_of(&inner.local.coverage))
        } else {
            assembled.coverage
        };
        let origin = if from_cache {
            Origin::EtcdCache {
                file: cache_file.map(Path::to_path_buf).unwrap_or_default(),
                revision: state.revision(),
            }
        } else {
            Origin::Etcd {
                endpoints: inner.config.endpoints.clone(),
                prefix: inner.prefix.clone(),
                revision: state.revision(),
            }
        };
        let inventory = Inventory {
            spec: Arc::new(assembled.spec),
            coverage,
            geo: inner.local.geo.clone(),
            operator: Arc::new(assembled.operator),
            origin,
            ..Inventory::default()
        };
        let version = inner.publisher.publish(inventory);
        inner.metrics.published();
        tracing::info!(version, revision = state.revision(), "etcd: inventory published");
        if let (Some(path), false) = (cache_file, from_cache) {
            let (revision, kvs) = state.inventory_keys();
            let (path, prefix) = (path.to_path_buf(), inner.prefix.clone());
            tokio::task::spawn_blocking(move || {
                if let Err(e) = cache::write(&path, &prefix, revision, &kvs) {
                    tracing::warn!(file = %path.display(), "etcd cache file not written: {e}");
                }
            });
        }
    }
    let problems = state.problems();
    inner.metrics.invalid_keys(problems.len());
    if problems.as_slice() != inner.problems.load().as_slice() {
        for p in &problems {
            tracing::warn!(key = %p.key, problem = %p.problem, "etcd: value not in force");
        }
        inner.problems.store(Arc::new(problems));
    }
    inner.metrics.revision(state.revision());
    let (revision, inventory_revision) = (state.revision(), state.inventory_revision());
    set_status(inner, |s| {
        s.revision = revision;
        s.inventory_revision = inventory_revision;
        s.from_cache = from_cache;
    });
}

/// The membership lease, kept alive by a task of its own: no write, however long a large
/// fleet's verdicts take, delays a keep-alive. Dropping it stops that task.
struct Lease {
    id: i64,
    /// Cancelled once the lease is gone: etcd said so, or no keep-alive got through for a
    /// whole TTL (by then etcd has let it expire).
    lost: CancellationToken,
    keeper: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

async fn member_task(inner: Arc<Inner>) {
    let ttl = Duration::from_secs(inner.config.member_ttl_seconds);
    // Retries writes that failed; keep-alives have their own task.
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut desired = inner.desired.subscribe();
    let mut status = inner.status.subscribe();
    let mut lease: Option<Lease> = None;
    // What was written for each node, as `Verdict::written_form`.
    let mut written: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    let mut member_revision = -1;
    let mut member_written_at = Instant::now() - MEMBER_REFRESH;
    let started_unix_ms =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    loop {
        let lost = lease.as_ref().map(|l| l.lost.clone());
        tokio::select! {
            _ = inner.stop.cancelled() => break,
            _ = tick.tick() => {}
            r = desired.changed() => if r.is_err() { break },
            r = status.changed() => if r.is_err() { break },
            _ = async {
                match &lost {
                    Some(l) => l.cancelled().await,
                    None => std::future::pending().await,
                }
            } => {}
        }
        if let Some(l) = lease.take_if(|l| l.lost.is_cancelled()) {
            tracing::warn!(lease = l.id, "etcd: membership lease lost; joining again");
            inner.metrics.error(ErrorKind::Lease);
            inner.metrics.lease_held(false);
            set_status(&inner, |s| s.lease = None);
        }
        let Ok(mut c) = client(&inner).await else { continue };
        if lease.is_none() {
            match grant(&inner, &mut c, ttl).await {
                Ok(l) => {
                    tracing::info!(lease = l.id, ttl = ttl.as_secs(), instance = %inner.instance, "etcd: membership lease granted");
                    set_status(&inner, |s| s.lease = Some(l.id));
                    inner.metrics.lease_held(true);
                    lease = Some(l);
                    // Keys of a previous lease are gone with it.
                    written.clear();
                    member_revision = -1;
                }
                Err(e) => {
                    inner.metrics.error(ErrorKind::Lease);
                    tracing::debug!(error = %describe(&e), "etcd: lease grant failed");
                    continue;
                }
            }
        }
        let Some(l) = lease.as_ref() else { continue };
        let (lease_id, lost) = (l.id, l.lost.clone());
        let applied = status.borrow().inventory_revision;
        if applied != member_revision && member_written_at.elapsed() >= MEMBER_REFRESH {
            let member = Member {
                admin: inner.admin.load_full().map(|a| (*a).clone()),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                started_unix_ms,
                applied_revision: applied,
            };
            let key = format!("{}{}", inner.prefix, rel::member(&inner.instance));
            let value = serde_json::to_string(&member).unwrap_or_default();
            match c.put(key, value, Some(PutOptions::new().with_lease(lease_id))).await {
                Ok(_) => {
                    inner.metrics.wrote(WriteKind::Member, 1);
                    member_revision = applied;
                    member_written_at = Instant::now();
                }
                Err(e) => {
                    inner.metrics.error(ErrorKind::Write);
                    tracing::debug!(error = %describe(&e), "etcd: member key not written");
                }
            }
        }
        let want = desired.borrow_and_update().clone();
        sync_verdicts(&inner, &mut c, lease_id, &lost, &want, &mut written).await;
    }
    // Leaving: revoking the lease deletes the member key and every verdict at once, so the
    // others take over this instance's share now rather than after the TTL.
    if let (Some(l), Some(c)) = (lease, inner.client.load_full()) {
        let mut c = (*c).clone();
        let _ = tokio::time::timeout(Duration::from_secs(1), c.lease_revoke(l.id)).await;
        tracing::info!(lease = l.id, "etcd: membership lease revoked");
    }
    inner.metrics.lease_held(false);
}

async fn grant(
    inner: &Arc<Inner>,
    c: &mut Client,
    ttl: Duration,
) -> Result<Lease, etcd_client::Error> {
    let granted = c.lease_grant(ttl.as_secs() as i64, None).await?;
    let stream = c.lease_keep_alive(granted.id()).await?;
    let lost = CancellationToken::new();
    let keeper =
        tokio::spawn(keep_lease(inner.clone(), granted.id(), ttl, Some(stream), lost.clone()));
    Ok(Lease { id: granted.id(), lost, keeper })
}

/// Keeps lease `id` alive every third of its `ttl` until etcd says it is gone or no
/// keep-alive got through for a whole TTL; then cancels `lost`. A failed round trip is
/// retried on a fresh stream soon after, not a third of a TTL later.
async fn keep_lease(
    inner: Arc<Inner>,
    id: i64,
    ttl: Duration,
    mut stream: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
    lost: CancellationToken,
) {
    let timeout = inner.config.request_timeout();
    let mut last_ok = Instant::now();
    loop {
        let alive = match stream.as_mut() {
            Some((keeper, responses)) => keep_alive(keeper, responses, timeout).await,
            None => None,
        };
        match alive {
            Some(true) => {
                last_ok = Instant::now();
                tokio::time::sleep(ttl / 3).await;
            }
            Some(false) => break,
            None => {
                if last_ok.elapsed() >= ttl {
                    break;
                }
                tokio::time::sleep(ttl / 10).await;
                stream = match client(&inner).await {
                    Ok(mut c) => c.lease_keep_alive(id).await.ok(),
                    Err(_) => None,
                };
            }
        }
    }
    lost.cancel();
}

/// One keep-alive round trip: whether the lease lives on, `None` when etcd did not answer.
async fn keep_alive(
    keeper: &mut LeaseKeeper,
    responses: &mut LeaseKeepAliveStream,
    timeout: Duration,
) -> Option<bool> {
    keeper.keep_alive().await.ok()?;
    match tokio::time::timeout(timeout, responses.message()).await {
        Ok(Ok(Some(r))) => Some(r.ttl() > 0),
        _ => None,
    }
}

/// Writes what changed between `written` and `want`: puts bound to the lease, deletes for
/// nodes no longer judged here, in transactions of at most [`MAX_TXN_OPS`].
async fn sync_verdicts(
    inner: &Inner,
    c: &mut Client,
    lease: i64,
    lost: &CancellationToken,
    want: &BTreeMap<Arc<str>, Verdict>,
    written: &mut BTreeMap<Arc<str>, u64>,
) {
    let mut ops: Vec<(Arc<str>, Option<Verdict>)> = Vec::new();
    for (node, v) in want {
        if written.get(node) != Some(&v.written_form()) {
            ops.push((node.clone(), Some(v.clone())));
        }
    }
    for node in written.keys() {
        if !want.contains_key(node) {
            ops.push((node.clone(), None));
        }
    }
    for chunk in ops.chunks(MAX_TXN_OPS) {
        // Keys put under a lease that is gone would be refused; the next lease writes all.
        if lost.is_cancelled() {
            return;
        }
        let txn_ops: Vec<TxnOp> = chunk
            .iter()
            .map(|(node, v)| {
                let key = format!("{}{}", inner.prefix, rel::verdict(node, &inner.instance));
                match v {
                    Some(v) => TxnOp::put(
                        key,
                        serde_json::to_string(v).unwrap_or_default(),
                        Some(PutOptions::new().with_lease(lease)),
                    ),
                    None => TxnOp::delete(key, None),
                }
            })
            .collect();
        match c.txn(Txn::new().and_then(txn_ops)).await {
            Ok(_) => {
                inner.metrics.wrote(WriteKind::Verdict, chunk.len() as u64);
                for (node, v) in chunk {
                    match v {
                        Some(v) => {
                            written.insert(node.clone(), v.written_form());
                        }
                        None => {
                            written.remove(node);
                        }
                    }
                }
            }
            Err(e) => {
                inner.metrics.error(ErrorKind::Write);
                tracing::debug!(error = %describe(&e), "etcd: verdicts not written, retrying later");
                return;
            }
        }
    }
}
