//! Gateway UE core (TS 24.538 §6.3.4, 23.554 §8.2.7; docs/PROTOCOL.md §6–§8, docs/ARCHITECTURE.md §3):
//! sans-IO, one instance per shard.
//!
//! Constrained UEs' `REG`/`DEREG` are deduplicated, cached with their Message ID, Token, type and
//! address, batched per kind, flushed as `BULKREG`/`BULKDEREG` on size, bytes, hold time or the
//! earliest `waitTime` deadline, and each bulk answer is split back into one answer per device.
//! Configuration GETs on the configuration socket (UDP 65401) are keyed by MSGin5G UE ID and
//! bulked the same way into `BULKCONF` toward the configuration server ([`conf`];
//! 23.554 §8.1.4); each device gets its 2.05/4.03/4.04.
//! Feed it with `handle_device_datagram`, `handle_config_datagram`, `handle_upstream_datagram`
//! and `handle_timeout`, drain it with `poll_transmit`, and sleep until `poll_timeout`.

mod answer;
pub mod conf;
mod core;
mod directory;
mod handoff;
pub mod persist;
mod recent;
mod stats;
pub mod summary;

pub use self::core::{
    journal_owner, side_of, socket_of, split_answer, Dialect, Forwarded, GatewayCore, Kind,
    RestoredJournal, Split, CONFIG_SOCKET, DEFAULT_CONFIG_PORT, DEVICE_SOCKET, IDENTITY_NOT_BOUND,
    SILENT_FACTOR, UPLINK_SOCKET_BASE,
};
pub use answer::{failure_code, Outcome};
pub use directory::{
    AppDeregistrationError, AppRegistration, AppRegistrationError, ClientRoute, Directory,
    ReportRoute,
};
pub use handoff::{Delivery, DeliveryResult, DeliveryTarget, Handoff, Originator};
pub use persist::{GatewayChanges, GatewayDb, GatewaySnapshot};
pub use stats::{
    answer_code_label, answer_slot, answer_slot_labels, kind_label, AnswerForm, FlushReason,
    Received, ANSWER_CAUSES, ANSWER_CODES, ANSWER_SLOTS, MESSAGE_TYPE_LABELS, OTHER_CAUSE,
    SOCKET_LABELS,
};

use crate::coap::block::{BlockConfig, BlockStats};
use crate::coap::TransmissionParams;
use crate::config::UpstreamPsk;
use crate::dtls::PskTable;
use crate::dtls::{DtlsClientConfig, DtlsServerConfig};
use crate::histogram::{EntriesHistogram, SecondsHistogram};
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

/// How a device learns the outcome of a bulked request (docs/PROTOCOL.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerMode {
    /// RFC 7252 response: piggybacked on the ACK when the bulk answer is back within the
    /// piggyback window, otherwise empty ACK then a separate CON response with the same Token.
    #[default]
    Response,
    /// The spec-literal form (24.538 §6.3.4.3.3): empty ACK at once, then a CON POST reusing the
    /// device's Message ID and Token carrying `REGRESP`/`DEREGRESP`.
    SpecPost,
}

/// Gateway bounds and timers (docs/PROTOCOL.md §8, README "Configuration"). Every bound has a metric for when it is hit.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// MSGin5G service identifier put in every payload.
    pub service_id: String,
    /// The Gateway UE's own UE Service ID (`gatewayUeServiceId` in bulks).
    pub gateway_ue_service_id: String,
    /// Uri-Path of the MSGin5G Server resource.
    pub server_uri_path: String,
    /// Service policy allows bulking (23.554 §8.2.7); when false every request goes singly.
    pub bulking_enabled: bool,
    /// Most entries in one bulk.
    pub max_batch_entries: usize,
    /// Most bytes of one bulk's JSON payload (RFC 7252 §4.6: fit one datagram).
    pub max_bulk_bytes: usize,
    /// Largest device request datagram (messaging and configuration sockets); larger gets 4.13
    /// with Size1 (RFC 7959 §4; `coap.max_request_bytes`).
    pub max_request_bytes: usize,
    /// Bulks and aggregates up to this size go to the server in Block1 blocks of at most
    /// `max_bulk_bytes` (RFC 7959 §2.3); 0 = off (larger ones are split into several bulks).
    pub bulk_block1_bytes: usize,
    /// T_hold_max: longest a non-urgent request waits for batching.
    pub hold_time: Duration,
    /// A partial batch is flushed once its kind's arrivals paused for this many smoothed mean
    /// gaps (at least 1 ms; judged after 64 arrivals), instead of waiting out `hold_time`:
    /// the latency tail under open load (docs/PROTOCOL.md §8.1). 0: off.
    pub batch_pause_factor: u32,
    /// T_margin: safety margin before a request's `waitTime` deadline.
    pub deadline_margin: Duration,
    /// How long a CON's ACK is held hoping to piggyback the answer (Response mode).
    pub piggyback_window: Duration,
    /// How devices get their answer.
    pub answer_mode: AnswerMode,
    /// Most device requests in flight per shard (accepted, not yet answered: queued or at the
    /// server); beyond it a new request gets 5.03 + Max-Age (`GATEWAY_OVERLOAD`). Overload
    /// control's in-flight bound (docs/ARCHITECTURE.md §8).
    pub max_pending: usize,
    /// Most journaled requests per shard when persisting (accepted, acknowledged or NON, not
    /// yet answered); a request that would need one more gets 5.03 + Max-Age at once.
    pub max_journal: usize,
    /// When persisting: the longest a directory change (UE route, report route) may stay in a
    /// non-durable commit before the driver makes it durable (journal records and Application
    /// Client registrations are always durable before the turn's datagrams leave); zero makes
    /// every commit durable.
    pub persist_sync: Duration,
    /// Overload control's delay bound: a new device request that waited longer than this
    /// between the kernel receiving it and the shard handling it is answered 5.03 + Max-Age at
    /// once (a NON is dropped; past [`SILENT_FACTOR`] times this a CON is dropped unanswered),
    /// without parsing its payload or keeping any state.
    pub overload_delay: Duration,
    /// Overload control's queueing-delay target: while the standing queue (the smallest
    /// queueing delay of the new requests read in each 50 ms) is above it, a share of them is
    /// refused at once with 5.03 + Max-Age, the share set by a proportional-integral controller
    /// with RFC 8033's gains ([`crate::coap::overload::EarlyRefusal`]), so a sustained excess is
    /// refused a few devices at a time long before [`GatewayConfig::overload_delay`] refuses
    /// everything. Zero: off.
    pub overload_target: Duration,
    /// Most bulks in flight toward the server per shard (NSTART deviation, RFC 7252 §4.8).
    /// Default 256: with 64, a shard under twice its load carried only 64 bulks per upstream
    /// round trip, and the round trip grows under load (docs/ARCHITECTURE.md §8).
    pub max_in_flight: usize,
    /// Uplink sockets per shard; each is its own endpoint and Message ID space at the server,
    /// good for ~265 CON/s under the RFC 7252 §4.4 rule (docs/PROTOCOL.md §3.3).
    pub uplinks_per_shard: usize,
    /// Give up on a bulk's answer after this long (MAX_TRANSMIT_WAIT by default).
    pub bulk_response_timeout: Duration,
    /// Every device request's final answer leaves this long before the device gives up:
    /// receipt + MAX_TRANSMIT_WAIT (CON) or NON_LIFETIME (NON) (RFC 7252 §4.8.2); past it the
    /// device gets `FAILURE`/`SERVER_TIMEOUT` (5.04) even if its bulk is still in flight.
    pub answer_margin: Duration,
    /// The upstream counts as silent when something has been outstanding toward it and nothing
    /// came back for this long (logged once, and again when it answers).
    pub upstream_silent_after: Duration,
    /// While the upstream is silent, a CoAP ping (RFC 7252 §4.3) goes to it this often, so its
    /// return is noticed at once and the exchanges it lost are sent again (zero: no pings).
    pub upstream_probe_interval: Duration,
    /// Max-Age (seconds) on 5.03 overload answers; each answer carries it with ±50 % jitter so
    /// the devices refused together do not come back together.
    pub overload_max_age: u32,
    /// Overload control's latency bound: once the smoothed time from receipt to final answer
    /// of the shard's requests is above half of this (the work behind the gateway, the server
    /// or the upstream path, is queueing), the shard keeps at most as many requests in flight
    /// as it answers within this time at its measured answer rate (Little's law; at least
    /// [`LATENCY_FLOOR`]) and sheds the others as by the delay bound (5.03 + Max-Age before the
    /// payload is parsed, within the answer budget): the excess is refused, the rest admitted,
    /// and admitted requests are answered within about this bound. Set it above the upstream
    /// round-trip time. Zero: off.
    pub overload_latency: Duration,
    /// Most 5.03 answers per second per shard for requests shed by queueing delay (a token
    /// bucket holding one second's worth); past it a request is dropped unanswered, which costs
    /// the shard only its receive (docs/ARCHITECTURE.md §8).
    pub overload_answer_rate: u32,
    /// Overload control's buffer bound: while the device-facing socket's receive buffer is
    /// still at least this full (percent, [`crate::net::shard::Load::buffer_fill`]) a new
    /// request is shed as by [`GatewayConfig::overload_delay`]: the buffer fills before the
    /// delay is reached at twice a shard's capacity (4 MiB, ~100–140 ms), and at 100 % the
    /// kernel drops whatever arrives, ACKs and retransmissions of admitted requests included.
    /// Zero: off.
    pub overload_buffer_percent: u8,
    /// Bound on the deduplication caches: peers (devices) remembered, RFC 7252 §4.5.
    pub dedup_max_entries: usize,
    /// Exchanges remembered per device for duplicate detection (RFC 7252 §4.5; a device
    /// following NSTART=1, §4.7, needs one or two).
    pub dedup_exchanges_per_peer: usize,
    /// Bound on the peers with Message IDs used within EXCHANGE_LIFETIME (plus reserved IDs)
    /// toward devices, and per uplink toward the server (RFC 7252 §4.4; `coap::mid`).
    pub mid_max_entries: usize,
    /// When set, only these UE Service IDs may use the gateway (others get 4.03).
    pub allow_list: Option<HashSet<String>>,
    /// When set, only these Application IDs may register with the gateway (24.538 §6.3.2.1.1
    /// "local conditions"; others get `NOT_ACCEPTED`/`UNAUTHORIZED`).
    pub app_allow_list: Option<HashSet<String>>,
    /// Most Application Client registrations per gateway (beyond: `GATEWAY_FULL`).
    pub max_app_registrations: usize,
    /// An Application Client registration without activity (a request from it, an answer to a
    /// delivery) for this long is removed, and its Application ID may be taken by another
    /// address (project policy; zero: never).
    pub app_idle_expiry: Duration,
    /// Largest decoded payload per segment (23.554 §8.5): an Application Client's message above
    /// it goes upstream as segments (design D9), each of a multiple of 3 bytes at most this
    /// long (whole base64 quads); the gateway's own `REG` carries it as
    /// `clientProfile.maxSegmentSize`, so the server segments the downlink for the Application
    /// Clients at this size (docs/PROTOCOL.md §18.1).
    pub segment_size: usize,
    /// How long an Application Client's sent segment set is kept, once answered, for the
    /// server's `SEGREC` (its `SEGCONFIR` frees it earlier).
    pub segment_hold: Duration,
    /// Most Application Client segment sets kept per shard (beyond: 5.03 `GATEWAY_OVERLOAD`).
    pub max_segment_sets: usize,
    /// Most MSGin5G-6 UEs remembered for downlink routing per gateway.
    pub max_clients: usize,
    /// Most messages remembered for routing their delivery reports back to the sending AC.
    pub max_report_routes: usize,
    /// Most messages remembered per shard for addressing an AC's delivery report.
    pub max_delivered: usize,
    /// How long a downlink delivery waits for the device's answer before the server is told
    /// `RECIPIENT_UNREACHABLE` (5.03).
    pub delivery_timeout: Duration,
    /// How long the ACK of a server's confirmable downlink request is held hoping to piggyback
    /// the device's verdict on it (RFC 7252 §5.2.1: no Message ID spent); past it an empty ACK,
    /// then a separate response (docs/PROTOCOL.md §11). Below the server's ACK_TIMEOUT; zero:
    /// the empty ACK at once.
    pub downlink_piggyback: Duration,
    /// Most elements in one `AGGMSG`/`AGGIMDN` from the server (23.554 §8.4.3; beyond: 4.13).
    pub max_downlink_aggregate_entries: usize,
    /// How long a downlink segment set for an Application Client may take to complete, from
    /// its first segment (23.554 §8.5): after a third of it the missing segments are asked for
    /// (`SEGREC`, at most twice), at the end the set is dropped.
    pub reassembly_timeout: Duration,
    /// Most downlink segment sets being reassembled per shard (beyond: 5.03 + Max-Age).
    pub reassembly_max_sets: usize,
    /// Most payload bytes held by downlink sets being reassembled per shard (beyond: 5.03 +
    /// Max-Age).
    pub reassembly_max_bytes: usize,
    /// Register the gateway's own UE Service ID with the server at start (23.554 §8.2.7
    /// pre-condition 1), so the server can reach the ACs behind it.
    pub register_self: bool,
    /// The credential (`ueCredentialInfo`, auth type `TOKEN`) in the gateway's own `REG`, for a
    /// server that has one provisioned for `gateway_ue_service_id` (24.538 §6.3.1.2.2).
    pub credential: Option<String>,
    /// Shortest interval between two own registrations sent because the server answered
    /// `NOT_REGISTERED` for the gateway (issue 9: a burst of refusals triggers one `REG`).
    pub reregistration_holdoff: Duration,
    /// The configuration management server for configuration requests (BULKCONF and single
    /// GETs); `None`: the messaging upstream's host on port 65401 (24.538 §6.2.1).
    pub config_upstream: Option<std::net::SocketAddr>,
    /// Where the driver binds each shard's configuration socket (`SO_REUSEPORT`, one port);
    /// `None`: the messaging listen address's IP, any port (the core does not use it).
    pub config_listen: Option<std::net::SocketAddr>,
    /// The PSK identities (docs/PROTOCOL.md §19): what a coaps peer may act as. `Some` also
    /// makes the driver open the device-facing coaps sockets on [`Self::coaps_listen`].
    pub psk: Option<Arc<PskTable>>,
    /// Where the driver binds each shard's coaps socket (`SO_REUSEPORT`, one port), with
    /// [`Self::psk`].
    pub coaps_listen: std::net::SocketAddr,
    /// No plain device listener (`gateway.require_security`): the device socket is bound to
    /// loopback only, for the driver's table; devices reach the gateway over coaps alone.
    pub require_security: bool,
    /// DTLS bounds of the coaps sockets (D14.5).
    pub dtls: DtlsServerConfig,
    /// The uplinks' DTLS client settings toward a `coaps://` upstream; `None`: plain CoAP.
    pub upstream_dtls: Option<UplinkDtls>,
    /// CoAP transmission parameters.
    pub params: TransmissionParams,
    /// Block1 reassembly bounds on the device socket (RFC 7959; `[coap]` `block_*`).
    pub block: BlockConfig,
}

/// The uplinks' DTLS client settings toward a `coaps://` upstream (docs/PROTOCOL.md §19,
/// D14.8): one session per uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkDtls {
    /// The PSK identity and key the uplinks present.
    pub psk: UpstreamPsk,
    /// Each uplink's client session: queue while handshaking, re-handshake after silence,
    /// handshake timeout (`dtls_*` keys).
    pub client: DtlsClientConfig,
}

/// Default idle expiry of Application Client registrations: 24 h (the message-correlation
/// TTL; docs/PROTOCOL.md §10.1).
pub const DEFAULT_APP_IDLE_EXPIRY: Duration = Duration::from_secs(24 * 3600);

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            service_id: crate::msg::DEFAULT_SERVICE_ID.to_string(),
            gateway_ue_service_id: "msgin5g-gateway".to_string(),
            server_uri_path: "msgin5g".to_string(),
            bulking_enabled: true,
            max_batch_entries: 100,
            max_bulk_bytes: 1024,
            max_request_bytes: crate::coap::DEFAULT_MAX_REQUEST_BYTES,
            bulk_block1_bytes: 0,
            hold_time: Duration::from_millis(500),
            batch_pause_factor: DEFAULT_BATCH_PAUSE_FACTOR,
            deadline_margin: Duration::from_millis(200),
            piggyback_window: Duration::from_millis(1000),
            answer_mode: AnswerMode::Response,
            max_journal: 1 << 16,
            persist_sync: Duration::from_millis(1000),
            max_pending: DEFAULT_MAX_PENDING,
            overload_delay: DEFAULT_OVERLOAD_DELAY,
            overload_target: DEFAULT_OVERLOAD_TARGET,
            max_in_flight: 256,
            uplinks_per_shard: 32,
            bulk_response_timeout: Duration::from_secs(93),
            answer_margin: Duration::from_millis(2000),
            upstream_silent_after: Duration::from_secs(15),
            upstream_probe_interval: Duration::from_secs(2),
            overload_max_age: 5,
            overload_answer_rate: DEFAULT_OVERLOAD_ANSWER_RATE,
            overload_buffer_percent: DEFAULT_OVERLOAD_BUFFER_PERCENT,
            overload_latency: Duration::from_millis(500),
            dedup_max_entries: 1 << 20,
            dedup_exchanges_per_peer: crate::coap::dedup::DEFAULT_EXCHANGES_PER_PEER,
            mid_max_entries: 1 << 20,
            allow_list: None,
            app_allow_list: None,
            max_app_registrations: directory::DEFAULT_MAX_APP_REGISTRATIONS,
            app_idle_expiry: DEFAULT_APP_IDLE_EXPIRY,
            segment_size: crate::msg::DEFAULT_SEGMENT_PAYLOAD,
            segment_hold: Duration::from_secs(60),
            max_segment_sets: 4096,
            max_clients: directory::DEFAULT_MAX_CLIENTS,
            max_report_routes: directory::DEFAULT_MAX_REPORT_ROUTES,
            max_delivered: 65_536,
            delivery_timeout: Duration::from_secs(60),
            downlink_piggyback: Duration::from_millis(500),
            max_downlink_aggregate_entries: 256,
            reassembly_timeout: Duration::from_secs(30),
            reassembly_max_sets: 4096,
            reassembly_max_bytes: 16 << 20,
            register_self: true,
            credential: None,
            reregistration_holdoff: Duration::from_secs(1),
            config_upstream: None,
            config_listen: None,
            psk: None,
            coaps_listen: crate::config::default_coaps_listen(),
            require_security: false,
            dtls: DtlsServerConfig::default(),
            upstream_dtls: None,
            params: TransmissionParams::default(),
            block: BlockConfig::default(),
        }
    }
}

/// Default [`GatewayConfig::max_pending`]: by Little's law a shard at ~40 000 requests/s with
/// a healthy server holds a few thousand; 65 536 is hit only when the server is slow or silent
/// (then ~1.5 s of traffic), and bounds the state to ~25 MB per shard.
pub const DEFAULT_MAX_PENDING: usize = 1 << 16;

/// Fewest requests in flight for [`GatewayConfig::overload_latency`] to refuse new ones: below
/// it new requests are admitted whatever the estimates say, so they are refreshed by fresh
/// answers once the backlog is gone.
pub const LATENCY_FLOOR: usize = 64;

/// Default [`GatewayConfig::overload_buffer_percent`]: 85 %, the last resort behind early
/// refusal ([`GatewayConfig::overload_target`]), which keeps the queue far below it (at 50 %
/// the bound itself refused everything arriving at twice a shard's capacity within ~40 ms,
/// holding all devices back at once; without early refusal, at 80 % the kernel dropped
/// 73k–228k datagrams per 10 s; docs/ARCHITECTURE.md §8).
pub const DEFAULT_OVERLOAD_BUFFER_PERCENT: u8 = 85;

/// Default [`GatewayConfig::batch_pause_factor`]: 8 mean gaps (a Poisson stream pauses that
/// long with probability e^-8, so bulks at low load still fill over `hold_time`).
pub const DEFAULT_BATCH_PAUSE_FACTOR: u32 = 8;

/// Default [`GatewayConfig::overload_answer_rate`]: 5 000 5.03 answers per second per shard,
/// about a tenth of what one shard serves on the development VM (docs/ARCHITECTURE.md §8).
pub const DEFAULT_OVERLOAD_ANSWER_RATE: u32 = 5_000;

/// Default [`GatewayConfig::overload_target`]: 20 ms. Measured (README "Failure behaviour"):
/// the closed-loop benchmark of 2 000 devices per shard queues 10–25 ms at full speed; at
/// 2x capacity 20 ms gave the best goodput of 15, 20 and 30 ms, and the 20 000-device
/// closed loop saw 4 500 refusals in 1.45 million requests against 23 000 with the buffer
/// bound alone at 50 %.
pub const DEFAULT_OVERLOAD_TARGET: Duration = Duration::from_millis(20);

/// Default [`GatewayConfig::overload_delay`]: 250 ms, a quarter of the piggyback window (an
/// admitted request keeps the rest of it for its batch and the server, and is far from the
/// device's ACK_TIMEOUT). Measured: at 50 ms the closed-loop benchmark (20 000 devices, one
/// request each outstanding, ~130 ms of queueing at full speed) had 12–16 % of its requests
/// refused with 5.03 and half the successes of the build without overload control; at 250 ms
/// and 500 ms none were refused and the rate was unchanged. The price: at a sustained 2x the
/// 4 MiB socket buffer can fill (~90 ms at twice a shard's capacity) before the delay is
/// reached, so the kernel drops first; an operator who prefers 5.03 to kernel drops lowers it
/// (docs/ARCHITECTURE.md §8).
pub const DEFAULT_OVERLOAD_DELAY: Duration = Duration::from_millis(250);

/// Which socket a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The device-facing socket (MSGin5G-6).
    Device,
    /// The device-facing configuration socket (UDP 65401, 24.538 §6.2, §6.2.2.1).
    Config,
    /// Uplink socket number n toward the MSGin5G Server (MSGin5G-1).
    Upstream(usize),
}

/// Gateway counters, shared with the driver, tests and the metrics exporter (README "Metrics").
///
/// The core records with relaxed atomic adds (one-liners at the event sites); the shard loop
/// stores the gauges after each wake; [`crate::metrics::GatewayMetrics`] reads them at scrape time.
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// Device requests accepted for processing (duplicates excluded).
    pub requests: AtomicU64,
    /// Block-wise transfer (RFC 7959) events on the device socket.
    pub block: Arc<BlockStats>,
    /// Final answers sent to devices with SUCCESS.
    pub answers_success: AtomicU64,
    /// Final answers sent to devices with FAILURE or an error code.
    pub answers_failure: AtomicU64,
    /// Duplicate CONs absorbed or replayed.
    pub duplicates: AtomicU64,
    /// Message format errors (header or options, RFC 7252 §3), reserved code classes and Empty
    /// NONs: dropped (a CON with a good header rejected with a RST), and unmatched ACK/RST.
    pub dropped: AtomicU64,
    /// Requests refused by the message layer or the payload check (4.00/4.02/4.04/4.05/4.06/
    /// 4.13/4.15/5.05).
    pub bad_requests: AtomicU64,
    /// Device requests answered 4.13 with Size1 because the datagram exceeded
    /// `max_request_bytes` (also counted in `bad_requests`).
    pub too_large: AtomicU64,
    /// Requests refused with 5.03 (overload).
    pub shed: AtomicU64,
    /// New device requests answered 5.03 + Max-Age at once (NON: dropped) because they waited
    /// longer than `overload_delay` before the shard handled them.
    pub shed_queue_delay: AtomicU64,
    /// New device requests answered 5.03 (`GATEWAY_OVERLOAD`) because `max_pending` requests
    /// were in flight.
    pub shed_in_flight: AtomicU64,
    /// New confirmable device requests dropped unanswered because they waited longer than
    /// twice `overload_delay` (answering them could not keep up; the device retransmits).
    pub shed_silent: AtomicU64,
    /// New device requests shed (5.03 + Max-Age; NON: dropped) because the smoothed answer
    /// latency was above `overload_latency`.
    pub shed_latency: AtomicU64,
    /// New confirmable device requests shed by queueing delay and dropped unanswered because
    /// `overload_answer_rate` 5.03 answers were sent in the last second.
    pub shed_budget: AtomicU64,
    /// New device requests refused early (5.03 + Max-Age; NON: dropped) by the queueing-delay
    /// controller ([`GatewayConfig::overload_target`]).
    pub shed_early: AtomicU64,
    /// The early-refusal controller's current probability, in millionths.
    pub refusal_ppm: AtomicU64,
    /// Device requests whose deadline from receipt came while still queued for a bulk: answered
    /// 5.04 `SERVER_TIMEOUT` and never sent upstream (work for a device about to give up).
    pub expired_dropped: AtomicU64,
    /// Queueing delay of device-facing datagrams (kernel arrival to the shard handling them).
    pub queue_delay: SecondsHistogram,
    /// Bulks sent (first transmissions).
    pub bulks_sent: AtomicU64,
    /// Entries carried in bulks.
    pub bulk_entries: AtomicU64,
    /// Single (urgent or non-bulked) requests sent upstream.
    pub singles_sent: AtomicU64,
    /// Upstream retransmissions.
    pub upstream_retransmissions: AtomicU64,
    /// Bulks that got no answer in time.
    pub upstream_timeouts: AtomicU64,
    /// Times the upstream went silent: requests outstanding and nothing heard from it for
    /// `upstream_silent_after` (logged as a warning).
    pub upstream_silent: AtomicU64,
    /// Warnings logged about a silent upstream: the first of each silence and one per
    /// `upstream_silent_after` while it lasts.
    pub upstream_warnings: AtomicU64,
    /// Times a silent upstream was heard again (logged as info).
    pub upstream_recovered: AtomicU64,
    /// CoAP pings sent to a silent upstream (RFC 7252 §4.3).
    pub upstream_probes: AtomicU64,
    /// Exchanges abandoned when a silent upstream was heard again (sent before the silence, never
    /// answered) whose requests went again in new exchanges.
    pub upstream_resent: AtomicU64,
    /// Device requests answered `SERVER_TIMEOUT` at their deadline from receipt (the device was
    /// about to give up; RFC 7252 §4.8.2).
    pub answer_deadlines: AtomicU64,
    /// Pending requests replaced by a newer one from the same UE Service ID.
    pub superseded: AtomicU64,
    /// Bulk response elements naming no pending request.
    pub unknown_entries: AtomicU64,
    /// Bulk members missing from the response.
    pub missing_entries: AtomicU64,
    /// Bulk responses whose count field differed from the list length.
    pub count_mismatches: AtomicU64,
    /// Times a bulk waited because every Message ID toward the server was in use (RFC 7252 §4.4).
    pub upstream_mid_exhausted: AtomicU64,
    /// Accepted registrations of the gateway's own UE Service ID (23.554 §8.2.7).
    pub self_registrations: AtomicU64,
    /// Registrations of the gateway's own UE Service ID sent again because the server answered
    /// `NOT_REGISTERED` for it (the server lost its state; issue 9).
    pub self_reregistrations: AtomicU64,
    /// Application Client messages and reports re-sent once after such a re-registration.
    pub reregistration_retries: AtomicU64,
    /// Downlink requests received from the server (`MSG`, `IMDN`; 23.554 §8.11).
    pub downlink_requests: AtomicU64,
    /// Downlink deliveries sent to devices.
    pub downlink_deliveries: AtomicU64,
    /// Downlink deliveries the device accepted.
    pub downlink_delivered: AtomicU64,
    /// Downlink requests not delivered (no such target, refused, unreachable).
    pub downlink_failed: AtomicU64,
    /// Downlink messages sent again after they were delivered (e.g. by a restarted server):
    /// acknowledged as delivered without a second delivery.
    pub downlink_duplicates: AtomicU64,
    /// Answers to the server's downlink requests by [`AnswerForm`]: piggybacked on the ACK of
    /// the request, or separate (a Message ID of their own).
    pub downlink_answers: [AtomicU64; AnswerForm::ALL.len()],
    /// Aggregated downlink requests received from the server (`AGGMSG`, `AGGIMDN`; 23.554
    /// §8.4.3).
    pub downlink_aggregates: AtomicU64,
    /// Elements of the aggregated downlink requests received.
    pub downlink_aggregate_elements: AtomicU64,
    /// Aggregated downlink requests refused 4.13 for more than `max_downlink_aggregate_entries`
    /// elements.
    pub downlink_aggregates_too_large: AtomicU64,
    /// Downlink segments for ACs held until their set completes (23.554 §8.5).
    pub reassembly_held: AtomicU64,
    /// Downlink segment sets completed and delivered whole.
    pub reassembly_completed: AtomicU64,
    /// Downlink segments held already, or of a message delivered already: absorbed.
    pub reassembly_duplicates: AtomicU64,
    /// Downlink segments disagreeing with their set (answered 4.00 `MALFORMED`).
    pub reassembly_malformed: AtomicU64,
    /// Downlink segments refused 5.03 because `reassembly_max_sets` sets or
    /// `reassembly_max_bytes` bytes were held.
    pub reassembly_full: AtomicU64,
    /// `SEGREC`s sent for incomplete downlink sets.
    pub reassembly_segrecs: AtomicU64,
    /// Downlink sets dropped incomplete at `reassembly_timeout`.
    pub reassembly_expired: AtomicU64,
    /// `SEGREC`/`SEGCONFIR`/`TOPICSUB`/`TOPICUNSUB` from MSGin5G-6 UEs forwarded upstream.
    pub forwarded: AtomicU64,
    /// Application Client registrations accepted (MSGin5G-5, 24.538 §6.3.2).
    pub app_registrations: AtomicU64,
    /// Application Client registrations refused (capacity, allow-list, Application ID in use).
    pub app_registrations_refused: AtomicU64,
    /// Application Client de-registrations accepted.
    pub app_deregistrations: AtomicU64,
    /// Application Client registrations removed after `app_idle_expiry` without activity
    /// (swept, or reclaimed by another address).
    pub app_registrations_expired: AtomicU64,
    /// Requests naming a Registration ID owned by another address, or sent by an address that
    /// does not own the registration / UE Service ID it uses (spoofing attempts; answered 4.03).
    pub spoofed: AtomicU64,
    /// Requests over coaps acting as an ID their PSK identity is not bound to (answered 4.03
    /// "identity not bound"; docs/PROTOCOL.md §19).
    pub identity_refused: AtomicU64,
    /// Messages (`MSG` + A.3 `MESSAGE SENDING REQUEST`) accepted for aggregation.
    pub messages: AtomicU64,
    /// Segments of Application Clients' messages sent upstream (23.554 §8.5), first sends.
    pub segments_sent: AtomicU64,
    /// Segments sent upstream again for the server's `SEGREC`.
    pub segments_resent: AtomicU64,
    /// Segmented messages refused 5.03 because `max_segment_sets` sets were kept.
    pub segment_sets_full: AtomicU64,
    /// Segment sets freed by the server's `SEGCONFIR`.
    pub segment_sets_confirmed: AtomicU64,
    /// Segment sets freed at the end of `segment_hold` without a `SEGCONFIR`.
    pub segment_sets_expired: AtomicU64,
    /// Delivery reports (`IMDN` + A.3 `DELIVERY REPORT SENDING REQUEST`) accepted.
    pub reports: AtomicU64,
    /// Datagrams received, by socket side (device, upstream, config) and [`Received`] result.
    pub datagrams_received: [[AtomicU64; Received::ALL.len()]; 3],
    /// Datagrams handed to the kernel, by socket side (device, upstream, config), then ok /
    /// failed.
    pub datagrams_sent: [[AtomicU64; 2]; 3],
    /// Accepted device requests by [`Kind`] (Message Type).
    pub requests_by_kind: [AtomicU64; Kind::ALL.len()],
    /// Upstream requests (bulks and singles) by [`FlushReason`].
    pub flushed_by_reason: [AtomicU64; FlushReason::ALL.len()],
    /// Final device answers: success, each failure cause of [`ANSWER_CAUSES`], other causes.
    pub answers_by_cause: [AtomicU64; ANSWER_SLOTS],
    /// Bulk/aggregate requests sent (first transmissions) by [`Kind`] of their members
    /// (`BULKREG`, `BULKDEREG`, `AGGMSG`, `AGGIMDN`, `BULKCONF`).
    pub bulks_by_kind: [AtomicU64; Kind::ALL.len()],
    /// Entries carried in bulks, by [`Kind`].
    pub bulk_entries_by_kind: [AtomicU64; Kind::ALL.len()],
    /// Final device answers by [`Kind`] and CoAP code ([`ANSWER_CODES`] slot, last: other).
    pub answers_by_code: [[AtomicU64; ANSWER_CODES.len() + 1]; Kind::ALL.len()],
    /// Entries per bulk sent.
    pub batch_size: EntriesHistogram,
    /// How long each bulked request waited in its batch (receipt to bulk sent).
    pub batch_hold: SecondsHistogram,
    /// Upstream round trip: first transmission of a bulk or single to its answer.
    pub upstream_rtt: SecondsHistogram,
    /// Device request receipt to its final answer.
    pub answer_latency: SecondsHistogram,
    /// Gauge: pending device requests (queued or awaiting the server).
    pub pending_entries: AtomicU64,
    /// Gauge: deduplication cache entries (recorded exchanges).
    pub dedup_entries: AtomicU64,
    /// Gauge: peers the deduplication caches remember (RFC 7252 §4.5).
    pub dedup_peers: AtomicU64,
    /// Peers the deduplication caches forgot early, least recently active first, because
    /// `dedup_max_entries` peers were remembered (stored by the shard loop).
    pub dedup_evictions: AtomicU64,
    /// Exchanges forgotten inside EXCHANGE_LIFETIME because a peer started more than
    /// `dedup_exchanges_per_peer` (it violates NSTART, RFC 7252 §4.7; stored by the shard loop).
    pub dedup_window_overflows: AtomicU64,
    /// Gauge: upstream exchanges awaiting the server.
    pub upstream_in_flight: AtomicU64,
    /// Gauge: Message IDs in use toward the server, over all uplinks (RFC 7252 §4.4).
    pub upstream_mids_in_use: AtomicU64,
    /// Write transactions of changed state committed (persistence, issue 9; by the driver).
    pub persist_commits: AtomicU64,
    /// Write transactions that failed (their changes are retried next turn).
    pub persist_failures: AtomicU64,
    /// Gauge: requests in the journal (acknowledged or NON, not yet answered).
    pub journal_entries: AtomicU64,
    /// Journaled requests re-submitted at start.
    pub journal_restored: AtomicU64,
    /// Journaled requests dropped at start because their device had already given up.
    pub journal_expired: AtomicU64,
    /// Requests answered 5.03 at once because the journal was full (`max_journal`).
    pub journal_full: AtomicU64,
}

#[cfg(test)]
mod tests;
