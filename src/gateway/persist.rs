//! Persistence of the gateway's state (issue 9): Application Client registrations (same
//! Registration IDs and secrets), the MSGin5G-6 UE directory, report routes, and the journal of
//! device requests accepted but not yet answered whose device no longer retransmits them (empty
//! ACK sent, RFC 7252 §5.2.2, or a NON request), so each still gets exactly one final answer
//! after a kill -9.
//!
//! The cores stay sans-IO: each shard records which keys it changed
//! ([`GatewayCore::take_changes`](super::GatewayCore::take_changes)), and its driver writes them
//! with [`GatewayDb::apply`] in one `redb` write transaction per event-loop turn, before the
//! turn's datagrams are sent (an empty ACK leaves only once its request's journal record is
//! durable). Directory values are read from the shared [`Directory`] inside the write
//! transaction, so whichever shard commits last writes the latest state of a key.
//!
//! Tables (file `gateway.redb` in the data directory): `apps` (Registration ID → record),
//! `clients` (UE Service ID → `"<shard> <address>"`), `report_routes` (Message ID →
//! `"<registration id> <shard>"`), `journal` (record id → JSON record), `meta`
//! (`schema_version`, `shards`).

use super::directory::{AppRegistration, ReportRoute};
use super::Directory;
use crate::store::{db, open_versioned, StoreError, META};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const APPS: TableDefinition<u32, &[u8]> = TableDefinition::new("apps");
const CLIENTS: TableDefinition<&str, &str> = TableDefinition::new("clients");
const REPORTS: TableDefinition<&str, &str> = TableDefinition::new("report_routes");
const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("journal");

/// Layout version written to `meta`; a file with another version is refused.
pub const SCHEMA_VERSION: u64 = 1;

/// The database file inside the data directory.
pub const DB_FILE: &str = "gateway.redb";

/// One shard's changes since its last write: the directory keys it changed (their values are
/// read from the [`Directory`] when written; absent = deleted) and its journal records
/// (`None`: delete).
#[derive(Debug, Default)]
pub struct GatewayChanges {
    /// Registration IDs of Application Client registrations changed.
    pub apps: Vec<u32>,
    /// UE Service IDs of MSGin5G-6 UEs changed.
    pub clients: Vec<Arc<str>>,
    /// Message IDs of report routes changed (set or evicted).
    pub reports: Vec<Arc<str>>,
    /// Journal record id → encoded record, or `None` to delete it.
    pub journal: Vec<(u64, Option<Vec<u8>>)>,
}

impl GatewayChanges {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys to write or delete.
    pub fn len(&self) -> usize {
        self.apps.len() + self.clients.len() + self.reports.len() + self.journal.len()
    }
}

/// Everything the store holds, as read at start.
#[derive(Debug, Default)]
pub struct GatewaySnapshot {
    /// Registration ID → encoded registration.
    pub apps: Vec<(u32, Vec<u8>)>,
    /// UE Service ID → `"<shard> <address>"`.
    pub clients: Vec<(String, String)>,
    /// Message ID → `"<registration id> <shard>"`.
    pub reports: Vec<(String, String)>,
    /// Journal record id → encoded record.
    pub journal: Vec<(u64, Vec<u8>)>,
    /// The shard count of the run that wrote the store.
    pub shards: Option<usize>,
}

/// What [`restore_directory`] loaded into the directory.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RestoredDirectory {
    /// Application Client registrations.
    pub apps: usize,
    /// MSGin5G-6 UEs.
    pub clients: usize,
    /// Report routes.
    pub reports: usize,
    /// Records that did not decode or did not fit the bounds (dropped).
    pub skipped: usize,
}

/// The gateway's `redb` database, shared by its shards.
#[derive(Debug)]
pub struct GatewayDb {
    db: redb::Database,
    path: PathBuf,
}

/// An Application Client registration as stored.
#[derive(Debug, Serialize, Deserialize)]
struct AppRecord {
    application_id: String,
    peer: SocketAddr,
    shard: usize,
    /// The registration secret, 32 hex digits.
    secret: String,
}

impl GatewayDb {
    /// Open (create if missing) `dir/gateway.redb`, creating `dir` if needed; `shards` is
    /// recorded for the next start (its value is in [`GatewaySnapshot::shards`] until then).
    pub fn open(dir: &Path) -> Result<GatewayDb, StoreError> {
        let (db, path) = open_versioned(dir, DB_FILE, SCHEMA_VERSION, |txn| {
            txn.open_table(APPS)?;
            txn.open_table(CLIENTS)?;
            txn.open_table(REPORTS)?;
            txn.open_table(JOURNAL)?;
            Ok(())
        })?;
        Ok(GatewayDb { db, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read everything.
    pub fn load(&self) -> Result<GatewaySnapshot, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let mut snapshot = GatewaySnapshot::default();
        for entry in txn.open_table(APPS).map_err(db)?.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            snapshot.apps.push((k.value(), v.value().to_vec()));
        }
        for entry in txn.open_table(CLIENTS).map_err(db)?.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            snapshot
                .clients
                .push((k.value().to_owned(), v.value().to_owned()));
        }
        for entry in txn.open_table(REPORTS).map_err(db)?.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            snapshot
                .reports
                .push((k.value().to_owned(), v.value().to_owned()));
        }
        for entry in txn.open_table(JOURNAL).map_err(db)?.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            snapshot.journal.push((k.value(), v.value().to_vec()));
        }
        let meta = txn.open_table(META).map_err(db)?;
        snapshot.shards = meta
            .get("shards")
            .map_err(db)?
            .and_then(|v| usize::try_from(v.value()).ok());
        Ok(snapshot)
    }

    /// Make every earlier commit durable (an empty durable commit).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.begin_write().map_err(db)?.commit().map_err(db)
    }

    /// Record the shard count of this run.
    pub fn set_shards(&self, shards: usize) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        txn.open_table(META)
            .map_err(db)?
            .insert("shards", shards as u64)
            .map_err(db)?;
        txn.commit().map_err(db)
    }

    /// Write `changes` in one transaction, `durable` (fsync on commit, which also makes every
    /// earlier non-durable commit durable) or not (kept by this process until the next durable
    /// commit; lost with it on kill -9). The directory keys get the value `directory` holds now,
    /// read inside the transaction (write transactions are serialised, so the last commit
    /// carries the latest state).
    pub fn apply(
        &self,
        changes: &GatewayChanges,
        directory: &Directory,
        durable: bool,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(db)?;
        if !durable {
            txn.set_durability(redb::Durability::None).map_err(db)?;
        }
        {
            let mut apps = txn.open_table(APPS).map_err(db)?;
            for id in &changes.apps {
                match directory.app(*id) {
                    Some(reg) => apps.insert(*id, encode_app(&reg).as_slice()).map(drop),
                    None => apps.remove(*id).map(drop),
                }
                .map_err(db)?;
            }
            let mut clients = txn.open_table(CLIENTS).map_err(db)?;
            for ue in &changes.clients {
                match directory.client(ue) {
                    Some(route) => {
                        let value = format!("{} {}", route.shard, route.peer);
                        clients.insert(&**ue, value.as_str()).map(drop)
                    }
                    None => clients.remove(&**ue).map(drop),
                }
                .map_err(db)?;
            }
            let mut reports = txn.open_table(REPORTS).map_err(db)?;
            for id in &changes.reports {
                match directory.report_route(id) {
                    Some(route) => {
                        let value = format!("{} {}", route.registration_id, route.shard);
                        reports.insert(&**id, value.as_str()).map(drop)
                    }
                    None => reports.remove(&**id).map(drop),
                }
                .map_err(db)?;
            }
            let mut journal = txn.open_table(JOURNAL).map_err(db)?;
            for (id, record) in &changes.journal {
                match record {
                    Some(r) => journal.insert(*id, r.as_slice()).map(drop),
                    None => journal.remove(*id).map(drop),
                }
                .map_err(db)?;
            }
        }
        txn.commit().map_err(db)
    }
}

fn encode_app(reg: &AppRegistration) -> Vec<u8> {
    let record = AppRecord {
        application_id: reg.application_id.to_string(),
        peer: reg.peer,
        shard: reg.shard,
        secret: format!("{:032x}", reg.secret),
    };
    simd_json::to_vec(&record).unwrap_or_default()
}

fn decode_app(id: u32, bytes: &[u8]) -> Option<AppRegistration> {
    let mut buf = bytes.to_vec();
    let r: AppRecord = simd_json::serde::from_slice(&mut buf).ok()?;
    Some(AppRegistration {
        registration_id: id,
        application_id: Arc::from(r.application_id),
        peer: r.peer,
        shard: r.shard,
        secret: u128::from_str_radix(&r.secret, 16).ok()?,
    })
}

/// How a shard writes `changes` at `now` (`None`: nothing to write): durable when they carry
/// journal records or Application Client registrations (the empty ACKs and answers of the same
/// turn leave right after the commit), when its earlier non-durable changes (since
/// `unsynced_since`) are `sync_interval` old, or always with a zero interval; else a
/// non-durable commit (UE routes, report routes: a fsync per turn would stall the shard).
pub fn commit_durability(
    changes: &GatewayChanges,
    unsynced_since: Option<std::time::Instant>,
    now: std::time::Instant,
    sync_interval: std::time::Duration,
) -> Option<bool> {
    let sync_due =
        unsynced_since.is_some_and(|since| now.saturating_duration_since(since) >= sync_interval);
    if changes.is_empty() && !sync_due {
        return None;
    }
    Some(
        sync_due
            || sync_interval.is_zero()
            || !changes.journal.is_empty()
            || !changes.apps.is_empty(),
    )
}

/// The shard that serves `peer` after a restart: the recorded one when the shard count is the
/// same (the kernel's `SO_REUSEPORT` choice depends on the peer's address and the number of
/// sockets, so it is unchanged), else one derived from the address; a wrong guess is corrected
/// by the device's next registration.
pub fn restored_shard(
    recorded: usize,
    peer: SocketAddr,
    same_shards: bool,
    shards: usize,
) -> usize {
    if same_shards && recorded < shards {
        return recorded;
    }
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::default().hash_one(peer);
    (hash % shards.max(1) as u64) as usize
}

/// Load the directory part of `snapshot` into `directory` for a gateway of `shards` shards.
/// Also returns the keys whose stored record was not loaded (undecodable, beyond a bound,
/// evicted): writing them ([`GatewayDb::apply`]) brings the store in line with the directory.
pub fn restore_directory(
    directory: &Directory,
    snapshot: &GatewaySnapshot,
    shards: usize,
) -> (RestoredDirectory, GatewayChanges) {
    let same = snapshot.shards == Some(shards);
    let mut restored = RestoredDirectory::default();
    let mut stale = GatewayChanges::default();
    for (id, bytes) in &snapshot.apps {
        match decode_app(*id, bytes) {
            Some(mut reg) => {
                reg.shard = restored_shard(reg.shard, reg.peer, same, shards);
                if directory.restore_app(reg) {
                    restored.apps += 1;
                } else {
                    restored.skipped += 1;
                    stale.apps.push(*id);
                }
            }
            None => {
                restored.skipped += 1;
                stale.apps.push(*id);
            }
        }
    }
    for (ue, value) in &snapshot.clients {
        let parsed = value.split_once(' ').and_then(|(shard, peer)| {
            Some((
                shard.parse::<usize>().ok()?,
                peer.parse::<SocketAddr>().ok()?,
            ))
        });
        match parsed {
            Some((shard, peer))
                if directory.set_client(ue, peer, restored_shard(shard, peer, same, shards)) =>
            {
                restored.clients += 1
            }
            _ => {
                restored.skipped += 1;
                stale.clients.push(Arc::from(ue.as_str()));
            }
        }
    }
    for (id, value) in &snapshot.reports {
        let parsed = value.split_once(' ').and_then(|(reg, shard)| {
            Some((reg.parse::<u32>().ok()?, shard.parse::<usize>().ok()?))
        });
        match parsed {
            Some((registration_id, shard)) => {
                // The route follows its registration's (restored) shard.
                let shard = directory
                    .app(registration_id)
                    .map_or(shard.min(shards.saturating_sub(1)), |r| r.shard);
                let evicted = directory.set_report_route(
                    id,
                    ReportRoute {
                        registration_id,
                        shard,
                    },
                );
                restored.reports += 1;
                restored.reports -= evicted.len().min(restored.reports);
                restored.skipped += evicted.len();
                stale.reports.extend(evicted);
            }
            None => {
                restored.skipped += 1;
                stale.reports.push(Arc::from(id.as_str()));
            }
        }
    }
    (restored, stale)
}

#[cfg(test)]
#[path = "persist_tests.rs"]
mod tests;
