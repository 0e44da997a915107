use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("users")
            .if_not_exists()
            .col(id())
            .col(uuid("organization_id"))
            .col(
                ColumnDef::new("email")
                    .string()
                    .not_null()
                    .check(Expr::cust("email = LOWER(email)")),
            )
            .col(text("display_name"))
            .col(one_of("role", &["ORGANIZATION_ADMIN", "ORGANIZATION_USER"]))
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .foreign_key(&mut foreign_key(
                "users",
                "organization_id",
                "organizations",
                ForeignKeyAction::Restrict,
            ))
            .take();
        create(
            manager,
            table,
            vec![
                index("users", &["email"], true),
                index("users", &["organization_id", "email"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "users").await
    }
}
