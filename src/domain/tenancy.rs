//! Linking an organization to a Microsoft tenant by hand, and unlinking it (design.md §2.2).

use chrono::Utc;
use entity::enums::{SubscriptionStatus, TenantLinkMethod, TenantManagement, Vendor};
use entity::{organization, service, subscription, tenant};
use sea_orm::sea_query::{LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, JoinType, ModelTrait, PaginatorTrait, QueryFilter, QuerySelect, QueryTrait,
    RelationTrait,
};
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Services, Unique, on_unique, policy, validate, visible};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::partner_center::{CallIds, PartnerCenterError};

pub fn tenant_id_in_use() -> ApiError {
    ApiError::domain(ErrorCode::TenantIdInUse)
}

pub fn already_linked() -> ApiError {
    ApiError::domain(ErrorCode::TenantAlreadyLinked)
}

/// The unique constraints on `tenants`, and what breaking each means.
pub fn tenant_uniques() -> [(Unique, ApiError); 2] {
    [
        (
            Unique {
                constraint: "tenants_microsoft_tenant_id_key",
                columns: "tenants.microsoft_tenant_id",
            },
            tenant_id_in_use(),
        ),
        (
            Unique {
                constraint: "tenants_organization_id_key",
                columns: "tenants.organization_id",
            },
            already_linked(),
        ),
    ]
}

pub fn partner_center_error(error: PartnerCenterError) -> ApiError {
    ApiError::Domain {
        code: error.code(),
        message: error.to_string(),
    }
}

pub struct LinkTenant {
    pub organization_id: Uuid,
    pub microsoft_tenant_id: String,
    /// `None`: the customer's domain as the broker's Partner Center has it.
    pub primary_domain: Option<String>,
}

/// `linkTenant` without `primaryDomain` for a broker whose Partner Center cannot supply it.
fn primary_domain_required() -> ApiError {
    ApiError::bad_input(
        "primaryDomain",
        "primaryDomain is required: this broker has no Partner Center connection to read the \
         customer's domain from (give it, or configure the connection with \
         `configurePartnerCenterConnection`)",
    )
}

/// The organization the caller may link or unlink, with the right to do so checked.
async fn organization_for_linking(
    db: &impl ConnectionTrait,
    principal: &Principal,
    id: Uuid,
) -> Result<organization::Model, ApiError> {
    let organization = visible::<organization::Entity>(db, principal, id, "organization").await?;
    policy::broker_data(principal, organization.broker_id)?;
    Ok(organization)
}

/// The answer to linking `guid` when the organization already holds `existing`: the same
/// tenant is this link, done; another one is a conflict.
fn already_holds(existing: tenant::Model, guid: Uuid) -> Result<(tenant::Model, bool), ApiError> {
    if existing.microsoft_tenant_id == guid {
        Ok((existing, false))
    } else {
        Err(already_linked())
    }
}

/// Links `organization_id` to a tenant that already exists in Partner Center. Linking the same
/// pair again succeeds and changes nothing (`changed` is false).
pub async fn link(
    services: &Services,
    principal: &Principal,
    input: LinkTenant,
) -> Result<(tenant::Model, bool), ApiError> {
    let guid = validate::tenant_guid("microsoftTenantId", &input.microsoft_tenant_id)?;
    let given = input
        .primary_domain
        .as_deref()
        .map(|domain| validate::domain("primaryDomain", domain))
        .transpose()?;
    let organization =
        organization_for_linking(&services.db, principal, input.organization_id).await?;

    if let Some(existing) = organization
        .find_related(tenant::Entity)
        .one(&services.db)
        .await?
    {
        return already_holds(existing, guid);
    }
    let partner_center = match services.partner_center(organization.broker_id).await {
        Ok(partner_center) => partner_center,
        Err(PartnerCenterError::NotConfigured) if given.is_none() => {
            return Err(primary_domain_required());
        }
        Err(error) => return Err(partner_center_error(error)),
    };
    // The customer is read when it must exist, and when its domain is to be taken from it.
    let customer = if partner_center.verifies_customers() || given.is_none() {
        let ids = CallIds {
            request_id: Uuid::now_v7(),
            correlation_id: crate::http::request_id::correlation_id(),
        };
        let lookup = partner_center.get_customer(guid, ids);
        match tokio::time::timeout(services.partner_center_deadline, lookup).await {
            Ok(Ok(customer)) => Some(customer),
            Ok(Err(PartnerCenterError::NotConfigured)) if given.is_none() => {
                return Err(primary_domain_required());
            }
            Ok(Err(error)) => return Err(partner_center_error(error)),
            Err(_) => return Err(partner_center_error(PartnerCenterError::Unavailable)),
        }
    } else {
        None
    };
    let domain = match (given, customer) {
        (Some(domain), _) => domain,
        (None, Some(customer)) => {
            validate::domain("primaryDomain", &customer.domain).map_err(|_| {
                tracing::error!(%guid, "Partner Center's customer domain is no domain name");
                partner_center_error(PartnerCenterError::Unavailable)
            })?
        }
        (None, None) => return Err(primary_domain_required()),
    };

    let txn = super::write(&services.db).await?;
    // Decided again under the organization's lock: a concurrent link of the same pair may have
    // committed since the check above, and must read as done, not as a conflict.
    let organization = lock_organization(&txn, organization.id).await?;
    if let Some(existing) = organization.find_related(tenant::Entity).one(&txn).await? {
        txn.rollback().await.ok();
        return already_holds(existing, guid);
    }
    // A purchase is creating the organization's tenant in Partner Center: linking another one
    // now would leave that customer without an organization.
    if let Some(claim) = super::provisioning::live_tenant_claim(&txn, organization.id).await? {
        txn.rollback().await.ok();
        return Err(super::provisioning::in_progress(
            "a purchase creating this organization's tenant",
            super::provisioning::lease_end(claim.heartbeat_at),
        ));
    }
    let now = Utc::now();
    let row = tenant::Model {
        id: Uuid::now_v7(),
        organization_id: organization.id,
        microsoft_tenant_id: guid,
        primary_domain: domain,
        link_method: TenantLinkMethod::Manual,
        management: TenantManagement::PartnerManaged,
        linked_at: now,
        linked_by: principal.subject.clone(),
        created_at: now,
        updated_at: now,
    };
    let inserted = match row.into_active_model().insert(&txn).await {
        Ok(inserted) => inserted,
        Err(error) => {
            txn.rollback().await.ok();
            // Whichever constraint the database names first, what matters is who holds the
            // organization now: the same tenant is this link, done.
            let mapped = on_unique(error, &tenant_uniques());
            if let Some(winner) = organization
                .find_related(tenant::Entity)
                .one(&services.db)
                .await?
            {
                return already_holds(winner, guid);
            }
            return Err(mapped);
        }
    };
    audit::record(
        &txn,
        principal,
        Event::new("tenant.linked", "Tenant", inserted.id)
            .scope(Some(organization.broker_id), Some(organization.id))
            .after(&inserted),
    )
    .await?;
    txn.commit().await?;
    Ok((inserted, true))
}

/// Unlinks the organization's tenant (and its service account). Refused while Microsoft
/// subscriptions are active. Returns the tenant that was unlinked, if there was one.
pub async fn unlink(
    services: &Services,
    principal: &Principal,
    organization_id: Uuid,
) -> Result<(organization::Model, Option<tenant::Model>), ApiError> {
    let organization = organization_for_linking(&services.db, principal, organization_id).await?;
    let txn = super::write(&services.db).await?;
    let locked = lock_organization(&txn, organization.id).await?;
    let Some(existing) = locked.find_related(tenant::Entity).one(&txn).await? else {
        return Ok((locked.0, None));
    };
    entity::service_account::Entity::delete_many()
        .filter(entity::service_account::Column::TenantId.eq(existing.id))
        .exec(&txn)
        .await?;
    tenant::Entity::delete_by_id(existing.id).exec(&txn).await?;
    enforce_tenant_rule(&txn, Change::Unlink(&locked)).await?;
    audit::record(
        &txn,
        principal,
        Event::new("tenant.unlinked", "Tenant", existing.id)
            .scope(Some(locked.broker_id), Some(locked.id))
            .before(&existing),
    )
    .await?;
    txn.commit().await?;
    Ok((locked.0, Some(existing)))
}

/// An organization row locked until its transaction ends.
///
/// On PostgreSQL this is `SELECT ... FOR NO KEY UPDATE` (rows of other tables may still refer
/// to it); SQLite runs one write transaction at a time anyway. Every write that decides on an
/// organization's tenant, or on whether its subscriptions need one, takes this lock before it
/// reads, so that two such writes never both decide on the state before the other's change.
pub struct LockedOrganization(pub organization::Model);

impl std::ops::Deref for LockedOrganization {
    type Target = organization::Model;

    fn deref(&self) -> &organization::Model {
        &self.0
    }
}

pub async fn lock_organization(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<LockedOrganization, ApiError> {
    organization::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(txn)
        .await?
        .map(LockedOrganization)
        .ok_or_else(|| ApiError::not_found("organization"))
}

/// A change after which the tenant rule is checked.
pub enum Change<'a> {
    /// Subscriptions of the organization were created or changed.
    Subscriptions(&'a LockedOrganization),
    /// The organization's tenant was removed.
    Unlink(&'a LockedOrganization),
    /// A catalog service changed (its vendor may now be Microsoft); the update holds its row.
    Service(Uuid),
}

pub fn tenant_required(message: String) -> ApiError {
    ApiError::Domain {
        code: ErrorCode::TenantRequired,
        message,
    }
}

/// The rule: an active Microsoft subscription needs its organization's tenant.
///
/// Every write that could break it (creating, re-activating or changing a subscription,
/// unlinking a tenant, turning a service into a Microsoft one) calls this inside its
/// transaction, after the change, so it judges the state the write would commit rather than
/// the write's intent. The services involved are read `FOR SHARE` first: a concurrent vendor
/// change then waits for this transaction, or this one for it, instead of both deciding on the
/// vendor the other is about to change.
pub async fn enforce_tenant_rule(
    txn: &DatabaseTransaction,
    change: Change<'_>,
) -> Result<(), ApiError> {
    let active = subscription::Entity::find()
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active));
    let active = match &change {
        Change::Subscriptions(organization) | Change::Unlink(organization) => {
            active.filter(subscription::Column::OrganizationId.eq(organization.id))
        }
        Change::Service(service) => active.filter(subscription::Column::ServiceId.eq(*service)),
    };
    service::Entity::find()
        .filter(
            service::Column::Id.in_subquery(
                active
                    .clone()
                    .select_only()
                    .column(subscription::Column::ServiceId)
                    .into_query(),
            ),
        )
        .lock(LockType::Share)
        .all(txn)
        .await?;
    let broken = active
        .join(JoinType::InnerJoin, subscription::Relation::Service.def())
        .filter(service::Column::Vendor.eq(Vendor::Microsoft))
        .filter(
            subscription::Column::OrganizationId.not_in_subquery(
                Query::select()
                    .column(tenant::Column::OrganizationId)
                    .from(tenant::Entity)
                    .to_owned(),
            ),
        )
        .count(txn)
        .await?;
    if broken == 0 {
        return Ok(());
    }
    Err(match change {
        Change::Unlink(_) => ApiError::Conflict(format!(
            "the organization has {broken} active Microsoft subscription(s); cancel them before unlinking its tenant"
        )),
        Change::Subscriptions(_) => tenant_required(
            "an active Microsoft subscription needs a linked tenant: link one, or use addMicrosoftService".into(),
        ),
        Change::Service(_) => tenant_required(format!(
            "{broken} active subscription(s) of this service belong to organizations without a tenant, which a Microsoft service needs"
        )),
    })
}
