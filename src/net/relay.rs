//! Driver for the Relay UE core: the one driver loop ([`shard::run`]) on the three device-facing
//! sockets (messaging, configuration, coaps passthrough) plus the per-link uplink endpoints the
//! core opens.

use super::shard::{self, CoreHandle, CountSent, Hooks, RunOptions, SocketId};
use super::socket::{bind_udp, DEFAULT_SOCKET_BUFFER};
use crate::metrics::RelayMetrics;
use crate::relay::{RelayConfig, RelayCore, RelayDb, RelayStats};
use metrics::CounterFn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The relay's additions to the driver loop: persistence of the link table (one write
/// transaction per turn with changes) and the sent/failed counters.
struct RelayHooks {
    sent: CountSent<RelayStats>,
    persist: Option<RelayDb>,
}

impl Hooks<RelayCore> for RelayHooks {
    fn turn(&mut self, core: &mut RelayCore, _now: Instant) {
        self.write(core);
    }

    fn turn_done(&mut self, core: &mut RelayCore) {
        // Endpoints opened during the turn's socket ops: written before their queued
        // datagrams leave (next turn).
        self.write(core);
    }

    fn sent(&mut self, _core: &mut RelayCore, _socket: SocketId, sent: bool) {
        self.sent.counter(sent).increment(1);
    }
}

impl RelayHooks {
    /// Write the core's changed links in one transaction; on failure, count, log, and keep them
    /// for the next turn.
    fn write(&mut self, core: &mut RelayCore) {
        let Some(db) = &self.persist else {
            return;
        };
        let changes = core.take_changes();
        if changes.is_empty() {
            return;
        }
        let stats = core.stats();
        match db.apply(&changes) {
            Ok(()) => {
                stats.persist_commits.increment(1);
            }
            Err(error) => {
                stats.persist_failures.increment(1);
                tracing::error!(%error, records = changes.links.len(), "relay links not written");
                core.retry_changes(&changes);
            }
        }
    }
}

/// A relay running on its own thread; dropping it shuts it down.
#[derive(Debug)]
pub struct RelayHandle {
    stats: Arc<RelayStats>,
    driver: CoreHandle<RelayCore>,
    /// Whether the coaps passthrough runs.
    coaps: bool,
}

/// Bind the messaging socket `listen` (id 0), the configuration socket `config_listen` (id 1)
/// and the coaps socket ([`RelayConfig::coaps_listen`], id 2, when
/// [`RelayConfig::coaps_upstream`] is set) with 4 MiB buffers and run a [`RelayCore`] with `config` on a thread named `msgin5g-relay`;
/// links in memory only.
pub fn spawn_relay(
    listen: SocketAddr,
    config_listen: SocketAddr,
    config: RelayConfig,
) -> io::Result<RelayHandle> {
    spawn_relay_with(listen, config_listen, config, None)
}

/// [`spawn_relay`] with the link table persisted in `db` when given: its links are loaded (and
/// their endpoints re-opened on their old ports) before the first datagram is read, and every
/// turn's changes are written (a new link's before anything is relayed on it).
pub fn spawn_relay_with(
    listen: SocketAddr,
    config_listen: SocketAddr,
    config: RelayConfig,
    db: Option<RelayDb>,
) -> io::Result<RelayHandle> {
    // The coaps socket (id 2): `coaps_listen` with a passthrough, else a loopback placeholder
    // nobody is told about (the socket table is contiguous).
    let coaps_listen = match config.coaps_upstream {
        Some(_) => config.coaps_listen,
        None => {
            let loopback: std::net::IpAddr = if listen.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            SocketAddr::new(loopback, 0)
        }
    };
    let sockets = [listen, config_listen, coaps_listen]
        .into_iter()
        .map(|bind| bind_udp(bind, false, DEFAULT_SOCKET_BUFFER, DEFAULT_SOCKET_BUFFER))
        .collect::<io::Result<Vec<_>>>()?;
    let coaps_upstream = config.coaps_upstream;
    let mut core = RelayCore::new(config);
    if let Some(db) = &db {
        let snapshot = db.load().map_err(|e| {
            io::Error::other(format!("relay.data_dir {}: {e}", db.path().display()))
        })?;
        let restored = core.restore(Instant::now(), SystemTime::now(), snapshot);
        tracing::info!(
            path = %db.path().display(),
            links = restored.links,
            skipped = restored.skipped,
            "relay links loaded"
        );
    }
    let stats = core.stats();
    let hooks = RelayHooks {
        sent: CountSent::new(stats.clone(), |s: &RelayStats| {
            (&s.datagrams_sent, &s.send_errors)
        }),
        persist: db,
    };
    let driver = shard::spawn("msgin5g-relay", sockets, core, hooks, RunOptions::default())?;
    let addrs = driver.local_addrs();
    tracing::info!(listen = %addrs[0], config_listen = %addrs[1], "MSGin5G relay listening");
    if let Some(upstream) = coaps_upstream {
        tracing::info!(coaps_listen = %addrs[2], coaps_upstream = %upstream, "coaps passed through undecrypted");
    }
    Ok(RelayHandle {
        stats,
        driver,
        coaps: coaps_upstream.is_some(),
    })
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

    /// The bound device-facing coaps address, when the coaps passthrough runs
    /// ([`RelayConfig::coaps_upstream`]).
    pub fn coaps_local_addr(&self) -> Option<SocketAddr> {
        self.coaps.then(|| self.driver.local_addrs()[2])
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
