//! Peer restarts (issue 9): the server loses its state, the gateway notices from a
//! `NOT_REGISTERED` for its own UE Service ID, registers again and re-sends the refused
//! Application Client messages once.

use super::*;
use crate::coap::Transmit;

/// The final answer (`MESSAGE SENDING RESPONSE`) to the AC at `to` for `message_id`.
fn sending(sim: &Sim, to: SocketAddr, message_id: &str) -> (Code, msg::MessageSendingResponse) {
    let a = sim.answers_to(to);
    let found = a.iter().rev().find_map(|s| match s.body() {
        Payload::MsgSendingResp(r) if r.message_id.as_deref() == Some(message_id) => {
            Some((s.view().header.code, r))
        }
        _ => None,
    });
    found.unwrap_or_else(|| panic!("no answer for {message_id}: {a:?}"))
}

/// The gateway's own `REG`s sent upstream so far.
fn self_regs(sim: &Sim) -> usize {
    sim.bulks()
        .iter()
        .filter(|p| matches!(p, Payload::Reg(r) if r.ue_service_id == GW))
        .count()
}

fn reg_ok() -> Payload {
    Payload::RegResp(msg::RegistrationResponse {
        msgin5g_service_id: None,
        ue_service_id: GW.into(),
        registration_result: RegResult::Success,
        failure_cause: None,
    })
}

fn not_registered(sim: &Sim, ids: &[&str]) -> Payload {
    let (_, p) = sim.last_upstream_request();
    let Payload::AggMsg(agg) = p else {
        panic!("expected AGGMSG, got {p:?}")
    };
    Payload::MsgResp(MessageResponse {
        message_id: Some(agg.message_id.clone()),
        results: ids
            .iter()
            .map(|id| MessageResult {
                message_id: (*id).into(),
                delivery_status: MsgDeliveryStatus::Rejected,
                failure_cause: Some(cause::NOT_REGISTERED.into()),
                segment_number: None,
            })
            .collect(),
        ..MessageResponse::default()
    })
}

#[test]
fn after_a_server_restart_the_gateway_registers_again_and_ac_messages_get_through() {
    let mut sim = Sim::with_server(config());
    sim.gw.start(sim.now);
    sim.pump();
    assert!(sim.gw.is_self_registered());
    // A UE behind the gateway as the recipient, an Application Client as the sender.
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(100));
    sim.register_app(dev(2), 2, "7");
    sim.device(dev(2), &app_send(3, "m-1", "ue-1", "UE", ""));
    sim.advance(Duration::from_millis(100));
    assert_eq!(sending(&sim, dev(2), "m-1").0, Code::CHANGED);
    // The server restarts with nothing; the UE registers again (it is told NOT_REGISTERED).
    sim.server = Some(ServerCore::new(ServerConfig::default(), 12));
    sim.advance(Duration::from_secs(1));
    sim.device(dev(1), &reg(4, tok(4), "ue-1"));
    sim.advance(Duration::from_millis(100));
    assert_eq!(self_regs(&sim), 1);
    // A burst of AC messages in one aggregate: all refused NOT_REGISTERED by the new server.
    for (i, id) in ["m-2", "m-3", "m-4"].iter().enumerate() {
        sim.device(dev(2), &app_send(10 + i as u16, id, "ue-1", "UE", ""));
    }
    sim.advance(Duration::from_millis(100));
    // One re-registration, then each message re-sent once and accepted.
    assert_eq!(self_regs(&sim), 2);
    assert!(sim.server.as_ref().unwrap().is_registered(GW));
    for id in ["m-2", "m-3", "m-4"] {
        let (code, r) = sending(&sim, dev(2), id);
        assert_eq!(
            (code, r.result),
            (Code::CHANGED, ReportStatus::Success),
            "{id}"
        );
        assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Accepted));
    }
    let stats = sim.gw.stats();
    assert_eq!(stats.self_reregistrations.load(Ordering::Relaxed), 1);
    assert_eq!(stats.reregistration_retries.load(Ordering::Relaxed), 3);
    // Later messages need nothing more.
    sim.device(dev(2), &app_send(20, "m-5", "ue-1", "UE", ""));
    sim.advance(Duration::from_millis(100));
    assert_eq!(sending(&sim, dev(2), "m-5").0, Code::CHANGED);
    assert_eq!(self_regs(&sim), 2);
}

#[test]
fn a_message_refused_again_after_the_re_registration_gets_the_refusal() {
    let mut sim = scripted(config());
    sim.gw.start(sim.now);
    sim.pump();
    sim.answer_last(Code::CREATED, &reg_ok());
    // Long after the gateway's registration (beyond the re-registration hold-off).
    sim.advance(Duration::from_secs(5));
    sim.register_app(dev(2), 2, "7");
    sim.device(dev(2), &app_send(3, "m-1", "ue-1", "UE", ""));
    sim.advance(Duration::from_millis(100));
    let refusal = not_registered(&sim, &["m-1"]);
    sim.answer_last(Code::CHANGED, &refusal);
    // Parked, not answered; the gateway registers again at once.
    assert!(sim
        .answers_to(dev(2))
        .iter()
        .all(|s| !matches!(s.body(), Payload::MsgSendingResp(_))));
    assert_eq!(self_regs(&sim), 2);
    sim.answer_last(Code::CREATED, &reg_ok());
    // Re-sent once; refused again: the AC gets the server's answer, no third REG.
    let refusal = not_registered(&sim, &["m-1"]);
    sim.answer_last(Code::CHANGED, &refusal);
    let (code, r) = sending(&sim, dev(2), "m-1");
    assert_eq!((code, r.result), (Code::FORBIDDEN, ReportStatus::Failure));
    assert_eq!(r.failure_reason.as_deref(), Some(cause::NOT_REGISTERED));
    assert_eq!(self_regs(&sim), 2);
    assert!(sim.gw.is_drained());
}

#[test]
fn a_parked_message_is_answered_when_the_re_registration_never_comes() {
    let mut sim = scripted(config());
    sim.gw.start(sim.now);
    sim.pump();
    sim.answer_last(Code::CREATED, &reg_ok());
    // Long after the gateway's registration (beyond the re-registration hold-off).
    sim.advance(Duration::from_secs(5));
    sim.register_app(dev(2), 2, "7");
    sim.device(dev(2), &app_send(3, "m-1", "ue-1", "UE", ""));
    sim.advance(Duration::from_millis(100));
    let refusal = not_registered(&sim, &["m-1"]);
    sim.answer_last(Code::CHANGED, &refusal);
    // The server stays silent: the AC hears the server's NOT_REGISTERED by its own give-up
    // time (receipt + MAX_TRANSMIT_WAIT − answer_margin = 91 s), not a timeout and not later.
    sim.advance(Duration::from_millis(90_500));
    assert!(sim
        .answers_to(dev(2))
        .iter()
        .all(|s| !matches!(s.body(), Payload::MsgSendingResp(_))));
    sim.advance(Duration::from_millis(600));
    let (code, r) = sending(&sim, dev(2), "m-1");
    assert_eq!((code, r.result), (Code::FORBIDDEN, ReportStatus::Failure));
    assert_eq!(r.failure_reason.as_deref(), Some(cause::NOT_REGISTERED));
}

#[test]
fn a_ue_s_own_message_refused_not_registered_is_answered_as_is() {
    let mut sim = scripted(config());
    sim.gw.start(sim.now);
    sim.pump();
    sim.answer_last(Code::CREATED, &reg_ok());
    register_client(&mut sim, dev(1), 1, "ue-1");
    sim.device(dev(1), &client_msg(2, "c-1", "ue-1", "ue-2"));
    sim.advance(Duration::from_millis(100));
    let refusal = not_registered(&sim, &["c-1"]);
    sim.answer_last(Code::CHANGED, &refusal);
    // The UE registers again itself; the gateway's own registration is not in question.
    match sim.answers_to(dev(1)).last().unwrap().body() {
        Payload::MsgResp(r) => {
            assert_eq!(r.failure_cause.as_deref(), Some(cause::NOT_REGISTERED))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(self_regs(&sim), 1);
}

#[test]
fn another_shard_asks_shard_0_to_register_again_and_hears_back() {
    let directory = Arc::new(Directory::default());
    let upstream: SocketAddr = SERVER.parse().unwrap();
    let now = Instant::now();
    let mut s0 = GatewayCore::new_shard(config(), upstream, 1, 0, directory.clone());
    let mut s1 = GatewayCore::new_shard(config(), upstream, 2, 1, directory.clone());
    let take = |s: &mut GatewayCore| -> Vec<(Side, Transmit)> {
        std::iter::from_fn(|| s.poll_transmit()).collect()
    };
    let answer = |t: &Transmit, code: Code, body: &Payload| {
        let v = MessageView::parse(&t.payload).unwrap();
        let mut json = Vec::new();
        msg::encode(body, &mut json);
        MessageBuilder::new(MsgType::Ack, code, v.header.mid, v.header.token)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(&json)
    };
    s0.start(now);
    let (Side::Upstream(u), reg) = take(&mut s0).remove(0) else {
        panic!()
    };
    s0.handle_upstream_datagram(now, u, upstream, &answer(&reg, Code::CREATED, &reg_ok()));
    // Long after, an AC served by shard 1 sends a message; the server refuses it NOT_REGISTERED.
    let now = now + Duration::from_secs(5);
    s1.handle_device_datagram(now, dev(2), &app_register(2, "7"));
    take(&mut s1);
    s1.handle_device_datagram(now, dev(2), &app_send(3, "m-1", "ue-1", "UE", ""));
    let later = now + Duration::from_millis(100);
    s1.handle_timeout(later);
    let (Side::Upstream(u1), agg) = take(&mut s1).pop().unwrap() else {
        panic!()
    };
    let v = MessageView::parse(&agg.payload).unwrap();
    let Ok(Payload::AggMsg(a)) = msg::decode(v.payload()) else {
        panic!()
    };
    let refusal = Payload::MsgResp(MessageResponse {
        message_id: Some(a.message_id.clone()),
        results: vec![MessageResult {
            message_id: "m-1".into(),
            delivery_status: MsgDeliveryStatus::Rejected,
            failure_cause: Some(cause::NOT_REGISTERED.into()),
            segment_number: None,
        }],
        ..MessageResponse::default()
    });
    s1.handle_upstream_datagram(later, u1, upstream, &answer(&agg, Code::CHANGED, &refusal));
    let (to, ask) = s1.poll_handoff().expect("asks shard 0");
    assert_eq!((to, &ask), (0, &Handoff::SelfRegistrationLost { shard: 1 }));
    assert!(s1.poll_handoff().is_none(), "one request");
    s0.handle_handoff(later, ask);
    let (Side::Upstream(u), reg) = take(&mut s0).remove(0) else {
        panic!()
    };
    let Ok(Payload::Reg(r)) = msg::decode(MessageView::parse(&reg.payload).unwrap().payload())
    else {
        panic!()
    };
    assert_eq!(r.ue_service_id, GW);
    s0.handle_upstream_datagram(later, u, upstream, &answer(&reg, Code::CREATED, &reg_ok()));
    let (to, back) = s0.poll_handoff().expect("tells shard 1");
    assert_eq!((to, &back), (1, &Handoff::SelfRegistered));
    s1.handle_handoff(later, back);
    // Shard 1 re-sends m-1 at once.
    let (_, again) = take(&mut s1).pop().expect("re-sent");
    let v = MessageView::parse(&again.payload).unwrap();
    let Ok(Payload::AggMsg(a)) = msg::decode(v.payload()) else {
        panic!()
    };
    assert_eq!(a.messages[0].message_id, "m-1");
}

#[test]
fn a_refusal_for_a_request_sent_before_the_latest_registration_is_re_sent_without_another_reg() {
    let mut sim = scripted(config());
    sim.gw.start(sim.now);
    sim.pump();
    sim.answer_last(Code::CREATED, &reg_ok());
    sim.advance(Duration::from_secs(5));
    sim.register_app(dev(2), 2, "7");
    // Two aggregates in flight at once.
    sim.device(dev(2), &app_send(3, "m-1", "ue-1", "UE", ""));
    sim.advance(Duration::from_millis(100));
    let first = sim.last_upstream_request().0.header;
    let first_refusal = not_registered(&sim, &["m-1"]);
    sim.device(dev(2), &app_send(4, "m-2", "ue-1", "UE", ""));
    sim.advance(Duration::from_millis(100));
    let second_refusal = not_registered(&sim, &["m-2"]);
    let second = sim.last_upstream_request().0.header;
    let ack = |h: &crate::coap::Header, body: &Payload| {
        let mut json = Vec::new();
        msg::encode(body, &mut json);
        MessageBuilder::new(MsgType::Ack, Code::CHANGED, h.mid, h.token)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(&json)
    };
    // The first is refused: one REG, accepted; m-1 goes out again.
    sim.deliver_from_server(&ack(&first, &first_refusal));
    assert_eq!(self_regs(&sim), 2);
    sim.answer_last(Code::CREATED, &reg_ok());
    // The second was sent before that registration: re-sent at once, no third REG.
    sim.deliver_from_server(&ack(&second, &second_refusal));
    assert_eq!(self_regs(&sim), 2);
    let resent: Vec<String> = sim
        .bulks()
        .iter()
        .filter_map(|p| match p {
            Payload::AggMsg(a) => Some(a.messages.iter().map(|m| m.message_id.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(resent, ["m-1", "m-2", "m-1", "m-2"]);
}

#[test]
fn re_registrations_are_held_off() {
    let mut sim = scripted(config());
    sim.gw.start(sim.now);
    sim.pump();
    sim.answer_last(Code::CREATED, &reg_ok());
    sim.register_app(dev(2), 2, "7");
    sim.device(dev(2), &app_send(3, "m-1", "ue-1", "UE", ""));
    sim.advance(Duration::from_millis(100));
    let refusal = not_registered(&sim, &["m-1"]);
    sim.answer_last(Code::CHANGED, &refusal);
    // The last REG went out 100 ms ago: the next one waits for the hold-off (1 s).
    assert_eq!(self_regs(&sim), 1);
    sim.advance(Duration::from_millis(850));
    assert_eq!(self_regs(&sim), 1);
    sim.advance(Duration::from_millis(100));
    assert_eq!(self_regs(&sim), 2);
}

#[test]
fn with_bulking_off_ac_messages_are_accepted_from_every_uplink() {
    let mut sim = Sim::with_server(GatewayConfig {
        bulking_enabled: false,
        uplinks_per_shard: 4,
        ..config()
    });
    sim.gw.start(sim.now);
    sim.pump();
    assert!(sim.gw.is_self_registered());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(100));
    sim.register_app(dev(2), 2, "7");
    // Each goes singly, from the gateway's own UE Service ID, over the uplinks in turn.
    for i in 0..4u16 {
        let id = format!("a-{i}");
        sim.device(dev(2), &app_send(10 + i, &id, "ue-1", "UE", ""));
        sim.advance(Duration::from_millis(100));
        let (code, r) = sending(&sim, dev(2), &id);
        assert_eq!(code, Code::CHANGED, "{id}: {r:?}");
        assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Accepted), "{id}");
    }
}
