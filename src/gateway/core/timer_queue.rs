//! The core's timers (docs/ARCHITECTURE.md §1): what each one is for, and the queue that hands
//! them back earliest first. A timer is validated when it fires (stale ones are ignored).

use super::pending::Kind;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// A timer of the core; validated when it fires (stale timers are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Timer {
    /// End of the piggyback window of a held CON.
    Piggyback { kind: Kind, ue: Arc<str>, seq: u64 },
    /// A request's `waitTime` deadline.
    Deadline { kind: Kind, ue: Arc<str>, seq: u64 },
    /// The answer wait of an upstream exchange.
    Upstream { token: u64 },
    /// The wait for a device's separate answer to a downlink delivery (device-side token).
    Delivery { token: u64 },
    /// End of the piggyback window of the server's downlink request `ticket` (its empty ACK).
    ServerAck { ticket: u64 },
    /// The latest moment to answer the server's downlink request `ticket`.
    ServerRequest { ticket: u64 },
    /// (Re-)send the gateway's own registration.
    SelfRegistration,
    /// The latest moment a request parked for the gateway's re-registration may wait.
    Parked { kind: Kind, ue: Arc<str>, seq: u64 },
    /// Look for idle Application Client registrations (shard 0).
    AppSweep,
    /// `SEGREC` or expiry of downlink segment set `key` (identity `id`; 23.554 §8.5).
    Reassembly { key: Arc<str>, id: u64 },
    /// End of the hold of an answered Application Client segment set (23.554 §8.5).
    SegmentHold { set: Arc<str> },
}

/// The core's timers, earliest first. Ordered by (instant, insertion number) only, so heap
/// operations never compare the timers' keys (UE Service IDs). Timers that are pushed in time
/// order (the piggyback window, a constant after each request's arrival: one per request, the
/// hot path) go to a FIFO instead of the heap.
#[derive(Debug, Default)]
pub(super) struct TimerQueue {
    heap: BinaryHeap<Reverse<TimerEntry>>,
    fifo: VecDeque<(Instant, Timer)>,
    next_seq: u64,
}

#[derive(Debug)]
struct TimerEntry {
    at: Instant,
    seq: u64,
    timer: Timer,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimerEntry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl TimerQueue {
    pub(super) fn push(&mut self, at: Instant, timer: Timer) {
        self.next_seq += 1;
        self.heap.push(Reverse(TimerEntry {
            at,
            seq: self.next_seq,
            timer,
        }));
    }

    /// Push a timer due no earlier than every FIFO timer pushed before (else it goes to the heap).
    pub(super) fn push_in_order(&mut self, at: Instant, timer: Timer) {
        if self.fifo.back().is_some_and(|(last, _)| *last > at) {
            self.push(at, timer);
        } else {
            self.fifo.push_back((at, timer));
        }
    }

    /// When the earliest timer is due.
    pub(super) fn next(&self) -> Option<Instant> {
        let heap = self.heap.peek().map(|Reverse(e)| e.at);
        let fifo = self.fifo.front().map(|(at, _)| *at);
        match (heap, fifo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest timer if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let heap = self.heap.peek().map(|Reverse(e)| e.at);
        let fifo = self.fifo.front().map(|(at, _)| *at);
        match (heap, fifo) {
            (Some(h), Some(f)) if f < h && f <= now => self.fifo.pop_front().map(|(_, t)| t),
            (Some(h), _) if h <= now => self.heap.pop().map(|Reverse(e)| e.timer),
            (None, Some(f)) if f <= now => self.fifo.pop_front().map(|(_, t)| t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Timer, TimerQueue};
    use std::time::Duration;
    use std::time::Instant;

    fn up(token: u64) -> Timer {
        Timer::Upstream { token }
    }

    #[test]
    fn fifo_and_heap_timers_come_out_in_time_order() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut q = TimerQueue::default();
        q.push_in_order(ms(10), up(1));
        q.push(ms(5), up(2));
        q.push_in_order(ms(20), up(3));
        q.push(ms(15), up(4));
        // Out of order for the FIFO: goes to the heap and still fires in time order.
        q.push_in_order(ms(12), up(5));
        assert_eq!(q.next(), Some(ms(5)));
        assert_eq!(q.pop_due(ms(4)), None, "nothing due yet");
        let mut fired = Vec::new();
        while let Some(Timer::Upstream { token }) = q.pop_due(ms(100)) {
            fired.push(token);
        }
        assert_eq!(fired, vec![2, 1, 5, 4, 3]);
        assert_eq!(q.next(), None);
    }
}
