//! Organizations: a broker's customers, managed by the broker's admins.

use chrono::Utc;
use entity::enums::SubscriptionStatus;
use entity::{broker, organization, provisioning_request, subscription, tenant, user};
use sea_orm::{
    ActiveValue, ColumnTrait, EntityTrait, IntoActiveModel, ModelTrait, PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

use super::{Write, load, of_organization, required};
use crate::auth::Principal;
use crate::domain::{self, Services, policy, validate};
use crate::error::ApiError;

#[derive(Default)]
pub struct OrganizationInput {
    pub broker_id: Option<Uuid>,
    pub name: Option<String>,
    pub contact_email: Option<String>,
    pub country: Option<String>,
    /// `Some("")` clears the value.
    pub registration_number: Option<String>,
    pub vat_number: Option<String>,
    pub customer_number: Option<String>,
}

pub async fn create(
    services: &Services,
    principal: &Principal,
    input: OrganizationInput,
) -> Result<organization::Model, ApiError> {
    let name = validate::name(
        "name",
        input.name.as_deref().unwrap_or_default(),
        validate::MAX_NAME,
    )?;
    let contact_email = validate::email(
        "contactEmail",
        input.contact_email.as_deref().unwrap_or_default(),
    )?;
    let country = validate::country("country", input.country.as_deref().unwrap_or_default())?;
    let registration_number = validate::reference_number(
        "registrationNumber",
        input.registration_number.as_deref().unwrap_or_default(),
    )?;
    let vat_number =
        validate::reference_number("vatNumber", input.vat_number.as_deref().unwrap_or_default())?;
    let customer_number = validate::reference_number(
        "customerNumber",
        input.customer_number.as_deref().unwrap_or_default(),
    )?;
    let broker_id = required(input.broker_id, "brokerId")?;
    let broker = load::<broker::Entity>(&services.db, principal, broker_id).await?;
    policy::broker_data(principal, broker.id)?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let row = organization::Model {
        id,
        broker_id: broker.id,
        name,
        contact_email,
        country,
        registration_number,
        vat_number,
        customer_number,
        created_at: now,
        updated_at: now,
    };
    let txn = domain::write(&services.db).await?;
    let write = Write::new((Some(broker.id), Some(id)));
    super::create::<organization::Entity>(txn, principal, row, write).await
}

pub async fn update(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    input: OrganizationInput,
) -> Result<organization::Model, ApiError> {
    let db = &services.db;
    let before = load::<organization::Entity>(db, principal, id).await?;
    policy::broker_data(principal, before.broker_id)?;
    let mut row = before.clone().into_active_model();
    if let Some(name) = &input.name {
        row.name = ActiveValue::Set(validate::name("name", name, validate::MAX_NAME)?);
    }
    if let Some(email) = &input.contact_email {
        row.contact_email = ActiveValue::Set(validate::email("contactEmail", email)?);
    }
    if let Some(country) = &input.country {
        row.country = ActiveValue::Set(validate::country("country", country)?);
    }
    if let Some(value) = &input.registration_number {
        row.registration_number =
            ActiveValue::Set(validate::reference_number("registrationNumber", value)?);
    }
    if let Some(value) = &input.vat_number {
        row.vat_number = ActiveValue::Set(validate::reference_number("vatNumber", value)?);
    }
    if let Some(value) = &input.customer_number {
        row.customer_number =
            ActiveValue::Set(validate::reference_number("customerNumber", value)?);
    }
    let txn = domain::write(db).await?;
    let mut broker_id = before.broker_id;
    if let Some(target) = input.broker_id.filter(|target| *target != before.broker_id) {
        // Moving an organization changes its scope: only a role that owns both brokers may.
        let target = load::<broker::Entity>(&txn, principal, target).await?;
        policy::broker_data(principal, target.id)?;
        if before
            .find_related(subscription::Entity)
            .count(&txn)
            .await?
            > 0
        {
            return Err(ApiError::Conflict(
                "the organization's subscriptions are in its broker's catalog; remove them before moving it".into(),
            ));
        }
        row.broker_id = ActiveValue::Set(target.id);
        broker_id = target.id;
    }
    row.updated_at = ActiveValue::Set(Utc::now());
    let write = Write::new((Some(broker_id), Some(id)));
    super::update::<organization::Entity>(txn, principal, &before, row, write).await
}

/// Deletes an organization with its users and inactive subscriptions. Refused while it has a
/// linked tenant or active subscriptions.
pub async fn delete(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<organization::Model, ApiError> {
    let before = load::<organization::Entity>(&services.db, principal, id).await?;
    policy::broker_data(principal, before.broker_id)?;
    let txn = domain::write(&services.db).await?;
    if before
        .find_related(tenant::Entity)
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(
            "the organization has a linked tenant; unlink it first".into(),
        ));
    }
    let active = subscription::Entity::find()
        .filter(subscription::Column::OrganizationId.eq(id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .count(&txn)
        .await?;
    if active > 0 {
        return Err(ApiError::Conflict(format!(
            "the organization has {active} active subscription(s)"
        )));
    }
    // Assignments go with their subscriptions and users (ON DELETE CASCADE).
    subscription::Entity::delete_many()
        .filter(subscription::Column::OrganizationId.eq(id))
        .exec(&txn)
        .await?;
    let users = user::Entity::delete_many()
        .filter(user::Column::OrganizationId.eq(id))
        .exec(&txn)
        .await?;
    provisioning_request::Entity::delete_many()
        .filter(provisioning_request::Column::OrganizationId.eq(id))
        .exec(&txn)
        .await?;
    let owners = of_organization(&before);
    let extra = serde_json::json!({ "usersDeleted": users.rows_affected });
    super::delete::<organization::Entity>(txn, principal, before, owners, Some(extra)).await
}
