//! The segment sets the gateway sent for its Application Clients (23.554 §8.5, §8.11; design
//! D9): per set the AC's exchange, one verdict slot per segment, and each segment's complete
//! `MSG` kept for the server's `SEGREC`.

use super::pending::Exchange;
use crate::gateway::answer::Outcome;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One segmented message of an Application Client.
#[derive(Debug)]
pub(super) struct OutSet {
    /// The segmented message's Message ID (in every segment, D1).
    pub message_id: Arc<str>,
    /// The AC's request, answered once every segment has its verdict.
    pub exchange: Exchange,
    /// Each segment's verdict, by segment number − 1.
    pub verdicts: Vec<Option<Outcome>>,
    /// Each segment as a complete `MSG`, by segment number − 1 (sent again on `SEGREC`).
    pub singles: Vec<Vec<u8>>,
    /// The AC has its answer (the set is only kept for `SEGREC` now).
    pub answered: bool,
    /// The server confirmed the set (`SEGCONFIR`) before the AC had its answer.
    pub confirmed: bool,
}

/// The sets of one shard, by set ID, and the pending entries of their segments.
#[derive(Debug, Default)]
pub(super) struct SegmentsOut {
    /// Set ID → set (foldhash, seeded per process: set IDs come from the server on `SEGREC`).
    sets: HashMap<Arc<str>, OutSet, foldhash::fast::RandomState>,
    /// Pending entry sequence number → (set ID, segment index) while the segment awaits its
    /// verdict.
    members: HashMap<u64, (Arc<str>, usize), foldhash::fast::RandomState>,
    /// Message IDs of the sets still awaiting verdicts (a Message ID is unique while pending).
    sending: HashSet<Arc<str>, foldhash::fast::RandomState>,
}

impl SegmentsOut {
    /// Sets kept (awaiting verdicts or held for `SEGREC`).
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether the pending entry `seq` is a segment of one of these sets.
    pub fn is_member(&self, seq: u64) -> bool {
        self.members.contains_key(&seq)
    }

    /// Keep `set` under `set_id`.
    pub fn insert(&mut self, set_id: Arc<str>, set: OutSet) {
        self.sending.insert(set.message_id.clone());
        self.sets.insert(set_id, set);
    }

    /// Whether a set of message `message_id` still awaits verdicts.
    pub fn is_sending(&self, message_id: &str) -> bool {
        self.sending.contains(message_id)
    }

    /// The set of message `message_id` has all its verdicts.
    pub fn answered(&mut self, message_id: &str) {
        self.sending.remove(message_id);
    }

    /// The pending entry `seq` carries segment index `index` of set `set_id`.
    pub fn add_member(&mut self, seq: u64, set_id: Arc<str>, index: usize) {
        self.members.insert(seq, (set_id, index));
    }

    /// The set and segment index of pending entry `seq`, which leaves the members.
    pub fn take_member(&mut self, seq: u64) -> Option<(Arc<str>, usize)> {
        self.members.remove(&seq)
    }

    /// The set `set_id`.
    pub fn get(&self, set_id: &str) -> Option<&OutSet> {
        self.sets.get(set_id)
    }

    /// The set `set_id`, mutably.
    pub fn get_mut(&mut self, set_id: &str) -> Option<&mut OutSet> {
        self.sets.get_mut(set_id)
    }

    /// Free the set `set_id`.
    pub fn remove(&mut self, set_id: &str) -> Option<OutSet> {
        let set = self.sets.remove(set_id)?;
        if !set.answered {
            self.sending.remove(&set.message_id);
        }
        Some(set)
    }
}

/// The one answer for a whole segmented message (design D9): the first failure in segment
/// order; else `STORED` when any segment was stored, else `ACCEPTED`. `None` while a segment
/// still awaits its verdict.
pub(super) fn combined_outcome(verdicts: &[Option<Outcome>]) -> Option<Outcome> {
    let mut stored: Option<&Outcome> = None;
    let mut accepted: Option<&Outcome> = None;
    for v in verdicts {
        let v = v.as_ref()?;
        if v.result != crate::msg::RegResult::Success {
            // Keep looking only to know every segment has its verdict.
            if verdicts.iter().any(Option::is_none) {
                return None;
            }
            return Some(v.clone());
        }
        if v.status == Some(crate::msg::MsgDeliveryStatus::Stored) {
            stored = stored.or(Some(v));
        } else {
            accepted = accepted.or(Some(v));
        }
    }
    stored.or(accepted).cloned()
}

#[cfg(test)]
mod tests {
    use super::combined_outcome;
    use crate::gateway::answer::Outcome;
    use crate::gateway::Kind;
    use crate::msg::{cause, MsgDeliveryStatus};

    #[test]
    fn worst_of_rule() {
        let ok = Some(Outcome::success(Kind::Msg));
        let stored = Some(Outcome::verdict(MsgDeliveryStatus::Stored, None));
        let failed = Some(Outcome::failure(cause::UNKNOWN_UE));
        let refused = Some(Outcome::failure(cause::POLICY_REJECT));
        assert_eq!(combined_outcome(&[ok.clone(), None]), None);
        assert_eq!(combined_outcome(&[failed.clone(), None]), None);
        assert_eq!(combined_outcome(&[ok.clone(), ok.clone()]), ok);
        assert_eq!(
            combined_outcome(&[ok.clone(), stored.clone(), ok.clone()]),
            stored
        );
        assert_eq!(
            combined_outcome(&[ok, refused.clone(), failed, stored]),
            refused
        );
    }
}
