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
    Postgres { admin_url: String, schema: String },
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Storage::Postgres { admin_url, schema } = self {
            let (url, schema) = (admin_url.clone(), schema.clone());
            // Drop is synchronous and the test's runtime is ending: clean up on a thread of
            // its own with a runtime of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let db = sea_orm::Database::connect(url.as_str()).await.ok()?;
                    db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .await
                        .ok()
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

pub async fn spawn_app_with(backend: Backend, setup: Setup) -> Option<TestApp> {
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
            admin
                .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
                .await
                .expect("create test schema");
            admin.close().await.ok();
            let url = setup
                .database_url
                .clone()
                .unwrap_or_else(|| admin_url.clone());
            let mut config = DbConfig::new(url);
            config.schema_search_path = Some(schema.clone());
            config.max_connections = 5;
            (config, Storage::Postgres { admin_url, schema })
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
