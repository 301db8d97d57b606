//! The scheduler: accepts jobs, plans them into stages and tasks, hands tasks to executors'
//! free slots, tracks where map outputs are, commits output, and reports progress.
//!
//! [`core`] holds every decision as a pure state machine ([`membership`] of executors, one
//! [`job_run`] per job); the service around it only moves messages.

pub mod core;
pub mod job_run;
pub mod journal;
pub mod membership;
pub mod plugin_store;
mod service;
mod task_table;

pub use service::{Scheduler, SchedulerConfig, SchedulerError};
