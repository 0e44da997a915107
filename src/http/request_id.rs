//! Request IDs: every request carries one `X-Request-Id`, the client's when it sent an
//! acceptable one (1 to [`MAX_LEN`] visible ASCII characters), a new UUID otherwise. The ID is
//! returned on every answer (errors too), is a field of the request's tracing span (so of every
//! log line the request writes), and reaches Partner Center as `MS-CorrelationId`
//! ([`correlation_id`]). Each WebSocket operation gets one of its own ([`Carried::operation`]).
//!
//! tower-http's request-id layers set and return the header; the one step before them drops a
//! client's value that is not acceptable, so that it is replaced rather than echoed.

use std::future::Future;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use sha2::{Digest, Sha256};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, OnResponse as _, TraceLayer};
use tracing::Instrument;
use uuid::Uuid;

use crate::telemetry;

/// The header, in the spelling `HeaderMap` keeps.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client request ID kept; a longer one is replaced.
pub const MAX_LEN: usize = 128;

tokio::task_local! {
    /// The ID of the request whose GraphQL operation this task runs.
    static CURRENT: String;
}

/// Whether a client's `X-Request-Id` is kept: bounded, and nothing a log line or a header
/// could be confused by (no spaces, no control characters, nothing beyond ASCII).
pub fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_LEN).contains(&bytes.len()) && bytes.iter().all(|byte| byte.is_ascii_graphic())
}

/// Drops every `X-Request-Id` unless there is exactly one and it is acceptable.
async fn drop_unacceptable(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut values = headers.get_all(&X_REQUEST_ID).iter();
    let keep = matches!((values.next(), values.next()), (Some(value), None) if acceptable(value));
    if !keep {
        headers.remove(&X_REQUEST_ID);
    }
    request
}

/// The request's ID, as the layers set it.
pub fn of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
}

/// The span each request runs in: tower-http's default fields and the request ID; with
/// traces on, also the OpenTelemetry span of the request (a child of the client's
/// `traceparent`), whose trace ID it names (`trace_id`), and its route and status once known.
fn span(request: &Request) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        uri = %request.uri(),
        version = ?request.version(),
        request_id = of(request.headers()).unwrap_or_default(),
        trace_id = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    telemetry::continue_trace(&span, request.headers());
    span
}

/// Records the route the request matched (and so names its span `METHOD /route`): run inside
/// the router, where the matched path is known.
async fn record_route(request: Request, next: axum::middleware::Next) -> Response {
    if let Some(route) = request.extensions().get::<MatchedPath>() {
        let span = tracing::Span::current();
        span.record("http.route", route.as_str());
        telemetry::rename(&span, format!("{} {}", request.method(), route.as_str()));
    }
    next.run(request).await
}

/// tower-http's line at the end of each request, with the status on the span (for traces).
fn on_response(response: &Response, latency: std::time::Duration, span: &tracing::Span) {
    if telemetry::enabled() {
        span.record("http.response.status_code", response.status().as_u16());
        if response.status().is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
    DefaultOnResponse::default().on_response(response, latency, span);
}

/// `router` with request IDs and the request span (tower-http's `TraceLayer`).
pub fn layer(router: Router) -> Router {
    let router = if telemetry::enabled() {
        router.route_layer(axum::middleware::from_fn(record_route))
    } else {
        router
    };
    // Layers run outside in: the last added sees the request first.
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(span)
                .on_response(on_response),
        )
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unacceptable))
}

/// What an operation run elsewhere (on an executor thread) takes along of its request: its
/// span, for the log lines, and its ID, for Partner Center.
#[derive(Clone)]
pub struct Carried {
    span: tracing::Span,
    id: Option<String>,
}

impl Carried {
    /// The current request's span and the ID in its headers.
    pub fn here(headers: &HeaderMap) -> Self {
        Carried {
            span: tracing::Span::current(),
            id: of(headers).map(str::to_owned),
        }
    }

    /// What a WebSocket operation takes along: a request ID of its own (a new UUID), in a span
    /// of its own (`websocket operation`, a child of the connection's request span), so that
    /// each operation's log lines and Partner Center calls name it.
    pub fn operation() -> Self {
        let id = Uuid::new_v4().to_string();
        Carried {
            span: tracing::info_span!("websocket operation", request_id = %id),
            id: Some(id),
        }
    }

    /// `future` in the request's span, with [`correlation_id`] answering the request's ID.
    pub async fn run<F: Future>(self, future: F) -> F::Output {
        let future = future.instrument(self.span);
        match self.id {
            Some(id) => CURRENT.scope(id, future).await,
            None => future.await,
        }
    }
}

/// The `MS-CorrelationId` of a Partner Center call: the current request's ID when it is a UUID;
/// a UUID derived from it (SHA-256, version 8) when it is another string, since Partner Center
/// takes GUIDs only; a new UUID outside any request.
pub fn correlation_id() -> Uuid {
    CURRENT
        .try_with(|id| as_uuid(id))
        .unwrap_or_else(|_| Uuid::now_v7())
}

/// `id` itself when it is a UUID, else the UUID derived from it.
pub fn as_uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or_else(|_| {
        let digest = Sha256::digest(id.as_bytes());
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_visible_ascii_is_acceptable() {
        for good in ["a", "abc-123_XYZ.~:/", &"x".repeat(MAX_LEN)] {
            assert!(acceptable(&HeaderValue::from_str(good).unwrap()), "{good}");
        }
        for bad in ["", "a b", "tab\there", &"x".repeat(MAX_LEN + 1)] {
            assert!(!acceptable(&HeaderValue::from_str(bad).unwrap()), "{bad:?}");
        }
        assert!(!acceptable(
            &HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()
        ));
    }

    #[test]
    fn correlation_ids_are_the_request_id_or_derived_from_it() {
        let id = Uuid::new_v4();
        assert_eq!(as_uuid(&id.to_string()), id);
        let derived = as_uuid("order-42");
        assert_eq!(derived, as_uuid("order-42"));
        assert_ne!(derived, as_uuid("order-43"));
        assert_eq!(derived.get_version_num(), 8);
    }

    #[tokio::test]
    async fn correlation_id_reads_the_carried_request_id() {
        let id = Uuid::new_v4();
        let mut headers = HeaderMap::new();
        headers.insert(
            X_REQUEST_ID,
            HeaderValue::from_str(&id.to_string()).unwrap(),
        );
        let seen = Carried::here(&headers)
            .run(async { correlation_id() })
            .await;
        assert_eq!(seen, id);
        assert_ne!(correlation_id(), id);
    }
}
