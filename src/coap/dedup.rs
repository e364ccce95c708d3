//! RFC 7252 §4.5 message deduplication: a retransmitted CON gets the identical answer and is
//! never processed twice; a duplicate NON is ignored. Entries live EXCHANGE_LIFETIME (CON) or
//! NON_LIFETIME (NON) and the table is bounded by entry count (oldest evicted first).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to do with an incoming request's (peer, Message ID).
#[derive(Debug, PartialEq, Eq)]
pub enum DedupOutcome<'a> {
    /// First time seen: process it (the entry is now recorded as pending).
    New,
    /// Seen, answer not decided yet: absorb silently.
    Pending,
    /// Seen and answered: resend exactly these bytes.
    Replay(&'a [u8]),
}

/// Bounded duplicate-detection cache keyed by (peer, Message ID).
#[derive(Debug)]
pub struct DedupCache {
    _private: (),
}

impl DedupCache {
    /// A cache holding at most `max_entries`, CON entries for `con_lifetime`
    /// (EXCHANGE_LIFETIME) and NON entries for `non_lifetime` (NON_LIFETIME).
    pub fn new(max_entries: usize, con_lifetime: Duration, non_lifetime: Duration) -> DedupCache {
        todo!("{max_entries}{con_lifetime:?}{non_lifetime:?}")
    }

    /// Look up and, when new, record (peer, mid). Expired entries count as absent.
    pub fn check(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        mid: u16,
        con: bool,
    ) -> DedupOutcome<'_> {
        todo!("{now:?}{peer}{mid}{con}")
    }

    /// Record the reply sent for (peer, mid); later duplicates get these bytes.
    /// Replaces an earlier reply (e.g. an empty ACK superseded by nothing else is kept as is).
    pub fn set_reply(&mut self, peer: SocketAddr, mid: u16, reply: &[u8]) {
        todo!("{peer}{mid}{reply:?}")
    }

    /// Forget (peer, mid) (e.g. a request rejected before processing that may be retried).
    pub fn remove(&mut self, peer: SocketAddr, mid: u16) {
        todo!("{peer}{mid}")
    }

    /// Drop entries whose lifetime ended.
    pub fn expire(&mut self, now: Instant) {
        todo!("{now:?}")
    }

    /// When the oldest entry expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        todo!()
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        todo!()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries evicted early because the table was full.
    pub fn evictions(&self) -> u64 {
        todo!()
    }
}
