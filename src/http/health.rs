//! Liveness and readiness for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::error::ErrorCode;

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
    let code = ErrorCode::DatabaseUnavailable;
    let mut response = (
        code.default_status(),
        Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
    )
        .into_response();
    if let Some(retry_after) = super::retry_after(code) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after);
    }
    response
}
