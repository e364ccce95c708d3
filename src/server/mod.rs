//! Reference MSGin5G Server core (the reference server profile, README): sans-IO, datagrams and time in, datagrams out.
//!
//! Handles `REG`/`DEREG` (2.01/2.04 with `REGRESP`/`DEREGRESP`), `BULKREG`/`BULKDEREG` (one
//! response element per request element, in order), keeps the registration table, answers 4.13
//! above the configured bulk size, and applies credential/policy checks per entry. Routes
//! messages and delivery reports (below), acting as a CoAP client toward recipients.
//! Drive it with `handle_datagram`/`handle_timeout`, drain it with `poll_transmit`, and sleep
//! until `poll_timeout`.
//!
//! # Message layer
//! - A datagram whose CoAP header does not parse is dropped (`dropped`). ACK and RST are never
//!   answered; they complete the server's own downlink requests or stop the retransmission of
//!   its separate CON responses. A CON/NON response with the Token of an outstanding downlink
//!   request completes it (a CON one is ACKed, also when repeated); other responses and reserved
//!   code classes are ignored (`ignored`), never answered (no reflection).
//!   An Empty CON (CoAP ping, RFC 7252 §4.3) gets a RST.
//! - Requests are deduplicated per (peer, Message ID) (RFC 7252 §4.5): a retransmitted CON gets
//!   the identical reply bytes, a duplicate NON is ignored; neither is processed twice
//!   (`duplicates`).
//! - A CON request gets a piggybacked response (ACK, same Message ID and Token). A NON request
//!   gets a NON response with a fresh Message ID and the same Token (RFC 7252 §5.2.3), except
//!   that a NON request refused as a bad request (4.00/4.02/4.04/4.05/4.06/4.15) is dropped without an
//!   answer and only counted (`bad_requests`).
//!
//! # Request checks, in order
//! [`crate::coap::endpoint::classify`] first: a header error is dropped, an option format error, a
//! reserved code class or an Empty NON is rejected (RST for a CON, silence otherwise; never 4.00).
//! A Block2 fetch (NUM > 0) is then served from the answer cache (4.08 when the answer is gone: a
//! POST is not repeated). Then [`crate::coap::endpoint::check_request`]: a datagram over
//! `max_request_bytes` 4.13 with Size1 (each Block1 block is a datagram); an unrecognized
//! critical option (unknown, If-Match/If-None-Match, repeated or out of range) 4.02;
//! Proxy-Uri/Proxy-Scheme 5.05; Uri-Path not `uri_path` 4.04; not POST 4.05; Content-Format not
//! 50 4.15; an Accept other than 50 4.06 (RFC 7252 §5.10.4); then Block1 reassembly
//! ([`Blockwise`]: 2.31, 4.08, 4.13 with Size1, 5.03); then JSON refused by
//! [`crate::msg::decode`] or a Message Type that is not a request the server serves 4.00
//! (diagnostic payload, no Content-Format). An answer larger than the block size asked for goes
//! Block2 (README "Block-wise transfer").
//!
//! # Procedures
//! - `REG`: 2.01 `REGRESP SUCCESS` when new, 2.04 when already registered (entry replaced).
//!   Denied UE Service ID or credential failure: 4.03 `REGRESP FAILURE UNAUTHORIZED`.
//!   **Registration table full** (`max_registrations`, new UE only): **5.03 Service Unavailable
//!   with Max-Age 60** and `REGRESP FAILURE STORE_FULL`; it is a server capacity condition, not
//!   the client's fault, and 5.03 tells the client when to retry. Inside a bulk the element is
//!   `FAILURE STORE_FULL` and the bulk code follows the usual rule.
//! - `DEREG`: 2.04 `DEREGRESP SUCCESS`, also for an unknown UE (idempotent); denied UE Service
//!   ID or credential failure: 4.03 `DEREGRESP FAILURE UNAUTHORIZED`.
//! - Credentials (24.538 §6.3.1.2.2 "shall verify"): a UE with a provisioned credential
//!   (`policy.ue_credentials`, from the provisioning file) must carry it in
//!   `ueCredentialInfo.credential` in every `REG`/`DEREG`, single or bulk element, from any
//!   address: a REG/DEREG without it (e.g. from a new address taking the UE over) is 4.03
//!   `UNAUTHORIZED`. Otherwise, with `policy.required_token` set, `ueCredentialInfo.credential`
//!   must equal the token (any `authType`); a missing `ueCredentialInfo` fails, except inside a
//!   bulk from a gateway listed in `policy.allowed_gateways` (TS 33.501 Annex Y.6 / TS 33.501 Y.6: the
//!   authorised gateway vouches for its UEs that supplied none and have no provisioned
//!   credential; credentials it forwards are still checked). Failures: `credential_failures`.
//!   With neither, identities are not verified (the driver logs it at start).
//! - `BULKREG`/`BULKDEREG`: gateway not in `allowed_gateways` 4.03; more than
//!   `max_bulk_entries` elements 4.13; empty list or `numberOf...Requests` different from the list
//!   length 4.00 (bulk-level errors carry a diagnostic payload). Otherwise every element is
//!   processed on its own (same rules as the single procedures) and the answer has one element
//!   per request element, in order: `BULKREGRESP` 2.01 when at least one UE was created, else
//!   2.04; `BULKDEREGRESP` 2.04. Bulk registrations record the gateway as the downlink path.
//!
//! # Messages (module `messaging`, README "Messages")
//! - `MSG`: sender registered and sending from its registered address (a gateway-registered UE:
//!   from that gateway's IP, or inside an aggregate of an allowed gateway that registered it),
//!   else 4.03 `REJECTED NOT_REGISTERED`/`UNAUTHORIZED`; payload above `max_payload_bytes` 4.13;
//!   then one copy per recipient (UE, AS, each group member but the sender) goes out as a CON
//!   POST, or is stored (`storeAndForward`), or fails (4.04 `UNKNOWN_UE`/`UNKNOWN_GROUP`, 5.03
//!   `STORE_FULL`/`SERVER_BUSY` with Max-Age). Verdict in a `MSGRESP`.
//! - `IMDN`: forwarded to its recipient (2.04), 4.04 `UNKNOWN_UE` when not registered.
//! - `AGGMSG`/`AGGIMDN`: 4.03 for a gateway outside `allowed_gateways`, 4.13 above
//!   `max_aggregate_entries`, else 2.04 with one result per element, in order.
//! - Downlink outcome: 2.xx delivered; 4.xx/5.xx, RST, MAX_RETRANSMIT without ACK or no separate
//!   response in time: failed, then stored (`storeAndForward`) or reported to the sender
//!   (`IMDN FAILURE RECIPIENT_UNREACHABLE` when delivery status was required). An endpoint of a
//!   gateway that sent RST or no ACK is forgotten and the copy re-sent on another endpoint of the
//!   gateway first; a gateway's own `REG` forgets its other endpoints (module `gateways`).
//! - Stored messages go out after the recipient's next registration (after its answer), after a
//!   successful delivery to it, and after a restart; each stays stored (and persisted) until its
//!   delivery's outcome: deleted on 2.xx, first in line again on a failure (issue 9). They expire
//!   at `expirationTime` (mapped through [`ServerCore::set_wall_clock`]) or `store_max_time`
//!   (`IMDN FAILURE EXPIRED` when asked for). AS identity: `REG`/`DEREG` with `asServiceId`.
//! - A copy answered `ACCEPTED` is held (and persisted) until its delivery's outcome, and sent
//!   again after a restart (module `accepted`; at-least-once, same Message ID).
//!
//! # Test hooks ([`ServerTestHooks`], bulks and aggregates)
//! Applied after the bulk or aggregate is decoded and counted (`bulk_requests`, `bulk_entries`,
//! `aggregate_requests`):
//! `silent` (no processing, no answer, no ACK; retransmissions are absorbed as duplicates),
//! `service_unavailable` (5.03 with Max-Age, no processing), then normal processing with
//! `drop_entry_every` / `count_mismatch` applied to the response body, and `separate_response`
//! (empty ACK at once, then the answer as a CON with a fresh Message ID and the request's Token,
//! retransmitted until ACK/RST or MAX_RETRANSMIT; a duplicate request gets the empty ACK again;
//! CON bulks only, a NON bulk still gets a NON response).
//!
//! # Bounds
//! The dedup cache remembers `dedup_max_entries` peers with at most `dedup_exchanges_per_peer`
//! exchanges each ([`DedupCache`]: least recently active peer evicted, `dedup_evictions`; a
//! peer's oldest exchange forgotten, `dedup_window_overflows`); the Message ID allocator (for NON and separate
//! responses and downlink requests) tracks at most `dedup_max_entries` (peer, MID) pairs; the
//! AS table holds `max_registrations`; downlink requests, the store and the recent-Message-ID
//! memory are bounded by their [`MessagingConfig`] settings; the outgoing queue holds
//! [`MAX_QUEUED_TRANSMITS`] datagrams (oldest dropped first, counted in `transmit_dropped`).

mod accepted;
mod auth;
pub mod configuration;
mod downlink;
mod driven;
mod error;
mod gateways;
mod messaging;
mod persist;
pub mod provisioning;
mod registry;
mod stats;
mod store;
#[cfg(test)]
mod tests;
mod wal;

pub use configuration::{ConfigServerConfig, ConfigServerCore, ConfigServerStats};
pub use driven::SERVER_SOCKET;
pub use error::RequestError;
pub use messaging::MessagingConfig;
pub use persist::{Restored, ServerChanges, ServerDb, ServerSnapshot};
pub use registry::{DownlinkPath, Registration};
pub use stats::{ServerRequest, ANSWER_CLASSES};

use crate::coap::block::{BlockConfig, BlockStats};
use crate::coap::block2::{Answer, Block};
use crate::coap::blockwise::{Blockwise, Front};
use crate::coap::build::{empty_ack, reset};
use crate::coap::dedup::{DedupCache, DedupOutcome};
use crate::coap::endpoint::{
    check_reassembled, check_request, classify, Classified, Rejection, RequestRules,
};
use crate::coap::mid::MidAllocator;
use crate::coap::retransmit::{RetransmitEvent, Retransmitter};
use crate::coap::rng::Rng;
use crate::coap::{
    Code, Header, MessageView, MsgType, TransmissionParams, Transmit, CONTENT_FORMAT_JSON,
};
use crate::msg::{
    cause, BulkDeregistration, BulkDeregistrationResponse, BulkRegistration,
    BulkRegistrationResponse, DeregistrationRequest, DeregistrationResponse, Payload, RegResult,
    RegistrationRequest, RegistrationResponse,
};
use accepted::Accepted;
use downlink::Downlink;
use messaging::{FlushQueue, Recent};
use registry::{AsTable, Inserted, Registry};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use store::Store;

/// Bound on datagrams queued for `poll_transmit`. The driver drains the queue after every
/// `handle_*` call, so it only fills when the driver stops draining; past it the oldest datagram
/// is dropped (and counted in `ServerStats::transmit_dropped`) so memory stays bounded.
pub const MAX_QUEUED_TRANSMITS: usize = 65_536;

/// Max-Age (seconds) sent with 5.03 when the registration table is full.
pub const STORE_FULL_MAX_AGE: u32 = 60;

/// Default exchanges remembered per peer by the servers' duplicate detection (RFC 7252 §4.5):
/// a gateway uplink keeps up to `max_in_flight` bulks (64 per shard by default) outstanding.
pub const AGGREGATOR_EXCHANGES_PER_PEER: usize = 256;

/// Longest accepted UE Service ID in bytes (24.538 §7.1).
const MAX_UE_SERVICE_ID_LEN: usize = 255;

/// Per-entry policy of the reference server (TS 33.501 Y.6: trust the gateway, check per UE).
#[derive(Debug, Clone, Default)]
pub struct ServerPolicy {
    /// UE Service IDs that are always refused (`FAILURE`, `UNAUTHORIZED`).
    pub denied_ue_service_ids: HashSet<String>,
    /// When set, a `ueCredentialInfo` with `authType` `"TOKEN"` must carry this credential, and a
    /// request without `ueCredentialInfo` is refused.
    pub required_token: Option<String>,
    /// When set, only these gateway UE Service IDs may send bulks (others get 4.03).
    pub allowed_gateways: Option<HashSet<String>>,
    /// Per-UE credentials by UE Service ID, from the provisioning file's `credential`
    /// (24.538 §6.3.1.2.2: the server shall verify the UE Credential Information). A `REG`/
    /// `DEREG` (single or bulk element) for a UE listed here must carry
    /// `ueCredentialInfo.credential` equal to it, whatever its address and whoever forwards it
    /// (no gateway vouching); it replaces `required_token` for that UE.
    pub ue_credentials: HashMap<String, String>,
}

/// Fault injection for tests and load tests (the reference server profile, README "Test hooks").
#[derive(Debug, Clone, Default)]
pub struct ServerTestHooks {
    /// Omit every n-th element (1-based position % n == 0) from bulk and aggregate responses.
    pub drop_entry_every: Option<usize>,
    /// Put a wrong `numberOf...Responses`/`numberOfResults` in bulk and aggregate responses
    /// (list stays correct).
    pub count_mismatch: bool,
    /// Answer bulks and aggregates with 5.03 and this Max-Age (seconds).
    pub service_unavailable: Option<u32>,
    /// Never answer bulks and aggregates (not even an ACK).
    pub silent: bool,
    /// Answer bulks and aggregates with an empty ACK and then a separate CON response.
    pub separate_response: bool,
}

/// Reference server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// MSGin5G service identifier put in every payload.
    pub service_id: String,
    /// The resource path requests must carry (Uri-Path), default `msgin5g`.
    pub uri_path: String,
    /// Largest bulk accepted; larger gets 4.13 (23.554 §8.2.7).
    pub max_bulk_entries: usize,
    /// Largest request datagram; larger gets 4.13 with Size1 (`coap.max_request_bytes`).
    pub max_request_bytes: usize,
    /// Bound on the registration table; entries beyond it fail with `STORE_FULL`.
    pub max_registrations: usize,
    /// Bound on the deduplication cache: peers remembered, RFC 7252 §4.5.
    pub dedup_max_entries: usize,
    /// Exchanges remembered per peer (RFC 7252 §4.5): a gateway uplink keeps many bulks
    /// outstanding, so this covers its in-flight window, not NSTART=1.
    pub dedup_exchanges_per_peer: usize,
    /// Per-entry policy.
    pub policy: ServerPolicy,
    /// Fault injection.
    pub hooks: ServerTestHooks,
    /// CoAP transmission parameters.
    pub params: TransmissionParams,
    /// Messaging: groups, bounds, store and forward.
    pub messaging: MessagingConfig,
    /// Block-wise transfer bounds (RFC 7959; `[coap]` `block_*`).
    pub block: BlockConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            service_id: crate::msg::DEFAULT_SERVICE_ID.to_string(),
            uri_path: "msgin5g".to_string(),
            max_bulk_entries: 1000,
            max_request_bytes: crate::coap::DEFAULT_MAX_REQUEST_BYTES,
            max_registrations: 10_000_000,
            dedup_max_entries: 1 << 20,
            dedup_exchanges_per_peer: AGGREGATOR_EXCHANGES_PER_PEER,
            policy: ServerPolicy::default(),
            hooks: ServerTestHooks::default(),
            params: TransmissionParams::default(),
            messaging: MessagingConfig::default(),
            block: BlockConfig::default(),
        }
    }
}

/// Server counters, shared with the driver, tests and the metrics exporter (README "Metrics").
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Single `REG`/`DEREG` requests processed.
    pub single_requests: AtomicU64,
    /// Bulk requests (`BULKREG`/`BULKDEREG`) decoded, duplicates excluded (refused and hooked
    /// bulks included).
    pub bulk_requests: AtomicU64,
    /// Elements in processed bulk requests.
    pub bulk_entries: AtomicU64,
    /// Requests answered 4.00/4.02/4.04/4.05/4.15 (NON requests: dropped for those reasons).
    pub bad_requests: AtomicU64,
    /// Bulks answered 4.13.
    pub too_large: AtomicU64,
    /// Retransmitted requests answered from the dedup cache or absorbed.
    pub duplicates: AtomicU64,
    /// Peers the dedup cache forgot early (least recently active first) because
    /// `dedup_max_entries` peers were remembered (RFC 7252 §4.5).
    pub dedup_evictions: AtomicU64,
    /// Exchanges forgotten within EXCHANGE_LIFETIME because their peer started more than
    /// `dedup_exchanges_per_peer` (RFC 7252 §4.4, §4.7).
    pub dedup_window_overflows: AtomicU64,
    /// Message format errors (header or options, RFC 7252 §3): dropped, a CON with a good header
    /// rejected with a RST.
    pub dropped: AtomicU64,
    /// Current registrations.
    pub registrations: AtomicU64,
    /// CoAP messages ignored: responses, reserved code classes and Empty NONs (a CON of a
    /// reserved class gets RST), ACK/RST matching nothing outstanding.
    pub ignored: AtomicU64,
    /// Datagrams not sent: outgoing queue overflow, or no free Message ID toward the peer.
    pub transmit_dropped: AtomicU64,
    /// Separate CON responses never acknowledged (MAX_RETRANSMIT exhausted).
    pub gave_up: AtomicU64,
    /// Decoded requests by [`ServerRequest`] type (duplicates excluded).
    pub requests_by_type: [AtomicU64; ServerRequest::ALL.len()],
    /// Answers produced (retransmissions and dedup replays excluded; an answer then lost to
    /// `transmit_dropped` included) by code class, see [`ANSWER_CLASSES`].
    pub answers_by_class: [AtomicU64; ANSWER_CLASSES.len()],
    /// Retransmissions of separate CON responses.
    pub retransmissions: AtomicU64,
    /// Datagrams received by the driver.
    pub datagrams_received: AtomicU64,
    /// Datagrams handed to the kernel by the driver.
    pub datagrams_sent: AtomicU64,
    /// Datagrams the kernel refused to send (dropped; CoAP retransmission covers them).
    pub send_errors: AtomicU64,
    /// `AGGMSG`/`AGGIMDN` requests decoded (duplicates excluded).
    pub aggregate_requests: AtomicU64,
    /// Messages received: single `MSG`s and `AGGMSG` elements.
    pub messages_received: AtomicU64,
    /// Message copies the recipient answered with 2.xx.
    pub messages_delivered: AtomicU64,
    /// Message copies put into the store-and-forward store.
    pub messages_stored: AtomicU64,
    /// Stored message copies dropped at their expiry.
    pub messages_expired: AtomicU64,
    /// Deliveries of stored messages that failed (the message stays stored, first in line).
    pub stored_delivery_failures: AtomicU64,
    /// Messages refused (`REJECTED`/`FAILED` verdicts) and copies neither delivered nor stored.
    pub messages_failed: AtomicU64,
    /// Messages answered from the recent-Message-ID memory instead of being delivered again.
    pub messages_duplicate: AtomicU64,
    /// Delivery reports received: single `IMDN`s and `AGGIMDN` elements.
    pub reports_received: AtomicU64,
    /// Reports the server generated (`FAILURE` on failed or expired deliveries).
    pub reports_generated: AtomicU64,
    /// Reports (forwarded or generated) the recipient answered with 2.xx.
    pub reports_delivered: AtomicU64,
    /// Reports refused, or not delivered.
    pub reports_failed: AtomicU64,
    /// Retransmissions of downlink `MSG`/`IMDN` requests.
    pub downlink_retransmissions: AtomicU64,
    /// Gateway uplink endpoints forgotten: unreachable (RST / no ACK) or left behind by the
    /// gateway's new self-registration (issue 9).
    pub gateway_endpoints_pruned: AtomicU64,
    /// Downlink requests re-sent on another endpoint of a gateway after one was unreachable.
    pub downlink_resent: AtomicU64,
    /// Accepted message copies restored from the data directory and sent again (issue 9).
    pub accepted_resent: AtomicU64,
    /// `REG`/`DEREG` requests and bulk elements refused for a missing or wrong credential
    /// (24.538 §6.3.1.2.2).
    pub credential_failures: AtomicU64,
    /// Write transactions of changed state committed to the data directory (one per turn with
    /// changes).
    pub persist_commits: AtomicU64,
    /// Write transactions that failed (logged; the changed keys are written again next turn).
    pub persist_failures: AtomicU64,
    /// Block-wise transfer (RFC 7959) events.
    pub block: Arc<BlockStats>,
    /// Turns that waited for the write in progress because `MAX_QUEUED_TRANSMITS` datagrams
    /// were held for durability (group commit, `net::group_commit`).
    pub persist_waits: AtomicU64,
}

/// Most Gateway UEs remembered as such (see `known_gateways`).
pub const MAX_KNOWN_GATEWAYS: usize = 1024;

/// Most uplink endpoints remembered per Gateway UE (a gateway runs `shards × uplinks_per_shard`).
pub const MAX_GATEWAY_ENDPOINTS: usize = 256;

/// The reference MSGin5G Server state machine.
#[derive(Debug)]
pub struct ServerCore {
    config: ServerConfig,
    rng: Rng,
    dedup: DedupCache,
    mids: MidAllocator,
    /// Outstanding separate CON responses; the key is the request's Message ID.
    retx: Retransmitter<u16>,
    out: VecDeque<Transmit>,
    registry: Registry,
    stats: Arc<ServerStats>,
    /// Block1 reassembly and Block2 answers (RFC 7959).
    blockwise: Blockwise,
    /// Registered Application Servers.
    as_table: AsTable,
    /// UE Service IDs seen sending bulks or aggregates (Gateway UEs; bounded by
    /// [`MAX_KNOWN_GATEWAYS`]), each with the index of its endpoint group: a gateway sends from
    /// several uplink ports, and downlink toward it is spread over them.
    known_gateways: HashMap<String, usize>,
    /// Per known gateway: its uplink endpoints (at most [`MAX_GATEWAY_ENDPOINTS`]) and a
    /// round-robin cursor.
    gateway_groups: Vec<(Vec<SocketAddr>, usize)>,
    /// Endpoint → its gateway's group.
    endpoint_group: HashMap<SocketAddr, usize>,
    /// Host of each Gateway UE that declared itself in its own `REG` (at most one host per
    /// known gateway): a single request from another port of that host is from its uplinks.
    gateway_hosts: HashMap<std::net::IpAddr, String>,
    /// Outstanding downlink requests.
    downlink: Downlink,
    /// Store and forward.
    store: Store,
    /// Accepted message copies in delivery (and restored ones to send again).
    accepted: Accepted,
    /// Recipients whose stored messages are going out.
    flush: FlushQueue,
    /// Verdicts of recently accepted messages.
    recent: Recent,
    /// Wall-clock anchor (see `set_wall_clock`).
    wall: Option<(Instant, SystemTime)>,
    /// Downlink requests started while handling the current input, sent after its answer.
    deferred: Vec<Transmit>,
}

/// Body of an answer.
#[derive(Debug)]
enum Body {
    /// No payload.
    Empty,
    /// A JSON payload (Content-Format 50).
    Json(Vec<u8>),
    /// A diagnostic payload (no Content-Format).
    Diagnostic(String),
}

/// An answer to one request.
#[derive(Debug)]
struct Reply {
    code: Code,
    max_age: Option<u32>,
    /// Size1 of a 4.13 for a request over `max_request_bytes` (RFC 7959 §4).
    size1: Option<u32>,
    body: Body,
}

impl Reply {
    fn error(e: &RequestError) -> Reply {
        Reply {
            code: e.code(),
            max_age: None,
            size1: match e {
                RequestError::Endpoint(e) => e.size1(),
                _ => None,
            },
            body: Body::Diagnostic(e.diagnostic()),
        }
    }

    /// The answer before block-wise slicing: JSON carries Content-Format 50, a diagnostic none.
    fn into_answer(self) -> Answer {
        let (content_format, body) = match self.body {
            Body::Empty => (None, Vec::new()),
            Body::Json(bytes) => (Some(CONTENT_FORMAT_JSON), bytes),
            Body::Diagnostic(text) => (None, text.into_bytes()),
        };
        Answer {
            code: self.code,
            content_format,
            max_age: self.max_age,
            body,
        }
    }
}

/// What processing decided.
#[derive(Debug)]
enum Outcome {
    /// Send this answer.
    Reply(Reply),
    /// Send nothing (hook `silent`).
    Silent,
}

/// Result of checking one element's authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Ok,
    Unauthorized,
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
            wall: None,
            deferred: Vec::new(),
            config,
            rng,
            dedup,
            mids,
            out: VecDeque::new(),
            stats,
        }
    }

    /// Feed one received datagram.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.datagram(now, from, data);
        self.pump(now);
        self.flush_deferred();
    }

    fn datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let view = match classify(data) {
            Classified::FormatError(_) => {
                bump(&self.stats.dropped);
                return;
            }
            Classified::Rejected(header, why) => {
                // A message format error (RFC 7252 §3, §4.1, §12.1): a CON is rejected with a
                // RST (§4.2), anything else silently ignored; never answered as a request.
                match why {
                    Rejection::Options(_) => bump(&self.stats.dropped),
                    Rejection::ReservedClass
                    | Rejection::EmptyNon
                    | Rejection::CriticalOption(_) => bump(&self.stats.ignored),
                }
                if header.mtype == MsgType::Con {
                    self.push(from, reset(header.mid));
                }
                return;
            }
            Classified::Ack(header) | Classified::Reset(header) => {
                // Only our own outstanding requests and separate responses are matched; never
                // answered.
                if !self.downlink_ack(now, from, &header)
                    && self.retx.acknowledge(from, header.mid).is_none()
                {
                    bump(&self.stats.ignored);
                }
                return;
            }
            Classified::Ping(header) => {
                // CoAP ping (RFC 7252 §4.3).
                self.push(from, reset(header.mid));
                return;
            }
            Classified::Response(header) => {
                // Separate responses to our downlink requests; others are never answered.
                self.downlink_response(now, from, &header);
                return;
            }
            Classified::Request(view) => view,
        };
        let header = view.header;
        let con = header.mtype == MsgType::Con;
        let duplicate = match self.dedup.check(now, from, header.mid, con, header.token) {
            DedupOutcome::New => {
                self.sync_dedup_counters();
                None
            }
            DedupOutcome::Pending => Some(None),
            DedupOutcome::Replay(bytes) => Some(Some(bytes.to_vec())),
        };
        if let Some(replay) = duplicate {
            bump(&self.stats.duplicates);
            if let (true, Some(bytes)) = (con, replay) {
                self.push(from, bytes);
            }
            return;
        }
        // RFC 7959: a Block2 fetch is served from the answer cache before any check (it
        // carries no body); Block1 blocks are collected after the resource checks.
        let request = Some(view);
        if let Some(block) = self.blockwise.fetch(now, from, request.as_ref()) {
            self.stats.answered(block.code);
            return self.send_block(now, from, &header, &block, false);
        }
        let rules = RequestRules {
            max_request_bytes: self.config.max_request_bytes,
            uri_path: Some(&self.config.uri_path),
            methods: &[Code::POST],
            content_formats: &[CONTENT_FORMAT_JSON],
            accept: &[CONTENT_FORMAT_JSON],
        };
        let (result, is_bulk) = match check_request(view, &rules) {
            Ok(view) => match self.blockwise.block1(now, from, &view) {
                Front::Serve => self.process(now, from, &view),
                Front::Reassembled(whole) => match check_reassembled(&whole, &rules) {
                    Ok(view) => self.process(now, from, &view),
                    Err(e) => (Err(e.into()), false),
                },
                Front::Answer(block) => {
                    self.stats.answered(block.code);
                    return self.send_block(now, from, &header, &block, false);
                }
            },
            Err(e) => (Err(e.into()), false),
        };
        match result {
            Ok(Outcome::Silent) => {}
            Ok(Outcome::Reply(reply)) => {
                let separate = is_bulk && self.config.hooks.separate_response;
                self.respond(now, from, &header, request.as_ref(), reply, separate);
            }
            Err(e) => {
                if e.is_bad_request() {
                    bump(&self.stats.bad_requests);
                    if !con {
                        return;
                    }
                }
                if e.is_too_large() {
                    bump(&self.stats.too_large);
                }
                let separate = is_bulk && self.config.hooks.separate_response;
                let reply = Reply::error(&e);
                self.respond(now, from, &header, request.as_ref(), reply, separate);
            }
        }
    }

    /// Advance timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.dedup.expire(now);
        self.mids.expire(now);
        while let Some(event) = self.retx.poll_event(now) {
            match event {
                RetransmitEvent::Resend(t) => {
                    bump(&self.stats.retransmissions);
                    self.push_transmit(t)
                }
                RetransmitEvent::GaveUp { .. } => bump(&self.stats.gave_up),
            }
        }
        self.messaging_timeout(now);
        self.pump(now);
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

    // ---- message layer -------------------------------------------------------------------

    fn push(&mut self, destination: SocketAddr, payload: Vec<u8>) {
        self.push_transmit(Transmit {
            destination,
            payload,
        });
    }

    /// Queue the downlink requests started while handling the last input.
    fn flush_deferred(&mut self) {
        let deferred = std::mem::take(&mut self.deferred);
        for t in deferred {
            self.push_transmit(t);
        }
    }

    fn push_transmit(&mut self, t: Transmit) {
        if self.out.len() >= MAX_QUEUED_TRANSMITS {
            self.out.pop_front();
            bump(&self.stats.transmit_dropped);
        }
        self.out.push_back(t);
    }

    /// Send `reply` to `request` (parsed, when it parses) with `header` from `from`: whole, or
    /// its first block (RFC 7959 §2.4), with the Block1 of a reassembled request.
    fn respond(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        request: Option<&MessageView<'_>>,
        reply: Reply,
        separate: bool,
    ) {
        self.stats.answered(reply.code);
        let size1 = reply.size1;
        let answer = reply.into_answer();
        let mut block = self.blockwise.answer(now, from, request, answer);
        block.headers.size1 = block.headers.size1.or(size1);
        self.send_block(now, from, header, &block, separate);
    }

    /// Send `reply` (one whole answer or one block of it) to the request with `header`:
    /// piggybacked on the ACK of a CON (or separate, for the `separate_response` hook), in a
    /// NON with a fresh Message ID for a NON.
    fn send_block(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        reply: &Block,
        separate: bool,
    ) {
        if header.mtype == MsgType::Con {
            if separate {
                if let Some(mid) = self.mids.allocate(now, from) {
                    let ack = empty_ack(header.mid);
                    self.dedup.set_reply(from, header.mid, &ack);
                    self.push(from, ack);
                    let bytes = reply.encode(MsgType::Con, mid, header.token);
                    self.push(from, bytes.clone());
                    self.retx
                        .start(now, &mut self.rng, from, mid, bytes, header.mid);
                    return;
                }
                // No free Message ID toward this peer: fall back to a piggybacked response.
            }
            let bytes = reply.encode(MsgType::Ack, header.mid, header.token);
            self.dedup.set_reply(from, header.mid, &bytes);
            self.push(from, bytes);
        } else {
            match self.mids.allocate(now, from) {
                Some(mid) => {
                    let bytes = reply.encode(MsgType::Non, mid, header.token);
                    self.push(from, bytes);
                }
                None => bump(&self.stats.transmit_dropped),
            }
        }
    }

    // ---- request layer -------------------------------------------------------------------

    /// Check and process one request; the flag says whether it was a bulk (for the hooks).
    fn process(
        &mut self,
        now: Instant,
        from: SocketAddr,
        view: &MessageView<'_>,
    ) -> (Result<Outcome, RequestError>, bool) {
        let payload = match crate::msg::decode(view.payload()) {
            Ok(p) => p,
            Err(e) => return (Err(RequestError::Payload(e)), false),
        };
        match payload {
            Payload::Reg(req) => {
                bump(&self.stats.single_requests);
                self.stats.request(ServerRequest::Reg);
                (self.single_reg(from, req), false)
            }
            Payload::Dereg(req) => {
                bump(&self.stats.single_requests);
                self.stats.request(ServerRequest::Dereg);
                (self.single_dereg(req), false)
            }
            Payload::BulkReg(bulk) => {
                self.stats.request(ServerRequest::BulkReg);
                (self.bulk_reg(from, bulk), true)
            }
            Payload::BulkDereg(bulk) => {
                self.stats.request(ServerRequest::BulkDereg);
                (self.bulk_dereg(bulk), true)
            }
            Payload::AsReg(req) => {
                self.stats.request(ServerRequest::Reg);
                bump(&self.stats.single_requests);
                (Ok(self.as_reg(from, req)), false)
            }
            Payload::AsDereg(req) => {
                self.stats.request(ServerRequest::Dereg);
                bump(&self.stats.single_requests);
                (Ok(self.as_dereg(from, req)), false)
            }
            Payload::Msg(m) => {
                self.stats.request(ServerRequest::Msg);
                (Ok(self.single_msg(now, from, m)), false)
            }
            Payload::Imdn(r) => {
                self.stats.request(ServerRequest::Imdn);
                (Ok(self.single_imdn(now, from, r)), false)
            }
            Payload::AggMsg(a) => {
                self.stats.request(ServerRequest::AggMsg);
                (self.aggregate_msg(now, from, a), true)
            }
            Payload::AggImdn(a) => {
                self.stats.request(ServerRequest::AggImdn);
                (self.aggregate_imdn(now, from, a), true)
            }
            other => (
                Err(RequestError::UnexpectedMessageType(
                    other.message_type().as_str().to_owned(),
                )),
                false,
            ),
        }
    }

    /// Register one UE; returns the per-UE result and what happened in the table.
    fn register(
        &mut self,
        path: DownlinkPath,
        req: RegistrationRequest,
        vouched: bool,
    ) -> (RegistrationResponse, Option<Inserted>, Auth) {
        let auth = if valid_id(&req.ue_service_id) {
            self.authorize(&req.ue_service_id, req.ue_credential_info.as_ref(), vouched)
        } else {
            Auth::Ok
        };
        let mut resp = RegistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: req.ue_service_id,
            registration_result: RegResult::Failure,
            failure_cause: None,
        };
        if !valid_id(&resp.ue_service_id) {
            resp.failure_cause = Some(cause::MALFORMED.to_owned());
            return (resp, None, auth);
        }
        if auth == Auth::Unauthorized {
            resp.failure_cause = Some(cause::UNAUTHORIZED.to_owned());
            return (resp, None, auth);
        }
        // A Gateway UE's own REG says so (`gatewayUeServiceId`); `allowed_gateways`, when set,
        // limits who may.
        let gateway_ue = matches!(path, DownlinkPath::Direct(_))
            && req.gateway_ue_service_id.as_deref() == Some(resp.ue_service_id.as_str())
            && self
                .config
                .policy
                .allowed_gateways
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&resp.ue_service_id));
        let reg = Registration {
            path,
            client_address: req.client_address,
            client_profile: req.client_profile,
            gateway_ue,
        };
        let inserted = self.registry.insert(&resp.ue_service_id, reg);
        self.sync_gauge();
        if inserted == Inserted::Full {
            resp.failure_cause = Some(cause::STORE_FULL.to_owned());
        } else {
            resp.registration_result = RegResult::Success;
            if self.store.len() > 0 {
                self.schedule_flush(messaging::ue_key(&resp.ue_service_id));
            }
        }
        (resp, Some(inserted), auth)
    }

    /// De-register one UE (idempotent).
    fn deregister(
        &mut self,
        req: DeregistrationRequest,
        vouched: bool,
    ) -> (DeregistrationResponse, Auth) {
        let mut resp = DeregistrationResponse {
            msgin5g_service_id: None,
            ue_service_id: req.ue_service_id,
            deregistration_result: RegResult::Failure,
            failure_cause: None,
        };
        if !valid_id(&resp.ue_service_id) {
            resp.failure_cause = Some(cause::MALFORMED.to_owned());
            return (resp, Auth::Ok);
        }
        let auth = self.authorize(
            &resp.ue_service_id,
            req.ue_credential_info.as_ref(),
            vouched,
        );
        if auth == Auth::Unauthorized {
            resp.failure_cause = Some(cause::UNAUTHORIZED.to_owned());
            return (resp, auth);
        }
        self.registry.remove(&resp.ue_service_id);
        self.sync_gauge();
        resp.deregistration_result = RegResult::Success;
        (resp, auth)
    }

    fn single_reg(
        &mut self,
        from: SocketAddr,
        req: RegistrationRequest,
    ) -> Result<Outcome, RequestError> {
        if !valid_id(&req.ue_service_id) {
            return Err(RequestError::InvalidUeServiceId);
        }
        // A REG a Gateway UE forwards singly (urgent, 23.554 §8.2.7) comes from one of its
        // uplink endpoints: the UE is registered through that gateway (its later messages come
        // from any of the gateway's uplinks), not directly at that one port.
        let path = match self.gateway_at(from) {
            Some(g) if g != req.ue_service_id => DownlinkPath::Gateway {
                address: from,
                gateway_ue_service_id: Some(g.to_owned()),
            },
            Some(_) | None => DownlinkPath::Direct(from),
        };
        let (mut resp, inserted, auth) = self.register(path, req, false);
        if resp.registration_result == RegResult::Success
            && self
                .registry
                .get(&resp.ue_service_id)
                .is_some_and(|r| r.gateway_ue)
        {
            self.gateway_declared(&resp.ue_service_id.clone(), from);
        }
        if resp.registration_result == RegResult::Success && self.is_gateway(&resp.ue_service_id) {
            // A Gateway UE registering itself (again): its old uplink endpoints are forgotten.
            self.gateway_registered(&resp.ue_service_id.clone(), from);
        }
        resp.msgin5g_service_id = Some(self.config.service_id.clone());
        let (code, max_age) = match (auth, inserted) {
            (Auth::Unauthorized, _) => (Code::FORBIDDEN, None),
            (_, Some(Inserted::Created)) => (Code::CREATED, None),
            (_, Some(Inserted::Updated)) => (Code::CHANGED, None),
            (_, Some(Inserted::Full)) | (_, None) => {
                (Code::SERVICE_UNAVAILABLE, Some(STORE_FULL_MAX_AGE))
            }
        };
        Ok(Outcome::Reply(Reply {
            code,
            max_age,
            size1: None,
            body: json(&Payload::RegResp(resp)),
        }))
    }

    fn single_dereg(&mut self, req: DeregistrationRequest) -> Result<Outcome, RequestError> {
        if !valid_id(&req.ue_service_id) {
            return Err(RequestError::InvalidUeServiceId);
        }
        let (mut resp, auth) = self.deregister(req, false);
        resp.msgin5g_service_id = Some(self.config.service_id.clone());
        let code = match auth {
            Auth::Ok => Code::CHANGED,
            Auth::Unauthorized => Code::FORBIDDEN,
        };
        Ok(Outcome::Reply(Reply {
            code,
            max_age: None,
            size1: None,
            body: json(&Payload::DeregResp(resp)),
        }))
    }

    /// Bulk-level checks shared by both bulk kinds: counts, hooks, gateway, size, count.
    /// `Ok(Some(outcome))` short-circuits (hooks); `Ok(None)` means process the elements.
    fn bulk_precheck(
        &self,
        gateway: Option<&str>,
        declared: Option<u32>,
        len: usize,
    ) -> Result<Option<Outcome>, RequestError> {
        bump(&self.stats.bulk_requests);
        self.stats
            .bulk_entries
            .fetch_add(len as u64, Ordering::Relaxed);
        let hooks = &self.config.hooks;
        if hooks.silent {
            return Ok(Some(Outcome::Silent));
        }
        if let Some(max_age) = hooks.service_unavailable {
            return Ok(Some(Outcome::Reply(Reply {
                code: Code::SERVICE_UNAVAILABLE,
                max_age: Some(max_age),
                size1: None,
                body: Body::Empty,
            })));
        }
        if let Some(allowed) = &self.config.policy.allowed_gateways {
            if !gateway.is_some_and(|g| allowed.contains(g)) {
                return Err(RequestError::GatewayNotAuthorized);
            }
        }
        if len > self.config.max_bulk_entries {
            return Err(RequestError::TooManyEntries(self.config.max_bulk_entries));
        }
        if len == 0 {
            return Err(RequestError::EmptyBulk);
        }
        if declared.is_some_and(|n| u64::from(n) != len as u64) {
            return Err(RequestError::CountMismatch);
        }
        Ok(None)
    }

    /// Whether the bulk's gateway vouches for UEs without credentials (TS 33.501 Annex Y.6).
    fn gateway_vouches(&self, gateway: Option<&str>) -> bool {
        match (&self.config.policy.allowed_gateways, gateway) {
            (Some(allowed), Some(g)) => allowed.contains(g),
            _ => false,
        }
    }

    fn bulk_reg(
        &mut self,
        from: SocketAddr,
        bulk: BulkRegistration,
    ) -> Result<Outcome, RequestError> {
        let gateway = bulk.gateway_ue_service_id;
        if let Some(outcome) = self.bulk_precheck(
            gateway.as_deref(),
            bulk.number_of_registration_requests,
            bulk.registration_requests.len(),
        )? {
            return Ok(outcome);
        }
        self.note_gateway(gateway.as_deref(), Some(from));
        let vouched = self.gateway_vouches(gateway.as_deref());
        let mut created = false;
        let mut responses = Vec::with_capacity(bulk.registration_requests.len());
        for req in bulk.registration_requests {
            let path = DownlinkPath::Gateway {
                address: from,
                gateway_ue_service_id: gateway.clone(),
            };
            let (resp, inserted, _) = self.register(path, req, vouched);
            created |= inserted == Some(Inserted::Created);
            responses.push(resp);
        }
        let responses = self.apply_drop_hook(responses);
        let count = self.hooked_count(responses.len());
        let body = json(&Payload::BulkRegResp(BulkRegistrationResponse {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            number_of_registration_responses: Some(count),
            registration_responses: responses,
        }));
        Ok(Outcome::Reply(Reply {
            code: if created {
                Code::CREATED
            } else {
                Code::CHANGED
            },
            max_age: None,
            size1: None,
            body,
        }))
    }

    fn bulk_dereg(&mut self, bulk: BulkDeregistration) -> Result<Outcome, RequestError> {
        let gateway = bulk.gateway_ue_service_id;
        if let Some(outcome) = self.bulk_precheck(
            gateway.as_deref(),
            bulk.number_of_deregistration_requests,
            bulk.deregistration_requests.len(),
        )? {
            return Ok(outcome);
        }
        self.note_gateway(gateway.as_deref(), None);
        let vouched = self.gateway_vouches(gateway.as_deref());
        let mut responses = Vec::with_capacity(bulk.deregistration_requests.len());
        for req in bulk.deregistration_requests {
            responses.push(self.deregister(req, vouched).0);
        }
        let responses = self.apply_drop_hook(responses);
        let count = self.hooked_count(responses.len());
        let body = json(&Payload::BulkDeregResp(BulkDeregistrationResponse {
            msgin5g_service_id: Some(self.config.service_id.clone()),
            number_of_deregistration_responses: Some(count),
            deregistration_responses: responses,
        }));
        Ok(Outcome::Reply(Reply {
            code: Code::CHANGED,
            max_age: None,
            size1: None,
            body,
        }))
    }

    /// Hook `drop_entry_every`: omit elements whose 1-based position is a multiple of n
    /// (n = 0 disables it).
    fn apply_drop_hook<T>(&self, elements: Vec<T>) -> Vec<T> {
        match self.config.hooks.drop_entry_every {
            Some(n) if n > 0 => elements
                .into_iter()
                .enumerate()
                .filter(|(i, _)| (i + 1) % n != 0)
                .map(|(_, e)| e)
                .collect(),
            _ => elements,
        }
    }

    /// The `numberOf...Responses` value: the list length, or one more with `count_mismatch`.
    fn hooked_count(&self, len: usize) -> u32 {
        let n = u32::try_from(len).unwrap_or(u32::MAX);
        if self.config.hooks.count_mismatch {
            n.wrapping_add(1)
        } else {
            n
        }
    }

    /// Copy the dedup cache's eviction and overflow counts into the stats.
    fn sync_dedup_counters(&self) {
        let s = &self.stats;
        s.dedup_evictions
            .store(self.dedup.evictions(), Ordering::Relaxed);
        s.dedup_window_overflows
            .store(self.dedup.window_overflows(), Ordering::Relaxed);
    }

    fn sync_gauge(&self) {
        self.stats
            .registrations
            .store(self.registry.len() as u64, Ordering::Relaxed);
    }
}

/// Increment a counter.
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A UE Service ID is 1 to 255 bytes (24.538 §7.1).
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_UE_SERVICE_ID_LEN
}

/// Encode a JSON body.
fn json(payload: &Payload) -> Body {
    let mut out = Vec::with_capacity(160);
    crate::msg::encode(payload, &mut out);
    Body::Json(out)
}
