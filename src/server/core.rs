//! The reference server's state ([`ServerCore`]) and its sans-IO driving API: datagrams and time
//! in ([`ServerCore::handle_datagram`], [`ServerCore::handle_timeout`]), datagrams out
//! ([`ServerCore::poll_transmit`]), the next timer ([`ServerCore::poll_timeout`]).
//!
//! The procedures are in their own files, each an `impl ServerCore` block: the CoAP message
//! layer (`endpoint`), request dispatch (`request`), registration, messaging, delivery, store and
//! forward, gateways, persistence.

use super::accepted::Accepted;
use super::aggregating::AggQueues;
use super::config::ServerConfig;
use super::downlink::Downlink;
use super::flush::FlushQueue;
use super::reassembly::Reassembly;
use super::recent::Recent;
use super::registry::{AsTable, Registration, Registry};
use super::segmenting::Segmented;
use super::stats::ServerStats;
use super::store::Store;
use super::topics::{Limits, Topics};
use crate::coap::blockwise::Blockwise;
use crate::coap::dedup::DedupCache;
use crate::coap::mid::MidAllocator;
use crate::coap::retransmit::{RetransmitEvent, Retransmitter};
use crate::coap::rng::Rng;
use crate::coap::Transmit;
use metrics::CounterFn;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Bound on datagrams queued for `poll_transmit`. The driver drains the queue after every
/// `handle_*` call, so it only fills when the driver stops draining; past it the oldest datagram
/// is dropped (and counted in `ServerStats::transmit_dropped`) so memory stays bounded.
pub const MAX_QUEUED_TRANSMITS: usize = 65_536;

/// The reference MSGin5G Server state machine.
#[derive(Debug)]
pub struct ServerCore {
    pub(super) config: ServerConfig,
    pub(super) rng: Rng,
    pub(super) dedup: DedupCache,
    pub(super) mids: MidAllocator,
    /// Outstanding separate CON responses; the key is the request's Message ID.
    pub(super) retx: Retransmitter<u16>,
    pub(super) out: VecDeque<Transmit>,
    pub(super) registry: Registry,
    pub(super) stats: Arc<ServerStats>,
    /// Block1 reassembly and Block2 answers (RFC 7959).
    pub(super) blockwise: Blockwise,
    /// Registered Application Servers.
    pub(super) as_table: AsTable,
    /// UE Service IDs seen sending bulks or aggregates (Gateway UEs; bounded by
    /// [`MAX_KNOWN_GATEWAYS`](super::MAX_KNOWN_GATEWAYS)), each with the index of its endpoint
    /// group: a gateway sends from several uplink ports, and downlink toward it is spread over
    /// them.
    pub(super) known_gateways: HashMap<String, usize>,
    /// Per known gateway: its uplink endpoints (at most
    /// [`MAX_GATEWAY_ENDPOINTS`](super::MAX_GATEWAY_ENDPOINTS)) and a round-robin cursor.
    pub(super) gateway_groups: Vec<(Vec<SocketAddr>, usize)>,
    /// Endpoint → its gateway's group.
    pub(super) endpoint_group: HashMap<SocketAddr, usize>,
    /// Host of each Gateway UE that declared itself in its own `REG` (at most one host per
    /// known gateway): a single request from another port of that host is from its uplinks.
    pub(super) gateway_hosts: HashMap<std::net::IpAddr, String>,
    /// Outstanding downlink requests.
    pub(super) downlink: Downlink,
    /// Store and forward.
    pub(super) store: Store,
    /// Accepted message copies in delivery (and restored ones to send again).
    pub(super) accepted: Accepted,
    /// Recipients whose stored messages are going out.
    pub(super) flush: FlushQueue,
    /// Verdicts of recently accepted messages.
    pub(super) recent: Recent,
    /// Incoming segment sets in reassembly (23.554 §8.5).
    pub(super) reassembly: Reassembly,
    /// Outgoing segment sets kept for the recipient's `SEGREC`.
    pub(super) segmented: Segmented,
    /// Wall-clock anchor (see `set_wall_clock`).
    pub(super) wall: Option<(Instant, SystemTime)>,
    /// Downlink requests started while handling the current input, sent after its answer.
    pub(super) deferred: Vec<Transmit>,
    /// Messaging topic subscriptions (23.554 §8.8).
    pub(super) topics: Topics,
    /// Downlink copies queued per Gateway UE for one aggregate (23.554 §8.4.3).
    pub(super) agg: AggQueues,
    /// The PSK identity of the datagram being handled (`None`: plain CoAP; docs/PROTOCOL.md
    /// §19).
    pub(super) identity: Option<crate::dtls::IdentityId>,
}

impl ServerCore {
    /// A server with `config`; `seed` drives Tokens/MIDs/jitter.
    pub fn new(config: ServerConfig, seed: u64) -> ServerCore {
        ServerCore::with_rng(config, Rng::new(seed))
    }

    /// A server with `config` and its Token/MID/jitter generator (the driver passes one seeded
    /// from the operating system; RFC 7252 §5.3.1).
    pub fn with_rng(config: ServerConfig, mut rng: Rng) -> ServerCore {
        let params = config.params;
        let dedup = DedupCache::new(
            config.dedup_max_entries,
            params.exchange_lifetime(),
            params.non_lifetime(),
        )
        .with_exchanges_per_peer(config.dedup_exchanges_per_peer);
        let mids = MidAllocator::new(
            params.exchange_lifetime(),
            config.dedup_max_entries,
            rng.next_u64(),
        );
        let m = &config.messaging;
        let stats = Arc::new(ServerStats::default());
        ServerCore {
            blockwise: Blockwise::new(config.block, Arc::clone(&stats.block)),
            registry: Registry::new(config.max_registrations),
            retx: Retransmitter::new(params),
            as_table: AsTable::new(config.max_registrations),
            known_gateways: HashMap::new(),
            gateway_groups: Vec::new(),
            endpoint_group: HashMap::new(),
            gateway_hosts: HashMap::new(),
            downlink: Downlink::new(
                params,
                m.max_outstanding_deliveries,
                m.separate_response_timeout,
            ),
            store: Store::new(m.store_max_total, m.store_max_per_recipient),
            accepted: Accepted::default(),
            flush: FlushQueue::default(),
            recent: Recent::new(m.recent_message_ids),
            reassembly: Reassembly::new(
                m.reassembly_max_sets,
                m.reassembly_max_bytes,
                m.reassembly_timeout,
                m.segrec_retries,
            ),
            segmented: Segmented::new(m.segmented_max_sets, m.reassembly_timeout * 2),
            wall: None,
            deferred: Vec::new(),
            topics: Topics::new(Limits {
                per_subscriber: m.max_topics_per_subscriber,
                per_topic: m.max_subscribers_per_topic,
                total: m.max_topics,
            }),
            agg: AggQueues::new(&config.service_id, m.downlink_aggregate_max_entries),
            config,
            rng,
            dedup,
            mids,
            out: VecDeque::new(),
            stats,
            identity: None,
        }
    }

    /// Feed one received datagram as one whole input: the partial downlink aggregates go at its
    /// end ([`ServerCore::handle_idle`]). The driver feeds the datagrams of a read through
    /// [`ServerCore::handle_input`] and calls `handle_idle` once it has nothing more to read.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.handle_input(now, from, data);
        self.handle_idle(now);
    }

    /// Feed one received datagram with more input possibly to come: downlink aggregates keep
    /// filling until their triggers or [`ServerCore::handle_idle`] (docs/PROTOCOL.md §15.2).
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.datagram(now, from, data);
        self.pump(now);
        self.flush_deferred();
    }

    /// Advance timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.dedup.expire(now);
        self.mids.expire(now);
        while let Some(event) = self.retx.poll_event(now) {
            match event {
                RetransmitEvent::Resend(t) => {
                    self.stats.retransmissions.increment(1);
                    self.push_transmit(t)
                }
                RetransmitEvent::GaveUp { .. } => self.stats.gave_up.increment(1),
            }
        }
        self.messaging_timeout(now);
        self.segments_timeout(now);
        self.topics_timeout(now);
        self.pump(now);
        self.aggregates_timeout(now);
        self.flush_deferred();
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.retx.next_timeout(),
            self.dedup.next_expiry(),
            self.mids.next_expiry(),
            self.messaging_next_timeout(),
            self.segments_next_timeout(),
            self.topics.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Shared counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        Arc::clone(&self.stats)
    }

    /// Whether a UE Service ID is registered.
    pub fn is_registered(&self, ue_service_id: &str) -> bool {
        self.registry.get(ue_service_id).is_some()
    }

    /// Number of registrations.
    pub fn registration_count(&self) -> usize {
        self.registry.len()
    }

    /// The stored registration of a UE Service ID (downlink path, client address, profile).
    pub fn registration(&self, ue_service_id: &str) -> Option<&Registration> {
        self.registry.get(ue_service_id)
    }

    /// The configuration this server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Separate CON responses still awaiting an ACK.
    pub fn outstanding_responses(&self) -> usize {
        self.retx.len()
    }

    /// Set the wall-clock anchor: `wall` is the real time at `now`. It converts the RFC 3339
    /// `expirationTime` of stored messages into the core's `Instant` timeline (the core never
    /// reads a clock). Without an anchor, `expirationTime` is not evaluated and only
    /// `store_max_time` limits storage.
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.wall = Some((now, wall));
    }

    /// Messages currently stored for later delivery.
    pub fn stored_messages(&self) -> usize {
        self.store.len()
    }

    /// Downlink requests awaiting their outcome.
    pub fn outstanding_deliveries(&self) -> usize {
        self.downlink.len()
    }

    /// Message copies answered `ACCEPTED` whose delivery has not ended (restored ones waiting
    /// to be sent again included).
    pub fn accepted_messages(&self) -> usize {
        self.accepted.len()
    }

    /// Messaging topic subscriptions held (subscriber, topic pairs; 23.554 §8.8).
    pub fn topic_subscriptions(&self) -> usize {
        self.topics.len()
    }

    /// Whether an AS Service ID is registered.
    pub fn is_as_registered(&self, as_service_id: &str) -> bool {
        self.as_table.get(as_service_id).is_some()
    }
}
