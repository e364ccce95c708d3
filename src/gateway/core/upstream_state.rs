//! The upstream sub-state of a shard (MSGin5G-1; 23.554 §8.2.7 step 7, RFC 7252 §4.4): the
//! batches waiting to be flushed, the uplink endpoints with their Message ID spaces and
//! retransmissions, the exchanges awaiting the server's answer, and what the shard learned
//! about the server (bulk size bound, round-trip time, liveness).

use super::batch::Batch;
use super::liveness::Liveness;
use super::pending::Kind;
use crate::coap::dedup::DedupCache;
use crate::coap::mid::MidAllocator;
use crate::coap::retransmit::Retransmitter;
use crate::coap::view::BlockOpt;
use crate::gateway::{conf, GatewayConfig};
use crate::msg::{self, AggKind, BulkKind};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The configuration port (24.538 §6.2.1, §6.2.2.1).
pub const DEFAULT_CONFIG_PORT: u16 = 65401;

/// Max-Age assumed when a 5.03 from the server carries none (RFC 7252 §5.10.5 default).
pub(super) const DEFAULT_MAX_AGE: u32 = 60;

/// Peers remembered by an uplink's duplicate detection: only the server sends requests there.
const UPLINK_DEDUP_PEERS: usize = 16;

/// Exchanges remembered per peer on an uplink (RFC 7252 §4.5): the server's default bound on
/// outstanding deliveries, all of which may be toward one uplink.
const UPLINK_DEDUP_EXCHANGES: usize = 4096;

/// Bytes of the bulk/aggregate envelope of `kind` (everything but the elements and commas);
/// aggregate Message IDs are UUID text (36 bytes; [`uuid_text`]).
pub(super) fn envelope_len(kind: Kind, config: &GatewayConfig) -> usize {
    let (service, gateway) = (&config.service_id, &config.gateway_ue_service_id);
    match kind {
        Kind::Reg => msg::bulk_envelope_len(BulkKind::Registration, service, gateway),
        Kind::Dereg => msg::bulk_envelope_len(BulkKind::Deregistration, service, gateway),
        Kind::Msg => msg::aggregate_envelope_len(AggKind::Messages, service, UUID_SAMPLE, gateway),
        Kind::Imdn => msg::aggregate_envelope_len(AggKind::Reports, service, UUID_SAMPLE, gateway),
        Kind::Conf => conf::envelope_len(service, gateway),
    }
}

/// A UUID-shaped string, for sizing.
const UUID_SAMPLE: &str = "00000000-0000-4000-8000-000000000000";

/// A random (version 4) UUID as text, from two 64-bit random values (24.538 §7.1: Message IDs
/// are UUID strings).
pub(super) fn uuid_text(hi: u64, lo: u64) -> String {
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0xC000 << 48)) | (0x8000 << 48);
    // Hex digits written into one exact-size buffer (one allocation, no formatter).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(UUID_SAMPLE.len());
    for (value, digits) in [
        (hi >> 32, 8),
        ((hi >> 16) & 0xFFFF, 4),
        (hi & 0xFFFF, 4),
        (lo >> 48, 4),
        (lo & 0xFFFF_FFFF_FFFF, 12),
    ] {
        if !out.is_empty() {
            out.push('-');
        }
        for i in (0..digits).rev() {
            out.push(char::from(HEX[((value >> (4 * i)) & 0xF) as usize]));
        }
    }
    out
}

/// Everything a shard keeps about its side toward the server.
#[derive(Debug)]
pub(super) struct Upstream {
    /// The MSGin5G Server.
    pub(super) server: SocketAddr,
    /// The configuration management server (BULKCONF and single configuration GETs).
    pub(super) config_server: SocketAddr,
    /// Per kind: the requests waiting to be bulked.
    pub(super) batches: [Batch; Kind::COUNT],
    /// Upstream exchanges awaiting the server's answer, by Token.
    pub(super) in_flight: HashMap<u64, InFlight>,
    /// Per uplink: its own Message ID space toward the server and its retransmissions.
    pub(super) uplinks: Vec<Uplink>,
    /// Round-robin cursor over `uplinks`.
    pub(super) next_uplink: usize,
    /// Largest bulk the server accepted without 4.13 (learned; starts at the configured bound).
    pub(super) learned_max_entries: usize,
    /// Smoothed upstream round-trip time, used to flush ahead of deadlines.
    pub(super) rtt_estimate: Duration,
    /// Per kind: bytes of the bulk/aggregate envelope ([`envelope_len`]).
    pub(super) envelope_len: [usize; Kind::COUNT],
    /// Whether the upstream answers (silence warning, pings, re-sending after its return).
    pub(super) liveness: Liveness,
}

impl Upstream {
    /// The upstream state toward `server` for `config`; uplink Message IDs seeded from
    /// `mid_seed`.
    pub(super) fn new(
        config: &GatewayConfig,
        server: SocketAddr,
        lifetime: Duration,
        mid_seed: u64,
    ) -> Upstream {
        Upstream {
            server,
            config_server: config
                .config_upstream
                .unwrap_or_else(|| SocketAddr::new(server.ip(), DEFAULT_CONFIG_PORT)),
            batches: Default::default(),
            in_flight: HashMap::new(),
            uplinks: (0..config.uplinks_per_shard.max(1))
                .map(|i| Uplink {
                    mids: MidAllocator::new(
                        lifetime,
                        config.mid_max_entries.min(1 << 16),
                        mid_seed ^ (0x9e37 + i as u64),
                    ),
                    retx: Retransmitter::new(config.params),
                    // Only the server sends requests here; it keeps up to its outstanding
                    // deliveries in flight toward one uplink.
                    dedup: DedupCache::new(
                        UPLINK_DEDUP_PEERS,
                        lifetime,
                        config.params.non_lifetime(),
                    )
                    .with_exchanges_per_peer(UPLINK_DEDUP_EXCHANGES),
                })
                .collect(),
            next_uplink: 0,
            learned_max_entries: config.max_batch_entries,
            rtt_estimate: Duration::ZERO,
            envelope_len: Kind::ALL.map(|k| envelope_len(k, config)),
            liveness: Liveness::default(),
        }
    }

    /// A fresh Message ID toward `peer` on the next uplink that has one (round robin).
    pub(super) fn allocate_mid(&mut self, now: Instant, peer: SocketAddr) -> Option<(usize, u16)> {
        let n = self.uplinks.len();
        for k in 0..n {
            let i = (self.next_uplink + k) % n;
            if let Some(mid) = self.uplinks[i].mids.allocate(now, peer) {
                self.next_uplink = (i + 1) % n;
                return Some((i, mid));
            }
        }
        None
    }

    /// When the earliest upstream Message ID reservation ends.
    pub(super) fn mid_expiry(&self) -> Option<Instant> {
        self.uplinks
            .iter()
            .filter_map(|u| u.mids.next_expiry())
            .min()
    }

    /// The earliest retransmission or Message ID expiry over the uplinks.
    pub(super) fn next_uplink_timeout(&self) -> Option<Instant> {
        self.uplinks
            .iter()
            .flat_map(|u| [u.retx.next_timeout(), u.mids.next_expiry()])
            .flatten()
            .min()
    }
}

/// One uplink endpoint toward the server: the server sees each as a separate peer, so each has its
/// own Message ID space (RFC 7252 §4.4 allows ~265 CON/s per endpoint over EXCHANGE_LIFETIME).
#[derive(Debug)]
pub(super) struct Uplink {
    pub(super) mids: MidAllocator,
    pub(super) retx: Retransmitter<UpRetx>,
    /// Deduplication of the server's downlink requests on this endpoint (RFC 7252 §4.5).
    pub(super) dedup: DedupCache,
}

/// What a confirmable message toward the server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UpRetx {
    /// A request (bulk, aggregate, single), by Token.
    Request(u64),
    /// A separate response to one of the server's downlink requests.
    Response,
}

/// Why an upstream exchange was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Device requests (bulked or single) whose answers go back to the members.
    Members,
    /// The gateway's own registration (23.554 §8.2.7 pre-condition 1).
    SelfRegistration,
}

/// An upstream exchange (bulk or single request) awaiting the server's answer.
#[derive(Debug)]
pub(super) struct InFlight {
    /// The uplink (local endpoint) the request went out on.
    pub(super) uplink: usize,
    /// Message ID of the request in that uplink's Message ID space.
    pub(super) mid: u16,
    pub(super) kind: Kind,
    pub(super) single: bool,
    pub(super) purpose: Purpose,
    pub(super) members: Vec<(Arc<str>, u64)>,
    pub(super) sent_at: Instant,
    pub(super) deadline: Instant,
    /// [`crate::gateway::Directory::self_registration_epoch`] when it was sent.
    pub(super) epoch: u64,
    /// The body still being sent in Block1 blocks (`bulk_block1_bytes`).
    pub(super) block1: Option<Box<Block1Send>>,
    /// The answer being fetched in Block2 blocks (RFC 7959 §2.4).
    pub(super) block2: Option<Box<Block2Fetch>>,
}

/// A request body being sent block by block.
#[derive(Debug)]
pub(super) struct Block1Send {
    /// The whole request body.
    pub(super) body: Vec<u8>,
    /// The block in flight.
    pub(super) block: BlockOpt,
    /// Where it starts in `body`.
    pub(super) start: usize,
}

impl Block1Send {
    /// The bytes of the block in flight.
    pub(super) fn chunk(&self) -> &[u8] {
        let end = (self.start + self.block.size()).min(self.body.len());
        &self.body[self.start..end]
    }
}

/// An answer being fetched block by block.
#[derive(Debug)]
pub(super) struct Block2Fetch {
    /// The blocks received so far, in order.
    pub(super) body: Vec<u8>,
    /// The ETag of the first block (RFC 7959 §2.4: every block of one answer carries it).
    pub(super) etag: Option<Vec<u8>>,
    /// The block size (SZX) of the next fetch.
    pub(super) szx: u8,
}

#[cfg(test)]
mod tests {
    use super::uuid_text;

    #[test]
    fn uuid_text_is_the_formatted_version_4_uuid() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..64 {
            x = x.rotate_left(13).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ 0xFF;
            let (hi, lo) = (x, x.rotate_left(29) ^ 0x1234_5678);
            let (h, l) = (
                (hi & !0xF000) | 0x4000,
                (lo & !(0xC000 << 48)) | (0x8000 << 48),
            );
            let expected = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                h >> 32,
                (h >> 16) & 0xFFFF,
                h & 0xFFFF,
                l >> 48,
                l & 0xFFFF_FFFF_FFFF
            );
            assert_eq!(uuid_text(hi, lo), expected);
        }
        assert_eq!(uuid_text(0, 0), "00000000-0000-4000-8000-000000000000");
    }
}
