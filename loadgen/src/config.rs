//! The validated run configuration: what to simulate, how fast, for how long.

use crate::coaps::Coaps;
use msgin5g::coap::rng::os_seed;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use thiserror::Error;

/// RFC 7252 §4.8.2 EXCHANGE_LIFETIME with the default parameters: a Message ID is not reused
/// toward one peer from one socket within this time.
pub const EXCHANGE_LIFETIME: Duration = Duration::from_secs(247);

/// Highest device count accepted (one socket and file descriptor each).
pub const MAX_DEVICES: usize = 1_000_000;

/// Highest `--outstanding` accepted (lanes per device).
pub const MAX_OUTSTANDING: usize = 64;

/// Highest `--threads` accepted.
pub const MAX_THREADS: usize = 64;

/// A configuration that cannot run.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// What each simulated device does, over and over, until the run's bounds are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `REG` (re-registration after the first).
    Register,
    /// `REG`, `DEREG`.
    RegisterDeregister,
    /// `REG`, K × `MSG`, `DEREG` (TS 24.538 §6.4 over MSGin5G-6); with app clients the
    /// MSGin5G-5 equivalents (24.538 Annex A.3).
    Messaging,
    /// `REG`, `DEREG`, then the device comes back from a new source port.
    Churn,
    /// `REG`, then the registered device continues from a new source port with `DEREG`.
    NatRebind,
    /// Configuration `GET` (24.538 §6.2.1, §7.2) to the configuration target, `REG` with
    /// the UE Service ID it returned, `DEREG`.
    ConfigureRegister,
    /// Configuration `GET`, `REG`, K × `MSG` (from and to configured UE Service IDs), `DEREG`.
    ConfigureMessaging,
}

impl Scenario {
    /// The CLI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Register => "register",
            Scenario::RegisterDeregister => "register-deregister",
            Scenario::Messaging => "messaging",
            Scenario::Churn => "churn",
            Scenario::NatRebind => "nat-rebind",
            Scenario::ConfigureRegister => "configure-register",
            Scenario::ConfigureMessaging => "configure-messaging",
        }
    }

    /// Whether each cycle starts with a configuration GET (the UE Service ID comes from it).
    pub fn configures(self) -> bool {
        matches!(
            self,
            Scenario::ConfigureRegister | Scenario::ConfigureMessaging
        )
    }

    /// Whether the scenario changes a device's source port during the run.
    pub fn rebinds(self) -> bool {
        matches!(self, Scenario::Churn | Scenario::NatRebind)
    }
}

/// The `waitTime` IE (seconds, 24.538 §6.3.1.1.1) sent with REG/DEREG: absent, fixed or uniform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum WaitTime {
    /// Not sent.
    None,
    /// Always this value.
    Fixed {
        /// Seconds.
        seconds: u32,
    },
    /// Uniform over `min..=max`, drawn per request.
    Uniform {
        /// Smallest value (seconds).
        min: u32,
        /// Largest value (seconds).
        max: u32,
    },
}

/// Largest `waitTime` accepted (one day; also bounds the template field width).
pub const MAX_WAIT_TIME: u32 = 86_400;

impl WaitTime {
    /// Parse `30` (fixed) or `10..60` (uniform, inclusive).
    pub fn parse(s: &str) -> Result<WaitTime, ConfigError> {
        let num = |t: &str| -> Result<u32, ConfigError> {
            let v: u32 = t.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "--wait-time: `{t}` is not a whole number of seconds"
                ))
            })?;
            if v > MAX_WAIT_TIME {
                return Err(ConfigError(format!(
                    "--wait-time: {v} exceeds {MAX_WAIT_TIME} s"
                )));
            }
            Ok(v)
        };
        match s.split_once("..") {
            None => Ok(WaitTime::Fixed { seconds: num(s)? }),
            Some((a, b)) => {
                let (min, max) = (num(a)?, num(b.trim_start_matches('='))?);
                if min > max {
                    return Err(ConfigError(format!("--wait-time: empty range {s}")));
                }
                Ok(WaitTime::Uniform { min, max })
            }
        }
    }
}

/// Whom `MSG` / `MESSAGE SENDING REQUEST` is addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "id")]
pub enum MsgTarget {
    /// The same lane of the next simulated device (its UE Service ID); MSGin5G-6 devices only.
    Peer,
    /// A UE Service ID.
    Ue(String),
    /// An AS Service ID.
    As(String),
    /// A Group Service ID.
    Group(String),
}

impl MsgTarget {
    /// Parse `peer`, `ue:ID`, `as:ID` or `group:ID`.
    pub fn parse(s: &str) -> Result<MsgTarget, ConfigError> {
        let bad = || {
            ConfigError(format!(
                "--msg-target: expected peer, ue:ID, as:ID or group:ID, got `{s}`"
            ))
        };
        if s == "peer" {
            return Ok(MsgTarget::Peer);
        }
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        if id.is_empty()
            || id.len() > 255
            || id.contains(['"', '\\'])
            || id.chars().any(char::is_control)
        {
            return Err(bad());
        }
        match kind {
            "ue" => Ok(MsgTarget::Ue(id.to_string())),
            "as" => Ok(MsgTarget::As(id.to_string())),
            "group" => Ok(MsgTarget::Group(id.to_string())),
            _ => Err(bad()),
        }
    }
}

/// Default UDP port of the configuration management server (24.538 §6.2.1, §6.2.2.1).
pub const CONFIG_PORT: u16 = 65401;

/// Longest MSGin5G UE ID accepted (`--ue-id` after expansion).
pub const MAX_UE_ID: usize = 255;

/// The placeholder of `--ue-id` replaced by a lane's identity.
pub const UE_ID_PLACEHOLDER: &str = "{id}";

/// The devices one process simulates: `first..first + count` of the run's global numbering
/// (a run with more devices than one process may open sockets is split over processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSlice {
    /// First device number.
    pub first: usize,
    /// Devices in the slice.
    pub count: usize,
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum Pacing {
    /// Closed loop: every lane sends its next request as soon as the previous one finished.
    Closed,
    /// Open loop: `rate` requests/s in total at scheduled times; latency from the schedule.
    Open {
        /// Requests per second over all workers.
        rate: f64,
    },
}

/// Everything a run needs, validated once by [`Config::validate`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// Gateway or server address.
    pub target: SocketAddr,
    /// Simulated devices (one UDP socket and source port each).
    pub devices: usize,
    /// Requests in flight per device (lanes, each with its own identity).
    pub outstanding: usize,
    /// Worker threads; each owns a contiguous slice of the devices.
    pub threads: usize,
    /// What each device does.
    pub scenario: Scenario,
    /// Devices are MSGin5G-5 application clients (A.3 JSON) instead of MSGin5G-6 UEs.
    pub app_clients: bool,
    /// Messages per cycle in the `messaging` scenario.
    pub messages: u32,
    /// Recipient of messages.
    pub msg_target: MsgTarget,
    /// Decoded payload bytes per message.
    pub payload_bytes: usize,
    /// `applicationId` prefix: application client `d` registers `<application_id>-<ident>`.
    pub application_id: String,
    /// The gateway's own UE Service ID: application clients address a peer client as
    /// `targetAddress` = this, `applicationId` = the peer's (23.554 §8.11).
    pub gateway_ue: String,
    /// Fraction of devices whose requests are URGENT (REG/DEREG) or `priority: HIGH` (messages).
    pub urgent_fraction: f64,
    /// Devices ignore Max-Age on a 5.03 (by default a device that gets one sends nothing more
    /// until Max-Age seconds have passed, RFC 7252 §5.9.3.4, §5.10.5).
    pub ignore_max_age: bool,
    /// `waitTime` sent with REG/DEREG.
    pub wait_time: WaitTime,
    /// Closed or open loop.
    pub pacing: Pacing,
    /// Stop issuing new requests after this long.
    #[serde(serialize_with = "opt_secs", rename = "durationS")]
    pub duration: Option<Duration>,
    /// Stop issuing new requests after this many.
    pub requests: Option<u64>,
    /// After the send phase, wait at most this long for outstanding answers.
    #[serde(serialize_with = "secs", rename = "drainTimeoutS")]
    pub drain_timeout: Duration,
    /// Give up on one request after this long (answers after it count as late).
    #[serde(serialize_with = "secs", rename = "timeoutS")]
    pub timeout: Duration,
    /// RFC 7252 ACK_TIMEOUT (retransmission starts at ACK_TIMEOUT × [1, 1.5]).
    #[serde(serialize_with = "secs", rename = "ackTimeoutS")]
    pub ack_timeout: Duration,
    /// RFC 7252 MAX_RETRANSMIT.
    pub max_retransmit: u32,
    /// Uri-Path of requests.
    pub uri_path: String,
    /// Proxy-Uri of requests (RFC 7252 §5.10.2), to load a target through a forward proxy; it
    /// replaces the Uri-Path (the two must not be combined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_uri: Option<String>,
    /// Prefix of every UE Service ID and message ID of this run.
    pub id_prefix: String,
    /// Seed of the workers' random generators (tokens, initial Message IDs, back-off jitter,
    /// wait-time draws). Each device's Message IDs and Tokens are a function of it: two runs
    /// with one seed send the same (Message ID, Token) sequence from each device, and a device
    /// the kernel gives its earlier source port again repeats, within EXCHANGE_LIFETIME, messages
    /// the server has seen (RFC 7252 §4.4): deduplicated (§4.5), they get the first run's cached
    /// answers. So [`Config::new`] draws a [`fresh_seed`]; set one only to replay a run.
    pub seed: u64,
    /// Configuration management server (or a gateway / relay configuration port) for the
    /// `configure-*` scenarios.
    pub config_target: SocketAddr,
    /// Accept option of the configuration GET (50 JSON, 41 XML; none: the server's default).
    pub config_accept: Option<u16>,
    /// MSGin5G UE ID of each lane: [`UE_ID_PLACEHOLDER`] is replaced by the lane's identity.
    pub ue_id: String,
    /// The devices this process simulates (all when `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice: Option<DeviceSlice>,
    /// coaps (`--coaps`): every device talks DTLS 1.2 PSK to `target` (its coaps address);
    /// `None`: plain CoAP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coaps: Option<Coaps>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// A seed no earlier call in this process returned (a per-process base from the operating
/// system's random source, [`os_seed`], plus a call counter), so runs of one process never
/// share a seed and runs of different processes share one with negligible probability.
pub fn fresh_seed() -> u64 {
    static BASE: OnceLock<u64> = OnceLock::new();
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(os_seed);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    // Distinct calls, distinct seeds; the workers' ChaCha seeding makes neighbours unrelated.
    base.wrapping_add(n)
}

impl Config {
    /// A configuration with the defaults of the CLI for `target` (a [`fresh_seed`]).
    pub fn new(target: SocketAddr) -> Config {
        Config {
            target,
            devices: 1000,
            outstanding: 1,
            threads: 1,
            scenario: Scenario::RegisterDeregister,
            app_clients: false,
            messages: 3,
            msg_target: MsgTarget::Peer,
            payload_bytes: 16,
            application_id: "7".into(),
            gateway_ue: "msgin5g-gateway".into(),
            urgent_fraction: 0.0,
            ignore_max_age: false,
            wait_time: WaitTime::None,
            pacing: Pacing::Closed,
            duration: Some(Duration::from_secs(10)),
            requests: None,
            drain_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(93),
            ack_timeout: Duration::from_secs(2),
            max_retransmit: 4,
            uri_path: msgin5g::testkit::device::DEFAULT_URI_PATH.into(),
            proxy_uri: None,
            id_prefix: "lg".into(),
            seed: fresh_seed(),
            config_target: SocketAddr::new(target.ip(), CONFIG_PORT),
            config_accept: None,
            ue_id: "imsi-{id}".into(),
            slice: None,
            coaps: None,
        }
    }

    /// Check every bound and combination; the error names the flag.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |s: &str| Err(ConfigError(s.to_string()));
        if self.devices == 0 || self.devices > MAX_DEVICES {
            return fail("--devices must be within 1..=1000000");
        }
        if self.outstanding == 0 || self.outstanding > MAX_OUTSTANDING {
            return fail("--outstanding must be within 1..=64");
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return fail("--threads must be within 1..=64");
        }
        let local = self.local_devices();
        if local.first + local.count > self.devices || local.count == 0 {
            return fail("the device slice must be a non-empty part of --devices");
        }
        if self.threads > local.count {
            return fail("--threads must not exceed --devices");
        }
        if self.scenario.rebinds() && self.outstanding != 1 {
            return fail("churn and nat-rebind change a device's socket: use --outstanding 1");
        }
        if self.gateway_ue.is_empty()
            || self.gateway_ue.len() > 255
            || self.gateway_ue.contains(['"', '\\'])
        {
            return fail("--gateway-ue must be 1..=255 bytes without quotes or backslashes");
        }
        if matches!(
            self.scenario,
            Scenario::Messaging | Scenario::ConfigureMessaging
        ) && self.messages == 0
        {
            return fail("--messages must be at least 1 in the messaging scenarios");
        }
        if self.payload_bytes > 2048 {
            return fail(
                "--payload-bytes must be at most 2048 (23.554 §8.3.2 default segment size)",
            );
        }
        if !(0.0..=1.0).contains(&self.urgent_fraction) {
            return fail("--urgent-fraction must be within 0.0..=1.0");
        }
        if let Pacing::Open { rate } = self.pacing {
            if !(rate.is_finite() && rate > 0.0) {
                return fail("--rate must be a positive number of requests per second");
            }
        }
        if self.duration.is_none() && self.requests.is_none() {
            return fail("give --duration or --requests (or both)");
        }
        if self.ack_timeout.is_zero() || self.timeout.is_zero() {
            return fail("--ack-timeout and --timeout must be positive");
        }
        if self.max_retransmit > 10 {
            return fail("--max-retransmit must be at most 10");
        }
        if self
            .proxy_uri
            .as_ref()
            .is_some_and(|u| u.is_empty() || u.len() > 1034)
        {
            return fail("--proxy-uri must be 1 to 1034 bytes (RFC 7252 §5.10)");
        }
        if self.uri_path.is_empty() || self.uri_path.len() > 255 {
            return fail("--uri-path must be 1..=255 bytes");
        }
        if self.application_id.is_empty()
            || self.application_id.len() > 64
            || self.application_id.contains(['"', '\\'])
        {
            return fail("--application-id must be 1..=64 bytes without quotes or backslashes");
        }
        if self.id_prefix.is_empty()
            || self.id_prefix.len() > 64
            || !self
                .id_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return fail("--id-prefix must be 1..=64 of [A-Za-z0-9_-]");
        }
        if self.scenario.configures() {
            if self.app_clients {
                return fail("configure-* scenarios are for MSGin5G UEs: drop --app-clients");
            }
            if self.config_target.is_ipv4() != self.target.is_ipv4()
                || self.config_target.ip().is_loopback() != self.target.ip().is_loopback()
            {
                return fail(
                    "--config-target must be of the address family and scope (loopback or \
                     not) of --target: each device uses one socket for both",
                );
            }
        }
        if !matches!(self.config_accept, None | Some(41) | Some(50)) {
            return fail("--config-accept must be 50 (JSON) or 41 (XML)");
        }
        let placeholders = self.ue_id.matches(UE_ID_PLACEHOLDER).count();
        let literal = self.ue_id.replace(UE_ID_PLACEHOLDER, "");
        if placeholders != 1
            || literal.len() + self.id_prefix.len() + 24 > MAX_UE_ID
            || !literal.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@' | b':' | b'+')
            })
        {
            return fail(
                "--ue-id must contain {id} once, otherwise only [A-Za-z0-9-._~@:+], and stay \
                 within 255 bytes",
            );
        }
        if let Some(coaps) = &self.coaps {
            coaps.validate(self.devices)?;
        }
        Ok(())
    }

    /// Whether each device talks to more than one peer (its socket is then unconnected).
    pub fn two_peers(&self) -> bool {
        self.scenario.configures() && self.config_target != self.target
    }

    /// The devices this process simulates.
    pub fn local_devices(&self) -> DeviceSlice {
        self.slice.unwrap_or(DeviceSlice {
            first: 0,
            count: self.devices,
        })
    }

    /// Lanes (simulated identities) in total.
    pub fn lanes(&self) -> usize {
        self.devices * self.outstanding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_time_forms() {
        assert_eq!(WaitTime::parse("30"), Ok(WaitTime::Fixed { seconds: 30 }));
        assert_eq!(
            WaitTime::parse("10..60"),
            Ok(WaitTime::Uniform { min: 10, max: 60 })
        );
        assert_eq!(
            WaitTime::parse("10..=60"),
            Ok(WaitTime::Uniform { min: 10, max: 60 })
        );
        assert!(WaitTime::parse("60..10").is_err());
        assert!(WaitTime::parse("x").is_err());
        assert!(WaitTime::parse("100000").is_err());
    }

    #[test]
    fn msg_targets() {
        assert_eq!(MsgTarget::parse("peer"), Ok(MsgTarget::Peer));
        assert_eq!(
            MsgTarget::parse("as:as-1"),
            Ok(MsgTarget::As("as-1".into()))
        );
        assert_eq!(
            MsgTarget::parse("group:g"),
            Ok(MsgTarget::Group("g".into()))
        );
        assert!(MsgTarget::parse("as:").is_err());
        assert!(MsgTarget::parse("as:a\"b").is_err());
        assert!(MsgTarget::parse("topic:x").is_err());
    }

    #[test]
    fn every_configuration_gets_its_own_seed() {
        let t: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        let seeds: std::collections::HashSet<u64> =
            (0..1000).map(|_| Config::new(t).seed).collect();
        assert_eq!(seeds.len(), 1000);
    }

    #[test]
    fn invalid_combinations_are_refused() {
        let base = Config::new("127.0.0.1:5683".parse().unwrap());
        assert_eq!(base.validate(), Ok(()));
        let mut c = base.clone();
        c.scenario = Scenario::Churn;
        c.outstanding = 2;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.app_clients = true;
        c.scenario = Scenario::Messaging;
        assert_eq!(
            c.validate(),
            Ok(()),
            "peers are reached via the gateway's UE"
        );
        c.gateway_ue = String::new();
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.duration = None;
        assert!(c.validate().is_err());
        let mut c = base;
        c.pacing = Pacing::Open { rate: 0.0 };
        assert!(c.validate().is_err());
    }
}
