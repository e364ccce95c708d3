//! Test and load tooling, not part of the product: nothing in the gateway, relay or server uses
//! it. Compiled for this crate's unit tests and with the `testkit` cargo feature, which the
//! integration tests (`tests/`, `loadgen/tests/`) and `loadgen` enable.
//!
//! - [`device`]: an async constrained-UE client (REG/DEREG, messaging, configuration over
//!   CoAP); the integration tests drive the roles with it, loadgen takes its default Uri-Path.
//! - [`coaps`]: a blocking DTLS 1.2 PSK device posting over coaps, and libcoap's command-line
//!   clients run with a bounded wait.
//! - [`harness`]: the roles started on 127.0.0.1 port 0, the gateway's own registration
//!   awaited, the open-file limit, temporary directories (integration tests, loadgen tests).
//! - [`peer`]: raw CoAP sockets for tests that write their own datagrams.
//! - [`segmenting`] / [`reassembly`]: a UE's own client splitting the messages it sends into
//!   segments and joining the segments it receives (23.554 §8.5).
//! - [`TestRng`]: the one seeded generator of test noise (unit tests' fuzz inputs).

#[cfg(feature = "testkit")]
pub mod coaps;
pub mod device;
#[cfg(feature = "testkit")]
pub mod harness;
#[cfg(feature = "testkit")]
pub mod peer;
pub mod reassembly;
mod rng;
pub mod segmenting;

pub use rng::TestRng;
