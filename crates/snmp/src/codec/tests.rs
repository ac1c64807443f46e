use proptest::prelude::*;

use super::*;

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

#[test]
fn oid_text_round_trip_and_order() {
    let o = oid(".1.3.6.1.2.1.1.1.0");
    assert_eq!(o.to_string(), "1.3.6.1.2.1.1.1.0");
    assert!(oid("1.3.6.1.2.1.2") < oid("1.3.6.1.2.1.10"));
    assert_eq!("".parse::<Oid>(), Err(OidError::Syntax));
    assert_eq!(Oid::new(Vec::new()), Err(OidError::TooShort));
    // A one-arc root, as `snmpwalk .1` takes it, goes on the wire as 1.0.
    let one = oid(".1");
    assert_eq!(one.arcs(), [1]);
    let mut out = Vec::new();
    one.encode_into(&mut out);
    assert_eq!(out, [0x28]);
    assert!(one < oid("1.0") && oid("1.3.6") > one && oid("1.3.6").starts_with(&one));
    assert_eq!("3.1".parse::<Oid>(), Err(OidError::BadPrefix));
    assert_eq!("1.x".parse::<Oid>(), Err(OidError::Syntax));
}

#[test]
fn oid_ber_matches_x690_example() {
    // X.690 8.19.5: {2 999 3} encodes as 0x88 0x37 0x03.
    let mut out = Vec::new();
    oid("2.999.3").encode_into(&mut out);
    assert_eq!(out, [0x88, 0x37, 0x03]);
    let r = OidRef::parse(&out).unwrap();
    assert_eq!(r.to_oid(), oid("2.999.3"));
}

#[test]
fn oid_ref_rejects_malformed() {
    assert_eq!(OidRef::parse(&[]), Err(DecodeError::BadOid));
    assert_eq!(OidRef::parse(&[0x2b, 0x86]), Err(DecodeError::BadOid), "unterminated");
    assert_eq!(OidRef::parse(&[0x2b, 0x80, 0x01]), Err(DecodeError::BadOid), "non-minimal");
    assert_eq!(
        OidRef::parse(&[0x2b, 0x90, 0x80, 0x80, 0x80, 0x00]),
        Err(DecodeError::BadOid),
        "above 32 bits"
    );
}

/// A v2c GetResponse for sysDescr.0 laid out as net-snmp encodes it (community "public").
const SNMPD_V2C_SYSDESCR: &[u8] = &[
    0x30, 0x2e, 0x02, 0x01, 0x01, 0x04, 0x06, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0xa2, 0x21, 0x02,
    0x04, 0x12, 0x34, 0x56, 0x78, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x13, 0x30, 0x11, 0x06,
    0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x04, 0x05, 0x4c, 0x69, 0x6e, 0x75, 0x78,
];

#[test]
fn decodes_a_v2c_response() {
    let m = CommunityMessage::decode(SNMPD_V2C_SYSDESCR).unwrap();
    assert_eq!(m.version, Version::V2c);
    assert_eq!(m.community, b"public");
    assert_eq!(m.pdu.pdu_type, PduType::Response);
    assert_eq!(m.pdu.request_id, 0x12345678);
    let vb = m.pdu.varbinds.get(0).unwrap();
    assert_eq!(vb.oid.to_oid(), oid("1.3.6.1.2.1.1.1.0"));
    assert_eq!(vb.value, ValueRef::OctetString(b"Linux"));
    // Re-encoding gives the same bytes.
    let mut out = Vec::new();
    let h = PduHeader::request(PduType::Response, m.pdu.request_id);
    encode_community(&mut out, m.version, m.community, &h, &m.pdu.varbinds);
    assert_eq!(out, SNMPD_V2C_SYSDESCR);
    assert_eq!(
        peek_route(&out).unwrap(),
        Route::Community { version: Version::V2c, community: b"public", request_id: 0x12345678 }
    );
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for n in 0..SNMPD_V2C_SYSDESCR.len() {
        assert!(CommunityMessage::decode(&SNMPD_V2C_SYSDESCR[..n]).is_err(), "prefix {n}");
    }
    // Bytes after the message are not part of it (net-snmp ignores them too).
    let mut long = SNMPD_V2C_SYSDESCR.to_vec();
    long.extend_from_slice(&[0, 0, 0x30]);
    assert_eq!(CommunityMessage::decode(&long), CommunityMessage::decode(SNMPD_V2C_SYSDESCR));
}

#[test]
fn length_larger_than_buffer_is_rejected() {
    let bad = [0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01];
    assert_eq!(CommunityMessage::decode(&bad), Err(DecodeError::Truncated));
    let indefinite = [0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00];
    assert_eq!(CommunityMessage::decode(&indefinite), Err(DecodeError::BadLength));
}

#[test]
fn integers_use_minimal_twos_complement() {
    let enc = |v: i64| {
        let mut out = Vec::new();
        ber::Writer::new(&mut out).i64(ber::tag::INTEGER, v);
        out
    };
    assert_eq!(enc(0), [2, 1, 0]);
    assert_eq!(enc(127), [2, 1, 0x7f]);
    assert_eq!(enc(128), [2, 2, 0, 0x80]);
    assert_eq!(enc(-1), [2, 1, 0xff]);
    assert_eq!(enc(-129), [2, 2, 0xff, 0x7f]);
    let mut out = Vec::new();
    ber::Writer::new(&mut out).u64(ber::tag::COUNTER64, u64::MAX);
    assert_eq!(out, [0x46, 9, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(ber::decode_u32(&[0xff, 0xff, 0xff, 0xfe]), Ok(0xffff_fffe));
}

#[test]
fn wide_and_non_minimal_integers_decode_as_net_snmp_reads_them() {
    // INTEGER: up to eight octets, as long as the value fits 32 bits.
    assert_eq!(ber::decode_i32(&[0, 0, 0, 0, 42]), Ok(42));
    assert_eq!(ber::decode_i32(&[0xff, 0xff, 0xff, 0xff, 0xfe]), Ok(-2));
    assert_eq!(ber::decode_i32(&[0, 0xff, 0xff, 0xff, 0xff]), Err(DecodeError::BadInteger));
    assert_eq!(ber::decode_i32(&[]), Err(DecodeError::BadInteger));
    assert_eq!(ber::decode_i32(&[0; 9]), Err(DecodeError::BadInteger));
    // Unsigned 32-bit types keep the low 32 bits of up to eight octets (nine with a zero).
    assert_eq!(ber::decode_u32(&[0, 0xff, 0xff, 0xff, 0xff]), Ok(u32::MAX));
    assert_eq!(ber::decode_u32(&[1, 0, 0, 0, 7]), Ok(7));
    assert_eq!(ber::decode_u32(&[0, 1, 2, 3, 4, 5, 6, 7, 8]), Ok(0x0506_0708));
    assert_eq!(ber::decode_u32(&[1, 1, 2, 3, 4, 5, 6, 7, 8]), Err(DecodeError::BadInteger));
    assert_eq!(ber::decode_u32(&[]), Err(DecodeError::BadInteger));
}

#[test]
fn long_form_lengths_minimal_or_not() {
    assert_eq!(ber::read_length(&[0x05]), Ok((5, 1)));
    assert_eq!(ber::read_length(&[0x81, 0x05]), Ok((5, 2)));
    assert_eq!(ber::read_length(&[0x84, 0, 0, 1, 0]), Ok((256, 5)));
    assert_eq!(ber::read_length(&[0x88, 0, 0, 0, 0, 0, 0, 0, 9]), Ok((9, 9)));
    assert_eq!(ber::read_length(&[0x89, 0, 0, 0, 0, 0, 0, 0, 0, 9]), Err(DecodeError::BadLength));
    assert_eq!(ber::read_length(&[0x80]), Err(DecodeError::BadLength), "indefinite");
    assert_eq!(ber::read_length(&[0x82, 1]), Err(DecodeError::Truncated));
}

/// A v2c response whose bindings are: an unknown application tag, an empty INTEGER, a
/// five-byte IpAddress, NULL with content, then a good Counter32.
fn response_with_odd_values() -> Vec<u8> {
    let values: [&[u8]; 5] = [
        &[0x48, 0x02, 0xbe, 0xef],
        &[0x02, 0x00],
        &[0x40, 0x05, 10, 0, 0, 1, 9],
        &[0x05, 0x01, 0x00],
        &[0x41, 0x02, 0x03, 0xe8],
    ];
    let mut vbs = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let name = [0x2b, 6, 1, 4, 1, 0x86, 0x8d, 0x1f, i as u8 + 1, 0];
        let mut vb = vec![0x06, name.len() as u8];
        vb.extend_from_slice(&name);
        vb.extend_from_slice(v);
        vbs.push(0x30);
        vbs.push(vb.len() as u8);
        vbs.extend_from_slice(&vb);
    }
    let mut pdu = vec![0x02, 0x01, 0x07, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, vbs.len() as u8];
    pdu.extend_from_slice(&vbs);
    let mut body = vec![0x02, 0x01, 0x01, 0x04, 0x01, b'c', 0xa2, pdu.len() as u8];
    body.extend_from_slice(&pdu);
    let mut msg = vec![0x30, body.len() as u8];
    msg.extend_from_slice(&body);
    msg
}

#[test]
fn one_value_not_understood_does_not_cost_the_reply() {
    let msg = response_with_odd_values();
    let m = CommunityMessage::decode(&msg).expect("the reply decodes");
    let got: Vec<ValueRef<'_>> = m.pdu.varbinds.iter().map(|v| v.value).collect();
    assert_eq!(
        got,
        [
            ValueRef::Other { tag: 0x48, content: &[0xbe, 0xef] },
            ValueRef::Other { tag: 0x02, content: &[] },
            ValueRef::Other { tag: 0x40, content: &[10, 0, 0, 1, 9] },
            ValueRef::Null,
            ValueRef::Counter32(1000),
        ]
    );
    // What was not understood is kept as received: the message re-encodes byte for byte
    // but for the NULL, whose content is dropped.
    let vbs = m.pdu.varbinds.to_vec();
    assert_eq!(vbs[1].value, Value::Other { tag: 0x02, content: vec![] });
    let mut out = Vec::new();
    encode_community(
        &mut out,
        m.version,
        m.community,
        &PduHeader::request(PduType::Response, 7),
        &vbs[..],
    );
    assert_eq!(CommunityMessage::decode(&out).unwrap().pdu.varbinds.to_vec(), vbs);
}

#[test]
fn uinteger32_nsap_and_opaque_special_types() {
    assert_eq!(ValueRef::from_tlv(0x47, &[0x2a]), ValueRef::UInteger32(42));
    assert_eq!(
        ValueRef::from_tlv(0x45, &[0x47, 0, 5, 0x80]),
        ValueRef::NsapAddress(&[0x47, 0, 5, 0x80])
    );
    let op = |c: &[u8]| OpaqueValue::decode(c);
    assert_eq!(op(&[0x9f, 0x78, 4, 0x3f, 0xc0, 0, 0]), Some(OpaqueValue::Float(1.5)));
    assert_eq!(op(&[0x9f, 0x79, 8, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]), Some(OpaqueValue::Double(1.5)));
    assert_eq!(op(&[0x9f, 0x7a, 1, 0xfb]), Some(OpaqueValue::Int64(-5)));
    assert_eq!(op(&[0x9f, 0x7b, 2, 0x01, 0x00]), Some(OpaqueValue::UInt64(256)));
    assert_eq!(op(&[0x9f, 0x76, 5, 1, 0, 0, 0, 0]), Some(OpaqueValue::Counter64(1 << 32)));
    assert_eq!(op(&[0x9f, 0x78, 3, 0x3f, 0xc0, 0]), None, "a float is four octets");
    assert_eq!(op(&[0x9f, 0x78, 4, 0x3f, 0xc0, 0]), None, "truncated");
    assert_eq!(op(&[0x9f, 0x70, 1, 0]), None, "unknown kind");
    assert_eq!(op(&[1, 2, 3]), None, "plain opaque data");
}

#[test]
fn long_sequences_get_long_form_lengths() {
    let vbs: Vec<VarBind> = (0..40)
        .map(|i| VarBind::new(oid("1.3.6.1.2.1.2.2.1.10").join(&[i]), Value::Counter32(i * 1000)))
        .collect();
    let mut out = Vec::new();
    encode_community(
        &mut out,
        Version::V2c,
        b"c",
        &PduHeader::request(PduType::Response, 7),
        &vbs[..],
    );
    assert_eq!(out[1], 0x82);
    let m = CommunityMessage::decode(&out).unwrap();
    assert_eq!(m.pdu.varbinds.to_vec(), vbs);
}

#[test]
fn v3_message_round_trip_and_auth_offset() {
    let mut scoped = Vec::new();
    let vbs = [VarBind::null(oid("1.3.6.1.2.1.1.3.0"))];
    encode_scoped_pdu(
        &mut scoped,
        b"\x80\x00\x1f\x88\x04",
        b"",
        &PduHeader::request(PduType::Get, 9),
        &vbs[..],
    );
    let h = HeaderData {
        msg_id: 77,
        max_size: 65507,
        flags: flags::AUTH | flags::REPORTABLE,
        security_model: 3,
    };
    let usm = UsmParamsOut {
        engine_id: &[0x80, 0, 0x1f, 0x88, 4],
        boots: 3,
        time: 12345,
        user: b"alice",
        auth_len: 12,
        priv_params: b"",
    };
    let mut out = Vec::new();
    let off = encode_v3(&mut out, &h, &usm, ScopedOut::Plain(&scoped));
    out[off..off + 12].copy_from_slice(&[0xaa; 12]);
    let m = V3Message::decode(&out).unwrap();
    assert_eq!(m.header, h);
    assert_eq!(m.usm.auth_offset, off);
    assert_eq!(m.usm.auth_params, &[0xaa; 12]);
    assert_eq!((m.usm.boots, m.usm.time, m.usm.user), (3, 12345, &b"alice"[..]));
    let ScopedData::Plain(s) = m.data else { panic!("plain expected") };
    assert_eq!(s.pdu.varbinds.to_vec(), vbs);
    assert_eq!(peek_route(&out).unwrap(), Route::V3 { msg_id: 77 });
}

fn arb_oid() -> impl Strategy<Value = Oid> {
    (0u32..3, 0u32..40, proptest::collection::vec(any::<u32>(), 0..20)).prop_map(|(a, b, rest)| {
        let mut v = vec![a, b];
        v.extend(rest);
        Oid::new(v).unwrap()
    })
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::OctetString),
        Just(Value::Null),
        arb_oid().prop_map(Value::ObjectId),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Opaque),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::NsapAddress),
        any::<u64>().prop_map(Value::Counter64),
        any::<u32>().prop_map(Value::UInteger32),
        (
            prop_oneof![Just(0x03u8), Just(0x48), Just(0x4e), Just(0x83), Just(0x9e), Just(0xc0)],
            proptest::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(tag, content)| Value::Other { tag, content }),
        Just(Value::NoSuchObject),
        Just(Value::NoSuchInstance),
        Just(Value::EndOfMibView),
    ]
}

fn arb_pdu_type() -> impl Strategy<Value = PduType> {
    prop_oneof![
        Just(PduType::Get),
        Just(PduType::GetNext),
        Just(PduType::Response),
        Just(PduType::Set),
        Just(PduType::GetBulk),
        Just(PduType::Inform),
        Just(PduType::TrapV2),
        Just(PduType::Report),
    ]
}

proptest! {
    #[test]
    fn community_message_round_trips(
        v1 in any::<bool>(),
        community in proptest::collection::vec(any::<u8>(), 0..40),
        ty in arb_pdu_type(),
        id in any::<i32>(), es in any::<i32>(), ei in any::<i32>(),
        vbs in proptest::collection::vec((arb_oid(), arb_value()).prop_map(|(o, v)| VarBind::new(o, v)), 0..30),
    ) {
        let version = if v1 { Version::V1 } else { Version::V2c };
        let h = PduHeader { pdu_type: ty, request_id: id, error_status: es, error_index: ei };
        let mut out = Vec::new();
        encode_community(&mut out, version, &community, &h, &vbs[..]);
        let m = CommunityMessage::decode(&out).unwrap();
        prop_assert_eq!(m.version, version);
        prop_assert_eq!(m.community, &community[..]);
        prop_assert_eq!((m.pdu.pdu_type, m.pdu.request_id, m.pdu.error_status, m.pdu.error_index), (ty, id, es, ei));
        prop_assert_eq!(m.pdu.varbinds.len(), vbs.len());
        prop_assert_eq!(m.pdu.varbinds.to_vec(), vbs);
    }

    #[test]
    fn v3_message_round_trips(
        msg_id in 0..i32::MAX, boots in 0..i32::MAX as u32, time in 0..i32::MAX as u32,
        engine in proptest::collection::vec(any::<u8>(), 5..32),
        user in proptest::collection::vec(any::<u8>(), 0..32),
        auth_len in prop_oneof![Just(0usize), Just(12), Just(24), Just(48)],
        encrypted in proptest::collection::vec(any::<u8>(), 0..400),
        vbs in proptest::collection::vec((arb_oid(), arb_value()).prop_map(|(o, v)| VarBind::new(o, v)), 0..10),
        private in any::<bool>(),
    ) {
        let mut scoped = Vec::new();
        encode_scoped_pdu(&mut scoped, &engine, b"ctx", &PduHeader::request(PduType::Response, 5), &vbs[..]);
        let flags = if private { flags::AUTH | flags::PRIV } else { flags::AUTH };
        let h = HeaderData { msg_id, max_size: 1500, flags, security_model: 3 };
        let usm = UsmParamsOut { engine_id: &engine, boots, time, user: &user, auth_len, priv_params: &[1, 2, 3, 4, 5, 6, 7, 8] };
        let data = if private { ScopedOut::Encrypted(&encrypted) } else { ScopedOut::Plain(&scoped) };
        let mut out = Vec::new();
        let off = encode_v3(&mut out, &h, &usm, data);
        let m = V3Message::decode(&out).unwrap();
        prop_assert_eq!(m.header, h);
        prop_assert_eq!(m.usm.auth_offset, off);
        prop_assert_eq!(m.usm.auth_params.len(), auth_len);
        prop_assert_eq!((m.usm.engine_id, m.usm.boots, m.usm.time, m.usm.user), (&engine[..], boots, time, &user[..]));
        match m.data {
            ScopedData::Encrypted(e) => { prop_assert!(private); prop_assert_eq!(e, &encrypted[..]); }
            ScopedData::Plain(s) => { prop_assert!(!private); prop_assert_eq!(s.pdu.varbinds.to_vec(), vbs); }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = CommunityMessage::decode(&bytes);
        let _ = V3Message::decode(&bytes);
        let _ = peek_route(&bytes);
    }
}
