//! Ordering rows by their fields, and cutting batches into ordered ranges, for a global sort.

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
