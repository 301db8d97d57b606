//! Host-side bindings of the five operator worlds of `wit/operator.wit`: what the host calls of
//! a plugin, which components built for 0.2.0 and 0.2.1 export too (wasmtime finds `…@0.2.0`
//! exports where `…@0.2.2` ones are asked for: the versions are semver-compatible). The
//! `*-schema` functions of plugins built for 0.2.1 and later are looked up by name
//! (`crate::schema`).

#![allow(missing_docs, reason = "generated code")]

pub mod parse {
    wasmtime::component::bindgen!({ path: "../wit", world: "parse-operator" });
}

pub mod map {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "map-operator",
        with: { "flicker:operator/types": crate::bindings::parse::flicker::operator::types },
    });
}

pub mod aggregate {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "aggregate-operator",
        with: { "flicker:operator/types": crate::bindings::parse::flicker::operator::types },
    });
}

pub mod cogroup {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "cogroup-operator",
        with: { "flicker:operator/types": crate::bindings::parse::flicker::operator::types },
    });
}

pub mod format {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "format-operator",
        with: { "flicker:operator/types": crate::bindings::parse::flicker::operator::types },
    });
}

pub use parse::flicker::operator::types;
