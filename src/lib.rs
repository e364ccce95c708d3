//! # msgin5g: MSGin5G Gateway UE aggregator and reference Server
//!
//! Crate map:
//! - [`coap`]: CoAP (RFC 7252) codec, deduplication, Message IDs, retransmission.
//! - [`msg`]: MSGin5G payloads (TS 24.538 §7.1) and their JSON profile.
//! - [`server`]: the reference MSGin5G Server core (sans-IO).
//! - [`gateway`]: the Gateway UE core (sans-IO, one per shard).
//! - [`relay`]: the Relay UE core (sans-IO): a transparent Layer-3 UE-to-Network relay for CoAP.
//! - [`dtls`]: coaps transport security (RFC 7252 §9, DTLS 1.2 PSK): PSK table, sans-IO DTLS
//!   sessions (OpenSSL) the [`net`] drivers run around the cores.
//! - [`net`]: sockets, shard run loops, shutdown: the thin drivers around the cores.
//! - [`config`]: the one configuration (TOML file + flags), validated once.
//! - [`store`]: opening the roles' redb stores (directory, lock, layout version).
//! - [`histogram`]: fixed-bucket atomic histograms the cores record latencies and sizes into.
//! - [`metrics`]: Prometheus metrics: per-shard atomic stats rendered at scrape time, `/metrics`.
//! - `testkit` (cargo feature `testkit`; not part of the product): the device client, test
//!   harness and seeded test RNG that the tests and `loadgen` use.
#![warn(missing_docs)]

pub mod coap;
pub mod config;
pub mod dtls;
pub mod gateway;
pub mod histogram;
pub mod metrics;
pub mod msg;
pub mod net;
pub mod relay;
pub mod server;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
