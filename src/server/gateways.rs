//! Gateway UE endpoint groups (24.538 §6.3.4.3.3: a gateway sends from several uplink ports; issue 9
//! "Peer restarts"): which uplink endpoints of a Gateway UE downlink may use, and when one is
//! forgotten.
//!
//! - An endpoint joins its gateway's group when a bulk or an aggregate that passed the checks
//!   comes from it (at most [`MAX_GATEWAY_ENDPOINTS`] per gateway).
//! - A Gateway UE's own single `REG` carrying `gatewayUeServiceId` equal to its `ueServiceId`
//!   (project extension; only IDs in `allowed_gateways` when that list is set) makes it known at
//!   once, and its host with it: a single request (urgent `REG`, `HIGH` priority `MSG`, or any
//!   request with bulking off) from another port of that host, while the gateway is registered
//!   there, is from one of its uplinks (a `REG` is recorded through the gateway, a message of a
//!   UE registered at that host is accepted). The declaration is persisted with the
//!   registration.
//! - An endpoint that never acknowledged a downlink request (RST, or MAX_RETRANSMIT without an
//!   ACK; ICMP errors are not visible on an unconnected socket) is removed from its group, and the
//!   request is re-sent on another endpoint of the group (at most `delivery_attempts` attempts
//!   in all, each with the full RFC 7252 retransmission schedule).
//! - The gateway's own `REG` (its `gatewayUeServiceId`, 23.554 §8.2.7 pre-condition 1) marks a
//!   (re)start of the gateway: every endpoint but the one the `REG` came from is dropped; the
//!   others rejoin with their next bulk or aggregate (a live gateway spreads its upstream traffic
//!   over all its uplinks). Endpoints of a restarted gateway process are thus forgotten at once.
//! - A UE registered through a gateway is reached through the gateway's group even when the
//!   endpoint its bulk came from was forgotten.

use super::core::ServerCore;
use super::registry::DownlinkPath;
use metrics::CounterFn;
use std::net::SocketAddr;
use std::time::Instant;

/// Most Gateway UEs remembered as such (see `known_gateways`).
pub const MAX_KNOWN_GATEWAYS: usize = 1024;

/// Most uplink endpoints remembered per Gateway UE (a gateway runs `shards × uplinks_per_shard`).
pub const MAX_GATEWAY_ENDPOINTS: usize = 256;

impl ServerCore {
    /// Remember `gateway` as a Gateway UE (it sent a bulk or an aggregate that passed the checks)
    /// and `from` as one of its uplink endpoints.
    pub(super) fn note_gateway(&mut self, gateway: Option<&str>, from: Option<SocketAddr>) {
        let Some(g) = gateway else {
            return;
        };
        let group = match self.known_gateways.get(g) {
            Some(&i) => i,
            None if self.known_gateways.len() < MAX_KNOWN_GATEWAYS => {
                let i = self.gateway_groups.len();
                self.gateway_groups.push((Vec::new(), 0));
                self.known_gateways.insert(g.to_string(), i);
                i
            }
            None => return,
        };
        if let Some(from) = from {
            self.join_group(group, from);
        }
    }

    fn join_group(&mut self, group: usize, from: SocketAddr) {
        let endpoints = &mut self.gateway_groups[group].0;
        if !self.endpoint_group.contains_key(&from) && endpoints.len() < MAX_GATEWAY_ENDPOINTS {
            endpoints.push(from);
            self.endpoint_group.insert(from, group);
        }
    }

    /// The Gateway UE whose uplink endpoint `from` is (it sent a bulk or an aggregate from it).
    pub(super) fn gateway_of_endpoint(&self, from: SocketAddr) -> Option<&str> {
        let group = *self.endpoint_group.get(&from)?;
        self.known_gateways
            .iter()
            .find(|(_, &g)| g == group)
            .map(|(name, _)| name.as_str())
    }

    /// The Gateway UE `id` declared itself in its own single `REG` from `from`: it is known as
    /// a gateway, and `from`'s host as its host (its uplinks are other ports of that host).
    pub(super) fn gateway_declared(&mut self, id: &str, from: SocketAddr) {
        self.note_gateway(Some(id), None);
        if !self.known_gateways.contains_key(id) {
            return;
        }
        self.gateway_hosts.retain(|_, g| g != id);
        self.gateway_hosts.insert(from.ip(), id.to_owned());
    }

    /// The Gateway UE whose uplink `from` is: an endpoint that sent a bulk or an aggregate, or
    /// any port of the host of a gateway that declared itself and is registered there (issue 9:
    /// a single request, urgent, `HIGH` or with bulking off, may come from an uplink the server
    /// never saw in a bulk).
    pub(super) fn gateway_at(&self, from: SocketAddr) -> Option<&str> {
        if let Some(g) = self.gateway_of_endpoint(from) {
            return Some(g);
        }
        let g = self.gateway_hosts.get(&from.ip())?;
        let reg = self.registry.get(g)?;
        match &reg.path {
            DownlinkPath::Direct(a) if reg.gateway_ue && a.ip() == from.ip() => Some(g.as_str()),
            DownlinkPath::Direct(_) | DownlinkPath::Gateway { .. } => None,
        }
    }

    /// Whether `id` is a Gateway UE (sent bulks or aggregates before).
    pub(super) fn is_gateway(&self, id: &str) -> bool {
        self.known_gateways.contains_key(id)
    }

    /// The Gateway UE `id` registered itself from `from`: it (re)started, so its endpoints other
    /// than `from` are forgotten (they rejoin with their next bulk or aggregate).
    pub(super) fn gateway_registered(&mut self, id: &str, from: SocketAddr) {
        let Some(&group) = self.known_gateways.get(id) else {
            return;
        };
        let (endpoints, cursor) = &mut self.gateway_groups[group];
        let dropped: Vec<SocketAddr> = endpoints.iter().copied().filter(|e| *e != from).collect();
        endpoints.retain(|e| *e == from);
        *cursor = 0;
        for e in &dropped {
            self.endpoint_group.remove(e);
            self.stats.gateway_endpoints_pruned.increment(1);
        }
        if !dropped.is_empty() {
            tracing::info!(
                gateway = id,
                dropped = dropped.len(),
                "gateway registered again; old uplink endpoints forgotten"
            );
        }
        self.join_group(group, from);
    }

    /// Forget `peer` as a gateway endpoint (it never acknowledged a downlink request); returns a
    /// live endpoint of the same gateway to re-send on, if any is left.
    pub(super) fn forget_endpoint(&mut self, peer: SocketAddr) -> Option<SocketAddr> {
        let group = self.endpoint_group.remove(&peer)?;
        let (endpoints, cursor) = &mut self.gateway_groups[group];
        endpoints.retain(|e| *e != peer);
        self.stats.gateway_endpoints_pruned.increment(1);
        tracing::debug!(%peer, left = endpoints.len(), "gateway endpoint unreachable; forgotten");
        if endpoints.is_empty() {
            return None;
        }
        *cursor %= endpoints.len();
        Some(endpoints[*cursor])
    }

    /// Where downlink toward a UE registered along `path` goes: through the gateway's group
    /// when its bulk's endpoint was forgotten but the gateway has live endpoints.
    pub(super) fn path_address(&self, path: &DownlinkPath) -> SocketAddr {
        match path {
            DownlinkPath::Direct(a) => *a,
            DownlinkPath::Gateway {
                address,
                gateway_ue_service_id,
            } => {
                if self.endpoint_group.contains_key(address) {
                    return *address;
                }
                gateway_ue_service_id
                    .as_deref()
                    .and_then(|g| self.known_gateways.get(g))
                    .and_then(|&group| self.gateway_groups[group].0.first().copied())
                    .unwrap_or(*address)
            }
        }
    }

    /// A Message ID for a downlink request to `peer`, and the endpoint to send it to: when `peer`
    /// is an uplink of a known gateway, the gateway's endpoints are used round robin, each with its
    /// own Message ID space (RFC 7252 §4.4 allows ~265 CON/s per endpoint), so downlink toward one
    /// gateway is not held to one endpoint's budget. `None` when every Message ID is in use.
    pub(super) fn downlink_endpoint(
        &mut self,
        now: Instant,
        peer: SocketAddr,
    ) -> Option<(SocketAddr, u16)> {
        let Some(&group) = self.endpoint_group.get(&peer) else {
            return self.mids.allocate(now, peer).map(|mid| (peer, mid));
        };
        let (endpoints, cursor) = &mut self.gateway_groups[group];
        let n = endpoints.len();
        for k in 0..n {
            let i = (*cursor + k) % n;
            if let Some(mid) = self.mids.allocate(now, endpoints[i]) {
                *cursor = (i + 1) % n;
                return Some((endpoints[i], mid));
            }
        }
        None
    }
}
