//! Subscriptions (an organization's purchases of its broker's catalog services, managed by
//! the broker's admins) and their assignments to the organization's users (also by its own
//! admin). Every change re-checks the tenant rule: an active Microsoft subscription needs a
//! linked tenant.

use chrono::Utc;
use entity::enums::SubscriptionStatus;
use entity::{organization, service, subscription, subscription_assignment, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    IntoActiveModel, QueryFilter,
};
use uuid::Uuid;

use super::user::organization_for_users;
use super::{Managed, Write, finish, load, of_organization, required};
use crate::auth::Principal;
use crate::domain::audit::Event;
use crate::domain::tenancy::{self, Change};
use crate::domain::{self, Services, Unique, on_unique, policy, validate};
use crate::error::ApiError;

#[derive(Default)]
pub struct SubscriptionInput {
    pub organization_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    pub quantity: Option<i32>,
    pub status: Option<SubscriptionStatus>,
}

pub async fn create(
    services: &Services,
    principal: &Principal,
    input: SubscriptionInput,
) -> Result<subscription::Model, ApiError> {
    let db = &services.db;
    let quantity = validate::quantity("quantity", input.quantity.unwrap_or(0))?;
    let organization_id = required(input.organization_id, "organizationId")?;
    let service_id = required(input.service_id, "serviceId")?;
    let organization = load::<organization::Entity>(db, principal, organization_id).await?;
    policy::broker_data(principal, organization.broker_id)?;
    let service = load::<service::Entity>(db, principal, service_id).await?;
    if service.broker_id != organization.broker_id {
        return Err(ApiError::bad_input(
            "serviceId",
            "the service is not in the organization's broker's catalog",
        ));
    }
    let status = input.status.unwrap_or(SubscriptionStatus::Active);
    let txn = domain::write(db).await?;
    let locked = tenancy::lock_organization(&txn, organization.id).await?;
    let now = Utc::now();
    let row = subscription::Model {
        id: Uuid::now_v7(),
        organization_id: locked.id,
        service_id: service.id,
        quantity,
        status,
        created_at: now,
        updated_at: now,
    };
    let write = Write::new((Some(locked.broker_id), Some(locked.id)))
        .recheck(Change::Subscriptions(&locked));
    super::create::<subscription::Entity>(txn, principal, row, write).await
}

/// A subscription the caller may change, with its organization.
async fn subscription_to_change(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
) -> Result<(subscription::Model, organization::Model), ApiError> {
    let subscription = load::<subscription::Entity>(db, principal, id).await?;
    let organization = organization::Entity::find_by_id(subscription.organization_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    policy::broker_data(principal, organization.broker_id)?;
    Ok((subscription, organization))
}

pub async fn update(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    input: SubscriptionInput,
) -> Result<subscription::Model, ApiError> {
    let db = &services.db;
    let (before, organization) = subscription_to_change(db, principal, id).await?;
    for (field, changed) in [
        (
            "organizationId",
            input
                .organization_id
                .is_some_and(|o| o != before.organization_id),
        ),
        (
            "serviceId",
            input.service_id.is_some_and(|s| s != before.service_id),
        ),
    ] {
        if changed {
            return Err(ApiError::bad_input(
                field,
                format!("`{field}` of a subscription cannot change"),
            ));
        }
    }
    let mut row = before.clone().into_active_model();
    if let Some(quantity) = input.quantity {
        row.quantity = ActiveValue::Set(validate::quantity("quantity", quantity)?);
    }
    if let Some(status) = input.status {
        row.status = ActiveValue::Set(status);
    }
    row.updated_at = ActiveValue::Set(Utc::now());
    let txn = domain::write(db).await?;
    let locked = tenancy::lock_organization(&txn, organization.id).await?;
    let write = Write::new(of_organization(&organization)).recheck(Change::Subscriptions(&locked));
    super::update::<subscription::Entity>(txn, principal, &before, row, write).await
}

pub async fn delete(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<subscription::Model, ApiError> {
    let db = &services.db;
    let (before, organization) = subscription_to_change(db, principal, id).await?;
    let txn = domain::write(db).await?;
    super::delete::<subscription::Entity>(
        txn,
        principal,
        before,
        of_organization(&organization),
        None,
    )
    .await
}

/// The subscription and user of an assignment, in scope, of one organization, and the right to
/// assign in it.
async fn assignment_parts(
    services: &Services,
    principal: &Principal,
    subscription_id: Uuid,
    user_id: Uuid,
) -> Result<(subscription::Model, user::Model, organization::Model), ApiError> {
    let db = &services.db;
    let subscription = load::<subscription::Entity>(db, principal, subscription_id).await?;
    let user = load::<user::Entity>(db, principal, user_id).await?;
    if user.organization_id != subscription.organization_id {
        return Err(ApiError::bad_input(
            "userId",
            "the user is not in the subscription's organization",
        ));
    }
    let organization = organization_for_users(db, principal, subscription.organization_id).await?;
    Ok((subscription, user, organization))
}

/// The assignment of `user` to `subscription`, as a filter.
fn assignment_of(subscription: &subscription::Model, user: &user::Model) -> Condition {
    Condition::all()
        .add(subscription_assignment::Column::SubscriptionId.eq(subscription.id))
        .add(subscription_assignment::Column::UserId.eq(user.id))
}

/// An assignment is recorded as a change of its subscription.
fn assignment_event(
    action: &'static str,
    subscription: &subscription::Model,
    organization: &organization::Model,
) -> Event {
    let (broker, organization) = of_organization(organization);
    Event::new(action, subscription::Entity::TYPE, subscription.id).scope(broker, organization)
}

/// Assigns a user to a subscription; assigning twice changes nothing.
pub async fn assign(
    services: &Services,
    principal: &Principal,
    subscription_id: Uuid,
    user_id: Uuid,
) -> Result<(subscription::Model, user::Model), ApiError> {
    let (subscription, user, organization) =
        assignment_parts(services, principal, subscription_id, user_id).await?;
    let txn = domain::write(&services.db).await?;
    let existing = subscription_assignment::Entity::find()
        .filter(assignment_of(&subscription, &user))
        .one(&txn)
        .await?;
    if existing.is_some() {
        return Ok((subscription, user));
    }
    let inserted = subscription_assignment::Model {
        id: Uuid::now_v7(),
        subscription_id: subscription.id,
        user_id: user.id,
        created_at: Utc::now(),
    }
    .into_active_model()
    .insert(&txn)
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(error) => {
            txn.rollback().await.ok();
            let assigned = Unique {
                constraint: "subscription_assignments_subscription_id_user_id_key",
                columns: "subscription_assignments.subscription_id",
            };
            // An identical assignment committed since the check (PostgreSQL runs both at
            // once): that is this assignment, done.
            return match on_unique(error, &[(assigned, ApiError::Conflict(String::new()))]) {
                ApiError::Conflict(_) => Ok((subscription, user)),
                other => Err(other),
            };
        }
    };
    let event = assignment_event("subscription.assigned", &subscription, &organization).after(&row);
    finish(txn, principal, event, (subscription, user)).await
}

/// Removes a user from a subscription; removing an absent assignment changes nothing.
pub async fn unassign(
    services: &Services,
    principal: &Principal,
    subscription_id: Uuid,
    user_id: Uuid,
) -> Result<(subscription::Model, user::Model), ApiError> {
    let (subscription, user, organization) =
        assignment_parts(services, principal, subscription_id, user_id).await?;
    let txn = domain::write(&services.db).await?;
    let removed = subscription_assignment::Entity::delete_many()
        .filter(assignment_of(&subscription, &user))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Ok((subscription, user));
    }
    let event = assignment_event("subscription.unassigned", &subscription, &organization)
        .extra(serde_json::json!({ "userId": user.id }));
    finish(txn, principal, event, (subscription, user)).await
}
