//! Driver for the reference MSGin5G Server core: the one driver loop ([`shard::run`]) on one
//! socket, one thread, one current-thread runtime.

use super::group_commit::PersistingServer;
use super::secure::Secure;
use super::shard::{self, CoreHandle, CountSent, Hooks, RunOptions, SocketId};
use super::socket::{bind_udp, DEFAULT_SOCKET_BUFFER};
use crate::dtls::DtlsStats;
use crate::metrics::ServerMetrics;
use crate::server::{ServerConfig, ServerCore, ServerDb, ServerStats, SERVER_SOCKET};
use metrics::CounterFn;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::sync::Notify;

/// The server's additions to the driver loop: the wall-clock anchor at start and the
/// sent/failed counters.
struct ServerHooks {
    sent: CountSent<ServerStats>,
}

impl Hooks<ServerCore> for ServerHooks {
    fn start(&mut self, core: &mut ServerCore, now: Instant) {
        core.set_wall_clock(now, SystemTime::now());
    }

    fn turn(&mut self, core: &mut ServerCore, now: Instant) {
        // Everything queued was read: the partial downlink aggregates go.
        core.handle_idle(now);
    }

    fn sent(&mut self, _core: &mut ServerCore, _socket: SocketId, sent: bool) {
        self.sent.counter(sent).increment(1);
    }
}

/// [`ServerHooks`] for the persisting server: each turn first takes the outcomes of finished
/// writes, and ends by handing its changes to the writer and holding its datagrams until they
/// are durable (group commit, [`PersistingServer`]).
struct PersistHooks {
    sent: CountSent<ServerStats>,
    /// When the next batch of registration changes is due ([`PersistingServer::next_wake`]).
    wake_at: Option<Instant>,
}

impl Hooks<PersistingServer> for PersistHooks {
    fn start(&mut self, server: &mut PersistingServer, now: Instant) {
        server.core_mut().set_wall_clock(now, SystemTime::now());
    }

    fn poll_wake(&self) -> Option<Instant> {
        self.wake_at
    }

    fn input(&mut self, server: &mut PersistingServer, now: Instant) {
        server.collect(now);
    }

    fn turn(&mut self, server: &mut PersistingServer, now: Instant) {
        server.end_turn(now);
    }

    fn turn_done(&mut self, server: &mut PersistingServer) {
        self.wake_at = server.next_wake();
    }

    fn sent(&mut self, _server: &mut PersistingServer, _socket: SocketId, sent: bool) {
        self.sent.counter(sent).increment(1);
    }
}

fn count_sent(core: &ServerCore) -> CountSent<ServerStats> {
    CountSent::new(core.stats(), |s| (&s.datagrams_sent, &s.send_errors))
}

/// Run `core` on `socket` until `shutdown` completes, then return the core.
///
/// The one driver loop ([`shard::run`]) with the server's hooks: each turn waits for a datagram,
/// the core's next timeout, or shutdown; reads up to 64 datagrams without waiting, calls
/// `handle_timeout` when due, and sends everything `poll_transmit` yields. This is the only place
/// the server's time is read (`Instant::now()`, and `SystemTime::now()` once at start for the
/// core's wall-clock anchor, see [`ServerCore::set_wall_clock`]). Datagrams received and sent are
/// counted in the core's [`ServerStats`]. Ends with an error only if the socket fails for good.
pub async fn run_server(
    socket: UdpSocket,
    core: ServerCore,
    shutdown: impl Future<Output = ()>,
) -> io::Result<ServerCore> {
    let hooks = ServerHooks {
        sent: count_sent(&core),
    };
    shard::run(vec![socket], core, hooks, RunOptions::default(), shutdown).await
}

/// A reference server running on its own thread; dropping it shuts it down.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    /// The coaps socket's address, when the server has a PSK table.
    coaps_addr: Option<SocketAddr>,
    stats: Arc<ServerStats>,
    /// The coaps socket's DTLS counters (zeros without one).
    dtls_stats: Arc<DtlsStats>,
    driver: Driver,
}

/// The loop running the core: in memory, or with group commit.
#[derive(Debug)]
enum Driver {
    InMemory(CoreHandle<ServerCore>),
    Persisting(CoreHandle<PersistingServer>),
}

/// Bind `bind` (4 MiB socket buffers) and run a [`ServerCore`] with `config` on a thread named
/// `msgin5g-server` with its own current-thread runtime; state in memory only.
pub fn spawn_server(bind: SocketAddr, config: ServerConfig) -> io::Result<ServerHandle> {
    spawn_server_with(bind, config, None)
}

/// [`spawn_server`] with persistence when `db` is given: its content is loaded before the first
/// datagram is read, and every turn's changes to registrations, stored and accepted messages
/// are written by a writer thread (group commit, [`PersistingServer`]) before that turn's
/// datagrams are sent (see [`ServerCore::take_changes`]).
pub fn spawn_server_with(
    bind: SocketAddr,
    config: ServerConfig,
    db: Option<ServerDb>,
) -> io::Result<ServerHandle> {
    // require_security: no plain listener; the core's socket 0 is bound to loopback only
    // (nobody outside reaches it; answers to peers without a DTLS session cannot leave).
    let plain = if config.require_security && config.psk.is_some() {
        super::secure_setup::loopback_like(bind)
    } else {
        bind
    };
    let socket = bind_udp(plain, false, DEFAULT_SOCKET_BUFFER, DEFAULT_SOCKET_BUFFER)?;
    let local_addr = socket.local_addr()?;
    let dtls_stats = Arc::new(DtlsStats::default());
    let mut sockets = vec![socket];
    let mut secure = Secure::new();
    let mut coaps_addr = None;
    if let Some(psk) = &config.psk {
        let coaps = bind_udp(
            config.coaps_listen,
            false,
            DEFAULT_SOCKET_BUFFER,
            DEFAULT_SOCKET_BUFFER,
        )?;
        coaps_addr = Some(coaps.local_addr()?);
        // Physical socket 1 (the core never names it) feeds the core's socket 0.
        secure.listen(
            sockets.len(),
            SERVER_SOCKET,
            super::secure_setup::dtls_server(psk, &config.dtls, dtls_stats.clone())?,
        );
        sockets.push(coaps);
        tracing::info!(
            coaps_listen = ?coaps_addr,
            identities = psk.len(),
            require_security = config.require_security,
            "coaps (DTLS 1.2 PSK) listening"
        );
    }
    if config.policy.identities_open() {
        tracing::info!(
            "identities are not verified: no provisioned credentials and no required_token \
             (any address may register or de-register any UE Service ID)"
        );
    } else {
        tracing::info!(
            ue_credentials = config.policy.ue_credentials.len(),
            required_token = config.policy.required_token.is_some(),
            "UE identities verified (24.538 §6.3.1.2.2)"
        );
    }
    let mut core = ServerCore::with_rng(config, crate::coap::rng::Rng::from_os());
    if let Some(db) = &db {
        // Loaded before the first datagram is read.
        let snapshot = db.load().map_err(|e| {
            io::Error::other(format!("server.data_dir {}: {e}", db.path().display()))
        })?;
        let restored = core.restore(Instant::now(), SystemTime::now(), snapshot);
        tracing::info!(
            path = %db.path().display(),
            registrations = restored.registrations,
            as_registrations = restored.as_registrations,
            stored_messages = restored.stored,
            accepted_messages = restored.accepted,
            topic_subscriptions = restored.topic_subscriptions,
            skipped = restored.skipped,
            "server state loaded"
        );
    }
    let stats = core.stats();
    let sent = count_sent(&core);
    let driver = match db {
        None => Driver::InMemory(shard::spawn(
            "msgin5g-server",
            sockets,
            core,
            ServerHooks { sent },
            RunOptions {
                secure,
                ..RunOptions::default()
            },
        )?),
        Some(db) => {
            let wake = Arc::new(Notify::new());
            let server = PersistingServer::new(core, db, wake.clone())?;
            let options = RunOptions {
                extra_wake: Some(wake),
                secure,
                ..RunOptions::default()
            };
            Driver::Persisting(shard::spawn(
                "msgin5g-server",
                sockets,
                server,
                PersistHooks {
                    sent,
                    wake_at: None,
                },
                options,
            )?)
        }
    };
    tracing::info!(%local_addr, "MSGin5G server listening");
    Ok(ServerHandle {
        local_addr,
        coaps_addr,
        stats,
        dtls_stats,
        driver,
    })
}

impl ServerHandle {
    /// The address the server's socket is bound to (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// The coaps address (the real port when `coaps_listen` had port 0), when
    /// [`ServerConfig::psk`] is set.
    pub fn coaps_addr(&self) -> Option<SocketAddr> {
        self.coaps_addr
    }

    /// The coaps socket's DTLS counters.
    pub fn dtls_stats(&self) -> Arc<DtlsStats> {
        self.dtls_stats.clone()
    }

    /// The `msgin5g_server_*` metric families of this server, for a
    /// [`Registry`](crate::metrics::Registry) served by a
    /// [`MetricsServer`](crate::metrics::MetricsServer).
    pub fn metrics(&self) -> ServerMetrics {
        ServerMetrics::new(self.stats.clone()).with_dtls(self.dtls_stats.clone())
    }

    /// Stop the loop, join the thread and hand back the core (for inspection in tests); a
    /// persisting server first writes and sends everything.
    pub fn shutdown(self) -> io::Result<ServerCore> {
        match self.driver {
            Driver::InMemory(driver) => driver.shutdown(),
            Driver::Persisting(driver) => driver.shutdown().map(PersistingServer::into_core),
        }
    }
}
