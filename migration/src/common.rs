//! Column and constraint shapes shared by the migrations.

use sea_orm_migration::prelude::*;

/// A UUID primary key (the application generates time-ordered v7 values).
pub fn id() -> ColumnDef {
    ColumnDef::new("id").uuid().not_null().primary_key().take()
}

pub fn uuid(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().take()
}

pub fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string().not_null().take()
}

pub fn timestamp(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

/// A string column restricted to a closed set of values by a CHECK constraint.
pub fn one_of(name: &'static str, values: &[&str]) -> ColumnDef {
    ColumnDef::new(name)
        .string_len(32)
        .not_null()
        .check(Expr::col(name).is_in(values.iter().copied()))
        .take()
}

/// A foreign key named `<table>_<column>_fkey`, as PostgreSQL would name it.
pub fn foreign_key(
    table: &'static str,
    column: &'static str,
    parent: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("{table}_{column}_fkey"))
        .from(table, column)
        .to(parent, "id")
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::Cascade)
        .take()
}

/// An index named `<table>_<columns>_idx` (or `_key` when unique).
pub fn index(table: &'static str, columns: &[&'static str], unique: bool) -> IndexCreateStatement {
    let suffix = if unique { "key" } else { "idx" };
    let mut index = Index::create();
    index
        .if_not_exists()
        .name(format!("{table}_{}_{suffix}", columns.join("_")))
        .table(table);
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    index.take()
}

/// Creates a table and its indexes, each only if it does not exist yet.
pub async fn create(
    manager: &SchemaManager<'_>,
    table: TableCreateStatement,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    manager.create_table(table).await?;
    for index in indexes {
        manager.create_index(index).await?;
    }
    Ok(())
}

pub async fn drop(manager: &SchemaManager<'_>, table: &'static str) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(table).if_exists().take())
        .await
}
