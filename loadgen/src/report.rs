//! The end-of-run report: a serde structure for `--json` and the human summary table.

use crate::answer::Incoming;
use crate::config::{Config, Pacing};
use crate::stats::{CoapsStats, Form, Stats};
use crate::template::Op;
use hdrhistogram::Histogram;
use msgin5g::dtls::HandshakeFailure;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Latency percentiles in microseconds (all 0 when nothing was answered).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    /// Answers measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    #[serde(rename = "p99.9")]
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl Latency {
    fn new(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency {
                count: 0,
                mean: 0.0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
            };
        }
        Latency {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// How the final answers arrived.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Forms {
    /// On the ACK of the request.
    pub piggybacked: u64,
    /// Empty ACK, then a separate response with the Token.
    pub separate: u64,
    /// Spec-literal POST reusing the request's Message ID and Token.
    pub spec_post: u64,
}

/// Open-loop figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OpenLoop {
    /// `--rate`.
    pub target_rate: f64,
    /// Requests sent per second of the send phase.
    pub achieved_send_rate: f64,
    /// Scheduled sends that found no free lane at their time (latency then includes the wait).
    pub behind_schedule: u64,
}

/// The configuration step of the `configure-*` scenarios (24.538 §6.2.1) on its own.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// Final answers to configuration GETs per CoAP code (2.05 success; 4.03, 4.04 failures).
    pub answered_by_code: BTreeMap<String, u64>,
    /// Latency of the configuration GETs alone.
    pub latency_us: Latency,
}

/// The devices' DTLS sessions (`--coaps`, RFC 7252 §9.1).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Coaps {
    /// Sessions brought up before the first request.
    pub handshakes: u64,
    /// Devices whose session did not come up (they sent nothing).
    pub handshake_failures: u64,
    /// Those failures per reason (`bad_psk`, `unknown_identity`, `timeout`, `limit`,
    /// `protocol`; only reasons that occurred).
    pub handshake_failures_by_reason: BTreeMap<String, u64>,
    /// Time to bring every session up (the requests' clock starts after it).
    pub handshake_s: f64,
    /// Sessions brought up per second of `handshakeS`.
    pub handshakes_per_second: f64,
    /// Handshakes after the first (new source port, session ended by the target, silence).
    pub rehandshakes: u64,
    /// Of those, the failed ones.
    pub rehandshake_failures: u64,
    /// Received records that gave no plaintext.
    pub decrypt_failures: u64,
    /// Requests dropped while a device re-handshook with a full queue.
    pub queue_dropped: u64,
}

/// loadgen's own CPU time during the run (getrusage, all threads).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    /// User-mode seconds.
    pub user_s: f64,
    /// Kernel-mode seconds (socket system calls).
    pub system_s: f64,
    /// CPU microseconds per request sent.
    pub us_per_request: f64,
}

/// Everything a run measured, with its configuration.
///
/// Invariants: `answered == ok + failed` and `ok + failed + timedOut == sent`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The configuration the run used.
    pub config: Config,
    /// From the first request to the end of the drain.
    pub elapsed_s: f64,
    /// From the first request to the last final answer.
    pub active_s: f64,
    /// Sockets opened (devices, plus rebinds in churn / nat-rebind).
    pub sockets_opened: u64,
    /// Sockets that could not be opened.
    pub bind_errors: u64,
    /// Requests sent (first transmissions).
    pub sent: u64,
    /// Requests sent per `messageType`.
    pub sent_by_type: BTreeMap<String, u64>,
    /// Final answers (`ok + failed`).
    pub answered: u64,
    /// Success answers.
    pub ok: u64,
    /// Failure answers (4.xx, 5.xx, Reset, or a failure body in a 2.xx / spec POST).
    pub failed: u64,
    /// No final answer in time (including `lostAtEnd`).
    pub timed_out: u64,
    /// Still unanswered when the drain timeout ended the run.
    pub lost_at_end: u64,
    /// Final answers per CoAP code class (`0.xx` is the spec-literal POST form).
    pub answered_by_class: BTreeMap<String, u64>,
    /// Final answers per CoAP code.
    pub answered_by_code: BTreeMap<String, u64>,
    /// How final answers arrived.
    pub answer_forms: Forms,
    /// Failures per cause (`failureCause` / `failureReason`, else code and diagnostic).
    pub failure_causes: BTreeMap<String, u64>,
    /// A second answer for an exchange already answered.
    pub duplicates: u64,
    /// Answers that came after their request timed out.
    pub late_answers: u64,
    /// Retransmissions of our CON requests.
    pub retransmissions: u64,
    /// Empty ACKs sent for confirmable answers (separate responses, spec POSTs).
    pub acks_sent: u64,
    /// Requests the target sent to devices (downlink), per `messageType`.
    pub received: BTreeMap<String, u64>,
    /// Retransmitted downlink requests answered again.
    pub received_duplicates: u64,
    /// Failed sends / receives, and datagrams that matched nothing.
    pub send_errors: u64,
    /// Failed receives.
    pub recv_errors: u64,
    /// Datagrams that were not CoAP or matched no exchange of ours.
    pub unmatched: u64,
    /// Times a device waited for its Message ID cycle to age (EXCHANGE_LIFETIME).
    pub mid_waits: u64,
    /// Requests not sent because their device held back after a 5.03 with Max-Age.
    pub deferred: u64,
    /// Final answers per second of `activeS`.
    pub requests_per_second: f64,
    /// Latency of final answers.
    pub latency_us: Latency,
    /// Latency of success answers only (the admitted requests under overload).
    pub latency_ok_us: Latency,
    /// Open-loop figures (absent in closed loop).
    pub open_loop: Option<OpenLoop>,
    /// The configuration step (`configure-*` scenarios only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Configuration>,
    /// The DTLS sessions (`--coaps` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coaps: Option<Coaps>,
    /// loadgen's own CPU use.
    pub cpu: Cpu,
}

fn coaps_report(c: &CoapsStats) -> Coaps {
    let handshake_s = c.handshake_ns as f64 / 1e9;
    Coaps {
        handshakes: c.handshakes_ok,
        handshake_failures: c.failed(),
        handshake_failures_by_reason: HandshakeFailure::ALL
            .iter()
            .zip(&c.handshakes_failed)
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| (r.as_str().to_string(), *n))
            .collect(),
        handshake_s,
        handshakes_per_second: if handshake_s > 0.0 {
            c.handshakes_ok as f64 / handshake_s
        } else {
            0.0
        },
        rehandshakes: c.rehandshakes,
        rehandshake_failures: c.rehandshakes_failed,
        decrypt_failures: c.decrypt_failures,
        queue_dropped: c.queue_dropped,
    }
}

fn code_str(code: u8) -> String {
    format!("{}.{:02}", code >> 5, code & 0x1F)
}

impl Report {
    /// Build the report of a run.
    pub fn new(
        config: &Config,
        s: &Stats,
        elapsed: Duration,
        send_phase: Duration,
        cpu: (f64, f64),
    ) -> Report {
        let mut by_class = BTreeMap::new();
        let mut by_code = BTreeMap::new();
        for (code, &n) in s.by_code.iter().enumerate() {
            if n > 0 {
                *by_class.entry(format!("{}.xx", code >> 5)).or_default() += n;
                by_code.insert(code_str(code as u8), n);
            }
        }
        let sent_by_type = Op::ALL
            .iter()
            .filter(|op| s.sent_by_op[**op as usize] > 0)
            .map(|op| (op.label(), s.sent_by_op[*op as usize]))
            .collect();
        let received = Incoming::ALL
            .iter()
            .filter(|k| s.received[**k as usize] > 0)
            .map(|k| (k.label(), s.received[*k as usize]))
            .collect();
        let configuration = config.scenario.configures().then(|| Configuration {
            answered_by_code: s
                .conf_by_code
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(code, n)| (code_str(code as u8), *n))
                .collect(),
            latency_us: Latency::new(&s.conf_latency_us),
        });
        let active_s = s.last_answer_ns as f64 / 1e9;
        let rate = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        Report {
            config: config.clone(),
            elapsed_s: elapsed.as_secs_f64(),
            active_s,
            sockets_opened: s.sockets_opened,
            bind_errors: s.bind_errors,
            sent: s.sent,
            sent_by_type,
            answered: s.answered(),
            ok: s.ok,
            failed: s.failed,
            timed_out: s.timed_out,
            lost_at_end: s.lost_at_end,
            answered_by_class: by_class,
            answered_by_code: by_code,
            answer_forms: Forms {
                piggybacked: s.by_form[Form::Piggybacked as usize],
                separate: s.by_form[Form::Separate as usize],
                spec_post: s.by_form[Form::SpecPost as usize],
            },
            failure_causes: s.causes.clone(),
            duplicates: s.duplicates,
            late_answers: s.late,
            retransmissions: s.retransmissions,
            acks_sent: s.acks_sent,
            received,
            received_duplicates: s.received_duplicates,
            send_errors: s.send_errors,
            recv_errors: s.recv_errors,
            unmatched: s.unmatched,
            mid_waits: s.mid_waits,
            deferred: s.deferred,
            requests_per_second: rate(s.answered(), active_s),
            latency_us: Latency::new(&s.latency_us),
            latency_ok_us: Latency::new(&s.ok_latency_us),
            open_loop: match config.pacing {
                Pacing::Closed => None,
                Pacing::Open { rate: target } => Some(OpenLoop {
                    target_rate: target,
                    achieved_send_rate: rate(s.sent, send_phase.as_secs_f64()),
                    behind_schedule: s.behind_schedule,
                }),
            },
            configuration,
            coaps: config.coaps.as_ref().map(|_| coaps_report(&s.coaps)),
            cpu: Cpu {
                user_s: cpu.0,
                system_s: cpu.1,
                us_per_request: if s.sent > 0 {
                    (cpu.0 + cpu.1) * 1e6 / s.sent as f64
                } else {
                    0.0
                },
            },
        }
    }

    /// Whether any request went unanswered (timed out or lost at the end).
    pub fn has_loss(&self) -> bool {
        self.timed_out > 0
    }

    /// The human summary table.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut o = String::new();
        let pacing = match c.pacing {
            Pacing::Closed => format!("closed loop, {} outstanding per device", c.outstanding),
            Pacing::Open { rate } => format!("open loop, {rate} requests/s"),
        };
        let _ = writeln!(
            o,
            "loadgen {}{} -> {}{}: {} devices, {} threads, {}",
            c.scenario.as_str(),
            if c.app_clients { " (app clients)" } else { "" },
            c.target,
            if self.configuration.is_some() {
                format!(" (configuration {})", c.config_target)
            } else {
                String::new()
            },
            c.devices,
            c.threads,
            pacing
        );
        let mut row = |k: &str, v: String| {
            let _ = writeln!(o, "  {k:<26} {v}");
        };
        row(
            "elapsed",
            format!(
                "{:.3} s (answers until {:.3} s)",
                self.elapsed_s, self.active_s
            ),
        );
        if let Some(d) = &self.coaps {
            row(
                "coaps sessions",
                format!(
                    "{} up in {:.3} s ({:.0} handshakes/s), {} failed",
                    d.handshakes, d.handshake_s, d.handshakes_per_second, d.handshake_failures
                ),
            );
            for (reason, n) in &d.handshake_failures_by_reason {
                row(&format!("  handshake {reason}"), n.to_string());
            }
            if d.rehandshakes + d.decrypt_failures + d.queue_dropped > 0 {
                row(
                    "  later",
                    format!(
                        "re-handshakes {} (failed {}), decrypt failures {}, queue drops {}",
                        d.rehandshakes, d.rehandshake_failures, d.decrypt_failures, d.queue_dropped
                    ),
                );
            }
        }
        row("requests sent", self.sent.to_string());
        for (t, n) in &self.sent_by_type {
            row(&format!("  {t}"), n.to_string());
        }
        row("answered", self.answered.to_string());
        row("  ok", self.ok.to_string());
        row("  failed", self.failed.to_string());
        for (cause, n) in &self.failure_causes {
            row(&format!("    {cause}"), n.to_string());
        }
        for (class, n) in &self.answered_by_class {
            row(&format!("  class {class}"), n.to_string());
        }
        row(
            "timed out",
            format!("{} (lost at end: {})", self.timed_out, self.lost_at_end),
        );
        row("duplicates", self.duplicates.to_string());
        row("late answers", self.late_answers.to_string());
        row("retransmissions", self.retransmissions.to_string());
        row(
            "answer forms",
            format!(
                "piggybacked {}, separate {}, spec POST {}",
                self.answer_forms.piggybacked,
                self.answer_forms.separate,
                self.answer_forms.spec_post
            ),
        );
        if !self.received.is_empty() {
            for (k, n) in &self.received {
                row(&format!("received {k}"), n.to_string());
            }
        }
        row(
            "requests/s (answered)",
            format!("{:.0}", self.requests_per_second),
        );
        if let Some(ol) = &self.open_loop {
            row(
                "send rate",
                format!(
                    "{:.0}/s of {:.0}/s target, {} slots behind schedule",
                    ol.achieved_send_rate, ol.target_rate, ol.behind_schedule
                ),
            );
        }
        let percentiles = |l: &Latency| {
            format!(
                "p50 {} p90 {} p99 {} p99.9 {} max {}",
                l.p50, l.p90, l.p99, l.p999, l.max
            )
        };
        row("latency µs", percentiles(&self.latency_us));
        row("success latency µs", percentiles(&self.latency_ok_us));
        if let Some(conf) = &self.configuration {
            for (code, n) in &conf.answered_by_code {
                row(&format!("configuration {code}"), n.to_string());
            }
            row("configuration latency µs", percentiles(&conf.latency_us));
        }
        row(
            "loadgen CPU",
            format!(
                "{:.2} s user + {:.2} s sys = {:.2} µs per request",
                self.cpu.user_s, self.cpu.system_s, self.cpu.us_per_request
            ),
        );
        if self.deferred > 0 {
            row(
                "deferred",
                format!(
                    "{} requests not sent: their device held back for the Max-Age of a 5.03",
                    self.deferred
                ),
            );
        }
        let errors = self.send_errors + self.recv_errors + self.bind_errors;
        if errors + self.unmatched + self.mid_waits > 0 {
            row(
                "errors",
                format!(
                    "send {} recv {} bind {} unmatched {} mid waits {}",
                    self.send_errors,
                    self.recv_errors,
                    self.bind_errors,
                    self.unmatched,
                    self.mid_waits
                ),
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scenario;

    #[test]
    fn report_fields_and_table() {
        let config = Config::new("127.0.0.1:5683".parse().unwrap());
        let mut s = Stats {
            sent: 5,
            ok: 3,
            failed: 1,
            timed_out: 1,
            ..Stats::default()
        };
        s.sent_by_op[Op::Reg as usize] = 5;
        s.by_code[0x41] = 3;
        s.by_code[0x83] = 1;
        s.cause("UNAUTHORIZED".into());
        s.latency(2_000_000);
        s.last_answer_ns = 2_000_000_000;
        let r = Report::new(
            &config,
            &s,
            Duration::from_secs(3),
            Duration::from_secs(2),
            (0.5, 0.5),
        );
        assert_eq!(r.answered, 4);
        assert_eq!(r.answered_by_class["2.xx"], 3);
        assert_eq!(r.answered_by_code["4.03"], 1);
        assert_eq!(r.requests_per_second, 2.0);
        assert_eq!(r.cpu.us_per_request, 200_000.0);
        assert!(r.has_loss());
        let j = serde_json::to_value(&r).unwrap();
        for key in [
            "sent",
            "answered",
            "ok",
            "failed",
            "timedOut",
            "duplicates",
            "latencyUs",
            "failureCauses",
            "config",
        ] {
            assert!(j.get(key).is_some(), "{key}");
        }
        assert_eq!(j["latencyUs"]["p99.9"], r.latency_us.p999);
        assert_eq!(j["config"]["scenario"], "register-deregister");
        let t = r.table();
        assert!(t.contains("UNAUTHORIZED"));
        assert!(t.contains("requests/s"));
        assert!(r.configuration.is_none() && j.get("configuration").is_none());
        assert!(
            r.coaps.is_none() && j.get("coaps").is_none(),
            "plain runs unchanged"
        );
        assert!(j["config"].get("coaps").is_none());
    }

    #[test]
    fn coaps_sessions_are_reported() {
        let mut config = Config::new("127.0.0.1:5684".parse().unwrap());
        config.coaps = Some(crate::coaps::Coaps::new("d-", "top-secret"));
        let mut s = Stats::default();
        s.coaps.handshakes_ok = 998;
        s.coaps.handshakes_failed[HandshakeFailure::Timeout as usize] = 2;
        s.coaps.handshake_ns = 500_000_000;
        let r = Report::new(
            &config,
            &s,
            Duration::from_secs(1),
            Duration::from_secs(1),
            (0.0, 0.0),
        );
        let d = r.coaps.as_ref().unwrap();
        assert_eq!((d.handshakes, d.handshake_failures), (998, 2));
        assert_eq!(d.handshakes_per_second, 1996.0);
        assert_eq!(d.handshake_failures_by_reason["timeout"], 2);
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["coaps"]["handshakesPerSecond"], 1996.0);
        assert_eq!(j["config"]["coaps"]["identityPrefix"], "d-");
        assert!(
            !j.to_string().contains("top-secret"),
            "the key stays out of the report"
        );
        let t = r.table();
        assert!(
            t.contains("998 up in 0.500 s (1996 handshakes/s), 2 failed"),
            "{t}"
        );
        assert!(t.contains("handshake timeout"), "{t}");
    }

    #[test]
    fn configuration_step_is_reported_on_its_own() {
        let mut config = Config::new("127.0.0.1:5683".parse().unwrap());
        config.scenario = Scenario::ConfigureRegister;
        let mut s = Stats {
            sent: 3,
            ok: 2,
            failed: 1,
            ..Stats::default()
        };
        s.sent_by_op[Op::ConfGet as usize] = 2;
        s.sent_by_op[Op::Reg as usize] = 1;
        s.conf_answer(Some(0x45), 1_000_000);
        s.conf_answer(Some(0x84), 3_000_000);
        s.latency(1_000_000);
        s.latency(3_000_000);
        s.latency(9_000_000);
        let r = Report::new(
            &config,
            &s,
            Duration::from_secs(1),
            Duration::from_secs(1),
            (0.0, 0.0),
        );
        let conf = r.configuration.as_ref().unwrap();
        assert_eq!(conf.answered_by_code["2.05"], 1);
        assert_eq!(conf.answered_by_code["4.04"], 1);
        assert_eq!(conf.latency_us.count, 2);
        assert!(conf.latency_us.max < 4_000 && r.latency_us.max >= 8_000);
        assert_eq!(r.sent_by_type["configuration GET"], 2);
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["configuration"]["answeredByCode"]["4.04"], 1);
        let t = r.table();
        assert!(
            t.contains("configuration 4.04") && t.contains("configuration latency"),
            "{t}"
        );
        assert!(t.contains("(configuration 127.0.0.1:65401)"), "{t}");
    }
}
