//! A fast SNMP v1/v2c/v3 client for tokio, built on a sans-IO codec.
//!
//! - [`codec`]: BER encoding and decoding of messages and PDUs. Decoding borrows from the
//!   input (no allocation per varbind), checks every length and never panics.
//! - [`usm`]: the User-based Security Model (RFC 3414, RFC 7860, RFC 3826): cached key
//!   derivation, HMAC-MD5/SHA-1/SHA-2, DES and AES privacy, engine discovery and time sync.
//! - [`client`]: one [`Client`] (one UDP socket per address family, a background receive
//!   task routing replies by request-id or msgID) shared by any number of [`Target`]s, with
//!   per-target and global in-flight limits, retries with backoff and a deadline.
//! - [`ifmib`]: interface counters (IF-MIB, 64-bit counters with 32-bit fallback), rates
//!   with wrap and restart detection, and UCD-SNMP-MIB load averages, for health probes.
//! - [`display`]: net-snmp style output lines.
//!
//! ```no_run
//! use switchyard_snmp::{Client, Security, Oid};
//! use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new()?;
//! let sys_uptime: Oid = "1.3.6.1.2.1.1.3.0".parse()?;
//!
//! let v2 = client.target("192.0.2.10:161".parse()?, Security::v2c("public"));
//! for vb in v2.get(&[sys_uptime.clone()]).await? {
//!     println!("{}", switchyard_snmp::display::format_varbind(&vb));
//! }
//!
//! let user = UsmUser::no_auth("monitor")?
//!     .with_auth(AuthProtocol::Sha256, b"auth password")?
//!     .with_privacy(PrivProtocol::Aes128, b"priv password")?;
//! let v3 = client.target("192.0.2.11:161".parse()?, Security::v3(user));
//! let interfaces = v3.bulk_walk(&"1.3.6.1.2.1.31.1.1.1.1".parse()?).await?;
//! println!("{} interfaces", interfaces.len());
//! # Ok(()) }
//! ```

pub mod client;
pub mod codec;
pub mod display;
pub mod ifmib;
pub mod usm;

pub use client::{Client, ClientConfig, Error, RequestOptions, Security, Table, Target};
pub use codec::{Oid, Value, VarBind};
