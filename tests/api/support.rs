//! `spawn_app`: a fresh database (an SQLite file, or a PostgreSQL schema of its own), migrated,
//! behind the real router. Tracing goes to the test output only when `TEST_LOG` is set.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use brokergraph::auth::dev::{self, TokenRequest};
use brokergraph::auth::{AuthConfig, Authenticator, Role};
use brokergraph::crypto::CredentialCipher;
use brokergraph::db::{self, DbConfig};
use brokergraph::domain::Services;
use brokergraph::graphql::exec::limits::Limits;
use brokergraph::http::{self, AppState, HttpConfig};
use brokergraph::partner_center::connections::{Connector, Fallback, PartnerCenters, Remote};
use brokergraph::partner_center::sandbox::{Sandbox, SandboxPartner};
use http_body_util::BodyExt;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use tower::ServiceExt;
use tracing_subscriber::Layer as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let app = $crate::support::spawn_app($crate::support::Backend::Sqlite).await;
                    super::$name(app.expect("sqlite is always available")).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::support::spawn_app($crate::support::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// The HS256 secret test tokens are signed with.
pub const SECRET: &str = "test-secret-that-is-long-enough-for-hs256";

/// Signs a token for `role` with the test secret.
pub fn token(
    role: Role,
    broker: Option<uuid::Uuid>,
    organization: Option<uuid::Uuid>,
    subject: &str,
) -> String {
    dev::mint(
        SECRET,
        &TokenRequest {
            subject: subject.into(),
            role,
            broker_id: broker,
            organization_id: organization,
            ttl: std::time::Duration::from_secs(600),
            issuer: "brokergraph".into(),
            audience: "brokergraph".into(),
        },
    )
    .expect("mint")
}

pub fn platform_admin() -> String {
    token(Role::PlatformAdmin, None, None, "platform-admin")
}

/// How the app under test is set up.
#[derive(Default)]
pub struct Setup {
    pub http: HttpConfig,
    pub limits: Limits,
    pub auth: Option<Arc<Authenticator>>,
    /// Partner Center of brokers without a connection; the app's own sandbox when `None`.
    pub partner_center: Option<Arc<dyn Connector>>,
    /// PostgreSQL only: where the app connects (e.g. a proxy in front of the server), in place
    /// of `TEST_DATABASE_URL`, which still creates and drops the test's schema.
    pub database_url: Option<String>,
    /// What brokers without a connection of their own use; the app's own sandbox (or
    /// `partner_center`) everywhere when `None`.
    pub fallback: Option<Fallback>,
    /// Where brokers' own connections go (Partner Center and the Entra authority, e.g. a
    /// wiremock server); Microsoft's public endpoints when `None`.
    pub remote: Option<Remote>,
    /// The Partner Center deadline; [`PARTNER_CENTER_DEADLINE`] when `None`.
    pub partner_center_deadline: Option<std::time::Duration>,
}

/// The key test credentials are encrypted with.
pub const CREDENTIAL_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// How long a Partner Center call may take in tests before it counts as a failure.
pub const PARTNER_CENTER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

pub fn hs256_authenticator() -> Arc<Authenticator> {
    AuthConfig::default()
        .hs256(SECRET.into(), false)
        .authenticator
}

/// Runs a test body once per backend; the body builds its own app from the backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if $crate::support::postgres_configured() {
                        super::$name($crate::support::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}

/// Whether PostgreSQL tests can run (and must, in CI).
pub fn postgres_configured() -> bool {
    let configured = std::env::var_os("TEST_DATABASE_URL").is_some();
    assert!(
        configured || std::env::var_os("CI").is_none(),
        "CI must set TEST_DATABASE_URL so PostgreSQL tests run"
    );
    configured
}

/// `TEST_PGBOUNCER_URL` (`postgres://USER@HOST:PORT`, no database): PostgreSQL tests then
/// reach their database through that PgBouncer (transaction mode), with the statement cache
/// off as the README says to run behind it. `.ci/run` runs the PostgreSQL half so a second time.
pub fn pgbouncer_url() -> Option<String> {
    std::env::var("TEST_PGBOUNCER_URL")
        .ok()
        .map(|url| url.trim_end_matches('/').to_owned())
        .filter(|url| !url.is_empty())
}

pub struct TestApp {
    pub router: Router,
    pub db: DatabaseConnection,
    pub auth: Arc<Authenticator>,
    /// The Partner Center sandbox behind the app (unless the setup brought its own).
    pub sandbox: Sandbox,
    /// SQL statements run through `db` since the last `reset_statements`.
    pub statements: Arc<AtomicUsize>,
    _storage: Storage,
}

enum Storage {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// A schema of its own on `TEST_DATABASE_URL`, or (behind PgBouncer) a database of its own.
    Postgres {
        admin_url: String,
        schema: String,
        database: bool,
    },
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Storage::Postgres {
            admin_url,
            schema,
            database,
        } = self
        {
            let (url, schema) = (admin_url.clone(), schema.clone());
            let sql = if *database {
                // PgBouncer still holds server connections to it: FORCE ends them.
                format!("DROP DATABASE IF EXISTS \"{schema}\" WITH (FORCE)")
            } else {
                format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")
            };
            // Drop is synchronous and the test's runtime is ending: clean up on a thread of
            // its own with a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let db = sea_orm::Database::connect(url.as_str()).await.ok()?;
                    db.execute_unprepared(&sql).await.ok()
                })
            })
            .join();
        }
    }
}

/// Every log line of the test binary, kept while some test captures (see [`capture_logs`]).
static CAPTURED: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());
static CAPTURING: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Copy)]
struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if CAPTURING.load(Ordering::SeqCst) > 0 {
            CAPTURED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// While alive, every log line of the process (at debug for brokergraph, every test's) is kept;
/// [`LogCapture::text`] reads them. Tests search them for what must never be logged.
pub struct LogCapture;

pub fn capture_logs() -> LogCapture {
    init_logging();
    CAPTURING.fetch_add(1, Ordering::SeqCst);
    LogCapture
}

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(
            &CAPTURED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One subscriber for the binary: lines go to the capture, and to the test output when
/// `TEST_LOG` is set.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let printed = std::env::var_os("TEST_LOG").is_some().then(|| {
        tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(tracing_subscriber::EnvFilter::new("info,brokergraph=debug"))
    });
    use tracing_subscriber::filter::FilterExt as _;
    // Formatted only while a test captures.
    let capturing = tracing_subscriber::filter::filter_fn(|_| CAPTURING.load(Ordering::SeqCst) > 0);
    let captured = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(|| Capture)
        .with_filter(tracing_subscriber::EnvFilter::new("info,brokergraph=debug").and(capturing));
    let _ = tracing_subscriber::registry()
        .with(printed)
        .with(captured)
        .try_init();
}

/// A fresh app, or `None` for PostgreSQL when `TEST_DATABASE_URL` is not set (outside CI).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, Setup::default()).await
}

pub async fn spawn_app_with(backend: Backend, mut setup: Setup) -> Option<TestApp> {
    init_logging();
    let (db_config, storage) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (DbConfig::new(url), Storage::Sqlite(dir))
        }
        Backend::Postgres => {
            if !postgres_configured() {
                eprintln!("TEST_DATABASE_URL not set: PostgreSQL test skipped");
                return None;
            }
            let admin_url = std::env::var("TEST_DATABASE_URL").expect("checked above");
            let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(admin_url.as_str())
                .await
                .expect("connect to TEST_DATABASE_URL");
            // Behind PgBouncer in transaction mode a session's `SET search_path` does not
            // follow the client from one server connection to the next: a database each.
            // (A test that brings its own URL, a proxy to the server, keeps a schema.)
            let pgbouncer = pgbouncer_url().filter(|_| setup.database_url.is_none());
            let create = if pgbouncer.is_some() {
                format!("CREATE DATABASE \"{schema}\"")
            } else {
                format!("CREATE SCHEMA \"{schema}\"")
            };
            admin
                .execute_unprepared(&create)
                .await
                .expect("create the test's schema or database");
            admin.close().await.ok();
            let mut config = match (&setup.database_url, &pgbouncer) {
                (Some(url), _) => {
                    let mut config = DbConfig::new(url.clone());
                    config.schema_search_path = Some(schema.clone());
                    config
                }
                (None, Some(pgbouncer)) => {
                    let mut config = DbConfig::new(format!("{pgbouncer}/{schema}"));
                    config.statement_cache_capacity = 0;
                    config
                }
                (None, None) => {
                    let mut config = DbConfig::new(admin_url.clone());
                    config.schema_search_path = Some(schema.clone());
                    config
                }
            };
            config.max_connections = 5;
            let database = pgbouncer.is_some();
            if database && setup.http.live_listen == brokergraph::live::Listen::Pool {
                // As the README says to run behind PgBouncer: live updates `LISTEN` on the
                // server itself (`--database-listen-url`).
                let server = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(s, _)| s);
                setup.http.live_listen =
                    brokergraph::live::Listen::Url(format!("{server}/{schema}"));
            }
            (
                config,
                Storage::Postgres {
                    admin_url,
                    schema,
                    database,
                },
            )
        }
    };
    let mut db = db::connect(&db_config).await.expect("connect");
    db::migrate(&db).await.expect("migrate");
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    db::on_statement(&mut db, move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let auth = setup.auth.unwrap_or_else(hs256_authenticator);
    let sandbox = Sandbox::new().verifying(true);
    let fallback = setup.fallback.unwrap_or_else(|| {
        Fallback::Everywhere(
            setup
                .partner_center
                .unwrap_or_else(|| Arc::new(sandbox.clone())),
        )
    });

    let remote = setup.remote.unwrap_or_else(|| {
        Remote::new(
            "https://api.partnercenter.microsoft.com",
            "https://login.microsoftonline.com",
            std::time::Duration::from_secs(2),
            2,
        )
        .expect("valid URLs")
    });
    let services = Services {
        db: db.clone(),
        partner_centers: Arc::new(PartnerCenters::new(fallback, remote).expect("HTTP client")),
        cipher: CredentialCipher::from_base64(CREDENTIAL_KEY).expect("test key"),
        partner_center_deadline: setup
            .partner_center_deadline
            .unwrap_or(PARTNER_CENTER_DEADLINE),
    };
    let state = AppState::new(services, auth.clone(), setup.limits, setup.http);
    Some(TestApp {
        router: http::app(state),
        db,
        auth,
        sandbox,
        statements,
        _storage: storage,
    })
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `extensions.code` of each error.
    pub fn codes(&self) -> Vec<String> {
        errors_codes(&self.body)
    }
}

pub fn errors_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Serves the app's router with the real server loop on a random local port, for as long as
/// the test runs; returns its address.
pub async fn listen(app: &TestApp) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(http::serve::serve(
        listener,
        app.router.clone(),
        http::serve::ServeConfig::default(),
        std::future::pending(),
    ));
    address
}

impl TestApp {
    /// The broker's sandbox, through the app's handle.
    pub fn sandbox_of(&self, broker: uuid::Uuid) -> SandboxPartner {
        self.sandbox.partner(self.db.clone(), broker)
    }

    pub fn reset_statements(&self) {
        self.statements.store(0, Ordering::SeqCst);
    }

    pub fn statement_count(&self) -> usize {
        self.statements.load(Ordering::SeqCst)
    }

    /// Requests as the caller with this token (or none).
    pub fn with_token(&self, token: Option<String>) -> Client<'_> {
        Client { app: self, token }
    }

    /// Requests as a platform admin.
    pub fn admin(&self) -> Client<'_> {
        self.with_token(Some(platform_admin()))
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn post_raw(&self, content_type: &str, body: impl Into<Body>) -> TestResponse {
        self.admin().post_raw(content_type, body).await
    }

    pub async fn post_json(&self, body: &Value) -> TestResponse {
        self.admin().post_json(body).await
    }

    pub async fn query(&self, query: &str, variables: Value) -> Value {
        self.admin().query(query, variables).await
    }

    pub async fn query_errors(&self, query: &str, variables: Value) -> Vec<String> {
        self.admin().query_errors(query, variables).await
    }
}

/// Requests with one caller's token.
pub struct Client<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl Client<'_> {
    /// Adds the caller's `Authorization` header.
    pub fn authorize(&self, mut request: Request<Body>) -> Request<Body> {
        if let Some(token) = &self.token {
            let value = format!("Bearer {token}").parse().expect("header value");
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        request
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        self.app.send(self.authorize(request)).await
    }

    /// POSTs a raw body with the given content type.
    pub async fn post_raw(&self, content_type: &str, body: impl Into<Body>) -> TestResponse {
        let request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .expect("request");
        self.send(request).await
    }

    pub async fn post_json(&self, body: &Value) -> TestResponse {
        self.post_raw("application/json", body.to_string()).await
    }

    /// Runs a query that must succeed, and returns its `data`.
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        let response = self
            .post_json(&json!({ "query": query, "variables": variables }))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert!(
            response.body.get("errors").is_none(),
            "unexpected errors: {}",
            response.body
        );
        response.body["data"].clone()
    }

    /// Runs a query expected to fail, and returns the error codes.
    pub async fn query_errors(&self, query: &str, variables: Value) -> Vec<String> {
        let response = self
            .post_json(&json!({ "query": query, "variables": variables }))
            .await;
        let codes = response.codes();
        assert!(!codes.is_empty(), "expected errors: {}", response.body);
        codes
    }
}

/// Percent-encodes a query parameter.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A PostgreSQL database of the test's own on `TEST_DATABASE_URL`'s server (for tests whose
/// servers are processes: they cannot be given a schema search path), dropped when this is,
/// connections and all, even when the test fails.
pub struct OwnDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl OwnDatabase {
    /// `None` when `TEST_DATABASE_URL` is not set (outside CI).
    pub async fn create() -> Option<OwnDatabase> {
        if !postgres_configured() {
            eprintln!("TEST_DATABASE_URL not set: PostgreSQL test skipped");
            return None;
        }
        let admin_url = std::env::var("TEST_DATABASE_URL").expect("checked above");
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(admin_url.as_str())
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create the test's database");
        admin.close().await.ok();
        let mut url = reqwest::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(OwnDatabase {
            admin_url,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for OwnDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let db = sea_orm::Database::connect(url.as_str()).await.ok()?;
                db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A `brokergraph` process the test started (e.g. `serve`), listening on 127.0.0.1, its
/// output in a file; killed (SIGKILL) when dropped, so none outlives a failed test.
pub struct Process {
    child: Option<std::process::Child>,
    args: Vec<String>,
    pub address: std::net::SocketAddr,
    log: std::path::PathBuf,
}

/// `serve` on `database_url` with the tests' JWT secret and credential key, then `extra`:
/// the arguments of a [`Process`] that accepts [`token`]s.
pub fn serve_args(database_url: &str, extra: &[&str]) -> Vec<String> {
    [
        "serve",
        "--database-url",
        database_url,
        "--jwt-secret",
        SECRET,
        "--credential-key",
        CREDENTIAL_KEY,
    ]
    .iter()
    .chain(extra)
    .map(|arg| (*arg).to_string())
    .collect()
}

/// How long a process may take to answer `/readyz` (migrations included).
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

impl Process {
    /// Starts `brokergraph ARGS --listen 127.0.0.1:0` with none of the environment's
    /// configuration, and waits until `/readyz` answers 200. Its output goes to `log`.
    pub async fn start(args: Vec<String>, log: std::path::PathBuf) -> Process {
        let mut process = Process {
            child: None,
            args,
            address: "127.0.0.1:0".parse().expect("address"),
            log,
        };
        process.spawn();
        process.address = process.listening_at().await;
        process.wait_ready().await;
        process
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the process's log");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_brokergraph"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("BROKERGRAPH_") || name == "DATABASE_URL" {
                command.env_remove(name.as_ref());
            }
        }
        command
            .args(&self.args)
            .args(["--listen", &self.address.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        self.child = Some(command.spawn().expect("start brokergraph"));
    }

    /// The address the process printed it serves at.
    async fn listening_at(&mut self) -> std::net::SocketAddr {
        const MARK: &str = "brokergraph is serving GraphQL at http://";
        let deadline = std::time::Instant::now() + READY_WITHIN;
        loop {
            let log = self.log();
            if let Some(rest) = log.lines().find_map(|line| line.split_once(MARK)) {
                let address = rest.1.trim_end_matches("/graphql");
                return address.parse().expect("a socket address");
            }
            self.assert_running(deadline);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    fn assert_running(&mut self, deadline: std::time::Instant) {
        if let Some(status) = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!("brokergraph exited ({status}):\n{}", self.log());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "brokergraph not ready within {READY_WITHIN:?}:\n{}",
            self.log()
        );
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + READY_WITHIN;
        let client = reqwest::Client::new();
        loop {
            let ready = client
                .get(self.url("/readyz"))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|response| response.status() == reqwest::StatusCode::OK);
            if ready {
                return;
            }
            self.assert_running(deadline);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Everything the process (and its earlier runs) wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process was started and not stopped since.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL: the process stops at once, mid-request.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// SIGTERM, then waits for the process to finish its in-flight requests and exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the process runs");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if std::time::Instant::now() > deadline {
                child.kill().ok();
                panic!("brokergraph did not stop on SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Starts the process again on the same address, and waits until it is ready.
    pub async fn restart(&mut self) {
        self.spawn();
        self.wait_ready().await;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// POSTs a GraphQL request with `token` to `url` (a real socket); the answer's JSON.
pub async fn post_graphql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> reqwest::Result<Value> {
    client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?
        .json()
        .await
}
