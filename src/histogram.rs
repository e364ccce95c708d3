//! A lock-free fixed-bucket histogram for Prometheus classic histograms (README "Metrics"): one
//! atomic counter per bucket and an atomic sum, recorded with relaxed `fetch_add`s by a core's
//! shard thread and read at scrape time by [`crate::metrics`]. The cores' stats hold them; the
//! cores never import from `metrics/`.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The bucket layout of a histogram type: upper bounds in a base unit, and how many base units
/// make one exported unit.
pub trait Buckets {
    /// Upper bounds (inclusive, `le`), strictly increasing, in base units; `+Inf` is implicit.
    const UPPER_BOUNDS: &'static [u64];
    /// Base units per exported unit (exported value = base / `SCALE`).
    const SCALE: f64;
}

/// Durations: base unit the microsecond, exported in seconds, 100 µs to 120 s.
///
/// Microseconds keep the `u64` sum from wrapping for years at 10^5 observations of one second
/// per second (nanoseconds would wrap in about two days).
#[derive(Debug)]
pub struct Seconds;

impl Buckets for Seconds {
    const UPPER_BOUNDS: &'static [u64] = &[
        100,
        250,
        500,
        1_000,
        2_500,
        5_000,
        10_000,
        25_000,
        50_000,
        100_000,
        250_000,
        500_000,
        1_000_000,
        2_500_000,
        5_000_000,
        10_000_000,
        30_000_000,
        60_000_000,
        120_000_000,
    ];
    const SCALE: f64 = 1e6;
}

/// Entries per batch: 1 to 1000 (the server's default bulk bound).
#[derive(Debug)]
pub struct Entries;

impl Buckets for Entries {
    const UPPER_BOUNDS: &'static [u64] = &[1, 2, 5, 10, 20, 35, 50, 75, 100, 200, 500, 1000];
    const SCALE: f64 = 1.0;
}

/// A histogram of durations exported in seconds.
pub type SecondsHistogram = Histogram<Seconds>;
/// A histogram of entry counts.
pub type EntriesHistogram = Histogram<Entries>;

/// Fixed-bucket histogram: `UPPER_BOUNDS.len() + 1` atomic bucket counters (the last is `+Inf`)
/// and an atomic sum. Observing is two relaxed `fetch_add`s, never a lock or an allocation.
///
/// The count is not stored separately: a snapshot derives it from the buckets, so `_count`
/// always equals the `+Inf` bucket as Prometheus requires.
#[derive(Debug)]
pub struct Histogram<B: Buckets> {
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    _layout: PhantomData<B>,
}

impl<B: Buckets> Default for Histogram<B> {
    fn default() -> Self {
        Histogram {
            buckets: (0..=B::UPPER_BOUNDS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum: AtomicU64::new(0),
            _layout: PhantomData,
        }
    }
}

impl<B: Buckets> Histogram<B> {
    /// Record one value in base units.
    pub fn observe(&self, value: u64) {
        let index = B::UPPER_BOUNDS.partition_point(|&bound| bound < value);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// A consistent-enough copy for rendering: cumulative bucket counts, sum and count.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0u64;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                running = running.wrapping_add(b.load(Ordering::Relaxed));
                running
            })
            .collect();
        HistogramSnapshot {
            upper_bounds: B::UPPER_BOUNDS,
            scale: B::SCALE,
            cumulative,
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

impl Histogram<Seconds> {
    /// Record a duration (saturating at `u64::MAX` microseconds).
    pub fn observe_duration(&self, duration: Duration) {
        self.observe(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX));
    }
}

/// A histogram read at one moment, in the shape Prometheus wants.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Upper bounds in base units (without `+Inf`).
    pub upper_bounds: &'static [u64],
    /// Base units per exported unit.
    pub scale: f64,
    /// Cumulative counts: one per upper bound, then `+Inf` (the total count).
    pub cumulative: Vec<u64>,
    /// Sum of observed values in base units.
    pub sum: u64,
}

impl HistogramSnapshot {
    /// Number of observations (the `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// The sum in exported units.
    pub fn sum_exported(&self) -> f64 {
        self.sum as f64 / self.scale
    }

    /// `(le, cumulative count)` pairs in exported units, ending with `(+Inf, count)`.
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.upper_bounds
            .iter()
            .map(|&b| b as f64 / self.scale)
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.cumulative.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_whose_bound_is_not_below_them() {
        let h = EntriesHistogram::default();
        for v in [0, 1, 2, 3, 100, 101, 1000, 1001, 50_000] {
            h.observe(v);
        }
        let s = h.snapshot();
        let by_le: Vec<(f64, u64)> = s.buckets().collect();
        // le=1: {0, 1}; le=2: +{2}; le=5: +{3}; le=100: +{100}; le=200: +{101};
        // le=1000: +{1000}; +Inf: +{1001, 50000}.
        assert_eq!(by_le[0], (1.0, 2));
        assert_eq!(by_le[1], (2.0, 3));
        assert_eq!(by_le[2], (5.0, 4));
        assert_eq!(by_le[8], (100.0, 5));
        assert_eq!(by_le[9], (200.0, 6));
        assert_eq!(by_le[11], (1000.0, 7));
        assert_eq!(by_le[12].1, 9);
        assert!(by_le[12].0.is_infinite());
        assert_eq!(s.count(), 9);
        assert_eq!(s.sum, 1 + 2 + 3 + 100 + 101 + 1000 + 1001 + 50_000);
    }

    #[test]
    fn cumulative_counts_never_decrease_and_end_at_the_count() {
        let h = SecondsHistogram::default();
        for ms in [0u64, 3, 7, 40, 40, 900, 1_500, 200_000] {
            h.observe_duration(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative.len(), Seconds::UPPER_BOUNDS.len() + 1);
        assert!(s.cumulative.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(s.count(), 8);
        // 200 s is beyond the last bound (120 s): only in +Inf.
        assert_eq!(s.cumulative[s.cumulative.len() - 2], 7);
    }

    #[test]
    fn durations_are_exported_in_seconds() {
        let h = SecondsHistogram::default();
        h.observe_duration(Duration::from_millis(250));
        h.observe_duration(Duration::from_micros(1_750));
        let s = h.snapshot();
        assert!((s.sum_exported() - 0.25175).abs() < 1e-12);
        let le: Vec<f64> = s.buckets().map(|(le, _)| le).collect();
        assert_eq!(le[0], 0.0001);
        assert_eq!(le[12], 1.0);
        // 1.75 ms is in le=0.0025 but not le=0.001; 250 ms exactly is in le=0.25.
        let count_at = |bound: f64| s.buckets().find(|(le, _)| *le == bound).unwrap().1;
        assert_eq!(count_at(0.001), 0);
        assert_eq!(count_at(0.0025), 1);
        assert_eq!(count_at(0.1), 1);
        assert_eq!(count_at(0.25), 2);
    }

    #[test]
    fn concurrent_observers_lose_nothing() {
        let h = std::sync::Arc::new(EntriesHistogram::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        h.observe((i + t) % 1500);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 40_000);
        let expected: u64 = (0..4u64)
            .map(|t| (0..10_000u64).map(|i| (i + t) % 1500).sum::<u64>())
            .sum();
        assert_eq!(s.sum, expected);
    }

    #[test]
    fn bounds_are_strictly_increasing() {
        for bounds in [Seconds::UPPER_BOUNDS, Entries::UPPER_BOUNDS] {
            assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
