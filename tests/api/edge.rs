//! The HTTP edge: CORS preflights and answers, compressed answers and request bodies.

use std::io::{Read, Write};
use std::time::Duration;

use axum::body::{Body, HttpBody as _};
use axum::http::{HeaderMap, Request, StatusCode, header};
use brokergraph::http::HttpConfig;
use brokergraph::http::edge::{Cors, EdgeConfig};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{self, Backend, Setup, TestApp, platform_admin};

const DASHBOARD: &str = "https://dash.example.com";

/// A query whose answer is tens of kilobytes: every type of the schema, described.
const LARGE: &str = "{ __schema { types { name description fields { name description } } } }";

async fn app_with(backend: Backend, edge: EdgeConfig) -> Option<TestApp> {
    let setup = Setup {
        http: HttpConfig {
            edge,
            ..HttpConfig::default()
        },
        ..Setup::default()
    };
    support::spawn_app_with(backend, setup).await
}

fn cors(origins: &[&str], allow_credentials: bool) -> EdgeConfig {
    let origins: Vec<String> = origins.iter().map(|origin| origin.to_string()).collect();
    EdgeConfig {
        cors: Cors::new(&origins, allow_credentials, Cors::DEFAULT_MAX_AGE).unwrap(),
        ..EdgeConfig::default()
    }
}

/// An answer as it comes off the router: status, headers and the body's bytes, undecoded.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    fn cors_headers(&self) -> Vec<String> {
        self.headers
            .keys()
            .map(|name| name.as_str().to_string())
            .filter(|name| name.starts_with("access-control-"))
            .collect()
    }

    /// The comma-separated items of a header, lower case.
    fn items(&self, name: &str) -> Vec<String> {
        self.header(name)
            .unwrap_or("")
            .split(',')
            .map(|item| item.trim().to_ascii_lowercase())
            .filter(|item| !item.is_empty())
            .collect()
    }
}

async fn send(app: &TestApp, request: Request<Body>) -> Raw {
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Raw {
        status,
        headers,
        body: body.to_vec(),
    }
}

fn preflight(origin: &str) -> Request<Body> {
    Request::options("/graphql")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization, content-type, apollographql-client-name, apollographql-client-version, \
             apollo-require-preflight, x-apollo-operation-name, x-graphql-event-stream-token, x-request-id",
        )
        .body(Body::empty())
        .unwrap()
}

/// A POST of `query`, from `origin` when given, with the admin's token when `authorized`.
fn post(query: &str, origin: Option<&str>, authorized: bool) -> Request<Body> {
    let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    if authorized {
        request = request.header(
            header::AUTHORIZATION,
            format!("Bearer {}", platform_admin()),
        );
    }
    request
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap()
}

async fn should_answer_a_preflight_from_an_allowed_origin_with_graphql_clients_headers(
    backend: Backend,
) {
    let Some(app) = app_with(backend, cors(&["http://localhost:5173", DASHBOARD], false)).await
    else {
        return;
    };
    let answer = send(&app, preflight(DASHBOARD)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(DASHBOARD)
    );
    assert_eq!(answer.header("access-control-max-age"), Some("600"));
    assert_eq!(answer.header("access-control-allow-credentials"), None);
    let methods = answer.items("access-control-allow-methods");
    assert!(methods.contains(&"post".to_string()) && methods.contains(&"get".to_string()));
    let headers = answer.items("access-control-allow-headers");
    for name in [
        "authorization",
        "content-type",
        "apollographql-client-name",
        "apollographql-client-version",
        "apollo-require-preflight",
        "x-apollo-operation-name",
        "x-graphql-event-stream-token",
        "x-request-id",
    ] {
        assert!(headers.contains(&name.to_string()), "{name}: {headers:?}");
    }
    assert!(answer.items("vary").contains(&"origin".to_string()));
}

async fn should_give_a_refused_origin_no_cors_headers(backend: Backend) {
    let Some(app) = app_with(backend, cors(&[DASHBOARD], false)).await else {
        return;
    };
    for origin in [
        "https://evil.example",
        "https://dash.example.com.evil.example",
    ] {
        let answer = send(&app, preflight(origin)).await;
        assert_eq!(answer.cors_headers(), Vec::<String>::new(), "{origin}");
        // The request itself still runs (the browser, not the server, keeps the answer from
        // the page), and its answer has no CORS header either.
        let answer = send(&app, post("{ __typename }", Some(origin), true)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.cors_headers(), Vec::<String>::new(), "{origin}");
    }
}

async fn should_let_an_allowed_origin_read_answers_and_refusals(backend: Backend) {
    let Some(app) = app_with(backend, cors(&[DASHBOARD], false)).await else {
        return;
    };
    let answer = send(&app, post("{ __typename }", Some(DASHBOARD), true)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(DASHBOARD)
    );
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["data"]["__typename"], "Query");
    // A refused token must reach the page too, with why it was refused.
    let answer = send(&app, post("{ __typename }", Some(DASHBOARD), false)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(DASHBOARD)
    );
    let exposed = answer.items("access-control-expose-headers");
    for name in ["www-authenticate", "retry-after", "x-request-id"] {
        assert!(exposed.contains(&name.to_string()), "{name}: {exposed:?}");
    }
}

async fn should_answer_any_origin_with_a_wildcard(backend: Backend) {
    let Some(app) = app_with(backend, cors(&["*"], false)).await else {
        return;
    };
    let answer = send(&app, preflight("https://anyone.example")).await;
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(answer.header("access-control-allow-credentials"), None);
    let answer = send(&app, post("{ __typename }", Some("http://x.example"), true)).await;
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
}

async fn should_allow_credentials_for_listed_origins_when_configured(backend: Backend) {
    let Some(app) = app_with(backend, cors(&[DASHBOARD], true)).await else {
        return;
    };
    let answer = send(&app, preflight(DASHBOARD)).await;
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(DASHBOARD)
    );
    assert_eq!(
        answer.header("access-control-allow-credentials"),
        Some("true")
    );
    let answer = send(&app, preflight("https://evil.example")).await;
    assert_eq!(answer.cors_headers(), Vec::<String>::new());
}

async fn should_send_no_cors_headers_by_default(backend: Backend) {
    let Some(app) = app_with(backend, EdgeConfig::default()).await else {
        return;
    };
    let answer = send(&app, preflight(DASHBOARD)).await;
    assert_eq!(answer.cors_headers(), Vec::<String>::new());
    let answer = send(&app, post("{ __typename }", Some(DASHBOARD), true)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.cors_headers(), Vec::<String>::new());
}

fn decode(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => {
            brotli::Decompressor::new(bytes, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "zstd" => out = zstd::stream::decode_all(bytes).unwrap(),
        other => panic!("no decoder for {other}"),
    }
    out
}

fn encode(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    match encoding {
        "gzip" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                encoder.write_all(bytes).unwrap();
            }
            out
        }
        "zstd" => zstd::stream::encode_all(bytes, 3).unwrap(),
        other => panic!("no encoder for {other}"),
    }
}

fn accepting(encoding: &str, request: Request<Body>) -> Request<Body> {
    let (mut parts, body) = request.into_parts();
    parts
        .headers
        .insert(header::ACCEPT_ENCODING, encoding.parse().unwrap());
    Request::from_parts(parts, body)
}

async fn should_compress_large_answers_in_each_encoding(app: TestApp) {
    let plain = send(&app, post(LARGE, None, true)).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.body.len() > 10_000, "{} bytes", plain.body.len());
    let expected: Value = serde_json::from_slice(&plain.body).unwrap();
    for encoding in ["gzip", "br", "zstd"] {
        let answer = send(&app, accepting(encoding, post(LARGE, None, true))).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("content-encoding"), Some(encoding));
        assert!(
            answer
                .items("vary")
                .contains(&"accept-encoding".to_string())
        );
        assert!(
            answer.body.len() * 4 < plain.body.len(),
            "{encoding}: {} of {} bytes",
            answer.body.len(),
            plain.body.len()
        );
        let decoded: Value = serde_json::from_slice(&decode(encoding, &answer.body)).unwrap();
        assert_eq!(decoded, expected, "{encoding}");
    }
    // The client's preference decides, as q-values say it.
    let answer = send(
        &app,
        accepting("gzip;q=0.5, zstd;q=1.0", post(LARGE, None, true)),
    )
    .await;
    assert_eq!(answer.header("content-encoding"), Some("zstd"));
}

async fn should_not_compress_small_answers(app: TestApp) {
    for request in [
        post("{ __typename }", None, true),
        // A refusal is small too.
        post("{ __typename }", None, false),
    ] {
        let answer = send(&app, accepting("gzip, br, zstd", request)).await;
        assert_eq!(answer.header("content-encoding"), None);
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        assert!(body.is_object());
    }
}

async fn should_not_compress_when_compression_is_off(backend: Backend) {
    let edge = EdgeConfig {
        compression: false,
        ..EdgeConfig::default()
    };
    let Some(app) = app_with(backend, edge).await else {
        return;
    };
    let answer = send(&app, accepting("gzip", post(LARGE, None, true))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-encoding"), None);
}

fn compressed_post(encoding: &str, body: &[u8]) -> Request<Body> {
    Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, encoding)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", platform_admin()),
        )
        .body(Body::from(encode(encoding, body)))
        .unwrap()
}

fn json_of(answer: &Raw) -> Value {
    serde_json::from_slice(&answer.body).unwrap()
}

async fn should_take_compressed_request_bodies_in_each_encoding(app: TestApp) {
    let body = json!({ "query": "query Hello { __typename }", "operationName": "Hello" });
    for encoding in ["gzip", "br", "zstd"] {
        let answer = send(&app, compressed_post(encoding, body.to_string().as_bytes())).await;
        assert_eq!(answer.status, StatusCode::OK, "{encoding}");
        assert_eq!(
            json_of(&answer)["data"]["__typename"],
            "Query",
            "{encoding}"
        );
    }
}

async fn should_refuse_a_compressed_bomb_as_too_large(app: TestApp) {
    // 8 MiB of one JSON string, a few kilobytes compressed: the limit (1 MiB) counts
    // what the body decompresses to.
    let mut bomb = br#"{"query":"{ __typename }","extensions":{"x":""#.to_vec();
    bomb.resize(8 * 1024 * 1024, b'a');
    bomb.extend_from_slice(br#""}}"#);
    for encoding in ["gzip", "br", "zstd"] {
        let request = compressed_post(encoding, &bomb);
        let sent = request.body().size_hint().exact().unwrap();
        assert!(sent < 1024 * 1024, "{encoding}: {sent} bytes");
        let answer = send(&app, request).await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{encoding}");
        assert_eq!(
            support::errors_codes(&json_of(&answer)),
            ["PAYLOAD_TOO_LARGE"]
        );
    }
}

async fn should_refuse_a_body_encoding_it_cannot_decode(app: TestApp) {
    for encoding in ["deflate", "compress", "gzip, br"] {
        let request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, encoding)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", platform_admin()),
            )
            .body(Body::from(r#"{"query":"{ __typename }"}"#))
            .unwrap();
        let answer = send(&app, request).await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{encoding}"
        );
        assert_eq!(
            support::errors_codes(&json_of(&answer)),
            ["UNSUPPORTED_MEDIA_TYPE"]
        );
        assert_eq!(answer.header("accept-encoding"), Some("gzip, br, zstd"));
    }
    // A body that is not what it says it is: a clear 400.
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", platform_admin()),
        )
        .body(Body::from(r#"{"query":"{ __typename }"}"#))
        .unwrap();
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(support::errors_codes(&json_of(&answer)), ["BAD_REQUEST"]);
}

/// A browser sends `Accept-Encoding` on the WebSocket handshake too: the `101` must stay as
/// it is, and the socket must work.
async fn should_not_compress_a_websocket_upgrade(app: TestApp) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let address = support::listen(&app).await;
    let mut request = format!("ws://{address}/graphql/ws")
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    headers.insert(
        header::ACCEPT_ENCODING,
        "gzip, deflate, br, zstd".parse().unwrap(),
    );
    let (mut socket, response) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers().get(header::CONTENT_ENCODING), None);
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", platform_admin()) } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let ack: Value = serde_json::from_str(ack.to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack");
}

crate::backend_tests!(
    should_answer_a_preflight_from_an_allowed_origin_with_graphql_clients_headers,
    should_give_a_refused_origin_no_cors_headers,
    should_let_an_allowed_origin_read_answers_and_refusals,
    should_answer_any_origin_with_a_wildcard,
    should_allow_credentials_for_listed_origins_when_configured,
    should_send_no_cors_headers_by_default,
    should_not_compress_when_compression_is_off,
);

mod answers {
    use super::*;

    crate::db_tests!(
        should_compress_large_answers_in_each_encoding,
        should_not_compress_small_answers,
        should_take_compressed_request_bodies_in_each_encoding,
        should_refuse_a_compressed_bomb_as_too_large,
        should_refuse_a_body_encoding_it_cannot_decode,
        should_not_compress_a_websocket_upgrade,
    );
}
