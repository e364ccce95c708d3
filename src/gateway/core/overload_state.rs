//! The overload-control sub-state of a shard (docs/ARCHITECTURE.md §8): the queueing delay
//! of the datagram being handled, the budget of 5.03 answers, and the answer pace (latency
//! and rate).

use crate::coap::overload::{AnswerBudget, EarlyRefusal};
use crate::net::shard::Load;
use std::time::{Duration, Instant};

/// What overload control keeps between datagrams.
#[derive(Debug)]
pub(super) struct Overload {
    /// The driver's measurement of the datagram being handled (queueing delay, receive-buffer
    /// fill).
    pub(super) load: Load,
    /// 5.03 answers left for shed requests ([`crate::gateway::GatewayConfig::overload_answer_rate`]).
    pub(super) answer_budget: AnswerBudget,
    /// Smoothed receipt-to-answer time and answer rate
    /// ([`crate::gateway::GatewayConfig::overload_latency`]).
    pub(super) answer_pace: AnswerPace,
    /// The queueing-delay controller ([`crate::gateway::GatewayConfig::overload_target`]).
    pub(super) early: EarlyRefusal,
}

impl Overload {
    /// Nothing queued yet, a full budget of `answer_rate` 5.03 answers per second, early
    /// refusal toward the queueing delay `target`.
    pub(super) fn new(answer_rate: u32, target: Duration) -> Overload {
        Overload {
            load: Load::default(),
            answer_budget: AnswerBudget::new(answer_rate),
            answer_pace: AnswerPace::default(),
            early: EarlyRefusal::new(target),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::AnswerPace;
    use std::time::{Duration, Instant};

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
