//! Serialising tenant creation per organization (issue 10, items 12 and 13).
//!
//! - `provisioning_requests.holder`: the token of the caller that holds an idempotency key's
//!   lease, so that a caller whose lease was taken over cannot also write its outcome.
//! - `tenant_claims`: at most one caller per organization asks Partner Center for a new
//!   customer (the primary key is the organization); the claim keeps the `MS-RequestId` so that
//!   whoever takes over a dead claim gets the same customer back, not a second one.
//! - `unlinked_customers`: Partner Center customers that were created but could not be linked,
//!   so that someone can find and link (or delete) them.

use sea_orm_migration::prelude::*;

use crate::common::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager
            .has_column("provisioning_requests", "holder")
            .await?
        {
            manager
                .alter_table(
                    Table::alter()
                        .table("provisioning_requests")
                        .add_column(ColumnDef::new("holder").uuid().null())
                        .take(),
                )
                .await?;
        }

        let claims = Table::create()
            .table("tenant_claims")
            .if_not_exists()
            .col(
                ColumnDef::new("organization_id")
                    .uuid()
                    .not_null()
                    .primary_key(),
            )
            .col(uuid("partner_center_request_id"))
            .col(uuid("holder"))
            .col(timestamp("heartbeat_at"))
            .col(ColumnDef::new("microsoft_tenant_id").uuid().null())
            .col(timestamp("created_at"))
            .foreign_key(&mut foreign_key(
                "tenant_claims",
                "organization_id",
                "organizations",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(manager, claims, vec![]).await?;

        // No foreign keys: the record must outlive the organization it was meant for.
        let unlinked = Table::create()
            .table("unlinked_customers")
            .if_not_exists()
            .col(id())
            .col(uuid("broker_id"))
            .col(uuid("organization_id"))
            .col(uuid("microsoft_tenant_id"))
            .col(text("primary_domain"))
            .col(uuid("partner_center_request_id"))
            .col(text("reason"))
            .col(timestamp("created_at"))
            .take();
        create(
            manager,
            unlinked,
            vec![
                index("unlinked_customers", &["broker_id"], false),
                index("unlinked_customers", &["organization_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "unlinked_customers").await?;
        drop(manager, "tenant_claims").await?;
        manager
            .alter_table(
                Table::alter()
                    .table("provisioning_requests")
                    .drop_column("holder")
                    .take(),
            )
            .await
    }
}
