//! The RFC 7252 §4.2 back-off of one Confirmable message, shared by every sender of CONs (the
//! cores' [`Retransmitter`](super::retransmit::Retransmitter), the device client, loadgen).
//!
//! The first timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT × ACK_RANDOM_FACTOR]; each
//! retransmission doubles it; after MAX_RETRANSMIT retransmissions the sender gives up when the
//! last timeout expires. The caller owns the clock: it arms its timer with [`Backoff::timeout`]
//! from the moment it (re)sent.

use super::params::TransmissionParams;
use super::rng::Rng;
use std::time::Duration;

/// Where one CON is in its back-off: the current timeout and the retransmissions so far
/// (`Default`: a zero timeout, for slots not in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    timeout: Duration,
    retransmits: u32,
}

impl Backoff {
    /// A first transmission with the timeout drawn from `params` (§4.2).
    pub fn new(params: &TransmissionParams, rng: &mut Rng) -> Backoff {
        Backoff::start(params.ack_timeout, params.ack_random_factor, rng)
    }

    /// A first transmission: timeout ACK_TIMEOUT × uniform [1, ACK_RANDOM_FACTOR] (a factor
    /// below 1 counts as 1; an overflow saturates at `Duration::MAX`).
    pub fn start(ack_timeout: Duration, ack_random_factor: f64, rng: &mut Rng) -> Backoff {
        let spread = (ack_random_factor - 1.0).max(0.0);
        let factor = 1.0 + spread * rng.next_f64();
        let timeout = Duration::try_from_secs_f64(ack_timeout.as_secs_f64() * factor)
            .unwrap_or(Duration::MAX);
        Backoff {
            timeout,
            retransmits: 0,
        }
    }

    /// The timeout running since the latest (re)transmission.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Retransmissions so far.
    pub fn retransmits(&self) -> u32 {
        self.retransmits
    }

    /// Whether another retransmission is allowed under MAX_RETRANSMIT = `max_retransmit`.
    pub fn may_retransmit(&self, max_retransmit: u32) -> bool {
        self.retransmits < max_retransmit
    }

    /// The timeout expired: if MAX_RETRANSMIT allows, count one retransmission and return the
    /// doubled timeout to arm from now; `None` means give up.
    pub fn retransmit(&mut self, max_retransmit: u32) -> Option<Duration> {
        if !self.may_retransmit(max_retransmit) {
            return None;
        }
        self.retransmits += 1;
        self.timeout = self.timeout.saturating_mul(2);
        Some(self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_timeout_is_within_the_random_window() {
        let params = TransmissionParams::default();
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            let t = Backoff::new(&params, &mut rng).timeout();
            assert!(
                t >= Duration::from_secs(2) && t <= Duration::from_secs(3),
                "{t:?}"
            );
        }
        // A factor below 1 is 1.
        let b = Backoff::start(Duration::from_secs(2), 0.5, &mut rng);
        assert_eq!(b.timeout(), Duration::from_secs(2));
    }

    #[test]
    fn doubles_until_max_retransmit_then_gives_up() {
        let mut rng = Rng::new(2);
        let mut b = Backoff::start(Duration::from_secs(2), 1.0, &mut rng);
        let mut seen = Vec::new();
        while let Some(t) = b.retransmit(4) {
            seen.push(t.as_secs());
        }
        assert_eq!(seen, [4, 8, 16, 32]);
        assert_eq!(b.retransmits(), 4);
        assert!(!b.may_retransmit(4));
        // The span of the whole exchange is MAX_TRANSMIT_WAIT with factor 1 (2+4+8+16+32).
        assert_eq!(2 + seen.iter().sum::<u64>(), 62);
    }

    #[test]
    fn absurd_values_saturate() {
        let mut rng = Rng::new(3);
        let mut b = Backoff::start(Duration::MAX, 1.5, &mut rng);
        assert_eq!(b.timeout(), Duration::MAX);
        assert_eq!(b.retransmit(1), Some(Duration::MAX));
    }
}
