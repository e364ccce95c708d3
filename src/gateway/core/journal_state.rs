//! The persistence sub-state of a shard (issue 9): which directory entries and journal records
//! changed since the driver last committed, and where each journal record's request is.

use super::pending::Kind;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The shard's change tracking, present when the gateway persists.
#[derive(Debug)]
pub(super) struct PersistState {
    /// Real time at `anchor.0` (journal times are stored as wall-clock Unix milliseconds).
    pub(super) anchor: (Instant, SystemTime),
    /// Application Client registrations changed, by Registration ID.
    pub(super) apps: HashSet<u32>,
    /// Client routes changed, by UE Service ID.
    pub(super) clients: HashSet<Arc<str>, foldhash::fast::RandomState>,
    /// Report routes changed, by Message ID.
    pub(super) reports: Vec<Arc<str>>,
    /// Journal records to write (or delete, when no pending entry holds them any more).
    pub(super) journal_dirty: HashSet<u64>,
    /// Journal record id → the pending entry holding it.
    pub(super) journal_index: HashMap<u64, (Kind, Arc<str>)>,
}

impl PersistState {
    /// The wall-clock time of `at`.
    pub(super) fn wall(&self, at: Instant) -> SystemTime {
        let (base, wall) = self.anchor;
        match at.checked_duration_since(base) {
            Some(ahead) => wall.checked_add(ahead),
            None => wall.checked_sub(base.duration_since(at)),
        }
        .unwrap_or(wall)
    }

    /// The instant of wall-clock time `wall`.
    pub(super) fn instant(&self, wall: SystemTime) -> Instant {
        let (base, now_wall) = self.anchor;
        match wall.duration_since(now_wall) {
            Ok(ahead) => base.checked_add(ahead).unwrap_or(base),
            Err(e) => base.checked_sub(e.duration()).unwrap_or(base),
        }
    }
}
