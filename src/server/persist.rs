//! Persistence of the server's state (issue 9): registrations and store-and-forward messages
//! survive a restart (23.554 §8.3.6 / 24.538 store and forward: a message answered `STORED` is
//! durable before the answer leaves).
//!
//! The core stays sans-IO: its tables record which keys changed, [`ServerCore::take_changes`]
//! turns them into encoded records ([`ServerChanges`]), and the driver writes them with
//! [`ServerDb::apply`](super::ServerDb::apply) in one `redb` write transaction per event-loop turn, before the turn's
//! datagrams are sent. At start the driver reads a [`ServerSnapshot`] with [`ServerDb::load`](super::ServerDb::load) and
//! hands it to [`ServerCore::restore`], which also turns change tracking on. A stored message
//! stays in `stored_messages` while its delivery is in progress and is deleted with the turn
//! that saw the recipient's 2.xx; after a restart the stored messages of registered recipients
//! go out at the first timeout (at-least-once: a recipient may see a copy again, with the same
//! Message ID, if the server died between its delivery and the write of its deletion).
//! A message copy answered `ACCEPTED` is written the same way from the turn it is accepted
//! (before the answer leaves) until its delivery's outcome (module `accepted`), and sent again
//! after a restart, ahead of the stored messages. Topic subscriptions (23.554 §8.8) are written
//! per subscriber like registrations, with their wall-clock expiry; one that expired while the
//! server was down ends at the first timeout.

use super::changes::ServerChanges;
use super::core::ServerCore;
use super::db::ServerSnapshot;
use super::records::{
    decode_accepted, decode_registration, decode_stored, decode_subscriptions, encode_accepted,
    encode_registration, encode_stored, encode_subscriptions,
};
use super::registry::Inserted;
use super::store::Stored;
use super::topics::Subscriber;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// Topic subscriptions loaded (subscriber, topic pairs).
    pub topic_subscriptions: usize,
    /// Records that did not decode or did not fit the configured bounds (dropped).
    pub skipped: usize,
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
        let mut partial = Vec::new();
        for (key, bytes) in snapshot.topic_subscriptions {
            let Some(subscriber) = Subscriber::from_key(&key) else {
                restored.skipped += 1;
                continue;
            };
            let Some(topics) = decode_subscriptions(&bytes) else {
                // Rewritten (deleted) with the first flush.
                restored.skipped += 1;
                partial.push(subscriber);
                continue;
            };
            let mut skipped = false;
            for (topic, expires_wall) in topics {
                // One that expired meanwhile ends at the first timeout.
                let left = expires_wall.duration_since(wall).unwrap_or(Duration::ZERO);
                let expires = now.checked_add(left).unwrap_or(now);
                match self.topics.restore(&subscriber, &topic, expires) {
                    Ok(()) => restored.topic_subscriptions += 1,
                    Err(_) => {
                        restored.skipped += 1;
                        skipped = true;
                    }
                }
            }
            if skipped {
                partial.push(subscriber);
            }
        }
        self.registry.track_changes();
        self.as_table.track_changes();
        self.topics.track_changes();
        // A subscriber whose record did not decode or whose topics did not all fit the bounds is
        // written again as loaded.
        for subscriber in &partial {
            self.topics.touch(subscriber);
        }
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
        self.sync_topic_gauge();
        restored
    }

    /// The registrations and stored messages changed since the last call, encoded for
    /// [`ServerDb::apply`](super::ServerDb::apply) (empty until [`ServerCore::restore`] turned tracking on). The driver
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
        for subscriber in self.topics.take_dirty() {
            let record =
                self.topics.topics_of(&subscriber).map(|topics| {
                    // Without an anchor (never the case once restored) they reload expired.
                    encode_subscriptions(topics.iter().map(|(topic, &at)| {
                        (topic.as_str(), self.wall_of(at).unwrap_or(UNIX_EPOCH))
                    }))
                });
            changes.topic_subscriptions.push((subscriber.key(), record));
        }
        changes
    }

    /// Whether anything changed since the last [`ServerCore::take_changes`].
    pub fn has_changes(&self) -> bool {
        self.registry.has_dirty()
            || self.as_table.has_dirty()
            || self.store.has_dirty()
            || self.accepted.has_dirty()
            || self.topics.has_dirty()
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
        for (key, _) in &changes.topic_subscriptions {
            if let Some(subscriber) = Subscriber::from_key(key) {
                self.topics.touch(&subscriber);
            }
        }
    }
}

#[cfg(test)]
#[path = "persist_tests.rs"]
mod tests;
