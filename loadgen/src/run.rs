//! One run: raise the open-file limit, start the workers, show progress, merge their counters
//! into a [`Report`].

use crate::config::{Config, ConfigError, DeviceSlice, Pacing};
use crate::report::Report;
use crate::sockets::{self, MidTable};
use crate::stats::{Live, Stats, StatsWire};
use crate::worker::{Shared, Worker};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use thiserror::Error;

/// File descriptors kept free beyond one per device (epoll, std streams, the report file).
const SPARE_FDS: u64 = 64;

/// How often the progress bar is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Why a run could not take place.
#[derive(Debug, Error)]
pub enum RunError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Not enough file descriptors for one socket per device.
    #[error("the open-file limit is {have}, {need} are needed (one socket per device); raise `ulimit -n`")]
    FdLimit {
        /// In force.
        have: u64,
        /// Needed.
        need: u64,
    },
    /// A worker failed (epoll, thread).
    #[error("worker: {0}")]
    Io(#[from] io::Error),
    /// No device could open a socket.
    #[error("no device socket could be bound ({0} failures); see `ip_local_port_range`")]
    NoSockets(u64),
}

/// Progress display options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Show the indicatif bar (on stderr; hidden when it is not a terminal).
    pub bar: bool,
}

/// What one process measured: its counters, its wall time and its own CPU time.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Merged counters of the process's workers.
    pub stats: Stats,
    /// From the first request to the end of the drain.
    pub elapsed: Duration,
    /// (user, system) CPU seconds during that time.
    pub cpu: (f64, f64),
}

/// [`Outcome`] as exchanged between a child process and its parent (JSON on stdout).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeWire {
    stats: StatsWire,
    elapsed_s: f64,
    cpu_user_s: f64,
    cpu_system_s: f64,
}

impl Outcome {
    /// Add another process's outcome (wall times overlap: the longer counts; CPU adds up).
    pub fn merge(&mut self, o: &Outcome) {
        self.stats.merge(&o.stats);
        self.elapsed = self.elapsed.max(o.elapsed);
        self.cpu = (self.cpu.0 + o.cpu.0, self.cpu.1 + o.cpu.1);
    }

    /// The report of this outcome for `config`.
    pub fn report(&self, config: &Config) -> Report {
        let send_phase = config
            .duration
            .map(|d| d.min(self.elapsed))
            .unwrap_or(self.elapsed);
        Report::new(config, &self.stats, self.elapsed, send_phase, self.cpu)
    }

    /// The wire form.
    pub fn to_wire(&self) -> OutcomeWire {
        OutcomeWire {
            stats: self.stats.to_wire(),
            elapsed_s: self.elapsed.as_secs_f64(),
            cpu_user_s: self.cpu.0,
            cpu_system_s: self.cpu.1,
        }
    }

    /// From the wire form.
    pub fn from_wire(w: OutcomeWire) -> Outcome {
        Outcome {
            stats: Stats::from_wire(w.stats),
            elapsed: Duration::try_from_secs_f64(w.elapsed_s).unwrap_or_default(),
            cpu: (w.cpu_user_s, w.cpu_system_s),
        }
    }
}

/// Run `config` to completion in this process and report.
pub fn run(config: Config, progress: Progress) -> Result<Report, RunError> {
    let outcome = execute(&config, progress)?;
    Ok(outcome.report(&config))
}

/// How to split `config` over processes when one process may not open a socket per device
/// (the open-file hard limit cannot be raised): `None` when one process will do, else slices
/// of whole [`sockets::DEVICES_PER_ADDRESS`] blocks (so no two processes share a source
/// address and its ports' Message ID state).
pub fn process_slices(config: &Config) -> Result<Option<Vec<DeviceSlice>>, RunError> {
    let need = config.local_devices().count as u64 + SPARE_FDS;
    let have = sockets::raise_fd_limit(need);
    if have >= need {
        return Ok(None);
    }
    let block = sockets::DEVICES_PER_ADDRESS as u64;
    let per = if have >= block + SPARE_FDS {
        (have - SPARE_FDS) / block * block
    } else if sockets::address_blocks(config.target, config.devices) == 1 {
        have.saturating_sub(SPARE_FDS)
    } else {
        0
    };
    if per == 0 {
        return Err(RunError::FdLimit { have, need });
    }
    let per = per as usize;
    Ok(Some(
        (0..config.devices.div_ceil(per))
            .map(|i| DeviceSlice {
                first: i * per,
                count: per.min(config.devices - i * per),
            })
            .collect(),
    ))
}

/// Run this process's devices of `config` and return what they measured.
pub fn execute(config: &Config, progress: Progress) -> Result<Outcome, RunError> {
    config.validate()?;
    let config = config.clone();
    let need = config.local_devices().count as u64 + SPARE_FDS;
    let have = sockets::raise_fd_limit(need);
    if have < need {
        return Err(RunError::FdLimit { have, need });
    }
    let threads = config.threads;
    let shared = Arc::new(Shared {
        mids: MidTable::new(sockets::address_blocks(config.target, config.devices)),
        live: Live::default(),
        ready: Barrier::new(threads + 1),
        sessions_up: Barrier::new(threads + 1),
        config,
    });
    let mut handles = Vec::with_capacity(threads);
    let c = &shared.config;
    let local = c.local_devices();
    for w in 0..threads {
        let first = local.first + local.count * w / threads;
        let count = local.first + local.count * (w + 1) / threads - first;
        let requests = c
            .requests
            .map(|r| r / threads as u64 + u64::from((w as u64) < r % threads as u64));
        let shared = shared.clone();
        let coordinator = std::thread::current();
        let handle = std::thread::Builder::new()
            .name(format!("loadgen-{w}"))
            .spawn(move || -> io::Result<Stats> {
                let worker = Worker::new(shared.clone(), w, first, count, requests);
                shared.ready.wait();
                let worker = worker.and_then(Worker::connect);
                shared.sessions_up.wait();
                let result = worker.and_then(Worker::run);
                // Wake the coordinator at once instead of at its next progress tick.
                coordinator.unpark();
                result
            });
        match handle {
            Ok(h) => handles.push(h),
            Err(e) => {
                // The barrier counts every thread: without this one it would never open.
                return Err(RunError::Io(e));
            }
        }
    }
    shared.ready.wait();
    let handshakes_start = Instant::now();
    shared.sessions_up.wait();
    let start = Instant::now();
    let cpu_start = cpu_times();
    let bar = progress_bar(&shared.config, progress);
    while handles.iter().any(|h| !h.is_finished()) {
        update(&bar, &shared, start);
        std::thread::park_timeout(PROGRESS_EVERY);
    }
    bar.finish_and_clear();
    let mut total = Stats::default();
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(s)) => total.merge(&s),
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(_) => first_error = first_error.or(Some(io::Error::other("a worker panicked"))),
        }
    }
    if let Some(e) = first_error {
        return Err(RunError::Io(e));
    }
    if total.sockets_opened == 0 {
        return Err(RunError::NoSockets(total.bind_errors));
    }
    if shared.config.coaps.is_some() {
        total.coaps.handshake_ns =
            u64::try_from((start - handshakes_start).as_nanos()).unwrap_or(u64::MAX);
    }
    let elapsed = start.elapsed();
    let cpu_end = cpu_times();
    Ok(Outcome {
        stats: total,
        elapsed,
        cpu: (cpu_end.0 - cpu_start.0, cpu_end.1 - cpu_start.1),
    })
}

fn progress_bar(config: &Config, progress: Progress) -> ProgressBar {
    if !progress.bar {
        return ProgressBar::hidden();
    }
    let (len, template) = match (config.requests, config.duration) {
        (Some(r), _) => (r, "{bar:30} {pos}/{len} requests {msg}"),
        (None, Some(d)) => (d.as_millis() as u64, "{bar:30} {elapsed} {msg}"),
        (None, None) => (0, "{spinner} {elapsed} {msg}"),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn update(bar: &ProgressBar, shared: &Shared, start: Instant) {
    if bar.is_hidden() {
        return;
    }
    let l = &shared.live;
    let sent = l.sent.load(Ordering::Relaxed);
    let ok = l.ok.load(Ordering::Relaxed);
    let failed = l.failed.load(Ordering::Relaxed);
    let timed_out = l.timed_out.load(Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        (ok + failed) as f64 / secs
    } else {
        0.0
    };
    if shared.config.requests.is_some() {
        bar.set_position(sent);
    } else {
        bar.set_position(start.elapsed().as_millis() as u64);
    }
    let mode = match shared.config.pacing {
        Pacing::Closed => "",
        Pacing::Open { .. } => " (open loop)",
    };
    bar.set_message(format!(
        "sent {sent} ok {ok} failed {failed} timed out {timed_out} | {rate:.0} answers/s{mode}"
    ));
}

/// This process's (user, system) CPU seconds so far, from `/proc/self/stat` (the kernel's
/// `utime`/`stime` in clock ticks, 10 ms on most systems; `getrusage` reads the same accounting
/// but has no safe wrapper); (0, 0) where it cannot be read.
fn cpu_times() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    parse_cpu_ticks(&stat).map_or((0.0, 0.0), |(user, system)| {
        (user as f64 / ticks, system as f64 / ticks)
    })
}

/// (utime, stime) of a `/proc/<pid>/stat` line: fields 14 and 15, counted after the
/// parenthesised command name (which may hold spaces).
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 (state) on; utime is field 14, stime 15.
    let mut fields = after_name.split_ascii_whitespace().skip(11);
    let user = fields.next()?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some((user, system))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_fields_14_and_15() {
        let line = "42 (load gen) R 1 42 42 0 -1 4194304 100 0 0 0 250 37 0 0 20 0 3 0 1 1 1";
        assert_eq!(parse_cpu_ticks(line), Some((250, 37)));
        let (user, system) = cpu_times();
        assert!(user >= 0.0 && system >= 0.0);
    }
}
