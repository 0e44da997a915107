//! Live updates: the audit trail as an outbox, read in commit order and fanned out in memory.
//!
//! Every change writes its audit event in its own transaction (`domain::audit::record`), with
//! the next number of a commit-ordered sequence (`audit_events.sequence`, see migration
//! `m20261202_130000_add_audit_sequence`) and a wake-up: `NOTIFY` on PostgreSQL, delivered to
//! every replica at commit; an in-process signal on SQLite. Each process has one [`Hub`]: one
//! listener that, per wake, reads the rows committed since its last read (one statement per
//! wake, however many subscribers) and broadcasts them. A subscriber ([`Feed`]) first reads
//! from the database what it missed after its cursor, then follows the broadcast; its place in
//! the broadcast's ring is its bounded buffer (`--live-buffer`): one that falls further behind
//! is ended with `SUBSCRIBER_TOO_SLOW` and resumes from its cursor.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use entity::audit_event;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tokio::sync::{broadcast, watch};

use crate::error::{ApiError, ErrorCode};

/// The PostgreSQL channel every replica listens on.
pub const CHANNEL: &str = "brokergraph_changes";
/// What a writer's transaction issues (delivered at its commit, dropped on rollback).
pub const NOTIFY_STATEMENT: &str = "NOTIFY brokergraph_changes";

/// Rows read per statement, by the hub and by a subscriber catching up.
const PAGE: u64 = 500;

/// The bounds of live updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveConfig {
    /// Events a subscriber may fall behind before it is ended (`SUBSCRIBER_TOO_SLOW`).
    pub buffer: usize,
    /// Subscriptions one WebSocket connection may hold at once.
    pub max_per_connection: usize,
    /// Subscriptions one principal (token subject) may hold at once in this process.
    pub max_per_principal: usize,
    /// How often the hub reads even without a wake-up (a notification lost while the
    /// listener reconnected, PgBouncer in transaction mode, which does not pass `LISTEN`).
    pub poll_interval: Duration,
    /// How often an idle WebSocket connection is pinged (and an SSE stream sent a comment).
    pub keep_alive: Duration,
}

impl LiveConfig {
    pub const DEFAULTS: LiveConfig = LiveConfig {
        buffer: 256,
        max_per_connection: 16,
        max_per_principal: 64,
        poll_interval: Duration::from_secs(5),
        keep_alive: Duration::from_secs(15),
    };
}

/// Where the hub's listener takes the connection it `LISTEN`s on (PostgreSQL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Listen {
    /// A connection of the pool (the pool reaches the server itself).
    #[default]
    Pool,
    /// A connection of its own to this URL: the server itself where the pool goes through a
    /// pooler in transaction mode (`--database-listen-url`), which cannot carry `LISTEN` —
    /// the notifications would arrive on whichever client uses that server connection next.
    Url(String),
    /// No `LISTEN`: new events are read every `poll_interval` (behind a transaction pooler
    /// without `--database-listen-url`).
    Off,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig::DEFAULTS
    }
}

/// SQLite's wake-up: writers in this process bump it; every hub of the process watches it.
static LOCAL_WAKE: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::channel(0).0);

/// Wakes this process's hubs (SQLite: see `domain::audit::record`).
pub fn wake_local() {
    LOCAL_WAKE.send_modify(|count| *count = count.wrapping_add(1));
}

/// One process's listener and fan-out; cheap to clone.
#[derive(Clone)]
pub struct Hub(Arc<HubInner>);

struct HubInner {
    db: DatabaseConnection,
    config: LiveConfig,
    listen: Listen,
    events: broadcast::Sender<Arc<audit_event::Model>>,
    started: OnceLock<()>,
    principals: Mutex<HashMap<String, usize>>,
}

impl Hub {
    pub fn new(db: DatabaseConnection, config: LiveConfig, listen: Listen) -> Hub {
        let (events, _) = broadcast::channel(config.buffer.max(1));
        Hub(Arc::new(HubInner {
            db,
            config,
            listen,
            events,
            started: OnceLock::new(),
            principals: Mutex::new(HashMap::new()),
        }))
    }

    pub fn config(&self) -> &LiveConfig {
        &self.0.config
    }

    /// The listener starts with the first subscriber (a server nobody subscribes to holds no
    /// listening connection) and stops once the hub is dropped.
    fn receiver(&self) -> broadcast::Receiver<Arc<audit_event::Model>> {
        let receiver = self.0.events.subscribe();
        self.0.started.get_or_init(|| {
            tokio::spawn(listen(Arc::downgrade(&self.0)));
        });
        receiver
    }

    /// Counts a subscription of `subject` against `--live-max-per-principal` until the
    /// returned admission is dropped.
    pub fn admit(&self, subject: &str) -> Result<Admission, ApiError> {
        let mut principals = self
            .0
            .principals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = principals.entry(subject.to_owned()).or_insert(0);
        if *count >= self.0.config.max_per_principal {
            return Err(limit_exceeded(format!(
                "at most {} subscriptions per principal at once",
                self.0.config.max_per_principal
            )));
        }
        *count += 1;
        crate::http::metrics::live_subscribers(1.0);
        Ok(Admission {
            hub: self.0.clone(),
            subject: subject.to_owned(),
        })
    }

    /// A feed of the events committed after `after` (a sequence number), or after now.
    pub async fn feed(&self, after: Option<i64>) -> Result<Feed, ApiError> {
        // Subscribed before reading where to start: whatever commits after the read below
        // then arrives through the broadcast.
        let receiver = self.receiver();
        let last = match after {
            Some(after) => after,
            None => newest(&self.0.db).await?,
        };
        Ok(Feed {
            db: self.0.db.clone(),
            receiver,
            last,
            pending: VecDeque::new(),
            caught_up: false,
        })
    }

    /// Events the hub holds for its slowest subscriber: at most `--live-buffer`, however far
    /// behind a subscriber is (its backlog stays in the database).
    pub fn buffered(&self) -> usize {
        self.0.events.len()
    }

    /// Sends `event` to every subscriber, as the listener does (tests of the fan-out).
    #[doc(hidden)]
    pub fn broadcast(&self, event: audit_event::Model) {
        let _ = self.0.events.send(Arc::new(event));
    }
}

pub fn limit_exceeded(message: String) -> ApiError {
    ApiError::Domain {
        code: ErrorCode::SubscriptionLimitExceeded,
        message,
    }
}

/// A subscription counted against its principal's limit.
pub struct Admission {
    hub: Arc<HubInner>,
    subject: String,
}

impl Drop for Admission {
    fn drop(&mut self) {
        crate::http::metrics::live_subscribers(-1.0);
        let mut principals = self
            .hub
            .principals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = principals.get_mut(&self.subject) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                principals.remove(&self.subject);
            }
        }
    }
}

/// The newest sequence number committed.
async fn newest(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let newest: Option<Option<i64>> = audit_event::Entity::find()
        .select_only()
        .column_as(audit_event::Column::Sequence.max(), "newest")
        .into_tuple()
        .one(db)
        .await?;
    Ok(newest.flatten().unwrap_or(0))
}

/// The events committed after `after`, oldest first, at most a page.
///
/// On SQLite the read waits for the write lock first: a writer wakes the hub before its
/// commit (SQLite has nothing that runs after one), and holds the lock until it has
/// committed, so the read sees its row. (PostgreSQL's `NOTIFY` arrives after the commit.)
async fn committed_after(
    db: &DatabaseConnection,
    after: i64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    let select = audit_event::Entity::find()
        .filter(audit_event::Column::Sequence.gt(after))
        .order_by_asc(audit_event::Column::Sequence)
        .limit(PAGE);
    if db.get_database_backend() != DbBackend::Sqlite {
        return select.all(db).await;
    }
    let txn = crate::domain::write(db).await?;
    let rows = select.all(&txn).await?;
    txn.rollback().await?;
    Ok(rows)
}

/// What wakes the hub.
enum Wake {
    Postgres(Box<sea_orm::sqlx::postgres::PgListener>),
    Local(watch::Receiver<u64>),
}

impl Wake {
    async fn new(db: &DatabaseConnection, listen: &Listen) -> Wake {
        if db.get_database_backend() == DbBackend::Postgres {
            use sea_orm::sqlx::postgres::PgListener;
            let connected = match listen {
                Listen::Pool => PgListener::connect_with(db.get_postgres_connection_pool()).await,
                Listen::Url(url) => PgListener::connect(url).await,
                Listen::Off => {
                    tracing::info!("live listener off: new events are read at each poll");
                    return Wake::Local(LOCAL_WAKE.subscribe());
                }
            };
            match connected {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
                    Ok(()) => return Wake::Postgres(Box::new(listener)),
                    Err(error) => tracing::warn!(error = %error, "live listener not listening"),
                },
                Err(error) => tracing::warn!(error = %error, "live listener not connected"),
            }
        }
        Wake::Local(LOCAL_WAKE.subscribe())
    }

    /// Until the next wake-up; wake-ups already queued are taken with it (one read for all).
    async fn next(&mut self) {
        match self {
            Wake::Postgres(listener) => {
                if let Err(error) = listener.recv().await {
                    // sqlx reconnects on the next `recv`; the poll covers what was missed.
                    tracing::warn!(error = %error, "live listener lost its connection");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                while listener.next_buffered().is_some() {}
            }
            Wake::Local(receiver) => {
                if receiver.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// The hub's listener: per wake-up (or poll), one read of what committed since the last one.
async fn listen(hub: Weak<HubInner>) {
    let Some((db, listen)) = hub
        .upgrade()
        .map(|hub| (hub.db.clone(), hub.listen.clone()))
    else {
        return;
    };
    let poll = hub
        .upgrade()
        .map_or(LiveConfig::DEFAULTS.poll_interval, |hub| {
            hub.config.poll_interval
        });
    let mut wake = Wake::new(&db, &listen).await;
    let mut last = loop {
        match newest(&db).await {
            Ok(newest) => break newest,
            Err(error) => {
                tracing::warn!(error = %error, "live listener cannot read the sequence");
                tokio::time::sleep(poll).await;
            }
        }
    };
    tracing::debug!(sequence = last, "live listener started");
    loop {
        tokio::select! {
            () = wake.next() => {}
            () = tokio::time::sleep(poll) => {}
        }
        let Some(hub) = hub.upgrade() else {
            return;
        };
        loop {
            match committed_after(&db, last).await {
                Ok(rows) => {
                    let full = rows.len() as u64 == PAGE;
                    for row in rows {
                        last = row.sequence.unwrap_or(last);
                        let _ = hub.events.send(Arc::new(row));
                    }
                    if !full {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "live listener read failed");
                    break;
                }
            }
        }
    }
}

/// One subscriber's events in commit order, each once: first those it missed after its
/// cursor (read from the database), then the hub's broadcast.
pub struct Feed {
    db: DatabaseConnection,
    receiver: broadcast::Receiver<Arc<audit_event::Model>>,
    last: i64,
    pending: VecDeque<Arc<audit_event::Model>>,
    caught_up: bool,
}

impl Feed {
    /// The next event; `SUBSCRIBER_TOO_SLOW` once the subscriber fell more than the buffer
    /// behind.
    pub async fn next(&mut self) -> Result<Arc<audit_event::Model>, ApiError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if let Some(sequence) = event.sequence.filter(|sequence| *sequence > self.last) {
                    self.last = sequence;
                    return Ok(event);
                }
                continue;
            }
            if !self.caught_up {
                let rows = committed_after(&self.db, self.last).await?;
                self.caught_up = (rows.len() as u64) < PAGE;
                self.pending.extend(rows.into_iter().map(Arc::new));
                continue;
            }
            match self.receiver.recv().await {
                Ok(event) => self.pending.push_back(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "live subscriber too slow");
                    return Err(ApiError::domain(ErrorCode::SubscriberTooSlow));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(ApiError::internal("live feed", &"the hub is gone"));
                }
            }
        }
    }

    /// The sequence number of the last event returned.
    pub fn last(&self) -> i64 {
        self.last
    }
}

/// The subscriptions one WebSocket connection holds (in its session data).
#[derive(Clone, Default)]
pub struct ConnectionSubscriptions(Arc<std::sync::atomic::AtomicUsize>);

/// A subscription counted against its connection's limit until dropped.
pub struct ConnectionSlot(Arc<std::sync::atomic::AtomicUsize>);

impl ConnectionSubscriptions {
    pub fn take(&self, max: usize) -> Result<ConnectionSlot, ApiError> {
        use std::sync::atomic::Ordering;
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < max).then_some(held + 1)
            })
            .map_err(|held| {
                tracing::info!(held, max, "subscription refused: connection limit");
                limit_exceeded(format!("at most {max} subscriptions per connection"))
            })?;
        Ok(ConnectionSlot(self.0.clone()))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(sequence: i64) -> audit_event::Model {
        audit_event::Model {
            id: uuid::Uuid::now_v7(),
            occurred_at: chrono::Utc::now(),
            actor_subject: "test".into(),
            actor_role: "PLATFORM_ADMIN".into(),
            action: "organization.updated".into(),
            entity_type: "Organization".into(),
            entity_id: uuid::Uuid::now_v7(),
            broker_id: None,
            organization_id: None,
            details: serde_json::json!({}),
            sequence: Some(sequence),
        }
    }

    /// A subscriber that reads nothing while 10,000 events pass costs the hub `--live-buffer`
    /// events, not 10,000; then it is ended with `SUBSCRIBER_TOO_SLOW`.
    #[tokio::test]
    async fn a_backlog_does_not_grow_the_hub() {
        let hub = Hub::new(
            DatabaseConnection::default(),
            LiveConfig {
                buffer: 4,
                ..LiveConfig::DEFAULTS
            },
            Listen::Pool,
        );
        // Caught up already (the database read is the API tests'), following the broadcast.
        let mut feed = Feed {
            db: DatabaseConnection::default(),
            receiver: hub.0.events.subscribe(),
            last: 0,
            pending: VecDeque::new(),
            caught_up: true,
        };
        for sequence in 1..=3 {
            hub.broadcast(event(sequence));
        }
        assert_eq!(feed.next().await.unwrap().sequence, Some(1));
        for sequence in 4..=10_000 {
            hub.broadcast(event(sequence));
            assert!(hub.buffered() <= 4, "{}", hub.buffered());
        }
        let error = feed.next().await.expect_err("too slow");
        assert!(
            matches!(
                error,
                ApiError::Domain {
                    code: ErrorCode::SubscriberTooSlow,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
