//! Catalog services: the items of a broker's E-Store, managed by the broker's admins.

use chrono::Utc;
use entity::enums::Vendor;
use entity::{broker, service, subscription};
use sea_orm::{ActiveValue, IntoActiveModel, ModelTrait, PaginatorTrait};
use uuid::Uuid;

use super::{Write, load, required, taken};
use crate::auth::Principal;
use crate::domain::tenancy::Change;
use crate::domain::{self, Services, Unique, policy, validate};
use crate::error::ApiError;

fn sku_unique() -> [(Unique, ApiError); 1] {
    [(
        Unique {
            constraint: "services_broker_id_sku_key",
            columns: "services.broker_id",
        },
        taken("this SKU in the broker's catalog"),
    )]
}

#[derive(Default)]
pub struct ServiceInput {
    pub broker_id: Option<Uuid>,
    pub name: Option<String>,
    pub vendor: Option<Vendor>,
    pub sku: Option<String>,
}

pub async fn create(
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
    let vendor = required(input.vendor, "vendor")?;
    let broker_id = required(input.broker_id, "brokerId")?;
    let broker = load::<broker::Entity>(&services.db, principal, broker_id).await?;
    policy::broker_data(principal, broker.id)?;
    let now = Utc::now();
    let row = service::Model {
        id: Uuid::now_v7(),
        broker_id: broker.id,
        name,
        vendor,
        sku,
        created_at: now,
        updated_at: now,
    };
    let txn = domain::write(&services.db).await?;
    let unique = sku_unique();
    let write = Write::new((Some(broker.id), None)).unique(&unique);
    super::create::<service::Entity>(txn, principal, row, write).await
}

pub async fn update(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    input: ServiceInput,
) -> Result<service::Model, ApiError> {
    let before = load::<service::Entity>(&services.db, principal, id).await?;
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
    let txn = domain::write(&services.db).await?;
    let unique = sku_unique();
    // The vendor may now be Microsoft: its active subscriptions then need a tenant.
    let write = Write::new((Some(before.broker_id), None))
        .unique(&unique)
        .recheck(Change::Service(id));
    super::update::<service::Entity>(txn, principal, &before, row, write).await
}

/// Refused while subscriptions use the service.
pub async fn delete(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<service::Model, ApiError> {
    let before = load::<service::Entity>(&services.db, principal, id).await?;
    policy::broker_data(principal, before.broker_id)?;
    let txn = domain::write(&services.db).await?;
    let used = before
        .find_related(subscription::Entity)
        .count(&txn)
        .await?;
    if used > 0 {
        return Err(ApiError::Conflict(format!(
            "{used} subscription(s) still use this service"
        )));
    }
    let owners = (Some(before.broker_id), None);
    super::delete::<service::Entity>(txn, principal, before, owners, None).await
}
