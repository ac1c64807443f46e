use std::sync::Arc;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const ENGINE: &str = "000000000000000000000002";

#[test]
fn rfc3414_a3_md5_key_localization() {
    // RFC 3414 appendix A.3.1.
    let ku = password_to_key_uncached(AuthProtocol::Md5, b"maplesyrup");
    assert_eq!(ku.as_slice(), hex("9faf3283884e92834ebc9847d8edd963"));
    let kul = localize(AuthProtocol::Md5, &ku, &hex(ENGINE));
    assert_eq!(kul.as_slice(), hex("526f5eed9fcce26f8964c2930787d82b"));
}

#[test]
fn rfc3414_a3_sha1_key_localization() {
    // RFC 3414 appendix A.3.2.
    let ku = password_to_key_uncached(AuthProtocol::Sha1, b"maplesyrup");
    assert_eq!(ku.as_slice(), hex("9fb5cc0381497b3793528939ff788d5d79145211"));
    let kul = localize(AuthProtocol::Sha1, &ku, &hex(ENGINE));
    assert_eq!(kul.as_slice(), hex("6695febc9288e36282235fc7151f128497b38f3f"));
}

#[test]
fn cached_key_equals_uncached() {
    let a = password_to_key(AuthProtocol::Sha256, b"maplesyrup");
    let b = password_to_key(AuthProtocol::Sha256, b"maplesyrup");
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(*a, password_to_key_uncached(AuthProtocol::Sha256, b"maplesyrup"));
}

#[test]
fn key_extension_variants_differ_after_the_localized_prefix() {
    let ku = password_to_key_uncached(AuthProtocol::Sha1, b"maplesyrup");
    let kul = localize(AuthProtocol::Sha1, &ku, &hex(ENGINE));
    let b = extend_key(AuthProtocol::Sha1, KeyExtension::Blumenthal, &kul, &hex(ENGINE), 32);
    let r = extend_key(AuthProtocol::Sha1, KeyExtension::Reeder, &kul, &hex(ENGINE), 32);
    assert_eq!(&b.as_slice()[..20], kul.as_slice());
    assert_eq!(&r.as_slice()[..20], kul.as_slice());
    assert_eq!(&b.as_slice()[20..], &digest(AuthProtocol::Sha1, &[kul.as_slice()])[..12]);
    assert_ne!(b.as_slice()[20..], r.as_slice()[20..]);
}

#[test]
fn mac_lengths_follow_rfc7860() {
    let lens: Vec<usize> = [
        AuthProtocol::Md5,
        AuthProtocol::Sha1,
        AuthProtocol::Sha224,
        AuthProtocol::Sha256,
        AuthProtocol::Sha384,
        AuthProtocol::Sha512,
    ]
    .iter()
    .map(|p| p.mac_len())
    .collect();
    assert_eq!(lens, [12, 12, 16, 24, 32, 48]);
}

#[test]
fn sign_then_verify_detects_tampering() {
    for p in [AuthProtocol::Md5, AuthProtocol::Sha1, AuthProtocol::Sha512] {
        let key = AuthKey::new(p, &KeyBytes::new(vec![7; 20]));
        let mut msg = vec![1u8; 100];
        msg[40..40 + p.mac_len()].fill(0);
        key.sign(&mut msg, 40);
        let mac = msg[40..40 + p.mac_len()].to_vec();
        assert!(key.verify(&msg, 40, &mac));
        msg[99] ^= 1;
        assert!(!key.verify(&msg, 40, &mac));
    }
}

#[test]
fn every_privacy_protocol_round_trips() {
    let kul = KeyBytes::new((0..20).collect());
    for p in [
        PrivProtocol::Des,
        PrivProtocol::Aes128,
        PrivProtocol::Aes192,
        PrivProtocol::Aes256,
        PrivProtocol::Aes192Reeder,
        PrivProtocol::Aes256Reeder,
    ] {
        let k = PrivKey::new(p, AuthProtocol::Sha1, &kul, b"engine");
        let plain: Vec<u8> = (0..77u8).collect();
        let mut c = Vec::new();
        let params = k.encrypt(5, 1000, 42, &plain, &mut c);
        assert_ne!(&c[..plain.len()], &plain[..]);
        let mut back = Vec::new();
        k.decrypt(5, 1000, &params, &c, &mut back).unwrap();
        assert_eq!(&back[..plain.len()], &plain[..], "{p:?}");
    }
}

#[test]
fn des_rejects_partial_blocks() {
    let k = PrivKey::new(PrivProtocol::Des, AuthProtocol::Md5, &KeyBytes::new(vec![1; 16]), b"e");
    let mut out = Vec::new();
    assert_eq!(k.decrypt(0, 0, &[0; 8], &[0; 7], &mut out), Err(DecryptError));
    assert_eq!(k.decrypt(0, 0, &[0; 7], &[0; 8], &mut out), Err(DecryptError));
}

#[test]
fn debug_output_has_no_secrets() {
    let u = UsmUser::no_auth("alice")
        .unwrap()
        .with_auth(AuthProtocol::Sha1, b"supersecret1")
        .unwrap()
        .with_privacy(PrivProtocol::Aes128, b"privsecret1")
        .unwrap();
    let s = format!("{u:?} {:?}", LocalizedKeys::new(&u, b"engine"));
    assert!(!s.contains("secret"));
    assert!(s.contains("redacted"));
}

mod manager_and_agent {
    use std::time::{Duration, Instant};

    use super::super::agent::{AuthoritativeEngine, Rejection};
    use super::super::*;
    use crate::codec::{Oid, PduHeader, PduType, Value, VarBind};

    fn user(name: &str, p: PrivProtocol) -> UsmUser {
        UsmUser::no_auth(name)
            .unwrap()
            .with_auth(AuthProtocol::Sha256, b"authpass-1")
            .unwrap()
            .with_privacy(p, b"privpass-1")
            .unwrap()
    }

    /// Full exchange through both sides of USM: discovery, request, response.
    #[test]
    fn discovery_request_response_and_reboot() {
        let now = Instant::now();
        let mut agent = AuthoritativeEngine::new(
            b"\x80\x00\x1f\x88\x04sim".to_vec(),
            7,
            now,
            &[user("u", PrivProtocol::Aes256)],
        );
        let mut mgr = UsmSession::new(user("u", PrivProtocol::Aes256), 1);
        let (mut out, mut reply, mut scratch, mut s2) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let oids = [Oid::from_static(&[1, 3, 6, 1, 2, 1, 1, 3, 0])];
        let h = PduHeader::request(PduType::Get, 1);
        assert_eq!(
            mgr.encode_request(now, 1, 65507, b"", &h, &oids[..], &mut out),
            Err(UsmError::UnknownEngine)
        );
        UsmSession::encode_discovery(1, 1, &mut out);
        assert!(matches!(
            agent.process(now, &out, &mut scratch, &mut reply),
            Err(Rejection::Report)
        ));
        assert!(matches!(mgr.process(now, &reply, &mut s2), Ok(Incoming::Resync)));
        assert_eq!(mgr.engine().unwrap().boots, 7);

        let later = now + Duration::from_secs(30);
        out.clear();
        mgr.encode_request(later, 2, 65507, b"", &h, &oids[..], &mut out).unwrap();
        let req = agent.process(later, &out, &mut scratch, &mut Vec::new()).unwrap();
        assert_eq!(req.scoped.pdu.varbinds.len(), 1);
        let ctx = req.context.clone();
        reply.clear();
        let vbs = [VarBind::new(oids[0].clone(), Value::TimeTicks(3000))];
        agent.encode(later, &ctx, &PduHeader::request(PduType::Response, 1), &vbs[..], &mut reply);
        let Ok(Incoming::Pdu(p)) = mgr.process(later, &reply, &mut s2) else {
            panic!("response expected")
        };
        assert_eq!(p.pdu.varbinds.to_vec(), vbs);
        assert!(mgr.engine().unwrap().authenticated);

        // After a reboot the agent reports notInTimeWindow (authenticated); the manager
        // adopts the new boots and its next request is accepted.
        agent.reboot(later);
        out.clear();
        mgr.encode_request(later, 3, 65507, b"", &h, &oids[..], &mut out).unwrap();
        reply.clear();
        assert!(matches!(
            agent.process(later, &out, &mut scratch, &mut reply),
            Err(Rejection::Report)
        ));
        assert!(matches!(mgr.process(later, &reply, &mut s2), Ok(Incoming::Resync)));
        assert_eq!(mgr.engine().unwrap().boots, 8);
        out.clear();
        mgr.encode_request(later, 4, 65507, b"", &h, &oids[..], &mut out).unwrap();
        assert!(agent.process(later, &out, &mut scratch, &mut Vec::new()).is_ok());
    }

    #[test]
    fn wrong_key_is_reported_as_auth_failure() {
        let now = Instant::now();
        let mut agent = AuthoritativeEngine::new(
            b"\x80\x00\x1f\x88\x04sim".to_vec(),
            1,
            now,
            &[user("u", PrivProtocol::Aes128)],
        );
        let bad = UsmUser::no_auth("u")
            .unwrap()
            .with_auth(AuthProtocol::Sha256, b"wrongpass-1")
            .unwrap()
            .with_privacy(PrivProtocol::Aes128, b"privpass-1")
            .unwrap();
        let mut mgr = UsmSession::new(bad, 1);
        mgr.set_engine(agent.engine_id(), 1, 0, now);
        let (mut out, mut reply, mut scratch, mut s2) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let oids = [Oid::from_static(&[1, 3, 6, 1, 2, 1, 1, 3, 0])];
        mgr.encode_request(
            now,
            5,
            65507,
            b"",
            &PduHeader::request(PduType::Get, 5),
            &oids[..],
            &mut out,
        )
        .unwrap();
        assert!(matches!(
            agent.process(now, &out, &mut scratch, &mut reply),
            Err(Rejection::Report)
        ));
        assert_eq!(agent.stats.wrong_digests, 1);
        assert!(matches!(
            mgr.process(now, &reply, &mut s2),
            Ok(Incoming::Report(UsmError::AuthFailure))
        ));
    }

    /// A reply that fails the digest or decryption is an `Err` (drop it and keep waiting);
    /// only the agent's Report is an answer.
    #[test]
    fn forged_and_undecryptable_replies_are_errors_not_reports() {
        let now = Instant::now();
        let engine_id = b"\x80\x00\x1f\x88\x04sim".to_vec();
        let mut agent =
            AuthoritativeEngine::new(engine_id.clone(), 1, now, &[user("u", PrivProtocol::Aes128)]);
        let mut mgr = UsmSession::new(user("u", PrivProtocol::Aes128), 1);
        mgr.set_engine(&engine_id, 1, 0, now);
        let ctx = agent::RequestContext {
            msg_id: 9,
            max_size: 65507,
            user: b"u".to_vec(),
            level: SecurityLevel::AuthPriv,
            context_name: Vec::new(),
        };
        let vbs =
            [VarBind::new(Oid::from_static(&[1, 3, 6, 1, 2, 1, 1, 3, 0]), Value::TimeTicks(1))];
        let h = PduHeader::request(PduType::Response, 9);
        let mut reply = Vec::new();
        agent.encode(now, &ctx, &h, &vbs[..], &mut reply);
        let mut s2 = Vec::new();
        let mut forged = reply.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert_eq!(mgr.process(now, &forged, &mut s2).unwrap_err(), UsmError::AuthFailure);
        assert!(matches!(mgr.process(now, &reply, &mut s2), Ok(Incoming::Pdu(_))));

        // Same user and authentication key, another privacy key: the digest verifies, the
        // scopedPDU does not decrypt.
        let other = UsmUser::no_auth("u")
            .unwrap()
            .with_auth(AuthProtocol::Sha256, b"authpass-1")
            .unwrap()
            .with_privacy(PrivProtocol::Aes128, b"otherpass-1")
            .unwrap();
        let mut impostor = AuthoritativeEngine::new(engine_id, 1, now, &[other]);
        let mut garbled = Vec::new();
        impostor.encode(now, &ctx, &h, &vbs[..], &mut garbled);
        assert_eq!(mgr.process(now, &garbled, &mut s2).unwrap_err(), UsmError::DecryptFailure);
    }
}
