//! The standard operators (`std:parse-csv`, `std:max`, ...), compiled to WebAssembly components
//! when this crate builds and embedded in it, so a manifest can name them without any build by
//! the user.
//!
//! The build script compiles every `plugins/std/*` crate for `wasm32-wasip2` with a nested cargo
//! in a target directory of its own (so guest builds never invalidate host builds). It also builds
//! the test plugins (`plugins/test`, `plugins/test-aggregate`, `plugins/test-parse`) and the
//! example plugins (`examples/plugins/*`), whose paths [`guest_artifact`] gives to tests.

use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// The prefix of standard operator names in manifests.
pub const STD_PREFIX: &str = "std:";

/// The component of the standard operator `name` (with or without the `std:` prefix).
pub fn std_plugin(name: &str) -> Option<&'static [u8]> {
    let name = name.strip_prefix(STD_PREFIX).unwrap_or(name);
    STD_PLUGINS.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
}

/// The names of all standard operators, with the `std:` prefix.
pub fn std_names() -> impl Iterator<Item = String> {
    STD_PLUGINS.iter().map(|(name, _)| format!("{STD_PREFIX}{name}"))
}

/// The path of a guest package built alongside the standard operators (`flicker-test-plugin`,
/// `flicker-test-aggregate`, `flicker-test-parse`, `celsius-to-fahrenheit`, `warmest-reading`,
/// `temperature-range`, `station-countries`).
pub fn guest_artifact(package: &str) -> PathBuf {
    PathBuf::from(GUEST_ARTIFACT_DIR).join(format!("{}.wasm", package.replace('-', "_")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_std_plugin_is_a_component() {
        for name in std_names() {
            let bytes = std_plugin(&name).unwrap();
            // A component's preamble: magic, then version 0x0d and layer 0x01.
            assert_eq!(&bytes[..8], b"\0asm\x0d\0\x01\0", "{name}");
        }
        assert!(std_plugin("std:nope").is_none());
        assert!(guest_artifact("flicker-test-plugin").exists());
    }
}
