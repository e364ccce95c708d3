//! Batch queue of one kind (23.554 §8.2.7 step 7): FIFO of pending UE Service IDs with the counters
//! that drive the flush triggers (entries, bytes, oldest entry's hold time, earliest deadline).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

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
}

impl Batch {
    /// Add a live member.
    pub fn push(&mut self, item: Queued, element_len: usize, deadline: Option<Instant>) {
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
