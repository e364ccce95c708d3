//! The one seeded generator of the tests' noise (fuzz inputs, mutated datagrams): xorshift64*
//! (Vigna 2016). Deterministic: a failing case replays from its seed. Not for Tokens or Message
//! IDs, which come from [`Rng`](crate::coap::rng::Rng).

/// A deterministic xorshift64* generator for tests, benches and simulations.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator from `seed` (0 is replaced by a fixed non-zero state: xorshift would stay 0).
    pub fn new(seed: u64) -> TestRng {
        TestRng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0; modulo bias is irrelevant for test noise).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// Apply 1 ..= `max_edits` random edits to `b` (fuzzing a decoder): each replaces a byte
    /// with one of `alphabet`, removes a byte, or inserts a random byte.
    pub fn mutate(&mut self, b: &mut Vec<u8>, alphabet: &[u8], max_edits: usize) {
        for _ in 0..1 + self.below(max_edits) {
            if b.is_empty() {
                break;
            }
            let i = self.below(b.len());
            match self.below(3) {
                0 => b[i] = alphabet[self.below(alphabet.len())],
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, self.next_u64() as u8),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_its_stream() {
        let (mut a, mut b) = (TestRng::new(7), TestRng::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(TestRng::new(0).next_u64(), 0);
        assert!((0..1000).all(|_| a.below(10) < 10));
    }
}
