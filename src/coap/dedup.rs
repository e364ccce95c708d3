//! RFC 7252 §4.5 message deduplication: a retransmitted CON gets the identical answer and is
//! never processed twice; a duplicate NON is ignored. Entries live EXCHANGE_LIFETIME (CON) or
//! NON_LIFETIME (NON) and the table is bounded by entry count (oldest evicted first).

use super::types::Token;
use std::collections::{HashMap, VecDeque};
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

type Key = (SocketAddr, u16);

/// The table: foldhash, seeded per process (keys come from the network).
type Map = HashMap<Key, Entry, foldhash::fast::RandomState>;

/// One recorded (peer, MID).
#[derive(Debug)]
struct Entry {
    expiry: Instant,
    /// Token of the recorded message: a retransmission repeats it (RFC 7252 §4.2).
    token: Token,
    generation: u64,
    reply: Option<Vec<u8>>,
}

/// A FIFO item; stale when the map entry is gone or has another generation.
#[derive(Debug, Clone, Copy)]
struct Slot {
    inserted: Instant,
    expiry: Instant,
    generation: u64,
    key: Key,
}

/// Bounded duplicate-detection cache keyed by (peer, Message ID).
///
/// CON and NON entries sit in separate insertion-ordered queues; with a fixed lifetime per
/// queue each is also ordered by expiry (given non-decreasing `now`). Removal is lazy: queue
/// items whose generation no longer matches the map entry are skipped.
#[derive(Debug)]
pub struct DedupCache {
    map: Map,
    con_fifo: VecDeque<Slot>,
    non_fifo: VecDeque<Slot>,
    max_entries: usize,
    con_lifetime: Duration,
    non_lifetime: Duration,
    next_generation: u64,
    evictions: u64,
}

impl DedupCache {
    /// A cache holding at most `max_entries`, CON entries for `con_lifetime`
    /// (EXCHANGE_LIFETIME) and NON entries for `non_lifetime` (NON_LIFETIME).
    pub fn new(max_entries: usize, con_lifetime: Duration, non_lifetime: Duration) -> DedupCache {
        DedupCache {
            map: HashMap::default(),
            con_fifo: VecDeque::new(),
            non_fifo: VecDeque::new(),
            max_entries: max_entries.max(1),
            con_lifetime,
            non_lifetime,
            next_generation: 0,
            evictions: 0,
        }
    }

    /// Look up and, when new, record (peer, mid) with its Token. Expired entries count as absent,
    /// and so does an entry with another Token (a new message on a recycled address, not a copy).
    pub fn check(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        mid: u16,
        con: bool,
        token: Token,
    ) -> DedupOutcome<'_> {
        let key = (peer, mid);
        // A copy has the same Token; the same (peer, MID) with another Token is a new message
        // from an endpoint that recycled the address (NAT or port reuse) and replaces the entry.
        let (live, present) = match self.map.get(&key) {
            Some(e) => (e.expiry > now && e.token == token, true),
            None => (false, false),
        };
        if live {
            // A duplicate (rare): look the reply up again to return it.
            let e = &self.map[&key];
            return match e.reply.as_deref() {
                Some(r) => DedupOutcome::Replay(r),
                None => DedupOutcome::Pending,
            };
        }
        if !present && self.map.len() >= self.max_entries {
            self.expire(now);
            while self.map.len() >= self.max_entries {
                if !self.evict_oldest() {
                    break;
                }
            }
        }
        let lifetime = if con {
            self.con_lifetime
        } else {
            self.non_lifetime
        };
        let expiry = now.checked_add(lifetime).unwrap_or(now);
        let generation = self.next_generation;
        self.next_generation += 1;
        // Replaces an expired entry for the same key; its queue item becomes stale.
        self.map.insert(
            key,
            Entry {
                expiry,
                token,
                generation,
                reply: None,
            },
        );
        let slot = Slot {
            inserted: now,
            expiry,
            generation,
            key,
        };
        if con {
            self.con_fifo.push_back(slot);
        } else {
            self.non_fifo.push_back(slot);
        }
        self.compact_if_needed();
        DedupOutcome::New
    }

    /// Record the reply sent for (peer, mid); later duplicates get these bytes.
    /// Replaces an earlier reply (e.g. an empty ACK superseded by nothing else is kept as is).
    /// Ignored when (peer, mid) is not recorded (e.g. already evicted).
    pub fn set_reply(&mut self, peer: SocketAddr, mid: u16, reply: &[u8]) {
        if let Some(e) = self.map.get_mut(&(peer, mid)) {
            match &mut e.reply {
                Some(v) => {
                    v.clear();
                    v.extend_from_slice(reply);
                }
                None => e.reply = Some(reply.to_vec()),
            }
        }
    }

    /// Forget (peer, mid) (e.g. a request rejected before processing that may be retried).
    pub fn remove(&mut self, peer: SocketAddr, mid: u16) {
        if self.map.remove(&(peer, mid)).is_some() {
            self.drop_stale_fronts();
        }
    }

    /// Drop entries whose lifetime ended; give memory back when the table has shrunk to a
    /// quarter of its capacity (after a burst).
    pub fn expire(&mut self, now: Instant) {
        self.expire_entries(now);
        let (len, cap) = (self.map.len(), self.map.capacity());
        if cap > 4096 && len < cap / 4 {
            self.map.shrink_to(len * 2);
            self.con_fifo.shrink_to(self.con_fifo.len() * 2);
            self.non_fifo.shrink_to(self.non_fifo.len() * 2);
        }
    }

    fn expire_entries(&mut self, now: Instant) {
        for con in [true, false] {
            loop {
                let fifo = if con {
                    &mut self.con_fifo
                } else {
                    &mut self.non_fifo
                };
                let Some(&slot) = fifo.front() else { break };
                let live = is_live(&self.map, &slot);
                if live && slot.expiry > now {
                    break;
                }
                fifo.pop_front();
                if live {
                    self.map.remove(&slot.key);
                }
            }
        }
    }

    /// When the oldest entry expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        let a = self.con_fifo.front().map(|s| s.expiry);
        let b = self.non_fifo.front().map(|s| s.expiry);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Slots the table has allocated (memory it holds), at least [`DedupCache::len`].
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Live entries.
    ///
    /// Entries past their expiry still count until [`DedupCache::expire`] runs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries evicted early because the table was full.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Evict the live entry inserted first; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        self.drop_stale_fronts();
        let use_con = match (self.con_fifo.front(), self.non_fifo.front()) {
            (Some(c), Some(n)) => c.inserted <= n.inserted,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return false,
        };
        let fifo = if use_con {
            &mut self.con_fifo
        } else {
            &mut self.non_fifo
        };
        if let Some(slot) = fifo.pop_front() {
            self.map.remove(&slot.key);
            self.evictions += 1;
        }
        true
    }

    /// Pop stale items at the queue fronts so `next_expiry` and eviction see live entries.
    fn drop_stale_fronts(&mut self) {
        for fifo in [&mut self.con_fifo, &mut self.non_fifo] {
            while let Some(slot) = fifo.front() {
                if is_live(&self.map, slot) {
                    break;
                }
                fifo.pop_front();
            }
        }
    }

    /// Keep the queues bounded when many entries were removed out of order.
    fn compact_if_needed(&mut self) {
        if self.con_fifo.len() + self.non_fifo.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.con_fifo.retain(|s| is_live(map, s));
            self.non_fifo.retain(|s| is_live(map, s));
        }
    }
}

/// Whether a queue item still describes the map's entry for its key.
fn is_live(map: &Map, slot: &Slot) -> bool {
    map.get(&slot.key)
        .is_some_and(|e| e.generation == slot.generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CON: Duration = Duration::from_secs(247);
    const NON: Duration = Duration::from_secs(145);

    #[test]
    fn memory_is_given_back_after_a_burst_expires() {
        let mut c = DedupCache::new(1 << 20, CON, NON);
        let t0 = Instant::now();
        for i in 0..50_000u32 {
            let p = SocketAddr::from(([10, 0, (i >> 16) as u8, (i >> 8) as u8], i as u16));
            assert_eq!(
                c.check(t0, p, i as u16, true, Token::EMPTY),
                DedupOutcome::New
            );
        }
        assert!(c.capacity() >= 50_000);
        c.expire(t0 + CON + Duration::from_secs(1));
        assert_eq!(c.len(), 0);
        assert!(c.capacity() < 4096, "capacity {} kept", c.capacity());
    }

    fn peer(n: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], 5683 + n))
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn new_pending_replay() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(16, CON, NON);
        assert_eq!(
            c.check(t0, peer(0), 1, true, Token::EMPTY),
            DedupOutcome::New
        );
        assert_eq!(
            c.check(t0 + secs(1), peer(0), 1, true, Token::EMPTY),
            DedupOutcome::Pending
        );
        // Same MID from another peer, other MID from the same peer: independent.
        assert_eq!(
            c.check(t0, peer(1), 1, true, Token::EMPTY),
            DedupOutcome::New
        );
        assert_eq!(
            c.check(t0, peer(0), 2, true, Token::EMPTY),
            DedupOutcome::New
        );
        c.set_reply(peer(0), 1, &[0x60, 0, 0, 1]);
        assert_eq!(
            c.check(t0 + secs(2), peer(0), 1, true, Token::EMPTY),
            DedupOutcome::Replay(&[0x60, 0, 0, 1])
        );
        // A later reply replaces the earlier one.
        c.set_reply(peer(0), 1, &[0x60, 0x45, 0, 1, 0xff, b'x']);
        assert_eq!(
            c.check(t0 + secs(3), peer(0), 1, true, Token::EMPTY),
            DedupOutcome::Replay(&[0x60, 0x45, 0, 1, 0xff, b'x'])
        );
        // set_reply for an unknown key is ignored.
        c.set_reply(peer(9), 9, b"zz");
        assert_eq!(c.len(), 3);
        assert_eq!(c.evictions(), 0);
    }

    #[test]
    fn con_and_non_lifetimes_and_lazy_expiry() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(16, CON, NON);
        assert_eq!(
            c.check(t0, peer(0), 1, true, Token::EMPTY),
            DedupOutcome::New
        );
        assert_eq!(
            c.check(t0 + secs(1), peer(0), 2, false, Token::EMPTY),
            DedupOutcome::New
        );
        // NON entry expires first even though it was inserted later.
        assert_eq!(c.next_expiry(), Some(t0 + secs(146)));
        // Just before / at expiry (without calling expire()).
        assert_eq!(
            c.check(
                t0 + secs(146) - Duration::from_nanos(1),
                peer(0),
                2,
                false,
                Token::EMPTY
            ),
            DedupOutcome::Pending
        );
        assert_eq!(
            c.check(t0 + secs(146), peer(0), 2, false, Token::EMPTY),
            DedupOutcome::New
        );
        assert_eq!(
            c.check(t0 + secs(246), peer(0), 1, true, Token::EMPTY),
            DedupOutcome::Pending
        );
        assert_eq!(
            c.check(t0 + secs(247), peer(0), 1, true, Token::EMPTY),
            DedupOutcome::New
        );
        // Both re-recorded; the stale queue items must not remove the fresh entries.
        c.expire(t0 + secs(250));
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.check(t0 + secs(250), peer(0), 2, false, Token::EMPTY),
            DedupOutcome::Pending
        );
        assert_eq!(
            c.check(t0 + secs(250), peer(0), 1, true, Token::EMPTY),
            DedupOutcome::Pending
        );
        assert_eq!(c.next_expiry(), Some(t0 + secs(146 + 145)));
        c.expire(t0 + secs(247 + 247));
        assert!(c.is_empty());
        assert_eq!(c.next_expiry(), None);
    }

    #[test]
    fn expire_removes_in_order() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(100, CON, NON);
        for i in 0..10u16 {
            c.check(t0 + secs(i as u64), peer(0), i, true, Token::EMPTY);
        }
        assert_eq!(c.next_expiry(), Some(t0 + CON));
        c.expire(t0 + CON + secs(4));
        assert_eq!(c.len(), 5);
        assert_eq!(c.next_expiry(), Some(t0 + CON + secs(5)));
        assert_eq!(
            c.check(t0 + CON + secs(4), peer(0), 5, true, Token::EMPTY),
            DedupOutcome::Pending
        );
    }

    #[test]
    fn bounded_with_oldest_eviction() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(3, CON, NON);
        c.check(t0, peer(0), 1, true, Token::EMPTY);
        c.check(t0 + secs(1), peer(0), 2, false, Token::EMPTY);
        c.check(t0 + secs(2), peer(0), 3, true, Token::EMPTY);
        assert_eq!(c.evictions(), 0);
        // Full: the oldest (MID 1, CON) goes even though the NON entry expires sooner.
        c.check(t0 + secs(3), peer(0), 4, false, Token::EMPTY);
        assert_eq!(c.len(), 3);
        assert_eq!(c.evictions(), 1);
        assert_eq!(
            c.check(t0 + secs(3), peer(0), 2, false, Token::EMPTY),
            DedupOutcome::Pending
        );
        // Next oldest is MID 2 (NON).
        c.check(t0 + secs(4), peer(0), 5, true, Token::EMPTY);
        assert_eq!(c.evictions(), 2);
        assert_eq!(c.len(), 3);
        assert_eq!(
            c.check(t0 + secs(4), peer(0), 3, true, Token::EMPTY),
            DedupOutcome::Pending
        );
        assert_eq!(
            c.check(t0 + secs(4), peer(0), 4, false, Token::EMPTY),
            DedupOutcome::Pending
        );
        assert_eq!(
            c.check(t0 + secs(4), peer(0), 5, true, Token::EMPTY),
            DedupOutcome::Pending
        );
        // Expired entries are reclaimed before evicting live ones.
        c.check(t0 + secs(1000), peer(0), 6, true, Token::EMPTY);
        assert_eq!(c.evictions(), 2);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn remove_keeps_queues_consistent() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(4, CON, NON);
        c.check(t0, peer(0), 1, true, Token::EMPTY);
        c.check(t0 + secs(1), peer(0), 2, true, Token::EMPTY);
        c.remove(peer(0), 1);
        c.remove(peer(0), 77); // absent: no-op
        assert_eq!(c.len(), 1);
        assert_eq!(c.next_expiry(), Some(t0 + secs(1) + CON));
        // Re-recorded after removal: new generation, the old queue item is stale.
        assert_eq!(
            c.check(t0 + secs(2), peer(0), 1, true, Token::EMPTY),
            DedupOutcome::New
        );
        c.expire(t0 + CON + secs(1));
        assert_eq!(c.len(), 1, "only MID 2 expired");
        assert_eq!(
            c.check(t0 + CON + secs(1), peer(0), 1, true, Token::EMPTY),
            DedupOutcome::Pending
        );
        // Eviction skips stale items: fill, remove, refill.
        for m in 10..13 {
            c.check(t0 + secs(300), peer(1), m, false, Token::EMPTY);
        }
        assert_eq!(c.len(), 4);
        c.remove(peer(1), 10);
        c.check(t0 + secs(301), peer(1), 20, false, Token::EMPTY);
        assert_eq!(c.evictions(), 0);
        // Full, but MID 1 (peer 0) has expired: reclaimed without an eviction.
        c.check(t0 + secs(302), peer(1), 21, false, Token::EMPTY);
        assert_eq!(c.evictions(), 0);
        assert_eq!(c.len(), 4);
        // Now a live entry must go: the oldest live one is MID 11 (10 was removed).
        c.check(t0 + secs(303), peer(1), 22, false, Token::EMPTY);
        assert_eq!(c.evictions(), 1);
        assert_eq!(c.len(), 4);
        assert_eq!(
            c.check(t0 + secs(303), peer(1), 12, false, Token::EMPTY),
            DedupOutcome::Pending
        );
        assert_eq!(
            c.check(t0 + secs(303), peer(1), 11, false, Token::EMPTY),
            DedupOutcome::New
        );
    }

    #[test]
    fn queues_stay_bounded_under_churn() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(8, CON, NON);
        for i in 0..10_000u32 {
            let mid = (i % 50) as u16;
            c.check(t0, peer(0), mid, i % 2 == 0, Token::EMPTY);
            c.remove(peer(0), mid);
        }
        assert!(c.is_empty());
        assert!(c.con_fifo.len() + c.non_fifo.len() <= 2 * 8 + 64 + 1);
        for i in 0..10_000u64 {
            c.check(
                t0 + Duration::from_millis(i),
                peer(0),
                i as u16,
                true,
                Token::EMPTY,
            );
            assert!(c.len() <= 8);
        }
        assert_eq!(c.evictions(), 10_000 - 8);
    }

    #[test]
    fn same_mid_with_another_token_is_a_new_message() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(8, secs(247), secs(145));
        let a = Token::from_slice(&[1]).unwrap();
        let b = Token::from_slice(&[2]).unwrap();
        assert_eq!(c.check(t0, peer(0), 9, true, a), DedupOutcome::New);
        c.set_reply(peer(0), 9, b"first");
        assert_eq!(
            c.check(t0, peer(0), 9, true, a),
            DedupOutcome::Replay(b"first")
        );
        assert_eq!(c.check(t0, peer(0), 9, true, b), DedupOutcome::New);
        assert_eq!(c.check(t0, peer(0), 9, true, b), DedupOutcome::Pending);
        assert_eq!(c.len(), 1);
    }
}
