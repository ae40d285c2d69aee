//! Deterministic ids (`cus_…`, `org_…`, `evt_…`): a function of the world's seed and a counter.
//!
//! Real services return random-looking ids; racehound's look the same but are never random
//! and never derived from a clock. Each service owns one [`IdGen`] whose stream name keeps its
//! ids apart from other services' ids built from the same seed.

/// Generates unique, deterministic, Stripe/Clerk-shaped ids.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdGen {
    base: u64,
    issued_count: u64,
}

/// Number of base-62 characters after the prefix (real Stripe ids use 14 or more).
pub const ID_SUFFIX_LEN: usize = 14;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl IdGen {
    /// A generator for `stream` (e.g. `"stripe"`) in the world built from `seed`.
    pub fn new(seed: u64, stream: &str) -> Self {
        let mut base = mix64(seed ^ 0x5241_4345_484F_554E); // "RACEHOUN"
        for byte in stream.bytes() {
            base = mix64(base ^ u64::from(byte));
        }
        Self {
            base,
            issued_count: 0,
        }
    }

    /// The next id with `prefix`, e.g. `next("cus")` → `cus_9fK2…`.
    ///
    /// Ids from one generator never repeat: the suffix is a bijective mix of a counter.
    pub fn next(&mut self, prefix: &str) -> String {
        let n = self.issued_count;
        self.issued_count += 1;
        let value = mix64(self.base.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let mut out = String::with_capacity(prefix.len() + 1 + ID_SUFFIX_LEN);
        out.push_str(prefix);
        out.push('_');
        // 62^11 > 2^64: eleven digits carry the whole value; pad with a prefix-derived digit run.
        let mut digits = [b'0'; ID_SUFFIX_LEN];
        let mut rest = value;
        for slot in digits.iter_mut().rev() {
            *slot = BASE62[(rest % 62) as usize];
            rest /= 62;
        }
        out.push_str(std::str::from_utf8(&digits).unwrap_or("00000000000000"));
        out
    }

    /// How many ids this generator has issued.
    pub fn issued_count(&self) -> u64 {
        self.issued_count
    }
}

/// SplitMix64's finalizer: a bijection on `u64` with good avalanche.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn same_seed_same_ids() {
        let mut a = IdGen::new(7, "stripe");
        let mut b = IdGen::new(7, "stripe");
        for _ in 0..100 {
            assert_eq!(a.next("cus"), b.next("cus"));
        }
    }

    #[test]
    fn ids_are_unique_and_shaped() {
        let mut ids = IdGen::new(1, "clerk");
        let mut seen = BTreeSet::new();
        for _ in 0..10_000 {
            let id = ids.next("org");
            assert!(id.starts_with("org_"));
            assert_eq!(id.len(), 4 + ID_SUFFIX_LEN);
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn streams_differ() {
        assert_ne!(
            IdGen::new(1, "stripe").next("x"),
            IdGen::new(1, "clerk").next("x")
        );
    }
}
