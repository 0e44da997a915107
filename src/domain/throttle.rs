//! Per-principal limits on failures that tell the caller something outside its scope.
//!
//! Emails are unique across the platform (the email is the username), so `createUser` with an
//! address another broker's user holds must fail, and its `CONFLICT` says the address exists
//! somewhere. That answer stays; what a limit makes costly is asking it many times: after
//! [`EMAIL_CONFLICTS`]`.max` such failures in its window, a principal's next attempts answer
//! `RATE_LIMITED` with `retryAfter`, whatever the address (a free one too, or a success would
//! be the signal instead). A platform admin, who may read every user, learns nothing from a
//! conflict and is not limited ([`Limit::probe`]).
//!
//! The state is rows in `rate_limit_hits`, not memory: replicas share only the database, and a
//! limit each replica kept alone would multiply by the number of replicas. An attempt takes its
//! slot *before* it runs, so concurrent attempts cannot overshoot the limit: an attempt that
//! did not fail the counted way gives its slot back, a failed one keeps it until the window
//! has passed. A process that dies mid-attempt leaves its slot taken until then, erring on the
//! side of the limit.

use chrono::{DateTime, Duration, Utc};
use entity::rate_limit_hit;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::scope::Scope;

/// A limit: at most `max` counted failures of one principal within `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Which failures count; each limit has rows of its own.
    pub action: &'static str,
    pub max: u64,
    pub window_seconds: i64,
}

/// Email conflicts (`createUser`, and `updateUser` changing the email): a person fixing typos
/// does not reach ten in a quarter of an hour; a script testing addresses gets ten per quarter
/// hour instead of thousands a minute.
pub const EMAIL_CONFLICTS: Limit = Limit {
    action: "email_conflict",
    max: 10,
    window_seconds: 15 * 60,
};

/// The slot an attempt holds while it runs; settle it with [`Attempt::failed`] or
/// [`Attempt::passed`].
#[must_use]
pub struct Attempt {
    id: Uuid,
}

impl Limit {
    fn window(&self) -> Duration {
        Duration::seconds(self.window_seconds)
    }

    /// Like [`Limit::attempt`], for a failure that only tells something beyond the caller's
    /// scope: a caller that sees every row learns nothing from it, and is not limited.
    pub async fn probe(
        &self,
        db: &DatabaseConnection,
        principal: &Principal,
    ) -> Result<Option<Attempt>, ApiError> {
        if principal.scope() == Scope::Everything {
            return Ok(None);
        }
        self.attempt(db, principal).await.map(Some)
    }

    /// Takes a slot for one attempt by `principal`, or refuses with `RATE_LIMITED` when its
    /// window is full. Runs outside any transaction (it must be seen by concurrent attempts).
    pub async fn attempt(
        &self,
        db: &DatabaseConnection,
        principal: &Principal,
    ) -> Result<Attempt, ApiError> {
        let now = Utc::now();
        let since = now - self.window();
        // What the window no longer holds, of every principal: the table stays as small as
        // one window's failures.
        rate_limit_hit::Entity::delete_many()
            .filter(rate_limit_hit::Column::OccurredAt.lt(since))
            .exec(db)
            .await?;
        let id = Uuid::now_v7();
        rate_limit_hit::Model {
            id,
            principal: principal.subject.clone(),
            action: self.action.into(),
            failed: false,
            occurred_at: now,
        }
        .into_active_model()
        .insert(db)
        .await?;
        let held = rate_limit_hit::Entity::find()
            .filter(rate_limit_hit::Column::Principal.eq(principal.subject.as_str()))
            .filter(rate_limit_hit::Column::Action.eq(self.action))
            .filter(rate_limit_hit::Column::OccurredAt.gte(since))
            .order_by_asc(rate_limit_hit::Column::OccurredAt)
            .limit(self.max + 1)
            .all(db)
            .await?;
        if held.len() as u64 <= self.max {
            return Ok(Attempt { id });
        }
        // A refused attempt tells nothing, so it takes no slot.
        rate_limit_hit::Entity::delete_by_id(id).exec(db).await?;
        let failed: Vec<DateTime<Utc>> = held
            .iter()
            .filter(|hit| hit.failed)
            .map(|hit| hit.occurred_at)
            .collect();
        Err(ApiError::Retryable {
            code: ErrorCode::RateLimited,
            message: ErrorCode::RateLimited.default_message().into(),
            retry_after_seconds: self.retry_after(&failed, now),
        })
    }

    /// Seconds until the oldest failure leaves the window, when failures fill it; otherwise
    /// the window is full of attempts in flight, which settle within a request's time.
    fn retry_after(&self, failed_oldest_first: &[DateTime<Utc>], now: DateTime<Utc>) -> u64 {
        match failed_oldest_first.first() {
            Some(oldest) if failed_oldest_first.len() as u64 >= self.max => {
                let wait = (*oldest + self.window() - now).num_milliseconds();
                // Rounded up: a client that waits exactly this long finds a free slot.
                u64::try_from(wait.div_euclid(1000) + 1).unwrap_or(1)
            }
            _ => 1,
        }
    }
}

impl Attempt {
    /// The attempt failed the way its limit counts: the slot stays taken for the window.
    pub async fn failed(self, db: &DatabaseConnection) {
        let row = rate_limit_hit::ActiveModel {
            id: ActiveValue::Unchanged(self.id),
            failed: ActiveValue::Set(true),
            ..Default::default()
        };
        // The slot counts as taken either way; the flag only sharpens `retryAfter`.
        if let Err(error) = row.update(db).await {
            tracing::warn!(error = %error, "could not mark a rate-limited attempt as failed");
        }
    }

    /// The attempt succeeded, or failed some other way: it gives its slot back.
    pub async fn passed(self, db: &DatabaseConnection) {
        // Left behind, the slot only expires with the window: the limit errs on its side.
        if let Err(error) = rate_limit_hit::Entity::delete_by_id(self.id).exec(db).await {
            tracing::warn!(error = %error, "could not release a rate-limited attempt");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_waits_for_the_oldest_failure_to_leave_the_window() {
        let limit = Limit {
            action: "t",
            max: 2,
            window_seconds: 60,
        };
        let now = Utc::now();
        let full = [now - Duration::seconds(50), now - Duration::seconds(10)];
        assert_eq!(limit.retry_after(&full, now), 11);
        let just = [now - Duration::milliseconds(59_500), now];
        assert_eq!(limit.retry_after(&just, now), 1);
        // Attempts in flight fill the window: they settle soon.
        assert_eq!(limit.retry_after(&full[..1], now), 1);
        assert_eq!(limit.retry_after(&[], now), 1);
    }
}
