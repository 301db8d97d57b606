//! Ordering rows by their fields, for a global sort.

mod sort_key;
mod sort_order;
#[cfg(test)]
mod testing;
mod value_order;

pub use sort_key::SortKey;
pub use sort_order::{BoundOrder, Direction, OrderError, SortField, SortOrder};
pub use value_order::compare_values;
