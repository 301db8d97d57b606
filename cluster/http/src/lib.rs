//! HTTPS for flicker's nodes. The scheduler serves its API and web UI over it, every node its
//! Prometheus metrics; both answer only callers with an identity of the cluster:
//!
//! - a **client certificate** signed by the cluster CA (curl, tools: `--cert`/`--key`), or
//! - a **bearer token** (`Authorization: Bearer flicker1.…`) that `flicker token create` asked
//!   the scheduler for, signed by the scheduler's key (browsers, dashboards).
//!
//! [`serve`] runs the TLS accept loop (bounded connections, bounded handshakes) and hands each
//! request to an `axum` router with the certificate's [`Peer`] attached; the [`Caller`]
//! extractor turns certificate or token into the peer a handler authorizes, and refuses (401)
//! a request with neither. Only [`health`] answers anyone.
//!
//! [`Peer`]: flicker_transport::Peer

mod auth;
mod error;
mod server;

pub use auth::{Caller, ClientCertificate};
pub use error::{ApiError, ApiErrorBody};
pub use server::{HttpServer, MAX_CONNECTIONS, health, metrics};
