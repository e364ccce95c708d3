//! Driver for the Gateway UE: `shards` share-nothing shards, each with its own device socket
//! (`SO_REUSEPORT`, same port), its own uplink socket, thread, current-thread runtime and
//! [`GatewayCore`] (docs/ARCHITECTURE.md §2).

use super::driver::{self, DRAIN_BATCH};
use super::secure::Secure;
use super::shard::{self, CoreHandle, Hooks, RunOptions, SocketId};
use super::socket::{bind_udp, ensure_port_free, local_bind_addr_for, SocketOptions};
use crate::coap::rng::Rng;
use crate::dtls::DtlsStats;
use crate::gateway::persist::{commit_durability, restore_directory};
#[cfg(doc)]
use crate::gateway::socket_of;
use crate::gateway::{
    journal_owner, side_of, Directory, GatewayConfig, GatewayCore, GatewayDb, GatewayStats,
    Handoff, CONFIG_SOCKET, DEVICE_SOCKET, UPLINK_SOCKET_BASE,
};
use crate::metrics::GatewayMetrics;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use metrics::CounterFn;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::sync::{watch, Notify};

/// Most shards one gateway runs (one per core is the intent; this only stops typos).
pub const MAX_SHARDS: usize = 256;

/// Capacity of each shard's handoff channel (cross-shard downlink deliveries; docs/ARCHITECTURE.md §4).
/// When full, the sending shard answers the server 5.03 at once.
pub const HANDOFF_CHANNEL_CAPACITY: usize = 4096;

/// One shard's end of the cross-shard channels: its inbox and every shard's outbox, each with
/// the `Notify` that wakes the receiving shard.
#[derive(Debug, Clone)]
pub struct ShardMesh {
    inbox: Receiver<Handoff>,
    wake: Arc<Notify>,
    peers: Vec<(Sender<Handoff>, Arc<Notify>)>,
}

impl ShardMesh {
    /// Channels for `shards` shards, in shard order.
    pub fn build(shards: usize) -> Vec<ShardMesh> {
        let ends: Vec<(Sender<Handoff>, Receiver<Handoff>, Arc<Notify>)> = (0..shards)
            .map(|_| {
                let (tx, rx) = crossbeam_channel::bounded(HANDOFF_CHANNEL_CAPACITY);
                (tx, rx, Arc::new(Notify::new()))
            })
            .collect();
        let peers: Vec<(Sender<Handoff>, Arc<Notify>)> = ends
            .iter()
            .map(|(tx, _, wake)| (tx.clone(), wake.clone()))
            .collect();
        ends.into_iter()
            .map(|(_, inbox, wake)| ShardMesh {
                inbox,
                wake,
                peers: peers.clone(),
            })
            .collect()
    }
}

/// The shard's additions to the driver loop: start-up, the handoff mesh (inbox drained each turn,
/// outbox passed to the peers), heap trimming after bursts, persistence (one write transaction
/// per turn before its datagrams are sent), the sent counters and the gauges.
struct ShardHooks {
    mesh: ShardMesh,
    stats: Arc<GatewayStats>,
    /// Heap trimming after bursts: when it last ran, and the cache sizes then.
    last_trim: Instant,
    cached_at_trim: usize,
    /// The gateway's store, shared by the shards (none: in memory only).
    persist: Option<Arc<GatewayDb>>,
    /// Longest a change may stay in a non-durable commit ([`GatewayConfig::persist_sync`]).
    sync_interval: Duration,
    /// Since when this shard has changes in non-durable commits.
    unsynced_since: Option<Instant>,
    /// The gateway-wide count of accepted own registrations, for [`GatewayHandle::ready`]
    /// (none: a shard run without a handle).
    registrations: Option<Arc<watch::Sender<u64>>>,
    /// This shard's `self_registrations` counter when it was last added to `registrations`.
    registrations_seen: u64,
}

impl ShardHooks {
    fn new(
        core: &GatewayCore,
        mesh: ShardMesh,
        persist: Option<Arc<GatewayDb>>,
        sync_interval: Duration,
        registrations: Option<Arc<watch::Sender<u64>>>,
    ) -> ShardHooks {
        ShardHooks {
            mesh,
            stats: core.stats(),
            last_trim: Instant::now(),
            cached_at_trim: 0,
            persist,
            sync_interval,
            unsynced_since: None,
            registrations,
            registrations_seen: 0,
        }
    }

    /// Add the registrations this shard's core accepted since the last turn to the gateway-wide
    /// count (one relaxed load per turn; a send only when the gateway (re-)registered).
    fn publish_registrations(&mut self) {
        let Some(registrations) = &self.registrations else {
            return;
        };
        let accepted = self.stats.self_registrations.load(Ordering::Relaxed);
        if accepted != self.registrations_seen {
            let added = accepted.wrapping_sub(self.registrations_seen);
            self.registrations_seen = accepted;
            registrations.send_modify(|count| *count += added);
        }
    }

    /// Write the core's changes in one transaction: durable (fsync) when it carries journal
    /// records or Application Client registrations (their answers and empty ACKs leave right
    /// after), or when this shard's earlier non-durable changes are `sync_interval` old;
    /// otherwise not durable (a fsync per turn would stall the shard; docs/ARCHITECTURE.md
    /// §6). On failure count, log, and keep the changes for the next turn.
    fn write(&mut self, core: &mut GatewayCore, now: Instant) {
        let Some(db) = &self.persist else {
            return;
        };
        let changes = core.take_changes();
        let Some(durable) =
            commit_durability(&changes, self.unsynced_since, now, self.sync_interval)
        else {
            return;
        };
        match db.apply(&changes, &core.directory(), durable) {
            Ok(()) => {
                self.stats.persist_commits.increment(1);
                if durable {
                    self.unsynced_since = None;
                } else {
                    self.unsynced_since.get_or_insert(now);
                }
            }
            Err(error) => {
                self.stats.persist_failures.increment(1);
                tracing::error!(%error, records = changes.len(), "gateway state not written");
                core.retry_changes(changes);
            }
        }
    }
}

impl Hooks<GatewayCore> for ShardHooks {
    fn start(&mut self, core: &mut GatewayCore, now: Instant) {
        core.start(now);
        self.last_trim = now;
    }

    /// After a burst, wake once more to trim the heap even if no traffic follows; wake to make
    /// non-durable changes durable in time.
    fn poll_wake(&self) -> Option<Instant> {
        let trim = (self.cached_at_trim > 0).then(|| self.last_trim + driver::TRIM_INTERVAL);
        let sync = self.unsynced_since.map(|since| since + self.sync_interval);
        match (trim, sync) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn input(&mut self, core: &mut GatewayCore, now: Instant) {
        for _ in 0..DRAIN_BATCH {
            match self.mesh.inbox.try_recv() {
                Ok(handoff) => core.handle_handoff(now, handoff),
                Err(_) => break,
            }
        }
    }

    fn turn(&mut self, core: &mut GatewayCore, now: Instant) {
        if now.duration_since(self.last_trim) >= driver::TRIM_INTERVAL {
            let cached = core.dedup_len() + core.pending_len();
            if cached * 2 < self.cached_at_trim {
                driver::trim_heap();
            }
            self.cached_at_trim = cached;
            self.last_trim = now;
        }
        pass_handoffs(core, now, &self.mesh);
        // Written before this turn's datagrams (e.g. an empty ACK) leave.
        self.write(core, now);
    }

    fn sent(&mut self, _core: &mut GatewayCore, socket: SocketId, sent: bool) {
        if let Some(side) = side_of(socket) {
            self.stats.sent(side, sent);
        }
    }

    fn turn_done(&mut self, core: &mut GatewayCore) {
        // Changes made while sending or by a drain abort (nothing in a normal turn).
        self.write(core, Instant::now());
        core.publish_gauges();
        self.publish_registrations();
        if !self.mesh.inbox.is_empty() {
            // More than one batch waiting: come back at once.
            self.mesh.wake.notify_one();
        }
    }
}

/// Run one gateway shard until `shutdown` completes and the core has drained.
///
/// `device` faces the constrained UEs (messaging), `config` too (configuration GETs, UDP
/// 65401); `uplinks` (one per [`GatewayConfig::uplinks_per_shard`], in order) talk to the
/// MSGin5G Server at `upstream` (which must be the core's [`GatewayCore::upstream`]) and to the
/// configuration server ([`GatewayCore::config_upstream`]); datagrams arriving on an uplink from
/// any other source are dropped. This is the one driver loop ([`shard::run`]) with the socket layout
/// of [`socket_of`] and the shard's hooks: each turn waits for any socket, the core's next
/// timeout, a handoff from another shard or shutdown; drains up to 64 handoffs and up to 64
/// datagrams per readable socket, calls `handle_timeout` when due, passes handoffs on, and sends
/// everything `poll_transmit` yields on the socket of its [`Side`](crate::gateway::Side). On
/// shutdown it calls `begin_drain` and keeps running until `is_drained()` or `drain_timeout` has
/// passed, then returns the core. This is the only place the shard's time is read
/// (`Instant::now()`). After each turn it publishes the core's gauges
/// ([`GatewayCore::publish_gauges`]); datagrams sent are counted per side.
#[allow(clippy::too_many_arguments)]
pub async fn run_gateway_shard(
    device: UdpSocket,
    config: UdpSocket,
    uplinks: Vec<UdpSocket>,
    upstream: SocketAddr,
    core: GatewayCore,
    mesh: ShardMesh,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) -> io::Result<GatewayCore> {
    if upstream != core.upstream() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "shard upstream {upstream} differs from the core's {}",
                core.upstream()
            ),
        ));
    }
    let options = RunOptions {
        drain_timeout,
        extra_wake: Some(mesh.wake.clone()),
        ..RunOptions::default()
    };
    let hooks = ShardHooks::new(&core, mesh, None, Duration::ZERO, None);
    shard::run(
        shard_sockets(device, config, uplinks),
        core,
        hooks,
        options,
        shutdown,
    )
    .await
}

/// The shard's socket table in socket-id order ([`DEVICE_SOCKET`], [`CONFIG_SOCKET`], then the
/// uplinks from [`UPLINK_SOCKET_BASE`]).
fn shard_sockets<S>(device: S, config: S, uplinks: Vec<S>) -> Vec<S> {
    debug_assert_eq!(DEVICE_SOCKET, 0);
    debug_assert_eq!(CONFIG_SOCKET, 1);
    debug_assert_eq!(UPLINK_SOCKET_BASE, 2);
    let mut sockets = Vec::with_capacity(2 + uplinks.len());
    sockets.push(device);
    sockets.push(config);
    sockets.extend(uplinks);
    sockets
}

/// Hand the core's cross-shard work to the target shards; a full channel is reported back to the
/// core (which answers the server at once).
fn pass_handoffs(core: &mut GatewayCore, now: Instant, mesh: &ShardMesh) {
    while let Some((shard, handoff)) = core.poll_handoff() {
        let Some((tx, wake)) = mesh.peers.get(shard) else {
            core.handoff_failed(now, handoff);
            continue;
        };
        match tx.try_send(handoff) {
            Ok(()) => wake.notify_one(),
            Err(TrySendError::Full(h) | TrySendError::Disconnected(h)) => {
                core.handoff_failed(now, h);
            }
        }
    }
    // Failures may have produced local answers; they are sent with the other transmits.
}

/// A running gateway (all its shards); dropping it shuts it down.
#[derive(Debug)]
pub struct GatewayHandle {
    local_addr: SocketAddr,
    config_addr: SocketAddr,
    /// The device-facing coaps address, with a PSK table.
    coaps_addr: Option<SocketAddr>,
    upstream: SocketAddr,
    stats: Vec<Arc<GatewayStats>>,
    /// Each shard's DTLS counters (coaps listener and uplinks; zeros without coaps).
    dtls_stats: Vec<Arc<DtlsStats>>,
    directory: Arc<Directory>,
    shards: Vec<CoreHandle<GatewayCore>>,
    /// The store, made durable once every shard has stopped.
    persist: Option<Arc<GatewayDb>>,
    /// Accepted own registrations, counted by the shards after each turn.
    registrations: watch::Receiver<u64>,
}

/// Start a gateway on `listen` with `shards` shards toward `upstream`, with 4 MiB socket buffers.
///
/// See [`spawn_gateway_with`].
pub fn spawn_gateway(
    listen: SocketAddr,
    upstream: SocketAddr,
    shards: usize,
    config: GatewayConfig,
    drain_timeout: Duration,
) -> io::Result<GatewayHandle> {
    spawn_gateway_with(
        listen,
        upstream,
        shards,
        config,
        drain_timeout,
        SocketOptions::default(),
    )
}

/// Bind `shards` sockets to `listen`, with `SO_REUSEPORT` when there is more than one: the first
/// picks the port when `listen` has port 0 and the others join it; a fixed port another socket
/// holds is refused first ([`ensure_port_free`]). Returns them and their address.
fn bind_shard_sockets(
    listen: SocketAddr,
    shards: usize,
    sockets: SocketOptions,
) -> io::Result<(Vec<std::net::UdpSocket>, SocketAddr)> {
    let reuse_port = shards > 1;
    if reuse_port {
        ensure_port_free(listen)?;
    }
    let mut bound = Vec::with_capacity(shards);
    let first = bind_udp(listen, reuse_port, sockets.recv_buffer, sockets.send_buffer)?;
    let addr = first.local_addr()?;
    bound.push(first);
    for _ in 1..shards {
        bound.push(bind_udp(
            addr,
            reuse_port,
            sockets.recv_buffer,
            sockets.send_buffer,
        )?);
    }
    Ok((bound, addr))
}

/// Start a gateway on `listen` with `shards` shards toward `upstream`, with the given socket
/// buffer sizes; state in memory only (see [`spawn_gateway_persistent`]).
pub fn spawn_gateway_with(
    listen: SocketAddr,
    upstream: SocketAddr,
    shards: usize,
    config: GatewayConfig,
    drain_timeout: Duration,
    sockets: SocketOptions,
) -> io::Result<GatewayHandle> {
    spawn_gateway_persistent(
        listen,
        upstream,
        shards,
        config,
        drain_timeout,
        sockets,
        None,
    )
}

/// Start a gateway on `listen` with `shards` shards toward `upstream`, with the given socket
/// buffer sizes, persisting its state in `db` when given (issue 9): the store's Application
/// Client registrations, UE directory and report routes are loaded before the first datagram
/// is read, its journaled requests are re-submitted by the shards, and each turn's changes are
/// written before that turn's datagrams are sent.
///
/// Binds `shards` device sockets to the same address with `SO_REUSEPORT` (when `listen` has port
/// 0, the first socket picks the port and the others join it) and
/// [`GatewayConfig::uplinks_per_shard`] uplink sockets per shard (loopback when `upstream` is
/// loopback, otherwise the unspecified address of its family; port 0). Each shard runs [`run_gateway_shard`] on a thread named `msgin5g-gw-<i>` with its own
/// current-thread runtime and its own [`GatewayCore`] (seed differs per shard).
pub fn spawn_gateway_persistent(
    listen: SocketAddr,
    upstream: SocketAddr,
    shards: usize,
    config: GatewayConfig,
    drain_timeout: Duration,
    sockets: SocketOptions,
    db: Option<GatewayDb>,
) -> io::Result<GatewayHandle> {
    if !(1..=MAX_SHARDS).contains(&shards) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("shards must be between 1 and {MAX_SHARDS}, got {shards}"),
        ));
    }
    // require_security: no plain device listener; the shards' device sockets (the core's
    // DEVICE_SOCKET, which the coaps sockets feed) are bound to loopback only.
    let plain_listen = if config.require_security && config.psk.is_some() {
        super::secure_setup::loopback_like(listen)
    } else {
        listen
    };
    let (device_sockets, local_addr) = bind_shard_sockets(plain_listen, shards, sockets)?;
    // The device-facing coaps sockets of every shard (RFC 7252 §9), bound the same way: the
    // kernel's 4-tuple hash keeps a peer, and so its DTLS session, on one shard (D14.3).
    let (coaps_sockets, coaps_addr) = match &config.psk {
        Some(_) => {
            let (bound, addr) = bind_shard_sockets(config.coaps_listen, shards, sockets)?;
            (bound.into_iter().map(Some).collect(), Some(addr))
        }
        None => ((0..shards).map(|_| None).collect::<Vec<_>>(), None),
    };

    // The configuration socket of every shard (UDP 65401, 24.538 §6.2.1), bound the same way.
    let config_listen = config
        .config_listen
        .unwrap_or_else(|| SocketAddr::new(local_addr.ip(), 0));
    let (config_sockets, config_addr) = bind_shard_sockets(config_listen, shards, sockets)?;

    let mut os_rng = Rng::from_os();
    let directory = Arc::new(
        Directory::new(
            config.max_app_registrations,
            config.max_clients,
            config.max_report_routes,
            os_rng.fork(),
        )
        .with_app_idle_expiry(Some(config.app_idle_expiry)),
    );
    // Loaded before the first datagram is read; journal records per owning shard.
    let db = db.map(Arc::new);
    let mut journals: Vec<Vec<(u64, Vec<u8>)>> = vec![Vec::new(); shards];
    if let Some(db) = &db {
        let failed = |e: crate::store::StoreError| {
            io::Error::other(format!("gateway.data_dir {}: {e}", db.path().display()))
        };
        let snapshot = db.load().map_err(failed)?;
        let (restored, stale) = restore_directory(&directory, &snapshot, shards);
        // Records not loaded (undecodable, beyond a bound) are deleted now.
        db.apply(&stale, &directory, true).map_err(failed)?;
        let same = snapshot.shards == Some(shards);
        for (id, bytes) in snapshot.journal {
            let owner = journal_owner(&bytes, same, shards);
            journals[owner].push((id, bytes));
        }
        db.set_shards(shards).map_err(failed)?;
        tracing::info!(
            path = %db.path().display(),
            app_registrations = restored.apps,
            clients = restored.clients,
            report_routes = restored.reports,
            journal = journals.iter().map(Vec::len).sum::<usize>(),
            skipped = restored.skipped,
            previous_shards = ?snapshot.shards,
            "gateway state loaded"
        );
    }
    let mut journals = journals.into_iter();
    let mut meshes = ShardMesh::build(shards).into_iter();
    // One set of uplinks reaches both upstreams: loopback only when both are loopback.
    let config_upstream = config
        .config_upstream
        .unwrap_or_else(|| SocketAddr::new(upstream.ip(), crate::gateway::DEFAULT_CONFIG_PORT));
    let uplink_bind = match (
        local_bind_addr_for(upstream),
        local_bind_addr_for(config_upstream),
    ) {
        (a, b) if a == b => a,
        (a, _) => local_bind_addr_for(SocketAddr::new(
            if a.is_ipv4() {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            },
            0,
        )),
    };
    let (registrations, registrations_rx) = watch::channel(0);
    let registrations = Arc::new(registrations);
    let mut handle = GatewayHandle {
        local_addr,
        config_addr,
        coaps_addr,
        upstream,
        stats: Vec::with_capacity(shards),
        dtls_stats: Vec::with_capacity(shards),
        directory: directory.clone(),
        shards: Vec::with_capacity(shards),
        persist: db.clone(),
        registrations: registrations_rx,
    };
    for (index, ((device_std, config_std), coaps_std)) in device_sockets
        .into_iter()
        .zip(config_sockets)
        .zip(coaps_sockets)
        .enumerate()
    {
        let mut uplinks_std = Vec::with_capacity(config.uplinks_per_shard);
        for _ in 0..config.uplinks_per_shard.max(1) {
            let uplink = bind_udp(uplink_bind, false, sockets.recv_buffer, sockets.send_buffer)?;
            tracing::debug!(shard = index, uplink = %uplink.local_addr()?, "uplink bound");
            uplinks_std.push(uplink);
        }
        let mut core = GatewayCore::new_shard_with_rng(
            config.clone(),
            upstream,
            os_rng.fork(),
            index,
            directory.clone(),
        );
        let journal = journals.next().unwrap_or_default();
        if db.is_some() {
            let now = Instant::now();
            core.enable_persistence(now, SystemTime::now());
            let restored = core.restore_journal(now, journal);
            if restored != Default::default() {
                tracing::info!(
                    shard = index,
                    restored = restored.restored,
                    expired = restored.expired,
                    skipped = restored.skipped,
                    "journaled requests re-submitted"
                );
            }
        }
        let mesh = meshes.next().expect("one mesh end per shard");
        handle.stats.push(core.stats());
        let dtls_stats = Arc::new(DtlsStats::default());
        handle.dtls_stats.push(dtls_stats.clone());
        let mut shard_sockets = shard_sockets(device_std, config_std, uplinks_std);
        let secure = secure_roles(
            &config,
            (upstream, config_upstream),
            &mut shard_sockets,
            coaps_std,
            dtls_stats,
        )?;
        let options = RunOptions {
            drain_timeout,
            extra_wake: Some(mesh.wake.clone()),
            secure,
            ..RunOptions::default()
        };
        let hooks = ShardHooks::new(
            &core,
            mesh,
            db.clone(),
            config.persist_sync,
            Some(registrations.clone()),
        );
        // On a failed spawn, dropping `handle` stops the shards already started.
        let shard = shard::spawn(
            &format!("msgin5g-gw-{index}"),
            shard_sockets,
            core,
            hooks,
            options,
        )?;
        handle.shards.push(shard);
    }
    tracing::info!(%local_addr, %config_addr, %upstream, shards, "MSGin5G gateway listening");
    if let (Some(addr), Some(psk)) = (coaps_addr, &config.psk) {
        tracing::info!(
            coaps_listen = %addr,
            identities = psk.len(),
            require_security = config.require_security,
            "coaps (DTLS 1.2 PSK) listening"
        );
    }
    if let Some(up) = &config.upstream_dtls {
        tracing::info!(identity = %up.psk.identity, "uplinks speak coaps to the upstream");
    }
    Ok(handle)
}

/// One shard's coaps roles (docs/PROTOCOL.md §19): its coaps listen socket, appended to
/// `sockets` after the uplinks (a physical socket the core never names), feeding
/// [`DEVICE_SOCKET`]; and with a `coaps://` upstream one DTLS client per uplink toward
/// `upstream` (the uplinks then carry only DTLS: D14.8).
fn secure_roles(
    config: &GatewayConfig,
    (upstream, config_upstream): (SocketAddr, SocketAddr),
    sockets: &mut Vec<std::net::UdpSocket>,
    coaps: Option<std::net::UdpSocket>,
    stats: Arc<DtlsStats>,
) -> io::Result<Secure> {
    let mut secure = Secure::new();
    if let (Some(coaps), Some(psk)) = (coaps, &config.psk) {
        let server = super::secure_setup::dtls_server(psk, &config.dtls, stats.clone())?;
        secure.listen(sockets.len(), DEVICE_SOCKET, server);
        sockets.push(coaps);
    }
    if let Some(up) = &config.upstream_dtls {
        for uplink in 0..config.uplinks_per_shard.max(1) {
            let client = super::secure_setup::dtls_client(upstream, up, stats.clone())?;
            // The configuration server has no coaps: its traffic on the uplinks stays plain.
            secure.connect_with_plain_peer(
                UPLINK_SOCKET_BASE + uplink,
                client,
                Some(config_upstream),
            );
        }
    }
    Ok(secure)
}

impl GatewayHandle {
    /// The device-facing address (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The device-facing coaps address (the real port when `coaps_listen` had port 0), when
    /// [`GatewayConfig::psk`] is set.
    pub fn coaps_addr(&self) -> Option<SocketAddr> {
        self.coaps_addr
    }

    /// Each shard's DTLS counters.
    pub fn dtls_stats(&self) -> Vec<Arc<DtlsStats>> {
        self.dtls_stats.clone()
    }

    /// The device-facing configuration address (the real port when it was 0).
    pub fn config_addr(&self) -> SocketAddr {
        self.config_addr
    }

    /// The MSGin5G Server the shards send to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The directory the shards share (application registrations, clients behind the gateway).
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.clone()
    }

    /// Whether the server has accepted the gateway's own registration (which lets it reach the
    /// Application Clients behind the gateway): what [`GatewayHandle::ready`] waits for, without
    /// waiting.
    pub fn is_self_registered(&self) -> bool {
        *self.registrations.borrow() > 0
    }

    /// Resolves once the server has accepted the gateway's own registration (23.554 §8.2.7),
    /// which lets it reach the Application Clients behind the gateway; fails if every shard
    /// stopped first. The future owns what it waits on, so it may be awaited on any thread.
    pub fn ready(&self) -> impl Future<Output = io::Result<()>> + Send + 'static {
        self.self_registered(1)
    }

    /// Resolves once the server has accepted the gateway's own registration `count` times in
    /// all (a restarted server that lost it gets it again; 23.554 §8.2.7); fails if every shard
    /// stopped first.
    pub fn self_registered(
        &self,
        count: u64,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static {
        let mut registrations = self.registrations.clone();
        async move {
            match registrations.wait_for(|accepted| *accepted >= count).await {
                Ok(_) => Ok(()),
                Err(_) => Err(io::Error::other(format!(
                    "the gateway stopped before its registration was accepted {count} times"
                ))),
            }
        }
    }

    /// Each shard's counters, in shard order.
    pub fn stats(&self) -> Vec<Arc<GatewayStats>> {
        self.stats.clone()
    }

    /// The `msgin5g_gateway_*` metric families of this gateway's shards, for a
    /// [`Registry`](crate::metrics::Registry) served by a
    /// [`MetricsServer`](crate::metrics::MetricsServer).
    pub fn metrics(&self) -> GatewayMetrics {
        GatewayMetrics::new(self.stats.clone()).with_dtls(self.dtls_stats.clone())
    }

    /// Signal every shard to drain, wait for all of them, and hand back their cores. Returns the
    /// first shard error (after joining every shard).
    pub fn shutdown(mut self) -> io::Result<Vec<GatewayCore>> {
        let mut cores = Vec::with_capacity(self.shards.len());
        let mut first_error = None;
        for result in self.stop() {
            match result {
                Ok(core) => cores.push(core),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(cores),
        }
    }

    fn stop(&mut self) -> Vec<io::Result<GatewayCore>> {
        // Signal all first so the shards drain in parallel, then join.
        for shard in &mut self.shards {
            shard.signal_shutdown();
        }
        let stopped = self.shards.drain(..).map(CoreHandle::shutdown).collect();
        if let Some(db) = self.persist.take() {
            if let Err(error) = db.sync() {
                tracing::error!(%error, "gateway state not made durable at exit");
            }
        }
        stopped
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        for result in self.stop() {
            if let Err(error) = result {
                tracing::warn!(%error, "gateway shard stopped with an error");
            }
        }
    }
}
