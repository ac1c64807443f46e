//! The shape every inventory source shares, a versioned [`watch`] channel of inventories, and
//! the file source that fills it from the configuration's files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use switchyard_route::FleetSpec;
use tokio::sync::watch;

use crate::config::InventoryConfig;
use crate::files::InventoryError;
use crate::files::{InventoryFiles, load_deep_coverage_zones, load_files, load_fleet_file};
use crate::inventory::{Inventory, Origin};

/// The receiving end of a source: `None` until the first inventory is published, then the
/// latest one. Receivers see every change they care about; intermediate versions published
/// faster than they look may be skipped (only the newest matters).
pub type InventoryFeed = watch::Receiver<Option<Arc<Inventory>>>;

/// The sending end every source uses: stamps each inventory with the next version.
#[derive(Debug)]
pub struct Publisher {
    tx: watch::Sender<Option<Arc<Inventory>>>,
    published: AtomicU64,
}

impl Publisher {
    /// A publisher and the feed that follows it.
    pub fn new() -> (Self, InventoryFeed) {
        let (tx, rx) = watch::channel(None);
        (Self { tx, published: AtomicU64::new(0) }, rx)
    }

    /// Publishes `inventory` as the next version and returns that version.
    pub fn publish(&self, mut inventory: Inventory) -> u64 {
        let version = self.published.fetch_add(1, Ordering::Relaxed) + 1;
        inventory.version = version;
        self.tx.send_replace(Some(Arc::new(inventory)));
        version
    }

    /// The latest published inventory.
    pub fn current(&self) -> Option<Arc<Inventory>> {
        self.tx.borrow().clone()
    }

    /// Another receiver of the same feed.
    pub fn subscribe(&self) -> InventoryFeed {
        self.tx.subscribe()
    }
}

/// Reads the inventory the configuration names: the inline fleet or the fleet file, the
/// coverage zone file with the deep coverage zone file beside it, and the GeoIP database.
/// Loading and publishing are two steps, so a caller (a configuration reload) can refuse
/// everything when any part is wrong.
#[derive(Debug)]
pub struct FileSource {
    base_dir: PathBuf,
    publisher: Publisher,
}

impl FileSource {
    /// A source resolving relative file names against `base_dir` (the configuration file's
    /// folder), and its feed.
    pub fn new(base_dir: impl Into<PathBuf>) -> (Self, InventoryFeed) {
        let (publisher, feed) = Publisher::new();
        (Self { base_dir: base_dir.into(), publisher }, feed)
    }

    /// The folder relative file names resolve against.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Loads what `config` names without publishing it. Files are read off the async
    /// threads, the fleet file and the coverage zones in parallel (either may be large).
    pub async fn load(&self, config: &InventoryConfig) -> Result<Inventory, InventoryError> {
        let base = &self.base_dir;
        let files = InventoryFiles {
            coverage_zones: config.coverage_zones_file.as_ref().map(|f| base.join(f)),
            geoip: config.geoip_file.as_ref().map(|f| base.join(f)),
        };
        let fleet_path = config.fleet_file.as_ref().map(|f| base.join(f));
        let fleet = match fleet_path.clone() {
            None => {
                let inline = config.fleet.clone();
                tokio::task::spawn_blocking(move || Ok(inline))
            }
            Some(path) => tokio::task::spawn_blocking(move || {
                load_fleet_file(&path).map_err(InventoryError::FleetFile)
            }),
        };
        let deep_path = config.deep_coverage_zones_file.as_ref().map(|f| base.join(f));
        let zones = tokio::task::spawn_blocking(move || {
            let mut zones = load_files(FleetSpec::default(), &files)?;
            if let Some(path) = deep_path {
                let deep = load_deep_coverage_zones(&path)?;
                let coverage = Arc::unwrap_or_clone(zones.coverage);
                zones.coverage = Arc::new(coverage.with_deep(deep));
            }
            Ok::<_, InventoryError>(zones)
        });
        let (fleet, zones) = tokio::join!(fleet, zones);
        let zones = zones.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let fleet = fleet.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let origin = match zones.origin {
            Origin::Files { coverage_zones, geoip, .. } => {
                Origin::Files { fleet: fleet_path, coverage_zones, geoip }
            }
            other => other,
        };
        Ok(Inventory { spec: Arc::new(fleet), origin, ..zones })
    }

    /// Publishes a loaded inventory; returns its version.
    pub fn publish(&self, inventory: Inventory) -> u64 {
        self.publisher.publish(inventory)
    }

    /// The latest published inventory.
    pub fn current(&self) -> Option<Arc<Inventory>> {
        self.publisher.current()
    }

    /// Another receiver of this source's feed.
    pub fn subscribe(&self) -> InventoryFeed {
        self.publisher.subscribe()
    }
}
