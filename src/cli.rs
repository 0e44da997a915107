//! The `brokergraph` command line: flags with environment fallbacks, one subcommand per job.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use tokio::net::TcpListener;

use crate::auth::config::ResolvedAuth;
use crate::auth::{AuthConfig, Role, dev};
use crate::crypto::CredentialKeyConfig;
use crate::db::{self, DEFAULT_DATABASE_URL, DbConfig};
use crate::domain::Services;
use crate::graphql::exec::documents::{DocumentsConfig, Manifest};
use crate::graphql::exec::limits::Limits;
use crate::http::admission::AdmissionConfig;
use crate::http::serve::ServeConfig;
use crate::http::{self, AppState, HttpConfig};
use crate::live::LiveConfig;
use crate::partner_center::PartnerCenterConfig;
use crate::{graphql, seed};

#[derive(Debug, Parser)]
#[command(
    name = "brokergraph",
    version,
    about = "GraphQL gateway for cloud-service brokers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Database URL: `sqlite://FILE?mode=rwc` (the file is created when missing) or
    /// `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

    /// Largest database connection pool.
    #[arg(
        long,
        env = "BROKERGRAPH_DB_MAX_CONNECTIONS",
        default_value_t = db::DEFAULT_MAX_CONNECTIONS,
        global = true
    )]
    pub db_max_connections: u32,

    /// Prepared statements kept per PostgreSQL connection; `0` for PgBouncer in transaction
    /// mode without `max_prepared_statements` (each statement is then prepared unnamed, in the
    /// same round of messages as its execution).
    #[arg(
        long,
        env = "BROKERGRAPH_DB_STATEMENT_CACHE_CAPACITY",
        default_value_t = db::DEFAULT_STATEMENT_CACHE_CAPACITY,
        global = true
    )]
    pub db_statement_cache_capacity: usize,

    /// Log format.
    #[arg(long, env = "BROKERGRAPH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Log filter, in `tracing` env-filter syntax (e.g. `info,brokergraph=debug`).
    #[arg(long, env = "BROKERGRAPH_LOG", default_value = "info", global = true)]
    pub log: String,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub partner_center: PartnerCenterConfig,

    #[command(flatten)]
    pub credentials: CredentialKeyConfig,

    #[command(flatten)]
    pub telemetry: crate::telemetry::TelemetryArgs,
    /// Read replicas of the (PostgreSQL) database, e.g. streaming standbys: query operations
    /// read from them in turn; mutations, their payloads and what follows a mutation in a batch
    /// read the primary. Repeat the flag or separate URLs with commas.
    #[arg(
        long,
        env = "BROKERGRAPH_DATABASE_READ_URL",
        value_delimiter = ',',
        global = true
    )]
    pub database_read_url: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate, then serve GraphQL over HTTP (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write demo data (idempotent), or benchmark data with `--scale`.
    Seed {
        /// Write the deterministic benchmark data set at this scale instead of the demo data.
        #[arg(long)]
        scale: Option<u32>,
    },
    /// Print the GraphQL schema (SDL): the plain schema clients see, or with `--federation`
    /// the Apollo Federation v2 subgraph SDL a router composes (what `_service { sdl }` answers).
    Schema {
        /// Print the federation subgraph SDL (`@link`, `@key`) instead of the plain schema.
        #[arg(long)]
        federation: bool,
    },
    /// Mint a development token signed with the configured HS256 secret (or the embedded
    /// database's generated one).
    Token {
        /// The token's role.
        #[arg(long, value_enum)]
        role: Role,
        /// The broker's UUID (broker roles).
        #[arg(long)]
        broker_id: Option<uuid::Uuid>,
        /// The organization's UUID (organization roles).
        #[arg(long)]
        organization_id: Option<uuid::Uuid>,
        /// The token's subject; for organization roles, the user's email or UUID.
        #[arg(long, default_value = "developer")]
        subject: String,
        /// How long the token is valid: `90s`, `30m`, `12h`, `7d`.
        #[arg(long, default_value = "1h", value_parser = dev::parse_ttl)]
        ttl: std::time::Duration,
    },
    /// Synchronize brokers with Partner Center (every broker, or the one named), then print a
    /// summary; fails when a synchronization does.
    Sync {
        /// Only the broker with this slug.
        #[arg(long, value_name = "SLUG")]
        broker: Option<String>,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "BROKERGRAPH_LISTEN",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub listen: SocketAddr,

    /// Largest request body, in bytes.
    #[arg(long, env = "BROKERGRAPH_MAX_BODY_BYTES", default_value_t = HttpConfig::DEFAULTS.max_body_bytes, global = true)]
    pub max_body_bytes: usize,

    /// Most operations in one batched request.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_BATCH_SIZE",
        default_value_t = HttpConfig::DEFAULTS.max_batch_size,
        global = true
    )]
    pub max_batch_size: usize,

    /// Seconds a client has to send a request's headers (then the connection is closed).
    #[arg(
        long,
        env = "BROKERGRAPH_HEADER_READ_TIMEOUT",
        default_value_t = ServeConfig::DEFAULTS.header_read_timeout.as_secs(),
        global = true
    )]
    pub header_read_timeout_seconds: u64,

    /// Seconds a client has to send a request's body (then 408).
    #[arg(
        long,
        env = "BROKERGRAPH_BODY_READ_TIMEOUT",
        default_value_t = HttpConfig::DEFAULTS.body_read_timeout.as_secs(),
        global = true
    )]
    pub body_read_timeout_seconds: u64,

    /// Most operations running at once on one WebSocket connection; the server stops reading
    /// the socket while that many run.
    #[arg(
        long,
        env = "BROKERGRAPH_WEBSOCKET_MAX_IN_FLIGHT",
        default_value_t = HttpConfig::DEFAULTS.websocket_max_in_flight as u64,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub websocket_max_in_flight: u64,

    /// Seconds a WebSocket client has to send `connection_init` (then close 4408).
    #[arg(
        long,
        env = "BROKERGRAPH_WEBSOCKET_INIT_TIMEOUT",
        default_value_t = HttpConfig::DEFAULTS.websocket_init_timeout.as_secs(),
        global = true
    )]
    pub websocket_init_timeout_seconds: u64,

    /// Record metrics and answer them at `GET /metrics` on the main port.
    #[arg(
        long,
        env = "BROKERGRAPH_METRICS",
        default_value_t = HttpConfig::DEFAULTS.metrics.is_some(),
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        conflicts_with = "metrics_listen",
        global = true
    )]
    pub metrics: bool,

    /// Record metrics and answer them at `GET /metrics` on this address only (not on the main
    /// port), e.g. `127.0.0.1:9464`.
    #[arg(long, env = "BROKERGRAPH_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

    #[command(flatten)]
    pub edge: http::edge::EdgeArgs,

    /// Most documents whose parse and limit checks are kept, by the SHA-256 of their text;
    /// `0` turns the cache off.
    #[arg(
        long,
        env = "BROKERGRAPH_DOCUMENT_CACHE_SIZE",
        default_value_t = DocumentsConfig::DEFAULTS.cache_size,
        global = true
    )]
    pub document_cache_size: usize,

    /// A manifest of trusted documents, loaded at start: GraphQL Code Generator's
    /// `persisted-documents.json` or Relay's persisted queries (`{ "<hash>": "<document>" }`).
    #[arg(long, env = "BROKERGRAPH_TRUSTED_DOCUMENTS", global = true)]
    pub trusted_documents: Option<std::path::PathBuf>,

    /// Run only the trusted documents: every other operation is refused with
    /// `PERSISTED_QUERY_REQUIRED`.
    #[arg(
        long,
        env = "BROKERGRAPH_REQUIRE_TRUSTED_DOCUMENTS",
        default_value_t = DocumentsConfig::DEFAULTS.require_trusted,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        requires = "trusted_documents",
        global = true
    )]
    pub require_trusted_documents: bool,

    /// Synchronize every broker with Partner Center this often while serving (`30m`, `6h`);
    /// off when unset.
    #[arg(long, env = "BROKERGRAPH_SYNC_INTERVAL", value_parser = sync_interval, global = true)]
    pub sync_interval: Option<Duration>,

    /// Most operations executing at once in the process (each of a batch counts); over it an
    /// operation waits `--operation-queue-wait-ms`, then gets 503 `SERVER_BUSY`.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_CONCURRENT_OPERATIONS",
        default_value_t = AdmissionConfig::DEFAULTS.max_concurrent_operations as u64,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub max_concurrent_operations: u64,

    /// Most operations executing at once for one caller (a token's subject, role and scope);
    /// over it an operation waits, then gets 429 `TOO_MANY_CONCURRENT_OPERATIONS`.
    #[arg(
        long,
        env = "BROKERGRAPH_MAX_CONCURRENT_OPERATIONS_PER_PRINCIPAL",
        default_value_t = AdmissionConfig::DEFAULTS.max_concurrent_operations_per_principal as u64,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub max_concurrent_operations_per_principal: u64,

    /// Milliseconds an operation over a concurrency bound waits for a place before it is
    /// refused.
    #[arg(
        long,
        env = "BROKERGRAPH_OPERATION_QUEUE_WAIT_MS",
        default_value_t = AdmissionConfig::DEFAULTS.operation_queue_wait.as_millis() as u64,
        global = true
    )]
    pub operation_queue_wait_ms: u64,

    /// Events a live-update subscriber may fall behind before it is ended with
    /// `SUBSCRIBER_TOO_SLOW` (it resumes with its last cursor).
    #[arg(
        long,
        env = "BROKERGRAPH_LIVE_BUFFER",
        default_value_t = LiveConfig::DEFAULTS.buffer as u64,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub live_buffer: u64,

    /// Most subscriptions one WebSocket connection may hold at once.
    #[arg(
        long,
        env = "BROKERGRAPH_LIVE_MAX_PER_CONNECTION",
        default_value_t = LiveConfig::DEFAULTS.max_per_connection as u64,
        global = true
    )]
    pub live_max_per_connection: u64,

    /// Most subscriptions one principal (token subject) may hold at once, per replica.
    #[arg(
        long,
        env = "BROKERGRAPH_LIVE_MAX_PER_PRINCIPAL",
        default_value_t = LiveConfig::DEFAULTS.max_per_principal as u64,
        global = true
    )]
    pub live_max_per_principal: u64,

    /// Milliseconds between reads of new events when no wake-up came (a lost notification,
    /// PgBouncer in transaction mode).
    #[arg(
        long,
        env = "BROKERGRAPH_LIVE_POLL_INTERVAL_MS",
        default_value_t = LiveConfig::DEFAULTS.poll_interval.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub live_poll_interval_ms: u64,

    /// Seconds of silence after which a WebSocket is pinged and an SSE stream sent a comment.
    #[arg(
        long,
        env = "BROKERGRAPH_LIVE_KEEP_ALIVE",
        default_value_t = LiveConfig::DEFAULTS.keep_alive.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub live_keep_alive_seconds: u64,

    /// PostgreSQL URL the live-update listener connects to for `LISTEN`: the server itself,
    /// where `--database-url` goes through PgBouncer in transaction mode (which cannot carry
    /// `LISTEN`). Unset: a connection of the pool, or, with `--db-statement-cache-capacity 0`
    /// (a transaction pooler), no `LISTEN` and a read every `--live-poll-interval-ms`.
    #[arg(long, env = "BROKERGRAPH_DATABASE_LISTEN_URL", global = true)]
    pub database_listen_url: Option<String>,
}

impl ServeArgs {
    /// The HTTP edge's limits these flags ask for, or why they cannot be served.
    pub fn http_config(&self, dev_token: Option<String>) -> anyhow::Result<HttpConfig> {
        Ok(HttpConfig {
            max_body_bytes: self.max_body_bytes,
            max_batch_size: self.max_batch_size,
            dev_token,
            body_read_timeout: Duration::from_secs(self.body_read_timeout_seconds),
            websocket_max_in_flight: usize::try_from(self.websocket_max_in_flight)
                .unwrap_or(usize::MAX),
            websocket_init_timeout: Duration::from_secs(self.websocket_init_timeout_seconds),
            metrics: match (self.metrics_listen, self.metrics) {
                (Some(_), _) => Some(http::MetricsAt::OwnListener),
                (None, true) => Some(http::MetricsAt::MainPort),
                (None, false) => None,
            },
            edge: self.edge.config()?,
            documents: self.documents_config()?,
            admission: AdmissionConfig {
                max_concurrent_operations: usize::try_from(self.max_concurrent_operations)
                    .unwrap_or(usize::MAX),
                max_concurrent_operations_per_principal: usize::try_from(
                    self.max_concurrent_operations_per_principal,
                )
                .unwrap_or(usize::MAX),
                operation_queue_wait: Duration::from_millis(self.operation_queue_wait_ms),
            },
            live: LiveConfig {
                buffer: usize::try_from(self.live_buffer).unwrap_or(usize::MAX),
                max_per_connection: usize::try_from(self.live_max_per_connection)
                    .unwrap_or(usize::MAX),
                max_per_principal: usize::try_from(self.live_max_per_principal)
                    .unwrap_or(usize::MAX),
                poll_interval: Duration::from_millis(self.live_poll_interval_ms),
                keep_alive: Duration::from_secs(self.live_keep_alive_seconds),
            },
            live_listen: match &self.database_listen_url {
                Some(url) => crate::live::Listen::Url(url.clone()),
                None => crate::live::Listen::Pool,
            },
        })
    }

    /// The document cache and trusted documents these flags ask for; a manifest that cannot be
    /// read, or whose hashes do not match its texts, is refused here, at start.
    fn documents_config(&self) -> anyhow::Result<DocumentsConfig> {
        let trusted = match &self.trusted_documents {
            Some(path) => {
                let manifest = Manifest::load(path)?;
                tracing::info!(
                    documents = manifest.len(),
                    required = self.require_trusted_documents,
                    "trusted documents loaded"
                );
                Some(std::sync::Arc::new(manifest))
            }
            None => None,
        };
        Ok(DocumentsConfig {
            cache_size: self.document_cache_size,
            trusted,
            require_trusted: self.require_trusted_documents,
        })
    }

    /// The connection layer's time-outs these flags ask for.
    pub fn serve_config(&self) -> ServeConfig {
        ServeConfig {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_seconds),
        }
    }
}

/// A `--sync-interval`: a duration like `--ttl`'s, more than zero.
fn sync_interval(text: &str) -> Result<Duration, String> {
    let interval = dev::parse_ttl(text)?;
    if interval.is_zero() {
        return Err("the interval must be more than zero (leave it unset for none)".into());
    }
    Ok(interval)
}

/// Installs the log lines' subscriber and, with `--otlp-endpoint`, the OpenTelemetry layer;
/// what it returns flushes the traces at the end ([`crate::telemetry::Exporting::shutdown`]).
pub fn init_tracing(cli: &Cli) -> anyhow::Result<Option<crate::telemetry::Exporting>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let lines = match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(lines);
    let (traces, exporting) = match crate::telemetry::layer(&cli.telemetry)? {
        Some((layer, exporting)) => (Some(layer), Some(exporting)),
        None => (None, None),
    };
    subscriber.with(traces).init();
    Ok(exporting)
}

async fn connect(cli: &Cli) -> anyhow::Result<DatabaseConnection> {
    let mut config = DbConfig::new(&cli.database_url);
    config.max_connections = cli.db_max_connections;
    config.statement_cache_capacity = cli.db_statement_cache_capacity;
    db::connect(&config).await.with_context(|| {
        format!(
            "cannot connect to the database at {}",
            redact(&cli.database_url)
        )
    })
}

/// The read replicas' pools, each as large as the primary's; a replica that cannot be reached
/// stops the server from starting, as the primary does.
async fn connect_readers(cli: &Cli, primary: &DatabaseConnection) -> anyhow::Result<db::Readers> {
    if cli.database_read_url.is_empty() {
        return Ok(db::Readers::default());
    }
    if db::is_embedded(primary) {
        anyhow::bail!(
            "--database-read-url needs a PostgreSQL --database-url (SQLite has no replicas)"
        );
    }
    let mut replicas = Vec::with_capacity(cli.database_read_url.len());
    for url in &cli.database_read_url {
        let mut config = DbConfig::new(url);
        config.max_connections = cli.db_max_connections;
        let replica = db::connect(&config)
            .await
            .with_context(|| format!("cannot connect to the read replica at {}", redact(url)))?;
        replicas.push(replica);
    }
    tracing::info!(replicas = replicas.len(), "queries read from read replicas");
    Ok(db::Readers::new(replicas))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.as_ref().unwrap_or(&Command::Serve) {
        Command::Schema { federation } => {
            if *federation {
                print!("{}", graphql::federation::subgraph_sdl());
            } else {
                print!("{}", graphql::sdl());
            }
            Ok(())
        }
        Command::Migrate => {
            let db = connect(&cli).await?;
            db::migrate(&db).await.context("migration failed")?;
            tracing::info!("database migrated");
            Ok(())
        }
        Command::Seed { scale } => {
            let db = connect(&cli).await?;
            db::migrate(&db).await.context("migration failed")?;
            let report = match scale {
                Some(scale) => seed::seed_scale(&db, *scale).await,
                None => seed::seed_demo(&db).await,
            }
            .context("seeding failed")?;
            tracing::info!(?report, "seeded");
            Ok(())
        }
        Command::Token {
            role,
            broker_id,
            organization_id,
            subject,
            ttl,
        } => {
            let resolved = resolve_auth(&cli).await?;
            let Some(secret) = resolved.signing_secret else {
                anyhow::bail!(
                    "cannot mint tokens: only a public key is configured (tokens come from your identity provider)"
                );
            };
            let request = dev::TokenRequest {
                subject: subject.clone(),
                role: *role,
                broker_id: *broker_id,
                organization_id: *organization_id,
                ttl: *ttl,
                issuer: cli.auth.jwt_issuer.clone(),
                audience: cli.auth.jwt_audience.clone(),
            };
            println!("{}", dev::mint(&secret, &request)?);
            Ok(())
        }
        Command::Sync { broker } => {
            let services = services(&cli).await?;
            crate::sync_command::run(&services, broker.as_deref()).await
        }
        Command::Serve => serve(&cli).await,
    }
}

/// The key that seals credentials and every broker's Partner Center, from the flags.
fn partner_center_services(
    cli: &Cli,
) -> anyhow::Result<(
    crate::crypto::CredentialCipher,
    std::sync::Arc<crate::partner_center::connections::PartnerCenters>,
)> {
    let credential_key_file =
        dev::sqlite_file(&cli.database_url).map(|file| dev::beside(&file, "credential-key"));
    let cipher = cli.credentials.resolve(credential_key_file.as_deref())?;
    let partner_centers = std::sync::Arc::new(cli.partner_center.build()?);
    Ok((cipher, partner_centers))
}

/// What the domain needs, outside a server (`brokergraph sync`): the database migrated.
async fn services(cli: &Cli) -> anyhow::Result<Services> {
    let (cipher, partner_centers) = partner_center_services(cli)?;
    let db = connect(cli).await?;
    db::migrate(&db).await.context("migration failed")?;
    Ok(Services {
        db,
        partner_centers,
        cipher,
        partner_center_deadline: cli.partner_center.deadline(),
    })
}

/// The file beside the embedded database that holds its generated secret.
fn dev_secret_path(cli: &Cli) -> Option<std::path::PathBuf> {
    dev::sqlite_file(&cli.database_url).map(|file| dev::beside(&file, "jwt-secret"))
}

async fn resolve_auth(cli: &Cli) -> anyhow::Result<ResolvedAuth> {
    cli.auth.resolve(dev_secret_path(cli).as_deref()).await
}

async fn serve(cli: &Cli) -> anyhow::Result<()> {
    // A misconfigured server should not start at all, nor write anything: the edge's flags
    // first (`http_config` below builds the same), then the keys.
    cli.serve.edge.config()?;
    let auth = resolve_auth(cli).await?;
    let dev_token = match (&auth.signing_secret, auth.development) {
        (Some(secret), true) => Some(dev::mint(
            secret,
            &dev::TokenRequest {
                subject: "developer".into(),
                role: Role::PlatformAdmin,
                broker_id: None,
                organization_id: None,
                ttl: std::time::Duration::from_secs(7 * 86_400),
                issuer: cli.auth.jwt_issuer.clone(),
                audience: cli.auth.jwt_audience.clone(),
            },
        )?),
        _ => None,
    };
    let mut config = cli.serve.http_config(dev_token.clone())?;
    if config.live_listen == crate::live::Listen::Pool && cli.db_statement_cache_capacity == 0 {
        // The statement cache is off for a pooler in transaction mode: a `LISTEN` through it
        // would hand its notifications to other clients of that server connection.
        config.live_listen = crate::live::Listen::Off;
    }
    let (cipher, partner_centers) = partner_center_services(cli)?;
    let db = connect(cli).await?;
    db::migrate(&db).await.context("migration failed")?;
    let readers = connect_readers(cli, &db).await?;
    let demo = db::is_embedded(&db) && entity::broker::Entity::find().count(&db).await? == 0;
    if demo {
        let report = seed::seed_demo(&db)
            .await
            .context("seeding demo data failed")?;
        tracing::info!(?report, "empty embedded database: demo data written");
    }
    let serve_config = cli.serve.serve_config();
    let services = Services {
        db,
        partner_centers,
        cipher,
        partner_center_deadline: cli.partner_center.deadline(),
    };
    if demo {
        // The demo's brokers compared with their sandbox customers once, so that the
        // playground shows drift, missing customers and suggestions from the first start.
        let services = services.clone();
        tokio::spawn(async move {
            use crate::domain::sync::schedule;
            if let Ok(brokers) = schedule::brokers(&services).await {
                schedule::sync_all(&services, brokers, "demo", &|_, _| {}).await;
                tracing::info!("demo brokers synchronized with the sandbox");
            }
        });
    }
    if let Some(interval) = cli.serve.sync_interval {
        tracing::info!(
            seconds = interval.as_secs(),
            "synchronizing every broker with Partner Center periodically"
        );
        tokio::spawn(crate::domain::sync::schedule::periodically(
            services.clone(),
            interval,
        ));
    }
    let metrics_wanted = config.metrics.is_some();
    let state = AppState::with_readers(
        services,
        auth.authenticator,
        cli.limits.clone(),
        config,
        readers,
    );
    let metrics = match (&state.metrics, metrics_wanted) {
        (None, true) => {
            anyhow::bail!("metrics were asked for but cannot be recorded (see the log)")
        }
        (metrics, _) => metrics.clone(),
    };
    let metrics_listener = match (cli.serve.metrics_listen, metrics) {
        (Some(address), Some(metrics)) => {
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen for metrics on {address}"))?;
            Some((listener, metrics))
        }
        _ => None,
    };
    let listener = TcpListener::bind(cli.serve.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.serve.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    println!("brokergraph is serving GraphQL at http://{address}/graphql");
    if cli.limits.introspection {
        println!("playground: http://{address}/");
    }
    if let Some((listener, metrics)) = metrics_listener {
        let address = listener.local_addr()?;
        println!("metrics: http://{address}{}", http::metrics::METRICS_PATH);
        // Ends with the process: a scrape in flight at shutdown is of no consequence.
        tokio::spawn(http::serve::serve(
            listener,
            http::metrics::router(metrics),
            serve_config.clone(),
            std::future::pending(),
        ));
    }
    if let Some(token) = dev_token {
        println!("development token (PLATFORM_ADMIN, 7 days; the playground sends it for you):");
        println!("  Authorization: Bearer {token}");
    }
    http::serve::serve(listener, http::app(state), serve_config, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before the server stops.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact("sqlite://brokergraph.db?mode=rwc"),
            "sqlite://brokergraph.db?mode=rwc"
        );
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// Tests build servers from `Default`s, `serve` from the command line: without flags the
    /// two must be the same server.
    #[test]
    fn the_command_line_defaults_are_the_configs_defaults() {
        let cli = Cli::try_parse_from(["brokergraph"]).unwrap();
        assert_eq!(cli.serve.http_config(None).unwrap(), HttpConfig::default());
        assert_eq!(cli.serve.serve_config(), ServeConfig::default());
        assert_eq!(
            cli.db_max_connections,
            DbConfig::new(DEFAULT_DATABASE_URL).max_connections
        );
        assert_eq!(
            cli.db_statement_cache_capacity,
            DbConfig::new(DEFAULT_DATABASE_URL).statement_cache_capacity
        );
    }
}
