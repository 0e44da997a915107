use sea_orm_migration::prelude::*;

use crate::common::*;

/// The built-in Partner Center sandbox's state (issue 13 item 6, issue 16 item 1): each broker
/// is a partner of its own with its customers and their admin relationships (GDAP). In the
/// database rather than in a process, so that every replica sharing it sees one sandbox.
///
/// The rules the sandbox keeps are constraints: a tenant is the customer of one partner
/// (`tenant_id` unique), an `onmicrosoft.com` prefix is taken once across all partners
/// (`domain_key` unique: the lower-case prefix, or the whole lower-case domain when it is not
/// an `onmicrosoft.com` one), and one create request makes one customer even when two replicas
/// receive it at once (`(broker_id, created_by_request)` unique).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let customers = Table::create()
            .table("sandbox_customers")
            .if_not_exists()
            .col(id())
            .col(uuid("broker_id"))
            .col(uuid("tenant_id"))
            .col(text("domain"))
            .col(text("domain_key"))
            .col(text("company_name"))
            .col(ColumnDef::new("created_by_request").uuid().null())
            .col(timestamp("created_at"))
            .col(timestamp("updated_at"))
            .foreign_key(&mut foreign_key(
                "sandbox_customers",
                "broker_id",
                "brokers",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(
            manager,
            customers,
            vec![
                index("sandbox_customers", &["tenant_id"], true),
                index("sandbox_customers", &["domain_key"], true),
                index(
                    "sandbox_customers",
                    &["broker_id", "created_by_request"],
                    true,
                ),
                index("sandbox_customers", &["broker_id", "tenant_id"], false),
            ],
        )
        .await?;
        let relationships = Table::create()
            .table("sandbox_admin_relationships")
            .if_not_exists()
            .col(id())
            .col(uuid("customer_id"))
            .col(one_of("status", &["ACTIVE", "TERMINATED"]))
            .col(timestamp("created_at"))
            .col(ColumnDef::new("ended_at").timestamp_with_time_zone().null())
            .check(Expr::cust("(status = 'ACTIVE') = (ended_at IS NULL)"))
            .foreign_key(&mut foreign_key(
                "sandbox_admin_relationships",
                "customer_id",
                "sandbox_customers",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(
            manager,
            relationships,
            vec![index(
                "sandbox_admin_relationships",
                &["customer_id", "status"],
                false,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, "sandbox_admin_relationships").await?;
        drop(manager, "sandbox_customers").await
    }
}
