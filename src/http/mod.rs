//! The HTTP edge: `fn app(state) -> Router`, so tests drive it without a socket.

pub mod admission;
pub mod edge;
pub mod graphql;
pub mod health;
pub mod metrics;
pub mod playground;
pub mod request_id;
pub mod serve;
pub mod sse;
pub mod websocket;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::ServerError;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::routing::get;
use sea_orm::DatabaseConnection;

use crate::auth::Authenticator;
use crate::domain::Services;
use crate::error::ErrorCode;
use crate::graphql::AppSchema;
use crate::graphql::exec::documents::{Documents, DocumentsConfig};
use crate::graphql::exec::limits::Limits;

/// Limits of the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The most operations one batched (JSON array) request may carry.
    pub max_batch_size: usize,
    /// A development token the playground pre-fills its headers with.
    pub dev_token: Option<String>,
    /// How long a client has to send a request's whole body, once its headers are in.
    pub body_read_timeout: Duration,
    /// The most operations one WebSocket connection may have running; while that many run,
    /// the server reads nothing more from the socket.
    pub websocket_max_in_flight: usize,
    /// How long a WebSocket client has to send `connection_init` (then: close 4408).
    pub websocket_init_timeout: Duration,
    /// CORS and compression.
    pub edge: edge::EdgeConfig,
    /// Whether metrics are recorded, and where `GET /metrics` answers them.
    pub metrics: Option<MetricsAt>,
    /// The document cache, persisted queries and trusted documents.
    pub documents: DocumentsConfig,
    /// How many operations run at once (see [`admission`]).
    pub admission: admission::AdmissionConfig,
    /// The bounds of live updates (subscriptions).
    pub live: crate::live::LiveConfig,
    /// Where live updates `LISTEN` (PostgreSQL).
    pub live_listen: crate::live::Listen,
}

/// Where `GET /metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAt {
    /// On the main port, beside `/graphql` (`--metrics`).
    MainPort,
    /// Only on a listener of its own (`--metrics-listen`), which `serve` starts.
    OwnListener,
}

impl HttpConfig {
    /// The edge's limits when nothing is configured: the one copy that both `Default` and the
    /// command line's defaults (`cli::ServeArgs`) read.
    pub const DEFAULTS: HttpConfig = HttpConfig {
        max_body_bytes: 1024 * 1024,
        max_batch_size: 10,
        dev_token: None,
        body_read_timeout: Duration::from_secs(30),
        websocket_max_in_flight: 32,
        websocket_init_timeout: Duration::from_secs(10),
        metrics: None,
        edge: edge::EdgeConfig::DEFAULTS,
        documents: DocumentsConfig::DEFAULTS,
        admission: admission::AdmissionConfig::DEFAULTS,
        live: crate::live::LiveConfig::DEFAULTS,
        live_listen: crate::live::Listen::Pool,
    };
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig::DEFAULTS
    }
}

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: DatabaseConnection,
    /// Whether the database answers (see [`crate::db::Availability`]).
    pub availability: crate::db::Availability,
    /// Single-threaded executors that run GraphQL operations (one per core).
    pub executors: tokio_util::task::LocalPoolHandle,
    /// The schema HTTP requests run (no extensions: see `graphql::server_schema`).
    pub schema: AppSchema,
    /// The schema WebSocket operations run.
    pub websocket_schema: AppSchema,
    pub auth: Arc<Authenticator>,
    pub limits: Limits,
    /// How every transport finds and checks an operation's document.
    pub documents: Arc<Documents>,
    pub config: HttpConfig,
    /// The server's metrics, when `config.metrics` asks for them.
    pub metrics: Option<Arc<metrics::Metrics>>,
    /// Where query operations read (none: the primary, `db`).
    pub readers: crate::db::Readers,
    /// The operations running now, within the configured bounds.
    pub admission: admission::Admission,
}

impl AppState {
    /// The state of a server on `db`, verifying tokens with `auth`.
    pub fn new(
        services: Services,
        auth: Arc<Authenticator>,
        limits: Limits,
        config: HttpConfig,
    ) -> Self {
        Self::with_readers(
            services,
            auth,
            limits,
            config,
            crate::db::Readers::default(),
        )
    }

    /// The same, with query operations reading from `readers` (read replicas of `db`).
    pub fn with_readers(
        mut services: Services,
        auth: Arc<Authenticator>,
        limits: Limits,
        config: HttpConfig,
        readers: crate::db::Readers,
    ) -> Self {
        let db = services.db.clone();
        let metrics = config
            .metrics
            .and_then(|_| match metrics::Metrics::new(db.clone()) {
                Ok(metrics) => Some(metrics),
                Err(error) => {
                    tracing::error!(error = %error, "metrics are off");
                    None
                }
            });
        if metrics.is_some() || crate::telemetry::enabled() {
            services.partner_centers = Arc::new((*services.partner_centers).clone().metered());
        }
        let hub = crate::live::Hub::new(db.clone(), config.live, config.live_listen.clone());
        let schema = crate::graphql::server_schema(services.clone(), &limits, hub.clone());
        let documents = Arc::new(Documents::new(
            limits.clone(),
            &config.documents,
            db.clone(),
        ));
        let websocket_schema = crate::graphql::websocket_schema(services, documents.clone(), hub);
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        AppState(Arc::new(Inner {
            availability: crate::db::Availability::new(db.clone()),
            db,
            executors: tokio_util::task::LocalPoolHandle::new(cores),
            schema,
            websocket_schema,
            auth,
            limits,
            documents,
            admission: admission::Admission::new(config.admission),
            config,
            metrics,
            readers,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The error of an operation cut at the request's deadline (or, in a batch, not started before
/// it), over HTTP and over the WebSocket alike.
pub(crate) fn timed_out(timeout: Duration) -> ServerError {
    tracing::warn!(timeout_seconds = timeout.as_secs(), "request timed out");
    let message = format!("the request took longer than {} s", timeout.as_secs());
    ErrorCode::RequestTimeout.server_error(message)
}

/// The `Retry-After` an answer with `code` carries, if any.
pub(crate) fn retry_after(code: ErrorCode) -> Option<HeaderValue> {
    code.retry_after().map(HeaderValue::from)
}

pub const GRAPHQL_PATH: &str = "/graphql";
pub const GRAPHQL_WS_PATH: &str = "/graphql/ws";

pub fn app(state: AppState) -> Router {
    let edge = state.config.edge.clone();
    let playground = state.limits.introspection.then(|| {
        playground::router(playground::PlaygroundConfig {
            endpoint: GRAPHQL_PATH.into(),
            subscription_endpoint: GRAPHQL_WS_PATH.into(),
            dev_token: state.config.dev_token.clone(),
        })
    });
    let router = Router::new()
        .route(GRAPHQL_PATH, get(graphql::get).post(graphql::post))
        .route(GRAPHQL_WS_PATH, get(websocket::upgrade))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let metrics = match (state.config.metrics, &state.metrics) {
        (Some(MetricsAt::MainPort), Some(metrics)) => Some(metrics::router(metrics.clone())),
        _ => None,
    };
    let router = router
        .with_state(state)
        .merge(playground.unwrap_or_default())
        .merge(metrics.unwrap_or_default());
    request_id::layer(edge::layers(router, &edge))
}
