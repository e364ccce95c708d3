//! UDP socket creation with socket2: address reuse, large kernel buffers, non-blocking mode.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Default `SO_RCVBUF`/`SO_SNDBUF` request: 4 MiB.
///
/// Reason (docs/ARCHITECTURE.md §13): with Linux's default (≈208 KiB) a socket overflows once ~1 000 small
/// datagrams queue, and those devices then wait out a 2 s CoAP retransmission timeout.
pub const DEFAULT_SOCKET_BUFFER: usize = 4 << 20;

/// Size of the one receive buffer each driver keeps per socket: the largest UDP payload, so a
/// datagram is never truncated.
pub const RECV_BUFFER_LEN: usize = 64 * 1024;

/// Kernel buffer sizes requested for a socket (`0` keeps the system default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    /// Requested `SO_RCVBUF` in bytes.
    pub recv_buffer: usize,
    /// Requested `SO_SNDBUF` in bytes.
    pub send_buffer: usize,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            recv_buffer: DEFAULT_SOCKET_BUFFER,
            send_buffer: DEFAULT_SOCKET_BUFFER,
        }
    }
}

/// A socket could not be bound: the error names the address (the caller names the setting).
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {addr}: {reason}")]
pub struct BindError {
    /// The address that could not be bound.
    pub addr: SocketAddr,
    /// Why (the system's error, or why the port is refused).
    pub reason: String,
}

/// An `io::Error` of `source`'s kind carrying a [`BindError`] for `addr`.
pub fn bind_error(
    addr: SocketAddr,
    reason: impl std::fmt::Display,
    kind: io::ErrorKind,
) -> io::Error {
    io::Error::new(
        kind,
        BindError {
            addr,
            reason: reason.to_string(),
        },
    )
}

/// Refuse a fixed port that another socket already holds, before sharing it with
/// `SO_REUSEPORT`: a plain bind (no reuse option) fails exactly when any socket holds the port,
/// while a `SO_REUSEPORT` bind would silently join another process's group and split its
/// traffic (issue 10 §4).
pub fn ensure_port_free(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    match bind_udp(addr, false, 0, 0) {
        Ok(probe) => {
            drop(probe);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(bind_error(
            addr,
            "address already in use by another socket (another msgin5g?); refusing to share it",
            io::ErrorKind::AddrInUse,
        )),
        Err(e) => Err(e),
    }
}

/// Bind a non-blocking UDP socket to `addr`; a failure is a [`BindError`] naming it.
///
/// With `reuse_port`, sets `SO_REUSEADDR` and `SO_REUSEPORT` so several sockets (one per shard)
/// can share the port and the kernel spreads peers over them. `recv_buffer`/`send_buffer` are the
/// requested `SO_RCVBUF`/`SO_SNDBUF` sizes (`0` keeps the default); the kernel may cap them
/// (`net.core.rmem_max`/`wmem_max`), which is logged as a warning, not an error. An IPv6
/// unspecified address is bound dual-stack where the system allows it.
pub fn bind_udp(
    addr: SocketAddr,
    reuse_port: bool,
    recv_buffer: usize,
    send_buffer: usize,
) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let SocketAddr::V6(v6) = addr {
        if v6.ip().is_unspecified() {
            // Best effort: some systems force IPV6_V6ONLY.
            let _ = socket.set_only_v6(false);
        }
    }
    if reuse_port {
        socket.set_reuse_address(true)?;
        set_reuse_port(&socket)?;
    }
    if recv_buffer > 0 {
        socket.set_recv_buffer_size(recv_buffer)?;
        check_buffer("SO_RCVBUF", recv_buffer, socket.recv_buffer_size()?, addr);
    }
    if send_buffer > 0 {
        socket.set_send_buffer_size(send_buffer)?;
        check_buffer("SO_SNDBUF", send_buffer, socket.send_buffer_size()?, addr);
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| bind_error(addr, &e, e.kind()))?;
    Ok(socket.into())
}

/// The address a socket talking to `peer` should bind: the loopback address when `peer` is
/// loopback (so the source matches), otherwise the unspecified address of `peer`'s family; port 0.
pub fn local_bind_addr_for(peer: SocketAddr) -> SocketAddr {
    let ip = match peer.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

#[cfg(all(
    unix,
    not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    ))
))]
fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(all(
    unix,
    not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    ))
)))]
fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "SO_REUSEPORT is not supported on this platform",
    ))
}

/// Linux reports twice the requested size (bookkeeping overhead); anything below the request
/// means the kernel capped it. Warned once per process: every socket hits the same system limit.
fn check_buffer(name: &str, requested: usize, effective: usize, addr: SocketAddr) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if effective < requested && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            %addr,
            requested,
            effective,
            "{name} capped by the kernel; raise net.core.rmem_max/wmem_max to avoid drops under load"
        );
    }
}

/// A seed for the cores' Token/MID/jitter generators from the OS ([`os_seed`](crate::coap::rng::os_seed)).
pub(crate) fn random_seed() -> u64 {
    crate::coap::rng::os_seed()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

    #[test]
    fn two_reuse_port_sockets_share_a_port() {
        let first = bind_udp(LOOPBACK, true, 0, 0).unwrap();
        let addr = first.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let second = bind_udp(addr, true, 0, 0).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
    }

    #[test]
    fn without_reuse_port_the_port_is_exclusive() {
        let first = bind_udp(LOOPBACK, false, 0, 0).unwrap();
        let addr = first.local_addr().unwrap();
        let err = bind_udp(addr, false, 0, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn socket_is_nonblocking_and_buffers_are_requested() {
        let socket = bind_udp(LOOPBACK, false, 1 << 20, 1 << 20).unwrap();
        let mut buf = [0u8; 16];
        let err = socket.recv_from(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let socket = Socket::from(socket);
        // The kernel may cap the request (rmem_max) but never ignores it entirely.
        assert!(socket.recv_buffer_size().unwrap() > 0);
        assert!(socket.send_buffer_size().unwrap() > 0);
    }

    #[test]
    fn datagrams_flow_between_bound_sockets() {
        let a = bind_udp(
            LOOPBACK,
            false,
            DEFAULT_SOCKET_BUFFER,
            DEFAULT_SOCKET_BUFFER,
        )
        .unwrap();
        let b = bind_udp(LOOPBACK, false, 0, 0).unwrap();
        a.set_nonblocking(false).unwrap();
        a.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        b.send_to(b"ping", a.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, b.local_addr().unwrap());
    }

    #[test]
    fn local_bind_addr_follows_the_peer() {
        let v4: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        assert_eq!(local_bind_addr_for(v4), "127.0.0.1:0".parse().unwrap());
        let v4: SocketAddr = "192.0.2.1:5683".parse().unwrap();
        assert_eq!(local_bind_addr_for(v4), "0.0.0.0:0".parse().unwrap());
        let v6: SocketAddr = "[::1]:5683".parse().unwrap();
        assert_eq!(local_bind_addr_for(v6), "[::1]:0".parse().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:5683".parse().unwrap();
        assert_eq!(local_bind_addr_for(v6), "[::]:0".parse().unwrap());
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(random_seed(), random_seed());
    }
}
