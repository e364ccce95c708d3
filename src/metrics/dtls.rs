//! The DTLS families of a role (`msgin5g_gateway_dtls_*`, `msgin5g_server_dtls_*`; D14.10,
//! docs/PROTOCOL.md §19), rendered from each shard's [`DtlsStats`] at scrape time. They are
//! always rendered (zero without coaps) so dashboards and alerts need no special case; the
//! gateway's series carry `shard`.

use super::exposition::{Exposition, MetricType};
use super::families::load;
use crate::dtls::{DecryptFailure, DtlsStats, HandshakeFailure};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// The family names of one role (exposition names are `&'static str`).
#[derive(Debug, Clone, Copy)]
pub struct DtlsNames {
    handshakes: &'static str,
    decrypt_failures: &'static str,
    sessions_ended: &'static str,
    records_out: &'static str,
    /// In the order of `COUNTERS` then `GAUGES`.
    scalars: [&'static str; 6],
}

/// The names of a role's families, from its prefix.
macro_rules! dtls_names {
    ($prefix:literal) => {
        DtlsNames {
            handshakes: concat!($prefix, "_dtls_handshakes_total"),
            decrypt_failures: concat!($prefix, "_dtls_decrypt_failures_total"),
            sessions_ended: concat!($prefix, "_dtls_sessions_ended_total"),
            records_out: concat!($prefix, "_dtls_records_out_total"),
            scalars: [
                concat!($prefix, "_dtls_hello_verify_sent_total"),
                concat!($prefix, "_dtls_queue_dropped_total"),
                concat!($prefix, "_dtls_rehandshakes_total"),
                concat!($prefix, "_dtls_records_in_total"),
                concat!($prefix, "_dtls_sessions"),
                concat!($prefix, "_dtls_handshakes_in_progress"),
            ],
        }
    };
}

/// `msgin5g_gateway_dtls_*`.
pub const GATEWAY_DTLS: DtlsNames = dtls_names!("msgin5g_gateway");
/// `msgin5g_server_dtls_*`.
pub const SERVER_DTLS: DtlsNames = dtls_names!("msgin5g_server");

/// A role's DTLS counters, one [`DtlsStats`] per shard.
#[derive(Debug, Clone)]
pub struct DtlsFamilies {
    /// The role's family names.
    names: DtlsNames,
    /// Per shard: its `shard` label value (none for a single-shard role) and its stats.
    shards: Vec<(Option<String>, Arc<DtlsStats>)>,
}

/// A counter or gauge of one [`DtlsStats`]: name suffix (documentation), help, the atomic.
type Family = (&'static str, &'static str, fn(&DtlsStats) -> &AtomicU64);

const COUNTERS: [Family; 4] = [
    (
        "dtls_hello_verify_sent_total",
        "HelloVerifyRequests sent: ClientHellos without a valid cookie answered statelessly \
         (RFC 6347 4.2.1; a spoofed-address flood shows here and costs no memory).",
        |s| &s.hello_verify_sent,
    ),
    (
        "dtls_queue_dropped_total",
        "Coaps uplinks: plaintexts dropped because gateway.dtls_max_queued waited for the \
         handshake (CoAP retransmits them).",
        |s| &s.queue_dropped,
    ),
    (
        "dtls_rehandshakes_total",
        "Coaps uplinks: handshakes started again (a fatal alert, or \
         gateway.dtls_rehandshake_silence_ms of silence).",
        |s| &s.rehandshakes,
    ),
    (
        "dtls_records_in_total",
        "DTLS records decrypted and handed to the core.",
        |s| &s.records_in,
    ),
];

const GAUGES: [Family; 2] = [
    (
        "dtls_sessions",
        "Established DTLS sessions (bounded by dtls_max_sessions per socket).",
        |s| &s.sessions,
    ),
    (
        "dtls_handshakes_in_progress",
        "DTLS handshakes in progress (bounded by dtls_max_handshakes per socket).",
        |s| &s.handshakes,
    ),
];

impl DtlsFamilies {
    /// The families of `prefix` from per-shard stats (the gateway's; labelled `shard`).
    pub fn sharded(names: DtlsNames, stats: Vec<Arc<DtlsStats>>) -> DtlsFamilies {
        let shards = stats
            .into_iter()
            .enumerate()
            .map(|(i, s)| (Some(i.to_string()), s))
            .collect();
        DtlsFamilies { names, shards }
    }

    /// The families of `prefix` from one unsharded role's stats (the server's).
    pub fn single(names: DtlsNames, stats: Arc<DtlsStats>) -> DtlsFamilies {
        DtlsFamilies {
            names,
            shards: vec![(None, stats)],
        }
    }

    /// Write every family, each series labelled with its shard (if any) and `extra`.
    fn samples(
        &self,
        page: &mut Exposition,
        name: &'static str,
        extra: &[(&'static str, &str)],
        value: impl Fn(&DtlsStats) -> u64,
    ) {
        for (shard, stats) in &self.shards {
            let mut labels: Vec<(&'static str, &str)> = Vec::with_capacity(1 + extra.len());
            if let Some(shard) = shard {
                labels.push(("shard", shard));
            }
            labels.extend_from_slice(extra);
            page.sample(name, &labels, value(stats));
        }
    }

    /// Render the families (docs/PROTOCOL.md §19, README "Metrics").
    pub fn render(&self, page: &mut Exposition) {
        let n = self.names;
        let name = n.handshakes;
        page.family(
            name,
            MetricType::Counter,
            "DTLS handshakes finished, by result: ok, or the failure reason (bad_psk: wrong key, \
             unknown_identity, timeout: dtls_handshake_timeout_ms, limit: dtls_max_handshakes \
             or dtls_max_sessions, protocol: any other error or fatal alert).",
        );
        self.samples(page, name, &[("result", "ok")], |s| load(&s.handshakes_ok));
        for reason in HandshakeFailure::ALL {
            self.samples(page, name, &[("result", reason.as_str())], |s| {
                s.handshakes_failed(reason)
            });
        }
        let name = n.decrypt_failures;
        page.family(
            name,
            MetricType::Counter,
            "Received DTLS records dropped without plaintext, by reason: bad_record (bad MAC or \
             malformed, RFC 6347 4.1.2.7), replay (RFC 6347 4.1.2.6 window), no_session (a \
             non-handshake record from an address without a session).",
        );
        for reason in DecryptFailure::ALL {
            self.samples(page, name, &[("reason", reason.as_str())], |s| {
                s.decrypt_failures(reason)
            });
        }
        let name = n.sessions_ended;
        page.family(
            name,
            MetricType::Counter,
            "Established DTLS sessions ended, by reason: evicted (least recently used, at \
             dtls_max_sessions), expired (dtls_session_idle_s without traffic), closed (by the \
             peer: close_notify or a fatal alert).",
        );
        for (reason, counter) in [
            (
                "evicted",
                (|s| &s.sessions_evicted) as fn(&DtlsStats) -> &AtomicU64,
            ),
            ("expired", |s| &s.sessions_expired),
            ("closed", |s| &s.sessions_closed),
        ] {
            self.samples(page, name, &[("reason", reason)], |s| load(counter(s)));
        }
        let name = n.records_out;
        page.family(
            name,
            MetricType::Counter,
            "Plaintext datagrams sealed into DTLS records and sent.",
        );
        self.samples(page, name, &[], |s| load(&s.records_out));
        let families = COUNTERS
            .iter()
            .map(|f| (MetricType::Counter, f))
            .chain(GAUGES.iter().map(|f| (MetricType::Gauge, f)));
        for (name, (metric_type, (suffix, help, value))) in n.scalars.into_iter().zip(families) {
            debug_assert!(name.ends_with(suffix));
            page.family(name, metric_type, help);
            self.samples(page, name, &[], |s| load(value(s)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn every_family_has_a_series_per_shard_and_label() {
        let a = Arc::new(DtlsStats::default());
        a.handshakes_ok.store(3, Ordering::Relaxed);
        a.handshake_failed(HandshakeFailure::BadPsk);
        a.decrypt_failed(DecryptFailure::Replay);
        a.sessions.store(2, Ordering::Relaxed);
        let families = DtlsFamilies::sharded(GATEWAY_DTLS, vec![a, Arc::new(DtlsStats::default())]);
        let mut page = Exposition::new();
        families.render(&mut page);
        let text = page.into_text();
        for line in [
            "# TYPE msgin5g_gateway_dtls_handshakes_total counter",
            "msgin5g_gateway_dtls_handshakes_total{shard=\"0\",result=\"ok\"} 3",
            "msgin5g_gateway_dtls_handshakes_total{shard=\"0\",result=\"bad_psk\"} 1",
            "msgin5g_gateway_dtls_handshakes_total{shard=\"1\",result=\"limit\"} 0",
            "msgin5g_gateway_dtls_decrypt_failures_total{shard=\"0\",reason=\"replay\"} 1",
            "msgin5g_gateway_dtls_sessions_ended_total{shard=\"1\",reason=\"evicted\"} 0",
            "# TYPE msgin5g_gateway_dtls_sessions gauge",
            "msgin5g_gateway_dtls_sessions{shard=\"0\"} 2",
            "msgin5g_gateway_dtls_hello_verify_sent_total{shard=\"1\"} 0",
            "msgin5g_gateway_dtls_records_out_total{shard=\"0\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        let mut page = Exposition::new();
        DtlsFamilies::single(SERVER_DTLS, Arc::new(DtlsStats::default())).render(&mut page);
        let text = page.into_text();
        assert!(text.contains("msgin5g_server_dtls_handshakes_in_progress 0"));
        assert!(text.contains("msgin5g_server_dtls_handshakes_total{result=\"timeout\"} 0"));
    }
}
