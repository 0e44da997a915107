use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("organizations")
            .if_not_exists()
            .col(id())
            .col(uuid("broker_id"))
            .col(text("name"))
            .col(text("contact_email"))
            .col(ColumnDef::new("country").string_len(2).not_null().check(
                Expr::cust("LENGTH(country) = 2").and(Expr::cust("country = UPPER(country)")),
            ))
            .col(ColumnDef::new("registration_number").string().null())
            .col(ColumnDef::new("vat_number").string().null())
            .col(ColumnDef::new("customer_number").string().null())
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .foreign_key(&mut foreign_key(
                "organizations",
                "broker_id",
                "brokers",
                ForeignKeyAction::Restrict,
            ))
            .take();
        create(
            manager,
            table,
            vec![
                index("organizations", &["broker_id", "name"], false),
                index("organizations", &["name"], false),
                index("organizations", &["country"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "organizations").await
    }
}
