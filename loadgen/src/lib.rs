//! # loadgen: simulated constrained UEs against an MSGin5G Gateway UE, Relay UE or Server
//!
//! Thousands of devices, each with its own UDP source port, run a scenario (REG, DEREG, MSG,
//! the MSGin5G-5 application-client requests, churn, NAT rebinding) over CoAP with RFC 7252
//! reliability, closed loop (`--outstanding` requests in flight per device) or open loop
//! (`--rate`, latency from the scheduled send time), and report counts, failure causes and
//! latency percentiles.
//!
//! Crate map:
//! - [`config`]: the validated run configuration.
//! - [`template`]: pre-built request datagrams patched in place (no JSON building per request).
//! - [`worker`]: one thread's devices, epoll set, timer wheel and lane state machines.
//! - [`answer`]: reading answers and downlink requests, answering the latter.
//! - [`coaps`]: `--coaps` devices: PSK identities and keys, the PSK file for the target.
//! - [`confanswer`]: the UE Service ID of a configuration answer (JSON or SEAL XML).
//! - [`poller`], [`wheel`], [`sockets`]: level-triggered epoll, timer wheel, device sockets.
//! - [`stats`], [`report`]: counters, histogram, the JSON report and the summary table.
//! - [`mod@run`]: start the workers, show progress, build the report.
//! - [`processes`]: split a run over child processes when one may not open enough sockets.
#![warn(missing_docs)]

pub mod answer;
pub mod coaps;
pub mod confanswer;
pub mod config;
pub mod poller;
pub mod processes;
pub mod report;
pub mod run;
pub mod sockets;
pub mod stats;
pub mod template;
pub mod wheel;
pub mod worker;

pub use config::{Config, MsgTarget, Pacing, Scenario, WaitTime};
pub use report::Report;
pub use run::{run, Progress, RunError};
