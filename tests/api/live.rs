//! Live updates (`changes` subscription) through real sockets: graphql-transport-ws at
//! `/graphql/ws` and Server-Sent Events on `POST /graphql`, events of HTTP mutations, resume
//! with a cursor, scope at delivery, limits, and two server processes on one PostgreSQL.

use std::time::Duration;

use brokergraph::auth::Role;
use brokergraph::graphql::relay::ids::{Kind, encode};
use brokergraph::http::HttpConfig;
use brokergraph::live::LiveConfig;
use entity::enums::OrganizationRole;
use entity::organization;
use serde_json::{Value, json};

use crate::db_tests;
use crate::fixtures;
use crate::support::{Backend, Setup, TestApp, platform_admin, spawn_app_with, token};
use crate::websocket::{Socket, initialised, receive_json, send, serve};

const RENAME: &str = "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { name } } }";

const CHANGES: &str = "subscription($after: String) { changes(after: $after) { cursor action entityType entityId entity { __typename ... on Organization { name } } } }";

/// Renames `organization` over HTTP as the platform admin.
async fn rename(app: &TestApp, organization: &organization::Model, name: &str) {
    let id = encode(Kind::Organization, organization.id);
    let body = app
        .admin()
        .post_json(
            &json!({ "query": RENAME, "variables": { "input": { "id": id, "name": name } } }),
        )
        .await
        .body;
    assert_eq!(
        body["data"]["updateOrganization"]["organization"]["name"], name,
        "{body}"
    );
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(
        socket,
        json!({ "type": "subscribe", "id": id, "payload": { "query": query, "variables": variables } }),
    )
    .await;
}

/// The next `next` payload of operation `id`.
async fn next_event(socket: &mut Socket, id: &str) -> Value {
    let message = receive_json(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id, "{message}");
    message["payload"].clone()
}

/// A subscription without a cursor starts "from now", which is racy to observe: rename
/// until the first event arrives, and return its cursor (the start every test resumes from).
async fn first_cursor(
    app: &TestApp,
    socket: &mut Socket,
    organization: &organization::Model,
) -> String {
    use futures_util::StreamExt;
    for attempt in 0..50 {
        rename(app, organization, &format!("warm-up {attempt}")).await;
        if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) =
            tokio::time::timeout(Duration::from_millis(300), socket.next()).await
        {
            let message: Value = serde_json::from_str(text.as_str()).unwrap();
            assert_eq!(message["type"], "next", "{message}");
            return message["payload"]["data"]["changes"]["cursor"]
                .as_str()
                .unwrap()
                .to_string();
        }
    }
    panic!("no event arrived");
}

async fn should_deliver_the_events_of_http_mutations_and_resume_with_exactly_the_missed_ones(
    app: TestApp,
) {
    let broker = fixtures::broker(&app.db, "b", "B").await;
    let organization = fixtures::organization(&app.db, &broker, "Org", "DE").await;
    let url = serve(&app).await;
    let mut socket = initialised(&url, &platform_admin()).await;
    subscribe(&mut socket, "live", CHANGES, json!({})).await;
    let mut cursor = first_cursor(&app, &mut socket, &organization).await;
    for name in ["one", "two"] {
        rename(&app, &organization, name).await;
        let event = next_event(&mut socket, "live").await;
        let change = &event["data"]["changes"];
        assert_eq!(change["action"], "organization.updated", "{event}");
        assert_eq!(change["entityType"], "Organization");
        assert_eq!(
            change["entityId"],
            encode(Kind::Organization, organization.id).to_string()
        );
        // The entity as it is now, resolved like a query.
        assert_eq!(change["entity"]["name"], name, "{event}");
        cursor = change["cursor"].as_str().unwrap().to_string();
    }
    socket.close(None).await.ok();

    // Missed while disconnected: exactly these, in order, then what comes next.
    for name in ["three", "four", "five"] {
        rename(&app, &organization, name).await;
    }
    let mut socket = initialised(&url, &platform_admin()).await;
    subscribe(&mut socket, "again", CHANGES, json!({ "after": cursor })).await;
    let mut names = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut socket, "again").await;
        names.push(event["data"]["changes"]["entity"]["name"].clone());
    }
    // Each entity as it is now; the next event is the deletion, so there were exactly three.
    assert_eq!(names, vec![json!("five"); 3]);
    // A deleted row arrives with its ID only.
    let id = encode(Kind::Organization, organization.id);
    let deleted = app
        .admin()
        .post_json(&json!({
            "query": "mutation($input: DeleteInput!) { deleteOrganization(input: $input) { deletedId } }",
            "variables": { "input": { "id": id } },
        }))
        .await
        .body;
    assert_eq!(
        deleted["data"]["deleteOrganization"]["deletedId"],
        id.to_string(),
        "{deleted}"
    );
    let event = next_event(&mut socket, "again").await;
    let change = &event["data"]["changes"];
    assert_eq!(change["action"], "organization.deleted", "{event}");
    assert_eq!(change["entityId"], id.to_string());
    assert_eq!(change["entity"], Value::Null);
    socket.close(None).await.ok();
}

/// Who sees which organization's events: each subscriber's events are exactly those of the
/// rows its query scope shows, with the same field guards.
async fn should_deliver_an_event_only_to_subscribers_whose_scope_holds_its_row(app: TestApp) {
    let b1 = fixtures::broker(&app.db, "b1", "B1").await;
    let b2 = fixtures::broker(&app.db, "b2", "B2").await;
    let a1 = fixtures::organization(&app.db, &b1, "A1", "DE").await;
    let a2 = fixtures::organization(&app.db, &b1, "A2", "DE").await;
    let c1 = fixtures::organization(&app.db, &b2, "C1", "DE").await;
    let member = fixtures::user(
        &app.db,
        &a1,
        "jane@a1.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
    let organization_admin = fixtures::user(
        &app.db,
        &a1,
        "it@a1.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    let url = serve(&app).await;
    let mut admin = initialised(&url, &platform_admin()).await;
    subscribe(&mut admin, "start", CHANGES, json!({})).await;
    let start = first_cursor(&app, &mut admin, &a1).await;

    let query = "subscription($after: String) { changes(after: $after) { action entityId entity { ... on Organization { name contactEmail } } } }";
    let subscribers = [
        (
            "platform admin",
            platform_admin(),
            vec!["A2", "A1", "C1", "A1'", "C1'"],
        ),
        (
            "broker admin of B1",
            token(Role::BrokerAdmin, Some(b1.id), None, "ba1"),
            vec!["A2", "A1", "A1'"],
        ),
        (
            "broker reader of B2",
            token(Role::BrokerReader, Some(b2.id), None, "br2"),
            vec!["C1", "C1'"],
        ),
        (
            "organization admin of A1",
            token(
                Role::OrganizationAdmin,
                None,
                Some(a1.id),
                &organization_admin.email,
            ),
            vec!["A1", "A1'"],
        ),
        (
            "organization user of A1",
            token(Role::OrganizationUser, None, Some(a1.id), &member.email),
            vec!["A1", "A1'"],
        ),
    ];
    let mut sockets = Vec::new();
    for (who, token, expected) in subscribers {
        let mut socket = initialised(&url, &token).await;
        subscribe(&mut socket, "s", query, json!({ "after": start })).await;
        sockets.push((who, socket, expected));
    }
    for (organization, name) in [
        (&a2, "A2"),
        (&a1, "A1"),
        (&c1, "C1"),
        (&a1, "A1'"),
        (&c1, "C1'"),
    ] {
        rename(&app, organization, name).await;
    }
    for (who, mut socket, expected) in sockets {
        for (index, name) in expected.iter().enumerate() {
            let event = next_event(&mut socket, "s").await;
            // The entity is resolved when the event is delivered: a rename that committed in
            // the meantime already shows (the same organization's later name), never another's.
            let organization = |name: &str| name.trim_end_matches('\'').to_owned();
            let allowed: Vec<&str> = expected[index..]
                .iter()
                .copied()
                .filter(|later| organization(later) == organization(name))
                .collect();
            let delivered = event["data"]["changes"]["entity"]["name"].as_str();
            assert!(
                delivered.is_some_and(|delivered| allowed.contains(&delivered)),
                "{who}: {event} (expected one of {allowed:?})"
            );
            let email = &event["data"]["changes"]["entity"]["contactEmail"];
            if who == "organization user of A1" {
                // The field guard of a query: no contact details for organization users.
                assert_eq!(*email, Value::Null, "{who}: {event}");
                assert_eq!(
                    crate::support::errors_codes(&event),
                    vec!["FORBIDDEN"],
                    "{who}: {event}"
                );
            } else {
                assert!(email.is_string(), "{who}: {event}");
            }
        }
        socket.close(None).await.ok();
    }
    admin.close(None).await.ok();
}

/// Waits for the one refusal of the subscriptions just started; returns its id.
async fn refused(socket: &mut Socket, limit: &str) -> String {
    let refusal = receive_json(socket).await;
    assert_eq!(refusal["type"], "next", "{refusal}");
    let payload = &refusal["payload"];
    assert_eq!(
        crate::support::errors_codes(payload),
        vec!["SUBSCRIPTION_LIMIT_EXCEEDED"],
        "{refusal}"
    );
    assert!(
        payload["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(limit),
        "{refusal}"
    );
    let id = refusal["id"].as_str().unwrap().to_string();
    let complete = receive_json(socket).await;
    assert_eq!(complete, json!({ "type": "complete", "id": id }));
    id
}

/// The live limits, each just under and just over.
async fn should_refuse_a_subscription_over_the_connection_and_principal_limits(_: TestApp) {
    let Some(app) = spawn_app_with(
        crate::support::Backend::Sqlite,
        Setup {
            http: HttpConfig {
                live: LiveConfig {
                    max_per_connection: 2,
                    max_per_principal: 3,
                    ..LiveConfig::DEFAULTS
                },
                ..HttpConfig::default()
            },
            ..Setup::default()
        },
    )
    .await
    else {
        return;
    };
    let url = serve(&app).await;
    let query = "subscription { changes { cursor } }";
    // Subscriptions start concurrently: of three on a connection that holds two, one is
    // refused (whichever started last), and only one.
    let mut first = initialised(&url, &platform_admin()).await;
    for id in ["1", "2", "3"] {
        subscribe(&mut first, id, query, json!({})).await;
    }
    let refused_id = refused(&mut first, "per connection").await;
    // Per principal (3): the two held on the first connection and one more fit, no fourth.
    let mut second = initialised(&url, &platform_admin()).await;
    for id in ["4", "5"] {
        subscribe(&mut second, id, query, json!({})).await;
    }
    refused(&mut second, "per principal").await;
    // Ending one frees its place (the principal's too): a new one is not refused.
    let held = ["1", "2", "3"]
        .into_iter()
        .find(|id| *id != refused_id)
        .unwrap();
    send(&mut first, json!({ "type": "complete", "id": held })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    subscribe(&mut first, "6", query, json!({})).await;
    subscribe(&mut first, "7", "{ brokers { totalCount } }", json!({})).await;
    loop {
        let message = receive_json(&mut first).await;
        assert!(message["payload"]["errors"].is_null(), "{message}");
        if message["id"] == "7" {
            break;
        }
    }
    // Another principal is not held back by the first one's subscriptions.
    let mut other = initialised(&url, &token(Role::PlatformAdmin, None, None, "other-admin")).await;
    subscribe(&mut other, "7", query, json!({})).await;
    subscribe(&mut other, "8", "{ brokers { totalCount } }", json!({})).await;
    let answer = next_event(&mut other, "8").await;
    assert_eq!(answer["data"]["brokers"]["totalCount"], 0, "{answer}");
}

db_tests!(
    should_deliver_the_events_of_http_mutations_and_resume_with_exactly_the_missed_ones,
    should_deliver_an_event_only_to_subscribers_whose_scope_holds_its_row,
    should_stream_changes_and_queries_over_server_sent_events,
);

mod bounds {
    #[tokio::test]
    async fn should_end_a_subscription_when_its_token_expires() {
        let app = crate::support::spawn_app(crate::support::Backend::Sqlite).await;
        super::should_end_a_subscription_when_its_token_expires(app.unwrap()).await;
    }

    #[tokio::test]
    async fn should_refuse_a_subscription_over_the_connection_and_principal_limits() {
        let app = crate::support::spawn_app(crate::support::Backend::Sqlite).await;
        super::should_refuse_a_subscription_over_the_connection_and_principal_limits(app.unwrap())
            .await;
    }
}

/// A `graphql-sse` (distinct connections) client: `POST /graphql` with
/// `Accept: text/event-stream`, read event by event over a real socket.
pub(crate) struct SseStream {
    response: reqwest::Response,
    buffer: String,
}

impl SseStream {
    pub(crate) async fn open(address: std::net::SocketAddr, token: &str, body: Value) -> SseStream {
        let response = reqwest::Client::new()
            .post(format!("http://{address}/graphql"))
            .header("Accept", "text/event-stream")
            .header("Authorization", format!("Bearer {token}"))
            .json(&body)
            .send()
            .await
            .expect("the request is sent");
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        SseStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's name and data (keep-alive comments skipped); `None` at the end.
    pub(crate) async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = None;
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = Some(name.trim().to_string());
                    } else if let Some(line) = line.strip_prefix("data:") {
                        data.push(line.strip_prefix(' ').unwrap_or(line).to_string());
                    }
                }
                match event {
                    Some(event) => return Some((event, data.join("\n"))),
                    None => continue,
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("the server streams within the safety bound")
                .expect("the stream reads")?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    pub(crate) async fn next_json(&mut self) -> Value {
        let (event, data) = self.next().await.expect("an event");
        assert_eq!(event, "next", "{data}");
        serde_json::from_str(&data).unwrap()
    }
}

async fn should_stream_changes_and_queries_over_server_sent_events(app: TestApp) {
    let broker = fixtures::broker(&app.db, "b", "B").await;
    let organization = fixtures::organization(&app.db, &broker, "Org", "DE").await;
    let address = crate::support::listen(&app).await;
    // A query: one `next`, then `complete`.
    let mut stream = SseStream::open(
        address,
        &platform_admin(),
        json!({ "query": "{ brokers { totalCount } }" }),
    )
    .await;
    assert_eq!(
        stream.next_json().await,
        json!({ "data": { "brokers": { "totalCount": 1 } } })
    );
    assert_eq!(
        stream.next().await.map(|(event, _)| event),
        Some("complete".into())
    );
    // The same document rules as HTTP: a limit's code.
    let mut stream = SseStream::open(
        address,
        &platform_admin(),
        json!({ "query": format!("{{ {} }}", "a: __typename ".repeat(40)) }),
    )
    .await;
    let refused = stream.next_json().await;
    assert_eq!(
        crate::support::errors_codes(&refused),
        vec!["MAX_ALIASES_EXCEEDED"],
        "{refused}"
    );

    // Changes: a cursor from the WebSocket resumes over SSE, with the events after it.
    let url = serve(&app).await;
    let mut socket = initialised(&url, &platform_admin()).await;
    subscribe(&mut socket, "live", CHANGES, json!({})).await;
    let cursor = first_cursor(&app, &mut socket, &organization).await;
    socket.close(None).await.ok();
    rename(&app, &organization, "over SSE").await;
    let mut stream = SseStream::open(
        address,
        &platform_admin(),
        json!({ "query": CHANGES, "variables": { "after": cursor } }),
    )
    .await;
    let event = stream.next_json().await;
    assert_eq!(
        event["data"]["changes"]["entity"]["name"], "over SSE",
        "{event}"
    );
    rename(&app, &organization, "live over SSE").await;
    let event = stream.next_json().await;
    assert_eq!(
        event["data"]["changes"]["entity"]["name"], "live over SSE",
        "{event}"
    );
}

/// A subscription ends when its token expires: over SSE with a final `UNAUTHENTICATED`
/// (`TOKEN_EXPIRED`) and `complete`.
async fn should_end_a_subscription_when_its_token_expires(_: TestApp) {
    let Some(app) = spawn_app_with(
        crate::support::Backend::Sqlite,
        Setup {
            auth: Some(
                brokergraph::auth::AuthConfig {
                    jwt_leeway_seconds: 0,
                    ..brokergraph::auth::AuthConfig::default()
                }
                .hs256(crate::support::SECRET.into(), false)
                .authenticator,
            ),
            ..Setup::default()
        },
    )
    .await
    else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": "short", "role": "PLATFORM_ADMIN", "iss": "brokergraph", "aud": "brokergraph",
        "iat": now, "exp": now + 2,
    });
    let short = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::support::SECRET.as_bytes()),
    )
    .unwrap();
    let address = crate::support::listen(&app).await;
    let mut stream = SseStream::open(address, &short, json!({ "query": CHANGES })).await;
    let ended = stream.next_json().await;
    assert_eq!(
        crate::support::errors_codes(&ended),
        vec!["UNAUTHENTICATED"],
        "{ended}"
    );
    assert_eq!(
        ended["errors"][0]["extensions"]["reason"], "TOKEN_EXPIRED",
        "{ended}"
    );
    assert_eq!(
        stream.next().await.map(|(event, _)| event),
        Some("complete".into())
    );
}

/// The first cursor of a `changes` stream opened "from now" on `stream`: renames over `rename`
/// until an event arrives (a subscription started from now is racy to observe).
pub(crate) async fn first_sse_cursor<F, Fut>(stream: &mut SseStream, mut rename: F) -> String
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for attempt in 0..50 {
        rename(attempt).await;
        if let Ok(Some((event, data))) =
            tokio::time::timeout(Duration::from_millis(300), stream.next()).await
        {
            assert_eq!(event, "next", "{data}");
            let event: Value = serde_json::from_str(&data).unwrap();
            return event["data"]["changes"]["cursor"]
                .as_str()
                .unwrap_or_else(|| panic!("a cursor: {event}"))
                .to_string();
        }
    }
    panic!("no event arrived");
}

/// How long the hub of the two processes waits between reads without a wake-up: far longer
/// than the test's safety net, so an event that arrives was delivered by `NOTIFY`.
const NO_POLL_MS: &str = "60000";

/// Two real `brokergraph serve` processes on one PostgreSQL database: a mutation over HTTP on
/// A reaches a subscriber (SSE) on B, woken by `NOTIFY` (B's poll is a minute away); B's
/// subscriber resumes with its last cursor after more mutations on A, with exactly those.
///
/// PostgreSQL only: two processes share a database server, and SQLite's file is one
/// process's (its wake-up is in-process). Skipped without `TEST_DATABASE_URL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn should_deliver_a_mutation_on_one_process_to_a_subscriber_on_another() {
    use crate::support::{OwnDatabase, Process, post_graphql, serve_args};
    let Some(database) = OwnDatabase::create().await else {
        return;
    };
    let db = brokergraph::db::connect(&brokergraph::db::DbConfig::new(&database.url))
        .await
        .unwrap();
    brokergraph::db::migrate(&db).await.unwrap();
    let broker = fixtures::broker(&db, "b", "B").await;
    let organization = fixtures::organization(&db, &broker, "Org", "DE").await;
    let marker = fixtures::organization(&db, &broker, "Marker", "DE").await;
    let logs = tempfile::tempdir().unwrap();
    let args = serve_args(
        &database.url,
        &["--live-poll-interval-ms", NO_POLL_MS, "--log", "info"],
    );
    let a = Process::start(args.clone(), logs.path().join("a.log")).await;
    let b = Process::start(args, logs.path().join("b.log")).await;
    let http = reqwest::Client::new();
    let admin = platform_admin();
    let rename_on_a = |organization: uuid::Uuid, name: String| {
        let (http, admin, url) = (http.clone(), admin.clone(), a.url("/graphql"));
        async move {
            let id = encode(Kind::Organization, organization);
            let body = post_graphql(
                &http,
                &url,
                &admin,
                RENAME,
                json!({ "input": { "id": id, "name": name } }),
            )
            .await
            .unwrap();
            assert_eq!(
                body["data"]["updateOrganization"]["organization"]["name"], name,
                "{body}"
            );
        }
    };

    let mut stream = SseStream::open(b.address, &admin, json!({ "query": CHANGES })).await;
    let mut cursor = first_sse_cursor(&mut stream, |n| {
        rename_on_a(organization.id, format!("warm-up {n}"))
    })
    .await;
    // One mutation on A, its event on B (within `SseStream::next`'s 10 s safety net).
    let sent = std::time::Instant::now();
    rename_on_a(organization.id, "from A".into()).await;
    let event = stream.next_json().await;
    eprintln!(
        "two processes: A's rename reached B's subscriber in {} ms",
        sent.elapsed().as_millis()
    );
    let change = &event["data"]["changes"];
    assert_eq!(change["action"], "organization.updated", "{event}");
    assert_eq!(change["entity"]["name"], "from A", "{event}");
    assert_ne!(change["cursor"].as_str(), Some(cursor.as_str()));
    cursor = change["cursor"].as_str().unwrap().to_string();
    drop(stream);

    // Missed while disconnected from B: exactly these three, then the marker's.
    for name in ["three", "four", "five"] {
        rename_on_a(organization.id, name.into()).await;
    }
    let mut stream = SseStream::open(
        b.address,
        &admin,
        json!({ "query": CHANGES, "variables": { "after": cursor } }),
    )
    .await;
    let mut cursors = vec![cursor];
    for _ in 0..3 {
        let event = stream.next_json().await;
        let change = &event["data"]["changes"];
        assert_eq!(
            change["entityId"],
            encode(Kind::Organization, organization.id).to_string(),
            "{event}"
        );
        assert_eq!(change["entity"]["name"], "five", "the entity as it is now");
        cursors.push(change["cursor"].as_str().unwrap().to_string());
    }
    rename_on_a(marker.id, "marker".into()).await;
    let event = stream.next_json().await;
    assert_eq!(
        event["data"]["changes"]["entityId"],
        encode(Kind::Organization, marker.id).to_string(),
        "after the three missed events comes the next one, nothing else: {event}"
    );
    cursors.dedup();
    assert_eq!(cursors.len(), 4, "one cursor per event: {cursors:?}");
    drop(stream);
    drop((a, b));
    db.close().await.ok();
}

/// Events one bulk change writes in one transaction (a sync, say): more than the buffer.
const BURST: usize = 20;

/// A subscriber that stops reading while more than `--live-buffer` (4) events commit is ended
/// with `SUBSCRIBER_TOO_SLOW` (over SSE: a final `next` with the code, then `complete`), and
/// resuming with its last cursor delivers the rest, each once. Its buffer is the hub's
/// broadcast ring of `--live-buffer` places: the backlog stays in the database, not in memory.
async fn should_end_a_slow_subscriber_which_resumes_with_the_rest(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        Setup {
            http: HttpConfig {
                live: LiveConfig {
                    buffer: 4,
                    ..LiveConfig::DEFAULTS
                },
                ..HttpConfig::default()
            },
            ..Setup::default()
        },
    )
    .await
    else {
        return;
    };
    let broker = fixtures::broker(&app.db, "b", "B").await;
    let organization = fixtures::organization(&app.db, &broker, "Org", "DE").await;
    let marker = fixtures::organization(&app.db, &broker, "Marker", "DE").await;
    let address = crate::support::listen(&app).await;
    let mut stream = SseStream::open(address, &platform_admin(), json!({ "query": CHANGES })).await;
    let (served, renamed) = (&app, &organization);
    let mut cursor = first_sse_cursor(&mut stream, |n| async move {
        rename(served, renamed, &format!("warm-up {n}")).await;
    })
    .await;

    // The subscriber stops reading; one transaction commits more events than its buffer.
    let bulk = brokergraph::auth::Principal {
        subject: "bulk".into(),
        role: Role::PlatformAdmin,
        broker_id: None,
        organization_id: None,
        expires_at: None,
    };
    let txn = brokergraph::domain::write(&app.db).await.unwrap();
    for _ in 0..BURST {
        let event = brokergraph::domain::audit::Event::new(
            "organization.updated",
            "Organization",
            organization.id,
        )
        .scope(Some(broker.id), Some(organization.id));
        brokergraph::domain::audit::record(&txn, &bulk, event)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Reading again: whatever fitted, then the end.
    let mut received = 0;
    loop {
        let (event, data) = stream.next().await.expect("an event");
        assert_eq!(event, "next", "{data}");
        let event: Value = serde_json::from_str(&data).unwrap();
        if event["errors"].is_array() {
            assert_eq!(
                crate::support::errors_codes(&event),
                vec!["SUBSCRIBER_TOO_SLOW"],
                "{event}"
            );
            break;
        }
        received += 1;
        cursor = event["data"]["changes"]["cursor"]
            .as_str()
            .unwrap()
            .to_string();
    }
    assert_eq!(
        stream.next().await.map(|(event, _)| event),
        Some("complete".into())
    );
    assert!(
        received <= 4,
        "at most the buffer was delivered: {received}"
    );

    // Resumed with the last cursor: the rest of the burst, each once, then the next change.
    let mut stream = SseStream::open(
        address,
        &platform_admin(),
        json!({ "query": CHANGES, "variables": { "after": cursor } }),
    )
    .await;
    let mut cursors = std::collections::HashSet::new();
    for _ in received..BURST {
        let event = stream.next_json().await;
        let change = &event["data"]["changes"];
        assert_eq!(
            change["entityId"],
            encode(Kind::Organization, organization.id).to_string(),
            "{event}"
        );
        assert!(cursors.insert(change["cursor"].clone()), "{event}");
    }
    rename(&app, &marker, "marker").await;
    let event = stream.next_json().await;
    assert_eq!(
        event["data"]["changes"]["entityId"],
        encode(Kind::Organization, marker.id).to_string(),
        "after the rest of the burst comes the next change, nothing else: {event}"
    );
}

mod slow_consumer {
    use super::should_end_a_slow_subscriber_which_resumes_with_the_rest;
    crate::backend_tests!(should_end_a_slow_subscriber_which_resumes_with_the_rest);
}
