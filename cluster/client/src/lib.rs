//! The user's side of a flicker cluster: a [`Client`] of the scheduler (what `flicker submit`,
//! `status`, `cancel`, `nodes` use), and [`LocalCluster`], a scheduler and an executor in this
//! process for `flicker run`, going through exactly the code paths of a real cluster.

mod client;
mod local;

pub use client::{Client, ClientError};
pub use local::{LocalCluster, LocalError};
