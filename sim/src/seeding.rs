//! Seeding: one `u64` seed becomes one ChaCha stream per env.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The RNG every env uses. ChaCha8 is portable and fast; its output for a seed never
/// changes between platforms or releases of `rand_chacha` 0.9.
pub type EnvRng = ChaCha8Rng;

/// A fresh RNG for `seed`.
pub fn rng_from_seed(seed: u64) -> EnvRng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A seed from process entropy, used only when the first `reset` gets no seed
/// (Gymnasium does the same). Runs that must replay always pass a seed.
pub fn entropy_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// The seed of sub-env `index` in a vector env seeded with `seed` (Gymnasium: `seed + i`).
pub fn sub_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_add(index as u64)
}
