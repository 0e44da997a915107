use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("provisioning_requests")
            .if_not_exists()
            .col(id())
            .col(uuid("organization_id"))
            .col(text("idempotency_key"))
            .col(text("request_hash"))
            .col(one_of("state", &["PENDING", "SUCCEEDED", "FAILED"]))
            .col(ColumnDef::new("microsoft_tenant_id").uuid().null())
            .col(ColumnDef::new("tenant_id").uuid().null())
            .col(ColumnDef::new("subscription_id").uuid().null())
            .col(ColumnDef::new("error_code").string().null())
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .foreign_key(&mut foreign_key(
                "provisioning_requests",
                "organization_id",
                "organizations",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(
            manager,
            table,
            vec![index(
                "provisioning_requests",
                &["organization_id", "idempotency_key"],
                true,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "provisioning_requests").await
    }
}
