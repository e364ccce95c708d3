//! The coaps glue of the driver (RFC 7252 §9.1; docs/PROTOCOL.md §19, docs/ARCHITECTURE.md §2):
//! which of [`shard::run`]'s sockets carry DTLS, and the calls into [`DtlsServer`] /
//! [`DtlsClient`] around the core, so the sans-IO cores never see DTLS.
//!
//! - **Listener** ([`Secure::listen`]): a *physical* socket of the run (an index in the sockets
//!   given to [`shard::run`], one the core never names) whose datagrams are decrypted and fed
//!   to the core as if received on its *logical* socket, with the peer's authenticated
//!   identity in [`Load::identity`]. A transmit the core sends on the logical socket to an
//!   address with an established session there is sealed and sent on the physical socket;
//!   others go plain on the logical socket (a peer with a DTLS session is answered over DTLS).
//! - **Client** ([`Secure::connect`]): a socket of the core whose traffic is all DTLS toward
//!   one peer (the gateway's coaps uplink): what arrives is decrypted before the core sees it
//!   (`identity` `None`), what the core sends there is sealed (queued while handshaking);
//!   a transmit to another destination on it is dropped (never sent in clear).
//!
//! Handshake records, alerts and retransmissions go out with the core's transmits of the same
//! turn; the DTLS timers are folded into the loop's wake-up ([`Secure::poll_timeout`]).
//!
//! [`shard::run`]: super::shard::run

use super::shard::{Core, Load, SocketId};
use crate::coap::Transmit;
use crate::dtls::{DtlsClient, DtlsEvents, DtlsServer};
use std::net::SocketAddr;
use std::time::Instant;

enum Role {
    Listener {
        physical: SocketId,
        logical: SocketId,
        server: DtlsServer,
    },
    Client {
        socket: SocketId,
        client: DtlsClient,
        /// The one other peer this socket talks to in clear (the gateway's configuration
        /// server, which has no coaps: docs/PROTOCOL.md §19).
        plain_peer: Option<SocketAddr>,
    },
}

/// The coaps sockets of one [`shard::run`](super::shard::run) (empty: all plain), handed in
/// through [`RunOptions::secure`](super::shard::RunOptions).
#[derive(Default)]
pub struct Secure {
    roles: Vec<Role>,
    /// Role index of each physical socket id that receives DTLS (`u32::MAX`: none).
    by_received: Vec<u32>,
    /// Role index of each logical socket id whose transmits may be sealed (`u32::MAX`: none).
    by_sent: Vec<u32>,
    events: DtlsEvents,
    /// Records produced outside a transmit (handshakes, alerts, retransmissions), to send.
    pending: Vec<(SocketId, Transmit)>,
}

impl std::fmt::Debug for Secure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secure")
            .field("roles", &self.roles.len())
            .finish()
    }
}

fn set(table: &mut Vec<u32>, id: SocketId, role: usize) {
    if table.len() <= id {
        table.resize(id + 1, u32::MAX);
    }
    table[id] = role as u32;
}

fn get(table: &[u32], id: SocketId) -> Option<usize> {
    table
        .get(id)
        .copied()
        .filter(|&r| r != u32::MAX)
        .map(|r| r as usize)
}

impl Secure {
    /// No coaps socket.
    pub fn new() -> Secure {
        Secure::default()
    }

    /// Whether no socket is secure (the driver then skips this glue entirely).
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
    }

    /// Socket `physical` of the run is a coaps listen socket served by `server`; what it
    /// decrypts is fed to the core as received on its socket `logical`.
    pub fn listen(&mut self, physical: SocketId, logical: SocketId, server: DtlsServer) {
        let role = self.roles.len();
        self.roles.push(Role::Listener {
            physical,
            logical,
            server,
        });
        set(&mut self.by_received, physical, role);
        set(&mut self.by_sent, logical, role);
    }

    /// The core's socket `socket` carries only DTLS, through `client`, toward `client.peer()`.
    pub fn connect(&mut self, socket: SocketId, client: DtlsClient) {
        self.connect_with_plain_peer(socket, client, None);
    }

    /// As [`Secure::connect`], except that datagrams to and from `plain_peer` (another address
    /// than `client.peer()`) pass in clear: the gateway's uplinks also reach its configuration
    /// server, which speaks plain CoAP only (docs/PROTOCOL.md §19). Every other destination is
    /// still dropped, never sent in clear.
    pub fn connect_with_plain_peer(
        &mut self,
        socket: SocketId,
        client: DtlsClient,
        plain_peer: Option<SocketAddr>,
    ) {
        let plain_peer = plain_peer.filter(|p| *p != client.peer());
        let role = self.roles.len();
        self.roles.push(Role::Client {
            socket,
            client,
            plain_peer,
        });
        set(&mut self.by_received, socket, role);
        set(&mut self.by_sent, socket, role);
    }

    /// The servers of the listen sockets, in [`Secure::listen`] order (tests, gauges).
    pub fn servers(&self) -> impl Iterator<Item = &DtlsServer> {
        self.roles.iter().filter_map(|r| match r {
            Role::Listener { server, .. } => Some(server),
            Role::Client { .. } => None,
        })
    }

    /// The clients, in [`Secure::connect`] order.
    pub fn clients(&self) -> impl Iterator<Item = &DtlsClient> {
        self.roles.iter().filter_map(|r| match r {
            Role::Client { client, .. } => Some(client),
            Role::Listener { .. } => None,
        })
    }

    /// Whether datagrams received on socket `id` are DTLS.
    #[inline]
    pub fn receives(&self, id: SocketId) -> bool {
        get(&self.by_received, id).is_some()
    }

    /// Start every client's handshake (once, when the loop starts: D14.8).
    pub fn start(&mut self, now: Instant) {
        for role in 0..self.roles.len() {
            if let Role::Client { client, .. } = &mut self.roles[role] {
                client.start(now, &mut self.events);
                self.take_records(role);
            }
        }
    }

    /// A datagram received on socket `id` (one [`Secure::receives`] holds): decrypt it and feed
    /// each plaintext to `core` under `load` plus the peer's identity.
    pub fn receive<C: Core>(
        &mut self,
        core: &mut C,
        now: Instant,
        id: SocketId,
        from: SocketAddr,
        data: &[u8],
        load: Load,
    ) {
        let Some(role) = get(&self.by_received, id) else {
            return;
        };
        let logical = match &mut self.roles[role] {
            Role::Listener {
                server, logical, ..
            } => {
                server.handle_datagram(now, from, data, &mut self.events);
                *logical
            }
            Role::Client {
                client,
                socket,
                plain_peer,
            } => {
                if *plain_peer == Some(from) {
                    core.set_load(load);
                    core.handle_datagram(now, *socket, from, data);
                    return;
                }
                client.handle_datagram(now, from, data, &mut self.events);
                *socket
            }
        };
        for (from, identity, plaintext) in self.events.plaintexts() {
            core.set_load(Load { identity, ..load });
            core.handle_datagram(now, logical, from, plaintext);
        }
        self.take_records(role);
    }

    /// A transmit of the core: sealed onto its DTLS socket (records into `out`), or handed
    /// back unchanged when it is plain.
    pub fn seal(
        &mut self,
        now: Instant,
        (id, transmit): (SocketId, Transmit),
        out: &mut Vec<(SocketId, Transmit)>,
    ) {
        let Some(role) = get(&self.by_sent, id) else {
            out.push((id, transmit));
            return;
        };
        let (physical, sealed) = match &mut self.roles[role] {
            Role::Listener {
                server, physical, ..
            } => (
                *physical,
                server.seal(
                    now,
                    transmit.destination,
                    &transmit.payload,
                    &mut self.events,
                ),
            ),
            Role::Client {
                client,
                socket,
                plain_peer,
            } => {
                if *plain_peer == Some(transmit.destination) {
                    out.push((id, transmit));
                    return;
                }
                if transmit.destination != client.peer() {
                    tracing::debug!(destination = %transmit.destination, "plain transmit on a coaps client socket dropped");
                    return;
                }
                client.seal(now, &transmit.payload, &mut self.events);
                (*socket, true)
            }
        };
        if !sealed {
            out.push((id, transmit));
            return;
        }
        drain_records(&mut self.events, physical, out);
    }

    /// Move the records produced since the last call (handshakes, alerts, retransmissions) to
    /// `out`.
    pub fn take_pending(&mut self, out: &mut Vec<(SocketId, Transmit)>) {
        out.append(&mut self.pending);
    }

    /// Whether records are waiting for [`Secure::take_pending`].
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The earliest DTLS timer (handshake deadlines and retransmissions, idle sweep, client
    /// re-handshake rules).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.roles
            .iter()
            .filter_map(|r| match r {
                Role::Listener { server, .. } => server.poll_timeout(),
                Role::Client { client, .. } => client.poll_timeout(),
            })
            .min()
    }

    /// Run every DTLS timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for role in 0..self.roles.len() {
            match &mut self.roles[role] {
                Role::Listener { server, .. } => {
                    if server.poll_timeout().is_some_and(|t| t <= now) {
                        server.handle_timeout(now, &mut self.events);
                    }
                }
                Role::Client { client, .. } => {
                    if client.poll_timeout().is_some_and(|t| t <= now) {
                        client.handle_timeout(now, &mut self.events);
                    }
                }
            }
            self.take_records(role);
        }
    }

    /// Queue the records in `events` on `role`'s socket and clear the events.
    fn take_records(&mut self, role: usize) {
        let socket = match &self.roles[role] {
            Role::Listener { physical, .. } => *physical,
            Role::Client { socket, .. } => *socket,
        };
        drain_records(&mut self.events, socket, &mut self.pending);
    }
}

/// Move the records in `events` into `out` as transmits on `socket`, and clear the events.
fn drain_records(events: &mut DtlsEvents, socket: SocketId, out: &mut Vec<(SocketId, Transmit)>) {
    for (to, record) in events.records() {
        out.push((
            socket,
            Transmit::new(to, bytes::Bytes::copy_from_slice(record)),
        ));
    }
    events.clear();
}

#[cfg(test)]
#[path = "secure_tests.rs"]
mod tests;
