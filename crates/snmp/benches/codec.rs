//! Codec and USM hot paths: decoding and encoding a typical GetBulk response, and processing
//! a v3 authPriv (SHA/AES-128) exchange.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard_snmp::codec::{
    CommunityMessage, Oid, PduHeader, PduType, Value, VarBind, Version, encode_community,
};
use switchyard_snmp::usm::agent::AuthoritativeEngine;
use switchyard_snmp::usm::{AuthProtocol, Incoming, PrivProtocol, UsmSession, UsmUser};

/// A 25-row GetBulk response over ifHCInOctets as a switch returns it.
fn bulk_response() -> (Vec<u8>, Vec<VarBind>) {
    let col = Oid::from_static(&[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6]);
    let vbs: Vec<VarBind> = (1..=25u32)
        .map(|i| {
            VarBind::new(col.join(&[i + 10100]), Value::Counter64(1_234_567_890_123 * i as u64))
        })
        .collect();
    let mut out = Vec::new();
    encode_community(
        &mut out,
        Version::V2c,
        b"public",
        &PduHeader::request(PduType::Response, 0x1234_5678),
        &vbs[..],
    );
    (out, vbs)
}

fn codec(c: &mut Criterion) {
    let (msg, vbs) = bulk_response();
    let mut g = c.benchmark_group("getbulk_response_25");
    g.throughput(Throughput::Elements(25));
    g.bench_function("decode_borrowed", |b| {
        b.iter(|| {
            let m = CommunityMessage::decode(black_box(&msg)).unwrap();
            let mut sum = 0u64;
            for vb in m.pdu.varbinds.iter() {
                if let switchyard_snmp::codec::ValueRef::Counter64(v) = vb.value {
                    sum = sum.wrapping_add(v);
                }
            }
            sum
        })
    });
    g.bench_function("decode_owned", |b| {
        b.iter(|| CommunityMessage::decode(black_box(&msg)).unwrap().pdu.varbinds.to_vec())
    });
    let mut out = Vec::with_capacity(2048);
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            encode_community(
                &mut out,
                Version::V2c,
                b"public",
                &PduHeader::request(PduType::Response, 7),
                black_box(&vbs[..]),
            );
            out.len()
        })
    });
    g.finish();
}

fn user() -> UsmUser {
    UsmUser::no_auth("bench")
        .unwrap()
        .with_auth(AuthProtocol::Sha1, b"bench-auth-pass")
        .unwrap()
        .with_privacy(PrivProtocol::Aes128, b"bench-priv-pass")
        .unwrap()
}

fn v3(c: &mut Criterion) {
    let now = Instant::now();
    let mut agent =
        AuthoritativeEngine::new(b"\x80\x00\x1f\x88\x04bench".to_vec(), 3, now, &[user()]);
    let mut mgr = UsmSession::new(user(), 9);
    mgr.set_engine(agent.engine_id(), 3, 0, now);
    let oids = [Oid::from_static(&[1, 3, 6, 1, 2, 1, 1, 3, 0])];
    let (_, vbs) = bulk_response();
    let (mut req, mut scratch, mut resp) = (Vec::new(), Vec::new(), Vec::new());
    mgr.encode_request(
        now,
        1,
        65507,
        b"",
        &PduHeader::request(PduType::GetBulk, 1),
        &oids[..],
        &mut req,
    )
    .unwrap();
    let ctx = agent.process(now, &req, &mut scratch, &mut Vec::new()).unwrap().context;
    agent.encode(now, &ctx, &PduHeader::request(PduType::Response, 1), &vbs[..], &mut resp);

    let mut g = c.benchmark_group("v3_authpriv_sha_aes128");
    let mut out = Vec::with_capacity(512);
    g.bench_function("encode_request", |b| {
        let mut id = 1;
        b.iter(|| {
            out.clear();
            id += 1;
            mgr.encode_request(
                now,
                id,
                65507,
                b"",
                &PduHeader::request(PduType::Get, id),
                &oids[..],
                &mut out,
            )
            .unwrap();
            out.len()
        })
    });
    let mut s2 = Vec::with_capacity(2048);
    g.bench_function("process_response_25_varbinds", |b| {
        b.iter(|| match mgr.process(now, black_box(&resp), &mut s2).unwrap() {
            Incoming::Pdu(p) => p.pdu.varbinds.len(),
            Incoming::Resync | Incoming::Report(_) => 0,
        })
    });
    g.finish();
}

criterion_group!(benches, codec, v3);
criterion_main!(benches);
