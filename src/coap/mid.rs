//! Message ID allocation (RFC 7252 §4.4): an ID is not reused toward the same peer within
//! EXCHANGE_LIFETIME. IDs can also be reserved (TS 24.538 §6.3.4.3.3 reuse of a device's MID).

use super::rng::Rng;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Allocation state toward one peer; dropped once it has no MIDs in use.
#[derive(Debug)]
struct PeerMids {
    next: u16,
    used: HashSet<u16>,
}

/// Per-peer Message ID allocator with a global bound on tracked IDs.
///
/// Every (peer, MID) in use has exactly one item in an expiry-ordered FIFO (one lifetime for
/// all, `now` non-decreasing); expired items are purged before each allocation or reservation.
#[derive(Debug)]
pub struct MidAllocator {
    lifetime: Duration,
    max_entries: usize,
    rng: Rng,
    peers: HashMap<SocketAddr, PeerMids>,
    fifo: VecDeque<(Instant, SocketAddr, u16)>,
}

impl MidAllocator {
    /// An allocator whose IDs stay reserved for `lifetime`, tracking at most `max_entries`
    /// (peer, MID) pairs in total; `seed` picks each peer's random starting MID.
    pub fn new(lifetime: Duration, max_entries: usize, seed: u64) -> MidAllocator {
        MidAllocator {
            lifetime,
            max_entries,
            rng: Rng::new(seed),
            peers: HashMap::new(),
            fifo: VecDeque::new(),
        }
    }

    /// A fresh MID toward `peer`, or `None` when all 65 536 are in use toward it or the table is
    /// full (the caller then answers 5.03 or waits).
    pub fn allocate(&mut self, now: Instant, peer: SocketAddr) -> Option<u16> {
        self.expire(now);
        if self.fifo.len() >= self.max_entries {
            return None;
        }
        let rng = &mut self.rng;
        let p = self.peers.entry(peer).or_insert_with(|| PeerMids {
            next: rng.next_u64() as u16,
            used: HashSet::new(),
        });
        if p.used.len() > u16::MAX as usize {
            return None;
        }
        // Terminates: fewer than 65 536 MIDs are in use toward this peer.
        let mid = loop {
            let m = p.next;
            p.next = p.next.wrapping_add(1);
            if p.used.insert(m) {
                break m;
            }
        };
        self.track(now, peer, mid);
        Some(mid)
    }

    /// Mark `mid` as used toward `peer` from `now`; false if it was already in use (or full).
    pub fn reserve(&mut self, now: Instant, peer: SocketAddr, mid: u16) -> bool {
        self.expire(now);
        if self.fifo.len() >= self.max_entries {
            return false;
        }
        let rng = &mut self.rng;
        let p = self.peers.entry(peer).or_insert_with(|| PeerMids {
            next: rng.next_u64() as u16,
            used: HashSet::new(),
        });
        if !p.used.insert(mid) {
            return false;
        }
        self.track(now, peer, mid);
        true
    }

    /// Release IDs whose lifetime ended.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(expiry, peer, mid)) = self.fifo.front() {
            if expiry > now {
                break;
            }
            self.fifo.pop_front();
            if let Some(p) = self.peers.get_mut(&peer) {
                p.used.remove(&mid);
                if p.used.is_empty() {
                    self.peers.remove(&peer);
                }
            }
        }
    }

    /// When the oldest reservation ends.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.fifo.front().map(|&(expiry, _, _)| expiry)
    }

    /// IDs in use over all peers.
    pub fn in_use(&self) -> usize {
        self.fifo.len()
    }

    /// IDs in use toward one peer.
    pub fn in_use_for(&self, peer: SocketAddr) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.used.len())
    }

    /// Peers with at least one MID in use (per-peer state is dropped when this reaches zero).
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    fn track(&mut self, now: Instant, peer: SocketAddr, mid: u16) {
        let expiry = now.checked_add(self.lifetime).unwrap_or(now);
        self.fifo.push_back((expiry, peer, mid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Duration = Duration::from_secs(247);

    fn peer(n: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], 5683 + n))
    }

    #[test]
    fn sequential_from_seeded_random_start() {
        let t0 = Instant::now();
        let mut a = MidAllocator::new(LIFE, 1000, 42);
        let first = a.allocate(t0, peer(0)).unwrap();
        assert_eq!(a.allocate(t0, peer(0)), Some(first.wrapping_add(1)));
        assert_eq!(a.allocate(t0, peer(0)), Some(first.wrapping_add(2)));
        assert_eq!(a.in_use_for(peer(0)), 3);
        // Same seed => same start; another peer gets its own counter.
        let mut b = MidAllocator::new(LIFE, 1000, 42);
        assert_eq!(b.allocate(t0, peer(0)), Some(first));
        let other = a.allocate(t0, peer(1)).unwrap();
        assert_ne!(other, first.wrapping_add(3), "independent random start");
        assert_eq!(a.in_use(), 4);
        assert_eq!(a.peers(), 2);
        // Different seeds give different starts (with overwhelming probability).
        let starts: HashSet<u16> = (0..16)
            .map(|s| {
                MidAllocator::new(LIFE, 10, s)
                    .allocate(t0, peer(0))
                    .unwrap()
            })
            .collect();
        assert!(starts.len() > 8);
    }

    #[test]
    fn reserve_and_skip() {
        let t0 = Instant::now();
        let mut a = MidAllocator::new(LIFE, 1000, 1);
        let first = a.allocate(t0, peer(0)).unwrap();
        assert!(a.reserve(t0, peer(0), first.wrapping_add(1)));
        assert!(a.reserve(t0, peer(0), first.wrapping_add(2)));
        assert!(!a.reserve(t0, peer(0), first), "allocated MID is in use");
        assert!(
            !a.reserve(t0, peer(0), first.wrapping_add(1)),
            "already reserved"
        );
        assert!(a.reserve(t0, peer(1), first), "other peer is independent");
        assert_eq!(a.allocate(t0, peer(0)), Some(first.wrapping_add(3)));
        assert_eq!(a.in_use_for(peer(0)), 4);
        assert_eq!(a.in_use_for(peer(1)), 1);
        assert_eq!(a.in_use_for(peer(2)), 0);
    }

    #[test]
    fn expiry_releases_and_drops_peer_state() {
        let t0 = Instant::now();
        let mut a = MidAllocator::new(LIFE, 1000, 7);
        let m = a.allocate(t0, peer(0)).unwrap();
        a.allocate(t0 + Duration::from_secs(10), peer(0)).unwrap();
        a.reserve(t0 + Duration::from_secs(20), peer(1), 5);
        assert_eq!(a.next_expiry(), Some(t0 + LIFE));
        a.expire(t0 + LIFE - Duration::from_nanos(1));
        assert_eq!(a.in_use(), 3);
        a.expire(t0 + LIFE);
        assert_eq!(a.in_use(), 2);
        assert!(a.reserve(t0 + LIFE, peer(0), m), "released after lifetime");
        assert!(!a.reserve(t0 + LIFE, peer(0), m));
        a.expire(t0 + LIFE * 3);
        assert_eq!(a.in_use(), 0);
        assert_eq!(a.peers(), 0, "peer state dropped when no MIDs are in use");
        assert_eq!(a.next_expiry(), None);
        // allocate/reserve purge expired IDs by themselves.
        let mut b = MidAllocator::new(LIFE, 1, 7);
        assert!(b.reserve(t0, peer(0), 9));
        assert_eq!(b.allocate(t0, peer(0)), None, "table full");
        assert!(!b.reserve(t0, peer(1), 9), "table full");
        assert!(b.reserve(t0 + LIFE, peer(0), 9));
    }

    #[test]
    fn all_65536_in_use_toward_one_peer() {
        let t0 = Instant::now();
        let mut a = MidAllocator::new(LIFE, 100_000, 3);
        let mut seen = HashSet::new();
        for _ in 0..65_536 {
            assert!(seen.insert(a.allocate(t0, peer(0)).unwrap()));
        }
        assert_eq!(a.in_use_for(peer(0)), 65_536);
        assert_eq!(a.allocate(t0, peer(0)), None);
        assert!(!a.reserve(t0, peer(0), 0));
        assert!(a.allocate(t0, peer(1)).is_some(), "other peers unaffected");
    }

    #[test]
    fn never_reused_within_lifetime() {
        let t0 = Instant::now();
        let mut a = MidAllocator::new(Duration::from_secs(10), 100, 11);
        let mut last_use: HashMap<u16, Instant> = HashMap::new();
        // 200 allocations/s over 20 s with only 100 trackable: the table fills and drains.
        let mut granted = 0;
        for i in 0..4000u64 {
            let now = t0 + Duration::from_millis(i * 5);
            if let Some(m) = a.allocate(now, peer(0)) {
                if let Some(&prev) = last_use.get(&m) {
                    assert!(now >= prev + Duration::from_secs(10));
                }
                last_use.insert(m, now);
                granted += 1;
            }
            assert!(a.in_use() <= 100);
        }
        assert!(granted >= 200, "granted {granted}");
    }
}
