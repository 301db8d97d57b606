//! A flicker cluster of real processes on one machine, for the end-to-end tests (`tests/`) and the
//! benchmarks (`bench/`): `flicker cert init`, a scheduler, executors and standalone BTS servers,
//! each an OS process of its own talking QUIC over 127.0.0.1.
//!
//! The idea is that a cluster in a test or a benchmark is the very thing a user runs, started the
//! way a user starts it, and that it never outlives its harness:
//!
//! - a [`Process`] is a child whose stderr a thread drains, keeping its log (to wait for a line,
//!   to show in a failure) and the addresses of its `... listening on ADDR` lines (how the harness
//!   learns the ports it asked the system for with `127.0.0.1:0`); it is killed by its PID when
//!   dropped, so also when a test panics or a benchmark fails half-way;
//! - a [`Cluster`] starts and names the processes (certificates in `<dir>/tls`, the scheduler's
//!   state in `<dir>/state`), kills or terminates one by name, builds client commands aimed at its
//!   scheduler and waits until the scheduler sees its executors.
//!
//! Which `flicker` binary runs, and with what environment, is the caller's: [`Cluster::new`] takes
//! a function that makes the base command. Every wait is bounded by a deadline; errors are
//! [`anyhow`] errors that say what was awaited and what was seen.

mod cluster;
mod process;

pub use cluster::{Cluster, poll};
pub use process::{Process, signal, signal_and_wait};
