//! Driver for the Relay UE core: the one driver loop ([`shard::run`]) on the two device-facing
//! sockets (messaging, configuration) plus the per-link uplink endpoints the core opens.

use super::shard::{self, CoreHandle, CountSent, RunOptions};
use super::socket::{bind_udp, DEFAULT_SOCKET_BUFFER};
use crate::metrics::RelayMetrics;
use crate::relay::{RelayConfig, RelayCore, RelayStats};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A relay running on its own thread; dropping it shuts it down.
#[derive(Debug)]
pub struct RelayHandle {
    stats: Arc<RelayStats>,
    driver: CoreHandle<RelayCore>,
}

/// Bind the messaging socket `listen` (id 0) and the configuration socket `config_listen` (id 1)
/// with 4 MiB buffers and run a [`RelayCore`] with `config` on a thread named `msgin5g-relay`.
pub fn spawn_relay(
    listen: SocketAddr,
    config_listen: SocketAddr,
    config: RelayConfig,
) -> io::Result<RelayHandle> {
    let sockets = [listen, config_listen]
        .into_iter()
        .map(|bind| bind_udp(bind, false, DEFAULT_SOCKET_BUFFER, DEFAULT_SOCKET_BUFFER))
        .collect::<io::Result<Vec<_>>>()?;
    let core = RelayCore::new(config);
    let stats = core.stats();
    let hooks = CountSent::new(stats.clone(), |s: &RelayStats| {
        (&s.datagrams_sent, &s.send_errors)
    });
    let driver = shard::spawn("msgin5g-relay", sockets, core, hooks, RunOptions::default())?;
    let addrs = driver.local_addrs();
    tracing::info!(listen = %addrs[0], config_listen = %addrs[1], "MSGin5G relay listening");
    Ok(RelayHandle { stats, driver })
}

impl RelayHandle {
    /// The bound device-facing messaging address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.driver.local_addrs()[0]
    }

    /// The bound device-facing configuration address.
    pub fn config_local_addr(&self) -> SocketAddr {
        self.driver.local_addrs()[1]
    }

    /// The relay's counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        self.stats.clone()
    }

    /// The `msgin5g_relay_*` metric families of this relay.
    pub fn metrics(&self) -> RelayMetrics {
        RelayMetrics::new(self.stats.clone())
    }

    /// Stop the loop, join the thread and hand back the core (for inspection in tests).
    pub fn shutdown(self) -> io::Result<RelayCore> {
        self.driver.shutdown()
    }
}
