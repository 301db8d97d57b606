//! Host-side bindings of the four operator worlds of `wit/operator.wit`.

#![allow(missing_docs, reason = "generated code")]

pub mod parse {
    wasmtime::component::bindgen!({ path: "../wit", world: "parse-plugin" });
}

pub mod map {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "map-plugin",
        with: { "flicker:operator/types": crate::bindings::parse::flicker::operator::types },
    });
}

pub mod aggregate {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "aggregate-plugin",
        with: { "flicker:operator/types": crate::bindings::parse::flicker::operator::types },
    });
}

pub mod format {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "format-plugin",
        with: { "flicker:operator/types": crate::bindings::parse::flicker::operator::types },
    });
}

pub use parse::flicker::operator::types;
