//! Keeping organizations and Partner Center in step: each tenant's sync state, each broker's
//! last run and the Partner Center customers no organization holds, and the mutations that
//! run a sync and act on its findings. The rules live in `crate::domain::sync`.
//!
//! Scope: a tenant's sync state is readable wherever the tenant is (an organization's roles see
//! their own); a broker's runs and unlinked customers only by the platform and the broker's own
//! roles (they are about other customers).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{enums, sync_customer, sync_run, sync_tenant_result};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use super::broker::Broker;
use super::mutation::caller;
use super::organization::Organization;
use super::tenant::Tenant;
use crate::domain::sync::{self, compare, fix};
use crate::error::{ApiError, ApiResult};
use crate::graphql::exec::fetch;
use crate::graphql::exec::loaders::DbLoader;
use crate::graphql::relay::connection::Conn;
use crate::graphql::relay::cursor::{Keyed, Order, SortKey};
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::relay::pagination::PageArgs;
use crate::graphql::request;
use entity::organization;

/// How a linked tenant compares with its Partner Center customer.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSyncState {
    /// Name and domain are as Partner Center has them.
    InSync,
    /// The organization's name or the tenant's domain differs from Partner Center's.
    Drifted,
    /// The partner has no such customer any more.
    Missing,
    /// No synchronization has checked the tenant yet.
    NotChecked,
}

impl From<enums::TenantSyncState> for TenantSyncState {
    fn from(state: enums::TenantSyncState) -> Self {
        match state {
            enums::TenantSyncState::InSync => Self::InSync,
            enums::TenantSyncState::Drifted => Self::Drifted,
            enums::TenantSyncState::Missing => Self::Missing,
        }
    }
}

/// A field in which an organization and its Partner Center customer can differ.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncField {
    /// The organization's name, against the customer's company name.
    CompanyName,
    /// The tenant's primary domain, against the customer's domain.
    PrimaryDomain,
}

impl From<compare::SyncField> for SyncField {
    fn from(field: compare::SyncField) -> Self {
        match field {
            compare::SyncField::CompanyName => Self::CompanyName,
            compare::SyncField::PrimaryDomain => Self::PrimaryDomain,
        }
    }
}

impl From<SyncField> for compare::SyncField {
    fn from(field: SyncField) -> Self {
        match field {
            SyncField::CompanyName => Self::CompanyName,
            SyncField::PrimaryDomain => Self::PrimaryDomain,
        }
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRunStatus {
    Running,
    Succeeded,
    Failed,
}

impl From<enums::SyncRunStatus> for SyncRunStatus {
    fn from(status: enums::SyncRunStatus) -> Self {
        match status {
            enums::SyncRunStatus::Running => Self::Running,
            enums::SyncRunStatus::Succeeded => Self::Succeeded,
            enums::SyncRunStatus::Failed => Self::Failed,
        }
    }
}

/// One field that differs: ours and Partner Center's.
#[derive(SimpleObject)]
pub struct SyncDifference {
    pub field: SyncField,
    pub ours: String,
    pub theirs: String,
}

/// A tenant as the broker's last complete synchronization found it.
#[derive(SimpleObject)]
pub struct TenantSync {
    pub state: TenantSyncState,
    /// When a synchronization last checked it; null when none has.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Empty unless `DRIFTED`.
    pub differences: Vec<SyncDifference>,
    /// A partner-managed tenant whose admin relationship (GDAP) is gone: the customer must
    /// create a customer-consent service account (`registerServiceAccount`).
    pub needs_customer_consent_service_account: bool,
}

impl TenantSync {
    fn of(result: Option<sync_tenant_result::Model>) -> Self {
        let Some(result) = result else {
            return Self {
                state: TenantSyncState::NotChecked,
                last_checked_at: None,
                differences: Vec::new(),
                needs_customer_consent_service_account: false,
            };
        };
        Self {
            state: result.state.into(),
            last_checked_at: Some(result.checked_at),
            differences: sync::differences(&result)
                .into_iter()
                .map(|d| SyncDifference {
                    field: d.field.into(),
                    ours: d.ours,
                    theirs: d.theirs,
                })
                .collect(),
            needs_customer_consent_service_account: result.needs_consent,
        }
    }
}

/// Key: the current sync result of a tenant.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncOfTenant(pub Uuid);

impl Loader<SyncOfTenant> for DbLoader {
    type Value = sync_tenant_result::Model;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[SyncOfTenant],
    ) -> Result<HashMap<SyncOfTenant, sync_tenant_result::Model>, ApiError> {
        let rows = self
            .scope
            .find::<sync_tenant_result::Entity>()
            .filter(sync_tenant_result::Column::TenantId.is_in(keys.iter().map(|key| key.0)))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (SyncOfTenant(row.tenant_id), row))
            .collect())
    }
}

/// `Tenant.sync`.
pub async fn of_tenant(ctx: &Context<'_>, tenant_id: Uuid) -> ApiResult<TenantSync> {
    let result = request(ctx)?.load(SyncOfTenant(tenant_id)).await?;
    Ok(TenantSync::of(result))
}

/// One synchronization of a broker with Partner Center.
pub struct SyncRun(pub sync_run::Model);

#[Object]
impl SyncRun {
    async fn uuid(&self) -> Uuid {
        self.0.id
    }
    async fn status(&self) -> SyncRunStatus {
        self.0.status.into()
    }
    /// The JWT subject that ran it, `cli` (`brokergraph sync`), `scheduler` (`--sync-interval`)
    /// or `demo` (the first start of the embedded demo).
    async fn started_by(&self) -> &str {
        &self.0.started_by
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// Partner Center customers read.
    async fn customers(&self) -> i32 {
        self.0.customers
    }
    async fn in_sync(&self) -> i32 {
        self.0.in_sync
    }
    async fn drifted(&self) -> i32 {
        self.0.drifted
    }
    async fn missing(&self) -> i32 {
        self.0.missing
    }
    /// Tenants whose admin relationship is gone.
    async fn needs_customer_consent(&self) -> i32 {
        self.0.needs_consent
    }
    /// Customers no organization holds.
    async fn unlinked(&self) -> i32 {
        self.0.unlinked
    }
    /// The `extensions.code` it failed with.
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    /// Why it failed; the previous complete result stays current.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

impl Keyed for sync_customer::Model {
    fn id(&self) -> Uuid {
        self.id
    }
    fn sort_value(&self, _: SortKey) -> Option<String> {
        None
    }
}

/// A Partner Center customer of the broker that no organization holds.
pub struct UnlinkedPartnerCenterCustomer(pub sync_customer::Model);

#[Object]
impl UnlinkedPartnerCenterCustomer {
    async fn microsoft_tenant_id(&self) -> Uuid {
        self.0.microsoft_tenant_id
    }
    async fn company_name(&self) -> &str {
        &self.0.company_name
    }
    async fn primary_domain(&self) -> &str {
        &self.0.primary_domain
    }
    /// The broker's organizations without a tenant with the same normalised name or domain;
    /// `linkPartnerCenterCustomer` links one in one step.
    async fn suggested_organizations(&self, ctx: &Context<'_>) -> ApiResult<Vec<Organization>> {
        let ids: Vec<Uuid> =
            serde_json::from_value(self.0.suggested_organization_ids.clone()).unwrap_or_default();
        let found = futures_util::future::try_join_all(
            ids.into_iter()
                .map(|id| fetch::by_id::<organization::Entity>(ctx, id)),
        )
        .await?;
        Ok(found.into_iter().flatten().map(Organization).collect())
    }
}

/// Whether the caller may read the broker's synchronization.
fn may_read(ctx: &Context<'_>, broker_id: Uuid) -> ApiResult<bool> {
    Ok(request(ctx)?
        .principal
        .as_ref()
        .is_some_and(|principal| sync::may_read_broker(principal, broker_id)))
}

/// `Broker.lastSyncRun`.
pub async fn last_run(ctx: &Context<'_>, broker_id: Uuid) -> ApiResult<Option<SyncRun>> {
    if !may_read(ctx, broker_id)? {
        return Ok(None);
    }
    Ok(sync::last_run(&request(ctx)?.db, broker_id)
        .await?
        .map(SyncRun))
}

/// `Broker.currentSyncRun`.
pub async fn current_run(ctx: &Context<'_>, broker_id: Uuid) -> ApiResult<Option<SyncRun>> {
    if !may_read(ctx, broker_id)? {
        return Ok(None);
    }
    Ok(sync::current_run(&request(ctx)?.db, broker_id)
        .await?
        .map(SyncRun))
}

/// `Broker.unlinkedPartnerCenterCustomers`.
pub async fn unlinked(
    ctx: &Context<'_>,
    broker_id: Uuid,
    args: PageArgs,
) -> ApiResult<Option<Conn<UnlinkedPartnerCenterCustomer>>> {
    if !may_read(ctx, broker_id)? {
        return Ok(None);
    }
    let select = request(ctx)?
        .scope
        .find::<sync_customer::Entity>()
        .filter(sync_customer::Column::BrokerId.eq(broker_id));
    fetch::list(
        ctx,
        select,
        args,
        Order::asc(SortKey::Id),
        UnlinkedPartnerCenterCustomer,
    )
    .await
    .map(Some)
}

#[derive(InputObject)]
pub struct SyncPartnerCenterInput {
    pub broker_id: ID,
}

#[derive(SimpleObject)]
pub struct SyncPartnerCenterPayload {
    pub broker: Broker,
    /// The finished run (a failure answers its error; `Broker.lastSyncRun` then shows it).
    pub run: SyncRun,
}

#[derive(InputObject)]
pub struct AcceptPartnerCenterValueInput {
    pub tenant_id: ID,
    pub field: SyncField,
}

#[derive(SimpleObject)]
pub struct AcceptPartnerCenterValuePayload {
    pub tenant: Tenant,
    pub organization: Organization,
}

#[derive(InputObject)]
pub struct LinkPartnerCenterCustomerInput {
    pub organization_id: ID,
    /// An unlinked customer of the organization's broker (`Broker.unlinkedPartnerCenterCustomers`).
    pub microsoft_tenant_id: String,
}

#[derive(SimpleObject)]
pub struct LinkPartnerCenterCustomerPayload {
    pub tenant: Tenant,
    /// False when the organization was already linked to this tenant.
    pub changed: bool,
}

#[derive(Default)]
pub struct SyncMutation;

#[Object]
impl SyncMutation {
    /// Synchronizes the broker with its Partner Center customers now and answers the finished
    /// run (the broker's admins and the platform). `SYNC_IN_PROGRESS` while another runs.
    async fn sync_partner_center(
        &self,
        ctx: &Context<'_>,
        input: SyncPartnerCenterInput,
    ) -> ApiResult<SyncPartnerCenterPayload> {
        let (services, principal) = caller(ctx)?;
        let broker_id = ids::required(Kind::Broker, &input.broker_id, "brokerId")?;
        let (broker, run) = sync::run_now(services, principal, broker_id).await?;
        Ok(SyncPartnerCenterPayload {
            broker: Broker(broker),
            run: SyncRun(run),
        })
    }

    /// Takes Partner Center's value of a drifted field (the organization's name, or the
    /// tenant's primary domain), audited.
    async fn accept_partner_center_value(
        &self,
        ctx: &Context<'_>,
        input: AcceptPartnerCenterValueInput,
    ) -> ApiResult<AcceptPartnerCenterValuePayload> {
        let (services, principal) = caller(ctx)?;
        let tenant_id = ids::required(Kind::Tenant, &input.tenant_id, "tenantId")?;
        let (tenant, organization) =
            fix::accept(services, principal, tenant_id, input.field.into()).await?;
        Ok(AcceptPartnerCenterValuePayload {
            tenant: Tenant(tenant),
            organization: Organization(organization),
        })
    }

    /// Links an unlinked Partner Center customer to an organization of its broker, with the
    /// tenant's domain from Partner Center, under `linkTenant`'s rules.
    async fn link_partner_center_customer(
        &self,
        ctx: &Context<'_>,
        input: LinkPartnerCenterCustomerInput,
    ) -> ApiResult<LinkPartnerCenterCustomerPayload> {
        let (services, principal) = caller(ctx)?;
        let organization_id =
            ids::required(Kind::Organization, &input.organization_id, "organizationId")?;
        let (tenant, changed) = fix::link_customer(
            services,
            principal,
            organization_id,
            &input.microsoft_tenant_id,
        )
        .await?;
        Ok(LinkPartnerCenterCustomerPayload {
            tenant: Tenant(tenant),
            changed,
        })
    }
}
