//! Message copies answered `ACCEPTED` whose delivery is in progress (issue 9 "Never lose a
//! message"; 23.554 §8.3.2: the server delivers what it accepted).
//!
//! Each copy is held here by id from the turn it is accepted until its delivery's outcome (2.xx:
//! removed; failure: removed and stored or reported, as the sender asked). With persistence on,
//! the ids added and removed are recorded for [`super::ServerCore::take_changes`], so a copy is
//! durable before its `ACCEPTED` answer leaves, and a restart (kill -9 included) finds it and
//! delivers it again (at-least-once, same Message ID). Bounded by
//! `max_outstanding_deliveries` (a copy only enters with a downlink request that starts at
//! once), plus the copies restored at start. What the core does with a copy that could not be
//! delivered is in `delivery`; the sending again of restored copies in `forward`.

use crate::msg::Message;
use std::collections::{HashMap, HashSet, VecDeque};

/// Accepted copies in delivery, by id, and the restored ones still to be sent again.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    entries: HashMap<u64, Message>,
    /// Restored copies not sent yet, in id (acceptance) order.
    waiting: VecDeque<u64>,
    next_id: u64,
    /// Ids added or removed since the last [`Accepted::take_dirty`], when tracked.
    dirty: Option<HashSet<u64>>,
}

impl Accepted {
    /// Record the ids added and removed from now on (see [`Accepted::take_dirty`]).
    pub(crate) fn track_changes(&mut self) {
        self.dirty.get_or_insert_with(HashSet::new);
    }

    /// Whether ids were added or removed since the last [`Accepted::take_dirty`].
    pub(crate) fn has_dirty(&self) -> bool {
        self.dirty.as_ref().is_some_and(|d| !d.is_empty())
    }

    /// The ids added or removed since the last call (empty when not tracked): resolve each with
    /// [`Accepted::get`] (absent: removed).
    pub(crate) fn take_dirty(&mut self) -> HashSet<u64> {
        self.dirty.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Record `id` as changed (its write failed, or a loaded record is to be deleted).
    pub(crate) fn mark_dirty(&mut self, id: u64) {
        if let Some(dirty) = &mut self.dirty {
            dirty.insert(id);
        }
    }

    /// Hold a copy whose delivery starts now; its id.
    pub(crate) fn insert(&mut self, m: Message) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.insert(id, m);
        self.mark_dirty(id);
        id
    }

    /// Put back a copy loaded from persistent storage under its old `id` (ascending ids keep the
    /// acceptance order), waiting to be sent again; not recorded as a change.
    pub(crate) fn restore(&mut self, id: u64, m: Message) {
        if self.entries.insert(id, m).is_none() {
            self.waiting.push_back(id);
        }
        self.next_id = self.next_id.max(id.saturating_add(1));
    }

    /// One copy by id.
    pub(crate) fn get(&self, id: u64) -> Option<&Message> {
        self.entries.get(&id)
    }

    /// The delivery of `id` ended: the copy, removed.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Message> {
        let m = self.entries.remove(&id)?;
        self.mark_dirty(id);
        Some(m)
    }

    /// The next restored copy to send again.
    pub(crate) fn pop_waiting(&mut self) -> Option<u64> {
        self.waiting.pop_front()
    }

    /// Put a restored copy back first in line (no room to send it now).
    pub(crate) fn unpop_waiting(&mut self, id: u64) {
        self.waiting.push_front(id);
    }

    /// Whether restored copies wait to be sent again.
    pub(crate) fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Copies held (in delivery or waiting).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str) -> Message {
        Message {
            message_id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn changes_are_recorded_once_tracked() {
        let mut a = Accepted::default();
        let first = a.insert(msg("1"));
        assert!(a.take_dirty().is_empty(), "not tracked yet");
        a.track_changes();
        let second = a.insert(msg("2"));
        assert_eq!(a.take_dirty(), HashSet::from([second]));
        assert_eq!(a.remove(first).map(|m| m.message_id), Some("1".into()));
        assert_eq!(a.take_dirty(), HashSet::from([first]), "deleted");
        assert!(a.remove(first).is_none() && a.take_dirty().is_empty());
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn restored_copies_wait_in_order_and_ids_go_on() {
        let mut a = Accepted::default();
        a.restore(4, msg("a"));
        a.restore(9, msg("b"));
        a.track_changes();
        assert!(a.take_dirty().is_empty(), "a restore writes nothing");
        assert_eq!(a.pop_waiting(), Some(4));
        a.unpop_waiting(4);
        assert_eq!((a.pop_waiting(), a.pop_waiting()), (Some(4), Some(9)));
        assert!(!a.has_waiting());
        assert_eq!(a.insert(msg("c")), 10);
    }
}
