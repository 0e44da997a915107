//! Liveness and readiness for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers, within a probe's time ([`crate::db::PROBE_TIMEOUT`]).
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.availability.check().await {
        return Json(json!({ "status": "ready" })).into_response();
    }
    tracing::warn!("not ready: database unreachable");
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, super::graphql::retry_after());
    response
}
