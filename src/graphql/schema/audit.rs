//! The audit trail, for admins: newest first, filterable.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter, Select};
use uuid::Uuid;

use entity::audit_event;

use crate::auth::Principal;
use crate::auth::fields::{Field, ReadableActors, may_read, readable_actors};
use crate::domain::audit;
use crate::error::{ApiError, ApiResult};
use crate::graphql::exec::fetch;
use crate::graphql::relay::connection::Conn;
use crate::graphql::relay::cursor::{Keyed, Order, OrderDirection, SortKey};
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::relay::pagination::PageArgs;
use crate::graphql::schema::json::JsonValue;
use crate::graphql::{guard, request};

impl Keyed for audit_event::Model {
    fn id(&self) -> Uuid {
        self.id
    }
    fn sort_value(&self, _: SortKey) -> Option<String> {
        None
    }
}

/// One change: who did what to which entity, when.
pub struct AuditEvent(pub audit_event::Model);

#[Object]
impl AuditEvent {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::AuditEvent, self.0.id)
    }
    async fn uuid(&self) -> Uuid {
        self.0.id
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// The `sub` of the token that made the change. Organization roles read the actors of
    /// their own organization's users only (FORBIDDEN otherwise), and never who linked a tenant.
    async fn actor_subject(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        guard(
            ctx,
            |p| audit::actor_readable(p, &self.0),
            "who made this change",
        )?;
        Ok(Some(&self.0.actor_subject))
    }
    async fn actor_role(&self) -> &str {
        &self.0.actor_role
    }
    /// E.g. `tenant.linked`, `organization.updated`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The GraphQL type of the entity, e.g. `Tenant`.
    async fn entity_type(&self) -> &str {
        &self.0.entity_type
    }
    /// The entity's global ID (it may have been deleted since).
    async fn entity_id(&self) -> Option<ID> {
        ids::kind_named(&self.0.entity_type).map(|kind| ids::encode(kind, self.0.entity_id))
    }
    async fn entity_uuid(&self) -> Uuid {
        self.0.entity_id
    }
    async fn broker_uuid(&self) -> Option<Uuid> {
        self.0.broker_id
    }
    async fn organization_uuid(&self) -> Option<Uuid> {
        self.0.organization_id
    }
    /// `before` and `after` snapshots where they matter, and other facts of the change. A
    /// field the caller may not read on the entity is left out of its snapshots.
    async fn details(&self, ctx: &Context<'_>) -> ApiResult<JsonValue> {
        let Some(principal) = &request(ctx)?.principal else {
            return Err(ApiError::Forbidden(
                "your role may not read the audit trail".into(),
            ));
        };
        Ok(JsonValue(audit::redacted_details(
            principal,
            &self.0.entity_type,
            &self.0.details,
        )))
    }
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct AuditEventFilter {
    /// Only events about this entity (its global ID).
    pub entity_id: Option<ID>,
    /// Only events about entities of this type, e.g. `Tenant`.
    pub entity_type: Option<String>,
    /// Only this action, e.g. `tenant.linked`.
    pub action: Option<String>,
    /// Only changes made by this token subject.
    pub actor_subject: Option<String>,
    /// Only events at or after this instant.
    pub occurred_after: Option<DateTime<Utc>>,
    /// Only events before this instant.
    pub occurred_before: Option<DateTime<Utc>>,
}

impl AuditEventFilter {
    fn apply(
        self,
        principal: Option<&Principal>,
        mut select: Select<audit_event::Entity>,
    ) -> ApiResult<Select<audit_event::Entity>> {
        if let Some(id) = &self.entity_id {
            let (_, uuid) = ids::decode_input(id, "filter.entityId")?;
            select = select.filter(audit_event::Column::EntityId.eq(uuid));
        }
        if let Some(entity_type) = self.entity_type {
            select = select.filter(audit_event::Column::EntityType.eq(entity_type));
        }
        if let Some(action) = self.action {
            select = select.filter(audit_event::Column::Action.eq(action));
        }
        if let Some(subject) = self.actor_subject {
            // Only among the events whose actor the caller may read: otherwise the filter
            // would confirm guesses of an actor `actorSubject` hides.
            let readable = principal.map(readable_actors).unwrap_or(ReadableActors {
                roles: Vec::new(),
                hidden_actions: Vec::new(),
            });
            let roles = readable.roles.iter().map(|role| role.as_str());
            select = select
                .filter(audit_event::Column::ActorSubject.eq(subject))
                .filter(audit_event::Column::ActorRole.is_in(roles))
                .filter(audit_event::Column::Action.is_not_in(readable.hidden_actions));
        }
        if let Some(after) = self.occurred_after {
            select = select.filter(audit_event::Column::OccurredAt.gte(after));
        }
        if let Some(before) = self.occurred_before {
            select = select.filter(audit_event::Column::OccurredAt.lt(before));
        }
        Ok(select)
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail, newest first. For admins: platform, broker and organization admins,
    /// and broker readers.
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Conn<AuditEvent>> {
        guard(ctx, |p| may_read(p, Field::AuditTrail), "the audit trail")?;
        let request = request(ctx)?;
        let select = filter.unwrap_or_default().apply(
            request.principal.as_ref(),
            request.scope.find::<audit_event::Entity>(),
        )?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let newest_first = Order {
            key: SortKey::Id,
            direction: OrderDirection::Desc,
        };
        fetch::list(ctx, select, args, newest_first, AuditEvent).await
    }
}
