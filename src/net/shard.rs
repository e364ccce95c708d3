//! The one driver contract every sans-IO core implements (gateway shard, server, configuration
//! server, relay): datagrams and time in, datagrams (and socket changes) out (DESIGN.md §1).
//!
//! A driver owns a table of sockets indexed by [`SocketId`]: the ones it was started with
//! (0, 1, ... in the order given) and the ones the core asks for at run time with
//! [`SocketOp::Open`] (the relay's per-link uplink endpoints). Per turn the driver feeds every
//! received datagram to [`Core::handle_datagram`] with the index of the socket it arrived on,
//! calls [`Core::handle_timeout`] when [`Core::poll_timeout`] is due, applies every
//! [`Core::poll_socket_op`], then sends every [`Core::poll_transmit`] on the socket it names.
//! The core never reads the clock and never touches a socket.

use crate::coap::Transmit;
use std::net::SocketAddr;
use std::time::Instant;

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

/// A sans-IO protocol core driven by a [`net`](super) driver (quinn's `handle_*`/`poll_*` style).
pub trait Core {
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
