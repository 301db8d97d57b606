//! A per-key state table for aggregates.

use flicker_batch::Schema;
use hashbrown::HashTable;
use rustc_hash::FxHasher;
use std::hash::Hasher;

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

#[inline(always)]
fn hash(key: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(key);
    hasher.finish()
}

/// Whether `a` and `b` hold the same bytes: keys are short, and comparing them a word at a time
/// here beats calling `memcmp` (a byte loop in WebAssembly).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let half = |bytes: &[u8], at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    match n {
        // Two words that overlap cover 8 to 16 bytes.
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

/// The shard of a key's hash. Hashbrown places entries by the hash's low bits and tags them with
/// its top seven (of the 32 a wasm32 FxHash has), so the shard comes from a multiplicative mix of
/// the whole hash, which leaves the bits within a shard as spread as they were.
#[inline]
fn shard_of(hash: u64) -> usize {
    SHARD_OF_BYTE[((hash as u32).wrapping_mul(0x9E37_79B9) >> 24) as usize] as usize
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
                let table = absent.into_table();
                Ok(&mut table.insert_unique(hash, (key.into(), state), |(k, _)| self::hash(k)).into_mut().1)
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
