//! splitmix64 (Steele, Lea & Flood 2014): the one seeding generator of the project. The auditory cortex's wiring
//! and noise seeds, seeded model initialisation, the stimulus generator's seeds and the GPU runtime's copy of the
//! cortex noise state all come from this function, so they agree wherever they run.

/// One step of splitmix64: advances `state` and returns a well-mixed 64-bit value.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// [`splitmix64`] as a generator object, with the few conversions initialisation and training need (host side).
#[cfg(feature = "std")]
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

#[cfg(feature = "std")]
impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        splitmix64(&mut self.0)
    }
    /// Uniform in [0, 1) with 24 bits.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [−a, a).
    pub fn uniform(&mut self, a: f32) -> f32 {
        (2.0 * self.next_f32() - 1.0) * a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_reference_values() {
        // First outputs for seed 1234567 from the reference implementation's documentation (Vigna, prng.di.unimi.it).
        let mut s = 1_234_567u64;
        assert_eq!(splitmix64(&mut s), 6_457_827_717_110_365_317);
        assert_eq!(splitmix64(&mut s), 3_203_168_211_198_807_973);
        assert_eq!(splitmix64(&mut s), 9_817_491_932_198_370_423);
    }
}
