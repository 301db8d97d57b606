//! A per-key state table for aggregates.

use flicker_batch::Schema;
use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

/// Per-key aggregate state, keyed by the rows' encoded key bytes.
///
/// Looking up a key that is already present does not allocate. Keys are hashed with FxHash:
/// a few multiplies per 8 bytes, the cheapest good-enough hash in 32-bit WebAssembly.
#[derive(Debug)]
pub struct GroupTable<S> {
    states: HashMap<Box<[u8]>, S, FxBuildHasher>,
    key_fields: Vec<String>,
}

impl<S> Default for GroupTable<S> {
    fn default() -> Self {
        Self { states: HashMap::with_hasher(FxBuildHasher), key_fields: Vec::new() }
    }
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
        self.states.entry_ref(key).or_insert_with(init)
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Takes every key and its state out of the table.
    pub fn drain(&mut self) -> impl Iterator<Item = (Box<[u8]>, S)> + '_ {
        self.states.drain()
    }
}
