//! GraphQL over Server-Sent Events, the `graphql-sse` protocol's distinct-connections mode:
//! `POST /graphql` with `Accept: text/event-stream` answers a stream of `next` events (one per
//! result) and a final `complete`. It passes proxies that refuse WebSockets.
//!
//! The request is read, authenticated and parsed by the HTTP handler (`http::graphql::post`);
//! the operation then runs as a WebSocket operation does, on the schema with
//! [`crate::graphql::WebSocketRules`] (the document's checks and codes, a request context of
//! its own), with the token's identity and expiry as its session data: one pipeline for all
//! three transports.

use std::sync::Arc;

use async_graphql::{Data, Executor};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::AppState;
use super::websocket::{Deadlined, Session, TokenExpiry};
use crate::auth::Principal;

/// Whether the client asks for an event stream.
pub fn accepts(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|range| range.split(';').next())
        .any(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// Runs `request` and streams its results.
pub fn respond(
    state: &AppState,
    principal: Principal,
    request: async_graphql::Request,
) -> Response {
    let mut data = Data::default();
    if let Some(expiry) = TokenExpiry::of(&principal, state.auth.leeway_seconds()) {
        data.insert(expiry);
    }
    let session = Session::verified(principal.clone());
    data.insert(principal);
    let executor = Deadlined {
        schema: state.websocket_schema.clone(),
        timeout: state.limits.request_timeout(),
        state: state.clone(),
        session,
    };
    let results = executor
        .execute_stream(request, Some(Arc::new(data)))
        .map(|response| {
            Event::default()
                .event("next")
                .json_data(&response)
                .map_err(axum::Error::new)
        });
    let complete =
        futures_util::stream::once(async { Ok(Event::default().event("complete").data("")) });
    Sse::new(results.chain(complete))
        .keep_alive(KeepAlive::new().interval(state.config.live.keep_alive))
        .into_response()
}
