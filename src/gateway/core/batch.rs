//! Batch queue of one kind (23.554 §8.2.7 step 7): FIFO of pending UE Service IDs with the counters
//! that drive the flush triggers (entries, bytes, oldest entry's hold time, earliest deadline,
//! a pause in the kind's arrivals).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One queued member: UE Service ID and the pending entry's sequence number.
#[derive(Debug, Clone)]
pub struct Queued {
    /// UE Service ID.
    pub ue: Arc<str>,
    /// Sequence number of the pending entry when queued (stale when it differs).
    pub seq: u64,
    /// When the request was received.
    pub received_at: Instant,
}

/// The batch queue of one kind.
#[derive(Debug, Default)]
pub struct Batch {
    /// Queued members in arrival order (may contain stale items, skipped at flush).
    pub queue: VecDeque<Queued>,
    /// Live members.
    pub count: usize,
    /// Sum of live members' element lengths plus one separator each.
    pub bytes: usize,
    /// Member deadlines, earliest first (stale items are skipped by the caller).
    pub deadlines: BinaryHeap<Reverse<(Instant, u64, Arc<str>)>>,
    /// No flush before this instant (server 5.03 Max-Age, Message IDs exhausted).
    pub blocked_until: Option<Instant>,
    /// The pace of new members (for the pause trigger, [`ArrivalPace::pause_flush_at`]).
    pub arrivals: ArrivalPace,
}

/// Arrivals a kind's pace is judged on before a pause can flush its batch (a few requests, as in
/// most unit scenarios, never do).
pub const PAUSE_MIN_ARRIVALS: u32 = 64;

/// Shortest pause that flushes a partial batch: about one event-loop turn under load, so
/// back-to-back turns never count as a pause.
pub const PAUSE_FLOOR: Duration = Duration::from_millis(1);

/// The smoothed gap between a kind's arrivals, so a partial batch whose stream of requests
/// stopped is flushed instead of waiting out `hold_time`.
///
/// Why (docs/PROTOCOL.md §8.1, measured): under open load at half of peak, 2 % of requests
/// waited 25–100 ms in a partial batch (p99 50 ms, p90 5 ms) because the arrivals of one kind
/// paused (devices alternating REG and DEREG in step) while its last bulk was not full; with
/// Poisson arrivals a gap of 8 mean gaps has probability e^-8, so bulks at low load still fill
/// over `hold_time` as before.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArrivalPace {
    last: Option<Instant>,
    /// Exponentially weighted mean gap (1/32 per arrival), in nanoseconds.
    mean_gap_nanos: f64,
    seen: u32,
}

impl ArrivalPace {
    /// One new member arrived at `at`.
    pub fn observe(&mut self, at: Instant) {
        self.seen = self.seen.saturating_add(1);
        if let Some(last) = self.last {
            let gap = at.saturating_duration_since(last).as_nanos() as f64;
            self.mean_gap_nanos += (gap - self.mean_gap_nanos) / 32.0;
            self.last = Some(last.max(at));
        } else {
            self.last = Some(at);
        }
    }

    /// When a batch with members should flush because arrivals paused: `factor` mean gaps (at
    /// least [`PAUSE_FLOOR`]) after the last arrival. `None` with `factor` 0 (off) or before
    /// [`PAUSE_MIN_ARRIVALS`] arrivals were seen.
    pub fn pause_flush_at(&self, factor: u32) -> Option<Instant> {
        if factor == 0 || self.seen < PAUSE_MIN_ARRIVALS {
            return None;
        }
        let pause = Duration::from_nanos((self.mean_gap_nanos * f64::from(factor)) as u64);
        Some(self.last? + pause.max(PAUSE_FLOOR))
    }
}

impl Batch {
    /// Add a live member.
    pub fn push(&mut self, item: Queued, element_len: usize, deadline: Option<Instant>) {
        self.arrivals.observe(item.received_at);
        self.queue.push_back(item);
        self.count += 1;
        self.bytes += element_len + 1;
        if let Some(d) = deadline {
            let ue = self
                .queue
                .back()
                .map(|q| q.ue.clone())
                .unwrap_or_else(|| Arc::from(""));
            let seq = self.queue.back().map_or(0, |q| q.seq);
            self.deadlines.push(Reverse((d, seq, ue)));
        }
    }

    /// Put a live member back at the head (4.13 split, 5.03 retry): it keeps its place in line.
    pub fn push_front(&mut self, item: Queued, element_len: usize, deadline: Option<Instant>) {
        if let Some(d) = deadline {
            self.deadlines.push(Reverse((d, item.seq, item.ue.clone())));
        }
        self.queue.push_front(item);
        self.count += 1;
        self.bytes += element_len + 1;
    }

    /// A live member left the queue (answered early); its queue item becomes stale.
    pub fn forget(&mut self, element_len: usize) {
        self.count = self.count.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(element_len + 1);
        if self.count == 0 {
            self.queue.clear();
            self.bytes = 0;
            self.deadlines.clear();
        }
    }

    /// A live member's element changed size (replaced by a newer request).
    pub fn resize(&mut self, old_len: usize, new_len: usize) {
        self.bytes = (self.bytes + new_len).saturating_sub(old_len);
    }

    /// Arrival time of the oldest live member, given a liveness check.
    pub fn oldest(&mut self, is_live: impl Fn(&Queued) -> bool) -> Option<Instant> {
        while let Some(front) = self.queue.front() {
            if is_live(front) {
                return Some(front.received_at);
            }
            self.queue.pop_front();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_judged_only_after_enough_arrivals_and_never_when_off() {
        let t0 = Instant::now();
        let mut pace = ArrivalPace::default();
        for i in 0..PAUSE_MIN_ARRIVALS {
            assert_eq!(pace.pause_flush_at(8), None, "after {i} arrivals");
            pace.observe(t0 + Duration::from_micros(100 * u64::from(i)));
        }
        assert!(pace.pause_flush_at(8).is_some());
        assert_eq!(pace.pause_flush_at(0), None, "factor 0 is off");
    }

    #[test]
    fn a_fast_stream_flushes_one_floor_after_its_last_arrival_a_slow_one_after_its_gaps() {
        let t0 = Instant::now();
        let mut fast = ArrivalPace::default();
        let mut last = t0;
        for i in 0..1_000u64 {
            last = t0 + Duration::from_micros(100 * i);
            fast.observe(last);
        }
        assert_eq!(fast.pause_flush_at(8), Some(last + PAUSE_FLOOR));
        let mut slow = ArrivalPace::default();
        for i in 0..1_000u64 {
            last = t0 + Duration::from_millis(10 * i);
            slow.observe(last);
        }
        let at = slow.pause_flush_at(8).unwrap();
        let pause = at - last;
        assert!(
            (Duration::from_millis(75)..=Duration::from_millis(81)).contains(&pause),
            "8 gaps of 10 ms: {pause:?}"
        );
    }
}
