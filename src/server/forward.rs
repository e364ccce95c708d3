//! Store and forward (23.554 §8.3.2 NOTE, §8.3.6): a copy kept for a recipient that is not
//! reachable, until its expiry; stored messages go out after the recipient's next registration,
//! after a successful delivery to it, and after a restart (with the restored accepted copies
//! first), each staying stored until its delivery's outcome (issue 9).

use super::core::ServerCore;
use super::downlink::Item;
use super::store::{RecipientKey, Stored};
use super::verdict::Verdict;
use crate::msg::{cause, parse_rfc3339, Message};
use metrics::CounterFn;
use std::time::Instant;

impl ServerCore {
    /// Keep a copy for later: `STORED`, or `FAILED EXPIRED`/`STORE_FULL`.
    pub(super) fn store_copy(&mut self, now: Instant, key: RecipientKey, copy: Message) -> Verdict {
        let Some(expires) = self.expiry_of(now, &copy) else {
            return Verdict::failed(cause::EXPIRED);
        };
        match self.store.insert(
            key,
            Stored {
                message: copy,
                expires,
            },
        ) {
            Ok(()) => {
                self.stats.messages_stored.increment(1);
                Verdict::STORED
            }
            Err(_) => Verdict::failed(cause::STORE_FULL),
        }
    }

    /// When a copy stored now expires: the earlier of `expirationTime` (through the wall-clock
    /// anchor) and `now + store_max_time`; `None` when it has expired already.
    fn expiry_of(&self, now: Instant, m: &Message) -> Option<Instant> {
        let cap = now
            .checked_add(self.config.messaging.store_max_time)
            .unwrap_or(now);
        let (Some(text), Some((at, wall))) = (&m.expiration_time, self.wall) else {
            return Some(cap);
        };
        let Some(t) = parse_rfc3339(text) else {
            return Some(cap);
        };
        let instant = match t.duration_since(wall) {
            Ok(ahead) => at.checked_add(ahead).unwrap_or(cap),
            Err(behind) => at.checked_sub(behind.duration())?,
        };
        (instant > now).then_some(instant.min(cap))
    }

    /// A stored message expired: dropped, and an `IMDN FAILURE EXPIRED` when asked for.
    pub(super) fn expired(&mut self, now: Instant, m: Message) {
        self.stats.messages_expired.increment(1);
        if m.delivery_status_required {
            self.send_failure_report(now, &m, cause::EXPIRED);
        }
    }

    /// Queue the stored messages of a recipient that just registered.
    pub(super) fn schedule_flush(&mut self, key: RecipientKey) {
        if self.store.has(&key) && self.flush.queued.insert(key.clone()) {
            self.flush.queue.push_back(key);
        }
    }

    /// Queue the stored messages of every registered recipient (after a restart: the restored
    /// store is delivered without waiting for new registrations), pumped at the next timeout,
    /// after the restored accepted copies.
    pub(super) fn schedule_all_flushes(&mut self, now: Instant) {
        let keys: Vec<RecipientKey> = self.store.recipients().cloned().collect();
        for key in keys {
            if self.address_of(key.0, &key.1).is_some() {
                self.schedule_flush(key);
            }
        }
        if !self.flush.queue.is_empty() || self.accepted.has_waiting() {
            self.flush.due = Some(now);
        }
    }

    /// Start deliveries of stored messages to registered recipients while there is room; each
    /// stays in the store until its outcome ([`Store::begin`]).
    pub(super) fn pump(&mut self, now: Instant) {
        self.flush.due = None;
        if self.accepted.has_waiting() {
            // Accepted before the restart: ahead of the stored messages.
            self.resend_restored(now);
        }
        while let Some(key) = self.flush.queue.front().cloned() {
            if !self.downlink.has_room() {
                break;
            }
            let peer = self.address_of(key.0, &key.1);
            let next = peer.and_then(|_| self.store.begin(&key));
            let (Some(peer), Some(id)) = (peer, next) else {
                // Deregistered meanwhile, or everything went out.
                self.flush.queue.pop_front();
                self.flush.queued.remove(&key);
                continue;
            };
            if self.store.get(id).is_some_and(|(_, s)| s.expires <= now) {
                if let Some((_, stored)) = self.store.delivered(id) {
                    self.expired(now, stored.message);
                }
                continue;
            }
            match self.flush_segmented(now, peer, id) {
                // Sent as segments (docs/PROTOCOL.md §18.3).
                Some(true) => continue,
                Some(false) => {
                    self.store.requeue(id);
                    break;
                }
                None => {}
            }
            if self.send_downlink(now, peer, Item::Stored(id)).is_err() {
                // No room (or no Message ID toward the peer): first in line again, tried after a
                // completion.
                self.store.requeue(id);
                break;
            }
        }
    }

    /// Send again the accepted copies restored at start (issue 9), while there is room; a copy
    /// whose recipient is no longer registered is undelivered.
    pub(super) fn resend_restored(&mut self, now: Instant) {
        while self.downlink.has_room() {
            let Some(id) = self.accepted.pop_waiting() else {
                return;
            };
            let peer = self
                .accepted
                .get(id)
                .and_then(|m| m.recipient().map(|a| (a.kind, a.id.to_owned())))
                .and_then(|(kind, rid)| self.address_of(kind, &rid));
            let Some(peer) = peer else {
                if let Some(m) = self.accepted.remove(id) {
                    self.undelivered(now, m);
                }
                continue;
            };
            if self.send_downlink(now, peer, Item::Message(id)).is_err() {
                // No Message ID toward the peer now: first in line again, tried after a
                // completion.
                self.accepted.unpop_waiting(id);
                return;
            }
            self.stats.accepted_resent.increment(1);
        }
    }
}
