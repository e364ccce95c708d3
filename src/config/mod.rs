//! The one configuration: TOML file + CLI flags, validated once into typed core configs.
//!
//! Load with [`Config::load`] (or [`Config::from_toml_str`]), apply flag overrides, call
//! [`Config::validate`] once, then hand [`Config::gateway_config`] / [`Config::server_config`] to
//! the cores. Every key, its default and its meaning are listed in [`EXAMPLE_TOML`]
//! (`msgin5g print-config`). Unknown keys are rejected; a missing key keeps its default.
//!
//! Files, one per section plus the shared parts:
//! - `gateway.rs`: `[gateway]` ([`GatewaySection`]), the Gateway UE.
//! - `server.rs`: `[server]` ([`ServerSection`]), the reference server and its configuration
//!   server.
//! - `relay.rs`: `[relay]` ([`RelaySection`]), the Relay UE.
//! - `coap.rs`: `[coap]` ([`CoapSection`]), CoAP parameters shared by every core.
//! - `security.rs`: the coaps keys the sections share ([`UpstreamAddr`], the DTLS bounds as a
//!   [`DtlsServerConfig`](crate::dtls::DtlsServerConfig), docs/PROTOCOL.md §19).
//! - `example.rs`: [`EXAMPLE_TOML`]; `error.rs`: [`ConfigError`]; `check.rs`: the value checks
//!   the sections share.

mod check;
mod coap;
mod error;
mod example;
mod gateway;
mod relay;
mod security;
mod server;
#[cfg(test)]
mod tests;

pub use coap::{
    CoapSection, MAX_ACK_TIMEOUT_MS, MAX_REQUEST_BYTES, MAX_RETRANSMIT, MIN_REQUEST_BYTES,
};
pub use error::ConfigError;
pub use example::EXAMPLE_TOML;
pub use gateway::{
    AnswerModeSetting, GatewaySection, BULK_DATAGRAM_OVERHEAD, DEFAULT_GATEWAY_DATA_DIR,
    MAX_BLOCK1_BULK_BYTES, MAX_BULK_BYTES, MAX_SOCKET_BUFFER, MAX_SUMMARY_INTERVAL_S,
    MAX_UPLINKS_PER_SHARD, MIN_BULK_BYTES, MIN_SOCKET_BUFFER,
};
pub use relay::{RelaySection, DEFAULT_RELAY_DATA_DIR, MAX_RELAY_LINKS};
pub use security::{
    default_coaps_listen, UpstreamAddr, UpstreamPsk, COAPS_PORT, MAX_DTLS_SESSIONS,
    MAX_PSK_IDENTITY_LEN, MAX_PSK_KEY_LEN,
};
pub use server::{
    ServerSection, DEFAULT_MAX_PROVISIONED, DEFAULT_SERVER_DATA_DIR, MIN_CONFIG_RESPONSE_BYTES,
};

use crate::coap::block::BlockConfig;
use crate::coap::TransmissionParams;
use crate::gateway::GatewayConfig;
use crate::net::SocketOptions;
use crate::server::{ConfigServerConfig, ServerConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

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
    /// `[coap]` comes first (the gateway's checks compare against it), then `[gateway]`, the
    /// messaging keys of `[server]`, `[relay]`, and the configuration server's keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.coap.validate()?;
        self.gateway.validate(&self.coap)?;
        self.server.validate()?;
        self.relay.validate()?;
        self.server.validate_configuration_keys()
    }

    /// Whether unlisted UE IDs are auto-provisioned: `server.auto_provision`, by default on
    /// exactly when no provisioning file is given.
    pub fn auto_provision_enabled(&self) -> bool {
        self.server.auto_provision_enabled()
    }

    /// The `msgin5gServerAddress` handed out: `server.public_address`, else
    /// `coap://<server.listen>/<server.uri_path>` with an unspecified address shown as loopback.
    pub fn public_address(&self) -> String {
        self.server.public_address()
    }

    /// The configuration server configuration from `[server]` and `[coap]`, reading the
    /// provisioning file (an unreadable, malformed or too large file names
    /// `server.provisioning`).
    pub fn config_server_config(&self) -> Result<ConfigServerConfig, ConfigError> {
        self.server.config_server_config(&self.coap)
    }

    /// Block-wise transfer bounds from `[coap]` (RFC 7959).
    pub fn block_config(&self) -> BlockConfig {
        self.coap.block_config()
    }

    /// RFC 7252 transmission parameters from `[coap]` (PROCESSING_DELAY = ACK_TIMEOUT).
    pub fn transmission_params(&self) -> TransmissionParams {
        self.coap.transmission_params()
    }

    /// The gateway core configuration from `[gateway]` and `[coap]`, without the PSK file's
    /// identities (see [`Config::gateway_config_with_keys`]).
    pub fn gateway_config(&self) -> GatewayConfig {
        self.gateway.core_config(&self.coap)
    }

    /// [`Config::gateway_config`] with the identities of `gateway.psk_file` read (an unreadable
    /// or malformed file names `gateway.psk_file`): the coaps listener runs with them.
    pub fn gateway_config_with_keys(&self) -> Result<GatewayConfig, ConfigError> {
        let mut config = self.gateway_config();
        config.psk = self.gateway.psk_table()?;
        Ok(config)
    }

    /// The gateway's persistent state directory (`gateway.data_dir`); `None`: in memory only
    /// (the key is empty).
    pub fn gateway_data_dir(&self) -> Option<&Path> {
        self.gateway.data_dir()
    }

    /// The standalone server's persistent state directory (`server.data_dir`); `None`: in
    /// memory only (the key is empty).
    pub fn server_data_dir(&self) -> Option<&Path> {
        self.server.data_dir()
    }

    /// The reference server configuration from `[server]` and `[coap]` (no test hooks), without
    /// the PSK file's identities (see [`Config::server_config_with_keys`]).
    pub fn server_config(&self) -> ServerConfig {
        self.server.core_config(&self.coap)
    }

    /// [`Config::server_config`] with the identities of `server.psk_file` read (an unreadable or
    /// malformed file names `server.psk_file`): the coaps listener runs with them.
    pub fn server_config_with_keys(&self) -> Result<ServerConfig, ConfigError> {
        let mut config = self.server_config();
        config.psk = self.server.psk_table()?;
        Ok(config)
    }

    /// Number of gateway shards: `gateway.shards`, or the number of CPUs (at most 256).
    pub fn gateway_shards(&self) -> usize {
        self.gateway.shards()
    }

    /// How long shutdown waits for the gateway to drain.
    pub fn drain_timeout(&self) -> Duration {
        self.gateway.drain_timeout()
    }

    /// How often the gateway logs an activity summary (`None`: never).
    pub fn summary_interval(&self) -> Option<Duration> {
        self.gateway.summary_interval()
    }

    /// Socket buffer sizes for the gateway's sockets.
    pub fn socket_options(&self) -> SocketOptions {
        self.gateway.socket_options()
    }
}
