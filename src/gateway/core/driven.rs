//! The gateway shard as a [`Core`] of the one driver (`net::shard::run`): the socket table
//! layout and the mapping between socket ids and [`Side`]s (docs/ARCHITECTURE.md §2).

use super::shard::GatewayCore;
use crate::coap::Transmit;
use crate::gateway::Side;
use crate::net::shard::{Core, Load, SocketId};
use std::net::SocketAddr;
use std::time::Instant;

/// The device-facing socket (MSGin5G-6).
pub const DEVICE_SOCKET: SocketId = 0;
/// The device-facing configuration socket (UDP 65401, 24.538 §6.2.1).
pub const CONFIG_SOCKET: SocketId = 1;
/// Socket id of uplink 0 toward the servers; uplink n is `UPLINK_SOCKET_BASE + n`.
pub const UPLINK_SOCKET_BASE: SocketId = 2;

/// The socket a transmit of `side` goes out on.
pub fn socket_of(side: Side) -> SocketId {
    match side {
        Side::Device => DEVICE_SOCKET,
        Side::Config => CONFIG_SOCKET,
        Side::Upstream(index) => UPLINK_SOCKET_BASE + index,
    }
}

/// The side a socket id stands for (`None` for an id the layout does not use).
pub fn side_of(socket: SocketId) -> Option<Side> {
    match socket {
        DEVICE_SOCKET => Some(Side::Device),
        CONFIG_SOCKET => Some(Side::Config),
        id if id >= UPLINK_SOCKET_BASE => Some(Side::Upstream(id - UPLINK_SOCKET_BASE)),
        _ => None,
    }
}

impl GatewayCore {
    /// The MSGin5G Server this shard talks to (uplink datagrams from anyone else are dropped).
    pub fn upstream(&self) -> SocketAddr {
        self.upstream.server
    }
}

impl Core for GatewayCore {
    /// Device datagrams go to [`GatewayCore::handle_device_datagram`], configuration datagrams to
    /// [`GatewayCore::handle_config_datagram`]; uplink datagrams from the upstream or the
    /// configuration upstream to [`GatewayCore::handle_upstream_datagram`]; uplink datagrams
    /// from any other source are dropped.
    fn handle_datagram(&mut self, now: Instant, socket: SocketId, from: SocketAddr, data: &[u8]) {
        match side_of(socket) {
            Some(Side::Device) => {
                self.observe_queue_delay();
                self.handle_device_datagram(now, from, data)
            }
            Some(Side::Config) => {
                self.observe_queue_delay();
                self.handle_config_datagram(now, from, data)
            }
            Some(Side::Upstream(index))
                if from == self.upstream.server || from == self.upstream.config_server =>
            {
                self.handle_upstream_datagram(now, index, from, data)
            }
            Some(Side::Upstream(_)) => {
                let upstream = self.upstream.server;
                let len = data.len();
                tracing::debug!(%from, %upstream, len, "uplink datagram not from an upstream, dropped");
            }
            None => tracing::debug!(socket, %from, "datagram on an unknown socket dropped"),
        }
    }

    fn set_load(&mut self, load: Load) {
        GatewayCore::set_load(self, load);
    }

    fn handle_timeout(&mut self, now: Instant) {
        GatewayCore::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self) -> Option<(SocketId, Transmit)> {
        GatewayCore::poll_transmit(self).map(|(side, transmit)| (socket_of(side), transmit))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        GatewayCore::poll_timeout(self)
    }

    fn begin_drain(&mut self, now: Instant) {
        GatewayCore::begin_drain(self, now);
    }

    fn is_drained(&self) -> bool {
        GatewayCore::is_drained(self)
    }

    fn abort(&mut self, now: Instant) {
        GatewayCore::abort(self, now);
    }
}

#[cfg(test)]
mod tests {
    use super::{side_of, socket_of};
    use crate::gateway::Side;

    #[test]
    fn socket_ids_and_sides_map_both_ways() {
        for side in [
            Side::Device,
            Side::Config,
            Side::Upstream(0),
            Side::Upstream(7),
        ] {
            assert_eq!(side_of(socket_of(side)), Some(side));
        }
        assert_eq!(socket_of(Side::Device), 0);
        assert_eq!(socket_of(Side::Config), 1);
        assert_eq!(socket_of(Side::Upstream(0)), 2);
    }
}
