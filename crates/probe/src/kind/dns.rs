//! `dns`: one query over UDP (RFC 1035 section 4.2.1), judged by RCODE and answer records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

use crate::error::ProbeError;
use crate::outcome::{FailureCause, ProbeOutcome, Tier};
use serde::{Deserialize, Serialize};
use switchyard_config::Problems;

/// `kind = "dns"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsCheck {
    /// Name to query.
    pub qname: String,
    /// Record type, e.g. `A`, `AAAA`, `SOA`. Default `A`.
    #[serde(default = "d_qtype")]
    pub qtype: String,
    /// Expected response code, e.g. `NOERROR`, `NXDOMAIN`. Default `NOERROR`.
    #[serde(default = "d_rcode")]
    pub expected_rcode: String,
    /// Minimum number of answer records of `qtype`. Default 1 when the RCODE is NOERROR, else 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_answers: Option<usize>,
    /// Values (in presentation form, e.g. `192.0.2.1`) that must all be in the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_answers: Vec<String>,
}

fn d_qtype() -> String {
    "A".to_owned()
}
fn d_rcode() -> String {
    "NOERROR".to_owned()
}

impl DnsCheck {
    pub(crate) fn problems(&self, p: &mut Problems) {
        if Name::from_ascii(&self.qname).is_err() {
            p.push("qname", "is not a valid domain name");
        }
        if self.qtype.parse::<RecordType>().is_err() {
            p.push("qtype", "is not a known record type");
        }
        if parse_rcode(&self.expected_rcode).is_none() {
            p.push("expected_rcode", "is not a known RCODE name or number");
        }
    }
}

#[derive(Debug)]
pub(crate) struct CompiledDns {
    name: Name,
    qtype: RecordType,
    rcode: ResponseCode,
    min_answers: usize,
    expect: Vec<String>,
}

/// Parses an RCODE mnemonic (RFC 6895 section 2.3) or number.
pub(crate) fn parse_rcode(s: &str) -> Option<ResponseCode> {
    if let Ok(n) = s.parse::<u16>() {
        return (n < 4096).then(|| <ResponseCode as From<u16>>::from(n));
    }
    let code = match s.to_ascii_uppercase().as_str() {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        _ => return None,
    };
    Some(<ResponseCode as From<u16>>::from(code))
}

/// The form answers and expectations are compared in: addresses parsed (so `2001:DB8::1`
/// equals `2001:db8::1`), and for record types whose data ends in a domain name, lower case
/// without the final dot (so `ns1.example.com` equals the record's `ns1.example.com.`). Other
/// data (TXT, ...) is compared as written.
pub(crate) fn canonical(qtype: RecordType, text: &str) -> String {
    if let Ok(ip) = text.trim().parse::<IpAddr>() {
        return ip.to_string();
    }
    match qtype {
        RecordType::CNAME
        | RecordType::NS
        | RecordType::PTR
        | RecordType::MX
        | RecordType::SRV
        | RecordType::ANAME => text.trim().trim_end_matches('.').to_ascii_lowercase(),
        _ => text.to_owned(),
    }
}

impl CompiledDns {
    pub(crate) fn new(c: &DnsCheck) -> Result<Self, ProbeError> {
        let name = Name::from_ascii(&c.qname).map_err(|e| ProbeError::Dns(e.to_string()))?;
        let qtype: RecordType =
            c.qtype.parse().map_err(|_| ProbeError::Dns(format!("unknown qtype {}", c.qtype)))?;
        let rcode = parse_rcode(&c.expected_rcode)
            .ok_or_else(|| ProbeError::Dns(format!("unknown rcode {}", c.expected_rcode)))?;
        let default_min = usize::from(rcode == ResponseCode::NoError);
        Ok(CompiledDns {
            name,
            qtype,
            rcode,
            min_answers: c.min_answers.unwrap_or(default_min),
            expect: c.expect_answers.iter().map(|e| canonical(qtype, e)).collect(),
        })
    }

    pub(crate) async fn run(&self, addr: SocketAddr, out: &mut ProbeOutcome, start: Instant) {
        let local: SocketAddr = match addr.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = match UdpSocket::bind(local).await {
            Ok(s) => s,
            Err(e) => return out.fail(FailureCause::from_io(&e)),
        };
        // Connected, so an ICMP port unreachable surfaces as ECONNREFUSED.
        if let Err(e) = sock.connect(addr).await {
            return out.fail(FailureCause::from_io(&e));
        }
        let id: u16 = rand::random();
        let mut query = Message::new(id, MessageType::Query, OpCode::Query);
        query.metadata.recursion_desired = false;
        query.add_query(Query::query(self.name.clone(), self.qtype));
        let bytes = match query.to_vec() {
            Ok(b) => b,
            Err(_) => return out.fail(FailureCause::Protocol),
        };
        if let Err(e) = sock.send(&bytes).await {
            return out.fail(FailureCause::from_io(&e));
        }
        out.tier = Tier::L1Tcp;
        let mut buf = vec![0u8; 4096];
        let reply = loop {
            let n = match sock.recv(&mut buf).await {
                Ok(n) => n,
                Err(e) => return out.fail(FailureCause::from_io(&e)),
            };
            out.phases.first_byte.get_or_insert(start.elapsed());
            let Ok(msg) = Message::from_vec(&buf[..n]) else {
                return out.fail(FailureCause::Protocol);
            };
            // Answers to other IDs are stray or spoofed; keep waiting (RFC 5452 section 9.1).
            if msg.metadata.id == id && msg.metadata.message_type == MessageType::Response {
                break msg;
            }
        };
        out.tier = Tier::L3Service;
        let rcode = reply.metadata.response_code;
        out.status = Some(u16::from(rcode));
        if rcode != self.rcode {
            return out.fail(FailureCause::BadStatus);
        }
        let answers: Vec<String> = reply
            .answers
            .iter()
            .filter(|r| r.record_type() == self.qtype)
            .map(|r| canonical(self.qtype, &r.data.to_string()))
            .collect();
        if answers.len() < self.min_answers || !self.expect.iter().all(|e| answers.contains(e)) {
            return out.fail(FailureCause::DnsAnswer);
        }
        out.pass(None);
    }
}
