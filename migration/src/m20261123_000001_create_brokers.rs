use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("brokers")
            .if_not_exists()
            .col(id())
            .col(text("slug"))
            .col(text("name"))
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .take();
        create(
            manager,
            table,
            vec![
                index("brokers", &["slug"], true),
                index("brokers", &["name"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "brokers").await
    }
}
