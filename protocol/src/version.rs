//! Protocol versions and how the TLS handshake names them.
//!
//! A process offers the ALPN `flicker/<its version>` and also [`FALLBACK_ALPN`]. Two processes of
//! the same version agree on `flicker/<version>`. Otherwise the handshake settles on the fallback,
//! whose only exchange is stable across all versions: the connecting side sends its version as a
//! 4-byte little-endian number on one stream, the accepting side answers with its own and closes.
//! Both then report a mismatch that names both versions.

/// The version of the protocol this build speaks (2: task metrics carry the spill counters; 3: a
/// BTS fetch asks for the blocks of several map outputs; 4: job statuses carry start and end
/// times and task durations, and cancelling an ended job is refused; 5: a task failure is typed
/// data, its kind carried by task reports and by job and attempt statuses; 6: requests are
/// authorized by the role of the peer's certificate and shuffle requests carry capabilities, the
/// status of every job comes one job per frame, and oversized requests and uploads, and uploads
/// that are no component, are refused with errors of their own; 7: tenants: jobs have owners and
/// costs, tasks carry CPU budgets and report what they used, a tenant's limits refuse jobs, and
/// clients ask for usage and the audit log; 8: clients ask for bearer tokens, stage statuses name
/// the stage they read, and node statuses count the tasks each executor ran and the shuffle bytes its BTS served, which
/// heartbeats carry; 9: operators of the cogroup kind, tasks reading a partition of each input of
/// a co-group step, stage statuses naming every stage they read; 10: tasks say the number of the
/// part they write, the kept inputs of a broadcast join, and the range boundaries of a sort; 11:
/// shuffle blocks are stored and sent as pieces compressed one by one, each with its own checksum,
/// so a fetcher decodes a block as it arrives).
pub const PROTOCOL_VERSION: u32 = 11;

/// The ALPN protocol two processes of different versions agree on, to tell each other their
/// versions and part.
pub const FALLBACK_ALPN: &[u8] = b"flicker";

/// The ALPN protocol name of `version`: `flicker/<version>`.
pub fn alpn(version: u32) -> Vec<u8> {
    format!("flicker/{version}").into_bytes()
}

/// The version an ALPN protocol name stands for, if it is a `flicker/<version>` name.
pub fn version_of_alpn(name: &[u8]) -> Option<u32> {
    std::str::from_utf8(name.strip_prefix(b"flicker/")?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_names_round_trip() {
        assert_eq!(alpn(1), b"flicker/1");
        assert_eq!(version_of_alpn(&alpn(42)), Some(42));
        assert_eq!(version_of_alpn(FALLBACK_ALPN), None);
        assert_eq!(version_of_alpn(b"h3"), None);
    }
}
