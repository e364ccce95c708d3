//! Segmentation simulations (23.554 §8.5; docs/PROTOCOL.md §18): reassembly of received sets
//! (P2A, P2P), segmentation of copies (A2P, re-segmentation, stored copies), `SEGREC`/`SEGCONFIR`
//! both ways, bounds and aggregates.

use super::*;
use crate::msg::{
    Message, MessageResponse, MsgDeliveryStatus, ReportStatus, SegmentConfirmation, SegmentRecovery,
};

const UE1: &str = "192.0.2.11:5683";
const UE2: &str = "192.0.2.12:5683";
const AS1: &str = "198.51.100.1:5683";

/// A server, a simulated clock and a Message ID counter for the scripted peers.
struct Sim {
    s: ServerCore,
    now: Instant,
    mid: u16,
}

impl Sim {
    fn new(config: ServerConfig) -> Sim {
        Sim {
            s: ServerCore::new(config, 7),
            now: Instant::now(),
            mid: 2000,
        }
    }

    /// ue-1 at `UE1`, ue-2 (maxSegmentSize 512) at `UE2`, as-1 at `AS1`.
    fn standard(config: ServerConfig) -> Sim {
        let mut sim = Sim::new(config);
        sim.call(UE1, &reg("ue-1"));
        sim.call(
            UE2,
            r#"{"messageType":"REG","ueServiceId":"ue-2","clientProfile":{"maxSegmentSize":512}}"#,
        );
        sim.call(AS1, r#"{"messageType":"REG","asServiceId":"as-1"}"#);
        sim
    }

    /// A CON POST of `body` from `from`: (the piggybacked answer, everything else).
    fn call(&mut self, from: &str, body: &str) -> (Transmit, Vec<Transmit>) {
        self.mid = self.mid.wrapping_add(1);
        let req = post(self.mid, tok(self.mid as u8), body);
        let out = exchange(&mut self.s, self.now, from, &req);
        let (answers, others): (Vec<_>, Vec<_>) = out.into_iter().partition(|t| {
            t.destination == addr(from) && {
                let h = view(t).header;
                h.mtype == MsgType::Ack && h.mid == self.mid
            }
        });
        assert_eq!(answers.len(), 1, "one answer expected: {answers:?}");
        (answers.into_iter().next().unwrap(), others)
    }

    fn advance_to(&mut self, at: Instant) -> Vec<Transmit> {
        self.now = at;
        self.s.handle_timeout(at);
        drain(&mut self.s)
    }
}

/// The recipient's 2.04 ACK to each downlink request in `out`.
fn ack(sim: &mut Sim, from: &str, out: &[Transmit]) {
    for t in out {
        let h = view(t).header;
        let ack = MessageBuilder::new(MsgType::Ack, Code::CHANGED, h.mid, h.token).build();
        assert!(exchange(&mut sim.s, sim.now, from, &ack).is_empty());
    }
}

/// Room for a 1500-byte payload in one request datagram.
#[test]
fn provisioned_segment_size_applies_without_a_profile_value() {
    let mut c = big_requests();
    c.messaging.ue_segment_sizes.insert("ue-1".into(), 600);
    let mut sim = Sim::standard(c);
    let data = bytes(1500);
    let a2p = format!(
        r#"{{"messageType":"MSG","messageId":"a-2","originatingAsServiceId":"as-1","recipientUeServiceId":"ue-1","payload":"{}"}}"#,
        b64(&data)
    );
    let (a, out) = sim.call(AS1, &a2p);
    assert_eq!(verdict(&a), ACCEPTED);
    let sizes: Vec<usize> = msgs_to(&out, UE1)
        .iter()
        .map(Message::payload_len)
        .collect();
    assert_eq!(
        sizes,
        [600, 600, 300],
        "the provisioned size, not segment_size"
    );
    // The registration profile's value wins over the provisioned one.
    let mut c = big_requests();
    c.messaging.ue_segment_sizes.insert("ue-2".into(), 600);
    let mut sim = Sim::standard(c);
    let (_, out) = sim.call(AS1, &a2p.replace("ue-1", "ue-2"));
    let sizes: Vec<usize> = msgs_to(&out, UE2)
        .iter()
        .map(Message::payload_len)
        .collect();
    assert_eq!(sizes, [512, 512, 476]);
}

fn big_requests() -> ServerConfig {
    ServerConfig {
        max_request_bytes: 16_384,
        ..Default::default()
    }
}

fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn b64(data: &[u8]) -> String {
    crate::msg::encode_payload(data)
}

fn unb64(m: &Message) -> Vec<u8> {
    crate::msg::decode_payload(m.payload.as_deref().unwrap_or("")).expect("base64")
}

/// `,"segmentation":{...}` of segment `n` of `total` in set `set` (total in 1, flag in the last).
fn seg(set: &str, n: u32, total: u32) -> String {
    let total_ie = if n == 1 {
        format!(r#","totalSegments":{total}"#)
    } else {
        String::new()
    };
    let last = if n == total {
        r#","lastSegment":true"#
    } else {
        ""
    };
    format!(r#","segmentation":{{"setId":"{set}"{total_ie},"segmentNumber":{n}{last}}}"#)
}

/// A segment `MSG` from ue-1 to `to` (`"recipientAsServiceId":"as-1"` style).
fn segment(to: &str, set: &str, n: u32, total: u32, data: &[u8], extra: &str) -> String {
    format!(
        r#"{{"messageType":"MSG","messageId":"m-1","originatingUeServiceId":"ue-1",{to},"payload":"{}"{}{extra}}}"#,
        b64(data),
        seg(set, n, total)
    )
}

const TO_AS: &str = r#""recipientAsServiceId":"as-1""#;
const TO_UE2: &str = r#""recipientUeServiceId":"ue-2""#;

fn verdict(t: &Transmit) -> (Code, Option<MsgDeliveryStatus>, Option<String>) {
    let r = msgresp(t);
    (view(t).header.code, r.delivery_status, r.failure_cause)
}

fn msgresp(t: &Transmit) -> MessageResponse {
    match body(t) {
        Payload::MsgResp(r) => r,
        other => panic!("expected MSGRESP, got {other:?}"),
    }
}

const ACCEPTED: (Code, Option<MsgDeliveryStatus>, Option<String>) =
    (Code::CHANGED, Some(MsgDeliveryStatus::Accepted), None);

fn failed(code: Code, cause: &str) -> (Code, Option<MsgDeliveryStatus>, Option<String>) {
    (code, Some(MsgDeliveryStatus::Failed), Some(cause.into()))
}

fn payloads(out: &[Transmit]) -> Vec<(SocketAddr, Payload)> {
    out.iter().map(|t| (t.destination, body(t))).collect()
}

fn msgs_to(out: &[Transmit], to: &str) -> Vec<Message> {
    payloads(out)
        .into_iter()
        .filter(|(d, _)| *d == addr(to))
        .filter_map(|(_, p)| match p {
            Payload::Msg(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn segconfir(out: &[Transmit]) -> Vec<(SocketAddr, SegmentConfirmation)> {
    payloads(out)
        .into_iter()
        .filter_map(|(d, p)| match p {
            Payload::SegConfir(c) => Some((d, c)),
            _ => None,
        })
        .collect()
}

fn segrec(out: &[Transmit]) -> Vec<(SocketAddr, SegmentRecovery)> {
    payloads(out)
        .into_iter()
        .filter_map(|(d, p)| match p {
            Payload::SegRec(r) => Some((d, r)),
            _ => None,
        })
        .collect()
}

/// The IEs of each segment: (set, total, number, last, deliveryStatusRequired).
fn ies(parts: &[Message]) -> Vec<(Option<u32>, u32, bool, bool)> {
    parts
        .iter()
        .map(|m| {
            let s = m.segmentation.clone().expect("a segment");
            (
                s.total_segments,
                s.segment_number,
                s.last_segment,
                m.delivery_status_required,
            )
        })
        .collect()
}

#[test]
fn p2a_segments_are_reassembled_delivered_whole_and_confirmed() {
    let mut sim = Sim::standard(ServerConfig::default());
    let data = bytes(5000);
    let (a, out) = sim.call(UE1, &segment(TO_AS, "s1", 3, 3, &data[4000..], ""));
    assert_eq!(
        (verdict(&a), out.len()),
        (ACCEPTED, 0),
        "held: nothing sent"
    );
    let (a, out) = sim.call(
        UE1,
        &segment(
            TO_AS,
            "s1",
            1,
            3,
            &data[..2000],
            r#","deliveryStatusRequired":true"#,
        ),
    );
    assert_eq!((verdict(&a), out.len()), (ACCEPTED, 0));
    assert_eq!(sim.s.reassembly_sets(), 1);
    let (a, out) = sim.call(UE1, &segment(TO_AS, "s1", 2, 3, &data[2000..4000], ""));
    assert_eq!(
        verdict(&a),
        ACCEPTED,
        "the completing segment: routing's verdict"
    );
    let whole = msgs_to(&out, AS1);
    assert_eq!(whole.len(), 1, "an AS gets the message whole");
    assert_eq!(unb64(&whole[0]), data);
    assert!(whole[0].segmentation.is_none() && whole[0].delivery_status_required);
    assert_eq!(whole[0].message_id, "m-1");
    let c = segconfir(&out);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].0, addr(UE1));
    assert_eq!(
        (
            c[0].1.set_id.as_str(),
            c[0].1.result,
            c[0].1.message_id.as_str()
        ),
        ("s1", ReportStatus::Success, "m-1")
    );
    assert_eq!(c[0].1.recipient_ue_service_id.as_deref(), Some("ue-1"));
    assert_eq!(c[0].1.originating_as_service_id.as_deref(), Some("as-1"));
    let st = sim.s.stats();
    assert_eq!(get(&st.segments_received), 3);
    assert_eq!(get(&st.segment_sets_reassembled), 1);
    assert_eq!(get(&st.segconfir_sent), 1);
    assert_eq!(sim.s.reassembly_sets(), 0);
}

#[test]
fn a2p_message_is_segmented_at_the_ue_segment_size() {
    let c = big_requests();
    let mut sim = Sim::standard(c);
    let data = bytes(1500);
    let a2p = format!(
        r#"{{"messageType":"MSG","messageId":"a-1","originatingAsServiceId":"as-1",{TO_UE2},"payload":"{}","deliveryStatusRequired":true}}"#,
        b64(&data)
    );
    let (a, out) = sim.call(AS1, &a2p);
    assert_eq!(
        verdict(&a),
        ACCEPTED,
        "an AS may send above max_payload_bytes"
    );
    let parts = msgs_to(&out, UE2);
    assert_eq!(parts.len(), 3);
    assert_eq!(
        ies(&parts),
        [
            (Some(3), 1, false, true),
            (None, 2, false, false),
            (None, 3, true, false)
        ]
    );
    let set = parts[0].segmentation.clone().unwrap().set_id;
    assert!(parts.iter().all(|m| m.message_id == "a-1"
        && m.segmentation.as_ref().unwrap().set_id == set
        && m.originating_as_service_id.as_deref() == Some("as-1")));
    let sizes: Vec<usize> = parts.iter().map(Message::payload_len).collect();
    assert_eq!(sizes, [512, 512, 476]);
    assert_eq!(parts.iter().flat_map(unb64).collect::<Vec<u8>>(), data);
    assert_eq!(
        sim.s.accepted_messages(),
        3,
        "each segment its own accepted copy"
    );
    assert_eq!(sim.s.segmented_sets(), 1);
    let st = sim.s.stats();
    assert_eq!((get(&st.segment_sets_sent), get(&st.segments_sent)), (1, 3));

    // A whole message above max_message_bytes, or one needing over MAX_SEGMENTS segments.
    let mut c = big_requests();
    c.messaging.max_message_bytes = 1000;
    let mut sim = Sim::standard(c);
    let (a, _) = sim.call(AS1, &a2p);
    assert_eq!(
        verdict(&a),
        failed(Code::REQUEST_ENTITY_TOO_LARGE, "PAYLOAD_TOO_LARGE")
    );
    let mut sim = Sim::new(big_requests());
    sim.call(
        UE2,
        r#"{"messageType":"REG","ueServiceId":"ue-2","clientProfile":{"maxSegmentSize":16}}"#,
    );
    sim.call(AS1, r#"{"messageType":"REG","asServiceId":"as-1"}"#);
    let (a, out) = sim.call(AS1, &a2p);
    assert_eq!(
        (verdict(&a), out.len()),
        (
            failed(Code::REQUEST_ENTITY_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            0
        ),
        "1500 / 16 needs more than 64 segments"
    );
}

#[test]
fn p2p_set_is_resegmented_for_the_recipient() {
    let mut sim = Sim::standard(ServerConfig::default());
    let data = bytes(2000);
    sim.call(UE1, &segment(TO_UE2, "up", 1, 2, &data[..1000], ""));
    let (a, out) = sim.call(UE1, &segment(TO_UE2, "up", 2, 2, &data[1000..], ""));
    assert_eq!(verdict(&a), ACCEPTED);
    let parts = msgs_to(&out, UE2);
    assert_eq!(parts.len(), 4, "2000 bytes at 512");
    let set = parts[0].segmentation.clone().unwrap().set_id;
    assert_ne!(set, "up", "a new set toward the recipient");
    assert_eq!(parts.iter().flat_map(unb64).collect::<Vec<u8>>(), data);
    assert_eq!(segconfir(&out).len(), 1);
    assert_eq!(segconfir(&out)[0].0, addr(UE1));
}

#[test]
fn missing_segment_is_recovered_then_the_set_expires() {
    let mut c = ServerConfig::default();
    c.messaging.segrec_retries = 1;
    let timeout = c.messaging.reassembly_timeout;
    let mut sim = Sim::standard(c);
    let start = sim.now;
    let dsr = r#","deliveryStatusRequired":true"#;
    sim.call(UE1, &segment(TO_AS, "s1", 1, 3, &[1; 10], dsr));
    sim.call(UE1, &segment(TO_AS, "s1", 3, 3, &[3; 10], ""));
    assert!(sim
        .advance_to(start + timeout / 3 - Duration::from_millis(1))
        .is_empty());
    let out = sim.advance_to(start + timeout / 3);
    let r = segrec(&out);
    assert_eq!(r.len(), 1, "{out:?}");
    ack(&mut sim, UE1, &out);
    assert_eq!(r[0].0, addr(UE1));
    assert_eq!(
        (r[0].1.set_id.as_str(), r[0].1.message_id.as_str()),
        ("s1", "m-1")
    );
    assert_eq!(r[0].1.missing_segments, [2]);
    assert_eq!(r[0].1.recipient_ue_service_id.as_deref(), Some("ue-1"));
    assert!(
        sim.advance_to(start + timeout * 2 / 3).is_empty(),
        "at most segrec_retries SEGRECs"
    );
    let out = sim.advance_to(start + timeout);
    let reports: Vec<_> = payloads(&out)
        .into_iter()
        .filter_map(|(d, p)| match p {
            Payload::Imdn(r) => Some((d, r)),
            _ => None,
        })
        .collect();
    assert_eq!(reports.len(), 1, "{out:?}");
    assert_eq!(reports[0].0, addr(UE1));
    let r = &reports[0].1;
    assert_eq!(r.delivery_status, ReportStatus::Failure);
    assert_eq!(r.failure_cause.as_deref(), Some("SEGMENT_TIMEOUT"));
    assert_eq!(r.original_message_id, "m-1");
    let st = sim.s.stats();
    assert_eq!((get(&st.segrec_sent), get(&st.reassembly_expired)), (1, 1));
    assert_eq!(sim.s.reassembly_sets(), 0);

    // Without deliveryStatusRequired: dropped silently; two SEGRECs with the default retries.
    let mut sim = Sim::standard(ServerConfig::default());
    let start = sim.now;
    let mut u = segment(TO_AS, "s2", 2, 3, &[2; 10], "");
    u = u.replace(r#","lastSegment":true"#, "");
    sim.call(UE1, &u);
    let out = sim.advance_to(start + timeout / 3);
    assert_eq!(segrec(&out)[0].1.missing_segments, [1, 3], "total unknown");
    ack(&mut sim, UE1, &out);
    let out = sim.advance_to(start + timeout * 2 / 3);
    assert_eq!(segrec(&out).len(), 1);
    ack(&mut sim, UE1, &out);
    assert!(sim.advance_to(start + timeout).is_empty());
    assert_eq!(get(&sim.s.stats().reassembly_expired), 1);
}

#[test]
fn recipients_segrec_resends_and_segconfir_frees_the_set() {
    let c = big_requests();
    let mut sim = Sim::standard(c);
    let data = bytes(1500);
    let a2p = format!(
        r#"{{"messageType":"MSG","messageId":"a-1","originatingAsServiceId":"as-1",{TO_UE2},"payload":"{}"}}"#,
        b64(&data)
    );
    let (_, out) = sim.call(AS1, &a2p);
    let parts = msgs_to(&out, UE2);
    let set = parts[0].segmentation.clone().unwrap().set_id;
    let control = |kind: &str, tail: &str| {
        format!(
            r#"{{"messageType":"{kind}","messageId":"a-1","originatingUeServiceId":"ue-2","recipientAsServiceId":"as-1","segmentation":{{"setId":"{set}"}}{tail}}}"#
        )
    };
    let rec = control("SEGREC", r#","missingSegments":[2,3]"#);
    let (a, out) = sim.call(UE2, &rec);
    assert_eq!(verdict(&a), ACCEPTED);
    let again = msgs_to(&out, UE2);
    assert_eq!(again.len(), 2);
    assert_eq!(again[0], parts[1]);
    assert_eq!(again[1], parts[2]);
    assert_eq!(get(&sim.s.stats().segments_resent), 2);
    // From elsewhere: refused as a MSG would be.
    let (a, _) = sim.call(UE1, &rec);
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);

    let confirm = control("SEGCONFIR", r#","result":"SUCCESS""#);
    let (a, _) = sim.call(UE2, &confirm);
    assert_eq!(verdict(&a), ACCEPTED);
    assert_eq!(
        sim.s.segmented_sets(),
        0,
        "SEGCONFIR frees the outgoing set"
    );
    let (a, out) = sim.call(UE2, &rec);
    assert_eq!(
        (verdict(&a), out.len()),
        (failed(Code::NOT_FOUND, "UNKNOWN_MESSAGE"), 0)
    );
    let (a, _) = sim.call(UE2, &confirm);
    assert_eq!(verdict(&a), ACCEPTED, "idempotent");
    assert_eq!(get(&sim.s.stats().segment_requests), 5);
}

#[test]
fn outgoing_sets_are_dropped_at_the_hold_time() {
    let c = big_requests();
    let hold = c.messaging.reassembly_timeout * 2;
    let mut sim = Sim::standard(c);
    let a2p = format!(
        r#"{{"messageType":"MSG","messageId":"a-1","originatingAsServiceId":"as-1",{TO_UE2},"payload":"{}"}}"#,
        b64(&bytes(600))
    );
    let (_, out) = sim.call(AS1, &a2p);
    ack(&mut sim, UE2, &out);
    assert_eq!(sim.s.segmented_sets(), 1);
    let at = sim.now + hold;
    sim.advance_to(at);
    assert_eq!(sim.s.segmented_sets(), 0);
}

#[test]
fn stored_copy_is_segmented_when_flushed() {
    let c = big_requests();
    let mut sim = Sim::new(c);
    sim.call(AS1, r#"{"messageType":"REG","asServiceId":"as-1"}"#);
    let data = bytes(1200);
    let a2p = format!(
        r#"{{"messageType":"MSG","messageId":"a-1","originatingAsServiceId":"as-1",{TO_UE2},"payload":"{}","storeAndForward":true}}"#,
        b64(&data)
    );
    let (a, _) = sim.call(AS1, &a2p);
    assert_eq!(msgresp(&a).delivery_status, Some(MsgDeliveryStatus::Stored));
    let (_, out) = sim.call(
        UE2,
        r#"{"messageType":"REG","ueServiceId":"ue-2","clientProfile":{"maxSegmentSize":512}}"#,
    );
    let parts = msgs_to(&out, UE2);
    assert_eq!(parts.len(), 3, "stored whole, segmented at its flush");
    assert_eq!(parts.iter().flat_map(unb64).collect::<Vec<u8>>(), data);
    assert_eq!(sim.s.stored_messages(), 0);
    assert_eq!(sim.s.accepted_messages(), 3);
}

#[test]
fn reassembly_bounds_answer_5_03_and_count() {
    let mut c = ServerConfig::default();
    c.messaging.reassembly_max_sets = 1;
    c.messaging.reassembly_max_bytes = 30;
    let mut sim = Sim::standard(c);
    sim.call(UE1, &segment(TO_AS, "a", 1, 2, &[0; 20], ""));
    let (a, _) = sim.call(UE1, &segment(TO_AS, "b", 1, 2, &[0; 5], ""));
    assert_eq!(
        verdict(&a),
        failed(Code::SERVICE_UNAVAILABLE, "SERVER_BUSY"),
        "reassembly_max_sets"
    );
    assert_eq!(view(&a).max_age(), Some(5));
    let (a, _) = sim.call(UE1, &segment(TO_AS, "a", 2, 2, &[0; 20], ""));
    assert_eq!(
        verdict(&a),
        failed(Code::SERVICE_UNAVAILABLE, "SERVER_BUSY"),
        "reassembly_max_bytes"
    );
    assert_eq!(get(&sim.s.stats().reassembly_full), 2);
    assert_eq!(sim.s.reassembly_sets(), 1);
}

#[test]
fn inconsistent_and_duplicate_segments() {
    let mut c = ServerConfig::default();
    c.messaging.recent_message_ids = 0;
    let mut sim = Sim::standard(c);
    sim.call(UE1, &segment(TO_AS, "s", 1, 3, &[1; 4], ""));
    let (a, _) = sim.call(UE1, &segment(TO_AS, "s", 4, 4, &[4; 4], ""));
    assert_eq!(
        verdict(&a),
        failed(Code::NOT_FOUND, "MALFORMED"),
        "number above the total"
    );
    let (a, _) = sim.call(UE1, &segment(TO_UE2, "s", 2, 3, &[2; 4], ""));
    assert_eq!(
        verdict(&a),
        failed(Code::NOT_FOUND, "MALFORMED"),
        "another recipient"
    );
    assert_eq!(get(&sim.s.stats().segments_refused), 2);
    let (a, _) = sim.call(UE1, &segment(TO_AS, "s", 2, 3, &[2; 4], ""));
    assert_eq!(verdict(&a), ACCEPTED);
    let (a, out) = sim.call(UE1, &segment(TO_AS, "s", 2, 3, &[2; 4], ""));
    assert_eq!((verdict(&a), out.len()), (ACCEPTED, 0));
    assert_eq!(get(&sim.s.stats().segments_duplicate), 1);
    let (_, out) = sim.call(UE1, &segment(TO_AS, "s", 3, 3, &[3; 4], ""));
    let whole = msgs_to(&out, AS1);
    assert_eq!(whole.len(), 1);
    assert_eq!(
        unb64(&whole[0]),
        [[1; 4], [2; 4], [3; 4]].concat(),
        "held once"
    );
}

#[test]
fn repeated_segment_after_completion_gets_its_first_verdict() {
    let mut sim = Sim::standard(ServerConfig::default());
    sim.call(UE1, &segment(TO_AS, "s", 1, 2, &[1; 4], ""));
    let last = segment(TO_AS, "s", 2, 2, &[2; 4], "");
    let (_, out) = sim.call(UE1, &last);
    assert_eq!(msgs_to(&out, AS1).len(), 1);
    let (a, out) = sim.call(UE1, &last);
    assert_eq!(
        (verdict(&a), out.len()),
        (ACCEPTED, 0),
        "not delivered twice"
    );
    assert_eq!(get(&sim.s.stats().messages_duplicate), 1);
    assert_eq!(sim.s.reassembly_sets(), 0, "no new set");
}

#[test]
fn aggregate_elements_are_segmented_or_reassembled_one_by_one() {
    let c = big_requests();
    let mut sim = Sim::standard(c);
    let (a, _) = sim.call(GW, &bulk_reg("gw", &["ue-a", "ue-b"], None));
    assert!(view(&a).header.code.is_success());
    let large = bytes(1500);
    let agg = format!(
        r#"{{"messageType":"AGGMSG","messageId":"agg","originatingUeServiceId":"gw","numberOfMessages":2,"messages":[
        {{"messageId":"e1","originatingUeServiceId":"ue-a","recipientUeServiceId":"ue-2","payload":"{}"}},
        {{"messageId":"e2","originatingUeServiceId":"ue-b","recipientAsServiceId":"as-1","payload":"{}"{}}}]}}"#,
        b64(&large),
        b64(&[9; 8]),
        seg("set-b", 1, 2)
    );
    let (a, out) = sim.call(GW, &agg);
    assert_eq!(view(&a).header.code, Code::CHANGED);
    let r = msgresp(&a);
    let results: Vec<_> = r
        .results
        .iter()
        .map(|e| (e.message_id.as_str(), e.delivery_status, e.segment_number))
        .collect();
    assert_eq!(
        results,
        [
            ("e1", MsgDeliveryStatus::Accepted, None),
            ("e2", MsgDeliveryStatus::Accepted, Some(1))
        ]
    );
    assert_eq!(
        r.segment_result_for("e2", Some(1)),
        (MsgDeliveryStatus::Accepted, None)
    );
    let parts = msgs_to(&out, UE2);
    assert_eq!(
        parts.len(),
        3,
        "the large element is segmented for its target"
    );
    assert_eq!(parts.iter().flat_map(unb64).collect::<Vec<u8>>(), large);
    assert!(msgs_to(&out, AS1).is_empty(), "the segment element is held");
    assert_eq!(sim.s.reassembly_sets(), 1);
}

#[test]
fn a_set_waits_for_room_and_one_above_the_bound_starts_what_fits() {
    let mut c = big_requests();
    c.messaging.max_outstanding_deliveries = 2;
    let mut sim = Sim::standard(c);
    let a2p = |id: &str| {
        format!(
            r#"{{"messageType":"MSG","messageId":"{id}","originatingAsServiceId":"as-1",{TO_UE2},"payload":"{}"}}"#,
            b64(&bytes(1500))
        )
    };
    // One delivery outstanding: no room for two more, so neither for the set.
    let (_, pending) = sim.call(
        AS1,
        r#"{"messageType":"MSG","messageId":"x","originatingAsServiceId":"as-1","recipientUeServiceId":"ue-1"}"#,
    );
    let (a, out) = sim.call(AS1, &a2p("a-1"));
    assert_eq!(
        (verdict(&a), out.len()),
        (failed(Code::SERVICE_UNAVAILABLE, "SERVER_BUSY"), 0)
    );
    ack(&mut sim, UE1, &pending);
    // Three segments, room for two: they start, the third is fetched by SEGREC.
    let (a, out) = sim.call(AS1, &a2p("a-2"));
    assert_eq!(verdict(&a), ACCEPTED);
    let parts = msgs_to(&out, UE2);
    assert_eq!(parts.len(), 2);
    ack(&mut sim, UE2, &out);
    let set = parts[0].segmentation.clone().unwrap().set_id;
    let rec = format!(
        r#"{{"messageType":"SEGREC","messageId":"a-2","originatingUeServiceId":"ue-2","segmentation":{{"setId":"{set}"}},"missingSegments":[3]}}"#
    );
    let (a, out) = sim.call(UE2, &rec);
    assert_eq!(verdict(&a), ACCEPTED);
    let third = msgs_to(&out, UE2);
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].segmentation.as_ref().unwrap().segment_number, 3);
    assert!(third[0].segmentation.as_ref().unwrap().last_segment);
}
