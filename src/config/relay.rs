//! `[relay]`: the Relay UE's keys (24.538 §6.2.2, §6.3.3, §6.4.2.4; docs/PROTOCOL.md §14).

use super::check::{at_least_one, invalid, listener_address, millis};
use super::error::ConfigError;
use crate::relay::RelayConfig;
use crate::server::configuration::CONFIG_PORT;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default `relay.data_dir`, relative to the working directory.
pub const DEFAULT_RELAY_DATA_DIR: &str = "msgin5g-data/relay";

/// Largest `relay.max_links`: each link is one socket (file descriptor and local port) of the
/// driver's table, after the two device-facing ones.
pub const MAX_RELAY_LINKS: usize = crate::net::shard::MAX_SOCKETS - crate::relay::FIRST_LINK_SOCKET;

/// `[relay]`: see [`EXAMPLE_TOML`](super::EXAMPLE_TOML) for each key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySection {
    /// Device-facing messaging address (24.538 §6.4.2.4).
    pub listen: SocketAddr,
    /// Device-facing configuration address (24.538 6.2.2.1: UDP 65401).
    pub config_listen: SocketAddr,
    /// MSGin5G Server address; `None` runs the reference server in-process.
    pub upstream: Option<SocketAddr>,
    /// Configuration server address; `None`: the upstream host on 65401, or the embedded one.
    pub config_upstream: Option<SocketAddr>,
    /// Device-facing coaps address, passed through undecrypted (docs/PROTOCOL.md §14, §19);
    /// active only with `coaps_upstream`.
    pub coaps_listen: SocketAddr,
    /// The MSGin5G Server's coaps address the coaps datagrams are forwarded to; `None`: no coaps
    /// passthrough.
    pub coaps_upstream: Option<SocketAddr>,
    /// Most links (one uplink endpoint each).
    pub max_links: usize,
    /// Idle time after which a link ends, in milliseconds.
    pub link_idle_timeout_ms: u64,
    /// How long an ended link keeps its endpoint, in milliseconds.
    pub unlinked_grace_ms: u64,
    /// Most device requests in flight over all links.
    pub max_exchanges: usize,
    /// Most device requests in flight per link.
    pub max_link_exchanges: usize,
    /// Most datagrams queued per link while its endpoint opens.
    pub max_link_queue: usize,
    /// When set, only devices with these IP addresses are linked.
    pub allow_list: Option<Vec<IpAddr>>,
    /// Answer a server CON request for an unknown recipient with 4.04.
    pub not_found_to_server: bool,
    /// Local IP of the uplink endpoints; `None`: loopback for a loopback upstream, else any.
    pub uplink_bind: Option<IpAddr>,
    /// Inclusive port range of the uplink endpoints; `None`: ephemeral ports.
    pub uplink_ports: Option<[u16; 2]>,
    /// Max-Age in seconds on 5.03 answers when a bound is hit.
    pub overload_max_age_s: u32,
    /// Queueing delay above which a new device request is shed, in milliseconds.
    pub overload_delay_ms: u64,
    /// Most 5.03 answers per second for requests shed by queueing delay.
    pub overload_answer_rate: u32,
    /// Receive-buffer fill (percent) from which a new device request is shed (0: off).
    pub overload_buffer_percent: u8,
    /// Prometheus `/metrics` listener (TCP); `None` runs none.
    pub metrics_listen: Option<SocketAddr>,
    /// Persistent link table directory; empty: in memory only.
    pub data_dir: PathBuf,
}

impl Default for RelaySection {
    fn default() -> Self {
        let core = RelayConfig::default();
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        RelaySection {
            listen: SocketAddr::new(any, 5683),
            config_listen: SocketAddr::new(any, CONFIG_PORT),
            upstream: None,
            config_upstream: None,
            coaps_listen: super::security::default_coaps_listen(),
            coaps_upstream: None,
            max_links: 10_000,
            link_idle_timeout_ms: millis(core.link_idle_timeout),
            unlinked_grace_ms: millis(core.unlinked_grace),
            max_exchanges: core.max_exchanges,
            max_link_exchanges: core.max_link_exchanges,
            max_link_queue: core.max_link_queue,
            allow_list: None,
            not_found_to_server: core.not_found_to_server,
            uplink_bind: None,
            uplink_ports: None,
            overload_max_age_s: core.overload_max_age,
            overload_delay_ms: millis(core.overload_delay),
            overload_answer_rate: core.overload_answer_rate,
            overload_buffer_percent: core.overload_buffer_percent,
            metrics_listen: None,
            data_dir: PathBuf::from(DEFAULT_RELAY_DATA_DIR),
        }
    }
}

impl RelaySection {
    /// Check every value (called from [`Config::validate`](super::Config::validate)).
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("relay.max_links", self.max_links)?;
        if self.max_links > MAX_RELAY_LINKS {
            return Err(invalid(
                "relay.max_links",
                format!("must be at most {MAX_RELAY_LINKS}"),
            ));
        }
        if self.listen == self.config_listen && self.listen.port() != 0 {
            return Err(invalid(
                "relay.config_listen",
                "must differ from relay.listen",
            ));
        }
        if let (Some(up), Some(conf)) = (self.upstream, self.config_upstream) {
            if up == conf {
                return Err(invalid(
                    "relay.config_upstream",
                    "must differ from relay.upstream",
                ));
            }
        }
        if let Some(coaps) = self.coaps_upstream {
            if coaps.port() == 0 || coaps.ip().is_unspecified() {
                return Err(invalid(
                    "relay.coaps_upstream",
                    "must be a unicast address with a port",
                ));
            }
            if Some(coaps) == self.upstream || Some(coaps) == self.config_upstream {
                return Err(invalid(
                    "relay.coaps_upstream",
                    "must differ from relay.upstream and relay.config_upstream",
                ));
            }
            if self.coaps_listen.port() != 0
                && (self.coaps_listen == self.listen || self.coaps_listen == self.config_listen)
            {
                return Err(invalid(
                    "relay.coaps_listen",
                    "must differ from relay.listen and relay.config_listen",
                ));
            }
        }
        if self.link_idle_timeout_ms == 0 {
            return Err(invalid("relay.link_idle_timeout_ms", "must be at least 1"));
        }
        if self.unlinked_grace_ms == 0 {
            return Err(invalid("relay.unlinked_grace_ms", "must be at least 1"));
        }
        at_least_one("relay.max_exchanges", self.max_exchanges)?;
        at_least_one("relay.max_link_exchanges", self.max_link_exchanges)?;
        at_least_one("relay.max_link_queue", self.max_link_queue)?;
        if self.overload_answer_rate == 0 {
            return Err(invalid("relay.overload_answer_rate", "must be at least 1"));
        }
        if self.overload_delay_ms == 0 {
            return Err(invalid("relay.overload_delay_ms", "must be at least 1"));
        }
        if self.overload_buffer_percent > 100 {
            return Err(invalid(
                "relay.overload_buffer_percent",
                "must be 0 (off) ..= 100",
            ));
        }
        if self.allow_list.as_ref().is_some_and(Vec::is_empty) {
            return Err(invalid(
                "relay.allow_list",
                "must not be empty (remove it to allow every device)",
            ));
        }
        if let Some([start, end]) = self.uplink_ports {
            if start == 0 || end < start {
                return Err(invalid(
                    "relay.uplink_ports",
                    "must be [start, end] with 1 <= start <= end",
                ));
            }
            if usize::from(end - start) + 1 < self.max_links {
                return Err(invalid(
                    "relay.uplink_ports",
                    "must hold at least relay.max_links ports",
                ));
            }
        }
        if let (Some(ip), Some(up)) = (self.uplink_bind, self.upstream) {
            if ip.is_ipv4() != up.is_ipv4() {
                return Err(invalid(
                    "relay.uplink_bind",
                    "must be of the upstream's address family",
                ));
            }
        }
        listener_address("relay.metrics_listen", self.metrics_listen)
    }

    /// The persistent link table's directory (`relay.data_dir`); `None`: in memory only (the
    /// key is empty).
    pub fn data_dir(&self) -> Option<&Path> {
        let dir = self.data_dir.as_path();
        (!dir.as_os_str().is_empty()).then_some(dir)
    }

    /// The configuration server when none is given: the upstream's host on port 65401.
    pub fn default_config_upstream(upstream: SocketAddr) -> SocketAddr {
        SocketAddr::new(upstream.ip(), CONFIG_PORT)
    }

    /// The relay core configuration toward `upstream` and `config_upstream` (resolved by the
    /// caller: given, or the embedded servers' addresses), with `params` for EXCHANGE_LIFETIME.
    pub fn relay_config(
        &self,
        upstream: SocketAddr,
        config_upstream: SocketAddr,
        params: crate::coap::TransmissionParams,
    ) -> RelayConfig {
        RelayConfig {
            upstream,
            config_upstream,
            coaps_upstream: self.coaps_upstream,
            coaps_listen: self.coaps_listen,
            max_links: self.max_links,
            link_idle_timeout: Duration::from_millis(self.link_idle_timeout_ms),
            unlinked_grace: Duration::from_millis(self.unlinked_grace_ms),
            max_exchanges: self.max_exchanges,
            max_link_exchanges: self.max_link_exchanges,
            max_link_queue: self.max_link_queue,
            allow_list: self
                .allow_list
                .as_ref()
                .map(|list| list.iter().map(IpAddr::to_canonical).collect()),
            not_found_to_server: self.not_found_to_server,
            uplink_ip: self
                .uplink_bind
                .unwrap_or_else(|| crate::net::local_bind_addr_for(upstream).ip()),
            uplink_ports: self.uplink_ports.map(|[start, end]| (start, end)),
            overload_max_age: self.overload_max_age_s,
            exchange_lifetime: params.exchange_lifetime(),
            overload_delay: Duration::from_millis(self.overload_delay_ms),
            overload_answer_rate: self.overload_answer_rate,
            overload_buffer_percent: self.overload_buffer_percent,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, RelaySection, DEFAULT_RELAY_DATA_DIR, EXAMPLE_TOML};

    fn invalid_field(text: &str) -> String {
        match Config::from_toml_str(text).expect("parses").validate() {
            Err(ConfigError::Invalid { field, .. }) => field.to_string(),
            other => panic!("expected an invalid field for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn relay_keys_are_validated_by_name() {
        for (text, field) in [
            ("max_links = 0", "relay.max_links"),
            ("max_links = 2000000", "relay.max_links"),
            (
                "listen = \"0.0.0.0:5000\"\nconfig_listen = \"0.0.0.0:5000\"",
                "relay.config_listen",
            ),
            (
                "upstream = \"10.0.0.1:5683\"\nconfig_upstream = \"10.0.0.1:5683\"",
                "relay.config_upstream",
            ),
            ("link_idle_timeout_ms = 0", "relay.link_idle_timeout_ms"),
            ("unlinked_grace_ms = 0", "relay.unlinked_grace_ms"),
            ("max_exchanges = 0", "relay.max_exchanges"),
            ("max_link_exchanges = 0", "relay.max_link_exchanges"),
            ("max_link_queue = 0", "relay.max_link_queue"),
            ("allow_list = []", "relay.allow_list"),
            ("uplink_ports = [0, 10]", "relay.uplink_ports"),
            ("uplink_ports = [10, 9]", "relay.uplink_ports"),
            (
                "max_links = 10\nuplink_ports = [40000, 40008]",
                "relay.uplink_ports",
            ),
            (
                "upstream = \"10.0.0.1:5683\"\nuplink_bind = \"::1\"",
                "relay.uplink_bind",
            ),
            (
                "metrics_listen = \"224.0.0.1:9466\"",
                "relay.metrics_listen",
            ),
            ("coaps_upstream = \"10.0.0.1:0\"", "relay.coaps_upstream"),
            (
                "upstream = \"10.0.0.1:5683\"\ncoaps_upstream = \"10.0.0.1:5683\"",
                "relay.coaps_upstream",
            ),
            (
                "coaps_upstream = \"10.0.0.1:5684\"\ncoaps_listen = \"0.0.0.0:5683\"",
                "relay.coaps_listen",
            ),
        ] {
            assert_eq!(
                invalid_field(&format!("[relay]\n{text}\n")),
                field,
                "{text}"
            );
        }
        let ok = Config::from_toml_str(
            "[relay]\nmax_links = 10\nuplink_ports = [40000, 40009]\nallow_list = [\"10.1.1.1\"]\n",
        )
        .unwrap();
        ok.validate().unwrap();
    }

    #[test]
    fn relay_section_carries_into_the_core_config() {
        let config = Config::from_toml_str(
            "[relay]\nmax_links = 7\nuplink_ports = [40000, 40009]\nnot_found_to_server = false\n",
        )
        .unwrap();
        let up = "127.0.0.1:5683".parse().unwrap();
        let conf = RelaySection::default_config_upstream(up);
        assert_eq!(conf.port(), 65401);
        let core = config
            .relay
            .relay_config(up, conf, config.transmission_params());
        assert_eq!(core.max_links, 7);
        assert_eq!(core.uplink_ports, Some((40000, 40009)));
        assert!(!core.not_found_to_server);
        assert_eq!(core.uplink_ip, up.ip());
        assert!(EXAMPLE_TOML.contains("[relay]\n"));
        assert_eq!(
            config.relay.data_dir(),
            Some(std::path::Path::new(DEFAULT_RELAY_DATA_DIR))
        );
        let in_memory = Config::from_toml_str("[relay]\ndata_dir = \"\"\n").unwrap();
        assert_eq!(in_memory.relay.data_dir(), None);
    }
}
