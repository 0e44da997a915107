//! Linking an organization to a Microsoft tenant by hand, and unlinking it (design.md §2.2).

use chrono::Utc;
use entity::enums::{SubscriptionStatus, TenantLinkMethod, TenantManagement, Vendor};
use entity::{organization, service, subscription, tenant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, JoinType,
    ModelTrait, PaginatorTrait, QueryFilter, QuerySelect, RelationTrait,
};
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Services, Unique, on_unique, policy, validate, visible};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::partner_center::{CallIds, PartnerCenterError};

pub fn tenant_id_in_use() -> ApiError {
    ApiError::Domain {
        code: "TENANT_ID_IN_USE",
        message: "this tenant ID is linked to another organization".into(),
    }
}

pub fn already_linked() -> ApiError {
    ApiError::Domain {
        code: "TENANT_ALREADY_LINKED",
        message: "the organization is linked to a different tenant; unlink it first".into(),
    }
}

/// The unique constraints on `tenants`, and what breaking each means.
pub fn tenant_uniques() -> [(Unique, ApiError); 2] {
    [
        (
            Unique {
                constraint: "tenants_microsoft_tenant_id_key",
                columns: "tenants.microsoft_tenant_id",
            },
            tenant_id_in_use(),
        ),
        (
            Unique {
                constraint: "tenants_organization_id_key",
                columns: "tenants.organization_id",
            },
            already_linked(),
        ),
    ]
}

pub fn partner_center_error(error: PartnerCenterError) -> ApiError {
    ApiError::Domain {
        code: error.code(),
        message: error.to_string(),
    }
}

pub struct LinkTenant {
    pub organization_id: Uuid,
    pub microsoft_tenant_id: String,
    pub primary_domain: String,
}

/// The organization the caller may link or unlink, with the right to do so checked.
async fn organization_for_linking(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
) -> Result<organization::Model, ApiError> {
    let organization = visible::<organization::Entity>(db, principal, id, "organization").await?;
    policy::broker_data(principal, organization.broker_id)?;
    Ok(organization)
}

/// Links `organization_id` to a tenant that already exists in Partner Center. Linking the same
/// pair again succeeds and changes nothing (`changed` is false).
pub async fn link(
    services: &Services,
    principal: &Principal,
    input: LinkTenant,
) -> Result<(tenant::Model, bool), ApiError> {
    let guid = validate::tenant_guid("microsoftTenantId", &input.microsoft_tenant_id)?;
    let domain = validate::domain("primaryDomain", &input.primary_domain)?;
    let organization =
        organization_for_linking(&services.db, principal, input.organization_id).await?;

    if let Some(existing) = organization
        .find_related(tenant::Entity)
        .one(&services.db)
        .await?
    {
        return if existing.microsoft_tenant_id == guid {
            Ok((existing, false))
        } else {
            Err(already_linked())
        };
    }
    if services.partner_center.verifies_customers() {
        let ids = CallIds {
            request_id: Uuid::now_v7(),
            correlation_id: Uuid::now_v7(),
        };
        let lookup = services.partner_center.get_customer(guid, ids);
        match tokio::time::timeout(services.partner_center_deadline, lookup).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(partner_center_error(error)),
            Err(_) => return Err(partner_center_error(PartnerCenterError::Unavailable)),
        }
    }

    let txn = super::write(&services.db).await?;
    let now = Utc::now();
    let row = tenant::Model {
        id: Uuid::now_v7(),
        organization_id: organization.id,
        microsoft_tenant_id: guid,
        primary_domain: domain,
        link_method: TenantLinkMethod::Manual,
        management: TenantManagement::PartnerManaged,
        linked_at: now,
        linked_by: principal.subject.clone(),
        created_at: now,
        updated_at: now,
    };
    let inserted = match row.into_active_model().insert(&txn).await {
        Ok(inserted) => inserted,
        Err(error) => {
            txn.rollback().await.ok();
            let mapped = on_unique(error, &tenant_uniques());
            // A concurrent identical link won the race: that is this link, done.
            if mapped == already_linked()
                && let Some(winner) = organization
                    .find_related(tenant::Entity)
                    .one(&services.db)
                    .await?
                && winner.microsoft_tenant_id == guid
            {
                return Ok((winner, false));
            }
            return Err(mapped);
        }
    };
    audit::record(
        &txn,
        principal,
        Event::new("tenant.linked", "Tenant", inserted.id)
            .scope(Some(organization.broker_id), Some(organization.id))
            .after(&inserted),
    )
    .await?;
    txn.commit().await?;
    Ok((inserted, true))
}

/// Active Microsoft subscriptions of an organization: they need its tenant.
pub async fn active_microsoft_subscriptions(
    db: &impl ConnectionTrait,
    organization: Uuid,
) -> Result<u64, ApiError> {
    Ok(subscription::Entity::find()
        .join(JoinType::InnerJoin, subscription::Relation::Service.def())
        .filter(subscription::Column::OrganizationId.eq(organization))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .filter(service::Column::Vendor.eq(Vendor::Microsoft))
        .count(db)
        .await?)
}

/// Unlinks the organization's tenant (and its service account). Refused while Microsoft
/// subscriptions are active. Returns the tenant that was unlinked, if there was one.
pub async fn unlink(
    services: &Services,
    principal: &Principal,
    organization_id: Uuid,
) -> Result<(organization::Model, Option<tenant::Model>), ApiError> {
    let organization = organization_for_linking(&services.db, principal, organization_id).await?;
    let txn = super::write(&services.db).await?;
    let Some(existing) = organization.find_related(tenant::Entity).one(&txn).await? else {
        return Ok((organization, None));
    };
    let active = active_microsoft_subscriptions(&txn, organization.id).await?;
    if active > 0 {
        return Err(ApiError::Conflict(format!(
            "the organization has {active} active Microsoft subscription(s); cancel them before unlinking its tenant"
        )));
    }
    entity::service_account::Entity::delete_many()
        .filter(entity::service_account::Column::TenantId.eq(existing.id))
        .exec(&txn)
        .await?;
    tenant::Entity::delete_by_id(existing.id).exec(&txn).await?;
    audit::record(
        &txn,
        principal,
        Event::new("tenant.unlinked", "Tenant", existing.id)
            .scope(Some(organization.broker_id), Some(organization.id))
            .before(&existing),
    )
    .await?;
    txn.commit().await?;
    Ok((organization, Some(existing)))
}
