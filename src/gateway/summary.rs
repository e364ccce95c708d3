//! The gateway's activity summary for its log (issue 10 §4): one short line per
//! `gateway.summary_interval_s` with what happened since the previous line (device requests,
//! final answers, failures, pending requests, mean upstream round trip), and a totals line at
//! exit. Read from the shards' shared counters; no clock (the caller paces it).

use super::GatewayStats;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The counters a summary line reports, summed over the shards.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Activity {
    /// Device requests accepted.
    pub requests: u64,
    /// Final answers sent to devices (success or failure).
    pub answers: u64,
    /// Final answers that were a failure (a `FAILURE` body or an error code).
    pub failures: u64,
    /// Device requests pending now (queued or awaiting the server): a gauge.
    pub pending: u64,
    /// Upstream answers timed (bulks and singles).
    pub rtt_count: u64,
    /// Sum of those round trips, in seconds.
    pub rtt_sum: f64,
}

impl Activity {
    /// Read the shards' counters now.
    pub fn read(shards: &[Arc<GatewayStats>]) -> Activity {
        shards.iter().fold(Activity::default(), |a, s| {
            let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            let success = load(&s.answers_success);
            let failure = load(&s.answers_failure);
            let rtt = s.upstream_rtt.snapshot();
            Activity {
                requests: a.requests + load(&s.requests),
                answers: a.answers + success + failure,
                failures: a.failures + failure,
                pending: a.pending + load(&s.pending_entries),
                rtt_count: a.rtt_count + rtt.count(),
                rtt_sum: a.rtt_sum + rtt.sum_exported(),
            }
        })
    }

    /// What happened between `earlier` and `self` (`pending` stays the current gauge).
    pub fn since(&self, earlier: &Activity) -> Activity {
        Activity {
            requests: self.requests.saturating_sub(earlier.requests),
            answers: self.answers.saturating_sub(earlier.answers),
            failures: self.failures.saturating_sub(earlier.failures),
            pending: self.pending,
            rtt_count: self.rtt_count.saturating_sub(earlier.rtt_count),
            rtt_sum: (self.rtt_sum - earlier.rtt_sum).max(0.0),
        }
    }

    /// Mean upstream round trip in milliseconds, when any answer was timed.
    pub fn mean_rtt_ms(&self) -> Option<f64> {
        (self.rtt_count > 0).then(|| self.rtt_sum * 1000.0 / self.rtt_count as f64)
    }

    /// The text of a summary line.
    pub fn line(&self) -> String {
        let rtt = match self.mean_rtt_ms() {
            Some(ms) => format!("{ms:.1} ms"),
            None => "-".to_string(),
        };
        format!(
            "requests {} answers {} failures {} pending {} upstream_rtt {rtt}",
            self.requests, self.answers, self.failures, self.pending
        )
    }
}

/// Paces nothing itself: remembers the last reading so each line reports an interval.
#[derive(Debug, Default)]
pub struct Summary {
    last: Activity,
}

impl Summary {
    /// Log the activity since the previous line (info), unless there was none and nothing is
    /// pending (an idle gateway stays quiet). Returns what was reported.
    pub fn log_interval(&mut self, shards: &[Arc<GatewayStats>]) -> Option<Activity> {
        let now = Activity::read(shards);
        let delta = now.since(&self.last);
        self.last = now;
        let idle = delta.requests == 0 && delta.answers == 0 && delta.pending == 0;
        if idle {
            return None;
        }
        tracing::info!("gateway activity: {}", delta.line());
        Some(delta)
    }

    /// Log the totals since start (info), at exit.
    pub fn log_totals(shards: &[Arc<GatewayStats>]) -> Activity {
        let total = Activity::read(shards);
        tracing::info!("gateway totals: {}", total.line());
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_report_the_interval_and_stay_quiet_when_idle() {
        let shards = [
            Arc::new(GatewayStats::default()),
            Arc::new(GatewayStats::default()),
        ];
        let mut summary = Summary::default();
        assert_eq!(summary.log_interval(&shards), None, "idle: no line");
        shards[0].requests.fetch_add(3, Ordering::Relaxed);
        shards[1].requests.fetch_add(2, Ordering::Relaxed);
        shards[0].answers_success.fetch_add(3, Ordering::Relaxed);
        shards[1].answers_failure.fetch_add(1, Ordering::Relaxed);
        shards[1].pending_entries.store(1, Ordering::Relaxed);
        shards[0]
            .upstream_rtt
            .observe_duration(Duration::from_millis(10));
        shards[1]
            .upstream_rtt
            .observe_duration(Duration::from_millis(30));
        let a = summary.log_interval(&shards).expect("a line");
        assert_eq!((a.requests, a.answers, a.failures, a.pending), (5, 4, 1, 1));
        assert_eq!(
            a.line(),
            "requests 5 answers 4 failures 1 pending 1 upstream_rtt 20.0 ms"
        );
        // The next line counts only what happened since.
        shards[0].requests.fetch_add(1, Ordering::Relaxed);
        shards[1].pending_entries.store(0, Ordering::Relaxed);
        let b = summary.log_interval(&shards).expect("a line");
        assert_eq!(
            b.line(),
            "requests 1 answers 0 failures 0 pending 0 upstream_rtt -"
        );
        assert_eq!(summary.log_interval(&shards), None);
        let total = Summary::log_totals(&shards);
        assert_eq!((total.requests, total.answers), (6, 4));
    }
}
