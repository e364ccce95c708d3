//! coaps: CoAP over DTLS 1.2 with pre-shared keys (RFC 7252 §9.1, RFC 6347, RFC 4279), below
//! the sans-IO cores (docs/PROTOCOL.md §19).
//!
//! The cores never see DTLS: the [`net`](crate::net) driver decrypts a datagram before
//! `Core::handle_datagram` (passing the peer's authenticated [`IdentityId`] in
//! [`Load::identity`](crate::net::shard::Load)) and encrypts what `Core::poll_transmit` yields.
//!
//! Crate map of the module:
//! - [`psk`]: [`PskTable`], the PSK identities, their keys and the IDs each may act for.
//! - [`stats`]: [`DtlsStats`], the handshake, session and record counters.
//! - [`cookie`]: the stateless HelloVerifyRequest cookie (RFC 6347 §4.2.1).
//! - [`session`]: one OpenSSL DTLS session over an in-memory datagram pipe.
//! - [`events`]: [`DtlsEvents`], the plaintexts and records a call produced.
//! - [`server`]: [`DtlsServer`], the sessions of one coaps socket (bounded, LRU, timers).
//! - [`client`]: [`DtlsClient`], one client session toward one peer (re-handshake rules).
//!
//! Implementation: OpenSSL 3 through the `openssl` crate (measured reason in `benches/dtls.rs`
//! and docs/PROTOCOL.md §19): it has both PSK cipher suites of RFC 7252 §9.1.3.1 / RFC 6655,
//! the RFC 6347 §4.1.2.6 replay window, the §4.2.1 cookie exchange, and is what libcoap's
//! `coap-client-openssl` uses.

pub mod client;
pub mod cookie;
pub mod events;
pub mod psk;
pub mod server;
pub mod session;
pub mod stats;

pub use client::{DtlsClient, DtlsClientConfig};
pub use events::DtlsEvents;
pub use psk::{PskError, PskTable, MAX_PSK_IDENTITIES};
pub use server::{DtlsServer, DtlsServerConfig, DEFAULT_MAX_HANDSHAKES, DEFAULT_MAX_SESSIONS};
pub use stats::{DecryptFailure, DtlsStats, HandshakeFailure};

/// A PSK identity of a [`PskTable`]: its index there (RFC 4279 §2 `psk_identity`, resolved).
/// `Copy` so it rides along each datagram in [`Load`](crate::net::shard::Load).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityId(pub u32);

#[cfg(test)]
mod tests;
