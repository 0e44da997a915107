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

/// The database and every read replica answer, each within a probe's time
/// ([`crate::db::PROBE_TIMEOUT`]).
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (primary, replicas) = tokio::join!(state.availability.check(), state.readers.unreachable());
    let body = match (primary, replicas.is_empty()) {
        (true, true) => return Json(json!({ "status": "ready" })).into_response(),
        (false, _) => {
            tracing::warn!("not ready: database unreachable");
            json!({ "status": "unavailable", "reason": "database unreachable" })
        }
        (true, false) => {
            tracing::warn!(replicas = ?replicas, "not ready: read replica unreachable");
            json!({
                "status": "unavailable",
                "reason": "read replica unreachable",
                "replicas": replicas,
            })
        }
    };
    let code = ErrorCode::DatabaseUnavailable;
    let mut response = (code.default_status(), Json(body)).into_response();
    if let Some(retry_after) = super::retry_after(code) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after);
    }
    response
}
