//! Persistence of the relay's link table (issue 9): the server knows each linked UE as the
//! relay's per-link uplink address, so after a restart (kill -9) the links come back on the
//! **same uplink ports** and the server's downlink and registrations stay valid.
//!
//! The core stays sans-IO, like the server's (`server/persist.rs`): the link table records which
//! UE addresses' links changed, [`RelayCore::take_changes`] encodes them ([`RelayChanges`]), and
//! the driver writes them with [`RelayDb::apply`] in one `redb` write transaction per event-loop
//! turn. A new link's record is written before anything is relayed on its endpoint (the queued
//! datagrams leave one turn later). At start the driver reads a [`RelaySnapshot`] and hands it to
//! [`RelayCore::restore`], which re-opens each endpoint on its old port (a port that cannot be
//! bound again drops the link, counted in `links_restore_failed`) and turns change tracking on.
//!
//! Table `links` (file `relay.redb` in the data directory): UE address (`IP:port`) → JSON record
//! (uplink port, last activity and, for an ended link within its grace, the unlink time, both in
//! wall-clock Unix milliseconds), plus `meta` (`schema_version`). Idle expiry continues from the
//! persisted last activity (which lags the real one by at most 5 s, `ACTIVITY_STEP`). Device
//! requests in flight are not persisted: their retransmissions pass through the restored link.

use super::link::Link;
use super::{RelayCore, FIRST_LINK_SOCKET};
use crate::net::shard::SocketOp;
use crate::store::{db, open_versioned, StoreError};
use metrics::CounterFn;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");

/// Layout version written to `meta`; a file with another version is refused.
pub const RELAY_SCHEMA_VERSION: u64 = 1;

/// The database file inside the data directory.
pub const RELAY_DB_FILE: &str = "relay.redb";

/// Changed links, encoded, to be written in one transaction (`None`: delete the key).
#[derive(Debug, Default)]
pub struct RelayChanges {
    /// UE address → link record.
    pub links: Vec<(String, Option<Vec<u8>>)>,
}

impl RelayChanges {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

/// The links as read at start.
#[derive(Debug, Default)]
pub struct RelaySnapshot {
    /// UE address → link record.
    pub links: Vec<(String, Vec<u8>)>,
}

/// What [`RelayCore::restore`] loaded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayRestored {
    /// Links put back (their endpoints are being re-opened).
    pub links: usize,
    /// Links past their idle timeout and grace, or whose record did not decode or fit the
    /// configuration (slot bound, port range): dropped and deleted.
    pub skipped: usize,
}

/// The relay's `redb` database.
#[derive(Debug)]
pub struct RelayDb {
    db: redb::Database,
    path: PathBuf,
}

impl RelayDb {
    /// Open (create if missing) `dir/relay.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<RelayDb, StoreError> {
        let (db, path) = open_versioned(dir, RELAY_DB_FILE, RELAY_SCHEMA_VERSION, |txn| {
            txn.open_table(LINKS)?;
            Ok(())
        })?;
        Ok(RelayDb { db, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read every link.
    pub fn load(&self) -> Result<RelaySnapshot, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let mut snapshot = RelaySnapshot::default();
        for entry in txn.open_table(LINKS).map_err(db)?.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            snapshot
                .links
                .push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(snapshot)
    }

    /// Write `changes` in one durable transaction (fsync on commit).
    pub fn apply(&self, changes: &RelayChanges) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut links = txn.open_table(LINKS).map_err(db)?;
            for (key, record) in &changes.links {
                match record {
                    Some(r) => links.insert(key.as_str(), r.as_slice()).map(drop),
                    None => links.remove(key.as_str()).map(drop),
                }
                .map_err(db)?;
            }
        }
        txn.commit().map_err(db)?;
        Ok(())
    }
}

/// A link as stored.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct LinkRecord {
    /// The uplink endpoint's local port.
    port: u16,
    /// Last datagram either way, Unix milliseconds (wall clock).
    last_activity_ms: u64,
    /// When the link ended (idle or DEREG), Unix milliseconds; absent while linked.
    #[serde(default)]
    unlinked_ms: Option<u64>,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RelayCore {
    /// The wall-clock time of `at` through the anchor (`UNIX_EPOCH` without one).
    fn wall_of(&self, at: Instant) -> SystemTime {
        let Some((anchor, wall)) = self.wall else {
            return UNIX_EPOCH;
        };
        match at.checked_duration_since(anchor) {
            Some(ahead) => wall.checked_add(ahead),
            None => wall.checked_sub(anchor.duration_since(at)),
        }
        .unwrap_or(wall)
    }

    /// Load `snapshot` (read by the driver at start; `wall` is the real time at `now`): each
    /// link is put back with its endpoint to be re-opened on its old port ([`SocketOp::Open`],
    /// at the first timeout, due at once), its idle timeout continuing from the persisted last
    /// activity; then every later change is recorded for [`RelayCore::take_changes`].
    pub fn restore(
        &mut self,
        now: Instant,
        wall: SystemTime,
        snapshot: RelaySnapshot,
    ) -> RelayRestored {
        self.wall = Some((now, wall));
        let mut restored = RelayRestored::default();
        let mut dropped = Vec::new();
        let (idle, grace) = (self.config.link_idle_timeout, self.config.unlinked_grace);
        let ago = |ms: u64| {
            let then = UNIX_EPOCH + Duration::from_millis(ms);
            wall.duration_since(then).unwrap_or(Duration::ZERO)
        };
        let mut next_slot = 0usize;
        for (key, bytes) in snapshot.links {
            let decoded = key.parse::<SocketAddr>().ok().and_then(|ue| {
                let mut buf = bytes.clone();
                let r: LinkRecord = simd_json::serde::from_slice(&mut buf).ok()?;
                Some((ue, r))
            });
            let Some((ue, r)) = decoded else {
                restored.skipped += 1;
                dropped.push(key);
                continue;
            };
            let idle_for = ago(r.last_activity_ms);
            let unlinked_for = match r.unlinked_ms {
                Some(ms) => Some(ago(ms)),
                // Idle past its timeout while the relay was down: ended then.
                None if idle_for >= idle => Some(idle_for - idle),
                None => None,
            };
            if unlinked_for.is_some_and(|u| u >= grace) || r.port == 0 {
                restored.skipped += 1;
                dropped.push(key);
                continue;
            }
            // With a port range the slot follows from the port; else the next free slot.
            let slot = match self.config.uplink_ports {
                Some((start, end)) if (start..=end).contains(&r.port) => {
                    Some(usize::from(r.port - start))
                }
                Some(_) => None,
                None => {
                    while !self.links.is_free(next_slot) && next_slot < self.config.max_links {
                        next_slot += 1;
                    }
                    Some(next_slot)
                }
            };
            let Some(slot) = slot.filter(|&s| self.links.is_free(s)) else {
                restored.skipped += 1;
                dropped.push(key);
                continue;
            };
            let back = |d: Duration| now.checked_sub(d).unwrap_or(now);
            let last_activity = back(idle_for);
            let unlinked_since = unlinked_for.map(back);
            self.links
                .restore(slot, ue, r.port, last_activity, unlinked_since);
            self.ops.push_back(SocketOp::Open {
                id: FIRST_LINK_SOCKET + slot,
                bind: SocketAddr::new(self.config.uplink_ip, r.port),
            });
            restored.links += 1;
        }
        self.links.rebuild_free();
        self.links.track_changes();
        for key in dropped {
            if let Ok(ue) = key.parse::<SocketAddr>() {
                self.links.touch(ue);
            } else {
                self.undecodable.push(key);
            }
        }
        if restored.links > 0 {
            self.wake_at = Some(now);
        }
        self.stats.links.store(
            self.links.active() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.stats.links_restored.increment(restored.links as u64);
        restored
    }

    /// The links changed since the last call, encoded for [`RelayDb::apply`] (empty until
    /// [`RelayCore::restore`] turned tracking on). Only links whose endpoint port is known are
    /// written; a freed link's record is deleted.
    pub fn take_changes(&mut self) -> RelayChanges {
        let mut changes = RelayChanges::default();
        for key in self.undecodable.drain(..) {
            changes.links.push((key, None));
        }
        for ue in self.links.take_dirty() {
            let record = self
                .links
                .find(ue)
                .and_then(|slot| self.links.get(slot))
                .and_then(|link| self.encode_link(link));
            changes.links.push((ue.to_string(), record));
        }
        changes
    }

    fn encode_link(&self, link: &Link) -> Option<Vec<u8>> {
        let record = LinkRecord {
            port: link.port?,
            last_activity_ms: unix_ms(self.wall_of(link.last_activity)),
            unlinked_ms: link.unlinked_since.map(|at| unix_ms(self.wall_of(at))),
        };
        simd_json::to_vec(&record).ok()
    }

    /// Record the links of `changes` as changed again (their write failed): the next
    /// [`RelayCore::take_changes`] returns their current state.
    pub fn retry_changes(&mut self, changes: &RelayChanges) {
        for (key, _) in &changes.links {
            match key.parse::<SocketAddr>() {
                Ok(ue) => self.links.touch(ue),
                Err(_) => self.undecodable.push(key.clone()),
            }
        }
    }
}

#[cfg(test)]
#[path = "persist_tests.rs"]
mod tests;
