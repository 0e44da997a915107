//! sea-orm entities: one module per table, generated-style code only.
//! Hand-written GraphQL types live in the server crate, never here.

pub mod audit_event;
pub mod broker;
pub mod broker_sync;
pub mod enums;
pub mod organization;
pub mod partner_center_connection;
pub mod persisted_query;
pub mod provisioning_request;
pub mod rate_limit_hit;
pub mod sandbox_admin_relationship;
pub mod sandbox_customer;
pub mod service;
pub mod service_account;
pub mod subscription;
pub mod subscription_assignment;
pub mod sync_customer;
pub mod sync_run;
pub mod sync_tenant_result;
pub mod tenant;
pub mod tenant_claim;
pub mod unlinked_customer;
pub mod user;

pub mod prelude {
    pub use super::audit_event::Entity as AuditEvent;
    pub use super::broker::Entity as Broker;
    pub use super::broker_sync::Entity as BrokerSync;
    pub use super::organization::Entity as Organization;
    pub use super::partner_center_connection::Entity as PartnerCenterConnection;
    pub use super::persisted_query::Entity as PersistedQuery;
    pub use super::provisioning_request::Entity as ProvisioningRequest;
    pub use super::rate_limit_hit::Entity as RateLimitHit;
    pub use super::sandbox_admin_relationship::Entity as SandboxAdminRelationship;
    pub use super::sandbox_customer::Entity as SandboxCustomer;
    pub use super::service::Entity as Service;
    pub use super::service_account::Entity as ServiceAccount;
    pub use super::subscription::Entity as Subscription;
    pub use super::subscription_assignment::Entity as SubscriptionAssignment;
    pub use super::sync_customer::Entity as SyncCustomer;
    pub use super::sync_run::Entity as SyncRun;
    pub use super::sync_tenant_result::Entity as SyncTenantResult;
    pub use super::tenant::Entity as Tenant;
    pub use super::tenant_claim::Entity as TenantClaim;
    pub use super::unlinked_customer::Entity as UnlinkedCustomer;
    pub use super::user::Entity as User;
}
