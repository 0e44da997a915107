use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("subscription_assignments")
            .if_not_exists()
            .col(id())
            .col(uuid("subscription_id"))
            .col(uuid("user_id"))
            .col(timestamp("created_at"))
            .foreign_key(&mut foreign_key(
                "subscription_assignments",
                "subscription_id",
                "subscriptions",
                ForeignKeyAction::Cascade,
            ))
            .foreign_key(&mut foreign_key(
                "subscription_assignments",
                "user_id",
                "users",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(
            manager,
            table,
            vec![
                index(
                    "subscription_assignments",
                    &["subscription_id", "user_id"],
                    true,
                ),
                index("subscription_assignments", &["user_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "subscription_assignments").await
    }
}
