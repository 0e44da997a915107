//! The append-only audit trail: every change writes one event in its own transaction; reading
//! it back, each caller sees of an event what it may read of the entity (`redacted_details`).
//! It is also the outbox of live updates (`crate::live`): each event gets its place in the
//! commit order (`sequence`) and wakes the subscribers' listeners.

use chrono::Utc;
use entity::audit_event;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, IntoActiveModel, Statement};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::fields::{Field, may_read};
use crate::auth::{Principal, Role};

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

/// The next number of the commit order (see migration `m20261202_130000_add_audit_sequence`):
/// the counter row stays locked until the caller's transaction ends, so numbers commit in
/// their order.
async fn next_sequence(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "UPDATE event_sequence SET last = last + 1 WHERE id = 1 RETURNING last",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the event_sequence counter row".into()))?;
    row.try_get_by_index(0)
}

/// Wakes the live-update listeners once the caller's transaction commits: PostgreSQL delivers
/// a `NOTIFY` only at commit (and drops it on rollback), to every replica's listener. SQLite
/// has no such thing; its listener, in this process, is woken now and waits for the write
/// lock before it reads (see `live::hub`), so it reads after this transaction ends.
async fn wake_listeners(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared(crate::live::NOTIFY_STATEMENT).await?;
        }
        _ => crate::live::wake_local(),
    }
    Ok(())
}

/// Writes `event` as done by `principal`, inside the caller's transaction.
pub async fn record(
    db: &impl ConnectionTrait,
    principal: &Principal,
    event: Event,
) -> Result<(), DbErr> {
    let sequence = next_sequence(db).await?;
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
        sequence: Some(sequence),
    }
    .into_active_model()
    .insert(db)
    .await?;
    wake_listeners(db).await
}

/// The guarded field a snapshot's `key` holds, for an entity of `entity_type`: the audit
/// trail's copy of the rules the GraphQL types apply to the same fields (`fields::may_read`).
fn snapshot_field<'a>(
    entity_type: &str,
    key: &str,
    snapshot: &'a Map<String, Value>,
) -> Option<Field<'a>> {
    match (entity_type, key) {
        ("User", "email") => {
            let id = snapshot
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| Uuid::parse_str(id).ok());
            let email = snapshot.get("email").and_then(Value::as_str);
            Some(Field::UserEmail(id.zip(email)))
        }
        (
            "Organization",
            "contact_email" | "registration_number" | "vat_number" | "customer_number",
        ) => Some(Field::OrganizationDetails),
        ("Tenant", "linked_by") => Some(Field::TenantLinkedBy),
        _ => None,
    }
}

/// An event's `details` as `principal` may read them: the `before` and `after` snapshots
/// without the fields it may not read on the entity itself (left out, not nulled: `null` is a
/// value some of them have).
pub fn redacted_details(principal: &Principal, entity_type: &str, details: &Value) -> Value {
    let mut details = details.clone();
    for side in ["before", "after"] {
        let Some(Value::Object(snapshot)) = details.get_mut(side) else {
            continue;
        };
        let hidden: Vec<String> = snapshot
            .keys()
            .filter(|key| {
                snapshot_field(entity_type, key, snapshot)
                    .is_some_and(|field| !may_read(principal, field))
            })
            .cloned()
            .collect();
        for key in hidden {
            snapshot.remove(&key);
        }
    }
    details
}

/// Whether `principal` may read who made the change `event` records.
pub fn actor_readable(principal: &Principal, event: &audit_event::Model) -> bool {
    let field = Field::Actor {
        role: Role::parse(&event.actor_role),
        action: &event.action,
    };
    may_read(principal, field)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use entity::enums::{OrganizationRole, TenantLinkMethod, TenantManagement};
    use entity::{organization, tenant, user};

    use super::*;

    /// The snapshot keys the redaction names are the keys the models serialise to: a renamed
    /// column would otherwise leak silently.
    #[test]
    fn every_guarded_snapshot_key_is_a_key_of_its_entity() {
        let now = Utc::now();
        let id = Uuid::now_v7();
        let snapshots = [
            (
                "User",
                serde_json::to_value(user::Model {
                    id,
                    organization_id: id,
                    email: "jane@a.example".into(),
                    display_name: "Jane".into(),
                    role: OrganizationRole::OrganizationUser,
                    created_at: now,
                    updated_at: now,
                }),
                vec!["email"],
            ),
            (
                "Organization",
                serde_json::to_value(organization::Model {
                    id,
                    broker_id: id,
                    name: "A".into(),
                    contact_email: "it@a.example".into(),
                    country: "DE".into(),
                    registration_number: Some("HRB 1".into()),
                    vat_number: Some("DE1".into()),
                    customer_number: Some("C1".into()),
                    created_at: now,
                    updated_at: now,
                }),
                vec![
                    "contact_email",
                    "registration_number",
                    "vat_number",
                    "customer_number",
                ],
            ),
            (
                "Tenant",
                serde_json::to_value(tenant::Model {
                    id,
                    organization_id: id,
                    microsoft_tenant_id: id,
                    primary_domain: "a.onmicrosoft.com".into(),
                    link_method: TenantLinkMethod::Manual,
                    management: TenantManagement::PartnerManaged,
                    linked_at: now,
                    linked_by: "ba@broker".into(),
                    created_at: now,
                    updated_at: now,
                }),
                vec!["linked_by"],
            ),
        ];
        let nobody = Principal {
            subject: "someone".into(),
            role: Role::OrganizationUser,
            broker_id: None,
            organization_id: Some(id),
            expires_at: None,
        };
        for (entity_type, snapshot, guarded) in snapshots {
            let snapshot = snapshot.unwrap();
            let details = json!({ "before": snapshot, "after": snapshot });
            let redacted = redacted_details(&nobody, entity_type, &details);
            for side in ["before", "after"] {
                for key in &guarded {
                    assert!(details[side].get(key).is_some(), "{entity_type}.{key}");
                    assert!(redacted[side].get(key).is_none(), "{entity_type}.{key}");
                }
                assert!(
                    redacted[side].get("id").is_some(),
                    "{entity_type}: the rest stays"
                );
            }
        }
    }
}
