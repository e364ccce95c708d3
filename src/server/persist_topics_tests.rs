//! Persistence of messaging topic subscriptions (23.554 §8.8; issue 12 D7): written per
//! subscriber with the turn that changed them, reloaded after a restart with their wall-clock
//! expiry, in a real data directory and in simulated time.

use super::*;
use crate::msg::format_rfc3339;
use crate::server::records::decode_subscriptions;

/// A `TOPICSUB` (or `TOPICUNSUB`) of `topics` by `ue`; `extra` adds fields.
fn subscription(kind: &str, ue: &str, topics: &[&str], extra: &str) -> String {
    let list: Vec<String> = topics.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"{{"messageType":"{kind}","originatingUeServiceId":"{ue}","messagingTopics":[{}]{extra}}}"#,
        list.join(",")
    )
}

fn publish(from: &str, topic: &str, id: &str) -> String {
    format!(
        r#"{{"messageType":"MSG","messageId":"{id}","originatingUeServiceId":"{from}","messagingTopic":"{topic}","payload":"aGk="}}"#
    )
}

/// The topic of the one downlink `MSG` in `out` (sent to `to`, Message ID `id`).
fn topic_of(out: &[Transmit], to: &str, id: &str) -> Option<String> {
    let t = only_msg(out, to, id);
    let v = MessageView::parse(&t.payload).expect("CoAP");
    match crate::msg::decode(v.payload()) {
        Ok(Payload::Msg(m)) => m.recipient_topic,
        other => panic!("expected MSG, got {other:?}"),
    }
}

#[test]
fn subscriptions_survive_a_restart_of_a_data_dir() {
    let dir = temp_dir("topics");
    let mut db = ServerDb::open(&dir).expect("open");
    let mut a = Sim::new();
    let snapshot = db.load().unwrap();
    a.s.restore(a.now, wall0(), snapshot);
    assert!(a.code(UE1, &reg("ue-1")).is_success());
    assert!(a.code(UE2, &reg("ue-2")).is_success());
    let sub = subscription("TOPICSUB", "ue-2", &["t", "u"], "");
    assert_eq!(a.code(UE2, &sub), Code::CREATED);
    db.apply(a.s.take_changes()).unwrap();
    drop(db);
    // Restarted ten minutes later.
    let db = ServerDb::open(&dir).expect("reopen");
    let mut b = Sim::new();
    let restored = b.s.restore(
        b.now,
        wall0() + Duration::from_secs(600),
        db.load().unwrap(),
    );
    assert_eq!((restored.topic_subscriptions, restored.skipped), (2, 0));
    assert_eq!(b.s.topic_subscriptions(), 2);
    assert_eq!(b.s.stats().topic_subscriptions.load(Ordering::Relaxed), 2);
    assert!(b.s.take_changes().is_empty(), "loading writes nothing");
    let out = b.call(UE1, &publish("ue-1", "t", "m-1"));
    assert_eq!(topic_of(&out, UE2, "m-1").as_deref(), Some("t"));
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_subscription_that_expired_meanwhile_ends_at_the_first_timeout() {
    let mut tables = Tables::default();
    let mut a = Sim::new();
    a.s.restore(a.now, wall0(), ServerSnapshot::default());
    assert!(a.code(UE1, &reg("ue-1")).is_success());
    let until = format_rfc3339(wall0() + Duration::from_secs(60));
    let extra = format!(r#","expiration":"{until}""#);
    a.code(UE1, &subscription("TOPICSUB", "ue-1", &["short"], &extra));
    a.code(UE1, &subscription("TOPICSUB", "ue-1", &["long"], ""));
    tables.apply(a.s.take_changes());
    let mut b = Sim::new();
    let restored =
        b.s.restore(b.now, wall0() + Duration::from_secs(120), tables.snapshot());
    assert_eq!(restored.topic_subscriptions, 2);
    b.s.handle_timeout(b.now);
    assert_eq!(b.s.topic_subscriptions(), 1);
    assert_eq!(
        b.s.stats()
            .topic_subscriptions_expired
            .load(Ordering::Relaxed),
        1
    );
    // The record is written again without the expired topic.
    tables.apply(b.s.take_changes());
    let mut c = Sim::new();
    let restored = c.s.restore(c.now, wall0(), tables.snapshot());
    assert_eq!(restored.topic_subscriptions, 1);
    assert!(c.s.topics.subscribers("long", c.now).next().is_some());
}

#[test]
fn unsubscribing_and_deregistering_delete_the_record_and_failed_writes_retry() {
    let mut sim = Sim::new();
    sim.s.restore(sim.now, wall0(), ServerSnapshot::default());
    assert!(sim.code(UE1, &reg("ue-1")).is_success());
    sim.s.take_changes();
    sim.code(UE1, &subscription("TOPICSUB", "ue-1", &["a", "b"], ""));
    let c = sim.s.take_changes();
    assert_eq!(c.len(), 1);
    let (key, record) = &c.topic_subscriptions[0];
    assert_eq!(key, "UE:ue-1");
    let topics = decode_subscriptions(record.as_deref().expect("upsert")).unwrap();
    let max = wall0() + Duration::from_secs(30 * 24 * 3600);
    assert_eq!(topics, [("a".to_string(), max), ("b".to_string(), max)]);
    // A failed write: the subscriber's current state is written next time.
    sim.s.retry_changes(&c);
    assert!(sim.s.has_changes());
    sim.code(UE1, &subscription("TOPICUNSUB", "ue-1", &["a"], ""));
    let c = sim.s.take_changes();
    let record = c.topic_subscriptions[0].1.as_deref().expect("upsert");
    assert_eq!(decode_subscriptions(record).unwrap().len(), 1);
    // An unsubscription that changes nothing writes nothing.
    sim.code(UE1, &subscription("TOPICUNSUB", "ue-1", &["a"], ""));
    assert!(!sim.s.has_changes());
    // DEREG ends the rest: the record is deleted with the registration.
    assert_eq!(sim.code(UE1, &dereg("ue-1")), Code::CHANGED);
    let c = sim.s.take_changes();
    assert_eq!(c.topic_subscriptions, vec![("UE:ue-1".into(), None)]);
    assert_eq!(c.registrations, vec![("ue-1".into(), None)]);
}

#[test]
fn a_data_dir_without_the_subscription_table_opens_with_none() {
    let dir = temp_dir("topics-old");
    std::fs::create_dir_all(&dir).unwrap();
    {
        // A file of layout 1 written before `topic_subscriptions` existed.
        let raw = redb::Database::create(dir.join(DB_FILE)).unwrap();
        let txn = raw.begin_write().unwrap();
        txn.open_table(crate::store::META)
            .unwrap()
            .insert("schema_version", crate::server::db::SCHEMA_VERSION)
            .unwrap();
        let regs: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("registrations");
        let record = encode_registration(&Registration {
            path: DownlinkPath::Direct(addr(UE1)),
            client_address: None,
            client_profile: None,
            gateway_ue: false,
        });
        txn.open_table(regs)
            .unwrap()
            .insert("ue-1", record.as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let mut db = ServerDb::open(&dir).expect("an older file opens");
    let snapshot = db.load().unwrap();
    assert_eq!(snapshot.registrations.len(), 1);
    assert!(snapshot.topic_subscriptions.is_empty());
    // And takes subscriptions from then on.
    let mut sim = Sim::new();
    sim.s.restore(sim.now, wall0(), snapshot);
    let sub = subscription("TOPICSUB", "ue-1", &["t"], "");
    assert_eq!(sim.code(UE1, &sub), Code::CREATED);
    db.apply(sim.s.take_changes()).unwrap();
    drop(db);
    let db = ServerDb::open(&dir).unwrap();
    assert_eq!(db.load().unwrap().topic_subscriptions.len(), 1);
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}
