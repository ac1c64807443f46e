//! One-way switches behind two readyz checks: the startup gate and the shutdown signal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Holds a readyz check at "not started" until [`open`](Self::open) is called once; it never
/// closes again, like the apiserver's post-start hooks. Clones share the gate.
#[derive(Debug, Clone)]
pub struct ReadinessGate {
    name: Arc<str>,
    switch: Arc<Switch>,
}

/// Fails the `shutdown` readyz check from [`begin`](Self::begin) on, so load balancers stop
/// sending new requests while in-flight ones drain (k8s `--shutdown-delay-duration`).
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    switch: Arc<Switch>,
}

#[derive(Debug)]
struct Switch {
    on: AtomicBool,
    changed: watch::Sender<u64>,
}

impl Switch {
    fn new(changed: watch::Sender<u64>) -> Arc<Switch> {
        Arc::new(Switch { on: AtomicBool::new(false), changed })
    }

    /// Flips the switch; true only for the call that flipped it.
    fn flip(&self) -> bool {
        let flipped = !self.on.swap(true, Ordering::AcqRel);
        if flipped {
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
        flipped
    }

    fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }
}

impl ReadinessGate {
    pub(crate) fn new(name: &str, changed: watch::Sender<u64>) -> ReadinessGate {
        ReadinessGate { name: Arc::from(name), switch: Switch::new(changed) }
    }

    /// Opens the gate. Returns true for the call that opened it, false if it was open already.
    pub fn open(&self) -> bool {
        let opened = self.switch.flip();
        if opened {
            tracing::info!(check = &*self.name, "readiness gate opened");
        }
        opened
    }

    /// The name of the gate's readyz check.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the gate has been opened.
    pub fn is_open(&self) -> bool {
        self.switch.is_on()
    }
}

impl ShutdownSignal {
    pub(crate) fn new(changed: watch::Sender<u64>) -> ShutdownSignal {
        ShutdownSignal { switch: Switch::new(changed) }
    }

    /// Marks the process as shutting down. Returns true for the first call.
    pub fn begin(&self) -> bool {
        let began = self.switch.flip();
        if began {
            tracing::info!("shutdown begun: readyz now fails");
        }
        began
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.switch.is_on()
    }
}
