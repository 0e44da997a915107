//! Managing the graph: brokers, organizations, users, catalog services, subscriptions and
//! assignments, one module per entity. Every change has the same shape, written once here:
//! inputs are validated (each refusal names its field), the target rows are read through the
//! caller's scope (out of scope is not found), the role is checked, and the change and its
//! audit event are written in one transaction, a taken unique value answered as a conflict.

pub mod broker;
pub mod organization;
pub mod service;
pub mod subscription;
pub mod user;

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, IntoActiveModel, PrimaryKeyTrait,
};
use serde::Serialize;
use uuid::Uuid;

use super::audit::{self, Event};
use super::tenancy::{self, Change};
use super::{Unique, on_unique, visible};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::scope::ById;

/// A row this module manages, with the names the audit trail and `NOT_FOUND` give it.
pub(super) trait Managed:
    ById<
        Model: Serialize + IntoActiveModel<Self::ActiveModel>,
        ActiveModel: Send,
        PrimaryKey: PrimaryKeyTrait<ValueType: From<Uuid>>,
    >
{
    /// The GraphQL type the trail records, e.g. `ServiceSubscription`.
    const TYPE: &'static str;
    /// The noun of its `NOT_FOUND`, e.g. `subscription`.
    const NOUN: &'static str;
    /// The trail's actions, e.g. `subscription.created`.
    const CREATED: &'static str;
    const UPDATED: &'static str;
    const DELETED: &'static str;

    fn id(row: &Self::Model) -> Uuid;
}

/// Each managed entity: its module, the GraphQL type the trail records, and its noun.
macro_rules! managed {
    ($($module:ident: $type:literal, $noun:literal;)*) => {$(
        impl Managed for entity::$module::Entity {
            const TYPE: &'static str = $type;
            const NOUN: &'static str = $noun;
            const CREATED: &'static str = concat!($noun, ".created");
            const UPDATED: &'static str = concat!($noun, ".updated");
            const DELETED: &'static str = concat!($noun, ".deleted");

            fn id(row: &Self::Model) -> Uuid {
                row.id
            }
        }
    )*};
}

managed! {
    broker: "Broker", "broker";
    organization: "Organization", "organization";
    user: "User", "user";
    service: "Service", "service";
    subscription: "ServiceSubscription", "subscription";
}

/// The broker and organization a change is recorded under, for who may read it back.
pub(super) type Owners = (Option<Uuid>, Option<Uuid>);

/// Where a change to `organization` or its rows (users, subscriptions) is recorded.
pub(super) fn of_organization(organization: &entity::organization::Model) -> Owners {
    (Some(organization.broker_id), Some(organization.id))
}

/// The row `id` of `E` as the caller sees it: outside its scope it is not found.
pub(super) async fn load<E: Managed>(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
) -> Result<E::Model, ApiError> {
    visible::<E>(db, principal, id, E::NOUN).await
}

/// The value of a field every create needs, or the refusal that names it.
pub(super) fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::bad_input(field, format!("`{field}` is required")))
}

/// The conflict of a unique value someone already holds.
pub(super) fn taken(what: &str) -> ApiError {
    ApiError::Conflict(format!("{what} is already taken"))
}

/// One write of a managed row: where it is recorded, which uniqueness violations are the
/// client's conflict, and the tenant rule the write can break (checked before committing).
pub(super) struct Write<'a> {
    pub owners: Owners,
    pub unique: &'a [(Unique, ApiError)],
    pub recheck: Option<Change<'a>>,
}

impl<'a> Write<'a> {
    pub fn new(owners: Owners) -> Self {
        Write {
            owners,
            unique: &[],
            recheck: None,
        }
    }

    pub fn unique(self, unique: &'a [(Unique, ApiError)]) -> Self {
        Write { unique, ..self }
    }

    pub fn recheck(self, change: Change<'a>) -> Self {
        Write {
            recheck: Some(change),
            ..self
        }
    }
}

async fn recheck(txn: &DatabaseTransaction, change: Option<Change<'_>>) -> Result<(), ApiError> {
    match change {
        Some(change) => tenancy::enforce_tenant_rule(txn, change).await,
        None => Ok(()),
    }
}

/// Inserts `row`, records its creation and commits.
pub(super) async fn create<E: Managed>(
    txn: DatabaseTransaction,
    principal: &Principal,
    row: E::Model,
    write: Write<'_>,
) -> Result<E::Model, ApiError> {
    let row = row
        .into_active_model()
        .insert(&txn)
        .await
        .map_err(|error| on_unique(error, write.unique))?;
    recheck(&txn, write.recheck).await?;
    let event = Event::new(E::CREATED, E::TYPE, E::id(&row))
        .scope(write.owners.0, write.owners.1)
        .after(&row);
    finish(txn, principal, event, row).await
}

/// Writes the changes in `row` to `before`, records both sides and commits.
pub(super) async fn update<E: Managed>(
    txn: DatabaseTransaction,
    principal: &Principal,
    before: &E::Model,
    row: E::ActiveModel,
    write: Write<'_>,
) -> Result<E::Model, ApiError> {
    let after = row
        .update(&txn)
        .await
        .map_err(|error| on_unique(error, write.unique))?;
    recheck(&txn, write.recheck).await?;
    let event = Event::new(E::UPDATED, E::TYPE, E::id(before))
        .scope(write.owners.0, write.owners.1)
        .before(before)
        .after(&after);
    finish(txn, principal, event, after).await
}

/// Deletes `before`, records it (with `extra`, what went with it) and commits. A row others
/// still refer to is a conflict.
pub(super) async fn delete<E: Managed>(
    txn: DatabaseTransaction,
    principal: &Principal,
    before: E::Model,
    owners: Owners,
    extra: Option<serde_json::Value>,
) -> Result<E::Model, ApiError> {
    let id = E::id(&before);
    E::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(|error| on_unique(error, &[]))?;
    let mut event = Event::new(E::DELETED, E::TYPE, id)
        .scope(owners.0, owners.1)
        .before(&before);
    if let Some(extra) = extra {
        event = event.extra(extra);
    }
    finish(txn, principal, event, before).await
}

/// Writes the audit event, then commits: a change and its record are never apart.
pub(super) async fn finish<T>(
    txn: DatabaseTransaction,
    principal: &Principal,
    event: Event,
    outcome: T,
) -> Result<T, ApiError> {
    audit::record(&txn, principal, event).await?;
    txn.commit().await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use entity::{broker, organization, service, subscription, user};

    use super::Managed;

    /// The audit trail's names are data clients filter on: the macro must keep them.
    #[test]
    fn each_entity_keeps_its_audit_names() {
        let names = [
            names::<broker::Entity>(),
            names::<organization::Entity>(),
            names::<user::Entity>(),
            names::<service::Entity>(),
            names::<subscription::Entity>(),
        ];
        assert_eq!(
            names,
            [
                [
                    "Broker",
                    "broker",
                    "broker.created",
                    "broker.updated",
                    "broker.deleted"
                ],
                [
                    "Organization",
                    "organization",
                    "organization.created",
                    "organization.updated",
                    "organization.deleted"
                ],
                [
                    "User",
                    "user",
                    "user.created",
                    "user.updated",
                    "user.deleted"
                ],
                [
                    "Service",
                    "service",
                    "service.created",
                    "service.updated",
                    "service.deleted"
                ],
                [
                    "ServiceSubscription",
                    "subscription",
                    "subscription.created",
                    "subscription.updated",
                    "subscription.deleted"
                ],
            ]
        );
    }

    fn names<E: Managed>() -> [&'static str; 5] {
        [E::TYPE, E::NOUN, E::CREATED, E::UPDATED, E::DELETED]
    }
}
