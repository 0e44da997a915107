use sea_orm_migration::prelude::*;

use crate::common::*;

/// The attempts a per-principal limit counts (domain/throttle.rs). In the database rather than
/// in a process, so that every replica sharing it enforces one limit.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("rate_limit_hits")
            .if_not_exists()
            .col(id())
            .col(text("principal"))
            .col(text("action"))
            .col(ColumnDef::new("failed").boolean().not_null())
            .col(timestamp("occurred_at"))
            .take();
        create(
            manager,
            table,
            vec![
                index(
                    "rate_limit_hits",
                    &["principal", "action", "occurred_at"],
                    false,
                ),
                index("rate_limit_hits", &["occurred_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "rate_limit_hits").await
    }
}
