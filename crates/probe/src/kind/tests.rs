use super::agent::parse_reply;
use super::grpc::{authority_host, parse_status};
use crate::outcome::AgentState;

#[test]
fn agent_replies_parse_like_haproxy() {
    let r = parse_reply("up 75%").unwrap();
    assert_eq!(r.state, Some(AgentState::Up));
    assert_eq!(r.weight_percent, Some(75));
    let r = parse_reply("down#disk full\r").unwrap();
    assert_eq!(r.state, Some(AgentState::Down));
    assert_eq!(r.reason.as_deref(), Some("disk full"));
    assert_eq!(parse_reply("DRAIN").unwrap().state, Some(AgentState::Drain));
    assert_eq!(parse_reply("maint").unwrap().state, Some(AgentState::Maint));
    assert_eq!(parse_reply("ready,weight:20%").unwrap().weight_percent, Some(20));
    let r = parse_reply("maxconn:12 stopped").unwrap();
    assert_eq!((r.maxconn, r.state), (Some(12), Some(AgentState::Down)));
    assert_eq!(parse_reply("hello world"), None);
    assert_eq!(parse_reply(""), None);
    assert_eq!(parse_reply("x%"), None);
}

#[test]
fn grpc_health_response_decoding() {
    assert_eq!(parse_status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
    assert_eq!(parse_status(&[0, 0, 0, 0, 2, 0x08, 2]), Some(2));
    // Empty message: proto3 default UNKNOWN.
    assert_eq!(parse_status(&[0, 0, 0, 0, 0]), Some(0));
    // Unknown length-delimited field skipped.
    assert_eq!(parse_status(&[0, 0, 0, 0, 5, 0x12, 1, b'x', 0x08, 1]), Some(1));
    assert_eq!(parse_status(&[1, 0, 0, 0, 2, 0x08, 1]), None, "compressed");
    assert_eq!(parse_status(&[0, 0, 0, 0, 9, 0x08]), None, "truncated");
}

#[test]
fn grpc_server_name_comes_from_the_authority_host() {
    assert_eq!(authority_host("edge.example:443"), "edge.example");
    assert_eq!(authority_host("edge.example"), "edge.example");
    assert_eq!(authority_host("[2001:db8::1]:8443"), "2001:db8::1");
    assert_eq!(authority_host("2001:db8::1"), "2001:db8::1", "a bare IPv6 address has no port");
    assert_eq!(authority_host("10.0.0.1:50051"), "10.0.0.1");
}

#[test]
fn dns_answers_compare_in_canonical_form() {
    use super::dns::canonical;
    use hickory_proto::rr::RecordType;
    assert_eq!(
        canonical(RecordType::NS, "NS1.Example.com."),
        canonical(RecordType::NS, "ns1.example.com")
    );
    assert_eq!(canonical(RecordType::MX, "10 mail.example.com."), "10 mail.example.com");
    assert_eq!(
        canonical(RecordType::AAAA, "2001:DB8::1"),
        canonical(RecordType::AAAA, "2001:db8:0::1")
    );
    // TXT data is compared as written, case and dots included.
    assert_ne!(canonical(RecordType::TXT, "v=OK."), canonical(RecordType::TXT, "v=ok"));
}
