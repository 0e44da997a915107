//! The HTTP edge: `fn app(state) -> Router`, so tests drive it without a socket.

pub mod edge;
pub mod graphql;
pub mod health;
pub mod playground;
pub mod serve;
pub mod websocket;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::domain::Services;
use crate::graphql::AppSchema;
use crate::graphql::limits::Limits;

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
        edge: edge::EdgeConfig::DEFAULTS,
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
    pub config: HttpConfig,
}

impl AppState {
    /// The state of a server on `db`, verifying tokens with `auth`.
    pub fn new(
        services: Services,
        auth: Arc<Authenticator>,
        limits: Limits,
        config: HttpConfig,
    ) -> Self {
        let db = services.db.clone();
        let schema = crate::graphql::server_schema(services.clone(), &limits);
        let websocket_schema = crate::graphql::websocket_schema(services, &limits);
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        AppState(Arc::new(Inner {
            availability: crate::db::Availability::new(db.clone()),
            db,
            executors: tokio_util::task::LocalPoolHandle::new(cores),
            schema,
            websocket_schema,
            auth,
            limits,
            config,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
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
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state);
    let router = match playground {
        Some(playground) => router.merge(playground),
        None => router,
    };
    edge::layers(router, &edge).layer(TraceLayer::new_for_http())
}
