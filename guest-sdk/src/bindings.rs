//! The WIT bindings, generated once here so operator crates never run bindgen themselves.
//!
//! One module per plugin world of `wit/operator.wit` (each exports its operator and the
//! operator's `*-schema` interface); the shared `types` interface is generated in [`parse`] and reused by the others.

#![allow(missing_docs, reason = "generated code")]

/// Bindings of the `parse-plugin` world.
pub mod parse {
    wit_bindgen::generate!({
        path: "../wit",
        world: "parse-plugin",
        pub_export_macro: true,
        export_macro_name: "export_parse_plugin",
        default_bindings_module: "flicker_guest::bindings::parse",
    });
}

/// Bindings of the `map-plugin` world.
pub mod map {
    wit_bindgen::generate!({
        path: "../wit",
        world: "map-plugin",
        pub_export_macro: true,
        export_macro_name: "export_map_plugin",
        default_bindings_module: "flicker_guest::bindings::map",
        with: { "flicker:operator/types@0.2.2": crate::bindings::parse::flicker::operator::types },
    });
}

/// Bindings of the `aggregate-plugin` world.
pub mod aggregate {
    wit_bindgen::generate!({
        path: "../wit",
        world: "aggregate-plugin",
        pub_export_macro: true,
        export_macro_name: "export_aggregate_plugin",
        default_bindings_module: "flicker_guest::bindings::aggregate",
        with: { "flicker:operator/types@0.2.2": crate::bindings::parse::flicker::operator::types },
    });
}

/// Bindings of the `cogroup-plugin` world.
pub mod cogroup {
    wit_bindgen::generate!({
        path: "../wit",
        world: "cogroup-plugin",
        pub_export_macro: true,
        export_macro_name: "export_cogroup_plugin",
        default_bindings_module: "flicker_guest::bindings::cogroup",
        with: { "flicker:operator/types@0.2.2": crate::bindings::parse::flicker::operator::types },
    });
}

/// Bindings of the `format-plugin` world.
pub mod format {
    wit_bindgen::generate!({
        path: "../wit",
        world: "format-plugin",
        pub_export_macro: true,
        export_macro_name: "export_format_plugin",
        default_bindings_module: "flicker_guest::bindings::format",
        with: { "flicker:operator/types@0.2.2": crate::bindings::parse::flicker::operator::types },
    });
}

/// The WIT `types` interface shared by all worlds.
pub use parse::flicker::operator::types;
