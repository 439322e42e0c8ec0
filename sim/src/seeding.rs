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

/// The RNG slot of an env or wrapper after `reset(seed)`: a fresh stream for `Some(seed)`,
/// the current stream for `None` (OS entropy the very first time, as Gymnasium does).
/// `tag` gives a wrapper its own sub-stream ([`derive_seed`]) so it never shares draws with
/// the env it wraps.
pub fn reseed<'a>(
    slot: &'a mut Option<EnvRng>,
    seed: Option<u64>,
    tag: Option<&str>,
) -> &'a mut EnvRng {
    let stream = |s: u64| rng_from_seed(tag.map_or(s, |t| derive_seed(s, t)));
    match seed {
        Some(s) => slot.insert(stream(s)),
        None => slot.get_or_insert_with(|| stream(entropy_seed())),
    }
}

/// The seed of sub-env `index` in a vector env seeded with `seed` (Gymnasium: `seed + i`).
pub fn sub_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_add(index as u64)
}

/// A seed for a named sub-stream of `seed` (e.g. the no-op count of a reset wrapper), so
/// that wrappers and the env they wrap never draw from the same stream. SplitMix64 of the
/// seed mixed with an FNV-1a hash of `tag`.
pub fn derive_seed(seed: u64, tag: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tag.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reseed_restarts_on_a_seed_and_continues_without_one() {
        use rand::Rng;
        let mut slot = None;
        let a: u64 = reseed(&mut slot, Some(3), None).random();
        let b: u64 = reseed(&mut slot, None, None).random();
        let again: u64 = reseed(&mut slot, Some(3), None).random();
        assert_eq!(a, again);
        assert_ne!(a, b);
        let tagged: u64 = reseed(&mut slot, Some(3), Some("noop")).random();
        let direct: u64 = rng_from_seed(derive_seed(3, "noop")).random();
        assert_eq!(tagged, direct);
    }

    #[test]
    fn derived_seeds_differ_by_tag_and_seed() {
        assert_ne!(derive_seed(1, "noop"), derive_seed(1, "sticky"));
        assert_ne!(derive_seed(1, "noop"), derive_seed(2, "noop"));
        assert_eq!(derive_seed(7, "noop"), derive_seed(7, "noop"));
    }
}
