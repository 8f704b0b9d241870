//! A seeded pseudo-random generator: xoshiro256** seeded through splitmix64.
//!
//! Integer arithmetic only, so the sequence is the same on every platform.

pub use crate::core::rng::splitmix64;

/// xoshiro256** generator.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = splitmix64(&mut x);
        }
        Rng { s }
    }

    /// An independent generator for `seed` and a stream number (melody, animation, …).
    pub fn stream(seed: u64, stream: u64) -> Rng {
        let mut x = stream.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x5354_494D_554C_4921;
        Rng::new(seed ^ splitmix64(&mut x))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `[0, n)`; 0 when `n` is 0 (one draw is consumed either way).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A uniform float in `[-a, a)`.
    pub fn symmetric(&mut self, a: f64) -> f64 {
        (2.0 * self.unit() - 1.0) * a
    }
}
