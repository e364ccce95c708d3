//! The queue of recipients whose stored messages are going out (store and forward, 23.554
//! §8.3.6): filled when a recipient registers or is reached, pumped while there is room.

use super::store::RecipientKey;
use std::collections::{HashSet, VecDeque};
use std::time::Instant;

/// Stored messages waiting to go to recipients that (re)registered, in order.
#[derive(Debug, Default)]
pub(super) struct FlushQueue {
    pub(super) queue: VecDeque<RecipientKey>,
    pub(super) queued: HashSet<RecipientKey>,
    /// A pump is due at this instant (set after a restart).
    pub(super) due: Option<Instant>,
}
