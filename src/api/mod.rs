//! The HTTP surface: Cloudflare's v4 REST API for Workflows under
//! `/client/v4/accounts/{account_id}/workflows`. This part only translates HTTP to engine calls
//! and engine results to Cloudflare's JSON shapes; the wire format lives here and nowhere else.

mod envelope;
mod instances;
mod workflows;

use std::future::Future;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

pub use envelope::{ApiError, codes, timestamp};

use crate::engine::Engine;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
}

/// The whole API as a router.
pub fn router(engine: Engine) -> Router {
    let workflow = "/client/v4/accounts/{account_id}/workflows/{workflow_name}";
    let instance = format!("{workflow}/instances/{{instance_id}}");
    Router::new()
        .route("/client/v4/accounts/{account_id}/workflows", get(workflows::list))
        .route(workflow, get(workflows::get))
        .route(&format!("{workflow}/instances"), get(instances::list).post(instances::create))
        .route(&format!("{workflow}/instances/"), get(instances::list).post(instances::create))
        .route(&instance, get(instances::describe))
        .route(&format!("{instance}/status"), patch(instances::change_status))
        .route(&format!("{instance}/events/{{event_type}}"), post(instances::send_event))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, codes::ROUTE_NOT_FOUND, "No route for that URI").into_response()
        })
        .with_state(AppState { engine })
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine)).with_graceful_shutdown(shutdown).await
}

/// Parses a JSON body into `T`, answering Cloudflare's 400 envelope on any mistake.
fn parse_json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| ApiError::bad_request(format!("invalid request body: {error}")))
}
