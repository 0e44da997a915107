//! Connecting to the database and keeping its schema current.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};

/// The embedded default: an SQLite file in the working directory, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://brokergraph.db?mode=rwc";

/// Rows an SQLite connection's worker thread may run ahead of the task reading them. sqlx's
/// default (50) stops the worker several times per nested page (a dashboard level is 1,000
/// rows), and each stop is a pair of thread switches.
const SQLITE_ROW_BUFFER: usize = 1024;

/// Connection pool settings.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub url: String,
    pub max_connections: u32,
    /// Schemas to search (PostgreSQL only): tests run each in a schema of its own.
    pub schema_search_path: Option<String>,
}

impl DbConfig {
    pub fn new(url: impl Into<String>) -> Self {
        DbConfig {
            url: url.into(),
            max_connections: 16,
            schema_search_path: None,
        }
    }
}

pub async fn connect(config: &DbConfig) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(config.url.clone());
    options
        .max_connections(config.max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings a connection before every use by default: a round trip per statement.
        // Ping only connections that sat idle long enough to have been dropped by a proxy or
        // a server restart; a broken one in between fails its statement, which is reported.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        // SQLite: create the file when missing, let readers and the writer proceed together
        // (WAL), wait for the writer instead of failing with "database is locked".
        .map_sqlx_sqlite_opts(|options| {
            options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .row_buffer_size(SQLITE_ROW_BUFFER)
        });
    if let Some(path) = &config.schema_search_path {
        options.set_schema_search_path(path.clone());
    }
    Database::connect(options).await
}

/// Applies pending migrations; a no-op when there are none.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Whether this is the embedded database (SQLite), as opposed to a PostgreSQL server.
pub fn is_embedded(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Sqlite
}
