//! Running synchronizations outside a request: every broker (or one) in turn, as
//! `brokergraph sync` does, and periodically inside `serve` (`--sync-interval`).

use std::time::Duration;

use entity::{broker, sync_run};
use sea_orm::{EntityTrait, QueryOrder};

use super::{Observer, Progress};
use crate::domain::Services;
use crate::error::{ApiError, ErrorCode};

/// One broker's outcome.
pub struct Outcome {
    pub broker: broker::Model,
    pub result: Result<sync_run::Model, ApiError>,
}

/// Every broker, by slug.
pub async fn brokers(services: &Services) -> Result<Vec<broker::Model>, ApiError> {
    Ok(broker::Entity::find()
        .order_by_asc(broker::Column::Slug)
        .all(&services.db)
        .await?)
}

/// Syncs each of `brokers` in turn; `observer(broker, progress)` hears of each step.
pub async fn sync_all(
    services: &Services,
    brokers: Vec<broker::Model>,
    started_by: &str,
    observer: &(dyn Fn(&broker::Model, Progress) + Send + Sync),
) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(brokers.len());
    for broker in brokers {
        let watch = |progress: Progress| observer(&broker, progress);
        let watch: Observer<'_> = &watch;
        let result = super::run(services, broker.id, started_by, watch).await;
        outcomes.push(Outcome { broker, result });
    }
    outcomes
}

/// Syncs every broker every `interval`, for as long as the server runs. A broker another
/// replica is syncing is skipped until the next round.
pub async fn periodically(services: Services, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The first tick is immediate: the first round starts one interval after the start.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let brokers = match brokers(&services).await {
            Ok(brokers) => brokers,
            Err(error) => {
                tracing::warn!(code = %error.code(), "scheduled sync skipped: cannot read the brokers");
                continue;
            }
        };
        for outcome in sync_all(&services, brokers, "scheduler", &|_, _| {}).await {
            if let Err(error) = outcome.result
                && error.code() == ErrorCode::SyncInProgress
            {
                tracing::info!(broker = %outcome.broker.slug, "scheduled sync skipped: running elsewhere");
            }
        }
    }
}
