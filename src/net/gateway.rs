//! Driver for the Gateway UE: `shards` share-nothing shards, each with its own device socket
//! (`SO_REUSEPORT`, same port), its own uplink socket, thread, current-thread runtime and
//! [`GatewayCore`] (DESIGN.md §1).

use super::driver::{self, DRAIN_BATCH};
use super::socket::{bind_udp, local_bind_addr_for, random_seed, SocketOptions, RECV_BUFFER_LEN};
use crate::gateway::{Directory, GatewayConfig, GatewayCore, GatewayStats, Handoff, Side};
use crate::metrics::GatewayMetrics;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, Notify};

/// Most shards one gateway runs (one per core is the intent; this only stops typos).
pub const MAX_SHARDS: usize = 256;

/// Capacity of each shard's handoff channel (cross-shard downlink deliveries; DESIGN.md §1).
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

enum Event {
    Shutdown,
    Device(io::Result<(usize, SocketAddr)>),
    /// The configuration socket received a datagram.
    Config(io::Result<(usize, SocketAddr)>),
    /// Some uplink socket is readable (they are all drained below).
    UplinkReady,
    /// Another shard handed work over.
    Handoff,
    Timer,
}

/// Resolves when any of `uplinks` is readable (registers the waker with each of them).
fn any_readable(uplinks: &[UdpSocket]) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |cx| {
        for uplink in uplinks {
            if uplink.poll_recv_ready(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
}

/// Run one gateway shard until `shutdown` completes and the core has drained.
///
/// `device` faces the constrained UEs (messaging), `config` too (configuration GETs, UDP
/// 65401); `uplinks` (one per
/// [`GatewayConfig::uplinks_per_shard`], in order) talk to the MSGin5G Server at `upstream`;
/// and to the configuration server the core names
/// ([`GatewayCore::config_upstream`]); datagrams arriving on an uplink from any other source are
/// dropped. Each turn waits for either
/// socket, the core's next timeout or shutdown; after a wake it reads up to 64 more datagrams per
/// socket without waiting, calls `handle_timeout` when due, and sends everything `poll_transmit`
/// yields on the socket of its [`Side`]. On shutdown it calls `begin_drain` and keeps running until
/// `is_drained()` or `drain_timeout` has passed, then returns the core. This is the only place
/// the shard's time is read (`Instant::now()`). After each turn it counts the datagrams sent and
/// publishes the core's gauges ([`GatewayCore::publish_gauges`]) for the metrics.
#[allow(clippy::too_many_arguments)]
pub async fn run_gateway_shard(
    device: UdpSocket,
    config: UdpSocket,
    uplinks: Vec<UdpSocket>,
    upstream: SocketAddr,
    mut core: GatewayCore,
    mesh: ShardMesh,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) -> io::Result<GatewayCore> {
    tokio::pin!(shutdown);
    core.start(Instant::now());
    // Heap trimming after bursts: the cache sizes at the last trim, and when it ran.
    let mut last_trim = Instant::now();
    let mut cached_at_trim = 0usize;
    let sleep = tokio::time::sleep_until(driver::far_future());
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut device_buf = vec![0u8; RECV_BUFFER_LEN].into_boxed_slice();
    let mut uplink_buf = vec![0u8; RECV_BUFFER_LEN].into_boxed_slice();
    let mut config_buf = vec![0u8; RECV_BUFFER_LEN].into_boxed_slice();
    let stats = core.stats();
    let config_upstream = core.config_upstream();

    loop {
        let want = match (core.poll_timeout(), drain_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // After a burst, wake once more to trim the heap even if no traffic follows.
        let trim_due = (cached_at_trim > 0).then(|| last_trim + driver::TRIM_INTERVAL);
        let want = match (want, trim_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timer_on = driver::rearm(sleep.as_mut(), &mut armed, want);
        let event = tokio::select! {
            biased;
            _ = &mut shutdown, if drain_deadline.is_none() => Event::Shutdown,
            received = device.recv_from(&mut device_buf) => Event::Device(received),
            received = config.recv_from(&mut config_buf) => Event::Config(received),
            _ = any_readable(&uplinks) => Event::UplinkReady,
            _ = mesh.wake.notified() => Event::Handoff,
            _ = &mut sleep, if timer_on => Event::Timer,
        };
        let now = Instant::now();
        match event {
            Event::Shutdown => {
                tracing::debug!("shard draining");
                core.begin_drain(now);
                drain_deadline = Some(now + drain_timeout);
            }
            Event::Timer => armed = None,
            Event::Device(received) => {
                feed_device(&mut core, Side::Device, now, &device_buf, received)?
            }
            Event::Config(received) => {
                feed_device(&mut core, Side::Config, now, &config_buf, received)?
            }
            Event::UplinkReady | Event::Handoff => {}
        }
        for _ in 0..DRAIN_BATCH {
            match mesh.inbox.try_recv() {
                Ok(handoff) => core.handle_handoff(now, handoff),
                Err(_) => break,
            }
        }
        for _ in 0..DRAIN_BATCH {
            match device.try_recv_from(&mut device_buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                received => feed_device(&mut core, Side::Device, now, &device_buf, received)?,
            }
        }
        for _ in 0..DRAIN_BATCH {
            match config.try_recv_from(&mut config_buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                received => feed_device(&mut core, Side::Config, now, &config_buf, received)?,
            }
        }
        // tokio answers WouldBlock without a system call for sockets not marked readable.
        for (index, uplink) in uplinks.iter().enumerate() {
            for _ in 0..DRAIN_BATCH {
                match uplink.try_recv_from(&mut uplink_buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    received => {
                        let sources = [upstream, config_upstream];
                        feed_uplink(&mut core, now, sources, index, &uplink_buf, received)?
                    }
                }
            }
        }
        if core.poll_timeout().is_some_and(|deadline| deadline <= now) {
            core.handle_timeout(now);
        }
        if now.duration_since(last_trim) >= driver::TRIM_INTERVAL {
            let cached = core.dedup_len() + core.pending_len();
            if cached * 2 < cached_at_trim {
                driver::trim_heap();
            }
            cached_at_trim = cached;
            last_trim = now;
        }
        pass_handoffs(&mut core, now, &mesh);
        send_transmits(&mut core, &stats, [&device, &config], &uplinks).await;
        core.publish_gauges();
        if !mesh.inbox.is_empty() {
            // More than one batch waiting: come back at once.
            mesh.wake.notify_one();
        }
        if let Some(deadline) = drain_deadline {
            if core.is_drained() {
                tracing::debug!("shard drained");
                break;
            }
            if now >= deadline {
                tracing::warn!(
                    ?drain_timeout,
                    "drain timeout passed with requests still pending: answering SHUTTING_DOWN"
                );
                core.abort(now);
                send_transmits(&mut core, &stats, [&device, &config], &uplinks).await;
                core.publish_gauges();
                break;
            }
        }
    }
    Ok(core)
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

/// Send everything the core has queued, each on the socket of its [`Side`].
async fn send_transmits(
    core: &mut GatewayCore,
    stats: &GatewayStats,
    [device, config]: [&UdpSocket; 2],
    uplinks: &[UdpSocket],
) {
    while let Some((side, transmit)) = core.poll_transmit() {
        let socket = match side {
            Side::Device => device,
            Side::Config => config,
            Side::Upstream(index) => match uplinks.get(index) {
                Some(uplink) => uplink,
                None => continue,
            },
        };
        let sent = driver::send_datagram(socket, transmit.destination, &transmit.payload).await;
        stats.sent(side, sent);
    }
}

fn feed_device(
    core: &mut GatewayCore,
    side: Side,
    now: Instant,
    buf: &[u8],
    received: io::Result<(usize, SocketAddr)>,
) -> io::Result<()> {
    match received {
        Ok((len, from)) if side == Side::Config => {
            core.handle_config_datagram(now, from, &buf[..len])
        }
        Ok((len, from)) => core.handle_device_datagram(now, from, &buf[..len]),
        Err(error) if driver::is_transient(&error) => {
            tracing::debug!(%error, "device socket receive error ignored");
        }
        Err(error) => return Err(error),
    }
    Ok(())
}

fn feed_uplink(
    core: &mut GatewayCore,
    now: Instant,
    sources: [SocketAddr; 2],
    index: usize,
    buf: &[u8],
    received: io::Result<(usize, SocketAddr)>,
) -> io::Result<()> {
    match received {
        Ok((len, from)) if sources.contains(&from) => {
            core.handle_upstream_datagram(now, index, from, &buf[..len])
        }
        Ok((len, from)) => {
            tracing::debug!(%from, ?sources, len, "uplink datagram not from an upstream, dropped");
        }
        Err(error) if driver::is_transient(&error) => {
            tracing::debug!(%error, "uplink socket receive error ignored");
        }
        Err(error) => return Err(error),
    }
    Ok(())
}

#[derive(Debug)]
struct Shard {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<GatewayCore>>>,
}

/// A running gateway (all its shards); dropping it shuts it down.
#[derive(Debug)]
pub struct GatewayHandle {
    local_addr: SocketAddr,
    config_addr: SocketAddr,
    upstream: SocketAddr,
    stats: Vec<Arc<GatewayStats>>,
    directory: Arc<Directory>,
    shards: Vec<Shard>,
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

/// Start a gateway on `listen` with `shards` shards toward `upstream`, with the given socket
/// buffer sizes.
///
/// Binds `shards` device sockets to the same address with `SO_REUSEPORT` (when `listen` has port
/// 0, the first socket picks the port and the others join it) and
/// [`GatewayConfig::uplinks_per_shard`] uplink sockets per shard (loopback when `upstream` is
/// loopback, otherwise the unspecified address of its family; port 0). Each shard runs [`run_gateway_shard`] on a thread named `msgin5g-gw-<i>` with its own
/// current-thread runtime and its own [`GatewayCore`] (seed differs per shard).
pub fn spawn_gateway_with(
    listen: SocketAddr,
    upstream: SocketAddr,
    shards: usize,
    config: GatewayConfig,
    drain_timeout: Duration,
    sockets: SocketOptions,
) -> io::Result<GatewayHandle> {
    if !(1..=MAX_SHARDS).contains(&shards) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("shards must be between 1 and {MAX_SHARDS}, got {shards}"),
        ));
    }
    let reuse_port = shards > 1;
    let mut device_sockets = Vec::with_capacity(shards);
    let first = bind_udp(listen, reuse_port, sockets.recv_buffer, sockets.send_buffer)?;
    let local_addr = first.local_addr()?;
    device_sockets.push(first);
    for _ in 1..shards {
        device_sockets.push(bind_udp(
            local_addr,
            reuse_port,
            sockets.recv_buffer,
            sockets.send_buffer,
        )?);
    }

    // The configuration socket of every shard (UDP 65401, 24.538 §6.2.1), bound the same way.
    let config_listen = config
        .config_listen
        .unwrap_or_else(|| SocketAddr::new(local_addr.ip(), 0));
    let mut config_sockets = Vec::with_capacity(shards);
    let first = bind_udp(
        config_listen,
        reuse_port,
        sockets.recv_buffer,
        sockets.send_buffer,
    )?;
    let config_addr = first.local_addr()?;
    config_sockets.push(first);
    for _ in 1..shards {
        config_sockets.push(bind_udp(
            config_addr,
            reuse_port,
            sockets.recv_buffer,
            sockets.send_buffer,
        )?);
    }

    let base_seed = random_seed();
    let directory = Arc::new(Directory::new(
        config.max_app_registrations,
        config.max_clients,
        config.max_report_routes,
        (base_seed >> 33) as u32,
    ));
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
    let mut handle = GatewayHandle {
        local_addr,
        config_addr,
        upstream,
        stats: Vec::with_capacity(shards),
        directory: directory.clone(),
        shards: Vec::with_capacity(shards),
    };
    for (index, (device_std, config_std)) in
        device_sockets.into_iter().zip(config_sockets).enumerate()
    {
        let mut uplinks_std = Vec::with_capacity(config.uplinks_per_shard);
        for _ in 0..config.uplinks_per_shard.max(1) {
            let uplink = bind_udp(uplink_bind, false, sockets.recv_buffer, sockets.send_buffer)?;
            tracing::debug!(shard = index, uplink = %uplink.local_addr()?, "uplink bound");
            uplinks_std.push(uplink);
        }
        let runtime = driver::runtime()?;
        let (device, config_socket, uplinks) = {
            let _guard = runtime.enter();
            let uplinks = uplinks_std
                .into_iter()
                .map(UdpSocket::from_std)
                .collect::<io::Result<Vec<_>>>()?;
            (
                UdpSocket::from_std(device_std)?,
                UdpSocket::from_std(config_std)?,
                uplinks,
            )
        };
        let seed = base_seed.wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let core = GatewayCore::new_shard(config.clone(), upstream, seed, index, directory.clone());
        let mesh = meshes.next().expect("one mesh end per shard");
        handle.stats.push(core.stats());
        let (tx, rx) = oneshot::channel::<()>();
        // On a failed spawn, dropping `handle` stops the shards already started.
        let thread = std::thread::Builder::new()
            .name(format!("msgin5g-gw-{index}"))
            .spawn(move || {
                let shutdown = async {
                    let _ = rx.await;
                };
                let result = runtime.block_on(run_gateway_shard(
                    device,
                    config_socket,
                    uplinks,
                    upstream,
                    core,
                    mesh,
                    shutdown,
                    drain_timeout,
                ));
                if let Err(error) = &result {
                    tracing::error!(shard = index, %error, "gateway shard ended with an error");
                }
                result
            })?;
        handle.shards.push(Shard {
            shutdown: Some(tx),
            thread: Some(thread),
        });
    }
    tracing::info!(%local_addr, %config_addr, %upstream, shards, "MSGin5G gateway listening");
    Ok(handle)
}

impl GatewayHandle {
    /// The device-facing address (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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
    /// Application Clients behind the gateway).
    pub fn is_self_registered(&self) -> bool {
        self.stats.iter().any(|s| {
            s.self_registrations
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
        })
    }

    /// Each shard's counters, in shard order.
    pub fn stats(&self) -> Vec<Arc<GatewayStats>> {
        self.stats.clone()
    }

    /// The `msgin5g_gateway_*` metric families of this gateway's shards, for a
    /// [`Registry`](crate::metrics::Registry) served by a
    /// [`MetricsServer`](crate::metrics::MetricsServer).
    pub fn metrics(&self) -> GatewayMetrics {
        GatewayMetrics::new(self.stats.clone())
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
            if let Some(tx) = shard.shutdown.take() {
                let _ = tx.send(());
            }
        }
        self.shards
            .iter_mut()
            .filter_map(|shard| shard.thread.take())
            .map(driver::join)
            .collect()
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
