//! GraphQL over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`) at
//! `/graphql/ws`. The token is verified once per connection, from `connection_init`'s payload.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, ErrorExtensions};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;

/// graphql-transport-ws: `4403: Forbidden` closes a connection whose `connection_init` was
/// refused. async-graphql closes with 1002 (protocol error) instead, so the sink rewrites it.
const FORBIDDEN: u16 = 4403;

use super::AppState;
use crate::auth::{AuthError, subject};
use crate::error::ApiError;

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
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let schema = state.websocket_schema.clone();
            let auth = state.auth.clone();
            let db = state.db.clone();
            let refused = Arc::new(AtomicBool::new(false));
            let seen = refused.clone();
            let (sink, stream) = socket.split();
            let sink = sink.with(move |message: Message| {
                let message = match message {
                    Message::Close(Some(frame)) if seen.load(Ordering::Relaxed) => {
                        Message::Close(Some(CloseFrame {
                            code: FORBIDDEN,
                            reason: frame.reason,
                        }))
                    }
                    other => other,
                };
                futures_util::future::ready(Ok::<_, axum::Error>(message))
            });
            GraphQLWebSocket::new_with_pair(sink, stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let verified = match auth.authenticate(authorization(&payload).as_deref()).await
                    {
                        Ok(principal) => match subject::ensure_member(&db, &principal).await {
                            Ok(()) => Ok(principal),
                            Err(ApiError::Unauthenticated { reason, message }) => {
                                Err(AuthError::new(reason, message))
                            }
                            Err(_) => {
                                return Err(async_graphql::Error::new("internal server error")
                                    .extend_with(|_, ext| {
                                        ext.set("code", "INTERNAL_SERVER_ERROR")
                                    }));
                            }
                        },
                        Err(error) => Err(error),
                    };
                    match verified {
                        Ok(principal) => {
                            let mut data = Data::default();
                            data.insert(principal);
                            Ok(data)
                        }
                        Err(error) => {
                            refused.store(true, Ordering::Relaxed);
                            tracing::warn!(
                                reason = error.reason,
                                "websocket refused: not authenticated"
                            );
                            Err(
                                async_graphql::Error::new(error.message).extend_with(|_, ext| {
                                    ext.set("code", "UNAUTHENTICATED");
                                    ext.set("reason", error.reason);
                                }),
                            )
                        }
                    }
                })
                .serve()
        })
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
