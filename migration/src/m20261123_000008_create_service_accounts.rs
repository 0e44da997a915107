use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Table::create()
            .table("service_accounts")
            .if_not_exists()
            .col(id())
            .col(uuid("tenant_id"))
            .col(text("user_principal_name"))
            .col(text("display_name"))
            .col(ColumnDef::new("directory_roles").json_binary().not_null())
            .col(
                ColumnDef::new("usage_location")
                    .string_len(2)
                    .not_null()
                    .check(Expr::cust("LENGTH(usage_location) = 2")),
            )
            .col(ColumnDef::new("password_changed").boolean().not_null())
            .col(ColumnDef::new("mfa_configured").boolean().not_null())
            .col(ColumnDef::new("roles_confirmed").boolean().not_null())
            .col(ColumnDef::new("credential_ciphertext").blob().null())
            .col(ColumnDef::new("credential_nonce").blob().null())
            .col(one_of("status", &["PENDING_VERIFICATION", "VERIFIED"]))
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .foreign_key(&mut foreign_key(
                "service_accounts",
                "tenant_id",
                "tenants",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(
            manager,
            table,
            vec![index("service_accounts", &["tenant_id"], true)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "service_accounts").await
    }
}
