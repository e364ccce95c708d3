//! Refusing under overload (RFC 7252 §5.9.3.4, §5.10.5): a budget of 5.03 answers per second
//! and the Max-Age jitter every endpoint that sheds (gateway shard, relay) puts on them
//! (docs/ARCHITECTURE.md §8).

use std::time::Instant;

/// A token bucket of 5.03 answers: `rate` per second, holding at most one second's worth.
#[derive(Debug, Clone)]
pub struct AnswerBudget {
    rate: u32,
    tokens: f64,
    refilled: Option<Instant>,
}

impl AnswerBudget {
    /// A full bucket of `rate` answers per second (at least 1).
    pub fn new(rate: u32) -> AnswerBudget {
        let rate = rate.max(1);
        AnswerBudget {
            rate,
            tokens: f64::from(rate),
            refilled: None,
        }
    }

    /// Take one answer at `now`: false when the last second's `rate` were spent.
    pub fn take(&mut self, now: Instant) -> bool {
        let cap = f64::from(self.rate);
        if let Some(at) = self.refilled {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * cap).min(cap);
        }
        self.refilled = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// `max_age` seconds with ±50 % jitter (uniform over `[max_age - max_age/2, max_age +
/// max_age/2]`), from `draw`.
pub fn jittered(max_age: u32, draw: u32) -> u32 {
    let spread = max_age / 2;
    max_age - spread + draw % (2 * spread + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn max_age_jitter_spans_half_below_to_half_above_and_the_budget_holds_one_second() {
        let seen: std::collections::BTreeSet<u32> = (0..100).map(|d| jittered(5, d)).collect();
        assert_eq!(seen, (3..=7).collect());
        assert_eq!(jittered(0, 12345), 0);
        assert_eq!(jittered(1, 12345), 1);
        let t0 = Instant::now();
        let mut b = AnswerBudget::new(3);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        // A long idle time refills one second's worth, not more.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take(later)));
        assert!(!b.take(later));
    }
}
