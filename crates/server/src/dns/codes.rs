//! The vocabulary of DNS messages this server reads and writes: record types, classes and
//! header flags (RFC 1035 §3.2, §4.1.1), response codes, the transports, and what to do with
//! a packet. Everything above the codec speaks in these terms.

/// Record types this server handles (RFC 1035 §3.2.2, RFC 3596, RFC 6891).
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Text (answered only in class CH, for the server's identity).
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// EDNS pseudo-record.
    pub const OPT: u16 = 41;
    /// Incremental zone transfer (QTYPE only, RFC 1995).
    pub const IXFR: u16 = 251;
    /// Full zone transfer (QTYPE only, RFC 5936).
    pub const AXFR: u16 = 252;
    /// Any type (QTYPE only).
    pub const ANY: u16 = 255;
}

/// Classes (RFC 1035 §3.2.4).
pub mod class {
    /// Internet.
    pub const IN: u16 = 1;
    /// CHAOS, where `id.server` and `hostname.bind` name the answering server.
    pub const CH: u16 = 3;
    /// Any class (QCLASS only).
    pub const ANY: u16 = 255;
}

/// Header flag bits (RFC 1035 §4.1.1).
pub mod flag {
    /// Response.
    pub const QR: u16 = 0x8000;
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// Truncated.
    pub const TC: u16 = 0x0200;
    /// Recursion desired (copied into the response to a standard query).
    pub const RD: u16 = 0x0100;
    /// The OPCODE field.
    pub const OPCODE: u16 = 0x7800;
}

/// EDNS option codes and OPT flags (RFC 6891 §6.1.2, §6.1.4).
pub mod edns {
    /// Name server identifier (RFC 5001).
    pub const NSID: u16 = 3;
    /// DNSSEC OK, the top bit of the OPT flags (RFC 3225 §3).
    pub const DO: u16 = 0x8000;
}

/// Transport a query arrived on; decides the response size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: 512 bytes, or the EDNS payload size up to the configured maximum.
    Udp,
    /// TCP: up to 65535 bytes (RFC 7766 §8).
    Tcp,
}

impl Transport {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        }
    }
}

/// Response codes this server sends (RFC 1035 §4.1.1, RFC 6891 §9 for BADVERS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rcode {
    /// Answer, or NODATA.
    NoError,
    /// Malformed query or Client Subnet option.
    FormErr,
    /// A service name with no eligible node.
    ServFail,
    /// No such name in our zones.
    NxDomain,
    /// Opcode other than QUERY.
    NotImp,
    /// Not our zone, or not class IN; a zone transfer of one of our apexes.
    Refused,
    /// A zone transfer of a name that is no apex of ours (RFC 5936 §2.2.1).
    NotAuth,
    /// EDNS version above 0.
    BadVers,
}

impl Rcode {
    /// All values, in metric-handle order.
    pub const ALL: [Rcode; 8] = [
        Self::NoError,
        Self::FormErr,
        Self::ServFail,
        Self::NxDomain,
        Self::NotImp,
        Self::Refused,
        Self::NotAuth,
        Self::BadVers,
    ];
    /// Mnemonic, as dig prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoError => "NOERROR",
            Self::FormErr => "FORMERR",
            Self::ServFail => "SERVFAIL",
            Self::NxDomain => "NXDOMAIN",
            Self::NotImp => "NOTIMP",
            Self::Refused => "REFUSED",
            Self::NotAuth => "NOTAUTH",
            Self::BadVers => "BADVERS",
        }
    }
    /// The 12-bit code; the upper 8 bits travel in the OPT TTL.
    pub fn code(self) -> u16 {
        match self {
            Self::NoError => 0,
            Self::FormErr => 1,
            Self::ServFail => 2,
            Self::NxDomain => 3,
            Self::NotImp => 4,
            Self::Refused => 5,
            Self::NotAuth => 9,
            Self::BadVers => 16,
        }
    }
}

/// Query type, reduced to a small set for metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QType {
    /// A.
    A,
    /// AAAA.
    Aaaa,
    /// SOA.
    Soa,
    /// NS.
    Ns,
    /// ANY.
    Any,
    /// Anything else, or no readable question.
    Other,
}

impl QType {
    /// All values, in metric-handle order.
    pub const ALL: [QType; 6] = [Self::A, Self::Aaaa, Self::Soa, Self::Ns, Self::Any, Self::Other];
    /// From the wire value.
    pub fn from_u16(t: u16) -> Self {
        match t {
            rtype::A => Self::A,
            rtype::AAAA => Self::Aaaa,
            rtype::SOA => Self::Soa,
            rtype::NS => Self::Ns,
            rtype::ANY => Self::Any,
            _ => Self::Other,
        }
    }
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Soa => "SOA",
            Self::Ns => "NS",
            Self::Any => "ANY",
            Self::Other => "other",
        }
    }
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Send the first `len` bytes of the output buffer.
    Reply {
        /// Response length.
        len: usize,
        /// Response code sent.
        rcode: Rcode,
        /// Query type asked.
        qtype: QType,
        /// TC was set because the answer did not fit.
        truncated: bool,
    },
    /// Malformed beyond answering (no header, or a response): send nothing.
    Drop,
}
