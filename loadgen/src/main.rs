//! `loadgen`: simulated constrained UEs that register (and de-register) through an MSGin5G
//! Gateway UE or Server over CoAP/UDP, and a report of what came back.
//!
//! Every simulated device is a [`msgin5g::device::Device`] with its own UDP source port. At most
//! `--concurrency` devices are in flight; each runs its scenario once with one request
//! outstanding. The run is bounded by `--devices`, by `--timeout-s` per request and, if given,
//! by `--duration-s` (no new device starts after it).

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use msgin5g::device::{AnswerForm, Device, DeviceError, RequestOptions};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Highest latency the histogram records exactly (µs); larger values are clamped to it.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// What each simulated device does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// One `REG`.
    Register,
    /// One `REG`, then (if it succeeded) one `DEREG`.
    RegisterDeregister,
}

impl Scenario {
    fn as_str(self) -> &'static str {
        match self {
            Scenario::Register => "register",
            Scenario::RegisterDeregister => "register-deregister",
        }
    }
}

/// Simulated constrained UEs against an MSGin5G Gateway UE or Server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Target address (host:port), e.g. 127.0.0.1:5683.
    #[arg(long)]
    target: String,
    /// Number of simulated devices.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Devices in flight at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Scenario each device runs.
    #[arg(long, value_enum, default_value_t = Scenario::RegisterDeregister)]
    scenario: Scenario,
    /// Fraction of devices whose requests are URGENT (0.0..=1.0).
    #[arg(long, default_value_t = 0.0)]
    urgent_fraction: f64,
    /// waitTime (seconds) to send with every request.
    #[arg(long)]
    wait_time: Option<u32>,
    /// Per-request give-up time in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout_s: f64,
    /// Start no new device after this many seconds.
    #[arg(long)]
    duration_s: Option<f64>,
    /// Write the report as a JSON object to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    allow_remote: bool,
}

/// Outcome counters and latencies of one worker (merged at the end).
#[derive(Debug)]
struct Stats {
    devices_started: u64,
    sent: u64,
    success: u64,
    failure: u64,
    failure_causes: BTreeMap<String, u64>,
    timeouts: u64,
    errors: BTreeMap<String, u64>,
    forms: BTreeMap<&'static str, u64>,
    retransmissions: u64,
    duplicates: u64,
    latency_us: Histogram<u64>,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            devices_started: 0,
            sent: 0,
            success: 0,
            failure: 0,
            failure_causes: BTreeMap::new(),
            timeouts: 0,
            errors: BTreeMap::new(),
            forms: BTreeMap::new(),
            retransmissions: 0,
            duplicates: 0,
            latency_us: Histogram::new_with_max(MAX_LATENCY_US, 3).expect("valid histogram bounds"),
        }
    }

    fn merge(&mut self, o: Stats) {
        self.devices_started += o.devices_started;
        self.sent += o.sent;
        self.success += o.success;
        self.failure += o.failure;
        for (k, v) in o.failure_causes {
            *self.failure_causes.entry(k).or_default() += v;
        }
        self.timeouts += o.timeouts;
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in o.forms {
            *self.forms.entry(k).or_default() += v;
        }
        self.retransmissions += o.retransmissions;
        self.duplicates += o.duplicates;
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency_us.add(&o.latency_us);
    }

    /// Record one request's result; `true` when it succeeded.
    fn record(
        &mut self,
        result: Result<msgin5g::device::Answer, DeviceError>,
        elapsed: Duration,
    ) -> bool {
        self.sent += 1;
        match result {
            Ok(a) => {
                let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                self.latency_us
                    .saturating_record(us.clamp(1, MAX_LATENCY_US));
                *self.forms.entry(a.form.as_str()).or_default() += 1;
                if a.is_success() {
                    self.success += 1;
                    true
                } else {
                    self.failure += 1;
                    let cause = a
                        .failure_cause
                        .clone()
                        .unwrap_or_else(|| format!("code {}", a.code));
                    *self.failure_causes.entry(cause).or_default() += 1;
                    false
                }
            }
            Err(DeviceError::Timeout) => {
                self.timeouts += 1;
                false
            }
            Err(e) => {
                *self.errors.entry(e.to_string()).or_default() += 1;
                false
            }
        }
    }
}

/// The settings every worker shares.
#[derive(Debug)]
struct Plan {
    target: SocketAddr,
    local: SocketAddr,
    devices: usize,
    scenario: Scenario,
    urgent_fraction: f64,
    wait_time: Option<u32>,
    timeout: Duration,
    stop_starting_at: Option<Instant>,
    run_id: String,
    next: AtomicUsize,
}

impl Plan {
    /// Urgent devices spread evenly over the index range (golden-ratio sequence).
    fn urgent(&self, n: usize) -> bool {
        ((n as f64) * 0.618_033_988_749_895).fract() < self.urgent_fraction
    }
}

async fn worker(plan: Arc<Plan>) -> Stats {
    let mut stats = Stats::new();
    loop {
        if plan.stop_starting_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        let n = plan.next.fetch_add(1, Ordering::Relaxed);
        if n >= plan.devices {
            break;
        }
        stats.devices_started += 1;
        let mut dev = match Device::bind_on(plan.local, plan.target).await {
            Ok(d) => d,
            Err(e) => {
                *stats.errors.entry(format!("bind: {e}")).or_default() += 1;
                continue;
            }
        };
        let ue = format!("loadgen-{}-{n}", plan.run_id);
        // Message IDs come from the device index: the OS reuses the source ports of finished
        // devices, and a (port, MID) pair repeated within EXCHANGE_LIFETIME is a duplicate to the
        // target (RFC 7252 §4.4). Unique for up to 32 768 devices per run.
        let mid = (n as u16).wrapping_mul(2);
        let options = RequestOptions {
            urgent: plan.urgent(n),
            wait_time: plan.wait_time,
            timeout: plan.timeout,
            mid: Some(mid),
            ..RequestOptions::default()
        };
        let t0 = Instant::now();
        let r = dev.register(&ue, &options).await;
        let ok = stats.record(r, t0.elapsed());
        if ok && plan.scenario == Scenario::RegisterDeregister {
            let options = RequestOptions {
                mid: Some(mid.wrapping_add(1)),
                ..options
            };
            let t0 = Instant::now();
            let r = dev.deregister(&ue, &options).await;
            stats.record(r, t0.elapsed());
        }
        stats.retransmissions += dev.retransmissions();
        stats.duplicates += dev.duplicates();
    }
    stats
}

fn resolve(target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --target {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("--target {target} resolves to no address"))
}

fn run_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{:x}{:04x}", t, std::process::id() & 0xffff)
}

/// Raise the open-file soft limit to the hard limit: every device in flight holds a socket.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct; failure leaves the limit as is.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    raise_fd_limit();
    let target = match resolve(&args.target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    if !target.ip().is_loopback() && !args.allow_remote {
        eprintln!(
            "loadgen: refusing non-loopback target {target}: loadgen floods its target with \
             CoAP requests from many source ports, which to a host you do not run looks like an \
             attack. Pass --allow-remote if the target is yours."
        );
        return ExitCode::from(2);
    }
    if !(0.0..=1.0).contains(&args.urgent_fraction) {
        eprintln!("loadgen: --urgent-fraction must be within 0.0..=1.0");
        return ExitCode::from(2);
    }
    let Ok(timeout) = Duration::try_from_secs_f64(args.timeout_s) else {
        eprintln!("loadgen: --timeout-s must be a non-negative number of seconds");
        return ExitCode::from(2);
    };
    let duration = match args.duration_s.map(Duration::try_from_secs_f64) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            eprintln!("loadgen: --duration-s must be a non-negative number of seconds");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args, target, timeout, duration))
}

async fn run(
    args: Args,
    target: SocketAddr,
    timeout: Duration,
    duration: Option<Duration>,
) -> ExitCode {
    let local: SocketAddr = match (target.is_ipv4(), target.ip().is_loopback()) {
        (true, true) => "127.0.0.1:0",
        (false, true) => "[::1]:0",
        (true, false) => "0.0.0.0:0",
        (false, false) => "[::]:0",
    }
    .parse()
    .expect("literal socket address");
    let start = Instant::now();
    let plan = Arc::new(Plan {
        target,
        local,
        devices: args.devices,
        scenario: args.scenario,
        urgent_fraction: args.urgent_fraction,
        wait_time: args.wait_time,
        timeout,
        stop_starting_at: duration.map(|d| start + d),
        run_id: run_id(),
        next: AtomicUsize::new(0),
    });
    let workers = args.concurrency.clamp(1, args.devices.max(1));
    let mut set = JoinSet::new();
    for _ in 0..workers {
        set.spawn(worker(plan.clone()));
    }
    let mut total = Stats::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(s) => total.merge(s),
            Err(e) => *total.errors.entry(format!("worker: {e}")).or_default() += 1,
        }
    }
    let elapsed = start.elapsed();
    let report = report_json(&args, &plan, workers, &total, elapsed);
    print_table(&plan, workers, &total, elapsed);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("loadgen: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let errors: u64 = total.errors.values().sum();
    if total.timeouts == 0 && total.failure == 0 && errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn answered(s: &Stats) -> u64 {
    s.success + s.failure
}

fn rate(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// Latency percentiles in µs (all zero when nothing was answered).
fn percentiles(h: &Histogram<u64>) -> [(&'static str, u64); 5] {
    let q = |p: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(p)
        }
    };
    [
        ("p50", q(0.5)),
        ("p90", q(0.9)),
        ("p99", q(0.99)),
        ("p99.9", q(0.999)),
        ("max", if h.is_empty() { 0 } else { h.max() }),
    ]
}

fn report_json(
    args: &Args,
    plan: &Plan,
    workers: usize,
    s: &Stats,
    elapsed: Duration,
) -> serde_json::Value {
    let latency: serde_json::Map<String, serde_json::Value> = percentiles(&s.latency_us)
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    serde_json::json!({
        "target": plan.target.to_string(),
        "runId": plan.run_id,
        "scenario": plan.scenario.as_str(),
        "devices": plan.devices,
        "devicesStarted": s.devices_started,
        "concurrency": workers,
        "urgentFraction": args.urgent_fraction,
        "waitTime": args.wait_time,
        "timeoutS": args.timeout_s,
        "elapsedS": elapsed.as_secs_f64(),
        "requestsSent": s.sent,
        "answeredSuccess": s.success,
        "answeredFailure": s.failure,
        "failureCauses": s.failure_causes,
        "timeouts": s.timeouts,
        "errors": s.errors,
        "requestsPerSecond": rate(answered(s), elapsed),
        "latencyUs": latency,
        "answerForms": {
            "piggybacked": s.forms.get(AnswerForm::Piggybacked.as_str()).copied().unwrap_or(0),
            "separate": s.forms.get(AnswerForm::Separate.as_str()).copied().unwrap_or(0),
            "specPost": s.forms.get(AnswerForm::SpecPost.as_str()).copied().unwrap_or(0),
        },
        "retransmissions": s.retransmissions,
        "duplicateAnswers": s.duplicates,
    })
}

fn print_table(plan: &Plan, workers: usize, s: &Stats, elapsed: Duration) {
    let row = |k: &str, v: String| println!("  {k:<24} {v}");
    println!(
        "loadgen {} -> {}  (run {}, {} devices, {} in flight)",
        plan.scenario.as_str(),
        plan.target,
        plan.run_id,
        plan.devices,
        workers
    );
    row("elapsed", format!("{:.3} s", elapsed.as_secs_f64()));
    row("devices started", s.devices_started.to_string());
    row("requests sent", s.sent.to_string());
    row("answered success", s.success.to_string());
    row("answered failure", s.failure.to_string());
    for (cause, n) in &s.failure_causes {
        row(&format!("  {cause}"), n.to_string());
    }
    row("timeouts", s.timeouts.to_string());
    for (e, n) in &s.errors {
        row(&format!("  error: {e}"), n.to_string());
    }
    row(
        "requests/s (answered)",
        format!("{:.1}", rate(answered(s), elapsed)),
    );
    for (k, v) in percentiles(&s.latency_us) {
        row(&format!("latency {k}"), format!("{v} µs"));
    }
    for form in [
        AnswerForm::Piggybacked,
        AnswerForm::Separate,
        AnswerForm::SpecPost,
    ] {
        let n = s.forms.get(form.as_str()).copied().unwrap_or(0);
        row(&format!("form {}", form.as_str()), n.to_string());
    }
    row("retransmissions", s.retransmissions.to_string());
    row("duplicate answers", s.duplicates.to_string());
}
