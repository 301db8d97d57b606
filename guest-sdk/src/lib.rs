//! Write flicker operators in Rust.
//!
//! A flicker operator is a WebAssembly component exporting one operator kind of the WIT package
//! `flicker:operator` (`wit/operator.wit`): parse, map, aggregate, cogroup or format. This crate generates
//! the bindings once, hides the batch encoding, and gives you one trait and one export macro per
//! kind. Build your crate (`crate-type = ["cdylib"]`) with
//! `cargo build --target wasm32-wasip2 --release` and reference the `.wasm` from a job manifest.
//!
//! The smallest useful operator is a typed map:
//!
//! ```ignore
//! use flicker_guest::{Error, RowMap, export_row_map};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, Serialize)]
//! struct Reading { station: String, temperature: f64 }
//!
//! #[derive(Default)]
//! struct ToFahrenheit;
//!
//! impl RowMap for ToFahrenheit {
//!     type In = Reading;
//!     type Out = Reading;
//!     fn map(&mut self, r: Reading) -> Result<impl IntoIterator<Item = Reading>, Error> {
//!         Ok(Some(Reading { temperature: r.temperature * 9.0 / 5.0 + 32.0, ..r }))
//!     }
//! }
//!
//! export_row_map!(ToFahrenheit);
//! ```
//!
//! Typed traits: [`RowMap`], [`RowReduce`], [`RowAggregate`], [`RowCoGroup`] (rows as serde types or the dynamic
//! [`Row`]); a `Default` operator takes no config, others implement [`FromConfig`] and have the
//! config keys they never ask about rejected, with the key they most likely misspell.
//! Byte-level traits for the last bit of speed: [`Parse`], [`Map`], [`Aggregate`], [`CoGroup`],
//! [`Format`], working on framed batches through [`BatchReader`] and [`BatchWriter`].

mod adapter;
pub mod bindings;
mod config;
mod error;
mod group;
mod operator;
pub mod typed;

pub use config::Config;
pub use error::Error;
pub use flicker_batch::{
    BatchReader, BatchWriter, Field, FieldType, InPlace, RawRow, Row, RowInPlace, RowType, Rows, Schema,
    TypeMismatch, Value, ValueIter, ValueRef, check_row_type, encode_value, from_row, to_row_values,
};
pub use group::GroupTable;
pub use operator::{Aggregate, CoGroup, Format, Map, Parse, Parsed};
pub use typed::{FromConfig, RowAggregate, RowCoGroup, RowMap, RowReduce};

#[doc(hidden)]
pub use adapter::Resource as __Resource;
#[doc(hidden)]
pub use adapter::output_type as __output_type;
#[doc(hidden)]
pub use adapter::output_type::{Pairs as __Pairs, WitAnswer as __OutputType};

/// Exports a type implementing [`Parse`] as this component's operator.
#[macro_export]
macro_rules! export_parse {
    ($op:ty) => {
        $crate::__export_operator!(parse, Parser, export_parse_plugin, $op);
    };
}

/// Exports a type implementing [`Map`] as this component's operator.
#[macro_export]
macro_rules! export_map {
    ($op:ty) => {
        $crate::__export_operator!(map, Mapper, export_map_plugin, $op);
    };
}

/// Exports a type implementing [`Aggregate`] as this component's operator.
#[macro_export]
macro_rules! export_aggregate {
    ($op:ty) => {
        $crate::__export_operator!(aggregate, Aggregator, export_aggregate_plugin, $op);
    };
}

/// Exports a type implementing [`CoGroup`] as this component's operator.
#[macro_export]
macro_rules! export_cogroup {
    ($op:ty) => {
        $crate::__export_operator!(cogroup, Cogrouper, export_cogroup_plugin, $op);
    };
}

/// Exports a type implementing [`RowCoGroup`] as this component's co-group operator.
#[macro_export]
macro_rules! export_row_cogroup {
    ($op:ty) => {
        $crate::export_cogroup!($crate::typed::RowCoGroupOp<$op>);
    };
}

/// Exports a type implementing [`Format`] as this component's operator.
#[macro_export]
macro_rules! export_format {
    ($op:ty) => {
        $crate::__export_operator!(format, Formatter, export_format_plugin, $op);
    };
}

/// Exports a type implementing [`RowMap`] as this component's map operator; its output fields are
/// derived from its `Out` type when that is `Deserialize` too.
#[macro_export]
macro_rules! export_row_map {
    ($op:ty) => {
        $crate::__output_fields!(<$op as $crate::RowMap>::Out);
        $crate::export_map!($crate::typed::RowMapOp<$op, __FlickerOutputFields>);
    };
}

/// Exports a type implementing [`RowReduce`] as this component's aggregate operator.
#[macro_export]
macro_rules! export_row_reduce {
    ($op:ty) => {
        $crate::export_aggregate!($crate::typed::RowReduceOp<$op>);
    };
}

/// Exports a type implementing [`RowAggregate`] as this component's aggregate operator; its output
/// fields are derived from its `Out` type when that is `Deserialize` too.
#[macro_export]
macro_rules! export_row_aggregate {
    ($op:ty) => {
        $crate::__output_fields!(<$op as $crate::RowAggregate>::Out);
        $crate::export_aggregate!($crate::typed::RowAggregateOp<$op, __FlickerOutputFields>);
    };
}

/// Defines `__FlickerOutputFields`, the [`typed::OutputFields`] of the output type `$out`:
/// [`typed::Traced`]'s answer when `$out` is `Deserialize` too, else [`typed::Untraced`]'s, picked
/// by autoref specialization (see [`typed::pick`]), which works here because `$out` is concrete.
#[doc(hidden)]
#[macro_export]
macro_rules! __output_fields {
    ($out:ty) => {
        // Unused in a native build, which exports nothing.
        #[allow(dead_code)]
        struct __FlickerOutputFields;
        impl $crate::typed::OutputFields<$out> for __FlickerOutputFields {
            fn output_fields() -> ::std::option::Option<::std::vec::Vec<$crate::Field>> {
                use $crate::typed::pick::*;
                (&Probe::<$out>::default()).output_fields()
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_schema {
    (parse, $op:ty) => {
        impl $crate::bindings::parse::exports::flicker::operator::parse_schema::Guest for __FlickerOperator {
            fn output_type(config: $crate::__Pairs) -> $crate::__OutputType {
                $crate::__output_type::parse::<$op>(config)
            }
        }
    };
    (map, $op:ty) => {
        impl $crate::bindings::map::exports::flicker::operator::map_schema::Guest for __FlickerOperator {
            fn output_type(
                config: $crate::__Pairs,
                input: $crate::bindings::types::RowType,
            ) -> $crate::__OutputType {
                $crate::__output_type::map::<$op>(config, input)
            }
        }
    };
    (aggregate, $op:ty) => {
        impl $crate::bindings::aggregate::exports::flicker::operator::aggregate_schema::Guest
            for __FlickerOperator
        {
            fn output_type(
                config: $crate::__Pairs,
                input: $crate::bindings::types::RowType,
            ) -> $crate::__OutputType {
                $crate::__output_type::aggregate::<$op>(config, input)
            }
        }
    };
    (cogroup, $op:ty) => {
        impl $crate::bindings::cogroup::exports::flicker::operator::cogroup_schema::Guest
            for __FlickerOperator
        {
            fn output_type(
                config: $crate::__Pairs,
                inputs: ::std::vec::Vec<$crate::bindings::types::RowType>,
            ) -> $crate::__OutputType {
                $crate::__output_type::cogroup::<$op>(config, inputs)
            }
        }
    };
    (format, $op:ty) => {
        impl $crate::bindings::format::exports::flicker::operator::format_schema::Guest
            for __FlickerOperator
        {
            fn check_input(
                config: $crate::__Pairs,
                input: $crate::bindings::types::RowType,
            ) -> ::std::result::Result<(), $crate::bindings::types::TypeMismatch> {
                $crate::__output_type::format::<$op>(config, input)
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_operator {
    ($kind:ident, $resource:ident, $bindings_macro:ident, $op:ty) => {
        // Only a WebAssembly build exports the operator, so `cargo test` of an operator crate
        // links natively.
        #[cfg(target_arch = "wasm32")]
        struct __FlickerOperator;
        #[cfg(target_arch = "wasm32")]
        impl $crate::bindings::$kind::exports::flicker::operator::$kind::Guest for __FlickerOperator {
            type $resource = $crate::__Resource<$op>;
        }
        #[cfg(target_arch = "wasm32")]
        $crate::__export_schema!($kind, $op);
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::$kind::$bindings_macro!(__FlickerOperator with_types_in $crate::bindings::$kind);
    };
}
