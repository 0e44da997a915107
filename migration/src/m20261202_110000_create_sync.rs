use sea_orm_migration::prelude::*;

use crate::common::*;

/// Keeping organizations and Partner Center in step (issue 13 items 4 and 5).
///
/// - `sync_runs`: one row per synchronization of a broker (started, finished, counts, error).
/// - `sync_tenant_results`: per run, each linked tenant's state and differences.
/// - `sync_customers`: per run, the Partner Center customers no organization holds, with the
///   broker's organizations suggested for each.
/// - `broker_syncs`: per broker, the run whose result is current, and the lease that lets one
///   replica at a time sync the broker. A run writes under its own id and becomes current in the
///   transaction that finishes it, so a run that fails half way never shows.
#[derive(DeriveMigrationName)]
pub struct Migration;

const STATES: [&str; 3] = ["IN_SYNC", "DRIFTED", "MISSING"];
const STATUSES: [&str; 3] = ["RUNNING", "SUCCEEDED", "FAILED"];

fn count(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .integer()
        .not_null()
        .default(0)
        .check(Expr::col(name).gte(0))
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let runs = Table::create()
            .table("sync_runs")
            .if_not_exists()
            .col(id())
            .col(uuid("broker_id"))
            .col(one_of("status", &STATUSES))
            .col(text("started_by"))
            .col(timestamp("started_at"))
            .col(
                ColumnDef::new("finished_at")
                    .timestamp_with_time_zone()
                    .null(),
            )
            .col(count("customers"))
            .col(count("in_sync"))
            .col(count("drifted"))
            .col(count("missing"))
            .col(count("needs_consent"))
            .col(count("unlinked"))
            .col(ColumnDef::new("error_code").string_len(64).null())
            .col(ColumnDef::new("error").string().null())
            .foreign_key(&mut foreign_key(
                "sync_runs",
                "broker_id",
                "brokers",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(
            manager,
            runs,
            vec![index("sync_runs", &["broker_id", "started_at"], false)],
        )
        .await?;

        let results = Table::create()
            .table("sync_tenant_results")
            .if_not_exists()
            .col(id())
            .col(uuid("run_id"))
            .col(uuid("broker_id"))
            .col(uuid("organization_id"))
            .col(uuid("tenant_id"))
            .col(one_of("state", &STATES))
            .col(ColumnDef::new("differences").json_binary().not_null())
            .col(ColumnDef::new("needs_consent").boolean().not_null())
            .col(timestamp("checked_at"))
            .foreign_key(&mut foreign_key(
                "sync_tenant_results",
                "run_id",
                "sync_runs",
                ForeignKeyAction::Cascade,
            ))
            .foreign_key(&mut foreign_key(
                "sync_tenant_results",
                "broker_id",
                "brokers",
                ForeignKeyAction::Cascade,
            ))
            .foreign_key(&mut foreign_key(
                "sync_tenant_results",
                "organization_id",
                "organizations",
                ForeignKeyAction::Cascade,
            ))
            .foreign_key(&mut foreign_key(
                "sync_tenant_results",
                "tenant_id",
                "tenants",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(
            manager,
            results,
            vec![
                index("sync_tenant_results", &["run_id", "tenant_id"], true),
                index("sync_tenant_results", &["tenant_id"], false),
                index("sync_tenant_results", &["broker_id"], false),
                index("sync_tenant_results", &["organization_id"], false),
            ],
        )
        .await?;

        let customers = Table::create()
            .table("sync_customers")
            .if_not_exists()
            .col(id())
            .col(uuid("run_id"))
            .col(uuid("broker_id"))
            .col(uuid("microsoft_tenant_id"))
            .col(text("company_name"))
            .col(text("primary_domain"))
            .col(
                ColumnDef::new("suggested_organization_ids")
                    .json_binary()
                    .not_null(),
            )
            .foreign_key(&mut foreign_key(
                "sync_customers",
                "run_id",
                "sync_runs",
                ForeignKeyAction::Cascade,
            ))
            .foreign_key(&mut foreign_key(
                "sync_customers",
                "broker_id",
                "brokers",
                ForeignKeyAction::Cascade,
            ))
            .take();
        create(
            manager,
            customers,
            vec![
                index("sync_customers", &["run_id", "microsoft_tenant_id"], true),
                index("sync_customers", &["broker_id"], false),
            ],
        )
        .await?;

        let brokers = Table::create()
            .table("broker_syncs")
            .if_not_exists()
            .col(ColumnDef::new("broker_id").uuid().not_null().primary_key())
            .col(ColumnDef::new("current_run_id").uuid().null())
            .col(ColumnDef::new("lease_holder").uuid().null())
            .col(
                ColumnDef::new("lease_expires_at")
                    .timestamp_with_time_zone()
                    .null(),
            )
            .col(timestamp("updated_at"))
            .check(Expr::cust(
                "(lease_holder IS NULL) = (lease_expires_at IS NULL)",
            ))
            .foreign_key(&mut foreign_key(
                "broker_syncs",
                "broker_id",
                "brokers",
                ForeignKeyAction::Cascade,
            ))
            .foreign_key(&mut foreign_key(
                "broker_syncs",
                "current_run_id",
                "sync_runs",
                ForeignKeyAction::SetNull,
            ))
            .take();
        create(
            manager,
            brokers,
            vec![index("broker_syncs", &["current_run_id"], false)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "broker_syncs",
            "sync_customers",
            "sync_tenant_results",
            "sync_runs",
        ] {
            drop(manager, table).await?;
        }
        Ok(())
    }
}
