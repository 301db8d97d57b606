//! What the formats share: values as plain text.

use flicker_guest::ValueRef;
use std::io::Write;

/// Writes a value as plain text: strings as they are, null as nothing, numbers in shortest form.
pub(crate) fn write_plain(out: &mut Vec<u8>, value: ValueRef<'_>) {
    match value {
        ValueRef::Str(s) => out.extend_from_slice(s.as_bytes()),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}
