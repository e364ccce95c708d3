//! The reference server's configuration (README "Configuration" `[server]`): identity, bounds,
//! the per-entry policy (24.538 §6.3.1.2.2, TS 33.501 Annex Y.6), test hooks, and the messaging
//! settings (23.554 §8.3.6).

use crate::coap::block::BlockConfig;
use crate::coap::TransmissionParams;
use crate::dtls::DtlsServerConfig;
use crate::dtls::PskTable;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Default exchanges remembered per peer by the servers' duplicate detection (RFC 7252 §4.5):
/// a gateway uplink keeps up to `max_in_flight` bulks (256 per shard by default, spread over its uplinks) outstanding.
pub const AGGREGATOR_EXCHANGES_PER_PEER: usize = 256;

/// Default longest topic subscription in seconds (30 days; `server.topic_max_expiration_s`).
pub const DEFAULT_TOPIC_MAX_EXPIRATION_S: u64 = 30 * 24 * 3600;

/// Longest `server.topic_max_expiration_s` accepted (10 years).
pub const MAX_TOPIC_EXPIRATION_S: u64 = 10 * 365 * 24 * 3600;

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

/// Fault injection for tests and load tests (docs/PROTOCOL.md §15.3).
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
    /// The PSK identities (docs/PROTOCOL.md §19): what a coaps peer may act as, which are
    /// Gateway UEs. `Some` also makes the driver open the coaps socket on
    /// [`Self::coaps_listen`].
    pub psk: Option<Arc<PskTable>>,
    /// Where the driver binds the coaps socket, with [`Self::psk`].
    pub coaps_listen: SocketAddr,
    /// No plain listener (`server.require_security`): the plain socket is bound to loopback
    /// only (the embedding process's own gateway or relay), everyone else uses coaps.
    pub require_security: bool,
    /// DTLS bounds of the coaps socket (D14.5).
    pub dtls: DtlsServerConfig,
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
            psk: None,
            coaps_listen: crate::config::default_coaps_listen(),
            require_security: false,
            dtls: DtlsServerConfig::default(),
        }
    }
}

/// Messaging settings of the reference server (23.554 §8.3.6; docs/PROTOCOL.md §15.2).
#[derive(Debug, Clone, PartialEq)]
pub struct MessagingConfig {
    /// Static groups: Group Service ID to member UE Service IDs (docs/PROTOCOL.md §15.2).
    pub groups: BTreeMap<String, Vec<String>>,
    /// Most elements in one `AGGMSG`/`AGGIMDN`; larger get 4.13.
    pub max_aggregate_entries: usize,
    /// Largest decoded payload of one message in bytes (23.554 §8.5 default segment size);
    /// larger get `FAILED PAYLOAD_TOO_LARGE` (4.13 for a single `MSG`).
    pub max_payload_bytes: usize,
    /// Most downlink requests outstanding at once; beyond it a message is stored (with store
    /// and forward) or fails with `SERVER_BUSY`.
    pub max_outstanding_deliveries: usize,
    /// How long a separate response is awaited after the recipient's empty ACK.
    pub separate_response_timeout: Duration,
    /// Uri-Path of downlink requests.
    pub downlink_uri_path: String,
    /// Most stored messages per recipient.
    pub store_max_per_recipient: usize,
    /// Most stored messages in total.
    pub store_max_total: usize,
    /// Longest a message is stored (also caps a later `expirationTime`).
    pub store_max_time: Duration,
    /// Max-Age (seconds) on 5.03 answers to messages refused for lack of capacity.
    pub busy_max_age: u32,
    /// How many accepted (originator, Message ID) pairs are remembered to answer a repeated
    /// message with its first verdict instead of delivering it twice.
    pub recent_message_ids: usize,
    /// Most attempts of one downlink request over a gateway's endpoints: an endpoint that sent
    /// RST or no ACK is forgotten and the request re-sent on another (issue 9).
    pub delivery_attempts: usize,
    /// Largest decoded payload per segment toward a UE whose `clientProfile` has no
    /// `maxSegmentSize` (23.554 §8.5.1; docs/PROTOCOL.md §18.1): larger copies go as segments.
    pub segment_size: usize,
    /// Segment sizes of provisioned configurations by UE Service ID (the provisioning file's
    /// `segment_size`, 24.538 §7.2 `<Segment-size>`): used for a UE whose `clientProfile` has no
    /// `maxSegmentSize`, before `segment_size`.
    pub ue_segment_sizes: HashMap<String, usize>,
    /// Largest whole message in bytes: a reassembled set, or an unsegmented `MSG` from an AS
    /// (23.554 §8.5: the server segments A2P); larger fail with `PAYLOAD_TOO_LARGE`.
    pub max_message_bytes: usize,
    /// Most sets in reassembly at once; a segment of a further set gets 5.03 `SERVER_BUSY`.
    pub reassembly_max_sets: usize,
    /// Most decoded bytes held in reassembly in total; beyond it 5.03 `SERVER_BUSY`.
    pub reassembly_max_bytes: usize,
    /// How long a set may take to complete from its first segment (a `SEGREC` every third of
    /// it; dropped at its end).
    pub reassembly_timeout: Duration,
    /// Most `SEGREC`s sent for one incomplete set.
    pub segrec_retries: u32,
    /// Most outgoing sets kept to answer a recipient's `SEGREC` (oldest dropped beyond it).
    pub segmented_max_sets: usize,
    /// Most elements in one downlink `AGGMSG`/`AGGIMDN` toward a Gateway UE (23.554 §8.4.3;
    /// docs/PROTOCOL.md §15.2); 0 sends every copy as its own `MSG`/`IMDN`.
    pub downlink_aggregate_max_entries: usize,
    /// Largest JSON body of a downlink aggregate: a queue flushes before an element that would
    /// pass it, and an element larger on its own goes single.
    pub downlink_aggregate_max_bytes: usize,
    /// Longest a downlink copy waits in its aggregation queue (from the queue's first element).
    pub downlink_aggregate_delay: Duration,
    /// Static broadcast areas: area to member UE Service IDs (23.554 §8.3.2; the area
    /// definition is operator policy, docs/PROTOCOL.md §18.5).
    pub broadcast_areas: BTreeMap<String, Vec<String>>,
    /// Longest topic subscription granted (23.554 Table 8.8.1-1 `expiration`, operator policy):
    /// a later requested expiration is capped, an absent one gets this.
    pub topic_max_expiration: Duration,
    /// Most topics one subscriber holds; beyond it `TOPICSUB` gets 4.03 `POLICY_REJECT`.
    pub max_topics_per_subscriber: usize,
    /// Most subscribers of one topic; beyond it `TOPICSUB` gets 5.03 `STORE_FULL`.
    pub max_subscribers_per_topic: usize,
    /// Most distinct topics with subscribers; beyond it `TOPICSUB` gets 5.03 `STORE_FULL`.
    pub max_topics: usize,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig {
            groups: BTreeMap::new(),
            max_aggregate_entries: 1000,
            max_payload_bytes: 2048,
            max_outstanding_deliveries: 4096,
            separate_response_timeout: Duration::from_secs(93),
            downlink_uri_path: "msgin5g".to_string(),
            store_max_per_recipient: 100,
            store_max_total: 100_000,
            store_max_time: Duration::from_secs(24 * 3600),
            busy_max_age: 5,
            recent_message_ids: 65_536,
            delivery_attempts: 3,
            segment_size: crate::msg::DEFAULT_SEGMENT_PAYLOAD,
            ue_segment_sizes: HashMap::new(),
            max_message_bytes: 65_536,
            reassembly_max_sets: 10_000,
            reassembly_max_bytes: 64 << 20,
            reassembly_timeout: Duration::from_secs(30),
            segrec_retries: 2,
            segmented_max_sets: 10_000,
            downlink_aggregate_max_entries: 64,
            downlink_aggregate_max_bytes: 1024,
            downlink_aggregate_delay: Duration::from_millis(2),
            broadcast_areas: BTreeMap::new(),
            topic_max_expiration: Duration::from_secs(DEFAULT_TOPIC_MAX_EXPIRATION_S),
            max_topics_per_subscriber: 64,
            max_subscribers_per_topic: 100_000,
            max_topics: 100_000,
        }
    }
}
