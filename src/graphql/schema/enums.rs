//! GraphQL mirrors of the stored enums (same values, converted by `remote`).

use async_graphql::Enum;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::enums::OrganizationRole")]
pub enum OrganizationRole {
    /// Manages the organization's users and subscriptions.
    OrganizationAdmin,
    /// Uses what it is assigned.
    OrganizationUser,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::enums::Vendor")]
pub enum Vendor {
    Microsoft,
    Other,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::enums::SubscriptionStatus")]
pub enum SubscriptionStatus {
    Active,
    Suspended,
    Cancelled,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::enums::TenantLinkMethod")]
pub enum TenantLinkMethod {
    /// Created in Partner Center when the organization bought a Microsoft service.
    EStore,
    /// An existing tenant ID entered by a broker admin.
    Manual,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::enums::TenantManagement")]
pub enum TenantManagement {
    /// Through the partner's admin relationship.
    PartnerManaged,
    /// Through a service account the customer created and consented to.
    CustomerConsent,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::enums::ServiceAccountStatus")]
pub enum ServiceAccountStatus {
    PendingVerification,
    Verified,
}
