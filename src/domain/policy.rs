//! Who may change what (design.md §3). Reads are filtered by scope before these run, so a row
//! out of scope is already "not found"; these decide `FORBIDDEN` for rows the caller can see.

use uuid::Uuid;

use crate::auth::{Principal, Role};
use crate::error::ApiError;

/// Brokers themselves: the platform only.
pub fn brokers(principal: &Principal) -> Result<(), ApiError> {
    allow(principal.role == Role::PlatformAdmin, "manage brokers")
}

/// A broker's organizations, catalog and subscriptions, and linking its tenants.
pub fn broker_data(principal: &Principal, broker: Uuid) -> Result<(), ApiError> {
    allow(
        principal.role == Role::PlatformAdmin
            || (principal.role == Role::BrokerAdmin && principal.broker_id == Some(broker)),
        "change this broker's data",
    )
}

/// An organization's users and assignments, its E-Store purchases and its service account:
/// the broker's admins, and the organization's own admin.
pub fn organization_data(
    principal: &Principal,
    broker: Uuid,
    organization: Uuid,
) -> Result<(), ApiError> {
    allow(
        principal.role == Role::PlatformAdmin
            || (principal.role == Role::BrokerAdmin && principal.broker_id == Some(broker))
            || (principal.role == Role::OrganizationAdmin
                && principal.organization_id == Some(organization)),
        "change this organization's data",
    )
}

fn allow(allowed: bool, what: &str) -> Result<(), ApiError> {
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("your role may not {what}")))
    }
}
