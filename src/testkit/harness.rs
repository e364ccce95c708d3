//! Starting the roles in-process for a test: every endpoint on 127.0.0.1 port 0 (the real
//! address from its handle), the gateway's own registration awaited through
//! [`GatewayHandle::ready`], the open-file limit raised for many-device tests, temporary data
//! directories removed on drop; coaps listeners with a PSK file ([`with_coaps`],
//! [`start_server_and_coaps_gateway`]).

use crate::dtls::PskTable;
use crate::gateway::GatewayConfig;
use crate::net::{
    spawn_config_server, spawn_gateway, spawn_relay, spawn_server, ConfigServerHandle,
    GatewayHandle, RelayHandle, ServerHandle,
};
use crate::relay::RelayConfig;
use crate::server::provisioning::{AutoProvision, Provisioning};
use crate::server::{ConfigServerConfig, ServerConfig};
use crate::testkit::device::Device;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// 127.0.0.1 port 0: where every test endpoint binds (the kernel picks the port).
pub const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Longest wait for a gateway's own registration (one upstream round trip on loopback; 5 s
/// covers a loaded debug build).
pub const READY_WAIT: Duration = Duration::from_secs(5);

/// Raise the open-file soft limit toward the hard limit (at most 65 536, never lowered): the
/// many-device tests open one socket per device (a common default soft limit is 1 024).
pub fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), maximum) = (limit.current, limit.maximum) else {
        return; // already unlimited
    };
    let target = maximum.unwrap_or(u64::MAX).min(65_536).max(current);
    if target > current {
        // A failure leaves the limit as it was; the test then fails on its own sockets.
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum,
            },
        );
    }
}

/// The reference MSGin5G Server on [`LOOPBACK`].
pub fn start_server(config: ServerConfig) -> ServerHandle {
    spawn_server(LOOPBACK, config).expect("start the server")
}

/// The reference configuration server on [`LOOPBACK`].
pub fn start_config_server(config: ConfigServerConfig) -> ConfigServerHandle {
    spawn_config_server(LOOPBACK, config).expect("start the configuration server")
}

/// Provisioning that configures every UE by the auto-provision rule `ue-{ueid}` (24.538 §7.2).
pub fn auto_provisioning() -> Arc<Provisioning> {
    Arc::new(Provisioning::auto_only(Some(auto_rule())))
}

/// The auto-provision rule `ue-{ueid}`.
pub fn auto_rule() -> AutoProvision {
    AutoProvision::new("ue-{ueid}").expect("auto-provision rule")
}

/// A configuration server on [`LOOPBACK`] configuring every UE by [`auto_provisioning`].
pub fn start_auto_config_server() -> ConfigServerHandle {
    start_config_server(ConfigServerConfig {
        provisioning: auto_provisioning(),
        ..ConfigServerConfig::default()
    })
}

/// A gateway of `shards` shards on [`LOOPBACK`] toward `upstream`, not waiting for its own
/// registration (see [`start_ready_gateway`]).
pub fn start_gateway(
    upstream: SocketAddr,
    shards: usize,
    config: GatewayConfig,
    drain_timeout: Duration,
) -> GatewayHandle {
    spawn_gateway(LOOPBACK, upstream, shards, config, drain_timeout).expect("start the gateway")
}

/// [`start_gateway`], returning once the server accepted the gateway's own registration
/// ([`wait_ready`]).
pub fn start_ready_gateway(
    upstream: SocketAddr,
    shards: usize,
    config: GatewayConfig,
    drain_timeout: Duration,
) -> GatewayHandle {
    let gateway = start_gateway(upstream, shards, config, drain_timeout);
    wait_ready(&gateway);
    gateway
}

/// A server and a gateway of `shards` shards in front of it, the gateway registered.
pub fn start_server_and_gateway(
    shards: usize,
    config: GatewayConfig,
    drain_timeout: Duration,
) -> (ServerHandle, GatewayHandle) {
    let server = start_server(ServerConfig::default());
    let gateway = start_ready_gateway(server.local_addr(), shards, config, drain_timeout);
    (server, gateway)
}

/// Block until the server accepted the gateway's own registration `count` times in all
/// ([`GatewayHandle::self_registered`]; at most [`READY_WAIT`]). Usable from synchronous tests
/// and from inside a runtime alike: the wait runs on a thread of its own.
pub fn wait_self_registered(gateway: &GatewayHandle, count: u64) {
    let registered = gateway.self_registered(count);
    let waited = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime for the wait")
            .block_on(async { tokio::time::timeout(READY_WAIT, registered).await })
    })
    .join()
    .expect("the wait thread");
    match waited {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("{error}"),
        Err(_) => {
            panic!("the gateway's registration was not accepted {count} times in {READY_WAIT:?}")
        }
    }
}

/// Block until the server accepted the gateway's own registration ([`GatewayHandle::ready`]).
pub fn wait_ready(gateway: &GatewayHandle) {
    wait_self_registered(gateway, 1);
}

/// A PSK table (docs/PROTOCOL.md §19) from its TOML text; panics on a bad file.
pub fn psk_table(toml: &str) -> Arc<PskTable> {
    Arc::new(PskTable::from_toml(toml).expect("a valid PSK file"))
}

/// `config` with a device-facing coaps listener on [`LOOPBACK`] accepting the identities of
/// the PSK file `psk_toml` (the plain listener stays, as without `require_security`).
pub fn with_coaps(psk_toml: &str, config: GatewayConfig) -> GatewayConfig {
    GatewayConfig {
        psk: Some(psk_table(psk_toml)),
        coaps_listen: LOOPBACK,
        ..config
    }
}

/// The server `config` with a coaps listener on [`LOOPBACK`] for the PSK file `psk_toml`.
pub fn server_with_coaps(psk_toml: &str, config: ServerConfig) -> ServerConfig {
    ServerConfig {
        psk: Some(psk_table(psk_toml)),
        coaps_listen: LOOPBACK,
        ..config
    }
}

/// A server and a gateway of `shards` shards in front of it with a coaps listener for the PSK
/// file `psk_toml` ([`with_coaps`]), the gateway registered; the last value is the gateway's
/// bound coaps address.
pub fn start_server_and_coaps_gateway(
    shards: usize,
    psk_toml: &str,
    config: GatewayConfig,
    drain_timeout: Duration,
) -> (ServerHandle, GatewayHandle, SocketAddr) {
    let (server, gateway) =
        start_server_and_gateway(shards, with_coaps(psk_toml, config), drain_timeout);
    let coaps = gateway.coaps_addr().expect("the gateway's coaps listener");
    (server, gateway, coaps)
}

/// A relay on [`LOOPBACK`] (device and configuration sockets) with `config`.
pub fn start_relay(config: RelayConfig) -> RelayHandle {
    spawn_relay(LOOPBACK, LOOPBACK, config).expect("start the relay")
}

/// `n` devices, each on a socket (source port) of its own on the loopback address of
/// `target`'s family, talking to `target`.
pub async fn bind_devices(target: SocketAddr, n: usize) -> Vec<Device> {
    let mut devices = Vec::with_capacity(n);
    for _ in 0..n {
        devices.push(Device::bind(target).await.expect("bind a device"));
    }
    devices
}

/// A fresh temporary directory named after `name` and this process, removed on drop (also
/// when the test fails).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// `$TMPDIR/msgin5g-<name>-<pid>`, emptied first.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("msgin5g-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
