//! The gateway's own registration with the server (23.554 §8.2.7 pre-condition 1; issue 9):
//! its state, and the Application Client requests parked while the server has lost it.

use super::pending::Kind;
use crate::gateway::answer::Outcome;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// The shard's part in the gateway's own registration.
#[derive(Debug)]
pub(super) struct SelfRegistration {
    /// Where shard 0's registration stands ([`SelfState::NotOwner`] on other shards).
    pub(super) state: SelfState,
    /// When this shard last sent the gateway's own registration (shard 0).
    pub(super) sent_at: Option<Instant>,
    /// Shards waiting for shard 0's re-registration ([`crate::gateway::Handoff::SelfRegistered`]).
    pub(super) waiters: BTreeSet<usize>,
    /// This shard asked shard 0 to register again and has not heard back.
    pub(super) requested: bool,
    /// Requests refused `NOT_REGISTERED` for the gateway's own UE Service ID, waiting for its
    /// re-registration: (kind, key) → (sequence number, the server's outcome if it never comes).
    pub(super) parked: HashMap<(Kind, Arc<str>), (u64, Outcome)>,
}

impl SelfRegistration {
    /// The state of shard `shard`: shard 0 registers when `register_self` is on.
    pub(super) fn new(shard: usize, register_self: bool) -> SelfRegistration {
        let state = if shard == 0 && register_self {
            SelfState::Due
        } else {
            SelfState::NotOwner
        };
        SelfRegistration {
            state,
            sent_at: None,
            waiters: BTreeSet::new(),
            requested: false,
            parked: HashMap::new(),
        }
    }
}

/// State of the gateway's own registration with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SelfState {
    /// Not this shard's job (only shard 0 registers the gateway).
    NotOwner,
    /// Due to be sent.
    Due,
    /// Sent, waiting for the answer.
    Sent,
    /// The server accepted it.
    Registered,
}
