//! What every clone of a client and every target shares: the sockets, the table of
//! outstanding requests, the global in-flight limit and the drop counters.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::error::Error;
use super::stats::Counters;
use super::transport::{Endpoint, Pending};

pub(crate) struct Inner {
    pub(crate) pending: Arc<Pending>,
    pub(crate) v4: Vec<Endpoint>,
    pub(crate) v6: Option<Endpoint>,
    pub(crate) global: Semaphore,
    pub(crate) stats: Counters,
}

impl Inner {
    /// The socket requests to `addr` leave from: always the same one for one address.
    pub(crate) fn endpoint_for(&self, addr: &SocketAddr) -> Result<&Endpoint, Error> {
        match addr {
            SocketAddr::V4(a) => {
                let v4 = &self.v4;
                let k = if v4.len() == 1 {
                    0
                } else {
                    let h = u32::from(*a.ip()).wrapping_mul(0x9e37_79b9) ^ u32::from(a.port());
                    h as usize % v4.len()
                };
                Ok(&v4[k])
            }
            SocketAddr::V6(_) => {
                self.v6.as_ref().ok_or(Error::InvalidRequest("IPv6 is not available on this host"))
            }
        }
    }
}
