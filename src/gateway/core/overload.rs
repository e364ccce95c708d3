//! Overload control (README "Failure behaviour"): a new device request that waited longer than
//! [`GatewayConfig::overload_delay`] between the kernel receiving it and the shard handling it is
//! answered 5.03 + Max-Age at once (RFC 7252 §5.9.3.4, §5.10.5) without parsing its payload,
//! and a NON one is dropped; both are counted; beyond [`SILENT_FACTOR`] times the delay a CON is
//! dropped unanswered too. Nothing is kept for it (the check comes before duplicate detection
//! records the exchange), so a retransmission of the same Message ID is judged afresh (nothing
//! was processed, so processing it later is safe, RFC 7252 §4.5). Retransmissions of admitted
//! requests, ACKs, RSTs and the server's answers are never shed. The in-flight bound
//! ([`GatewayConfig::max_pending`]) is checked in [`GatewayCore::admit`].
//!
//! The 5.03 answers themselves are bounded by an [`AnswerBudget`]
//! ([`GatewayConfig::overload_answer_rate`] per second): on loopback an answer costs the shard
//! about as much as serving the request (the send dominates), a drop only its share of one
//! `recvmmsg`, so past the budget a shed request is dropped unanswered (its device retransmits
//! and is judged afresh). Max-Age carries ±50 % jitter so devices refused in the same second do
//! not come back in the same second (RFC 7252 §5.9.3.4: the client waits Max-Age).

use super::*;
use crate::coap::overload::jittered;
use crate::coap::Header;
use crate::gateway::LATENCY_FLOOR;
use crate::net::shard::Load;

/// Beyond this multiple of [`GatewayConfig::overload_delay`] a new CON is dropped unanswered:
/// on loopback a 5.03 costs the shard ~80 % of serving the request (the send dominates), so
/// answering every excess request cannot drain the queue (README "Failure behaviour").
pub const SILENT_FACTOR: u32 = 2;

/// Diagnostic payload of the overload answer (RFC 7252 §5.5.2).
const OVERLOADED: &[u8] = b"overloaded";

/// Length of one window of [`AnswerPace`]'s rate estimate.
const PACE_WINDOW: Duration = Duration::from_millis(100);

/// How the shard's requests are being answered: the receipt-to-answer time (an exponentially
/// weighted moving average, weight 1/64 per answer, so it follows a change within a few
/// hundred answers) and the answer rate (per [`PACE_WINDOW`], smoothed with weight 1/4 per
/// window). Overload control derives its in-flight limit from the two (Little's law: requests
/// in flight = answer rate × time to answer).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AnswerPace {
    latency_nanos: f64,
    /// Start of the current rate window and the answers in it.
    window: Option<(Instant, u32)>,
    /// Answers per second.
    rate: f64,
}

impl AnswerPace {
    /// Fold in one request answered at `now` after `latency` from its receipt.
    pub(super) fn observe(&mut self, now: Instant, latency: Duration) {
        self.latency_nanos += (latency.as_nanos() as f64 - self.latency_nanos) / 64.0;
        let Some((start, answers)) = self.window else {
            self.window = Some((now, 1));
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < PACE_WINDOW {
            self.window = Some((start, answers + 1));
            return;
        }
        let rate = f64::from(answers) / elapsed.as_secs_f64();
        self.rate = if self.rate == 0.0 {
            rate
        } else {
            self.rate + (rate - self.rate) / 4.0
        };
        self.window = Some((now, 1));
    }

    /// The smoothed receipt-to-answer time.
    pub(super) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos as u64)
    }

    /// Requests the shard answers within `target` at its measured rate.
    pub(super) fn in_flight_for(&self, target: Duration) -> usize {
        (self.rate * target.as_secs_f64()) as usize
    }
}

impl GatewayCore {
    /// The driver's measurement for the datagram fed next ([`crate::net::shard::Core::set_load`]).
    pub fn set_load(&mut self, load: Load) {
        self.queue_delay = load.queue_delay;
    }

    /// The Max-Age of one 5.03 overload answer: the configured one with ±50 % jitter.
    pub(super) fn overload_max_age(&mut self) -> u32 {
        let draw = self.rng.next_u32();
        jittered(self.config.overload_max_age, draw)
    }

    /// Whether a new request would wait too long behind the work in flight: the smoothed
    /// answer latency is above half of [`GatewayConfig::overload_latency`] (the work behind the
    /// gateway is queueing) and at least as many requests are in flight as the shard answers
    /// within that bound at its measured rate ([`AnswerPace::in_flight_for`], at least
    /// [`LATENCY_FLOOR`]). So under a sustained overload the shard keeps admitting at the rate
    /// it answers and refuses only the excess, and admitted requests wait about the bound; a
    /// rule on the latency alone would refuse everything until the backlog was gone and leave
    /// the shard idle while the refused devices wait out their Max-Age.
    pub(super) fn answers_lagging(&self) -> bool {
        let bound = self.config.overload_latency;
        let in_flight = self.pending.len();
        !bound.is_zero()
            && in_flight >= LATENCY_FLOOR
            && self.answer_pace.latency() > bound / 2
            && in_flight >= self.answer_pace.in_flight_for(bound)
    }

    /// Record the queueing delay of a device-facing datagram (metrics).
    pub(super) fn observe_queue_delay(&self) {
        self.stats.queue_delay.observe_duration(self.queue_delay);
    }

    /// Admission by queueing delay and answer latency of a request on the device-facing socket
    /// `side`, before its payload is parsed and before duplicate detection records anything:
    /// true when it was shed. A copy of a recorded exchange (retransmission of an admitted
    /// request) is never shed. Above [`GatewayConfig::overload_delay`], or while answers lag
    /// ([`GatewayCore::answers_lagging`]), a CON gets 5.03 + Max-Age within the
    /// [`GatewayConfig::overload_answer_rate`] budget; above [`SILENT_FACTOR`] times the delay
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
        let late = self.queue_delay > self.config.overload_delay;
        if !late && !self.answers_lagging() {
            return false;
        }
        let dedup = match side {
            Side::Config => &self.config_side.dedup,
            Side::Device | Side::Upstream(_) => &self.dedup,
        };
        if dedup.contains(now, from, header.mid, header.token) {
            return false;
        }
        inc(&self.stats.shed);
        self.stats.received(side, Received::Shed);
        // The counter of a refusal (a NON dropped, or a CON answered 5.03): by which bound.
        let refused: fn(&GatewayStats) -> &AtomicU64 = if late {
            |s| &s.shed_queue_delay
        } else {
            |s| &s.shed_latency
        };
        if header.mtype != MsgType::Con {
            inc(refused(&self.stats));
            return true;
        }
        if self.queue_delay > self.config.overload_delay * SILENT_FACTOR {
            inc(&self.stats.shed_silent);
            return true;
        }
        if !self.answer_budget.take(now) {
            inc(&self.stats.shed_budget);
            return true;
        }
        inc(refused(&self.stats));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latency_estimate_follows_a_change_within_a_few_hundred_answers() {
        let t0 = Instant::now();
        let mut e = AnswerPace::default();
        for _ in 0..400 {
            e.observe(t0, Duration::from_millis(800));
        }
        assert!(e.latency() > Duration::from_millis(790));
        for _ in 0..400 {
            e.observe(t0, Duration::from_millis(10));
        }
        assert!(e.latency() < Duration::from_millis(20));
    }
}

#[cfg(test)]
mod pace_tests {
    use super::*;

    #[test]
    fn the_rate_estimate_follows_the_answer_rate_and_gives_the_in_flight_limit() {
        let t0 = Instant::now();
        let mut e = AnswerPace::default();
        assert_eq!(
            e.in_flight_for(Duration::from_secs(1)),
            0,
            "nothing measured yet"
        );
        // 2 000 answers per second for 2 s: one every 500 µs.
        for i in 0..4_000u64 {
            e.observe(
                t0 + Duration::from_micros(500 * i),
                Duration::from_millis(5),
            );
        }
        let limit = e.in_flight_for(Duration::from_millis(500));
        assert!((950..=1_050).contains(&limit), "2 000/s × 0.5 s: {limit}");
        // The rate halves: within a second the limit follows.
        let t1 = t0 + Duration::from_secs(2);
        for i in 0..1_000u64 {
            e.observe(t1 + Duration::from_millis(i), Duration::from_millis(5));
        }
        let limit = e.in_flight_for(Duration::from_millis(500));
        assert!((450..=560).contains(&limit), "1 000/s × 0.5 s: {limit}");
    }
}
