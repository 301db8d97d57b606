//! What the aggregates that hold whole input rows share (`std:distinct`, `std:top-k`): groups of
//! rows by key, given back in the order they were first seen, under the schema of their rows.

use flicker_guest::{BatchWriter, Error, GroupTable, Schema};

/// What the allocator adds to each allocation a group's state makes: its chunk header and the
/// rounding to 8 bytes, as [`GroupTable::state_bytes`] counts it for each key.
pub(crate) const ALLOCATION_OVERHEAD: usize = 8;

/// Per-key states, each with its place in the order the keys were first seen, and the schema of
/// the rows they hold.
pub(crate) struct RowGroups<S> {
    table: GroupTable<(u32, S)>,
    /// The place of the next new key. A key costs more than 16 bytes of wasm32's 4 GiB, so this
    /// does not wrap.
    next: u32,
    schema: Schema,
}

impl<S> Default for RowGroups<S> {
    fn default() -> Self {
        Self { table: GroupTable::default(), next: 0, schema: Schema::default() }
    }
}

impl<S> RowGroups<S> {
    /// Takes `schema` as that of the rows of a batch folded next (`empty` if it has none). While
    /// keys are held, a batch with rows must have their schema, as all rows go out in one batch;
    /// once they went out, the last schema stays for an empty output.
    pub(crate) fn adopt(&mut self, schema: &Schema, empty: bool) -> Result<(), Error> {
        if self.schema == *schema || (empty && !self.table.is_empty()) {
            Ok(())
        } else if self.table.is_empty() {
            self.schema.clone_from(schema);
            Ok(())
        } else {
            Err(Error::failed(format!(
                "a batch with key fields {:?} and value fields {:?} came after rows with key fields {:?} \
                 and value fields {:?}; every batch of the step's input must have the same fields",
                schema.key_fields, schema.value_fields, self.schema.key_fields, self.schema.value_fields
            )))
        }
    }

    /// The state of `key`, created with `init` if absent.
    #[inline]
    pub(crate) fn state(&mut self, key: &[u8], init: impl FnOnce() -> S) -> &mut S {
        let next = &mut self.next;
        let (_, state) = self.table.state(key, || {
            let place = *next;
            *next += 1;
            (place, init())
        });
        state
    }

    /// Number of keys held.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Bytes of all keys held.
    pub(crate) fn key_bytes(&self) -> usize {
        self.table.key_bytes()
    }

    /// The bytes of memory the table holds, without what the states own on the heap (see
    /// [`GroupTable::state_bytes`]).
    pub(crate) fn state_bytes(&self) -> u64 {
        self.table.state_bytes()
    }

    /// Empties the table into a batch of the rows' schema, with room for `row_bytes` of rows:
    /// `write` appends the rows of each key, in the order the keys were first seen.
    pub(crate) fn emit(
        &mut self,
        row_bytes: usize,
        mut write: impl FnMut(&mut BatchWriter, &[u8], S),
    ) -> Vec<u8> {
        let mut groups: Vec<_> = self.table.drain().collect();
        self.next = 0;
        groups.sort_unstable_by_key(|(_, (place, _))| *place);
        let mut out = BatchWriter::with_capacity(&self.schema, row_bytes);
        for (key, (_, state)) in groups {
            write(&mut out, &key, state);
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_guest::BatchReader;

    fn keys(batch: &[u8]) -> Vec<Vec<u8>> {
        BatchReader::new(batch).unwrap().rows().map(|row| row.unwrap().key.to_vec()).collect()
    }

    #[test]
    fn keys_come_out_in_the_order_they_were_first_seen() {
        let mut groups = RowGroups::default();
        groups.adopt(&Schema::keyed(["k"], ["n"]), false).unwrap();
        for key in [b"c", b"a", b"c", b"b", b"a"] {
            *groups.state(key, || 0) += 1;
        }
        assert_eq!((groups.len(), groups.key_bytes()), (3, 3));
        let batch = groups.emit(0, |out, key, count: i32| out.push_raw(key, &count.to_le_bytes()));
        assert_eq!(keys(&batch), [b"c", b"a", b"b"]);
        assert_eq!(BatchReader::new(&batch).unwrap().schema(), &Schema::keyed(["k"], ["n"]));
        assert_eq!(groups.state_bytes(), 0, "emitting empties the table");
        *groups.state(b"z", || 0) += 1;
        assert_eq!(keys(&groups.emit(0, |out, key, _| out.push_raw(key, &[]))), [b"z"]);
    }

    #[test]
    fn a_held_row_fixes_the_schema_of_batches_with_rows_until_it_goes_out() {
        let mut groups = RowGroups::default();
        groups.adopt(&Schema::values(["a"]), false).unwrap();
        groups.state(b"", || ());
        let error = groups.adopt(&Schema::values(["b"]), false).unwrap_err();
        assert!(matches!(&error, Error::Failed(message) if message.contains("[\"b\"]")), "{error:?}");
        groups.adopt(&Schema::values(["a"]), false).unwrap();
        // A batch without rows (an instance that saw none sends partials of no fields) fits.
        groups.adopt(&Schema::default(), true).unwrap();
        groups.emit(0, |_, _, ()| {});
        groups.adopt(&Schema::values(["b"]), true).unwrap();
        let empty = groups.emit(0, |_, _, ()| {});
        assert_eq!(BatchReader::new(&empty).unwrap().schema(), &Schema::values(["b"]));
    }
}
