//! EDNS Client Subnet (RFC 7871): option parsing with the §6 validity rules, the client
//! address used for localization, and the option echoed in responses with its scope.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::writer::{Full, Writer};

/// EDNS option code of Client Subnet (RFC 7871 §6).
pub const OPTION_CODE: u16 = 8;
/// Longest IPv4 prefix used for localization; longer source prefixes are cut to this
/// (RFC 7871 §11.1 recommends resolvers send at most /24, and a /24 is what coverage zone
/// files describe).
pub const MAX_V4_PREFIX: u8 = 24;
/// Longest IPv6 prefix used for localization (RFC 7871 §11.1: at most /56).
pub const MAX_V6_PREFIX: u8 = 56;

/// Why an ECS option is malformed; each is answered FORMERR (RFC 7871 §7.1.1 and §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EcsError {
    /// Shorter than the fixed 4 bytes.
    #[error("client subnet option shorter than 4 bytes")]
    Short,
    /// FAMILY is neither 1 (IPv4) nor 2 (IPv6).
    #[error("client subnet family is not IPv4 or IPv6")]
    BadFamily,
    /// SOURCE PREFIX-LENGTH exceeds the address width.
    #[error("client subnet source prefix longer than the address")]
    SourceTooLong,
    /// ADDRESS is not exactly ceil(SOURCE PREFIX-LENGTH / 8) bytes.
    #[error("client subnet address length does not match the source prefix")]
    AddressLength,
    /// ADDRESS has bits set beyond SOURCE PREFIX-LENGTH.
    #[error("client subnet address has bits set beyond the source prefix")]
    NonZeroBits,
    /// Two ECS options in one query.
    #[error("more than one client subnet option")]
    Duplicate,
}

/// A valid ECS option from a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    /// FAMILY: 1 IPv4, 2 IPv6.
    pub family: u16,
    /// SOURCE PREFIX-LENGTH.
    pub source_prefix: u8,
    addr: [u8; 16],
    addr_len: u8,
}

impl ClientSubnet {
    /// Parses and validates the option data (after code and length).
    pub fn parse(data: &[u8]) -> Result<Self, EcsError> {
        if data.len() < 4 {
            return Err(EcsError::Short);
        }
        let family = u16::from_be_bytes([data[0], data[1]]);
        let source_prefix = data[2];
        // SCOPE PREFIX-LENGTH (data[3]) must be 0 in queries; RFC 7871 §6 gives no
        // sanction, so it is ignored like BIND and PowerDNS do.
        let addr = &data[4..];
        let width = match family {
            1 => 32,
            2 => 128,
            _ => return Err(EcsError::BadFamily),
        };
        if source_prefix > width {
            return Err(EcsError::SourceTooLong);
        }
        if addr.len() != usize::from(source_prefix).div_ceil(8) {
            return Err(EcsError::AddressLength);
        }
        let rem = source_prefix % 8;
        if rem != 0 && addr[addr.len() - 1] & (0xff >> rem) != 0 {
            return Err(EcsError::NonZeroBits);
        }
        let mut buf = [0u8; 16];
        buf[..addr.len()].copy_from_slice(addr);
        Ok(Self { family, source_prefix, addr: buf, addr_len: addr.len() as u8 })
    }

    /// The address used to localize the client: ADDRESS cut to the shorter of the source
    /// prefix and [`MAX_V4_PREFIX`] / [`MAX_V6_PREFIX`]. `None` for a /0 source, which
    /// carries no client information (RFC 7871 §7.1.2); the resolver's address applies then.
    pub fn client_ip(&self) -> Option<IpAddr> {
        if self.source_prefix == 0 {
            return None;
        }
        let cap = if self.family == 1 { MAX_V4_PREFIX } else { MAX_V6_PREFIX };
        let keep = self.source_prefix.min(cap);
        let mut a = self.addr;
        for (i, byte) in a.iter_mut().enumerate() {
            let bit = (i * 8) as u8;
            if bit >= keep {
                *byte = 0;
            } else if keep - bit < 8 {
                *byte &= 0xff << (8 - (keep - bit));
            }
        }
        Some(if self.family == 1 {
            IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(a))
        })
    }

    /// The subnet as the query sent it (ADDRESS/SOURCE PREFIX-LENGTH), uncut.
    pub fn network(&self) -> Option<ipnet::IpNet> {
        let addr = if self.family == 1 {
            let a = &self.addr;
            IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(self.addr))
        };
        ipnet::IpNet::new(addr, self.source_prefix).ok()
    }

    /// SCOPE PREFIX-LENGTH for a tailored answer (RFC 7871 §7.2.1) localized at
    /// [`ClientSubnet::client_ip`]. `decision_depth` is the routing table's
    /// [`scope_prefix_len`](switchyard_route::Localization::scope_prefix_len) for that
    /// address: every address sharing that many bits with it is placed the same way.
    ///
    /// Resolvers reuse the answer for every client in ADDRESS/scope, so the scope must not
    /// be the matched network's length when more specific networks inside it (or next to
    /// an unmatched address) place clients elsewhere, nor the source prefix when that is
    /// wider than the decision depth. It may be shorter than the source (the answer holds
    /// for a wider network) or longer (the source was not specific enough, §7.2.1).
    ///
    /// The depth is capped at [`MAX_V4_PREFIX`] / [`MAX_V6_PREFIX`]: addresses are cut to
    /// that length before localization, so any client sharing that many bits with the
    /// localized address gets this same answer. Without a depth (`None`) that cap is the
    /// answer: it is always safe, if narrow.
    pub fn scope_for(&self, decision_depth: Option<u8>) -> u8 {
        let cap = if self.family == 1 { MAX_V4_PREFIX } else { MAX_V6_PREFIX };
        decision_depth.map_or(cap, |d| d.min(cap))
    }

    /// Bytes the echoed option takes in an OPT record.
    pub fn wire_len(&self) -> usize {
        8 + usize::from(self.addr_len)
    }

    /// Writes the option for the response: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as
    /// received, with `scope` (RFC 7871 §7.2.1).
    pub fn write(&self, w: &mut Writer<'_>, scope: u8) -> Result<(), Full> {
        w.u16(OPTION_CODE)?;
        w.u16(4 + u16::from(self.addr_len))?;
        w.u16(self.family)?;
        w.bytes(&[self.source_prefix, scope])?;
        w.bytes(&self.addr[..usize::from(self.addr_len)])
    }
}
