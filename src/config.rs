//! The one configuration: TOML file + CLI flags, validated once into typed core configs.
//!
//! Load with [`Config::load`] (or [`Config::from_toml_str`]), apply flag overrides, call
//! [`Config::validate`] once, then hand [`Config::gateway_config`] / [`Config::server_config`] to
//! the cores. Every key, its default and its meaning are listed in [`EXAMPLE_TOML`]
//! (`msgin5g print-config`). Unknown keys are rejected; a missing key keeps its default.

use crate::coap::block::{szx_of, BlockConfig, MAX_SZX};
use crate::coap::TransmissionParams;
use crate::gateway::{AnswerMode, GatewayConfig};
use crate::net::{SocketOptions, DEFAULT_SOCKET_BUFFER, MAX_SHARDS};
use crate::server::configuration::{CONFIG_PORT, CONFIG_URI_PATH, DEFAULT_MAX_RESPONSE_BYTES};
use crate::server::provisioning::{AutoProvision, Provisioning, DEFAULT_AUTO_PROVISION_TEMPLATE};
use crate::server::{
    ConfigServerConfig, MessagingConfig, ServerConfig, ServerPolicy, ServerTestHooks,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod relay;
pub use relay::{RelaySection, MAX_RELAY_LINKS};

/// A commented configuration file listing every key with its default (`msgin5g print-config`).
///
/// Keys without a default value (optional) are shown commented out. Parsing this text yields
/// [`Config::default()`].
pub const EXAMPLE_TOML: &str = r#"# msgin5g configuration. Every key is optional; the values shown are the defaults.

[gateway]
# Device-facing UDP address (MSGin5G-6), shared by all shards with SO_REUSEPORT.
listen = "0.0.0.0:5683"
# MSGin5G Server address; when absent the reference server runs in-process on 127.0.0.1.
# upstream = "192.0.2.10:5683"
# Device-facing configuration UDP address (configuration GETs, 24.538 6.2; port 65401), shared
# by all shards with SO_REUSEPORT.
config_listen = "0.0.0.0:65401"
# Configuration management server for the devices' configuration requests (BULKCONF, or single
# GETs when bulking is off); default: the embedded server's configuration endpoint when there is
# no upstream, else the upstream host on port 65401.
# config_upstream = "192.0.2.10:65401"
# Number of shards (one thread and socket pair each), 1..=256; default: number of CPUs.
# shards = 2
# MSGin5G service identifier put in every payload.
service_id = "org.3gpp.msgin5g"
# The Gateway UE's own UE Service ID (gatewayUeServiceId in bulks).
gateway_ue_service_id = "msgin5g-gateway"
# Uri-Path of the MSGin5G Server resource.
server_uri_path = "msgin5g"
# Service policy allows bulking; when false every request is forwarded singly.
bulking_enabled = true
# Most entries in one bulk (>= 1).
max_batch_entries = 100
# Most bytes of one bulk's JSON payload, 64..=65000 (keep a bulk inside one datagram).
max_bulk_bytes = 1024
# Larger bulks and aggregates, up to this many bytes, go to the server in RFC 7959 Block1
# blocks of at most max_bulk_bytes (one exchange, one round trip per block) instead of being
# split into several bulks (one round trip each, in parallel); 0 = off, else
# max_bulk_bytes < n <= 1048576. The server must reassemble (its coap.block_max_body_bytes).
bulk_block1_bytes = 0
# Longest a non-urgent request waits for batching (> 0).
hold_time_ms = 500
# Safety margin before a request's waitTime deadline.
deadline_margin_ms = 200
# How long a CON's ACK is held hoping to piggyback the answer (< coap.ack_timeout_ms).
piggyback_window_ms = 1000
# How devices get their answer: "response" (RFC 7252 response) or "spec-post" (TS 24.538 POST).
answer_mode = "response"
# Most journaled requests per shard when persisting (accepted, acknowledged with an empty ACK or
# NON, not yet answered); a request that would need one more gets 5.03 at once.
max_journal = 65536
# When persisting: longest a UE-directory or report-route change may stay in a non-durable
# commit (lost with a kill -9) before it is made durable; journal records and Application Client
# registrations are always durable before the answer leaves. 0 = every commit durable.
persist_sync_ms = 1000
# Overload control, in-flight bound: most device requests accepted and not yet answered per
# shard; beyond it a new request gets 5.03 + Max-Age (GATEWAY_OVERLOAD).
max_pending = 65536
# Overload control, delay bound: a new device request that waited longer than this (kernel
# arrival to handling) gets 5.03 + Max-Age at once (a NON is dropped; past twice this a CON is
# dropped unanswered too). 1..piggyback_window_ms.
overload_delay_ms = 250
# Most bulks in flight toward the server per shard.
max_in_flight = 64
# Uplink sockets per shard, 1..=64: each is its own endpoint (and Message ID space) at the
# server, good for ~265 bulks/s under RFC 7252's no-reuse rule.
uplinks_per_shard = 8
# Give up on a bulk's answer after this long (MAX_TRANSMIT_WAIT).
bulk_response_timeout_ms = 93000
# Every device request's final answer leaves this long before the device gives up: receipt +
# MAX_TRANSMIT_WAIT (CON) or NON_LIFETIME (NON); then FAILURE/SERVER_TIMEOUT (5.04). Must be
# below MAX_TRANSMIT_WAIT of [coap].
answer_margin_ms = 2000
# The upstream counts as silent (one warning, one info line when it answers again) after this
# long without any datagram from it while requests are outstanding (> 0).
upstream_silent_ms = 15000
# While the upstream is silent, ping it (RFC 7252 §4.3) this often; when it answers, requests
# whose exchanges were lost in the silence go again at once (0: no pings, wait for the
# retransmissions).
upstream_probe_ms = 2000
# Max-Age in seconds on 5.03 overload answers (each answer: this ±50 %, so refused devices do
# not come back together).
overload_max_age_s = 5
# Overload control, latency bound: while the smoothed time from a request's receipt to its final
# answer is above this (the server or the upstream path is queueing), new requests get 5.03 +
# Max-Age (GATEWAY_OVERLOAD). Below piggyback_window_ms; 0 = off; default: half of
# piggyback_window_ms (500).
# overload_latency_ms = 500
# Most 5.03 answers per second per shard for requests shed by queueing delay; past it they are
# dropped unanswered (a drop costs the shard only its receive, an answer about as much as
# serving). At least 1.
overload_answer_rate = 5000
# Bound on the deduplication cache: devices (peers) remembered per shard (RFC 7252 §4.5); past
# it the least recently active device is forgotten.
dedup_max_entries = 1048576
# Exchanges remembered per device for duplicate detection (NSTART=1 needs one or two); a device
# starting more within EXCHANGE_LIFETIME has its oldest forgotten.
dedup_exchanges_per_peer = 4
# Bound on tracked Message IDs toward devices and the server (per shard).
mid_max_entries = 1048576
# When set, only these UE Service IDs may use the gateway (others get 4.03).
# allow_list = ["ue-1", "ue-2"]
# When set, only these Application IDs may register over MSGin5G-5 (others: NOT_ACCEPTED).
# app_allow_list = ["7", "weather"]
# Most Application Client registrations (MSGin5G-5) per gateway; beyond: GATEWAY_FULL.
max_app_registrations = 100000
# An Application Client registration with no request and no answer to a delivery for this long
# is removed, and its Application ID may be registered from another address (0: never).
app_idle_expiry_s = 86400
# Most MSGin5G-6 UEs remembered for downlink routing per gateway.
max_clients = 2000000
# Most messages remembered to route their delivery reports back to the sending AC.
max_report_routes = 100000
# Most delivered messages remembered per shard to address an AC's delivery report.
max_delivered = 65536
# How long a downlink delivery waits for the device before the server hears 5.03.
delivery_timeout_ms = 60000
# Register the gateway's own UE Service ID with the server at start (23.554 8.2.7).
register_self = true
# Credential sent (ueCredentialInfo, authType TOKEN) in the gateway's own REG, for a server that
# has one provisioned for gateway_ue_service_id (24.538 6.3.1.2.2); default: none.
# credential = "gateway-secret"
# Shortest interval between two own registrations sent again because the server answered
# NOT_REGISTERED for the gateway (it lost its state); the refused AC messages are re-sent once.
reregistration_holdoff_ms = 1000
# On Ctrl-C, how long to wait for pending requests to get their answers.
drain_timeout_ms = 10000
# Seconds between activity summary log lines (requests, answers, failures, pending, upstream
# RTT; none while idle); a totals line is logged at exit either way. 0 = no summary lines.
summary_interval_s = 60
# Requested SO_RCVBUF/SO_SNDBUF per socket (0 = system default); small buffers drop bursts.
recv_buffer_bytes = 4194304
# TCP address serving Prometheus metrics at GET /metrics (gateway, embedded server, kernel UDP
# drops); when absent no metrics listener runs.
# metrics_listen = "127.0.0.1:9464"
# Directory of the gateway's persistent state (Application Client registrations, UE directory,
# report routes, journal of unanswered requests; file gateway.redb), created if missing;
# relative to the working directory. "" keeps the state in memory only (lost at exit).
data_dir = "msgin5g-data/gateway"

[server]
# UDP address of the standalone reference server (`msgin5g server`).
listen = "0.0.0.0:5683"
# MSGin5G service identifier put in every payload.
service_id = "org.3gpp.msgin5g"
# The resource path requests must carry (Uri-Path).
uri_path = "msgin5g"
# Largest bulk accepted; larger bulks get 4.13.
max_bulk_entries = 1000
# Bound on the registration table; entries beyond it fail with STORE_FULL.
max_registrations = 10000000
# Bound on the deduplication cache: peers remembered (RFC 7252 §4.5).
dedup_max_entries = 1048576
# Exchanges remembered per peer (gateway uplinks keep many bulks outstanding).
dedup_exchanges_per_peer = 256
# UE Service IDs that are always refused (FAILURE, UNAUTHORIZED).
denied_ue_service_ids = []
# When set, a TOKEN ueCredentialInfo must carry this credential, and requests without one fail.
# A UE with a credential in the provisioning file must carry that one instead, in every REG/DEREG
# (also inside bulks). With neither, identities are not verified (logged at start).
# required_token = "secret"
# When set, only these gateway UE Service IDs may send bulks and aggregates (others get 4.03).
# allowed_gateways = ["msgin5g-gateway"]
# TCP address serving Prometheus metrics at GET /metrics (`msgin5g server`); absent: none.
# metrics_listen = "127.0.0.1:9465"
# Static groups: Group Service ID = member UE Service IDs (group messages fan out to members).
groups = {}
# groups = { "grp-1" = ["ue-1", "ue-2"] }
# Most elements in one AGGMSG/AGGIMDN; larger aggregates get 4.13.
max_aggregate_entries = 1000
# Largest decoded message payload in bytes; larger messages fail with PAYLOAD_TOO_LARGE.
max_payload_bytes = 2048
# Most downlink MSG/IMDN requests outstanding; beyond it messages are stored or fail (5.03).
max_outstanding_deliveries = 4096
# How long a separate response is awaited after a recipient's empty ACK.
separate_response_timeout_ms = 93000
# Uri-Path of downlink MSG/IMDN requests.
downlink_uri_path = "msgin5g"
# Store and forward: most stored messages per recipient, in total, and longest storage time.
store_max_per_recipient = 100
store_max_total = 100000
store_max_time_s = 86400
# Max-Age in seconds on 5.03 answers to messages refused for lack of capacity.
busy_max_age_s = 5
# Accepted (originator, messageId) pairs remembered so a repeated message is not delivered twice.
recent_message_ids = 65536
# Most attempts of one downlink request over a gateway's uplink endpoints: an endpoint that sent
# RST or no ACK is forgotten and the request re-sent on another.
delivery_attempts = 3
# Directory of the standalone server's persistent state (registrations and stored messages,
# file server.redb), created if missing; relative to the working directory. "" keeps the state
# in memory only (lost at exit). The gateway's and relay's embedded server is always in memory.
data_dir = "msgin5g-data/server"
# UDP address of the configuration management server (24.538 6.2.1: CoAP GET
# /msgin5g-config?ueid=<MSGin5G UE ID>, and BULKCONF), run by `msgin5g server`.
config_listen = "0.0.0.0:65401"
# Uri-Path of the configuration resource.
config_uri_path = "msgin5g-config"
# Provisioning file (TOML: [ue."<MSGin5G UE ID>"] ue_service_id, server_address?, segment_size?,
# credential?, allowed?); without it only the auto-provision rule hands out configurations. A UE's
# credential is also required in its REG/DEREG to the messaging server (24.538 §6.3.1.2.2).
# provisioning = "/etc/msgin5g/provisioning.toml"
# Configure UE IDs the file does not list with auto_provision_template; default: on without a
# provisioning file, off with one.
# auto_provision = true
# UE Service ID given by the auto-provision rule ({ueid} is replaced by the MSGin5G UE ID).
auto_provision_template = "ue-{ueid}"
# msgin5gServerAddress handed out (when an entry has none); default
# coap://<server.listen, unspecified as loopback>/<server.uri_path>.
# public_address = "coap://192.0.2.10:5683/msgin5g"
# Most UEs in the provisioning file; a larger file is refused at start.
max_provisioned = 1000000
# Largest BULKCONF accepted; larger bulks get 4.13.
config_max_bulk_entries = 1000
# Largest configuration answer payload in bytes (256..=65000); a larger BULKCONFRESP is 4.13.
config_max_response_bytes = 65000

[relay]
# Device-facing UDP address for messaging (relayed messages' port is FFS in 24.538: 5683).
listen = "0.0.0.0:5683"
# Device-facing UDP address for configuration GETs (24.538 6.2.2.1: 65401).
config_listen = "0.0.0.0:65401"
# MSGin5G Server address; when absent the reference server runs in-process on 127.0.0.1.
# upstream = "192.0.2.10:5683"
# Configuration server address; default: the upstream's host on port 65401 (or the embedded one).
# config_upstream = "192.0.2.10:65401"
# Most links (constrained UEs) at once; each link is one uplink socket (one descriptor, one port).
max_links = 10000
# A link without traffic either way for this long ends.
link_idle_timeout_ms = 300000
# An ended link keeps its uplink endpoint this long: late server requests get 4.04 and the UE
# coming back keeps its endpoint.
unlinked_grace_ms = 60000
# Most device requests awaiting their answer, over all links and per link.
max_exchanges = 1048576
max_link_exchanges = 32
# Most datagrams queued per link while its uplink endpoint opens.
max_link_queue = 8
# When set, only devices with these IP addresses are linked (others are ignored).
# allow_list = ["192.0.2.7", "2001:db8::7"]
# Answer a server CON request for a UE that is not linked with 4.04 (24.538 6.4.2.4.1).
not_found_to_server = true
# Local IP of the uplink endpoints; default: loopback for a loopback upstream, else any address.
# uplink_bind = "192.0.2.1"
# Inclusive port range of the uplink endpoints (link slot n binds start + n); it must hold at least
# max_links ports. Default: ephemeral ports.
# uplink_ports = [40000, 49999]
# Max-Age in seconds on 5.03 answers when a bound is hit (each answer: this ±50 %).
overload_max_age_s = 5
# Overload control: a new device request that waited longer than this in the relay's socket
# buffer gets 5.03 + Max-Age from the relay itself (a NON is dropped; past twice this a CON is
# dropped unanswered too); >= 1.
overload_delay_ms = 250
# Most such 5.03 answers per second; past it the request is dropped unanswered. >= 1.
overload_answer_rate = 5000
# TCP address serving Prometheus metrics at GET /metrics (`msgin5g relay`); absent: none.
# metrics_listen = "127.0.0.1:9466"
# Directory of the relay's link table (UE address -> uplink port, last activity; file
# relay.redb), created if missing; relative to the working directory. After a restart the links
# come back on the same uplink ports. "" keeps the links in memory only.
data_dir = "msgin5g-data/relay"

[coap]
# ACK_TIMEOUT (RFC 7252 §4.8), 1..=300000.
ack_timeout_ms = 2000
# ACK_RANDOM_FACTOR (>= 1.0).
ack_random_factor = 1.5
# MAX_RETRANSMIT, 0..=20.
max_retransmit = 4
# Largest request datagram (header, options, payload) the server, the configuration server and
# the gateway's device sockets accept; a larger one gets 4.13 with Size1 (RFC 7959 §4).
# 1152..=65507, and at least gateway.max_bulk_bytes + 512 (a bulk must fit). It bounds each
# datagram, so each Block1 block (a 1024-byte block always fits 1152, RFC 7252 §4.6); a body
# reassembled from blocks is bounded by block_max_body_bytes instead.
max_request_bytes = 8192
# Block-wise transfer (RFC 7959), per core (gateway device socket, server, configuration
# server). Preferred block size in bytes (16, 32, ..., 1024): a client's smaller size wins.
block_size = 1024
# Block1 bodies being reassembled, and Block2 answers being fetched, per core; a new Block1
# transfer beyond it gets 5.03 + Max-Age, a cached answer beyond it drops the oldest.
block_max_transfers = 1024
# Largest request body reassembled from Block1 blocks; larger: 4.13 with Size1 (also at once
# when the first block's Size1 announces more). A gateway also fetches no larger Block2 answer.
block_max_body_bytes = 65000
# Bytes held by one core's Block1 table, and by its Block2 cache (>= block_max_body_bytes).
block_max_total_bytes = 16777216
# A transfer is dropped this long after its last block (Block1: then 4.08; Block2: a GET is
# served afresh, a POST gets 4.08); >= 1.
block_lifetime_ms = 60000
# Answers with a body larger than this go Block2 even when the request did not ask (a gateway
# fetches the blocks of its bulk answers).
block_auto_bytes = 65000
"#;

/// Why a configuration was refused; the message names the file or the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type.
    #[error("{origin}: {source}")]
    Parse {
        /// The file name, or "configuration" for a string.
        origin: String,
        /// The parser's error (names the key and shows the line).
        source: toml::de::Error,
    },
    /// A value is outside its allowed range.
    #[error("{field}: {reason}")]
    Invalid {
        /// `section.key` of the offending value.
        field: &'static str,
        /// What is required of it.
        reason: String,
    },
}

/// The whole configuration: `[gateway]`, `[server]`, `[relay]` and `[coap]` sections.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Gateway UE settings.
    pub gateway: GatewaySection,
    /// Reference server settings (standalone, or embedded when the gateway has no upstream).
    pub server: ServerSection,
    /// Relay UE settings.
    pub relay: RelaySection,
    /// CoAP transmission parameters shared by gateway and server.
    pub coap: CoapSection,
}

/// How devices learn the outcome of a bulked request (maps to [`AnswerMode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerModeSetting {
    /// RFC 7252 response (piggybacked or separate).
    #[default]
    Response,
    /// The spec-literal POST reusing the device's Message ID and Token.
    SpecPost,
}

impl From<AnswerModeSetting> for AnswerMode {
    fn from(setting: AnswerModeSetting) -> AnswerMode {
        match setting {
            AnswerModeSetting::Response => AnswerMode::Response,
            AnswerModeSetting::SpecPost => AnswerMode::SpecPost,
        }
    }
}

/// `[gateway]`: see [`EXAMPLE_TOML`] for each key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySection {
    /// Device-facing UDP address.
    pub listen: SocketAddr,
    /// MSGin5G Server address; `None` runs the reference server in-process.
    pub upstream: Option<SocketAddr>,
    /// Device-facing configuration UDP address (24.538 §6.2.1, port 65401).
    pub config_listen: SocketAddr,
    /// Configuration management server; `None`: the embedded server's, or the upstream host on
    /// port 65401.
    pub config_upstream: Option<SocketAddr>,
    /// Number of shards; `None` means the number of CPUs.
    pub shards: Option<usize>,
    /// MSGin5G service identifier.
    pub service_id: String,
    /// The Gateway UE's own UE Service ID.
    pub gateway_ue_service_id: String,
    /// Uri-Path of the server resource.
    pub server_uri_path: String,
    /// Whether bulking is allowed.
    pub bulking_enabled: bool,
    /// Most entries in one bulk.
    pub max_batch_entries: usize,
    /// Most bytes of one bulk's JSON payload.
    pub max_bulk_bytes: usize,
    /// Larger bulks up to this size go Block1 (0 = off).
    pub bulk_block1_bytes: usize,
    /// Longest hold for batching, in milliseconds.
    pub hold_time_ms: u64,
    /// Margin before a `waitTime` deadline, in milliseconds.
    pub deadline_margin_ms: u64,
    /// Piggyback window for held ACKs, in milliseconds.
    pub piggyback_window_ms: u64,
    /// How devices get their answer.
    pub answer_mode: AnswerModeSetting,
    /// Most device requests in flight (accepted, not yet answered) per shard.
    pub max_pending: usize,
    /// Most journaled requests per shard (persistence).
    pub max_journal: usize,
    /// Longest a directory change stays non-durable, in milliseconds.
    pub persist_sync_ms: u64,
    /// Queueing delay above which a new device request is shed, in milliseconds.
    pub overload_delay_ms: u64,
    /// Most bulks in flight per shard.
    pub max_in_flight: usize,
    /// Uplink sockets per shard.
    pub uplinks_per_shard: usize,
    /// Bulk answer timeout, in milliseconds.
    pub bulk_response_timeout_ms: u64,
    /// Margin before each device's give-up time (receipt + MAX_TRANSMIT_WAIT or NON_LIFETIME),
    /// in milliseconds.
    pub answer_margin_ms: u64,
    /// Silence from the upstream, while requests are outstanding, that is logged, in
    /// milliseconds.
    pub upstream_silent_ms: u64,
    /// Ping interval toward a silent upstream, in milliseconds (0: off).
    pub upstream_probe_ms: u64,
    /// Max-Age on 5.03 answers, in seconds.
    pub overload_max_age_s: u32,
    /// Most 5.03 answers per second per shard for requests shed by queueing delay.
    pub overload_answer_rate: u32,
    /// Smoothed answer latency above which new requests are refused, in milliseconds (0: off;
    /// absent: half of `piggyback_window_ms`).
    pub overload_latency_ms: Option<u64>,
    /// Deduplication cache bound (peers).
    pub dedup_max_entries: usize,
    /// Exchanges remembered per device for duplicate detection.
    pub dedup_exchanges_per_peer: usize,
    /// Message ID tracking bound.
    pub mid_max_entries: usize,
    /// UE Service IDs allowed to use the gateway; `None` allows all.
    pub allow_list: Option<Vec<String>>,
    /// Application IDs allowed to register over MSGin5G-5; `None` allows all.
    pub app_allow_list: Option<Vec<String>>,
    /// Most Application Client registrations per gateway.
    pub max_app_registrations: usize,
    /// Seconds without activity after which an AC registration expires (0: never).
    pub app_idle_expiry_s: u64,
    /// Most MSGin5G-6 UEs remembered for downlink routing.
    pub max_clients: usize,
    /// Most report routes remembered.
    pub max_report_routes: usize,
    /// Most delivered messages remembered per shard for AC reports.
    pub max_delivered: usize,
    /// Downlink delivery timeout, in milliseconds.
    pub delivery_timeout_ms: u64,
    /// Register the gateway itself with the server at start.
    pub register_self: bool,
    /// The credential in the gateway's own `REG` (`None`: none sent).
    pub credential: Option<String>,
    /// Hold-off between own re-registrations after NOT_REGISTERED, in milliseconds.
    pub reregistration_holdoff_ms: u64,
    /// Drain time on shutdown, in milliseconds.
    pub drain_timeout_ms: u64,
    /// Seconds between activity summary log lines (0: none).
    pub summary_interval_s: u64,
    /// Requested socket buffer sizes in bytes (0 = system default).
    pub recv_buffer_bytes: usize,
    /// Prometheus `/metrics` listener (TCP); `None` runs none.
    pub metrics_listen: Option<SocketAddr>,
    /// Persistent state directory of the gateway; empty: in memory only.
    pub data_dir: PathBuf,
}

impl Default for GatewaySection {
    fn default() -> Self {
        let core = GatewayConfig::default();
        GatewaySection {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5683),
            upstream: None,
            config_listen: SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                crate::gateway::DEFAULT_CONFIG_PORT,
            ),
            config_upstream: None,
            shards: None,
            service_id: core.service_id,
            gateway_ue_service_id: core.gateway_ue_service_id,
            server_uri_path: core.server_uri_path,
            bulking_enabled: core.bulking_enabled,
            max_batch_entries: core.max_batch_entries,
            max_bulk_bytes: core.max_bulk_bytes,
            bulk_block1_bytes: core.bulk_block1_bytes,
            hold_time_ms: millis(core.hold_time),
            deadline_margin_ms: millis(core.deadline_margin),
            piggyback_window_ms: millis(core.piggyback_window),
            answer_mode: match core.answer_mode {
                AnswerMode::Response => AnswerModeSetting::Response,
                AnswerMode::SpecPost => AnswerModeSetting::SpecPost,
            },
            max_pending: core.max_pending,
            max_journal: core.max_journal,
            persist_sync_ms: millis(core.persist_sync),
            overload_delay_ms: millis(core.overload_delay),
            max_in_flight: core.max_in_flight,
            uplinks_per_shard: core.uplinks_per_shard,
            bulk_response_timeout_ms: millis(core.bulk_response_timeout),
            answer_margin_ms: millis(core.answer_margin),
            upstream_silent_ms: millis(core.upstream_silent_after),
            upstream_probe_ms: millis(core.upstream_probe_interval),
            overload_max_age_s: core.overload_max_age,
            overload_answer_rate: core.overload_answer_rate,
            overload_latency_ms: None,
            dedup_max_entries: core.dedup_max_entries,
            dedup_exchanges_per_peer: core.dedup_exchanges_per_peer,
            mid_max_entries: core.mid_max_entries,
            allow_list: None,
            app_allow_list: None,
            max_app_registrations: core.max_app_registrations,
            app_idle_expiry_s: core.app_idle_expiry.as_secs(),
            max_clients: core.max_clients,
            max_report_routes: core.max_report_routes,
            max_delivered: core.max_delivered,
            delivery_timeout_ms: millis(core.delivery_timeout),
            register_self: core.register_self,
            credential: core.credential,
            reregistration_holdoff_ms: millis(core.reregistration_holdoff),
            drain_timeout_ms: 10_000,
            summary_interval_s: 60,
            recv_buffer_bytes: DEFAULT_SOCKET_BUFFER,
            metrics_listen: None,
            data_dir: PathBuf::from(DEFAULT_GATEWAY_DATA_DIR),
        }
    }
}

/// Default `gateway.data_dir`, relative to the working directory.
pub const DEFAULT_GATEWAY_DATA_DIR: &str = "msgin5g-data/gateway";

/// Default `server.data_dir`, relative to the working directory.
pub const DEFAULT_SERVER_DATA_DIR: &str = "msgin5g-data/server";

/// `[server]`: see [`EXAMPLE_TOML`] for each key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// UDP address of the standalone server.
    pub listen: SocketAddr,
    /// MSGin5G service identifier.
    pub service_id: String,
    /// Uri-Path requests must carry.
    pub uri_path: String,
    /// Largest bulk accepted.
    pub max_bulk_entries: usize,
    /// Registration table bound.
    pub max_registrations: usize,
    /// Deduplication cache bound (peers).
    pub dedup_max_entries: usize,
    /// Exchanges remembered per peer for duplicate detection.
    pub dedup_exchanges_per_peer: usize,
    /// UE Service IDs always refused.
    pub denied_ue_service_ids: Vec<String>,
    /// Token credential required of every request, if any.
    pub required_token: Option<String>,
    /// Gateways allowed to send bulks and aggregates; `None` allows all.
    pub allowed_gateways: Option<Vec<String>>,
    /// Prometheus `/metrics` listener (TCP) of the standalone server; `None` runs none.
    pub metrics_listen: Option<SocketAddr>,
    /// Static groups: Group Service ID to member UE Service IDs.
    pub groups: BTreeMap<String, Vec<String>>,
    /// Most elements in one aggregate.
    pub max_aggregate_entries: usize,
    /// Largest decoded message payload in bytes.
    pub max_payload_bytes: usize,
    /// Most downlink requests outstanding.
    pub max_outstanding_deliveries: usize,
    /// Wait for a separate response after an empty ACK, in milliseconds.
    pub separate_response_timeout_ms: u64,
    /// Uri-Path of downlink requests.
    pub downlink_uri_path: String,
    /// Most stored messages per recipient.
    pub store_max_per_recipient: usize,
    /// Most stored messages in total.
    pub store_max_total: usize,
    /// Longest storage time in seconds.
    pub store_max_time_s: u64,
    /// Max-Age on 5.03 answers to messages refused for lack of capacity.
    pub busy_max_age_s: u32,
    /// Remembered accepted (originator, messageId) pairs.
    pub recent_message_ids: usize,
    /// Most attempts of one downlink request over a gateway's endpoints.
    pub delivery_attempts: usize,
    /// Persistent state directory of the standalone server; empty: in memory only.
    pub data_dir: PathBuf,
    /// UDP address of the configuration management server.
    pub config_listen: SocketAddr,
    /// Uri-Path of the configuration resource.
    pub config_uri_path: String,
    /// Provisioning file; `None`: the auto-provision rule only.
    pub provisioning: Option<PathBuf>,
    /// Auto-provision unlisted UE IDs; `None`: on without a provisioning file, off with one.
    pub auto_provision: Option<bool>,
    /// UE Service ID template of the auto-provision rule (contains `{ueid}`).
    pub auto_provision_template: String,
    /// `msgin5gServerAddress` handed out; `None`: derived from `listen` and `uri_path`.
    pub public_address: Option<String>,
    /// Most UEs in the provisioning file.
    pub max_provisioned: usize,
    /// Largest `BULKCONF` accepted.
    pub config_max_bulk_entries: usize,
    /// Largest configuration answer payload in bytes.
    pub config_max_response_bytes: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        let core = ServerConfig::default();
        let m = core.messaging;
        ServerSection {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5683),
            service_id: core.service_id,
            uri_path: core.uri_path,
            max_bulk_entries: core.max_bulk_entries,
            max_registrations: core.max_registrations,
            dedup_max_entries: core.dedup_max_entries,
            dedup_exchanges_per_peer: core.dedup_exchanges_per_peer,
            denied_ue_service_ids: Vec::new(),
            required_token: None,
            allowed_gateways: None,
            metrics_listen: None,
            groups: m.groups,
            max_aggregate_entries: m.max_aggregate_entries,
            max_payload_bytes: m.max_payload_bytes,
            max_outstanding_deliveries: m.max_outstanding_deliveries,
            separate_response_timeout_ms: m.separate_response_timeout.as_millis() as u64,
            downlink_uri_path: m.downlink_uri_path,
            store_max_per_recipient: m.store_max_per_recipient,
            store_max_total: m.store_max_total,
            store_max_time_s: m.store_max_time.as_secs(),
            busy_max_age_s: m.busy_max_age,
            recent_message_ids: m.recent_message_ids,
            delivery_attempts: m.delivery_attempts,
            data_dir: PathBuf::from(DEFAULT_SERVER_DATA_DIR),
            config_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), CONFIG_PORT),
            config_uri_path: CONFIG_URI_PATH.to_string(),
            provisioning: None,
            auto_provision: None,
            auto_provision_template: DEFAULT_AUTO_PROVISION_TEMPLATE.to_string(),
            public_address: None,
            max_provisioned: DEFAULT_MAX_PROVISIONED,
            config_max_bulk_entries: 1000,
            config_max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

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

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Most uplink sockets one shard opens.
pub const MAX_UPLINKS_PER_SHARD: usize = 64;

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn at_least_one(field: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(invalid(field, "must be at least 1"));
    }
    Ok(())
}

fn not_empty(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    Ok(())
}

/// A TCP listener address must be unicast (or unspecified): multicast and broadcast cannot be
/// bound for a stream socket.
fn listener_address(field: &'static str, addr: Option<SocketAddr>) -> Result<(), ConfigError> {
    let Some(addr) = addr else {
        return Ok(());
    };
    let broadcast = matches!(addr.ip(), IpAddr::V4(ip) if ip.is_broadcast());
    if addr.ip().is_multicast() || broadcast {
        return Err(invalid(field, "must be a unicast address"));
    }
    Ok(())
}

fn no_empty_entries(field: &'static str, values: Option<&Vec<String>>) -> Result<(), ConfigError> {
    if values.is_some_and(|list| list.iter().any(String::is_empty)) {
        return Err(invalid(field, "entries must not be empty"));
    }
    Ok(())
}

/// Default `server.max_provisioned`.
pub const DEFAULT_MAX_PROVISIONED: usize = 1_000_000;
/// Smallest `server.config_max_response_bytes` (room for one configuration).
pub const MIN_CONFIG_RESPONSE_BYTES: usize = 256;

/// Largest `max_bulk_bytes`: a bulk must fit one UDP datagram with its CoAP header.
pub const MAX_BULK_BYTES: usize = 65_000;
/// Largest `gateway.bulk_block1_bytes` (1 MiB).
pub const MAX_BLOCK1_BULK_BYTES: usize = 1 << 20;
/// Smallest `max_bulk_bytes`: room for a bulk header and one entry.
pub const MIN_BULK_BYTES: usize = 64;
/// Smallest `coap.max_request_bytes` (RFC 7252 §4.6: 1152 bytes fit any path).
pub const MIN_REQUEST_BYTES: usize = 1152;
/// Largest `coap.max_request_bytes` (the largest UDP payload over IPv4).
pub const MAX_REQUEST_BYTES: usize = 65_507;
/// Room for a bulk's CoAP header and options beside `gateway.max_bulk_bytes` of JSON.
pub const BULK_DATAGRAM_OVERHEAD: usize = 512;
/// Largest `gateway.summary_interval_s` (one day).
pub const MAX_SUMMARY_INTERVAL_S: u64 = 86_400;
/// Largest `coap.max_retransmit` (2^(n+1) stays far from overflow).
pub const MAX_RETRANSMIT: u32 = 20;
/// Largest `coap.ack_timeout_ms` (5 minutes).
pub const MAX_ACK_TIMEOUT_MS: u64 = 300_000;
/// Smallest non-zero `gateway.recv_buffer_bytes`.
pub const MIN_SOCKET_BUFFER: usize = 4096;
/// Largest `gateway.recv_buffer_bytes` (1 GiB).
pub const MAX_SOCKET_BUFFER: usize = 1 << 30;

impl Config {
    /// Parse TOML text (no validation; call [`Config::validate`] after applying overrides).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            origin: "configuration".to_string(),
            source,
        })
    }

    /// Read and parse a TOML file (no validation).
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            origin: path.display().to_string(),
            source,
        })
    }

    /// Check every value against its allowed range; the first offending field is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let g = &self.gateway;
        let s = &self.server;
        let c = &self.coap;

        // [coap] first: gateway checks compare against it.
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

        if let Some(upstream) = g.upstream {
            if upstream.port() == 0 {
                return Err(invalid("gateway.upstream", "port must not be 0"));
            }
            if upstream.ip().is_unspecified() {
                return Err(invalid(
                    "gateway.upstream",
                    "must not be an unspecified address",
                ));
            }
        }
        if let Some(upstream) = g.config_upstream {
            if upstream.port() == 0 {
                return Err(invalid("gateway.config_upstream", "port must not be 0"));
            }
            if upstream.ip().is_unspecified() {
                return Err(invalid(
                    "gateway.config_upstream",
                    "must not be an unspecified address",
                ));
            }
        }
        if g.config_listen == g.listen && g.listen.port() != 0 {
            return Err(invalid(
                "gateway.config_listen",
                "must differ from gateway.listen",
            ));
        }
        if let Some(shards) = g.shards {
            if !(1..=MAX_SHARDS).contains(&shards) {
                return Err(invalid(
                    "gateway.shards",
                    format!("must be between 1 and {MAX_SHARDS}"),
                ));
            }
        }
        not_empty("gateway.service_id", &g.service_id)?;
        not_empty("gateway.gateway_ue_service_id", &g.gateway_ue_service_id)?;
        if g.gateway_ue_service_id.len() > crate::msg::MAX_UE_SERVICE_ID_LEN {
            return Err(invalid(
                "gateway.gateway_ue_service_id",
                format!(
                    "must be at most {} bytes (a UE Service ID)",
                    crate::msg::MAX_UE_SERVICE_ID_LEN
                ),
            ));
        }
        if let Some(credential) = &g.credential {
            not_empty("gateway.credential", credential)?;
        }
        not_empty("gateway.server_uri_path", &g.server_uri_path)?;
        at_least_one("gateway.max_batch_entries", g.max_batch_entries)?;
        if !(MIN_BULK_BYTES..=MAX_BULK_BYTES).contains(&g.max_bulk_bytes) {
            return Err(invalid(
                "gateway.max_bulk_bytes",
                format!("must be between {MIN_BULK_BYTES} and {MAX_BULK_BYTES}"),
            ));
        }
        if g.max_bulk_bytes.saturating_add(BULK_DATAGRAM_OVERHEAD) > c.max_request_bytes {
            return Err(invalid(
                "coap.max_request_bytes",
                format!(
                    "must be at least gateway.max_bulk_bytes + {BULK_DATAGRAM_OVERHEAD} ({}): \
                     the server must accept the gateway's bulks",
                    g.max_bulk_bytes.saturating_add(BULK_DATAGRAM_OVERHEAD)
                ),
            ));
        }
        if g.summary_interval_s > MAX_SUMMARY_INTERVAL_S {
            return Err(invalid(
                "gateway.summary_interval_s",
                format!("must be at most {MAX_SUMMARY_INTERVAL_S} (0: no summary lines)"),
            ));
        }
        if g.bulk_block1_bytes != 0
            && !(g.max_bulk_bytes + 1..=MAX_BLOCK1_BULK_BYTES).contains(&g.bulk_block1_bytes)
        {
            return Err(invalid(
                "gateway.bulk_block1_bytes",
                format!("must be 0 or above max_bulk_bytes and at most {MAX_BLOCK1_BULK_BYTES}"),
            ));
        }
        if g.hold_time_ms == 0 {
            return Err(invalid("gateway.hold_time_ms", "must be greater than 0"));
        }
        if g.piggyback_window_ms >= c.ack_timeout_ms {
            return Err(invalid(
                "gateway.piggyback_window_ms",
                format!(
                    "must be less than coap.ack_timeout_ms ({})",
                    c.ack_timeout_ms
                ),
            ));
        }
        at_least_one("gateway.max_pending", g.max_pending)?;
        at_least_one(
            "gateway.overload_answer_rate",
            g.overload_answer_rate as usize,
        )?;
        if g.overload_latency_ms
            .is_some_and(|ms| ms >= g.piggyback_window_ms)
        {
            return Err(invalid(
                "gateway.overload_latency_ms",
                "must be below gateway.piggyback_window_ms (0 = off)",
            ));
        }
        at_least_one("gateway.max_journal", g.max_journal)?;
        if g.overload_delay_ms == 0 || g.overload_delay_ms >= g.piggyback_window_ms {
            return Err(invalid(
                "gateway.overload_delay_ms",
                format!(
                    "must be between 1 and gateway.piggyback_window_ms ({}) exclusive",
                    g.piggyback_window_ms
                ),
            ));
        }
        at_least_one("gateway.max_in_flight", g.max_in_flight)?;
        at_least_one("gateway.max_app_registrations", g.max_app_registrations)?;
        at_least_one("gateway.max_clients", g.max_clients)?;
        at_least_one("gateway.max_report_routes", g.max_report_routes)?;
        at_least_one("gateway.max_delivered", g.max_delivered)?;
        if g.delivery_timeout_ms == 0 {
            return Err(invalid(
                "gateway.delivery_timeout_ms",
                "must be greater than 0",
            ));
        }
        if !(1..=MAX_UPLINKS_PER_SHARD).contains(&g.uplinks_per_shard) {
            return Err(invalid(
                "gateway.uplinks_per_shard",
                format!("must be between 1 and {MAX_UPLINKS_PER_SHARD}"),
            ));
        }
        if g.bulk_response_timeout_ms == 0 {
            return Err(invalid(
                "gateway.bulk_response_timeout_ms",
                "must be greater than 0",
            ));
        }
        let max_transmit_wait = millis(self.transmission_params().max_transmit_wait());
        if g.answer_margin_ms >= max_transmit_wait {
            return Err(invalid(
                "gateway.answer_margin_ms",
                format!("must be below MAX_TRANSMIT_WAIT ({max_transmit_wait} ms from [coap])"),
            ));
        }
        if g.upstream_silent_ms == 0 {
            return Err(invalid(
                "gateway.upstream_silent_ms",
                "must be greater than 0",
            ));
        }
        at_least_one("gateway.dedup_max_entries", g.dedup_max_entries)?;
        at_least_one(
            "gateway.dedup_exchanges_per_peer",
            g.dedup_exchanges_per_peer,
        )?;
        at_least_one("gateway.mid_max_entries", g.mid_max_entries)?;
        no_empty_entries("gateway.allow_list", g.allow_list.as_ref())?;
        no_empty_entries("gateway.app_allow_list", g.app_allow_list.as_ref())?;
        if g.recv_buffer_bytes != 0
            && !(MIN_SOCKET_BUFFER..=MAX_SOCKET_BUFFER).contains(&g.recv_buffer_bytes)
        {
            return Err(invalid(
                "gateway.recv_buffer_bytes",
                format!(
                    "must be 0 (system default) or between {MIN_SOCKET_BUFFER} and {MAX_SOCKET_BUFFER}"
                ),
            ));
        }

        listener_address("gateway.metrics_listen", g.metrics_listen)?;

        not_empty("server.service_id", &s.service_id)?;
        not_empty("server.uri_path", &s.uri_path)?;
        at_least_one("server.max_bulk_entries", s.max_bulk_entries)?;
        at_least_one("server.max_registrations", s.max_registrations)?;
        at_least_one("server.dedup_max_entries", s.dedup_max_entries)?;
        at_least_one(
            "server.dedup_exchanges_per_peer",
            s.dedup_exchanges_per_peer,
        )?;
        no_empty_entries(
            "server.denied_ue_service_ids",
            Some(&s.denied_ue_service_ids),
        )?;
        if s.required_token.as_deref() == Some("") {
            return Err(invalid("server.required_token", "must not be empty"));
        }
        no_empty_entries("server.allowed_gateways", s.allowed_gateways.as_ref())?;
        listener_address("server.metrics_listen", s.metrics_listen)?;
        for (group, members) in &s.groups {
            if group.is_empty() {
                return Err(invalid("server.groups", "group ids must not be empty"));
            }
            no_empty_entries("server.groups", Some(members))?;
        }
        at_least_one("server.max_aggregate_entries", s.max_aggregate_entries)?;
        at_least_one(
            "server.max_outstanding_deliveries",
            s.max_outstanding_deliveries,
        )?;
        at_least_one("server.delivery_attempts", s.delivery_attempts)?;
        if s.separate_response_timeout_ms == 0 {
            return Err(invalid(
                "server.separate_response_timeout_ms",
                "must be at least 1",
            ));
        }
        not_empty("server.downlink_uri_path", &s.downlink_uri_path)?;
        if s.store_max_time_s == 0 {
            return Err(invalid("server.store_max_time_s", "must be at least 1"));
        }
        self.relay.validate()?;
        self.validate_configuration_keys()
    }

    /// The configuration server's keys (the provisioning file itself is read by
    /// [`Config::config_server_config`]).
    fn validate_configuration_keys(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        not_empty("server.config_uri_path", &s.config_uri_path)?;
        if s.provisioning
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(invalid("server.provisioning", "must not be empty"));
        }
        if self.auto_provision_enabled() {
            AutoProvision::new(&s.auto_provision_template)
                .map_err(|e| invalid("server.auto_provision_template", e.to_string()))?;
        }
        if let Some(address) = &s.public_address {
            if address.is_empty() || address.len() > crate::msg::MAX_UE_SERVICE_ID_LEN {
                return Err(invalid("server.public_address", "must be 1 to 255 bytes"));
            }
        }
        at_least_one("server.max_provisioned", s.max_provisioned)?;
        at_least_one("server.config_max_bulk_entries", s.config_max_bulk_entries)?;
        if !(MIN_CONFIG_RESPONSE_BYTES..=MAX_BULK_BYTES).contains(&s.config_max_response_bytes) {
            return Err(invalid(
                "server.config_max_response_bytes",
                format!("must be between {MIN_CONFIG_RESPONSE_BYTES} and {MAX_BULK_BYTES}"),
            ));
        }
        Ok(())
    }

    /// Whether unlisted UE IDs are auto-provisioned: `server.auto_provision`, by default on
    /// exactly when no provisioning file is given.
    pub fn auto_provision_enabled(&self) -> bool {
        self.server
            .auto_provision
            .unwrap_or(self.server.provisioning.is_none())
    }

    /// The `msgin5gServerAddress` handed out: `server.public_address`, else
    /// `coap://<server.listen>/<server.uri_path>` with an unspecified address shown as loopback.
    pub fn public_address(&self) -> String {
        if let Some(address) = &self.server.public_address {
            return address.clone();
        }
        let mut listen = self.server.listen;
        if listen.ip().is_unspecified() {
            listen.set_ip(match listen.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        format!("coap://{listen}/{}", self.server.uri_path)
    }

    /// The configuration server configuration from `[server]` and `[coap]`, reading the
    /// provisioning file (an unreadable, malformed or too large file names
    /// `server.provisioning`).
    pub fn config_server_config(&self) -> Result<ConfigServerConfig, ConfigError> {
        let s = &self.server;
        let auto = if self.auto_provision_enabled() {
            Some(
                AutoProvision::new(&s.auto_provision_template)
                    .map_err(|e| invalid("server.auto_provision_template", e.to_string()))?,
            )
        } else {
            None
        };
        let provisioning = match &s.provisioning {
            Some(path) => Provisioning::load(path, s.max_provisioned)
                .map_err(|e| invalid("server.provisioning", e.to_string()))?,
            None => Provisioning::default(),
        };
        let default_segment_size = u32::try_from(s.max_payload_bytes)
            .unwrap_or(u32::MAX)
            .max(1);
        Ok(ConfigServerConfig {
            service_id: s.service_id.clone(),
            uri_path: s.config_uri_path.clone(),
            public_address: self.public_address(),
            default_segment_size,
            provisioning: Arc::new(provisioning.with_auto_provision(auto)),
            max_bulk_entries: s.config_max_bulk_entries,
            max_request_bytes: self.coap.max_request_bytes,
            max_response_bytes: s.config_max_response_bytes,
            allowed_gateways: s
                .allowed_gateways
                .as_ref()
                .map(|list| list.iter().cloned().collect()),
            dedup_max_entries: s.dedup_max_entries,
            dedup_exchanges_per_peer: s.dedup_exchanges_per_peer,
            params: self.transmission_params(),
            block: self.block_config(),
        })
    }

    /// Block-wise transfer bounds from `[coap]` (RFC 7959).
    pub fn block_config(&self) -> BlockConfig {
        let c = &self.coap;
        BlockConfig {
            szx: szx_of(c.block_size).unwrap_or(MAX_SZX),
            max_transfers: c.block_max_transfers,
            max_body_bytes: c.block_max_body_bytes,
            max_total_bytes: c.block_max_total_bytes,
            lifetime: Duration::from_millis(c.block_lifetime_ms),
            auto_block2_bytes: c.block_auto_bytes,
        }
    }

    /// RFC 7252 transmission parameters from `[coap]` (PROCESSING_DELAY = ACK_TIMEOUT).
    pub fn transmission_params(&self) -> TransmissionParams {
        let ack_timeout = Duration::from_millis(self.coap.ack_timeout_ms);
        TransmissionParams {
            ack_timeout,
            ack_random_factor: self.coap.ack_random_factor,
            max_retransmit: self.coap.max_retransmit,
            processing_delay: ack_timeout,
            ..TransmissionParams::default()
        }
    }

    /// The gateway core configuration from `[gateway]` and `[coap]`.
    pub fn gateway_config(&self) -> GatewayConfig {
        let g = &self.gateway;
        GatewayConfig {
            service_id: g.service_id.clone(),
            gateway_ue_service_id: g.gateway_ue_service_id.clone(),
            server_uri_path: g.server_uri_path.clone(),
            bulking_enabled: g.bulking_enabled,
            max_batch_entries: g.max_batch_entries,
            max_bulk_bytes: g.max_bulk_bytes,
            max_request_bytes: self.coap.max_request_bytes,
            bulk_block1_bytes: g.bulk_block1_bytes,
            hold_time: Duration::from_millis(g.hold_time_ms),
            deadline_margin: Duration::from_millis(g.deadline_margin_ms),
            piggyback_window: Duration::from_millis(g.piggyback_window_ms),
            answer_mode: g.answer_mode.into(),
            max_pending: g.max_pending,
            max_journal: g.max_journal,
            persist_sync: Duration::from_millis(g.persist_sync_ms),
            overload_delay: Duration::from_millis(g.overload_delay_ms),
            max_in_flight: g.max_in_flight,
            uplinks_per_shard: g.uplinks_per_shard,
            bulk_response_timeout: Duration::from_millis(g.bulk_response_timeout_ms),
            answer_margin: Duration::from_millis(g.answer_margin_ms),
            upstream_silent_after: Duration::from_millis(g.upstream_silent_ms),
            upstream_probe_interval: Duration::from_millis(g.upstream_probe_ms),
            overload_max_age: g.overload_max_age_s,
            overload_answer_rate: g.overload_answer_rate,
            overload_latency: Duration::from_millis(
                g.overload_latency_ms.unwrap_or(g.piggyback_window_ms / 2),
            ),
            dedup_max_entries: g.dedup_max_entries,
            dedup_exchanges_per_peer: g.dedup_exchanges_per_peer,
            mid_max_entries: g.mid_max_entries,
            allow_list: g
                .allow_list
                .as_ref()
                .map(|list| list.iter().cloned().collect()),
            app_allow_list: g
                .app_allow_list
                .as_ref()
                .map(|list| list.iter().cloned().collect()),
            max_app_registrations: g.max_app_registrations,
            app_idle_expiry: Duration::from_secs(g.app_idle_expiry_s),
            max_clients: g.max_clients,
            max_report_routes: g.max_report_routes,
            max_delivered: g.max_delivered,
            delivery_timeout: Duration::from_millis(g.delivery_timeout_ms),
            register_self: g.register_self,
            credential: g.credential.clone(),
            reregistration_holdoff: Duration::from_millis(g.reregistration_holdoff_ms),
            config_upstream: g.config_upstream,
            config_listen: Some(g.config_listen),
            params: self.transmission_params(),
            block: self.block_config(),
        }
    }

    /// The gateway's persistent state directory (`gateway.data_dir`); `None`: in memory only
    /// (the key is empty).
    pub fn gateway_data_dir(&self) -> Option<&Path> {
        let dir = self.gateway.data_dir.as_path();
        (!dir.as_os_str().is_empty()).then_some(dir)
    }

    /// The standalone server's persistent state directory (`server.data_dir`); `None`: in
    /// memory only (the key is empty).
    pub fn server_data_dir(&self) -> Option<&Path> {
        let dir = self.server.data_dir.as_path();
        (!dir.as_os_str().is_empty()).then_some(dir)
    }

    /// The reference server configuration from `[server]` and `[coap]` (no test hooks).
    pub fn server_config(&self) -> ServerConfig {
        let s = &self.server;
        ServerConfig {
            service_id: s.service_id.clone(),
            uri_path: s.uri_path.clone(),
            max_bulk_entries: s.max_bulk_entries,
            max_request_bytes: self.coap.max_request_bytes,
            max_registrations: s.max_registrations,
            dedup_max_entries: s.dedup_max_entries,
            dedup_exchanges_per_peer: s.dedup_exchanges_per_peer,
            policy: ServerPolicy {
                denied_ue_service_ids: s.denied_ue_service_ids.iter().cloned().collect(),
                required_token: s.required_token.clone(),
                allowed_gateways: s
                    .allowed_gateways
                    .as_ref()
                    .map(|list| list.iter().cloned().collect()),
                // From the provisioning file, read by `config_server_config`: the binary sets
                // it with `Provisioning::ue_credentials` before the server starts.
                ue_credentials: Default::default(),
            },
            hooks: ServerTestHooks::default(),
            params: self.transmission_params(),
            block: self.block_config(),
            messaging: MessagingConfig {
                groups: s.groups.clone(),
                max_aggregate_entries: s.max_aggregate_entries,
                max_payload_bytes: s.max_payload_bytes,
                max_outstanding_deliveries: s.max_outstanding_deliveries,
                separate_response_timeout: Duration::from_millis(s.separate_response_timeout_ms),
                downlink_uri_path: s.downlink_uri_path.clone(),
                store_max_per_recipient: s.store_max_per_recipient,
                store_max_total: s.store_max_total,
                store_max_time: Duration::from_secs(s.store_max_time_s),
                busy_max_age: s.busy_max_age_s,
                recent_message_ids: s.recent_message_ids,
                delivery_attempts: s.delivery_attempts,
            },
        }
    }

    /// Number of gateway shards: `gateway.shards`, or the number of CPUs (at most 256).
    pub fn gateway_shards(&self) -> usize {
        self.gateway.shards.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_SHARDS)
        })
    }

    /// How long shutdown waits for the gateway to drain.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.gateway.drain_timeout_ms)
    }

    /// How often the gateway logs an activity summary (`None`: never).
    pub fn summary_interval(&self) -> Option<Duration> {
        let s = self.gateway.summary_interval_s;
        (s > 0).then(|| Duration::from_secs(s))
    }

    /// Socket buffer sizes for the gateway's sockets.
    pub fn socket_options(&self) -> SocketOptions {
        SocketOptions {
            recv_buffer: self.gateway.recv_buffer_bytes,
            send_buffer: self.gateway.recv_buffer_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid_field(text: &str) -> String {
        let config = Config::from_toml_str(text).expect("parses");
        match config.validate() {
            Err(ConfigError::Invalid { field, .. }) => field.to_string(),
            other => panic!("expected an invalid field for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn example_parses_to_the_defaults() {
        let config = Config::from_toml_str(EXAMPLE_TOML).unwrap();
        assert_eq!(config, Config::default());
        config.validate().unwrap();
    }

    #[test]
    fn example_lists_every_key() {
        let mut config = Config::default();
        // Give the optional keys a value so they are serialized too.
        config.gateway.upstream = Some("127.0.0.1:5683".parse().unwrap());
        config.gateway.shards = Some(2);
        config.gateway.allow_list = Some(vec!["a".into()]);
        config.gateway.credential = Some("c".into());
        config.server.required_token = Some("t".into());
        config.server.allowed_gateways = Some(vec!["g".into()]);
        config.gateway.metrics_listen = Some("127.0.0.1:9464".parse().unwrap());
        config.server.metrics_listen = Some("127.0.0.1:9465".parse().unwrap());
        config.relay.upstream = Some("127.0.0.1:5683".parse().unwrap());
        config.relay.config_upstream = Some("127.0.0.1:65401".parse().unwrap());
        config.relay.allow_list = Some(vec!["127.0.0.1".parse().unwrap()]);
        config.relay.uplink_bind = Some("127.0.0.1".parse().unwrap());
        config.relay.uplink_ports = Some([40000, 49999]);
        config.relay.metrics_listen = Some("127.0.0.1:9466".parse().unwrap());
        config.server.provisioning = Some("p.toml".into());
        config.server.auto_provision = Some(true);
        config.server.public_address = Some("coap://h/msgin5g".into());
        let value = toml::Table::try_from(&config).unwrap();
        for (section, table) in &value {
            assert!(
                EXAMPLE_TOML.contains(&format!("[{section}]\n")),
                "{section}"
            );
            for key in table.as_table().unwrap().keys() {
                let present = EXAMPLE_TOML.contains(&format!("\n{key} = "))
                    || EXAMPLE_TOML.contains(&format!("\n# {key} = "));
                assert!(present, "EXAMPLE_TOML misses {section}.{key}");
            }
        }
    }

    #[test]
    fn empty_text_is_the_default() {
        assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
    }

    #[test]
    fn the_latency_bound_defaults_to_half_the_piggyback_window() {
        let config = Config::from_toml_str("[gateway]\npiggyback_window_ms = 300").unwrap();
        config.validate().unwrap();
        let gateway = config.gateway_config();
        assert_eq!(gateway.overload_latency, Duration::from_millis(150));
        let config = Config::from_toml_str("[gateway]\noverload_latency_ms = 0").unwrap();
        config.validate().unwrap();
        assert!(config.gateway_config().overload_latency.is_zero());
        assert_eq!(
            Config::default().gateway_config().overload_latency,
            GatewayConfig::default().overload_latency
        );
    }

    #[test]
    fn defaults_match_the_core_defaults() {
        let config = Config::default();
        let gateway = config.gateway_config();
        let core = GatewayConfig::default();
        assert_eq!(gateway.max_batch_entries, core.max_batch_entries);
        assert_eq!(gateway.hold_time, core.hold_time);
        assert_eq!(gateway.piggyback_window, core.piggyback_window);
        assert_eq!(gateway.bulk_response_timeout, core.bulk_response_timeout);
        assert_eq!(gateway.answer_mode, core.answer_mode);
        assert_eq!(gateway.allow_list, core.allow_list);
        assert_eq!(gateway.params, core.params);
        let server = config.server_config();
        assert_eq!(
            server.max_bulk_entries,
            ServerConfig::default().max_bulk_entries
        );
        assert_eq!(server.params, TransmissionParams::default());
        assert_eq!(config.transmission_params(), TransmissionParams::default());
        assert_eq!(config.gateway.listen.port(), 5683);
        assert_eq!(config.server.listen.port(), 5683);
        assert!(config.gateway_shards() >= 1);
    }

    #[test]
    fn values_are_carried_into_the_core_configs() {
        let config = Config::from_toml_str(
            r#"
            [gateway]
            upstream = "[::1]:5684"
            shards = 3
            metrics_listen = "127.0.0.1:0"
            hold_time_ms = 20
            answer_mode = "spec-post"
            allow_list = ["ue-1", "ue-2"]
            credential = "gw-secret"
            [server]
            denied_ue_service_ids = ["bad"]
            required_token = "secret"
            groups = { "grp-1" = ["ue-1", "ue-2"] }
            store_max_time_s = 60
            separate_response_timeout_ms = 1500
            max_payload_bytes = 100
            [coap]
            ack_timeout_ms = 3000
            max_retransmit = 2
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.gateway.upstream, Some("[::1]:5684".parse().unwrap()));
        assert_eq!(config.gateway_shards(), 3);
        let gateway = config.gateway_config();
        assert_eq!(gateway.hold_time, Duration::from_millis(20));
        assert_eq!(gateway.answer_mode, AnswerMode::SpecPost);
        assert_eq!(gateway.allow_list.unwrap().len(), 2);
        assert_eq!(gateway.credential.as_deref(), Some("gw-secret"));
        assert_eq!(gateway.params.ack_timeout, Duration::from_secs(3));
        assert_eq!(gateway.params.processing_delay, Duration::from_secs(3));
        assert_eq!(gateway.params.max_retransmit, 2);
        let server = config.server_config();
        assert!(server.policy.denied_ue_service_ids.contains("bad"));
        assert_eq!(server.policy.required_token.as_deref(), Some("secret"));
        assert!(server.policy.allowed_gateways.is_none());
        assert_eq!(
            config.gateway.metrics_listen,
            Some("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(config.server.metrics_listen, None);
        let m = &server.messaging;
        assert_eq!(m.groups["grp-1"], ["ue-1", "ue-2"]);
        assert_eq!(m.store_max_time, Duration::from_secs(60));
        assert_eq!(m.separate_response_timeout, Duration::from_millis(1500));
        assert_eq!(m.max_payload_bytes, 100);
        assert_eq!(
            m.max_aggregate_entries,
            MessagingConfig::default().max_aggregate_entries
        );
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        for (text, name) in [
            ("[gateway]\nmax_batch_entriez = 3\n", "max_batch_entriez"),
            ("[server]\nlisten_addr = \"127.0.0.1:1\"\n", "listen_addr"),
            ("[coap]\nnstart = 2\n", "nstart"),
            ("[metrics]\nport = 9100\n", "metrics"),
        ] {
            let error = Config::from_toml_str(text).unwrap_err();
            assert!(matches!(error, ConfigError::Parse { .. }));
            let message = error.to_string();
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn wrong_types_and_bad_enums_name_the_key() {
        for (text, name) in [
            ("[gateway]\nanswer_mode = \"post\"\n", "answer_mode"),
            ("[gateway]\nhold_time_ms = \"fast\"\n", "hold_time_ms"),
            ("[gateway]\nlisten = \"nowhere\"\n", "listen"),
        ] {
            let message = Config::from_toml_str(text).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn each_invalid_value_names_its_field() {
        let cases = [
            (
                "[gateway]\nmax_batch_entries = 0",
                "gateway.max_batch_entries",
            ),
            ("[gateway]\nmax_bulk_bytes = 63", "gateway.max_bulk_bytes"),
            (
                "[gateway]\nbulk_block1_bytes = 1024",
                "gateway.bulk_block1_bytes",
            ),
            (
                "[gateway]\nbulk_block1_bytes = 1048577",
                "gateway.bulk_block1_bytes",
            ),
            (
                "[gateway]\nmax_bulk_bytes = 65001",
                "gateway.max_bulk_bytes",
            ),
            ("[gateway]\nhold_time_ms = 0", "gateway.hold_time_ms"),
            (
                "[gateway]\npiggyback_window_ms = 2000",
                "gateway.piggyback_window_ms",
            ),
            ("[gateway]\nshards = 0", "gateway.shards"),
            ("[gateway]\nshards = 257", "gateway.shards"),
            ("[gateway]\nupstream = \"127.0.0.1:0\"", "gateway.upstream"),
            (
                "[gateway]\nconfig_upstream = \"127.0.0.1:0\"",
                "gateway.config_upstream",
            ),
            (
                "[gateway]\nconfig_upstream = \"0.0.0.0:65401\"",
                "gateway.config_upstream",
            ),
            (
                "[gateway]\nconfig_listen = \"0.0.0.0:5683\"",
                "gateway.config_listen",
            ),
            ("[gateway]\nupstream = \"0.0.0.0:5683\"", "gateway.upstream"),
            ("[gateway]\nservice_id = \"\"", "gateway.service_id"),
            ("[gateway]\ncredential = \"\"", "gateway.credential"),
            (
                "[gateway]\ngateway_ue_service_id = \"\"",
                "gateway.gateway_ue_service_id",
            ),
            (
                "[gateway]\nserver_uri_path = \"\"",
                "gateway.server_uri_path",
            ),
            ("[gateway]\nmax_pending = 0", "gateway.max_pending"),
            (
                "[gateway]\npiggyback_window_ms = 300\noverload_latency_ms = 300",
                "gateway.overload_latency_ms",
            ),
            (
                "[gateway]\noverload_answer_rate = 0",
                "gateway.overload_answer_rate",
            ),
            ("[gateway]\nmax_in_flight = 0", "gateway.max_in_flight"),
            (
                "[gateway]\noverload_delay_ms = 0",
                "gateway.overload_delay_ms",
            ),
            (
                "[gateway]\npiggyback_window_ms = 800\noverload_delay_ms = 800",
                "gateway.overload_delay_ms",
            ),
            ("[relay]\noverload_delay_ms = 0", "relay.overload_delay_ms"),
            (
                "[gateway]\nuplinks_per_shard = 0",
                "gateway.uplinks_per_shard",
            ),
            (
                "[gateway]\nuplinks_per_shard = 65",
                "gateway.uplinks_per_shard",
            ),
            (
                "[gateway]\nbulk_response_timeout_ms = 0",
                "gateway.bulk_response_timeout_ms",
            ),
            (
                "[gateway]\nanswer_margin_ms = 93000",
                "gateway.answer_margin_ms",
            ),
            (
                // MAX_TRANSMIT_WAIT with ack_timeout 1.5 s: 69.75 s.
                "[coap]\nack_timeout_ms = 1500\n[gateway]\nanswer_margin_ms = 70000",
                "gateway.answer_margin_ms",
            ),
            (
                "[gateway]\nupstream_silent_ms = 0",
                "gateway.upstream_silent_ms",
            ),
            (
                "[gateway]\ndedup_max_entries = 0",
                "gateway.dedup_max_entries",
            ),
            (
                "[gateway]\ndedup_exchanges_per_peer = 0",
                "gateway.dedup_exchanges_per_peer",
            ),
            ("[gateway]\nmid_max_entries = 0", "gateway.mid_max_entries"),
            ("[gateway]\nallow_list = [\"\"]", "gateway.allow_list"),
            (
                "[gateway]\nrecv_buffer_bytes = 100",
                "gateway.recv_buffer_bytes",
            ),
            ("[server]\nservice_id = \"\"", "server.service_id"),
            ("[server]\ngroups = { \"\" = [\"a\"] }", "server.groups"),
            ("[server]\ngroups = { \"g\" = [\"\"] }", "server.groups"),
            (
                "[server]\nmax_aggregate_entries = 0",
                "server.max_aggregate_entries",
            ),
            (
                "[server]\nmax_outstanding_deliveries = 0",
                "server.max_outstanding_deliveries",
            ),
            (
                "[server]\nseparate_response_timeout_ms = 0",
                "server.separate_response_timeout_ms",
            ),
            (
                "[server]\ndownlink_uri_path = \"\"",
                "server.downlink_uri_path",
            ),
            ("[server]\nstore_max_time_s = 0", "server.store_max_time_s"),
            ("[server]\nuri_path = \"\"", "server.uri_path"),
            ("[server]\nmax_bulk_entries = 0", "server.max_bulk_entries"),
            (
                "[server]\nmax_registrations = 0",
                "server.max_registrations",
            ),
            (
                "[server]\ndedup_max_entries = 0",
                "server.dedup_max_entries",
            ),
            (
                "[server]\ndedup_exchanges_per_peer = 0",
                "server.dedup_exchanges_per_peer",
            ),
            (
                "[server]\ndenied_ue_service_ids = [\"\"]",
                "server.denied_ue_service_ids",
            ),
            ("[server]\nrequired_token = \"\"", "server.required_token"),
            (
                "[server]\nallowed_gateways = [\"\"]",
                "server.allowed_gateways",
            ),
            ("[coap]\nack_timeout_ms = 0", "coap.ack_timeout_ms"),
            ("[coap]\nack_random_factor = 0.5", "coap.ack_random_factor"),
            ("[coap]\nack_random_factor = nan", "coap.ack_random_factor"),
            ("[coap]\nmax_retransmit = 21", "coap.max_retransmit"),
            ("[coap]\nmax_request_bytes = 1151", "coap.max_request_bytes"),
            (
                "[gateway]\nsummary_interval_s = 86401",
                "gateway.summary_interval_s",
            ),
            (
                "[coap]\nmax_request_bytes = 65508",
                "coap.max_request_bytes",
            ),
            (
                "[gateway]\nmax_bulk_bytes = 8000\n[coap]\nmax_request_bytes = 8192",
                "coap.max_request_bytes",
            ),
            ("[coap]\nblock_size = 100", "coap.block_size"),
            ("[coap]\nblock_size = 2048", "coap.block_size"),
            (
                "[coap]\nblock_max_transfers = 0",
                "coap.block_max_transfers",
            ),
            (
                "[coap]\nblock_max_body_bytes = 512",
                "coap.block_max_body_bytes",
            ),
            (
                "[coap]\nblock_max_total_bytes = 1000",
                "coap.block_max_total_bytes",
            ),
            ("[coap]\nblock_lifetime_ms = 0", "coap.block_lifetime_ms"),
            (
                "[gateway]\nmetrics_listen = \"224.0.0.1:9464\"",
                "gateway.metrics_listen",
            ),
            (
                "[gateway]\nmetrics_listen = \"255.255.255.255:9464\"",
                "gateway.metrics_listen",
            ),
            (
                "[server]\nmetrics_listen = \"[ff02::1]:9465\"",
                "server.metrics_listen",
            ),
        ];
        for (text, field) in cases {
            assert_eq!(invalid_field(text), field, "{text}");
            let message = Config::from_toml_str(text)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(message.starts_with(&format!("{field}: ")), "{message}");
        }
    }

    #[test]
    fn message_format_matches_the_documented_one() {
        let message = Config::from_toml_str("[gateway]\nmax_batch_entries = 0")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(message, "gateway.max_batch_entries: must be at least 1");
    }

    #[test]
    fn piggyback_window_is_checked_against_the_configured_ack_timeout() {
        let text = "[gateway]\npiggyback_window_ms = 2500\n[coap]\nack_timeout_ms = 3000";
        Config::from_toml_str(text).unwrap().validate().unwrap();
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = std::env::temp_dir().join(format!("msgin5g-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "[gateway]\nmax_batch_entries = 7\n").unwrap();
        assert_eq!(Config::load(&good).unwrap().gateway.max_batch_entries, 7);
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[gateway]\nbogus = 1\n").unwrap();
        let message = Config::load(&bad).unwrap_err().to_string();
        assert!(
            message.contains("bad.toml") && message.contains("bogus"),
            "{message}"
        );
        let missing = dir.join("missing.toml");
        assert!(matches!(
            Config::load(&missing),
            Err(ConfigError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn overlong_gateway_ue_service_id_is_refused() {
        let text = format!(
            "[gateway]\ngateway_ue_service_id = \"{}\"\n",
            "g".repeat(256)
        );
        let err = Config::from_toml_str(&text)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            err.to_string().contains("gateway.gateway_ue_service_id"),
            "{err}"
        );
    }

    #[test]
    fn configuration_keys_are_checked() {
        for (text, field) in [
            ("[server]\nconfig_uri_path = \"\"", "server.config_uri_path"),
            ("[server]\nprovisioning = \"\"", "server.provisioning"),
            (
                "[server]\nauto_provision_template = \"fixed\"",
                "server.auto_provision_template",
            ),
            ("[server]\npublic_address = \"\"", "server.public_address"),
            ("[server]\nmax_provisioned = 0", "server.max_provisioned"),
            (
                "[server]\nconfig_max_bulk_entries = 0",
                "server.config_max_bulk_entries",
            ),
            (
                "[server]\nconfig_max_response_bytes = 255",
                "server.config_max_response_bytes",
            ),
            (
                "[server]\nconfig_max_response_bytes = 65001",
                "server.config_max_response_bytes",
            ),
        ] {
            assert_eq!(invalid_field(text), field, "{text}");
        }
        // With a provisioning file the template is not used unless asked for.
        let config = Config::from_toml_str(
            "[server]\nprovisioning = \"p.toml\"\nauto_provision_template = \"fixed\"\n",
        )
        .unwrap();
        config.validate().unwrap();
        assert!(!config.auto_provision_enabled());
        assert!(Config::default().auto_provision_enabled());
    }

    #[test]
    fn public_address_is_derived_from_the_listen_address() {
        let mut config = Config::default();
        assert_eq!(config.public_address(), "coap://127.0.0.1:5683/msgin5g");
        config.server.listen = "[::]:7000".parse().unwrap();
        assert_eq!(config.public_address(), "coap://[::1]:7000/msgin5g");
        config.server.listen = "192.0.2.1:5683".parse().unwrap();
        config.server.uri_path = "x".into();
        assert_eq!(config.public_address(), "coap://192.0.2.1:5683/x");
        config.server.public_address = Some("coap://gw/msgin5g".into());
        assert_eq!(config.public_address(), "coap://gw/msgin5g");
        assert_eq!(config.server.config_listen.port(), 65401);
    }

    #[test]
    fn configuration_server_config_reads_the_provisioning_file() {
        let dir = std::env::temp_dir().join(format!("msgin5g-prov-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("provisioning.toml");
        std::fs::write(
            &file,
            "[ue.\"imsi-1\"]\nue_service_id = \"meter-1\"\n[ue.\"imsi-2\"]\nue_service_id = \"meter-2\"\n",
        )
        .unwrap();
        let mut config = Config::default();
        config.server.provisioning = Some(file.clone());
        config.server.allowed_gateways = Some(vec!["gw".into()]);
        config.validate().unwrap();
        let c = config.config_server_config().unwrap();
        assert_eq!(c.provisioning.len(), 2);
        assert!(!c.provisioning.auto_provision());
        assert_eq!(c.default_segment_size, 2048);
        assert_eq!(c.uri_path, "msgin5g-config");
        assert!(c.allowed_gateways.unwrap().contains("gw"));
        config.server.auto_provision = Some(true);
        assert!(config
            .config_server_config()
            .unwrap()
            .provisioning
            .auto_provision());
        config.server.max_provisioned = 1;
        let err = config.config_server_config().unwrap_err().to_string();
        assert!(
            err.starts_with("server.provisioning: ") && err.contains("max_provisioned"),
            "{err}"
        );
        config.server.provisioning = Some(dir.join("missing.toml"));
        let err = config.config_server_config().unwrap_err().to_string();
        assert!(err.contains("missing.toml"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        // Without a file: auto-provision only.
        let c = Config::default().config_server_config().unwrap();
        assert!(c.provisioning.is_empty() && c.provisioning.auto_provision());
    }

    #[test]
    fn block_keys_reach_every_core() {
        // max_request_bytes bounds a datagram (each block), not a reassembled body: smaller than
        // block_max_body_bytes and bulk_block1_bytes is valid.
        let text = "[gateway]\nbulk_block1_bytes = 8192\n[coap]\nblock_size = 64\n\
                    block_max_transfers = 7\nblock_max_body_bytes = 4096\n\
                    block_max_total_bytes = 8192\nblock_lifetime_ms = 1500\n\
                    block_auto_bytes = 2000\nmax_request_bytes = 1536\n";
        let config = Config::from_toml_str(text).unwrap();
        config.validate().unwrap();
        assert_eq!(config.gateway_config().max_request_bytes, 1536);
        assert_eq!(config.server_config().max_request_bytes, 1536);
        let config_server = config.config_server_config().unwrap();
        assert_eq!(config_server.max_request_bytes, 1536);
        let want = BlockConfig {
            szx: 2,
            max_transfers: 7,
            max_body_bytes: 4096,
            max_total_bytes: 8192,
            lifetime: Duration::from_millis(1500),
            auto_block2_bytes: 2000,
        };
        assert_eq!(config.gateway_config().block, want);
        assert_eq!(config.gateway_config().bulk_block1_bytes, 8192);
        assert_eq!(config.server_config().block, want);
        assert_eq!(config.config_server_config().unwrap().block, want);
        assert_eq!(Config::default().block_config(), BlockConfig::default());
    }
}
