//! The Gateway UE state machine of one shard (23.554 §8.2.7–7.3; README "Architecture", §3).
//!
//! - this file: the state, construction, the public driving API and draining;
//! - [`device`]: device requests: validation, dedup, replacement, the one final answer;
//! - [`upstream`]: batching, bulk and single requests, splitting the server's answers;
//! - [`upstream_block`]: bulks sent in Block1 blocks (RFC 7959) when configured;
//! - [`upstream_block2`]: answers from the server fetched in Block2 blocks (RFC 7959 §2.4);
//! - [`timers`]: piggyback windows, deadlines, retransmissions, expiry;
//! - [`observe`]: flush reasons and gauges for the metrics;
//! - [`driven`]: the shard as a `net::shard::Core` (socket ids ↔ sides).

mod apps;
mod config;
mod device;
mod downlink;
mod driven;
mod observe;
mod overload;
mod persist;
mod reregister;
mod silence;
mod timers;
mod upstream;
mod upstream_block;
mod upstream_block2;

pub use driven::{side_of, socket_of, CONFIG_SOCKET, DEVICE_SOCKET, UPLINK_SOCKET_BASE};
pub use overload::SILENT_FACTOR;
pub use persist::{journal_owner, RestoredJournal};

use super::answer::{self, Outcome};
use super::batch::{Batch, Queued};
use super::conf;
use super::directory::Directory;
use super::handoff::{Delivery, DeliveryResult, DeliveryTarget, Handoff, Originator};
use super::pending::{AckState, Dialect, Exchange, Kind, Pending, PendingTable, Stage};
use super::recent::RecentKeys;
use super::split::{split_answer, Split};
use super::{AnswerMode, GatewayConfig, GatewayStats, Received, Side};
use crate::coap::block::Block1Table;
use crate::coap::block2::Block2Cache;
use crate::coap::build::{empty_ack, reset};
use crate::coap::dedup::{DedupCache, DedupOutcome};
use crate::coap::mid::MidAllocator;
use crate::coap::retransmit::{RetransmitEvent, Retransmitter};
use crate::coap::rng::Rng;
use crate::coap::types::option;
use crate::coap::{
    Code, MessageBuilder, MessageView, MsgType, Token, Transmit, CONTENT_FORMAT_JSON,
};
use crate::msg::{self, cause, AggKind, BulkKind, Payload, RegResult, UrgentDegree};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The configuration port (24.538 §6.2.1, §6.2.2.1).
pub const DEFAULT_CONFIG_PORT: u16 = 65401;

/// Max-Age assumed when a 5.03 from the server carries none (RFC 7252 §5.10.5 default).
const DEFAULT_MAX_AGE: u32 = 60;

/// Peers remembered by an uplink's duplicate detection: only the server sends requests there.
const UPLINK_DEDUP_PEERS: usize = 16;

/// Exchanges remembered per peer on an uplink (RFC 7252 §4.5): the server's default bound on
/// outstanding deliveries, all of which may be toward one uplink.
const UPLINK_DEDUP_EXCHANGES: usize = 4096;

/// Bytes of the bulk/aggregate envelope of `kind` (everything but the elements and commas);
/// aggregate Message IDs are UUID text (36 bytes; [`uuid_text`]).
fn envelope_len(kind: Kind, config: &GatewayConfig) -> usize {
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
fn uuid_text(hi: u64, lo: u64) -> String {
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0xC000 << 48)) | (0x8000 << 48);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// A timer of the core; validated when it fires (stale timers are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Timer {
    /// End of the piggyback window of a held CON.
    Piggyback { kind: Kind, ue: Arc<str>, seq: u64 },
    /// A request's `waitTime` deadline.
    Deadline { kind: Kind, ue: Arc<str>, seq: u64 },
    /// The answer wait of an upstream exchange.
    Upstream { token: u64 },
    /// The wait for a device's separate answer to a downlink delivery (device-side token).
    Delivery { token: u64 },
    /// The latest moment to answer the server's downlink request `ticket`.
    ServerRequest { ticket: u64 },
    /// (Re-)send the gateway's own registration.
    SelfRegistration,
    /// The latest moment a request parked for the gateway's re-registration may wait.
    Parked { kind: Kind, ue: Arc<str>, seq: u64 },
    /// Look for idle Application Client registrations (shard 0).
    AppSweep,
}

/// The core's timers, earliest first. Ordered by (instant, insertion number) only, so heap
/// operations never compare the timers' keys (UE Service IDs). Timers that are pushed in time
/// order (the piggyback window, a constant after each request's arrival: one per request, the
/// hot path) go to a FIFO instead of the heap.
#[derive(Debug, Default)]
struct TimerQueue {
    heap: BinaryHeap<Reverse<TimerEntry>>,
    fifo: VecDeque<(Instant, Timer)>,
    next_seq: u64,
}

#[derive(Debug)]
struct TimerEntry {
    at: Instant,
    seq: u64,
    timer: Timer,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimerEntry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl TimerQueue {
    fn push(&mut self, at: Instant, timer: Timer) {
        self.next_seq += 1;
        self.heap.push(Reverse(TimerEntry {
            at,
            seq: self.next_seq,
            timer,
        }));
    }

    /// Push a timer due no earlier than every FIFO timer pushed before (else it goes to the heap).
    fn push_in_order(&mut self, at: Instant, timer: Timer) {
        if self.fifo.back().is_some_and(|(last, _)| *last > at) {
            self.push(at, timer);
        } else {
            self.fifo.push_back((at, timer));
        }
    }

    /// When the earliest timer is due.
    fn next(&self) -> Option<Instant> {
        let heap = self.heap.peek().map(|Reverse(e)| e.at);
        let fifo = self.fifo.front().map(|(at, _)| *at);
        match (heap, fifo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest timer if it is due at `now`.
    fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let heap = self.heap.peek().map(|Reverse(e)| e.at);
        let fifo = self.fifo.front().map(|(at, _)| *at);
        match (heap, fifo) {
            (Some(h), Some(f)) if f < h && f <= now => self.fifo.pop_front().map(|(_, t)| t),
            (Some(h), _) if h <= now => self.heap.pop().map(|Reverse(e)| e.timer),
            (None, Some(f)) if f <= now => self.fifo.pop_front().map(|(_, t)| t),
            _ => None,
        }
    }
}

/// What a confirmable message toward a device is, for its retransmission outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeviceRetx {
    /// A separate response or spec-literal POST answering a device request.
    Answer,
    /// A downlink delivery (device-side Token).
    Delivery(u64),
}

/// What a confirmable message toward the server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpRetx {
    /// A request (bulk, aggregate, single), by Token.
    Request(u64),
    /// A separate response to one of the server's downlink requests.
    Response,
}

/// Why an upstream exchange was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Device requests (bulked or single) whose answers go back to the members.
    Members,
    /// The gateway's own registration (23.554 §8.2.7 pre-condition 1).
    SelfRegistration,
}

/// A downlink request from the server awaiting the device's answer (origin side).
#[derive(Debug)]
struct ServerRequest {
    uplink: usize,
    token: Token,
    /// Whether the server's request was confirmable (the answer then is a CON too).
    con: bool,
    /// The Message ID the answer's `MSGRESP` names.
    message_id: Arc<str>,
}

/// A delivery toward a device in progress (owner side), by device-side Token.
#[derive(Debug)]
struct DeviceDelivery {
    origin: usize,
    ticket: u64,
    peer: SocketAddr,
    mid: u16,
    target: DeliveryTarget,
    correlate: Option<(Arc<str>, Originator)>,
    /// The recipient + Message ID to remember once delivered ([`Delivery::once`]).
    once: Option<Arc<str>>,
    /// The device sent an empty ACK: the answer comes as a separate response.
    acked: bool,
}

/// State of the gateway's own registration with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SelfState {
    /// Not this shard's job (only shard 0 registers the gateway).
    NotOwner,
    /// Due to be sent.
    Due,
    /// Sent, waiting for the answer.
    Sent,
    /// The server accepted it.
    Registered,
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
    purpose: Purpose,
    members: Vec<(Arc<str>, u64)>,
    sent_at: Instant,
    deadline: Instant,
    /// [`Directory::self_registration_epoch`] when it was sent.
    epoch: u64,
    /// The body still being sent in Block1 blocks (`bulk_block1_bytes`).
    block1: Option<Box<upstream_block::Block1Send>>,
    /// The answer being fetched in Block2 blocks (RFC 7959 §2.4).
    block2: Option<Box<upstream_block2::Block2Fetch>>,
}

pub(super) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One uplink endpoint toward the server: the server sees each as a separate peer, so each has its
/// own Message ID space (RFC 7252 §4.4 allows ~265 CON/s per endpoint over EXCHANGE_LIFETIME).
#[derive(Debug)]
struct Uplink {
    mids: MidAllocator,
    retx: Retransmitter<UpRetx>,
    /// Deduplication of the server's downlink requests on this endpoint (RFC 7252 §4.5).
    dedup: DedupCache,
}

/// Message-layer state of the configuration socket: deduplication and confirmable answers are
/// per gateway endpoint (a device may reuse a Message ID toward another endpoint, RFC 7252 §4.4).
#[derive(Debug)]
struct ConfigSide {
    dedup: DedupCache,
    retx: Retransmitter<DeviceRetx>,
    /// Configuration answers being fetched block by block (RFC 7959 §2.4).
    block2: Block2Cache,
}

/// The Gateway UE state machine for one shard.
#[derive(Debug)]
pub struct GatewayCore {
    config: GatewayConfig,
    upstream: SocketAddr,
    /// The configuration management server (BULKCONF and single configuration GETs).
    config_upstream: SocketAddr,
    config_side: ConfigSide,
    rng: Rng,
    stats: Arc<GatewayStats>,
    transmits: VecDeque<(Side, Transmit)>,
    dedup: DedupCache,
    mids: MidAllocator,
    pending: PendingTable,
    batches: [Batch; Kind::COUNT],
    timers: TimerQueue,
    in_flight: HashMap<u64, InFlight>,
    /// Per uplink: its own Message ID space toward the server and its retransmissions.
    uplinks: Vec<Uplink>,
    /// Round-robin cursor over `uplinks`.
    next_uplink: usize,
    device_retx: Retransmitter<DeviceRetx>,
    /// Largest bulk the server accepted without 4.13 (learned; starts at the configured bound).
    learned_max_entries: usize,
    /// Smoothed upstream round-trip time, used to flush ahead of deadlines.
    rtt_estimate: Duration,
    envelope_len: [usize; Kind::COUNT],
    draining: bool,
    /// Queueing delay of the datagram being handled, from the driver ([`crate::net::shard::Load`]).
    queue_delay: Duration,
    /// 5.03 answers left for shed requests ([`GatewayConfig::overload_answer_rate`]).
    answer_budget: crate::coap::overload::AnswerBudget,
    /// Smoothed receipt-to-answer time and answer rate ([`GatewayConfig::overload_latency`]).
    answer_pace: overload::AnswerPace,
    scratch: Vec<u8>,
    /// This shard's index among the gateway's shards.
    shard: usize,
    /// State shared by all shards (application registrations, clients, report routes).
    directory: Arc<Directory>,
    /// Work for other shards: (target shard, handoff).
    handoffs: VecDeque<(usize, Handoff)>,
    /// Downlink requests from the server awaiting their delivery result, by ticket.
    server_requests: HashMap<u64, ServerRequest>,
    next_ticket: u64,
    /// Deliveries toward devices of this shard, by device-side Token.
    deliveries: HashMap<u64, DeviceDelivery>,
    /// Messages delivered to ACs of this shard that asked for a report: Message ID → original
    /// sender (bounded, oldest first out).
    delivered: HashMap<Arc<str>, Originator>,
    delivered_order: VecDeque<Arc<str>>,
    /// Messages this shard delivered (recipient + Message ID, bounded by `max_delivered`): the
    /// same message sent again is acknowledged without a second delivery.
    recent_deliveries: RecentKeys,
    self_state: SelfState,
    /// Whether the upstream answers (silence warning, pings, re-sending after its return).
    liveness: silence::Liveness,
    /// Requests refused `NOT_REGISTERED` for the gateway's own UE Service ID, waiting for its
    /// re-registration: (kind, key) → (sequence number, the server's outcome if it never comes).
    parked: HashMap<(Kind, Arc<str>), (u64, Outcome)>,
    /// When this shard last sent the gateway's own registration (shard 0).
    self_registration_sent: Option<Instant>,
    /// Shards waiting for shard 0's re-registration ([`Handoff::SelfRegistered`]).
    reregistration_waiters: std::collections::BTreeSet<usize>,
    /// This shard asked shard 0 to register again and has not heard back.
    reregistration_requested: bool,
    /// Change tracking and the request journal when the gateway persists (issue 9).
    persist: Option<Box<persist::PersistState>>,
    /// Block1 reassembly of device requests (RFC 7959 §2.3).
    block1: Block1Table,
}

impl GatewayCore {
    /// A single-shard core sending upstream to `upstream`; `seed` drives Tokens/MIDs/jitter.
    pub fn new(config: GatewayConfig, upstream: SocketAddr, seed: u64) -> GatewayCore {
        let mut rng = Rng::new(seed);
        let directory = Arc::new(
            Directory::new(
                config.max_app_registrations,
                config.max_clients,
                config.max_report_routes,
                rng.fork(),
            )
            .with_app_idle_expiry(Some(config.app_idle_expiry)),
        );
        GatewayCore::new_shard_with_rng(config, upstream, rng, 0, directory)
    }

    /// The core of shard `shard` of a gateway whose shards share `directory`. Shard 0 registers
    /// the gateway itself with the server (23.554 §8.2.7 pre-condition 1) unless
    /// [`GatewayConfig::register_self`] is off.
    pub fn new_shard(
        config: GatewayConfig,
        upstream: SocketAddr,
        seed: u64,
        shard: usize,
        directory: Arc<Directory>,
    ) -> GatewayCore {
        GatewayCore::new_shard_with_rng(config, upstream, Rng::new(seed), shard, directory)
    }

    /// [`GatewayCore::new_shard`] with its Token/MID/jitter generator given (the drivers pass
    /// one seeded from the operating system; RFC 7252 §5.3.1).
    pub fn new_shard_with_rng(
        config: GatewayConfig,
        upstream: SocketAddr,
        mut rng: Rng,
        shard: usize,
        directory: Arc<Directory>,
    ) -> GatewayCore {
        let mid_seed = rng.next_u64();
        let lifetime = config.params.exchange_lifetime();
        let envelope_len = Kind::ALL.map(|k| envelope_len(k, &config));
        let self_state = if shard == 0 && config.register_self {
            SelfState::Due
        } else {
            SelfState::NotOwner
        };
        let stats = Arc::new(GatewayStats::default());
        GatewayCore {
            block1: Block1Table::new(config.block),
            dedup: DedupCache::new(
                config.dedup_max_entries,
                lifetime,
                config.params.non_lifetime(),
            )
            .with_exchanges_per_peer(config.dedup_exchanges_per_peer),
            mids: MidAllocator::new(lifetime, config.mid_max_entries, mid_seed),
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
            device_retx: Retransmitter::new(config.params),
            learned_max_entries: config.max_batch_entries,
            rng,
            stats,
            transmits: VecDeque::new(),
            pending: PendingTable::default(),
            batches: Default::default(),
            timers: TimerQueue::default(),
            in_flight: HashMap::new(),
            rtt_estimate: Duration::ZERO,
            envelope_len,
            draining: false,
            queue_delay: Duration::ZERO,
            answer_budget: crate::coap::overload::AnswerBudget::new(config.overload_answer_rate),
            answer_pace: overload::AnswerPace::default(),
            scratch: Vec::new(),
            shard,
            directory,
            handoffs: VecDeque::new(),
            server_requests: HashMap::new(),
            next_ticket: 0,
            deliveries: HashMap::new(),
            delivered: HashMap::new(),
            delivered_order: VecDeque::new(),
            recent_deliveries: RecentKeys::new(config.max_delivered),
            self_state,
            liveness: silence::Liveness::default(),
            parked: HashMap::new(),
            self_registration_sent: None,
            reregistration_waiters: Default::default(),
            reregistration_requested: false,
            persist: None,
            config_upstream: config
                .config_upstream
                .unwrap_or_else(|| SocketAddr::new(upstream.ip(), DEFAULT_CONFIG_PORT)),
            config_side: ConfigSide {
                dedup: DedupCache::new(
                    config.dedup_max_entries,
                    lifetime,
                    config.params.non_lifetime(),
                )
                .with_exchanges_per_peer(config.dedup_exchanges_per_peer),
                retx: Retransmitter::new(config.params),
                block2: Block2Cache::new(config.block),
            },
            upstream,
            config,
        }
    }

    /// The directory this shard shares with the others.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.clone()
    }

    /// Whether the server has accepted the gateway's own registration (shard 0 only).
    pub fn is_self_registered(&self) -> bool {
        self.self_state == SelfState::Registered
    }

    /// Start the shard at `now`: shard 0 sends the gateway's own registration (the driver calls
    /// this once before feeding datagrams).
    pub fn start(&mut self, now: Instant) {
        if self.self_state == SelfState::Due {
            self.send_self_registration(now);
        }
        if self.shard == 0 {
            if let Some(every) = self.app_sweep_interval() {
                self.timers.push(now + every, Timer::AppSweep);
            }
        }
    }

    /// Next piece of work for another shard: (target shard, handoff).
    pub fn poll_handoff(&mut self) -> Option<(usize, Handoff)> {
        self.handoffs.pop_front()
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

    /// Whether the upstream is considered silent: requests outstanding and nothing heard from
    /// it for [`GatewayConfig::upstream_silent_after`].
    pub fn is_upstream_silent(&self) -> bool {
        self.liveness.is_silent()
    }

    /// Entries in the deduplication caches (messaging and configuration sockets).
    pub fn dedup_len(&self) -> usize {
        self.dedup.len() + self.config_side.dedup.len()
    }

    /// Every deduplication cache of the shard: devices, configuration socket, uplinks.
    fn dedup_caches(&self) -> Vec<&DedupCache> {
        let mut caches = vec![&self.dedup, &self.config_side.dedup];
        caches.extend(self.uplinks.iter().map(|u| &u.dedup));
        caches
    }

    /// The configuration management server configuration requests go to.
    pub fn config_upstream(&self) -> SocketAddr {
        self.config_upstream
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
        consider(self.timers.next());
        consider(self.pending.next_give_up());
        consider(self.liveness_timeout());
        for u in &self.uplinks {
            consider(u.retx.next_timeout());
            consider(u.mids.next_expiry());
        }
        consider(self.device_retx.next_timeout());
        consider(self.dedup.next_expiry());
        consider(self.config_side.retx.next_timeout());
        consider(self.config_side.dedup.next_expiry());
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
        let tokens: Vec<u64> = self.deliveries.keys().copied().collect();
        for token in tokens {
            let result = DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, cause::SHUTTING_DOWN);
            self.finish_delivery(now, token, result);
        }
        let tickets: Vec<u64> = self.server_requests.keys().copied().collect();
        for ticket in tickets {
            let result = DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, cause::SHUTTING_DOWN);
            self.complete_server_request(now, ticket, result);
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
        self.pending.is_empty()
            && self
                .in_flight
                .values()
                .all(|f| f.purpose != Purpose::Members)
            && self.server_requests.is_empty()
            && self.deliveries.is_empty()
    }

    /// Bytes of the bulk/aggregate envelope of `kind` (everything but the elements).
    fn envelope_len_of(&self, kind: Kind) -> usize {
        self.envelope_len[kind.index()]
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

#[cfg(test)]
mod timer_queue_tests {
    use super::*;

    fn up(token: u64) -> Timer {
        Timer::Upstream { token }
    }

    #[test]
    fn fifo_and_heap_timers_come_out_in_time_order() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut q = TimerQueue::default();
        q.push_in_order(ms(10), up(1));
        q.push(ms(5), up(2));
        q.push_in_order(ms(20), up(3));
        q.push(ms(15), up(4));
        // Out of order for the FIFO: goes to the heap and still fires in time order.
        q.push_in_order(ms(12), up(5));
        assert_eq!(q.next(), Some(ms(5)));
        assert_eq!(q.pop_due(ms(4)), None, "nothing due yet");
        let mut fired = Vec::new();
        while let Some(Timer::Upstream { token }) = q.pop_due(ms(100)) {
            fired.push(token);
        }
        assert_eq!(fired, vec![2, 1, 5, 4, 3]);
        assert_eq!(q.next(), None);
    }
}
