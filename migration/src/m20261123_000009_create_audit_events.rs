use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // No foreign keys: the trail must outlive the rows it describes.
        let table = Table::create()
            .table("audit_events")
            .if_not_exists()
            .col(id())
            .col(timestamp("occurred_at"))
            .col(text("actor_subject"))
            .col(ColumnDef::new("actor_role").string_len(32).not_null())
            .col(text("action"))
            .col(text("entity_type"))
            .col(uuid("entity_id"))
            .col(ColumnDef::new("broker_id").uuid().null())
            .col(ColumnDef::new("organization_id").uuid().null())
            .col(ColumnDef::new("details").json_binary().not_null())
            .take();
        create(
            manager,
            table,
            vec![
                index("audit_events", &["broker_id", "id"], false),
                index("audit_events", &["organization_id", "id"], false),
                index("audit_events", &["entity_id"], false),
                index("audit_events", &["occurred_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "audit_events").await
    }
}
