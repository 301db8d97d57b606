//! The scheduler's HTTP door: the JSON API under `/api/v1` ([`api`], documented by the OpenAPI
//! document at `/api/v1/openapi.json`), the web UI at `/`, Prometheus metrics at `/metrics` and
//! a health check at `/healthz`, served over HTTPS by [`flicker_http`] with the cluster CA.
//!
//! Every API route needs an identity (a client certificate of the cluster or a bearer token) and
//! applies the scheduler's tenant rules exactly as the QUIC protocol does: the handlers call the
//! same [`Scheduler`] operations. Every answer carries a strict `Content-Security-Policy`
//! (scripts and styles from the scheduler only, nothing inline), so a job name or an error
//! message holding markup can only ever be shown as text.

pub mod api;
mod ui;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use flicker_http::{ApiError, Caller, HttpServer};
use flicker_scheduler::Scheduler;
use std::sync::Arc;

/// Headers on every answer: no inline or foreign code, no framing, no sniffing, no caching
/// of answers that hold jobs.
const SECURITY_HEADERS: [(header::HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
];

/// The text of a node's metrics, in Prometheus' text format.
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

/// Everything the scheduler serves over HTTP: with `metrics`, `/metrics` too.
pub fn router(scheduler: Scheduler, metrics: Option<MetricsText>) -> Router {
    let (api, document) = api::routes().split_for_parts();
    // Written once: the document does not change while the scheduler runs.
    let document = axum::body::Bytes::from(serde_json::to_vec(&document).unwrap_or_default());
    let openapi = get(move |_: Caller| {
        let document = document.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], document) }
    });
    let router = api
        .route("/api/v1/openapi.json", openapi)
        // Who may not call the API learns nothing of its routes either.
        .fallback(|_: Caller| async { ApiError::not_found("no such page or route") })
        .with_state(scheduler)
        .merge(ui::routes());
    let router = match metrics {
        Some(metrics) => router.merge(flicker_http::metrics(metrics)),
        None => router,
    };
    router.route("/healthz", get(flicker_http::health)).layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            for (name, value) in SECURITY_HEADERS {
                response.headers_mut().insert(name, HeaderValue::from_static(value));
            }
            response.into_response()
        },
    ))
}

/// The OpenAPI document of the API (what `/api/v1/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::routes().split_for_parts().1
}

/// Serves [`router`] on `server` until the task is dropped.
pub async fn serve(server: HttpServer, scheduler: Scheduler, metrics: Option<MetricsText>) {
    server.serve(router(scheduler, metrics)).await
}
