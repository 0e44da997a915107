//! Customer consent (design.md §2.3): the customer creates a least-privileged service account
//! in its tenant, the broker registers it, and it is `VERIFIED` once the password was changed,
//! MFA is configured and the roles were confirmed. The credential is encrypted at rest and
//! never returned.

use chrono::Utc;
use entity::enums::{ServiceAccountStatus, TenantManagement};
use entity::{organization, service_account, tenant};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Event};
use super::directory_roles;
use super::{Services, policy, validate, visible};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};

pub struct RegisterServiceAccount {
    pub tenant_id: Uuid,
    pub user_principal_name: String,
    pub display_name: String,
    pub directory_roles: Vec<String>,
    pub usage_location: String,
    pub credential: String,
}

pub struct ConfirmSetup {
    pub tenant_id: Uuid,
    pub password_changed: bool,
    pub mfa_configured: bool,
    pub roles_confirmed: bool,
}

fn least_privilege(role: &str) -> ApiError {
    ApiError::Domain {
        code: ErrorCode::LeastPrivilegeViolation,
        message: format!(
            "`{role}` grants control of the whole tenant; give the service account only the roles it needs"
        ),
    }
}

/// The roles, by their catalog names, without repeats; refusing unknown and privileged ones.
fn roles(requested: &[String]) -> Result<Vec<&'static str>, ApiError> {
    if requested.is_empty() {
        return Err(ApiError::bad_input(
            "directoryRoles",
            "at least one directory role is needed",
        ));
    }
    let mut names = Vec::new();
    for role in requested {
        let role = validate::name("directoryRoles", role, validate::MAX_NAME)?;
        let found = directory_roles::find_role(&role).ok_or_else(|| {
            ApiError::bad_input(
                "directoryRoles",
                format!("`{role}` is not a Microsoft Entra built-in role"),
            )
        })?;
        if found.privileged {
            return Err(least_privilege(found.name));
        }
        if !names.contains(&found.name) {
            names.push(found.name);
        }
    }
    Ok(names)
}

/// The tenant (in scope) with its organization, and the right to manage its account.
async fn tenant_for(
    services: &Services,
    principal: &Principal,
    tenant_id: Uuid,
) -> Result<(tenant::Model, organization::Model), ApiError> {
    let tenant = visible::<tenant::Entity>(&services.db, principal, tenant_id, "tenant").await?;
    let organization = organization::Entity::find_by_id(tenant.organization_id)
        .one(&services.db)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    policy::organization_data(principal, organization.broker_id, organization.id)?;
    Ok((tenant, organization))
}

/// Registers (or replaces) the tenant's service account; the tenant becomes
/// `CUSTOMER_CONSENT` and the account waits for verification.
pub async fn register(
    services: &Services,
    principal: &Principal,
    input: RegisterServiceAccount,
) -> Result<service_account::Model, ApiError> {
    let display_name = validate::name("displayName", &input.display_name, validate::MAX_NAME)?;
    let usage_location = validate::country("usageLocation", &input.usage_location)?;
    let roles = roles(&input.directory_roles)?;
    if input.credential.trim().is_empty() || input.credential.chars().count() > 256 {
        return Err(ApiError::bad_input(
            "credential",
            "the credential must be 1 to 256 characters",
        ));
    }
    let upn = validate::email("userPrincipalName", &input.user_principal_name)?;
    let (tenant, organization) = tenant_for(services, principal, input.tenant_id).await?;
    let upn_domain = upn.rsplit('@').next().unwrap_or_default();
    if upn_domain != tenant.primary_domain {
        return Err(ApiError::bad_input(
            "userPrincipalName",
            format!(
                "the account must be in the tenant's domain `{}`",
                tenant.primary_domain
            ),
        ));
    }

    let (ciphertext, nonce) = services
        .cipher
        .encrypt(&input.credential, tenant.id.as_bytes());
    let txn = super::write(&services.db).await?;
    let now = Utc::now();
    let existing = service_account::Entity::find()
        .filter(service_account::Column::TenantId.eq(tenant.id))
        .one(&txn)
        .await?;
    let mut row = match &existing {
        Some(existing) => existing.clone().into_active_model(),
        None => service_account::ActiveModel {
            id: ActiveValue::Set(Uuid::now_v7()),
            tenant_id: ActiveValue::Set(tenant.id),
            created_at: ActiveValue::Set(now),
            ..Default::default()
        },
    };
    row.user_principal_name = ActiveValue::Set(upn);
    row.display_name = ActiveValue::Set(display_name);
    row.directory_roles = ActiveValue::Set(json!(roles));
    row.usage_location = ActiveValue::Set(usage_location);
    // A new registration is a new account to verify.
    row.password_changed = ActiveValue::Set(false);
    row.mfa_configured = ActiveValue::Set(false);
    row.roles_confirmed = ActiveValue::Set(false);
    row.status = ActiveValue::Set(ServiceAccountStatus::PendingVerification);
    row.credential_ciphertext = ActiveValue::Set(Some(ciphertext));
    row.credential_nonce = ActiveValue::Set(Some(nonce));
    row.updated_at = ActiveValue::Set(now);
    let account = match existing {
        Some(_) => row.update(&txn).await?,
        None => row.insert(&txn).await?,
    };
    if tenant.management != TenantManagement::CustomerConsent {
        let mut changed = tenant.clone().into_active_model();
        changed.management = ActiveValue::Set(TenantManagement::CustomerConsent);
        changed.updated_at = ActiveValue::Set(now);
        let after = changed.update(&txn).await?;
        audit::record(
            &txn,
            principal,
            Event::new("tenant.management_changed", "Tenant", tenant.id)
                .scope(Some(organization.broker_id), Some(organization.id))
                .before(&tenant)
                .after(&after),
        )
        .await?;
    }
    audit::record(
        &txn,
        principal,
        Event::new("service_account.registered", "ServiceAccount", account.id)
            .scope(Some(organization.broker_id), Some(organization.id))
            .after(&account),
    )
    .await?;
    txn.commit().await?;
    Ok(account)
}

/// Records what the customer confirmed; `VERIFIED` only when all three are.
pub async fn confirm(
    services: &Services,
    principal: &Principal,
    input: ConfirmSetup,
) -> Result<service_account::Model, ApiError> {
    let (tenant, organization) = tenant_for(services, principal, input.tenant_id).await?;
    let txn = super::write(&services.db).await?;
    let account = service_account::Entity::find()
        .filter(service_account::Column::TenantId.eq(tenant.id))
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("service account"))?;
    let verified = input.password_changed && input.mfa_configured && input.roles_confirmed;
    let mut row = account.clone().into_active_model();
    row.password_changed = ActiveValue::Set(input.password_changed);
    row.mfa_configured = ActiveValue::Set(input.mfa_configured);
    row.roles_confirmed = ActiveValue::Set(input.roles_confirmed);
    row.status = ActiveValue::Set(if verified {
        ServiceAccountStatus::Verified
    } else {
        ServiceAccountStatus::PendingVerification
    });
    row.updated_at = ActiveValue::Set(Utc::now());
    let after = row.update(&txn).await?;
    audit::record(
        &txn,
        principal,
        Event::new("service_account.confirmed", "ServiceAccount", account.id)
            .scope(Some(organization.broker_id), Some(organization.id))
            .before(&account)
            .after(&after),
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}
