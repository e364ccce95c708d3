//! Segments and topics at the gateway (issue 12; 23.554 §8.5, §8.8; docs/PROTOCOL.md §18.6):
//! downlink segment sets reassembled for an Application Client, `SEGREC`/expiry, bounds, the
//! gateway's own `clientProfile.maxSegmentSize`, and a MSGin5G-6 UE's `SEGREC`/`TOPICSUB`
//! forwarded singly with the server's answer relayed.

use super::*;

/// Downlink segment `n` of set `set` of message `message_id` for application `app`:
/// `segmentation` as 23.554 §8.5 places it (total in 1, flag in the last), delivery status asked
/// in segment 1 when `dsr`.
fn segment(message_id: &str, set: &str, n: u32, total: u32, payload: &str, dsr: bool) -> String {
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
    let dsr = dsr && n == 1;
    format!(
        r#"{{"messageType":"MSG","messageId":"{message_id}","originatingAsServiceId":"as-1","recipientUeServiceId":"{GW}","applicationId":"7","payload":"{payload}","deliveryStatusRequired":{dsr},"segmentation":{{"setId":"{set}","segmentNumber":{n}{total_ie}{last}}}}}"#
    )
}

impl Sim {
    /// The piggybacked answer (ACK) the gateway gave the server's request `mid`: code and body.
    fn piggybacked(&self, mid: u16) -> (Code, Option<u32>, Payload) {
        let v = self
            .upstream
            .iter()
            .filter_map(|b| MessageView::parse(b).ok())
            .find(|v| v.header.mtype == MsgType::Ack && v.header.mid == mid)
            .expect("an ACK");
        (
            v.header.code,
            v.max_age(),
            msg::decode(v.payload()).unwrap_or(Payload::MsgResp(MessageResponse::default())),
        )
    }

    /// The gateway's CON requests upstream, each once (retransmissions dropped).
    fn distinct_requests(&self) -> Vec<(Token, Vec<u8>, Payload)> {
        let mut out: Vec<(Token, Vec<u8>, Payload)> = Vec::new();
        for b in &self.upstream {
            let Ok(v) = MessageView::parse(b) else {
                continue;
            };
            if v.header.mtype != MsgType::Con || v.header.code != Code::POST {
                continue;
            }
            if out.iter().any(|(t, _, _)| *t == v.header.token) {
                continue;
            }
            let p = msg::decode(v.payload()).unwrap();
            out.push((v.header.token, v.payload().to_vec(), p));
        }
        out
    }

    /// Deliveries (CON POSTs) sent to `to`.
    fn deliveries_to(&self, to: SocketAddr) -> usize {
        self.to_devices
            .iter()
            .filter(|s| s.to == to && s.view().header.code == Code::POST)
            .count()
    }
}

#[test]
fn three_segments_in_any_order_one_repeated_make_one_delivery_and_a_segconfir() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    // Payload 01..07 in segments [01 02 03 04], [05], [06 07].
    let segs = [
        segment("d-1", "s-1", 1, 3, "AQIDBA==", true),
        segment("d-1", "s-1", 2, 3, "BQ", true),
        segment("d-1", "s-1", 3, 3, "Bgc=", true),
    ];
    sim.deliver_from_server(&downlink(500, tok(500), &segs[2]));
    sim.deliver_from_server(&downlink(501, tok(501), &segs[2]));
    sim.deliver_from_server(&downlink(502, tok(502), &segs[0]));
    for mid in [500, 501, 502] {
        let (code, _, body) = sim.piggybacked(mid);
        assert_eq!(code, Code::CHANGED, "segment {mid} held at once");
        let Payload::MsgResp(r) = body else {
            panic!("{body:?}")
        };
        assert_eq!(r.message_id.as_deref(), Some("d-1"));
        assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Accepted));
    }
    assert_eq!(
        sim.deliveries_to(dev(1)),
        0,
        "nothing delivered before the set is whole"
    );
    sim.deliver_from_server(&downlink(503, tok(503), &segs[1]));
    let acked = |sim: &Sim, mid: u16| {
        sim.upstream
            .iter()
            .filter_map(|b| MessageView::parse(b).ok())
            .any(|v| v.header.mtype == MsgType::Ack && v.header.mid == mid)
    };
    assert!(
        !acked(&sim, 503),
        "the completing one waits for the AC, its ACK held"
    );
    assert_eq!(sim.deliveries_to(dev(1)), 1);
    let (mid, token, body) = delivery_to(&sim, dev(1));
    match body {
        Payload::MsgDelivery(d) => {
            assert_eq!(d.message_id, "d-1");
            assert_eq!(d.payload, "AQIDBAUGBw==");
            assert!(d.delivery_status_required);
        }
        other => panic!("{other:?}"),
    }
    // The server hears SEGCONFIR SUCCESS for the set, as a single request.
    let confirmations: Vec<msg::SegmentConfirmation> = sim
        .distinct_requests()
        .into_iter()
        .filter_map(|(_, _, p)| match p {
            Payload::SegConfir(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(confirmations.len(), 1);
    let c = &confirmations[0];
    assert_eq!((c.message_id.as_str(), c.set_id.as_str()), ("d-1", "s-1"));
    assert_eq!(c.originating_ue_service_id.as_deref(), Some(GW));
    assert_eq!(c.recipient_as_service_id.as_deref(), Some("as-1"));
    assert_eq!(c.result, ReportStatus::Success);
    // The AC's verdict answers the completing segment.
    let ack = MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid, token)
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(br#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"SUCCESS"}"#);
    sim.device(dev(1), &ack);
    let answers = sim.server_answers();
    assert!(answers
        .iter()
        .any(|(t, c, tk, _)| (*t, *c, *tk) == (MsgType::Ack, Code::CHANGED, tok(503))));
    assert_eq!(sim.piggybacked(503).0, Code::CHANGED, "on the held ACK");
    // A segment of the delivered message sent again is absorbed, not a new set.
    sim.deliver_from_server(&downlink(504, tok(504), &segs[0]));
    assert_eq!(sim.piggybacked(504).0, Code::CHANGED);
    assert_eq!(sim.deliveries_to(dev(1)), 1);
    let stats = sim.gw.stats();
    assert_eq!(stats.reassembly_completed.load(Ordering::Relaxed), 1);
    assert_eq!(stats.reassembly_duplicates.load(Ordering::Relaxed), 2);
    assert_eq!(stats.reassembly_held.load(Ordering::Relaxed), 2);
}

#[test]
fn a_missing_segment_is_asked_for_twice_then_the_set_expires_with_an_imdn_when_asked() {
    let mut sim = scripted(GatewayConfig {
        reassembly_timeout: Duration::from_secs(30),
        ..config()
    });
    sim.register_app(dev(1), 1, "7");
    // Set s-1: 1 and 3 of 3, delivery status asked. Set s-2: only segment 2 (no status asked).
    sim.deliver_from_server(&downlink(
        1,
        tok(1),
        &segment("d-1", "s-1", 1, 3, "AQ==", true),
    ));
    sim.deliver_from_server(&downlink(
        2,
        tok(2),
        &segment("d-1", "s-1", 3, 3, "Aw==", true),
    ));
    sim.deliver_from_server(&downlink(
        3,
        tok(3),
        &segment("d-2", "s-2", 2, 3, "Ag==", true),
    ));
    let segrecs = |sim: &Sim| -> Vec<msg::SegmentRecovery> {
        sim.distinct_requests()
            .into_iter()
            .filter_map(|(_, _, p)| match p {
                Payload::SegRec(r) => Some(r),
                _ => None,
            })
            .collect()
    };
    sim.advance(Duration::from_secs(9));
    assert!(
        segrecs(&sim).is_empty(),
        "not before a third of the timeout"
    );
    sim.advance(Duration::from_secs(2));
    let first = segrecs(&sim);
    assert_eq!(first.len(), 2, "one SEGREC per set");
    let s1 = first.iter().find(|r| r.set_id == "s-1").unwrap();
    assert_eq!(s1.missing_segments, vec![2]);
    assert_eq!(s1.message_id, "d-1");
    assert_eq!(s1.originating_ue_service_id.as_deref(), Some(GW));
    assert_eq!(s1.recipient_as_service_id.as_deref(), Some("as-1"));
    // Unknown total: the gap below the highest and the one after it.
    let s2 = first.iter().find(|r| r.set_id == "s-2").unwrap();
    assert_eq!(s2.missing_segments, vec![1, 3]);
    sim.advance(Duration::from_secs(10));
    assert_eq!(segrecs(&sim).len(), 4, "a second SEGREC per set");
    sim.advance(Duration::from_secs(10));
    assert_eq!(segrecs(&sim).len(), 4, "at most two");
    let reports: Vec<msg::DeliveryReport> = sim
        .distinct_requests()
        .into_iter()
        .filter_map(|(_, _, p)| match p {
            Payload::Imdn(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        reports.len(),
        1,
        "only the set whose first segment asked: {reports:?}"
    );
    let r = &reports[0];
    assert_eq!(r.original_message_id, "d-1");
    assert_eq!(r.delivery_status, ReportStatus::Failure);
    assert_eq!(r.failure_cause.as_deref(), Some(cause::SEGMENT_TIMEOUT));
    assert_eq!(r.originating_ue_service_id.as_deref(), Some(GW));
    assert_eq!(r.recipient_as_service_id.as_deref(), Some("as-1"));
    let stats = sim.gw.stats();
    assert_eq!(stats.reassembly_expired.load(Ordering::Relaxed), 2);
    assert_eq!(stats.reassembly_segrecs.load(Ordering::Relaxed), 4);
    assert_eq!(sim.deliveries_to(dev(1)), 0);
    // The missing segment arriving after the expiry starts a new set: nothing delivered.
    sim.deliver_from_server(&downlink(
        4,
        tok(4),
        &segment("d-1", "s-1", 2, 3, "Ag==", true),
    ));
    assert_eq!(sim.piggybacked(4).0, Code::CHANGED);
    assert_eq!(sim.deliveries_to(dev(1)), 0);
}

#[test]
fn reassembly_bounds_answer_5_03_with_max_age_and_disagreeing_segments_4_00() {
    let mut sim = scripted(GatewayConfig {
        reassembly_max_sets: 1,
        reassembly_max_bytes: 5,
        overload_max_age: 7,
        ..config()
    });
    sim.register_app(dev(1), 1, "7");
    sim.deliver_from_server(&downlink(
        1,
        tok(1),
        &segment("d-1", "s-1", 1, 3, "AQIDBA==", false),
    ));
    assert_eq!(sim.piggybacked(1).0, Code::CHANGED);
    // A second set: over reassembly_max_sets.
    sim.deliver_from_server(&downlink(
        2,
        tok(2),
        &segment("d-2", "s-2", 1, 2, "AQ==", false),
    ));
    // More bytes for the first set: over reassembly_max_bytes (4 + 2 > 5).
    sim.deliver_from_server(&downlink(
        3,
        tok(3),
        &segment("d-1", "s-1", 2, 3, "AQI=", false),
    ));
    for mid in [2, 3] {
        let (code, max_age, body) = sim.piggybacked(mid);
        assert_eq!((code, max_age), (Code::SERVICE_UNAVAILABLE, Some(7)));
        let Payload::MsgResp(r) = body else {
            panic!("{body:?}")
        };
        assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Failed));
        assert_eq!(r.failure_cause.as_deref(), Some(cause::GATEWAY_OVERLOAD));
    }
    // A segment numbered above the set's total.
    sim.deliver_from_server(&downlink(
        4,
        tok(4),
        &segment("d-1", "s-1", 4, 4, "AQ==", false),
    ));
    let (code, _, body) = sim.piggybacked(4);
    assert_eq!(code, Code::BAD_REQUEST);
    let Payload::MsgResp(r) = body else {
        panic!("{body:?}")
    };
    assert_eq!(r.failure_cause.as_deref(), Some(cause::MALFORMED));
    let stats = sim.gw.stats();
    assert_eq!(stats.reassembly_full.load(Ordering::Relaxed), 2);
    assert_eq!(stats.reassembly_malformed.load(Ordering::Relaxed), 1);
}

#[test]
fn a_whole_message_too_large_for_one_datagram_to_the_application_is_refused_4_13() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    // Two segments of 27 000 decoded bytes: 72 000 base64 characters in the delivery.
    let half = "A".repeat(36_000);
    sim.deliver_from_server(&downlink(
        1,
        tok(1),
        &segment("d-1", "s-1", 1, 2, &half, false),
    ));
    sim.deliver_from_server(&downlink(
        2,
        tok(2),
        &segment("d-1", "s-1", 2, 2, &half, false),
    ));
    let (code, _, body) = sim.piggybacked(2);
    assert_eq!(code, Code::REQUEST_ENTITY_TOO_LARGE);
    let Payload::MsgResp(r) = body else {
        panic!("{body:?}")
    };
    assert_eq!(r.failure_cause.as_deref(), Some(cause::PAYLOAD_TOO_LARGE));
    assert_eq!(sim.deliveries_to(dev(1)), 0);
}

#[test]
fn segments_arriving_on_another_shard_are_reassembled_by_the_applications_shard() {
    let upstream: SocketAddr = SERVER.parse().unwrap();
    let dir = Arc::new(Directory::default());
    let mut s0 = GatewayCore::new_shard(config(), upstream, 1, 0, dir.clone());
    let mut s1 = GatewayCore::new_shard(config(), upstream, 2, 1, dir.clone());
    let now = Instant::now();
    s1.handle_device_datagram(now, dev(1), &app_register(1, "7"));
    while s1.poll_transmit().is_some() {}
    let mut answers = Vec::new();
    let mut delivered = Vec::new();
    for (mid, n, p) in [(10, 2, "Ag=="), (11, 1, "AQ==")] {
        s0.handle_upstream_datagram(
            now,
            0,
            upstream,
            &downlink(mid, tok(mid), &segment("x", "s", n, 2, p, false)),
        );
        let (to, handoff) = s0.poll_handoff().expect("handed to the owner");
        assert_eq!(to, 1);
        s1.handle_handoff(now, handoff);
        while let Some((_, back)) = s1.poll_handoff() {
            s0.handle_handoff(now, back);
        }
        while let Some((side, t)) = s1.poll_transmit() {
            if side == Side::Device {
                delivered.push(t.payload.to_vec());
            }
        }
        while let Some((_, t)) = s0.poll_transmit() {
            let v = MessageView::parse(&t.payload).unwrap();
            if v.header.code.is_response() {
                answers.push((v.header.code, v.header.token));
            }
        }
    }
    // The first segment's separate 2.04 came back from shard 1; the second completed the set.
    assert_eq!(answers, vec![(Code::CHANGED, tok(10))]);
    assert_eq!(delivered.len(), 1);
    let v = MessageView::parse(&delivered[0]).unwrap();
    match msg::decode(v.payload()).unwrap() {
        Payload::MsgDelivery(d) => assert_eq!(d.payload, "AQI="),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_gateways_own_registration_carries_its_segment_size() {
    let mut sim = scripted(GatewayConfig {
        segment_size: 1000,
        ..config()
    });
    sim.gw.start(sim.now);
    sim.pump();
    let (_, p) = sim.last_upstream_request();
    let Payload::Reg(r) = p else { panic!("{p:?}") };
    assert_eq!(
        r.client_profile.as_deref(),
        Some(r#"{"maxSegmentSize":1000}"#)
    );
}

/// A MSGin5G-6 UE's `TOPICSUB` from `ue`.
fn topicsub(mid: u16, ue: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"TOPICSUB","messageId":"t-{mid}","originatingUeServiceId":"{ue}","messagingTopics":["news"]}}"#
        ),
    )
}

/// A MSGin5G-6 UE's `SEGREC` from `ue`.
fn segrec(mid: u16, ue: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"SEGREC","messageId":"m-9","originatingUeServiceId":"{ue}","recipientAsServiceId":"as-1","segmentation":{{"setId":"s-9"}},"missingSegments":[2]}}"#
        ),
    )
}

#[test]
fn a_clients_topicsub_and_segrec_go_singly_and_get_the_servers_answer() {
    let mut sim = scripted(config());
    register_client(&mut sim, dev(1), 1, "ue-1");
    let before = sim.distinct_requests().len();
    // TOPICSUB: sent at once (no batch hold), alone and unchanged.
    let request_bytes = topicsub(20, "ue-1");
    sim.device(dev(1), &request_bytes);
    let sent = sim.distinct_requests();
    assert_eq!(sent.len(), before + 1, "sent singly at once");
    let (_, body, p) = sent.last().unwrap();
    assert!(matches!(p, Payload::TopicSub(_)), "{p:?}");
    assert_eq!(
        body.as_slice(),
        MessageView::parse(&request_bytes).unwrap().payload()
    );
    // The server's 2.01 TOPICSUBRESP is relayed: code, payload, the UE's Message ID and Token.
    let granted = Payload::TopicSubResp(msg::TopicSubscriptionResponse {
        msgin5g_service_id: None,
        message_id: Some("t-20".into()),
        result: RegResult::Success,
        topics: vec!["news".into()],
        expiration: Some("2030-01-01T00:00:00Z".into()),
        failure_cause: None,
    });
    sim.answer_last(Code::CREATED, &granted);
    let a = sim.answers_to(dev(1));
    let last = a.last().unwrap();
    let v = last.view();
    assert_eq!(
        (v.header.mtype, v.header.code, v.header.mid, v.header.token),
        (MsgType::Ack, Code::CREATED, 20, tok(20))
    );
    assert_eq!(last.body(), granted);
    // SEGREC: the server's 4.04 and its MSGRESP relayed as they are.
    sim.device(dev(1), &segrec(21, "ue-1"));
    let (_, p) = sim.last_upstream_request();
    assert!(matches!(p, Payload::SegRec(_)), "{p:?}");
    let refused = Payload::MsgResp(MessageResponse {
        message_id: Some("m-9".into()),
        delivery_status: Some(MsgDeliveryStatus::Failed),
        failure_cause: Some(cause::UNKNOWN_MESSAGE.into()),
        ..MessageResponse::default()
    });
    sim.answer_last(Code::NOT_FOUND, &refused);
    let a = sim.answers_to(dev(1));
    let last = a.last().unwrap();
    assert_eq!(last.view().header.code, Code::NOT_FOUND);
    assert_eq!(last.view().header.token, tok(21));
    assert_eq!(last.body(), refused);
    assert_eq!(sim.gw.stats().forwarded.load(Ordering::Relaxed), 2);
    assert!(sim.gw.is_drained());
}

#[test]
fn a_forwarded_request_naming_another_ue_is_refused_4_03() {
    let mut sim = scripted(config());
    register_client(&mut sim, dev(1), 1, "ue-1");
    let before = sim.distinct_requests().len();
    // ue-1's identity from another address: spoofing.
    sim.device(dev(5), &topicsub(30, "ue-1"));
    // A UE not registered through this gateway.
    sim.device(dev(6), &segrec(31, "ue-9"));
    for (to, failure) in [
        (dev(5), cause::UNAUTHORIZED),
        (dev(6), cause::NOT_REGISTERED),
    ] {
        let a = sim.answers_to(to);
        assert_eq!(a[0].view().header.code, Code::FORBIDDEN);
        let failure_cause = match a[0].body() {
            Payload::TopicSubResp(r) => {
                assert_eq!(r.result, RegResult::Failure);
                assert_eq!(r.message_id.as_deref(), Some("t-30"));
                r.failure_cause
            }
            Payload::MsgResp(r) => {
                assert_eq!(r.message_id.as_deref(), Some("m-9"));
                r.failure_cause
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(failure_cause.as_deref(), Some(failure));
    }
    assert_eq!(sim.gw.stats().spoofed.load(Ordering::Relaxed), 1);
    assert_eq!(sim.distinct_requests().len(), before, "nothing forwarded");
    // An answer type from a device stays refused.
    sim.device(
        dev(1),
        &request(
            MsgType::Con,
            32,
            tok(32),
            r#"{"messageType":"TOPICSUBRESP","result":"SUCCESS"}"#,
        ),
    );
    assert_eq!(
        sim.answers_to(dev(1)).last().unwrap().view().header.code,
        Code::BAD_REQUEST
    );
}

#[test]
fn a_journaled_forwarded_request_is_restored_and_still_gets_the_servers_answer_relayed() {
    let wall = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut before = scripted(config());
    before.gw.enable_persistence(before.now, wall);
    register_client(&mut before, dev(1), 1, "ue-1");
    before.device(dev(1), &topicsub(20, "ue-1"));
    // The piggyback window ends unanswered: empty ACK, the request journaled.
    before.advance(Duration::from_millis(600));
    let records: Vec<(u64, Vec<u8>)> = before
        .gw
        .take_changes()
        .journal
        .into_iter()
        .filter_map(|(id, r)| r.map(|r| (id, r)))
        .collect();
    assert_eq!(records.len(), 1);
    drop(before);
    let mut sim = scripted(config());
    sim.gw
        .enable_persistence(sim.now, wall + Duration::from_secs(1));
    sim.gw.restore_journal(sim.now, records);
    sim.pump();
    let (_, p) = sim.last_upstream_request();
    assert!(matches!(p, Payload::TopicSub(_)), "{p:?}");
    let granted = Payload::TopicSubResp(msg::TopicSubscriptionResponse {
        msgin5g_service_id: None,
        message_id: Some("t-20".into()),
        result: RegResult::Success,
        topics: vec!["news".into()],
        expiration: None,
        failure_cause: None,
    });
    sim.answer_last(Code::CREATED, &granted);
    let a = sim.answers_to(dev(1));
    let last = a.last().expect("the relayed answer");
    let v = last.view();
    assert_eq!(
        (v.header.mtype, v.header.code, v.header.token),
        (MsgType::Con, Code::CREATED, tok(20))
    );
    assert_eq!(last.body(), granted);
}
