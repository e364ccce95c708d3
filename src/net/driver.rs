//! Pieces shared by the run loops: timer re-arming, receive-error triage, sending one datagram,
//! and turning a shard thread's exit into an `io::Result`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::time::Sleep;

/// IO_LOOP_BOUND: after a wake, read at most this many more datagrams per socket before running
/// timers and sending. Bounds the latency a burst on one socket adds to timers and to the other
/// socket, while still amortizing the wake-up over a batch.
pub(crate) const DRAIN_BATCH: usize = 64;

/// A deadline far enough away to stand for "never" (the timer branch is disabled meanwhile).
pub(crate) fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365)
}

/// Point `sleep` at `want` if it differs from what is `armed`. Returns whether a timer is armed.
///
/// `armed` is reset to `None` by the caller after the timer fires, so an already-elapsed `Sleep`
/// is always re-armed before it is polled again (a completed `Sleep` would otherwise be ready at
/// once and spin the loop).
pub(crate) fn rearm(
    sleep: Pin<&mut Sleep>,
    armed: &mut Option<Instant>,
    want: Option<Instant>,
) -> bool {
    if let Some(deadline) = want {
        if *armed != Some(deadline) {
            sleep.reset(tokio::time::Instant::from_std(deadline));
            *armed = Some(deadline);
        }
    } else {
        *armed = None;
    }
    armed.is_some()
}

/// Errors a UDP receive may report that leave the socket usable (ICMP echoes, signals, spurious
/// wake-ups). Anything else means the socket is broken and the loop ends with that error.
pub(crate) fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::TimedOut
    )
}

/// Send one datagram: `try_send_to` first (no await on the fast path), `send_to().await` when the
/// socket buffer is full. Other errors (ECONNREFUSED from an earlier ICMP, unreachable networks)
/// are logged and the datagram is dropped: CoAP retransmission covers it. Returns whether the
/// kernel took the datagram (for the sent/failed counters).
pub(crate) async fn send_datagram(
    socket: &UdpSocket,
    destination: SocketAddr,
    payload: &[u8],
) -> bool {
    let result = match socket.try_send_to(payload, destination) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            socket.send_to(payload, destination).await
        }
        other => other,
    };
    match result {
        Ok(_) => true,
        Err(error) => {
            if is_transient(&error) {
                tracing::debug!(%destination, %error, "send failed, datagram dropped");
            } else {
                tracing::warn!(%destination, %error, "send failed, datagram dropped");
            }
            false
        }
    }
}

/// Join a driver thread, turning a panic into an `io::Error` that carries the panic message.
pub(crate) fn join<T>(thread: JoinHandle<io::Result<T>>) -> io::Result<T> {
    let name = thread.thread().name().unwrap_or("driver").to_string();
    match thread.join() {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(io::Error::other(format!(
                "thread {name} panicked: {message}"
            )))
        }
    }
}

/// A current-thread runtime with timers and I/O, one per driver thread.
pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Give freed heap memory back to the operating system (glibc `malloc_trim`; a no-op elsewhere).
///
/// After a burst, the deduplication cache and pending table free millions of small blocks
/// interleaved with long-lived ones; glibc keeps those pages resident unless asked. The gateway
/// driver calls this at most every [`TRIM_INTERVAL`] when its caches shrank (README
/// "Performance": memory per registered device).
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and releases the allocator's own free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Shortest interval between two [`trim_heap`] calls of one shard.
pub const TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
