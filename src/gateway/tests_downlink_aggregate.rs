//! Aggregated downlink at the gateway (issue 13; 23.554 §8.4.3; docs/PROTOCOL.md §11): the
//! server's `AGGMSG`/`AGGIMDN` split per element, each delivered as the single `MSG`/`IMDN` would
//! be (also on another shard), and answered once with every element's verdict in element order.
//! The answer's form (piggybacked or separate) is not asserted here: only that there is one.

use super::*;

/// The server's `AGGMSG` `id` holding `elements`.
fn aggmsg(id: &str, elements: &[String]) -> String {
    format!(
        r#"{{"msgin5gServiceId":"svc","messageType":"AGGMSG","messageId":"{id}","originatingAsServiceId":"msgin5g-server","numberOfMessages":{},"messages":[{}]}}"#,
        elements.len(),
        elements.join(",")
    )
}

/// The server's `AGGIMDN` `id` holding `elements`.
fn aggimdn(id: &str, elements: &[String]) -> String {
    format!(
        r#"{{"msgin5gServiceId":"svc","messageType":"AGGIMDN","messageId":"{id}","originatingAsServiceId":"msgin5g-server","numberOfReports":{},"reports":[{}]}}"#,
        elements.len(),
        elements.join(",")
    )
}

/// An `AGGMSG` element: message `id` from `as-1` for application `app` behind the gateway.
fn to_app(id: &str, app: &str) -> String {
    format!(
        r#"{{"messageId":"{id}","originatingAsServiceId":"as-1","recipientUeServiceId":"{GW}","applicationId":"{app}","payload":"AQI="}}"#
    )
}

/// An `AGGMSG` element: message `id` from `ue-7` for the MSGin5G-6 UE `ue`.
fn to_ue(id: &str, ue: &str) -> String {
    format!(
        r#"{{"messageId":"{id}","originatingUeServiceId":"ue-7","recipientUeServiceId":"{ue}","payload":"AQI="}}"#
    )
}

/// An `AGGMSG` element: segment `n` of 2 of message `id` (set `s-1`) for application "7".
fn segment_to_app(id: &str, n: u32, payload: &str) -> String {
    let extra = if n == 1 {
        r#","totalSegments":2"#
    } else {
        r#","lastSegment":true"#
    };
    format!(
        r#"{{"messageId":"{id}","originatingAsServiceId":"as-1","recipientUeServiceId":"{GW}","applicationId":"7","payload":"{payload}","segmentation":{{"setId":"s-1","segmentNumber":{n}{extra}}}}}"#
    )
}

/// An `AGGIMDN` element: report `id` on message `original` for the gateway's ACs.
fn report_to_app(id: &str, original: &str) -> String {
    format!(
        r#"{{"messageId":"{id}","originalMessageId":"{original}","originatingUeServiceId":"ue-x","recipientUeServiceId":"{GW}","deliveryStatus":"SUCCESS"}}"#
    )
}

/// The device's piggybacked 2.04 `MESSAGE RECEIVED RESPONSE` to delivery (`mid`, `token`).
fn received(mid: u16, token: Token, ok: bool) -> Vec<u8> {
    let (code, body): (Code, &[u8]) = if ok {
        (
            Code::CHANGED,
            br#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"SUCCESS"}"#,
        )
    } else {
        (
            Code::NOT_FOUND,
            br#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"FAILURE","failureReason":"NOT_INTERESTED"}"#,
        )
    };
    MessageBuilder::new(MsgType::Ack, code, mid, token)
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(body)
}

/// The answers (response codes, piggybacked or separate) among `upstream` to the server's
/// request `token`, each once.
fn answers_for(upstream: &[Vec<u8>], token: Token) -> Vec<(Code, Payload)> {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    for b in upstream {
        let Ok(v) = MessageView::parse(b) else {
            continue;
        };
        if !v.header.code.is_response() || v.header.token != token {
            continue;
        }
        if seen.iter().any(|p| p.as_slice() == v.payload()) {
            continue;
        }
        seen.push(v.payload().to_vec());
        let body = msg::decode(v.payload()).unwrap_or(Payload::MsgResp(MessageResponse::default()));
        out.push((v.header.code, body));
    }
    out
}

/// The results of the one aggregate answer to `token`: (Message ID, status, cause, segment).
fn results_of(
    upstream: &[Vec<u8>],
    token: Token,
    aggregate: &str,
) -> Vec<(String, MsgDeliveryStatus, Option<String>, Option<u32>)> {
    let answers = answers_for(upstream, token);
    assert_eq!(answers.len(), 1, "answered once: {answers:?}");
    let (code, body) = &answers[0];
    assert_eq!(*code, Code::CHANGED);
    let Payload::MsgResp(r) = body else {
        panic!("{body:?}")
    };
    assert_eq!(r.message_id.as_deref(), Some(aggregate));
    r.results
        .iter()
        .map(|e| {
            (
                e.message_id.clone(),
                e.delivery_status,
                e.failure_cause.clone(),
                e.segment_number,
            )
        })
        .collect()
}

fn accepted(id: &str) -> (String, MsgDeliveryStatus, Option<String>, Option<u32>) {
    (id.to_owned(), MsgDeliveryStatus::Accepted, None, None)
}

fn failed(id: &str, why: &str) -> (String, MsgDeliveryStatus, Option<String>, Option<u32>) {
    (
        id.to_owned(),
        MsgDeliveryStatus::Failed,
        Some(why.to_owned()),
        None,
    )
}

/// The deliveries (CON POSTs) sent to `to` among `sent`: (Message ID, Token, body).
fn deliveries(sent: &[Seen], to: SocketAddr) -> Vec<(u16, Token, Payload)> {
    sent.iter()
        .filter(|s| s.to == to && s.view().header.code == Code::POST)
        .map(|s| {
            let v = s.view();
            (
                v.header.mid,
                v.header.token,
                msg::decode(v.payload()).unwrap(),
            )
        })
        .collect()
}

/// Two shards of one gateway sharing a directory, with handoffs passed at once.
struct Shards {
    now: Instant,
    shards: Vec<GatewayCore>,
    to_devices: Vec<Seen>,
    upstream: Vec<Vec<u8>>,
    /// Drop every handoff between the shards.
    lose_handoffs: bool,
}

impl Shards {
    fn new(config: GatewayConfig) -> Shards {
        let server: SocketAddr = SERVER.parse().unwrap();
        let dir = Arc::new(Directory::default());
        Shards {
            now: Instant::now(),
            shards: (0..2)
                .map(|i| {
                    GatewayCore::new_shard(config.clone(), server, 1 + i as u64, i, dir.clone())
                })
                .collect(),
            to_devices: Vec::new(),
            upstream: Vec::new(),
            lose_handoffs: false,
        }
    }

    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.shards.len() {
                while let Some((to, h)) = self.shards[i].poll_handoff() {
                    moved = true;
                    if !self.lose_handoffs {
                        self.shards[to].handle_handoff(self.now, h);
                    }
                }
                while let Some((side, t)) = self.shards[i].poll_transmit() {
                    moved = true;
                    match side {
                        Side::Upstream(_) => self.upstream.push(t.payload.to_vec()),
                        Side::Device | Side::Config => self.to_devices.push(Seen {
                            to: t.destination,
                            bytes: t.payload.to_vec(),
                            side,
                        }),
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn device(&mut self, shard: usize, from: SocketAddr, bytes: &[u8]) {
        self.shards[shard].handle_device_datagram(self.now, from, bytes);
        self.pump();
    }

    fn server_sends(&mut self, bytes: &[u8]) {
        let server = SERVER.parse().unwrap();
        self.shards[0].handle_upstream_datagram(self.now, 0, server, bytes);
        self.pump();
    }

    /// Advance simulated time by `d` on every shard (timers due by then fire).
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self
            .shards
            .iter()
            .filter_map(|s| s.poll_timeout())
            .min()
            .filter(|t| *t <= end)
        {
            self.now = self.now.max(t);
            for s in &mut self.shards {
                s.handle_timeout(self.now);
            }
            self.pump();
        }
        self.now = end;
    }

    fn is_drained(&self) -> bool {
        self.shards.iter().all(|s| s.is_drained())
    }
}

#[test]
fn an_aggregate_reaches_each_device_once_and_is_answered_once_in_element_order() {
    let mut g = Shards::new(config());
    g.device(0, dev(1), &app_register(1, "7"));
    g.device(0, dev(2), &app_register(2, "8"));
    // Application "9" is served by shard 1.
    g.device(1, dev(3), &app_register(3, "9"));
    g.shards[0].directory().set_client("ue-1", dev(4), 0);
    let elements = [
        to_app("d-1", "7"),
        to_app("d-2", "9"),
        to_ue("d-3", "ue-1"),
        to_app("d-4", "nope"),
        to_app("d-5", "8"),
    ];
    g.server_sends(&downlink(1, tok(1), &aggmsg("agg-1", &elements)));
    let one = |g: &Shards, to| {
        let d = deliveries(&g.to_devices, to);
        assert_eq!(d.len(), 1, "exactly one delivery to {to}");
        d[0].clone()
    };
    let (mid1, t1, body) = one(&g, dev(1));
    assert!(
        matches!(body, Payload::MsgDelivery(ref d) if d.message_id == "d-1"),
        "{body:?}"
    );
    let (mid3, t3, body) = one(&g, dev(3));
    assert!(
        matches!(body, Payload::MsgDelivery(ref d) if d.message_id == "d-2"),
        "{body:?}"
    );
    let (mid4, t4, body) = one(&g, dev(4));
    match body {
        // The MSGin5G-6 UE gets the element as the single MSG.
        Payload::Msg(m) => {
            assert_eq!(m.message_id, "d-3");
            assert_eq!(m.msgin5g_service_id.as_deref(), Some("svc"));
            assert_eq!(m.originating_ue_service_id.as_deref(), Some("ue-7"));
        }
        other => panic!("{other:?}"),
    }
    let (mid2, t2, body) = one(&g, dev(2));
    assert!(
        matches!(body, Payload::MsgDelivery(ref d) if d.message_id == "d-5"),
        "{body:?}"
    );
    g.device(0, dev(1), &received(mid1, t1, true));
    g.device(1, dev(3), &received(mid3, t3, true));
    g.device(0, dev(2), &received(mid2, t2, false));
    assert!(answers_for(&g.upstream, tok(1)).is_empty(), "d-3 still out");
    g.device(
        0,
        dev(4),
        &MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid4, t4).build(),
    );
    assert_eq!(
        results_of(&g.upstream, tok(1), "agg-1"),
        vec![
            accepted("d-1"),
            accepted("d-2"),
            accepted("d-3"),
            failed("d-4", cause::UNKNOWN_APPLICATION),
            failed("d-5", "NOT_INTERESTED"),
        ]
    );
    let stats = g.shards[0].stats();
    assert_eq!(stats.downlink_aggregates.load(Ordering::Relaxed), 1);
    assert_eq!(stats.downlink_aggregate_elements.load(Ordering::Relaxed), 5);
    assert!(g.is_drained());
}

#[test]
fn an_aggregate_of_reports_reaches_the_sending_applications() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.register_app(dev(2), 2, "8");
    let dsr = r#","deliveryStatusRequired":true"#;
    sim.device(dev(1), &app_send(3, "m-1", "ue-x", "UE", dsr));
    sim.device(dev(2), &app_send(4, "m-2", "ue-x", "UE", dsr));
    let elements = [
        report_to_app("r-1", "m-1"),
        report_to_app("r-2", "never-sent"),
        report_to_app("r-3", "m-2"),
    ];
    sim.deliver_from_server(&downlink(900, tok(900), &aggimdn("agg-r", &elements)));
    for (to, original) in [(dev(1), "m-1"), (dev(2), "m-2")] {
        let d = deliveries(&sim.to_devices, to);
        assert_eq!(d.len(), 1);
        let (mid, token, body) = d[0].clone();
        match body {
            Payload::ReportDelivery(r) => {
                assert_eq!(r.reply_to_message_id, original);
                assert_eq!(r.delivery_status, ReportStatus::Success);
                assert_eq!(r.originator_address.as_deref(), Some("ue-x"));
            }
            other => panic!("{other:?}"),
        }
        sim.device(to, &received(mid, token, true));
    }
    assert_eq!(
        results_of(&sim.upstream, tok(900), "agg-r"),
        vec![
            accepted("r-1"),
            failed("r-2", cause::UNKNOWN_UE),
            accepted("r-3"),
        ]
    );
}

#[test]
fn the_answer_waits_for_a_slow_device_up_to_the_delivery_timeout() {
    let mut sim = scripted(GatewayConfig {
        delivery_timeout: Duration::from_secs(60),
        ..config()
    });
    sim.register_app(dev(1), 1, "7");
    sim.register_app(dev(2), 2, "8");
    let elements = [to_app("d-1", "7"), to_app("d-2", "8")];
    sim.deliver_from_server(&downlink(5, tok(5), &aggmsg("agg-s", &elements)));
    let (mid, token, _) = deliveries(&sim.to_devices, dev(1))[0].clone();
    sim.device(dev(1), &received(mid, token, true));
    sim.advance(Duration::from_secs(50));
    assert!(
        answers_for(&sim.upstream, tok(5)).is_empty(),
        "waits for d-2"
    );
    sim.advance(Duration::from_secs(20));
    assert_eq!(
        results_of(&sim.upstream, tok(5), "agg-s"),
        vec![accepted("d-1"), failed("d-2", cause::RECIPIENT_UNREACHABLE)]
    );
    assert!(sim.gw.is_drained());
}

#[test]
fn a_retransmitted_aggregate_and_an_element_delivered_before_are_not_delivered_again() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    // d-1 delivered singly first.
    sim.deliver_from_server(&downlink(10, tok(10), &msg_for_app("d-1", "7", false)));
    let (mid, token, _) = delivery_to(&sim, dev(1));
    sim.device(dev(1), &received(mid, token, true));
    let agg = downlink(
        11,
        tok(11),
        &aggmsg("agg-d", &[to_app("d-1", "7"), to_app("d-2", "7")]),
    );
    sim.deliver_from_server(&agg);
    sim.deliver_from_server(&agg);
    let d = deliveries(&sim.to_devices, dev(1));
    assert_eq!(d.len(), 2, "d-1 once before, d-2 once");
    let (mid, token, body) = d[1].clone();
    assert!(
        matches!(body, Payload::MsgDelivery(ref m) if m.message_id == "d-2"),
        "{body:?}"
    );
    sim.device(dev(1), &received(mid, token, true));
    sim.deliver_from_server(&agg);
    assert_eq!(deliveries(&sim.to_devices, dev(1)).len(), 2);
    assert_eq!(
        results_of(&sim.upstream, tok(11), "agg-d"),
        vec![accepted("d-1"), accepted("d-2")]
    );
    let stats = sim.gw.stats();
    assert_eq!(stats.downlink_duplicates.load(Ordering::Relaxed), 1);
    assert_eq!(stats.downlink_aggregates.load(Ordering::Relaxed), 1);
}

#[test]
fn segments_in_an_aggregate_are_reassembled_and_answered_per_segment() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    let elements = [
        segment_to_app("d-1", 1, "AQID"),
        segment_to_app("d-1", 2, "BA=="),
    ];
    sim.deliver_from_server(&downlink(20, tok(20), &aggmsg("agg-g", &elements)));
    let d = deliveries(&sim.to_devices, dev(1));
    assert_eq!(d.len(), 1, "one delivery of the whole message");
    let (mid, token, body) = d[0].clone();
    match body {
        Payload::MsgDelivery(m) => assert_eq!(m.payload, "AQIDBA=="),
        other => panic!("{other:?}"),
    }
    sim.device(dev(1), &received(mid, token, true));
    let seg = |n| ("d-1".to_owned(), MsgDeliveryStatus::Accepted, None, Some(n));
    assert_eq!(
        results_of(&sim.upstream, tok(20), "agg-g"),
        vec![seg(1), seg(2)]
    );
}

#[test]
fn too_many_elements_get_4_13_and_a_malformed_aggregate_4_00() {
    let mut sim = scripted(GatewayConfig {
        max_downlink_aggregate_entries: 2,
        ..config()
    });
    sim.register_app(dev(1), 1, "7");
    let three: Vec<String> = (0..3).map(|i| to_app(&format!("d-{i}"), "7")).collect();
    sim.deliver_from_server(&downlink(30, tok(30), &aggmsg("agg-big", &three)));
    let answers = answers_for(&sim.upstream, tok(30));
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].0, Code::REQUEST_ENTITY_TOO_LARGE);
    let stats = sim.gw.stats();
    assert_eq!(
        stats.downlink_aggregates_too_large.load(Ordering::Relaxed),
        1
    );
    // A count that disagrees with the list, and an empty list.
    let lying = aggmsg("agg-bad", &[to_app("d-1", "7")])
        .replace(r#""numberOfMessages":1"#, r#""numberOfMessages":2"#);
    sim.deliver_from_server(&downlink(31, tok(31), &lying));
    sim.deliver_from_server(&downlink(32, tok(32), &aggmsg("agg-empty", &[])));
    for t in [tok(31), tok(32)] {
        let answers = answers_for(&sim.upstream, t);
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].0, Code::BAD_REQUEST);
    }
    assert!(deliveries(&sim.to_devices, dev(1)).is_empty());
    assert!(sim.gw.is_drained());
}

#[test]
fn an_element_still_out_on_another_shard_at_abort_fails_with_shutting_down() {
    let mut g = Shards::new(config());
    g.device(0, dev(1), &app_register(1, "7"));
    g.device(1, dev(3), &app_register(3, "9"));
    let elements = [to_app("d-1", "7"), to_app("d-2", "9")];
    g.server_sends(&downlink(40, tok(40), &aggmsg("agg-x", &elements)));
    let (mid, token, _) = deliveries(&g.to_devices, dev(1))[0].clone();
    g.device(0, dev(1), &received(mid, token, true));
    g.shards[0].abort(g.now);
    g.pump();
    assert_eq!(
        results_of(&g.upstream, tok(40), "agg-x"),
        vec![accepted("d-1"), failed("d-2", cause::SHUTTING_DOWN)]
    );
    assert!(g.shards[0].is_drained());
    // Shard 1's verdict arriving later finds nothing to join.
    let (mid, token, _) = deliveries(&g.to_devices, dev(3))[0].clone();
    g.device(1, dev(3), &received(mid, token, true));
    assert_eq!(answers_for(&g.upstream, tok(40)).len(), 1);
    assert!(g.is_drained());
}

#[test]
fn an_element_whose_handoff_is_lost_fails_at_the_aggregate_deadline() {
    let mut g = Shards::new(GatewayConfig {
        delivery_timeout: Duration::from_secs(60),
        ..config()
    });
    g.device(0, dev(1), &app_register(1, "7"));
    g.device(1, dev(3), &app_register(3, "9"));
    g.lose_handoffs = true;
    let elements = [to_app("d-1", "7"), to_app("d-2", "9")];
    g.server_sends(&downlink(50, tok(50), &aggmsg("agg-l", &elements)));
    assert!(deliveries(&g.to_devices, dev(3)).is_empty(), "handoff lost");
    let (mid, token, _) = deliveries(&g.to_devices, dev(1))[0].clone();
    g.device(0, dev(1), &received(mid, token, true));
    g.advance(Duration::from_secs(64));
    assert!(answers_for(&g.upstream, tok(50)).is_empty());
    g.advance(Duration::from_secs(2));
    assert_eq!(
        results_of(&g.upstream, tok(50), "agg-l"),
        vec![accepted("d-1"), failed("d-2", cause::RECIPIENT_UNREACHABLE)]
    );
    assert!(g.shards[0].is_drained());
}
