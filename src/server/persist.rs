//! Persistence of the server's state (issue 9): registrations and store-and-forward messages
//! survive a restart (23.554 §8.3.6 / 24.538 store and forward: a message answered `STORED` is
//! durable before the answer leaves).
//!
//! The core stays sans-IO: its tables record which keys changed, [`ServerCore::take_changes`]
//! turns them into encoded records ([`ServerChanges`]), and the driver writes them with
//! [`ServerDb::apply`] in one `redb` write transaction per event-loop turn, before the turn's
//! datagrams are sent. At start the driver reads a [`ServerSnapshot`] with [`ServerDb::load`] and
//! hands it to [`ServerCore::restore`], which also turns change tracking on. A stored message
//! stays in `stored_messages` while its delivery is in progress and is deleted with the turn
//! that saw the recipient's 2.xx; after a restart the stored messages of registered recipients
//! go out at the first timeout (at-least-once: a recipient may see a copy again, with the same
//! Message ID, if the server died between its delivery and the write of its deletion).
//! A message copy answered `ACCEPTED` is written the same way from the turn it is accepted
//! (before the answer leaves) until its delivery's outcome (module `accepted`), and sent again
//! after a restart, ahead of the stored messages.
//!
//! Tables (file `server.redb` in the data directory): `registrations` (UE Service ID → JSON
//! record: downlink path, `clientAddress`, `clientProfile`), `as_registrations` (AS Service ID
//! → address), `stored_messages` (store id → JSON record: recipient, wall-clock expiry in Unix
//! milliseconds, the copy in its wire JSON), `accepted_messages` (accepted id → the copy in its
//! wire JSON, `MSG`; added to a file of layout 1 when it is opened, read as empty before),
//! `meta` (`schema_version`).

use super::changes::ServerChanges;
use super::core::ServerCore;
use super::registry::{DownlinkPath, Inserted, Registration};
use super::store::Stored;
use super::wal::Wal;
use crate::msg::{Message, Payload, TargetType};
use crate::store::{db, open_versioned, StoreError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const REGISTRATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("registrations");
const AS_REGISTRATIONS: TableDefinition<&str, &str> = TableDefinition::new("as_registrations");
const STORED: TableDefinition<u64, &[u8]> = TableDefinition::new("stored_messages");
const ACCEPTED: TableDefinition<u64, &[u8]> = TableDefinition::new("accepted_messages");

/// Layout version written to `meta`; a file with another version is refused.
pub const SCHEMA_VERSION: u64 = 1;

/// The database file inside the data directory.
pub const DB_FILE: &str = "server.redb";

/// Everything the store holds, as read at start (stored messages in id order).
#[derive(Debug, Default)]
pub struct ServerSnapshot {
    /// UE Service ID → registration record.
    pub registrations: Vec<(String, Vec<u8>)>,
    /// AS Service ID → address.
    pub as_registrations: Vec<(String, String)>,
    /// Store id → stored-message record, ascending ids.
    pub stored: Vec<(u64, Vec<u8>)>,
    /// Accepted id → the copy in delivery, ascending ids.
    pub accepted: Vec<(u64, Vec<u8>)>,
}

/// What [`ServerCore::restore`] loaded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// UE registrations loaded.
    pub registrations: usize,
    /// AS registrations loaded.
    pub as_registrations: usize,
    /// Stored messages loaded.
    pub stored: usize,
    /// Accepted message copies loaded (sent again).
    pub accepted: usize,
    /// Records that did not decode or did not fit the configured bounds (dropped).
    pub skipped: usize,
}

/// The server's `redb` database and its write-ahead log (module `wal`): batches are appended
/// to the log durably and folded into the database about once a second.
#[derive(Debug)]
pub struct ServerDb {
    db: redb::Database,
    path: PathBuf,
    wal: Wal,
}

impl ServerDb {
    /// Open (create if missing) `dir/server.redb` and `dir/server.log`, creating `dir` if
    /// needed; what the log holds (a stop or kill before its fold) is folded in first.
    pub fn open(dir: &Path) -> Result<ServerDb, StoreError> {
        let (db, path) = open_versioned(dir, DB_FILE, SCHEMA_VERSION, |txn| {
            txn.open_table(REGISTRATIONS)?;
            txn.open_table(AS_REGISTRATIONS)?;
            txn.open_table(STORED)?;
            txn.open_table(ACCEPTED)?;
            Ok(())
        })?;
        let log_error = |source| StoreError::File {
            path: dir.join(super::wal::LOG_FILE),
            source,
        };
        let (mut wal, found) = Wal::open(dir).map_err(log_error)?;
        if !found.is_empty() {
            write_tables(&db, &found)?;
            wal.truncate().map_err(log_error)?;
        }
        Ok(ServerDb { db, path, wal })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read everything.
    pub fn load(&self) -> Result<ServerSnapshot, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let mut snapshot = ServerSnapshot::default();
        for entry in txn
            .open_table(REGISTRATIONS)
            .map_err(db)?
            .iter()
            .map_err(db)?
        {
            let (k, v) = entry.map_err(db)?;
            snapshot
                .registrations
                .push((k.value().to_owned(), v.value().to_vec()));
        }
        for entry in txn
            .open_table(AS_REGISTRATIONS)
            .map_err(db)?
            .iter()
            .map_err(db)?
        {
            let (k, v) = entry.map_err(db)?;
            snapshot
                .as_registrations
                .push((k.value().to_owned(), v.value().to_owned()));
        }
        for entry in txn.open_table(STORED).map_err(db)?.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            snapshot.stored.push((k.value(), v.value().to_vec()));
        }
        for entry in txn.open_table(ACCEPTED).map_err(db)?.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            snapshot.accepted.push((k.value(), v.value().to_vec()));
        }
        Ok(snapshot)
    }

    /// Make `changes` durable: appended to the log (fdatasync), and folded into the database
    /// when a fold is due (a fold that fails is logged and tried again later: the records stay
    /// in the log). On failure nothing of `changes` is written and they come back.
    pub fn apply(
        &mut self,
        changes: ServerChanges,
    ) -> Result<(), Box<(StoreError, ServerChanges)>> {
        if let Err((source, changes)) = self.wal.append(changes) {
            let path = self.wal.path().to_path_buf();
            return Err(Box::new((StoreError::File { path, source }, changes)));
        }
        if self.wal.fold_due() {
            self.fold();
        }
        Ok(())
    }

    /// Write the records kept by the log into the database (one durable transaction) and empty
    /// the log.
    fn fold(&mut self) {
        let records = self.wal.take_unfolded();
        match write_tables(&self.db, &records) {
            Ok(()) => {
                if let Err(error) = self.wal.truncate() {
                    // The log keeps frames already folded: replaying them is harmless.
                    tracing::warn!(%error, "server.log not emptied after a fold");
                }
            }
            Err(error) => {
                tracing::warn!(%error, records = records.len(), "server.log not folded (retried)");
                self.wal.unfold(records);
            }
        }
    }
}

impl Drop for ServerDb {
    /// A clean stop folds what the log holds.
    fn drop(&mut self) {
        if self.wal.has_unfolded() {
            self.fold();
        }
    }
}

/// Write `changes` into the tables in one durable transaction (fsync on commit).
fn write_tables(database: &redb::Database, changes: &ServerChanges) -> Result<(), StoreError> {
    let txn = database.begin_write().map_err(db)?;
    {
        let mut regs = txn.open_table(REGISTRATIONS).map_err(db)?;
        for (key, record) in &changes.registrations {
            match record {
                Some(r) => regs.insert(key.as_str(), r.as_slice()).map(drop),
                None => regs.remove(key.as_str()).map(drop),
            }
            .map_err(db)?;
        }
        let mut ases = txn.open_table(AS_REGISTRATIONS).map_err(db)?;
        for (key, address) in &changes.as_registrations {
            match address {
                Some(a) => ases.insert(key.as_str(), a.as_str()).map(drop),
                None => ases.remove(key.as_str()).map(drop),
            }
            .map_err(db)?;
        }
        let mut stored = txn.open_table(STORED).map_err(db)?;
        for (id, record) in &changes.stored {
            match record {
                Some(r) => stored.insert(*id, r.as_slice()).map(drop),
                None => stored.remove(*id).map(drop),
            }
            .map_err(db)?;
        }
        let mut accepted = txn.open_table(ACCEPTED).map_err(db)?;
        for (id, record) in &changes.accepted {
            match record {
                Some(r) => accepted.insert(*id, r.as_slice()).map(drop),
                None => accepted.remove(*id).map(drop),
            }
            .map_err(db)?;
        }
    }
    txn.commit().map_err(db)?;
    Ok(())
}

/// A registration as stored.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct RegistrationRecord {
    /// The downlink address.
    address: SocketAddr,
    /// Registered through a gateway bulk.
    via_gateway: bool,
    /// The gateway's UE Service ID, if the bulk carried one.
    gateway: Option<String>,
    client_address: Option<String>,
    client_profile: Option<String>,
    /// The UE declared itself a Gateway UE in its own `REG`.
    #[serde(default)]
    gateway_ue: bool,
}

/// A stored message copy as stored.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct StoredRecord {
    /// `UE`/`AS`/`GROUP`.
    target: String,
    recipient: String,
    /// Expiry, Unix milliseconds (wall clock).
    expires_ms: u64,
    /// The copy in its wire JSON (`MSG`).
    message: String,
}

/// [`RegistrationRecord`] borrowing its strings, for encoding without copies (same fields, same
/// order).
#[derive(Serialize)]
struct RegistrationRecordRef<'a> {
    address: SocketAddr,
    via_gateway: bool,
    gateway: Option<&'a str>,
    client_address: Option<&'a str>,
    client_profile: Option<&'a str>,
    gateway_ue: bool,
}

fn encode_registration(reg: &Registration) -> Vec<u8> {
    let (via_gateway, gateway) = match &reg.path {
        DownlinkPath::Direct(_) => (false, None),
        DownlinkPath::Gateway {
            gateway_ue_service_id,
            ..
        } => (true, gateway_ue_service_id.as_deref()),
    };
    let record = RegistrationRecordRef {
        address: reg.path.address(),
        via_gateway,
        gateway,
        client_address: reg.client_address.as_deref(),
        client_profile: reg.client_profile.as_deref(),
        gateway_ue: reg.gateway_ue,
    };
    let mut out = Vec::with_capacity(128);
    match simd_json::to_writer(&mut out, &record) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

fn decode_registration(bytes: &[u8]) -> Option<Registration> {
    let mut buf = bytes.to_vec();
    let r: RegistrationRecord = simd_json::serde::from_slice(&mut buf).ok()?;
    let path = if r.via_gateway {
        DownlinkPath::Gateway {
            address: r.address,
            gateway_ue_service_id: r.gateway,
        }
    } else {
        DownlinkPath::Direct(r.address)
    };
    Some(Registration {
        path,
        client_address: r.client_address,
        client_profile: r.client_profile,
        gateway_ue: r.gateway_ue,
    })
}

fn encode_stored(target: TargetType, recipient: &str, expires: SystemTime, m: &Message) -> Vec<u8> {
    let mut wire = Vec::new();
    crate::msg::encode(&Payload::Msg(m.clone()), &mut wire);
    let record = StoredRecord {
        target: target.as_str().to_owned(),
        recipient: recipient.to_owned(),
        expires_ms: expires
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        message: String::from_utf8(wire).unwrap_or_default(),
    };
    simd_json::to_vec(&record).unwrap_or_default()
}

/// An accepted copy as stored: its `MSG` wire JSON (the recipient is in it).
fn encode_accepted(m: &Message) -> Vec<u8> {
    let mut wire = Vec::with_capacity(256);
    crate::msg::write_message(&mut wire, m);
    wire
}

fn decode_accepted(bytes: &[u8]) -> Option<Message> {
    match crate::msg::decode(bytes) {
        Ok(Payload::Msg(m)) if m.recipient().is_some() => Some(m),
        _ => None,
    }
}

fn decode_stored(bytes: &[u8]) -> Option<(TargetType, String, SystemTime, Message)> {
    let mut buf = bytes.to_vec();
    let r: StoredRecord = simd_json::serde::from_slice(&mut buf).ok()?;
    let target = TargetType::parse(&r.target)?;
    let Ok(Payload::Msg(message)) = crate::msg::decode(r.message.as_bytes()) else {
        return None;
    };
    let expires = UNIX_EPOCH.checked_add(Duration::from_millis(r.expires_ms))?;
    Some((target, r.recipient, expires, message))
}

impl ServerCore {
    /// Load `snapshot` (read by the driver at start), set the wall-clock anchor (`wall` is the
    /// real time at `now`, see [`ServerCore::set_wall_clock`]) and record every later change of
    /// registrations and stored messages for [`ServerCore::take_changes`]. A stored message whose
    /// wall-clock expiry has passed expires at the first `handle_timeout` (reported `EXPIRED`
    /// when asked for).
    pub fn restore(
        &mut self,
        now: Instant,
        wall: SystemTime,
        snapshot: ServerSnapshot,
    ) -> Restored {
        self.set_wall_clock(now, wall);
        let mut restored = Restored::default();
        for (id, bytes) in snapshot.registrations {
            let reg = decode_registration(&bytes);
            // A Gateway UE that declared itself: its host is known again.
            let gateway = reg
                .as_ref()
                .filter(|r| r.gateway_ue)
                .map(|r| r.path.address());
            match reg.map(|reg| self.registry.insert(&id, reg)) {
                Some(Inserted::Created | Inserted::Updated) => {
                    restored.registrations += 1;
                    if let Some(address) = gateway {
                        self.gateway_declared(&id, address);
                    }
                }
                Some(Inserted::Full) | None => restored.skipped += 1,
            }
        }
        for (id, address) in snapshot.as_registrations {
            match address.parse().map(|a| self.as_table.insert(&id, a)) {
                Ok(Inserted::Created | Inserted::Updated) => restored.as_registrations += 1,
                Ok(Inserted::Full) | Err(_) => restored.skipped += 1,
            }
        }
        let mut dropped = Vec::new();
        for (id, bytes) in snapshot.stored {
            let Some((target, recipient, expires_wall, message)) = decode_stored(&bytes) else {
                restored.skipped += 1;
                dropped.push(id);
                continue;
            };
            let left = expires_wall.duration_since(wall).unwrap_or(Duration::ZERO);
            let expires = now.checked_add(left).unwrap_or(now);
            let stored = Stored { message, expires };
            match self.store.restore(id, (target, recipient), stored) {
                Ok(()) => restored.stored += 1,
                Err(_) => {
                    restored.skipped += 1;
                    dropped.push(id);
                }
            }
        }
        let mut dropped_accepted = Vec::new();
        for (id, bytes) in snapshot.accepted {
            match decode_accepted(&bytes) {
                Some(m) => {
                    self.accepted.restore(id, m);
                    restored.accepted += 1;
                }
                None => {
                    restored.skipped += 1;
                    dropped_accepted.push(id);
                }
            }
        }
        self.registry.track_changes();
        self.as_table.track_changes();
        self.store.track_changes();
        self.accepted.track_changes();
        // Records that could not be loaded are deleted with the first flush.
        for id in dropped {
            self.store.mark_dirty(id);
        }
        for id in dropped_accepted {
            self.accepted.mark_dirty(id);
        }
        // Accepted copies and the stored messages of registered recipients go out at the first
        // timeout (issue 9: a delivery cut short by the restart is made again).
        self.schedule_all_flushes(now);
        self.sync_gauge();
        restored
    }

    /// The registrations and stored messages changed since the last call, encoded for
    /// [`ServerDb::apply`] (empty until [`ServerCore::restore`] turned tracking on). The driver
    /// writes them before it sends the datagrams of the same turn.
    pub fn take_changes(&mut self) -> ServerChanges {
        let mut changes = ServerChanges::default();
        let dirty = self.registry.take_dirty();
        changes.registrations.reserve_exact(dirty.len());
        for key in dirty {
            let record = self.registry.get(&key).map(encode_registration);
            changes.registrations.push((key, record));
        }
        for key in self.as_table.take_dirty() {
            let address = self.as_table.get(&key).map(|a| a.to_string());
            changes.as_registrations.push((key, address));
        }
        let anchor = self.wall;
        for id in self.store.take_dirty() {
            let record = self.store.get(id).map(|((target, recipient), stored)| {
                // Without an anchor (never the case once restored) the copy reloads expired.
                let wall = anchor.map_or(UNIX_EPOCH, |(at, wall)| {
                    match stored.expires.checked_duration_since(at) {
                        Some(ahead) => wall.checked_add(ahead),
                        None => wall.checked_sub(at.duration_since(stored.expires)),
                    }
                    .unwrap_or(wall)
                });
                encode_stored(*target, recipient, wall, &stored.message)
            });
            changes.stored.push((id, record));
        }
        for id in self.accepted.take_dirty() {
            let record = self.accepted.get(id).map(encode_accepted);
            changes.accepted.push((id, record));
        }
        changes
    }

    /// Whether anything changed since the last [`ServerCore::take_changes`].
    pub fn has_changes(&self) -> bool {
        self.registry.has_dirty()
            || self.as_table.has_dirty()
            || self.store.has_dirty()
            || self.accepted.has_dirty()
    }

    /// Whether stored or accepted messages changed since the last
    /// [`ServerCore::take_changes`]: an answer (`STORED`/`ACCEPTED`) may wait for them.
    pub fn has_message_changes(&self) -> bool {
        self.store.has_dirty() || self.accepted.has_dirty()
    }

    /// Record the keys of `changes` as changed again (their write failed): the next
    /// [`ServerCore::take_changes`] returns their current state.
    pub fn retry_changes(&mut self, changes: &ServerChanges) {
        for (key, _) in &changes.registrations {
            self.registry.touch(key);
        }
        for (key, _) in &changes.as_registrations {
            self.as_table.touch(key);
        }
        for (id, _) in &changes.stored {
            self.store.mark_dirty(*id);
        }
        for (id, _) in &changes.accepted {
            self.accepted.mark_dirty(*id);
        }
    }
}

#[cfg(test)]
#[path = "persist_tests.rs"]
mod tests;
