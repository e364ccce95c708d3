//! The overload-control sub-state of a shard (README "Failure behaviour"): the queueing delay
//! of the datagram being handled, the budget of 5.03 answers, and the answer-latency estimate.

use crate::coap::overload::AnswerBudget;
use std::time::Duration;

/// What overload control keeps between datagrams.
#[derive(Debug)]
pub(super) struct Overload {
    /// Queueing delay of the datagram being handled, from the driver ([`crate::net::shard::Load`]).
    pub(super) queue_delay: Duration,
    /// 5.03 answers left for shed requests ([`crate::gateway::GatewayConfig::overload_answer_rate`]).
    pub(super) answer_budget: AnswerBudget,
    /// Smoothed receipt-to-answer time ([`crate::gateway::GatewayConfig::overload_latency`]).
    pub(super) answer_latency: LatencyEstimate,
}

impl Overload {
    /// Nothing queued yet, a full budget of `answer_rate` 5.03 answers per second.
    pub(super) fn new(answer_rate: u32) -> Overload {
        Overload {
            queue_delay: Duration::ZERO,
            answer_budget: AnswerBudget::new(answer_rate),
            answer_latency: LatencyEstimate::default(),
        }
    }
}

/// An exponentially weighted moving average of the receipt-to-answer time of requests
/// (weight 1/64 per answer: it follows a change within a few hundred answers).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LatencyEstimate {
    nanos: f64,
}

impl LatencyEstimate {
    /// Fold in one request's receipt-to-answer time.
    pub(super) fn observe(&mut self, latency: Duration) {
        self.nanos += (latency.as_nanos() as f64 - self.nanos) / 64.0;
    }

    /// The current estimate.
    pub(super) fn get(&self) -> Duration {
        Duration::from_nanos(self.nanos as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::LatencyEstimate;
    use std::time::Duration;

    #[test]
    fn the_latency_estimate_follows_a_change_within_a_few_hundred_answers() {
        let mut e = LatencyEstimate::default();
        for _ in 0..400 {
            e.observe(Duration::from_millis(800));
        }
        assert!(e.get() > Duration::from_millis(790));
        for _ in 0..400 {
            e.observe(Duration::from_millis(10));
        }
        assert!(e.get() < Duration::from_millis(20));
    }
}
