//! Users of an organization: managed by its broker's admins and its own admin. Every email is
//! unique across brokers, so a taken one is an existence probe, and counted as such.

use chrono::Utc;
use entity::enums::OrganizationRole;
use entity::{organization, subscription_assignment, user};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter,
};
use uuid::Uuid;

use super::{Write, load, of_organization, required, taken};
use crate::auth::Principal;
use crate::domain::{self, Services, Unique, policy, throttle, validate};
use crate::error::ApiError;

/// The same answer wherever the address is taken, in the caller's broker or another's: it
/// says no more than that the username exists.
fn email_taken() -> ApiError {
    taken("this email")
}

fn email_unique() -> [(Unique, ApiError); 1] {
    [(
        Unique {
            constraint: "users_email_key",
            columns: "users.email",
        },
        email_taken(),
    )]
}

#[derive(Default)]
pub struct UserInput {
    pub organization_id: Option<Uuid>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<OrganizationRole>,
}

/// The organization `id`, in scope, if the caller may change its users and assignments.
pub(super) async fn organization_for_users(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
) -> Result<organization::Model, ApiError> {
    let organization = load::<organization::Entity>(db, principal, id).await?;
    policy::organization_data(principal, organization.broker_id, organization.id)?;
    Ok(organization)
}

pub async fn create(
    services: &Services,
    principal: &Principal,
    input: UserInput,
) -> Result<user::Model, ApiError> {
    let email = validate::email("email", input.email.as_deref().unwrap_or_default())?;
    let display_name = validate::name(
        "displayName",
        input.display_name.as_deref().unwrap_or_default(),
        validate::MAX_NAME,
    )?;
    let organization_id = required(input.organization_id, "organizationId")?;
    let organization = organization_for_users(&services.db, principal, organization_id).await?;
    let now = Utc::now();
    let row = user::Model {
        id: Uuid::now_v7(),
        organization_id: organization.id,
        email,
        display_name,
        role: input.role.unwrap_or(OrganizationRole::OrganizationUser),
        created_at: now,
        updated_at: now,
    };
    // Any new email may be another broker's user's: the attempt is an existence probe.
    let attempt = throttle::EMAIL_CONFLICTS
        .probe(&services.db, principal)
        .await?;
    let created = insert(services, principal, &organization, row).await;
    settle(&services.db, attempt, &created).await;
    created
}

async fn insert(
    services: &Services,
    principal: &Principal,
    organization: &organization::Model,
    row: user::Model,
) -> Result<user::Model, ApiError> {
    let txn = domain::write(&services.db).await?;
    let unique = email_unique();
    let write = Write::new(of_organization(organization)).unique(&unique);
    super::create::<user::Entity>(txn, principal, row, write).await
}

/// Counts an email conflict against the caller's limit; any other outcome gives the slot back.
/// Called once the attempt's transaction is over: on SQLite a second connection could not
/// write while it holds the write lock.
async fn settle<T>(
    db: &DatabaseConnection,
    attempt: Option<throttle::Attempt>,
    outcome: &Result<T, ApiError>,
) {
    match (attempt, outcome) {
        (None, _) => {}
        (Some(attempt), Err(error)) if *error == email_taken() => attempt.failed(db).await,
        (Some(attempt), _) => attempt.passed(db).await,
    }
}

pub async fn update(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    input: UserInput,
) -> Result<user::Model, ApiError> {
    let db = &services.db;
    let before = load::<user::Entity>(db, principal, id).await?;
    let organization = organization_for_users(db, principal, before.organization_id).await?;
    let mut row = before.clone().into_active_model();
    let email = input
        .email
        .as_deref()
        .map(|email| validate::email("email", email))
        .transpose()?;
    let probe = email.as_ref().is_some_and(|email| *email != before.email);
    if let Some(email) = email {
        row.email = ActiveValue::Set(email);
    }
    if let Some(name) = &input.display_name {
        row.display_name =
            ActiveValue::Set(validate::name("displayName", name, validate::MAX_NAME)?);
    }
    if let Some(role) = input.role {
        row.role = ActiveValue::Set(role);
    }
    let attempt = if probe {
        throttle::EMAIL_CONFLICTS.probe(db, principal).await?
    } else {
        None
    };
    let updated = save(services, principal, &before, organization, row, input).await;
    settle(db, attempt, &updated).await;
    updated
}

async fn save(
    services: &Services,
    principal: &Principal,
    before: &user::Model,
    organization: organization::Model,
    mut row: user::ActiveModel,
    input: UserInput,
) -> Result<user::Model, ApiError> {
    let txn = domain::write(&services.db).await?;
    let mut target = organization;
    if let Some(destination) = input
        .organization_id
        .filter(|destination| *destination != before.organization_id)
    {
        // Moving a user changes its scope: only a role that owns both organizations may.
        target = organization_for_users(&txn, principal, destination).await?;
        // Its assignments belong to the old organization's subscriptions.
        subscription_assignment::Entity::delete_many()
            .filter(subscription_assignment::Column::UserId.eq(before.id))
            .exec(&txn)
            .await?;
        row.organization_id = ActiveValue::Set(target.id);
    }
    row.updated_at = ActiveValue::Set(Utc::now());
    let unique = email_unique();
    let write = Write::new(of_organization(&target)).unique(&unique);
    super::update::<user::Entity>(txn, principal, before, row, write).await
}

pub async fn delete(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<user::Model, ApiError> {
    let before = load::<user::Entity>(&services.db, principal, id).await?;
    let organization =
        organization_for_users(&services.db, principal, before.organization_id).await?;
    let txn = domain::write(&services.db).await?;
    super::delete::<user::Entity>(txn, principal, before, of_organization(&organization), None)
        .await
}
