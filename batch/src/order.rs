//! Ordering rows, and cutting them into ordered ranges: the pieces of a global sort.
//!
//! A global sort (`std:sort`, Spark's `sortByKey`) writes its output as parts that, read in
//! order, are the whole input sorted. No task sees all the rows, so the engine runs it in two
//! stages, like Spark: the first cuts the key space into ranges and sends each row to the task of
//! its range ([`range_partition`]); each task of the second sorts the rows it received
//! ([`sort_batch`], merging with [`merge_sorted`] what it spilled to disk as sorted runs).
//!
//! # The order
//!
//! A [`SortOrder`] is written as a spec, `count:desc,station`: the fields to sort by, most
//! significant first, each ascending unless followed by `:desc`. [`SortOrder::bind`] finds each
//! field in a batch's [`Schema`](crate::Schema), giving a [`BoundOrder`] that compares rows.
//!
//! Values compare by [`compare_values`], a total order even over a field whose rows hold values
//! of different types: nulls first (so last when descending, as in Spark), then numbers, then
//! booleans, then strings. Integers and floats compare by their exact value: `2^53 + 1` is above
//! the float `2^53`, which casting it to f64 would make it equal to; `-0.0` equals `0.0`, and
//! NaN is above every other number. Rows whose sort fields are equal are equal: ties keep their
//! input order rather than being broken by a hidden field (see [`BoundOrder`]).
//!
//! # Keys
//!
//! [`BoundOrder::sort_key`] copies a row's sort fields into a [`SortKey`]: bytes whose plain
//! bytewise order is the row order, descending fields and all (the encoding is described at
//! [`SortKey`]). A key needs no schema or order to be compared, so it can be sampled on one node
//! and compared on another, and sorting a batch compares keys with `memcmp` after encoding each
//! row's key once.
//!
//! # Why sample, and how the boundaries are chosen
//!
//! Ranges of equal width in the key space would be unbalanced for any skewed data, and the key
//! distribution is not known in advance, so the engine first reads a sample of the input's keys
//! (Spark reads about 20 per output partition, spread over the input splits), and
//! [`Boundaries::from_sample`] sorts the sample and takes as split points the keys at each
//! `1 / partitions` of it: the sample's quantiles. Partition `i` then holds the keys above split
//! `i − 1` and up to split `i`, so a key equal to a split always goes to the same partition and
//! all rows with equal keys land together. A key that fills several shares of the sample makes
//! a single split rather than a run of ranges that would be empty by construction; there may thus
//! be fewer partitions than asked for, and the sorting stage has [`Boundaries::partitions`]
//! tasks. Any sample works: an empty one puts everything in partition 0, and keys outside the
//! sample's range go to the first or last partition.
//!
//! # Example
//!
//! ```
//! use flicker_batch::{BatchReader, BatchWriter, Boundaries, Schema, SortOrder, ValueRef};
//! use flicker_batch::{merge_sorted, range_partition, sort_batch};
//!
//! let schema = Schema::keyed(["station"], ["count"]);
//! let mut rows = BatchWriter::new(&schema);
//! for (station, count) in [("b", 3), ("d", 1), ("a", 7), ("c", 3)] {
//!     rows.push_values([ValueRef::Str(station)], [ValueRef::I64(count)]);
//! }
//! let batch = rows.finish();
//! let order = "count:desc,station".parse::<SortOrder>()?.bind(&schema)?;
//!
//! // Sample the keys (here: all of them) and cut the rows into two ranges.
//! let sample = BatchReader::new(&batch)?.rows().map(|row| order.sort_key(&row?));
//! let boundaries = Boundaries::from_sample(sample.collect::<Result<_, _>>()?, 2);
//! let parts = range_partition(&batch, &order, &boundaries)?;
//!
//! // Each range sorted on its own; read in order, they are all the rows sorted.
//! let stations = |batch: &[u8]| -> Vec<String> {
//!     let rows = BatchReader::new(batch).unwrap().rows();
//!     rows.map(|row| row.unwrap().key_values().next().unwrap().unwrap().to_string()).collect()
//! };
//! let sorted: Vec<Vec<u8>> = parts.iter().map(|part| sort_batch(part, &order)).collect::<Result<_, _>>()?;
//! assert_eq!(stations(&sorted[0]), ["a", "b"]);
//! assert_eq!(stations(&sorted[1]), ["c", "d"]);
//!
//! // Sorted runs merge into one sorted sequence.
//! let merged = merge_sorted(sorted.iter().map(Vec::as_slice), &order)?;
//! let merged: Vec<&[u8]> = merged.map(|row| row.map(|row| row.framed)).collect::<Result<_, _>>()?;
//! assert_eq!(merged.concat(), BatchReader::new(&sort_batch(&batch, &order)?)?.row_bytes());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod boundaries;
mod merge;
mod sort;
mod sort_key;
mod sort_order;
#[cfg(test)]
mod testing;
mod value_order;

pub use boundaries::Boundaries;
pub use merge::{MergeSorted, merge_sorted};
pub use sort::{range_partition, sort_batch};
pub use sort_key::SortKey;
pub use sort_order::{BoundOrder, Direction, OrderError, SortField, SortOrder};
pub use value_order::compare_values;
