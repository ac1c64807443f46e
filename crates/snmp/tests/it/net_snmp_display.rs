//! The display of every value type against net-snmp itself: a loopback responder answers
//! `snmpget` with the bindings of the `net_snmp_every_type_response` golden message, and
//! `snmpget -On` must print what `display::format_varbind` prints for the same bytes.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use switchyard_snmp::codec::{
    CommunityMessage, PduHeader, PduType, Route, encode_community, peek_route,
};
use switchyard_snmp::display::format_varbind;

const GOLDEN: &[u8] = include_bytes!("golden/net_snmp_every_type_response.ber");

/// Answers every v2c request on `socket` with the golden bindings under the request's id,
/// two bytes of padding after the message, until no request comes for a few seconds.
fn serve_golden(socket: UdpSocket) {
    let golden = CommunityMessage::decode(GOLDEN).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        let Ok(Route::Community { request_id, .. }) = peek_route(&buf[..n]) else { continue };
        let mut out = Vec::new();
        let h = PduHeader::request(PduType::Response, request_id);
        encode_community(&mut out, golden.version, golden.community, &h, &golden.pdu.varbinds);
        out.extend_from_slice(&[0, 0]);
        let _ = socket.send_to(&out, from);
    }
}

#[test]
fn snmpget_prints_every_type_as_we_do() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    std::thread::spawn(move || serve_golden(socket));
    let out = Command::new("snmpget")
        .env("MIBS", "")
        .args([
            "-On",
            "-v2c",
            "-c",
            "public",
            "-t",
            "2",
            "-r",
            "1",
            &addr,
            "1.3.6.1.4.1.99999.1.1.0",
        ])
        .output()
        .expect("snmpget (Debian package snmp) must be installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs = String::from_utf8(out.stdout).unwrap();
    let ours: Vec<String> = CommunityMessage::decode(GOLDEN)
        .unwrap()
        .pdu
        .varbinds
        .to_vec()
        .iter()
        .map(format_varbind)
        .collect();
    assert_eq!(theirs.lines().collect::<Vec<_>>(), ours);
}
