//! Reference MSGin5G Server core (docs/PROTOCOL.md §15): sans-IO, datagrams and time in, datagrams out.
//!
//! Handles `REG`/`DEREG` (2.01/2.04 with `REGRESP`/`DEREGRESP`), `BULKREG`/`BULKDEREG` (one
//! response element per request element, in order), keeps the registration table, answers 4.13
//! above the configured bulk size, and applies credential/policy checks per entry. Routes
//! messages and delivery reports (below), acting as a CoAP client toward recipients.
//! Drive it with `handle_datagram`/`handle_timeout`, drain it with `poll_transmit`, and sleep
//! until `poll_timeout`; a driver that reads datagrams in batches feeds them with `handle_input`
//! and calls `handle_idle` when it has nothing more to read (downlink aggregates flush then).
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
//! ([`Blockwise`](crate::coap::blockwise::Blockwise): 2.31, 4.08, 4.13 with Size1, 5.03); then
//! JSON refused by [`crate::msg::decode`] or a Message Type that is not a request the server serves 4.00
//! (diagnostic payload, no Content-Format). An answer larger than the block size asked for goes
//! Block2 (docs/PROTOCOL.md §4).
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
//!   bulk from a gateway listed in `policy.allowed_gateways` (TS 33.501 Annex Y.6: the
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
//! # Messages (docs/PROTOCOL.md §15.2; the files are listed under "Files")
//! - `MSG`: sender registered and sending from its registered address (a gateway-registered UE:
//!   from that gateway's IP, or inside an aggregate of an allowed gateway that registered it),
//!   else 4.03 `REJECTED NOT_REGISTERED`/`UNAUTHORIZED`; payload above `max_payload_bytes` 4.13;
//!   then one copy per recipient (UE, AS, each member of a group or broadcast area and each
//!   subscriber of a topic, each once and never the sender) goes out as a CON POST, or is stored
//!   (`storeAndForward`), or fails (4.04 `UNKNOWN_UE`/`UNKNOWN_GROUP`/`UNKNOWN_AREA`, 5.03
//!   `STORE_FULL`/`SERVER_BUSY` with Max-Age). Verdict in a `MSGRESP`; a topic without
//!   subscribers is `ACCEPTED`.
//! - `TOPICSUB`/`TOPICUNSUB`: subscriptions of registered UEs and ASs (module `topics`).
//! - `IMDN`: forwarded to its recipient (2.04), 4.04 `UNKNOWN_UE` when not registered.
//! - Segments (23.554 §8.5; docs/PROTOCOL.md §18): a `MSG` with `segmentation` (single or
//!   aggregate element; its result carries `segmentNumber`) goes to reassembly by (originator,
//!   Message ID, set ID) and is answered at once: 2.04 `ACCEPTED` while its set is incomplete
//!   (a repeated segment is held once), 4.04 `FAILED MALFORMED` when it disagrees with its set,
//!   4.13 above `max_message_bytes` in total, 5.03 `SERVER_BUSY` with Max-Age at
//!   `reassembly_max_sets`/`reassembly_max_bytes`; the completing segment gets the verdict of
//!   routing the whole message and the originator a downlink `SEGCONFIR SUCCESS`. An incomplete
//!   set gets a `SEGREC` for its missing segments every third of `reassembly_timeout` (at most
//!   `segrec_retries`), then is dropped (`IMDN FAILURE SEGMENT_TIMEOUT` when delivery status was
//!   asked). The server never forwards segments: a copy above its UE recipient's segment size
//!   (`clientProfile.maxSegmentSize`, else `segment_size`; an AS gets it whole) goes out as
//!   segments, each an accepted copy, kept (`segmented_max_sets`) until the recipient's
//!   `SEGCONFIR` or twice `reassembly_timeout` to answer its `SEGREC` (the listed segments
//!   again, 2.04; 4.04 `UNKNOWN_MESSAGE` for an unknown set). A stored copy stays whole and is
//!   segmented at its flush. An AS's unsegmented `MSG` is bounded by `max_message_bytes`, not
//!   `max_payload_bytes`. Reassembly and the outgoing sets are in memory only.
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
//! - Aggregated downlink (23.554 §8.4.3): copies and reports toward a Gateway UE are queued per
//!   gateway and leave as one `AGGMSG`/`AGGIMDN` (one downlink slot, one Message ID) at
//!   `downlink_aggregate_max_entries`, before passing `downlink_aggregate_max_bytes`, after
//!   `downlink_aggregate_delay`, or at `handle_idle`; a lone copy goes single. Each element's
//!   verdict in the answer's `results` is its copy's outcome (module `aggregate_downlink`).
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
//! exchanges each ([`DedupCache`](crate::coap::dedup::DedupCache): least recently active peer
//! evicted, `dedup_evictions`; a peer's oldest exchange forgotten, `dedup_window_overflows`);
//! the Message ID allocator (for NON and separate responses and downlink requests) tracks at most `dedup_max_entries` (peer, MID) pairs; the
//! AS table holds `max_registrations`; the topic subscriptions are bounded per subscriber, per
//! topic and in distinct topics (`max_topics_per_subscriber`, `max_subscribers_per_topic`,
//! `max_topics`, counted in `topic_bound_hits`); downlink requests, the store and the recent-Message-ID
//! memory are bounded by their [`MessagingConfig`] settings; the outgoing queue holds
//! [`MAX_QUEUED_TRANSMITS`] datagrams (oldest dropped first, counted in `transmit_dropped`).
//!
//! # Files
//! - `core`: [`ServerCore`], its state and the sans-IO driving API; `driven`: the driver's view.
//! - `endpoint`: the CoAP message layer; `request`: dispatch by Message Type and the test hooks;
//!   `reply`: outcomes and answers; `error`: [`RequestError`].
//! - `registration` (UEs), `as_registration` (Application Servers), `auth` (credentials and
//!   policy), `registry` (the tables), `gateways` (Gateway UE endpoint groups), `identity`
//!   (what a coaps peer's PSK identity may act as, docs/PROTOCOL.md §19).
//! - `messaging` (`MSG`/`IMDN`/aggregate requests), `routing` (targets and copies), `reports`
//!   (`IMDN` forwarding and generated failures), `verdict`, `recent` (repeated messages),
//!   `topics` (messaging topic subscriptions, 23.554 §8.8).
//! - `segments` (received segments, `SEGREC`/`SEGCONFIR` sent) over `reassembly`;
//!   `segment_delivery` (copies sent as segments, `SEGREC`/`SEGCONFIR` answered) over
//!   `segmenting`.
//! - `delivery` (downlink requests and their outcomes) over `downlink` (the table);
//!   `aggregate_downlink` (copies toward a Gateway UE sent as one `AGGMSG`/`AGGIMDN`) over
//!   `aggregating` (the queues); `accepted`
//!   (copies in delivery); `forward` (store and forward) over `store` and `flush`.
//! - `persist` (restore and change tracking), `changes`, `records` (their encodings), `db`
//!   ([`ServerDb`]) and `wal`.
//! - `config` ([`ServerConfig`], [`MessagingConfig`]), `stats` ([`ServerStats`]).
//! - `configuration` and `provisioning`: the configuration management server (24.538 §6.2.1).

mod accepted;
mod aggregate_downlink;
mod aggregating;
mod as_registration;
mod auth;
mod changes;
mod config;
pub mod configuration;
mod core;
mod db;
mod delivery;
mod downlink;
mod driven;
mod endpoint;
mod error;
mod flush;
mod forward;
mod gateways;
mod identity;
mod messaging;
mod persist;
pub mod provisioning;
mod reassembly;
mod recent;
mod records;
mod registration;
mod registry;
mod reply;
mod reports;
mod request;
mod routing;
mod segment_delivery;
mod segmenting;
mod segments;
mod stats;
mod store;
#[cfg(test)]
mod tests;
mod topics;
mod verdict;
mod wal;

pub use self::core::{ServerCore, MAX_QUEUED_TRANSMITS};
pub use aggregating::AGGREGATE_FLUSH_REASONS;
pub use changes::ServerChanges;
pub use config::{
    MessagingConfig, ServerConfig, ServerPolicy, ServerTestHooks, AGGREGATOR_EXCHANGES_PER_PEER,
    DEFAULT_TOPIC_MAX_EXPIRATION_S, MAX_TOPIC_EXPIRATION_S,
};
pub use configuration::{ConfigServerConfig, ConfigServerCore, ConfigServerStats};
pub use db::{ServerDb, ServerSnapshot};
pub use driven::SERVER_SOCKET;
pub use error::RequestError;
pub use gateways::{MAX_GATEWAY_ENDPOINTS, MAX_KNOWN_GATEWAYS};
pub use persist::Restored;
pub use registration::STORE_FULL_MAX_AGE;
pub use registry::{DownlinkPath, Registration};
pub use stats::{RequestType, ServerStats, ANSWER_CLASSES, DOWNLINK_AGGREGATE_TYPES, TOPIC_BOUNDS};
