//! A per-key state table for aggregates.

use flicker_batch::Schema;
use hashbrown::HashTable;

/// Shards of a [`GroupTable`]: each grows on its own, so a resize allocates a fraction of the
/// table, not a table twice the size of all of it.
const SHARDS: usize = 16;

/// How many of the 256 values of a hash byte go to each shard: shares growing by 2^(1/16) from
/// one shard to the next, spanning a doubling. Shards of equal shares would fill evenly and all
/// resize in the same call; with these, their resizes spread over the table's growth.
const SHARD_SHARES: [usize; SHARDS] = [11, 12, 12, 13, 13, 14, 15, 15, 16, 17, 17, 18, 19, 20, 21, 23];

/// What the allocator adds to each key's bytes: its chunk header and the rounding to 8 bytes.
const KEY_ALLOCATION_OVERHEAD: usize = 8;

/// The shard of each value of a hash byte, by [`SHARD_SHARES`].
const SHARD_OF_BYTE: [u8; 256] = {
    let mut table = [0; 256];
    let (mut shard, mut at) = (0, 0);
    while shard < SHARDS {
        let mut taken = 0;
        while taken < SHARD_SHARES[shard] {
            table[at] = shard as u8;
            at += 1;
            taken += 1;
        }
        shard += 1;
    }
    assert!(at == 256, "the shares cover every byte value");
    table
};

/// Per-key aggregate state, keyed by the rows' encoded key bytes.
///
/// Looking up a key that is already present does not allocate. Keys are hashed with FxHash:
/// a few multiplies per 8 bytes, the cheapest good-enough hash in 32-bit WebAssembly.
///
/// Memory behaves the way the host's spilling expects (see `flicker_host::SPILL_FRACTION`): the
/// keys are spread over sixteen hash tables, so growing the table never needs much more memory
/// than it holds, and [`drain`](Self::drain) gives all of it back, so a table refilled after a
/// flush fits in the memory the previous fill used.
#[derive(Debug)]
pub struct GroupTable<S> {
    shards: [HashTable<(Box<[u8]>, S)>; SHARDS],
    len: usize,
    key_bytes: usize,
    key_fields: Vec<String>,
}

impl<S> Default for GroupTable<S> {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| HashTable::new()),
            len: 0,
            key_bytes: 0,
            key_fields: Vec::new(),
        }
    }
}

/// The multipliers of [`hash`]: odd, their bits spread (the golden ratio's and splitmix64's).
const HASH_MULTIPLIERS: [u64; 2] = [0x9E37_79B9_7F4A_7C15, 0xBF58_476D_1CE4_E5B9];

/// The hash of a key: its first and last eight bytes (overlapping in a key of 8 to 16 bytes,
/// four for a shorter key) and any words between them, then mixed so that every bit of the key
/// moves the low 32 bits (where hashbrown takes a 32-bit target's bucket and tag from) and the top
/// ones (a 64-bit target's tag). Two multiplies for a key of up to 16 bytes, where FxHash's byte
/// hashing took six on a 32-bit target, each of its 64-bit products split in halves there.
#[inline(always)]
fn hash(key: &[u8]) -> u64 {
    let [fold, mix] = HASH_MULTIPLIERS;
    let n = key.len();
    let (first, last) = match n {
        0 => (0, 0),
        1..=3 => (u64::from(key[0]) | u64::from(key[n / 2]) << 8 | u64::from(key[n - 1]) << 16, 0),
        4..=7 => (u64::from(half(key, 0)), u64::from(half(key, n - 4))),
        _ => (word(key, 0), word(key, n - 8)),
    };
    let mut h = (first ^ n as u64).wrapping_mul(fold);
    let mut at = 8;
    while at + 8 < n {
        h = (h ^ word(key, at)).wrapping_mul(fold);
        at += 8;
    }
    // A multiply moves a bit only upwards: the shifts bring the high bits down before and after
    // (by 29 first: by 32, keys that differ only in their high bytes crowded some buckets).
    h ^= last.rotate_left(32);
    h ^= h >> 29;
    h = h.wrapping_mul(mix);
    h ^ (h >> 32)
}

/// The eight bytes of `bytes` at `at`, as a number.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The four bytes of `bytes` at `at`, as a number.
#[inline(always)]
fn half(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Whether `a` and `b` hold the same bytes: keys are short, and comparing them a word at a time
/// here beats calling `memcmp` (a byte loop in WebAssembly).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        // Two words that overlap cover 8 to 16 bytes.
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

/// The shard of a key's hash. Hashbrown places entries by the hash's low bits and tags them with
/// the top seven of its low 32 (on a 32-bit target) or of all 64, so the shard comes from a
/// multiplicative mix of the low 32, which leaves the bits within a shard as spread as they were.
#[inline]
fn shard_of(hash: u64) -> usize {
    SHARD_OF_BYTE[(shard_mix(hash) >> 24) as usize] as usize
}

/// The multiplicative mix of a hash's low 32 bits whose top byte picks its shard.
#[inline(always)]
fn shard_mix(hash: u64) -> u32 {
    (hash as u32).wrapping_mul(0x9E37_79B9)
}

/// Adds `key`, which `shard` does not hold, with `state`. Out of line: a key is added once and
/// looked up for every row, and compiled into the lookup, the insertion's code (the allocation,
/// the table's growth) took registers from the row loop.
#[cold]
#[inline(never)]
fn insert_absent<'a, S>(
    shard: &'a mut HashTable<(Box<[u8]>, S)>,
    hash: u64,
    key: &[u8],
    state: S,
) -> &'a mut S {
    &mut shard.insert_unique(hash, (key.into(), state), |(k, _)| self::hash(k)).into_mut().1
}

impl<S> GroupTable<S> {
    /// Remembers the key field names of an input batch, to name the key columns of the output.
    pub fn observe(&mut self, schema: &Schema) {
        if self.key_fields != schema.key_fields {
            self.key_fields.clone_from(&schema.key_fields);
        }
    }

    /// The key field names seen last.
    pub fn key_fields(&self) -> &[String] {
        &self.key_fields
    }

    /// The state of `key`, created with `init` if absent.
    #[inline]
    pub fn state(&mut self, key: &[u8], init: impl FnOnce() -> S) -> &mut S {
        let Ok(state) = self.try_state(key, |_| Ok::<S, std::convert::Infallible>(init()));
        state
    }

    /// The state of `key`; if absent, `init` is given the key and either makes its state or
    /// refuses it (a key that fails a check made once per key, rather than once per row), and then
    /// the key is not added.
    #[inline(always)]
    pub fn try_state<E>(
        &mut self,
        key: &[u8],
        init: impl FnOnce(&[u8]) -> Result<S, E>,
    ) -> Result<&mut S, E> {
        let hash = hash(key);
        let shard = &mut self.shards[shard_of(hash)];
        // A lookup first, then an insertion only for a new key: `find_entry` compiles into the
        // caller with the key comparison inlined, where `entry` calls it through a `dyn FnMut`
        // (an indirect call per probe in WebAssembly) and checks the table's room first.
        match shard.find_entry(hash, |(k, _)| same_bytes(k, key)) {
            Ok(entry) => Ok(&mut entry.into_mut().1),
            Err(absent) => {
                let state = init(key)?;
                self.len += 1;
                self.key_bytes += key.len();
                Ok(insert_absent(absent.into_table(), hash, key, state))
            }
        }
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of all keys held: with [`len`](Self::len), what sizes an output batch exactly, so
    /// that building it never needs to grow (and so copy) it.
    pub fn key_bytes(&self) -> usize {
        self.key_bytes
    }

    /// The bytes of memory the table holds, as [`Aggregate::state_bytes`](crate::Aggregate::state_bytes)
    /// reports them: every key (with its allocation's overhead) and every slot of the hash tables
    /// (key, state and control byte). A state owning heap memory of its own (a `String`) counts
    /// only its inline size.
    pub fn state_bytes(&self) -> u64 {
        let slot = std::mem::size_of::<(Box<[u8]>, S)>() + 1;
        let slots: usize = self.shards.iter().map(HashTable::capacity).sum();
        (self.key_bytes + self.len * KEY_ALLOCATION_OVERHEAD + slots * slot) as u64
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes every key and its state out of the table, and frees the table's memory shard by shard
    /// as the iterator goes.
    pub fn drain(&mut self) -> impl Iterator<Item = (Box<[u8]>, S)> + '_ {
        self.len = 0;
        self.key_bytes = 0;
        self.shards.iter_mut().flat_map(|shard| std::mem::take(shard).into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_state_and_drain_empties_the_table() {
        let mut table = GroupTable::default();
        for round in 0..3 {
            for i in 0..10_000u32 {
                *table.state(&i.to_le_bytes(), || 0u32) += 1;
            }
            assert_eq!(table.len(), 10_000);
            assert_eq!(table.key_bytes(), 40_000);
            let slot = std::mem::size_of::<(Box<[u8]>, u32)>() as u64 + 1;
            assert!(table.state_bytes() > 40_000 + 10_000 * (8 + slot), "{}", table.state_bytes());
            assert!(table.state_bytes() < 40_000 + 10_000 * (8 + 3 * slot), "{}", table.state_bytes());
            *table.state(b"other", || 100) += 1;
            let mut drained: Vec<_> = table.drain().collect();
            assert!(table.is_empty(), "round {round}");
            assert_eq!(table.state_bytes(), 0, "draining frees the tables");
            drained.sort();
            assert_eq!(drained.len(), 10_001);
            assert!(drained.iter().filter(|(k, _)| k.len() == 4).all(|(_, n)| *n == 1));
            assert!(drained.iter().any(|(k, n)| &k[..] == b"other" && *n == 101));
        }
    }

    #[test]
    fn same_bytes_is_slice_equality() {
        let texts: Vec<Vec<u8>> = (0..40).map(|n| (0..n).map(|i| b'a' + (i % 26) as u8).collect()).collect();
        for a in &texts {
            for b in &texts {
                assert_eq!(same_bytes(a, b), a == b);
                for at in 0..b.len() {
                    let mut changed = b.clone();
                    changed[at] ^= 1;
                    assert_eq!(same_bytes(a, &changed), *a == changed, "{a:?} {changed:?}");
                }
            }
        }
    }

    #[test]
    fn a_refused_key_is_not_added() {
        let mut table = GroupTable::default();
        let init = |key: &[u8]| if key.is_ascii() { Ok(0u32) } else { Err(key.len()) };
        *table.try_state(b"ok", init).unwrap() += 1;
        assert_eq!(table.try_state(b"\xff\xfe", init), Err(2));
        *table.try_state(b"ok", |_| Err(0)).unwrap() += 1;
        assert_eq!((table.len(), table.key_bytes()), (1, 2));
        assert_eq!(table.drain().collect::<Vec<_>>(), vec![(b"ok".to_vec().into_boxed_slice(), 2)]);
    }

    /// Keys alike but for a few bytes (numbered names, integers in either byte order, short keys,
    /// one word in the middle of a long key, runs of one byte) spread over the buckets and tags
    /// hashbrown takes from the hash on a 32-bit target (bits 0-6 and 25-31) and a 64-bit one
    /// (bits 57-63), and over the shards: 4,096 keys put at most twice the 32 expected into any
    /// of 128 values (a random hash's fullest is ~50). With the shift by 32 before the last
    /// multiply, big-endian integers put 70 into one bucket.
    #[test]
    fn keys_alike_spread_over_buckets_tags_and_shards() {
        let encoded = |name: String| {
            let mut key = vec![3];
            key.extend_from_slice(&(name.len() as u32).to_le_bytes());
            key.extend_from_slice(name.as_bytes());
            key
        };
        let families: [(&str, Vec<Vec<u8>>); 7] = [
            ("encoded names", (0..4096).map(|i| encoded(format!("s{i:04}"))).collect()),
            ("station names", (0..4096).map(|i| format!("station {i}").into_bytes()).collect()),
            ("little-endian", (0..4096u64).map(|i| i.to_le_bytes().to_vec()).collect()),
            ("big-endian", (0..4096u64).map(|i| i.to_be_bytes().to_vec()).collect()),
            ("three bytes", (0..4096u32).map(|i| vec![i as u8, (i >> 8) as u8, 7]).collect()),
            (
                "a middle word",
                (0..4096u32).map(|i| [&[b'a'; 8][..], &i.to_le_bytes(), &[b'b'; 8]].concat()).collect(),
            ),
            ("runs", (1..=4096).map(|n| vec![b'x'; n]).collect()),
        ];
        type Projection = (&'static str, fn(u64) -> usize);
        let projections: [Projection; 4] = [
            ("bucket", |h| (h & 127) as usize),
            ("32-bit tag", |h| ((h >> 25) & 127) as usize),
            ("64-bit tag", |h| (h >> 57) as usize),
            ("shard", |h| (shard_mix(h) >> 25) as usize),
        ];
        for (family, keys) in &families {
            let hashes: Vec<u64> = keys.iter().map(|key| hash(key)).collect();
            let distinct: std::collections::HashSet<_> = hashes.iter().collect();
            assert_eq!(distinct.len(), keys.len(), "{family}: hashes collide");
            for (what, project) in projections {
                let mut counts = [0usize; 128];
                hashes.iter().for_each(|&h| counts[project(h)] += 1);
                let fullest = counts.iter().max().copied().unwrap_or(0);
                assert!(fullest <= 64, "{family}: {fullest} of 4096 keys share a {what}");
            }
        }
    }

    #[test]
    fn keys_spread_over_the_shards_by_their_shares() {
        let mut counts = [0usize; SHARDS];
        for i in 0..256_000u32 {
            counts[shard_of(hash(format!("station {i}").as_bytes()))] += 1;
        }
        for (shard, (&count, &share)) in counts.iter().zip(&SHARD_SHARES).enumerate() {
            let expected = share * 1000;
            assert!(
                count.abs_diff(expected) < expected / 10,
                "shard {shard}: {count} keys, {expected} expected"
            );
        }
    }
}
