//! The append-only audit trail: every change writes one event in its own transaction.

use chrono::Utc;
use entity::audit_event;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, IntoActiveModel};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Principal;

/// One change, as the trail records it.
pub struct Event {
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: Uuid,
    pub broker_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Anything else worth keeping (an idempotency key, a Partner Center request id).
    pub extra: Option<Value>,
}

impl Event {
    pub fn new(action: &'static str, entity_type: &'static str, entity_id: Uuid) -> Self {
        Event {
            action,
            entity_type,
            entity_id,
            broker_id: None,
            organization_id: None,
            before: None,
            after: None,
            extra: None,
        }
    }

    pub fn scope(mut self, broker: Option<Uuid>, organization: Option<Uuid>) -> Self {
        self.broker_id = broker;
        self.organization_id = organization;
        self
    }

    pub fn before(mut self, row: &impl Serialize) -> Self {
        self.before = serde_json::to_value(row).ok();
        self
    }

    pub fn after(mut self, row: &impl Serialize) -> Self {
        self.after = serde_json::to_value(row).ok();
        self
    }

    pub fn extra(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }
}

/// Writes `event` as done by `principal`, inside the caller's transaction.
pub async fn record(
    db: &impl ConnectionTrait,
    principal: &Principal,
    event: Event,
) -> Result<(), DbErr> {
    let mut details = json!({});
    for (key, value) in [
        ("before", event.before),
        ("after", event.after),
        ("extra", event.extra),
    ] {
        if let Some(value) = value {
            details[key] = value;
        }
    }
    audit_event::Model {
        id: Uuid::now_v7(),
        occurred_at: Utc::now(),
        actor_subject: principal.subject.clone(),
        actor_role: principal.role.as_str().into(),
        action: event.action.into(),
        entity_type: event.entity_type.into(),
        entity_id: event.entity_id,
        broker_id: event.broker_id,
        organization_id: event.organization_id,
        details,
    }
    .into_active_model()
    .insert(db)
    .await?;
    Ok(())
}
