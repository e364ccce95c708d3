//! An urgent registration forwarded singly (23.554 §8.2.7: never bulked) against the reference
//! server: the UE stays reachable and may send through any of the gateway's uplinks (issue 9
//! item 8).

use super::*;

fn urgent_reg(mid: u16, ue: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"REG","ueServiceId":"{ue}","registrationUrgentDegree":"URGENT"}}"#
        ),
    )
}

fn client_msg(mid: u16, message_id: &str, from_ue: &str, to_ue: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"MSG","messageId":"{message_id}","originatingUeServiceId":"{from_ue}","recipientUeServiceId":"{to_ue}","payload":"AQI="}}"#
        ),
    )
}

/// Four uplinks: the round robin spreads consecutive requests over different ports.
fn four_uplinks() -> GatewayConfig {
    GatewayConfig {
        uplinks_per_shard: 4,
        ..config()
    }
}

#[test]
fn a_ue_registered_urgently_sends_aggregated_messages_from_other_uplinks() {
    let mut sim = Sim::with_server(four_uplinks());
    // A normal registration: a BULKREG (uplink 0) makes the gateway known to the server.
    sim.device(dev(2), &reg(1, tok(1), "ue-r"));
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.answers_to(dev(2))[0].result().0, RegResult::Success);
    // The urgent one goes singly on the next uplink, one the server has not seen yet.
    sim.device(dev(1), &urgent_reg(2, "ue-u"));
    assert!(matches!(sim.bulks().last(), Some(Payload::Reg(_))));
    assert_eq!(sim.last_uplink, 1);
    assert_eq!(sim.answers_to(dev(1))[0].result().0, RegResult::Success);
    // Its message is aggregated and leaves on yet another uplink.
    sim.device(dev(1), &client_msg(3, "m-1", "ue-u", "ue-r"));
    sim.advance(Duration::from_millis(100));
    // (Round robin: uplink 2. The server's downlink to ue-r then goes to uplink 0.)
    assert!(sim.bulks().iter().any(|p| matches!(p, Payload::AggMsg(_))));
    let a = sim.answers_to(dev(1));
    let answer = a.last().unwrap();
    assert_eq!(answer.view().header.token, tok(3));
    assert_ne!(
        answer.view().header.code,
        Code::FORBIDDEN,
        "not UNAUTHORIZED"
    );
    match answer.body() {
        Payload::MsgResp(r) => assert_eq!(r.failure_cause, None, "{r:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_single_reg_from_a_known_gateway_uplink_is_recorded_through_that_gateway() {
    let mut sim = Sim::with_server(GatewayConfig {
        uplinks_per_shard: 2,
        ..config()
    });
    sim.device(dev(2), &reg(1, tok(1), "ue-r"));
    sim.advance(Duration::from_millis(100));
    sim.device(dev(3), &urgent_reg(2, "ue-x"));
    assert_eq!(sim.last_uplink, 1, "an uplink the server does not know yet");
    sim.device(dev(1), &urgent_reg(3, "ue-u"));
    assert_eq!(sim.last_uplink, 0, "the uplink of the BULKREG");
    let server = sim.server.as_ref().unwrap();
    let path = &server.registration("ue-u").unwrap().path;
    assert!(path.via_gateway(), "{path:?}");
    match path {
        crate::server::DownlinkPath::Gateway {
            gateway_ue_service_id,
            ..
        } => assert_eq!(gateway_ue_service_id.as_deref(), Some("msgin5g-gateway")),
        crate::server::DownlinkPath::Direct(_) => unreachable!(),
    }
    // Forwarded before its uplink was known: recorded at that port (its messages through the
    // gateway are still accepted, see above).
    assert!(!server.registration("ue-x").unwrap().path.via_gateway());
}

fn high_priority_msg(mid: u16, message_id: &str, from_ue: &str, to_ue: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"MSG","messageId":"{message_id}","originatingUeServiceId":"{from_ue}","recipientUeServiceId":"{to_ue}","payload":"AQI=","priority":"HIGH"}}"#
        ),
    )
}

/// The delivery status of the last answer to `to` (a `MSGRESP`), with its code.
fn last_verdict(sim: &Sim, to: SocketAddr) -> (Code, Option<String>) {
    let a = sim.answers_to(to);
    let answer = a.last().expect("an answer");
    match answer.body() {
        Payload::MsgResp(r) => (answer.view().header.code, r.failure_cause),
        other => panic!("{other:?}"),
    }
}

#[test]
fn with_bulking_off_single_requests_from_every_uplink_are_accepted() {
    let mut sim = Sim::with_server(GatewayConfig {
        bulking_enabled: false,
        ..four_uplinks()
    });
    sim.gw.start(sim.now);
    sim.pump();
    assert!(sim.gw.is_self_registered());
    // Registrations and messages all go singly, round robin over the four uplinks; the server
    // never sees a bulk or an aggregate.
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.advance(Duration::from_millis(100));
    for i in 0..4u16 {
        sim.device(
            dev(1),
            &client_msg(10 + i, &format!("m-{i}"), "ue-1", "ue-2"),
        );
        sim.advance(Duration::from_millis(10));
        assert!(matches!(sim.bulks().last(), Some(Payload::Msg(_))));
        assert_eq!(last_verdict(&sim, dev(1)), (Code::CHANGED, None), "m-{i}");
    }
    let server = sim.server.as_ref().unwrap();
    assert!(server.registration("ue-1").unwrap().path.via_gateway());
}

#[test]
fn a_high_priority_message_from_an_uplink_never_seen_in_a_bulk_is_accepted() {
    let mut sim = Sim::with_server(four_uplinks());
    sim.gw.start(sim.now);
    sim.pump();
    // Both UEs register urgently (singly): the server has seen no bulk yet.
    sim.device(dev(1), &urgent_reg(1, "ue-u"));
    sim.device(dev(2), &urgent_reg(2, "ue-v"));
    sim.advance(Duration::from_millis(100));
    for i in 0..3u16 {
        sim.device(
            dev(1),
            &high_priority_msg(10 + i, &format!("h-{i}"), "ue-u", "ue-v"),
        );
        sim.advance(Duration::from_millis(10));
        assert!(matches!(sim.bulks().last(), Some(Payload::Msg(_))));
        assert_eq!(last_verdict(&sim, dev(1)), (Code::CHANGED, None), "h-{i}");
    }
}
