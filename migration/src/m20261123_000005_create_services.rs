use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("services")
            .if_not_exists()
            .col(id())
            .col(uuid("broker_id"))
            .col(text("name"))
            .col(one_of("vendor", &["MICROSOFT", "OTHER"]))
            .col(text("sku"))
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .foreign_key(&mut foreign_key(
                "services",
                "broker_id",
                "brokers",
                ForeignKeyAction::Restrict,
            ))
            .take();
        create(
            manager,
            table,
            vec![index("services", &["broker_id", "sku"], true)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "services").await
    }
}
