//! Persistence: record encoding, the change list, restore (simulated time), the `redb` store.

use super::*;
use crate::coap::types::option;
use crate::coap::{Code, MessageBuilder, MessageView, MsgType, Token, Transmit};
use crate::msg::{Message, Payload, TargetType};
use crate::server::db::DB_FILE;
use crate::server::records::{
    decode_accepted, decode_registration, decode_stored, encode_registration, encode_stored,
};
use crate::server::{DownlinkPath, Registration, ServerConfig, ServerDb};
use crate::store::StoreError;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

const UE1: &str = "192.0.2.11:5683";
const UE2: &str = "192.0.2.12:5683";
const GW: &str = "192.0.2.9:40000";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// A core, a simulated clock and a Message ID counter.
struct Sim {
    s: ServerCore,
    now: Instant,
    mid: u16,
}

impl Sim {
    fn new() -> Sim {
        let mut config = ServerConfig::default();
        config.messaging.store_max_time = Duration::from_secs(3600);
        Sim {
            s: ServerCore::new(config, 7),
            now: Instant::now(),
            mid: 100,
        }
    }

    /// CON POST `body` from `from`; everything the core sent.
    fn call(&mut self, from: &str, body: &str) -> Vec<Transmit> {
        self.mid = self.mid.wrapping_add(1);
        let token = Token::from_u64(u64::from(self.mid));
        let req = MessageBuilder::new(MsgType::Con, Code::POST, self.mid, token)
            .uri_path("msgin5g")
            .uint_option(option::CONTENT_FORMAT, 50)
            .payload(body.as_bytes());
        self.s.handle_datagram(self.now, addr(from), &req);
        std::iter::from_fn(|| self.s.poll_transmit()).collect()
    }

    /// The piggybacked answer's code to a call.
    fn code(&mut self, from: &str, body: &str) -> Code {
        let out = self.call(from, body);
        let mid = self.mid;
        out.iter()
            .map(|t| MessageView::parse(&t.payload).expect("CoAP"))
            .find(|v| v.header.mtype == MsgType::Ack && v.header.mid == mid)
            .expect("an answer")
            .header
            .code
    }
}

fn reg(id: &str) -> String {
    format!(r#"{{"messageType":"REG","ueServiceId":"{id}","clientAddress":"a-{id}"}}"#)
}

fn dereg(id: &str) -> String {
    format!(r#"{{"messageType":"DEREG","ueServiceId":"{id}"}}"#)
}

fn stored_msg(from: &str, to: &str, id: &str) -> String {
    format!(
        r#"{{"messageType":"MSG","messageId":"{id}","originatingUeServiceId":"{from}","recipientUeServiceId":"{to}","payload":"aGk=","storeAndForward":true}}"#
    )
}

fn bulk_reg(ids: &[&str]) -> String {
    let elems: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"ueServiceId":"{id}"}}"#))
        .collect();
    format!(
        r#"{{"messageType":"BULKREG","gatewayUeServiceId":"gw","numberOfRegistrationRequests":{},"registrationRequests":[{}]}}"#,
        ids.len(),
        elems.join(",")
    )
}

/// An in-memory stand-in for the database: applies changes, yields snapshots.
#[derive(Default)]
struct Tables {
    regs: BTreeMap<String, Vec<u8>>,
    ases: BTreeMap<String, String>,
    stored: BTreeMap<u64, Vec<u8>>,
    accepted: BTreeMap<u64, Vec<u8>>,
    topics: BTreeMap<String, Vec<u8>>,
}

impl Tables {
    fn apply(&mut self, c: ServerChanges) {
        for (k, v) in c.registrations {
            match v {
                Some(v) => self.regs.insert(k, v),
                None => self.regs.remove(&k),
            };
        }
        for (k, v) in c.as_registrations {
            match v {
                Some(v) => self.ases.insert(k, v),
                None => self.ases.remove(&k),
            };
        }
        for (k, v) in c.stored {
            match v {
                Some(v) => self.stored.insert(k, v),
                None => self.stored.remove(&k),
            };
        }
        for (k, v) in c.accepted {
            match v {
                Some(v) => self.accepted.insert(k, v),
                None => self.accepted.remove(&k),
            };
        }
        for (k, v) in c.topic_subscriptions {
            match v {
                Some(v) => self.topics.insert(k, v),
                None => self.topics.remove(&k),
            };
        }
    }

    fn snapshot(&self) -> ServerSnapshot {
        ServerSnapshot {
            registrations: self.regs.clone().into_iter().collect(),
            as_registrations: self.ases.clone().into_iter().collect(),
            stored: self.stored.clone().into_iter().collect(),
            accepted: self.accepted.clone().into_iter().collect(),
            topic_subscriptions: self.topics.clone().into_iter().collect(),
        }
    }
}

fn wall0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

#[test]
fn records_round_trip() {
    for reg in [
        Registration {
            path: DownlinkPath::Direct(addr(UE1)),
            client_address: Some("c".into()),
            client_profile: Some(r#"{"x":[1,"y"]}"#.into()),
            gateway_ue: true,
        },
        Registration {
            path: DownlinkPath::Gateway {
                address: addr(GW),
                gateway_ue_service_id: Some("gw".into()),
            },
            client_address: None,
            client_profile: None,
            gateway_ue: false,
        },
    ] {
        assert_eq!(decode_registration(&encode_registration(&reg)), Some(reg));
    }
    let m = Message {
        message_id: "m-1".into(),
        originating_ue_service_id: Some("ue-1".into()),
        recipient_ue_service_id: Some("ue-2".into()),
        payload: Some("aGk=".into()),
        delivery_status_required: true,
        store_and_forward: true,
        ..Default::default()
    };
    let at = wall0() + Duration::from_millis(1234);
    let bytes = encode_stored(TargetType::Ue, "ue-2", at, &m);
    assert_eq!(
        decode_stored(&bytes),
        Some((TargetType::Ue, "ue-2".to_owned(), at, m))
    );
    assert_eq!(decode_registration(b"{"), None);
    assert_eq!(decode_stored(b"[]"), None);
}

#[test]
fn changes_are_tracked_per_key_after_restore_only() {
    let mut sim = Sim::new();
    assert!(sim.code(UE1, &reg("ue-0")).is_success());
    assert!(
        sim.s.take_changes().is_empty(),
        "not tracked before restore"
    );

    sim.s.restore(sim.now, wall0(), ServerSnapshot::default());
    assert!(sim.code(UE1, &reg("ue-1")).is_success());
    let c = sim.s.take_changes();
    assert_eq!(c.len(), 1);
    let record = c.registrations[0].1.as_deref().expect("upsert");
    assert_eq!(
        decode_registration(record).map(|r| r.client_address),
        Some(Some("a-ue-1".into()))
    );
    // The same registration again changes nothing; a new address does.
    assert!(sim.code(UE1, &reg("ue-1")).is_success());
    assert!(sim.s.take_changes().is_empty());
    assert!(sim.code(UE2, &reg("ue-1")).is_success());
    assert_eq!(sim.s.take_changes().len(), 1);
    // Several changes of one key within a turn: one record, its final state.
    assert!(sim.code(UE1, &reg("ue-5")).is_success());
    assert!(sim.code(UE1, &dereg("ue-5")).is_success());
    let c = sim.s.take_changes();
    assert_eq!(c.registrations, vec![("ue-5".to_owned(), None)]);
    // AS registrations.
    let as_reg = r#"{"messageType":"REG","asServiceId":"as-1"}"#;
    assert!(sim.code(UE2, as_reg).is_success());
    let c = sim.s.take_changes();
    assert_eq!(
        c.as_registrations,
        vec![("as-1".to_owned(), Some(UE2.to_owned()))]
    );
    // A stored message (ue-1 now sends from UE2), then its delivery when the recipient
    // registers.
    assert!(sim
        .code(UE2, &stored_msg("ue-1", "ue-9", "m-1"))
        .is_success());
    let c = sim.s.take_changes();
    assert_eq!((c.len(), c.stored.len()), (1, 1));
    let (id, record) = &c.stored[0];
    assert!(record.is_some());
    let out = sim.call(UE1, &reg("ue-9"));
    let c = sim.s.take_changes();
    assert!(
        c.stored.is_empty(),
        "kept while the delivery is in progress"
    );
    let delivery = only_msg(&out, UE1, "m-1");
    sim.s
        .handle_datagram(sim.now, addr(UE1), &piggybacked(&delivery, Code::CHANGED));
    let c = sim.s.take_changes();
    assert_eq!(
        c.stored,
        vec![(*id, None)],
        "deleted on the recipient's 2.xx"
    );
}

/// The one downlink `MSG` in `out`: sent to `to`, with Message ID `id`.
fn only_msg(out: &[Transmit], to: &str, id: &str) -> Transmit {
    let msgs: Vec<&Transmit> = out
        .iter()
        .filter(|t| {
            let v = MessageView::parse(&t.payload).expect("CoAP");
            v.header.mtype == MsgType::Con
                && matches!(crate::msg::decode(v.payload()), Ok(Payload::Msg(_)))
        })
        .collect();
    assert_eq!(msgs.len(), 1, "{out:?}");
    let t = msgs[0].clone();
    assert_eq!(t.destination, addr(to));
    let v = MessageView::parse(&t.payload).expect("CoAP");
    match crate::msg::decode(v.payload()) {
        Ok(Payload::Msg(m)) => assert_eq!(m.message_id, id),
        other => panic!("expected MSG, got {other:?}"),
    }
    t
}

/// The recipient's piggybacked answer with `code` to the downlink request `t`.
fn piggybacked(t: &Transmit, code: Code) -> Vec<u8> {
    let v = MessageView::parse(&t.payload).expect("CoAP");
    MessageBuilder::new(MsgType::Ack, code, v.header.mid, v.header.token).build()
}

#[test]
fn a_stored_message_survives_a_restart_during_its_delivery() {
    let mut tables = Tables::default();
    let mut a = Sim::new();
    a.s.restore(a.now, wall0(), ServerSnapshot::default());
    assert!(a.code(UE1, &reg("ue-1")).is_success());
    assert!(a.code(UE1, &stored_msg("ue-1", "ue-2", "m-1")).is_success());
    tables.apply(a.s.take_changes());
    // ue-2 registers: the delivery starts, the turn's changes are written, then kill -9.
    let out = a.call(UE2, &reg("ue-2"));
    only_msg(&out, UE2, "m-1");
    // Registered again while it is in flight: no second copy.
    let out = a.call(UE2, &reg("ue-2"));
    assert_eq!(out.len(), 1, "only the REGRESP: {out:?}");
    tables.apply(a.s.take_changes());
    assert_eq!(tables.stored.len(), 1, "still stored at the kill");
    drop(a);

    let mut b = Sim::new();
    b.s.restore(b.now, wall0(), tables.snapshot());
    assert_eq!(b.s.poll_timeout(), Some(b.now), "delivered again at once");
    b.s.handle_timeout(b.now);
    let out: Vec<Transmit> = std::iter::from_fn(|| b.s.poll_transmit()).collect();
    let delivery = only_msg(&out, UE2, "m-1");
    // A failure keeps it; it goes out again (same Message ID) at the next registration.
    b.s.handle_datagram(
        b.now,
        addr(UE2),
        &piggybacked(&delivery, Code::SERVICE_UNAVAILABLE),
    );
    assert!(b.s.poll_transmit().is_none());
    tables.apply(b.s.take_changes());
    assert_eq!(tables.stored.len(), 1, "kept after a failed delivery");
    assert_eq!(
        b.s.stats().stored_delivery_failures.load(Ordering::Relaxed),
        1
    );
    let out = b.call(UE2, &reg("ue-2"));
    let delivery = only_msg(&out, UE2, "m-1");
    b.s.handle_datagram(b.now, addr(UE2), &piggybacked(&delivery, Code::CHANGED));
    tables.apply(b.s.take_changes());
    assert!(tables.stored.is_empty(), "deleted once delivered");
    assert_eq!(b.s.stored_messages(), 0);
    b.s.handle_timeout(b.now + Duration::from_secs(300));
    assert!(b.s.poll_transmit().is_none(), "never sent again");
}

#[test]
fn restore_brings_back_registrations_and_stored_messages() {
    let mut tables = Tables::default();
    let mut a = Sim::new();
    a.s.restore(a.now, wall0(), ServerSnapshot::default());
    assert!(a.code(UE1, &reg("ue-1")).is_success());
    assert!(a.code(GW, &bulk_reg(&["ue-3"])).is_success());
    for id in ["m-1", "m-2"] {
        assert!(a.code(UE1, &stored_msg("ue-1", "ue-2", id)).is_success());
    }
    tables.apply(a.s.take_changes());

    // A new core, 30 minutes later (wall clock), on another Instant timeline.
    let mut b = Sim::new();
    b.now += Duration::from_secs(7);
    let restored = b.s.restore(
        b.now,
        wall0() + Duration::from_secs(1800),
        tables.snapshot(),
    );
    assert_eq!(
        restored,
        Restored {
            registrations: 2,
            as_registrations: 0,
            stored: 2,
            accepted: 0,
            topic_subscriptions: 0,
            skipped: 0
        }
    );
    assert_eq!(b.s.stored_messages(), 2);
    assert_eq!(b.s.stats().registrations.load(Ordering::Relaxed), 2);
    let r = b.s.registry.get("ue-3").expect("ue-3");
    assert_eq!(
        r.path,
        DownlinkPath::Gateway {
            address: addr(GW),
            gateway_ue_service_id: Some("gw".into())
        }
    );
    assert!(b.s.take_changes().is_empty(), "loading is not a change");
    // ue-1 may still send (its registration survived).
    assert!(b.code(UE1, &stored_msg("ue-1", "ue-2", "m-3")).is_success());
    assert_eq!(b.s.stored_messages(), 3);
    let c = b.s.take_changes();
    let new_id = c.stored[0].0;
    assert!(tables.stored.keys().all(|&old| old < new_id), "ids go on");
    tables.apply(c);

    // The wall-clock expiry is kept: 3600 s from storage, 1800 s of it gone.
    b.now += Duration::from_secs(1799);
    b.s.handle_timeout(b.now);
    assert_eq!(b.s.stored_messages(), 3);
    b.now += Duration::from_secs(1);
    b.s.handle_timeout(b.now);
    assert_eq!(b.s.stored_messages(), 1, "m-1 and m-2 expired");
    let c = b.s.take_changes();
    assert_eq!(c.stored.iter().filter(|(_, r)| r.is_none()).count(), 2);
}

#[test]
fn a_stored_message_reloaded_goes_out_after_registration_in_order() {
    let mut tables = Tables::default();
    let mut a = Sim::new();
    a.s.restore(a.now, wall0(), ServerSnapshot::default());
    assert!(a.code(UE1, &reg("ue-1")).is_success());
    for id in ["m-1", "m-2"] {
        assert!(a.code(UE1, &stored_msg("ue-1", "ue-2", id)).is_success());
    }
    tables.apply(a.s.take_changes());
    let mut b = Sim::new();
    b.s.restore(b.now, wall0(), tables.snapshot());
    let out = b.call(UE2, &reg("ue-2"));
    let ids: Vec<String> = out[1..]
        .iter()
        .map(|t| {
            let v = MessageView::parse(&t.payload).expect("CoAP");
            match crate::msg::decode(v.payload()) {
                Ok(Payload::Msg(m)) => m.message_id,
                other => panic!("expected MSG, got {other:?}"),
            }
        })
        .collect();
    assert_eq!(ids, ["m-1", "m-2"]);
    assert!(out[1..].iter().all(|t| t.destination == addr(UE2)));
}

#[test]
fn undecodable_records_are_skipped_and_deleted() {
    let snapshot = ServerSnapshot {
        registrations: vec![("ue-1".into(), b"junk".to_vec())],
        as_registrations: vec![("as-1".into(), "not an address".into())],
        stored: vec![(4, b"junk".to_vec())],
        // Not a MSG, and a MSG without a recipient.
        accepted: vec![
            (5, b"junk".to_vec()),
            (6, br#"{"messageType":"MSG","messageId":"m"}"#.to_vec()),
        ],
        // A record that does not decode, and a key that names no subscriber.
        topic_subscriptions: vec![
            ("UE:ue-1".into(), b"junk".to_vec()),
            ("GROUP:g".into(), br#"{"topics":[]}"#.to_vec()),
        ],
    };
    let mut sim = Sim::new();
    let restored = sim.s.restore(sim.now, wall0(), snapshot);
    assert_eq!(restored.skipped, 7);
    let c = sim.s.take_changes();
    assert_eq!(c.stored, vec![(4, None)]);
    let mut deleted = c.accepted;
    deleted.sort();
    assert_eq!(deleted, vec![(5, None), (6, None)]);
    assert_eq!(c.topic_subscriptions, vec![("UE:ue-1".into(), None)]);
}

#[test]
fn failed_writes_are_retried_with_the_current_state() {
    let mut sim = Sim::new();
    sim.s.restore(sim.now, wall0(), ServerSnapshot::default());
    assert!(sim.code(UE1, &reg("ue-1")).is_success());
    let failed = sim.s.take_changes();
    assert!(sim.s.take_changes().is_empty());
    sim.s.retry_changes(&failed);
    assert_eq!(sim.s.take_changes().registrations, failed.registrations);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "msgin5g-persist-{}-{name}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_database_keeps_what_was_applied() {
    let dir = temp_dir("db").join("nested");
    let mut db = ServerDb::open(&dir).expect("open creates the directory");
    let changes = ServerChanges {
        registrations: vec![("ue-1".into(), Some(b"r1".to_vec())), ("ue-2".into(), None)],
        as_registrations: vec![("as-1".into(), Some(UE1.into()))],
        stored: vec![(3, Some(b"s3".to_vec())), (1, Some(b"s1".to_vec()))],
        accepted: vec![(8, Some(b"a8".to_vec())), (9, Some(b"a9".to_vec()))],
        topic_subscriptions: vec![
            ("UE:ue-1".into(), Some(b"t1".to_vec())),
            ("AS:as-1".into(), Some(b"t2".to_vec())),
        ],
    };
    db.apply(changes).unwrap();
    db.apply(ServerChanges {
        stored: vec![(3, None)],
        accepted: vec![(8, None)],
        topic_subscriptions: vec![("AS:as-1".into(), None)],
        ..Default::default()
    })
    .unwrap();
    drop(db);
    let db = ServerDb::open(&dir).expect("reopen");
    let snapshot = db.load().unwrap();
    assert_eq!(
        snapshot.registrations,
        vec![("ue-1".into(), b"r1".to_vec())]
    );
    assert_eq!(snapshot.as_registrations, vec![("as-1".into(), UE1.into())]);
    assert_eq!(snapshot.stored, vec![(1, b"s1".to_vec())]);
    assert_eq!(snapshot.accepted, vec![(9, b"a9".to_vec())]);
    assert_eq!(
        snapshot.topic_subscriptions,
        vec![("UE:ue-1".into(), b"t1".to_vec())]
    );
    drop(db);

    // Another layout version is refused.
    {
        let raw = redb::Database::create(dir.join(DB_FILE)).unwrap();
        let txn = raw.begin_write().unwrap();
        txn.open_table(crate::store::META)
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        ServerDb::open(&dir),
        Err(StoreError::Schema { found: 99, .. })
    ));
    // A data directory that cannot be created.
    let file = temp_dir("file");
    std::fs::write(&file, b"").unwrap();
    assert!(matches!(
        ServerDb::open(&file.join("x")),
        Err(StoreError::Dir { .. })
    ));
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn a_log_left_by_a_kill_is_folded_at_open() {
    let dir = temp_dir("wal");
    std::fs::create_dir_all(&dir).unwrap();
    let (mut wal, _) = crate::server::wal::Wal::open(&dir).unwrap();
    let batch = ServerChanges {
        registrations: vec![("ue-1".into(), Some(b"r1".to_vec()))],
        accepted: vec![(4, Some(b"a4".to_vec()))],
        ..Default::default()
    };
    wal.append(batch).unwrap();
    // Killed before the fold: only the log has them.
    drop(wal);
    let db = ServerDb::open(&dir).expect("open folds the log");
    let snapshot = db.load().unwrap();
    assert_eq!(
        snapshot.registrations,
        vec![("ue-1".into(), b"r1".to_vec())]
    );
    assert_eq!(snapshot.accepted, vec![(4, b"a4".to_vec())]);
    let log = dir.join(crate::server::wal::LOG_FILE);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0, "emptied");
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_declared_gateway_is_known_again_after_a_restart() {
    let mut tables = Tables::default();
    let mut a = Sim::new();
    a.s.restore(a.now, wall0(), ServerSnapshot::default());
    let own = r#"{"messageType":"REG","ueServiceId":"gw","gatewayUeServiceId":"gw"}"#;
    assert!(a.code(GW, own).is_success());
    tables.apply(a.s.take_changes());
    let mut b = Sim::new();
    b.s.restore(b.now, wall0(), tables.snapshot());
    // A single REG from another port of the gateway's host: through the gateway.
    assert!(b.code("192.0.2.9:40007", &reg("ue-1")).is_success());
    assert!(b.s.registry.get("ue-1").unwrap().path.via_gateway());
}

#[path = "persist_accepted_tests.rs"]
mod accepted;

#[path = "persist_topics_tests.rs"]
mod topics;
