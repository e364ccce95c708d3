//! `loadgen` command line: parse the flags into a [`loadgen::Config`], run, print the summary,
//! write `--json`, and exit 1 if any request went unanswered (unless `--allow-loss`), 2 on a
//! usage or setup error.

use clap::{Parser, ValueEnum};
use loadgen::coaps::{Cipher, Coaps};
use loadgen::config::DeviceSlice;
use loadgen::processes::{child_specs, run_children};
use loadgen::run::process_slices;
use loadgen::{Config, MsgTarget, Pacing, Progress, Report, RunError, Scenario, WaitTime};
use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

/// mimalloc, as the gateway uses: glibc's allocator slow paths cost the gateway ~20 % of its
/// throughput under load (README "Performance"), and loadgen must offer twice that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The scenario flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScenarioArg {
    /// REG over and over (re-registration).
    Register,
    /// REG, DEREG.
    RegisterDeregister,
    /// REG, --messages × MSG, DEREG (with --app-clients the MSGin5G-5 requests).
    Messaging,
    /// REG, DEREG, then a new source port.
    Churn,
    /// REG, then DEREG from a new source port.
    NatRebind,
    /// Configuration GET /msgin5g-config?ueid=<MSGin5G UE ID> to --config-target, REG with the
    /// UE Service ID it returned, DEREG.
    ConfigureRegister,
    /// Configuration GET, REG, --messages × MSG (peer: the next device of the same worker, by
    /// its configured UE Service ID), DEREG.
    ConfigureMessaging,
}

impl From<ScenarioArg> for Scenario {
    fn from(s: ScenarioArg) -> Scenario {
        match s {
            ScenarioArg::Register => Scenario::Register,
            ScenarioArg::RegisterDeregister => Scenario::RegisterDeregister,
            ScenarioArg::Messaging => Scenario::Messaging,
            ScenarioArg::Churn => Scenario::Churn,
            ScenarioArg::NatRebind => Scenario::NatRebind,
            ScenarioArg::ConfigureRegister => Scenario::ConfigureRegister,
            ScenarioArg::ConfigureMessaging => Scenario::ConfigureMessaging,
        }
    }
}

/// The `--psk-cipher` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CipherArg {
    /// Both, CCM_8 preferred.
    Any,
    /// TLS_PSK_WITH_AES_128_CCM_8.
    Ccm8,
    /// TLS_PSK_WITH_AES_128_GCM_SHA256.
    Gcm,
}

/// Simulated constrained UEs (one UDP source port each) against an MSGin5G Gateway UE, Relay UE
/// or Server.
#[derive(Debug, Parser)]
#[command(version, about, args_override_self = true)]
struct Args {
    /// Target address (host:port), e.g. 127.0.0.1:5683: a gateway, a relay or the server.
    #[arg(long)]
    target: String,
    /// configure-*: where configuration GETs go (the server's, a gateway's or a relay's
    /// configuration port) [default: the --target host on port 65401].
    #[arg(long)]
    config_target: Option<String>,
    /// configure-*: Accept option of the configuration GET: 50 (JSON) or 41 (SEAL XML)
    /// [default: none, the server's default format].
    #[arg(long, value_parser = ["50", "41"])]
    config_accept: Option<String>,
    /// configure-*: MSGin5G UE ID of each lane (the `ueid` query); {id} becomes the
    /// lane's identity <id-prefix>-<device>[.<lane>].
    #[arg(long, default_value = "imsi-{id}")]
    ue_id: String,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    allow_remote: bool,
    /// Simulated devices, each with its own UDP socket.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Closed loop: requests in flight per device (each lane with its own UE Service ID).
    #[arg(long, default_value_t = 1)]
    outstanding: usize,
    /// Open loop: total requests per second at scheduled times (latency from the schedule).
    #[arg(long)]
    rate: Option<f64>,
    /// Worker threads, each owning a slice of the devices.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// What each device does, repeatedly.
    #[arg(long, value_enum, default_value_t = ScenarioArg::RegisterDeregister)]
    scenario: ScenarioArg,
    /// Devices are MSGin5G-5 application clients (REGISTRATION REQUEST, ...).
    #[arg(long)]
    app_clients: bool,
    /// Messages per cycle in the messaging scenario.
    #[arg(long, default_value_t = 3)]
    messages: u32,
    /// Message recipient: peer (next simulated device), ue:ID, as:ID or group:ID
    /// [default: peer, or as:as-1 with --app-clients].
    #[arg(long)]
    msg_target: Option<String>,
    /// Application payload bytes per message (sent base64).
    #[arg(long, default_value_t = 16)]
    payload_bytes: usize,
    /// applicationId of application clients and messages.
    #[arg(long, default_value = "7")]
    application_id: String,

    /// The gateway's own UE Service ID (application clients send peer messages to it, with the
    /// peer's applicationId).
    #[arg(long, default_value = "msgin5g-gateway")]
    gateway_ue: String,
    /// Fraction of devices whose requests are URGENT (messages: priority HIGH).
    #[arg(long, default_value_t = 0.0)]
    urgent_fraction: f64,
    /// Do not hold a device back after a 5.03 with Max-Age (RFC 7252 §5.9.3.4): it goes on
    /// sending at once (the worst case for overload control).
    #[arg(long)]
    ignore_max_age: bool,
    /// waitTime sent with REG/DEREG: seconds (30) or a uniform range (10..60).
    #[arg(long)]
    wait_time: Option<String>,
    /// Send phase length (30, 30s, 500ms, 2m) [default: 10s unless --requests is given].
    #[arg(long)]
    duration: Option<String>,
    /// Stop after this many requests (whichever of --duration/--requests comes first).
    #[arg(long)]
    requests: Option<u64>,
    /// After the send phase, wait this long at most for outstanding answers.
    #[arg(long, default_value = "10s")]
    drain_timeout: String,
    /// Give up on one request after this long (RFC 7252 MAX_TRANSMIT_WAIT by default).
    #[arg(long, default_value = "93s")]
    timeout: String,
    /// RFC 7252 ACK_TIMEOUT: first retransmission after ACK_TIMEOUT × [1, 1.5].
    #[arg(long, default_value = "2s")]
    ack_timeout: String,
    /// RFC 7252 MAX_RETRANSMIT.
    #[arg(long, default_value_t = 4)]
    max_retransmit: u32,
    /// Uri-Path of requests [default: msgin5g, or msgin5g-gw with --app-clients].
    #[arg(long)]
    uri_path: Option<String>,
    /// Send every messaging request with this Proxy-Uri (e.g. coap://127.0.0.1:5683/msgin5g)
    /// instead of a Uri-Path, to load a server through a CoAP forward proxy at --target.
    #[arg(long)]
    proxy_uri: Option<String>,
    /// Prefix of UE Service IDs and message IDs [default: lg-<run id>].
    #[arg(long)]
    id_prefix: Option<String>,
    /// Seed for tokens, jitter and wait-time draws [default: from the clock].
    #[arg(long)]
    seed: Option<u64>,
    /// Every device talks coaps (DTLS 1.2 PSK, RFC 7252 §9.1) to --target, its coaps address
    /// (e.g. 127.0.0.1:5684): sessions come up before the first request, and the report gives
    /// handshakes/s and failures.
    #[arg(long)]
    coaps: bool,
    /// coaps: PSK identity of device N (0-based) is this prefix followed by N.
    #[arg(long, default_value = loadgen::coaps::DEFAULT_IDENTITY_PREFIX)]
    psk_identity_prefix: String,
    /// coaps: key of device N as UTF-8 bytes (as libcoap's -k); the placeholder "n" in braces
    /// becomes N, so the default gives each device its own key; without it, one key for all.
    #[arg(long, default_value = loadgen::coaps::DEFAULT_KEY)]
    psk_key: String,
    /// coaps: cipher suites offered: any (TLS_PSK_WITH_AES_128_CCM_8 first, then
    /// TLS_PSK_WITH_AES_128_GCM_SHA256), ccm8 or gcm.
    #[arg(long, value_enum, default_value_t = CipherArg::Any)]
    psk_cipher: CipherArg,
    /// coaps: handshakes in progress at once over the whole run (keep it below the target's
    /// dtls_max_handshakes).
    #[arg(long, default_value_t = loadgen::coaps::DEFAULT_HANDSHAKE_WINDOW)]
    handshake_window: usize,
    /// coaps: a handshake not done after this long failed.
    #[arg(long, default_value = "10s")]
    handshake_timeout: String,
    /// Write the PSK file (TOML) binding each device's identity and key to the UE Service IDs
    /// (or Application IDs) it registers, for the target's --psk-file, and exit. Give the run's
    /// --id-prefix (and --devices, --outstanding, --app-clients) so the IDs match.
    #[arg(long)]
    write_psk_file: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Exit 0 even if requests timed out or were lost.
    #[arg(long)]
    allow_loss: bool,
    /// Internal: simulate only devices FIRST:COUNT (set for child processes).
    #[arg(long, hide = true)]
    slice: Option<String>,
    /// Internal: run as a child process and print the outcome as JSON.
    #[arg(long, hide = true)]
    child: bool,
}

/// Parse `30`, `30s`, `1.5s`, `500ms` or `2m`.
fn parse_duration(flag: &str, s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v * scale).ok())
        .ok_or_else(|| format!("{flag}: `{s}` is not a duration (e.g. 30, 30s, 500ms, 2m)"))
}

fn resolve(flag: &str, target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {flag} {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("{flag} {target} resolves to no address"))
}

fn run_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{:x}{:04x}", t, std::process::id() & 0xffff)
}

fn config(args: &Args) -> Result<Config, String> {
    let target = resolve("--target", &args.target)?;
    let config_target = match &args.config_target {
        Some(t) => Some(resolve("--config-target", t)?),
        None => None,
    };
    for t in std::iter::once(target).chain(config_target) {
        if !t.ip().is_loopback() && !args.allow_remote {
            return Err(format!(
                "refusing non-loopback target {t}: loadgen floods its target with CoAP requests \
                 from many source ports, which to a host you do not run looks like an attack. \
                 Pass --allow-remote if the target is yours."
            ));
        }
    }
    let mut c = Config::new(target);
    if let Some(t) = config_target {
        if !Scenario::from(args.scenario).configures() {
            return Err(
                "--config-target is for --scenario configure-register / configure-messaging".into(),
            );
        }
        c.config_target = t;
    }
    c.config_accept = args.config_accept.as_deref().and_then(|a| a.parse().ok());
    c.ue_id = args.ue_id.clone();
    c.devices = args.devices;
    c.outstanding = args.outstanding;
    c.threads = args.threads;
    c.scenario = args.scenario.into();
    c.app_clients = args.app_clients;
    c.messages = args.messages;
    c.msg_target = match (&args.msg_target, args.app_clients) {
        (Some(t), _) => MsgTarget::parse(t).map_err(|e| e.to_string())?,
        (None, false) => MsgTarget::Peer,
        (None, true) => MsgTarget::Peer,
    };
    c.payload_bytes = args.payload_bytes;
    c.application_id = args.application_id.clone();
    c.gateway_ue = args.gateway_ue.clone();
    c.urgent_fraction = args.urgent_fraction;
    c.ignore_max_age = args.ignore_max_age;
    c.wait_time = match &args.wait_time {
        Some(w) => WaitTime::parse(w).map_err(|e| e.to_string())?,
        None => WaitTime::None,
    };
    c.pacing = match args.rate {
        Some(rate) => Pacing::Open { rate },
        None => Pacing::Closed,
    };
    c.requests = args.requests;
    c.duration = match (&args.duration, args.requests) {
        (Some(d), _) => Some(parse_duration("--duration", d)?),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    c.drain_timeout = parse_duration("--drain-timeout", &args.drain_timeout)?;
    c.timeout = parse_duration("--timeout", &args.timeout)?;
    c.ack_timeout = parse_duration("--ack-timeout", &args.ack_timeout)?;
    c.max_retransmit = args.max_retransmit;
    c.proxy_uri = args.proxy_uri.clone();
    c.uri_path = args.uri_path.clone().unwrap_or_else(|| {
        if args.app_clients {
            "msgin5g-gw"
        } else {
            msgin5g::testkit::device::DEFAULT_URI_PATH
        }
        .to_string()
    });
    c.id_prefix = args
        .id_prefix
        .clone()
        .unwrap_or_else(|| format!("lg-{}", run_id()));
    if args.coaps || args.write_psk_file.is_some() {
        let mut coaps = Coaps::new(&args.psk_identity_prefix, &args.psk_key);
        coaps.cipher = match args.psk_cipher {
            CipherArg::Any => Cipher::Any,
            CipherArg::Ccm8 => Cipher::Ccm8,
            CipherArg::Gcm => Cipher::Gcm,
        };
        coaps.handshake_window = args.handshake_window;
        coaps.handshake_timeout = parse_duration("--handshake-timeout", &args.handshake_timeout)?;
        c.coaps = Some(coaps);
    }
    if args.write_psk_file.is_some() && args.id_prefix.is_none() {
        return Err(
            "--write-psk-file needs the --id-prefix the run will use (the default is new \
             every run)"
                .into(),
        );
    }
    if let Some(seed) = args.seed {
        c.seed = seed;
    }
    if let Some(slice) = &args.slice {
        let parsed = slice.split_once(':').and_then(|(f, n)| {
            Some(DeviceSlice {
                first: f.parse().ok()?,
                count: n.parse().ok()?,
            })
        });
        c.slice =
            Some(parsed.ok_or_else(|| format!("--slice: expected FIRST:COUNT, got `{slice}`"))?);
    }
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// Child mode: run the slice and print the outcome for the parent.
fn child(config: &Config) -> ExitCode {
    match loadgen::run::execute(config, Progress { bar: false }) {
        Ok(outcome) => {
            println!(
                "{}",
                serde_json::to_string(&outcome.to_wire()).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

/// More devices than one process may open sockets for: one child process per slice.
fn parent(config: &Config, slices: &[DeviceSlice], progress: Progress) -> Result<Report, RunError> {
    let exe = std::env::current_exe()?;
    let specs = child_specs(config, slices);
    run_children(config, &specs, progress, |spec| {
        let mut cmd = Command::new(&exe);
        cmd.args(std::env::args_os().skip(1))
            .args(["--child", "--quiet", "--id-prefix", &config.id_prefix])
            .arg("--slice")
            .arg(format!("{}:{}", spec.slice.first, spec.slice.count))
            .arg("--threads")
            .arg(spec.threads.to_string())
            .arg("--seed")
            .arg(spec.seed.to_string());
        if let Some(r) = spec.requests {
            cmd.arg("--requests").arg(r.to_string());
        }
        cmd
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    if let (Some(path), Some(coaps)) = (&args.write_psk_file, &config.coaps) {
        if let Err(e) = loadgen::coaps::write_psk_file(&config, coaps, path) {
            eprintln!("loadgen: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!(
            "loadgen: wrote {} PSK identities to {}",
            config.devices,
            path.display()
        );
        return ExitCode::SUCCESS;
    }
    if args.child {
        return child(&config);
    }
    let progress = Progress {
        bar: !args.quiet && std::io::stdout().is_terminal(),
    };
    let result = match process_slices(&config) {
        Ok(None) => loadgen::run(config, progress),
        Ok(Some(slices)) => parent(&config, &slices, progress),
        Err(e) => Err(e),
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("loadgen: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if report.has_loss() && !args.allow_loss {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("x", "30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("x", "1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("x", "500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("x", "2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("x", "soon").is_err());
        assert!(parse_duration("x", "-1").is_err());
    }

    #[test]
    fn remote_targets_need_allow_remote() {
        let args = Args::parse_from(["loadgen", "--target", "192.0.2.1:5683"]);
        assert!(config(&args).unwrap_err().contains("--allow-remote"));
        let args = Args::parse_from(["loadgen", "--target", "192.0.2.1:5683", "--allow-remote"]);
        assert!(config(&args).is_ok());
        let args = Args::parse_from(["loadgen", "--target", "127.0.0.1:5683", "--app-clients"]);
        let c = config(&args).unwrap();
        assert_eq!(c.uri_path, "msgin5g-gw");
        // Application clients message each other through the gateway by default.
        assert_eq!(c.msg_target, MsgTarget::Peer);
        assert_eq!(c.gateway_ue, "msgin5g-gateway");
    }

    #[test]
    fn coaps_flags() {
        let args = Args::parse_from(["loadgen", "--target", "127.0.0.1:5684"]);
        assert!(config(&args).unwrap().coaps.is_none(), "plain by default");
        let args = Args::parse_from([
            "loadgen",
            "--target",
            "127.0.0.1:5684",
            "--coaps",
            "--psk-identity-prefix",
            "m-",
            "--psk-key",
            "k{n}",
            "--psk-cipher",
            "gcm",
            "--handshake-window",
            "64",
            "--handshake-timeout",
            "3s",
        ]);
        let c = config(&args).unwrap();
        let coaps = c.coaps.unwrap();
        assert_eq!(
            (coaps.identity(5), coaps.key(5)),
            ("m-5".into(), b"k5".to_vec())
        );
        assert_eq!(coaps.cipher, Cipher::Gcm);
        assert_eq!(coaps.handshake_window, 64);
        assert_eq!(coaps.handshake_timeout, Duration::from_secs(3));
        let refused = |extra: &[&str]| {
            let mut v = vec!["loadgen", "--target", "127.0.0.1:5684"];
            v.extend_from_slice(extra);
            config(&Args::parse_from(v)).unwrap_err()
        };
        assert!(refused(&["--write-psk-file", "/tmp/x.toml"]).contains("--id-prefix"));
        assert!(refused(&["--coaps", "--psk-key", ""]).contains("--psk-key"));
        assert!(refused(&["--coaps", "--handshake-timeout", "x"]).contains("--handshake-timeout"));
    }

    #[test]
    fn configure_register_flags() {
        let args = Args::parse_from([
            "loadgen",
            "--target",
            "127.0.0.1:5683",
            "--scenario",
            "configure-register",
        ]);
        let c = config(&args).unwrap();
        assert_eq!(c.scenario, Scenario::ConfigureRegister);
        assert_eq!(c.config_target, "127.0.0.1:65401".parse().unwrap());
        assert_eq!((c.config_accept, c.ue_id.as_str()), (None, "imsi-{id}"));
        let args = Args::parse_from([
            "loadgen",
            "--target",
            "127.0.0.1:5683",
            "--scenario",
            "configure-register",
            "--config-target",
            "127.0.0.1:7000",
            "--config-accept",
            "41",
            "--ue-id",
            "gpsi-{id}@x",
        ]);
        let c = config(&args).unwrap();
        assert_eq!(c.config_target, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(c.config_accept, Some(41));
        assert_eq!(c.ue_id, "gpsi-{id}@x");
        assert!(Args::try_parse_from([
            "loadgen",
            "--target",
            "127.0.0.1:5683",
            "--config-accept",
            "42"
        ])
        .is_err());
        let refused = |extra: &[&str]| {
            let mut v = vec!["loadgen", "--target", "127.0.0.1:5683"];
            v.extend_from_slice(extra);
            config(&Args::parse_from(v)).unwrap_err()
        };
        assert!(refused(&["--config-target", "127.0.0.1:7000"]).contains("configure-register"));
        assert!(refused(&[
            "--scenario",
            "configure-register",
            "--config-target",
            "192.0.2.1:65401"
        ])
        .contains("--allow-remote"));
        assert!(refused(&["--scenario", "configure-register", "--ue-id", "x"]).contains("{id}"));
        assert!(
            refused(&["--scenario", "configure-register", "--ue-id", "a b{id}"]).contains("{id}")
        );
        let args = Args::parse_from([
            "loadgen",
            "--target",
            "127.0.0.1:5683",
            "--scenario",
            "configure-messaging",
            "--config-target",
            "127.0.0.1:7000",
        ]);
        let c = config(&args).unwrap();
        assert_eq!(c.scenario, Scenario::ConfigureMessaging);
        assert_eq!(c.config_target, "127.0.0.1:7000".parse().unwrap());
        assert!(
            refused(&["--scenario", "configure-register", "--app-clients"]).contains("app-clients")
        );
    }
}
