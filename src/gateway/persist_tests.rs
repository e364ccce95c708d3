//! The gateway's `redb` store: directory keys written with their current value (deletions
//! included), journal records, the shard count, and restoring a directory with the same
//! Registration IDs and secrets.

use super::*;
use crate::coap::rng::Rng;
use crate::gateway::directory::ReportRoute;
use std::time::Instant;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "msgin5g-gwpersist-{}-{name}-{:x}",
        std::process::id(),
        Rng::from_os().next_u64()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn directory() -> Directory {
    Directory::new(100, 100, 100, Rng::new(5))
}

#[test]
fn directory_and_journal_round_trip_through_the_store() {
    let dir = temp_dir("roundtrip");
    let db = GatewayDb::open(&dir).unwrap();
    let d = directory();
    let a = d
        .register_app(Instant::now(), "app-a", addr(1), 1, None, None)
        .unwrap();
    let b = d
        .register_app(Instant::now(), "app-b", addr(2), 0, None, None)
        .unwrap();
    assert!(d.set_client("ue-1", addr(3), 1));
    assert!(d.set_client("ue-2", addr(4), 0));
    let route = ReportRoute {
        registration_id: a.registration_id,
        shard: 1,
    };
    d.set_report_route("m-1", route);
    let changes = GatewayChanges {
        apps: vec![a.registration_id, b.registration_id],
        clients: vec![Arc::from("ue-1"), Arc::from("ue-2")],
        reports: vec![Arc::from("m-1")],
        journal: vec![(7, Some(b"record-7".to_vec())), (8, Some(b"r8".to_vec()))],
    };
    db.apply(&changes, &d, true).unwrap();
    db.set_shards(2).unwrap();
    // Later changes: b de-registered, ue-2 gone, journal 8 answered.
    d.deregister_app(b.registration_id, addr(2)).unwrap();
    d.remove_client("ue-2");
    let changes = GatewayChanges {
        apps: vec![b.registration_id],
        clients: vec![Arc::from("ue-2")],
        reports: Vec::new(),
        journal: vec![(8, None)],
    };
    // Not durable yet: visible in this process, made durable by the next sync.
    db.apply(&changes, &d, false).unwrap();
    assert_eq!(db.load().unwrap().journal.len(), 1);
    db.sync().unwrap();
    drop(db);

    let db = GatewayDb::open(&dir).unwrap();
    let snapshot = db.load().unwrap();
    assert_eq!(snapshot.shards, Some(2));
    assert_eq!(snapshot.journal, vec![(7, b"record-7".to_vec())]);
    let restored = directory();
    let (counts, stale) = restore_directory(&restored, &snapshot, 2);
    assert!(stale.is_empty());
    assert_eq!(
        counts,
        RestoredDirectory {
            apps: 1,
            clients: 1,
            reports: 1,
            skipped: 0
        }
    );
    // Same Registration ID, secret, address and shard.
    assert_eq!(restored.app(a.registration_id), Some(a.clone()));
    assert_eq!(restored.app(b.registration_id), None);
    assert_eq!(
        restored.client("ue-1").map(|r| (r.peer, r.shard)),
        Some((addr(3), 1))
    );
    assert_eq!(restored.client("ue-2"), None);
    assert_eq!(restored.report_route("m-1"), Some(route));
    // The restored registration moves only with its secret, as before the restart.
    assert!(restored
        .register_app(
            Instant::now(),
            "app-a",
            addr(9),
            0,
            Some(a.registration_id),
            Some(a.secret)
        )
        .is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_changed_shard_count_reassigns_shards_within_range() {
    let dir = temp_dir("shards");
    let db = GatewayDb::open(&dir).unwrap();
    let d = Directory::new(100, 1000, 100, Rng::new(5));
    let mut changes = GatewayChanges::default();
    for i in 0..50u16 {
        let ue = format!("ue-{i}");
        assert!(d.set_client(&ue, addr(1000 + i), 7));
        changes.clients.push(Arc::from(ue.as_str()));
    }
    db.apply(&changes, &d, true).unwrap();
    db.set_shards(8).unwrap();
    let snapshot = db.load().unwrap();
    let restored = Directory::new(100, 1000, 100, Rng::new(6));
    assert_eq!(restore_directory(&restored, &snapshot, 2).0.clients, 50);
    let shards: std::collections::BTreeSet<usize> = (0..50u16)
        .map(|i| restored.client(&format!("ue-{i}")).unwrap().shard)
        .collect();
    assert!(shards.iter().all(|s| *s < 2), "{shards:?}");
    // Same shard count: the recorded shard is kept.
    assert_eq!(restored_shard(1, addr(1), true, 2), 1);
    assert!(restored_shard(7, addr(1), true, 2) < 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_store_of_another_schema_version_is_refused() {
    let dir = temp_dir("schema");
    let db = GatewayDb::open(&dir).unwrap();
    {
        let txn = db.db.begin_write().unwrap();
        txn.open_table(crate::store::META)
            .unwrap()
            .insert("schema_version", SCHEMA_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    drop(db);
    assert!(matches!(
        GatewayDb::open(&dir),
        Err(StoreError::Schema { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn journal_records_and_registrations_are_committed_durably_routes_within_the_interval() {
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    let second = Duration::from_secs(1);
    let routes = GatewayChanges {
        clients: vec![Arc::from("ue-1")],
        ..GatewayChanges::default()
    };
    let journal = GatewayChanges {
        journal: vec![(1, None)],
        ..GatewayChanges::default()
    };
    let apps = GatewayChanges {
        apps: vec![9],
        ..GatewayChanges::default()
    };
    let nothing = GatewayChanges::default();
    assert_eq!(commit_durability(&nothing, None, t0, second), None);
    assert_eq!(commit_durability(&routes, None, t0, second), Some(false));
    assert_eq!(commit_durability(&journal, None, t0, second), Some(true));
    assert_eq!(commit_durability(&apps, None, t0, second), Some(true));
    // Routes committed non-durably 1 s ago: this commit (even an empty one) syncs them.
    let later = t0 + second;
    assert_eq!(
        commit_durability(&routes, Some(t0), later, second),
        Some(true)
    );
    assert_eq!(
        commit_durability(&nothing, Some(t0), later, second),
        Some(true)
    );
    assert_eq!(commit_durability(&nothing, Some(t0), t0, second), None);
    // A zero interval: every commit durable.
    assert_eq!(
        commit_durability(&routes, None, t0, Duration::ZERO),
        Some(true)
    );
}

#[test]
fn records_beyond_the_bounds_are_deleted_from_the_store_at_restore() {
    let dir = temp_dir("bounds");
    let db = GatewayDb::open(&dir).unwrap();
    let d = Directory::new(100, 1000, 1000, Rng::new(5));
    let mut changes = GatewayChanges::default();
    for i in 0..40u16 {
        let ue = format!("ue-{i}");
        assert!(d.set_client(&ue, addr(1000 + i), 0));
        changes.clients.push(Arc::from(ue.as_str()));
        let m = format!("m-{i}");
        let route = ReportRoute {
            registration_id: 1,
            shard: 0,
        };
        assert!(d.set_report_route(&m, route).is_empty());
        changes.reports.push(Arc::from(m.as_str()));
    }
    db.apply(&changes, &d, true).unwrap();
    // A gateway configured with smaller bounds (one route and one client per stripe at most).
    let small = Directory::new(100, 16, 16, Rng::new(6));
    let snapshot = db.load().unwrap();
    let (restored, stale) = restore_directory(&small, &snapshot, 1);
    assert_eq!(restored.clients, small.client_count());
    assert_eq!(restored.clients + stale.clients.len(), 40);
    assert_eq!(restored.reports + stale.reports.len(), 40);
    assert!(!stale.reports.is_empty());
    db.apply(&stale, &small, true).unwrap();
    let after = db.load().unwrap();
    assert_eq!(after.clients.len(), restored.clients);
    assert_eq!(after.reports.len(), restored.reports);
    let _ = std::fs::remove_dir_all(&dir);
}
