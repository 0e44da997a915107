//! Schema migrations, one file per table, applied in order by [`Migrator`].
//! Every statement is idempotent (`IF NOT EXISTS`), so `migrate` twice is harmless.

pub use sea_orm_migration::prelude::*;

mod common;
mod m20261123_000001_create_brokers;
mod m20261123_000002_create_organizations;
mod m20261123_000003_create_tenants;
mod m20261123_000004_create_users;
mod m20261123_000005_create_services;
mod m20261123_000006_create_subscriptions;
mod m20261123_000007_create_subscription_assignments;
mod m20261123_000008_create_service_accounts;
mod m20261123_000009_create_audit_events;
mod m20261123_000010_create_provisioning_requests;
mod m20261201_000011_create_tenant_claims;
mod m20261201_111500_create_rate_limit_hits;
mod m20261201_140000_create_partner_center_connections;
mod m20261202_100000_create_persisted_queries;
mod m20261202_110000_create_sync;
mod m20261202_120000_create_sandbox;
mod m20261202_130000_add_audit_sequence;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_brokers::Migration),
            Box::new(m20261123_000002_create_organizations::Migration),
            Box::new(m20261123_000003_create_tenants::Migration),
            Box::new(m20261123_000004_create_users::Migration),
            Box::new(m20261123_000005_create_services::Migration),
            Box::new(m20261123_000006_create_subscriptions::Migration),
            Box::new(m20261123_000007_create_subscription_assignments::Migration),
            Box::new(m20261123_000008_create_service_accounts::Migration),
            Box::new(m20261123_000009_create_audit_events::Migration),
            Box::new(m20261123_000010_create_provisioning_requests::Migration),
            Box::new(m20261201_000011_create_tenant_claims::Migration),
            Box::new(m20261201_111500_create_rate_limit_hits::Migration),
            Box::new(m20261201_140000_create_partner_center_connections::Migration),
            Box::new(m20261202_100000_create_persisted_queries::Migration),
            Box::new(m20261202_110000_create_sync::Migration),
            Box::new(m20261202_120000_create_sandbox::Migration),
            Box::new(m20261202_130000_add_audit_sequence::Migration),
        ]
    }
}
