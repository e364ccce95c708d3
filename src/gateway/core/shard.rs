//! The Gateway UE state machine of one shard (23.554 §8.2.7, §8.11; docs/ARCHITECTURE.md §1):
//! its owned sub-states, construction, the public driving API and draining.

use super::device_state::{ConfigSide, DeviceSide};
use super::downlink_state::Downlink;
use super::journal_state::PersistState;
use super::overload_state::Overload;
use super::pending::{Kind, PendingTable};
use super::reassembly_state::Reassembly;
use super::registration_state::{SelfRegistration, SelfState};
use super::segment_out_state::SegmentsOut;
use super::timer_queue::{Timer, TimerQueue};
use super::upstream_state::{Purpose, Upstream};
use crate::coap::dedup::DedupCache;
use crate::coap::rng::Rng;
use crate::coap::{Code, Transmit};
use crate::gateway::answer::Outcome;
use crate::gateway::directory::Directory;
use crate::gateway::handoff::{DeliveryResult, Handoff};
use crate::gateway::{GatewayConfig, GatewayStats, Side};
use crate::msg::cause;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Count one event (relaxed: the counters are statistics, README "Metrics").
/// The Gateway UE state machine for one shard: the shard's identity and links, and one owned
/// sub-state per side (23.554 §8.2.7, §8.11; docs/ARCHITECTURE.md §1).
#[derive(Debug)]
pub struct GatewayCore {
    /// The gateway's bounds and timers.
    pub(super) config: GatewayConfig,
    /// This shard's index among the gateway's shards.
    pub(super) shard: usize,
    /// Tokens, Message ID seeds and jitter (RFC 7252 §5.3.1).
    pub(super) rng: Rng,
    /// Counters shared with the driver and the metrics exporter.
    pub(super) stats: Arc<GatewayStats>,
    /// Datagrams to send, in order, with the socket each leaves on.
    pub(super) transmits: VecDeque<(Side, Transmit)>,
    /// The core's timers, earliest first.
    pub(super) timers: TimerQueue,
    /// Device requests awaiting their final answer (queued, at the server, or parked).
    pub(super) pending: PendingTable,
    /// Shutting down: batches flush at once, new requests get 5.03.
    pub(super) draining: bool,
    /// The messaging socket's message layer (MSGin5G-6).
    pub(super) device: DeviceSide,
    /// The configuration socket's message layer (24.538 §6.2.2.1).
    pub(super) config_side: ConfigSide,
    /// Batching, uplinks and exchanges toward the server (MSGin5G-1).
    pub(super) upstream: Upstream,
    /// The server's downlink requests and the deliveries toward devices (23.554 §8.11).
    pub(super) downlink: Downlink,
    /// The gateway's own registration and the requests parked on it.
    pub(super) registration: SelfRegistration,
    /// Downlink segment sets being reassembled for the ACs (23.554 §8.5).
    pub(super) reassembly: Reassembly,
    /// Overload control's state (docs/ARCHITECTURE.md §8).
    pub(super) overload: Overload,
    /// State shared by all shards (Application Client registrations, clients, report routes).
    pub(super) directory: Arc<Directory>,
    /// Work for other shards: (target shard, handoff).
    pub(super) handoffs: VecDeque<(usize, Handoff)>,
    /// Change tracking and the request journal when the gateway persists (issue 9).
    pub(super) persist: Option<Box<PersistState>>,
    /// Application Clients' messages sent as segments (23.554 §8.5).
    pub(super) segments_out: SegmentsOut,
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
        GatewayCore {
            shard,
            rng,
            stats: Arc::new(GatewayStats::default()),
            transmits: VecDeque::new(),
            timers: TimerQueue::default(),
            pending: PendingTable::default(),
            draining: false,
            device: DeviceSide::new(&config, lifetime, mid_seed),
            config_side: ConfigSide::new(&config, lifetime),
            upstream: Upstream::new(&config, upstream, lifetime, mid_seed),
            downlink: Downlink::new(config.max_delivered),
            registration: SelfRegistration::new(shard, config.register_self),
            reassembly: Reassembly::default(),
            overload: Overload::new(config.overload_answer_rate, config.overload_target),
            directory,
            handoffs: VecDeque::new(),
            persist: None,
            segments_out: SegmentsOut::default(),
            config,
        }
    }

    /// The directory this shard shares with the others.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.clone()
    }

    /// Whether the server has accepted the gateway's own registration (shard 0 only).
    pub fn is_self_registered(&self) -> bool {
        self.registration.state == SelfState::Registered
    }

    /// Start the shard at `now`: shard 0 sends the gateway's own registration (the driver calls
    /// this once before feeding datagrams).
    pub fn start(&mut self, now: Instant) {
        if self.registration.state == SelfState::Due {
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
        self.upstream.in_flight.len()
    }

    /// Whether the upstream is considered silent: requests outstanding and nothing heard from
    /// it for [`GatewayConfig::upstream_silent_after`].
    pub fn is_upstream_silent(&self) -> bool {
        self.upstream.liveness.is_silent()
    }

    /// Entries in the deduplication caches (messaging and configuration sockets).
    pub fn dedup_len(&self) -> usize {
        self.device.dedup.len() + self.config_side.dedup.len()
    }

    /// Every deduplication cache of the shard: devices, configuration socket, uplinks.
    pub(super) fn dedup_caches(&self) -> Vec<&DedupCache> {
        let mut caches = vec![&self.device.dedup, &self.config_side.dedup];
        caches.extend(self.upstream.uplinks.iter().map(|u| &u.dedup));
        caches
    }

    /// The configuration management server configuration requests go to.
    pub fn config_upstream(&self) -> SocketAddr {
        self.upstream.config_server
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
        consider(self.upstream.next_uplink_timeout());
        consider(self.device.next_timeout());
        consider(self.config_side.next_timeout());
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
        let tokens: Vec<u64> = self.upstream.in_flight.keys().copied().collect();
        for token in tokens {
            self.fail_exchange(now, token, cause::SHUTTING_DOWN);
        }
        let tokens: Vec<u64> = self.downlink.deliveries.keys().copied().collect();
        for token in tokens {
            let result = DeliveryResult::failed(Code::SERVICE_UNAVAILABLE, cause::SHUTTING_DOWN);
            self.finish_delivery(now, token, result);
        }
        let tickets: Vec<u64> = self.downlink.server_requests.keys().copied().collect();
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
                .upstream
                .in_flight
                .values()
                .all(|f| f.purpose != Purpose::Members)
            && self.downlink.is_idle()
    }

    /// Bytes of the bulk/aggregate envelope of `kind` (everything but the elements).
    pub(super) fn envelope_len_of(&self, kind: Kind) -> usize {
        self.upstream.envelope_len[kind.index()]
    }

    /// Queue a datagram to `destination` on `side`.
    pub(super) fn push(&mut self, side: Side, destination: SocketAddr, payload: impl Into<Bytes>) {
        self.transmits
            .push_back((side, Transmit::new(destination, payload)));
    }
}
