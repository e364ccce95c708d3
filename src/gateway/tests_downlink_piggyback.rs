//! Downlink answers that cost no Message ID (docs/PROTOCOL.md §11; RFC 7252 §5.2.1): the ACK of
//! the server's CON is held up to `downlink_piggyback` and the device's verdict rides on it; a
//! slow device gets the empty ACK at the window's end and a separate response later.

use super::*;

/// The AC's piggybacked acceptance of delivery (`mid`, `token`).
fn accept(mid: u16, token: Token) -> Vec<u8> {
    MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid, token)
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(br#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"SUCCESS"}"#)
}

/// Every datagram the gateway sent the server: (type, code, Message ID, Token).
fn upstream_headers(sim: &Sim) -> Vec<(MsgType, Code, u16, Token)> {
    sim.upstream
        .iter()
        .map(|b| {
            let h = MessageView::parse(b).unwrap().header;
            (h.mtype, h.code, h.mid, h.token)
        })
        .collect()
}

/// Deliveries (CON POSTs) sent to `to`.
fn deliveries_to(sim: &Sim, to: SocketAddr) -> usize {
    sim.to_devices
        .iter()
        .filter(|s| s.to == to && s.view().header.code == Code::POST)
        .count()
}

/// Message IDs in use toward the server, over all uplinks (RFC 7252 §4.4).
fn upstream_mids_in_use(gw: &GatewayCore) -> u64 {
    gw.publish_gauges();
    gw.stats().upstream_mids_in_use.load(Ordering::Relaxed)
}

/// Answers by form so far: (piggybacked, separate).
fn forms(gw: &GatewayCore) -> (u64, u64) {
    let s = gw.stats();
    (
        s.downlink_answer_count(AnswerForm::Piggybacked),
        s.downlink_answer_count(AnswerForm::Separate),
    )
}

#[test]
fn a_verdict_within_the_window_rides_on_the_ack_and_spends_no_message_id() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.deliver_from_server(&downlink(500, tok(500), &msg_for_app("d-1", "7", false)));
    let (mid, token, _) = delivery_to(&sim, dev(1));
    sim.advance(Duration::from_millis(499));
    assert!(sim.upstream.is_empty(), "the ACK is held");
    sim.device(dev(1), &accept(mid, token));
    assert_eq!(
        upstream_headers(&sim),
        vec![(MsgType::Ack, Code::CHANGED, 500, tok(500))],
        "one piggybacked answer: the request's Message ID and Token"
    );
    match msg::decode(MessageView::parse(&sim.upstream[0]).unwrap().payload()).unwrap() {
        Payload::MsgResp(r) => {
            assert_eq!(r.message_id.as_deref(), Some("d-1"));
            assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Accepted));
        }
        other => panic!("{other:?}"),
    }
    // The window's end finds it answered: no empty ACK, no separate response.
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.upstream.len(), 1);
    assert_eq!(upstream_mids_in_use(&sim.gw), 0, "no Message ID spent");
    assert_eq!(forms(&sim.gw), (1, 0));
    assert!(sim.gw.is_drained());
    let page = crate::metrics::Registry::new()
        .with(crate::metrics::GatewayMetrics::new(vec![sim.gw.stats()]))
        .render();
    for line in [
        "msgin5g_gateway_downlink_answers_total{shard=\"0\",form=\"piggybacked\"} 1",
        "msgin5g_gateway_downlink_answers_total{shard=\"0\",form=\"separate\"} 0",
    ] {
        assert!(page.lines().any(|l| l == line), "{line} in\n{page}");
    }
}

#[test]
fn a_slow_device_gets_the_server_an_empty_ack_at_the_deadline_then_a_separate_response() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.deliver_from_server(&downlink(510, tok(510), &msg_for_app("d-1", "7", false)));
    let (mid, token, _) = delivery_to(&sim, dev(1));
    sim.advance(Duration::from_millis(499));
    assert!(sim.upstream.is_empty(), "held until the window ends");
    sim.advance(Duration::from_millis(1));
    assert_eq!(
        upstream_headers(&sim),
        vec![(MsgType::Ack, Code::EMPTY, 510, Token::EMPTY)],
        "the empty ACK at 500 ms"
    );
    // A retransmission of the request now gets the empty ACK again.
    sim.deliver_from_server(&downlink(510, tok(510), &msg_for_app("d-1", "7", false)));
    assert_eq!(sim.upstream.len(), 2);
    assert_eq!(sim.upstream[1], sim.upstream[0]);
    sim.advance(Duration::from_millis(500));
    sim.device(dev(1), &accept(mid, token));
    let (mtype, code, answer_mid, answer_token) = upstream_headers(&sim)[2];
    assert_eq!(
        (mtype, code, answer_token),
        (MsgType::Con, Code::CHANGED, tok(510))
    );
    assert_ne!(answer_mid, 510, "a Message ID of its own");
    assert_eq!(upstream_mids_in_use(&sim.gw), 1);
    assert_eq!(forms(&sim.gw), (0, 1));
    assert_eq!(deliveries_to(&sim, dev(1)), 1);
}

#[test]
fn a_retransmitted_request_while_its_ack_is_held_is_absorbed() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    let req = downlink(520, tok(520), &msg_for_app("d-1", "7", false));
    sim.deliver_from_server(&req);
    sim.advance(Duration::from_millis(300));
    sim.deliver_from_server(&req);
    assert!(sim.upstream.is_empty(), "no second answer, no empty ACK");
    assert_eq!(deliveries_to(&sim, dev(1)), 1, "no second delivery");
    let (mid, token, _) = delivery_to(&sim, dev(1));
    sim.device(dev(1), &accept(mid, token));
    assert_eq!(
        upstream_headers(&sim),
        vec![(MsgType::Ack, Code::CHANGED, 520, tok(520))]
    );
    // Later copies get the same piggybacked answer replayed.
    sim.deliver_from_server(&req);
    assert_eq!(sim.upstream.len(), 2);
    assert_eq!(sim.upstream[1], sim.upstream[0]);
    assert_eq!(deliveries_to(&sim, dev(1)), 1);
    assert_eq!(forms(&sim.gw), (1, 0));
}

#[test]
fn a_verdict_from_another_shard_is_piggybacked_by_the_shard_holding_the_request() {
    let upstream: SocketAddr = SERVER.parse().unwrap();
    let dir = Arc::new(Directory::default());
    let mut s0 = GatewayCore::new_shard(config(), upstream, 1, 0, dir.clone());
    let mut s1 = GatewayCore::new_shard(config(), upstream, 2, 1, dir.clone());
    let now = Instant::now();
    s1.handle_device_datagram(now, dev(1), &app_register(1, "7"));
    assert_eq!(dir.app_by_application("7").unwrap().shard, 1);
    while s1.poll_transmit().is_some() {}
    s0.handle_upstream_datagram(
        now,
        0,
        upstream,
        &downlink(7, tok(7), &msg_for_app("x", "7", false)),
    );
    assert!(s0.poll_transmit().is_none(), "the ACK is held on shard 0");
    let (_, handoff) = s0.poll_handoff().expect("handed to the owner");
    let later = now + Duration::from_millis(200);
    s1.handle_handoff(later, handoff);
    let (_, t) = s1.poll_transmit().expect("delivery sent by shard 1");
    let v = MessageView::parse(&t.payload).unwrap();
    s1.handle_device_datagram(later, dev(1), &accept(v.header.mid, v.header.token));
    let (to, back) = s1.poll_handoff().expect("result handed back");
    assert_eq!(to, 0);
    s0.handle_handoff(later, back);
    let sent: Vec<_> = std::iter::from_fn(|| s0.poll_transmit())
        .map(|(side, t)| {
            let h = MessageView::parse(&t.payload).unwrap().header;
            (side, h.mtype, h.code, h.mid, h.token)
        })
        .collect();
    assert_eq!(
        sent,
        vec![(Side::Upstream(0), MsgType::Ack, Code::CHANGED, 7, tok(7))]
    );
    // Its window's end passes without an empty ACK.
    s0.handle_timeout(now + Duration::from_secs(1));
    assert!(s0.poll_transmit().is_none());
    assert_eq!(upstream_mids_in_use(&s0), 0);
    assert_eq!(forms(&s0), (1, 0));
    assert!(s0.is_drained() && s1.is_drained());
}

#[test]
fn local_refusals_are_piggybacked_at_once() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.deliver_from_server(&downlink(530, tok(530), &msg_for_app("d-x", "nope", false)));
    let imdn = format!(
        r#"{{"messageType":"IMDN","messageId":"r-1","originalMessageId":"never","originatingUeServiceId":"ue-x","recipientUeServiceId":"{GW}","deliveryStatus":"SUCCESS"}}"#
    );
    sim.deliver_from_server(&downlink(531, tok(531), &imdn));
    assert_eq!(
        upstream_headers(&sim),
        vec![
            (MsgType::Ack, Code::NOT_FOUND, 530, tok(530)),
            (MsgType::Ack, Code::NOT_FOUND, 531, tok(531)),
        ]
    );
    assert_eq!(upstream_mids_in_use(&sim.gw), 0);
    assert_eq!(forms(&sim.gw), (2, 0));
}

#[test]
fn with_the_window_off_the_empty_ack_goes_at_once_and_the_answer_separately() {
    let mut sim = scripted(GatewayConfig {
        downlink_piggyback: Duration::ZERO,
        ..config()
    });
    sim.register_app(dev(1), 1, "7");
    sim.deliver_from_server(&downlink(540, tok(540), &msg_for_app("d-1", "7", false)));
    assert_eq!(
        upstream_headers(&sim),
        vec![(MsgType::Ack, Code::EMPTY, 540, Token::EMPTY)]
    );
    let (mid, token, _) = delivery_to(&sim, dev(1));
    sim.device(dev(1), &accept(mid, token));
    let (mtype, code, _, answer_token) = upstream_headers(&sim)[1];
    assert_eq!(
        (mtype, code, answer_token),
        (MsgType::Con, Code::CHANGED, tok(540))
    );
    assert_eq!(upstream_mids_in_use(&sim.gw), 1);
    assert_eq!(forms(&sim.gw), (0, 1));
}

/// Deliver `n` downlink messages for `apps` ACs, each answered at once by its AC, 100 µs apart
/// in simulated time, on a gateway with one uplink (one Message ID space toward the server,
/// 65 536 per EXCHANGE_LIFETIME); returns the gateway.
fn sustained_stream(n: u32, apps: u16) -> GatewayCore {
    let upstream: SocketAddr = SERVER.parse().unwrap();
    let mut gw = GatewayCore::new(
        GatewayConfig {
            uplinks_per_shard: 1,
            ..config()
        },
        upstream,
        3,
    );
    let mut now = Instant::now();
    for a in 0..apps {
        gw.handle_device_datagram(now, dev(a), &app_register(a, &format!("app-{a}")));
    }
    while gw.poll_transmit().is_some() {}
    for i in 0..n {
        let app = (i % u32::from(apps)) as u16;
        let json = msg_for_app(&format!("m-{i}"), &format!("app-{app}"), false);
        let token = Token::from_u64(u64::from(i));
        gw.handle_upstream_datagram(now, 0, upstream, &downlink(i as u16, token, &json));
        let (side, t) = gw.poll_transmit().expect("a delivery");
        assert_eq!((side, t.destination), (Side::Device, dev(app)));
        let h = MessageView::parse(&t.payload).unwrap().header;
        let ack = MessageBuilder::new(MsgType::Ack, Code::CHANGED, h.mid, h.token).build();
        gw.handle_device_datagram(now, dev(app), &ack);
        let (side, t) = gw.poll_transmit().expect("the answer");
        let h = MessageView::parse(&t.payload).unwrap().header;
        assert_eq!(
            (side, h.mtype, h.code, h.mid, h.token),
            (
                Side::Upstream(0),
                MsgType::Ack,
                Code::CHANGED,
                i as u16,
                token
            ),
            "message {i}"
        );
        assert!(gw.poll_transmit().is_none());
        now += Duration::from_micros(100);
        if i % 1024 == 0 {
            gw.handle_timeout(now);
            assert!(gw.poll_transmit().is_none(), "nothing else to the server");
        }
    }
    gw
}

#[test]
fn a_sustained_downlink_stream_spends_no_message_ids() {
    // Twice what one uplink's Message ID space allows within EXCHANGE_LIFETIME (247 s; here
    // 13 s) if each answer took one: the separate form stalls there.
    let n = 2 * 65_536;
    let gw = sustained_stream(n, 4);
    assert_eq!(upstream_mids_in_use(&gw), 0);
    assert_eq!(forms(&gw), (u64::from(n), 0));
    let stats = gw.stats();
    assert_eq!(stats.upstream_mid_exhausted.load(Ordering::Relaxed), 0);
    assert_eq!(
        stats.downlink_delivered.load(Ordering::Relaxed),
        u64::from(n)
    );
    assert!(gw.is_drained());
}
