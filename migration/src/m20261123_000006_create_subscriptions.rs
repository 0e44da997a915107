use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("subscriptions")
            .if_not_exists()
            .col(id())
            .col(uuid("organization_id"))
            .col(uuid("service_id"))
            .col(
                ColumnDef::new("quantity")
                    .integer()
                    .not_null()
                    .check(Expr::col("quantity").gt(0)),
            )
            .col(one_of("status", &["ACTIVE", "SUSPENDED", "CANCELLED"]))
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .foreign_key(&mut foreign_key(
                "subscriptions",
                "organization_id",
                "organizations",
                ForeignKeyAction::Restrict,
            ))
            .foreign_key(&mut foreign_key(
                "subscriptions",
                "service_id",
                "services",
                ForeignKeyAction::Restrict,
            ))
            .take();
        create(
            manager,
            table,
            vec![
                index("subscriptions", &["organization_id"], false),
                index("subscriptions", &["service_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "subscriptions").await
    }
}
