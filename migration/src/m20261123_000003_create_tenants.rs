use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The nil GUID is never a Microsoft tenant. UUIDs are native on PostgreSQL and
        // 16-byte blobs on SQLite, so the literal differs.
        let not_nil = match manager.get_database_backend() {
            DbBackend::Postgres => {
                "microsoft_tenant_id <> '00000000-0000-0000-0000-000000000000'::uuid"
            }
            _ => "microsoft_tenant_id <> X'00000000000000000000000000000000'",
        };
        let table = Table::create()
            .table("tenants")
            .if_not_exists()
            .col(id())
            .col(uuid("organization_id"))
            .col(uuid("microsoft_tenant_id"))
            .col(text("primary_domain"))
            .col(one_of("link_method", &["E_STORE", "MANUAL"]))
            .col(one_of(
                "management",
                &["PARTNER_MANAGED", "CUSTOMER_CONSENT"],
            ))
            .col(timestamp("linked_at"))
            .col(text("linked_by"))
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .check(Check::named(
                "tenants_microsoft_tenant_id_not_nil",
                Expr::cust(not_nil),
            ))
            .foreign_key(&mut foreign_key(
                "tenants",
                "organization_id",
                "organizations",
                ForeignKeyAction::Restrict,
            ))
            .take();
        create(
            manager,
            table,
            vec![
                index("tenants", &["organization_id"], true),
                index("tenants", &["microsoft_tenant_id"], true),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "tenants").await
    }
}
