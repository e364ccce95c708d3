//! Persistence in simulated time (issue 9): the journal record of a request is taken in the
//! turn of its empty ACK (or, NON, of its acceptance) and deleted with its answer; a restored
//! journal re-submits each request and answers its device once, as a separate response; a
//! record whose device has given up is dropped; the journal bound; directory changes tracked.

use super::*;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

fn wall0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// Journal records written (`Some`) and deleted (`None`) by one `take_changes`.
fn journal(sim: &mut Sim) -> (Vec<(u64, Vec<u8>)>, Vec<u64>) {
    let changes = sim.gw.take_changes();
    let mut written = Vec::new();
    let mut deleted = Vec::new();
    for (id, record) in changes.journal {
        match record {
            Some(r) => written.push((id, r)),
            None => deleted.push(id),
        }
    }
    (written, deleted)
}

/// A gateway with persistence on, whose server is silent for now.
fn silent_sim() -> Sim {
    let mut sim = Sim::with_server(config());
    sim.gw.enable_persistence(sim.now, wall0());
    sim.cut_upstream = true;
    sim
}

#[test]
fn a_request_is_journaled_in_the_turn_of_its_empty_ack_and_forgotten_with_its_answer() {
    let mut sim = silent_sim();
    sim.device(dev(1), &reg(40, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(400));
    // Inside the piggyback window (500 ms): the device still retransmits, nothing is journaled.
    assert!(sim.to_devices.is_empty());
    assert_eq!(journal(&mut sim), (Vec::new(), Vec::new()));
    // The window ends: the empty ACK is queued and, in the same turn, the record to write.
    sim.gw.handle_timeout(sim.now + Duration::from_millis(100));
    let (written, _) = journal(&mut sim);
    assert_eq!(written.len(), 1);
    assert_eq!(sim.gw.journal_len(), 1);
    let (side, ack) = sim.gw.poll_transmit().expect("the empty ACK");
    assert_eq!(side, Side::Device);
    let ack = MessageView::parse(&ack.payload).unwrap().header;
    assert_eq!(
        (ack.mtype, ack.code, ack.mid),
        (MsgType::Ack, Code::EMPTY, 40)
    );
    sim.now += Duration::from_millis(100);
    sim.pump();
    // The server comes back: the bulk's retransmission is answered, the device gets its
    // separate response, and the record goes.
    sim.cut_upstream = false;
    sim.advance(Duration::from_secs(10));
    let a = sim.distinct_answers_to(dev(1));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.mtype, MsgType::Con);
    assert_eq!(a[0].view().header.code, Code::CREATED);
    let (written2, deleted) = journal(&mut sim);
    assert!(written2.is_empty());
    assert_eq!(deleted, vec![written[0].0]);
    assert_eq!(sim.gw.journal_len(), 0);
}

#[test]
fn a_non_request_is_journaled_when_accepted_and_piggybacked_ones_never() {
    let mut sim = Sim::with_server(config());
    sim.gw.enable_persistence(sim.now, wall0());
    let non = request(
        MsgType::Non,
        5,
        tok(5),
        r#"{"messageType":"REG","ueServiceId":"ue-5"}"#,
    );
    sim.device(dev(5), &non);
    let (written, _) = journal(&mut sim);
    assert_eq!(
        written.len(),
        1,
        "a NON is never retransmitted: journaled at once"
    );
    // A CON answered within its piggyback window: no record at all.
    sim.device(dev(6), &reg(6, tok(6), "ue-6"));
    sim.advance(Duration::from_millis(600));
    assert_eq!(sim.distinct_answers_to(dev(6)).len(), 1);
    assert_eq!(
        sim.distinct_answers_to(dev(6))[0].view().header.mtype,
        MsgType::Ack
    );
    let (written, deleted) = journal(&mut sim);
    assert!(written.is_empty());
    // The NON's record went with its answer.
    assert_eq!(deleted.len(), 1);
    assert_eq!(sim.gw.journal_len(), 0);
}

/// Journal records of two acknowledged requests (REG, and an aggregated MSG of a registered
/// UE) and one NON, with the server silent.
fn journaled_requests(sim: &mut Sim) -> Vec<(u64, Vec<u8>)> {
    sim.device(dev(1), &reg(40, tok(1), "ue-1"));
    let non = request(
        MsgType::Non,
        41,
        tok(2),
        r#"{"messageType":"REG","ueServiceId":"ue-2"}"#,
    );
    sim.device(dev(2), &non);
    sim.advance(Duration::from_millis(1500));
    let acks = sim
        .to_devices
        .iter()
        .filter(|s| s.view().header.code.is_empty())
        .count();
    assert_eq!(acks, 1, "one empty ACK (the CON), nothing for the NON yet");
    let (written, _) = journal(sim);
    assert_eq!(written.len(), 2);
    written
}

#[test]
fn a_restored_journal_resubmits_each_request_and_answers_it_once_as_a_separate_response() {
    let mut before = silent_sim();
    let records = journaled_requests(&mut before);
    drop(before); // kill -9

    // Restart 5 s later (wall clock) against a server that answers.
    let mut sim = Sim::with_server(config());
    sim.gw
        .enable_persistence(sim.now, wall0() + Duration::from_secs(5));
    let restored = sim.gw.restore_journal(sim.now, records.clone());
    assert_eq!(
        restored,
        RestoredJournal {
            restored: 2,
            expired: 0,
            skipped: 0
        }
    );
    assert_eq!(sim.gw.journal_len(), 2);
    sim.pump();
    sim.advance(Duration::from_secs(2));
    assert!(!sim.bulks().is_empty(), "re-submitted upstream");
    let a = sim.distinct_answers_to(dev(1));
    assert_eq!(a.len(), 1, "exactly one final answer");
    let v = a[0].view();
    // RFC 7252 §5.2.2: a separate CON response with the original Token and a fresh Message ID.
    assert_eq!(v.header.mtype, MsgType::Con);
    assert_eq!(v.header.token, tok(1));
    assert_ne!(v.header.mid, 40);
    assert_eq!(v.header.code, Code::CREATED);
    assert_eq!(a[0].result(), (RegResult::Success, None));
    // The NON request gets a NON response with its Token.
    let a = sim.distinct_answers_to(dev(2));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].view().header.mtype, MsgType::Non);
    assert_eq!(a[0].view().header.token, tok(2));
    // Both records are deleted; nothing more is sent later.
    let (written, mut deleted) = journal(&mut sim);
    assert!(written.is_empty());
    deleted.sort_unstable();
    let mut ids: Vec<u64> = records.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    assert_eq!(deleted, ids);
    sim.device(dev(1), &crate::coap::build::empty_ack(v.header.mid));
    sim.advance(Duration::from_secs(120));
    assert_eq!(sim.distinct_answers_to(dev(1)).len(), 1);
    assert_eq!(sim.gw.stats().journal_restored.load(Ordering::Relaxed), 2);
    // The UE registered by the re-submitted request is in the directory again.
    assert!(sim.gw.directory().client("ue-1").is_some());
    assert!(sim.gw.is_drained());
}

#[test]
fn a_journaled_request_whose_device_gave_up_is_dropped_at_restore() {
    let mut before = silent_sim();
    let records = journaled_requests(&mut before);
    drop(before);
    // 100 s later: the CON's device gave up (receipt + 93 s - 2 s); the NON (145 s) has not.
    let mut sim = Sim::with_server(config());
    sim.gw
        .enable_persistence(sim.now, wall0() + Duration::from_secs(100));
    let restored = sim.gw.restore_journal(sim.now, records);
    assert_eq!((restored.restored, restored.expired), (1, 1));
    sim.advance(Duration::from_secs(2));
    assert!(sim.answers_to(dev(1)).is_empty(), "no answer after give-up");
    assert_eq!(sim.distinct_answers_to(dev(2)).len(), 1);
    assert_eq!(sim.gw.stats().journal_expired.load(Ordering::Relaxed), 1);
    // The dropped record is deleted too.
    let (_, deleted) = journal(&mut sim);
    assert_eq!(deleted.len(), 2);
}

#[test]
fn a_full_journal_answers_503_instead_of_an_empty_ack() {
    let mut sim = Sim::with_server(GatewayConfig {
        max_journal: 1,
        ..config()
    });
    sim.gw.enable_persistence(sim.now, wall0());
    sim.cut_upstream = true;
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.device(dev(2), &reg(2, tok(2), "ue-2"));
    sim.advance(Duration::from_millis(1100));
    let first = &sim.to_devices.iter().find(|s| s.to == dev(1)).unwrap();
    assert_eq!(first.view().header.code, Code::EMPTY);
    let second = sim.distinct_answers_to(dev(2));
    assert_eq!(second.len(), 1);
    let v = second[0].view();
    assert_eq!((v.header.mtype, v.header.mid), (MsgType::Ack, 2));
    assert_eq!(v.header.code, Code::SERVICE_UNAVAILABLE);
    assert!(v.max_age().is_some());
    assert_eq!(sim.gw.stats().journal_full.load(Ordering::Relaxed), 1);
    assert_eq!(sim.gw.journal_len(), 1);
}

#[test]
fn directory_changes_are_tracked_only_when_persisting() {
    let mut sim = Sim::with_server(config());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(600));
    assert!(
        sim.gw.take_changes().is_empty(),
        "in memory: nothing tracked"
    );

    let mut sim = Sim::with_server(config());
    sim.gw.enable_persistence(sim.now, wall0());
    sim.device(dev(1), &reg(1, tok(1), "ue-1"));
    sim.advance(Duration::from_millis(600));
    let changes = sim.gw.take_changes();
    assert_eq!(changes.clients, vec![Arc::<str>::from("ue-1")]);
    sim.device(dev(1), &dereg(2, tok(2), "ue-1"));
    sim.advance(Duration::from_millis(600));
    assert_eq!(sim.gw.take_changes().clients.len(), 1);
    assert!(sim.gw.directory().client("ue-1").is_none());
    // An Application Client registration is tracked by its Registration ID.
    let app = request(
        MsgType::Con,
        3,
        tok(3),
        r#"{"messageType":"REGISTRATION REQUEST","applicationId":"app-1"}"#,
    );
    sim.device(dev(3), &app);
    let changes = sim.gw.take_changes();
    assert_eq!(changes.apps.len(), 1);
    assert!(sim.gw.directory().app(changes.apps[0]).is_some());
    // A failed write is retried with the next one.
    sim.gw.retry_changes(changes);
    assert_eq!(sim.gw.take_changes().apps.len(), 1);
}

#[test]
fn an_application_clients_journaled_message_is_answered_in_its_own_vocabulary_after_restore() {
    let mut before = silent_sim();
    let register = request(
        MsgType::Con,
        1,
        tok(1),
        r#"{"messageType":"REGISTRATION REQUEST","applicationId":"app-1"}"#,
    );
    before.device(dev(1), &register);
    let send = request(
        MsgType::Con,
        2,
        tok(2),
        r#"{"messageType":"MESSAGE SENDING REQUEST","messageId":"m-1","targetAddress":"as-1","targetType":"AS","payload":"AQI=","deliveryStatusRequired":true}"#,
    );
    before.device(dev(1), &send);
    before.advance(Duration::from_millis(1000));
    let changes = before.gw.take_changes();
    assert_eq!(changes.apps.len(), 1);
    assert_eq!(changes.reports, vec![Arc::<str>::from("m-1")]);
    let records: Vec<(u64, Vec<u8>)> = changes
        .journal
        .into_iter()
        .filter_map(|(id, r)| Some((id, r?)))
        .collect();
    assert_eq!(records.len(), 1, "the message got its empty ACK");
    drop(before);

    let mut sim = Sim::with_server(config());
    sim.gw
        .enable_persistence(sim.now, wall0() + Duration::from_secs(3));
    assert_eq!(sim.gw.restore_journal(sim.now, records).restored, 1);
    sim.advance(Duration::from_secs(2));
    let aggregate = sim.bulks();
    assert!(
        aggregate.iter().any(|p| matches!(p, Payload::AggMsg(_))),
        "{aggregate:?}"
    );
    let a = sim.distinct_answers_to(dev(1));
    let answers: Vec<&Seen> = a
        .iter()
        .filter(|s| s.view().header.token == tok(2))
        .collect();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].view().header.mtype, MsgType::Con);
    assert!(matches!(
        msg::decode(answers[0].view().payload()),
        Ok(Payload::MsgSendingResp(_))
    ));
}
