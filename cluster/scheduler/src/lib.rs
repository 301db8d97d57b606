//! The scheduler service: accepts jobs, plans them into stages and tasks, hands tasks to
//! executors' free slots, tracks where map outputs are, commits output, and reports progress.
//!
//! Every decision is taken by `flicker-scheduler-core`'s pure state machine; this crate is the
//! shell around it: QUIC connections to clients and executors, the [`journal`] that lets a
//! restarted scheduler resume its jobs, the [`plugin_store`] of uploaded components, listing
//! inputs and committing outputs in storage.

pub mod journal;
pub mod plugin_store;
mod service;

pub use service::{Scheduler, SchedulerConfig, SchedulerError};
