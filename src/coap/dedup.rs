//! RFC 7252 §4.5 message deduplication, kept per peer: a retransmitted CON gets the identical
//! answer and is never processed twice; a duplicate NON is ignored.
//!
//! State grows with active peers, not with request rate. Each peer holds its last
//! `exchanges_per_peer` exchanges (Message ID, Token, expiry and, for a CON, the answer); an
//! exchange lives EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON) and a NON keeps no answer (it is
//! never replayed). A device that follows NSTART=1 (§4.7) has one outstanding CON, so a few slots
//! keep every exchange it may still retransmit; a peer with more distinct exchanges within the
//! window than slots forgets its oldest, and that is counted ([`DedupCache::window_overflows`])
//! only when the forgotten exchange could still be retransmitted (it started less than
//! MAX_TRANSMIT_WAIT ago: the peer has more outstanding than NSTART allows, §4.7).
//! Aggregating peers (a gateway's uplinks at the server) need more slots: the bound is per
//! cache. A peer is dropped when its last exchange expires; the number of peers is bounded
//! (`max_peers`), the least recently active peer evicted first and counted
//! ([`DedupCache::evictions`]). A datagram that never reaches [`DedupCache::check`] costs
//! nothing.
//!
//! Memory: a peer costs one map entry (address and `PeerState`, about 110 B with the table's
//! control byte and load factor), one or two expiry-queue items of 48 B, and per exchange a
//! 40 B slot plus the answer's bytes (CON only): 246 B for a device with one exchange in the
//! window, plus its answer. Peers with more than 8 slots also index their Message IDs (a boxed
//! map), so a lookup does not scan 256 or 4 096 slots.

use super::params::TransmissionParams;
use super::types::Token;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Exchanges kept per peer by default: enough for a device following NSTART=1 (RFC 7252 §4.7).
pub const DEFAULT_EXCHANGES_PER_PEER: usize = 4;

/// What to do with an incoming request's (peer, Message ID).
#[derive(Debug, PartialEq, Eq)]
pub enum DedupOutcome<'a> {
    /// First time seen: process it (the entry is now recorded as pending).
    New,
    /// Seen, answer not decided yet: absorb silently.
    Pending,
    /// Seen and answered: resend exactly these bytes.
    Replay(&'a Bytes),
}

/// The peer table: foldhash, seeded per process (keys come from the network).
type Map = HashMap<SocketAddr, PeerState, foldhash::fast::RandomState>;

/// One recorded exchange of a peer (RFC 7252 §4.5).
#[derive(Debug)]
struct Exchange {
    /// Nanoseconds since the cache's epoch when the entry stops counting.
    expiry: u64,
    /// The answer to replay (CON only); `None` while pending.
    reply: Option<Bytes>,
    /// Token of the recorded message: a retransmission repeats it (RFC 7252 §4.2).
    token: Token,
    mid: u16,
    /// Removed (a tombstone until it reaches the front of its peer's slots).
    dead: bool,
    /// A CON (kept EXCHANGE_LIFETIME) rather than a NON (NON_LIFETIME).
    con: bool,
}

/// A peer's recent exchanges, oldest first (RFC 7252 §4.5 per-endpoint state).
#[derive(Debug)]
struct PeerState {
    exchanges: Slots,
    /// The latest expiry of its exchanges: the peer can go then.
    expiry: u64,
    generation: u64,
}

/// Above this many exchanges per peer, a peer's Message IDs are indexed: the server keeps 256
/// per peer and the gateway's uplinks 4 096, and a linear scan of them per request cost ~15 % of
/// the server's throughput (`perf`: `VecDeque` scans at the top of the profile).
const INDEX_ABOVE: usize = 8;

/// Message ID → sequence number.
type Index = HashMap<u16, u32, foldhash::fast::RandomState>;

/// A peer's exchanges in arrival order. Removed exchanges in the middle become tombstones
/// (popped when they reach the front), so each exchange keeps its sequence number and the
/// optional Message ID index stays valid.
#[derive(Debug)]
struct Slots {
    ring: VecDeque<Exchange>,
    /// Sequence number of `ring[0]` (wrapping).
    base: u32,
    /// Exchanges that are not tombstones.
    live: u32,
    /// Message ID → sequence number of its live exchange (peers with many slots only; boxed
    /// so a device's peer entry stays small).
    index: Option<Box<Index>>,
}

impl Slots {
    fn new(per_peer: usize) -> Slots {
        Slots {
            ring: VecDeque::with_capacity(1),
            base: 0,
            live: 0,
            index: (per_peer > INDEX_ABOVE).then(Box::default),
        }
    }

    /// Position of the live exchange with `mid`, if any.
    fn find(&self, mid: u16) -> Option<usize> {
        match &self.index {
            Some(index) => index
                .get(&mid)
                .map(|&seq| seq.wrapping_sub(self.base) as usize),
            None => self.ring.iter().rposition(|e| !e.dead && e.mid == mid),
        }
    }

    fn get(&self, i: usize) -> &Exchange {
        &self.ring[i]
    }

    fn get_mut(&mut self, i: usize) -> &mut Exchange {
        &mut self.ring[i]
    }

    fn push(&mut self, e: Exchange) {
        if let Some(index) = &mut self.index {
            index.insert(e.mid, self.base.wrapping_add(self.ring.len() as u32));
        }
        self.ring.push_back(e);
        self.live += 1;
    }

    /// Make exchange `i` a tombstone.
    fn kill(&mut self, i: usize) {
        let e = &mut self.ring[i];
        if e.dead {
            return;
        }
        e.dead = true;
        e.reply = None;
        self.live -= 1;
        let seq = self.base.wrapping_add(i as u32);
        if let Some(index) = &mut self.index {
            if index.get(&e.mid) == Some(&seq) {
                index.remove(&e.mid);
            }
        }
    }

    /// Pop the front exchange; whether it was live.
    fn pop_front(&mut self) -> bool {
        let Some(e) = self.ring.front() else {
            return false;
        };
        let was_live = !e.dead;
        if was_live {
            self.kill(0);
        }
        self.ring.pop_front();
        self.base = self.base.wrapping_add(1);
        was_live
    }

    /// Pop tombstones and exchanges expired at `t` off the front; how many live ones went.
    fn trim_front(&mut self, t: u64) -> usize {
        let mut gone = 0;
        while self.ring.front().is_some_and(|e| e.dead || e.expiry <= t) {
            if self.pop_front() {
                gone += 1;
            }
        }
        gone
    }
}

/// An expiry-queue item; stale when the peer is gone or has another generation.
#[derive(Debug, Clone, Copy)]
struct QueueItem {
    /// Its queue's lifetime after the last activity that extended the peer (so the activity
    /// time is `expiry` less that lifetime).
    expiry: u64,
    generation: u64,
    peer: SocketAddr,
}

/// Bounded duplicate-detection cache keyed by peer, then Message ID (RFC 7252 §4.5).
///
/// Peers sit in two insertion-ordered expiry queues (the one of the exchange type that last
/// extended them); with a fixed lifetime per queue each is ordered by expiry (given
/// non-decreasing `now`). Removal is lazy: items whose generation no longer matches are skipped.
#[derive(Debug)]
pub struct DedupCache {
    map: Map,
    con_fifo: VecDeque<QueueItem>,
    non_fifo: VecDeque<QueueItem>,
    max_peers: usize,
    per_peer: usize,
    con_lifetime: Duration,
    non_lifetime: Duration,
    /// How long after its start a sender may still retransmit an exchange (MAX_TRANSMIT_WAIT).
    retransmit_window: Duration,
    /// Time origin of the stored nanosecond timestamps (the first `now` seen).
    epoch: Option<Instant>,
    next_generation: u64,
    exchanges: usize,
    evictions: u64,
    overflows: u64,
}

impl DedupCache {
    /// A cache for at most `max_peers` peers ([`DEFAULT_EXCHANGES_PER_PEER`] exchanges each),
    /// CON exchanges kept for `con_lifetime` (EXCHANGE_LIFETIME) and NON ones for
    /// `non_lifetime` (NON_LIFETIME), RFC 7252 §4.8.2.
    pub fn new(max_peers: usize, con_lifetime: Duration, non_lifetime: Duration) -> DedupCache {
        DedupCache {
            map: HashMap::default(),
            con_fifo: VecDeque::new(),
            non_fifo: VecDeque::new(),
            max_peers: max_peers.max(1),
            per_peer: DEFAULT_EXCHANGES_PER_PEER,
            con_lifetime,
            non_lifetime,
            retransmit_window: TransmissionParams::default().max_transmit_wait(),
            epoch: None,
            next_generation: 0,
            exchanges: 0,
            evictions: 0,
            overflows: 0,
        }
    }

    /// Keep up to `n` (at least 1) exchanges per peer: a peer's most outstanding exchanges
    /// within EXCHANGE_LIFETIME (RFC 7252 §4.5, §4.7 NSTART).
    pub fn with_exchanges_per_peer(mut self, n: usize) -> DedupCache {
        self.per_peer = n.max(1);
        self
    }

    /// Nanoseconds from the epoch (set by the first call) to `now`.
    fn ticks(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        nanos(now.saturating_duration_since(epoch))
    }

    /// Whether (peer, mid) with `token` is a live recorded exchange (a copy [`Self::check`]
    /// would replay or absorb), without recording anything: overload control refuses a new
    /// request without keeping state for it.
    pub fn contains(&self, now: Instant, peer: SocketAddr, mid: u16, token: Token) -> bool {
        let Some(epoch) = self.epoch else {
            return false;
        };
        let t = nanos(now.saturating_duration_since(epoch));
        self.map.get(&peer).is_some_and(|p| {
            p.exchanges.find(mid).is_some_and(|i| {
                let e = p.exchanges.get(i);
                e.expiry > t && e.token == token
            })
        })
    }

    /// Look up and, when new, record (peer, mid) with its Token. Expired exchanges count as
    /// absent, and so does one with another Token (a new message on a recycled address, not a
    /// copy, RFC 7252 §4.5).
    pub fn check(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        mid: u16,
        con: bool,
        token: Token,
    ) -> DedupOutcome<'_> {
        let t = self.ticks(now);
        // Some(live copy's index) when the peer is known.
        let found = self.map.get(&peer).map(|p| {
            p.exchanges.find(mid).filter(|&i| {
                let e = p.exchanges.get(i);
                e.expiry > t && e.token == token
            })
        });
        if let Some(Some(i)) = found {
            // A duplicate (rare): look the reply up again to return it.
            let e = self.map[&peer].exchanges.get(i);
            return match &e.reply {
                Some(r) => DedupOutcome::Replay(r),
                None => DedupOutcome::Pending,
            };
        }
        let lifetime = if con {
            self.con_lifetime
        } else {
            self.non_lifetime
        };
        let expiry = t.saturating_add(nanos(lifetime));
        let exchange = Exchange {
            expiry,
            reply: None,
            token,
            mid,
            dead: false,
            con,
        };
        let generation = self.next_generation;
        match found {
            Some(_) => {
                let p = self.map.get_mut(&peer).expect("looked up");
                // Drop the expired exchanges at the front and the one this message replaces
                // (expired, or a new message reusing the Message ID with another Token).
                let before = p.exchanges.live as usize;
                p.exchanges.trim_front(t);
                if let Some(i) = p.exchanges.find(mid) {
                    p.exchanges.kill(i);
                }
                p.exchanges.trim_front(t);
                while p.exchanges.live as usize >= self.per_peer {
                    // More distinct exchanges within the window than slots: the oldest goes.
                    // Counted only while its sender may still retransmit it (§4.7).
                    let retransmittable = p.exchanges.ring.front().is_some_and(|e| {
                        let lifetime = nanos(if e.con {
                            self.con_lifetime
                        } else {
                            self.non_lifetime
                        });
                        let started = e.expiry.saturating_sub(lifetime);
                        !e.dead && t < started.saturating_add(nanos(self.retransmit_window))
                    });
                    if p.exchanges.pop_front() && retransmittable {
                        self.overflows += 1;
                    }
                }
                p.exchanges.push(exchange);
                self.exchanges = self.exchanges + p.exchanges.live as usize - before;
                if expiry <= p.expiry {
                    return DedupOutcome::New;
                }
                p.expiry = expiry;
                p.generation = generation;
            }
            None => {
                if self.map.len() >= self.max_peers {
                    self.expire(now);
                    while self.map.len() >= self.max_peers {
                        if !self.evict_oldest() {
                            break;
                        }
                    }
                }
                let mut exchanges = Slots::new(self.per_peer);
                exchanges.push(exchange);
                self.map.insert(
                    peer,
                    PeerState {
                        exchanges,
                        expiry,
                        generation,
                    },
                );
                self.exchanges += 1;
            }
        }
        self.next_generation += 1;
        let item = QueueItem {
            expiry,
            generation,
            peer,
        };
        if con {
            self.con_fifo.push_back(item);
        } else {
            self.non_fifo.push_back(item);
        }
        self.compact_if_needed();
        DedupOutcome::New
    }

    /// Record the reply sent for (peer, mid); later duplicates get these bytes (shared with the
    /// [`Transmit`](super::Transmit) that sends it, not copied).
    /// Replaces an earlier reply (a separate response's empty ACK stays the answer to replay).
    /// Ignored when (peer, mid) is not recorded (e.g. already evicted).
    pub fn set_reply(&mut self, peer: SocketAddr, mid: u16, reply: &Bytes) {
        if let Some(p) = self.map.get_mut(&peer) {
            if let Some(i) = p.exchanges.find(mid) {
                p.exchanges.get_mut(i).reply = Some(reply.clone());
            }
        }
    }

    /// Forget (peer, mid) (e.g. a request rejected before processing that may be retried).
    pub fn remove(&mut self, peer: SocketAddr, mid: u16) {
        let Some(p) = self.map.get_mut(&peer) else {
            return;
        };
        let Some(i) = p.exchanges.find(mid) else {
            return;
        };
        p.exchanges.kill(i);
        self.exchanges -= 1;
        p.exchanges.trim_front(0);
        if p.exchanges.live == 0 {
            self.map.remove(&peer);
            self.drop_stale_fronts();
        }
    }

    /// Drop peers whose last exchange ended; give memory back when the table has shrunk to a
    /// quarter of its capacity (after a burst).
    pub fn expire(&mut self, now: Instant) {
        let t = self.ticks(now);
        self.expire_peers(t);
        let (len, cap) = (self.map.len(), self.map.capacity());
        if cap > 4096 && len < cap / 4 {
            self.map.shrink_to(len * 2);
            self.con_fifo.shrink_to(self.con_fifo.len() * 2);
            self.non_fifo.shrink_to(self.non_fifo.len() * 2);
        }
    }

    fn expire_peers(&mut self, t: u64) {
        for con in [true, false] {
            loop {
                let fifo = if con {
                    &mut self.con_fifo
                } else {
                    &mut self.non_fifo
                };
                let Some(&item) = fifo.front() else { break };
                let live = is_live(&self.map, &item);
                if live && item.expiry > t {
                    break;
                }
                fifo.pop_front();
                if live {
                    self.drop_peer(&item.peer);
                }
            }
        }
    }

    fn drop_peer(&mut self, peer: &SocketAddr) {
        if let Some(p) = self.map.remove(peer) {
            self.exchanges -= p.exchanges.live as usize;
        }
    }

    /// When the next peer's last exchange expires (per peer, not per exchange: an expired
    /// exchange of a live peer counts as absent and is reclaimed on its next exchange).
    pub fn next_expiry(&self) -> Option<Instant> {
        let a = self.con_fifo.front().map(|s| s.expiry);
        let b = self.non_fifo.front().map(|s| s.expiry);
        let t = match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        self.epoch.map(|e| e + Duration::from_nanos(t))
    }

    /// Peer slots the table has allocated (memory it holds), at least [`DedupCache::peers`].
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Recorded exchanges over all peers.
    ///
    /// Exchanges past their expiry still count until [`DedupCache::expire`] runs or their
    /// peer starts a new exchange.
    pub fn len(&self) -> usize {
        self.exchanges
    }

    /// Peers with recorded exchanges (bounded by `max_peers`).
    pub fn peers(&self) -> usize {
        self.map.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Peers evicted early (least recently active first) because the table was full.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Exchanges forgotten while their sender could still retransmit them (started less than
    /// MAX_TRANSMIT_WAIT ago): the peer had more than `exchanges_per_peer` exchanges outstanding
    /// at once (it violates NSTART, RFC 7252 §4.7). A peer that simply runs many short exchanges
    /// one after another forgets its old, finished ones without being counted.
    pub fn window_overflows(&self) -> u64 {
        self.overflows
    }

    /// Evict the live peer whose last activity is oldest; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        self.drop_stale_fronts();
        let use_con = match (self.con_fifo.front(), self.non_fifo.front()) {
            (Some(c), Some(n)) => {
                let con_at = c.expiry.saturating_sub(nanos(self.con_lifetime));
                con_at <= n.expiry.saturating_sub(nanos(self.non_lifetime))
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return false,
        };
        let fifo = if use_con {
            &mut self.con_fifo
        } else {
            &mut self.non_fifo
        };
        if let Some(item) = fifo.pop_front() {
            self.drop_peer(&item.peer);
            self.evictions += 1;
        }
        true
    }

    /// Pop stale items at the queue fronts so `next_expiry` and eviction see live peers.
    fn drop_stale_fronts(&mut self) {
        for fifo in [&mut self.con_fifo, &mut self.non_fifo] {
            while let Some(item) = fifo.front() {
                if is_live(&self.map, item) {
                    break;
                }
                fifo.pop_front();
            }
        }
    }

    /// Keep the queues bounded (about two items per peer) when peers were extended or removed.
    fn compact_if_needed(&mut self) {
        if self.con_fifo.len() + self.non_fifo.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.con_fifo.retain(|s| is_live(map, s));
            self.non_fifo.retain(|s| is_live(map, s));
        }
    }
}

/// A duration in nanoseconds, saturating (u64 nanoseconds cover 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether a queue item still describes the map's entry for its peer.
fn is_live(map: &Map, item: &QueueItem) -> bool {
    map.get(&item.peer)
        .is_some_and(|p| p.generation == item.generation)
}

#[cfg(test)]
#[path = "dedup_tests.rs"]
mod tests;
