use sea_orm_migration::prelude::*;

use crate::common::*;

/// Each broker's own Partner Center connection (issue 13): the partner's Entra tenant, the
/// application, and its sealed credentials (a client secret, an App+User refresh token, or
/// both). At least one credential is required, by a CHECK rather than only in code.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("partner_center_connections")
            .if_not_exists()
            .col(id())
            .col(uuid("broker_id"))
            .col(uuid("entra_tenant_id"))
            .col(uuid("application_id"))
            .col(ColumnDef::new("client_secret_ciphertext").blob().null())
            .col(ColumnDef::new("client_secret_nonce").blob().null())
            .col(ColumnDef::new("refresh_token_ciphertext").blob().null())
            .col(ColumnDef::new("refresh_token_nonce").blob().null())
            .col(timestamp("credentials_set_at"))
            .col(text("credentials_set_by"))
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .check(Expr::cust(
                "client_secret_ciphertext IS NOT NULL OR refresh_token_ciphertext IS NOT NULL",
            ))
            .foreign_key(&mut foreign_key(
                "partner_center_connections",
                "broker_id",
                "brokers",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(
            manager,
            table,
            vec![index("partner_center_connections", &["broker_id"], true)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "partner_center_connections").await
    }
}
