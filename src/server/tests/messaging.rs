//! Messaging simulations: routing models, store and forward, aggregates, downlink outcomes.

use super::*;
use crate::msg::{
    format_rfc3339, AsRegistrationResponse, DeliveryReport, Message, MessageResponse,
    MsgDeliveryStatus, ReportStatus,
};
use std::collections::BTreeMap;
use std::time::SystemTime;

const UE1: &str = "192.0.2.11:5683";
const UE2: &str = "192.0.2.12:5683";
const AS1: &str = "198.51.100.1:5683";
/// Another uplink socket of the gateway (same IP as `GW`).
const GW_OTHER_PORT: &str = "192.0.2.9:40001";
const ELSEWHERE: &str = "203.0.113.5:5683";

mod gateways;

/// A server, a simulated clock and a Message ID counter for the scripted peers.
struct Sim {
    s: ServerCore,
    now: Instant,
    mid: u16,
}

impl Sim {
    fn new(config: ServerConfig) -> Sim {
        Sim {
            s: ServerCore::new(config, 11),
            now: Instant::now(),
            mid: 1000,
        }
    }

    fn with_groups() -> Sim {
        let mut c = ServerConfig::default();
        c.messaging.groups = BTreeMap::from([(
            "grp-1".to_string(),
            vec!["ue-1".into(), "ue-2".into(), "ue-3".into(), "ue-4".into()],
        )]);
        Sim::new(c)
    }

    /// A CON POST of `body` from `from`; returns (the piggybacked answer, everything else).
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

    fn reg(&mut self, from: &str, id: &str) {
        let (a, _) = self.call(from, &reg(id));
        assert!(view(&a).header.code.is_success());
    }

    fn reg_as(&mut self, from: &str, id: &str) -> Transmit {
        self.call(
            from,
            &format!(r#"{{"messageType":"REG","asServiceId":"{id}"}}"#),
        )
        .0
    }

    /// Register `ids` through the gateway at `GW` (gateway UE Service ID "gw").
    fn bulk(&mut self, ids: &[&str]) -> Vec<Transmit> {
        let (a, rest) = self.call(GW, &bulk_reg("gw", ids, None));
        assert!(view(&a).header.code.is_success());
        rest
    }

    fn feed(&mut self, from: &str, data: &[u8]) -> Vec<Transmit> {
        exchange(&mut self.s, self.now, from, data)
    }

    fn advance(&mut self, d: Duration) -> Vec<Transmit> {
        self.now += d;
        self.s.handle_timeout(self.now);
        drain(&mut self.s)
    }

    fn stats(&self) -> Arc<ServerStats> {
        self.s.stats()
    }
}

fn msg(from_ue: &str, to: &str, id: &str, extra: &str) -> String {
    format!(
        r#"{{"messageType":"MSG","messageId":"{id}","originatingUeServiceId":"{from_ue}","{to}"{extra}}}"#
    )
}

/// `to` for `msg`: `recipientUeServiceId":"x` style fragments.
fn to_ue(id: &str) -> String {
    format!(r#"recipientUeServiceId":"{id}"#)
}

fn msgresp(t: &Transmit) -> MessageResponse {
    match body(t) {
        Payload::MsgResp(r) => r,
        other => panic!("expected MSGRESP, got {other:?}"),
    }
}

/// Code, status and cause of a single answer.
fn verdict(t: &Transmit) -> (Code, Option<MsgDeliveryStatus>, Option<String>) {
    let r = msgresp(t);
    (view(t).header.code, r.delivery_status, r.failure_cause)
}

/// A downlink request: CON POST to `msgin5g` with Content-Format 50.
fn downlink(t: &Transmit) -> Payload {
    let v = view(t);
    assert_eq!(v.header.mtype, MsgType::Con);
    assert_eq!(v.header.code, Code::POST);
    assert!(v.uri_path_is("msgin5g"));
    assert_eq!(v.header.token.len(), 8);
    body(t)
}

fn downlink_msg(t: &Transmit) -> Message {
    match downlink(t) {
        Payload::Msg(m) => m,
        other => panic!("expected MSG, got {other:?}"),
    }
}

fn downlink_imdn(t: &Transmit) -> DeliveryReport {
    match downlink(t) {
        Payload::Imdn(r) => r,
        other => panic!("expected IMDN, got {other:?}"),
    }
}

/// The recipient's piggybacked answer to a downlink request.
fn answer(t: &Transmit, code: Code) -> Vec<u8> {
    let h = view(t).header;
    MessageBuilder::new(MsgType::Ack, code, h.mid, h.token).build()
}

fn only(out: Vec<Transmit>, to: &str) -> Transmit {
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].destination, addr(to));
    out.into_iter().next().unwrap()
}

#[test]
fn p2p_message_and_its_imdn() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    sim.reg(UE2, "ue-2");
    let (a, out) = sim.call(
        UE1,
        &msg(
            "ue-1",
            &to_ue("ue-2"),
            "m-1",
            r#","payload":"AQID","deliveryStatusRequired":true"#,
        ),
    );
    assert_eq!(
        verdict(&a),
        (Code::CHANGED, Some(MsgDeliveryStatus::Accepted), None)
    );
    assert_eq!(msgresp(&a).message_id.as_deref(), Some("m-1"));
    let d = only(out, UE2);
    let m = downlink_msg(&d);
    assert_eq!(m.message_id, "m-1");
    assert_eq!(m.originating_ue_service_id.as_deref(), Some("ue-1"));
    assert_eq!(m.recipient_ue_service_id.as_deref(), Some("ue-2"));
    assert_eq!(m.payload.as_deref(), Some("AQID"));
    assert!(m.delivery_status_required);
    assert_eq!(m.msgin5g_service_id.as_deref(), Some("org.3gpp.msgin5g"));
    assert_eq!(sim.s.outstanding_deliveries(), 1);
    assert!(sim.feed(UE2, &answer(&d, Code::CHANGED)).is_empty());
    assert_eq!(sim.s.outstanding_deliveries(), 0);
    assert_eq!(get(&sim.stats().messages_delivered), 1);

    // ue-2 reports; the server forwards the IMDN to ue-1.
    let imdn = r#"{"messageType":"IMDN","messageId":"r-1","originalMessageId":"m-1",
        "originatingUeServiceId":"ue-2","recipientUeServiceId":"ue-1","deliveryStatus":"SUCCESS"}"#;
    let (a, out) = sim.call(UE2, imdn);
    assert_eq!(
        verdict(&a),
        (Code::CHANGED, Some(MsgDeliveryStatus::Accepted), None)
    );
    let d = only(out, UE1);
    let r = downlink_imdn(&d);
    assert_eq!(
        (r.message_id.as_str(), r.original_message_id.as_str()),
        ("r-1", "m-1")
    );
    assert_eq!(r.delivery_status, ReportStatus::Success);
    assert!(sim.feed(UE1, &answer(&d, Code::CHANGED)).is_empty());
    let st = sim.stats();
    assert_eq!(
        (
            get(&st.messages_received),
            get(&st.reports_received),
            get(&st.reports_delivered)
        ),
        (1, 1, 1)
    );
    // An IMDN to an unknown UE: 4.04.
    let (a, out) = sim.call(
        UE2,
        &imdn.replace(
            r#""recipientUeServiceId":"ue-1""#,
            r#""recipientUeServiceId":"ue-9""#,
        ),
    );
    assert!(out.is_empty());
    assert_eq!(
        verdict(&a),
        (
            Code::NOT_FOUND,
            Some(MsgDeliveryStatus::Failed),
            Some("UNKNOWN_UE".into())
        )
    );
}

#[test]
fn a2p_and_p2a_with_as_identity() {
    let mut sim = Sim::new(ServerConfig::default());
    let a = sim.reg_as(AS1, "as-1");
    assert_eq!(view(&a).header.code, Code::CREATED);
    let Payload::AsRegResp(AsRegistrationResponse {
        as_service_id,
        result,
        ..
    }) = body(&a)
    else {
        panic!("expected an AS REGRESP");
    };
    assert_eq!(
        (as_service_id.as_str(), result),
        ("as-1", RegResult::Success)
    );
    assert!(sim.s.is_as_registered("as-1"));
    sim.reg(UE1, "ue-1");

    // A2P.
    let a2p = r#"{"messageType":"MSG","messageId":"a-1","originatingAsServiceId":"as-1","recipientUeServiceId":"ue-1"}"#;
    let (a, out) = sim.call(AS1, a2p);
    assert_eq!(view(&a).header.code, Code::CHANGED);
    let m = downlink_msg(&only(out, UE1));
    assert_eq!(m.originating_as_service_id.as_deref(), Some("as-1"));
    // The AS from another address: refused.
    let (a, out) = sim.call(ELSEWHERE, &a2p.replace("a-1", "a-2"));
    assert!(out.is_empty());
    assert_eq!(
        verdict(&a),
        (
            Code::FORBIDDEN,
            Some(MsgDeliveryStatus::Rejected),
            Some("UNAUTHORIZED".into())
        )
    );

    // P2A.
    let (a, out) = sim.call(
        UE1,
        &msg("ue-1", r#"recipientAsServiceId":"as-1"#, "p-1", ""),
    );
    assert_eq!(view(&a).header.code, Code::CHANGED);
    let m = downlink_msg(&only(out, AS1));
    assert_eq!(m.recipient_as_service_id.as_deref(), Some("as-1"));
    assert_eq!(m.recipient_ue_service_id, None);
    // To an unknown AS: 4.04.
    let (a, _) = sim.call(
        UE1,
        &msg("ue-1", r#"recipientAsServiceId":"as-9"#, "p-2", ""),
    );
    assert_eq!(
        verdict(&a),
        (
            Code::NOT_FOUND,
            Some(MsgDeliveryStatus::Failed),
            Some("RECIPIENT_UNREACHABLE".into())
        )
    );

    // Re-registration 2.04; DEREG from another address 4.03; from the AS 2.04.
    assert_eq!(view(&sim.reg_as(AS1, "as-1")).header.code, Code::CHANGED);
    let dereg_as = r#"{"messageType":"DEREG","asServiceId":"as-1"}"#;
    let (a, _) = sim.call(ELSEWHERE, dereg_as);
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);
    assert!(sim.s.is_as_registered("as-1"));
    let (a, _) = sim.call(AS1, dereg_as);
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert!(matches!(body(&a), Payload::AsDeregResp(_)));
    assert!(!sim.s.is_as_registered("as-1"));
    // An unregistered AS may not send.
    let (a, _) = sim.call(AS1, &a2p.replace("a-1", "a-3"));
    assert_eq!(
        verdict(&a),
        (
            Code::FORBIDDEN,
            Some(MsgDeliveryStatus::Rejected),
            Some("NOT_REGISTERED".into())
        )
    );
}

#[test]
fn refusals_of_single_messages() {
    let mut sim = Sim::with_groups();
    sim.reg(UE1, "ue-1");
    sim.reg(UE2, "ue-2");
    let cases = [
        // Sender not registered.
        (
            UE1,
            msg("ue-9", &to_ue("ue-2"), "x1", ""),
            Code::FORBIDDEN,
            MsgDeliveryStatus::Rejected,
            "NOT_REGISTERED",
        ),
        // Spoofed originator: ue-1 registered from UE1, sent from UE2.
        (
            UE2,
            msg("ue-1", &to_ue("ue-2"), "x2", ""),
            Code::FORBIDDEN,
            MsgDeliveryStatus::Rejected,
            "UNAUTHORIZED",
        ),
        // Unknown recipient, no store and forward.
        (
            UE1,
            msg("ue-1", &to_ue("ue-9"), "x3", ""),
            Code::NOT_FOUND,
            MsgDeliveryStatus::Failed,
            "UNKNOWN_UE",
        ),
        // Unknown group.
        (
            UE1,
            msg("ue-1", r#"recipientGroupServiceId":"grp-9"#, "x4", ""),
            Code::NOT_FOUND,
            MsgDeliveryStatus::Failed,
            "UNKNOWN_GROUP",
        ),
    ];
    for (from, body, code, status, c) in cases {
        let (a, out) = sim.call(from, &body);
        assert!(out.is_empty(), "{body}");
        assert_eq!(verdict(&a), (code, Some(status), Some(c.into())), "{body}");
    }
    // Payload over 2048 decoded bytes: 4.13; exactly 2048: accepted.
    let big = "A".repeat(2732);
    let (a, out) = sim.call(
        UE1,
        &msg(
            "ue-1",
            &to_ue("ue-2"),
            "x5",
            &format!(r#","payload":"{big}""#),
        ),
    );
    assert!(out.is_empty());
    assert_eq!(
        verdict(&a),
        (
            Code::REQUEST_ENTITY_TOO_LARGE,
            Some(MsgDeliveryStatus::Failed),
            Some("PAYLOAD_TOO_LARGE".into())
        )
    );
    let fits = "A".repeat(2728);
    let (a, out) = sim.call(
        UE1,
        &msg(
            "ue-1",
            &to_ue("ue-2"),
            "x6",
            &format!(r#","payload":"{fits}""#),
        ),
    );
    assert_eq!(view(&a).header.code, Code::CHANGED);
    assert_eq!(out.len(), 1);
    // Malformed MSG (two originators): 4.00 with a diagnostic.
    let (a, _) = sim.call(
        UE1,
        r#"{"messageType":"MSG","messageId":"m","originatingUeServiceId":"ue-1","originatingAsServiceId":"a","recipientUeServiceId":"ue-2"}"#,
    );
    assert_eq!(view(&a).header.code, Code::BAD_REQUEST);
    assert_eq!(view(&a).payload(), b"invalid originating*ServiceId");
    assert_eq!(get(&sim.stats().messages_failed), 5);
}

#[test]
fn group_fan_out_copies_carry_group_and_ue() {
    let mut sim = Sim::with_groups();
    sim.reg(UE1, "ue-1");
    sim.reg(UE2, "ue-2");
    assert!(sim.bulk(&["ue-3"]).is_empty());
    // ue-4 is a member but not registered; delivery status is required.
    let (a, out) = sim.call(
        UE1,
        &msg(
            "ue-1",
            r#"recipientGroupServiceId":"grp-1"#,
            "g-1",
            r#","deliveryStatusRequired":true"#,
        ),
    );
    assert_eq!(
        verdict(&a),
        (Code::CHANGED, Some(MsgDeliveryStatus::Accepted), None)
    );
    let mut to: Vec<(SocketAddr, String)> = Vec::new();
    let mut report = None;
    for t in &out {
        match downlink(t) {
            Payload::Msg(m) => {
                assert_eq!(m.recipient_group_service_id.as_deref(), Some("grp-1"));
                assert_eq!(m.message_id, "g-1");
                to.push((t.destination, m.recipient_ue_service_id.unwrap()));
            }
            Payload::Imdn(r) => report = Some((t.destination, r)),
            other => panic!("{other:?}"),
        }
    }
    to.sort();
    assert_eq!(
        to,
        [
            (addr(GW), "ue-3".to_string()),
            (addr(UE2), "ue-2".to_string()),
        ]
    );
    // The unreachable member is reported to the sender.
    let (dest, r) = report.expect("IMDN FAILURE for ue-4");
    assert_eq!(dest, addr(UE1));
    assert_eq!(r.originating_ue_service_id.as_deref(), Some("ue-4"));
    assert_eq!(r.recipient_ue_service_id.as_deref(), Some("ue-1"));
    assert_eq!(r.original_message_id, "g-1");
    assert_eq!(r.delivery_status, ReportStatus::Failure);
    assert_eq!(r.failure_cause.as_deref(), Some("UNKNOWN_UE"));
    assert_eq!(get(&sim.stats().reports_generated), 1);
}

#[test]
fn gateway_registered_ues_send_through_the_gateway() {
    let mut c = ServerConfig::default();
    c.policy.allowed_gateways = Some(HashSet::from(["gw".to_string()]));
    let mut sim = Sim::new(c);
    sim.reg(UE1, "ue-1");
    sim.bulk(&["ue-3"]);
    // From the gateway's address and from another of its uplink ports: accepted.
    for (from, id) in [(GW, "v-1"), (GW_OTHER_PORT, "v-2")] {
        let (a, out) = sim.call(from, &msg("ue-3", &to_ue("ue-1"), id, ""));
        assert_eq!(view(&a).header.code, Code::CHANGED, "{from}");
        assert_eq!(only(out, UE1).destination, addr(UE1));
    }
    // From elsewhere as a single MSG: refused.
    let (a, _) = sim.call(ELSEWHERE, &msg("ue-3", &to_ue("ue-1"), "v-3", ""));
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);
    // From elsewhere inside an aggregate of the allowed gateway that registered it: accepted.
    let agg = r#"{"messageType":"AGGMSG","messageId":"agg","originatingUeServiceId":"gw",
        "numberOfMessages":1,"messages":[{"messageId":"v-4","originatingUeServiceId":"ue-3",
        "recipientUeServiceId":"ue-1"}]}"#;
    let (a, out) = sim.call(ELSEWHERE, agg);
    assert_eq!(msgresp(&a).result_for("v-4").0, MsgDeliveryStatus::Accepted);
    assert_eq!(out.len(), 1);
    // An aggregate from a gateway not in allowed_gateways: 4.03 as a whole.
    let (a, out) = sim.call(
        GW,
        &agg.replace(
            r#""originatingUeServiceId":"gw""#,
            r#""originatingUeServiceId":"gw-x""#,
        ),
    );
    assert!(out.is_empty());
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);
}

#[test]
fn store_and_forward_delivers_on_registration() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    let sf = r#","storeAndForward":true"#;
    for id in ["s-1", "s-2"] {
        let (a, out) = sim.call(UE1, &msg("ue-1", &to_ue("ue-2"), id, sf));
        assert!(out.is_empty());
        assert_eq!(
            verdict(&a),
            (Code::CHANGED, Some(MsgDeliveryStatus::Stored), None)
        );
    }
    // Through a gateway too.
    let (a, _) = sim.call(UE1, &msg("ue-1", &to_ue("ue-3"), "s-3", sf));
    assert_eq!(msgresp(&a).delivery_status, Some(MsgDeliveryStatus::Stored));
    assert_eq!(sim.s.stored_messages(), 3);
    assert_eq!(get(&sim.stats().messages_stored), 3);

    // ue-2 registers: the REGRESP first, then the stored messages in order.
    sim.mid += 1;
    let out = sim.feed(UE2, &post(sim.mid, tok(1), &reg("ue-2")));
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(view(&out[0]).header.mtype, MsgType::Ack);
    assert_eq!(regresp(&out[0]).ue_service_id, "ue-2");
    let ids: Vec<String> = out[1..]
        .iter()
        .map(|t| downlink_msg(t).message_id)
        .collect();
    assert_eq!(ids, ["s-1", "s-2"]);
    assert!(out.iter().all(|t| t.destination == addr(UE2)));
    // Registration through a bulk flushes as well.
    let out = sim.bulk(&["ue-3"]);
    let m = downlink_msg(&only(out, GW));
    assert_eq!(
        (m.message_id.as_str(), m.recipient_ue_service_id.as_deref()),
        ("s-3", Some("ue-3"))
    );
    assert_eq!(sim.s.stored_messages(), 3, "stored until the outcome");
}

#[test]
fn stored_messages_expire() {
    let mut c = ServerConfig::default();
    c.messaging.store_max_time = Duration::from_secs(3600);
    let mut sim = Sim::new(c);
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    sim.s.set_wall_clock(sim.now, wall);
    sim.reg(UE1, "ue-1");
    let exp = format_rfc3339(wall + Duration::from_secs(60));
    let extra = format!(
        r#","storeAndForward":true,"deliveryStatusRequired":true,"storeAndForwardParams":{{"expirationTime":"{exp}"}}"#
    );
    let (a, _) = sim.call(UE1, &msg("ue-1", &to_ue("ue-2"), "e-1", &extra));
    assert_eq!(msgresp(&a).delivery_status, Some(MsgDeliveryStatus::Stored));
    // Without expirationTime: the default storage time (1 h here).
    let (a, _) = sim.call(
        UE1,
        &msg("ue-1", &to_ue("ue-2"), "e-2", r#","storeAndForward":true"#),
    );
    assert_eq!(msgresp(&a).delivery_status, Some(MsgDeliveryStatus::Stored));
    // Already expired: refused.
    let past = format_rfc3339(wall - Duration::from_secs(1));
    let (a, _) = sim.call(
        UE1,
        &msg(
            "ue-1",
            &to_ue("ue-2"),
            "e-3",
            &format!(
                r#","storeAndForward":true,"storeAndForwardParams":{{"expirationTime":"{past}"}}"#
            ),
        ),
    );
    assert_eq!(
        verdict(&a),
        (
            Code::NOT_FOUND,
            Some(MsgDeliveryStatus::Failed),
            Some("EXPIRED".into())
        )
    );
    assert_eq!(sim.s.stored_messages(), 2);
    assert!(sim.advance(Duration::from_secs(59)).is_empty());
    assert_eq!(sim.s.stored_messages(), 2);
    let out = sim.advance(Duration::from_secs(1));
    let report = only(out, UE1);
    let r = downlink_imdn(&report);
    assert_eq!(r.original_message_id, "e-1");
    assert_eq!(r.originating_ue_service_id.as_deref(), Some("ue-2"));
    assert_eq!(r.failure_cause.as_deref(), Some("EXPIRED"));
    assert_eq!(sim.s.stored_messages(), 1);
    assert!(sim.feed(UE1, &answer(&report, Code::CHANGED)).is_empty());
    // e-2 asked for no report: dropped silently at the 1 h cap.
    assert!(sim.advance(Duration::from_secs(3600)).is_empty());
    assert_eq!(sim.s.stored_messages(), 0);
    assert_eq!(get(&sim.stats().messages_expired), 2);
}

#[test]
fn store_is_bounded() {
    let mut c = ServerConfig::default();
    c.messaging.store_max_per_recipient = 2;
    c.messaging.store_max_total = 3;
    let mut sim = Sim::new(c);
    sim.reg(UE1, "ue-1");
    let sf = r#","storeAndForward":true"#;
    let mut status = Vec::new();
    for (to, id) in [
        ("ue-2", "b1"),
        ("ue-2", "b2"),
        ("ue-2", "b3"),
        ("ue-3", "b4"),
        ("ue-4", "b5"),
    ] {
        let (a, _) = sim.call(UE1, &msg("ue-1", &to_ue(to), id, sf));
        status.push((
            view(&a).header.code,
            msgresp(&a).failure_cause,
            view(&a).max_age(),
        ));
    }
    let full = (
        Code::SERVICE_UNAVAILABLE,
        Some("STORE_FULL".to_string()),
        Some(5),
    );
    let ok = (Code::CHANGED, None, None);
    assert_eq!(status, [ok.clone(), ok.clone(), full.clone(), ok, full]);
    assert_eq!(sim.s.stored_messages(), 3);
}

#[test]
fn a_gateway_sends_its_own_messages_from_any_of_its_uplink_ports() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    // The gateway registered itself directly from one uplink ...
    sim.reg(GW, "gw");
    // ... a single MSG of its own from another uplink, before it ever sent an aggregate: refused
    // like any UE sending from a port it did not register from.
    let (a, _) = sim.call(GW_OTHER_PORT, &msg("gw", &to_ue("ue-1"), "s-1", ""));
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);
    // Its aggregate from another uplink carries messages originated by itself: accepted.
    let agg = r#"{"messageType":"AGGMSG","messageId":"agg","originatingUeServiceId":"gw",
        "numberOfMessages":1,"messages":[{"messageId":"s-2","originatingUeServiceId":"gw",
        "recipientUeServiceId":"ue-1"}]}"#;
    let (a, out) = sim.call(GW_OTHER_PORT, agg);
    assert_eq!(msgresp(&a).result_for("s-2").0, MsgDeliveryStatus::Accepted);
    assert_eq!(out.len(), 1);
    // Now known as a gateway, its singles from any uplink port are accepted too ...
    let (a, _) = sim.call(GW_OTHER_PORT, &msg("gw", &to_ue("ue-1"), "s-3", ""));
    assert_eq!(view(&a).header.code, Code::CHANGED);
    // ... but not from another IP address.
    let (a, _) = sim.call(ELSEWHERE, &msg("gw", &to_ue("ue-1"), "s-4", ""));
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);
    // An ordinary UE still sends only from its registered address.
    let (a, _) = sim.call("192.0.2.11:9999", &msg("ue-1", &to_ue("gw"), "s-5", ""));
    assert_eq!(view(&a).header.code, Code::FORBIDDEN);
}

#[test]
fn downlink_to_a_gateway_is_spread_over_its_uplink_endpoints() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    sim.reg(GW, "gw");
    // Aggregates from two uplinks make both known endpoints of "gw".
    for (from, id) in [(GW, "x-1"), (GW_OTHER_PORT, "x-2")] {
        let agg = format!(
            r#"{{"messageType":"AGGMSG","messageId":"agg-{id}","originatingUeServiceId":"gw",
            "numberOfMessages":1,"messages":[{{"messageId":"{id}","originatingUeServiceId":"gw",
            "recipientUeServiceId":"ue-1"}}]}}"#
        );
        let (a, _) = sim.call(from, &agg);
        assert_eq!(msgresp(&a).result_for(id).0, MsgDeliveryStatus::Accepted);
    }
    // Messages for the gateway's own UE Service ID (its Application Clients) alternate.
    let mut destinations = Vec::new();
    for i in 0..4 {
        let (a, out) = sim.call(UE1, &msg("ue-1", &to_ue("gw"), &format!("d-{i}"), ""));
        assert_eq!(view(&a).header.code, Code::CHANGED);
        assert_eq!(out.len(), 1);
        destinations.push(out[0].destination);
    }
    assert_eq!(
        destinations,
        vec![addr(GW), addr(GW_OTHER_PORT), addr(GW), addr(GW_OTHER_PORT)]
    );
}

#[test]
fn aggmsg_mixed_element_verdicts() {
    let mut c = ServerConfig::default();
    c.messaging.max_aggregate_entries = 6;
    let mut sim = Sim::new(c);
    sim.reg(UE1, "ue-1");
    sim.bulk(&["ue-3", "ue-4"]);
    let big = "A".repeat(3000);
    let agg = format!(
        r#"{{"msgin5gServiceId":"org.3gpp.msgin5g","messageType":"AGGMSG","messageId":"agg-1",
        "originatingUeServiceId":"gw","numberOfMessages":6,"messages":[
        {{"messageId":"e1","originatingUeServiceId":"ue-3","recipientUeServiceId":"ue-1","payload":"AQI="}},
        {{"messageId":"e2","originatingUeServiceId":"ue-4","recipientUeServiceId":"ue-9"}},
        {{"messageId":"e3","originatingUeServiceId":"ue-8","recipientUeServiceId":"ue-1"}},
        {{"messageId":"e4","originatingUeServiceId":"ue-3","recipientUeServiceId":"ue-9","storeAndForward":true}},
        {{"messageId":"e5","originatingUeServiceId":"ue-4","recipientUeServiceId":"ue-1","payload":"{big}"}},
        {{"messageId":"e6","recipientUeServiceId":"ue-1"}}]}}"#
    );
    let (a, out) = sim.call(GW, &agg);
    assert_eq!(view(&a).header.code, Code::CHANGED);
    let r = msgresp(&a);
    assert_eq!(r.message_id.as_deref(), Some("agg-1"));
    let got: Vec<(&str, MsgDeliveryStatus, Option<&str>)> = r
        .results
        .iter()
        .map(|e| {
            (
                e.message_id.as_str(),
                e.delivery_status,
                e.failure_cause.as_deref(),
            )
        })
        .collect();
    use MsgDeliveryStatus::*;
    assert_eq!(
        got,
        [
            ("e1", Accepted, None),
            ("e2", Failed, Some("UNKNOWN_UE")),
            ("e3", Rejected, Some("NOT_REGISTERED")),
            ("e4", Stored, None),
            ("e5", Failed, Some("PAYLOAD_TOO_LARGE")),
            // Inherits the envelope originator "gw", which is not a registered UE.
            ("e6", Rejected, Some("NOT_REGISTERED")),
        ]
    );
    let m = downlink_msg(&only(out, UE1));
    assert_eq!(m.originating_ue_service_id.as_deref(), Some("ue-3"));
    let st = sim.stats();
    assert_eq!(
        (get(&st.aggregate_requests), get(&st.messages_received)),
        (1, 6)
    );
    // Above max_aggregate_entries: 4.13 as a whole.
    let seven = agg
        .replace(r#""numberOfMessages":6"#, r#""numberOfMessages":7"#)
        .replace(
            r#"{"messageId":"e6""#,
            r#"{"messageId":"e7","recipientUeServiceId":"ue-1"},{"messageId":"e6""#,
        );
    let (a, out) = sim.call(GW, &seven);
    assert!(out.is_empty());
    assert_eq!(view(&a).header.code, Code::REQUEST_ENTITY_TOO_LARGE);
    // A count mismatch: 4.00.
    let (a, _) = sim.call(
        GW,
        &agg.replace(r#""numberOfMessages":6"#, r#""numberOfMessages":5"#),
    );
    assert_eq!(view(&a).header.code, Code::BAD_REQUEST);
    assert_eq!(view(&a).payload(), b"invalid numberOfMessages");
}

#[test]
fn aggimdn_forwards_each_report() {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    sim.reg_as(AS1, "as-1");
    sim.bulk(&["ue-3", "ue-4"]);
    let agg = r#"{"messageType":"AGGIMDN","messageId":"ra","originatingUeServiceId":"gw",
        "numberOfReports":3,"reports":[
        {"messageId":"r1","originalMessageId":"m1","originatingUeServiceId":"ue-3","recipientUeServiceId":"ue-1","deliveryStatus":"SUCCESS"},
        {"messageId":"r2","originalMessageId":"m2","originatingUeServiceId":"ue-4","recipientAsServiceId":"as-1","deliveryStatus":"FAILURE","failureCause":"UNKNOWN_APPLICATION"},
        {"messageId":"r3","originalMessageId":"m3","originatingUeServiceId":"ue-4","recipientUeServiceId":"ue-9","deliveryStatus":"SUCCESS"}]}"#;
    let (a, out) = sim.call(GW, agg);
    let r = msgresp(&a);
    let got: Vec<_> = r.results.iter().map(|e| e.delivery_status).collect();
    use MsgDeliveryStatus::*;
    assert_eq!(got, [Accepted, Accepted, Failed]);
    assert_eq!(r.results[2].failure_cause.as_deref(), Some("UNKNOWN_UE"));
    assert_eq!(out.len(), 2);
    let mut dests: Vec<(SocketAddr, String)> = out
        .iter()
        .map(|t| (t.destination, downlink_imdn(t).message_id))
        .collect();
    dests.sort();
    assert_eq!(
        dests,
        [(addr(UE1), "r1".to_string()), (addr(AS1), "r2".to_string()),]
    );
    assert_eq!(get(&sim.stats().reports_received), 3);
}

/// ue-1 and ue-2 registered; ue-1 sent `m-1` to ue-2 with the given extra IEs. Returns the
/// downlink request to UE2.
fn sent(extra: &str) -> (Sim, Transmit) {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    sim.reg(UE2, "ue-2");
    let (_, out) = sim.call(UE1, &msg("ue-1", &to_ue("ue-2"), "m-1", extra));
    let d = only(out, UE2);
    (sim, d)
}

#[test]
fn downlink_separate_response() {
    for con in [true, false] {
        let (mut sim, d) = sent("");
        let h = view(&d).header;
        // Empty ACK: the response comes later.
        assert!(sim
            .feed(UE2, &crate::coap::build::empty_ack(h.mid))
            .is_empty());
        assert_eq!(sim.s.outstanding_deliveries(), 1);
        let mtype = if con { MsgType::Con } else { MsgType::Non };
        let resp = MessageBuilder::new(mtype, Code::CHANGED, 0x7777, h.token).build();
        let out = sim.feed(UE2, &resp);
        assert_eq!(sim.s.outstanding_deliveries(), 0);
        assert_eq!(get(&sim.stats().messages_delivered), 1);
        if con {
            let ack = only(out, UE2);
            assert_eq!(ack.payload, crate::coap::build::empty_ack(0x7777));
            // A retransmitted separate response gets the same ACK, nothing else.
            let again = only(sim.feed(UE2, &resp), UE2);
            assert_eq!(again.payload, ack.payload);
            assert_eq!(get(&sim.stats().messages_delivered), 1);
        } else {
            assert!(out.is_empty());
        }
    }
    // The separate response may come before the ACK (it implies the ACK): no retransmission.
    let (mut sim, d) = sent("");
    let h = view(&d).header;
    let resp = MessageBuilder::new(MsgType::Con, Code::CHANGED, 9, h.token).build();
    assert_eq!(sim.feed(UE2, &resp).len(), 1);
    assert!(sim.advance(Duration::from_secs(200)).is_empty());
    assert_eq!(get(&sim.stats().downlink_retransmissions), 0);
    // A response with a Token nobody waits for is ignored.
    let stray = MessageBuilder::new(MsgType::Con, Code::CHANGED, 10, tok(0x55)).build();
    assert!(sim.feed(UE2, &stray).is_empty());
}

#[test]
fn downlink_failures_report_or_store() {
    // 4.04 piggybacked, RST: IMDN FAILURE to the sender when delivery status was required.
    for rst in [false, true] {
        let (mut sim, d) = sent(r#","deliveryStatusRequired":true"#);
        let h = view(&d).header;
        let reply = if rst {
            crate::coap::build::reset(h.mid)
        } else {
            answer(&d, Code::NOT_FOUND)
        };
        let r = downlink_imdn(&only(sim.feed(UE2, &reply), UE1));
        assert_eq!(r.original_message_id, "m-1");
        assert_eq!(r.failure_cause.as_deref(), Some("RECIPIENT_UNREACHABLE"));
        assert_eq!(get(&sim.stats().messages_failed), 1);
    }
    // Without delivery status required: nothing more.
    let (mut sim, d) = sent("");
    assert!(sim
        .feed(UE2, &answer(&d, Code::SERVICE_UNAVAILABLE))
        .is_empty());
    assert_eq!(get(&sim.stats().messages_failed), 1);
    // With store and forward: stored instead, delivered on the next registration.
    let (mut sim, d) = sent(r#","storeAndForward":true,"deliveryStatusRequired":true"#);
    assert!(sim.feed(UE2, &answer(&d, Code::NOT_FOUND)).is_empty());
    assert_eq!(sim.s.stored_messages(), 1);
    sim.mid += 1;
    let out = sim.feed(UE2, &post(sim.mid, tok(3), &reg("ue-2")));
    assert_eq!(out.len(), 2);
    assert_eq!(downlink_msg(&out[1]).message_id, "m-1");
}

#[test]
fn downlink_timeouts() {
    // No ACK at all: MAX_RETRANSMIT retransmissions of the same bytes, then failed.
    let (mut sim, d) = sent(r#","deliveryStatusRequired":true"#);
    let mut resends = 0;
    let mut report = None;
    for _ in 0..20 {
        let Some(due) = sim.s.poll_timeout() else {
            break;
        };
        sim.now = due;
        sim.s.handle_timeout(due);
        for t in drain(&mut sim.s) {
            if t.payload == d.payload {
                resends += 1;
            } else {
                report = Some(downlink_imdn(&t));
                break;
            }
        }
        if report.is_some() {
            break;
        }
    }
    assert_eq!(resends, 4);
    assert_eq!(get(&sim.stats().downlink_retransmissions), 4);
    assert_eq!(
        report
            .expect("IMDN after giving up")
            .failure_cause
            .as_deref(),
        Some("RECIPIENT_UNREACHABLE")
    );
    // Empty ACK and no separate response: failed after separate_response_timeout.
    let (mut sim, d) = sent("");
    let h = view(&d).header;
    sim.feed(UE2, &crate::coap::build::empty_ack(h.mid));
    sim.advance(Duration::from_secs(92));
    assert_eq!(sim.s.outstanding_deliveries(), 1);
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.s.outstanding_deliveries(), 0);
    assert_eq!(get(&sim.stats().messages_failed), 1);
}

#[test]
fn outstanding_deliveries_are_bounded() {
    let mut c = ServerConfig::default();
    c.messaging.max_outstanding_deliveries = 1;
    let mut sim = Sim::new(c);
    sim.reg(UE1, "ue-1");
    sim.reg(UE2, "ue-2");
    let (_, out) = sim.call(UE1, &msg("ue-1", &to_ue("ue-2"), "o-1", ""));
    let first = only(out, UE2);
    // No room, no store and forward: 5.03 SERVER_BUSY with Max-Age.
    let (a, out) = sim.call(UE1, &msg("ue-1", &to_ue("ue-2"), "o-2", ""));
    assert!(out.is_empty());
    assert_eq!(
        verdict(&a),
        (
            Code::SERVICE_UNAVAILABLE,
            Some(MsgDeliveryStatus::Failed),
            Some("SERVER_BUSY".into())
        )
    );
    assert_eq!(view(&a).max_age(), Some(5));
    // No room, store and forward: stored, and sent once the first delivery completes.
    let (a, out) = sim.call(
        UE1,
        &msg("ue-1", &to_ue("ue-2"), "o-3", r#","storeAndForward":true"#),
    );
    assert!(out.is_empty());
    assert_eq!(msgresp(&a).delivery_status, Some(MsgDeliveryStatus::Stored));
    let out = sim.feed(UE2, &answer(&first, Code::CHANGED));
    let third = only(out, UE2);
    assert_eq!(downlink_msg(&third).message_id, "o-3");
    assert_eq!(sim.s.stored_messages(), 1, "stored until the outcome");
    assert!(sim.feed(UE2, &answer(&third, Code::CHANGED)).is_empty());
    assert_eq!(sim.s.stored_messages(), 0);
}

#[test]
fn repeated_message_id_is_not_delivered_twice() {
    let (mut sim, _) = sent("");
    let (a, out) = sim.call(UE1, &msg("ue-1", &to_ue("ue-2"), "m-1", ""));
    assert!(out.is_empty());
    assert_eq!(
        msgresp(&a).delivery_status,
        Some(MsgDeliveryStatus::Accepted)
    );
    assert_eq!(get(&sim.stats().messages_duplicate), 1);
    // The same Message ID from another originator is another message.
    sim.reg(UE2, "ue-2");
    let (_, out) = sim.call(UE2, &msg("ue-2", &to_ue("ue-1"), "m-1", ""));
    assert_eq!(out.len(), 1);
}

#[test]
fn aggregate_hooks() {
    let mut sim = Sim::new(ServerConfig {
        hooks: ServerTestHooks {
            drop_entry_every: Some(2),
            count_mismatch: true,
            ..Default::default()
        },
        ..ServerConfig::default()
    });
    sim.reg(UE1, "ue-1");
    sim.bulk(&["ue-3"]);
    let agg = r#"{"messageType":"AGGMSG","messageId":"a","originatingUeServiceId":"gw","messages":[
        {"messageId":"h1","originatingUeServiceId":"ue-3","recipientUeServiceId":"ue-1"},
        {"messageId":"h2","originatingUeServiceId":"ue-3","recipientUeServiceId":"ue-1"}]}"#;
    let (a, out) = sim.call(GW, agg);
    assert_eq!(out.len(), 2, "both delivered");
    // One result dropped, the count is one too many: the body does not decode as MSGRESP.
    let text = String::from_utf8(view(&a).payload().to_vec()).unwrap();
    assert!(text.contains(r#""numberOfResults":2"#), "{text}");
    assert!(text.contains(r#""messageId":"h1""#) && !text.contains(r#""messageId":"h2""#));
    let mut sim = Sim::new(ServerConfig {
        hooks: ServerTestHooks {
            service_unavailable: Some(9),
            ..Default::default()
        },
        ..ServerConfig::default()
    });
    let (a, out) = sim.call(GW, agg);
    assert!(out.is_empty());
    assert_eq!(view(&a).header.code, Code::SERVICE_UNAVAILABLE);
    assert_eq!(view(&a).max_age(), Some(9));
    // Separate response: empty ACK, then the MSGRESP as a CON with the request's Token.
    let mut sim = Sim::new(ServerConfig {
        hooks: ServerTestHooks {
            separate_response: true,
            ..Default::default()
        },
        ..ServerConfig::default()
    });
    sim.reg(UE1, "ue-1");
    // (Bulks get separate answers here too: ue-3 registers singly from the gateway's address.)
    sim.reg(GW, "ue-3");
    let out = sim.feed(GW, &post(4000, tok(40), agg));
    let gw: Vec<&Transmit> = out.iter().filter(|t| t.destination == addr(GW)).collect();
    assert_eq!(gw.len(), 2, "{out:?}");
    assert_eq!(gw[0].payload, crate::coap::build::empty_ack(4000));
    let h = view(gw[1]).header;
    assert_eq!((h.mtype, h.token), (MsgType::Con, tok(40)));
    assert_eq!(msgresp(gw[1]).results.len(), 2);
    // Silent: nothing at all, the elements are not processed.
    let mut sim = Sim::new(ServerConfig {
        hooks: ServerTestHooks {
            silent: true,
            ..Default::default()
        },
        ..ServerConfig::default()
    });
    assert!(sim.feed(GW, &post(1, tok(1), agg)).is_empty());
    assert_eq!(get(&sim.stats().messages_received), 0);
}

#[test]
fn messaging_inputs_never_panic() {
    let mut c = ServerConfig::default();
    c.messaging.groups = BTreeMap::from([("g".to_string(), vec!["a".into(), "b".into()])]);
    c.messaging.max_outstanding_deliveries = 8;
    let mut s = ServerCore::new(c, 5);
    let t0 = Instant::now();
    s.set_wall_clock(t0, SystemTime::UNIX_EPOCH);
    let seeds = [
        post(1, tok(1), &reg("a")),
        post(
            2,
            tok(1),
            &msg(
                "a",
                r#"recipientGroupServiceId":"g"#,
                "m",
                r#","storeAndForward":true,"deliveryStatusRequired":true"#,
            ),
        ),
        post(
            3,
            tok(1),
            r#"{"messageType":"AGGMSG","messageId":"x","originatingUeServiceId":"a","messages":[{"messageId":"1","recipientUeServiceId":"b"}]}"#,
        ),
        post(
            4,
            tok(1),
            r#"{"messageType":"IMDN","messageId":"r","originalMessageId":"m","originatingUeServiceId":"b","recipientUeServiceId":"a","deliveryStatus":"SUCCESS"}"#,
        ),
        post(5, tok(1), r#"{"messageType":"REG","asServiceId":"s"}"#),
    ];
    let mut rng = Rng::new(3);
    let mut last: Vec<Transmit> = Vec::new();
    for i in 0..3000u64 {
        let now = t0 + Duration::from_millis(i * 50);
        let mut d = seeds[(i % 5) as usize].clone();
        if i % 4 == 3 {
            let pos = (rng.next_u64() as usize) % d.len();
            d[pos] = rng.next_u64() as u8;
        }
        let from = if i % 2 == 0 { PEER } else { GW };
        s.handle_datagram(now, addr(from), &d);
        // Answer some downlink requests with ACKs/RSTs/responses of random codes.
        for t in last.drain(..) {
            if let Ok(h) = MessageView::parse_header(&t.payload) {
                if h.mtype == MsgType::Con && h.code == Code::POST {
                    let code = Code([0x44, 0x84, 0xa3, 0x00][(rng.next_u64() % 4) as usize]);
                    let reply = match rng.next_u64() % 3 {
                        0 => MessageBuilder::new(MsgType::Ack, code, h.mid, h.token).build(),
                        1 => crate::coap::build::reset(h.mid),
                        _ => {
                            MessageBuilder::new(MsgType::Con, Code::CHANGED, h.mid, h.token).build()
                        }
                    };
                    s.handle_datagram(now, t.destination, &reply);
                }
            }
        }
        s.handle_timeout(now);
        last = drain(&mut s);
    }
}
