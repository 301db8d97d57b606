//! Checking that bytes are a WebAssembly component without compiling them: what a submitter does
//! before it uploads a plugin file, and the scheduler before it stores an upload.

use crate::HostError;
use wasmparser::{Parser, Validator, WasmFeatures};

/// Checks that `bytes` are a valid WebAssembly component, in one pass and without compiling it or
/// keeping anything: far cheaper than [`Runtime::load`](crate::Runtime::load). The check admits
/// every WebAssembly feature; loading the component still holds it to the features the engine
/// allows, so a component that passes may yet fail to load (with a [`HostError`] that says why).
pub fn check_component(bytes: &[u8]) -> Result<(), HostError> {
    if !Parser::is_component(bytes) {
        let what = if Parser::is_core_wasm(bytes) {
            "it is a core WebAssembly module; make it a component (build for wasm32-wasip2, or run `wasm-tools component new`)"
        } else {
            "it does not start with the header of a WebAssembly component"
        };
        return Err(HostError::Compile { message: what.to_owned() });
    }
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .map(drop)
        .map_err(|error| HostError::Compile { message: error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The preamble of a component (magic, version 0xd, layer 1), which alone is an empty component.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";
    /// The preamble of a core module (magic, version 1), which alone is an empty module.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn refusal(bytes: &[u8]) -> String {
        match check_component(bytes) {
            Err(HostError::Compile { message }) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_component_passes_and_anything_else_is_refused_saying_what_it_is() {
        check_component(EMPTY_COMPONENT).unwrap();
        assert!(refusal(EMPTY_MODULE).contains("core WebAssembly module"));
        assert!(refusal(b"#!/bin/sh\necho hi\n").contains("header of a WebAssembly component"));
        assert!(refusal(b"").contains("header"));
        // A component header followed by a section that does not parse.
        let damaged = [EMPTY_COMPONENT, &[0x01, 0x7f, 0x00]].concat();
        assert!(!refusal(&damaged).is_empty());
    }
}
