//! The Gateway UE core of one shard (23.554 §8.2.7, §8.11; docs/ARCHITECTURE.md §1, §3): sans-IO,
//! fed with `handle_*`, drained with `poll_transmit`/`poll_handoff`, woken at `poll_timeout`.
//!
//! [`GatewayCore`] ([`shard`]) owns one sub-state per side, each a plain data type with its own
//! small operations, no I/O and no clock reads:
//! - [`device_state`]: the messaging and configuration sockets' message layer (dedup, Message
//!   IDs, retransmissions, Block1/Block2);
//! - [`pending`]: the device requests awaiting their final answer; [`batch`]: a batch queue;
//! - [`upstream_state`]: batches, uplinks and exchanges toward the server, [`liveness`];
//! - [`downlink_state`]: the server's downlink requests and the deliveries toward devices;
//!   [`downlink_aggregate_state`]: the element verdicts of aggregated downlink requests;
//! - [`registration_state`]: the gateway's own registration and the requests parked on it;
//! - [`reassembly_state`]: the downlink segment sets being reassembled for the ACs;
//! - [`overload_state`]: overload control; [`journal_state`]: persistence change tracking;
//! - [`timer_queue`]: the timers and their queue.
//!
//! The behaviour, one concern per file (each an `impl GatewayCore` block):
//! - [`device`]: device datagrams: validation, deduplication (RFC 7252 §4.5), Block1, refusals;
//! - [`admission`]: accepting a device request: bounds, replacement, its batch or a single;
//! - [`device_answer`]: the one final answer to each device request;
//! - [`config`]: configuration GETs on the configuration socket (24.538 §6.2.2.1);
//! - [`apps`]: Application Client registration and requests (MSGin5G-5, 24.538 §6.3.2);
//!   [`app_fields`]: the `MSG` an AC's request becomes, borrowed from the request;
//! - [`forward`]: a MSGin5G-6 UE's `SEGREC`/`SEGCONFIR`/`TOPICSUB`/`TOPICUNSUB`, forwarded
//!   singly with the server's answer relayed;
//! - [`upstream`]: batching, bulk and single requests, the server's answers; [`split`] splits
//!   a bulk or aggregate answer per member;
//! - [`single`]: the wire form of requests sent on their own and their answers' outcomes;
//! - [`upstream_block`]: bulks sent in Block1 blocks (RFC 7959) when configured;
//! - [`upstream_block2`]: answers from the server fetched in Block2 blocks (RFC 7959 §2.4);
//! - [`downlink`]: the server's downlink requests and their delivery (23.554 §8.11);
//!   [`downlink_aggregate`]: `AGGMSG`/`AGGIMDN` split per element and answered once (§8.4.3);
//! - [`server_answer`]: every answer to a server request, piggybacked on its held ACK or
//!   separate (docs/PROTOCOL.md §11);
//! - [`reassembly`]: downlink segments for the ACs, `SEGREC`/`SEGCONFIR` (23.554 §8.5);
//! - [`reregister`]: the gateway's own (re-)registration (issue 9);
//! - [`segment_out`]: Application Clients' messages sent as segments (23.554 §8.5), their sets
//!   in [`segment_out_state`]; [`segment_control`]: the server's `SEGREC`/`SEGCONFIR`;
//! - [`silence`]: upstream liveness: warnings, pings, re-sending after a silence;
//! - [`overload`]: overload control (docs/ARCHITECTURE.md §8);
//! - [`identity`]: what a coaps peer's PSK identity may act as (docs/PROTOCOL.md §19);
//! - [`timers`]: piggyback windows, deadlines, retransmissions, expiry;
//! - [`persist`]: change tracking and the request journal (issue 9);
//! - [`observe`]: flush reasons and gauges for the metrics;
//! - [`driven`]: the shard as a `net::shard::Core` (socket ids ↔ sides).

mod admission;
mod app_fields;
mod apps;
mod batch;
mod config;
mod device;
mod device_answer;
mod device_state;
mod downlink;
mod downlink_aggregate;
mod downlink_aggregate_state;
mod downlink_state;
mod driven;
mod forward;
mod identity;
mod journal_state;
mod liveness;
mod observe;
mod overload;
mod overload_state;
mod pending;
mod persist;
mod reassembly;
mod reassembly_state;
mod registration_state;
mod reregister;
mod segment_control;
mod segment_out;
mod segment_out_state;
mod server_answer;
mod shard;
mod silence;
mod single;
pub(super) mod split;
mod timer_queue;
mod timers;
mod upstream;
mod upstream_block;
mod upstream_block2;
mod upstream_state;

pub use driven::{side_of, socket_of, CONFIG_SOCKET, DEVICE_SOCKET, UPLINK_SOCKET_BASE};
pub use identity::IDENTITY_NOT_BOUND;
pub use overload::SILENT_FACTOR;
pub use pending::{Dialect, Forwarded, Kind};
pub use persist::{journal_owner, RestoredJournal};
pub use shard::GatewayCore;
pub use split::{split_answer, Split};
pub use upstream_state::DEFAULT_CONFIG_PORT;
