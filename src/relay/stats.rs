//! The relay's counters (README "Metrics", `msgin5g_relay_*`): plain relaxed atomics shared with
//! the metrics endpoint, one slot per [`Discard`] reason and per [`Bound`].

use metrics::CounterFn;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a datagram was not relayed (label `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// A message format error (RFC 7252 §3): a header error dropped; a bad option chain, reserved
    /// code class or Empty NON not relayed (a CON one rejected with a RST by the relay).
    FormatError,
    /// The device is not on `relay.allow_list`.
    NotAllowed,
    /// A datagram on a link's endpoint from an address that is not the upstream.
    ForeignSource,
    /// Server traffic for a UE that is no longer linked (24.538 6.2.2.1, 6.4.2.4.1).
    Unlinked,
    /// A server request whose Uri-Host names another UE (24.538 6.4.2.4.1).
    WrongRecipient,
    /// A bound was hit (see [`Bound`]).
    Bound,
    /// The link's uplink endpoint could not be opened.
    OpenFailed,
}

impl Discard {
    /// Every reason, in index order.
    pub const ALL: [Discard; 7] = [
        Discard::FormatError,
        Discard::NotAllowed,
        Discard::ForeignSource,
        Discard::Unlinked,
        Discard::WrongRecipient,
        Discard::Bound,
        Discard::OpenFailed,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Discard::FormatError => "format_error",
            Discard::NotAllowed => "not_allowed",
            Discard::ForeignSource => "foreign_source",
            Discard::Unlinked => "unlinked",
            Discard::WrongRecipient => "wrong_recipient",
            Discard::Bound => "bound",
            Discard::OpenFailed => "open_failed",
        }
    }
}

/// Which bound refused a datagram (label `bound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `relay.max_links`.
    Links,
    /// `relay.max_link_exchanges` (per link).
    LinkExchanges,
    /// `relay.max_exchanges` (all links).
    Exchanges,
    /// `relay.max_link_queue` (datagrams waiting for a link's endpoint to open).
    LinkQueue,
    /// `relay.overload_delay_ms`: a new device request waited longer than this before the relay
    /// handled it (overload control).
    QueueDelay,
    /// `relay.overload_answer_rate`: a request shed by queueing delay was dropped unanswered
    /// because the second's 5.03 answers were spent.
    AnswerRate,
}

impl Bound {
    /// Every bound, in index order.
    pub const ALL: [Bound; 6] = [
        Bound::Links,
        Bound::LinkExchanges,
        Bound::Exchanges,
        Bound::LinkQueue,
        Bound::QueueDelay,
        Bound::AnswerRate,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Links => "links",
            Bound::LinkExchanges => "link_exchanges",
            Bound::Exchanges => "exchanges",
            Bound::LinkQueue => "link_queue",
            Bound::QueueDelay => "queue_delay",
            Bound::AnswerRate => "answer_rate",
        }
    }
}

/// Counters and gauges of one relay (shared with its driver and metrics).
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Datagrams relayed from devices to the server (messaging and configuration).
    pub relayed_up: AtomicU64,
    /// Datagrams relayed from the server to devices.
    pub relayed_down: AtomicU64,
    /// coaps datagrams (DTLS records, opaque) passed from devices to the server's coaps address.
    pub coaps_relayed_up: AtomicU64,
    /// coaps datagrams passed from the server's coaps address to devices.
    pub coaps_relayed_down: AtomicU64,
    /// Datagrams not relayed, by [`Discard`] reason.
    pub discarded: [AtomicU64; Discard::ALL.len()],
    /// 4.04 answers sent to the server for an unknown recipient.
    pub not_found_sent: AtomicU64,
    /// 5.03 + Max-Age answers sent to devices (a bound was hit).
    pub overload_sent: AtomicU64,
    /// Bound hits, by [`Bound`].
    pub bound_hits: [AtomicU64; Bound::ALL.len()],
    /// Links now active (gauge).
    pub links: AtomicU64,
    /// Links created (a device's first datagram, or one coming back within the grace time).
    pub links_created: AtomicU64,
    /// Links ended by the idle timeout.
    pub links_expired: AtomicU64,
    /// Links ended by the server's 2.04 to the UE's DEREG.
    pub links_deregistered: AtomicU64,
    /// Uplink endpoints now open (gauge; active links plus recently unlinked ones).
    pub endpoints: AtomicU64,
    /// Device requests awaiting their answer (gauge).
    pub exchanges: AtomicU64,
    /// Datagrams received by the driver.
    pub datagrams_received: AtomicU64,
    /// Datagrams sent by the driver.
    pub datagrams_sent: AtomicU64,
    /// Sends that failed.
    pub send_errors: AtomicU64,
    /// Queueing delay of received datagrams (kernel arrival to the relay handling them).
    pub queue_delay: crate::histogram::SecondsHistogram,
    /// Links loaded from `relay.data_dir` at start (their endpoints re-opened on the same ports).
    pub links_restored: AtomicU64,
    /// Restored links dropped because their old port could not be bound again.
    pub links_restore_failed: AtomicU64,
    /// Write transactions of changed links committed to `relay.data_dir`.
    pub persist_commits: AtomicU64,
    /// Write transactions that failed (logged; the changed links are written again next turn).
    pub persist_failures: AtomicU64,
}

impl RelayStats {
    /// Count a discarded datagram.
    pub fn discard(&self, reason: Discard) {
        self.discarded[reason as usize].increment(1);
    }

    /// Count a bound hit (and the discard it causes).
    pub fn bound(&self, bound: Bound) {
        self.bound_hits[bound as usize].increment(1);
        self.discard(Discard::Bound);
    }

    /// Read a counter of [`RelayStats::discarded`].
    pub fn discarded(&self, reason: Discard) -> u64 {
        self.discarded[reason as usize].load(Ordering::Relaxed)
    }

    /// Read a counter of [`RelayStats::bound_hits`].
    pub fn bound_hits(&self, bound: Bound) -> u64 {
        self.bound_hits[bound as usize].load(Ordering::Relaxed)
    }
}
