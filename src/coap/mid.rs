//! Message ID allocation (RFC 7252 §4.4): an ID is not reused toward the same peer within
//! EXCHANGE_LIFETIME. IDs can also be reserved (TS 24.538 §6.3.4.3.3 reuse of a device's MID).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Per-peer Message ID allocator with a global bound on tracked IDs.
#[derive(Debug)]
pub struct MidAllocator {
    _private: (),
}

impl MidAllocator {
    /// An allocator whose IDs stay reserved for `lifetime`, tracking at most `max_entries`
    /// (peer, MID) pairs in total; `seed` picks each peer's random starting MID.
    pub fn new(lifetime: Duration, max_entries: usize, seed: u64) -> MidAllocator {
        todo!("{lifetime:?}{max_entries}{seed}")
    }

    /// A fresh MID toward `peer`, or `None` when all 65 536 are in use toward it or the table is
    /// full (the caller then answers 5.03 or waits).
    pub fn allocate(&mut self, now: Instant, peer: SocketAddr) -> Option<u16> {
        todo!("{now:?}{peer}")
    }

    /// Mark `mid` as used toward `peer` from `now`; false if it was already in use (or full).
    pub fn reserve(&mut self, now: Instant, peer: SocketAddr, mid: u16) -> bool {
        todo!("{now:?}{peer}{mid}")
    }

    /// Release IDs whose lifetime ended.
    pub fn expire(&mut self, now: Instant) {
        todo!("{now:?}")
    }

    /// When the oldest reservation ends.
    pub fn next_expiry(&self) -> Option<Instant> {
        todo!()
    }

    /// IDs in use over all peers.
    pub fn in_use(&self) -> usize {
        todo!()
    }

    /// IDs in use toward one peer.
    pub fn in_use_for(&self, peer: SocketAddr) -> usize {
        todo!("{peer}")
    }
}
