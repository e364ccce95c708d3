//! CoAP transmission parameters (RFC 7252 §4.8, §4.8.2).

use std::time::Duration;

/// RFC 7252 §4.8 transmission parameters; derived times follow §4.8.2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransmissionParams {
    /// ACK_TIMEOUT (default 2 s).
    pub ack_timeout: Duration,
    /// ACK_RANDOM_FACTOR (default 1.5, must be >= 1.0).
    pub ack_random_factor: f64,
    /// MAX_RETRANSMIT (default 4).
    pub max_retransmit: u32,
    /// MAX_LATENCY (default 100 s).
    pub max_latency: Duration,
    /// PROCESSING_DELAY (default = ACK_TIMEOUT).
    pub processing_delay: Duration,
}

impl Default for TransmissionParams {
    fn default() -> Self {
        TransmissionParams {
            ack_timeout: Duration::from_secs(2),
            ack_random_factor: 1.5,
            max_retransmit: 4,
            max_latency: Duration::from_secs(100),
            processing_delay: Duration::from_secs(2),
        }
    }
}

impl TransmissionParams {
    /// MAX_TRANSMIT_SPAN = ACK_TIMEOUT * (2^MAX_RETRANSMIT - 1) * ACK_RANDOM_FACTOR (45 s).
    pub fn max_transmit_span(&self) -> Duration {
        self.backoff_span(self.max_retransmit)
    }
    /// MAX_TRANSMIT_WAIT = ACK_TIMEOUT * (2^(MAX_RETRANSMIT + 1) - 1) * ACK_RANDOM_FACTOR (93 s).
    pub fn max_transmit_wait(&self) -> Duration {
        self.backoff_span(self.max_retransmit.saturating_add(1))
    }
    /// EXCHANGE_LIFETIME = MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY (247 s).
    pub fn exchange_lifetime(&self) -> Duration {
        self.max_transmit_span()
            .saturating_add(self.max_latency.saturating_mul(2))
            .saturating_add(self.processing_delay)
    }
    /// NON_LIFETIME = MAX_TRANSMIT_SPAN + MAX_LATENCY (145 s).
    pub fn non_lifetime(&self) -> Duration {
        self.max_transmit_span().saturating_add(self.max_latency)
    }

    /// ACK_TIMEOUT * (2^n - 1) * ACK_RANDOM_FACTOR, saturating at `Duration::MAX`.
    fn backoff_span(&self, n: u32) -> Duration {
        let factor = (2f64.powi(n.min(1024) as i32) - 1.0) * self.ack_random_factor;
        let secs = self.ack_timeout.as_secs_f64() * factor;
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7252_default_derived_values() {
        let p = TransmissionParams::default();
        assert_eq!(p.max_transmit_span(), Duration::from_secs(45));
        assert_eq!(p.max_transmit_wait(), Duration::from_secs(93));
        assert_eq!(p.exchange_lifetime(), Duration::from_secs(247));
        assert_eq!(p.non_lifetime(), Duration::from_secs(145));
    }

    #[test]
    fn custom_params_scale() {
        let p = TransmissionParams {
            ack_timeout: Duration::from_secs(1),
            ack_random_factor: 1.0,
            max_retransmit: 2,
            max_latency: Duration::from_secs(10),
            processing_delay: Duration::from_secs(1),
        };
        assert_eq!(p.max_transmit_span(), Duration::from_secs(3));
        assert_eq!(p.max_transmit_wait(), Duration::from_secs(7));
        assert_eq!(p.exchange_lifetime(), Duration::from_secs(24));
        assert_eq!(p.non_lifetime(), Duration::from_secs(13));
    }

    #[test]
    fn absurd_params_saturate_instead_of_panicking() {
        let p = TransmissionParams {
            max_retransmit: u32::MAX,
            ..TransmissionParams::default()
        };
        assert_eq!(p.max_transmit_span(), Duration::MAX);
        assert_eq!(p.exchange_lifetime(), Duration::MAX);
    }
}
