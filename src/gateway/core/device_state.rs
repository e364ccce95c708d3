//! The device-facing sub-states of a shard (RFC 7252 §4.4–4.5, RFC 7959 §2.3): the messaging
//! socket's duplicate detection, Message IDs, retransmissions and Block1 reassembly, and the
//! configuration socket's (24.538 §6.2.2.1) own message layer.

use crate::coap::block::Block1Table;
use crate::coap::block2::Block2Cache;
use crate::coap::dedup::DedupCache;
use crate::coap::mid::MidAllocator;
use crate::coap::retransmit::Retransmitter;
use crate::gateway::GatewayConfig;
use std::time::{Duration, Instant};

/// What a confirmable message toward a device is, for its retransmission outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeviceRetx {
    /// A separate response or spec-literal POST answering a device request.
    Answer,
    /// A downlink delivery (device-side Token).
    Delivery(u64),
}

/// Message-layer state of the device (messaging) socket, MSGin5G-6 (RFC 7252 §4).
#[derive(Debug)]
pub(super) struct DeviceSide {
    /// Duplicate detection of device requests (RFC 7252 §4.5).
    pub(super) dedup: DedupCache,
    /// Message IDs of confirmable messages toward devices (RFC 7252 §4.4).
    pub(super) mids: MidAllocator,
    /// Retransmission of confirmable answers and deliveries toward devices.
    pub(super) retx: Retransmitter<DeviceRetx>,
    /// Block1 reassembly of device requests (RFC 7959 §2.3).
    pub(super) block1: Block1Table,
    /// A reused buffer for encoding answers.
    pub(super) scratch: Vec<u8>,
}

impl DeviceSide {
    /// The device socket's state for `config`, Message IDs seeded with `mid_seed`.
    pub(super) fn new(config: &GatewayConfig, lifetime: Duration, mid_seed: u64) -> DeviceSide {
        DeviceSide {
            dedup: DedupCache::new(
                config.dedup_max_entries,
                lifetime,
                config.params.non_lifetime(),
            )
            .with_exchanges_per_peer(config.dedup_exchanges_per_peer),
            mids: MidAllocator::new(lifetime, config.mid_max_entries, mid_seed),
            retx: Retransmitter::new(config.params),
            block1: Block1Table::new(config.block),
            scratch: Vec::new(),
        }
    }

    /// The earliest retransmission or expiry of the device socket's message layer.
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        earliest([
            self.retx.next_timeout(),
            self.dedup.next_expiry(),
            self.mids.next_expiry(),
        ])
    }
}

/// Message-layer state of the configuration socket: deduplication and confirmable answers are
/// per gateway endpoint (a device may reuse a Message ID toward another endpoint, RFC 7252 §4.4).
#[derive(Debug)]
pub(super) struct ConfigSide {
    /// Duplicate detection of configuration requests (RFC 7252 §4.5).
    pub(super) dedup: DedupCache,
    /// Retransmission of confirmable configuration answers.
    pub(super) retx: Retransmitter<DeviceRetx>,
    /// Configuration answers being fetched block by block (RFC 7959 §2.4).
    pub(super) block2: Block2Cache,
}

impl ConfigSide {
    /// The configuration socket's state for `config`.
    pub(super) fn new(config: &GatewayConfig, lifetime: Duration) -> ConfigSide {
        ConfigSide {
            dedup: DedupCache::new(
                config.dedup_max_entries,
                lifetime,
                config.params.non_lifetime(),
            )
            .with_exchanges_per_peer(config.dedup_exchanges_per_peer),
            retx: Retransmitter::new(config.params),
            block2: Block2Cache::new(config.block),
        }
    }

    /// The earliest retransmission or expiry of the configuration socket's message layer.
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        earliest([self.retx.next_timeout(), self.dedup.next_expiry()])
    }
}

/// The earliest of some instants.
pub(super) fn earliest<const N: usize>(instants: [Option<Instant>; N]) -> Option<Instant> {
    instants.into_iter().flatten().min()
}
