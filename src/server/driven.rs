//! The reference server as a [`Core`] of the one driver (`net::shard::run`): one socket, id 0.

use super::core::ServerCore;
use crate::coap::Transmit;
use crate::net::shard::{Core, Load, SocketId};
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

/// The server's only socket (MSGin5G-1 and MSGin5G-3 both arrive on it).
pub const SERVER_SOCKET: SocketId = 0;

impl Core for ServerCore {
    /// Counts the datagram in `datagrams_received`, then [`ServerCore::handle_input`] (the driver
    /// calls [`ServerCore::handle_idle`] at the end of its read).
    fn handle_datagram(&mut self, now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        if socket != SERVER_SOCKET {
            tracing::debug!(socket, %from, "datagram on a socket the server does not own dropped");
            return;
        }
        self.stats.datagrams_received.increment(1);
        ServerCore::handle_input(self, now, from, data);
    }

    /// Keeps the datagram's PSK identity for the checks of docs/PROTOCOL.md §19.
    fn set_load(&mut self, load: Load) {
        self.set_identity(load.identity);
    }

    fn handle_timeout(&mut self, now: Instant) {
        ServerCore::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)> {
        ServerCore::poll_transmit(self).map(|transmit| (SERVER_SOCKET, transmit))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        ServerCore::poll_timeout(self)
    }
}
