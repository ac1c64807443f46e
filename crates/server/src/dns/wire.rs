//! Allocation-free reading of a DNS query (header, question, OPT) and writing of a response
//! into a caller's buffer (RFC 1035 §4.1, RFC 6891 §6.1).
//!
//! No crate offers an allocation-free parse of the question + OPT: hickory-proto's `Message`
//! builds owned names, vectors of records and maps of options for every packet, which costs
//! more than the routing decision itself. A query is one question and at most one OPT
//! record, so this module reads exactly that, in place, and the response is written straight
//! into the socket's reused buffer. hickory-proto is used by the tests to check the output.

use super::codes::{flag, rtype};
use super::ecs::{self, ClientSubnet, EcsError};

/// Length of the fixed header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// Largest wire-format name (RFC 1035 §2.3.4).
pub const MAX_NAME_WIRE: usize = 255;

/// The 16-bit fields of the header that matter to the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Query id, echoed.
    pub id: u16,
    /// Raw flags word.
    pub flags: u16,
}

impl Header {
    /// OPCODE field; 0 is a standard query.
    pub fn opcode(self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
}

/// The question, kept as the verbatim wire bytes so the response echoes the client's case.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    /// QNAME + QTYPE + QCLASS as received.
    pub wire: &'a [u8],
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// What the OPT record of a query says (RFC 6891 §6.1.2, §6.1.3).
#[derive(Debug, Clone, Copy)]
pub struct Edns {
    /// Requestor's UDP payload size, as sent.
    pub udp_payload: u16,
    /// EDNS version; only 0 is supported.
    pub version: u8,
    /// EDNS Client Subnet option, when present (RFC 7871).
    pub ecs: Option<ClientSubnet>,
}

/// A parsed query.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// Header.
    pub header: Header,
    /// The one question.
    pub question: Question<'a>,
    /// OPT record, when present.
    pub edns: Option<Edns>,
}

/// Why a packet cannot be answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than a header, or a response (QR set): dropped unanswered, so garbage and
    /// reflected responses never get a reply.
    Drop,
    /// OPCODE other than QUERY: answered NOTIMP (RFC 1035 §4.1.1).
    NotImp(Header),
    /// A header could be read but the rest is malformed: answered FORMERR. `echo` is the
    /// question when it could be read; `edns` is whether an OPT record was seen, so the
    /// response carries one too (RFC 6891 §7).
    FormErr {
        /// The query header.
        header: Header,
        /// Question bytes and type, when readable.
        echo: Option<(usize, u16)>,
        /// An OPT record was present.
        edns: bool,
        /// The malformed part was the Client Subnet option.
        ecs: Option<EcsError>,
    },
}

/// A lower-cased presentation-form copy of the query name, without trailing dot ("" for the
/// root). Label bytes outside `[a-z0-9-_*]` become `?`, which no configured host name holds,
/// so odd names are still classified (and get NXDOMAIN or REFUSED) without escaping.
#[derive(Clone)]
pub struct NameBuf {
    bytes: [u8; MAX_NAME_WIRE],
    len: usize,
}

impl Default for NameBuf {
    fn default() -> Self {
        Self { bytes: [0; MAX_NAME_WIRE], len: 0 }
    }
}

impl NameBuf {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Reads the question name at `at` (no compression allowed: nothing precedes it but the
/// header) into `out`; returns the offset after it.
fn read_qname(b: &[u8], mut at: usize, out: &mut NameBuf) -> Option<usize> {
    let start = at;
    out.len = 0;
    loop {
        let len = *b.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let label = b.get(at..at + len)?;
        at += len;
        if at - start > MAX_NAME_WIRE {
            return None;
        }
        if out.len > 0 {
            out.bytes[out.len] = b'.';
            out.len += 1;
        }
        for &c in label {
            let c = c.to_ascii_lowercase();
            let ok =
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'*');
            out.bytes[out.len] = if ok { c } else { b'?' };
            out.len += 1;
        }
    }
    (at - start <= MAX_NAME_WIRE).then_some(at)
}

/// Skips a possibly compressed name of a resource record.
fn skip_name(b: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *b.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + len as usize,
            0xc0..=0xff => return (at + 2 <= b.len()).then_some(at + 2),
            _ => return None,
        }
    }
}

/// Parses a query. `name` receives the lower-cased question name.
pub fn parse<'a>(b: &'a [u8], name: &mut NameBuf) -> Result<Query<'a>, ParseError> {
    if b.len() < HEADER_LEN {
        return Err(ParseError::Drop);
    }
    let header = Header { id: be16(b, 0).unwrap_or(0), flags: be16(b, 2).unwrap_or(0) };
    if header.flags & flag::QR != 0 {
        return Err(ParseError::Drop);
    }
    if header.opcode() != 0 {
        return Err(ParseError::NotImp(header));
    }
    let formerr = |echo, edns, ecs| ParseError::FormErr { header, echo, edns, ecs };
    let counts: [u16; 4] = std::array::from_fn(|i| be16(b, 4 + 2 * i).unwrap_or(0));
    if counts[0] != 1 {
        return Err(formerr(None, false, None));
    }
    let qend = read_qname(b, HEADER_LEN, name).ok_or(formerr(None, false, None))?;
    let (Some(qtype), Some(qclass)) = (be16(b, qend), be16(b, qend + 2)) else {
        return Err(formerr(None, false, None));
    };
    let qlen = qend + 4 - HEADER_LEN;
    let echo = Some((qlen, qtype));
    let question = Question { wire: &b[HEADER_LEN..qend + 4], qtype, qclass };
    let mut at = qend + 4;
    for _ in 0..u32::from(counts[1]) + u32::from(counts[2]) {
        at = skip_rr(b, at).ok_or(formerr(echo, false, None))?.0;
    }
    let mut edns: Option<Edns> = None;
    for _ in 0..counts[3] {
        let owner = at;
        let (next, rtype, rdata) = skip_rr(b, at).ok_or(formerr(echo, edns.is_some(), None))?;
        if rtype == rtype::OPT {
            // RFC 6891 §6.1.1: one OPT, owned by the root; otherwise FORMERR.
            if edns.is_some() || b[owner] != 0 {
                return Err(formerr(echo, true, None));
            }
            let udp_payload = be16(b, owner + 3).unwrap_or(0);
            let version = b[owner + 6];
            let ecs = match find_ecs(rdata) {
                Ok(ecs) => ecs,
                Err(e) => return Err(formerr(echo, true, e)),
            };
            edns = Some(Edns { udp_payload, version, ecs });
        }
        at = next;
    }
    Ok(Query { header, question, edns })
}

/// Skips one resource record; returns the offset after it, its type and its RDATA.
fn skip_rr(b: &[u8], at: usize) -> Option<(usize, u16, &[u8])> {
    let at = skip_name(b, at)?;
    let rtype = be16(b, at)?;
    let rdlen = be16(b, at + 8)? as usize;
    let rdata = b.get(at + 10..at + 10 + rdlen)?;
    Some((at + 10 + rdlen, rtype, rdata))
}

/// Walks the OPT RDATA options for ECS (option code 8). `Err(None)` is a malformed option
/// list, `Err(Some(_))` a malformed ECS option.
fn find_ecs(mut opts: &[u8]) -> Result<Option<ClientSubnet>, Option<EcsError>> {
    let mut found = None;
    while !opts.is_empty() {
        let (Some(code), Some(len)) = (be16(opts, 0), be16(opts, 2)) else { return Err(None) };
        let data = opts.get(4..4 + len as usize).ok_or(None)?;
        if code == ecs::OPTION_CODE {
            if found.is_some() {
                return Err(Some(EcsError::Duplicate));
            }
            found = Some(ClientSubnet::parse(data).map_err(Some)?);
        }
        opts = &opts[4 + len as usize..];
    }
    Ok(found)
}
