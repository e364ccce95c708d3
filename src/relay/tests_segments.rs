//! The relay and issue 12 (design D11; 23.554 §8.5, §8.8; docs/PROTOCOL.md §18.6): a 5 kB
//! message's segments, `SEGREC`/`SEGCONFIR` and `TOPICSUB` cross it byte-identical, both ways,
//! as any other traffic.

use super::*;
use crate::msg::{self, Message, Payload, Segmentation};

/// The segment `MSG`s of a 5 000-byte payload from `ue-1`, at most 2 048 decoded bytes each.
fn segments() -> Vec<String> {
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<&[u8]> = payload.chunks(msg::DEFAULT_SEGMENT_PAYLOAD).collect();
    let total = chunks.len() as u32;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let m = Message {
                message_id: "m-5k".into(),
                originating_ue_service_id: Some("ue-1".into()),
                recipient_as_service_id: Some("as-1".into()),
                payload: Some(base64(chunk)),
                segmentation: Some(Segmentation::nth("set-5k", i as u32 + 1, total)),
                ..Message::default()
            };
            let mut out = Vec::new();
            msg::encode(&Payload::Msg(m), &mut out);
            String::from_utf8(out).unwrap()
        })
        .collect()
}

/// RFC 4648 §4 base64 with padding.
fn base64(bytes: &[u8]) -> String {
    crate::msg::encode_payload(bytes)
}

#[test]
fn segments_segrec_segconfir_and_topicsub_cross_the_relay_byte_identical() {
    let mut h = Harness::new(config());
    h.feed(DEVICE_SOCKET, ue(1), &reg(1, 1));
    let segs = segments();
    assert_eq!(segs.len(), 3, "5 000 bytes in 2 048-byte segments");
    // Up: each segment reaches the server unchanged; the server's 2.04 comes back unchanged.
    for (i, seg) in segs.iter().enumerate() {
        let mid = 0x100 + i as u16;
        let datagram = post(MsgType::Con, mid, 10 + i as u64, seg);
        assert!(datagram.len() > 1000, "a full-size datagram");
        assert_eq!(
            one(h.feed(DEVICE_SOCKET, ue(1), &datagram)),
            (L0, UPSTREAM, datagram)
        );
        let accepted = answer(
            MsgType::Ack,
            Code::CHANGED,
            mid,
            10 + i as u64,
            r#"{"messageType":"MSGRESP","deliveryStatus":"ACCEPTED"}"#,
        );
        assert_eq!(
            one(h.feed(L0, UPSTREAM, &accepted)),
            (DEVICE_SOCKET, ue(1), accepted)
        );
    }
    // Down: the server's SEGREC and SEGCONFIR reach the UE unchanged, its answers go back.
    for (i, json) in [
        r#"{"messageType":"SEGREC","messageId":"m-5k","originatingAsServiceId":"as-1","recipientUeServiceId":"ue-1","segmentation":{"setId":"set-5k"},"missingSegments":[2]}"#,
        r#"{"messageType":"SEGCONFIR","messageId":"m-5k","originatingAsServiceId":"as-1","recipientUeServiceId":"ue-1","segmentation":{"setId":"set-5k"},"result":"SUCCESS"}"#,
    ]
    .into_iter()
    .enumerate()
    {
        assert!(msg::decode(json.as_bytes()).is_ok(), "{json}");
        let mid = 0x7100 + i as u16;
        let request = post(MsgType::Con, mid, 50 + i as u64, json);
        assert_eq!(
            one(h.feed(L0, UPSTREAM, &request)),
            (DEVICE_SOCKET, ue(1), request)
        );
        let ack = answer(MsgType::Ack, Code::CHANGED, mid, 50 + i as u64, "");
        assert_eq!(one(h.feed(DEVICE_SOCKET, ue(1), &ack)), (L0, UPSTREAM, ack));
    }
    // The segment asked for again, and a TOPICSUB, go up unchanged with their answers.
    let resent = post(MsgType::Con, 0x200, 60, &segs[1]);
    assert_eq!(
        one(h.feed(DEVICE_SOCKET, ue(1), &resent)),
        (L0, UPSTREAM, resent)
    );
    let topicsub = post(
        MsgType::Con,
        0x201,
        61,
        r#"{"messageType":"TOPICSUB","messageId":"t-1","originatingUeServiceId":"ue-1","messagingTopics":["news"]}"#,
    );
    assert_eq!(
        one(h.feed(DEVICE_SOCKET, ue(1), &topicsub)),
        (L0, UPSTREAM, topicsub)
    );
    let granted = answer(
        MsgType::Ack,
        Code::CREATED,
        0x201,
        61,
        r#"{"messageType":"TOPICSUBRESP","messageId":"t-1","result":"SUCCESS","messagingTopics":["news"]}"#,
    );
    assert_eq!(
        one(h.feed(L0, UPSTREAM, &granted)),
        (DEVICE_SOCKET, ue(1), granted)
    );
}
