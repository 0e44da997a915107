//! Keeping organizations and Partner Center in step (issue 13 items 4 and 5, design.md §2).
//!
//! A synchronization of one broker pages through all its Partner Center customers, compares
//! them with the broker's organizations and tenants ([`compare`]), and stores what it found
//! under a run of its own. The run becomes the broker's current one in the transaction that
//! finishes it, so a run that fails half way (Partner Center down on page 2) leaves the last
//! complete result readable, never a mix.
//!
//! One replica at a time syncs a broker: a run first takes the broker's lease (a row of
//! `broker_syncs` with an expiry, the same on SQLite and PostgreSQL), renews it as it goes, and
//! gives it up when it ends; a run that finds it taken answers `SYNC_IN_PROGRESS`. A replica
//! that dies holding the lease holds it no longer than [`LEASE`].

pub mod compare;
pub mod fix;
pub mod schedule;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::enums::{SyncRunStatus, TenantManagement, TenantSyncState};
use entity::{
    broker, broker_sync, organization, sync_customer, sync_run, sync_tenant_result, tenant,
};
use futures_util::{StreamExt, TryStreamExt};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{Services, policy, visible};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::partner_center::{CallIds, Customer, PartnerCenter, PartnerCenterError};
use compare::{Candidate, Difference};

/// How long a lease is honoured without renewal. A run renews it after every page and every
/// batch of admin-relationship checks, each far shorter than this.
pub const LEASE: Duration = Duration::from_secs(60);
/// Customers asked for per page.
pub const PAGE_SIZE: u32 = 100;
/// More pages than any partner has: a Partner Center that keeps answering with a next page is
/// an error, not an endless run.
const MAX_PAGES: u32 = 10_000;
/// Admin relationships (GDAP) read at once.
const RELATIONSHIP_CHECKS: usize = 8;
/// Runs kept per broker: the most recent ones (and the current one, however old).
const KEEP_RUNS: u64 = 50;
/// Rows written per statement (well under SQLite's and PostgreSQL's parameter limits).
const CHUNK: usize = 500;

/// How far a run has come, for a progress bar or a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A page of customers was read: how many pages, how many customers so far.
    Page { pages: u32, customers: usize },
    /// Admin relationships checked, of how many.
    Relationships { done: usize, total: usize },
}

/// Whoever watches a run.
pub type Observer<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// Nobody watching.
pub fn unobserved(_: Progress) {}

fn lease() -> chrono::Duration {
    chrono::Duration::from_std(LEASE).unwrap_or_default()
}

/// `SYNC_IN_PROGRESS`, with the seconds until the holder's lease ends (at least one).
fn in_progress(lease_ends: DateTime<Utc>) -> ApiError {
    let left = u64::try_from((lease_ends - Utc::now()).num_milliseconds()).unwrap_or(0);
    ApiError::Retryable {
        code: ErrorCode::SyncInProgress,
        message: "a synchronization of this broker is running; retry shortly".into(),
        retry_after_seconds: left.div_ceil(1000).clamp(1, LEASE.as_secs()),
    }
}

fn lease_lost() -> ApiError {
    tracing::warn!("sync lease lost: another run took it over");
    ApiError::Retryable {
        code: ErrorCode::SyncInProgress,
        message: "the synchronization took too long and another one took over; retry shortly"
            .into(),
        retry_after_seconds: LEASE.as_secs(),
    }
}

fn partner_center_error(error: PartnerCenterError) -> ApiError {
    super::tenancy::partner_center_error(error)
}

/// Takes the broker's lease for `run`, or answers `SYNC_IN_PROGRESS`.
async fn acquire(db: &DatabaseConnection, broker_id: Uuid, run: Uuid) -> Result<(), ApiError> {
    let txn = super::write(db).await?;
    let now = Utc::now();
    broker_sync::Entity::insert(broker_sync::ActiveModel {
        broker_id: ActiveValue::Set(broker_id),
        current_run_id: ActiveValue::Set(None),
        lease_holder: ActiveValue::Set(None),
        lease_expires_at: ActiveValue::Set(None),
        updated_at: ActiveValue::Set(now),
    })
    .on_conflict_do_nothing()
    .exec(&txn)
    .await?;
    let row = broker_sync::Entity::find_by_id(broker_id)
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .ok_or(ApiError::Internal)?;
    if let (Some(_), Some(expires)) = (row.lease_holder, row.lease_expires_at)
        && expires > now
    {
        txn.rollback().await.ok();
        return Err(in_progress(expires));
    }
    let mut row = row.into_active_model();
    row.lease_holder = ActiveValue::Set(Some(run));
    row.lease_expires_at = ActiveValue::Set(Some(now + lease()));
    row.updated_at = ActiveValue::Set(now);
    row.update(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Extends `run`'s lease; an error when another run has taken it over.
async fn renew(db: &DatabaseConnection, broker_id: Uuid, run: Uuid) -> Result<(), ApiError> {
    let now = Utc::now();
    let renewed = broker_sync::Entity::update_many()
        .col_expr(
            broker_sync::Column::LeaseExpiresAt,
            sea_orm::sea_query::Expr::value(now + lease()),
        )
        .filter(broker_sync::Column::BrokerId.eq(broker_id))
        .filter(broker_sync::Column::LeaseHolder.eq(run))
        .exec(db)
        .await?;
    if renewed.rows_affected == 1 {
        Ok(())
    } else {
        Err(lease_lost())
    }
}

/// Gives `run`'s lease up (if it still holds it).
async fn release(db: &impl ConnectionTrait, broker_id: Uuid, run: Uuid) -> Result<(), ApiError> {
    broker_sync::Entity::update_many()
        .col_expr(
            broker_sync::Column::LeaseHolder,
            sea_orm::sea_query::Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            broker_sync::Column::LeaseExpiresAt,
            sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(broker_sync::Column::BrokerId.eq(broker_id))
        .filter(broker_sync::Column::LeaseHolder.eq(run))
        .exec(db)
        .await?;
    Ok(())
}

/// What a run found, before it is stored.
struct Findings {
    customers: usize,
    tenants: Vec<sync_tenant_result::Model>,
    unlinked: Vec<sync_customer::Model>,
}

/// Runs one Partner Center call within the deadline.
async fn call<T>(
    services: &Services,
    future: impl std::future::Future<Output = Result<T, PartnerCenterError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(services.partner_center_deadline, future).await {
        Ok(result) => result.map_err(partner_center_error),
        Err(_) => Err(partner_center_error(PartnerCenterError::Unavailable)),
    }
}

/// Every customer of the partner, page by page.
async fn all_customers(
    services: &Services,
    partner_center: &dyn PartnerCenter,
    broker_id: Uuid,
    run: Uuid,
    observer: Observer<'_>,
) -> Result<Vec<Customer>, ApiError> {
    let correlation_id = Uuid::now_v7();
    let mut customers = Vec::new();
    let mut continuation: Option<String> = None;
    let mut pages = 0;
    loop {
        let ids = CallIds {
            request_id: Uuid::now_v7(),
            correlation_id,
        };
        let page = call(
            services,
            partner_center.list_customers(PAGE_SIZE, continuation.as_deref(), ids),
        )
        .await?;
        pages += 1;
        customers.extend(page.customers);
        observer(Progress::Page {
            pages,
            customers: customers.len(),
        });
        renew(&services.db, broker_id, run).await?;
        match page.continuation {
            Some(next) if pages < MAX_PAGES => continuation = Some(next),
            Some(_) => {
                tracing::error!(broker = %broker_id, pages, "Partner Center keeps answering with a next page");
                return Err(partner_center_error(PartnerCenterError::Unavailable));
            }
            None => return Ok(customers),
        }
    }
}

/// Whether the partner still holds an admin relationship with each of `tenants`; `None` where
/// the connection cannot tell (the process-wide token reaches no Microsoft Graph).
async fn relationships(
    services: &Services,
    partner_center: &dyn PartnerCenter,
    broker_id: Uuid,
    run: Uuid,
    tenants: Vec<Uuid>,
    observer: Observer<'_>,
) -> Result<HashMap<Uuid, Option<bool>>, ApiError> {
    let total = tenants.len();
    let correlation_id = Uuid::now_v7();
    let mut found = HashMap::with_capacity(total);
    let mut checks = futures_util::stream::iter(tenants)
        .map(|tenant_id| async move {
            let ids = CallIds {
                request_id: Uuid::now_v7(),
                correlation_id,
            };
            let answer = tokio::time::timeout(
                services.partner_center_deadline,
                partner_center.has_admin_relationship(tenant_id, ids),
            )
            .await;
            match answer {
                Ok(Ok(held)) => Ok((tenant_id, Some(held))),
                Ok(Err(PartnerCenterError::NotConfigured)) => Ok((tenant_id, None)),
                Ok(Err(error)) => Err(partner_center_error(error)),
                Err(_) => Err(partner_center_error(PartnerCenterError::Unavailable)),
            }
        })
        .buffer_unordered(RELATIONSHIP_CHECKS);
    while let Some((tenant_id, held)) = checks.try_next().await? {
        found.insert(tenant_id, held);
        if found.len() % RELATIONSHIP_CHECKS == 0 || found.len() == total {
            observer(Progress::Relationships {
                done: found.len(),
                total,
            });
            renew(&services.db, broker_id, run).await?;
        }
    }
    if found.values().any(Option::is_none) {
        tracing::info!(broker = %broker_id, "admin relationships not checked: the connection reaches no Microsoft Graph");
    }
    Ok(found)
}

/// The tenant ids among `ids` that some organization holds (of any broker).
async fn held(db: &DatabaseConnection, ids: &[Uuid]) -> Result<HashSet<Uuid>, ApiError> {
    let mut held = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<Uuid> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::MicrosoftTenantId)
            .filter(tenant::Column::MicrosoftTenantId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        held.extend(rows);
    }
    Ok(held)
}

/// Reads Partner Center and compares.
async fn examine(
    services: &Services,
    broker_id: Uuid,
    run: Uuid,
    observer: Observer<'_>,
) -> Result<Findings, ApiError> {
    let partner_center = services
        .partner_center(broker_id)
        .await
        .map_err(partner_center_error)?;
    let customers = all_customers(services, &*partner_center, broker_id, run, observer).await?;
    let by_tenant: HashMap<Uuid, &Customer> = customers
        .iter()
        .map(|customer| (customer.tenant_id, customer))
        .collect();

    let organizations = organization::Entity::find()
        .filter(organization::Column::BrokerId.eq(broker_id))
        .order_by_asc(organization::Column::Name)
        .order_by_asc(organization::Column::Id)
        .all(&services.db)
        .await?;
    let names: HashMap<Uuid, &organization::Model> =
        organizations.iter().map(|o| (o.id, o)).collect();
    let tenants = tenant::Entity::find()
        .inner_join(organization::Entity)
        .filter(organization::Column::BrokerId.eq(broker_id))
        .all(&services.db)
        .await?;

    let partner_managed: Vec<Uuid> = tenants
        .iter()
        .filter(|t| {
            t.management == TenantManagement::PartnerManaged
                && by_tenant.contains_key(&t.microsoft_tenant_id)
        })
        .map(|t| t.microsoft_tenant_id)
        .collect();
    let admin = relationships(
        services,
        &*partner_center,
        broker_id,
        run,
        partner_managed,
        observer,
    )
    .await?;

    let now = Utc::now();
    let mut results = Vec::with_capacity(tenants.len());
    for linked in &tenants {
        let Some(organization) = names.get(&linked.organization_id) else {
            continue;
        };
        let customer = by_tenant.get(&linked.microsoft_tenant_id).copied();
        let (state, differences) =
            compare::compare(&organization.name, &linked.primary_domain, customer);
        let needs_consent = admin.get(&linked.microsoft_tenant_id) == Some(&Some(false));
        results.push(sync_tenant_result::Model {
            id: Uuid::now_v7(),
            run_id: run,
            broker_id,
            organization_id: organization.id,
            tenant_id: linked.id,
            state,
            differences: serde_json::to_value(&differences).map_err(|_| ApiError::Internal)?,
            needs_consent,
            checked_at: now,
        });
    }

    let linked_here: HashSet<Uuid> = tenants.iter().map(|t| t.organization_id).collect();
    let candidates: Vec<Candidate> = organizations
        .iter()
        .filter(|o| !linked_here.contains(&o.id))
        .map(|o| Candidate {
            id: o.id,
            name: o.name.clone(),
            contact_email: o.contact_email.clone(),
        })
        .collect();
    let ids: Vec<Uuid> = customers.iter().map(|c| c.tenant_id).collect();
    let held = held(&services.db, &ids).await?;
    let mut seen = HashSet::new();
    let mut unlinked = Vec::new();
    for customer in &customers {
        if held.contains(&customer.tenant_id) || !seen.insert(customer.tenant_id) {
            continue;
        }
        let suggested = compare::suggestions(customer, &candidates);
        unlinked.push(sync_customer::Model {
            id: Uuid::now_v7(),
            run_id: run,
            broker_id,
            microsoft_tenant_id: customer.tenant_id,
            company_name: customer.company_name.clone(),
            primary_domain: customer.domain.clone(),
            suggested_organization_ids: serde_json::to_value(&suggested)
                .map_err(|_| ApiError::Internal)?,
        });
    }
    Ok(Findings {
        customers: customers.len(),
        tenants: results,
        unlinked,
    })
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Inserts `rows`, [`CHUNK`] to a statement.
async fn insert_all<M, A>(txn: &DatabaseTransaction, rows: &[M]) -> Result<(), sea_orm::DbErr>
where
    M: IntoActiveModel<A> + Clone,
    A: ActiveModelTrait + Send,
{
    for chunk in rows.chunks(CHUNK) {
        A::Entity::insert_many(
            chunk
                .iter()
                .cloned()
                .map(IntoActiveModel::into_active_model),
        )
        .exec(txn)
        .await?;
    }
    Ok(())
}

/// Stores what `run` found and makes it the broker's current result, in one transaction.
async fn finish(
    db: &DatabaseConnection,
    run: sync_run::Model,
    findings: Findings,
) -> Result<sync_run::Model, ApiError> {
    let broker_id = run.broker_id;
    let txn = super::write(db).await?;
    let holder = broker_sync::Entity::find_by_id(broker_id)
        .lock(LockType::Update)
        .one(&txn)
        .await?
        .and_then(|row| row.lease_holder);
    if holder != Some(run.id) {
        txn.rollback().await.ok();
        return Err(lease_lost());
    }
    // The previous result goes only now, with the new one in its place.
    sync_tenant_result::Entity::delete_many()
        .filter(sync_tenant_result::Column::BrokerId.eq(broker_id))
        .exec(&txn)
        .await?;
    sync_customer::Entity::delete_many()
        .filter(sync_customer::Column::BrokerId.eq(broker_id))
        .exec(&txn)
        .await?;
    let tally = |state| findings.tenants.iter().filter(|r| r.state == state).count();
    let (in_sync, drifted, missing) = (
        tally(TenantSyncState::InSync),
        tally(TenantSyncState::Drifted),
        tally(TenantSyncState::Missing),
    );
    let needs_consent = findings.tenants.iter().filter(|r| r.needs_consent).count();
    let unlinked = findings.unlinked.len();
    insert_all(&txn, &findings.tenants).await?;
    insert_all(&txn, &findings.unlinked).await?;
    let now = Utc::now();
    let mut row = run.into_active_model();
    row.status = ActiveValue::Set(SyncRunStatus::Succeeded);
    row.finished_at = ActiveValue::Set(Some(now));
    row.customers = ActiveValue::Set(count(findings.customers));
    row.in_sync = ActiveValue::Set(count(in_sync));
    row.drifted = ActiveValue::Set(count(drifted));
    row.missing = ActiveValue::Set(count(missing));
    row.needs_consent = ActiveValue::Set(count(needs_consent));
    row.unlinked = ActiveValue::Set(count(unlinked));
    let finished = row.update(&txn).await?;
    broker_sync::Entity::update_many()
        .col_expr(
            broker_sync::Column::CurrentRunId,
            sea_orm::sea_query::Expr::value(Some(finished.id)),
        )
        .col_expr(
            broker_sync::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(broker_sync::Column::BrokerId.eq(broker_id))
        .exec(&txn)
        .await?;
    release(&txn, broker_id, finished.id).await?;
    txn.commit().await?;
    Ok(finished)
}

/// Records the failure of `run` and gives its lease up.
async fn fail(db: &DatabaseConnection, run: sync_run::Model, error: &ApiError) {
    let (broker_id, run_id) = (run.broker_id, run.id);
    let mut row = run.into_active_model();
    row.status = ActiveValue::Set(SyncRunStatus::Failed);
    row.finished_at = ActiveValue::Set(Some(Utc::now()));
    row.error_code = ActiveValue::Set(Some(error.code().code().to_owned()));
    row.error = ActiveValue::Set(Some(error.message().to_owned()));
    if let Err(error) = row.update(db).await {
        tracing::error!(%error, broker = %broker_id, run = %run_id, "could not record the failed sync");
    }
    if release(db, broker_id, run_id).await.is_err() {
        tracing::error!(broker = %broker_id, run = %run_id, "could not release the sync lease");
    }
}

/// Deletes the broker's runs beyond the [`KEEP_RUNS`] most recent, except the current one, so
/// that a periodic sync does not grow the table without end.
async fn prune(db: &DatabaseConnection, broker_id: Uuid) -> Result<(), ApiError> {
    let current = broker_sync::Entity::find_by_id(broker_id)
        .one(db)
        .await?
        .and_then(|row| row.current_run_id);
    let old: Vec<Uuid> = sync_run::Entity::find()
        .select_only()
        .column(sync_run::Column::Id)
        .filter(sync_run::Column::BrokerId.eq(broker_id))
        .order_by_desc(sync_run::Column::StartedAt)
        .order_by_desc(sync_run::Column::Id)
        .offset(KEEP_RUNS)
        .into_tuple()
        .all(db)
        .await?;
    let old: Vec<Uuid> = old.into_iter().filter(|id| Some(*id) != current).collect();
    for chunk in old.chunks(CHUNK) {
        sync_run::Entity::delete_many()
            .filter(sync_run::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Synchronizes one broker with its Partner Center customers; `started_by` is recorded on
/// the run. Answers the finished run, or the error the run failed with (recorded on the run,
/// which stays readable as the broker's last).
pub async fn run(
    services: &Services,
    broker_id: Uuid,
    started_by: &str,
    observer: Observer<'_>,
) -> Result<sync_run::Model, ApiError> {
    let run_id = Uuid::now_v7();
    acquire(&services.db, broker_id, run_id).await?;
    let started = sync_run::Model {
        id: run_id,
        broker_id,
        status: SyncRunStatus::Running,
        started_by: started_by.to_owned(),
        started_at: Utc::now(),
        finished_at: None,
        customers: 0,
        in_sync: 0,
        drifted: 0,
        missing: 0,
        needs_consent: 0,
        unlinked: 0,
        error_code: None,
        error: None,
    };
    let started = match started.into_active_model().insert(&services.db).await {
        Ok(started) => started,
        Err(error) => {
            release(&services.db, broker_id, run_id).await.ok();
            return Err(error.into());
        }
    };
    tracing::info!(broker = %broker_id, run = %run_id, "sync started");
    let outcome = match examine(services, broker_id, run_id, observer).await {
        Ok(findings) => finish(&services.db, started.clone(), findings).await,
        Err(error) => Err(error),
    };
    if prune(&services.db, broker_id).await.is_err() {
        tracing::warn!(broker = %broker_id, "could not delete old sync runs");
    }
    match outcome {
        Ok(finished) => {
            tracing::info!(
                broker = %broker_id,
                run = %run_id,
                customers = finished.customers,
                drifted = finished.drifted,
                missing = finished.missing,
                needs_consent = finished.needs_consent,
                unlinked = finished.unlinked,
                "sync finished"
            );
            Ok(finished)
        }
        Err(error) => {
            tracing::warn!(broker = %broker_id, run = %run_id, code = %error.code(), "sync failed");
            fail(&services.db, started, &error).await;
            Err(error)
        }
    }
}

/// `syncPartnerCenter`: the broker's admins and the platform run a sync now.
pub async fn run_now(
    services: &Services,
    principal: &Principal,
    broker_id: Uuid,
) -> Result<(broker::Model, sync_run::Model), ApiError> {
    let broker = visible::<broker::Entity>(&services.db, principal, broker_id, "broker").await?;
    policy::broker_data(principal, broker.id)?;
    let run = run(services, broker.id, &principal.subject, &unobserved).await?;
    Ok((broker, run))
}

/// Whether the principal may read the broker's synchronization (its runs and the customers no
/// organization holds): the platform and the broker's own roles.
pub fn may_read_broker(principal: &Principal, broker_id: Uuid) -> bool {
    principal.role == crate::auth::Role::PlatformAdmin
        || (principal.role.is_broker_role() && principal.broker_id == Some(broker_id))
}

/// The broker's most recent run, whatever its outcome.
pub async fn last_run(
    db: &impl ConnectionTrait,
    broker_id: Uuid,
) -> Result<Option<sync_run::Model>, ApiError> {
    Ok(sync_run::Entity::find()
        .filter(sync_run::Column::BrokerId.eq(broker_id))
        .order_by_desc(sync_run::Column::StartedAt)
        .order_by_desc(sync_run::Column::Id)
        .one(db)
        .await?)
}

/// The broker's current result: the last run that succeeded.
pub async fn current_run(
    db: &impl ConnectionTrait,
    broker_id: Uuid,
) -> Result<Option<sync_run::Model>, ApiError> {
    let Some(current) = broker_sync::Entity::find_by_id(broker_id)
        .one(db)
        .await?
        .and_then(|row| row.current_run_id)
    else {
        return Ok(None);
    };
    Ok(sync_run::Entity::find_by_id(current).one(db).await?)
}

/// The differences a result row holds.
pub fn differences(row: &sync_tenant_result::Model) -> Vec<Difference> {
    serde_json::from_value(row.differences.clone()).unwrap_or_default()
}
