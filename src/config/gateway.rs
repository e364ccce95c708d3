//! `[gateway]`: the Gateway UE's keys (23.554 §8.2.7 bulking, 24.538 §6.2 and §6.4; README
//! "Gateway UE"), their checks and the [`GatewayConfig`] they make.

use super::check::{at_least_one, invalid, listener_address, millis, no_empty_entries, not_empty};
use super::coap::CoapSection;
use super::error::ConfigError;
use super::security::{
    default_coaps_listen, load_psk_table, upstream_psk, DeviceSecurity, UpstreamAddr, UpstreamPsk,
    GATEWAY_DTLS, MAX_DTLS_QUEUED,
};
use crate::dtls::PskTable;
use crate::dtls::{DtlsClientConfig, DtlsServerConfig};
use crate::gateway::{AnswerMode, GatewayConfig, UplinkDtls};
use crate::net::{SocketOptions, DEFAULT_SOCKET_BUFFER, MAX_SHARDS};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Default `gateway.dtls_max_queued`.
pub const DEFAULT_DTLS_MAX_QUEUED: usize = 256;
/// Most uplink sockets one shard opens.
pub const MAX_UPLINKS_PER_SHARD: usize = 64;
/// Largest `max_bulk_bytes`: a bulk must fit one UDP datagram with its CoAP header.
pub const MAX_BULK_BYTES: usize = 65_000;
/// Largest `gateway.bulk_block1_bytes` (1 MiB).
pub const MAX_BLOCK1_BULK_BYTES: usize = 1 << 20;
/// Smallest `max_bulk_bytes`: room for a bulk header and one entry.
pub const MIN_BULK_BYTES: usize = 64;
/// Room for a bulk's CoAP header and options beside `gateway.max_bulk_bytes` of JSON.
pub const BULK_DATAGRAM_OVERHEAD: usize = 512;
/// Smallest `gateway.segment_size`: a few base64 quads per segment.
pub const MIN_SEGMENT_SIZE: usize = 16;
/// Largest `gateway.segment_size` (a segment still fits one datagram).
pub const MAX_SEGMENT_SIZE: usize = 32_768;
/// Largest `gateway.summary_interval_s` (one day).
pub const MAX_SUMMARY_INTERVAL_S: u64 = 86_400;
/// Largest `gateway.batch_pause_factor` (beyond it `hold_time_ms` always comes first).
pub const MAX_BATCH_PAUSE_FACTOR: u32 = 10_000;
/// Smallest non-zero `gateway.recv_buffer_bytes`.
pub const MIN_SOCKET_BUFFER: usize = 4096;
/// Largest `gateway.recv_buffer_bytes` (1 GiB).
pub const MAX_SOCKET_BUFFER: usize = 1 << 30;

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
/// `[gateway]`: see [`EXAMPLE_TOML`](super::EXAMPLE_TOML) for each key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySection {
    /// Device-facing UDP address.
    pub listen: SocketAddr,
    /// MSGin5G Server address (`HOST:PORT`, `coap://` or `coaps://`); `None` runs the
    /// reference server in-process.
    pub upstream: Option<UpstreamAddr>,
    /// PSK identity of the uplinks toward a `coaps://` upstream (RFC 4279 §2).
    pub upstream_psk_identity: Option<String>,
    /// Pre-shared key toward a `coaps://` upstream, as UTF-8 bytes.
    pub upstream_psk_key: Option<String>,
    /// Pre-shared key toward a `coaps://` upstream, in hex (instead of `upstream_psk_key`).
    pub upstream_psk_key_hex: Option<String>,
    /// Most plaintext datagrams queued per uplink while its DTLS handshake runs.
    pub dtls_max_queued: usize,
    /// Records sent and none received for this long: the uplink handshakes again, in
    /// milliseconds.
    pub dtls_rehandshake_silence_ms: u64,
    /// Device-facing coaps address (RFC 7252 §9); active only with `psk_file`.
    pub coaps_listen: SocketAddr,
    /// PSK file (identities, keys, what each may act for); `None`: no coaps listener.
    pub psk_file: Option<PathBuf>,
    /// No plain device listener: devices must use coaps (needs `psk_file`).
    pub require_security: bool,
    /// Most DTLS sessions per coaps socket.
    pub dtls_max_sessions: usize,
    /// Most DTLS handshakes in progress per coaps socket.
    pub dtls_max_handshakes: usize,
    /// A DTLS handshake not done by then is dropped, in milliseconds.
    pub dtls_handshake_timeout_ms: u64,
    /// An established DTLS session unused this long is dropped, in seconds.
    pub dtls_session_idle_s: u64,
    /// How often the HelloVerifyRequest cookie secret changes, in seconds.
    pub dtls_cookie_rotate_s: u64,
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
    /// A partial batch flushes after its kind's arrivals paused this many mean gaps (0: off).
    pub batch_pause_factor: u32,
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
    /// Queueing-delay target of early refusal, in milliseconds (0: off).
    pub overload_target_ms: u64,
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
    /// Receive-buffer fill (percent) from which new requests are shed as by the delay bound
    /// (0: off).
    pub overload_buffer_percent: u8,
    /// Smoothed answer latency above which new requests are refused, in milliseconds (0: off;
    /// absent: half of `piggyback_window_ms`).
    pub overload_latency_ms: Option<u64>,
    /// Deduplication cache bound (peers).
    pub dedup_max_entries: usize,
    /// Exchanges remembered per device for duplicate detection.
    pub dedup_exchanges_per_peer: usize,
    /// Bound on peers with Message IDs in use (and reserved IDs).
    pub mid_max_entries: usize,
    /// UE Service IDs allowed to use the gateway; `None` allows all.
    pub allow_list: Option<Vec<String>>,
    /// Application IDs allowed to register over MSGin5G-5; `None` allows all.
    pub app_allow_list: Option<Vec<String>>,
    /// Most Application Client registrations per gateway.
    pub max_app_registrations: usize,
    /// Seconds without activity after which an AC registration expires (0: never).
    pub app_idle_expiry_s: u64,
    /// Largest decoded payload per segment of an AC's message, and the `maxSegmentSize` of the
    /// gateway's own registration (23.554 §8.5).
    pub segment_size: usize,
    /// Seconds an AC's sent segment set is kept for the server's `SEGREC`.
    pub segment_hold_s: u64,
    /// Most AC segment sets kept per shard.
    pub max_segment_sets: usize,
    /// Most MSGin5G-6 UEs remembered for downlink routing.
    pub max_clients: usize,
    /// Most report routes remembered.
    pub max_report_routes: usize,
    /// Most delivered messages remembered per shard for AC reports.
    pub max_delivered: usize,
    /// Downlink delivery timeout, in milliseconds.
    pub delivery_timeout_ms: u64,
    /// How long the ACK of the server's downlink CON is held to piggyback the verdict, in
    /// milliseconds (0: empty ACK at once).
    pub downlink_piggyback_ms: u64,
    /// Most elements in one aggregated downlink request from the server.
    pub max_downlink_aggregate_entries: usize,
    /// Time for a downlink segment set to complete, in seconds.
    pub reassembly_timeout_s: u64,
    /// Most downlink segment sets being reassembled per shard.
    pub reassembly_max_sets: usize,
    /// Most payload bytes of downlink sets being reassembled per shard.
    pub reassembly_max_bytes: usize,
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
        let dtls = DtlsServerConfig::default();
        GatewaySection {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5683),
            upstream: None,
            upstream_psk_identity: None,
            upstream_psk_key: None,
            upstream_psk_key_hex: None,
            dtls_max_queued: DEFAULT_DTLS_MAX_QUEUED,
            dtls_rehandshake_silence_ms: 5000,
            coaps_listen: default_coaps_listen(),
            psk_file: None,
            require_security: false,
            dtls_max_sessions: dtls.max_sessions,
            dtls_max_handshakes: dtls.max_handshakes,
            dtls_handshake_timeout_ms: millis(dtls.handshake_timeout),
            dtls_session_idle_s: dtls.session_idle.as_secs(),
            dtls_cookie_rotate_s: dtls.cookie_rotate.as_secs(),
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
            batch_pause_factor: core.batch_pause_factor,
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
            overload_target_ms: millis(core.overload_target),
            max_in_flight: core.max_in_flight,
            uplinks_per_shard: core.uplinks_per_shard,
            bulk_response_timeout_ms: millis(core.bulk_response_timeout),
            answer_margin_ms: millis(core.answer_margin),
            upstream_silent_ms: millis(core.upstream_silent_after),
            upstream_probe_ms: millis(core.upstream_probe_interval),
            overload_max_age_s: core.overload_max_age,
            overload_answer_rate: core.overload_answer_rate,
            overload_buffer_percent: core.overload_buffer_percent,
            overload_latency_ms: None,
            dedup_max_entries: core.dedup_max_entries,
            dedup_exchanges_per_peer: core.dedup_exchanges_per_peer,
            mid_max_entries: core.mid_max_entries,
            allow_list: None,
            app_allow_list: None,
            max_app_registrations: core.max_app_registrations,
            app_idle_expiry_s: core.app_idle_expiry.as_secs(),
            segment_size: core.segment_size,
            segment_hold_s: core.segment_hold.as_secs(),
            max_segment_sets: core.max_segment_sets,
            max_clients: core.max_clients,
            max_report_routes: core.max_report_routes,
            max_delivered: core.max_delivered,
            delivery_timeout_ms: millis(core.delivery_timeout),
            downlink_piggyback_ms: millis(core.downlink_piggyback),
            max_downlink_aggregate_entries: core.max_downlink_aggregate_entries,
            reassembly_timeout_s: core.reassembly_timeout.as_secs(),
            reassembly_max_sets: core.reassembly_max_sets,
            reassembly_max_bytes: core.reassembly_max_bytes,
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
impl GatewaySection {
    /// Check every `[gateway]` value; `coap` is the already checked `[coap]` section its bounds
    /// are compared against.
    pub fn validate(&self, coap: &CoapSection) -> Result<(), ConfigError> {
        let g = self;
        let c = coap;
        if let Some(upstream) = g.upstream.map(|u| u.addr) {
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
        if g.batch_pause_factor > MAX_BATCH_PAUSE_FACTOR {
            return Err(invalid(
                "gateway.batch_pause_factor",
                format!("must be 0 (off) ..= {MAX_BATCH_PAUSE_FACTOR}"),
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
        if g.overload_buffer_percent > 100 {
            return Err(invalid(
                "gateway.overload_buffer_percent",
                "must be 0 (off) ..= 100",
            ));
        }
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
        if g.overload_target_ms >= g.overload_delay_ms {
            return Err(invalid(
                "gateway.overload_target_ms",
                format!(
                    "must be 0 (off) or below gateway.overload_delay_ms ({})",
                    g.overload_delay_ms
                ),
            ));
        }
        at_least_one("gateway.max_in_flight", g.max_in_flight)?;
        at_least_one("gateway.max_app_registrations", g.max_app_registrations)?;
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&g.segment_size) {
            return Err(invalid(
                "gateway.segment_size",
                format!("must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE}"),
            ));
        }
        if g.segment_hold_s == 0 {
            return Err(invalid("gateway.segment_hold_s", "must be greater than 0"));
        }
        at_least_one("gateway.max_segment_sets", g.max_segment_sets)?;
        at_least_one("gateway.max_clients", g.max_clients)?;
        at_least_one("gateway.max_report_routes", g.max_report_routes)?;
        at_least_one("gateway.max_delivered", g.max_delivered)?;
        at_least_one(
            "gateway.max_downlink_aggregate_entries",
            g.max_downlink_aggregate_entries,
        )?;
        if g.delivery_timeout_ms == 0 {
            return Err(invalid(
                "gateway.delivery_timeout_ms",
                "must be greater than 0",
            ));
        }
        if g.downlink_piggyback_ms >= c.ack_timeout_ms {
            return Err(invalid(
                "gateway.downlink_piggyback_ms",
                format!(
                    "must be less than coap.ack_timeout_ms ({}): the server retransmits its \
                     request after ACK_TIMEOUT (0 = empty ACK at once)",
                    c.ack_timeout_ms
                ),
            ));
        }
        if g.reassembly_timeout_s < 3 {
            return Err(invalid(
                "gateway.reassembly_timeout_s",
                "must be at least 3 (a third of it goes before each SEGREC)",
            ));
        }
        at_least_one("gateway.reassembly_max_sets", g.reassembly_max_sets)?;
        at_least_one("gateway.reassembly_max_bytes", g.reassembly_max_bytes)?;
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
        let max_transmit_wait = millis(c.transmission_params().max_transmit_wait());
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
        self.device_security().validate(&GATEWAY_DTLS)?;
        self.upstream_psk()?;
        if !(1..=MAX_DTLS_QUEUED).contains(&g.dtls_max_queued) {
            return Err(invalid(
                "gateway.dtls_max_queued",
                format!("must be between 1 and {MAX_DTLS_QUEUED}"),
            ));
        }
        if g.dtls_rehandshake_silence_ms == 0 {
            return Err(invalid(
                "gateway.dtls_rehandshake_silence_ms",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The device-side security keys as one value (checked by [`DeviceSecurity::validate`]).
    fn device_security(&self) -> DeviceSecurity<'_> {
        DeviceSecurity {
            coaps_listen: self.coaps_listen,
            plain_listens: [
                ("gateway.listen", self.listen),
                ("gateway.config_listen", self.config_listen),
            ],
            psk_file: self.psk_file.as_deref(),
            require_security: self.require_security,
            max_sessions: self.dtls_max_sessions,
            max_handshakes: self.dtls_max_handshakes,
            handshake_timeout_ms: self.dtls_handshake_timeout_ms,
            session_idle_s: self.dtls_session_idle_s,
            cookie_rotate_s: self.dtls_cookie_rotate_s,
        }
    }

    /// Whether the gateway opens a device-facing coaps listener (`psk_file` is set).
    pub fn coaps_enabled(&self) -> bool {
        self.psk_file.is_some()
    }

    /// The DTLS bounds of the device-facing coaps sockets (`dtls_*` keys).
    pub fn dtls_settings(&self) -> DtlsServerConfig {
        self.device_security().settings()
    }

    /// The uplinks' credentials toward a `coaps://` upstream (`None`: plain upstream or none);
    /// an error names the offending `upstream_psk_*` key.
    pub fn upstream_psk(&self) -> Result<Option<UpstreamPsk>, ConfigError> {
        upstream_psk(
            self.upstream,
            self.upstream_psk_identity.as_deref(),
            self.upstream_psk_key.as_deref(),
            self.upstream_psk_key_hex.as_deref(),
        )
    }

    /// The upstream's UDP address, whatever its scheme.
    pub fn upstream_addr(&self) -> Option<SocketAddr> {
        self.upstream.map(|u| u.addr)
    }

    /// The identities of the PSK file (`psk_file`), read and checked; `None` without one.
    pub fn psk_table(&self) -> Result<Option<Arc<PskTable>>, ConfigError> {
        load_psk_table("gateway.psk_file", self.psk_file.as_ref())
    }

    /// The gateway core configuration, with `coap`'s request bound, transmission parameters and
    /// block-wise bounds.
    pub fn core_config(&self, coap: &CoapSection) -> GatewayConfig {
        let g = self;
        GatewayConfig {
            service_id: g.service_id.clone(),
            gateway_ue_service_id: g.gateway_ue_service_id.clone(),
            server_uri_path: g.server_uri_path.clone(),
            bulking_enabled: g.bulking_enabled,
            max_batch_entries: g.max_batch_entries,
            max_bulk_bytes: g.max_bulk_bytes,
            max_request_bytes: coap.max_request_bytes,
            bulk_block1_bytes: g.bulk_block1_bytes,
            hold_time: Duration::from_millis(g.hold_time_ms),
            batch_pause_factor: g.batch_pause_factor,
            deadline_margin: Duration::from_millis(g.deadline_margin_ms),
            piggyback_window: Duration::from_millis(g.piggyback_window_ms),
            answer_mode: g.answer_mode.into(),
            max_pending: g.max_pending,
            max_journal: g.max_journal,
            persist_sync: Duration::from_millis(g.persist_sync_ms),
            overload_delay: Duration::from_millis(g.overload_delay_ms),
            overload_target: Duration::from_millis(g.overload_target_ms),
            max_in_flight: g.max_in_flight,
            uplinks_per_shard: g.uplinks_per_shard,
            bulk_response_timeout: Duration::from_millis(g.bulk_response_timeout_ms),
            answer_margin: Duration::from_millis(g.answer_margin_ms),
            upstream_silent_after: Duration::from_millis(g.upstream_silent_ms),
            upstream_probe_interval: Duration::from_millis(g.upstream_probe_ms),
            overload_max_age: g.overload_max_age_s,
            overload_answer_rate: g.overload_answer_rate,
            overload_buffer_percent: g.overload_buffer_percent,
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
            segment_size: g.segment_size,
            segment_hold: Duration::from_secs(g.segment_hold_s),
            max_segment_sets: g.max_segment_sets,
            max_clients: g.max_clients,
            max_report_routes: g.max_report_routes,
            max_delivered: g.max_delivered,
            delivery_timeout: Duration::from_millis(g.delivery_timeout_ms),
            downlink_piggyback: Duration::from_millis(g.downlink_piggyback_ms),
            max_downlink_aggregate_entries: g.max_downlink_aggregate_entries,
            reassembly_timeout: Duration::from_secs(g.reassembly_timeout_s),
            reassembly_max_sets: g.reassembly_max_sets,
            reassembly_max_bytes: g.reassembly_max_bytes,
            register_self: g.register_self,
            credential: g.credential.clone(),
            reregistration_holdoff: Duration::from_millis(g.reregistration_holdoff_ms),
            config_upstream: g.config_upstream,
            config_listen: Some(g.config_listen),
            // Read by [`GatewaySection::psk_table`] (file I/O); set by `Config::gateway_config`.
            psk: None,
            coaps_listen: g.coaps_listen,
            require_security: g.require_security,
            dtls: g.dtls_settings(),
            upstream_dtls: g.upstream_psk().ok().flatten().map(|psk| UplinkDtls {
                psk,
                client: DtlsClientConfig {
                    max_queued: g.dtls_max_queued,
                    rehandshake_silence: Duration::from_millis(g.dtls_rehandshake_silence_ms),
                    handshake_timeout: Duration::from_millis(g.dtls_handshake_timeout_ms),
                    ..DtlsClientConfig::default()
                },
            }),
            params: coap.transmission_params(),
            block: coap.block_config(),
        }
    }

    /// The gateway's persistent state directory (`gateway.data_dir`); `None`: in memory only
    /// (the key is empty).
    pub fn data_dir(&self) -> Option<&Path> {
        let dir = self.data_dir.as_path();
        (!dir.as_os_str().is_empty()).then_some(dir)
    }

    /// Number of gateway shards: `gateway.shards`, or the number of CPUs (at most 256).
    pub fn shards(&self) -> usize {
        self.shards.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_SHARDS)
        })
    }

    /// How long shutdown waits for the gateway to drain.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }

    /// How often the gateway logs an activity summary (`None`: never).
    pub fn summary_interval(&self) -> Option<Duration> {
        let s = self.summary_interval_s;
        (s > 0).then(|| Duration::from_secs(s))
    }

    /// Socket buffer sizes for the gateway's sockets.
    pub fn socket_options(&self) -> SocketOptions {
        SocketOptions {
            recv_buffer: self.recv_buffer_bytes,
            send_buffer: self.recv_buffer_bytes,
        }
    }
}
