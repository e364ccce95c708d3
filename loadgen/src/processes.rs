//! Splitting a run over child processes when one process may not open a socket per device
//! (its open-file hard limit is below the device count and cannot be raised).
//!
//! Each child simulates one [`DeviceSlice`] with its share of `--requests` and `--threads`,
//! and prints its [`crate::run::OutcomeWire`] as one JSON line on stdout; the parent merges the
//! outcomes (counters and histograms add up, wall time is the longest, CPU time the sum) into
//! one report. Open-loop rates are shared by device count inside each child already.

use crate::config::{Config, DeviceSlice};
use crate::report::Report;
use crate::run::{Outcome, OutcomeWire, Progress, RunError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What one child process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSpec {
    /// Its devices.
    pub slice: DeviceSlice,
    /// Its share of `--requests`.
    pub requests: Option<u64>,
    /// Its worker threads.
    pub threads: usize,
    /// Its seed.
    pub seed: u64,
}

/// The child specs for `slices` of `config`: requests and threads in proportion to the devices.
pub fn child_specs(config: &Config, slices: &[DeviceSlice]) -> Vec<ChildSpec> {
    let mut given = 0u64;
    slices
        .iter()
        .enumerate()
        .map(|(i, &slice)| {
            let requests = config.requests.map(|r| {
                let upto = if i + 1 == slices.len() {
                    r
                } else {
                    (u128::from(r) * (slice.first + slice.count) as u128 / config.devices as u128)
                        as u64
                };
                let mine = upto - given;
                given = upto;
                mine
            });
            ChildSpec {
                slice,
                requests,
                threads: (config.threads * slice.count / config.devices).clamp(1, slice.count),
                seed: config.seed.wrapping_add(i as u64),
            }
        })
        .collect()
}

/// Run one child per spec (`command` builds its command line), wait for all, merge.
pub fn run_children(
    config: &Config,
    specs: &[ChildSpec],
    progress: Progress,
    command: impl Fn(&ChildSpec) -> Command,
) -> Result<Report, RunError> {
    let start = Instant::now();
    let mut waiters = Vec::with_capacity(specs.len());
    for spec in specs {
        let child = command(spec)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let coordinator = std::thread::current();
        waiters.push(std::thread::spawn(move || {
            let output = child.wait_with_output();
            coordinator.unpark();
            output
        }));
    }
    let bar = if progress.bar {
        let len = config.duration.map(|d| d.as_millis() as u64);
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{bar:30} {elapsed} {msg}") {
            bar.set_style(style);
        }
        bar.set_message(format!("{} processes", specs.len()));
        bar
    } else {
        ProgressBar::hidden()
    };
    while waiters.iter().any(|w| !w.is_finished()) {
        bar.set_position(start.elapsed().as_millis() as u64);
        std::thread::park_timeout(Duration::from_millis(200));
    }
    bar.finish_and_clear();
    let mut total: Option<Outcome> = None;
    for w in waiters {
        let output = w
            .join()
            .map_err(|_| io::Error::other("a child waiter panicked"))??;
        let outcome = parse_child(&output)?;
        match &mut total {
            None => total = Some(outcome),
            Some(t) => t.merge(&outcome),
        }
    }
    let total = total.ok_or_else(|| io::Error::other("no child process"))?;
    Ok(total.report(config))
}

fn parse_child(output: &Output) -> Result<Outcome, RunError> {
    let line = output
        .stdout
        .split(|b| *b == b'\n')
        .rev()
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    match serde_json::from_slice::<OutcomeWire>(line) {
        Ok(w) if output.status.success() => Ok(Outcome::from_wire(w)),
        _ => Err(RunError::Io(io::Error::other(format!(
            "child process failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        let mut c = Config::new("127.0.0.1:1".parse().unwrap());
        c.devices = 100_000;
        c.threads = 2;
        c.requests = Some(1_000_001);
        let slices: Vec<DeviceSlice> = (0..7)
            .map(|i| DeviceSlice {
                first: i * 16_384,
                count: 16_384.min(100_000 - i * 16_384),
            })
            .collect();
        let specs = child_specs(&c, &slices);
        assert_eq!(
            specs.iter().map(|s| s.requests.unwrap()).sum::<u64>(),
            1_000_001
        );
        assert!(specs.iter().all(|s| s.threads == 1));
        assert_eq!(specs[6].slice.count, 100_000 - 6 * 16_384);
        assert_ne!(specs[0].seed, specs[1].seed);
    }
}
