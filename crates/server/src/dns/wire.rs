//! Allocation-free reading of a DNS query (header, question, OPT) and writing of a response
//! into a caller's buffer (RFC 1035 §4.1, RFC 6891 §6.1).
//!
//! No crate offers an allocation-free parse of the question + OPT: hickory-proto's `Message`
//! builds owned names, vectors of records and maps of options for every packet, which costs
//! more than the routing decision itself. A query is one question and at most one OPT
//! record, so this module reads exactly that, in place, and the response is written straight
//! into the socket's reused buffer. hickory-proto is used by the tests to check the output.

use super::codes::{edns as opt, flag, rtype};
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
    /// The DO bit, copied into the response's OPT (RFC 3225 §3).
    pub dnssec_ok: bool,
    /// An NSID option asked who answers (RFC 5001 §2.1).
    pub nsid: bool,
    /// EDNS Client Subnet option, when present (RFC 7871).
    pub ecs: Option<ClientSubnet>,
}

/// What a reply to a query that is not answered normally (NOTIMP, FORMERR) keeps of the
/// query's OPT record: that there was one (RFC 6891 §7: the reply carries one too) and its
/// DO bit (RFC 3225 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptEcho {
    /// The DO bit of the query.
    pub dnssec_ok: bool,
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
    /// OPCODE other than QUERY: answered NOTIMP (RFC 1035 §4.1.1). When the rest reads like
    /// a query, the reply echoes its question and carries an OPT record if it had one (RFC
    /// 6891 §6.1.1); otherwise it is a bare header.
    NotImp {
        /// The query header.
        header: Header,
        /// Question bytes and type, when there was one and it could be read.
        echo: Option<(usize, u16)>,
        /// The query's OPT record, when present.
        edns: Option<OptEcho>,
    },
    /// A header could be read but the rest is malformed: answered FORMERR. `echo` is the
    /// question when it could be read; `edns` is the OPT record when one was seen, so the
    /// response carries one too (RFC 6891 §7).
    FormErr {
        /// The query header.
        header: Header,
        /// Question bytes and type, when readable.
        echo: Option<(usize, u16)>,
        /// The query's OPT record, when one was seen.
        edns: Option<OptEcho>,
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
    let counts: [u16; 4] = std::array::from_fn(|i| be16(b, 4 + 2 * i).unwrap_or(0));
    if header.opcode() != 0 {
        return Err(not_implemented(b, header, counts, name));
    }
    let formerr = |echo, edns, ecs| ParseError::FormErr { header, echo, edns, ecs };
    if counts[0] != 1 {
        return Err(formerr(None, None, None));
    }
    let question = read_question(b, name).ok_or(formerr(None, None, None))?;
    let echo = Some((question.wire.len(), question.qtype));
    let edns = read_records(b, HEADER_LEN + question.wire.len(), counts)
        .map_err(|(edns, ecs)| formerr(echo, edns, ecs))?;
    Ok(Query { header, question, edns })
}

/// The question at the start of the body (no compression allowed: nothing precedes it but
/// the header). This and [`read_records`] are forced inline: as calls, they and
/// `records::address` added about 180 instructions to each answer of
/// `dns_bench_server inproc` (callgrind), some 6% of it.
#[inline(always)]
fn read_question<'a>(b: &'a [u8], name: &mut NameBuf) -> Option<Question<'a>> {
    let qend = read_qname(b, HEADER_LEN, name)?;
    let (qtype, qclass) = (be16(b, qend)?, be16(b, qend + 2)?);
    Some(Question { wire: &b[HEADER_LEN..qend + 4], qtype, qclass })
}

/// Skips the answer and authority records and reads the additional section for the OPT
/// record. The error carries the OPT record when one was seen and the Client Subnet problem
/// when that was what was malformed.
#[inline(always)]
fn read_records(
    b: &[u8],
    mut at: usize,
    counts: [u16; 4],
) -> Result<Option<Edns>, (Option<OptEcho>, Option<EcsError>)> {
    for _ in 0..u32::from(counts[1]) + u32::from(counts[2]) {
        at = skip_rr(b, at).ok_or((None, None))?.0;
    }
    let mut edns: Option<Edns> = None;
    let echo = |e: Option<Edns>| e.map(|e| OptEcho { dnssec_ok: e.dnssec_ok });
    for _ in 0..counts[3] {
        let owner = at;
        let (next, rtype, rdata) = skip_rr(b, at).ok_or((echo(edns), None))?;
        if rtype == rtype::OPT {
            let udp_payload = be16(b, owner + 3).unwrap_or(0);
            let version = b[owner + 6];
            let dnssec_ok = be16(b, owner + 7).unwrap_or(0) & opt::DO != 0;
            let this = Some(OptEcho { dnssec_ok });
            // RFC 6891 §6.1.1: one OPT, owned by the root; otherwise FORMERR.
            if edns.is_some() || b[owner] != 0 {
                return Err((echo(edns).or(this), None));
            }
            let found = read_options(rdata).map_err(|ecs| (this, ecs))?;
            edns = Some(Edns { udp_payload, version, dnssec_ok, nsid: found.nsid, ecs: found.ecs });
        }
        at = next;
    }
    Ok(edns)
}

/// NOTIMP for an opcode other than QUERY. Such a message need not be laid out as a query
/// (RFC 8906 §3.1.4), so it is read as one only to echo what it would hold: a question
/// when QDCOUNT is 1, an OPT record. A message that does not read that way gets a bare
/// header. ISC's EDNS compliance test sends QDCOUNT 0 and wants no question back.
fn not_implemented(b: &[u8], header: Header, counts: [u16; 4], name: &mut NameBuf) -> ParseError {
    let bare = ParseError::NotImp { header, echo: None, edns: None };
    let (echo, at) = match counts[0] {
        0 => (None, HEADER_LEN),
        1 => match read_question(b, name) {
            Some(q) => (Some((q.wire.len(), q.qtype)), HEADER_LEN + q.wire.len()),
            None => return bare,
        },
        _ => return bare,
    };
    match read_records(b, at, counts) {
        Ok(edns) => ParseError::NotImp {
            header,
            echo,
            edns: edns.map(|e| OptEcho { dnssec_ok: e.dnssec_ok }),
        },
        Err(_) => bare,
    }
}

/// Skips one resource record; returns the offset after it, its type and its RDATA.
fn skip_rr(b: &[u8], at: usize) -> Option<(usize, u16, &[u8])> {
    let at = skip_name(b, at)?;
    let rtype = be16(b, at)?;
    let rdlen = be16(b, at + 8)? as usize;
    let rdata = b.get(at + 10..at + 10 + rdlen)?;
    Some((at + 10 + rdlen, rtype, rdata))
}

/// The options of an OPT record this server acts on.
#[derive(Default)]
struct Options {
    ecs: Option<ClientSubnet>,
    nsid: bool,
}

/// Walks the OPT RDATA options for ECS (option code 8) and NSID (3); others are ignored
/// (RFC 6891 §6.1.2). `Err(None)` is a malformed option list, `Err(Some(_))` a malformed
/// ECS option.
fn read_options(mut opts: &[u8]) -> Result<Options, Option<EcsError>> {
    let mut found = Options::default();
    while !opts.is_empty() {
        let (Some(code), Some(len)) = (be16(opts, 0), be16(opts, 2)) else { return Err(None) };
        let data = opts.get(4..4 + len as usize).ok_or(None)?;
        match code {
            ecs::OPTION_CODE => {
                if found.ecs.is_some() {
                    return Err(Some(EcsError::Duplicate));
                }
                found.ecs = Some(ClientSubnet::parse(data).map_err(Some)?);
            }
            // A request carries it empty (RFC 5001 §2.1); a payload is ignored.
            opt::NSID => found.nsid = true,
            _ => {}
        }
        opts = &opts[4 + len as usize..];
    }
    Ok(found)
}
