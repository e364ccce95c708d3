//! A hashed timer wheel for lane wake-ups (retransmissions, request timeouts, parked lanes).
//!
//! Inserting is O(1) (a push onto one slot's vector). Entries are not removed when the event
//! they stand for is cancelled (an answer arrived): the owner checks, when an entry fires,
//! whether it still holds (same lane and sequence number, due time reached) and re-inserts it
//! at the lane's current due time otherwise. Entries due more than one revolution ahead simply
//! fire early and are re-inserted.

/// How many slots [`Wheel::next_due_ns`] looks ahead (keeps it cheap on a sparse wheel).
pub const SCAN_SLOTS: u64 = 64;

/// One wheel entry: a lane and the request sequence number it was armed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Lane index within the worker.
    pub lane: u32,
    /// Sequence number of the lane's request when armed.
    pub seq: u32,
}

/// A timer wheel with `2^bits` slots of `tick_ns` each.
#[derive(Debug)]
pub struct Wheel {
    slots: Vec<Vec<Entry>>,
    mask: u64,
    tick_ns: u64,
    /// Next tick to process (all earlier ticks are done).
    cursor: u64,
    len: usize,
}

impl Wheel {
    /// A wheel of `2^bits` slots of `tick_ns` nanoseconds, starting at time 0.
    pub fn new(bits: u32, tick_ns: u64) -> Wheel {
        Wheel {
            slots: (0..1usize << bits).map(|_| Vec::new()).collect(),
            mask: (1u64 << bits) - 1,
            tick_ns: tick_ns.max(1),
            cursor: 0,
            len: 0,
        }
    }

    /// Arm `entry` to fire at (or soon after) `at_ns`.
    pub fn insert(&mut self, at_ns: u64, entry: Entry) {
        // Never into a slot already processed for this revolution.
        let tick = (at_ns / self.tick_ns).max(self.cursor);
        self.slots[(tick & self.mask) as usize].push(entry);
        self.len += 1;
    }

    /// Entries armed and not yet fired.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is armed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Time of the next non-empty slot within [`SCAN_SLOTS`] ticks, else the time
    /// [`SCAN_SLOTS`] ticks ahead: a bound on how long the caller may sleep. `None` when empty.
    pub fn next_due_ns(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let scan = (self.mask + 1).min(SCAN_SLOTS);
        let tick = (0..scan)
            .map(|i| self.cursor + i)
            .find(|t| !self.slots[(t & self.mask) as usize].is_empty())
            .unwrap_or(self.cursor + scan);
        Some(tick * self.tick_ns)
    }

    /// Move every entry of the slots up to `now_ns` into `out` (at most one revolution per call).
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<Entry>) {
        let now_tick = now_ns / self.tick_ns;
        let mut steps = 0;
        while self.cursor <= now_tick && steps <= self.mask && self.len > 0 {
            let slot = &mut self.slots[(self.cursor & self.mask) as usize];
            self.len -= slot.len();
            out.append(slot);
            self.cursor += 1;
            steps += 1;
        }
        if self.len == 0 && self.cursor <= now_tick {
            self.cursor = now_tick + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(lane: u32) -> Entry {
        Entry { lane, seq: 0 }
    }

    #[test]
    fn fires_in_order_of_slots_and_not_before_due() {
        let mut w = Wheel::new(4, 1_000);
        w.insert(5_500, e(1));
        w.insert(2_000, e(2));
        w.insert(40_000, e(3)); // beyond one revolution (16 µs): fires early, caller re-arms
        assert_eq!(w.len(), 3);
        assert_eq!(w.next_due_ns(), Some(2_000));
        let mut out = Vec::new();
        w.expire(1_999, &mut out);
        assert!(out.is_empty());
        w.expire(2_000, &mut out);
        assert_eq!(out, vec![e(2)]);
        out.clear();
        w.expire(6_000, &mut out);
        assert_eq!(out, vec![e(1)]);
        out.clear();
        w.expire(9_000, &mut out);
        assert_eq!(out, vec![e(3)], "40 µs maps to slot 8 of 16");
        assert!(w.is_empty());
        assert_eq!(w.next_due_ns(), None);
    }

    #[test]
    fn late_insert_goes_to_the_current_slot() {
        let mut w = Wheel::new(3, 10);
        let mut out = Vec::new();
        w.insert(100, e(1));
        w.expire(100, &mut out);
        assert_eq!(out.len(), 1);
        w.insert(50, e(2)); // in the past
        out.clear();
        w.expire(110, &mut out);
        assert_eq!(out, vec![e(2)]);
    }

    #[test]
    fn a_long_stall_processes_at_most_one_revolution() {
        let mut w = Wheel::new(2, 10);
        for i in 0..4 {
            w.insert(i * 10, e(i as u32));
        }
        let mut out = Vec::new();
        w.expire(1_000_000, &mut out);
        assert_eq!(out.len(), 4);
        assert!(w.is_empty());
    }
}
