//! The Gateway UE state machine of one shard (SPEC.md §7.2–7.3; DESIGN.md §1, §3).
//!
//! - this file: the state, construction, the public driving API and draining;
//! - [`device`]: device requests: validation, dedup, replacement, the one final answer;
//! - [`upstream`]: batching, bulk and single requests, splitting the server's answers;
//! - [`timers`]: piggyback windows, deadlines, retransmissions, expiry;
//! - [`observe`]: flush reasons and gauges for the metrics.

mod device;
mod observe;
mod timers;
mod upstream;

use super::answer::{self, Outcome};
use super::batch::{Batch, Queued};
use super::pending::{AckState, Exchange, Kind, Pending, PendingTable, Stage};
use super::{AnswerMode, GatewayConfig, GatewayStats, Received, Side};
use crate::coap::build::{empty_ack, reset};
use crate::coap::dedup::{DedupCache, DedupOutcome};
use crate::coap::mid::MidAllocator;
use crate::coap::retransmit::{RetransmitEvent, Retransmitter};
use crate::coap::rng::Rng;
use crate::coap::types::option;
use crate::coap::{
    Code, MessageBuilder, MessageView, MsgType, Token, Transmit, CONTENT_FORMAT_JSON,
};
use crate::msg::{self, cause, BulkKind, Payload, RegResult, UrgentDegree};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Max-Age assumed when a 5.03 from the server carries none (RFC 7252 §5.10.5 default).
const DEFAULT_MAX_AGE: u32 = 60;

/// A timer of the core; validated when it fires (stale timers are ignored).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// End of the piggyback window of a held CON.
    Piggyback { kind: Kind, ue: Arc<str>, seq: u64 },
    /// A request's `waitTime` deadline.
    Deadline { kind: Kind, ue: Arc<str>, seq: u64 },
    /// The answer wait of an upstream exchange.
    Upstream { token: u64 },
}

/// An upstream exchange (bulk or single request) awaiting the server's answer.
#[derive(Debug)]
struct InFlight {
    /// The uplink (local endpoint) the request went out on.
    uplink: usize,
    /// Message ID of the request in that uplink's Message ID space.
    mid: u16,
    kind: Kind,
    single: bool,
    members: Vec<(Arc<str>, u64)>,
    sent_at: Instant,
    deadline: Instant,
}

pub(super) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One uplink endpoint toward the server: the server sees each as a separate peer, so each has its
/// own Message ID space (RFC 7252 §4.4 allows ~265 CON/s per endpoint over EXCHANGE_LIFETIME).
#[derive(Debug)]
struct Uplink {
    mids: MidAllocator,
    retx: Retransmitter<u64>,
}

/// The Gateway UE state machine for one shard.
#[derive(Debug)]
pub struct GatewayCore {
    config: GatewayConfig,
    upstream: SocketAddr,
    rng: Rng,
    stats: Arc<GatewayStats>,
    transmits: VecDeque<(Side, Transmit)>,
    dedup: DedupCache,
    mids: MidAllocator,
    pending: PendingTable,
    batches: [Batch; 2],
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    in_flight: HashMap<u64, InFlight>,
    /// Per uplink: its own Message ID space toward the server and its retransmissions.
    uplinks: Vec<Uplink>,
    /// Round-robin cursor over `uplinks`.
    next_uplink: usize,
    device_retx: Retransmitter<()>,
    /// Largest bulk the server accepted without 4.13 (learned; starts at the configured bound).
    learned_max_entries: usize,
    /// Smoothed upstream round-trip time, used to flush ahead of deadlines.
    rtt_estimate: Duration,
    envelope_len: [usize; 2],
    draining: bool,
    scratch: Vec<u8>,
}

impl GatewayCore {
    /// A shard core sending upstream to `upstream`; `seed` drives Tokens/MIDs/jitter.
    pub fn new(config: GatewayConfig, upstream: SocketAddr, seed: u64) -> GatewayCore {
        let lifetime = config.params.exchange_lifetime();
        let envelope_len = [BulkKind::Registration, BulkKind::Deregistration]
            .map(|k| msg::bulk_envelope_len(k, &config.service_id, &config.gateway_ue_service_id));
        GatewayCore {
            dedup: DedupCache::new(
                config.dedup_max_entries,
                lifetime,
                config.params.non_lifetime(),
            ),
            mids: MidAllocator::new(lifetime, config.mid_max_entries, seed ^ 0x5bd1_e995),
            uplinks: (0..config.uplinks_per_shard.max(1))
                .map(|i| Uplink {
                    mids: MidAllocator::new(
                        lifetime,
                        config.mid_max_entries.min(1 << 16),
                        seed ^ (0x9e37 + i as u64),
                    ),
                    retx: Retransmitter::new(config.params),
                })
                .collect(),
            next_uplink: 0,
            device_retx: Retransmitter::new(config.params),
            learned_max_entries: config.max_batch_entries,
            rng: Rng::new(seed),
            stats: Arc::new(GatewayStats::default()),
            transmits: VecDeque::new(),
            pending: PendingTable::default(),
            batches: Default::default(),
            timers: BinaryHeap::new(),
            in_flight: HashMap::new(),
            rtt_estimate: Duration::ZERO,
            envelope_len,
            draining: false,
            scratch: Vec::new(),
            upstream,
            config,
        }
    }

    /// Shared counters.
    pub fn stats(&self) -> Arc<GatewayStats> {
        self.stats.clone()
    }

    /// Pending device requests (not yet answered).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Upstream exchanges awaiting the server.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Entries in the deduplication cache.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// Next datagram to send and the socket to send it on.
    pub fn poll_transmit(&mut self) -> Option<(Side, Transmit)> {
        self.transmits.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        consider(self.timers.peek().map(|Reverse((at, _))| *at));
        for u in &self.uplinks {
            consider(u.retx.next_timeout());
            consider(u.mids.next_expiry());
        }
        consider(self.device_retx.next_timeout());
        consider(self.dedup.next_expiry());
        consider(self.mids.next_expiry());
        for kind in Kind::ALL {
            consider(self.flush_time(kind));
        }
        t
    }

    /// Start draining (Ctrl-C): flush every batch now, refuse new requests with 5.03.
    pub fn begin_drain(&mut self, now: Instant) {
        self.draining = true;
        for kind in Kind::ALL {
            self.flush(kind, now);
        }
    }

    /// End of a drain that ran out of time: every request still pending (queued or awaiting the
    /// server) gets its final answer now, `FAILURE`/`SHUTTING_DOWN` (5.03).
    pub fn abort(&mut self, now: Instant) {
        let tokens: Vec<u64> = self.in_flight.keys().copied().collect();
        for token in tokens {
            self.fail_exchange(now, token, cause::SHUTTING_DOWN);
        }
        for kind in Kind::ALL {
            for (ue, seq) in self.pending.entries(kind) {
                let outcome = Outcome::failure(cause::SHUTTING_DOWN)
                    .with_max_age(self.config.overload_max_age);
                self.finish(now, kind, &ue, seq, outcome);
            }
        }
    }

    /// True when every accepted request has had its final answer and nothing is in flight.
    pub fn is_drained(&self) -> bool {
        self.pending.is_empty() && self.in_flight.is_empty()
    }

    fn push(&mut self, side: Side, destination: SocketAddr, payload: Vec<u8>) {
        self.transmits.push_back((
            side,
            Transmit {
                destination,
                payload,
            },
        ));
    }
}
