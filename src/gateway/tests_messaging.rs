//! Deterministic scenarios for messages, reports, Application Clients (MSGin5G-5) and downlink
//! delivery, against a scripted server (23.554 §8.3.2–§8.4, §8.11; 24.538 Annex A.3; docs/PROTOCOL.md §9–§11).

use super::*;
use crate::msg::{
    AcceptResult, MessageResponse, MessageResult, MsgDeliveryStatus, ReportStatus, TargetType,
};
use std::sync::Arc;

const GW: &str = "msgin5g-gateway";

#[path = "tests_restarts.rs"]
mod restarts;

#[path = "tests_segments_down.rs"]
mod segments_down;

#[path = "tests_downlink_piggyback.rs"]
mod downlink_piggyback;

fn app_register(mid: u16, app: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(r#"{{"messageType":"REGISTRATION REQUEST","applicationId":"{app}"}}"#),
    )
}

fn app_deregister(mid: u16, registration_id: u32) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"DE-REGISTRATION REQUEST","registrationId":{registration_id}}}"#
        ),
    )
}

fn app_send(mid: u16, message_id: &str, target: &str, target_type: &str, extra: &str) -> Vec<u8> {
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"MESSAGE SENDING REQUEST","messageId":"{message_id}","targetAddress":"{target}","targetType":"{target_type}","payload":"AQI="{extra}}}"#
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

/// A scripted server: nothing is answered unless the test does it.
fn scripted(config: GatewayConfig) -> Sim {
    Sim::new(config, None)
}

/// The registration ID in the (last) answer to `to`.
fn registration_id(sim: &Sim, to: SocketAddr) -> u32 {
    match sim.answers_to(to).last().expect("an answer").body() {
        Payload::AppRegResp(r) => {
            assert_eq!(r.registration_result, AcceptResult::Accepted);
            r.registration_id.expect("accepted with an id")
        }
        other => panic!("{other:?}"),
    }
}

impl Sim {
    /// The last request sent upstream and its decoded payload.
    fn last_upstream_request(&self) -> (MessageView<'_>, Payload) {
        let bytes = self
            .upstream
            .iter()
            .rev()
            .find(|b| {
                MessageView::parse(b)
                    .is_ok_and(|v| v.header.code == Code::POST && v.header.mtype == MsgType::Con)
            })
            .expect("a request upstream");
        let v = MessageView::parse(bytes).unwrap();
        let p = msg::decode(v.payload()).unwrap();
        (v, p)
    }

    /// Answer the last upstream request with a piggybacked `code` + `body`.
    fn answer_last(&mut self, code: Code, body: &Payload) {
        let (mid, token) = {
            let (v, _) = self.last_upstream_request();
            (v.header.mid, v.header.token)
        };
        let mut json = Vec::new();
        msg::encode(body, &mut json);
        let bytes = MessageBuilder::new(MsgType::Ack, code, mid, token)
            .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
            .payload(&json);
        self.deliver_from_server(&bytes);
    }

    /// Register an Application Client `app` from `from`; returns its Registration ID.
    fn register_app(&mut self, from: SocketAddr, mid: u16, app: &str) -> u32 {
        self.device(from, &app_register(mid, app));
        registration_id(self, from)
    }

    /// The datagrams the gateway sent to the server that are responses (separate answers to
    /// the server's downlink requests).
    fn server_answers(&self) -> Vec<(MsgType, Code, Token, Vec<u8>)> {
        self.upstream
            .iter()
            .filter_map(|b| {
                let v = MessageView::parse(b).ok()?;
                (v.header.code.is_response()).then(|| {
                    (
                        v.header.mtype,
                        v.header.code,
                        v.header.token,
                        v.payload().to_vec(),
                    )
                })
            })
            .collect()
    }
}

/// The server's CON POST carrying `json` (a downlink request).
fn downlink(mid: u16, token: Token, json: &str) -> Vec<u8> {
    request(MsgType::Con, mid, token, json)
}

#[test]
fn application_client_registers_and_gets_a_registration_id() {
    let mut sim = scripted(config());
    let a = sim.register_app(dev(1), 1, "7");
    let b = sim.register_app(dev(2), 2, "8");
    assert_ne!(a, b);
    let answers = sim.answers_to(dev(1));
    let v = answers[0].view();
    assert_eq!(v.header.mtype, MsgType::Ack);
    assert_eq!(v.header.code, Code::CREATED);
    assert_eq!(v.header.token, tok(1));
    let reg = sim.gw.directory().app(a).unwrap();
    assert_eq!(&*reg.application_id, "7");
    assert_eq!(reg.peer, dev(1));
    // Nothing went to the server: registration with the gateway is local (24.538 §6.3.2).
    assert!(sim.upstream.is_empty());
}

#[test]
fn application_registration_policy_capacity_allow_list_and_taken_ids() {
    let mut sim = scripted(GatewayConfig {
        max_app_registrations: 2,
        app_allow_list: Some(["a", "b", "c"].iter().map(|s| s.to_string()).collect()),
        ..config()
    });
    sim.register_app(dev(1), 1, "a");
    // Not on the allow-list.
    sim.device(dev(2), &app_register(2, "zzz"));
    let refused = |sim: &Sim, d: SocketAddr| match sim.answers_to(d).last().unwrap().body() {
        Payload::AppRegResp(r) => {
            assert_eq!(r.registration_result, AcceptResult::NotAccepted);
            assert!(r.registration_id.is_none());
            (
                sim.answers_to(d).last().unwrap().view().header.code,
                r.failure_reason.unwrap(),
            )
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(&sim, dev(2)),
        (Code::FORBIDDEN, cause::UNAUTHORIZED.to_string())
    );
    // Application ID held by another address: refused and counted as spoofing.
    sim.device(dev(3), &app_register(3, "a"));
    assert_eq!(
        refused(&sim, dev(3)),
        (Code::FORBIDDEN, cause::UNAUTHORIZED.to_string())
    );
    assert_eq!(sim.gw.stats().spoofed.load(Ordering::Relaxed), 1);
    sim.register_app(dev(4), 4, "b");
    // Capacity reached.
    sim.device(dev(5), &app_register(5, "c"));
    assert_eq!(
        refused(&sim, dev(5)),
        (Code::FORBIDDEN, cause::GATEWAY_FULL.to_string())
    );
    assert_eq!(
        sim.gw
            .stats()
            .app_registrations_refused
            .load(Ordering::Relaxed),
        3
    );
    // Local answers are counted with every other final answer, by result and cause.
    let stats = sim.gw.stats();
    let by_cause =
        |c: &str| stats.answers_by_cause[answer_slot(&Outcome::failure(c))].load(Ordering::Relaxed);
    assert_eq!(by_cause(cause::GATEWAY_FULL), 1);
    assert_eq!(by_cause(cause::UNAUTHORIZED), 2);
    assert_eq!(
        stats.answers_by_cause[0].load(Ordering::Relaxed),
        2,
        "two accepted"
    );
}

#[test]
fn deregistration_only_by_the_owner_address() {
    let mut sim = scripted(config());
    let id = sim.register_app(dev(1), 1, "7");
    let answer = |sim: &Sim, d: SocketAddr| {
        let s = sim.answers_to(d).last().unwrap().clone();
        match s.body() {
            Payload::AppDeregResp(r) => (s.view().header.code, r),
            other => panic!("{other:?}"),
        }
    };
    // Spoofed: another address names the Registration ID.
    sim.device(dev(9), &app_deregister(2, id));
    let (code, r) = answer(&sim, dev(9));
    assert_eq!(code, Code::FORBIDDEN);
    assert_eq!(r.deregistration_result, AcceptResult::NotAccepted);
    assert_eq!(sim.gw.stats().spoofed.load(Ordering::Relaxed), 1);
    assert!(sim.gw.directory().app(id).is_some(), "still registered");
    // Unknown Registration ID.
    sim.device(dev(1), &app_deregister(3, id + 1000));
    let (code, r) = answer(&sim, dev(1));
    assert_eq!(code, Code::NOT_FOUND);
    assert_eq!(
        r.failure_reason.as_deref(),
        Some(cause::UNKNOWN_REGISTRATION)
    );
    // The owner.
    sim.device(dev(1), &app_deregister(4, id));
    let (code, r) = answer(&sim, dev(1));
    assert_eq!(code, Code::CHANGED);
    assert_eq!(r.deregistration_result, AcceptResult::Accepted);
    assert_eq!(r.registration_id, Some(id));
    assert!(sim.gw.directory().app(id).is_none());
}

#[test]
fn application_messages_are_aggregated_and_each_gets_the_verdict_on_its_element() {
    let mut sim = scripted(config());
    let ids: Vec<u32> = (0..4u16)
        .map(|i| sim.register_app(dev(i), 100 + i, &format!("app-{i}")))
        .collect();
    sim.device(
        dev(0),
        &app_send(1, "m-0", "ue-x", "UE", r#","deliveryStatusRequired":true"#),
    );
    sim.device(
        dev(1),
        &app_send(2, "m-1", "as-1", "AS", r#","applicationId":"77""#),
    );
    sim.device(dev(2), &app_send(3, "m-2", "grp-1", "GROUP", ""));
    sim.device(dev(3), &app_send(4, "m-3", "ue-y", "UE", ""));
    assert!(sim.upstream.is_empty(), "held for batching");
    sim.advance(Duration::from_millis(100));
    let (v, p) = sim.last_upstream_request();
    assert_eq!(v.header.code, Code::POST);
    let Payload::AggMsg(agg) = p else {
        panic!("expected AGGMSG")
    };
    assert_eq!(agg.originating_ue_service_id.as_deref(), Some(GW));
    assert_eq!(agg.messages.len(), 4);
    let m0 = &agg.messages[0];
    assert_eq!(m0.message_id, "m-0");
    assert_eq!(m0.originating_ue_service_id.as_deref(), Some(GW));
    assert_eq!(m0.recipient_ue_service_id.as_deref(), Some("ue-x"));
    assert_eq!(
        m0.application_id.as_deref(),
        Some("app-0"),
        "defaults to the AC's own"
    );
    assert!(m0.delivery_status_required);
    assert_eq!(
        agg.messages[1].recipient_as_service_id.as_deref(),
        Some("as-1")
    );
    assert_eq!(agg.messages[1].application_id.as_deref(), Some("77"));
    assert_eq!(
        agg.messages[2].recipient_group_service_id.as_deref(),
        Some("grp-1")
    );
    assert_eq!(agg.messages[0].payload.as_deref(), Some("AQI="));
    // Mixed verdicts; m-3 is not listed (accepted).
    let verdict = |id: &str, s, c: Option<&str>| MessageResult {
        message_id: id.into(),
        delivery_status: s,
        failure_cause: c.map(str::to_string),
        segment_number: None,
    };
    sim.answer_last(
        Code::CHANGED,
        &Payload::MsgResp(MessageResponse {
            message_id: Some(agg.message_id.clone()),
            results: vec![
                verdict("m-1", MsgDeliveryStatus::Rejected, Some(cause::AS_REJECT)),
                verdict("m-0", MsgDeliveryStatus::Accepted, None),
                verdict("m-2", MsgDeliveryStatus::Stored, None),
            ],
            ..MessageResponse::default()
        }),
    );
    let sending = |sim: &Sim, d: SocketAddr| {
        let a = sim.answers_to(d);
        let s = a.last().unwrap();
        match s.body() {
            Payload::MsgSendingResp(r) => (s.view().header.code, r),
            other => panic!("{other:?}"),
        }
    };
    let (code, r) = sending(&sim, dev(0));
    assert_eq!((code, r.result), (Code::CHANGED, ReportStatus::Success));
    assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Accepted));
    assert_eq!(r.message_id.as_deref(), Some("m-0"));
    let (code, r) = sending(&sim, dev(1));
    assert_eq!((code, r.result), (Code::FORBIDDEN, ReportStatus::Failure));
    assert_eq!(r.failure_reason.as_deref(), Some(cause::AS_REJECT));
    let (code, r) = sending(&sim, dev(2));
    assert_eq!(code, Code::CHANGED);
    assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Stored));
    let (code, r) = sending(&sim, dev(3));
    assert_eq!((code, r.result), (Code::CHANGED, ReportStatus::Success));
    for i in 0..4u16 {
        // Registration answer + exactly one message answer, with the device's MID and Token.
        let a = sim.answers_to(dev(i));
        assert_eq!(a.len(), 2, "device {i}");
        assert_eq!(a[1].view().header.mid, 1 + i);
        assert_eq!(a[1].view().header.token, tok(1 + i));
    }
    assert!(sim.gw.is_drained());
    // The delivery report for m-0 will find its way back to the AC.
    assert_eq!(
        sim.gw
            .directory()
            .report_route("m-0")
            .map(|r| r.registration_id),
        Some(ids[0])
    );
}

#[test]
fn unregistered_and_spoofing_application_clients_are_refused() {
    let mut sim = scripted(config());
    let id = sim.register_app(dev(1), 1, "7");
    // Not registered at all.
    sim.device(dev(2), &app_send(2, "m-a", "ue-x", "UE", ""));
    // Names a Registration ID owned by another address.
    sim.device(
        dev(3),
        &app_send(
            3,
            "m-b",
            "ue-x",
            "UE",
            &format!(r#","registrationId":{id}"#),
        ),
    );
    for (d, want) in [
        (dev(2), cause::NOT_REGISTERED),
        (dev(3), cause::UNAUTHORIZED),
    ] {
        let a = sim.answers_to(d);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].view().header.code, Code::FORBIDDEN);
        match a[0].body() {
            Payload::MsgSendingResp(r) => {
                assert_eq!(r.result, ReportStatus::Failure);
                assert_eq!(r.failure_reason.as_deref(), Some(want));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sim.gw.stats().spoofed.load(Ordering::Relaxed), 1);
    sim.advance(Duration::from_secs(1));
    assert!(sim.upstream.is_empty(), "nothing refused went upstream");
}

#[test]
fn high_priority_messages_go_singly_at_once() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.device(
        dev(1),
        &app_send(2, "m-hi", "ue-x", "UE", r#","priority":"HIGH""#),
    );
    let (_, p) = sim.last_upstream_request();
    match p {
        Payload::Msg(m) => {
            assert_eq!(m.message_id, "m-hi");
            assert_eq!(m.originating_ue_service_id.as_deref(), Some(GW));
        }
        other => panic!("expected a single MSG, got {other:?}"),
    }
    sim.answer_last(
        Code::NOT_FOUND,
        &Payload::MsgResp(MessageResponse {
            message_id: Some("m-hi".into()),
            delivery_status: Some(MsgDeliveryStatus::Failed),
            failure_cause: Some(cause::UNKNOWN_UE.into()),
            ..MessageResponse::default()
        }),
    );
    let a = sim.answers_to(dev(1));
    assert_eq!(a.last().unwrap().view().header.code, Code::NOT_FOUND);
}

#[test]
fn a_second_message_with_a_pending_message_id_is_refused() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.register_app(dev(2), 2, "8");
    sim.device(dev(1), &app_send(3, "same", "ue-x", "UE", ""));
    sim.device(dev(2), &app_send(4, "same", "ue-y", "UE", ""));
    let a = sim.answers_to(dev(2));
    assert_eq!(a.last().unwrap().view().header.code.to_string(), "4.09");
    sim.advance(Duration::from_millis(100));
    let (_, p) = sim.last_upstream_request();
    let Payload::AggMsg(agg) = p else { panic!() };
    assert_eq!(agg.messages.len(), 1);
}

/// Register UE `ue` at `from` through the gateway with the scripted server accepting it.
fn register_client(sim: &mut Sim, from: SocketAddr, mid: u16, ue: &str) {
    sim.device(from, &reg(mid, tok(mid), ue));
    sim.advance(Duration::from_millis(100));
    let (_, p) = sim.last_upstream_request();
    let Payload::BulkReg(b) = p else { panic!() };
    sim.answer_last(
        Code::CREATED,
        &Payload::BulkRegResp(msg::BulkRegistrationResponse {
            msgin5g_service_id: None,
            number_of_registration_responses: Some(1),
            registration_responses: vec![msg::RegistrationResponse {
                msgin5g_service_id: None,
                ue_service_id: b.registration_requests[0].ue_service_id.clone(),
                registration_result: RegResult::Success,
                failure_cause: None,
            }],
        }),
    );
}

#[test]
fn client_messages_need_a_registration_through_the_gateway_from_the_same_address() {
    let mut sim = scripted(config());
    register_client(&mut sim, dev(1), 1, "ue-1");
    assert_eq!(sim.gw.directory().client("ue-1").unwrap().peer, dev(1));
    // Registered UE, same address: aggregated.
    sim.device(dev(1), &client_msg(2, "c-1", "ue-1", "ue-2"));
    // Same UE Service ID from another address: spoofing.
    sim.device(dev(5), &client_msg(3, "c-2", "ue-1", "ue-2"));
    // A UE not registered through this gateway.
    sim.device(dev(6), &client_msg(4, "c-3", "ue-9", "ue-2"));
    assert_eq!(
        sim.answers_to(dev(5))[0].view().header.code,
        Code::FORBIDDEN
    );
    assert_eq!(
        sim.answers_to(dev(6))[0].view().header.code,
        Code::FORBIDDEN
    );
    match sim.answers_to(dev(6))[0].body() {
        Payload::MsgResp(r) => {
            assert_eq!(r.failure_cause.as_deref(), Some(cause::NOT_REGISTERED))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.gw.stats().spoofed.load(Ordering::Relaxed), 1);
    sim.advance(Duration::from_millis(100));
    let (_, p) = sim.last_upstream_request();
    let Payload::AggMsg(agg) = p else { panic!() };
    assert_eq!(agg.messages.len(), 1);
    assert_eq!(
        agg.messages[0].originating_ue_service_id.as_deref(),
        Some("ue-1")
    );
    // 2.04 without a body: every element accepted; the client gets MSGRESP ACCEPTED.
    let (mid, token) = {
        let (v, _) = sim.last_upstream_request();
        (v.header.mid, v.header.token)
    };
    sim.deliver_from_server(&MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid, token).build());
    let a = sim.answers_to(dev(1));
    let last = a.last().unwrap();
    assert_eq!(last.view().header.token, tok(2));
    assert_eq!(last.view().header.code, Code::CHANGED);
    match last.body() {
        Payload::MsgResp(r) => {
            assert_eq!(r.message_id.as_deref(), Some("c-1"));
            assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Accepted));
        }
        other => panic!("{other:?}"),
    }
    // De-registration removes the downlink route.
    sim.device(dev(1), &dereg(9, tok(9), "ue-1"));
    sim.advance(Duration::from_millis(100));
    let (_, p) = sim.last_upstream_request();
    let Payload::BulkDereg(_) = p else { panic!() };
    sim.answer_last(
        Code::CHANGED,
        &Payload::BulkDeregResp(msg::BulkDeregistrationResponse {
            msgin5g_service_id: None,
            number_of_deregistration_responses: Some(1),
            deregistration_responses: vec![msg::DeregistrationResponse {
                msgin5g_service_id: None,
                ue_service_id: "ue-1".into(),
                deregistration_result: RegResult::Success,
                failure_cause: None,
            }],
        }),
    );
    assert!(sim.gw.directory().client("ue-1").is_none());
}

/// A downlink `MSG` for application `app` behind the gateway.
fn msg_for_app(message_id: &str, app: &str, dsr: bool) -> String {
    format!(
        r#"{{"messageType":"MSG","messageId":"{message_id}","originatingAsServiceId":"as-1","recipientUeServiceId":"{GW}","applicationId":"{app}","payload":"AQI=","deliveryStatusRequired":{dsr}}}"#
    )
}

/// The last CON POST the gateway sent to `to` and its body.
fn delivery_to(sim: &Sim, to: SocketAddr) -> (u16, Token, Payload) {
    let s = sim
        .to_devices
        .iter()
        .rev()
        .find(|s| s.to == to && s.view().header.code == Code::POST)
        .expect("a delivery");
    let v = s.view();
    assert_eq!(v.header.mtype, MsgType::Con);
    (
        v.header.mid,
        v.header.token,
        msg::decode(v.payload()).unwrap(),
    )
}

#[test]
fn downlink_message_reaches_the_application_and_its_answer_reaches_the_server() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.deliver_from_server(&downlink(500, tok(500), &msg_for_app("d-1", "7", true)));
    // The server's CON's ACK is held for the AC's verdict (docs/PROTOCOL.md §11).
    assert!(sim.upstream.is_empty(), "nothing to the server yet");
    let (mid, token, body) = delivery_to(&sim, dev(1));
    match body {
        Payload::MsgDelivery(d) => {
            assert_eq!(d.message_id, "d-1");
            assert_eq!(d.originator_address, "as-1");
            assert_eq!(d.originator_type, Some(TargetType::As));
            assert_eq!(d.payload, "AQI=");
            assert!(d.delivery_status_required);
        }
        other => panic!("{other:?}"),
    }
    // The AC acknowledges with MESSAGE RECEIVED RESPONSE SUCCESS (piggybacked).
    let ack = MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid, token)
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(br#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"SUCCESS"}"#);
    sim.device(dev(1), &ack);
    let answers = sim.server_answers();
    assert_eq!(answers.len(), 1);
    let (mtype, code, token, body) = &answers[0];
    assert_eq!(
        (*mtype, *code, *token),
        (MsgType::Ack, Code::CHANGED, tok(500)),
        "piggybacked on the request's ACK"
    );
    let h = MessageView::parse(&sim.upstream[0]).unwrap().header;
    assert_eq!(h.mid, 500, "the request's Message ID");
    match msg::decode(body).unwrap() {
        Payload::MsgResp(r) => {
            assert_eq!(r.message_id.as_deref(), Some("d-1"));
            assert_eq!(r.delivery_status, Some(MsgDeliveryStatus::Accepted));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.gw.stats().downlink_delivered.load(Ordering::Relaxed), 1);
    assert!(sim.gw.is_drained());
}

#[test]
fn downlink_failures_unknown_application_refusal_and_silence() {
    let mut sim = scripted(GatewayConfig {
        delivery_timeout: Duration::from_secs(300),
        ..config()
    });
    sim.register_app(dev(1), 1, "7");
    // No such application: 4.04 piggybacked, nothing sent to any device.
    sim.deliver_from_server(&downlink(600, tok(600), &msg_for_app("d-x", "nope", false)));
    let h = MessageView::parse(sim.upstream.last().unwrap())
        .unwrap()
        .header;
    assert_eq!(
        (h.mtype, h.code, h.mid),
        (MsgType::Ack, Code::NOT_FOUND, 600)
    );
    // The AC refuses: 4.04 with its reason.
    sim.deliver_from_server(&downlink(601, tok(601), &msg_for_app("d-2", "7", false)));
    let (mid, token, _) = delivery_to(&sim, dev(1));
    let refuse = MessageBuilder::new(MsgType::Ack, Code::NOT_FOUND, mid, token)
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(br#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"FAILURE","failureReason":"UNKNOWN_APPLICATION"}"#);
    sim.device(dev(1), &refuse);
    let last = sim.server_answers().last().unwrap().clone();
    assert_eq!((last.1, last.2), (Code::NOT_FOUND, tok(601)));
    // Silence: retransmitted, then the server hears 5.03 RECIPIENT_UNREACHABLE.
    sim.deliver_from_server(&downlink(602, tok(602), &msg_for_app("d-3", "7", false)));
    let before = sim.to_devices.len();
    sim.advance(Duration::from_secs(200));
    let resent = sim.to_devices[before..]
        .iter()
        .filter(|s| s.to == dev(1) && s.view().header.code == Code::POST)
        .count();
    assert_eq!(resent, 4, "MAX_RETRANSMIT retransmissions");
    let last = sim.server_answers().last().unwrap().clone();
    assert_eq!((last.1, last.2), (Code::SERVICE_UNAVAILABLE, tok(602)));
    match msg::decode(&last.3).unwrap() {
        Payload::MsgResp(r) => {
            assert_eq!(
                r.failure_cause.as_deref(),
                Some(cause::RECIPIENT_UNREACHABLE)
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(sim.gw.is_drained());
}

#[test]
fn a_retransmitted_downlink_request_is_delivered_once() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    let req = downlink(700, tok(700), &msg_for_app("d-1", "7", false));
    sim.deliver_from_server(&req);
    sim.deliver_from_server(&req);
    let deliveries = sim
        .to_devices
        .iter()
        .filter(|s| s.to == dev(1) && s.view().header.code == Code::POST)
        .count();
    assert_eq!(deliveries, 1);
}

#[test]
fn a_message_sent_again_after_its_delivery_is_acknowledged_without_a_second_delivery() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.register_app(dev(2), 2, "8");
    let deliveries = |sim: &Sim, to: SocketAddr| {
        sim.to_devices
            .iter()
            .filter(|s| s.to == to && s.view().header.code == Code::POST)
            .count()
    };
    sim.deliver_from_server(&downlink(800, tok(800), &msg_for_app("d-1", "7", false)));
    let (mid, token, _) = delivery_to(&sim, dev(1));
    let ack = MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid, token)
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(br#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"SUCCESS"}"#);
    sim.device(dev(1), &ack);
    // A restarted server sends the same message again: new exchange, same Message ID.
    sim.deliver_from_server(&downlink(9, tok(9), &msg_for_app("d-1", "7", false)));
    assert_eq!(deliveries(&sim, dev(1)), 1, "not delivered twice");
    let last = sim.server_answers().last().unwrap().clone();
    assert_eq!((last.1, last.2), (Code::CHANGED, tok(9)));
    let stats = sim.gw.stats();
    assert_eq!(stats.downlink_duplicates.load(Ordering::Relaxed), 1);
    // The same Message ID for another recipient (a group copy) is delivered.
    sim.deliver_from_server(&downlink(10, tok(10), &msg_for_app("d-1", "8", false)));
    assert_eq!(deliveries(&sim, dev(2)), 1);
    // A message the AC refused is not remembered: sent again, it is delivered again.
    sim.deliver_from_server(&downlink(11, tok(11), &msg_for_app("d-2", "7", false)));
    let (mid, token, _) = delivery_to(&sim, dev(1));
    let refuse = MessageBuilder::new(MsgType::Ack, Code::NOT_FOUND, mid, token)
        .uint_option(option::CONTENT_FORMAT, u32::from(CONTENT_FORMAT_JSON))
        .payload(br#"{"messageType":"MESSAGE RECEIVED RESPONSE","result":"FAILURE","failureReason":"UNKNOWN_APPLICATION"}"#);
    sim.device(dev(1), &refuse);
    sim.deliver_from_server(&downlink(12, tok(12), &msg_for_app("d-2", "7", false)));
    assert_eq!(deliveries(&sim, dev(1)), 3);
}

#[test]
fn downlink_for_a_client_is_forwarded_and_its_separate_answer_is_relayed() {
    let mut sim = scripted(config());
    register_client(&mut sim, dev(1), 1, "ue-1");
    let json = r#"{"messageType":"MSG","messageId":"d-9","originatingUeServiceId":"ue-7","recipientUeServiceId":"ue-1","payload":"AQI="}"#;
    sim.deliver_from_server(&downlink(800, tok(800), json));
    let s = sim
        .to_devices
        .iter()
        .rev()
        .find(|s| s.to == dev(1) && s.view().header.code == Code::POST)
        .unwrap()
        .clone();
    assert_eq!(s.view().payload(), json.as_bytes(), "forwarded unchanged");
    let (mid, token) = (s.view().header.mid, s.view().header.token);
    // Empty ACK, then a separate CON 2.04 with the same Token.
    sim.device(dev(1), &empty_ack_for(mid));
    assert!(sim.server_answers().is_empty());
    sim.device(
        dev(1),
        &MessageBuilder::new(MsgType::Con, Code::CHANGED, 4242, token).build(),
    );
    // The device's separate response was acknowledged.
    assert!(sim.to_devices.iter().any(|s| {
        let h = s.view().header;
        s.to == dev(1) && h.mtype == MsgType::Ack && h.mid == 4242
    }));
    let last = sim.server_answers().last().unwrap().clone();
    assert_eq!((last.1, last.2), (Code::CHANGED, tok(800)));
}

#[test]
fn segments_of_one_message_for_a_client_are_each_delivered_once() {
    // Every segment carries the message's Message ID (docs/PROTOCOL.md §18.1): the
    // delivered-once key adds the set and segment number, so segment 2 is no repeat of 1.
    let mut sim = scripted(config());
    register_client(&mut sim, dev(1), 1, "ue-1");
    let seg = |n: u32, total: u32| {
        let ies = if n == 1 {
            format!(r#"{{"setId":"s-1","totalSegments":{total},"segmentNumber":1}}"#)
        } else {
            format!(r#"{{"setId":"s-1","segmentNumber":{n},"lastSegment":true}}"#)
        };
        format!(
            r#"{{"messageType":"MSG","messageId":"d-5","originatingUeServiceId":"ue-7","recipientUeServiceId":"ue-1","payload":"AQI=","segmentation":{ies}}}"#
        )
    };
    let posts = |sim: &Sim| {
        sim.to_devices
            .iter()
            .filter(|s| s.to == dev(1) && s.view().header.code == Code::POST)
            .count()
    };
    for (mid, n) in [(810u16, 1), (811, 2)] {
        sim.deliver_from_server(&downlink(mid, tok(mid), &seg(n, 2)));
        let (dmid, token, _) = delivery_to(&sim, dev(1));
        sim.device(
            dev(1),
            &MessageBuilder::new(MsgType::Ack, Code::CHANGED, dmid, token).build(),
        );
    }
    assert_eq!(posts(&sim), 2, "both segments reach the UE");
    // Segment 2 sent again in a new exchange is a repeat: acknowledged, not delivered.
    sim.deliver_from_server(&downlink(812, tok(812), &seg(2, 2)));
    assert_eq!(posts(&sim), 2);
}

fn empty_ack_for(mid: u16) -> Vec<u8> {
    crate::coap::build::empty_ack(mid)
}

#[test]
fn an_application_report_is_addressed_to_the_original_sender() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.deliver_from_server(&downlink(900, tok(900), &msg_for_app("d-1", "7", true)));
    let (mid, token, _) = delivery_to(&sim, dev(1));
    sim.device(
        dev(1),
        &MessageBuilder::new(MsgType::Ack, Code::CHANGED, mid, token).build(),
    );
    // The AC reports on d-1; and on a message it never got.
    let report = |mid: u16, id: &str, reply_to: &str| {
        request(
            MsgType::Con,
            mid,
            tok(mid),
            &format!(
                r#"{{"messageType":"DELIVERY REPORT SENDING REQUEST","messageId":"{id}","replyToMessageId":"{reply_to}","deliveryStatus":"SUCCESS"}}"#
            ),
        )
    };
    sim.device(dev(1), &report(10, "r-1", "d-1"));
    sim.device(dev(1), &report(11, "r-2", "never"));
    let a = sim.answers_to(dev(1));
    let last = a.last().unwrap();
    assert_eq!(last.view().header.code, Code::NOT_FOUND);
    match last.body() {
        Payload::ReportSendingResp(r) => {
            assert_eq!(r.failure_reason.as_deref(), Some(cause::UNKNOWN_MESSAGE))
        }
        other => panic!("{other:?}"),
    }
    sim.advance(Duration::from_millis(100));
    let (_, p) = sim.last_upstream_request();
    let Payload::AggImdn(agg) = p else {
        panic!("expected AGGIMDN, got {p:?}")
    };
    assert_eq!(agg.reports.len(), 1);
    let r = &agg.reports[0];
    assert_eq!(r.original_message_id, "d-1");
    assert_eq!(r.recipient_as_service_id.as_deref(), Some("as-1"));
    assert_eq!(r.originating_ue_service_id.as_deref(), Some(GW));
    sim.answer_last(Code::CHANGED, &Payload::MsgResp(MessageResponse::default()));
    let a = sim.answers_to(dev(1));
    let ok = a
        .iter()
        .find(|s| s.view().header.token == tok(10))
        .expect("answer to r-1");
    assert_eq!(ok.view().header.code, Code::CHANGED);
    match ok.body() {
        Payload::ReportSendingResp(r) => assert_eq!(r.result, ReportStatus::Success),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_report_for_an_application_message_is_delivered_to_that_application() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.device(
        dev(1),
        &app_send(2, "m-1", "ue-x", "UE", r#","deliveryStatusRequired":true"#),
    );
    let imdn = format!(
        r#"{{"messageType":"IMDN","messageId":"r-9","originalMessageId":"m-1","originatingUeServiceId":"ue-x","recipientUeServiceId":"{GW}","deliveryStatus":"SUCCESS"}}"#
    );
    sim.deliver_from_server(&downlink(950, tok(950), &imdn));
    let (_, _, body) = delivery_to(&sim, dev(1));
    match body {
        Payload::ReportDelivery(r) => {
            assert_eq!(r.reply_to_message_id, "m-1");
            assert_eq!(r.delivery_status, ReportStatus::Success);
            assert_eq!(r.originator_address.as_deref(), Some("ue-x"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_downlink_for_an_application_on_another_shard_is_handed_over_and_back() {
    let upstream: SocketAddr = SERVER.parse().unwrap();
    let dir = Arc::new(Directory::default());
    let mut s0 = GatewayCore::new_shard(config(), upstream, 1, 0, dir.clone());
    let mut s1 = GatewayCore::new_shard(config(), upstream, 2, 1, dir.clone());
    let now = Instant::now();
    // The AC's address hashes to shard 1.
    s1.handle_device_datagram(now, dev(1), &app_register(1, "7"));
    assert_eq!(dir.app_by_application("7").unwrap().shard, 1);
    while s1.poll_transmit().is_some() {}
    // The server's downlink arrives on shard 0.
    s0.handle_upstream_datagram(
        now,
        0,
        upstream,
        &downlink(1, tok(1), &msg_for_app("x", "7", false)),
    );
    let (to, handoff) = s0.poll_handoff().expect("handed to the owner");
    assert_eq!(to, 1);
    s1.handle_handoff(now, handoff);
    let (side, t) = s1.poll_transmit().expect("delivery sent by shard 1");
    assert_eq!((side, t.destination), (Side::Device, dev(1)));
    let v = MessageView::parse(&t.payload).unwrap();
    let ack =
        MessageBuilder::new(MsgType::Ack, Code::CHANGED, v.header.mid, v.header.token).build();
    s1.handle_device_datagram(now, dev(1), &ack);
    let (to, back) = s1.poll_handoff().expect("result handed back");
    assert_eq!(to, 0);
    s0.handle_handoff(now, back);
    let answers: Vec<_> = std::iter::from_fn(|| s0.poll_transmit())
        .filter_map(|(_, t)| {
            let v = MessageView::parse(&t.payload).ok()?;
            v.header
                .code
                .is_response()
                .then_some((v.header.code, v.header.token))
        })
        .collect();
    assert_eq!(answers, vec![(Code::CHANGED, tok(1))]);
    assert!(s0.is_drained() && s1.is_drained());
}

#[test]
fn aggregates_split_on_4_13_like_bulks() {
    let mut sim = scripted(config());
    for i in 0..4u16 {
        sim.register_app(dev(i), 100 + i, &format!("app-{i}"));
        sim.device(dev(i), &app_send(i, &format!("m-{i}"), "ue-x", "UE", ""));
    }
    sim.advance(Duration::from_millis(100));
    sim.answer_last(
        Code::REQUEST_ENTITY_TOO_LARGE,
        &Payload::MsgResp(MessageResponse::default()),
    );
    let halves: Vec<usize> = sim
        .bulks()
        .iter()
        .filter_map(|p| match p {
            Payload::AggMsg(a) => Some(a.messages.len()),
            _ => None,
        })
        .collect();
    assert_eq!(halves, vec![4, 2, 2]);
}

#[test]
fn the_gateway_registers_itself_and_retries_after_a_failure() {
    let mut sim = scripted(config());
    sim.gw.start(sim.now);
    sim.pump();
    let (_, p) = sim.last_upstream_request();
    match p {
        Payload::Reg(r) => assert_eq!(r.ue_service_id, GW),
        other => panic!("{other:?}"),
    }
    sim.answer_last(
        Code::FORBIDDEN,
        &Payload::MsgResp(MessageResponse::default()),
    );
    assert!(!sim.gw.is_self_registered());
    let sent = sim.upstream.len();
    sim.advance(Duration::from_secs(31));
    assert!(sim.upstream.len() > sent, "retried");
    sim.answer_last(
        Code::CREATED,
        &Payload::RegResp(msg::RegistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: GW.into(),
            registration_result: RegResult::Success,
            failure_cause: None,
        }),
    );
    assert!(sim.gw.is_self_registered());
    assert!(sim.gw.is_drained());
}

#[test]
fn abort_answers_the_server_for_deliveries_still_in_progress() {
    let mut sim = scripted(config());
    sim.register_app(dev(1), 1, "7");
    sim.deliver_from_server(&downlink(990, tok(990), &msg_for_app("d-1", "7", false)));
    assert!(!sim.gw.is_drained(), "a delivery is in progress");
    let now = sim.now;
    sim.gw.abort(now);
    sim.pump();
    let last = sim.server_answers().last().unwrap().clone();
    assert_eq!((last.1, last.2), (Code::SERVICE_UNAVAILABLE, tok(990)));
    match msg::decode(&last.3).unwrap() {
        Payload::MsgResp(r) => assert_eq!(r.failure_cause.as_deref(), Some(cause::SHUTTING_DOWN)),
        other => panic!("{other:?}"),
    }
    assert!(sim.gw.is_drained());
}

fn app_register_moving(mid: u16, app: &str, id: u32, secret: Option<u128>) -> Vec<u8> {
    let secret = secret.map_or(String::new(), |s| {
        format!(r#","registrationSecret":"{s:032x}""#)
    });
    request(
        MsgType::Con,
        mid,
        tok(mid),
        &format!(
            r#"{{"messageType":"REGISTRATION REQUEST","applicationId":"{app}","registrationId":{id}{secret}}}"#
        ),
    )
}

/// The registration secret in the (last) answer to `to`.
fn registration_secret(sim: &Sim, to: SocketAddr) -> u128 {
    match sim.answers_to(to).last().expect("an answer").body() {
        Payload::AppRegResp(r) => r.registration_secret.expect("accepted with a secret"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_application_client_behind_a_rebound_nat_keeps_its_registration_with_its_id_and_secret() {
    let mut sim = scripted(config());
    let id = sim.register_app(dev(1), 1, "7");
    let secret = registration_secret(&sim, dev(1));
    // From the new address without the Registration ID: the Application ID is held (4.03).
    sim.device(dev(7), &app_register(2, "7"));
    assert_eq!(
        sim.answers_to(dev(7))[0].view().header.code,
        Code::FORBIDDEN
    );
    // With the ID but without the secret, or a wrong one: refused, counted as spoofing.
    sim.device(dev(8), &app_register_moving(3, "7", id, None));
    sim.device(dev(8), &app_register_moving(4, "7", id, Some(secret ^ 1)));
    for a in sim.answers_to(dev(8)) {
        assert_eq!(a.view().header.code, Code::FORBIDDEN);
    }
    assert_eq!(sim.answers_to(dev(8)).len(), 2);
    assert_eq!(sim.gw.stats().spoofed.load(Ordering::Relaxed), 3);
    assert_eq!(sim.gw.directory().app(id).unwrap().peer, dev(1));
    // With both: the registration moves and keeps its ID.
    sim.device(dev(7), &app_register_moving(5, "7", id, Some(secret)));
    assert_eq!(registration_id(&sim, dev(7)), id);
    assert_eq!(registration_secret(&sim, dev(7)), secret);
    assert_eq!(sim.gw.directory().app(id).unwrap().peer, dev(7));
    // Messages now come from the new address; the old one is no longer registered.
    sim.device(dev(7), &app_send(6, "m-new", "ue-x", "UE", ""));
    sim.device(dev(1), &app_send(7, "m-old", "ue-x", "UE", ""));
    assert_eq!(
        sim.answers_to(dev(1)).last().unwrap().view().header.code,
        Code::FORBIDDEN
    );
    sim.advance(Duration::from_millis(100));
    let (_, p) = sim.last_upstream_request();
    let Payload::AggMsg(agg) = p else { panic!() };
    assert_eq!(agg.messages.len(), 1);
    assert_eq!(agg.messages[0].message_id, "m-new");
}

#[test]
fn idle_application_registrations_expire_and_free_their_application_id() {
    let mut sim = scripted(GatewayConfig {
        app_idle_expiry: Duration::from_secs(100),
        ..config()
    });
    sim.gw.start(sim.now);
    let idle = sim.register_app(dev(1), 1, "7");
    let active = sim.register_app(dev(2), 2, "8");
    // Another address cannot take "7" while it is fresh.
    sim.device(dev(3), &app_register(3, "7"));
    assert_eq!(
        sim.answers_to(dev(3)).last().unwrap().view().header.code,
        Code::FORBIDDEN
    );
    sim.advance(Duration::from_secs(60));
    // "8" stays active: it registers again from its address (a lost answer, retried).
    assert_eq!(sim.register_app(dev(2), 4, "8"), active);
    sim.advance(Duration::from_secs(60));
    let dir = sim.gw.directory();
    assert!(dir.app(idle).is_none(), "idle for 100 s: swept");
    assert!(dir.app(active).is_some());
    let stats = sim.gw.stats();
    assert_eq!(stats.app_registrations_expired.load(Ordering::Relaxed), 1);
    // Its Application ID is free again, for any address.
    let new = sim.register_app(dev(3), 5, "7");
    assert_ne!(new, idle);
    // Sending with the expired registration: NOT_REGISTERED.
    sim.device(dev(1), &app_send(6, "m1", "ue-1", "UE", ""));
    let last = sim.answers_to(dev(1)).last().unwrap().clone();
    assert_eq!(last.view().header.code, Code::FORBIDDEN);
}

#[path = "tests_segments_up.rs"]
mod segments_up;

#[path = "tests_downlink_aggregate.rs"]
mod downlink_aggregate;
