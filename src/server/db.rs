//! The server's `redb` database ([`ServerDb`]) and its write-ahead log (module `wal`): one write
//! of a turn's changed records, the snapshot read at start.
//!
//! Tables (file `server.redb` in the data directory): `registrations` (UE Service ID → JSON
//! record: downlink path, `clientAddress`, `clientProfile`), `as_registrations` (AS Service ID
//! → address), `stored_messages` (store id → JSON record: recipient, wall-clock expiry in Unix
//! milliseconds, the copy in its wire JSON), `accepted_messages` (accepted id → the copy in its
//! wire JSON, `MSG`; added to a file of layout 1 when it is opened, read as empty before),
//! `topic_subscriptions` (subscriber `UE:<id>`/`AS:<id>` → JSON record: its topics, each with
//! its wall-clock expiry in Unix milliseconds; added likewise), `meta` (`schema_version`).

use super::changes::ServerChanges;
use super::wal::{Wal, LOG_FILE};
use crate::store::{db, open_versioned, StoreError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

const REGISTRATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("registrations");
const AS_REGISTRATIONS: TableDefinition<&str, &str> = TableDefinition::new("as_registrations");
const STORED: TableDefinition<u64, &[u8]> = TableDefinition::new("stored_messages");
const ACCEPTED: TableDefinition<u64, &[u8]> = TableDefinition::new("accepted_messages");
const TOPICS: TableDefinition<&str, &[u8]> = TableDefinition::new("topic_subscriptions");

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
    /// Subscriber key → its topic subscriptions record.
    pub topic_subscriptions: Vec<(String, Vec<u8>)>,
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
            txn.open_table(TOPICS)?;
            Ok(())
        })?;
        let log_error = |source| StoreError::File {
            path: dir.join(LOG_FILE),
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
        for entry in txn.open_table(TOPICS).map_err(db)?.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            snapshot
                .topic_subscriptions
                .push((k.value().to_owned(), v.value().to_vec()));
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
        if let Err(failed) = self.wal.append(changes) {
            let (source, changes) = *failed;
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
        let mut topics = txn.open_table(TOPICS).map_err(db)?;
        for (key, record) in &changes.topic_subscriptions {
            match record {
                Some(r) => topics.insert(key.as_str(), r.as_slice()).map(drop),
                None => topics.remove(key.as_str()).map(drop),
            }
            .map_err(db)?;
        }
    }
    txn.commit().map_err(db)?;
    Ok(())
}
