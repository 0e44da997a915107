//! Issue 10, items 2, 3, 4 and 6: deadlines that stop the work, WebSocket resources, slow
//! clients, and WebSocket connections that outlive their token. Against the real server loop
//! (`brokergraph::http::serve::serve`) on a random local port where a socket matters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use brokergraph::auth::AuthConfig;
use brokergraph::graphql::exec::limits::Limits;
use brokergraph::graphql::relay::ids::{self, Kind};
use brokergraph::http::HttpConfig;
use brokergraph::http::serve::{ServeConfig, serve};
use brokergraph::partner_center::connections::Connector;
use brokergraph::partner_center::sandbox::{Sandbox, SandboxPartner};
use brokergraph::partner_center::{
    CallIds, Customer, NewCustomer, PartnerCenter, PartnerCenterError,
};
use entity::{organization, service, tenant};
use futures_util::{SinkExt, StreamExt};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::fixtures;
use crate::support::{Backend, SECRET, Setup, TestApp, platform_admin, spawn_app_with};
use crate::{backend_tests, db_tests};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const BOUND: Duration = Duration::from_secs(15);

/// Partner Center that takes `delay` to create each customer, and counts how many creations
/// run at once.
struct Slow {
    inner: Sandbox,
    delay: Duration,
    running: AtomicUsize,
    most: AtomicUsize,
}

impl Slow {
    fn new(delay: Duration) -> Arc<Slow> {
        Arc::new(Slow {
            inner: Sandbox::new(),
            delay,
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        })
    }
}

/// One broker's sandbox behind a [`Slow`].
struct SlowPartner {
    slow: Arc<Slow>,
    inner: SandboxPartner,
}

/// The connector of a [`Slow`] (shared, so that its counts cover every broker).
struct SlowConnector(Arc<Slow>);

impl Connector for SlowConnector {
    fn for_broker(&self, db: &DatabaseConnection, broker_id: uuid::Uuid) -> Arc<dyn PartnerCenter> {
        Arc::new(SlowPartner {
            slow: self.0.clone(),
            inner: self.0.inner.partner(db.clone(), broker_id),
        })
    }
}

#[async_trait::async_trait]
impl PartnerCenter for SlowPartner {
    async fn create_customer(
        &self,
        customer: &NewCustomer,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        let slow = &self.slow;
        let now = slow.running.fetch_add(1, Ordering::SeqCst) + 1;
        slow.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(slow.delay).await;
        slow.running.fetch_sub(1, Ordering::SeqCst);
        self.inner.create_customer(customer, ids).await
    }
    async fn get_customer(
        &self,
        tenant_id: uuid::Uuid,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        self.inner.get_customer(tenant_id, ids).await
    }
    async fn domain_available(
        &self,
        prefix: &str,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        self.inner.domain_available(prefix, ids).await
    }
    async fn list_customers(
        &self,
        size: u32,
        continuation: Option<&str>,
        ids: CallIds,
    ) -> Result<brokergraph::partner_center::CustomerPage, PartnerCenterError> {
        self.inner.list_customers(size, continuation, ids).await
    }
    async fn has_admin_relationship(
        &self,
        tenant_id: uuid::Uuid,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        self.inner.has_admin_relationship(tenant_id, ids).await
    }
    fn verifies_customers(&self) -> bool {
        false
    }
}

const BUY: &str = "mutation($input: AddMicrosoftServiceInput!) { addMicrosoftService(input: $input) { tenantCreated } }";

/// `n` organizations without a tenant, and a Microsoft service they can buy.
pub(crate) async fn organizations(
    app: &TestApp,
    n: usize,
) -> (Vec<organization::Model>, service::Model) {
    let broker = fixtures::broker(&app.db, "contoso", "Contoso").await;
    let m365 = fixtures::service(&app.db, &broker, "Microsoft 365", "CFQ7TTC0LCHC").await;
    let mut organizations = Vec::new();
    for index in 0..n {
        organizations
            .push(fixtures::organization(&app.db, &broker, &format!("Org {index}"), "DE").await);
    }
    (organizations, m365)
}

pub(crate) fn buy(organization: &organization::Model, m365: &service::Model, key: &str) -> Value {
    let prefix: String = format!("{}{key}", organization.name)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    json!({ "query": BUY, "variables": { "input": {
        "organizationId": ids::encode(Kind::Organization, organization.id).0,
        "serviceId": ids::encode(Kind::Service, m365.id).0,
        "quantity": 1,
        "domainPrefix": prefix.to_lowercase(),
        "idempotencyKey": key,
    } } })
}

async fn tenants(app: &TestApp) -> u64 {
    tenant::Entity::find().count(&app.db).await.unwrap()
}

fn limits(timeout_seconds: u64) -> Limits {
    Limits {
        request_timeout_seconds: timeout_seconds,
        ..Limits::default()
    }
}

/// Serves the app with the real server loop on a random local port.
pub(crate) async fn listen(app: &TestApp, config: ServeConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(serve(listener, router, config, std::future::pending()));
    address
}

// Item 2: work that outlives its deadline.

async fn should_answer_a_batch_within_one_deadline(backend: Backend) {
    let slow = Slow::new(Duration::from_millis(600));
    let setup = Setup {
        limits: limits(1),
        partner_center: Some(Arc::new(SlowConnector(slow.clone()))),
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 3).await;
    let batch: Vec<Value> = organizations
        .iter()
        .map(|organization| buy(organization, &m365, "batchkey"))
        .collect();
    let started = Instant::now();
    let response = app.post_json(&Value::Array(batch)).await;
    let elapsed = started.elapsed();
    // One deadline (1 s) for the request, not one per operation: with one each, the batch
    // would take at least 3 × 0.6 s (and the later operations would succeed, see below).
    assert!(elapsed < Duration::from_millis(1800), "{elapsed:?}");
    assert_eq!(response.status, 200, "{}", response.body);
    let answers = response.body.as_array().expect("an array");
    assert_eq!(
        answers[0]["data"]["addMicrosoftService"]["tenantCreated"],
        true
    );
    for answer in &answers[1..] {
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "REQUEST_TIMEOUT",
            "{answer}"
        );
    }
    // The cut operation did not go on after the deadline.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(tenants(&app).await, 1);
    assert_eq!(slow.inner.created(), 1);
}

async fn should_stop_an_operation_at_its_deadline(backend: Backend) {
    let setup = Setup {
        limits: limits(1),
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 1).await;
    // Shorter than the Partner Center deadline (2 s): a call left running would succeed.
    app.sandbox.hang_next(Duration::from_millis(1500));
    let started = Instant::now();
    let response = app
        .post_json(&buy(&organizations[0], &m365, "latekey1"))
        .await;
    assert!(started.elapsed() < Duration::from_millis(1400));
    assert_eq!(response.status, 504, "{}", response.body);
    assert_eq!(response.codes(), ["REQUEST_TIMEOUT"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.sandbox.created(),
        0,
        "the operation went on after the 504"
    );
    assert_eq!(tenants(&app).await, 0);
}

async fn should_stop_an_operation_whose_client_went_away(app: TestApp) {
    let (organizations, m365) = organizations(&app, 1).await;
    app.sandbox.hang_next(Duration::from_millis(1000));
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            buy(&organizations[0], &m365, "gonekey1").to_string(),
        ))
        .unwrap();
    // The client gives up: the handler's future is dropped.
    let sent = tokio::time::timeout(Duration::from_millis(300), app.admin().send(request)).await;
    assert!(sent.is_err());
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        app.sandbox.created(),
        0,
        "the operation ran on without its client"
    );
    assert_eq!(tenants(&app).await, 0);
}

// WebSocket helpers.

pub(crate) async fn connect(address: SocketAddr) -> Socket {
    let mut request = format!("ws://{address}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (socket, _) = tokio::time::timeout(BOUND, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .unwrap();
    socket
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next text or close message; `None` when the connection ends (or breaks).
pub(crate) async fn receive(socket: &mut Socket) -> Option<Message> {
    loop {
        match tokio::time::timeout(BOUND, socket.next()).await.unwrap() {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return Some(message),
            Some(Err(_)) | None => return None,
        }
    }
}

pub(crate) async fn receive_json(socket: &mut Socket) -> Value {
    match receive(socket).await {
        Some(Message::Text(text)) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

pub(crate) async fn initialised(address: SocketAddr, token: &str) -> Socket {
    let mut socket = connect(address).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(receive_json(&mut socket).await["type"], "connection_ack");
    socket
}

fn close_code(message: Option<Message>) -> Option<u16> {
    match message {
        Some(Message::Close(Some(frame))) => Some(u16::from(frame.code)),
        _ => None,
    }
}

async fn should_time_out_a_websocket_operation_and_keep_the_connection(backend: Backend) {
    let setup = Setup {
        limits: limits(1),
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 1).await;
    let address = listen(&app, ServeConfig::default()).await;
    let mut socket = initialised(address, &platform_admin()).await;
    app.sandbox.hang_next(Duration::from_millis(1500));
    let started = Instant::now();
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "slow", "payload": buy(&organizations[0], &m365, "wskey001") }),
    )
    .await;
    let next = receive_json(&mut socket).await;
    assert!(started.elapsed() < Duration::from_millis(1400));
    assert_eq!(next["id"], "slow", "{next}");
    assert_eq!(
        next["payload"]["errors"][0]["extensions"]["code"], "REQUEST_TIMEOUT",
        "{next}"
    );
    assert_eq!(
        receive_json(&mut socket).await,
        json!({ "type": "complete", "id": "slow" })
    );
    // The connection still serves.
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "2", "payload": { "query": "{ brokers { totalCount } }" } }),
    )
    .await;
    let next = receive_json(&mut socket).await;
    assert_eq!(
        next["payload"]["data"]["brokers"]["totalCount"], 1,
        "{next}"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        app.sandbox.created(),
        0,
        "the operation went on after its deadline"
    );
}

// Item 3: WebSocket resources.

async fn should_bound_the_operations_in_flight_on_one_connection(backend: Backend) {
    let slow = Slow::new(Duration::from_millis(200));
    let setup = Setup {
        http: HttpConfig {
            websocket_max_in_flight: 3,
            ..HttpConfig::default()
        },
        partner_center: Some(Arc::new(SlowConnector(slow.clone()))),
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 9).await;
    let address = listen(&app, ServeConfig::default()).await;
    let mut socket = initialised(address, &platform_admin()).await;
    for (index, organization) in organizations.iter().enumerate() {
        send(
            &mut socket,
            json!({ "type": "subscribe", "id": index.to_string(), "payload": buy(organization, &m365, "boundkey") }),
        )
        .await;
    }
    // Another connection is served meanwhile.
    let mut other = initialised(address, &platform_admin()).await;
    send(
        &mut other,
        json!({ "type": "subscribe", "id": "x", "payload": { "query": "{ brokers { totalCount } }" } }),
    )
    .await;
    assert_eq!(
        receive_json(&mut other).await["payload"]["data"]["brokers"]["totalCount"],
        1
    );
    let mut answered = 0;
    while answered < organizations.len() {
        let message = receive_json(&mut socket).await;
        match message["type"].as_str() {
            Some("next") => {
                assert_eq!(
                    message["payload"]["data"]["addMicrosoftService"]["tenantCreated"], true,
                    "{message}"
                );
            }
            Some("complete") => answered += 1,
            _ => panic!("{message}"),
        }
    }
    assert_eq!(slow.inner.created(), organizations.len());
    let most = slow.most.load(Ordering::SeqCst);
    assert!(most <= 3, "{most} operations ran at once on one connection");
}

async fn should_close_a_websocket_that_sends_an_oversize_message(backend: Backend) {
    let setup = Setup {
        http: HttpConfig {
            max_body_bytes: 64 * 1024,
            ..HttpConfig::default()
        },
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let address = listen(&app, ServeConfig::default()).await;
    let mut socket = initialised(address, &platform_admin()).await;
    let padding = "x".repeat(100 * 1024);
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "big", "payload": {
            "query": "{ brokers { totalCount } }", "variables": { "padding": padding } } }),
    )
    .await;
    let answer = receive(&mut socket).await;
    assert!(
        answer.is_none() || close_code(answer.clone()) == Some(1009),
        "expected the connection to close, got {answer:?}"
    );
}

async fn should_close_a_websocket_without_connection_init_with_4408(backend: Backend) {
    let setup = Setup {
        http: HttpConfig {
            websocket_init_timeout: Duration::from_secs(1),
            ..HttpConfig::default()
        },
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let address = listen(&app, ServeConfig::default()).await;
    let mut socket = connect(address).await;
    let started = Instant::now();
    assert_eq!(close_code(receive(&mut socket).await), Some(4408));
    assert!(started.elapsed() < Duration::from_secs(3));
    // An initialised connection is not closed by that timer.
    let mut socket = initialised(address, &platform_admin()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ brokers { totalCount } }" } }),
    )
    .await;
    assert_eq!(receive_json(&mut socket).await["type"], "next");
}

// Item 6: a WebSocket outlives its token.

fn token_expiring_in(seconds: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": "someone", "role": "PLATFORM_ADMIN", "iss": "brokergraph", "aud": "brokergraph",
        "iat": now, "exp": now + seconds,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn should_close_a_websocket_when_its_token_expires(backend: Backend) {
    let auth = AuthConfig {
        jwt_leeway_seconds: 1,
        ..AuthConfig::default()
    }
    .hs256(SECRET.into(), false)
    .authenticator;
    let setup = Setup {
        auth: Some(auth),
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let address = listen(&app, ServeConfig::default()).await;
    let mut socket = initialised(address, &token_expiring_in(2)).await;
    let started = Instant::now();
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ brokers { totalCount } }" } }),
    )
    .await;
    assert_eq!(
        receive_json(&mut socket).await["payload"]["data"]["brokers"]["totalCount"],
        0
    );
    assert_eq!(receive_json(&mut socket).await["type"], "complete");
    // `exp` in 2 s, 1 s of leeway: closed with 4403 after about 3 s, not before the leeway.
    let closed = receive(&mut socket).await;
    let elapsed = started.elapsed();
    assert_eq!(close_code(closed), Some(4403));
    assert!(elapsed > Duration::from_millis(1500), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

// Item 4: slow clients.

/// Reads until the server closes the connection; what it sent, or `None` if it kept the
/// connection open past `bound`.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

async fn should_close_connections_that_dribble_their_headers(app: TestApp) {
    let config = ServeConfig {
        header_read_timeout: Duration::from_secs(1),
    };
    let address = listen(&app, config).await;
    // Headers one byte every 200 ms: 10 s of them, cut after the 1 s time-out.
    let mut stream = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    let headers = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: {}\r\n\r\n",
        "y".repeat(30)
    );
    let (mut reader, mut writer) = stream.split();
    let writing = dribble_half(&mut writer, headers.as_bytes(), Duration::from_millis(200));
    let reading = async {
        let mut buffer = [0u8; 1024];
        let _ = tokio::time::timeout(BOUND, reader.read(&mut buffer)).await;
    };
    tokio::select! { () = writing => {}, () = reading => {} }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "held for {elapsed:?}");
    // A connection that sends nothing at all is closed too.
    let mut idle = TcpStream::connect(address).await.unwrap();
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(4))
            .await
            .is_some()
    );
    // A prompt client is served.
    let mut prompt = TcpStream::connect(address).await.unwrap();
    prompt
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut prompt, BOUND).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

async fn dribble_half(writer: &mut tokio::net::tcp::WriteHalf<'_>, bytes: &[u8], pause: Duration) {
    for byte in bytes {
        if writer.write_all(&[*byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(pause).await;
    }
}

async fn should_answer_408_to_a_dribbled_body(backend: Backend) {
    let setup = Setup {
        http: HttpConfig {
            body_read_timeout: Duration::from_secs(1),
            ..HttpConfig::default()
        },
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let address = listen(&app, ServeConfig::default()).await;
    let body = json!({ "query": "{ brokers { totalCount } }" }).to_string();
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer {}\r\ncontent-length: {}\r\n\r\n",
        platform_admin(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.split();
    let writing = dribble_half(&mut writer, body.as_bytes(), Duration::from_millis(300));
    let mut answer = Vec::new();
    let reading = async {
        let mut buffer = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout(BOUND, reader.read(&mut buffer)).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
    };
    tokio::select! { () = writing => {}, () = reading => {} }
    let elapsed = started.elapsed();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(elapsed < Duration::from_secs(4), "held for {elapsed:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
}

db_tests!(
    should_stop_an_operation_whose_client_went_away,
    should_close_connections_that_dribble_their_headers,
);

mod configured {
    use super::*;
    backend_tests!(
        should_answer_a_batch_within_one_deadline,
        should_stop_an_operation_at_its_deadline,
        should_time_out_a_websocket_operation_and_keep_the_connection,
        should_bound_the_operations_in_flight_on_one_connection,
        should_close_a_websocket_that_sends_an_oversize_message,
        should_close_a_websocket_without_connection_init_with_4408,
        should_close_a_websocket_when_its_token_expires,
        should_answer_408_to_a_dribbled_body,
    );
}
