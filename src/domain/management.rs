//! Managing the graph: brokers, organizations, users, catalog services, subscriptions and
//! assignments. Inputs are validated (each refusal names its field), the target rows are read
//! through the caller's scope (out of scope is not found), the role is checked, and the change
//! and its audit event are written in one transaction.

use chrono::Utc;
use entity::enums::{OrganizationRole, SubscriptionStatus, Vendor};
use entity::{
    broker, organization, provisioning_request, service, subscription, subscription_assignment,
    tenant, user,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    ModelTrait, PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

use super::audit::{self, Event};
use super::tenancy::{self, Change};
use super::{Services, Unique, on_unique, policy, throttle, validate, visible};
use crate::auth::Principal;
use crate::error::ApiError;

fn taken(what: &str) -> ApiError {
    ApiError::Conflict(format!("{what} is already taken"))
}

fn slug_unique() -> (Unique, ApiError) {
    (
        Unique {
            constraint: "brokers_slug_key",
            columns: "brokers.slug",
        },
        taken("this slug"),
    )
}

/// The same answer wherever the address is taken, in the caller's broker or another's: it
/// says no more than that the username exists.
fn email_taken() -> ApiError {
    taken("this email")
}

fn email_unique() -> (Unique, ApiError) {
    (
        Unique {
            constraint: "users_email_key",
            columns: "users.email",
        },
        email_taken(),
    )
}

fn sku_unique() -> (Unique, ApiError) {
    (
        Unique {
            constraint: "services_broker_id_sku_key",
            columns: "services.broker_id",
        },
        taken("this SKU in the broker's catalog"),
    )
}

/// Writes the audit event for `row`, then commits.
async fn finish<M>(
    txn: sea_orm::DatabaseTransaction,
    principal: &Principal,
    event: Event,
    row: M,
) -> Result<M, ApiError> {
    audit::record(&txn, principal, event).await?;
    txn.commit().await?;
    Ok(row)
}

// ---- brokers ---------------------------------------------------------------------------

pub struct BrokerInput {
    pub slug: Option<String>,
    pub name: Option<String>,
}

pub async fn create_broker(
    services: &Services,
    principal: &Principal,
    input: BrokerInput,
) -> Result<broker::Model, ApiError> {
    policy::brokers(principal)?;
    let slug = validate::slug("slug", input.slug.as_deref().unwrap_or_default())?;
    let name = validate::name(
        "name",
        input.name.as_deref().unwrap_or_default(),
        validate::MAX_NAME,
    )?;
    let now = Utc::now();
    let txn = super::write(&services.db).await?;
    let row = broker::Model {
        id: Uuid::now_v7(),
        slug,
        name,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&txn)
    .await
    .map_err(|error| on_unique(error, &[slug_unique()]))?;
    let event = Event::new("broker.created", "Broker", row.id)
        .scope(Some(row.id), None)
        .after(&row);
    finish(txn, principal, event, row).await
}

pub async fn update_broker(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    input: BrokerInput,
) -> Result<broker::Model, ApiError> {
    let before = visible::<broker::Entity>(&services.db, principal, id, "broker").await?;
    policy::brokers(principal)?;
    let mut row = before.clone().into_active_model();
    if let Some(slug) = &input.slug {
        row.slug = ActiveValue::Set(validate::slug("slug", slug)?);
    }
    if let Some(name) = &input.name {
        row.name = ActiveValue::Set(validate::name("name", name, validate::MAX_NAME)?);
    }
    row.updated_at = ActiveValue::Set(Utc::now());
    let txn = super::write(&services.db).await?;
    let after = row
        .update(&txn)
        .await
        .map_err(|error| on_unique(error, &[slug_unique()]))?;
    let event = Event::new("broker.updated", "Broker", id)
        .scope(Some(id), None)
        .before(&before)
        .after(&after);
    finish(txn, principal, event, after).await
}

pub async fn delete_broker(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<broker::Model, ApiError> {
    let before = visible::<broker::Entity>(&services.db, principal, id, "broker").await?;
    policy::brokers(principal)?;
    let txn = super::write(&services.db).await?;
    let organizations = before
        .find_related(organization::Entity)
        .count(&txn)
        .await?;
    let catalog = before.find_related(service::Entity).count(&txn).await?;
    if organizations + catalog > 0 {
        return Err(ApiError::Conflict(format!(
            "the broker still has {organizations} organization(s) and {catalog} catalog service(s)"
        )));
    }
    broker::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(|error| on_unique(error, &[]))?;
    let event = Event::new("broker.deleted", "Broker", id)
        .scope(Some(id), None)
        .before(&before);
    finish(txn, principal, event, before).await
}

// ---- organizations ---------------------------------------------------------------------

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

pub async fn create_organization(
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
    let broker_id = input
        .broker_id
        .ok_or_else(|| ApiError::bad_input("brokerId", "`brokerId` is required"))?;
    let broker = visible::<broker::Entity>(&services.db, principal, broker_id, "broker").await?;
    policy::broker_data(principal, broker.id)?;
    let now = Utc::now();
    let txn = super::write(&services.db).await?;
    let row = organization::Model {
        id: Uuid::now_v7(),
        broker_id: broker.id,
        name,
        contact_email,
        country,
        registration_number,
        vat_number,
        customer_number,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&txn)
    .await?;
    let event = Event::new("organization.created", "Organization", row.id)
        .scope(Some(row.broker_id), Some(row.id))
        .after(&row);
    finish(txn, principal, event, row).await
}

pub async fn update_organization(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    input: OrganizationInput,
) -> Result<organization::Model, ApiError> {
    let db = &services.db;
    let before = visible::<organization::Entity>(db, principal, id, "organization").await?;
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
    let txn = super::write(db).await?;
    if let Some(target) = input.broker_id.filter(|target| *target != before.broker_id) {
        // Moving an organization changes its scope: only a role that owns both brokers may.
        let target = visible::<broker::Entity>(&txn, principal, target, "broker").await?;
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
    }
    row.updated_at = ActiveValue::Set(Utc::now());
    let after = row.update(&txn).await?;
    let event = Event::new("organization.updated", "Organization", id)
        .scope(Some(after.broker_id), Some(id))
        .before(&before)
        .after(&after);
    finish(txn, principal, event, after).await
}

/// Deletes an organization with its users and inactive subscriptions. Refused while it has a
/// linked tenant or active subscriptions.
pub async fn delete_organization(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<organization::Model, ApiError> {
    let before =
        visible::<organization::Entity>(&services.db, principal, id, "organization").await?;
    policy::broker_data(principal, before.broker_id)?;
    let txn = super::write(&services.db).await?;
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
    organization::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(|error| on_unique(error, &[]))?;
    let event = Event::new("organization.deleted", "Organization", id)
        .scope(Some(before.broker_id), Some(id))
        .before(&before)
        .extra(serde_json::json!({ "usersDeleted": users.rows_affected }));
    finish(txn, principal, event, before).await
}

// ---- users -----------------------------------------------------------------------------

#[derive(Default)]
pub struct UserInput {
    pub organization_id: Option<Uuid>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<OrganizationRole>,
}

async fn organization_for_users(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
) -> Result<organization::Model, ApiError> {
    let organization = visible::<organization::Entity>(db, principal, id, "organization").await?;
    policy::organization_data(principal, organization.broker_id, organization.id)?;
    Ok(organization)
}

pub async fn create_user(
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
    let organization_id = input
        .organization_id
        .ok_or_else(|| ApiError::bad_input("organizationId", "`organizationId` is required"))?;
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
    let created = insert_user(services, principal, &organization, row).await;
    settle(&services.db, attempt, &created).await;
    created
}

async fn insert_user(
    services: &Services,
    principal: &Principal,
    organization: &organization::Model,
    row: user::Model,
) -> Result<user::Model, ApiError> {
    let txn = super::write(&services.db).await?;
    let row = row
        .into_active_model()
        .insert(&txn)
        .await
        .map_err(|error| on_unique(error, &[email_unique()]))?;
    let event = Event::new("user.created", "User", row.id)
        .scope(Some(organization.broker_id), Some(organization.id))
        .after(&row);
    finish(txn, principal, event, row).await
}

/// Counts an email conflict against the caller's limit; any other outcome gives the slot back.
/// Called once the attempt's transaction is over: on SQLite a second connection could not
/// write while it holds the write lock.
async fn settle<T>(
    db: &sea_orm::DatabaseConnection,
    attempt: Option<throttle::Attempt>,
    outcome: &Result<T, ApiError>,
) {
    match (attempt, outcome) {
        (None, _) => {}
        (Some(attempt), Err(error)) if *error == email_taken() => attempt.failed(db).await,
        (Some(attempt), _) => attempt.passed(db).await,
    }
}

pub async fn update_user(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    input: UserInput,
) -> Result<user::Model, ApiError> {
    let db = &services.db;
    let before = visible::<user::Entity>(db, principal, id, "user").await?;
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
    let updated = save_user(services, principal, &before, organization, row, input).await;
    settle(db, attempt, &updated).await;
    updated
}

async fn save_user(
    services: &Services,
    principal: &Principal,
    before: &user::Model,
    organization: organization::Model,
    mut row: user::ActiveModel,
    input: UserInput,
) -> Result<user::Model, ApiError> {
    let id = before.id;
    let txn = super::write(&services.db).await?;
    let mut target = organization;
    if let Some(destination) = input
        .organization_id
        .filter(|destination| *destination != before.organization_id)
    {
        // Moving a user changes its scope: only a role that owns both organizations may.
        target = organization_for_users(&txn, principal, destination).await?;
        // Its assignments belong to the old organization's subscriptions.
        subscription_assignment::Entity::delete_many()
            .filter(subscription_assignment::Column::UserId.eq(id))
            .exec(&txn)
            .await?;
        row.organization_id = ActiveValue::Set(target.id);
    }
    row.updated_at = ActiveValue::Set(Utc::now());
    let after = row
        .update(&txn)
        .await
        .map_err(|error| on_unique(error, &[email_unique()]))?;
    let event = Event::new("user.updated", "User", id)
        .scope(Some(target.broker_id), Some(target.id))
        .before(before)
        .after(&after);
    finish(txn, principal, event, after).await
}

pub async fn delete_user(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<user::Model, ApiError> {
    let before = visible::<user::Entity>(&services.db, principal, id, "user").await?;
    let organization =
        organization_for_users(&services.db, principal, before.organization_id).await?;
    let txn = super::write(&services.db).await?;
    user::Entity::delete_by_id(id).exec(&txn).await?;
    let event = Event::new("user.deleted", "User", id)
        .scope(Some(organization.broker_id), Some(organization.id))
        .before(&before);
    finish(txn, principal, event, before).await
}

// ---- catalog ---------------------------------------------------------------------------

#[derive(Default)]
pub struct ServiceInput {
    pub broker_id: Option<Uuid>,
    pub name: Option<String>,
    pub vendor: Option<Vendor>,
    pub sku: Option<String>,
}

pub async fn create_service(
    services: &Services,
    principal: &Principal,
    input: ServiceInput,
) -> Result<service::Model, ApiError> {
    let name = validate::name(
        "name",
        input.name.as_deref().unwrap_or_default(),
        validate::MAX_NAME,
    )?;
    let sku = validate::sku("sku", input.sku.as_deref().unwrap_or_default())?;
    let vendor = input
        .vendor
        .ok_or_else(|| ApiError::bad_input("vendor", "`vendor` is required"))?;
    let broker_id = input
        .broker_id
        .ok_or_else(|| ApiError::bad_input("brokerId", "`brokerId` is required"))?;
    let broker = visible::<broker::Entity>(&services.db, principal, broker_id, "broker").await?;
    policy::broker_data(principal, broker.id)?;
    let now = Utc::now();
    let txn = super::write(&services.db).await?;
    let row = service::Model {
        id: Uuid::now_v7(),
        broker_id: broker.id,
        name,
        vendor,
        sku,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&txn)
    .await
    .map_err(|error| on_unique(error, &[sku_unique()]))?;
    let event = Event::new("service.created", "Service", row.id)
        .scope(Some(broker.id), None)
        .after(&row);
    finish(txn, principal, event, row).await
}

pub async fn update_service(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    input: ServiceInput,
) -> Result<service::Model, ApiError> {
    let before = visible::<service::Entity>(&services.db, principal, id, "service").await?;
    policy::broker_data(principal, before.broker_id)?;
    if input
        .broker_id
        .is_some_and(|broker| broker != before.broker_id)
    {
        return Err(ApiError::bad_input(
            "brokerId",
            "a service stays in its broker's catalog",
        ));
    }
    let mut row = before.clone().into_active_model();
    if let Some(name) = &input.name {
        row.name = ActiveValue::Set(validate::name("name", name, validate::MAX_NAME)?);
    }
    if let Some(value) = &input.sku {
        row.sku = ActiveValue::Set(validate::sku("sku", value)?);
    }
    if let Some(vendor) = input.vendor {
        row.vendor = ActiveValue::Set(vendor);
    }
    row.updated_at = ActiveValue::Set(Utc::now());
    let txn = super::write(&services.db).await?;
    let after = row
        .update(&txn)
        .await
        .map_err(|error| on_unique(error, &[sku_unique()]))?;
    tenancy::enforce_tenant_rule(&txn, Change::Service(id)).await?;
    let event = Event::new("service.updated", "Service", id)
        .scope(Some(after.broker_id), None)
        .before(&before)
        .after(&after);
    finish(txn, principal, event, after).await
}

pub async fn delete_service(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<service::Model, ApiError> {
    let before = visible::<service::Entity>(&services.db, principal, id, "service").await?;
    policy::broker_data(principal, before.broker_id)?;
    let txn = super::write(&services.db).await?;
    let used = before
        .find_related(subscription::Entity)
        .count(&txn)
        .await?;
    if used > 0 {
        return Err(ApiError::Conflict(format!(
            "{used} subscription(s) still use this service"
        )));
    }
    service::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(|error| on_unique(error, &[]))?;
    let event = Event::new("service.deleted", "Service", id)
        .scope(Some(before.broker_id), None)
        .before(&before);
    finish(txn, principal, event, before).await
}

// ---- subscriptions and assignments -----------------------------------------------------

#[derive(Default)]
pub struct SubscriptionInput {
    pub organization_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    pub quantity: Option<i32>,
    pub status: Option<SubscriptionStatus>,
}

pub async fn create_subscription(
    services: &Services,
    principal: &Principal,
    input: SubscriptionInput,
) -> Result<subscription::Model, ApiError> {
    let db = &services.db;
    let quantity = validate::quantity("quantity", input.quantity.unwrap_or(0))?;
    let organization_id = input
        .organization_id
        .ok_or_else(|| ApiError::bad_input("organizationId", "`organizationId` is required"))?;
    let service_id = input
        .service_id
        .ok_or_else(|| ApiError::bad_input("serviceId", "`serviceId` is required"))?;
    let organization =
        visible::<organization::Entity>(db, principal, organization_id, "organization").await?;
    policy::broker_data(principal, organization.broker_id)?;
    let service = visible::<service::Entity>(db, principal, service_id, "service").await?;
    if service.broker_id != organization.broker_id {
        return Err(ApiError::bad_input(
            "serviceId",
            "the service is not in the organization's broker's catalog",
        ));
    }
    let status = input.status.unwrap_or(SubscriptionStatus::Active);
    let txn = super::write(db).await?;
    let organization = tenancy::lock_organization(&txn, organization.id).await?;
    let now = Utc::now();
    let row = subscription::Model {
        id: Uuid::now_v7(),
        organization_id: organization.id,
        service_id: service.id,
        quantity,
        status,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&txn)
    .await?;
    tenancy::enforce_tenant_rule(&txn, Change::Subscriptions(&organization)).await?;
    let event = Event::new("subscription.created", "ServiceSubscription", row.id)
        .scope(Some(organization.broker_id), Some(organization.id))
        .after(&row);
    finish(txn, principal, event, row).await
}

/// A subscription the caller may change, with its organization.
async fn subscription_to_change(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
) -> Result<(subscription::Model, organization::Model), ApiError> {
    let subscription = visible::<subscription::Entity>(db, principal, id, "subscription").await?;
    let organization = organization::Entity::find_by_id(subscription.organization_id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    policy::broker_data(principal, organization.broker_id)?;
    Ok((subscription, organization))
}

pub async fn update_subscription(
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
    let txn = super::write(db).await?;
    let locked = tenancy::lock_organization(&txn, organization.id).await?;
    let after = row.update(&txn).await?;
    tenancy::enforce_tenant_rule(&txn, Change::Subscriptions(&locked)).await?;
    let event = Event::new("subscription.updated", "ServiceSubscription", id)
        .scope(Some(organization.broker_id), Some(organization.id))
        .before(&before)
        .after(&after);
    finish(txn, principal, event, after).await
}

pub async fn delete_subscription(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<subscription::Model, ApiError> {
    let db = &services.db;
    let (before, organization) = subscription_to_change(db, principal, id).await?;
    let txn = super::write(db).await?;
    subscription::Entity::delete_by_id(id).exec(&txn).await?;
    let event = Event::new("subscription.deleted", "ServiceSubscription", id)
        .scope(Some(organization.broker_id), Some(organization.id))
        .before(&before);
    finish(txn, principal, event, before).await
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
    let subscription =
        visible::<subscription::Entity>(db, principal, subscription_id, "subscription").await?;
    let user = visible::<user::Entity>(db, principal, user_id, "user").await?;
    if user.organization_id != subscription.organization_id {
        return Err(ApiError::bad_input(
            "userId",
            "the user is not in the subscription's organization",
        ));
    }
    let organization = organization_for_users(db, principal, subscription.organization_id).await?;
    Ok((subscription, user, organization))
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
    let txn = super::write(&services.db).await?;
    let existing = subscription_assignment::Entity::find()
        .filter(subscription_assignment::Column::SubscriptionId.eq(subscription.id))
        .filter(subscription_assignment::Column::UserId.eq(user.id))
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
    let event = Event::new(
        "subscription.assigned",
        "ServiceSubscription",
        subscription.id,
    )
    .scope(Some(organization.broker_id), Some(organization.id))
    .after(&row);
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
    let txn = super::write(&services.db).await?;
    let removed = subscription_assignment::Entity::delete_many()
        .filter(subscription_assignment::Column::SubscriptionId.eq(subscription.id))
        .filter(subscription_assignment::Column::UserId.eq(user.id))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Ok((subscription, user));
    }
    let event = Event::new(
        "subscription.unassigned",
        "ServiceSubscription",
        subscription.id,
    )
    .scope(Some(organization.broker_id), Some(organization.id))
    .extra(serde_json::json!({ "userId": user.id }));
    finish(txn, principal, event, (subscription, user)).await
}
