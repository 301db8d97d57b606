//! The scheduler's decisions, with no I/O: what a job's stages are, and which executor runs which
//! task when.
//!
//! - [`plan`](mod@plan) cuts a manifest into stages at its aggregates; [`fuse`] folds standard steps into
//!   the parser they follow. The scheduler and every executor derive the same plan.
//! - [`core`] is the scheduler as a state machine: events in (a job submitted, a task report, an
//!   executor lost, a cancel, a commit done, a cleanup done) with the time passed in,
//!   [`Action`](core::Action)s out. It keeps the [`membership`] of executors and one [`job_run`]
//!   per job.
//! - [`retention`] says which finished jobs the scheduler forgets.
//! - [`tenants`] are the teams sharing the cluster, with their weights and limits;
//!   [`fair_share`] says whose task takes a free slot, and [`budget`] which jobs used up a
//!   budget and what an attempt may still use.
//!
//! Nothing here opens a socket, a file or a sandbox, and Cargo enforces it: this crate depends on
//! no runtime, network, storage or WebAssembly crate, so its tests run in memory, fast and
//! deterministic (quinn-proto's way). The services in `flicker-scheduler` and `flicker-executor`
//! move the bytes around it.

pub mod budget;
pub mod core;
pub mod fair_share;
pub mod fuse;
pub mod job_run;
pub mod membership;
pub mod plan;
pub mod retention;
pub mod tenants;

#[cfg(test)]
mod sharing_tests;

pub use plan::{JobPlan, PlanError, StageId, StageInput, StageOutput, StagePlan, plan, split_size_for};
