//! Counters and the latency histogram of one worker (merged at the end), and the few shared
//! atomics the progress bar reads.

use crate::answer::INCOMING_KINDS;
use crate::template::OPS;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Highest latency recorded exactly (µs, one hour); larger values are clamped to it.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Distinct failure causes kept; further causes are counted under [`OTHER_CAUSES`].
pub const MAX_CAUSES: usize = 64;

/// The label of causes beyond [`MAX_CAUSES`].
pub const OTHER_CAUSES: &str = "(other causes)";

/// How a final answer reached the device (docs/PROTOCOL.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Form {
    /// On the ACK of the request.
    Piggybacked = 0,
    /// Empty ACK, then a CON/NON response with the Token.
    Separate = 1,
    /// A spec-literal POST reusing the request's Message ID and Token (24.538 §6.3.4.3.3).
    SpecPost = 2,
}

/// Everything one worker counted.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Requests sent (first transmissions).
    pub sent: u64,
    /// Requests sent per [`crate::template::Op`].
    pub sent_by_op: [u64; OPS],
    /// Final answers that are successes.
    pub ok: u64,
    /// Final answers that are failures (4.xx/5.xx, Reset, or a failure body).
    pub failed: u64,
    /// Requests without a final answer in time (retransmissions exhausted, `--timeout`, or
    /// still open when the drain ended).
    pub timed_out: u64,
    /// The part of `timed_out` still open when the drain ended.
    pub lost_at_end: u64,
    /// Final answers per CoAP code byte (0.02 for spec-literal POSTs).
    pub by_code: [u64; 256],
    /// Final answers per [`Form`].
    pub by_form: [u64; 3],
    /// Failures per cause.
    pub causes: BTreeMap<String, u64>,
    /// A second answer for an exchange already answered.
    pub duplicates: u64,
    /// An answer for an exchange that had timed out.
    pub late: u64,
    /// Retransmissions of our CON requests.
    pub retransmissions: u64,
    /// Send calls that failed (the exchange then relies on retransmission).
    pub send_errors: u64,
    /// Receive calls that failed with something other than "would block".
    pub recv_errors: u64,
    /// Datagrams that were no CoAP or matched nothing of ours.
    pub unmatched: u64,
    /// Confirmable answers and requests from the target we acknowledged.
    pub acks_sent: u64,
    /// Incoming requests per [`crate::answer::Incoming`] kind (first copies only).
    pub received: [u64; INCOMING_KINDS],
    /// Retransmitted incoming requests answered again.
    pub received_duplicates: u64,
    /// Times a device waited because its Message ID cycle was not EXCHANGE_LIFETIME old.
    pub mid_waits: u64,
    /// Requests not sent because their device was holding back after a 5.03 with Max-Age
    /// (RFC 7252 §5.9.3.4); an open-loop slot that falls on such a device is skipped.
    pub deferred: u64,
    /// Sockets opened (devices plus rebinds).
    pub sockets_opened: u64,
    /// Sockets that could not be opened.
    pub bind_errors: u64,
    /// Open loop: requests whose scheduled time came while no lane was free.
    pub behind_schedule: u64,
    /// Latency of final answers (µs), from the scheduled (open loop) or actual send time.
    pub latency_us: Histogram<u64>,
    /// Latency of success answers only (µs): what admitted requests saw under overload, when
    /// fast 5.03 refusals would pull the overall percentiles down.
    pub ok_latency_us: Histogram<u64>,
    /// Time of the last final answer (ns since the run began).
    pub last_answer_ns: u64,
    /// Final answers to configuration GETs per CoAP code byte (`configure-*`).
    pub conf_by_code: [u64; 256],
    /// Latency of the configuration step alone (µs).
    pub conf_latency_us: Histogram<u64>,
    /// The DTLS sessions of `--coaps` (zeros without).
    pub coaps: CoapsStats,
}

/// Handshakes per failure reason kept (the order of
/// [`HandshakeFailure::ALL`](msgin5g::dtls::HandshakeFailure::ALL)).
pub const HANDSHAKE_REASONS: usize = 5;

/// What the devices' DTLS sessions counted (`--coaps`, RFC 7252 §9.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoapsStats {
    /// Sessions brought up before the first request (one per device with a socket).
    pub handshakes_ok: u64,
    /// Devices whose session did not come up, per reason (such a device sends nothing).
    pub handshakes_failed: [u64; HANDSHAKE_REASONS],
    /// Time to bring every session up (ns; processes merge by the longest).
    pub handshake_ns: u64,
    /// Handshakes after the first: a device on a new source port (churn, NAT rebinding), the
    /// target ending the session (alert), or silence (docs/PROTOCOL.md §19).
    pub rehandshakes: u64,
    /// Of those, the ones that failed.
    pub rehandshakes_failed: u64,
    /// Received records that gave no plaintext (bad MAC, replay, no session).
    pub decrypt_failures: u64,
    /// Requests dropped because the DTLS queue of a re-handshaking device was full (CoAP
    /// retransmits them).
    pub queue_dropped: u64,
}

impl CoapsStats {
    /// Add `o` into `self` (the handshake phase: the longest).
    pub fn merge(&mut self, o: &CoapsStats) {
        self.handshakes_ok += o.handshakes_ok;
        for (a, b) in self.handshakes_failed.iter_mut().zip(&o.handshakes_failed) {
            *a += b;
        }
        self.handshake_ns = self.handshake_ns.max(o.handshake_ns);
        self.rehandshakes += o.rehandshakes;
        self.rehandshakes_failed += o.rehandshakes_failed;
        self.decrypt_failures += o.decrypt_failures;
        self.queue_dropped += o.queue_dropped;
    }

    /// Devices whose first handshake failed.
    pub fn failed(&self) -> u64 {
        self.handshakes_failed.iter().sum()
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sent: 0,
            sent_by_op: [0; OPS],
            ok: 0,
            failed: 0,
            timed_out: 0,
            lost_at_end: 0,
            by_code: [0; 256],
            by_form: [0; 3],
            causes: BTreeMap::new(),
            duplicates: 0,
            late: 0,
            retransmissions: 0,
            send_errors: 0,
            recv_errors: 0,
            unmatched: 0,
            acks_sent: 0,
            received: [0; INCOMING_KINDS],
            received_duplicates: 0,
            mid_waits: 0,
            deferred: 0,
            sockets_opened: 0,
            bind_errors: 0,
            behind_schedule: 0,
            latency_us: histogram(),
            ok_latency_us: histogram(),
            last_answer_ns: 0,
            conf_by_code: [0; 256],
            conf_latency_us: histogram(),
            coaps: CoapsStats::default(),
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_max(MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

fn clamp_us(ns: u64) -> u64 {
    (ns / 1_000).clamp(1, MAX_LATENCY_US)
}

impl Stats {
    /// Count a failure cause (bounded table).
    pub fn cause(&mut self, cause: String) {
        if let Some(n) = self.causes.get_mut(&cause) {
            *n += 1;
        } else if self.causes.len() < MAX_CAUSES {
            self.causes.insert(cause, 1);
        } else {
            *self.causes.entry(OTHER_CAUSES.to_string()).or_default() += 1;
        }
    }

    /// Record a latency in nanoseconds.
    pub fn latency(&mut self, ns: u64) {
        self.latency_us.saturating_record(clamp_us(ns));
    }

    /// Record the latency of a success answer in nanoseconds (besides [`Stats::latency`]).
    pub fn ok_latency(&mut self, ns: u64) {
        self.ok_latency_us.saturating_record(clamp_us(ns));
    }

    /// Record the final answer of a configuration GET: its code (`None`: a Reset, not
    /// counted by code) and the step's latency in nanoseconds.
    pub fn conf_answer(&mut self, code: Option<u8>, ns: u64) {
        if let Some(code) = code {
            self.conf_by_code[usize::from(code)] += 1;
        }
        self.conf_latency_us.saturating_record(clamp_us(ns));
    }

    /// Final answers received (success or failure).
    pub fn answered(&self) -> u64 {
        self.ok + self.failed
    }

    /// Add `o` into `self`.
    pub fn merge(&mut self, o: &Stats) {
        fn add<const N: usize>(a: &mut [u64; N], b: &[u64; N]) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        self.sent += o.sent;
        add(&mut self.sent_by_op, &o.sent_by_op);
        self.ok += o.ok;
        self.failed += o.failed;
        self.timed_out += o.timed_out;
        self.lost_at_end += o.lost_at_end;
        add(&mut self.by_code, &o.by_code);
        add(&mut self.by_form, &o.by_form);
        for (k, v) in &o.causes {
            if let Some(n) = self.causes.get_mut(k) {
                *n += v;
            } else if self.causes.len() < MAX_CAUSES {
                self.causes.insert(k.clone(), *v);
            } else {
                *self.causes.entry(OTHER_CAUSES.to_string()).or_default() += v;
            }
        }
        self.duplicates += o.duplicates;
        self.late += o.late;
        self.retransmissions += o.retransmissions;
        self.send_errors += o.send_errors;
        self.recv_errors += o.recv_errors;
        self.unmatched += o.unmatched;
        self.acks_sent += o.acks_sent;
        add(&mut self.received, &o.received);
        self.received_duplicates += o.received_duplicates;
        self.mid_waits += o.mid_waits;
        self.deferred += o.deferred;
        self.sockets_opened += o.sockets_opened;
        self.bind_errors += o.bind_errors;
        self.behind_schedule += o.behind_schedule;
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency_us.add(&o.latency_us);
        let _ = self.ok_latency_us.add(&o.ok_latency_us);
        self.last_answer_ns = self.last_answer_ns.max(o.last_answer_ns);
        add(&mut self.conf_by_code, &o.conf_by_code);
        let _ = self.conf_latency_us.add(&o.conf_latency_us);
        self.coaps.merge(&o.coaps);
    }
}

/// [`Stats`] as exchanged between processes (serde has no fixed arrays beyond 32 and no
/// histogram): arrays as vectors, the histogram as (value, count) pairs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatsWire {
    counters: Vec<u64>,
    sent_by_op: Vec<u64>,
    by_code: Vec<(u8, u64)>,
    by_form: Vec<u64>,
    received: Vec<u64>,
    causes: BTreeMap<String, u64>,
    latency_us: Vec<(u64, u64)>,
    #[serde(default)]
    conf_by_code: Vec<(u8, u64)>,
    #[serde(default)]
    conf_latency_us: Vec<(u64, u64)>,
    #[serde(default)]
    ok_latency_us: Vec<(u64, u64)>,
    #[serde(default)]
    coaps: CoapsStats,
}

fn codes_to_wire(by_code: &[u64; 256]) -> Vec<(u8, u64)> {
    (0..=255u8)
        .filter(|c| by_code[usize::from(*c)] > 0)
        .map(|c| (c, by_code[usize::from(c)]))
        .collect()
}

fn histogram_to_wire(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

fn histogram_from_wire(h: &mut Histogram<u64>, w: Vec<(u64, u64)>) {
    for (value, count) in w {
        let _ = h.record_n(value.clamp(1, MAX_LATENCY_US), count);
    }
}

impl Stats {
    fn counters_mut(&mut self) -> [&mut u64; 19] {
        [
            &mut self.sent,
            &mut self.ok,
            &mut self.failed,
            &mut self.timed_out,
            &mut self.lost_at_end,
            &mut self.duplicates,
            &mut self.late,
            &mut self.retransmissions,
            &mut self.send_errors,
            &mut self.recv_errors,
            &mut self.unmatched,
            &mut self.acks_sent,
            &mut self.received_duplicates,
            &mut self.mid_waits,
            &mut self.deferred,
            &mut self.sockets_opened,
            &mut self.bind_errors,
            &mut self.behind_schedule,
            &mut self.last_answer_ns,
        ]
    }

    /// The wire form.
    pub fn to_wire(&self) -> StatsWire {
        let mut copy = self.clone();
        StatsWire {
            counters: copy.counters_mut().iter().map(|c| **c).collect(),
            sent_by_op: self.sent_by_op.to_vec(),
            by_code: codes_to_wire(&self.by_code),
            by_form: self.by_form.to_vec(),
            received: self.received.to_vec(),
            causes: self.causes.clone(),
            latency_us: histogram_to_wire(&self.latency_us),
            conf_by_code: codes_to_wire(&self.conf_by_code),
            conf_latency_us: histogram_to_wire(&self.conf_latency_us),
            ok_latency_us: histogram_to_wire(&self.ok_latency_us),
            coaps: self.coaps.clone(),
        }
    }

    /// From the wire form (missing or extra entries are ignored).
    pub fn from_wire(w: StatsWire) -> Stats {
        let mut s = Stats::default();
        for (dst, v) in s.counters_mut().into_iter().zip(w.counters) {
            *dst = v;
        }
        for (dst, v) in s.sent_by_op.iter_mut().zip(w.sent_by_op) {
            *dst = v;
        }
        for (code, n) in w.by_code {
            s.by_code[usize::from(code)] = n;
        }
        for (dst, v) in s.by_form.iter_mut().zip(w.by_form) {
            *dst = v;
        }
        for (dst, v) in s.received.iter_mut().zip(w.received) {
            *dst = v;
        }
        s.causes = w.causes;
        histogram_from_wire(&mut s.latency_us, w.latency_us);
        for (code, n) in w.conf_by_code {
            s.conf_by_code[usize::from(code)] = n;
        }
        histogram_from_wire(&mut s.conf_latency_us, w.conf_latency_us);
        histogram_from_wire(&mut s.ok_latency_us, w.ok_latency_us);
        s.coaps = w.coaps;
        s
    }
}

/// Running totals the workers publish (every loop turn) for the progress bar.
#[derive(Debug, Default)]
pub struct Live {
    /// Requests sent.
    pub sent: AtomicU64,
    /// Success answers.
    pub ok: AtomicU64,
    /// Failure answers.
    pub failed: AtomicU64,
    /// Timed out.
    pub timed_out: AtomicU64,
    /// Sockets opened so far (start-up progress).
    pub sockets: AtomicU64,
}

impl Live {
    /// Publish the difference between `now` and what was published last (`last`).
    pub fn publish(&self, now: &Stats, last: &mut [u64; 4]) {
        let cur = [now.sent, now.ok, now.failed, now.timed_out];
        let dst = [&self.sent, &self.ok, &self.failed, &self.timed_out];
        for i in 0..4 {
            if cur[i] != last[i] {
                dst[i].fetch_add(cur[i] - last[i], Ordering::Relaxed);
                last[i] = cur[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_bounded_and_merge_adds() {
        let mut a = Stats::default();
        for i in 0..MAX_CAUSES + 5 {
            a.cause(format!("c{i}"));
        }
        assert_eq!(a.causes.len(), MAX_CAUSES + 1);
        assert_eq!(a.causes[OTHER_CAUSES], 5);
        let mut b = Stats {
            ok: 2,
            ..Stats::default()
        };
        b.latency(1_500_000);
        b.by_code[0x41] = 2;
        a.merge(&b);
        a.merge(&b);
        assert_eq!(a.ok, 4);
        assert_eq!(a.by_code[0x41], 4);
        assert_eq!(a.latency_us.len(), 2);
        assert_eq!(a.latency_us.max(), a.latency_us.highest_equivalent(1_500));
    }

    #[test]
    fn wire_round_trip() {
        let mut a = Stats {
            sent: 9,
            ok: 5,
            failed: 2,
            timed_out: 2,
            last_answer_ns: 77,
            behind_schedule: 3,
            ..Stats::default()
        };
        a.by_code[0x44] = 5;
        a.by_code[0xA3] = 2;
        a.sent_by_op[2] = 9;
        a.received[1] = 4;
        a.cause("X".into());
        a.latency(10_000);
        a.latency(20_000_000);
        a.ok_latency(10_000);
        a.conf_answer(Some(0x84), 3_000_000);
        a.conf_answer(None, 4_000_000);
        a.coaps.handshakes_ok = 8;
        a.coaps.handshakes_failed[2] = 1;
        a.coaps.handshake_ns = 5;
        let text = serde_json::to_string(&a.to_wire()).unwrap();
        let b = Stats::from_wire(serde_json::from_str(&text).unwrap());
        assert_eq!(b.ok_latency_us.len(), 1, "success latencies travel too");
        assert_eq!((b.sent, b.ok, b.failed, b.timed_out), (9, 5, 2, 2));
        assert_eq!((b.last_answer_ns, b.behind_schedule), (77, 3));
        assert_eq!(b.by_code, a.by_code);
        assert_eq!(b.sent_by_op, a.sent_by_op);
        assert_eq!(b.received, a.received);
        assert_eq!(b.causes, a.causes);
        assert_eq!(b.conf_by_code, a.conf_by_code);
        assert_eq!(b.conf_by_code[0x84], 1);
        assert_eq!(b.conf_latency_us.len(), 2);
        assert_eq!(b.coaps, a.coaps);
        let mut c = b.clone();
        c.coaps.handshake_ns = 3;
        c.merge(&b);
        assert_eq!((c.coaps.handshakes_ok, c.coaps.failed()), (16, 2));
        assert_eq!(c.coaps.handshake_ns, 5, "parallel processes: the longest");
        assert_eq!(b.latency_us.len(), 2);
        assert_eq!(
            b.latency_us.value_at_quantile(1.0),
            a.latency_us.value_at_quantile(1.0)
        );
    }
}
