use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::Duration;

use super::gso::Outgoing;

#[test]
fn grouped_sends_arrive_as_separate_datagrams() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    other.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut out = Outgoing::default();
    out.clear();
    for k in 0..5u8 {
        out.push(rx.local_addr().unwrap(), &[k; 40], 1);
    }
    out.push(rx.local_addr().unwrap(), &[9; 41], 2);
    out.push(other.local_addr().unwrap(), &[7; 40], 1);
    out.flush(&tx);
    let mut got: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut buf = [0u8; 2048];
    for _ in 0..7 {
        let n = rx.recv(&mut buf).unwrap();
        *got.entry(buf[..n].to_vec()).or_default() += 1;
    }
    for k in 0..5u8 {
        assert_eq!(got.get(&vec![k; 40]), Some(&1), "datagram {k}");
    }
    assert_eq!(got.get(&vec![9; 41]), Some(&2), "duplicate of the odd-sized one");
    let n = other.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[7; 40]);
}
