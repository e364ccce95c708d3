//! Refusing under overload (RFC 7252 §5.9.3.4, §5.10.5): the early-refusal controller, a
//! budget of 5.03 answers per second and the Max-Age jitter every endpoint that sheds (gateway
//! shard, relay) puts on them (docs/ARCHITECTURE.md §8).

use std::time::{Duration, Instant};

/// How often [`EarlyRefusal`] recomputes its probability.
pub const UPDATE_INTERVAL: Duration = Duration::from_millis(50);

/// Proportional gain: refusal probability per second of standing queue above the target
/// (RFC 8033 §4.2 `beta`: 1.25 Hz; 12.5 % at 100 ms above the target).
const PROPORTIONAL: f64 = 1.25;
/// Integral gain: probability added per update and per second of standing queue above the
/// target (RFC 8033 §4.2 `alpha`: 0.125 Hz), so a lasting excess is refused at a lasting rate.
const INTEGRAL: f64 = 0.125;
/// Decay of the integral term per update while the standing queue is below the target (a
/// tenth within ~1.1 s).
const DECAY: f64 = 0.9;

/// Early refusal of new requests by their standing queueing delay (docs/ARCHITECTURE.md §8).
/// The signal is the smallest queueing delay of the datagrams read in each
/// [`UPDATE_INTERVAL`]: the queue that did not drain (CoDel's observation, RFC 8289 §3), blind
/// to the bursts of batched reads. The refusal probability is a proportional-integral function
/// of how far that standing queue is above the target (PIE's two terms, RFC 8033 §4.2, as a
/// PI controller: 1.25 × the excess in seconds plus the accumulated 0.125 × excess per update); a
/// new request is refused (5.03 + Max-Age) with that probability. So under a sustained excess
/// of arrivals the endpoint refuses about the excess, spread evenly over time: devices that
/// honour Max-Age (RFC 7252 §5.9.3.4) are held back a few at a time instead of all together
/// when a fixed delay bound is crossed, and a queue that stays below the target (a closed-loop
/// population at full speed) is never refused. `target` zero: off.
#[derive(Debug, Clone)]
pub struct EarlyRefusal {
    target: Duration,
    probability: f64,
    /// The integral term (0 ..= 1).
    integral: f64,
    /// Start of the current update interval and the smallest delay read in it.
    interval: Option<(Instant, Duration)>,
    /// Whether a refusal in the current interval could not be answered (the 5.03 budget was
    /// spent): the refusals are not taking effect, so the integral term holds (anti-windup).
    saturated: bool,
}

impl EarlyRefusal {
    /// A controller keeping the standing queueing delay near `target` (zero: off).
    pub fn new(target: Duration) -> EarlyRefusal {
        EarlyRefusal {
            target,
            probability: 0.0,
            integral: 0.0,
            interval: None,
            saturated: false,
        }
    }

    /// Fold in the queueing delay of one datagram read at `now`; true when this ended an
    /// update interval (the probability may have changed).
    pub fn observe(&mut self, now: Instant, queue_delay: Duration) -> bool {
        if self.target.is_zero() {
            return false;
        }
        let Some((start, least)) = self.interval else {
            self.interval = Some((now, queue_delay));
            return false;
        };
        if now.saturating_duration_since(start) < UPDATE_INTERVAL {
            self.interval = Some((start, least.min(queue_delay)));
            return false;
        }
        self.update(least);
        self.interval = Some((now, queue_delay));
        true
    }

    /// A refusal could not be answered (the 5.03 budget was spent).
    pub fn saturate(&mut self) {
        self.saturated = true;
    }

    /// One update with the standing queue `standing` of the interval that ended.
    fn update(&mut self, standing: Duration) {
        let excess = standing.as_secs_f64() - self.target.as_secs_f64();
        if excess < 0.0 {
            // Below the target the integral also decays (PIE's decay, RFC 8033 §4.2), so the
            // refusals stop within about a second of the overload ending.
            self.integral = (self.integral * DECAY + INTEGRAL * excess).max(0.0);
        } else if !self.saturated {
            self.integral = (self.integral + INTEGRAL * excess).min(1.0);
        }
        self.saturated = false;
        self.probability = (self.integral + PROPORTIONAL * excess).clamp(0.0, 1.0);
    }

    /// The current refusal probability (0 ..= 1).
    pub fn probability(&self) -> f64 {
        self.probability
    }

    /// Whether a new request is refused, given a uniform random `draw`.
    pub fn refuse(&self, draw: u32) -> bool {
        self.probability > 0.0 && f64::from(draw) < self.probability * 4_294_967_296.0
    }
}

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

    /// Feed `seconds` of reads at `rate` per second, each having waited `delay(t)`; returns
    /// the refusal probability seen at the end.
    fn drive(
        c: &mut EarlyRefusal,
        t0: Instant,
        from_ms: u64,
        seconds: u64,
        rate: u64,
        delay: impl Fn(u64) -> Duration,
    ) -> f64 {
        let step = 1_000_000 / rate;
        for i in 0..seconds * rate {
            let us = from_ms * 1000 + i * step;
            c.observe(t0 + Duration::from_micros(us), delay(us));
        }
        c.probability()
    }

    #[test]
    fn a_queue_held_below_the_target_is_never_refused() {
        let t0 = Instant::now();
        let mut c = EarlyRefusal::new(Duration::from_millis(30));
        let p = drive(&mut c, t0, 0, 20, 10_000, |us| {
            Duration::from_micros(10_000 + (us * 7919) % 10_000)
        });
        assert_eq!(p, 0.0);
        assert!(!c.refuse(0));
    }

    #[test]
    fn a_queue_growing_past_the_target_raises_the_probability_and_it_decays_once_short() {
        let t0 = Instant::now();
        let mut c = EarlyRefusal::new(Duration::from_millis(30));
        // The queue grows by 100 ms per second (arrivals 10 % above capacity) for 1 s.
        let p = drive(&mut c, t0, 0, 1, 10_000, |us| {
            Duration::from_micros(us / 10)
        });
        assert!(p > 0.01, "growing queue: {p}");
        assert!(c.refuse(0) && !c.refuse(u32::MAX));
        // Held at 130 ms: the probability keeps rising.
        let high = drive(&mut c, t0, 1000, 1, 10_000, |_| Duration::from_millis(130));
        assert!(high > p, "{high} > {p}");
        // Back to 5 ms: it decays to nothing within a few seconds.
        let low = drive(&mut c, t0, 2000, 5, 10_000, |_| Duration::from_millis(5));
        assert!(low < 0.001, "decayed: {low}");
    }

    #[test]
    fn while_refusals_cannot_be_answered_the_integral_holds() {
        let t0 = Instant::now();
        let mut free = EarlyRefusal::new(Duration::from_millis(20));
        let mut saturated = EarlyRefusal::new(Duration::from_millis(20));
        for i in 0..40u64 {
            let at = t0 + Duration::from_millis(50 * i);
            free.observe(at, Duration::from_millis(60));
            saturated.saturate();
            saturated.observe(at, Duration::from_millis(60));
        }
        // 40 ms above the target: the proportional term alone is 5 %.
        assert!((saturated.probability() - 0.05).abs() < 0.001);
        assert!(free.probability() > 0.2, "{}", free.probability());
    }

    #[test]
    fn off_with_a_zero_target() {
        let t0 = Instant::now();
        let mut c = EarlyRefusal::new(Duration::ZERO);
        assert_eq!(
            drive(&mut c, t0, 0, 2, 1_000, |_| Duration::from_secs(1)),
            0.0
        );
    }

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
