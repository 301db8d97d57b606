//! The random numbers behind generated data: SplitMix64, integer arithmetic only, so a seed
//! gives the same numbers on every machine.

/// The increment of SplitMix64's state (2^64 divided by the golden ratio, odd).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A small, fast, deterministic pseudo-random generator (SplitMix64, as in Java's
/// `SplittableRandom`): a counter whose every step is scrambled by a bijective mixer. Any seed
/// is fine, 0 included.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Stream `index` of the data seeded with `seed`: streams of one seed start at unrelated
    /// points of the generator's cycle, so each can be drawn on its own (on its own thread)
    /// and the data stays the same however the streams are spread.
    pub fn stream(seed: u64, index: u64) -> Rng {
        // `mix` is a bijection, so for one seed every index gives another starting point.
        Rng(mix(mix(seed) ^ index))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix(self.0)
    }

    /// `len` random bytes: test data that a compressor cannot shrink.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// A number in `0..n` (`n > 0`), by the high half of a 128-bit product (Lemire): the bias
    /// is below `n / 2^64`, far too small to matter for test data.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// SplitMix64's finalizer (Stafford's "Mix13"): a bijection of `u64` whose every output bit
/// depends on every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_gives_the_reference_numbers() {
        // The first outputs of SplitMix64 seeded with 0 (Vigna's reference implementation).
        let mut rng = Rng::new(0);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(first, [0xe220_a839_7b1d_cdaf, 0x6e78_9e6a_a1b9_65f4, 0x06c4_5d18_8009_454f]);
    }

    #[test]
    fn streams_of_one_seed_differ_and_repeat() {
        let draw = |mut rng: Rng| (0..4).map(|_| rng.next_u64()).collect::<Vec<_>>();
        assert_eq!(draw(Rng::stream(7, 3)), draw(Rng::stream(7, 3)));
        assert_ne!(draw(Rng::stream(7, 3)), draw(Rng::stream(7, 4)));
        assert_ne!(draw(Rng::stream(7, 3)), draw(Rng::stream(8, 3)));
    }

    #[test]
    fn below_stays_below_and_reaches_every_value() {
        let mut rng = Rng::new(1);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[rng.below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|&count| (800..1200).contains(&count)), "{seen:?}");
        assert_eq!(rng.below(1), 0);
    }
}
