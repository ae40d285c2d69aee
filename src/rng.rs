//! A small seeded random number generator (SplitMix64) for choices racehound makes itself:
//! step timings drawn from ranges, random fault plans. Never seeded from the OS.

/// A deterministic generator: the same seed gives the same sequence on every machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator for `seed`, separated into independent `stream`s by name.
    pub fn new(seed: u64, stream: &str) -> Self {
        let mut state = crate::ids::mix64(seed ^ 0x9E37_79B9_7F4A_7C15);
        for byte in stream.bytes() {
            state = crate::ids::mix64(state ^ u64::from(byte));
        }
        Self { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        crate::ids::mix64(self.state)
    }

    /// A value in `[lo, hi]` (inclusive); `lo` when `hi <= lo`.
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo + 1;
        lo + self.next_u64() % span
    }

    /// True with probability `p` (clamped to [0, 1]).
    pub fn chance(&mut self, p: f64) -> bool {
        let p = p.clamp(0.0, 1.0);
        // 53 random bits as a fraction in [0, 1).
        let fraction = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        fraction < p
    }

    /// An index in `0..len` (0 when `len` is 0).
    pub fn index(&mut self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        (self.next_u64() % len as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SimRng::new(5, "faults");
        let mut b = SimRng::new(5, "faults");
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(
            SimRng::new(5, "faults").next_u64(),
            SimRng::new(5, "timing").next_u64()
        );
    }

    #[test]
    fn ranges_stay_in_bounds_and_chance_is_calibrated() {
        let mut rng = SimRng::new(1, "t");
        for _ in 0..1000 {
            let v = rng.range_inclusive(10, 20);
            assert!((10..=20).contains(&v));
        }
        let hits = (0..10_000).filter(|_| rng.chance(0.25)).count();
        assert!((2_200..2_800).contains(&hits), "{hits}");
        assert!(!rng.chance(0.0));
        assert!(rng.chance(1.0));
    }
}
