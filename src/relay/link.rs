//! The link table of a Layer-3 UE-to-Network relay (TS 23.304; 24.538 6.2.2.1, 6.3.3.2,
//! 6.4.2.4): one entry per constrained UE ("Client-2"), each with its own uplink endpoint (a
//! socket of the driver, id `FIRST_LINK_SOCKET + slot`), like the port mapping of a NAT.
//!
//! A slot is *linked* from the UE's first datagram until the idle timeout or the server's 2.04
//! to its DEREG; it then stays *unlinked* for `relay.unlinked_grace_ms` (its endpoint still open,
//! so a late server request gets its 4.04 and the UE coming back keeps its endpoint), and is
//! then freed (its socket closed). Slots are bounded by `relay.max_links`; an unlinked slot is
//! reclaimed early (oldest first) when a new UE needs one.
//!
//! With persistence on ([`LinkTable::track_changes`]) the table records which UE addresses'
//! links changed (endpoint port known, unlinked, relinked, freed, or activity advanced by at
//! least `ACTIVITY_STEP`) for `relay/persist.rs`.

use super::exchange::Exchanges;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A datagram waiting for its link's endpoint to open: the device socket it came on, the bytes.
pub(crate) type Queued = (usize, Vec<u8>);

/// Longest a link's persisted last activity may lag behind the real one (activity within this
/// is not written again): after a restart its idle timeout may come this much early.
pub(crate) const ACTIVITY_STEP: Duration = Duration::from_secs(5);

/// One constrained UE's link.
#[derive(Debug)]
pub(crate) struct Link {
    /// The UE's address (source of its datagrams on the device sockets).
    pub(crate) ue: SocketAddr,
    /// Generation of the slot (stale timers are recognised by it).
    pub(crate) generation: u64,
    /// The endpoint is bound (else datagrams wait in `queue`).
    pub(crate) open: bool,
    /// Datagrams waiting for the endpoint to open (bounded by `relay.max_link_queue`).
    pub(crate) queue: Vec<Queued>,
    /// Last datagram either way.
    pub(crate) last_activity: Instant,
    /// The last activity as last recorded for persistence.
    pub(crate) persisted_activity: Instant,
    /// The local port of the endpoint, once known (bound, or restored).
    pub(crate) port: Option<u16>,
    /// `Some(since)` once unlinked (idle or deregistered); the endpoint is kept for the grace.
    pub(crate) unlinked_since: Option<Instant>,
    /// Device requests in flight.
    pub(crate) exchanges: Exchanges,
}

/// What a timer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The link went idle: now unlinked; this many of its exchanges were dropped.
    Idle(usize),
    /// The grace after unlinking passed: the slot is free, close its socket.
    Freed(usize),
}

/// All links, by slot and by UE address.
#[derive(Debug)]
pub(crate) struct LinkTable {
    slots: Vec<Option<Link>>,
    free: Vec<usize>,
    /// foldhash, seeded per process: keys come from the network.
    by_ue: HashMap<SocketAddr, usize, foldhash::fast::RandomState>,
    /// (deadline, slot, generation); lazily re-armed from `last_activity`.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Unlinked slots, oldest first (stale entries skipped by generation).
    unlinked: VecDeque<(usize, u64)>,
    active: usize,
    next_generation: u64,
    max: usize,
    idle: Duration,
    grace: Duration,
    /// UE addresses whose link changed since the last `take_dirty`, when tracked.
    dirty: Option<HashSet<SocketAddr>>,
}

/// Why a UE could not get a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

impl LinkTable {
    /// A table of at most `max` slots.
    pub(crate) fn new(max: usize, idle: Duration, grace: Duration) -> LinkTable {
        LinkTable {
            slots: Vec::new(),
            free: Vec::new(),
            by_ue: HashMap::default(),
            timers: BinaryHeap::new(),
            unlinked: VecDeque::new(),
            active: 0,
            next_generation: 0,
            max,
            idle,
            grace,
            dirty: None,
        }
    }

    /// Record the links changed from now on (see `take_dirty`).
    pub(crate) fn track_changes(&mut self) {
        self.dirty.get_or_insert_with(HashSet::new);
    }

    /// Whether changes are recorded.
    pub(crate) fn tracking(&self) -> bool {
        self.dirty.is_some()
    }

    /// The UE addresses whose link changed since the last call: resolve each with
    /// [`LinkTable::find`] (absent: freed).
    pub(crate) fn take_dirty(&mut self) -> HashSet<SocketAddr> {
        self.dirty.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Record the link of `ue` as changed.
    pub(crate) fn touch(&mut self, ue: SocketAddr) {
        if let Some(dirty) = &mut self.dirty {
            dirty.insert(ue);
        }
    }

    /// A datagram of the link in `slot` either way at `now`: recorded as a change when the
    /// persisted activity lags by [`ACTIVITY_STEP`] or more.
    pub(crate) fn activity(&mut self, slot: usize, now: Instant) {
        let Some(link) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        link.last_activity = now;
        if now.saturating_duration_since(link.persisted_activity) >= ACTIVITY_STEP {
            link.persisted_activity = now;
            let ue = link.ue;
            self.touch(ue);
        }
    }

    /// The endpoint of the link in `slot` is bound at `port`.
    pub(crate) fn opened(&mut self, slot: usize, port: u16) {
        let Some(link) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        link.open = true;
        link.port = Some(port);
        let ue = link.ue;
        self.touch(ue);
    }

    /// After the last [`LinkTable::restore`]: every empty slot below the highest one used is
    /// free (lowest handed out first).
    pub(crate) fn rebuild_free(&mut self) {
        self.free = (0..self.slots.len())
            .rev()
            .filter(|&i| self.slots[i].is_none())
            .collect();
    }

    /// Whether `slot` is free (or beyond the slots used so far, within the bound).
    pub(crate) fn is_free(&self, slot: usize) -> bool {
        slot < self.max && self.slots.get(slot).is_none_or(Option::is_none)
    }

    /// Put back a link loaded from persistent storage into `slot` (free, see
    /// [`LinkTable::is_free`]): its endpoint `port`, its last activity and, if it had ended, when
    /// it was unlinked. Its timers continue from those instants. Not recorded as a change.
    pub(crate) fn restore(
        &mut self,
        slot: usize,
        ue: SocketAddr,
        port: u16,
        last_activity: Instant,
        unlinked_since: Option<Instant>,
    ) {
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        self.slots[slot] = Some(Link {
            ue,
            generation,
            open: false,
            queue: Vec::new(),
            last_activity,
            persisted_activity: last_activity,
            port: Some(port),
            unlinked_since,
            exchanges: Exchanges::default(),
        });
        self.by_ue.insert(ue, slot);
        match unlinked_since {
            None => {
                self.active += 1;
                self.timers
                    .push(Reverse((last_activity + self.idle, slot, generation)));
            }
            Some(since) => {
                self.unlinked.push_back((slot, generation));
                self.timers
                    .push(Reverse((since + self.grace, slot, generation)));
            }
        }
    }

    /// Links now active (not unlinked).
    pub(crate) fn active(&self) -> usize {
        self.active
    }

    /// Slots in use (active and unlinked): the open endpoints.
    pub(crate) fn endpoints(&self) -> usize {
        self.by_ue.len()
    }

    /// The slot of the UE at `ue`, if it has one (linked or within its grace).
    pub(crate) fn find(&self, ue: SocketAddr) -> Option<usize> {
        self.by_ue.get(&ue).copied()
    }

    /// The link in `slot`.
    pub(crate) fn get(&self, slot: usize) -> Option<&Link> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// The link in `slot`, mutably.
    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut Link> {
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    /// Give `ue` a new slot (its endpoint still to be opened). When every slot is taken, the
    /// oldest unlinked one is reclaimed: its slot is returned as `Some(reclaimed)` in the second
    /// field, and the caller closes that socket before opening the new one.
    pub(crate) fn create(
        &mut self,
        now: Instant,
        ue: SocketAddr,
    ) -> Result<(usize, Option<usize>), Full> {
        let mut reclaimed = None;
        let slot = if let Some(slot) = self.free.pop() {
            slot
        } else if self.slots.len() < self.max {
            self.slots.push(None);
            self.slots.len() - 1
        } else {
            let slot = self.oldest_unlinked().ok_or(Full)?;
            self.remove(slot);
            reclaimed = Some(slot);
            self.free.pop();
            slot
        };
        self.next_generation += 1;
        let generation = self.next_generation;
        self.slots[slot] = Some(Link {
            ue,
            generation,
            open: false,
            queue: Vec::new(),
            last_activity: now,
            persisted_activity: now,
            port: None,
            unlinked_since: None,
            exchanges: Exchanges::default(),
        });
        self.by_ue.insert(ue, slot);
        self.active += 1;
        self.timers
            .push(Reverse((now + self.idle, slot, generation)));
        Ok((slot, reclaimed))
    }

    /// The oldest unlinked slot; drops stale entries from the front on the way (so the queue
    /// stays about as long as the number of unlinked slots).
    fn oldest_unlinked(&mut self) -> Option<usize> {
        while let Some(&(slot, generation)) = self.unlinked.front() {
            let live = self
                .get(slot)
                .is_some_and(|l| l.generation == generation && l.unlinked_since.is_some());
            if live {
                return Some(slot);
            }
            self.unlinked.pop_front();
        }
        None
    }

    /// The UE of an unlinked slot spoke again: it is linked again (same endpoint).
    pub(crate) fn relink(&mut self, now: Instant, slot: usize) {
        let idle = self.idle;
        if let Some(link) = self.get_mut(slot) {
            if link.unlinked_since.take().is_some() {
                link.last_activity = now;
                link.persisted_activity = now;
                let (generation, ue) = (link.generation, link.ue);
                if let Some(dirty) = &mut self.dirty {
                    dirty.insert(ue);
                }
                self.active += 1;
                self.timers.push(Reverse((now + idle, slot, generation)));
            }
        }
    }

    /// End the link in `slot` (idle or deregistered): it stays unlinked for the grace time.
    /// Returns the exchanges it dropped, or `None` if it was not linked.
    pub(crate) fn unlink(&mut self, now: Instant, slot: usize) -> Option<usize> {
        let grace = self.grace;
        let link = self.get_mut(slot)?;
        if link.unlinked_since.is_some() {
            return None;
        }
        link.unlinked_since = Some(now);
        let dropped = link.exchanges.clear();
        let (generation, ue) = (link.generation, link.ue);
        self.touch(ue);
        self.active -= 1;
        self.unlinked.push_back((slot, generation));
        self.timers.push(Reverse((now + grace, slot, generation)));
        self.oldest_unlinked();
        Some(dropped)
    }

    /// Free a slot now (its endpoint failed to open, or it is reclaimed). Returns the link.
    pub(crate) fn remove(&mut self, slot: usize) -> Option<Link> {
        let link = self.slots.get_mut(slot)?.take()?;
        self.by_ue.remove(&link.ue);
        self.touch(link.ue);
        if link.unlinked_since.is_none() {
            self.active -= 1;
        }
        self.free.push(slot);
        Some(link)
    }

    /// The next timer deadline (possibly a stale one; firing it is harmless).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Pop the next due timer and act on it: `None` when nothing (more) is due now.
    /// `Some(None)` means a stale or re-armed timer was consumed.
    pub(crate) fn poll_expiry(&mut self, now: Instant) -> Option<Option<Expiry>> {
        let &Reverse((at, slot, generation)) = self.timers.peek()?;
        if at > now {
            return None;
        }
        self.timers.pop();
        let (idle, grace) = (self.idle, self.grace);
        let Some(link) = self.get_mut(slot).filter(|l| l.generation == generation) else {
            return Some(None);
        };
        match link.unlinked_since {
            Some(since) if since + grace <= now => {
                self.remove(slot);
                self.oldest_unlinked();
                Some(Some(Expiry::Freed(slot)))
            }
            // A grace timer of an earlier unlinking, or an idle timer of the unlinked state.
            Some(_) => Some(None),
            None if link.last_activity + idle <= now => {
                let dropped = self.unlink(now, slot).unwrap_or(0);
                Some(Some(Expiry::Idle(dropped)))
            }
            None => {
                let next = link.last_activity + idle;
                self.timers.push(Reverse((next, slot, generation)));
                Some(None)
            }
        }
    }
}
