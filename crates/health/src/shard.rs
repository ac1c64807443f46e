//! A readiness gate over named parts: ready only once every expected part is loaded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::error::CheckError;

/// The handle of a [`HealthRegistry::shard_gate`](crate::HealthRegistry::shard_gate) check.
/// Clones share the gate.
///
/// ```
/// use switchyard_health::{HealthRegistry, Endpoint, Query};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = HealthRegistry::default();
/// let services = health.shard_gate("services").unwrap();
/// services.expect(["video", "static"]);
/// services.loaded("video");
/// let one = health.respond("/readyz/services", None).await;
/// assert_eq!(one.status, 500);
/// assert_eq!(one.body, "internal server error: not loaded: static (loaded: video)\n");
/// services.loaded("static");
/// assert_eq!(health.respond("/readyz", None).await.status, 200);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ShardGate {
    inner: Arc<Shards>,
}

#[derive(Debug)]
struct Shards {
    /// Every expected shard and whether it is loaded.
    state: Mutex<BTreeMap<String, bool>>,
    changed: watch::Sender<u64>,
}

impl ShardGate {
    pub(crate) fn new(changed: watch::Sender<u64>) -> ShardGate {
        ShardGate { inner: Arc::new(Shards { state: Mutex::default(), changed }) }
    }

    /// Sets the shards that must be loaded: new names start not loaded, names no longer
    /// given are forgotten, the others keep their state (a reload that adds a service holds
    /// readiness for that one only).
    pub fn expect<I, S>(&self, names: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut state = self.lock();
        let mut next = BTreeMap::new();
        for name in names {
            let name = name.into();
            let loaded = state.get(&name).copied().unwrap_or(false);
            next.insert(name, loaded);
        }
        *state = next;
        drop(state);
        self.notify();
    }

    /// Marks `name` loaded, adding it to the expected shards when it was not there.
    pub fn loaded(&self, name: &str) {
        self.lock().insert(name.to_owned(), true);
        self.notify();
    }

    /// Marks `name` not loaded again (its part is being replaced).
    pub fn unloaded(&self, name: &str) {
        if let Some(loaded) = self.lock().get_mut(name) {
            *loaded = false;
        }
        self.notify();
    }

    /// The shards still missing, in name order.
    pub fn pending(&self) -> Vec<String> {
        self.lock().iter().filter(|(_, loaded)| !**loaded).map(|(n, _)| n.clone()).collect()
    }

    pub(crate) fn check(&self) -> Result<(), CheckError> {
        let state = self.lock();
        if state.values().all(|loaded| *loaded) {
            return Ok(());
        }
        let list = |want: bool| {
            state.iter().filter(|(_, l)| **l == want).map(|(n, _)| n.as_str()).collect::<Vec<_>>()
        };
        let (pending, done) = (list(false), list(true));
        let mut message = format!("not loaded: {}", pending.join(", "));
        if !done.is_empty() {
            message.push_str(&format!(" (loaded: {})", done.join(", ")));
        }
        Err(CheckError::new(message))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify(&self) {
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}
