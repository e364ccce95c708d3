//! The DTLS counters and gauges (docs/PROTOCOL.md §19; README "Metrics", `msgin5g_*_dtls_*`):
//! plain relaxed atomics shared by every [`DtlsServer`](super) / DtlsClient of one shard and the
//! metrics endpoint. Gauges are moved with add/sub so several sessions tables may share one.

use metrics::CounterFn;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a handshake failed (label `reason` of the failed handshakes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The peer's Finished did not verify: wrong key (RFC 4279 §2, `decrypt_error` /
    /// `bad_record_mac`).
    BadPsk,
    /// The client named a PSK identity the table does not hold (RFC 4279 §2
    /// `unknown_psk_identity`).
    UnknownIdentity,
    /// Not done within `dtls_handshake_timeout_ms`.
    Timeout,
    /// `dtls_max_handshakes` in progress, or `dtls_max_sessions` with none evictable.
    Limit,
    /// Any other handshake error (unsupported version or cipher suite, malformed message, a
    /// fatal alert from the peer).
    Protocol,
}

impl HandshakeFailure {
    /// Every reason, in index order.
    pub const ALL: [HandshakeFailure; 5] = [
        HandshakeFailure::BadPsk,
        HandshakeFailure::UnknownIdentity,
        HandshakeFailure::Timeout,
        HandshakeFailure::Limit,
        HandshakeFailure::Protocol,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeFailure::BadPsk => "bad_psk",
            HandshakeFailure::UnknownIdentity => "unknown_identity",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Limit => "limit",
            HandshakeFailure::Protocol => "protocol",
        }
    }
}

/// Why a received record gave no plaintext (label `reason` of the decrypt failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptFailure {
    /// A record that did not authenticate (bad MAC / AEAD tag) or did not parse (RFC 6347
    /// §4.1.2.7: silently discarded).
    BadRecord,
    /// A record already received (RFC 6347 §4.1.2.6 replay window).
    Replay,
    /// A non-handshake datagram from an address without a session (dropped, no answer).
    NoSession,
}

impl DecryptFailure {
    /// Every reason, in index order.
    pub const ALL: [DecryptFailure; 3] = [
        DecryptFailure::BadRecord,
        DecryptFailure::Replay,
        DecryptFailure::NoSession,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DecryptFailure::BadRecord => "bad_record",
            DecryptFailure::Replay => "replay",
            DecryptFailure::NoSession => "no_session",
        }
    }
}

/// Counters and gauges of one shard's DTLS endpoints (server and client roles).
#[derive(Debug, Default)]
pub struct DtlsStats {
    /// Handshakes completed.
    pub handshakes_ok: AtomicU64,
    /// Handshakes failed, by [`HandshakeFailure`].
    pub handshakes_failed: [AtomicU64; HandshakeFailure::ALL.len()],
    /// HelloVerifyRequests sent (RFC 6347 §4.2.1 cookie exchange; no state kept).
    pub hello_verify_sent: AtomicU64,
    /// Established sessions now (gauge).
    pub sessions: AtomicU64,
    /// Handshakes in progress now (gauge).
    pub handshakes: AtomicU64,
    /// Established sessions evicted (least recently used) to make room at `dtls_max_sessions`.
    pub sessions_evicted: AtomicU64,
    /// Established sessions dropped after `dtls_session_idle_s` without traffic.
    pub sessions_expired: AtomicU64,
    /// Sessions ended by the peer (close_notify or a fatal alert).
    pub sessions_closed: AtomicU64,
    /// Received records that gave no plaintext, by [`DecryptFailure`].
    pub decrypt_failures: [AtomicU64; DecryptFailure::ALL.len()],
    /// Records decrypted and handed to the core.
    pub records_in: AtomicU64,
    /// Plaintexts sealed and sent.
    pub records_out: AtomicU64,
    /// Client: plaintexts dropped because `dtls_max_queued` were already waiting for the
    /// handshake (CoAP retransmits them).
    pub queue_dropped: AtomicU64,
    /// Client: re-handshakes started (fatal alert, or `dtls_rehandshake_silence_ms` of silence).
    pub rehandshakes: AtomicU64,
}

impl DtlsStats {
    /// Count a failed handshake.
    pub fn handshake_failed(&self, reason: HandshakeFailure) {
        self.handshakes_failed[reason as usize].increment(1);
    }

    /// Count a received record that gave no plaintext.
    pub fn decrypt_failed(&self, reason: DecryptFailure) {
        self.decrypt_failures[reason as usize].increment(1);
    }

    /// Read a counter of [`DtlsStats::handshakes_failed`].
    pub fn handshakes_failed(&self, reason: HandshakeFailure) -> u64 {
        self.handshakes_failed[reason as usize].load(Ordering::Relaxed)
    }

    /// Read a counter of [`DtlsStats::decrypt_failures`].
    pub fn decrypt_failures(&self, reason: DecryptFailure) -> u64 {
        self.decrypt_failures[reason as usize].load(Ordering::Relaxed)
    }

    /// Move a gauge up by one.
    pub fn up(gauge: &AtomicU64) {
        gauge.fetch_add(1, Ordering::Relaxed);
    }

    /// Move a gauge down by one (never below zero).
    pub fn down(gauge: &AtomicU64) {
        let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_index_and_gauges_stay_at_zero() {
        let s = DtlsStats::default();
        for (i, r) in HandshakeFailure::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, r) in DecryptFailure::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        s.handshake_failed(HandshakeFailure::Timeout);
        s.decrypt_failed(DecryptFailure::Replay);
        assert_eq!(s.handshakes_failed(HandshakeFailure::Timeout), 1);
        assert_eq!(s.decrypt_failures(DecryptFailure::Replay), 1);
        DtlsStats::up(&s.sessions);
        DtlsStats::down(&s.sessions);
        DtlsStats::down(&s.sessions);
        assert_eq!(s.sessions.load(Ordering::Relaxed), 0);
    }
}
