//! The HTTP surface: Cloudflare's v4 REST API for Workflows under
//! `/client/v4/accounts/{account_id}/workflows`, the Local Explorer API under
//! `/cdn-cgi/local/explorer/api`, and stepflare's own routes under `/cdn-cgi/stepflare` (firing
//! a workflow's schedules by hand). This part only translates HTTP to engine calls and engine
//! results to Cloudflare's JSON shapes; the wire format lives here and nowhere else. One file
//! per resource; `guard.rs` decides who may use the control routes, `server.rs` and
//! `body_timeout.rs` how long a client may take to send a request.

mod body_timeout;
mod describe;
mod envelope;
mod events;
mod explorer;
mod extract;
mod guard;
mod instances;
mod paging;
mod paths;
mod retention;
mod schedules;
mod server;
mod status;
mod subscribe;
mod versions;
mod worker;
mod workflows;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use tokio::net::TcpListener;

pub use envelope::{ApiError, codes, timestamp};
pub use guard::ControlGuard;
pub use server::HttpTimeouts;

use crate::engine::Engine;
use crate::workers::Workers;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// The project's Workers; the served one answers every route that is not the API's.
    pub workers: Workers,
}

/// How the API is served: who may use the control routes, and how long a client may take.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    pub guard: ControlGuard,
    pub timeouts: HttpTimeouts,
}

/// The whole HTTP surface as a router: the v4 API, the explorer API, and the Worker for
/// everything else.
pub fn router(engine: Engine, options: ApiOptions, workers: Workers) -> Router {
    let state = AppState { engine, workers };
    let v4 = v4_routes().fallback(no_route).with_state(state.clone());
    let explorer = explorer_routes().fallback(no_route).with_state(state.clone());
    Router::new()
        .nest("/client/v4/accounts/{account_id}", v4)
        .nest("/client/v4", Router::new().fallback(no_route))
        .nest("/cdn-cgi/local/explorer/api", explorer)
        .route("/cdn-cgi/handler/scheduled", get(worker::scheduled))
        .route("/cdn-cgi/stepflare/workflows/{workflow_name}/schedules/trigger", post(schedules::trigger))
        .fallback(worker::fetch)
        .layer(middleware::from_fn_with_state(options.timeouts.body_idle, body_timeout::guard_request_bodies))
        .layer(middleware::from_fn_with_state(Arc::new(options.guard), guard::guard_control_routes))
        .with_state(state)
}

/// Reserved prefixes answer unknown routes in the envelope instead of reaching the Worker.
async fn no_route() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, codes::ROUTE_NOT_FOUND, "No route for that URI").into_response()
}

fn v4_routes() -> Router<AppState> {
    let workflow = "/workflows/{workflow_name}";
    let instances = format!("{workflow}/instances");
    let instance = format!("{instances}/{{instance_id}}");
    let version = format!("{workflow}/versions/{{version_id}}");
    Router::new()
        .route("/workflows", get(workflows::list))
        .route("/workflows/", get(workflows::list))
        .route("/workflows/settings", get(workflows::get_settings).patch(workflows::update_settings))
        .route(workflow, get(workflows::get).put(workflows::put).delete(workflows::delete))
        .route(&instances, get(instances::list).post(instances::create))
        .route(&format!("{instances}/"), get(instances::list).post(instances::create))
        .route(&format!("{instances}/batch"), post(instances::create_batch))
        .route(&format!("{instances}/batch/delete"), post(instances::delete_batch))
        .route(&format!("{instances}/batch/terminate"), post(instances::terminate_batch))
        .route(&format!("{instances}/terminate"), get(instances::terminate_all_status).put(instances::terminate_all))
        .route(&instance, get(describe::describe).delete(instances::delete))
        .route(&format!("{instance}/status"), patch(status::change_status))
        .route(&format!("{instance}/step"), get(describe::step_output))
        .route(&format!("{instance}/subscribe"), get(subscribe::subscribe))
        .route(&format!("{instance}/events/{{event_type}}"), post(events::send_event))
        .route(&format!("{workflow}/versions"), get(versions::list))
        .route(&version, get(versions::get))
        .route(&format!("{version}/dag"), get(versions::dag))
        .route(&format!("{version}/graph"), get(versions::graph))
        .method_not_allowed_fallback(method_not_allowed)
}

fn explorer_routes() -> Router<AppState> {
    let workflow = "/workflows/{workflow_name}";
    let instances = format!("{workflow}/instances");
    let instance = format!("{instances}/{{instance_id}}");
    Router::new()
        .route("/workflows", get(explorer::list_workflows))
        .route(workflow, get(explorer::get_workflow).delete(workflows::delete))
        .route(&instances, get(explorer::list_instances).post(explorer::create_instance))
        .route(&format!("{instances}/batch/delete"), post(explorer::delete_instances))
        .route(&instance, get(explorer::get_instance).delete(explorer::delete_instance))
        .route(&format!("{instance}/status"), patch(explorer::change_status))
        .route(&format!("{instance}/events/{{event_type}}"), post(events::send_event))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, codes::METHOD_NOT_ALLOWED, "Method not allowed for this route")
        .into_response()
}

/// Serves the API on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish.
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    options: ApiOptions,
    workers: Workers,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let header_read = options.timeouts.header_read;
    server::serve_router(listener, router(engine, options, workers), header_read, shutdown).await;
}
