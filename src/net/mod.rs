//! Socket layer: binds sockets (socket2), runs the sans-IO cores, handles shutdown.
//!
//! The drivers are thin: each owns its sockets, one reused set of receive slots ([`mmsg`]), one
//! OS thread with a current-thread tokio runtime, and a core. They read the clock
//! (`Instant::now()`), feed datagrams and time into the core, send what it yields, and sleep until
//! its next timeout; the protocol lives entirely in the cores.
//!
//! - [`socket`]: [`bind_udp`] with `SO_REUSEPORT` and large kernel buffers.
//! - [`shard`]: the [`Core`](shard::Core) contract every sans-IO core implements, and the one
//!   driver loop for all of them: [`shard::run`] (sockets, timers, dynamic sockets, drain) and
//!   [`shard::spawn`] / [`shard::CoreHandle`] (thread, runtime, shutdown).
//! - [`server`]: [`run_server`] / [`spawn_server`] / [`ServerHandle`]: the server core on the
//!   driver with its counters.
//! - [`group_commit`]: [`PersistingServer`](group_commit::PersistingServer), the server core
//!   with its durable writes on a writer thread (group commit).
//! - [`config`]: [`spawn_config_server`] / [`ConfigServerHandle`]: the configuration server
//!   core on the driver.
//! - [`gateway`]: [`run_gateway_shard`] (one shard on the driver with its handoff mesh) and
//!   [`spawn_gateway`] / [`GatewayHandle`] (N shards sharing the device port).
//! - [`rxtime`]: receiving with the kernel's arrival time (the queueing delay of overload
//!   control).
//! - [`mmsg`]: `recvmmsg`/`sendmmsg`: up to 64 datagrams per system call each way.
//! - [`secure`]: [`Secure`](secure::Secure), the coaps sockets of a run: DTLS decrypted before
//!   the core and sealed after it ([`dtls`](crate::dtls)).
//! - [`relay`]: [`spawn_relay`] / [`RelayHandle`] (the Relay UE on the one driver loop).
//!
//! Like mini-redis, the loops take already-bound sockets and a shutdown future, so tests bind
//! port 0 and stop them without sleeping.

pub mod config;
mod driver;
pub mod gateway;
pub mod group_commit;
pub mod mmsg;
pub mod relay;
pub mod rxtime;
pub mod secure;
mod secure_setup;
pub mod server;
pub mod shard;
pub mod socket;

pub use config::{spawn_config_server, ConfigServerHandle};
pub use gateway::{
    run_gateway_shard, spawn_gateway, spawn_gateway_persistent, spawn_gateway_with, GatewayHandle,
    ShardMesh, HANDOFF_CHANNEL_CAPACITY, MAX_SHARDS,
};
pub use relay::{spawn_relay, spawn_relay_with, RelayHandle};
pub use server::{run_server, spawn_server, spawn_server_with, ServerHandle};
pub use socket::{
    bind_error, bind_udp, ensure_port_free, local_bind_addr_for, BindError, SocketOptions,
    DEFAULT_SOCKET_BUFFER, RECV_BUFFER_LEN,
};
