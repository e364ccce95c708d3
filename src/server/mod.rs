//! Reference MSGin5G Server core (SPEC.md §9): sans-IO, datagrams and time in, datagrams out.
//!
//! Handles `REG`/`DEREG` (2.01/2.04 with `REGRESP`/`DEREGRESP`), `BULKREG`/`BULKDEREG` (one
//! response element per request element, in order), keeps the registration table, answers 4.13
//! above the configured bulk size, and applies credential/policy checks per entry.
//! Drive it with `handle_datagram`/`handle_timeout`, drain it with `poll_transmit`, and sleep
//! until `poll_timeout`.

use crate::coap::{TransmissionParams, Transmit};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

/// Per-entry policy of the reference server (TS 33.501 Y.6: trust the gateway, check per UE).
#[derive(Debug, Clone, Default)]
pub struct ServerPolicy {
    /// UE Service IDs that are always refused (`FAILURE`, `UNAUTHORIZED`).
    pub denied_ue_service_ids: HashSet<String>,
    /// When set, a `ueCredentialInfo` with `authType` `"TOKEN"` must carry this credential, and a
    /// request without `ueCredentialInfo` is refused.
    pub required_token: Option<String>,
    /// When set, only these gateway UE Service IDs may send bulks (others get 4.03).
    pub allowed_gateways: Option<HashSet<String>>,
}

/// Fault injection for tests and load tests (SPEC.md §9 "Test hooks").
#[derive(Debug, Clone, Default)]
pub struct ServerTestHooks {
    /// Omit every n-th element (1-based position % n == 0) from bulk responses.
    pub drop_entry_every: Option<usize>,
    /// Put a wrong `numberOf...Responses` in bulk responses (list stays correct).
    pub count_mismatch: bool,
    /// Answer bulks with 5.03 and this Max-Age (seconds).
    pub service_unavailable: Option<u32>,
    /// Never answer bulks (not even an ACK).
    pub silent: bool,
    /// Answer bulks with an empty ACK and then a separate CON response.
    pub separate_response: bool,
}

/// Reference server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// MSGin5G service identifier put in every payload.
    pub service_id: String,
    /// The resource path requests must carry (Uri-Path), default `msgin5g`.
    pub uri_path: String,
    /// Largest bulk accepted; larger gets 4.13 (SPEC.md A28).
    pub max_bulk_entries: usize,
    /// Bound on the registration table; entries beyond it fail with `STORE_FULL`.
    pub max_registrations: usize,
    /// Bound on the deduplication cache.
    pub dedup_max_entries: usize,
    /// Per-entry policy.
    pub policy: ServerPolicy,
    /// Fault injection.
    pub hooks: ServerTestHooks,
    /// CoAP transmission parameters.
    pub params: TransmissionParams,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            service_id: crate::msg::DEFAULT_SERVICE_ID.to_string(),
            uri_path: "msgin5g".to_string(),
            max_bulk_entries: 1000,
            max_registrations: 10_000_000,
            dedup_max_entries: 1 << 20,
            policy: ServerPolicy::default(),
            hooks: ServerTestHooks::default(),
            params: TransmissionParams::default(),
        }
    }
}

/// Server counters, shared with the driver and tests.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Single `REG`/`DEREG` requests processed.
    pub single_requests: AtomicU64,
    /// Bulk requests processed (`BULKREG`/`BULKDEREG`), duplicates excluded.
    pub bulk_requests: AtomicU64,
    /// Elements in processed bulk requests.
    pub bulk_entries: AtomicU64,
    /// Requests answered 4.00/4.02/4.04/4.05/4.15.
    pub bad_requests: AtomicU64,
    /// Bulks answered 4.13.
    pub too_large: AtomicU64,
    /// Retransmitted requests answered from the dedup cache or absorbed.
    pub duplicates: AtomicU64,
    /// Datagrams that were not CoAP, dropped.
    pub dropped: AtomicU64,
    /// Current registrations.
    pub registrations: AtomicU64,
}

/// The reference MSGin5G Server state machine.
#[derive(Debug)]
pub struct ServerCore {
    _private: (),
}

impl ServerCore {
    /// A server with `config`; `seed` drives Tokens/MIDs/jitter.
    pub fn new(config: ServerConfig, seed: u64) -> ServerCore {
        todo!("{config:?}{seed}")
    }
    /// Feed one received datagram.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        todo!("{now:?}{from}{data:?}")
    }
    /// Advance timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        todo!("{now:?}")
    }
    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        todo!()
    }
    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }
    /// Shared counters.
    pub fn stats(&self) -> Arc<ServerStats> {
        todo!()
    }
    /// Whether a UE Service ID is registered.
    pub fn is_registered(&self, ue_service_id: &str) -> bool {
        todo!("{ue_service_id}")
    }
    /// Number of registrations.
    pub fn registration_count(&self) -> usize {
        todo!()
    }
}
