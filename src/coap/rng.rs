//! The random source of Tokens, Registration IDs, registration secrets, initial Message IDs
//! and back-off jitter: ChaCha12 (RFC 7252 §5.3.1: Tokens hard to guess; RFC 7539 cipher).
//! Sans-IO cores take a seed ([`Rng::new`], simulations replay exactly) or a generator seeded
//! from the operating system's random source (`getrandom(2)`: [`Rng::from_os`], [`os_seed`];
//! the drivers). Tests that need reproducible noise use `testkit::TestRng` instead.
//!
//! Cost: one `next_u64` reads 8 bytes from a 256-byte ChaCha block buffer (one block function
//! per 32 draws), a few nanoseconds against the microseconds a request costs in parsing; no
//! bench was run for it (shared 2-core machine), the draw count per request is 1–2.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

/// A cryptographically secure generator (ChaCha12, 256-bit state).
#[derive(Debug, Clone)]
pub struct Rng {
    inner: ChaCha12Rng,
}

impl Rng {
    /// A deterministic generator from a 64-bit seed (tests and simulations).
    pub fn new(seed: u64) -> Rng {
        Rng {
            inner: ChaCha12Rng::seed_from_u64(seed),
        }
    }
    /// A generator with a full 256-bit seed from the operating system (production drivers).
    pub fn from_os() -> Rng {
        let mut seed = [0u8; 32];
        fill_from_os(&mut seed);
        Rng {
            inner: ChaCha12Rng::from_seed(seed),
        }
    }
    /// A generator seeded from this one (one per shard, independent streams).
    pub fn fork(&mut self) -> Rng {
        let mut seed = [0u8; 32];
        self.inner.fill_bytes(&mut seed);
        Rng {
            inner: ChaCha12Rng::from_seed(seed),
        }
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    /// Next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }
    /// Next 128 random bits (secrets).
    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
    /// Uniform f64 in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A 64-bit seed from the operating system's random source, different in every call and
/// process (for cores that take a `u64` seed).
pub fn os_seed() -> u64 {
    let mut seed = [0u8; 8];
    fill_from_os(&mut seed);
    u64::from_le_bytes(seed)
}

/// Fill `bytes` from `getrandom(2)`. It fails only where the OS has no random source at all
/// (not Linux since 3.17): a gateway must not run with guessable Tokens, so that is fatal.
fn fill_from_os(bytes: &mut [u8]) {
    if let Err(error) = getrandom::fill(bytes) {
        panic!("the operating system's random source failed: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let (mut a, mut b, mut c) = (Rng::new(1), Rng::new(1), Rng::new(2));
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn os_seeded_generators_differ() {
        assert_ne!(Rng::from_os().next_u128(), Rng::from_os().next_u128());
        assert_ne!(os_seed(), os_seed());
    }

    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The inverse of `mix` (the multipliers' inverses modulo 2^64).
    fn unmix(mut z: u64) -> u64 {
        z ^= (z >> 31) ^ (z >> 62);
        z = z.wrapping_mul(0x3196_42B2_D24D_8EC3);
        z ^= (z >> 27) ^ (z >> 54);
        z = z.wrapping_mul(0x96DE_1B17_3F11_9089);
        z ^ (z >> 30) ^ (z >> 60)
    }

    /// What an observer of one Token predicts as the next under SplitMix64 (the former
    /// generator: its output was an invertible function of its state).
    fn predict(observed: u64) -> u64 {
        mix(unmix(observed).wrapping_add(GAMMA))
    }

    #[test]
    fn one_token_does_not_give_the_next() {
        // The attack works on the former generator...
        let mut state = 12_345u64;
        let mut splitmix = || {
            state = state.wrapping_add(GAMMA);
            mix(state)
        };
        let first = splitmix();
        assert_eq!(predict(first), splitmix());
        // ...and not on this one.
        let mut r = Rng::new(12_345);
        let mut prev = r.next_u64();
        for _ in 0..1000 {
            let next = r.next_u64();
            assert_ne!(predict(prev), next);
            prev = next;
        }
    }
}
