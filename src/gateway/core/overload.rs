//! Overload control (docs/ARCHITECTURE.md §8): a new device request that waited longer than
//! [`crate::gateway::GatewayConfig::overload_delay`] between the kernel receiving it and the shard handling it is
//! answered 5.03 + Max-Age at once (RFC 7252 §5.9.3.4, §5.10.5) without parsing its payload,
//! and a NON one is dropped; both are counted; beyond [`SILENT_FACTOR`] times the delay a CON is
//! dropped unanswered too. Nothing is kept for it (the check comes before duplicate detection
//! records the exchange), so a retransmission of the same Message ID is judged afresh (nothing
//! was processed, so processing it later is safe, RFC 7252 §4.5). Retransmissions of admitted
//! requests, ACKs, RSTs and the server's answers are never shed. The in-flight bound
//! ([`crate::gateway::GatewayConfig::max_pending`]) is checked in [`GatewayCore::admit`].
//!
//! Before those fixed bounds, early refusal ([`crate::gateway::GatewayConfig::overload_target`],
//! [`EarlyRefusal`](crate::coap::overload::EarlyRefusal)) refuses a share of new requests while
//! the standing queue is above its target, counted as `early`.
//!
//! The 5.03 answers themselves are bounded by an [`AnswerBudget`](crate::coap::overload::AnswerBudget)
//! ([`crate::gateway::GatewayConfig::overload_answer_rate`] per second): on loopback an answer costs the shard
//! about as much as serving the request (the send dominates), a drop only its share of one
//! `recvmmsg`, so past the budget a shed request is dropped unanswered (its device retransmits
//! and is judged afresh). Max-Age carries ±50 % jitter so devices refused in the same second do
//! not come back in the same second (RFC 7252 §5.9.3.4: the client waits Max-Age).

use super::shard::GatewayCore;
use crate::coap::overload::jittered;
use crate::coap::types::option;
use crate::coap::Header;
use crate::coap::{Code, MessageBuilder, MsgType};
use crate::gateway::LATENCY_FLOOR;
use crate::gateway::{GatewayStats, Received, Side};
use crate::net::shard::Load;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Beyond this multiple of [`crate::gateway::GatewayConfig::overload_delay`] a new CON is dropped unanswered:
/// on loopback a 5.03 costs the shard ~80 % of serving the request (the send dominates), so
/// answering every excess request cannot drain the queue (docs/ARCHITECTURE.md §8).
pub const SILENT_FACTOR: u32 = 2;

/// Diagnostic payload of the overload answer (RFC 7252 §5.5.2).
const OVERLOADED: &[u8] = b"overloaded";

impl GatewayCore {
    /// The driver's measurement for the datagram fed next ([`crate::net::shard::Core::set_load`]).
    pub fn set_load(&mut self, load: Load) {
        self.overload.load = load;
    }

    /// The Max-Age of one 5.03 overload answer: the configured one with ±50 % jitter.
    pub(super) fn overload_max_age(&mut self) -> u32 {
        let draw = self.rng.next_u32();
        jittered(self.config.overload_max_age, draw)
    }

    /// Whether a new request would wait too long behind the work in flight: the smoothed
    /// answer latency is above half of [`crate::gateway::GatewayConfig::overload_latency`] (the
    /// work behind the gateway is queueing) and at least as many requests are in flight as the
    /// shard answers within that bound at its measured rate (at least [`LATENCY_FLOOR`]). So
    /// under a sustained overload the shard keeps admitting at the rate it answers and refuses
    /// only the excess, and admitted requests wait about the bound; a rule on the latency alone
    /// would refuse everything until the backlog was gone and leave the shard idle while the
    /// refused devices wait out their Max-Age.
    pub(super) fn answers_lagging(&self) -> bool {
        let bound = self.config.overload_latency;
        let in_flight = self.pending.len();
        !bound.is_zero()
            && in_flight >= LATENCY_FLOOR
            && self.overload.answer_pace.latency() > bound / 2
            && in_flight >= self.overload.answer_pace.in_flight_for(bound)
    }

    /// Whether the early-refusal controller refuses this new request (a random draw against
    /// its probability; no draw while it refuses none).
    fn early_refusal(&mut self) -> bool {
        self.overload.early.probability() > 0.0 && {
            let draw = self.rng.next_u32();
            self.overload.early.refuse(draw)
        }
    }

    /// Record the queueing delay of a device-facing datagram (metrics).
    pub(super) fn observe_queue_delay(&self) {
        self.stats
            .queue_delay
            .observe_duration(self.overload.load.queue_delay);
    }

    /// Admission by queueing delay and answer latency of a request on the device-facing socket
    /// `side`, before its payload is parsed and before duplicate detection records anything:
    /// true when it was shed. A copy of a recorded exchange (retransmission of an admitted
    /// request) is never shed. Above [`crate::gateway::GatewayConfig::overload_delay`], while answers lag
    /// ([`GatewayCore::answers_lagging`]), or when early refusal draws it, a CON gets 5.03 + Max-Age within the
    /// [`crate::gateway::GatewayConfig::overload_answer_rate`] budget; above [`SILENT_FACTOR`] times the delay
    /// (the 5.03 answers themselves cannot keep up) or past the budget it is dropped
    /// unanswered, the cheapest refusal, so the socket buffer never overflows and the kernel
    /// never drops indiscriminately (ACKs, retransmissions of admitted requests, the server's
    /// answers). A NON is always dropped.
    pub(super) fn shed_late(
        &mut self,
        now: Instant,
        side: Side,
        from: SocketAddr,
        header: &Header,
    ) -> bool {
        // The early-refusal controller steers by the new requests' queueing delay; its
        // probability (and the gauge) changes once per update interval only.
        if self
            .overload
            .early
            .observe(now, self.overload.load.queue_delay)
        {
            let ppm = (self.overload.early.probability() * 1e6) as u64;
            self.stats.refusal_ppm.store(ppm, Ordering::Relaxed);
        }
        // The counter of a refusal (a NON dropped, or a CON answered 5.03): by which bound.
        let refused: fn(&GatewayStats) -> &AtomicU64 = if self.overload.load.is_late(
            self.config.overload_delay,
            self.config.overload_buffer_percent,
        ) {
            |s| &s.shed_queue_delay
        } else if self.answers_lagging() {
            |s| &s.shed_latency
        } else if self.early_refusal() {
            |s| &s.shed_early
        } else {
            return false;
        };
        let dedup = match side {
            Side::Config => &self.config_side.dedup,
            Side::Device | Side::Upstream(_) => &self.device.dedup,
        };
        if dedup.contains(now, from, header.mid, header.token) {
            return false;
        }
        self.stats.shed.increment(1);
        self.stats.received(side, Received::Shed);
        if header.mtype != MsgType::Con {
            refused(&self.stats).increment(1);
            return true;
        }
        if self.overload.load.queue_delay > self.config.overload_delay * SILENT_FACTOR {
            self.stats.shed_silent.increment(1);
            return true;
        }
        if !self.overload.answer_budget.take(now) {
            self.overload.early.saturate();
            self.stats.shed_budget.increment(1);
            return true;
        }
        refused(&self.stats).increment(1);
        let max_age = self.overload_max_age();
        let bytes = MessageBuilder::new(
            MsgType::Ack,
            Code::SERVICE_UNAVAILABLE,
            header.mid,
            header.token,
        )
        .uint_option(option::MAX_AGE, max_age)
        .payload(OVERLOADED);
        self.push(side, from, bytes);
        true
    }
}
