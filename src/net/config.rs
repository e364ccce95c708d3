//! Driver for the configuration management server core (24.538 §6.2.1): the one driver loop
//! ([`shard::run`]) on one socket (UDP 65401 by default), one thread, one current-thread runtime.

use super::shard::{self, CoreHandle, CountSent, RunOptions};
use super::socket::{bind_udp, random_seed};
use crate::metrics::ConfigServerMetrics;
use crate::server::{ConfigServerConfig, ConfigServerCore, ConfigServerStats};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// Kernel buffer size of the configuration socket (configuration traffic is light).
const CONFIG_SOCKET_BUFFER: usize = 1 << 20;

/// A configuration server running on its own thread; dropping it shuts it down.
#[derive(Debug)]
pub struct ConfigServerHandle {
    local_addr: SocketAddr,
    stats: Arc<ConfigServerStats>,
    driver: CoreHandle<ConfigServerCore>,
}

/// Bind `bind` and run a [`ConfigServerCore`] with `config` on a thread named
/// `msgin5g-config` (standalone `msgin5g server`, or embedded by a gateway or relay that has no
/// upstream).
pub fn spawn_config_server(
    bind: SocketAddr,
    config: ConfigServerConfig,
) -> io::Result<ConfigServerHandle> {
    let socket = bind_udp(bind, false, CONFIG_SOCKET_BUFFER, CONFIG_SOCKET_BUFFER)?;
    let local_addr = socket.local_addr()?;
    let core = ConfigServerCore::new(config, random_seed());
    let stats = core.stats();
    let hooks = CountSent::new(stats.clone(), |s: &ConfigServerStats| {
        (&s.datagrams_sent, &s.send_errors)
    });
    let driver = shard::spawn(
        "msgin5g-config",
        vec![socket],
        core,
        hooks,
        RunOptions::default(),
    )?;
    tracing::info!(%local_addr, "MSGin5G configuration server listening");
    Ok(ConfigServerHandle {
        local_addr,
        stats,
        driver,
    })
}

impl ConfigServerHandle {
    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<ConfigServerStats> {
        self.stats.clone()
    }

    /// The `msgin5g_config_*` metric families of this server.
    pub fn metrics(&self) -> ConfigServerMetrics {
        ConfigServerMetrics::new(self.stats.clone())
    }

    /// Stop the loop, join the thread and hand back the core.
    pub fn shutdown(self) -> io::Result<ConfigServerCore> {
        self.driver.shutdown()
    }
}
