//! The built-in Partner Center sandbox's controls: what a customer does in its own tenant,
//! which a playground or a test needs to show (removing the partner's admin relationship, the
//! case the customer-consent flow exists for). Platform admins only, and only on an install
//! that runs on the sandbox.

use entity::sandbox_customer;

use super::{Services, policy, validate};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::partner_center::sandbox;

/// Removes (`active` false) or restores the admin relationship (GDAP) between a sandbox
/// customer and its broker; the customer, and whether its relationship is now active.
pub async fn set_admin_relationship(
    services: &Services,
    principal: &Principal,
    microsoft_tenant_id: &str,
    active: bool,
) -> Result<(sandbox_customer::Model, bool), ApiError> {
    policy::sandbox(principal)?;
    let tenant_id = validate::tenant_guid("microsoftTenantId", microsoft_tenant_id)?;
    if services.partner_centers.sandbox().is_none() {
        return Err(ApiError::domain(ErrorCode::SandboxNotInUse));
    }
    let customer = sandbox::set_admin_relationship(&services.db, tenant_id, active)
        .await?
        .ok_or_else(|| ApiError::not_found("sandbox customer"))?;
    let now = sandbox::admin_relationship_active(&services.db, None, tenant_id)
        .await?
        .unwrap_or(false);
    tracing::info!(
        tenant = %tenant_id,
        broker = %customer.broker_id,
        active = now,
        subject = %principal.subject,
        "sandbox admin relationship changed"
    );
    Ok((customer, now))
}
