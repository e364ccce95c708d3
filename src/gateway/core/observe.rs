//! What the metrics need from the core's state: the flush reason of a bulk about to go, and the
//! gauges the shard loop publishes after each wake (README "Metrics").

use super::pending::Kind;
use super::shard::GatewayCore;
use crate::coap::dedup::DedupCache;
use crate::gateway::FlushReason;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl GatewayCore {
    /// Which trigger makes the batch of `kind` flush now (checked in [`Self::flush_time`]'s
    /// order of precedence: draining, entries, bytes, hold time, a pause in arrivals, then
    /// deadline).
    pub(super) fn flush_reason(&self, kind: Kind, now: Instant) -> FlushReason {
        let batch = &self.upstream.batches[kind.index()];
        let held = batch
            .queue
            .front()
            .is_some_and(|q| q.received_at + self.config.hold_time <= now);
        if self.draining {
            FlushReason::Shutdown
        } else if batch.count >= self.max_entries() {
            FlushReason::Size
        } else if self.batch_bytes(kind) >= self.bulk_budget() {
            FlushReason::Bytes
        } else if held {
            FlushReason::Hold
        } else if batch
            .arrivals
            .pause_flush_at(self.config.batch_pause_factor)
            .is_some_and(|t| t <= now)
        {
            FlushReason::Pause
        } else {
            FlushReason::Deadline
        }
    }

    /// Store the gauges (pending, dedup cache, in flight, Message IDs in use toward the server)
    /// into the shared stats; the driver calls it after each wake.
    pub fn publish_gauges(&self) {
        let mids: usize = self.upstream.uplinks.iter().map(|u| u.mids.in_use()).sum();
        let s = &self.stats;
        s.pending_entries
            .store(self.pending.len() as u64, Ordering::Relaxed);
        s.dedup_entries
            .store(self.dedup_len() as u64, Ordering::Relaxed);
        let caches = self.dedup_caches();
        let sum = |f: fn(&DedupCache) -> u64| caches.iter().map(|c| f(c)).sum::<u64>();
        s.dedup_peers
            .store(sum(|c| c.peers() as u64), Ordering::Relaxed);
        s.dedup_evictions
            .store(sum(DedupCache::evictions), Ordering::Relaxed);
        s.dedup_window_overflows
            .store(sum(DedupCache::window_overflows), Ordering::Relaxed);
        s.upstream_in_flight
            .store(self.upstream.in_flight.len() as u64, Ordering::Relaxed);
        s.upstream_mids_in_use.store(mids as u64, Ordering::Relaxed);
        s.journal_entries
            .store(self.journal_len() as u64, Ordering::Relaxed);
    }
}
