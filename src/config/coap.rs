//! `[coap]`: the RFC 7252 §4.8 transmission parameters, the request size bound and the RFC 7959
//! block-wise bounds shared by every core.

use super::check::{at_least_one, invalid, millis};
use super::error::ConfigError;
use crate::coap::block::{szx_of, BlockConfig, MAX_SZX};
use crate::coap::TransmissionParams;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Smallest `coap.max_request_bytes` (RFC 7252 §4.6: 1152 bytes fit any path).
pub const MIN_REQUEST_BYTES: usize = 1152;
/// Largest `coap.max_request_bytes` (the largest UDP payload over IPv4).
pub const MAX_REQUEST_BYTES: usize = 65_507;
/// Largest `coap.max_retransmit` (2^(n+1) stays far from overflow).
pub const MAX_RETRANSMIT: u32 = 20;
/// Largest `coap.ack_timeout_ms` (5 minutes).
pub const MAX_ACK_TIMEOUT_MS: u64 = 300_000;

/// `[coap]`: RFC 7252 §4.8 transmission parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoapSection {
    /// ACK_TIMEOUT in milliseconds.
    pub ack_timeout_ms: u64,
    /// ACK_RANDOM_FACTOR.
    pub ack_random_factor: f64,
    /// MAX_RETRANSMIT.
    pub max_retransmit: u32,
    /// Largest request datagram accepted (4.13 with Size1 beyond).
    pub max_request_bytes: usize,
    /// Preferred block size in bytes (RFC 7959 §2.2: 16..=1024, a power of two).
    pub block_size: usize,
    /// Block1 transfers / cached Block2 answers per core.
    pub block_max_transfers: usize,
    /// Largest reassembled Block1 body (above: 4.13 with Size1).
    pub block_max_body_bytes: usize,
    /// Bytes held per table (Block1 bodies, Block2 answers).
    pub block_max_total_bytes: usize,
    /// Lifetime of a transfer after its last block.
    pub block_lifetime_ms: u64,
    /// Answers larger than this go Block2 unasked.
    pub block_auto_bytes: usize,
}

impl Default for CoapSection {
    fn default() -> Self {
        let params = TransmissionParams::default();
        let block = BlockConfig::default();
        CoapSection {
            ack_timeout_ms: millis(params.ack_timeout),
            ack_random_factor: params.ack_random_factor,
            max_retransmit: params.max_retransmit,
            max_request_bytes: crate::coap::DEFAULT_MAX_REQUEST_BYTES,
            block_size: 1 << (block.szx + 4),
            block_max_transfers: block.max_transfers,
            block_max_body_bytes: block.max_body_bytes,
            block_max_total_bytes: block.max_total_bytes,
            block_lifetime_ms: millis(block.lifetime),
            block_auto_bytes: block.auto_block2_bytes,
        }
    }
}
impl CoapSection {
    /// Check every `[coap]` value (first of the sections: the gateway's checks compare against
    /// it).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = self;
        if c.ack_timeout_ms == 0 || c.ack_timeout_ms > MAX_ACK_TIMEOUT_MS {
            return Err(invalid(
                "coap.ack_timeout_ms",
                format!("must be between 1 and {MAX_ACK_TIMEOUT_MS}"),
            ));
        }
        if !(c.ack_random_factor.is_finite() && c.ack_random_factor >= 1.0) {
            return Err(invalid("coap.ack_random_factor", "must be at least 1.0"));
        }
        if c.max_retransmit > MAX_RETRANSMIT {
            return Err(invalid(
                "coap.max_retransmit",
                format!("must be at most {MAX_RETRANSMIT}"),
            ));
        }
        if !(MIN_REQUEST_BYTES..=MAX_REQUEST_BYTES).contains(&c.max_request_bytes) {
            return Err(invalid(
                "coap.max_request_bytes",
                format!("must be between {MIN_REQUEST_BYTES} and {MAX_REQUEST_BYTES}"),
            ));
        }
        if szx_of(c.block_size).is_none() {
            return Err(invalid(
                "coap.block_size",
                "must be 16, 32, 64, 128, 256, 512 or 1024",
            ));
        }
        at_least_one("coap.block_max_transfers", c.block_max_transfers)?;
        if c.block_max_body_bytes < c.block_size {
            return Err(invalid(
                "coap.block_max_body_bytes",
                "must be at least coap.block_size",
            ));
        }
        if c.block_max_total_bytes < c.block_max_body_bytes {
            return Err(invalid(
                "coap.block_max_total_bytes",
                "must be at least coap.block_max_body_bytes",
            ));
        }
        if c.block_lifetime_ms == 0 {
            return Err(invalid("coap.block_lifetime_ms", "must be at least 1"));
        }
        Ok(())
    }

    /// Block-wise transfer bounds (RFC 7959).
    pub fn block_config(&self) -> BlockConfig {
        let c = self;
        BlockConfig {
            szx: szx_of(c.block_size).unwrap_or(MAX_SZX),
            max_transfers: c.block_max_transfers,
            max_body_bytes: c.block_max_body_bytes,
            max_total_bytes: c.block_max_total_bytes,
            lifetime: Duration::from_millis(c.block_lifetime_ms),
            auto_block2_bytes: c.block_auto_bytes,
        }
    }

    /// RFC 7252 transmission parameters (PROCESSING_DELAY = ACK_TIMEOUT).
    pub fn transmission_params(&self) -> TransmissionParams {
        let ack_timeout = Duration::from_millis(self.ack_timeout_ms);
        TransmissionParams {
            ack_timeout,
            ack_random_factor: self.ack_random_factor,
            max_retransmit: self.max_retransmit,
            processing_delay: ack_timeout,
            ..TransmissionParams::default()
        }
    }
}
