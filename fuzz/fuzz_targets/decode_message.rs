//! Decodes arbitrary bytes as an SNMP message (v1/v2c and v3), and checks that whatever
//! decodes re-encodes to a message that decodes to the same thing.
//! Run: `cargo +nightly fuzz run decode_message fuzz/corpus/decode_message`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_snmp::codec::{
    CommunityMessage, HeaderData, PduHeader, ScopedData, ScopedOut, UsmParamsOut, V3Message,
    encode_community, encode_scoped_pdu, encode_v3, peek_route,
};

fuzz_target!(|data: &[u8]| {
    let _ = peek_route(data);
    if let Ok(m) = CommunityMessage::decode(data) {
        let vbs = m.pdu.varbinds.to_vec();
        let h = PduHeader {
            pdu_type: m.pdu.pdu_type,
            request_id: m.pdu.request_id,
            error_status: m.pdu.error_status,
            error_index: m.pdu.error_index,
        };
        let mut out = Vec::new();
        encode_community(&mut out, m.version, m.community, &h, &vbs[..]);
        let again = CommunityMessage::decode(&out).expect("re-encoded message decodes");
        assert_eq!(again.pdu.varbinds.to_vec(), vbs);
        assert_eq!((again.version, again.community), (m.version, m.community));
    }
    if let Ok(m) = V3Message::decode(data) {
        let mut scoped = Vec::new();
        let data_out = match m.data {
            ScopedData::Plain(s) => {
                let h = PduHeader {
                    pdu_type: s.pdu.pdu_type,
                    request_id: s.pdu.request_id,
                    error_status: s.pdu.error_status,
                    error_index: s.pdu.error_index,
                };
                encode_scoped_pdu(
                    &mut scoped,
                    s.context_engine_id,
                    s.context_name,
                    &h,
                    &s.pdu.varbinds.to_vec()[..],
                );
                ScopedOut::Plain(&scoped)
            }
            ScopedData::Encrypted(e) => ScopedOut::Encrypted(e),
        };
        let h: HeaderData = m.header;
        let usm = UsmParamsOut {
            engine_id: m.usm.engine_id,
            boots: m.usm.boots,
            time: m.usm.time,
            user: m.usm.user,
            auth_len: m.usm.auth_params.len(),
            priv_params: m.usm.priv_params,
        };
        let mut out = Vec::new();
        let off = encode_v3(&mut out, &h, &usm, data_out);
        out[off..off + usm.auth_len].copy_from_slice(m.usm.auth_params);
        let again = V3Message::decode(&out).expect("re-encoded v3 message decodes");
        assert_eq!(again.header, m.header);
        assert_eq!(again.usm.auth_params, m.usm.auth_params);
    }
});
