//! GraphQL over WebSocket (`graphql-transport-ws`) at `/graphql/ws`, against a real server on
//! a random local port, with tokio-tungstenite as the client.

use std::time::Duration;

use brokergraph::auth::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::db_tests;
use crate::support::{TestApp, platform_admin, token};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A safety bound on every receive, so a broken server fails the test instead of hanging it.
const RECEIVE_BOUND: Duration = Duration::from_secs(10);

/// Serves the app's router with the real server loop on a random local port; returns the
/// WebSocket URL.
pub(crate) async fn serve(app: &TestApp) -> String {
    format!("ws://{}/graphql/ws", crate::support::listen(app).await)
}

pub(crate) async fn connect(url: &str) -> Socket {
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (socket, response) =
        tokio::time::timeout(RECEIVE_BOUND, tokio_tungstenite::connect_async(request))
            .await
            .expect("the handshake answers")
            .expect("the handshake succeeds");
    assert_eq!(
        response.headers().get("Sec-WebSocket-Protocol").unwrap(),
        "graphql-transport-ws"
    );
    socket
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
}

/// The next text or close message (pings and pongs skipped); `None` once the stream ends.
pub(crate) async fn receive(socket: &mut Socket) -> Option<Message> {
    loop {
        let message = tokio::time::timeout(RECEIVE_BOUND, socket.next())
            .await
            .expect("the server answers within the safety bound")?;
        match message {
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(message) => return Some(message),
            Err(error) => panic!("websocket error: {error}"),
        }
    }
}

/// The next message, which must be a graphql-transport-ws JSON message.
pub(crate) async fn receive_json(socket: &mut Socket) -> Value {
    match receive(socket).await {
        Some(Message::Text(text)) => serde_json::from_str(text.as_str()).expect("JSON message"),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Connects and initialises with `Authorization: Bearer <token>`; asserts the `connection_ack`.
pub(crate) async fn initialised(url: &str, token: &str) -> Socket {
    let mut socket = connect(url).await;
    send(
        &mut socket,
        json!({
            "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {token}") },
        }),
    )
    .await;
    let ack = receive_json(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

/// Runs `query` as operation `id`; returns the `next` payload after checking the `complete`.
async fn run(socket: &mut Socket, id: &str, query: &str) -> Value {
    send(
        socket,
        json!({ "type": "subscribe", "id": id, "payload": { "query": query } }),
    )
    .await;
    let next = receive_json(socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(next["id"], id, "{next}");
    let complete = receive_json(socket).await;
    assert_eq!(complete, json!({ "type": "complete", "id": id }));
    next["payload"].clone()
}

async fn should_acknowledge_a_valid_token_and_answer_a_query_with_next_then_complete(app: TestApp) {
    crate::fixtures::broker(&app.db, "only", "Only Broker").await;
    let url = serve(&app).await;
    let mut socket = initialised(&url, &platform_admin()).await;
    let payload = run(&mut socket, "1", "{ brokers { totalCount } }").await;
    assert_eq!(
        payload,
        json!({ "data": { "brokers": { "totalCount": 1 } } })
    );
    // The connection stays open for the next operation.
    let payload = run(&mut socket, "2", "{ brokers { edges { node { slug } } } }").await;
    assert_eq!(
        payload["data"]["brokers"]["edges"][0]["node"]["slug"],
        "only"
    );
    socket.close(None).await.ok();
}

async fn should_apply_the_token_scope_over_websocket(app: TestApp) {
    let a = crate::fixtures::broker(&app.db, "broker-a", "Broker A").await;
    crate::fixtures::broker(&app.db, "broker-b", "Broker B").await;
    let url = serve(&app).await;
    let reader = token(Role::BrokerReader, Some(a.id), None, "reader-a");
    let mut socket = initialised(&url, &reader).await;
    let payload = run(
        &mut socket,
        "1",
        "{ brokers { totalCount edges { node { uuid slug } } } }",
    )
    .await;
    assert!(payload.get("errors").is_none(), "{payload}");
    let brokers = &payload["data"]["brokers"];
    assert_eq!(brokers["totalCount"], 1, "{payload}");
    let edges = brokers["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1, "{payload}");
    assert_eq!(edges[0]["node"]["slug"], "broker-a");
    assert_eq!(edges[0]["node"]["uuid"], a.id.to_string());
    socket.close(None).await.ok();
}

/// An HS256 token signed with the test secret that expired an hour ago (beyond the leeway).
fn expired_token() -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": "someone", "role": "PLATFORM_ADMIN", "iss": "brokergraph", "aud": "brokergraph",
        "iat": now - 7200, "exp": now - 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::support::SECRET.as_bytes()),
    )
    .expect("sign")
}

async fn should_close_with_4403_when_connection_init_has_a_bad_token(app: TestApp) {
    let url = serve(&app).await;
    let cases = [
        (
            "expired token",
            json!({ "Authorization": format!("Bearer {}", expired_token()) }),
        ),
        ("no token", json!({})),
        (
            "malformed token",
            json!({ "Authorization": "Bearer not.a.jwt" }),
        ),
    ];
    let mut codes = Vec::new();
    for (case, payload) in cases {
        let mut socket = connect(&url).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        let code = match receive(&mut socket).await {
            Some(Message::Close(Some(frame))) => u16::from(frame.code),
            other => panic!("{case}: expected the server to close the socket, got {other:?}"),
        };
        // Nothing follows the close: in particular no connection_ack.
        let after = tokio::time::timeout(RECEIVE_BOUND, socket.next())
            .await
            .expect("the stream ends after the close");
        assert!(
            !matches!(after, Some(Ok(Message::Text(_)))),
            "{case}: unexpected message after the close: {after:?}"
        );
        codes.push((case, code));
    }
    // 4403 is graphql-transport-ws's Forbidden.
    assert_eq!(
        codes,
        [
            ("expired token", 4403),
            ("no token", 4403),
            ("malformed token", 4403)
        ]
    );
}

db_tests!(
    should_acknowledge_a_valid_token_and_answer_a_query_with_next_then_complete,
    should_apply_the_token_scope_over_websocket,
    should_close_with_4403_when_connection_init_has_a_bad_token,
);
