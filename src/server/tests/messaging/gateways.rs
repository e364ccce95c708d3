//! Gateway endpoint groups under peer restarts (issue 9): unreachable endpoints are forgotten
//! and the copy re-sent on a live one; a gateway's new self-registration drops its old endpoints.

use super::*;

/// Uplink endpoints of the same gateway after a restart (new ephemeral ports).
const NEW1: &str = "192.0.2.9:50000";
const NEW2: &str = "192.0.2.9:50001";

/// An aggregate of one message from the gateway "gw" itself, sent from `from`.
fn agg_from(sim: &mut Sim, from: &str, id: &str) {
    let agg = format!(
        r#"{{"messageType":"AGGMSG","messageId":"agg-{id}","originatingUeServiceId":"gw",
        "numberOfMessages":1,"messages":[{{"messageId":"{id}","originatingUeServiceId":"gw",
        "recipientUeServiceId":"ue-1"}}]}}"#
    );
    let (a, out) = sim.call(from, &agg);
    assert_eq!(msgresp(&a).result_for(id).0, MsgDeliveryStatus::Accepted);
    // The copy for ue-1 is delivered.
    let d = only(out, UE1);
    assert!(sim.feed(UE1, &answer(&d, Code::CHANGED)).is_empty());
}

/// ue-1 direct; "gw" registered itself from `GW` and sent aggregates from `GW` and
/// `GW_OTHER_PORT`.
fn two_endpoints() -> Sim {
    let mut sim = Sim::new(ServerConfig::default());
    sim.reg(UE1, "ue-1");
    sim.reg(GW, "gw");
    agg_from(&mut sim, GW, "x-1");
    agg_from(&mut sim, GW_OTHER_PORT, "x-2");
    sim
}

/// Run the timers until something is sent other than retransmissions of `d`.
fn until_other_than(sim: &mut Sim, d: &Transmit) -> Vec<Transmit> {
    for _ in 0..20 {
        let due = sim.s.poll_timeout().expect("a timer is pending");
        sim.now = due;
        sim.s.handle_timeout(due);
        let out: Vec<Transmit> = drain(&mut sim.s)
            .into_iter()
            .filter(|t| t.payload != d.payload)
            .collect();
        if !out.is_empty() {
            return out;
        }
    }
    panic!("nothing but retransmissions");
}

#[test]
fn an_unreachable_gateway_endpoint_is_forgotten_and_the_copy_resent_on_another() {
    for rst in [false, true] {
        let mut sim = two_endpoints();
        let (a, out) = sim.call(
            UE1,
            &msg(
                "ue-1",
                &to_ue("gw"),
                "d-1",
                r#","deliveryStatusRequired":true"#,
            ),
        );
        assert_eq!(view(&a).header.code, Code::CHANGED);
        let d = only(out, GW);
        let out = if rst {
            sim.feed(GW, &crate::coap::build::reset(view(&d).header.mid))
        } else {
            // No ACK through MAX_RETRANSMIT: the endpoint is gone.
            until_other_than(&mut sim, &d)
        };
        // The same copy goes to the other endpoint; no IMDN FAILURE to the sender.
        let again = only(out, GW_OTHER_PORT);
        assert_eq!(downlink_msg(&again).message_id, "d-1");
        assert!(sim
            .feed(GW_OTHER_PORT, &answer(&again, Code::CHANGED))
            .is_empty());
        assert_eq!(get(&sim.stats().messages_delivered), 3);
        assert_eq!(get(&sim.stats().messages_failed), 0);
        assert_eq!(get(&sim.stats().gateway_endpoints_pruned), 1);
        assert_eq!(get(&sim.stats().downlink_resent), 1);
        // Later copies only go to the live endpoint.
        for i in 0..3 {
            let (_, out) = sim.call(UE1, &msg("ue-1", &to_ue("gw"), &format!("e-{i}"), ""));
            only(out, GW_OTHER_PORT);
        }
    }
}

#[test]
fn a_copy_no_endpoint_takes_is_reported_failed_not_left_accepted() {
    let mut sim = two_endpoints();
    let (a, out) = sim.call(
        UE1,
        &msg(
            "ue-1",
            &to_ue("gw"),
            "d-1",
            r#","deliveryStatusRequired":true"#,
        ),
    );
    assert_eq!(view(&a).header.code, Code::CHANGED);
    let d = only(out, GW);
    let again = only(
        sim.feed(GW, &crate::coap::build::reset(view(&d).header.mid)),
        GW_OTHER_PORT,
    );
    // The last endpoint is gone too: IMDN FAILURE to the sender (it asked for one).
    let out = sim.feed(
        GW_OTHER_PORT,
        &crate::coap::build::reset(view(&again).header.mid),
    );
    let r = downlink_imdn(&only(out, UE1));
    assert_eq!(r.original_message_id, "d-1");
    assert_eq!(r.failure_cause.as_deref(), Some("RECIPIENT_UNREACHABLE"));
    assert_eq!(get(&sim.stats().messages_failed), 1);
    assert_eq!(get(&sim.stats().gateway_endpoints_pruned), 2);
}

#[test]
fn a_restarted_gateway_s_old_endpoints_are_forgotten() {
    let mut sim = two_endpoints();
    // ue-3 registered through the gateway's old endpoint.
    sim.bulk(&["ue-3"]);
    // The gateway restarts: new ports, it registers itself again, then aggregates from another.
    sim.reg(NEW1, "gw");
    assert_eq!(get(&sim.stats().gateway_endpoints_pruned), 2);
    agg_from(&mut sim, NEW2, "x-3");
    // Downlink to the gateway's own ID and to a UE behind it reaches only the new endpoints.
    let mut destinations = Vec::new();
    for (i, to) in ["gw", "ue-3", "gw", "ue-3"].iter().enumerate() {
        let (a, out) = sim.call(UE1, &msg("ue-1", &to_ue(to), &format!("n-{i}"), ""));
        assert_eq!(view(&a).header.code, Code::CHANGED);
        assert_eq!(out.len(), 1);
        destinations.push(out[0].destination);
    }
    assert_eq!(
        destinations,
        vec![addr(NEW1), addr(NEW2), addr(NEW1), addr(NEW2)]
    );
}

#[test]
fn delivery_attempts_bound_the_re_sends() {
    let mut c = ServerConfig::default();
    c.messaging.delivery_attempts = 1;
    let mut sim = Sim::new(c);
    sim.reg(UE1, "ue-1");
    sim.reg(GW, "gw");
    agg_from(&mut sim, GW, "x-1");
    agg_from(&mut sim, GW_OTHER_PORT, "x-2");
    let (_, out) = sim.call(
        UE1,
        &msg(
            "ue-1",
            &to_ue("gw"),
            "d-1",
            r#","deliveryStatusRequired":true"#,
        ),
    );
    let d = only(out, GW);
    // Forgotten, but not re-sent: the sender hears of the failure.
    let out = sim.feed(GW, &crate::coap::build::reset(view(&d).header.mid));
    let r = downlink_imdn(&only(out, UE1));
    assert_eq!(r.original_message_id, "d-1");
    assert_eq!(get(&sim.stats().downlink_resent), 0);
    assert_eq!(get(&sim.stats().gateway_endpoints_pruned), 1);
}

/// A gateway's own `REG` declaring itself (`gatewayUeServiceId`).
fn declared_gateway_reg(id: &str) -> String {
    format!(r#"{{"messageType":"REG","ueServiceId":"{id}","gatewayUeServiceId":"{id}"}}"#)
}

#[test]
fn single_requests_from_any_port_of_a_declared_gateways_host_are_its_uplinks() {
    let mut c = ServerConfig::default();
    c.policy.allowed_gateways = None;
    let mut sim = Sim::new(c);
    sim.reg(UE1, "ue-r");
    // A plain UE at the gateway's host first: another port of it is not the UE.
    sim.reg(NEW1, "ue-nat");
    let (a, _) = sim.call(NEW2, &msg("ue-nat", &to_ue("ue-r"), "n-1", ""));
    assert_eq!(
        verdict(&a).2.as_deref(),
        Some("UNAUTHORIZED"),
        "no gateway declared"
    );
    // The gateway registers itself, declaring it; then a UE's REG comes singly from another
    // port (an uplink never seen in a bulk) and its message from yet another.
    let (a, _) = sim.call(GW, &declared_gateway_reg("gw"));
    assert_eq!(view(&a).header.code, Code::CREATED);
    let (a, _) = sim.call(GW_OTHER_PORT, &reg("ue-1"));
    assert_eq!(view(&a).header.code, Code::CREATED);
    assert!(sim.s.registration("ue-1").unwrap().path.via_gateway());
    let (a, out) = sim.call(NEW1, &msg("ue-1", &to_ue("ue-r"), "g-1", ""));
    assert_eq!(verdict(&a).1, Some(MsgDeliveryStatus::Accepted));
    let d = only(out, UE1);
    assert!(sim.feed(UE1, &answer(&d, Code::CHANGED)).is_empty());
    // The gateway's own (AC) messages from any of its ports too.
    let (a, _) = sim.call(NEW2, &msg("gw", &to_ue("ue-r"), "g-2", ""));
    assert_eq!(verdict(&a).1, Some(MsgDeliveryStatus::Accepted));
    // From another host: refused.
    let (a, _) = sim.call(ELSEWHERE, &msg("ue-1", &to_ue("ue-r"), "g-3", ""));
    assert_eq!(verdict(&a).2.as_deref(), Some("UNAUTHORIZED"));
}

#[test]
fn only_listed_gateways_may_declare_themselves() {
    let mut c = ServerConfig::default();
    c.policy.allowed_gateways = Some(["other".to_string()].into_iter().collect());
    let mut sim = Sim::new(c);
    sim.reg(UE1, "ue-r");
    let (a, _) = sim.call(GW, &declared_gateway_reg("gw"));
    assert_eq!(view(&a).header.code, Code::CREATED);
    sim.reg(GW_OTHER_PORT, "ue-1");
    assert!(!sim.s.registration("ue-1").unwrap().path.via_gateway());
    let (a, _) = sim.call(NEW1, &msg("ue-1", &to_ue("ue-r"), "g-1", ""));
    assert_eq!(verdict(&a).2.as_deref(), Some("UNAUTHORIZED"));
}
