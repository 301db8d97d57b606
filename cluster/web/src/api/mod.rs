//! The routes of `/api/v1`, each documented by its `#[utoipa::path]`: the OpenAPI document is
//! built from the same registration that builds the router, so it lists every route.

mod error;
mod model;

pub use error::api_error;
pub use model::{Spread, TaskSummary};

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use flicker_http::{ApiError, Caller};
use flicker_manifest::{Param, resolve_params};
use flicker_protocol::scheduler::{MAX_COMPONENT, Submission};
use flicker_protocol::status::{JobStatus, NodeStatus, TaskStatus};
use flicker_protocol::{JobId, PluginDigest, StageId, TenantId};
use flicker_scheduler::{JobQuery, Scheduler, StateFilter};
use flicker_transport::Peer;
use futures::Stream;
use model::{
    Digests, Executors, JobList, JobRef, JobsQuery, Plugin, Plugins, StageTasks, SubmitRequest, Tenant,
    Tenants, WhoAmI,
};
use std::convert::Infallible;
use std::path::PathBuf;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The API's document: title, version, the two ways to authenticate, and the shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(title = "flicker scheduler API", description = "Submit, list, watch and cancel jobs; see executors, tenants and components. Every route needs a client certificate of the cluster or a bearer token (`flicker token create`)."),
    modifiers(&Authentication),
    security(("bearer" = []), ("client_certificate" = [])),
    components(schemas(flicker_http::ApiErrorBody))
)]
struct ApiDoc;

/// Declares the bearer token and the client certificate.
struct Authentication;

impl Modify for Authentication {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("flicker1").build(),
            ),
        );
        components.add_security_scheme(
            "client_certificate",
            SecurityScheme::MutualTls { description: None, extensions: None },
        );
    }
}

/// The routes of `/api/v1` and their OpenAPI document.
pub fn routes() -> OpenApiRouter<Scheduler> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(whoami))
        .routes(routes!(list_jobs, submit_job))
        .routes(routes!(get_job))
        .routes(routes!(job_events))
        .routes(routes!(cancel_job))
        .routes(routes!(stage_tasks))
        .routes(routes!(executors))
        .routes(routes!(tenants))
        .routes(routes!(plugins))
        .routes(routes!(missing_plugins))
        .routes(routes!(upload_plugin))
}

/// The caller, once the scheduler accepts it (a client or an admin of a declared tenant).
struct Asker(Peer);

impl FromRequestParts<Scheduler> for Asker {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, scheduler: &Scheduler) -> Result<Self, ApiError> {
        let Caller(peer) = Caller::from_request_parts(parts, scheduler).await?;
        scheduler.check_caller(&peer).map_err(api_error)?;
        Ok(Asker(peer))
    }
}

/// Who the API takes the caller for.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "identity",
    responses((status = 200, body = WhoAmI), (status = 401, body = flicker_http::ApiErrorBody)))]
async fn whoami(Asker(peer): Asker) -> Json<WhoAmI> {
    Json(WhoAmI::from(&peer))
}

/// The jobs the caller may see, newest first, one page at a time.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobsQuery),
    responses((status = 200, body = JobList), (status = 400, body = flicker_http::ApiErrorBody), (status = 401, body = flicker_http::ApiErrorBody)))]
async fn list_jobs(
    State(scheduler): State<Scheduler>,
    Asker(peer): Asker,
    Query(query): Query<JobsQuery>,
) -> Result<Json<JobList>, ApiError> {
    let state =
        query.state.as_deref().map(str::parse::<StateFilter>).transpose().map_err(ApiError::bad_request)?;
    let (offset, limit) = (query.offset.unwrap_or(0), query.limit.unwrap_or(50).min(JobQuery::MAX_LIMIT));
    let query = JobQuery { state, tenant: query.tenant.map(TenantId), offset, limit };
    let page = scheduler.jobs(&peer, &query);
    Ok(Json(JobList { jobs: page.jobs, total: page.total, offset, limit }))
}

/// Runs a job: the same checks as `flicker submit` (manifest, plugins, config, storage, the
/// tenant's limits). Upload its components first.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = SubmitRequest,
    responses((status = 201, body = JobRef), (status = 422, description = "the job is invalid: the message says where", body = flicker_http::ApiErrorBody),
        (status = 404, description = "a component was not uploaded", body = flicker_http::ApiErrorBody), (status = 429, description = "the tenant is at a limit", body = flicker_http::ApiErrorBody)))]
async fn submit_job(
    State(scheduler): State<Scheduler>,
    Asker(peer): Asker,
    Json(request): Json<SubmitRequest>,
) -> Result<Response, ApiError> {
    let manifest_path = request.manifest_path.unwrap_or_else(|| "job.toml".to_owned());
    let base_dir = request.base_dir.unwrap_or_else(|| "/".to_owned());
    if !PathBuf::from(&base_dir).is_absolute() {
        return Err(ApiError::bad_request(format!("base_dir {base_dir:?} is not an absolute path")));
    }
    let params: Vec<Param> = request.params.into_iter().map(|(name, value)| Param { name, value }).collect();
    let invalid = |error: &dyn std::fmt::Display| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", error.to_string())
    };
    let manifest = resolve_params(std::path::Path::new(&manifest_path), &request.manifest, &params)
        .map_err(|error| invalid(&error))?;
    let plugins = request
        .plugins
        .into_iter()
        .map(|(name, hex)| {
            let digest = PluginDigest::from_hex(&hex)
                .ok_or_else(|| format!("{hex:?} is not a sha256 digest in hex (64 hex digits)"));
            (name, digest)
        })
        .collect();
    let submission = Submission { manifest_path, manifest, base_dir, plugins, defaults: None };
    let job = scheduler.submit(&peer, submission).await.map_err(api_error)?;
    let location = format!("/api/v1/jobs/{}", job.0);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(JobRef { job: job.0 })).into_response())
}

/// One job: its state, stages, figures, cost and failure.
#[utoipa::path(get, path = "/api/v1/jobs/{job}", tag = "jobs", params(("job" = String, Path, description = "The job's id")),
    responses((status = 200, body = JobStatus), (status = 404, body = flicker_http::ApiErrorBody)))]
async fn get_job(
    State(scheduler): State<Scheduler>,
    Asker(peer): Asker,
    Path(job): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    scheduler.job(&peer, &JobId(job)).map(Json).map_err(api_error)
}

/// The job's status now and after every change, as Server-Sent Events (`event: status`, the
/// status as JSON), until its last status.
#[utoipa::path(get, path = "/api/v1/jobs/{job}/events", tag = "jobs", params(("job" = String, Path, description = "The job's id")),
    responses((status = 200, content_type = "text/event-stream", description = "`status` events, each a JobStatus", body = JobStatus),
        (status = 404, body = flicker_http::ApiErrorBody)))]
async fn job_events(
    State(scheduler): State<Scheduler>,
    Asker(peer): Asker,
    Path(job): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let watcher = scheduler.watch(&peer, &JobId(job)).map_err(api_error)?;
    // The current status, then one per change; the stream ends after the job's last status.
    let events = futures::stream::unfold((watcher, false), |(mut watcher, ended)| async move {
        if ended {
            return None;
        }
        let status = watcher.borrow_and_update().clone();
        let finished = status.is_finished();
        let event = Event::default().event("status").json_data(&status).unwrap_or_else(|_| Event::default());
        let next = if finished { true } else { watcher.changed().await.is_err() };
        Some((Ok(event), (watcher, next)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Stops a job; nothing of it is published. Its submitter, its tenant's admins and admins may.
#[utoipa::path(post, path = "/api/v1/jobs/{job}/cancel", tag = "jobs", params(("job" = String, Path, description = "The job's id")),
    responses((status = 200, body = JobRef), (status = 403, body = flicker_http::ApiErrorBody), (status = 404, body = flicker_http::ApiErrorBody),
        (status = 409, description = "the job has ended already", body = flicker_http::ApiErrorBody)))]
async fn cancel_job(
    State(scheduler): State<Scheduler>,
    Asker(peer): Asker,
    Path(job): Path<String>,
) -> Result<Json<JobRef>, ApiError> {
    scheduler.cancel(&peer, JobId(job.clone())).await.map_err(api_error)?;
    Ok(Json(JobRef { job }))
}

/// The tasks of a stage, with quantiles of their durations and bytes.
#[utoipa::path(get, path = "/api/v1/jobs/{job}/stages/{stage}/tasks", tag = "jobs",
    params(("job" = String, Path, description = "The job's id"), ("stage" = u32, Path, description = "The stage's number")),
    responses((status = 200, body = StageTasks), (status = 404, body = flicker_http::ApiErrorBody)))]
async fn stage_tasks(
    State(scheduler): State<Scheduler>,
    Asker(peer): Asker,
    Path((job, stage)): Path<(String, u32)>,
) -> Result<Json<StageTasks>, ApiError> {
    let tasks: Vec<TaskStatus> = scheduler.tasks(&peer, &JobId(job), StageId(stage)).map_err(api_error)?;
    let summary = model::TaskSummary::of(&tasks);
    Ok(Json(StageTasks { tasks, summary }))
}

/// The cluster's executors: state, slots, running tasks, heartbeat age, tasks done.
#[utoipa::path(get, path = "/api/v1/executors", tag = "cluster", responses((status = 200, body = Executors)))]
async fn executors(State(scheduler): State<Scheduler>, Asker(_): Asker) -> Json<Executors> {
    let executors: Vec<NodeStatus> = scheduler.nodes();
    Json(Executors { executors })
}

/// The caller's tenant (every tenant, for an admin): limits and usage.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "cluster", responses((status = 200, body = Tenants)))]
async fn tenants(State(scheduler): State<Scheduler>, Asker(peer): Asker) -> Json<Tenants> {
    Json(Tenants { tenants: scheduler.tenants(&peer).into_iter().map(Tenant::from).collect() })
}

/// The components of the caller's tenant (every one, for an admin).
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", responses((status = 200, body = Plugins)))]
async fn plugins(State(scheduler): State<Scheduler>, Asker(peer): Asker) -> Result<Json<Plugins>, ApiError> {
    let plugins = scheduler.plugins(&peer).map_err(api_error)?;
    Ok(Json(Plugins { plugins: plugins.into_iter().map(Plugin::from).collect() }))
}

/// Of these components, those the caller's tenant has not uploaded.
#[utoipa::path(post, path = "/api/v1/plugins/missing", tag = "plugins", request_body = Digests,
    responses((status = 200, body = Digests), (status = 400, body = flicker_http::ApiErrorBody)))]
async fn missing_plugins(
    State(scheduler): State<Scheduler>,
    Asker(peer): Asker,
    Json(asked): Json<Digests>,
) -> Result<Json<Digests>, ApiError> {
    let digests = asked
        .digests
        .iter()
        .map(|hex| {
            PluginDigest::from_hex(hex)
                .ok_or_else(|| ApiError::bad_request(format!("{hex:?} is not a sha256 digest in hex")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let missing = scheduler.missing_plugins(&peer, digests).map_err(api_error)?;
    Ok(Json(Digests { digests: missing.iter().map(PluginDigest::to_hex).collect() }))
}

/// Uploads a component (the body, `Content-Length` bytes, at most 256 MiB) for the caller's
/// tenant; stored only if its sha256 is the digest and it is a WebAssembly component.
#[utoipa::path(put, path = "/api/v1/plugins/{digest}", tag = "plugins",
    params(("digest" = String, Path, description = "The component's sha256, in hex")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, description = "stored"), (status = 400, body = flicker_http::ApiErrorBody),
        (status = 411, description = "no Content-Length", body = flicker_http::ApiErrorBody), (status = 413, body = flicker_http::ApiErrorBody)))]
async fn upload_plugin(
    State(scheduler): State<Scheduler>,
    Asker(peer): Asker,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let digest = PluginDigest::from_hex(&digest)
        .ok_or_else(|| ApiError::bad_request(format!("{digest:?} is not a sha256 digest in hex")))?;
    let len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::LENGTH_REQUIRED,
                "length_required",
                "send the component's size as Content-Length",
            )
        })?;
    if len > MAX_COMPONENT {
        return Err(api_error(flicker_protocol::scheduler::RequestError::TooLarge {
            what: flicker_protocol::scheduler::Oversized::Component,
            size: len,
            max: MAX_COMPONENT,
        }));
    }
    scheduler.upload(&peer, digest, len, body.into_data_stream()).await.map_err(api_error)?;
    Ok(StatusCode::CREATED)
}
