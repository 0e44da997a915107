use sea_orm_migration::prelude::*;

use crate::common::*;

/// Automatic persisted queries (Apollo's protocol): each document a client registered, by the
/// SHA-256 of its text. In the database rather than in a process, so that every replica sharing
/// it answers a hash another replica registered.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("persisted_queries")
            .if_not_exists()
            .col(
                ColumnDef::new("hash")
                    .string_len(64)
                    .not_null()
                    .primary_key()
                    // Lower-case hexadecimal SHA-256, as clients send it.
                    .check(Expr::cust("length(hash) = 64")),
            )
            .col(ColumnDef::new("document").text().not_null())
            .col(timestamp("created_at"))
            .take();
        create(manager, table, vec![]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "persisted_queries").await
    }
}
