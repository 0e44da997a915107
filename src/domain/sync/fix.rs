//! Acting on what a synchronization found: taking Partner Center's value of a drifted field,
//! and linking a customer no organization holds (through tenant linking's own rules).

use chrono::Utc;
use entity::enums::TenantSyncState;
use entity::{organization, sync_customer, sync_tenant_result, tenant};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::compare::{self, SyncField};
use crate::auth::Principal;
use crate::domain::audit::{self, Event};
use crate::domain::tenancy::{self, LinkTenant};
use crate::domain::{Services, policy, validate, visible};
use crate::error::ApiError;

/// Sets the organization's name or the tenant's primary domain to Partner Center's value, as
/// the broker's current result recorded it, audited; the difference is then gone.
pub async fn accept(
    services: &Services,
    principal: &Principal,
    tenant_id: Uuid,
    field: SyncField,
) -> Result<(tenant::Model, organization::Model), ApiError> {
    let linked = visible::<tenant::Entity>(&services.db, principal, tenant_id, "tenant").await?;
    let organization = visible::<organization::Entity>(
        &services.db,
        principal,
        linked.organization_id,
        "organization",
    )
    .await?;
    policy::broker_data(principal, organization.broker_id)?;

    let txn = crate::domain::write(&services.db).await?;
    let locked = tenancy::lock_organization(&txn, organization.id).await?;
    let result = sync_tenant_result::Entity::find()
        .filter(sync_tenant_result::Column::TenantId.eq(linked.id))
        .one(&txn)
        .await?;
    let Some(result) = result else {
        txn.rollback().await.ok();
        return Err(ApiError::Conflict(
            "no synchronization has checked this tenant; run syncPartnerCenter first".into(),
        ));
    };
    let mut differences = super::differences(&result);
    let Some(position) = differences.iter().position(|d| d.field == field) else {
        txn.rollback().await.ok();
        return Err(ApiError::Conflict(
            "this field does not differ from Partner Center".into(),
        ));
    };
    let difference = differences.remove(position);
    // Decided under the organization's lock: what the sync recorded as ours must still be.
    let (linked, organization) = match field {
        SyncField::CompanyName => {
            if locked.name != difference.ours {
                txn.rollback().await.ok();
                return Err(stale());
            }
            let name = validate::name("companyName", &difference.theirs, validate::MAX_NAME)?;
            let before = locked.0.clone();
            let mut row = locked.0.into_active_model();
            row.name = ActiveValue::Set(name);
            row.updated_at = ActiveValue::Set(Utc::now());
            let after = row.update(&txn).await?;
            audit::record(
                &txn,
                principal,
                Event::new(
                    "organization.partner_center_value_accepted",
                    "Organization",
                    after.id,
                )
                .scope(Some(after.broker_id), Some(after.id))
                .before(&before)
                .after(&after)
                .extra(json!({ "field": field })),
            )
            .await?;
            (linked, after)
        }
        SyncField::PrimaryDomain => {
            let current = tenant::Entity::find_by_id(linked.id)
                .one(&txn)
                .await?
                .ok_or_else(|| ApiError::not_found("tenant"))?;
            if current.primary_domain != difference.ours {
                txn.rollback().await.ok();
                return Err(stale());
            }
            let domain = validate::domain("primaryDomain", &difference.theirs)?;
            let mut row = current.clone().into_active_model();
            row.primary_domain = ActiveValue::Set(domain);
            row.updated_at = ActiveValue::Set(Utc::now());
            let after = row.update(&txn).await?;
            audit::record(
                &txn,
                principal,
                Event::new("tenant.partner_center_value_accepted", "Tenant", after.id)
                    .scope(Some(locked.broker_id), Some(locked.id))
                    .before(&current)
                    .after(&after)
                    .extra(json!({ "field": field })),
            )
            .await?;
            (after, locked.0)
        }
    };
    let state = match result.state {
        TenantSyncState::Drifted if differences.is_empty() => TenantSyncState::InSync,
        state => state,
    };
    let mut row = result.into_active_model();
    row.differences =
        ActiveValue::Set(serde_json::to_value(&differences).map_err(|_| ApiError::Internal)?);
    row.state = ActiveValue::Set(state);
    row.update(&txn).await?;
    txn.commit().await?;
    Ok((linked, organization))
}

fn stale() -> ApiError {
    ApiError::Conflict(
        "the value changed since the synchronization; run syncPartnerCenter again".into(),
    )
}

/// Links a Partner Center customer that the broker's current result lists as held by no
/// organization: the tenant's domain is Partner Center's, and the link follows every rule (and
/// the audit) of `linkTenant`. Returns the tenant and whether this call linked it.
pub async fn link_customer(
    services: &Services,
    principal: &Principal,
    organization_id: Uuid,
    microsoft_tenant_id: &str,
) -> Result<(tenant::Model, bool), ApiError> {
    let guid = validate::tenant_guid("microsoftTenantId", microsoft_tenant_id)?;
    let organization =
        visible::<organization::Entity>(&services.db, principal, organization_id, "organization")
            .await?;
    policy::broker_data(principal, organization.broker_id)?;
    let customer = sync_customer::Entity::find()
        .filter(sync_customer::Column::BrokerId.eq(organization.broker_id))
        .filter(sync_customer::Column::MicrosoftTenantId.eq(guid))
        .one(&services.db)
        .await?
        .ok_or_else(|| ApiError::not_found("unlinked Partner Center customer"))?;
    let (linked, changed) = tenancy::link(
        services,
        principal,
        LinkTenant {
            organization_id: organization.id,
            microsoft_tenant_id: guid.to_string(),
            primary_domain: Some(customer.primary_domain.clone()),
        },
    )
    .await?;
    // The customer is held now; its tenant is as Partner Center has it, but for the name.
    let txn = crate::domain::write(&services.db).await?;
    sync_customer::Entity::delete_by_id(customer.id)
        .exec(&txn)
        .await?;
    if !changed {
        txn.commit().await?;
        return Ok((linked, changed));
    }
    let partner = crate::partner_center::Customer {
        tenant_id: guid,
        domain: customer.primary_domain,
        company_name: customer.company_name,
    };
    let (state, differences) =
        compare::compare(&organization.name, &linked.primary_domain, Some(&partner));
    sync_tenant_result::Entity::insert(
        sync_tenant_result::Model {
            id: Uuid::now_v7(),
            run_id: customer.run_id,
            broker_id: organization.broker_id,
            organization_id: organization.id,
            tenant_id: linked.id,
            state,
            differences: serde_json::to_value(&differences).map_err(|_| ApiError::Internal)?,
            needs_consent: false,
            checked_at: Utc::now(),
        }
        .into_active_model(),
    )
    .exec(&txn)
    .await?;
    txn.commit().await?;
    Ok((linked, changed))
}
