use sea_orm_migration::prelude::*;

use crate::common::*;

/// The order live updates deliver events in: `audit_events.sequence`, numbered by a one-row
/// counter (`event_sequence`) that each writer increments in its own transaction.
///
/// Why a counter row and not an autoincrement or a sequence: a sequence value is *assigned*
/// when the row is written and *committed* later, in any order, so a reader that has seen
/// number 8 cannot tell whether 7 will still commit. The counter's row lock is held from the
/// increment until the writer's commit, so the next writer gets its number only after the
/// previous one committed (or rolled back, which also undoes its increment): numbers are
/// committed in their order, without gaps, and "sequence > cursor" never skips a row. It
/// needs no session state (it works behind PgBouncer in transaction mode) and works the same
/// on SQLite, whose writers are serialised anyway.
#[derive(DeriveMigrationName)]
pub struct Migration;

const COUNTER: &str = "event_sequence";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let counter = Table::create()
            .table(COUNTER)
            .if_not_exists()
            .col(
                ColumnDef::new("id")
                    .integer()
                    .not_null()
                    .primary_key()
                    .check(Expr::col("id").eq(1)),
            )
            .col(ColumnDef::new("last").big_integer().not_null())
            .take();
        create(manager, counter, vec![]).await?;
        if !manager.has_column("audit_events", "sequence").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table("audit_events")
                        .add_column(ColumnDef::new("sequence").big_integer().null())
                        .take(),
                )
                .await?;
            // Events written before live updates existed, numbered in the order of their
            // time-ordered ids.
            manager
                .get_connection()
                .execute_unprepared(
                    "UPDATE audit_events SET sequence = \
                     (SELECT COUNT(*) FROM audit_events older WHERE older.id <= audit_events.id)",
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO event_sequence (id, last) \
                 SELECT 1, COALESCE(MAX(sequence), 0) FROM audit_events \
                 WHERE NOT EXISTS (SELECT 1 FROM event_sequence)",
            )
            .await?;
        manager
            .create_index(index("audit_events", &["sequence"], true))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("audit_events_sequence_key")
                    .table("audit_events")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("audit_events")
                    .drop_column("sequence")
                    .take(),
            )
            .await?;
        drop(manager, COUNTER).await
    }
}
