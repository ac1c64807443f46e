//! The one task that installs every new inventory, whatever its source: it builds the routing
//! table from it and hands the probe engine the targets it names, then says which version it
//! installed so a caller (a reload, the start-up) can wait for it.
//!
//! Inventories arrive on the source's feed; the probe configuration arrives on its own
//! channel (a reload changes it without changing the inventory), and so does this instance's
//! share of the probing in distributed mode (the nodes it probes; all of them otherwise).
//! Bursts are coalesced: the task always installs the newest of each, never a queue of stale
//! ones.

use std::collections::BTreeSet;
use std::sync::Arc;

use switchyard_fleet::{Inventory, InventoryFeed};
use switchyard_probe::{EngineHandle, ProbeConfig};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::routing::Routing;

/// The outcome of the latest install.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    /// Version of the inventory installed last (0: none yet).
    pub version: u64,
    /// Why that inventory could not be installed; the previous table stays in force.
    pub error: Option<String>,
}

/// The nodes this instance probes: `None` for every node of the inventory.
pub type Share = Option<Arc<BTreeSet<String>>>;

/// Handle to the installer task.
#[derive(Debug, Clone)]
pub struct Installer {
    probe: Arc<watch::Sender<Arc<ProbeConfig>>>,
    /// `None` until the share is known.
    share: Arc<watch::Sender<Option<Share>>>,
    installed: watch::Receiver<Installed>,
}

impl Installer {
    /// Starts the task: it installs whatever `feed` holds now and every later inventory,
    /// until `stop`. With `share_known` false (distributed mode) the probe engine gets no
    /// targets, and no inventory counts as installed, until [`Installer::set_share`] says
    /// which nodes are this instance's: an instance joining a large cluster does not probe
    /// the whole fleet for the moment it takes to read the membership.
    pub fn spawn(
        mut feed: InventoryFeed,
        routing: Arc<Routing>,
        engine: EngineHandle,
        probe: Arc<ProbeConfig>,
        share_known: bool,
        stop: CancellationToken,
    ) -> Self {
        let (probe_tx, mut probe_rx) = watch::channel(probe);
        let (share_tx, mut share_rx) = watch::channel::<Option<Share>>(share_known.then_some(None));
        let (installed_tx, installed) = watch::channel(Installed::default());
        feed.mark_changed();
        tokio::spawn(async move {
            let mut current: Option<Arc<Inventory>> = None;
            // The outcome of the newest inventory, told once its targets are applied too.
            let mut outcome: Option<Installed> = None;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    changed = feed.changed() => if changed.is_err() { return },
                    changed = probe_rx.changed() => if changed.is_err() { return },
                    changed = share_rx.changed() => if changed.is_err() { return },
                }
                let latest = feed.borrow_and_update().clone();
                let probe = probe_rx.borrow_and_update().clone();
                let share = share_rx.borrow_and_update().clone();
                let Some(inventory) = latest else { continue };
                let is_new = outcome.as_ref().is_none_or(|o| o.version != inventory.version);
                if is_new {
                    let mut error = None;
                    match routing.install(inventory.clone()) {
                        Ok(()) => current = Some(inventory.clone()),
                        Err(e) => {
                            tracing::error!(
                                version = inventory.version,
                                "inventory not installed, the previous one stays in force: {e}"
                            );
                            error = Some(e.to_string());
                        }
                    }
                    outcome = Some(Installed { version: inventory.version, error });
                }
                let Some(share) = share else { continue };
                let targets = current.as_ref().map(|installed| {
                    let mut targets = probe.targets(&installed.spec);
                    if let Some(share) = &share {
                        targets.retain(|t| share.contains(&*t.id));
                    }
                    targets
                });
                if let Some(targets) = targets
                    && let Err(e) = engine.replace_all(targets).await
                {
                    // Only when the engine has stopped, which happens at shutdown.
                    tracing::warn!("probe targets not updated: {e}");
                }
                if let Some(o) = &outcome {
                    installed_tx.send_if_modified(|i| {
                        let changed = i != o;
                        *i = o.clone();
                        changed
                    });
                }
            }
        });
        Self { probe: Arc::new(probe_tx), share: Arc::new(share_tx), installed }
    }

    /// Probes only the nodes of `share` (`None`: every node); unchanged nodes keep their
    /// schedule and health.
    pub fn set_share(&self, share: Share) {
        self.share.send_if_modified(|old| {
            let changed = old.as_ref() != Some(&share);
            *old = Some(share);
            changed
        });
    }

    /// Replaces the probe configuration; the targets are derived again from the installed
    /// inventory (unchanged nodes keep their schedule and health).
    pub fn set_probe_config(&self, probe: Arc<ProbeConfig>) {
        self.probe.send_replace(probe);
    }

    /// Waits until inventory `version` or a later one has been handled, and says whether
    /// it was installed. `Err` also when the task has stopped.
    pub async fn installed(&self, version: u64) -> Result<(), String> {
        let mut rx = self.installed.clone();
        let done = rx.wait_for(|i| i.version >= version).await;
        match done {
            Ok(i) if i.version == version => i.error.clone().map_or(Ok(()), Err),
            Ok(_) => Ok(()),
            Err(_) => Err("the installer has stopped".to_string()),
        }
    }
}
