//! Brokers: created, renamed and deleted by the platform only.

use chrono::Utc;
use entity::{broker, organization, service};
use sea_orm::{ActiveValue, IntoActiveModel, ModelTrait, PaginatorTrait};
use uuid::Uuid;

use super::{Write, load, taken};
use crate::auth::Principal;
use crate::domain::{self, Services, Unique, policy, validate};
use crate::error::ApiError;

fn slug_unique() -> [(Unique, ApiError); 1] {
    [(
        Unique {
            constraint: "brokers_slug_key",
            columns: "brokers.slug",
        },
        taken("this slug"),
    )]
}

pub struct BrokerInput {
    pub slug: Option<String>,
    pub name: Option<String>,
}

pub async fn create(
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
    let id = Uuid::now_v7();
    let row = broker::Model {
        id,
        slug,
        name,
        created_at: now,
        updated_at: now,
    };
    let txn = domain::write(&services.db).await?;
    let unique = slug_unique();
    let write = Write::new((Some(id), None)).unique(&unique);
    super::create::<broker::Entity>(txn, principal, row, write).await
}

pub async fn update(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    input: BrokerInput,
) -> Result<broker::Model, ApiError> {
    let before = load::<broker::Entity>(&services.db, principal, id).await?;
    policy::brokers(principal)?;
    let mut row = before.clone().into_active_model();
    if let Some(slug) = &input.slug {
        row.slug = ActiveValue::Set(validate::slug("slug", slug)?);
    }
    if let Some(name) = &input.name {
        row.name = ActiveValue::Set(validate::name("name", name, validate::MAX_NAME)?);
    }
    row.updated_at = ActiveValue::Set(Utc::now());
    let txn = domain::write(&services.db).await?;
    let unique = slug_unique();
    let write = Write::new((Some(id), None)).unique(&unique);
    super::update::<broker::Entity>(txn, principal, &before, row, write).await
}

/// Refused while the broker has organizations or catalog services.
pub async fn delete(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<broker::Model, ApiError> {
    let before = load::<broker::Entity>(&services.db, principal, id).await?;
    policy::brokers(principal)?;
    let txn = domain::write(&services.db).await?;
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
    super::delete::<broker::Entity>(txn, principal, before, (Some(id), None), None).await
}
