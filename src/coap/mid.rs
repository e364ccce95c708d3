//! Message ID allocation (RFC 7252 §4.4): an ID is not reused toward the same peer within
//! EXCHANGE_LIFETIME. IDs can also be reserved (TS 24.538 §6.3.4.3.3 reuse of a device's MID).
//!
//! IDs toward a peer are handed out in sequence from a random start, so an ID comes round again
//! only after the other 65 535. The 65 536 IDs form 16 blocks of 4 096, and the allocator
//! remembers when the sequence last *left* each block: it enters a block again only once that
//! is a whole lifetime ago (else the peer is out of IDs for now). So the state per peer is a
//! counter and 16 times, whatever the rate (measured: a gateway delivering 36 000 messages/s to
//! 2 000 Application Clients used up a table of one entry per (peer, ID) in use, 2^20 per
//! shard, after 58 s and then stopped delivering; issue 13). A peer may be sent up to
//! 61 440 IDs per lifetime (~249/s over 247 s).

use super::rng::Rng;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Blocks of the Message ID space whose last use is remembered.
const BLOCKS: usize = 16;
/// IDs per block.
const BLOCK: u16 = (65_536 / BLOCKS) as u16;
/// Length of one clock tick of the per-peer times.
const TICK: Duration = Duration::from_millis(100);

/// Allocation state toward one peer; dropped once its IDs are all a lifetime old.
#[derive(Debug)]
struct PeerMids {
    /// The next ID in sequence.
    next: u16,
    /// Per block, the tick (plus one; 0 = never) at which the sequence last left it.
    left: [u32; BLOCKS],
    /// The tick of the last allocation or reservation.
    last: u32,
}

/// Per-peer Message ID allocator with a global bound on the peers (and reservations) tracked.
#[derive(Debug)]
pub struct MidAllocator {
    lifetime: Duration,
    /// `lifetime` in ticks, rounded up.
    life_ticks: u32,
    max_entries: usize,
    rng: Rng,
    /// The origin of the tick clock (the first `now` seen).
    epoch: Option<Instant>,
    peers: HashMap<SocketAddr, PeerMids>,
    /// Peers in the order of their last activity as last checked (one item per peer).
    idle: VecDeque<(u32, SocketAddr)>,
    /// Reserved (peer, ID) pairs, expiry-ordered.
    reserved: HashSet<(SocketAddr, u16)>,
    fifo: VecDeque<(Instant, SocketAddr, u16)>,
    /// Allocations per tick still within their lifetime, and their sum (for [`Self::in_use`]).
    recent: VecDeque<(Instant, u32)>,
    recent_total: usize,
}

impl MidAllocator {
    /// An allocator whose IDs stay reserved for `lifetime`, tracking at most `max_entries`
    /// peers and reservations in total; `seed` picks each peer's random starting MID.
    pub fn new(lifetime: Duration, max_entries: usize, seed: u64) -> MidAllocator {
        let life_ticks =
            u32::try_from(lifetime.as_nanos().div_ceil(TICK.as_nanos())).unwrap_or(u32::MAX / 2);
        MidAllocator {
            lifetime,
            life_ticks,
            max_entries,
            rng: Rng::new(seed),
            epoch: None,
            peers: HashMap::new(),
            idle: VecDeque::new(),
            reserved: HashSet::new(),
            fifo: VecDeque::new(),
            recent: VecDeque::new(),
            recent_total: 0,
        }
    }

    /// Ticks since the epoch, rounded down (plus one, so that 0 means "never").
    fn tick(&mut self, now: Instant) -> u32 {
        let epoch = *self.epoch.get_or_insert(now);
        let t = now.saturating_duration_since(epoch).as_nanos() / TICK.as_nanos();
        u32::try_from(t).unwrap_or(u32::MAX - 1) + 1
    }

    /// Whether something done at tick `at` is a whole lifetime before tick `now` (with a tick
    /// of margin for the rounding of both).
    fn aged(&self, at: u32, now: u32) -> bool {
        at == 0 || now >= at.saturating_add(self.life_ticks).saturating_add(1)
    }

    fn tracked(&self) -> usize {
        self.peers.len() + self.fifo.len()
    }

    /// Whether there is state toward `peer`, created (with a random start) when there is room.
    fn ensure_peer(&mut self, peer: SocketAddr, now: u32) -> bool {
        if !self.peers.contains_key(&peer) {
            if self.tracked() >= self.max_entries {
                return false;
            }
            let next = self.rng.next_u64() as u16;
            self.peers.insert(
                peer,
                PeerMids {
                    next,
                    left: [0; BLOCKS],
                    last: now,
                },
            );
            self.idle.push_back((now, peer));
        }
        true
    }

    /// A fresh MID toward `peer`, or `None` when the next block of IDs toward it was used less
    /// than a lifetime ago or the table is full (the caller then answers 5.03 or waits).
    pub fn allocate(&mut self, now: Instant, peer: SocketAddr) -> Option<u16> {
        self.expire(now);
        let t = self.tick(now);
        if !self.ensure_peer(peer, t) {
            return None;
        }
        let life = self.life_ticks;
        let aged = |at: u32| at == 0 || t >= at.saturating_add(life).saturating_add(1);
        let (peers, reserved) = (&mut self.peers, &self.reserved);
        let p = peers.get_mut(&peer)?;
        let mut mid = None;
        for _ in 0..=u16::MAX as usize {
            let m = p.next;
            if m % BLOCK == 0 {
                // Entering block `b` from the one before: only once `b` was left a lifetime ago.
                let b = usize::from(m / BLOCK);
                if !aged(p.left[b]) {
                    break;
                }
                p.left[(b + BLOCKS - 1) % BLOCKS] = t;
            }
            p.next = m.wrapping_add(1);
            if !reserved.contains(&(peer, m)) {
                mid = Some(m);
                break;
            }
        }
        let m = mid?;
        p.last = t;
        self.count(now);
        Some(m)
    }

    /// Mark `mid` as used toward `peer` from `now`; false if it may be in use (its block is the
    /// current one or was left less than a lifetime ago), already reserved, or the table is full.
    pub fn reserve(&mut self, now: Instant, peer: SocketAddr, mid: u16) -> bool {
        self.expire(now);
        let t = self.tick(now);
        if self.reserved.contains(&(peer, mid)) || self.tracked() >= self.max_entries {
            return false;
        }
        if let Some(p) = self.peers.get(&peer) {
            let b = usize::from(mid / BLOCK);
            let current = usize::from(p.next.wrapping_sub(1) / BLOCK);
            if b == current || !self.aged(p.left[b], t) {
                return false;
            }
        }
        self.reserved.insert((peer, mid));
        let expiry = now.checked_add(self.lifetime).unwrap_or(now);
        self.fifo.push_back((expiry, peer, mid));
        true
    }

    /// Release what a lifetime has passed over: reservations, the allocation counts, and the
    /// state of peers idle for a lifetime.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(expiry, peer, mid)) = self.fifo.front() {
            if expiry > now {
                break;
            }
            self.fifo.pop_front();
            self.reserved.remove(&(peer, mid));
        }
        while let Some(&(expiry, n)) = self.recent.front() {
            if expiry > now {
                break;
            }
            self.recent.pop_front();
            self.recent_total -= n as usize;
        }
        let t = self.tick(now);
        while let Some(&(at, peer)) = self.idle.front() {
            if !self.aged(at, t) {
                break;
            }
            self.idle.pop_front();
            match self.peers.get(&peer).map(|p| p.last) {
                Some(last) if self.aged(last, t) => {
                    self.peers.remove(&peer);
                }
                Some(last) => self.idle.push_back((last, peer)),
                None => {}
            }
        }
    }

    /// When the oldest reservation, allocation or idle peer is due to be released.
    pub fn next_expiry(&self) -> Option<Instant> {
        let idle = match (self.epoch, self.idle.front()) {
            (Some(epoch), Some(&(at, _))) => {
                let ticks = at.saturating_add(self.life_ticks).saturating_add(1);
                epoch.checked_add(TICK * ticks)
            }
            _ => None,
        };
        [
            self.fifo.front().map(|&(expiry, _, _)| expiry),
            self.recent.front().map(|&(expiry, _)| expiry),
            idle,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// IDs allocated or reserved within the last lifetime, over all peers.
    pub fn in_use(&self) -> usize {
        self.recent_total + self.fifo.len()
    }

    /// Peers with state (an ID allocated or reserved toward them within the last lifetime).
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    /// Count one allocation at `now` (grouped per tick).
    fn count(&mut self, now: Instant) {
        let expiry = now.checked_add(self.lifetime).unwrap_or(now);
        match self.recent.back_mut() {
            Some((at, n)) if expiry.saturating_duration_since(*at) < TICK => *n += 1,
            _ => self.recent.push_back((expiry, 1)),
        }
        self.recent_total += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Duration = Duration::from_secs(247);
    /// A lifetime and the tick of margin the allocator keeps.
    const AGED: Duration = Duration::from_millis(247_200);

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
    fn reserve_outside_the_blocks_in_use_and_skip() {
        let t0 = Instant::now();
        let mut a = MidAllocator::new(LIFE, 1000, 1);
        let first = a.allocate(t0, peer(0)).unwrap();
        assert!(!a.reserve(t0, peer(0), first), "allocated MID is in use");
        assert!(
            !a.reserve(t0, peer(0), first.wrapping_add(1)),
            "the current block may be in use"
        );
        let far = first.wrapping_add(3 * BLOCK);
        assert!(a.reserve(t0, peer(0), far), "a block not used yet");
        assert!(!a.reserve(t0, peer(0), far), "already reserved");
        assert!(a.reserve(t0, peer(1), first), "other peer is independent");
        assert_eq!(a.in_use(), 3);
        // The sequence steps over the reserved ID.
        let mut seen = HashSet::new();
        while let Some(m) = a.allocate(t0, peer(0)) {
            assert!(seen.insert(m));
        }
        assert!(!seen.contains(&far));
        assert!(seen.contains(&far.wrapping_add(1)));
    }

    #[test]
    fn expiry_releases_and_drops_peer_state() {
        let t0 = Instant::now();
        let mut a = MidAllocator::new(LIFE, 1000, 7);
        a.allocate(t0, peer(0)).unwrap();
        a.allocate(t0 + Duration::from_secs(10), peer(0)).unwrap();
        assert!(a.reserve(t0 + Duration::from_secs(20), peer(1), 5));
        assert_eq!(a.next_expiry(), Some(t0 + LIFE));
        a.expire(t0 + LIFE - Duration::from_nanos(1));
        assert_eq!(a.in_use(), 3);
        a.expire(t0 + LIFE);
        assert_eq!(a.in_use(), 2);
        a.expire(t0 + LIFE * 3);
        assert_eq!(a.in_use(), 0);
        assert_eq!(
            a.peers(),
            0,
            "peer state dropped a lifetime after its last use"
        );
        assert_eq!(a.next_expiry(), None);
        // The bound counts peers and reservations; expired ones make room by themselves.
        let mut b = MidAllocator::new(LIFE, 1, 7);
        assert!(b.reserve(t0, peer(0), 9));
        assert_eq!(b.allocate(t0, peer(0)), None, "table full");
        assert!(!b.reserve(t0, peer(1), 9), "table full");
        assert!(b.reserve(t0 + LIFE, peer(0), 9));
    }

    #[test]
    fn a_peer_gets_at_least_61_440_ids_per_lifetime_then_waits() {
        let t0 = Instant::now();
        let mut a = MidAllocator::new(LIFE, 100_000, 3);
        let mut seen = HashSet::new();
        while let Some(m) = a.allocate(t0, peer(0)) {
            assert!(seen.insert(m), "{m} twice");
        }
        assert!((61_441..=65_536).contains(&seen.len()), "{}", seen.len());
        assert!(a.allocate(t0, peer(1)).is_some(), "other peers unaffected");
        assert_eq!(a.allocate(t0 + LIFE, peer(0)), None, "within the margin");
        assert!(a.allocate(t0 + AGED, peer(0)).is_some(), "a lifetime later");
    }

    #[test]
    fn never_reused_within_lifetime() {
        let t0 = Instant::now();
        let life = Duration::from_secs(1);
        let mut a = MidAllocator::new(life, 100, 11);
        let mut last_use: HashMap<u16, Instant> = HashMap::new();
        // 100 000 allocations/s over 3 s toward one peer: far more than its IDs allow.
        let mut granted = 0;
        for i in 0..300_000u64 {
            let now = t0 + Duration::from_micros(i * 10);
            if let Some(m) = a.allocate(now, peer(0)) {
                if let Some(&prev) = last_use.get(&m) {
                    assert!(now >= prev + life, "{m} reused after {:?}", now - prev);
                }
                last_use.insert(m, now);
                granted += 1;
            }
        }
        assert!(granted >= 3 * 61_440 - 65_536, "granted {granted}");
    }

    #[test]
    fn many_peers_at_a_high_rate_never_run_out() {
        // The issue-13 stall: 2 000 peers, 300 IDs each within one lifetime (600 000 in use),
        // with a table of 2 048 entries: one entry per peer, not per ID.
        let t0 = Instant::now();
        let mut a = MidAllocator::new(LIFE, 2048, 5);
        for round in 0..300u64 {
            let now = t0 + Duration::from_millis(round * 100);
            for p in 0..2000 {
                assert!(a.allocate(now, peer(p)).is_some(), "round {round} peer {p}");
            }
        }
        assert_eq!(a.in_use(), 600_000);
        assert_eq!(a.peers(), 2000);
    }
}
