//! Response assembly: header and echoed question, counted record sections with truncation,
//! the trailing OPT record, and the A/AAAA/SOA/NS/TXT record writers (RFC 1035 §3.3, §4.1).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::authority::Authority;
use super::codes::{Outcome, QType, Rcode, class, edns, flag, rtype};
use super::ecs::ClientSubnet;
use super::wire::{HEADER_LEN, OptEcho, ParseError, Query};
use super::writer::{Full, Writer};

/// Size of an OPT record without options (RFC 6891 §6.1.2).
const OPT_LEN: usize = 11;
/// Size of an option's code and length (RFC 6891 §6.1.2).
const OPTION_HEAD: usize = 4;

/// Record sections after the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Answer.
    Answer = 0,
    /// Authority.
    Authority = 1,
    /// Additional.
    Additional = 2,
}

/// A writer that counts the records written into one section.
pub struct Sink<'w, 'a> {
    /// The response bytes.
    pub w: &'w mut Writer<'a>,
    count: u16,
}

/// A response being built. Sections are written in order; when one does not fit, the
/// response is cut back to header + question and TC is set (RFC 2181 §9, RFC 6891 §7),
/// leaving room for the OPT record so the client still learns our payload size.
pub struct Response<'a> {
    w: Writer<'a>,
    limit: usize,
    flags: u16,
    counts: [u16; 3],
    question_end: usize,
    truncated: bool,
    opt: Option<Opt<'a>>,
}

/// What the response's OPT record carries besides our payload size and the extended RCODE.
#[derive(Debug, Clone, Copy)]
struct Opt<'a> {
    max_udp: u16,
    dnssec_ok: bool,
    ecs: Option<(ClientSubnet, u8)>,
    nsid: Option<&'a [u8]>,
}

impl Opt<'_> {
    fn wire_len(&self) -> usize {
        OPT_LEN
            + self.ecs.map_or(0, |(e, _)| e.wire_len())
            + self.nsid.map_or(0, |id| OPTION_HEAD + id.len())
    }
}

impl<'a> Response<'a> {
    /// Writes the header and the question as received (keeping its case). `nsid` is the
    /// server identifier to put in the OPT record (RFC 5001), when the query asked for it and
    /// one is configured.
    #[inline]
    pub fn start(
        out: &'a mut [u8],
        limit: usize,
        q: &Query<'_>,
        max_udp: u16,
        nsid: Option<&'a [u8]>,
    ) -> Self {
        let opt = q.edns.map(|e| Opt {
            max_udp,
            dnssec_ok: e.dnssec_ok,
            ecs: e.ecs.map(|e| (e, 0)),
            nsid,
        });
        let opt_len = opt.map_or(0, |o| o.wire_len());
        let mut w = Writer::new(out, limit.saturating_sub(opt_len));
        let header_ok = w.u16(q.header.id).is_ok()
            && w.u16(0).is_ok()
            && w.u16(1).is_ok()
            && w.bytes(&[0; 6]).is_ok()
            && w.bytes(q.question.wire).is_ok();
        if !header_ok {
            w.truncate(0);
        }
        Self {
            question_end: w.len(),
            w,
            limit,
            flags: q.header.flags & flag::RD,
            counts: [0; 3],
            truncated: false,
            opt,
        }
    }

    /// Sets header flag bits (AA).
    pub fn set_flags(&mut self, bits: u16) {
        self.flags |= bits;
    }

    /// Clears header flag bits.
    pub fn clear_flags(&mut self, bits: u16) {
        self.flags &= !bits;
    }

    /// Sets the SCOPE PREFIX-LENGTH of the echoed Client Subnet option; 0 (the default)
    /// means the answer does not depend on the client's address (RFC 7871 §7.2.1).
    pub fn set_ecs_scope(&mut self, scope: u8) {
        if let Some((_, s)) = self.opt.as_mut().and_then(|o| o.ecs.as_mut()) {
            *s = scope;
        }
    }

    /// Sends header and question only, with TC set: the rate limiter's slipped reply, which
    /// makes a real resolver ask again over TCP (BIND's RRL `slip`).
    pub fn truncate_all(&mut self) {
        self.truncated = true;
        self.counts = [0; 3];
        self.w.truncate(self.question_end);
    }

    /// Appends records to `section` through `f`. Returns what `f` returned, or `Err(Full)`
    /// when the response is (now) truncated.
    pub fn section(
        &mut self,
        section: Section,
        f: impl FnOnce(&mut Sink<'_, 'a>) -> Result<bool, Full>,
    ) -> Result<bool, Full> {
        if self.truncated || self.w.is_empty() {
            return Err(Full);
        }
        let mut sink = Sink { w: &mut self.w, count: 0 };
        match f(&mut sink) {
            Ok(r) => {
                let n = sink.count;
                self.counts[section as usize] = self.counts[section as usize].saturating_add(n);
                Ok(r)
            }
            Err(Full) => {
                self.truncated = true;
                self.counts = [0; 3];
                self.w.truncate(self.question_end);
                Err(Full)
            }
        }
    }

    /// Patches the header, appends the OPT record, and returns the length (0 when not even
    /// the question fitted) and whether TC was set.
    pub fn finish(mut self, rcode: Rcode) -> (usize, bool) {
        if self.w.is_empty() {
            return (0, false);
        }
        let code = rcode.code();
        let mut flags = flag::QR | self.flags | (code & 0xf);
        if self.truncated {
            flags |= flag::TC;
        }
        self.w.set_limit(self.limit);
        let mut ar = self.counts[2];
        if let Some(mut opt) = self.opt {
            if rcode == Rcode::FormErr {
                opt.ecs = None;
            }
            if write_opt(&mut self.w, opt, (code >> 4) as u8).is_ok() {
                ar += 1;
            }
        }
        self.w.patch_u16(2, flags);
        self.w.patch_u16(6, self.counts[0]);
        self.w.patch_u16(8, self.counts[1]);
        self.w.patch_u16(10, ar);
        (self.w.finish(), self.truncated)
    }
}

/// OPT pseudo-record: our payload size, extended RCODE, version 0, the query's DO bit (RFC
/// 6891 §6.1.3, RFC 3225 §3), then the Client Subnet and NSID options.
fn write_opt(w: &mut Writer<'_>, opt: Opt<'_>, ext_rcode: u8) -> Result<(), Full> {
    w.bytes(&[0])?;
    w.u16(rtype::OPT)?;
    w.u16(opt.max_udp)?;
    w.bytes(&[ext_rcode, 0])?;
    w.u16(if opt.dnssec_ok { edns::DO } else { 0 })?;
    let rdlen = opt.wire_len() - OPT_LEN;
    w.u16(rdlen as u16)?;
    if let Some((e, scope)) = opt.ecs {
        e.write(w, scope)?;
    }
    if let Some(id) = opt.nsid {
        w.u16(edns::NSID)?;
        w.u16(id.len() as u16)?;
        w.bytes(id)?;
    }
    Ok(())
}

/// Owner, type, class IN and TTL of a record whose owner is a pointer to `owner`; returns
/// the offset of RDLENGTH to patch.
fn rr_head(s: &mut Sink<'_, '_>, owner: usize, rtype: u16, ttl: u32) -> Result<usize, Full> {
    s.w.pointer(owner)?;
    s.w.u16(rtype)?;
    s.w.u16(class::IN)?;
    s.w.u32(ttl)?;
    let at = s.w.len();
    s.w.u16(0)?;
    s.count += 1;
    Ok(at)
}

fn patch_rdlen(s: &mut Sink<'_, '_>, at: usize) {
    let len = s.w.len() - at - 2;
    s.w.patch_u16(at, len as u16);
}

/// An A (4 octets) or AAAA (16 octets) record owned by the name at `owner`. Forced inline:
/// it writes every record of the hot answer path (see `wire::read_question`).
#[inline(always)]
pub fn address(s: &mut Sink<'_, '_>, owner: usize, ttl: u32, octets: &[u8]) -> Result<(), Full> {
    let t = if octets.len() == 4 { rtype::A } else { rtype::AAAA };
    s.w.pointer(owner)?;
    s.w.u16(t)?;
    s.w.u16(class::IN)?;
    s.w.u32(ttl)?;
    s.w.u16(octets.len() as u16)?;
    s.w.bytes(octets)?;
    s.count += 1;
    Ok(())
}

/// Offset of `apex` inside the echoed question name `qname` (a suffix on a label boundary:
/// presentation and wire forms have the same length before it).
fn apex_offset(qname: &str, apex: &str) -> usize {
    HEADER_LEN + qname.len().saturating_sub(apex.len())
}

/// A name given in the configuration, or `<label>.<apex>` compressed onto the apex.
fn name_or_default(
    s: &mut Sink<'_, '_>,
    configured: Option<&str>,
    label: &str,
    apex_at: usize,
) -> Result<(), Full> {
    match configured {
        Some(n) => s.w.name(n),
        None => {
            s.w.bytes(&[label.len() as u8])?;
            s.w.bytes(label.as_bytes())?;
            s.w.pointer(apex_at)
        }
    }
}

/// The apex SOA record (RFC 1035 §3.3.13). In negative answers its TTL is the lesser of
/// the SOA TTL and MINIMUM (RFC 2308 §3), MINIMUM being the negative-caching TTL.
pub fn soa(
    s: &mut Sink<'_, '_>,
    auth: &Authority,
    apex: &str,
    qname: &str,
    negative: bool,
) -> Result<bool, Full> {
    let c = &auth.config;
    let at = apex_offset(qname, apex);
    let ttl =
        if negative { c.soa_ttl_seconds.min(c.negative_ttl_seconds) } else { c.soa_ttl_seconds };
    let rdlen = rr_head(s, at, rtype::SOA, ttl)?;
    let mname = c.soa_mname.as_deref().or(c.name_servers.first().map(|n| n.name.as_str()));
    name_or_default(s, mname, "ns1", at)?;
    name_or_default(s, c.soa_rname.as_deref(), "hostmaster", at)?;
    for v in [
        c.soa_serial,
        c.soa_refresh_seconds,
        c.soa_retry_seconds,
        c.soa_expire_seconds,
        c.negative_ttl_seconds,
    ] {
        s.w.u32(v)?;
    }
    patch_rdlen(s, rdlen);
    Ok(true)
}

/// NS records at the apex (the question name) and glue addresses in the additional section.
/// Appends to what the answer section already holds (the SOA of an ANY answer).
pub fn ns_with_glue(resp: &mut Response<'_>, auth: &Authority) -> Result<bool, Full> {
    let c = &auth.config;
    let mut name_at = Vec::with_capacity(c.name_servers.len());
    resp.section(Section::Answer, |s| {
        if c.name_servers.is_empty() {
            let rdlen = rr_head(s, HEADER_LEN, rtype::NS, c.soa_ttl_seconds)?;
            name_or_default(s, None, "ns1", HEADER_LEN)?;
            patch_rdlen(s, rdlen);
        }
        for ns in &c.name_servers {
            let rdlen = rr_head(s, HEADER_LEN, rtype::NS, c.soa_ttl_seconds)?;
            name_at.push(s.w.len());
            s.w.name(&ns.name)?;
            patch_rdlen(s, rdlen);
        }
        Ok(true)
    })?;
    resp.section(Section::Additional, |s| {
        for (ns, &at) in c.name_servers.iter().zip(&name_at) {
            for a in &ns.ipv4 {
                address(s, at, c.soa_ttl_seconds, &a.octets())?;
            }
            for a in &ns.ipv6 {
                address(s, at, c.soa_ttl_seconds, &a.octets())?;
            }
        }
        Ok(true)
    })
}

/// The addresses of one of the zone's name server hosts, owned by the question name: the
/// same records, with the same TTL, that an NS answer puts in its additional section.
/// `Ok(false)` when there were none to write.
pub fn host_addresses(
    s: &mut Sink<'_, '_>,
    ttl: u32,
    v4: &[Ipv4Addr],
    v6: &[Ipv6Addr],
) -> Result<bool, Full> {
    for a in v4 {
        address(s, HEADER_LEN, ttl, &a.octets())?;
    }
    for a in v6 {
        address(s, HEADER_LEN, ttl, &a.octets())?;
    }
    Ok(!v4.is_empty() || !v6.is_empty())
}

/// A CHAOS-class TXT record owned by the question name (`id.server`, `hostname.bind`)
/// holding `text` as one character-string, with TTL 0 as BIND and Knot send it.
pub fn chaos_txt(s: &mut Sink<'_, '_>, text: &[u8]) -> Result<bool, Full> {
    let text = &text[..text.len().min(255)];
    s.w.pointer(HEADER_LEN)?;
    s.w.u16(rtype::TXT)?;
    s.w.u16(class::CH)?;
    s.w.u32(0)?;
    s.w.u16(1 + text.len() as u16)?;
    s.w.bytes(&[text.len() as u8])?;
    s.w.bytes(text)?;
    s.count += 1;
    Ok(true)
}

/// NOTIMP or FORMERR for a query that could not be parsed: header, the question when it
/// was readable, and an OPT record (with the query's DO bit) when the query had one.
///
/// FORMERR answers a malformed standard query, so RD is copied as for any query (RFC 1035
/// §4.1.1). NOTIMP answers an opcode whose flags mean nothing to us: only QR and the
/// OPCODE are set, which is what ISC's EDNS compliance tests (`opcode`, `opcodeflg`) and
/// RFC 8906 §8.1.4 expect; RD, AA, AD, CD and Z are not echoed.
pub fn error_reply(query: &[u8], e: ParseError, max_udp: u16, out: &mut [u8]) -> Outcome {
    let (header, echo, edns, rcode, copied) = match e {
        ParseError::Drop => return Outcome::Drop,
        ParseError::NotImp { header, echo, edns } => {
            (header, echo, edns, Rcode::NotImp, flag::OPCODE)
        }
        ParseError::FormErr { header, echo, edns, .. } => {
            (header, echo, edns, Rcode::FormErr, flag::RD | flag::OPCODE)
        }
    };
    let mut w = Writer::new(out, 512);
    let question = echo.and_then(|(len, _)| query.get(HEADER_LEN..HEADER_LEN + len));
    let flags = flag::QR | (header.flags & copied) | rcode.code();
    let opt = edns.map(|OptEcho { dnssec_ok }| Opt { max_udp, dnssec_ok, ecs: None, nsid: None });
    let ok = w.u16(header.id).is_ok()
        && w.u16(flags).is_ok()
        && w.u16(u16::from(question.is_some())).is_ok()
        && w.u16(0).is_ok()
        && w.u16(0).is_ok()
        && w.u16(u16::from(opt.is_some())).is_ok()
        && question.is_none_or(|qb| w.bytes(qb).is_ok())
        && opt.is_none_or(|o| write_opt(&mut w, o, 0).is_ok());
    if !ok {
        return Outcome::Drop;
    }
    let qtype = echo.map_or(QType::Other, |(_, t)| QType::from_u16(t));
    Outcome::Reply { len: w.finish(), rcode, qtype, truncated: false }
}
