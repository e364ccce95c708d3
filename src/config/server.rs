//! `[server]`: the reference MSGin5G Server's keys (messaging, 23.554 §8.2–§8.4) and its
//! configuration management server's (24.538 §6.2.1), their checks and the [`ServerConfig`] and
//! [`ConfigServerConfig`] they make.

use super::check::{at_least_one, invalid, listener_address, no_empty_entries, not_empty};
use super::coap::CoapSection;
use super::error::ConfigError;
use super::gateway::MAX_BULK_BYTES;
use super::security::{default_coaps_listen, load_psk_table, DeviceSecurity, SERVER_DTLS};
use crate::dtls::DtlsServerConfig;
use crate::server::configuration::{CONFIG_PORT, CONFIG_URI_PATH, DEFAULT_MAX_RESPONSE_BYTES};
use crate::server::provisioning::{AutoProvision, Provisioning, DEFAULT_AUTO_PROVISION_TEMPLATE};
use crate::server::{
    ConfigServerConfig, MessagingConfig, ServerConfig, ServerPolicy, ServerTestHooks,
    MAX_TOPIC_EXPIRATION_S,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest `server.downlink_aggregate_delay_ms` (well below the ACK timeout of the copies
/// waiting in a queue).
pub const MAX_DOWNLINK_AGGREGATE_DELAY_MS: u64 = 1000;

/// Default `server.max_provisioned`.
pub const DEFAULT_MAX_PROVISIONED: usize = 1_000_000;
/// Smallest `server.config_max_response_bytes` (room for one configuration).
pub const MIN_CONFIG_RESPONSE_BYTES: usize = 256;

/// Default `server.data_dir`, relative to the working directory.
pub const DEFAULT_SERVER_DATA_DIR: &str = "msgin5g-data/server";

/// `[server]`: see [`EXAMPLE_TOML`](super::EXAMPLE_TOML) for each key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// UDP address of the standalone server.
    pub listen: SocketAddr,
    /// coaps address of the standalone server (RFC 7252 §9); active only with `psk_file`.
    pub coaps_listen: SocketAddr,
    /// PSK file (identities, keys, what each may act for); `None`: no coaps listener.
    pub psk_file: Option<PathBuf>,
    /// No plain listener: every UE, AS and gateway must use coaps (needs `psk_file`).
    pub require_security: bool,
    /// Most DTLS sessions on the coaps socket.
    pub dtls_max_sessions: usize,
    /// Most DTLS handshakes in progress on the coaps socket.
    pub dtls_max_handshakes: usize,
    /// A DTLS handshake not done by then is dropped, in milliseconds.
    pub dtls_handshake_timeout_ms: u64,
    /// An established DTLS session unused this long is dropped, in seconds.
    pub dtls_session_idle_s: u64,
    /// How often the HelloVerifyRequest cookie secret changes, in seconds.
    pub dtls_cookie_rotate_s: u64,
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
    /// Static broadcast areas: area to member UE Service IDs.
    pub broadcast_areas: BTreeMap<String, Vec<String>>,
    /// Longest topic subscription granted, in seconds.
    pub topic_max_expiration_s: u64,
    /// Most topics per subscriber.
    pub max_topics_per_subscriber: usize,
    /// Most subscribers per topic.
    pub max_subscribers_per_topic: usize,
    /// Most distinct topics with subscribers.
    pub max_topics: usize,
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
    /// Segment size toward a UE without `clientProfile.maxSegmentSize`, in bytes.
    pub segment_size: usize,
    /// Largest whole (reassembled, or unsegmented from an AS) message in bytes.
    pub max_message_bytes: usize,
    /// Most sets in reassembly.
    pub reassembly_max_sets: usize,
    /// Most decoded bytes held in reassembly.
    pub reassembly_max_bytes: usize,
    /// Reassembly time limit from a set's first segment, in seconds.
    pub reassembly_timeout_s: u64,
    /// Most `SEGREC`s per incomplete set.
    pub segrec_retries: u32,
    /// Most outgoing sets kept for `SEGREC`.
    pub segmented_max_sets: usize,
    /// Most elements per downlink aggregate toward a Gateway UE; 0: off.
    pub downlink_aggregate_max_entries: usize,
    /// Largest JSON body of a downlink aggregate, in bytes.
    pub downlink_aggregate_max_bytes: usize,
    /// Longest a downlink copy waits in its aggregation queue, in milliseconds.
    pub downlink_aggregate_delay_ms: u64,
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
        let dtls = DtlsServerConfig::default();
        ServerSection {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5683),
            coaps_listen: default_coaps_listen(),
            psk_file: None,
            require_security: false,
            dtls_max_sessions: dtls.max_sessions,
            dtls_max_handshakes: dtls.max_handshakes,
            dtls_handshake_timeout_ms: dtls.handshake_timeout.as_millis() as u64,
            dtls_session_idle_s: dtls.session_idle.as_secs(),
            dtls_cookie_rotate_s: dtls.cookie_rotate.as_secs(),
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
            broadcast_areas: m.broadcast_areas,
            topic_max_expiration_s: m.topic_max_expiration.as_secs(),
            max_topics_per_subscriber: m.max_topics_per_subscriber,
            max_subscribers_per_topic: m.max_subscribers_per_topic,
            max_topics: m.max_topics,
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
            segment_size: m.segment_size,
            max_message_bytes: m.max_message_bytes,
            reassembly_max_sets: m.reassembly_max_sets,
            reassembly_max_bytes: m.reassembly_max_bytes,
            reassembly_timeout_s: m.reassembly_timeout.as_secs(),
            segrec_retries: m.segrec_retries,
            segmented_max_sets: m.segmented_max_sets,
            downlink_aggregate_max_entries: m.downlink_aggregate_max_entries,
            downlink_aggregate_max_bytes: m.downlink_aggregate_max_bytes,
            downlink_aggregate_delay_ms: m.downlink_aggregate_delay.as_millis() as u64,
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
impl ServerSection {
    /// Check the messaging server's `[server]` values (the configuration server's are
    /// [`ServerSection::validate_configuration_keys`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = self;
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
        for (area, members) in &s.broadcast_areas {
            if area.is_empty() {
                return Err(invalid(
                    "server.broadcast_areas",
                    "area ids must not be empty",
                ));
            }
            no_empty_entries("server.broadcast_areas", Some(members))?;
        }
        if !(1..=MAX_TOPIC_EXPIRATION_S).contains(&s.topic_max_expiration_s) {
            return Err(invalid(
                "server.topic_max_expiration_s",
                format!("must be between 1 and {MAX_TOPIC_EXPIRATION_S}"),
            ));
        }
        at_least_one(
            "server.max_topics_per_subscriber",
            s.max_topics_per_subscriber,
        )?;
        at_least_one(
            "server.max_subscribers_per_topic",
            s.max_subscribers_per_topic,
        )?;
        at_least_one("server.max_topics", s.max_topics)?;
        at_least_one("server.max_aggregate_entries", s.max_aggregate_entries)?;
        at_least_one(
            "server.max_outstanding_deliveries",
            s.max_outstanding_deliveries,
        )?;
        at_least_one("server.delivery_attempts", s.delivery_attempts)?;
        at_least_one("server.segment_size", s.segment_size)?;
        at_least_one("server.max_message_bytes", s.max_message_bytes)?;
        at_least_one("server.reassembly_max_sets", s.reassembly_max_sets)?;
        at_least_one("server.reassembly_max_bytes", s.reassembly_max_bytes)?;
        at_least_one("server.segmented_max_sets", s.segmented_max_sets)?;
        at_least_one(
            "server.downlink_aggregate_max_bytes",
            s.downlink_aggregate_max_bytes,
        )?;
        if s.downlink_aggregate_delay_ms > MAX_DOWNLINK_AGGREGATE_DELAY_MS {
            return Err(invalid(
                "server.downlink_aggregate_delay_ms",
                format!("must be at most {MAX_DOWNLINK_AGGREGATE_DELAY_MS}"),
            ));
        }
        if s.reassembly_timeout_s == 0 {
            return Err(invalid("server.reassembly_timeout_s", "must be at least 1"));
        }
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
        self.device_security().validate(&SERVER_DTLS)
    }

    /// The security keys as one value (checked by [`DeviceSecurity::validate`]).
    fn device_security(&self) -> DeviceSecurity<'_> {
        DeviceSecurity {
            coaps_listen: self.coaps_listen,
            plain_listens: [
                ("server.listen", self.listen),
                ("server.config_listen", self.config_listen),
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

    /// Whether the server opens a coaps listener (`psk_file` is set).
    pub fn coaps_enabled(&self) -> bool {
        self.psk_file.is_some()
    }

    /// The DTLS bounds of the coaps socket (`dtls_*` keys).
    pub fn dtls_settings(&self) -> DtlsServerConfig {
        self.device_security().settings()
    }

    /// The identities of the PSK file (`psk_file`), read and checked; `None` without one.
    pub fn psk_table(&self) -> Result<Option<Arc<crate::dtls::PskTable>>, ConfigError> {
        load_psk_table("server.psk_file", self.psk_file.as_ref())
    }

    /// Check the configuration server's keys (the provisioning file itself is read by
    /// [`ServerSection::config_server_config`]).
    pub fn validate_configuration_keys(&self) -> Result<(), ConfigError> {
        let s = self;
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
        self.auto_provision.unwrap_or(self.provisioning.is_none())
    }

    /// The `msgin5gServerAddress` handed out: `server.public_address`, else
    /// `coap://<server.listen>/<server.uri_path>` with an unspecified address shown as loopback.
    pub fn public_address(&self) -> String {
        if let Some(address) = &self.public_address {
            return address.clone();
        }
        let mut listen = self.listen;
        if listen.ip().is_unspecified() {
            listen.set_ip(match listen.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        format!("coap://{listen}/{}", self.uri_path)
    }

    /// The configuration server configuration, with `coap`'s bounds, reading the provisioning
    /// file (an unreadable, malformed or too large file names `server.provisioning`).
    pub fn config_server_config(
        &self,
        coap: &CoapSection,
    ) -> Result<ConfigServerConfig, ConfigError> {
        let s = self;
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
        let default_segment_size = u32::try_from(s.segment_size).unwrap_or(u32::MAX).max(1);
        Ok(ConfigServerConfig {
            service_id: s.service_id.clone(),
            uri_path: s.config_uri_path.clone(),
            public_address: self.public_address(),
            default_segment_size,
            provisioning: Arc::new(provisioning.with_auto_provision(auto)),
            max_bulk_entries: s.config_max_bulk_entries,
            max_request_bytes: coap.max_request_bytes,
            max_response_bytes: s.config_max_response_bytes,
            allowed_gateways: s
                .allowed_gateways
                .as_ref()
                .map(|list| list.iter().cloned().collect()),
            dedup_max_entries: s.dedup_max_entries,
            dedup_exchanges_per_peer: s.dedup_exchanges_per_peer,
            params: coap.transmission_params(),
            block: coap.block_config(),
        })
    }

    /// The reference server core configuration, with `coap`'s bounds (no test hooks).
    pub fn core_config(&self, coap: &CoapSection) -> ServerConfig {
        let s = self;
        ServerConfig {
            service_id: s.service_id.clone(),
            uri_path: s.uri_path.clone(),
            max_bulk_entries: s.max_bulk_entries,
            max_request_bytes: coap.max_request_bytes,
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
            params: coap.transmission_params(),
            block: coap.block_config(),
            // Read by [`ServerSection::psk_table`] (file I/O); set by `Config::server_config_with_keys`.
            psk: None,
            coaps_listen: s.coaps_listen,
            require_security: s.require_security,
            dtls: s.dtls_settings(),
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
                segment_size: s.segment_size,
                // Filled from the provisioning file by the driver, as `ue_credentials`.
                ue_segment_sizes: Default::default(),
                max_message_bytes: s.max_message_bytes,
                reassembly_max_sets: s.reassembly_max_sets,
                reassembly_max_bytes: s.reassembly_max_bytes,
                reassembly_timeout: Duration::from_secs(s.reassembly_timeout_s),
                segrec_retries: s.segrec_retries,
                segmented_max_sets: s.segmented_max_sets,
                downlink_aggregate_max_entries: s.downlink_aggregate_max_entries,
                downlink_aggregate_max_bytes: s.downlink_aggregate_max_bytes,
                downlink_aggregate_delay: Duration::from_millis(s.downlink_aggregate_delay_ms),
                broadcast_areas: s.broadcast_areas.clone(),
                topic_max_expiration: Duration::from_secs(s.topic_max_expiration_s),
                max_topics_per_subscriber: s.max_topics_per_subscriber,
                max_subscribers_per_topic: s.max_subscribers_per_topic,
                max_topics: s.max_topics,
            },
        }
    }

    /// The standalone server's persistent state directory (`server.data_dir`); `None`: in
    /// memory only (the key is empty).
    pub fn data_dir(&self) -> Option<&Path> {
        let dir = self.data_dir.as_path();
        (!dir.as_os_str().is_empty()).then_some(dir)
    }
}
