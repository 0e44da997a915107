//! Prometheus metrics at `GET /metrics`, recorded through the `metrics` facade into
//! metrics-exporter-prometheus's recorder (without its own HTTP listener: brokergraph serves
//! the text itself, on the main port with `--metrics` or on `--metrics-listen`).
//!
//! Without either switch no recorder is installed, and every `metrics::` call is a check of an
//! unset global and nothing more.
//!
//! Series (histograms in seconds):
//! - `graphql_requests_total`, `graphql_request_duration_seconds`: per operation, by
//!   `operation` (its name, see [`OperationNames`]), `type` (`query`, `mutation`,
//!   `subscription`, `none` when refused before one was selected) and `outcome` (`OK`, or the
//!   first error's `extensions.code`).
//! - `graphql_refusals_total`: requests refused by a limit, by `code`.
//! - `db_statements_total`, `db_statement_duration_seconds`: SQL statements, by `outcome`
//!   (`ok`, `error`).
//! - `db_pool_connections` (`state` = `idle` or `in_use`) and `db_pool_max_connections`,
//!   read from the pool at each scrape.
//! - `partner_center_calls_total`, `partner_center_call_duration_seconds`: by `operation` and
//!   `outcome` (`OK` or the error's code).
//! - `live_subscribers`: the live-update subscriptions (`changes`, over WebSocket or SSE) open
//!   in this process now; `live_events_delivered_total`: the events they were sent.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{DatabaseConnection, DbBackend};

pub const METRICS_PATH: &str = "/metrics";

/// Histogram buckets, in seconds: 1 ms to 30 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The label of anonymous operations and of names past the bound.
pub const OTHER_OPERATION: &str = "other";

/// The most distinct operation names labelled per server; later names fold into
/// [`OTHER_OPERATION`].
pub const MAX_OPERATION_NAMES: usize = 200;

/// The longest operation name used as a label; longer ones fold into [`OTHER_OPERATION`].
const MAX_OPERATION_NAME_LEN: usize = 64;

/// The process's recorder: installed once, on first use, and shared by every server of the
/// process (the `metrics` facade has one global recorder).
static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

fn install() -> Result<PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .map_err(|error| error.to_string())?
                .install_recorder()
                .map_err(|error| error.to_string())
        })
        .clone()
}

/// Operation names as labels, bounded: the first [`MAX_OPERATION_NAMES`] distinct names a
/// server sees are kept, every later one (and every anonymous operation) is
/// [`OTHER_OPERATION`]. A client cannot grow the series past the bound by inventing names.
#[derive(Default)]
pub struct OperationNames(Mutex<HashSet<Arc<str>>>);

impl OperationNames {
    /// The label for an operation named `name` (as its document names it).
    pub fn label(&self, name: Option<&str>) -> Arc<str> {
        let Some(name) = name.filter(|name| name.len() <= MAX_OPERATION_NAME_LEN) else {
            return OTHER_OPERATION.into();
        };
        let Ok(mut names) = self.0.lock() else {
            return OTHER_OPERATION.into();
        };
        if let Some(known) = names.get(name) {
            return known.clone();
        }
        if names.len() >= MAX_OPERATION_NAMES {
            return OTHER_OPERATION.into();
        }
        let name: Arc<str> = name.into();
        names.insert(name.clone());
        name
    }
}

/// A server's metrics: the recorder's handle and what the scrape reads at scrape time.
pub struct Metrics {
    handle: PrometheusHandle,
    db: DatabaseConnection,
    pub operations: OperationNames,
}

impl Metrics {
    /// Installs the process's recorder (once) and answers this server's metrics.
    pub fn new(db: DatabaseConnection) -> anyhow::Result<Arc<Self>> {
        let handle = install()
            .map_err(|error| anyhow::anyhow!("cannot install the Prometheus recorder: {error}"))?;
        Ok(Arc::new(Metrics {
            handle,
            db,
            operations: OperationNames::default(),
        }))
    }

    /// The Prometheus text of every series, with the pool's gauges read now.
    pub fn render(&self) -> String {
        self.record_pool();
        self.handle.run_upkeep();
        self.handle.render()
    }

    fn record_pool(&self) {
        let (size, idle, max) = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => return,
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
        metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(size - idle));
        metrics::gauge!("db_pool_max_connections").set(f64::from(max));
    }
}

/// `GET /metrics`
async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    let body = metrics.render();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The `/metrics` route alone: merged into the main router (`--metrics`), or served by a
/// listener of its own (`--metrics-listen`).
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(METRICS_PATH, get(scrape))
        .with_state(metrics)
}

/// Records one GraphQL operation.
pub fn operation(name: &str, ty: &'static str, outcome: &str, elapsed: Duration) {
    let labels = [
        ("operation", name.to_owned()),
        ("type", ty.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!("graphql_requests_total", &labels).increment(1);
    metrics::histogram!("graphql_request_duration_seconds", &labels).record(elapsed);
}

/// Records a request refused by a limit.
pub fn refusal(code: &str) {
    metrics::counter!("graphql_refusals_total", "code" => code.to_owned()).increment(1);
}

/// Records one SQL statement (sea-orm's metric callback).
pub fn statement(info: &sea_orm::metric::Info<'_>) {
    let outcome = if info.failed { "error" } else { "ok" };
    metrics::counter!("db_statements_total", "outcome" => outcome).increment(1);
    metrics::histogram!("db_statement_duration_seconds", "outcome" => outcome).record(info.elapsed);
}

/// A live-update subscription opened (`1.0`) or ended (`-1.0`).
pub fn live_subscribers(change: f64) {
    metrics::gauge!("live_subscribers").increment(change);
}

/// One event sent to a live-update subscriber.
pub fn live_event_delivered() {
    metrics::counter!("live_events_delivered_total").increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded() {
        let names = OperationNames::default();
        assert_eq!(&*names.label(None), OTHER_OPERATION);
        assert_eq!(&*names.label(Some(&"n".repeat(65))), OTHER_OPERATION);
        for index in 0..MAX_OPERATION_NAMES {
            let name = format!("Op{index}");
            assert_eq!(&*names.label(Some(&name)), name);
        }
        assert_eq!(&*names.label(Some("OneTooMany")), OTHER_OPERATION);
        assert_eq!(&*names.label(Some("Op7")), "Op7", "known names stay");
    }
}
