//! Store and forward (23.554 §8.3.2 NOTE, §8.3.6): messages kept for recipients
//! that are not reachable, bounded per recipient and in total, each with an expiry instant.
//!
//! A delivery of a stored message takes it out of its recipient's queue but keeps it stored
//! ([`Store::begin`]) until the outcome: deleted on the recipient's 2.xx ([`Store::delivered`]),
//! put back at the head of its queue on a failure ([`Store::requeue`]). So a restart during a
//! delivery (kill -9) finds it still in the persisted store, and one stored message has at most
//! one delivery in flight.

use crate::msg::{Message, TargetType};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Instant;

/// A recipient of stored messages: address kind and identifier.
pub(crate) type RecipientKey = (TargetType, String);

/// One stored message copy (addressed to its recipient) and when it expires.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// The copy as it will be delivered.
    pub(crate) message: Message,
    /// Dropped (and reported `EXPIRED`) at this instant.
    pub(crate) expires: Instant,
}

/// Why a message was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreError {
    /// The recipient's queue or the whole store is at its bound.
    Full,
}

/// Stored messages: FIFO per recipient, expiry-ordered index, bounded.
#[derive(Debug)]
pub(crate) struct Store {
    entries: HashMap<u64, (RecipientKey, Stored)>,
    queues: HashMap<RecipientKey, VecDeque<u64>>,
    expiry: BTreeSet<(Instant, u64)>,
    next_id: u64,
    max_total: usize,
    max_per_recipient: usize,
    /// Entries whose delivery is in progress: out of their queue and of the expiry index.
    in_flight: HashSet<u64>,
    /// Entry ids added or removed since the last [`Store::take_dirty`], when tracked.
    dirty: Option<HashSet<u64>>,
}

impl Store {
    /// An empty store holding at most `max_total` messages, `max_per_recipient` per recipient.
    pub(crate) fn new(max_total: usize, max_per_recipient: usize) -> Store {
        Store {
            entries: HashMap::new(),
            queues: HashMap::new(),
            expiry: BTreeSet::new(),
            next_id: 0,
            max_total,
            max_per_recipient,
            in_flight: HashSet::new(),
            dirty: None,
        }
    }

    /// Record the entries added and removed from now on (see `take_dirty`).
    pub(crate) fn track_changes(&mut self) {
        self.dirty.get_or_insert_with(HashSet::new);
    }

    /// The ids of the entries added or removed since the last call (empty when not tracked):
    /// resolve each with [`Store::get`] (absent: removed).
    pub(crate) fn take_dirty(&mut self) -> HashSet<u64> {
        self.dirty.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Whether entries changed since the last [`Store::take_dirty`].
    pub(crate) fn has_dirty(&self) -> bool {
        self.dirty.as_ref().is_some_and(|d| !d.is_empty())
    }

    /// Record `id` as changed (e.g. a loaded record that is to be deleted).
    pub(crate) fn mark_dirty(&mut self, id: u64) {
        self.touch(id);
    }

    fn touch(&mut self, id: u64) {
        if let Some(dirty) = &mut self.dirty {
            dirty.insert(id);
        }
    }

    /// One entry by id, with its recipient.
    pub(crate) fn get(&self, id: u64) -> Option<&(RecipientKey, Stored)> {
        self.entries.get(&id)
    }

    /// Put back an entry loaded from persistent storage under its old `id` (call in ascending id
    /// order so that each recipient's queue keeps its order); not recorded as a change, and
    /// bounded like [`Store::insert`].
    pub(crate) fn restore(
        &mut self,
        id: u64,
        key: RecipientKey,
        stored: Stored,
    ) -> Result<(), StoreError> {
        let queued = self.queues.get(&key).map_or(0, VecDeque::len);
        if self.entries.len() >= self.max_total
            || queued >= self.max_per_recipient
            || self.entries.contains_key(&id)
        {
            return Err(StoreError::Full);
        }
        self.next_id = self.next_id.max(id.saturating_add(1));
        self.expiry.insert((stored.expires, id));
        self.queues.entry(key.clone()).or_default().push_back(id);
        self.entries.insert(id, (key, stored));
        Ok(())
    }

    /// Keep `stored` for `key`, behind the messages already stored for it.
    pub(crate) fn insert(&mut self, key: RecipientKey, stored: Stored) -> Result<(), StoreError> {
        let queued = self.queues.get(&key).map_or(0, VecDeque::len);
        if self.entries.len() >= self.max_total || queued >= self.max_per_recipient {
            return Err(StoreError::Full);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.expiry.insert((stored.expires, id));
        self.queues.entry(key.clone()).or_default().push_back(id);
        self.entries.insert(id, (key, stored));
        self.touch(id);
        Ok(())
    }

    /// The oldest message stored for `key` that is not being delivered, marked in flight: it
    /// stays stored (and persisted) until [`Store::delivered`] or [`Store::requeue`], and does
    /// not expire meanwhile.
    pub(crate) fn begin(&mut self, key: &RecipientKey) -> Option<u64> {
        let queue = self.queues.get_mut(key)?;
        let id = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(key);
        }
        let (_, stored) = self.entries.get(&id)?;
        self.expiry.remove(&(stored.expires, id));
        self.in_flight.insert(id);
        Some(id)
    }

    /// The delivery of in-flight entry `id` succeeded: removed, with its recipient.
    pub(crate) fn delivered(&mut self, id: u64) -> Option<(RecipientKey, Stored)> {
        if !self.in_flight.remove(&id) {
            return None;
        }
        let entry = self.entries.remove(&id)?;
        self.touch(id);
        Some(entry)
    }

    /// The delivery of in-flight entry `id` failed: back at the head of its recipient's queue
    /// (delivered again at the next opportunity), and subject to its expiry again.
    pub(crate) fn requeue(&mut self, id: u64) -> Option<&RecipientKey> {
        if !self.in_flight.remove(&id) {
            return None;
        }
        let (key, stored) = self.entries.get(&id)?;
        self.expiry.insert((stored.expires, id));
        self.queues.entry(key.clone()).or_default().push_front(id);
        Some(key)
    }

    /// Entries whose delivery is in progress.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The recipients with queued (not in-flight) messages.
    pub(crate) fn recipients(&self) -> impl Iterator<Item = &RecipientKey> {
        self.queues.keys()
    }

    /// Whether anything is stored for `key`.
    pub(crate) fn has(&self, key: &RecipientKey) -> bool {
        self.queues.contains_key(key)
    }

    /// One message whose expiry is at or before `now`, removed with its recipient.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(RecipientKey, Stored)> {
        let &(at, id) = self.expiry.first()?;
        if at > now {
            return None;
        }
        self.expiry.remove(&(at, id));
        let (key, stored) = self.entries.remove(&id)?;
        self.touch(id);
        if let Some(queue) = self.queues.get_mut(&key) {
            queue.retain(|&q| q != id);
            if queue.is_empty() {
                self.queues.remove(&key);
            }
        }
        Some((key, stored))
    }

    /// The earliest expiry.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first().map(|&(at, _)| at)
    }

    /// Messages stored (in-flight deliveries included).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Registered-recipient key of a UE.
pub(crate) fn ue_key(id: &str) -> RecipientKey {
    (TargetType::Ue, id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn msg(id: &str) -> Message {
        Message {
            message_id: id.into(),
            ..Default::default()
        }
    }

    fn key(id: &str) -> RecipientKey {
        (TargetType::Ue, id.into())
    }

    #[test]
    fn fifo_bounds_and_expiry() {
        let t0 = Instant::now();
        let mut s = Store::new(3, 2);
        let at = |s| t0 + Duration::from_secs(s);
        for (k, m, e) in [("a", "1", 30), ("a", "2", 10), ("b", "3", 20)] {
            let stored = Stored {
                message: msg(m),
                expires: at(e),
            };
            assert_eq!(s.insert(key(k), stored), Ok(()));
        }
        let extra = |m: &str| Stored {
            message: msg(m),
            expires: at(5),
        };
        assert_eq!(
            s.insert(key("a"), extra("x")),
            Err(StoreError::Full),
            "per recipient"
        );
        assert_eq!(
            s.insert(key("c"), extra("y")),
            Err(StoreError::Full),
            "in total"
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s.next_expiry(), Some(at(10)));
        assert!(s.pop_expired(at(9)).is_none());
        let (k, e) = s.pop_expired(at(10)).expect("expired");
        assert_eq!((k, e.message.message_id.as_str()), (key("a"), "2"));
        let a1 = s.begin(&key("a")).expect("queued");
        assert_eq!(s.get(a1).unwrap().1.message.message_id, "1");
        assert!(!s.has(&key("a")) && s.begin(&key("a")).is_none());
        assert_eq!(s.delivered(a1).unwrap().1.message.message_id, "1");
        assert!(s.has(&key("b")));
        assert_eq!(s.next_expiry(), Some(at(20)));
        let b = s.begin(&key("b")).expect("queued");
        assert_eq!(
            (s.len(), s.next_expiry()),
            (1, None),
            "in flight: kept, no expiry"
        );
        assert!(s.pop_expired(at(99)).is_none());
        assert_eq!(s.requeue(b), Some(&key("b")));
        assert_eq!(s.requeue(b), None, "not in flight any more");
        assert_eq!(s.next_expiry(), Some(at(20)));
        let b = s.begin(&key("b")).expect("requeued");
        assert_eq!(s.delivered(b).unwrap().1.message.message_id, "3");
        assert_eq!((s.len(), s.in_flight(), s.next_expiry()), (0, 0, None));
    }

    #[test]
    fn in_flight_entries_stay_stored_until_the_outcome() {
        let t0 = Instant::now();
        let mut s = Store::new(8, 8);
        s.track_changes();
        for m in ["1", "2"] {
            let stored = Stored {
                message: msg(m),
                expires: t0 + Duration::from_secs(60),
            };
            s.insert(key("a"), stored).unwrap();
        }
        s.take_dirty();
        let first = s.begin(&key("a")).unwrap();
        assert!(
            s.take_dirty().is_empty(),
            "a start of delivery writes nothing"
        );
        assert_eq!((s.len(), s.in_flight()), (2, 1));
        // A failure puts it back first in line.
        s.requeue(first);
        assert_eq!(s.begin(&key("a")), Some(first));
        assert!(s.delivered(first).is_some());
        assert_eq!(s.take_dirty(), HashSet::from([first]), "deleted on success");
        assert!(s.delivered(first).is_none());
    }
}
