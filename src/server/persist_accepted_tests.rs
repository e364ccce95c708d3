//! Persistence of accepted message copies in delivery (issue 9), in simulated time: written with
//! the turn that accepted them, deleted with their outcome, sent again after a restart.

use super::*;

/// A `MSG` from `from` to `to`; `extra` adds fields (`,"storeAndForward":true` ...).
fn msg(from: &str, to: &str, id: &str, extra: &str) -> String {
    format!(
        r#"{{"messageType":"MSG","messageId":"{id}","originatingUeServiceId":"{from}","recipientUeServiceId":"{to}","payload":"aGk="{extra}}}"#
    )
}

/// A core with persistence on, ue-1 at UE1 and ue-2 at UE2 registered, and its tables.
fn registered() -> (Sim, Tables) {
    let mut tables = Tables::default();
    let mut sim = Sim::new();
    sim.s.restore(sim.now, wall0(), ServerSnapshot::default());
    assert!(sim.code(UE1, &reg("ue-1")).is_success());
    assert!(sim.code(UE2, &reg("ue-2")).is_success());
    tables.apply(sim.s.take_changes());
    (sim, tables)
}

/// Everything a timeout at `now` sends.
fn timeout(sim: &mut Sim) -> Vec<Transmit> {
    sim.s.handle_timeout(sim.now);
    std::iter::from_fn(|| sim.s.poll_transmit()).collect()
}

/// The `MSGRESP` delivery status in the piggybacked answer to the last call.
fn status(sim: &Sim, out: &[Transmit]) -> String {
    let answer = out
        .iter()
        .map(|t| MessageView::parse(&t.payload).expect("CoAP"))
        .find(|v| v.header.mtype == MsgType::Ack && v.header.mid == sim.mid)
        .expect("an answer");
    match crate::msg::decode(answer.payload()) {
        Ok(Payload::MsgResp(r)) => format!("{:?}", r.delivery_status),
        other => panic!("expected MSGRESP, got {other:?}"),
    }
}

#[test]
fn an_accepted_message_is_written_with_its_turn_and_deleted_on_delivery() {
    let (mut sim, mut tables) = registered();
    let out = sim.call(UE1, &msg("ue-1", "ue-2", "m-1", ""));
    assert_eq!(status(&sim, &out), "Some(Accepted)");
    let delivery = only_msg(&out, UE2, "m-1");
    // The turn that answered ACCEPTED carries the copy: the driver writes it before sending.
    let c = sim.s.take_changes();
    assert_eq!((c.len(), c.accepted.len()), (1, 1));
    let (id, record) = c.accepted[0].clone();
    let copy = decode_accepted(record.as_deref().expect("upsert")).expect("a MSG");
    assert_eq!(
        (
            copy.message_id.as_str(),
            copy.recipient_ue_service_id.as_deref()
        ),
        ("m-1", Some("ue-2"))
    );
    tables.apply(c);
    assert_eq!(sim.s.accepted_messages(), 1);
    // The recipient's 2.04 ends it: deleted.
    sim.s
        .handle_datagram(sim.now, addr(UE2), &piggybacked(&delivery, Code::CHANGED));
    assert_eq!(sim.s.take_changes().accepted, vec![(id, None)]);
    assert_eq!(sim.s.accepted_messages(), 0);
}

#[test]
fn an_accepted_message_is_delivered_again_after_a_restart() {
    let (mut a, mut tables) = registered();
    let out = a.call(UE1, &msg("ue-1", "ue-2", "m-1", ""));
    let first = only_msg(&out, UE2, "m-1");
    tables.apply(a.s.take_changes());
    // The recipient has not answered when the server is killed.
    drop(a);

    let mut b = Sim::new();
    b.now += Duration::from_secs(3);
    let restored = b.s.restore(b.now, wall0(), tables.snapshot());
    assert_eq!((restored.registrations, restored.accepted), (2, 1));
    assert_eq!(b.s.poll_timeout(), Some(b.now), "sent again at once");
    let out = timeout(&mut b);
    let again = only_msg(&out, UE2, "m-1");
    assert_eq!(b.s.stats().accepted_resent.load(Ordering::Relaxed), 1);
    // The same copy (same Message ID and body), as a new request of the new process.
    let body = |t: &Transmit| MessageView::parse(&t.payload).unwrap().payload().to_vec();
    assert_eq!(body(&again), body(&first));
    assert!(
        b.s.take_changes().is_empty(),
        "sending again writes nothing"
    );
    b.s.handle_datagram(b.now, addr(UE2), &piggybacked(&again, Code::CHANGED));
    tables.apply(b.s.take_changes());
    assert!(tables.accepted.is_empty(), "deleted once delivered");
    assert_eq!(b.s.stats().messages_delivered.load(Ordering::Relaxed), 1);
    // Exactly once: nothing goes out later.
    b.now += Duration::from_secs(300);
    assert!(timeout(&mut b).is_empty());
}

#[test]
fn a_restored_copy_that_fails_is_stored_as_the_sender_asked() {
    let (mut a, mut tables) = registered();
    let out = a.call(
        UE1,
        &msg("ue-1", "ue-2", "m-1", r#","storeAndForward":true"#),
    );
    assert_eq!(status(&a, &out), "Some(Accepted)");
    tables.apply(a.s.take_changes());
    drop(a);

    let mut b = Sim::new();
    b.s.restore(b.now, wall0(), tables.snapshot());
    let out = timeout(&mut b);
    let again = only_msg(&out, UE2, "m-1");
    b.s.handle_datagram(
        b.now,
        addr(UE2),
        &piggybacked(&again, Code::SERVICE_UNAVAILABLE),
    );
    // One write moves it from the accepted table to the store.
    let c = b.s.take_changes();
    assert_eq!((c.accepted.len(), c.stored.len()), (1, 1));
    assert!(c.accepted[0].1.is_none() && c.stored[0].1.is_some());
    tables.apply(c);
    assert_eq!((b.s.accepted_messages(), b.s.stored_messages()), (0, 1));
}

#[test]
fn a_restored_copy_for_a_recipient_gone_is_reported_failed() {
    let (mut a, mut tables) = registered();
    let dsr = r#","deliveryStatusRequired":true"#;
    let out = a.call(UE1, &msg("ue-1", "ue-2", "m-1", dsr));
    only_msg(&out, UE2, "m-1");
    // The recipient de-registers while its copy is in flight; then kill -9.
    assert!(a.code(UE2, &dereg("ue-2")).is_success());
    tables.apply(a.s.take_changes());
    assert_eq!(tables.accepted.len(), 1);
    drop(a);

    let mut b = Sim::new();
    b.s.restore(b.now, wall0(), tables.snapshot());
    let out = timeout(&mut b);
    // No copy to ue-2 (not registered): an IMDN FAILURE to the sender instead.
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].destination, addr(UE1));
    let v = MessageView::parse(&out[0].payload).expect("CoAP");
    match crate::msg::decode(v.payload()) {
        Ok(Payload::Imdn(r)) => {
            assert_eq!(r.original_message_id, "m-1");
            assert_eq!(r.failure_cause.as_deref(), Some("RECIPIENT_UNREACHABLE"));
        }
        other => panic!("expected IMDN, got {other:?}"),
    }
    assert_eq!(b.s.take_changes().accepted.len(), 1, "deleted");
    assert_eq!(b.s.accepted_messages(), 0);
}

#[test]
fn restored_copies_wait_for_room_in_acceptance_order() {
    let (mut a, mut tables) = registered();
    for id in ["m-1", "m-2", "m-3"] {
        let out = a.call(UE1, &msg("ue-1", "ue-2", id, ""));
        assert_eq!(status(&a, &out), "Some(Accepted)");
    }
    tables.apply(a.s.take_changes());
    drop(a);

    // The new process allows one outstanding delivery.
    let mut config = ServerConfig::default();
    config.messaging.max_outstanding_deliveries = 1;
    let mut b = Sim {
        s: ServerCore::new(config, 9),
        now: Instant::now(),
        mid: 900,
    };
    b.s.restore(b.now, wall0(), tables.snapshot());
    let mut delivered = Vec::new();
    let mut out = timeout(&mut b);
    while let Some(t) = out.first().cloned() {
        assert_eq!(out.len(), 1, "one at a time: {out:?}");
        let v = MessageView::parse(&t.payload).expect("CoAP");
        let Ok(Payload::Msg(m)) = crate::msg::decode(v.payload()) else {
            panic!("expected MSG");
        };
        delivered.push(m.message_id);
        b.s.handle_datagram(b.now, addr(UE2), &piggybacked(&t, Code::CHANGED));
        out = std::iter::from_fn(|| b.s.poll_transmit()).collect();
    }
    assert_eq!(delivered, ["m-1", "m-2", "m-3"], "in acceptance order");
    tables.apply(b.s.take_changes());
    assert!(tables.accepted.is_empty());
}
