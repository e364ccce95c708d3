//! Driver for the reference MSGin5G Server core: one socket, one thread, one current-thread
//! runtime.

use super::driver::{self, DRAIN_BATCH};
use super::socket::{bind_udp, random_seed, DEFAULT_SOCKET_BUFFER, RECV_BUFFER_LEN};
use crate::metrics::ServerMetrics;
use crate::server::{ServerConfig, ServerCore, ServerStats};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

enum Event {
    Shutdown,
    Received(io::Result<(usize, SocketAddr)>),
    Timer,
}

/// Run `core` on `socket` until `shutdown` completes, then return the core.
///
/// Each turn waits for a datagram, the core's next timeout, or shutdown; after a wake it reads up
/// to 64 more datagrams without waiting, calls `handle_timeout` when due, and
/// sends everything `poll_transmit` yields. This is the only place the server's time is read
/// (`Instant::now()`, and `SystemTime::now()` once at start for the core's wall-clock anchor,
/// see [`ServerCore::set_wall_clock`]). Datagrams received and sent are counted in the core's
/// [`ServerStats`]. Ends with an error only if the socket fails for good.
pub async fn run_server(
    socket: UdpSocket,
    mut core: ServerCore,
    shutdown: impl Future<Output = ()>,
) -> io::Result<ServerCore> {
    tokio::pin!(shutdown);
    let sleep = tokio::time::sleep_until(driver::far_future());
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    let mut buf = vec![0u8; RECV_BUFFER_LEN].into_boxed_slice();
    let stats = core.stats();
    core.set_wall_clock(Instant::now(), SystemTime::now());

    loop {
        let timer_on = driver::rearm(sleep.as_mut(), &mut armed, core.poll_timeout());
        let event = tokio::select! {
            biased;
            _ = &mut shutdown => Event::Shutdown,
            received = socket.recv_from(&mut buf) => Event::Received(received),
            _ = &mut sleep, if timer_on => Event::Timer,
        };
        let now = Instant::now();
        match event {
            Event::Shutdown => break,
            Event::Timer => armed = None,
            Event::Received(received) => {
                feed(&mut core, &stats, now, &buf, received)?;
                for _ in 0..DRAIN_BATCH {
                    match socket.try_recv_from(&mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        received => feed(&mut core, &stats, now, &buf, received)?,
                    }
                }
            }
        }
        if core.poll_timeout().is_some_and(|deadline| deadline <= now) {
            core.handle_timeout(now);
        }
        while let Some(transmit) = core.poll_transmit() {
            let sent =
                driver::send_datagram(&socket, transmit.destination, &transmit.payload).await;
            count(if sent {
                &stats.datagrams_sent
            } else {
                &stats.send_errors
            });
        }
    }
    Ok(core)
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn feed(
    core: &mut ServerCore,
    stats: &ServerStats,
    now: Instant,
    buf: &[u8],
    received: io::Result<(usize, SocketAddr)>,
) -> io::Result<()> {
    match received {
        Ok((len, from)) => {
            count(&stats.datagrams_received);
            core.handle_datagram(now, from, &buf[..len])
        }
        Err(error) if driver::is_transient(&error) => {
            tracing::debug!(%error, "server receive error ignored");
        }
        Err(error) => return Err(error),
    }
    Ok(())
}

/// A reference server running on its own thread; dropping it shuts it down.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stats: Arc<ServerStats>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<ServerCore>>>,
}

/// Bind `bind` (4 MiB socket buffers) and run a [`ServerCore`] with `config` on a thread named
/// `msgin5g-server` with its own current-thread runtime.
pub fn spawn_server(bind: SocketAddr, config: ServerConfig) -> io::Result<ServerHandle> {
    let std_socket = bind_udp(bind, false, DEFAULT_SOCKET_BUFFER, DEFAULT_SOCKET_BUFFER)?;
    let local_addr = std_socket.local_addr()?;
    let runtime = driver::runtime()?;
    let socket = {
        let _guard = runtime.enter();
        UdpSocket::from_std(std_socket)?
    };
    let core = ServerCore::new(config, random_seed());
    let stats = core.stats();
    let (tx, rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("msgin5g-server".to_string())
        .spawn(move || {
            let result = runtime.block_on(run_server(socket, core, async {
                // A dropped sender also means "stop".
                let _ = rx.await;
            }));
            if let Err(error) = &result {
                tracing::error!(%error, "server loop ended with an error");
            }
            result
        })?;
    tracing::info!(%local_addr, "MSGin5G server listening");
    Ok(ServerHandle {
        local_addr,
        stats,
        shutdown: Some(tx),
        thread: Some(thread),
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

    /// The `msgin5g_server_*` metric families of this server, for a
    /// [`Registry`](crate::metrics::Registry) served by a
    /// [`MetricsServer`](crate::metrics::MetricsServer).
    pub fn metrics(&self) -> ServerMetrics {
        ServerMetrics::new(self.stats.clone())
    }

    /// Stop the loop, join the thread and hand back the core (for inspection in tests).
    pub fn shutdown(mut self) -> io::Result<ServerCore> {
        self.stop()
            .unwrap_or_else(|| Err(io::Error::other("server already stopped")))
    }

    fn stop(&mut self) -> Option<io::Result<ServerCore>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.thread.take().map(driver::join)
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(Err(error)) = self.stop() {
            tracing::warn!(%error, "server stopped with an error");
        }
    }
}
