//! Segmentation on the gateway's uplink (23.554 §8.5, §8.11; design D1, D9, D10): Application
//! Clients' large messages sent as segments, one answer per message, the server's `SEGREC` and
//! `SEGCONFIR`, the set bounds; MSGin5G-6 UEs' segments answered apart; TOPIC/BC targets.

use super::*;

/// RFC 4648 base64 text of `n` zero bytes.
fn zeros(n: usize) -> String {
    let mut s = "AAAA".repeat(n / 3);
    s.push_str(match n % 3 {
        1 => "AA==",
        2 => "AAA=",
        _ => "",
    });
    s
}

fn app_send_payload(mid: u16, message_id: &str, payload: &str, extra: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"MESSAGE SENDING REQUEST","messageId":"{message_id}","targetAddress":"ue-x","targetType":"UE","payload":"{payload}"{extra}}}"#
        ),
    )
}

/// Bulks large enough for three segments in one aggregate.
fn seg_config() -> GatewayConfig {
    GatewayConfig {
        max_bulk_bytes: 20_000,
        ..config()
    }
}

fn result(id: &str, n: Option<u32>, s: MsgDeliveryStatus, c: Option<&str>) -> MessageResult {
    MessageResult {
        message_id: id.into(),
        delivery_status: s,
        failure_cause: c.map(str::to_string),
        segment_number: n,
    }
}

fn aggregate_answer(results: Vec<MessageResult>) -> Payload {
    Payload::MsgResp(MessageResponse {
        results,
        ..MessageResponse::default()
    })
}

/// The AC's `MESSAGE SENDING RESPONSE`s: (CoAP type, code, body).
fn sending_answers(sim: &Sim, d: SocketAddr) -> Vec<(MsgType, Code, msg::MessageSendingResponse)> {
    sim.distinct_answers_to(d)
        .iter()
        .filter_map(|s| match s.body() {
            Payload::MsgSendingResp(r) => Some((s.view().header.mtype, s.view().header.code, r)),
            _ => None,
        })
        .collect()
}

/// Register an AC, send it a 5000-byte message, flush: returns the aggregate's segments.
fn send_big(sim: &mut Sim, extra: &str) -> Vec<msg::Message> {
    sim.register_app(dev(1), 1, "7");
    sim.device(dev(1), &app_send_payload(2, "m-big", &zeros(5000), extra));
    sim.advance(Duration::from_millis(100));
    let (_, p) = sim.last_upstream_request();
    let Payload::AggMsg(agg) = p else {
        panic!("expected AGGMSG, got {p:?}")
    };
    agg.messages
}

#[test]
fn a_large_ac_message_goes_as_three_segments_and_gets_one_answer() {
    let mut sim = scripted(seg_config());
    let segs = send_big(&mut sim, r#","deliveryStatusRequired":true"#);
    // The AC's CON was acknowledged at once (its answer needs several upstream answers).
    let empty_ack = sim.to_devices.iter().any(|s| {
        s.to == dev(1)
            && s.view().header.mtype == MsgType::Ack
            && s.view().header.code.is_empty()
            && s.view().header.mid == 2
    });
    assert!(empty_ack);
    assert_eq!(segs.len(), 3);
    let set = segs[0].segmentation.clone().unwrap().set_id;
    let mut text = String::new();
    for (i, m) in segs.iter().enumerate() {
        let n = i as u32 + 1;
        assert_eq!(m.message_id, "m-big", "D1: the Message ID in every segment");
        assert_eq!(m.originating_ue_service_id.as_deref(), Some(GW));
        assert_eq!(m.recipient_ue_service_id.as_deref(), Some("ue-x"));
        assert_eq!(
            m.segmentation,
            Some(msg::Segmentation::nth(&set, n, 3)),
            "segment {n}"
        );
        assert_eq!(m.delivery_status_required, n == 1);
        let payload = m.payload.as_deref().unwrap();
        let want = [2046, 2046, 908][i];
        assert_eq!(msg::base64_decoded_len(payload), Some(want));
        text.push_str(payload);
    }
    assert_eq!(text, zeros(5000));
    assert!(sending_answers(&sim, dev(1)).is_empty(), "no verdict yet");
    // Out of order, each result naming its segment; one segment stored.
    sim.answer_last(
        Code::CHANGED,
        &aggregate_answer(vec![
            result("m-big", Some(3), MsgDeliveryStatus::Stored, None),
            result("m-big", Some(1), MsgDeliveryStatus::Accepted, None),
            result("m-big", Some(2), MsgDeliveryStatus::Accepted, None),
        ]),
    );
    let answers = sending_answers(&sim, dev(1));
    assert_eq!(answers.len(), 1, "{answers:?}");
    let (mtype, code, r) = &answers[0];
    assert_eq!((*mtype, *code), (MsgType::Con, Code::CHANGED));
    assert_eq!(r.result, ReportStatus::Success);
    assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Stored));
    assert_eq!(r.message_id.as_deref(), Some("m-big"));
    let stats = sim.gw.stats();
    assert_eq!(stats.segments_sent.load(Ordering::Relaxed), 3);
    assert_eq!(stats.messages.load(Ordering::Relaxed), 1);
    assert!(sim.gw.is_drained());
}

#[test]
fn a_failed_segment_fails_the_message() {
    let mut sim = scripted(seg_config());
    send_big(&mut sim, "");
    sim.answer_last(
        Code::CHANGED,
        &aggregate_answer(vec![
            result("m-big", Some(1), MsgDeliveryStatus::Accepted, None),
            result(
                "m-big",
                Some(2),
                MsgDeliveryStatus::Failed,
                Some(cause::UNKNOWN_UE),
            ),
        ]),
    );
    let answers = sending_answers(&sim, dev(1));
    assert_eq!(answers.len(), 1);
    let (_, code, r) = &answers[0];
    assert_eq!(*code, Code::NOT_FOUND);
    assert_eq!(r.result, ReportStatus::Failure);
    assert_eq!(r.failure_reason.as_deref(), Some(cause::UNKNOWN_UE));
}

#[test]
fn large_segments_go_singly_when_they_do_not_fit_a_bulk() {
    // The default 1024-byte bulk cannot hold a 2 KiB segment: each goes on its own.
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.device(dev(1), &app_send_payload(2, "m-big", &zeros(5000), ""));
    let singles: Vec<msg::Message> = sim
        .bulks()
        .into_iter()
        .filter_map(|p| match p {
            Payload::Msg(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(singles.len(), 3);
    assert_eq!(
        singles
            .iter()
            .map(|m| m.segmentation.as_ref().unwrap().segment_number)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

/// The server's SEGREC or SEGCONFIR for the gateway's set `set`.
fn segment_control(kind: &str, set: &str, tail: &str) -> String {
    format!(
        r#"{{"messageType":"{kind}","messageId":"m-big","originatingAsServiceId":"as-1","recipientUeServiceId":"{GW}","segmentation":{{"setId":"{set}"}}{tail}}}"#
    )
}

/// Deliver a downlink request and return the gateway's piggybacked answer: (code, MSGRESP).
fn ask(sim: &mut Sim, mid: u16, json: &str) -> (Code, msg::MessageResponse) {
    sim.deliver_from_server(&downlink(mid, tok(mid), json));
    let (mtype, code, token, body) = sim.server_answers().pop().expect("an answer");
    assert_eq!((mtype, token), (MsgType::Ack, tok(mid)));
    match msg::decode(&body).unwrap() {
        Payload::MsgResp(r) => (code, r),
        other => panic!("{other:?}"),
    }
}

fn accept_all(sim: &mut Sim) {
    sim.answer_last(Code::CHANGED, &aggregate_answer(vec![]));
    assert_eq!(sending_answers(sim, dev(1)).len(), 1);
}

#[test]
fn server_segrec_resends_the_listed_segments_and_segconfir_frees_the_set() {
    let mut sim = scripted(seg_config());
    let segs = send_big(&mut sim, "");
    let set = segs[0].segmentation.clone().unwrap().set_id;
    accept_all(&mut sim);
    let before = sim.upstream.len();
    let (code, r) = ask(
        &mut sim,
        700,
        &segment_control("SEGREC", &set, r#","missingSegments":[3,2,3,9]"#),
    );
    assert_eq!(code, Code::CHANGED);
    assert_eq!(r.message_id.as_deref(), Some("m-big"));
    let resent: Vec<msg::Message> = sim.upstream[before..]
        .iter()
        .filter_map(|b| {
            let v = MessageView::parse(b).ok()?;
            (v.header.code == Code::POST).then(|| match msg::decode(v.payload()) {
                Ok(Payload::Msg(m)) => m,
                other => panic!("{other:?}"),
            })
        })
        .collect();
    // The kept segments as sent (a single MSG names the service; an element does not).
    let as_elements: Vec<msg::Message> = resent
        .into_iter()
        .map(|m| msg::Message {
            msgin5g_service_id: None,
            ..m
        })
        .collect();
    assert!(as_elements == vec![segs[1].clone(), segs[2].clone()]);
    assert_eq!(sim.gw.stats().segments_resent.load(Ordering::Relaxed), 2);
    // Their answers concern no device.
    sim.answer_last(Code::CHANGED, &aggregate_answer(vec![]));
    assert_eq!(sending_answers(&sim, dev(1)).len(), 1);
    // Unknown set, or a set named with another Message ID: 4.04.
    let (code, r) = ask(
        &mut sim,
        701,
        &segment_control("SEGREC", "other", r#","missingSegments":[1]"#),
    );
    assert_eq!(code, Code::NOT_FOUND);
    assert_eq!(r.failure_cause.as_deref(), Some(cause::UNKNOWN_MESSAGE));
    // SEGCONFIR frees the set: a later SEGREC finds nothing; a repeated SEGCONFIR is 2.04.
    for mid in [702, 703] {
        let (code, _) = ask(
            &mut sim,
            mid,
            &segment_control("SEGCONFIR", &set, r#","result":"SUCCESS""#),
        );
        assert_eq!(code, Code::CHANGED);
    }
    let (code, _) = ask(
        &mut sim,
        704,
        &segment_control("SEGREC", &set, r#","missingSegments":[1]"#),
    );
    assert_eq!(code, Code::NOT_FOUND);
    assert_eq!(
        sim.gw
            .stats()
            .segment_sets_confirmed
            .load(Ordering::Relaxed),
        1
    );
}

#[test]
fn a_segconfir_before_the_verdicts_frees_the_set_once_answered() {
    let mut sim = scripted(seg_config());
    let segs = send_big(&mut sim, "");
    let set = segs[0].segmentation.clone().unwrap().set_id;
    let (mid, token) = {
        let (v, _) = sim.last_upstream_request();
        (v.header.mid, v.header.token)
    };
    let (code, _) = ask(
        &mut sim,
        800,
        &segment_control("SEGCONFIR", &set, r#","result":"SUCCESS""#),
    );
    assert_eq!(code, Code::CHANGED);
    // The aggregate's answer arrives after: the AC gets its answer, the set is gone.
    let mut json = Vec::new();
    msg::encode(&aggregate_answer(vec![]), &mut json);
    sim.deliver_from_server(
        &MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid, token)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(&json),
    );
    assert_eq!(sending_answers(&sim, dev(1)).len(), 1);
    let (code, _) = ask(
        &mut sim,
        801,
        &segment_control("SEGREC", &set, r#","missingSegments":[1]"#),
    );
    assert_eq!(code, Code::NOT_FOUND);
}

#[test]
fn an_answered_set_is_freed_after_the_hold_time() {
    let mut sim = scripted(GatewayConfig {
        segment_hold: Duration::from_secs(60),
        ..seg_config()
    });
    let segs = send_big(&mut sim, "");
    let set = segs[0].segmentation.clone().unwrap().set_id;
    accept_all(&mut sim);
    sim.advance(Duration::from_secs(59));
    let (code, _) = ask(
        &mut sim,
        900,
        &segment_control("SEGREC", &set, r#","missingSegments":[1]"#),
    );
    assert_eq!(code, Code::CHANGED, "still held");
    sim.advance(Duration::from_secs(2));
    let (code, _) = ask(
        &mut sim,
        901,
        &segment_control("SEGREC", &set, r#","missingSegments":[1]"#),
    );
    assert_eq!(code, Code::NOT_FOUND);
    assert_eq!(
        sim.gw.stats().segment_sets_expired.load(Ordering::Relaxed),
        1
    );
}

#[test]
fn segment_set_bound_and_too_many_segments() {
    let mut sim = scripted(GatewayConfig {
        max_segment_sets: 1,
        ..seg_config()
    });
    send_big(&mut sim, "");
    sim.device(dev(1), &app_send_payload(3, "m-two", &zeros(3000), ""));
    let answers = sending_answers(&sim, dev(1));
    assert_eq!(answers.len(), 1);
    let refusal = sim.answers_to(dev(1)).pop().unwrap();
    assert_eq!(refusal.view().header.code, Code::SERVICE_UNAVAILABLE);
    assert!(refusal.view().max_age().is_some());
    assert_eq!(
        answers[0].2.failure_reason.as_deref(),
        Some(cause::GATEWAY_OVERLOAD)
    );
    assert_eq!(sim.gw.stats().segment_sets_full.load(Ordering::Relaxed), 1);
    // A small message still goes whole.
    sim.device(dev(1), &app_send_payload(4, "m-small", &zeros(100), ""));
    assert_eq!(
        sending_answers(&sim, dev(1)).len(),
        1,
        "pending, not refused"
    );

    // More than MAX_SEGMENTS segments: 4.13.
    let mut sim = scripted(GatewayConfig {
        segment_size: 16,
        ..seg_config()
    });
    sim.register_app(dev(1), 1, "7");
    let too_big = 15 * msg::MAX_SEGMENTS as usize + 1;
    sim.device(dev(1), &app_send_payload(2, "m-huge", &zeros(too_big), ""));
    let answers = sending_answers(&sim, dev(1));
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].1, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(
        answers[0].2.failure_reason.as_deref(),
        Some(cause::PAYLOAD_TOO_LARGE)
    );
    // Exactly MAX_SEGMENTS segments are fine.
    sim.device(
        dev(1),
        &app_send_payload(3, "m-max", &zeros(too_big - 1), ""),
    );
    assert_eq!(sending_answers(&sim, dev(1)).len(), 1);
    assert_eq!(
        sim.gw.stats().segments_sent.load(Ordering::Relaxed),
        u64::from(msg::MAX_SEGMENTS)
    );
}

/// A MSGin5G-6 UE's segment `n` of 2 of message `id`.
fn client_segment(mid: u16, id: &str, n: u32) -> Vec<u8> {
    let seg = if n == 1 {
        r#"{"setId":"s-1","totalSegments":2,"segmentNumber":1}"#.to_string()
    } else {
        format!(r#"{{"setId":"s-1","segmentNumber":{n},"lastSegment":true}}"#)
    };
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"MSG","messageId":"{id}","originatingUeServiceId":"ue-1","recipientUeServiceId":"ue-2","payload":"AQI=","segmentation":{seg}}}"#
        ),
    )
}

#[test]
fn two_segments_of_one_ue_message_in_one_aggregate_get_their_own_verdicts() {
    let mut sim = scripted(config());
    register_client(&mut sim, dev(1), 1, "ue-1");
    sim.device(dev(1), &client_segment(2, "c-seg", 1));
    sim.device(dev(1), &client_segment(3, "c-seg", 2));
    // Both pending at once (not refused as a duplicate Message ID).
    assert!(sim
        .answers_to(dev(1))
        .iter()
        .all(|s| s.view().header.mid < 2));
    sim.advance(Duration::from_millis(100));
    let (_, p) = sim.last_upstream_request();
    let Payload::AggMsg(agg) = p else { panic!() };
    assert_eq!(agg.messages.len(), 2);
    assert_eq!(
        agg.messages
            .iter()
            .map(|m| m.segmentation.as_ref().unwrap().segment_number)
            .collect::<Vec<_>>(),
        vec![1, 2],
        "unchanged"
    );
    sim.answer_last(
        Code::CHANGED,
        &aggregate_answer(vec![
            result(
                "c-seg",
                Some(2),
                MsgDeliveryStatus::Failed,
                Some(cause::UNKNOWN_UE),
            ),
            result("c-seg", Some(1), MsgDeliveryStatus::Accepted, None),
        ]),
    );
    let by_mid = |sim: &Sim, mid: u16| {
        let s = sim
            .answers_to(dev(1))
            .into_iter()
            .find(|s| s.view().header.token == tok(mid))
            .expect("answered");
        match s.body() {
            Payload::MsgResp(r) => (s.view().header.code, r),
            other => panic!("{other:?}"),
        }
    };
    let (code, r) = by_mid(&sim, 2);
    assert_eq!(code, Code::CHANGED);
    assert_eq!(
        r.message_id.as_deref(),
        Some("c-seg"),
        "the Message ID, no suffix"
    );
    assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Accepted));
    let (code, r) = by_mid(&sim, 3);
    assert_eq!(code, Code::NOT_FOUND);
    assert_eq!(r.message_id.as_deref(), Some("c-seg"));
    assert_eq!(r.failure_cause.as_deref(), Some(cause::UNKNOWN_UE));
    // The same segment again while pending is a duplicate, named by its Message ID.
    sim.device(dev(1), &client_segment(4, "c-seg2", 1));
    sim.device(dev(1), &client_segment(5, "c-seg2", 1));
    let (code, r) = by_mid(&sim, 5);
    assert_eq!(code, Code::new(4, 9));
    assert_eq!(r.message_id.as_deref(), Some("c-seg2"));
}

#[test]
fn segment_control_for_a_ue_behind_the_gateway_passes_through() {
    let mut sim = scripted(config());
    register_client(&mut sim, dev(1), 1, "ue-1");
    let json = r#"{"messageType":"SEGREC","messageId":"c-seg","originatingUeServiceId":"ue-2","recipientUeServiceId":"ue-1","segmentation":{"setId":"s-1"},"missingSegments":[2]}"#;
    sim.deliver_from_server(&downlink(600, tok(600), json));
    let (_, _, p) = delivery_to(&sim, dev(1));
    match p {
        Payload::SegRec(r) => {
            assert_eq!(r.set_id, "s-1");
            assert_eq!(r.missing_segments, vec![2]);
        }
        other => panic!("{other:?}"),
    }
    // A UE not registered here: 4.04 UNKNOWN_UE at once.
    let json = r#"{"messageType":"SEGCONFIR","messageId":"c-seg","originatingUeServiceId":"ue-2","recipientUeServiceId":"ue-9","segmentation":{"setId":"s-1"},"result":"SUCCESS"}"#;
    sim.deliver_from_server(&downlink(601, tok(601), json));
    let (_, code, token, _) = sim.server_answers().pop().unwrap();
    assert_eq!((code, token), (Code::NOT_FOUND, tok(601)));
}

#[test]
fn topic_and_broadcast_target_types_map_to_their_ies() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.device(dev(1), &app_send(2, "m-t", "weather", "TOPIC", ""));
    sim.device(dev(1), &app_send(3, "m-b", "area-1", "BC", ""));
    sim.advance(Duration::from_millis(100));
    let (_, p) = sim.last_upstream_request();
    let Payload::AggMsg(agg) = p else { panic!() };
    let t = &agg.messages[0];
    assert_eq!(t.recipient_topic.as_deref(), Some("weather"));
    assert!(t.recipient_ue_service_id.is_none() && t.recipient_broadcast_area.is_none());
    let b = &agg.messages[1];
    assert_eq!(b.recipient_broadcast_area.as_deref(), Some("area-1"));
    assert!(b.recipient_topic.is_none() && b.recipient_group_service_id.is_none());
}

#[test]
fn segment_control_for_a_set_of_another_shard_is_handed_to_it() {
    let upstream: SocketAddr = SERVER.parse().unwrap();
    let dir = Arc::new(Directory::default());
    let mut s0 = GatewayCore::new_shard(seg_config(), upstream, 1, 0, dir.clone());
    let mut s1 = GatewayCore::new_shard(seg_config(), upstream, 2, 1, dir.clone());
    let now = Instant::now();
    s1.handle_device_datagram(now, dev(1), &app_register(1, "7"));
    s1.handle_device_datagram(now, dev(1), &app_send_payload(2, "m-big", &zeros(5000), ""));
    s1.begin_drain(now);
    let sent: Vec<Payload> = std::iter::from_fn(|| s1.poll_transmit())
        .filter_map(|(side, t)| {
            let v = MessageView::parse(&t.payload).ok()?;
            (matches!(side, Side::Upstream(_)) && v.header.code == Code::POST)
                .then(|| msg::decode(v.payload()).unwrap())
        })
        .collect();
    let Some(Payload::AggMsg(agg)) = sent.first() else {
        panic!("{sent:?}")
    };
    let set = agg.messages[0].segmentation.clone().unwrap().set_id;
    assert!(set.ends_with("-s1"), "{set}");
    // The server's SEGREC reaches shard 0: answered 2.04 there, handed to shard 1.
    let json = segment_control("SEGREC", &set, r#","missingSegments":[2]"#);
    s0.handle_upstream_datagram(now, 0, upstream, &downlink(9, tok(9), &json));
    let answer = std::iter::from_fn(|| s0.poll_transmit())
        .find_map(|(_, t)| {
            let v = MessageView::parse(&t.payload).ok()?;
            v.header.code.is_response().then_some(v.header.code)
        })
        .expect("answered");
    assert_eq!(answer, Code::CHANGED);
    let (to, handoff) = s0.poll_handoff().expect("handed to the set's shard");
    assert_eq!(to, 1);
    s1.handle_handoff(now, handoff);
    let resent: Vec<Payload> = std::iter::from_fn(|| s1.poll_transmit())
        .filter_map(|(_, t)| {
            let v = MessageView::parse(&t.payload).ok()?;
            (v.header.code == Code::POST).then(|| msg::decode(v.payload()).unwrap())
        })
        .collect();
    assert_eq!(resent.len(), 1);
    let Payload::Msg(m) = &resent[0] else {
        panic!()
    };
    assert_eq!(m.segmentation.as_ref().unwrap().segment_number, 2);
    assert_eq!(s1.stats().segments_resent.load(Ordering::Relaxed), 1);
}

#[test]
fn a_journaled_ue_segment_is_answered_with_its_message_id_after_restore() {
    let wall = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut before = scripted(config());
    before.gw.enable_persistence(before.now, wall);
    before.gw.directory().set_client("ue-1", dev(1), 0);
    before.device(dev(1), &client_segment(2, "c-seg", 1));
    before.advance(Duration::from_millis(1000));
    let records: Vec<(u64, Vec<u8>)> = before
        .gw
        .take_changes()
        .journal
        .into_iter()
        .filter_map(|(id, r)| Some((id, r?)))
        .collect();
    assert_eq!(records.len(), 1, "the segment got its empty ACK");
    drop(before);

    let mut sim = scripted(config());
    sim.gw
        .enable_persistence(sim.now, wall + Duration::from_secs(3));
    assert_eq!(sim.gw.restore_journal(sim.now, records).restored, 1);
    sim.advance(Duration::from_millis(200));
    sim.answer_last(
        Code::CHANGED,
        &aggregate_answer(vec![result(
            "c-seg",
            Some(1),
            MsgDeliveryStatus::Failed,
            Some(cause::UNKNOWN_UE),
        )]),
    );
    let a = sim.distinct_answers_to(dev(1));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.code, Code::NOT_FOUND);
    match a[0].body() {
        Payload::MsgResp(r) => assert_eq!(r.message_id.as_deref(), Some("c-seg")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn segmented_message_refusals_duplicate_pending_bound_and_drain() {
    let mut sim = scripted(GatewayConfig {
        max_pending: 4,
        ..seg_config()
    });
    send_big(&mut sim, "");
    let last = |sim: &Sim| {
        let a = sending_answers(sim, dev(1));
        let (_, code, r) = a.last().cloned().expect("an answer");
        (code, r.failure_reason)
    };
    // The same Message ID while its segments are pending: 4.09, whole or segmented.
    sim.device(dev(1), &app_send_payload(3, "m-big", &zeros(5000), ""));
    let dup = (
        Code::new(4, 9),
        Some(cause::DUPLICATE_MESSAGE_ID.to_string()),
    );
    assert_eq!(last(&sim), dup);
    sim.device(dev(1), &app_send_payload(6, "m-big", &zeros(10), ""));
    assert_eq!(last(&sim), dup);
    // Three segments pending, three more would pass max_pending = 4: 5.03.
    sim.device(dev(1), &app_send_payload(4, "m-two", &zeros(5000), ""));
    assert_eq!(
        last(&sim),
        (
            Code::SERVICE_UNAVAILABLE,
            Some(cause::GATEWAY_OVERLOAD.to_string())
        )
    );
    // Draining: 5.03 SHUTTING_DOWN.
    sim.gw.begin_drain(sim.now);
    sim.device(dev(1), &app_send_payload(5, "m-three", &zeros(3000), ""));
    assert_eq!(
        last(&sim),
        (
            Code::SERVICE_UNAVAILABLE,
            Some(cause::SHUTTING_DOWN.to_string())
        )
    );
    assert_eq!(
        sending_answers(&sim, dev(1)).len(),
        4,
        "m-big still pending"
    );
}
