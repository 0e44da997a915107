//! GraphQL over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`) at
//! `/graphql/ws`. The token is verified once per connection, from `connection_init`'s payload;
//! its expiry then bounds the connection.
//!
//! async-graphql runs the protocol; this module bounds what a connection may cost, which it
//! does not: messages no larger than an HTTP body, at most `websocket_max_in_flight`
//! operations at once (the socket is not read while that many run), each with the HTTP
//! request's deadline, `connection_init` within `websocket_init_timeout`, and nothing past
//! the token's `exp` (plus the configured leeway).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols as Protocols, WsMessage};
use async_graphql::{BatchRequest, BatchResponse, Data, Executor};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use futures_util::stream::{BoxStream, SplitStream};
use futures_util::{SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tracing::{Instrument as _, Span};

use super::AppState;
use super::request_id::Carried;
use crate::auth::{Principal, subject};
use crate::error::ApiError;
use crate::graphql::AppSchema;

/// graphql-transport-ws: `4403: Forbidden` closes a connection whose `connection_init` was
/// refused (async-graphql closes with 1002, protocol error, instead), and one whose token
/// expired: the same token would be refused at `connection_init`, so it gets the same code.
const FORBIDDEN: u16 = 4403;
/// graphql-transport-ws: `4408: Connection initialisation timeout`.
const INIT_TIMEOUT: u16 = 4408;
/// RFC 6455: `1009`, a message too big to process.
const TOO_BIG: u16 = 1009;

/// When a connection's token stops being accepted: its `exp` plus the leeway. Operations
/// find it in their context data (see `graphql::WebSocketRules`).
#[derive(Debug, Clone, Copy)]
pub struct TokenExpiry {
    /// Unix time, in milliseconds.
    pub until_millis: i64,
}

impl TokenExpiry {
    pub fn of(principal: &Principal, leeway_seconds: u64) -> Option<TokenExpiry> {
        let leeway = i64::try_from(leeway_seconds).unwrap_or(i64::MAX / 2_000);
        let expires_at = principal.expires_at?;
        Some(TokenExpiry {
            until_millis: expires_at.saturating_add(leeway).saturating_mul(1000),
        })
    }

    fn now_millis() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |now| i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn has_passed(&self) -> bool {
        Self::now_millis() >= self.until_millis
    }

    /// The same moment on tokio's clock.
    pub fn instant(&self) -> Instant {
        let left = self.until_millis.saturating_sub(Self::now_millis()).max(0);
        Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0))
    }
}

/// What the connection's tasks share: the operations running, and what `connection_init`
/// brought.
#[derive(Default)]
pub(crate) struct Session {
    state: Mutex<SessionState>,
}

impl Session {
    /// The session of one operation that has no socket (Server-Sent Events, `super::sse`):
    /// its caller already verified, its operation counted against that caller's bound.
    pub(crate) fn verified(principal: Principal) -> Arc<Session> {
        Arc::new(Session {
            state: Mutex::new(SessionState {
                init_received: true,
                principal: Some(principal),
                ..SessionState::default()
            }),
        })
    }
}

#[derive(Default)]
struct SessionState {
    /// The ids of the operations started and not yet completed.
    running: HashSet<String>,
    /// The reader, parked while `running` is full.
    reader: Option<Waker>,
    init_received: bool,
    refused: bool,
    expiry: Option<TokenExpiry>,
    too_big: bool,
    /// The caller `connection_init` verified, whose operations count against its bound.
    principal: Option<Principal>,
}

impl Session {
    fn lock(&self) -> std::sync::MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn finished(&self, id: &str) {
        let mut state = self.lock();
        if state.running.remove(id)
            && let Some(reader) = state.reader.take()
        {
            reader.wake();
        }
    }
}

/// The `type` and `id` of a protocol message, whatever else it carries.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

/// The client's messages as async-graphql reads them, but not while `max` operations run:
/// then the socket is left unread, so TCP pushes back on the client instead of the server
/// buffering its messages. (A client's `complete` waits too; each operation ends by its
/// deadline anyway.)
struct Bounded {
    inner: SplitStream<WebSocket>,
    session: Arc<Session>,
    max: usize,
}

impl Stream for Bounded {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            {
                let mut state = self.session.lock();
                if state.running.len() >= self.max {
                    state.reader = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
            let message = match self.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(error))) => {
                    // Over-size messages end here (tungstenite refuses them); so does a
                    // broken connection.
                    tracing::debug!(error = %error, "websocket read failed");
                    let mut state = self.session.lock();
                    state.too_big = is_capacity(&error);
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(message))) => message,
            };
            let bytes = match message {
                Message::Text(_) | Message::Binary(_) => message.into_data(),
                // Pings are answered by the socket itself; a close ends the stream next.
                _ => continue,
            };
            if let Ok(envelope) = serde_json::from_slice::<Envelope>(&bytes) {
                let mut state = self.session.lock();
                match (envelope.kind.as_str(), envelope.id) {
                    ("subscribe" | "start", Some(id)) => {
                        state.running.insert(id);
                    }
                    ("complete" | "stop", Some(id)) => {
                        state.running.remove(&id);
                    }
                    ("connection_init", _) => state.init_received = true,
                    _ => {}
                }
            }
            return Poll::Ready(Some(bytes));
        }
    }
}

/// Whether a read failed on tungstenite's size limits (its `CapacityError`, which axum does
/// not expose as a type: only through its message).
fn is_capacity(error: &axum::Error) -> bool {
    let text = error.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}

/// The schema, with the HTTP request's deadline on each operation: at the deadline the
/// operation's future is dropped and the client gets `REQUEST_TIMEOUT` for its id, on a
/// connection that stays open. (The schema has no subscriptions, which a deadline would end.)
#[derive(Clone)]
pub(crate) struct Deadlined {
    pub(crate) schema: AppSchema,
    pub(crate) timeout: Duration,
    /// Where the process's and the callers' bounds are kept ([`super::admission`]).
    pub(crate) state: AppState,
    pub(crate) session: Arc<Session>,
}

fn timed_out(timeout: Duration) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![super::timed_out(timeout)])
}

impl Executor for Deadlined {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        tokio::time::timeout(self.timeout, self.schema.execute(request))
            .await
            .unwrap_or_else(|_| timed_out(self.timeout))
    }

    async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        // Never used by the WebSocket; one deadline for the whole batch, as over HTTP.
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.schema.execute_batch(batch)).await {
            Ok(response) => response,
            Err(_) => BatchResponse::Single(timed_out(timeout)),
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        // A subscription runs for as long as its client wants (bounded by its token's expiry
        // and the live limits instead); queries and mutations get the deadline.
        if is_subscription(&request) {
            return Executor::execute_stream(&self.schema, request, session_data);
        }
        let timeout = self.timeout;
        let deadline = Instant::now() + timeout;
        let carried = Carried::operation();
        let schema = self.schema.clone();
        let state = self.state.clone();
        let principal = self.session.lock().principal.clone();
        // A place among the operations running now first, as over HTTP; held until the
        // operation's stream ends or is dropped.
        futures_util::stream::once(async move {
            let permit = match &principal {
                Some(principal) => match state.admission.admit(principal, deadline).await {
                    Ok(permit) => Some(permit),
                    Err(code) => {
                        let refused = super::admission::refused(code);
                        let response = async_graphql::Response::from_errors(vec![refused]);
                        return futures_util::stream::iter([response]).boxed();
                    }
                },
                // async-graphql runs nothing before `connection_init` is accepted.
                None => None,
            };
            let inner = Executor::execute_stream(&schema, request, session_data);
            futures_util::stream::unfold(Some((inner, permit)), move |running| {
                let carried = carried.clone();
                async move {
                    let (mut inner, permit) = running?;
                    match tokio::time::timeout_at(deadline, carried.run(inner.next())).await {
                        Ok(Some(response)) => Some((response, Some((inner, permit)))),
                        Ok(None) => None,
                        // `inner`, the operation, is dropped here, and its place returned.
                        Err(_) => Some((timed_out(timeout), None)),
                    }
                }
            })
            .boxed()
        })
        .flatten()
        .boxed()
    }
}

/// Whether `request` selects a subscription (a document that does not parse is refused by
/// the schema's rules, with its code).
pub(crate) fn is_subscription(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    matches!(
        super::graphql::selected_operation(&document, request.operation_name.as_deref()),
        Ok((async_graphql::parser::types::OperationType::Subscription, _))
    )
}

/// The `Authorization` value a client put in its `connection_init` payload, under any of the
/// names clients use.
fn authorization(payload: &Value) -> Option<String> {
    let object = payload.as_object()?;
    let headers = object.get("headers").and_then(Value::as_object);
    for source in [Some(object), headers].into_iter().flatten() {
        for name in ["Authorization", "authorization"] {
            if let Some(value) = source.get(name).and_then(Value::as_str) {
                return Some(value.to_string());
            }
        }
    }
    let token = object
        .get("token")
        .or_else(|| object.get("authToken"))
        .and_then(Value::as_str)?;
    Some(format!("Bearer {token}"))
}

/// `GET /graphql/ws`
pub async fn upgrade(
    State(state): State<AppState>,
    Protocol(protocol): Protocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    // A message is at most what an HTTP request's body may be.
    let largest = state.config.max_body_bytes;
    let span = Span::current();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(largest)
        .max_frame_size(largest)
        // The connection's lines stay in its request's span (with its request ID).
        .on_upgrade(move |socket| serve(state, protocol, socket).instrument(span))
}

/// The protocol the client asked for, of those async-graphql speaks (else 400), read as
/// async-graphql-axum's `GraphQLProtocol` reads it (whose field is private).
pub struct Protocol(Protocols);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Protocol {
    type Rejection = axum::http::StatusCode;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|value| value.to_str().ok())
            .and_then(|protocols| {
                protocols
                    .split(',')
                    .find_map(|name| name.trim().parse::<Protocols>().ok())
            })
            .map(Protocol)
            .ok_or(axum::http::StatusCode::BAD_REQUEST)
    }
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Runs the protocol on one connection until either side closes it.
async fn serve(state: AppState, protocol: Protocols, socket: WebSocket) {
    let session = Arc::new(Session::default());
    let (mut sink, stream) = socket.split();
    let input = Bounded {
        inner: stream,
        session: session.clone(),
        max: state.config.websocket_max_in_flight.max(1),
    };
    let executor = Deadlined {
        schema: state.websocket_schema.clone(),
        timeout: state.limits.request_timeout(),
        state: state.clone(),
        session: session.clone(),
    };
    let auth = state.auth.clone();
    let db = state.db.clone();
    let initialised = session.clone();
    let protocol_messages = async_graphql::http::WebSocket::new(executor, input, protocol)
        .on_connection_init(move |payload| async move {
            let verified = match auth.authenticate(authorization(&payload).as_deref()).await {
                Ok(principal) => match subject::ensure_member(&db, &principal).await {
                    Ok(()) => Ok(principal),
                    Err(ApiError::Unauthenticated(error)) => Err(error),
                    // The database's own failure, not the token's: no 4403, the client may retry.
                    Err(error) => return Err(async_graphql::Error::from(error)),
                },
                Err(error) => Err(error),
            };
            match verified {
                Ok(principal) => {
                    let expiry = TokenExpiry::of(&principal, auth.leeway_seconds());
                    {
                        let mut session = initialised.lock();
                        session.expiry = expiry;
                        session.principal = Some(principal.clone());
                    }
                    let mut data = Data::default();
                    if let Some(expiry) = expiry {
                        data.insert(expiry);
                    }
                    data.insert(principal);
                    data.insert(crate::live::ConnectionSubscriptions::default());
                    Ok(data)
                }
                Err(error) => {
                    initialised.lock().refused = true;
                    tracing::warn!(
                        reason = error.reason.code(),
                        "websocket refused: not authenticated"
                    );
                    Err(ApiError::from(error).into())
                }
            }
        });
    let mut protocol_messages = std::pin::pin!(protocol_messages);
    // First the init time-out, then (once the token is known) its expiry.
    let timer = tokio::time::sleep(state.config.websocket_init_timeout);
    let mut timer = std::pin::pin!(timer);
    let mut timer_armed = true;
    // Keep-alive: a WebSocket ping when nothing was sent for a while, so proxies keep an idle
    // subscription's connection open (clients answer pings by themselves).
    let keep_alive = state.config.live.keep_alive;
    let mut ping = tokio::time::interval_at(Instant::now() + keep_alive, keep_alive);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
            message = protocol_messages.next() => {
                let Some(message) = message else { break };
                let message = match message {
                    WsMessage::Text(text) => {
                        // Only `complete` and `error` end an operation; async-graphql writes
                        // `type` first, so `next` answers, the large ones, are not parsed.
                        if (text.starts_with(r#"{"type":"complete""#)
                            || text.starts_with(r#"{"type":"error""#))
                            && let Ok(Envelope { id: Some(id), .. }) = serde_json::from_str(&text)
                        {
                            session.finished(&id);
                        }
                        Message::Text(text.into())
                    }
                    WsMessage::Close(code, reason) => {
                        let code = if session.lock().refused { FORBIDDEN } else { code };
                        close(code, &reason)
                    }
                };
                if sink.send(message).await.is_err() {
                    return;
                }
                ping.reset();
                let expiry = session.lock().expiry;
                if let Some(expiry) = expiry {
                    timer.as_mut().reset(expiry.instant());
                    timer_armed = true;
                }
            }
            () = &mut timer, if timer_armed => {
                let (expiry, init_received) = {
                    let state = session.lock();
                    (state.expiry, state.init_received)
                };
                match expiry {
                    Some(expiry) if expiry.has_passed() => {
                        tracing::info!("websocket closed: the token expired");
                        let _ = sink.send(close(FORBIDDEN, "the token has expired")).await;
                        return;
                    }
                    Some(expiry) => timer.as_mut().reset(expiry.instant()),
                    None if !init_received => {
                        tracing::info!("websocket closed: no connection_init in time");
                        let _ = sink
                            .send(close(INIT_TIMEOUT, "Connection initialisation timeout"))
                            .await;
                        return;
                    }
                    // `connection_init` is being verified; its outcome re-arms or closes.
                    None => timer_armed = false,
                }
            }
        }
    }
    if session.lock().too_big {
        let reason = format!(
            "messages are limited to {} bytes",
            state.config.max_body_bytes
        );
        let _ = sink.send(close(TOO_BIG, &reason)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_is_found_where_clients_put_it() {
        for payload in [
            json!({ "Authorization": "Bearer t" }),
            json!({ "authorization": "Bearer t" }),
            json!({ "headers": { "Authorization": "Bearer t" } }),
            json!({ "token": "t" }),
        ] {
            assert_eq!(
                authorization(&payload).as_deref(),
                Some("Bearer t"),
                "{payload}"
            );
        }
        assert_eq!(authorization(&json!({})), None);
    }
}
