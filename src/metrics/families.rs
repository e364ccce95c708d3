//! Helpers shared by the sources rendered from a stats struct of relaxed atomics
//! ([`ServerMetrics`](super::ServerMetrics), [`ConfigServerMetrics`](super::ConfigServerMetrics),
//! [`RelayMetrics`](super::RelayMetrics)).

use super::exposition::{Exposition, MetricType};
use crate::coap::block::{BlockStats, BLOCK_EVENTS};
use std::sync::atomic::{AtomicU64, Ordering};

/// Declares a [`Source`](super::Source)'s struct: it holds the shared stats it renders, given
/// to `new`.
macro_rules! stats_source {
    ($(#[$meta:meta])* $name:ident($stats:ty)) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            stats: std::sync::Arc<$stats>,
        }

        impl $name {
            /// Metrics rendered from the stats given.
            pub fn new(stats: std::sync::Arc<$stats>) -> $name {
                $name { stats }
            }
        }
    };
}
pub(super) use stats_source;

/// An unlabelled family: its name, its help and the atomic it reads.
pub(super) type Scalar<'a> = (&'static str, &'a str, &'a AtomicU64);

/// The value of a stats counter or gauge.
pub(super) fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// One family with a single unlabelled sample.
pub(super) fn scalar(
    page: &mut Exposition,
    name: &'static str,
    metric_type: MetricType,
    help: &str,
    value: &AtomicU64,
) {
    page.family(name, metric_type, help);
    page.sample(name, &[], load(value));
}

/// Unlabelled families of one type, in order.
pub(super) fn scalars(page: &mut Exposition, metric_type: MetricType, families: &[Scalar<'_>]) {
    for &(name, help, value) in families {
        scalar(page, name, metric_type, help, value);
    }
}

/// One family with a sample per value of one label.
pub(super) fn labelled<'a>(
    page: &mut Exposition,
    name: &'static str,
    metric_type: MetricType,
    help: &str,
    label: &'static str,
    samples: impl IntoIterator<Item = (&'a str, u64)>,
) {
    page.family(name, metric_type, help);
    for (value, sample) in samples {
        page.sample(name, &[(label, value)], sample);
    }
}

/// The `<prefix>_datagrams_sent_total` counter family, by result (ok, error).
pub(super) fn datagrams_sent(
    page: &mut Exposition,
    name: &'static str,
    ok: &AtomicU64,
    error: &AtomicU64,
) {
    labelled(
        page,
        name,
        MetricType::Counter,
        "Datagrams sent, by result (ok, error).",
        "result",
        [("ok", load(ok)), ("error", load(error))],
    );
}

/// The `<prefix>_blockwise_total` counter family of one core's [`BlockStats`], by event (RFC
/// 7959; docs/PROTOCOL.md §4).
pub(super) fn blockwise(page: &mut Exposition, name: &'static str, stats: &BlockStats) {
    labelled(
        page,
        name,
        MetricType::Counter,
        "Block-wise transfer (RFC 7959) events: 2.31 continue, complete (Block1 body served), \
         incomplete (4.08), too_large (4.13 + Size1), busy (5.03: block_max_transfers or \
         block_max_total_bytes), malformed (4.00), block2_sent, block2_evicted (a cached \
         answer dropped for room), expired (block_lifetime_ms), block1_sent.",
        "event",
        BLOCK_EVENTS
            .iter()
            .copied()
            .zip(stats.counters().into_iter().map(load)),
    );
}
