//! The bulk writer: a plan of rows, what the database already holds left out, the rest
//! inserted in chunks.

use std::collections::HashSet;

use entity::enums::{OrganizationRole, TenantLinkMethod, TenantManagement, Vendor};
use entity::{broker, organization, service, subscription, subscription_assignment, tenant, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    Iterable, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::SeedReport;
use super::ids::{SEED_ACTOR, Stamp, microsoft_tenant_guid, row_id};

/// Rows to insert, parents before children, each table in creation order.
#[derive(Default)]
pub(super) struct Plan {
    pub(super) brokers: Vec<broker::Model>,
    pub(super) services: Vec<service::Model>,
    pub(super) organizations: Vec<organization::Model>,
    pub(super) tenants: Vec<tenant::Model>,
    pub(super) users: Vec<user::Model>,
    pub(super) subscriptions: Vec<subscription::Model>,
    pub(super) assignments: Vec<subscription_assignment::Model>,
}

impl Plan {
    /// Plans a user created at `at`; its id.
    pub(super) fn user(
        &mut self,
        at: &Stamp,
        organization_id: Uuid,
        email: String,
        display_name: String,
        role: OrganizationRole,
    ) -> Uuid {
        let id = row_id(at, "users", &email);
        self.users.push(user::Model {
            id,
            organization_id,
            email,
            display_name,
            role,
            created_at: at.at,
            updated_at: at.at,
        });
        id
    }

    /// Plans the tenant of the organization keyed `key`, linked by the seed at `at`.
    pub(super) fn tenant(
        &mut self,
        at: &Stamp,
        organization_id: Uuid,
        key: &str,
        primary_domain: String,
        (link_method, management): (TenantLinkMethod, TenantManagement),
    ) {
        self.tenants.push(tenant::Model {
            id: row_id(at, "tenants", key),
            organization_id,
            microsoft_tenant_id: microsoft_tenant_guid(key),
            primary_domain,
            link_method,
            management,
            linked_at: at.at,
            linked_by: SEED_ACTOR.to_owned(),
            created_at: at.at,
            updated_at: at.at,
        });
    }
}

/// Values per `IN (...)` lookup: few round trips (each may cost a network stall), well below
/// every backend's limit on bound parameters.
pub(super) const LOOKUP_CHUNK: usize = 5_000;
/// Rows per `INSERT` statement, at most.
pub(super) const MAX_ROWS_PER_INSERT: usize = 1_000;
/// Bound parameters per `INSERT` statement, at most (SQLite allows 32,766, PostgreSQL 65,535).
pub(super) const MAX_PARAMS_PER_INSERT: usize = 10_000;

/// Leaves out what the database already holds, then inserts the rest.
pub(super) async fn write_plan<C>(db: &C, mut plan: Plan) -> Result<SeedReport, DbErr>
where
    C: ConnectionTrait,
{
    drop_existing(db, &mut plan).await?;
    Ok(SeedReport {
        brokers: insert_chunked(db, plan.brokers).await?,
        services: insert_chunked(db, plan.services).await?,
        organizations: insert_chunked(db, plan.organizations).await?,
        tenants: insert_chunked(db, plan.tenants).await?,
        users: insert_chunked(db, plan.users).await?,
        subscriptions: insert_chunked(db, plan.subscriptions).await?,
        assignments: insert_chunked(db, plan.assignments).await?,
        sandbox_customers: 0,
    })
}

/// Removes from the plan every row whose natural key already exists, and what hangs on it:
/// a broker (by slug, or by id should its slug have been changed) with its whole subtree; a
/// tenant whose Microsoft tenant ID another organization holds, with its organization's
/// Microsoft subscriptions (no Microsoft subscription without a tenant); a user whose email is
/// taken; and the assignments of removed users and subscriptions.
pub(super) async fn drop_existing<C>(db: &C, plan: &mut Plan) -> Result<(), DbErr>
where
    C: ConnectionTrait,
{
    let mut taken_slugs = HashSet::new();
    let mut taken_broker_ids = HashSet::new();
    for chunk in plan.brokers.chunks(LOOKUP_CHUNK) {
        let found = broker::Entity::find()
            .filter(
                Condition::any()
                    .add(broker::Column::Slug.is_in(chunk.iter().map(|b| b.slug.clone())))
                    .add(broker::Column::Id.is_in(chunk.iter().map(|b| b.id))),
            )
            .all(db)
            .await?;
        for existing in found {
            taken_slugs.insert(existing.slug);
            taken_broker_ids.insert(existing.id);
        }
    }
    let skipped_brokers: HashSet<Uuid> = plan
        .brokers
        .iter()
        .filter(|b| taken_slugs.contains(&b.slug) || taken_broker_ids.contains(&b.id))
        .map(|b| b.id)
        .collect();
    if !skipped_brokers.is_empty() {
        let skipped_organizations: HashSet<Uuid> = plan
            .organizations
            .iter()
            .filter(|o| skipped_brokers.contains(&o.broker_id))
            .map(|o| o.id)
            .collect();
        plan.brokers.retain(|b| !skipped_brokers.contains(&b.id));
        plan.services
            .retain(|s| !skipped_brokers.contains(&s.broker_id));
        plan.organizations
            .retain(|o| !skipped_brokers.contains(&o.broker_id));
        plan.tenants
            .retain(|t| !skipped_organizations.contains(&t.organization_id));
        plan.users
            .retain(|u| !skipped_organizations.contains(&u.organization_id));
        plan.subscriptions
            .retain(|s| !skipped_organizations.contains(&s.organization_id));
    }

    let mut taken_tenant_ids = HashSet::new();
    for chunk in plan.tenants.chunks(LOOKUP_CHUNK) {
        let found = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::MicrosoftTenantId)
            .filter(
                tenant::Column::MicrosoftTenantId
                    .is_in(chunk.iter().map(|t| t.microsoft_tenant_id)),
            )
            .into_tuple::<Uuid>()
            .all(db)
            .await?;
        taken_tenant_ids.extend(found);
    }
    if !taken_tenant_ids.is_empty() {
        let without_tenant: HashSet<Uuid> = plan
            .tenants
            .iter()
            .filter(|t| taken_tenant_ids.contains(&t.microsoft_tenant_id))
            .map(|t| t.organization_id)
            .collect();
        let microsoft_services: HashSet<Uuid> = plan
            .services
            .iter()
            .filter(|s| s.vendor == Vendor::Microsoft)
            .map(|s| s.id)
            .collect();
        plan.tenants
            .retain(|t| !taken_tenant_ids.contains(&t.microsoft_tenant_id));
        plan.subscriptions.retain(|s| {
            !(without_tenant.contains(&s.organization_id)
                && microsoft_services.contains(&s.service_id))
        });
    }

    let mut taken_emails = HashSet::new();
    for chunk in plan.users.chunks(LOOKUP_CHUNK) {
        let found = user::Entity::find()
            .select_only()
            .column(user::Column::Email)
            .filter(user::Column::Email.is_in(chunk.iter().map(|u| u.email.clone())))
            .into_tuple::<String>()
            .all(db)
            .await?;
        taken_emails.extend(found);
    }
    if !taken_emails.is_empty() {
        plan.users.retain(|u| !taken_emails.contains(&u.email));
    }

    let users: HashSet<Uuid> = plan.users.iter().map(|u| u.id).collect();
    let subscriptions: HashSet<Uuid> = plan.subscriptions.iter().map(|s| s.id).collect();
    plan.assignments
        .retain(|a| users.contains(&a.user_id) && subscriptions.contains(&a.subscription_id));
    Ok(())
}

/// Inserts `rows` with multi-row `INSERT`s that stay well below every backend's limit on bound
/// parameters; returns how many rows were inserted.
pub(super) async fn insert_chunked<C, A, M>(db: &C, rows: Vec<M>) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    A: ActiveModelTrait,
    M: IntoActiveModel<A>,
{
    let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
    let per_statement = (MAX_PARAMS_PER_INSERT / columns).clamp(1, MAX_ROWS_PER_INSERT);
    let mut inserted = 0;
    let mut rows = rows.into_iter();
    loop {
        let chunk: Vec<A> = rows
            .by_ref()
            .take(per_statement)
            .map(IntoActiveModel::into_active_model)
            .collect();
        if chunk.is_empty() {
            break;
        }
        inserted += A::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(inserted)
}
