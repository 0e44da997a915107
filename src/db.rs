//! Connecting to the database and keeping its schema current.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr};

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
    /// Prepared statements kept per PostgreSQL connection. `0` prepares every statement
    /// unnamed and runs it in the same protocol sequence (one Sync), which a pooler in
    /// transaction mode (PgBouncer before 1.21, or without `max_prepared_statements`) needs.
    pub statement_cache_capacity: usize,
}

/// sqlx's default number of prepared statements kept per PostgreSQL connection.
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 100;

/// The pool size when none is configured (`DbConfig::new` and the command line's default).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

impl DbConfig {
    pub fn new(url: impl Into<String>) -> Self {
        DbConfig {
            url: url.into(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            schema_search_path: None,
            statement_cache_capacity: DEFAULT_STATEMENT_CACHE_CAPACITY,
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
        .map_sqlx_postgres_opts({
            let capacity = config.statement_cache_capacity;
            move |options| options.statement_cache_capacity(capacity)
        })
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
    let mut db = Database::connect(options).await?;
    on_statement(&mut db, |_| {});
    Ok(db)
}

/// Has every statement `db` runs counted and timed in the metrics (`db_statements_total`,
/// `db_statement_duration_seconds`), then passed to `also`. sea-orm keeps one callback per
/// connection: this is the one place that sets it.
pub fn on_statement(
    db: &mut DatabaseConnection,
    also: impl Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static,
) {
    db.set_metric_callback(move |info| {
        crate::http::metrics::statement(info);
        // In the span of the request that ran it (DataLoader batches carry theirs).
        tracing::debug!(
            elapsed_us = u64::try_from(info.elapsed.as_micros()).unwrap_or(u64::MAX),
            failed = info.failed,
            "statement finished"
        );
        also(info);
    });
}

/// Applies pending migrations; a no-op when there are none.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Whether this is the embedded database (SQLite), as opposed to a PostgreSQL server.
pub fn is_embedded(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Sqlite
}

/// Whether `error` means the database could not be reached (as opposed to a statement it
/// refused): no connection within the pool's time-out, a refused or reset socket, a server
/// shutting down. Such failures are retryable, and answered as `DATABASE_UNAVAILABLE`.
pub fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            match error.as_ref() {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed
                | Sqlx::Protocol(_) => true,
                // PostgreSQL's class 08 (connection exception) and 57P (operator
                // intervention: admin shutdown, crash shutdown, cannot connect now).
                Sqlx::Database(error) => error
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
                _ => false,
            }
        }
        _ => false,
    }
}

/// How long a readiness probe or an availability check may wait for the database.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How often a database found unreachable is probed until it answers again.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// What the server last saw of its database. Once a statement finds it unreachable, requests
/// are refused at once (503, `DATABASE_UNAVAILABLE`, `Retry-After`) instead of each waiting
/// the pool's acquire time-out, while one background task probes it; the first probe that
/// succeeds lets requests through again. Per process: every replica finds out for itself.
#[derive(Clone)]
pub struct Availability(Arc<AvailabilityInner>);

struct AvailabilityInner {
    db: DatabaseConnection,
    down: AtomicBool,
    probing: AtomicBool,
}

impl Availability {
    pub fn new(db: DatabaseConnection) -> Self {
        Availability(Arc::new(AvailabilityInner {
            db,
            down: AtomicBool::new(false),
            probing: AtomicBool::new(false),
        }))
    }

    /// Whether the database was found unreachable and has not answered since.
    pub fn is_down(&self) -> bool {
        self.0.down.load(Ordering::Acquire)
    }

    /// Records that the database did not answer, and starts probing it (once).
    pub fn mark_down(&self) {
        self.0.down.store(true, Ordering::Release);
        if self.0.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!("database unreachable: refusing requests until it answers");
        let state = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                // Stop when the server that started the probe is gone.
                let Some(inner) = state.upgrade() else { return };
                if ping(&inner.db).await {
                    inner.down.store(false, Ordering::Release);
                    inner.probing.store(false, Ordering::Release);
                    tracing::info!("database reachable again");
                    return;
                }
            }
        });
    }

    /// The database this watches.
    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    /// Pings the database within [`PROBE_TIMEOUT`]; a failure marks it down.
    pub async fn check(&self) -> bool {
        if self.is_down() {
            return false;
        }
        let up = ping(&self.0.db).await;
        if !up {
            self.mark_down();
        }
        up
    }
}

async fn ping(db: &DatabaseConnection) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await,
        Ok(Ok(()))
    )
}

/// The read replicas (`--database-read-url`): query operations read there, each from the next
/// in turn. A replica found unreachable is passed over (its share of queries reads the primary)
/// while it is probed, as [`Availability`] does for the primary. Replicas stream from the
/// primary asynchronously, so what they answer may lag it by their replay delay.
#[derive(Clone, Default)]
pub struct Readers(Arc<ReadersInner>);

#[derive(Default)]
struct ReadersInner {
    replicas: Vec<Availability>,
    next: std::sync::atomic::AtomicUsize,
}

impl Readers {
    pub fn new(replicas: Vec<DatabaseConnection>) -> Self {
        Readers(Arc::new(ReadersInner {
            replicas: replicas.into_iter().map(Availability::new).collect(),
            next: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// How many replicas there are.
    pub fn len(&self) -> usize {
        self.0.replicas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.replicas.is_empty()
    }

    /// The replica the next query reads: the next in turn that is not down, or `None` (read
    /// the primary) when there are none or every one is down.
    pub fn next(&self) -> Option<&Availability> {
        let replicas = &self.0.replicas;
        if replicas.is_empty() {
            return None;
        }
        let start = self.0.next.fetch_add(1, Ordering::Relaxed);
        (0..replicas.len())
            .map(|offset| &replicas[(start + offset) % replicas.len()])
            .find(|replica| !replica.is_down())
    }

    /// Pings every replica (at once, each within [`PROBE_TIMEOUT`]); the positions, in the
    /// order they were configured, of those that did not answer.
    pub async fn unreachable(&self) -> Vec<usize> {
        let checks = self.0.replicas.iter().map(Availability::check);
        futures_util::future::join_all(checks)
            .await
            .into_iter()
            .enumerate()
            .filter_map(|(position, up)| (!up).then_some(position))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The position of the replica `readers.next()` picks.
    fn picked(readers: &Readers) -> Option<usize> {
        let replica = readers.next()?;
        readers
            .0
            .replicas
            .iter()
            .position(|r| std::ptr::eq(r, replica))
    }

    #[tokio::test]
    async fn read_replicas_take_turns_and_one_that_is_down_is_passed_over() {
        assert_eq!(
            picked(&Readers::default()),
            None,
            "no replicas: the primary"
        );
        let mut replicas = Vec::new();
        for _ in 0..3 {
            replicas.push(connect(&DbConfig::new("sqlite::memory:")).await.unwrap());
        }
        let readers = Readers::new(replicas);
        let turns: Vec<_> = (0..6).map(|_| picked(&readers)).collect();
        assert_eq!(turns, [0, 1, 2, 0, 1, 2].map(Some));
        readers.0.replicas[1].mark_down();
        let turns: Vec<_> = (0..4).map(|_| picked(&readers)).collect();
        assert!(!turns.contains(&Some(1)), "{turns:?}");
        assert!(turns.iter().all(Option::is_some), "{turns:?}");
        for replica in &readers.0.replicas {
            replica.mark_down();
        }
        assert_eq!(picked(&readers), None, "every replica down: the primary");
    }
}
