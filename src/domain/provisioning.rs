//! The E-Store flow (design.md §2.1): an organization adds a Microsoft service; without a
//! tenant, Partner Center creates the customer first. Idempotent per (organization, key):
//!
//! 1. The key is claimed by inserting a `PENDING` provisioning request (a unique constraint
//!    makes concurrent claims of one key collide, so only one caller proceeds). While its
//!    holder works, a heartbeat renews the claim's lease; another call with the key answers
//!    `PROVISIONING_IN_PROGRESS` at once with a retry hint, and a claim whose holder died (no
//!    heartbeat for a lease) is taken over.
//! 2. Creating the organization's tenant takes a second claim, one per organization
//!    (`tenant_claims`), so purchases with different keys never create two customers: the
//!    second waits a moment and reuses the first's tenant. The claim keeps the `MS-RequestId`,
//!    which Partner Center uses to make a retried create idempotent, across take-overs.
//! 3. The claimant calls Partner Center outside any transaction, then one transaction writes
//!    the tenant, the subscription, their audit events and the request's `SUCCEEDED` outcome,
//!    provided this caller still holds the key. A failure marks the request `FAILED`: nothing
//!    else was written, and the same key may be retried. A customer Partner Center created that
//!    cannot be linked is recorded in `unlinked_customers` and in the audit trail.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::enums::{
    ProvisioningState, SubscriptionStatus, TenantLinkMethod, TenantManagement, Vendor,
};
use entity::{
    organization, provisioning_request, service, subscription, tenant, tenant_claim,
    unlinked_customer,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, ModelTrait,
    QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Event};
use super::tenancy::{self, Change, partner_center_error, tenant_uniques};
use super::{Services, Unique, on_unique, policy, validate, visible};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::partner_center::{CallIds, Customer, NewCustomer, PartnerCenterError};

/// How long a claim (of an idempotency key, or of an organization's tenant creation) is
/// honoured without a heartbeat. A dead holder's claim is taken over this long after its last
/// heartbeat, not after the longest Partner Center call could take.
const LEASE: Duration = Duration::from_secs(10);
/// How often a holder renews its claims while it works: several times per lease, so that one
/// slow round trip to the database does not lose a live claim.
const HEARTBEAT: Duration = Duration::from_secs(3);
/// How long a purchase waits for another purchase of the organization that is creating its
/// tenant, before answering `PROVISIONING_IN_PROGRESS`: well within a request's time-out.
const WAIT_FOR_TENANT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);

fn lease() -> chrono::Duration {
    chrono::Duration::from_std(LEASE).unwrap_or_default()
}

/// When a claim last renewed at `heartbeat` stops being honoured.
pub(super) fn lease_end(heartbeat: DateTime<Utc>) -> DateTime<Utc> {
    heartbeat + lease()
}

/// `PROVISIONING_IN_PROGRESS`, with the seconds until the blocking claim's lease ends (at
/// least one): by then its holder has finished, or its claim can be taken over.
pub(super) fn in_progress(what: &str, lease_ends: DateTime<Utc>) -> ApiError {
    let left = u64::try_from((lease_ends - Utc::now()).num_milliseconds()).unwrap_or(0);
    ApiError::Retryable {
        code: ErrorCode::ProvisioningInProgress,
        message: format!("{what} is in progress; retry shortly"),
        retry_after_seconds: left.div_ceil(1000).clamp(1, LEASE.as_secs()),
    }
}

/// The organization's tenant-creation claim, when its holder is alive.
pub(super) async fn live_tenant_claim(
    db: &impl ConnectionTrait,
    organization: Uuid,
) -> Result<Option<tenant_claim::Model>, ApiError> {
    Ok(tenant_claim::Entity::find_by_id(organization)
        .one(db)
        .await?
        .filter(|claim| lease_end(claim.heartbeat_at) > Utc::now()))
}

pub struct AddMicrosoftService {
    pub organization_id: Uuid,
    pub service_id: Uuid,
    pub quantity: i32,
    /// Needed when the organization has no tenant yet.
    pub domain_prefix: Option<String>,
    pub idempotency_key: String,
}

/// What the call did (or, replayed, what the first call with this key did).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub organization: organization::Model,
    pub tenant: tenant::Model,
    pub subscription: subscription::Model,
    /// Partner Center created the tenant in this call.
    pub tenant_created: bool,
    /// This answer repeats an earlier call's outcome.
    pub replayed: bool,
}

fn key_reused() -> ApiError {
    ApiError::Conflict("this idempotency key was used with different input".into())
}

pub async fn add_microsoft_service(
    services: &Services,
    principal: &Principal,
    input: AddMicrosoftService,
) -> Result<Outcome, ApiError> {
    let quantity = validate::quantity("quantity", input.quantity)?;
    let key = validate::idempotency_key("idempotencyKey", &input.idempotency_key)?;
    let prefix = input
        .domain_prefix
        .as_deref()
        .map(|prefix| validate::domain_prefix("domainPrefix", prefix))
        .transpose()?;
    let db = &services.db;
    let organization =
        visible::<organization::Entity>(db, principal, input.organization_id, "organization")
            .await?;
    policy::organization_data(principal, organization.broker_id, organization.id)?;
    let service = visible::<service::Entity>(db, principal, input.service_id, "service").await?;
    if service.broker_id != organization.broker_id {
        return Err(ApiError::bad_input(
            "serviceId",
            "the service is not in the organization's broker's catalog",
        ));
    }
    if service.vendor != Vendor::Microsoft {
        return Err(ApiError::bad_input(
            "serviceId",
            "the service is not a Microsoft service",
        ));
    }
    let fingerprint = json!({
        "serviceId": service.id,
        "quantity": quantity,
        "domainPrefix": prefix,
    })
    .to_string();

    let held = match claim(services, organization.id, &key, &fingerprint).await? {
        Claim::Done(request) => return replay(services, organization, &request).await,
        Claim::Busy(lease_ends) => {
            return Err(in_progress("a call with this idempotency key", lease_ends));
        }
        Claim::Mine(held) => held,
    };
    let work = provision(
        services,
        principal,
        &organization,
        &service,
        quantity,
        prefix,
        &held,
    );
    match with_heartbeat(services, &held, work).await {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            fail(services, &held, &error).await;
            Err(error)
        }
    }
}

/// A provisioning request whose lease this call holds.
struct Held {
    request: provisioning_request::Model,
    /// This call's token: only the holder renews the lease and writes the outcome.
    holder: Uuid,
}

enum Claim {
    /// This call owns the request and must carry it out.
    Mine(Held),
    /// An earlier call with this key succeeded.
    Done(provisioning_request::Model),
    /// A live call holds the key until at least this instant.
    Busy(DateTime<Utc>),
}

async fn find(
    db: &impl ConnectionTrait,
    organization: Uuid,
    key: &str,
) -> Result<Option<provisioning_request::Model>, ApiError> {
    Ok(provisioning_request::Entity::find()
        .filter(provisioning_request::Column::OrganizationId.eq(organization))
        .filter(provisioning_request::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// Claims `key`, or finds who has it: replays a success, reports a live claim, takes over a
/// failed or dead one. Never waits: a retry hint is better than a request that times out.
async fn claim(
    services: &Services,
    organization: Uuid,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, ApiError> {
    let db = &services.db;
    let holder = Uuid::now_v7();
    loop {
        let now = Utc::now();
        let Some(existing) = find(db, organization, key).await? else {
            let fresh = provisioning_request::Model {
                id: Uuid::now_v7(),
                organization_id: organization,
                idempotency_key: key.to_string(),
                request_hash: fingerprint.to_string(),
                state: ProvisioningState::Pending,
                microsoft_tenant_id: None,
                tenant_id: None,
                subscription_id: None,
                error_code: None,
                holder: Some(holder),
                created_at: now,
                updated_at: now,
            };
            let unique = Unique {
                constraint: "provisioning_requests_organization_id_idempotency_key_key",
                columns: "provisioning_requests.organization_id",
            };
            match fresh.into_active_model().insert(db).await {
                Ok(request) => return Ok(Claim::Mine(Held { request, holder })),
                // Another call claimed it first: look again.
                Err(error) => {
                    match on_unique(error, &[(unique, ApiError::Conflict(String::new()))]) {
                        ApiError::Conflict(_) => continue,
                        other => return Err(other),
                    }
                }
            }
        };
        if existing.request_hash != fingerprint {
            return Err(key_reused());
        }
        match existing.state {
            ProvisioningState::Succeeded => return Ok(Claim::Done(existing)),
            ProvisioningState::Pending if lease_end(existing.updated_at) > now => {
                return Ok(Claim::Busy(lease_end(existing.updated_at)));
            }
            // Failed, or abandoned by a holder that went away: take it over, unless another
            // caller does so first (the update then matches no row, and the loop sees its
            // live claim).
            ProvisioningState::Pending | ProvisioningState::Failed => {
                let column = provisioning_request::Column::Holder;
                let previous = match existing.holder {
                    Some(previous) => column.eq(previous),
                    None => column.is_null(),
                };
                let taken = provisioning_request::Entity::update_many()
                    .col_expr(
                        provisioning_request::Column::State,
                        Expr::value(ProvisioningState::Pending),
                    )
                    .col_expr(provisioning_request::Column::Holder, Expr::value(holder))
                    .col_expr(provisioning_request::Column::UpdatedAt, Expr::value(now))
                    .col_expr(
                        provisioning_request::Column::ErrorCode,
                        Expr::value(Option::<String>::None),
                    )
                    .filter(provisioning_request::Column::Id.eq(existing.id))
                    .filter(provisioning_request::Column::State.eq(existing.state))
                    .filter(previous)
                    .exec(db)
                    .await?;
                if taken.rows_affected == 1 {
                    let mut request = existing;
                    request.state = ProvisioningState::Pending;
                    request.holder = Some(holder);
                    request.updated_at = now;
                    return Ok(Claim::Mine(Held { request, holder }));
                }
            }
        }
    }
}

/// Runs `work`, renewing the holder's claims every [`HEARTBEAT`] until it ends. The heartbeat
/// lives in this future: if the request is dropped or the process dies, it stops, and the
/// claims are taken over one lease later.
async fn with_heartbeat<T>(
    services: &Services,
    held: &Held,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return result,
            _ = beat.tick() => renew(services, held).await,
        }
    }
}

/// One heartbeat: the key's lease and, when it holds one, the organization's tenant claim.
/// Best effort: a missed beat only shortens the lease.
async fn renew(services: &Services, held: &Held) {
    let now = Utc::now();
    let request = provisioning_request::Entity::update_many()
        .col_expr(provisioning_request::Column::UpdatedAt, Expr::value(now))
        .filter(provisioning_request::Column::Id.eq(held.request.id))
        .filter(provisioning_request::Column::Holder.eq(held.holder))
        .filter(provisioning_request::Column::State.eq(ProvisioningState::Pending))
        .exec(&services.db)
        .await;
    let claim = tenant_claim::Entity::update_many()
        .col_expr(tenant_claim::Column::HeartbeatAt, Expr::value(now))
        .filter(tenant_claim::Column::OrganizationId.eq(held.request.organization_id))
        .filter(tenant_claim::Column::Holder.eq(held.holder))
        .exec(&services.db)
        .await;
    for result in [request, claim] {
        if let Err(error) = result {
            tracing::warn!(error = %error, request_id = %held.request.id, "heartbeat not recorded");
        }
    }
}

/// The outcome an earlier call recorded.
async fn replay(
    services: &Services,
    organization: organization::Model,
    request: &provisioning_request::Model,
) -> Result<Outcome, ApiError> {
    let (Some(tenant_id), Some(subscription_id)) = (request.tenant_id, request.subscription_id)
    else {
        return Err(ApiError::internal(
            "provisioning",
            &"a succeeded request without its rows",
        ));
    };
    let tenant = tenant::Entity::find_by_id(tenant_id)
        .one(&services.db)
        .await?;
    let subscription = subscription::Entity::find_by_id(subscription_id)
        .one(&services.db)
        .await?;
    match (tenant, subscription) {
        (Some(tenant), Some(subscription)) => Ok(Outcome {
            organization,
            tenant,
            subscription,
            tenant_created: false,
            replayed: true,
        }),
        _ => Err(ApiError::Conflict(
            "what this idempotency key created has since been removed".into(),
        )),
    }
}

/// Records a failure so the key can be retried at once. Best effort: a request left `PENDING`
/// is taken over once its lease runs out. A holder that lost its lease records nothing.
async fn fail(services: &Services, held: &Held, error: &ApiError) {
    let failed = provisioning_request::Entity::update_many()
        .col_expr(
            provisioning_request::Column::State,
            Expr::value(ProvisioningState::Failed),
        )
        .col_expr(
            provisioning_request::Column::ErrorCode,
            Expr::value(error.code().to_string()),
        )
        .col_expr(
            provisioning_request::Column::UpdatedAt,
            Expr::value(Utc::now()),
        )
        .filter(provisioning_request::Column::Id.eq(held.request.id))
        .filter(provisioning_request::Column::Holder.eq(held.holder))
        .filter(provisioning_request::Column::State.eq(ProvisioningState::Pending))
        .exec(&services.db)
        .await;
    if let Err(error) = failed {
        tracing::warn!(error = %error, "provisioning failure not recorded");
    }
}

async fn provision(
    services: &Services,
    principal: &Principal,
    organization: &organization::Model,
    service: &service::Model,
    quantity: i32,
    prefix: Option<String>,
    held: &Held,
) -> Result<Outcome, ApiError> {
    let existing = existing_tenant(&services.db, organization).await?;
    let created = match existing {
        Some(_) => None,
        None => {
            let Some(prefix) = prefix else {
                return Err(ApiError::bad_input(
                    "domainPrefix",
                    "the organization has no tenant yet: a domain prefix is needed to create one",
                ));
            };
            match claim_tenant(services, organization.id, held).await? {
                TenantClaim::Appeared => None,
                TenantClaim::Mine { request_id } => {
                    Some(create_customer(services, organization, prefix, held, request_id).await?)
                }
            }
        }
    };
    let result = record(
        services,
        principal,
        organization,
        service,
        quantity,
        held,
        created.as_ref(),
    )
    .await;
    if let (Err(error), Some(created)) = (&result, &created)
        && matches!(
            error.code(),
            ErrorCode::TenantAlreadyLinked | ErrorCode::TenantIdInUse
        )
    {
        record_unlinked(services, principal, organization, held, created, error).await;
    }
    result
}

/// A customer Partner Center created (or replayed) for this call.
struct Created {
    customer: Customer,
    request_id: Uuid,
}

enum TenantClaim {
    /// This call may ask Partner Center, with this `MS-RequestId`.
    Mine { request_id: Uuid },
    /// Another purchase linked a tenant meanwhile: use it.
    Appeared,
}

/// Claims the creation of the organization's tenant, waiting a moment for a live holder to
/// finish. A dead holder's claim is taken over with its `MS-RequestId`, so a customer it got
/// from Partner Center before it died comes back instead of a second one.
async fn claim_tenant(
    services: &Services,
    organization: Uuid,
    held: &Held,
) -> Result<TenantClaim, ApiError> {
    let give_up = tokio::time::Instant::now() + WAIT_FOR_TENANT;
    loop {
        // Under the organization's lock, which linking by hand takes too: a claim and a link
        // never both start.
        let txn = super::write(&services.db).await?;
        let locked = tenancy::lock_organization(&txn, organization).await?;
        if existing_tenant(&txn, &locked).await?.is_some() {
            txn.commit().await?;
            return Ok(TenantClaim::Appeared);
        }
        let now = Utc::now();
        let claim = tenant_claim::Entity::find_by_id(organization)
            .one(&txn)
            .await?;
        match claim {
            None => {
                tenant_claim::Model {
                    organization_id: organization,
                    partner_center_request_id: held.request.id,
                    holder: held.holder,
                    heartbeat_at: now,
                    microsoft_tenant_id: None,
                    created_at: now,
                }
                .into_active_model()
                .insert(&txn)
                .await?;
                txn.commit().await?;
                return Ok(TenantClaim::Mine {
                    request_id: held.request.id,
                });
            }
            Some(claim) if claim.holder == held.holder || lease_end(claim.heartbeat_at) <= now => {
                tenant_claim::Entity::update_many()
                    .col_expr(tenant_claim::Column::Holder, Expr::value(held.holder))
                    .col_expr(tenant_claim::Column::HeartbeatAt, Expr::value(now))
                    .filter(tenant_claim::Column::OrganizationId.eq(organization))
                    .exec(&txn)
                    .await?;
                txn.commit().await?;
                return Ok(TenantClaim::Mine {
                    request_id: claim.partner_center_request_id,
                });
            }
            Some(claim) => {
                txn.rollback().await?;
                if tokio::time::Instant::now() >= give_up {
                    return Err(in_progress(
                        "another purchase creating this organization's tenant",
                        lease_end(claim.heartbeat_at),
                    ));
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Asks Partner Center for the customer. Settles the tenant claim on the way out: a customer
/// it created is noted on the claim at once (a holder that dies before linking it leaves it
/// findable, and its successor gets it back); a refusal frees the claim; an outcome it cannot
/// know (time-out, unavailable) expires the claim but keeps its `MS-RequestId` for the next try.
async fn create_customer(
    services: &Services,
    organization: &organization::Model,
    prefix: String,
    held: &Held,
    request_id: Uuid,
) -> Result<Created, ApiError> {
    let customer = NewCustomer {
        company_name: organization.name.clone(),
        email: organization.contact_email.clone(),
        country: organization.country.clone(),
        domain_prefix: prefix,
        culture: "en-US".into(),
        language: "en".into(),
    };
    let ids = CallIds {
        request_id,
        correlation_id: crate::http::request_id::correlation_id(),
    };
    let call = async {
        let partner_center = services.partner_center(organization.broker_id).await?;
        partner_center.create_customer(&customer, ids).await
    };
    let answer = match tokio::time::timeout(services.partner_center_deadline, call).await {
        Ok(answer) => answer,
        Err(_) => {
            tracing::warn!(request_id = %request_id, "Partner Center call timed out");
            Err(PartnerCenterError::Unavailable)
        }
    };
    let mine = tenant_claim::Column::Holder.eq(held.holder);
    let claim = tenant_claim::Column::OrganizationId.eq(organization.id);
    let settled = match &answer {
        Ok(customer) => tenant_claim::Entity::update_many()
            .col_expr(
                tenant_claim::Column::MicrosoftTenantId,
                Expr::value(customer.tenant_id),
            )
            .filter(claim)
            .filter(mine)
            .exec(&services.db)
            .await
            .map(drop),
        Err(PartnerCenterError::Unavailable) => tenant_claim::Entity::update_many()
            .col_expr(
                tenant_claim::Column::HeartbeatAt,
                Expr::value(DateTime::<Utc>::UNIX_EPOCH),
            )
            .filter(claim)
            .filter(mine)
            .exec(&services.db)
            .await
            .map(drop),
        Err(_) => tenant_claim::Entity::delete_many()
            .filter(claim)
            .filter(mine)
            .exec(&services.db)
            .await
            .map(drop),
    };
    if let Err(error) = settled {
        tracing::warn!(error = %error, request_id = %request_id, "tenant claim not updated");
    }
    match answer {
        Ok(customer) => Ok(Created {
            customer,
            request_id,
        }),
        Err(error) => Err(partner_center_error(error)),
    }
}

/// The one transaction that writes the outcome: the tenant (when Partner Center created one),
/// the subscription, their audit events and the request's `SUCCEEDED` state.
async fn record(
    services: &Services,
    principal: &Principal,
    organization: &organization::Model,
    service: &service::Model,
    quantity: i32,
    held: &Held,
    created: Option<&Created>,
) -> Result<Outcome, ApiError> {
    let request = &held.request;
    let txn = super::write(&services.db).await?;
    let locked = tenancy::lock_organization(&txn, organization.id).await?;
    let now = Utc::now();
    let current = existing_tenant(&txn, &locked).await?;
    let (tenant, tenant_created) = match (created, current) {
        (None, Some(tenant)) => (tenant, false),
        // Whoever took over this call's tenant claim got the same customer, and linked it.
        (Some(created), Some(tenant))
            if tenant.microsoft_tenant_id == created.customer.tenant_id =>
        {
            (tenant, false)
        }
        // A tenant appeared while Partner Center worked: the organization is taken.
        (Some(_), Some(_)) => return Err(tenancy::already_linked()),
        (Some(created), None) => {
            let inserted = tenant::Model {
                id: Uuid::now_v7(),
                organization_id: organization.id,
                microsoft_tenant_id: created.customer.tenant_id,
                primary_domain: created.customer.domain.to_ascii_lowercase(),
                link_method: TenantLinkMethod::EStore,
                management: TenantManagement::PartnerManaged,
                linked_at: now,
                linked_by: principal.subject.clone(),
                created_at: now,
                updated_at: now,
            }
            .into_active_model()
            .insert(&txn)
            .await
            .map_err(|error| on_unique(error, &tenant_uniques()))?;
            audit::record(
                &txn,
                principal,
                Event::new("tenant.linked", "Tenant", inserted.id)
                    .scope(Some(organization.broker_id), Some(organization.id))
                    .after(&inserted)
                    .extra(json!({ "partnerCenterRequestId": created.request_id, "idempotencyKey": request.idempotency_key })),
            )
            .await?;
            (inserted, true)
        }
        (None, None) => {
            return Err(ApiError::Conflict(
                "the organization's tenant was unlinked meanwhile; retry".into(),
            ));
        }
    };
    // The tenant exists: the claim to create it has served, whoever held it.
    tenant_claim::Entity::delete_many()
        .filter(tenant_claim::Column::OrganizationId.eq(organization.id))
        .exec(&txn)
        .await?;
    let subscription = subscription::Model {
        id: Uuid::now_v7(),
        organization_id: organization.id,
        service_id: service.id,
        quantity,
        status: SubscriptionStatus::Active,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&txn)
    .await?;
    tenancy::enforce_tenant_rule(&txn, Change::Subscriptions(&locked)).await?;
    audit::record(
        &txn,
        principal,
        Event::new(
            "subscription.created",
            "ServiceSubscription",
            subscription.id,
        )
        .scope(Some(organization.broker_id), Some(organization.id))
        .after(&subscription)
        .extra(json!({ "via": "E_STORE", "idempotencyKey": request.idempotency_key })),
    )
    .await?;
    // Only the key's holder writes its outcome: a caller whose lease was taken over rolls
    // back, and the caller that took it over finishes (with the same customer).
    let done = provisioning_request::Entity::update_many()
        .col_expr(
            provisioning_request::Column::State,
            Expr::value(ProvisioningState::Succeeded),
        )
        .col_expr(
            provisioning_request::Column::MicrosoftTenantId,
            Expr::value(tenant.microsoft_tenant_id),
        )
        .col_expr(
            provisioning_request::Column::TenantId,
            Expr::value(tenant.id),
        )
        .col_expr(
            provisioning_request::Column::SubscriptionId,
            Expr::value(subscription.id),
        )
        .col_expr(provisioning_request::Column::UpdatedAt, Expr::value(now))
        .filter(provisioning_request::Column::Id.eq(request.id))
        .filter(provisioning_request::Column::Holder.eq(held.holder))
        .filter(provisioning_request::Column::State.eq(ProvisioningState::Pending))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        txn.rollback().await?;
        return Err(in_progress(
            "a call with this idempotency key",
            now + lease(),
        ));
    }
    txn.commit().await?;
    Ok(Outcome {
        organization: organization.clone(),
        tenant,
        subscription,
        tenant_created,
        replayed: false,
    })
}

/// Records a customer Partner Center created that could not be linked, so that an admin can
/// find it (the audit trail) and link or remove it. Best effort beyond the log line.
async fn record_unlinked(
    services: &Services,
    principal: &Principal,
    organization: &organization::Model,
    held: &Held,
    created: &Created,
    error: &ApiError,
) {
    tracing::warn!(
        microsoft_tenant_id = %created.customer.tenant_id,
        organization_id = %organization.id,
        reason = error.code().code(),
        "Partner Center customer created but not linked"
    );
    let recorded = async {
        let txn = super::write(&services.db).await?;
        let row = unlinked_customer::Model {
            id: Uuid::now_v7(),
            broker_id: organization.broker_id,
            organization_id: organization.id,
            microsoft_tenant_id: created.customer.tenant_id,
            primary_domain: created.customer.domain.to_ascii_lowercase(),
            partner_center_request_id: created.request_id,
            reason: error.code().to_string(),
            created_at: Utc::now(),
        }
        .into_active_model()
        .insert(&txn)
        .await?;
        tenant_claim::Entity::delete_many()
            .filter(tenant_claim::Column::OrganizationId.eq(organization.id))
            .filter(tenant_claim::Column::Holder.eq(held.holder))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            principal,
            Event::new(
                "partner_center.customer_unlinked",
                "PartnerCenterCustomer",
                row.id,
            )
            .scope(Some(organization.broker_id), Some(organization.id))
            .after(&row),
        )
        .await?;
        txn.commit().await?;
        Ok::<_, ApiError>(())
    };
    if recorded.await.is_err() {
        tracing::error!(
            microsoft_tenant_id = %created.customer.tenant_id,
            "unlinked Partner Center customer not recorded"
        );
    }
}

async fn existing_tenant(
    db: &impl sea_orm::ConnectionTrait,
    organization: &organization::Model,
) -> Result<Option<tenant::Model>, ApiError> {
    Ok(organization.find_related(tenant::Entity).one(db).await?)
}
