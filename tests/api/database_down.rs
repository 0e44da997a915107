//! The database goes away: requests answer at once with 503, `DATABASE_UNAVAILABLE` and
//! `Retry-After`, `/readyz` says so within a probe's time, and the server recovers by itself.
//!
//! On PostgreSQL the app connects through a TCP relay in front of the real server, which the
//! test cuts (every open connection reset, new ones refused) and restores on the same port. An
//! embedded SQLite file cannot go away; there its pool is closed under the running app.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::backend_tests;
use crate::support::{Backend, Setup, TestApp, TestResponse, spawn_app_with, token};
use brokergraph::auth::Role;

const QUERY: &str = "{ brokers { totalCount } }";

/// Longer than any answer may take once the outage is known (the pool itself would wait 10 s).
const FAST: Duration = Duration::from_millis(1500);

/// What a relay does with the bytes it is given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    /// Connections stay open and nothing goes through: a network partition.
    Stall,
}

/// A TCP relay to PostgreSQL on a port of its own, which can be cut, stalled and restored.
struct Relay {
    port: u16,
    upstream: String,
    mode: tokio::sync::watch::Sender<Mode>,
    tasks: Option<JoinSet<()>>,
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let mut relay = Relay {
            port,
            upstream,
            mode: tokio::sync::watch::channel(Mode::Forward).0,
            tasks: None,
        };
        relay.serve(listener);
        relay
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let mode = self.mode.clone();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            // Connections live in this set: dropping it (in `cut`) resets every one of them.
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let mut mode = mode.subscribe();
                connections.spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    if *mode.borrow_and_update() == Mode::Forward {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                            _ = mode.wait_for(|mode| *mode == Mode::Stall) => {}
                        }
                    }
                    // Stalled: hold both sockets open, pass nothing.
                    std::future::pending::<()>().await;
                    drop((client, server));
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Resets every relayed connection and refuses new ones.
    async fn cut(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }

    /// Keeps every connection open and passes nothing, old or new.
    fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    /// Accepts connections again, on the same port.
    async fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind the relay's port");
        self.serve(listener);
    }
}

/// `TEST_DATABASE_URL` with its server replaced by a local port.
fn through(port: u16) -> String {
    let url = std::env::var("TEST_DATABASE_URL").expect("PostgreSQL is configured");
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, rest) = rest
        .rsplit_once('@')
        .map_or(("", rest), |(user, rest)| (user, rest));
    let path = rest.find(['/', '?']).map_or("", |at| &rest[at..]);
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    format!("{scheme}://{user}127.0.0.1:{port}{path}")
}

/// The PostgreSQL server of `TEST_DATABASE_URL`, as `host:port`.
fn postgres_address() -> String {
    let url = std::env::var("TEST_DATABASE_URL").expect("PostgreSQL is configured");
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host_port = rest.split(['/', '?']).next().unwrap_or(rest);
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    }
}

/// An app whose PostgreSQL connections go through a relay (none on SQLite).
async fn app_behind_relay(backend: Backend) -> (TestApp, Option<Relay>) {
    let mut setup = Setup::default();
    let mut relay = None;
    if backend == Backend::Postgres {
        let started = Relay::start(postgres_address()).await;
        setup.database_url = Some(through(started.port));
        relay = Some(started);
    }
    (spawn_app_with(backend, setup).await.expect("app"), relay)
}

async fn graphql(app: &TestApp) -> (TestResponse, Duration) {
    let started = Instant::now();
    let response = app.admin().post_json(&json!({ "query": QUERY })).await;
    (response, started.elapsed())
}

async fn readyz(app: &TestApp) -> (TestResponse, Duration) {
    let started = Instant::now();
    let request = Request::get("/readyz").body(Body::empty()).unwrap();
    let response = app.send(request).await;
    (response, started.elapsed())
}

fn assert_unavailable(response: &TestResponse) {
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.body
    );
    assert_eq!(
        response.codes(),
        ["DATABASE_UNAVAILABLE"],
        "{}",
        response.body
    );
    assert_eq!(
        response.headers.get(header::RETRY_AFTER).unwrap(),
        "1",
        "a retryable refusal says when to retry"
    );
    let text = response.body.to_string();
    assert!(
        !text.contains("Connection") && !text.contains("sqlx") && !text.contains("127.0.0.1"),
        "no internal detail: {text}"
    );
}

/// Until the outage is noticed, a request may wait for the pool; after that every answer is
/// immediate.
async fn should_answer_503_at_once_while_the_database_is_away(backend: Backend) {
    let (app, mut relay) = app_behind_relay(backend).await;
    let (response, _) = graphql(&app).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let (response, _) = readyz(&app).await;
    assert_eq!(response.status, StatusCode::OK);

    match relay.as_mut() {
        Some(relay) => relay.cut().await,
        None => app.db.close_by_ref().await.expect("close the pool"),
    }

    // The first request after the outage finds it (a pooled connection fails at once; a new
    // one waits for the pool's acquire time-out).
    let (response, _) = graphql(&app).await;
    assert_unavailable(&response);
    for _ in 0..5 {
        let (response, elapsed) = graphql(&app).await;
        assert_unavailable(&response);
        assert!(elapsed < FAST, "answered in {elapsed:?}");
    }
    // An organization token's membership is looked up before anything runs: the same answer.
    let member = token(
        Role::OrganizationUser,
        None,
        Some(uuid::Uuid::now_v7()),
        "jane@contoso.example",
    );
    let started = Instant::now();
    let response = app
        .with_token(Some(member))
        .post_json(&json!({ "query": QUERY }))
        .await;
    assert_unavailable(&response);
    assert!(
        started.elapsed() < FAST,
        "answered in {:?}",
        started.elapsed()
    );
    let (response, elapsed) = readyz(&app).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers.get(header::RETRY_AFTER).is_some());
    assert!(elapsed < FAST, "readyz answered in {elapsed:?}");

    // PostgreSQL comes back: the server notices by itself, without a restart.
    if let Some(relay) = relay.as_mut() {
        relay.restore().await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (response, _) = graphql(&app).await;
            if response.status == StatusCode::OK {
                assert!(response.body.get("errors").is_none(), "{}", response.body);
                break;
            }
            assert_unavailable(&response);
            assert!(Instant::now() < deadline, "the server did not recover");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (response, _) = readyz(&app).await;
        assert_eq!(response.status, StatusCode::OK);
    }
}

/// A partition (connections open, nothing answering): `/readyz` still answers within a
/// probe's time, and marks the database down, so requests are refused at once.
async fn should_keep_readyz_within_a_probe_time_when_the_database_stops_answering(
    backend: Backend,
) {
    let (app, relay) = app_behind_relay(backend).await;
    let Some(relay) = relay else {
        return; // an SQLite file answers or fails at once: nothing can hang
    };
    let (response, _) = graphql(&app).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    relay.stall();
    let (response, elapsed) = readyz(&app).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(elapsed < FAST, "readyz answered in {elapsed:?}");
    let (response, elapsed) = graphql(&app).await;
    assert_unavailable(&response);
    assert!(elapsed < FAST, "answered in {elapsed:?}");
}

backend_tests!(
    should_answer_503_at_once_while_the_database_is_away,
    should_keep_readyz_within_a_probe_time_when_the_database_stops_answering,
);
