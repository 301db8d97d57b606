//! The scheduler service: accepts jobs, plans them into stages and tasks, hands tasks to
//! executors' free slots, tracks where map outputs are, commits output, and reports progress.
//!
//! Every decision is taken by `flicker-scheduler-core`'s pure state machine; this crate is the
//! shell around it: QUIC connections to clients and executors, the [`journal`] that lets a
//! restarted scheduler resume its jobs, the [`plugin_store`] of uploaded components, the
//! [`tenancy`] rules of who sees and touches what, the [`audit`] log, listing
//! inputs and committing outputs in storage. Nothing one client sends is held without bound:
//! requests and uploads have caps, uploads go to disk as they come, and finished jobs are
//! forgotten past the [`Retention`], with the components only they used.

pub mod audit;
pub mod journal;
pub mod plugin_store;
mod service;
pub mod tenancy;

pub use flicker_scheduler_core::retention::Retention;
pub use flicker_scheduler_core::tenants::{TenantConfig, Tenants};
pub use service::{
    JobPage, JobQuery, PluginView, Scheduler, SchedulerConfig, SchedulerError, StateFilter, TenantView,
};
pub use tenancy::TenantPolicy;
