//! The one driver contract every sans-IO core implements (gateway shard, server, configuration
//! server, relay): datagrams and time in, datagrams (and socket changes) out (docs/ARCHITECTURE.md §2).
//!
//! A driver owns a table of sockets indexed by [`SocketId`]: the ones it was started with
//! (0, 1, ... in the order given) and the ones the core asks for at run time with
//! [`SocketOp::Open`] (the relay's per-link uplink endpoints). Per turn the driver feeds every
//! received datagram to [`Core::handle_datagram`] with the index of the socket it arrived on,
//! calls [`Core::handle_timeout`] when [`Core::poll_timeout`] is due, applies every
//! [`Core::poll_socket_op`], then sends every [`Core::poll_transmit`] on the socket it names.
//! The core never reads the clock and never touches a socket.

use super::driver::{self, DRAIN_BATCH};
use super::mmsg::{self, RecvBatch};
use super::rxtime;
use super::secure::Secure;
use super::socket::{bind_udp, DEFAULT_SOCKET_BUFFER};
use crate::coap::Transmit;
use crate::dtls::IdentityId;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use metrics::CounterFn;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, Notify};

/// Index of a socket in a driver's socket table.
pub type SocketId = usize;

/// A change to the driver's socket table asked for by the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketOp {
    /// Bind a new UDP socket at `bind` (port 0 = any) and give it index `id` (not in use). The
    /// driver reports the outcome with [`Core::handle_socket_opened`] before the next turn.
    Open {
        /// The index the core will use for it.
        id: SocketId,
        /// Local address to bind.
        bind: SocketAddr,
    },
    /// Close the socket `id`; its index may be reused by a later `Open`.
    Close {
        /// The index to close.
        id: SocketId,
    },
}

/// What the driver measured about the datagram it feeds next (overload control, docs/ARCHITECTURE.md
/// §8): set with [`Core::set_load`] before each [`Core::handle_datagram`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// How long the datagram waited between the kernel receiving it and the core being handed
    /// it (socket buffer plus the turn); zero when the kernel did not stamp it.
    pub queue_delay: Duration,
    /// How full the socket's receive buffer still was after the batch holding this datagram
    /// was read, in percent ([`mmsg::receive_buffer_fill`], read only after a full batch; zero
    /// otherwise): at 100 the kernel drops what arrives.
    pub buffer_fill: u8,
    /// The peer's authenticated PSK identity when the datagram came over DTLS (coaps, RFC 7252
    /// §9.1.3.1); `None` for plain CoAP. The core interprets it with its [`PskTable`](crate::dtls::PskTable).
    pub identity: Option<IdentityId>,
}

impl Load {
    /// Whether a new request read under this load is too late to admit (overload control,
    /// docs/ARCHITECTURE.md §8): it waited longer than `delay`, or its socket's receive buffer
    /// was still at least `buffer_percent` full (0: that bound off).
    pub fn is_late(&self, delay: Duration, buffer_percent: u8) -> bool {
        self.queue_delay > delay || (buffer_percent != 0 && self.buffer_fill >= buffer_percent)
    }
}

/// A sans-IO protocol core driven by a [`net`](super) driver (quinn's `handle_*`/`poll_*` style).
pub trait Core {
    /// The driver's measurement for the datagram fed next (cores without overload control
    /// ignore it).
    fn set_load(&mut self, _load: Load) {}
    /// Feed one datagram received on socket `socket` from `from`.
    fn handle_datagram(&mut self, now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]);
    /// Advance timers to `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Next datagram to send, and the socket to send it on.
    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)>;
    /// When [`Core::handle_timeout`] must next be called.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Next socket-table change (cores with a fixed socket set never ask).
    fn poll_socket_op(&mut self) -> Option<SocketOp> {
        None
    }
    /// The outcome of a [`SocketOp::Open`]: the bound local address, or why binding failed.
    fn handle_socket_opened(
        &mut self,
        _now: Instant,
        _id: SocketId,
        _result: std::io::Result<SocketAddr>,
    ) {
    }
    /// Shutdown was asked for: stop taking new work, finish what was accepted.
    fn begin_drain(&mut self, _now: Instant) {}
    /// Whether everything accepted has been answered (the driver may stop).
    fn is_drained(&self) -> bool {
        true
    }
    /// The drain timeout passed: answer what is left with a final failure.
    fn abort(&mut self, _now: Instant) {}
}

/// Per-driver additions a caller plugs into [`run`] around the core (counting, cross-shard
/// channels, housekeeping). Every method has a no-op default; `()` is the empty set of hooks.
pub trait Hooks<C: Core> {
    /// Once, before the first turn (e.g. the core's start-up work).
    fn start(&mut self, _core: &mut C, _now: Instant) {}
    /// An extra wake-up time besides [`Core::poll_timeout`] (e.g. periodic housekeeping).
    fn poll_wake(&self) -> Option<Instant> {
        None
    }
    /// Each turn, before the received datagrams are fed (e.g. drain an inbox woken by the
    /// [`RunOptions::extra_wake`]).
    fn input(&mut self, _core: &mut C, _now: Instant) {}
    /// Each turn, after datagrams and timers and before socket ops and transmits.
    fn turn(&mut self, _core: &mut C, _now: Instant) {}
    /// One transmit on `socket` was handed to the kernel (`sent`) or failed.
    fn sent(&mut self, _core: &mut C, _socket: SocketId, _sent: bool) {}
    /// Each turn, after every transmit was sent (e.g. publish gauges).
    fn turn_done(&mut self, _core: &mut C) {}
}

impl<C: Core> Hooks<C> for () {}

/// Hooks that count each transmit in one of two counters of the core's shared stats: the
/// datagrams handed to the kernel, and the sends that failed.
pub struct CountSent<S> {
    stats: Arc<S>,
    counters: fn(&S) -> (&AtomicU64, &AtomicU64),
}

impl<S> CountSent<S> {
    /// Count in `stats`; `counters` picks the (sent, failed) pair.
    pub fn new(stats: Arc<S>, counters: fn(&S) -> (&AtomicU64, &AtomicU64)) -> CountSent<S> {
        CountSent { stats, counters }
    }

    /// The counter of a transmit handed to the kernel (`sent`) or failed.
    pub fn counter(&self, sent: bool) -> &AtomicU64 {
        let (ok, failed) = (self.counters)(&self.stats);
        if sent {
            ok
        } else {
            failed
        }
    }
}

impl<C: Core, S> Hooks<C> for CountSent<S> {
    fn sent(&mut self, _core: &mut C, _socket: SocketId, sent: bool) {
        self.counter(sent).increment(1);
    }
}

/// How [`run`] stops, what else wakes it, how much one turn reads, and which sockets are coaps.
#[derive(Debug)]
pub struct RunOptions {
    /// After shutdown, how long to wait for [`Core::is_drained`] before [`Core::abort`].
    pub drain_timeout: Duration,
    /// Woken from outside the loop (another thread handing work over); a turn follows.
    pub extra_wake: Option<Arc<Notify>>,
    /// Most datagrams read from one socket per turn (IO_LOOP_BOUND; default 64, see
    /// `DRAIN_BATCH`). A core whose turn ends in a costly step (the server's one durable write
    /// per turn) takes a larger batch so that step is amortised over more requests.
    pub drain_batch: usize,
    /// The coaps sockets (RFC 7252 §9.1): DTLS listeners and clients the driver runs around the
    /// core ([`Secure`]); empty by default (all plain).
    pub secure: Secure,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            drain_timeout: Duration::ZERO,
            extra_wake: None,
            drain_batch: DRAIN_BATCH,
            secure: Secure::default(),
        }
    }
}

/// Most sockets one driver may hold (a typo guard on [`SocketOp::Open`] ids, not a tuning knob).
pub const MAX_SOCKETS: usize = 1 << 20;

/// Resolves with its socket's id and generation when the socket is readable (or was closed).
///
/// Holds only a `Weak` so closing a socket releases its descriptor at once; a closed socket's
/// future resolves on its next wake (tokio wakes waiters when a registration goes) or is dropped
/// by the periodic rebuild of the readiness set (see [`run`]).
struct Readable {
    socket: Weak<UdpSocket>,
    id: SocketId,
    generation: u64,
}

impl Future for Readable {
    type Output = (SocketId, u64);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.socket.upgrade() {
            None => Poll::Ready((self.id, self.generation)),
            Some(socket) => match socket.poll_recv_ready(cx) {
                // An error is reported by the receive that follows.
                Poll::Ready(_) => Poll::Ready((self.id, self.generation)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// One open socket of the driver's table.
struct Slot {
    socket: Arc<UdpSocket>,
    generation: u64,
}

/// The driver's socket table plus the readiness set over it.
struct Sockets {
    slots: Vec<Option<Slot>>,
    ready: FuturesUnordered<Readable>,
    next_generation: u64,
    live: usize,
    /// Futures in `ready` whose socket was closed (rebuilt away when they outnumber the live).
    stale: usize,
}

impl Sockets {
    fn new(sockets: Vec<UdpSocket>) -> Sockets {
        let mut table = Sockets {
            slots: Vec::with_capacity(sockets.len()),
            ready: FuturesUnordered::new(),
            next_generation: 0,
            live: 0,
            stale: 0,
        };
        for socket in sockets {
            let id = table.slots.len();
            table.slots.push(None);
            table.insert(id, socket);
        }
        table
    }

    fn insert(&mut self, id: SocketId, socket: UdpSocket) {
        if let Err(error) = rxtime::enable(&socket) {
            tracing::debug!(id, %error, "no receive timestamps: queueing delay counted as zero");
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let socket = Arc::new(socket);
        self.ready.push(Readable {
            socket: Arc::downgrade(&socket),
            id,
            generation,
        });
        self.slots[id] = Some(Slot { socket, generation });
        self.live += 1;
    }

    fn get(&self, id: SocketId) -> Option<&Slot> {
        self.slots.get(id).and_then(Option::as_ref)
    }

    /// Bind and register socket `id` (the standard 4 MiB buffers).
    fn open(&mut self, id: SocketId, bind: SocketAddr) -> io::Result<SocketAddr> {
        if id >= MAX_SOCKETS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("socket id {id} above the driver's limit {MAX_SOCKETS}"),
            ));
        }
        if self.get(id).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("socket id {id} is already open"),
            ));
        }
        let std_socket = bind_udp(bind, false, DEFAULT_SOCKET_BUFFER, DEFAULT_SOCKET_BUFFER)?;
        let local = std_socket.local_addr()?;
        let socket = UdpSocket::from_std(std_socket)?;
        if self.slots.len() <= id {
            self.slots.resize_with(id + 1, || None);
        }
        self.insert(id, socket);
        Ok(local)
    }

    fn close(&mut self, id: SocketId) {
        if let Some(slot) = self.slots.get_mut(id).and_then(Option::take) {
            drop(slot);
            self.live -= 1;
            self.stale += 1;
        } else {
            tracing::debug!(id, "close of a socket that is not open ignored");
        }
    }

    /// Drop the futures of closed sockets once they outnumber the live ones (amortized O(1) per
    /// close). Called only while every live socket has its future in `ready`.
    fn compact(&mut self) {
        if self.stale <= self.live + 64 {
            return;
        }
        self.ready = FuturesUnordered::new();
        for (id, slot) in self.slots.iter().enumerate() {
            if let Some(slot) = slot {
                self.ready.push(Readable {
                    socket: Arc::downgrade(&slot.socket),
                    id,
                    generation: slot.generation,
                });
            }
        }
        self.stale = 0;
    }

    /// The live socket a readiness report names, or `None` (and one stale future fewer).
    fn reported(&mut self, id: SocketId, generation: u64) -> Option<Arc<UdpSocket>> {
        match self.get(id) {
            Some(slot) if slot.generation == generation => Some(slot.socket.clone()),
            _ => {
                self.stale = self.stale.saturating_sub(1);
                None
            }
        }
    }

    /// Wait for `socket` (still live as `id`/`generation`) to be readable again.
    fn rearm(&mut self, id: SocketId, generation: u64, socket: &Arc<UdpSocket>) {
        self.ready.push(Readable {
            socket: Arc::downgrade(socket),
            id,
            generation,
        });
    }
}

enum Event {
    Shutdown,
    Readable((SocketId, u64)),
    Wake,
    Timer,
}

/// Run `core` on `sockets` (socket ids 0, 1, ... in that order) until `shutdown` completes and
/// the core has drained, then return the core. This is the only place the core's time is read.
///
/// Each turn waits for a readable socket, the core's next timeout (or the hooks' wake), the
/// [`RunOptions::extra_wake`], or shutdown. It then calls [`Hooks::input`], reads up to
/// `DRAIN_BATCH` datagrams from every socket reported readable into one reused 64 KiB buffer and
/// feeds them to [`Core::handle_datagram`], each after [`Core::set_load`] with its queueing delay
/// (kernel arrival stamp, [`rxtime`], to the batch's wall-clock reading), calls [`Core::handle_timeout`] when due and
/// [`Hooks::turn`], applies every [`Core::poll_socket_op`] (Open binds with
/// [`bind_udp`] and 4 MiB buffers and reports through [`Core::handle_socket_opened`]; Close
/// drops the socket), sends every [`Core::poll_transmit`] on the socket it names (a transmit for a
/// socket that is not open is dropped and logged at debug), reports each send to
/// [`Hooks::sent`], and calls [`Hooks::turn_done`]. On shutdown it calls [`Core::begin_drain`]
/// and keeps turning until [`Core::is_drained`] or [`RunOptions::drain_timeout`], then calls
/// [`Core::abort`], sends what that produced and returns. Ends with an error only if a socket
/// fails for good (a receive error other than the transient ones).
///
/// Thousands of sockets: readiness is tracked with one `Readable` future per socket in a
/// `FuturesUnordered`, which polls only the futures whose socket woke them (tokio's epoll
/// registration calls the waker). A turn therefore costs O(sockets that became readable), not
/// O(open sockets), and datagrams are read straight into the loop's buffer (no per-datagram
/// task, channel or copy as with a receive task per socket). A socket whose batch ran out is
/// re-armed and reported again at once on the next turn, so one busy socket cannot starve the
/// others by more than one batch. Measured (one-off, release build, loaded 2-core machine):
/// echo round trip through one socket 19–33 µs with no other socket and 33–44 µs with 5 000 idle
/// dynamic sockets open; polling every socket each turn would add 5 000 readiness polls per
/// turn instead.
pub async fn run<C: Core, H: Hooks<C>>(
    sockets: Vec<UdpSocket>,
    mut core: C,
    mut hooks: H,
    mut options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<C> {
    let mut secure = std::mem::take(&mut options.secure);
    tokio::pin!(shutdown);
    let sleep = tokio::time::sleep_until(driver::far_future());
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut rx = RecvBatch::new();
    let mut out: Vec<(SocketId, Transmit)> = Vec::with_capacity(mmsg::BATCH);
    let mut table = Sockets::new(sockets);
    let mut reported: Vec<(SocketId, u64)> = Vec::new();
    let started = Instant::now();
    hooks.start(&mut core, started);
    secure.start(started);
    // What the start queued (the gateway's own registration) leaves now, not at the first wake
    // (which would be its first retransmission, ~ACK_TIMEOUT later, sending it twice at once).
    hooks.turn(&mut core, started);
    flush(
        &mut core,
        &mut hooks,
        &mut table,
        &mut secure,
        &mut out,
        started,
    )
    .await;
    hooks.turn_done(&mut core);

    loop {
        table.compact();
        let want = earliest(
            earliest(core.poll_timeout(), drain_deadline),
            earliest(hooks.poll_wake(), secure.poll_timeout()),
        );
        let timer_on = driver::rearm(sleep.as_mut(), &mut armed, want);
        let wake = async {
            match &options.extra_wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            biased;
            _ = &mut shutdown, if drain_deadline.is_none() => Event::Shutdown,
            Some(ready) = table.ready.next() => Event::Readable(ready),
            _ = wake => Event::Wake,
            _ = &mut sleep, if timer_on => Event::Timer,
        };
        let now = Instant::now();
        match event {
            Event::Shutdown => {
                tracing::debug!("driver draining");
                core.begin_drain(now);
                drain_deadline = Some(now + options.drain_timeout);
            }
            Event::Readable(ready) => reported.push(ready),
            Event::Timer => armed = None,
            Event::Wake => {}
        }
        // Every other socket that is readable right now, without waiting.
        while let Some(Some(ready)) = table.ready.next().now_or_never() {
            reported.push(ready);
        }
        hooks.input(&mut core, now);
        for (id, generation) in reported.drain(..) {
            let Some(socket) = table.reported(id, generation) else {
                continue;
            };
            // One wall-clock reading per batch: the kernel stamps arrivals in wall time.
            let wall = SystemTime::now();
            let mut budget = options.drain_batch.max(1);
            while budget > 0 {
                match rx.try_recv(&socket, budget) {
                    Ok(n) => {
                        // A full batch may have left more queued: how much (one getsockopt).
                        let buffer_fill = if n == budget.min(mmsg::BATCH) {
                            mmsg::receive_buffer_fill(&socket).unwrap_or(0)
                        } else {
                            0
                        };
                        budget = budget.saturating_sub(n);
                        for i in 0..n {
                            let (datagram, data) = rx.get(i);
                            let queue_delay = datagram
                                .arrived
                                .and_then(|t| wall.duration_since(t).ok())
                                .unwrap_or_default();
                            let load = Load {
                                queue_delay,
                                buffer_fill,
                                identity: None,
                            };
                            if secure.receives(id) {
                                secure.receive(&mut core, now, id, datagram.from, data, load);
                                continue;
                            }
                            core.set_load(load);
                            core.handle_datagram(now, id, datagram.from, data);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) if driver::is_transient(&error) => {
                        tracing::debug!(id, %error, "receive error ignored");
                        budget -= 1;
                    }
                    Err(error) => return Err(error),
                }
            }
            table.rearm(id, generation, &socket);
        }
        if core.poll_timeout().is_some_and(|deadline| deadline <= now) {
            core.handle_timeout(now);
        }
        if secure
            .poll_timeout()
            .is_some_and(|deadline| deadline <= now)
        {
            secure.handle_timeout(now);
        }
        hooks.turn(&mut core, now);
        flush(
            &mut core,
            &mut hooks,
            &mut table,
            &mut secure,
            &mut out,
            now,
        )
        .await;
        hooks.turn_done(&mut core);
        if let Some(deadline) = drain_deadline {
            if core.is_drained() {
                tracing::debug!("driver drained");
                break;
            }
            if now >= deadline {
                tracing::warn!(
                    drain_timeout = ?options.drain_timeout,
                    "drain timeout passed with work still pending: aborting it"
                );
                core.abort(now);
                flush(
                    &mut core,
                    &mut hooks,
                    &mut table,
                    &mut secure,
                    &mut out,
                    now,
                )
                .await;
                hooks.turn_done(&mut core);
                break;
            }
        }
    }
    Ok(core)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Apply the core's socket ops and send its transmits, in the order the core produced them:
/// consecutive transmits are gathered into `out` (up to [`mmsg::BATCH`]) and each run for one
/// socket goes to the kernel in one `sendmmsg`; a socket op first sends what was gathered.
/// Transmits on coaps sockets are sealed by `secure` on the way, and its own records
/// (handshakes, alerts, retransmissions) go out first.
async fn flush<C: Core, H: Hooks<C>>(
    core: &mut C,
    hooks: &mut H,
    table: &mut Sockets,
    secure: &mut Secure,
    out: &mut Vec<(SocketId, Transmit)>,
    now: Instant,
) {
    loop {
        if secure.has_pending() {
            secure.take_pending(out);
        }
        while let Some(op) = core.poll_socket_op() {
            send_gathered(core, hooks, table, out).await;
            match op {
                SocketOp::Open { id, bind } => {
                    let result = table.open(id, bind);
                    if let Err(error) = &result {
                        tracing::debug!(id, %bind, %error, "socket open failed");
                    }
                    core.handle_socket_opened(now, id, result);
                }
                SocketOp::Close { id } => table.close(id),
            }
        }
        match core.poll_transmit() {
            Some(transmit) => {
                if secure.is_empty() {
                    out.push(transmit);
                } else {
                    secure.seal(now, transmit, out);
                }
                if out.len() >= mmsg::BATCH {
                    send_gathered(core, hooks, table, out).await;
                }
            }
            None if out.is_empty() => break,
            None => send_gathered(core, hooks, table, out).await,
        }
    }
}

/// Send the gathered transmits, one `sendmmsg` per run of the same socket (waiting for room when
/// a socket buffer is full), report each to [`Hooks::sent`], and empty `out`.
async fn send_gathered<C: Core, H: Hooks<C>>(
    core: &mut C,
    hooks: &mut H,
    table: &Sockets,
    out: &mut Vec<(SocketId, Transmit)>,
) {
    let mut start = 0;
    while start < out.len() {
        let id = out[start].0;
        let end = out[start..]
            .iter()
            .position(|(other, _)| *other != id)
            .map_or(out.len(), |n| start + n);
        let Some(slot) = table.get(id) else {
            for (_, transmit) in &out[start..end] {
                tracing::debug!(id, destination = %transmit.destination, "transmit for a socket that is not open dropped");
            }
            start = end;
            continue;
        };
        let run: Vec<(SocketAddr, &[u8])> = out[start..end]
            .iter()
            .map(|(_, t)| (t.destination, &t.payload[..]))
            .collect();
        let mut done = 0;
        while done < run.len() {
            match mmsg::try_send(&slot.socket, &run[done..]) {
                Ok(n) => {
                    for _ in 0..n {
                        hooks.sent(core, id, true);
                    }
                    done += n;
                }
                // Full socket buffer (or a failure of this one datagram): send it alone,
                // waiting for room, then go on with the rest.
                Err(_) => {
                    let (to, payload) = run[done];
                    let sent = driver::send_datagram(&slot.socket, to, payload).await;
                    hooks.sent(core, id, sent);
                    done += 1;
                }
            }
        }
        start = end;
    }
    out.clear();
}

/// A core running [`run`] on its own thread; dropping it shuts it down (and waits for it).
pub struct CoreHandle<C> {
    local_addrs: Vec<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<C>>>,
}

impl<C> std::fmt::Debug for CoreHandle<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreHandle")
            .field("local_addrs", &self.local_addrs)
            .field("running", &self.thread.is_some())
            .finish()
    }
}

/// Start [`run`] for `core` on `sockets` (set non-blocking here) on a thread named `name` with
/// its own current-thread runtime (docs/ARCHITECTURE.md §2: one thread per shard).
pub fn spawn<C, H>(
    name: &str,
    sockets: Vec<std::net::UdpSocket>,
    core: C,
    hooks: H,
    options: RunOptions,
) -> io::Result<CoreHandle<C>>
where
    C: Core + Send + 'static,
    H: Hooks<C> + Send + 'static,
{
    let local_addrs = sockets
        .iter()
        .map(std::net::UdpSocket::local_addr)
        .collect::<io::Result<Vec<_>>>()?;
    let runtime = driver::runtime()?;
    let sockets = {
        let _guard = runtime.enter();
        sockets
            .into_iter()
            .map(|socket| {
                socket.set_nonblocking(true)?;
                UdpSocket::from_std(socket)
            })
            .collect::<io::Result<Vec<_>>>()?
    };
    let (tx, rx) = oneshot::channel::<()>();
    let thread_name = name.to_string();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let shutdown = async {
                // A dropped sender also means "stop".
                let _ = rx.await;
            };
            let result = runtime.block_on(run(sockets, core, hooks, options, shutdown));
            if let Err(error) = &result {
                tracing::error!(thread = %thread_name, %error, "driver loop ended with an error");
            }
            result
        })?;
    Ok(CoreHandle {
        local_addrs,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

impl<C> CoreHandle<C> {
    /// The local address of each socket it was started with, in socket-id order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Ask the loop to drain and stop, without waiting (see [`CoreHandle::shutdown`]).
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stop the loop (drain first), join the thread and hand back the core.
    pub fn shutdown(mut self) -> io::Result<C> {
        self.stop()
            .unwrap_or_else(|| Err(io::Error::other("driver already stopped")))
    }

    fn stop(&mut self) -> Option<io::Result<C>> {
        self.signal_shutdown();
        self.thread.take().map(driver::join)
    }
}

impl<C> Drop for CoreHandle<C> {
    fn drop(&mut self) {
        if let Some(Err(error)) = self.stop() {
            tracing::warn!(%error, "driver stopped with an error");
        }
    }
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
