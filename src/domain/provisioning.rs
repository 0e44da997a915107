//! The E-Store flow (design.md §2.1): an organization adds a Microsoft service; without a
//! tenant, Partner Center creates the customer first. Idempotent per (organization, key):
//!
//! 1. The key is claimed by inserting a `PENDING` provisioning request (a unique constraint
//!    makes concurrent claims of one key collide, so only one caller proceeds; the others wait
//!    for its outcome and replay it — across replicas too, since the claim is in the database).
//! 2. The claimant calls Partner Center outside any transaction, with the request's id as
//!    `MS-RequestId`, which Partner Center uses to make a retried create idempotent.
//! 3. One transaction writes the tenant, the subscription, their audit events and the request's
//!    `SUCCEEDED` outcome. A failure marks the request `FAILED`: nothing else was written, and
//!    the same key may be retried.

use std::time::Duration;

use chrono::Utc;
use entity::enums::{
    ProvisioningState, SubscriptionStatus, TenantLinkMethod, TenantManagement, Vendor,
};
use entity::{organization, provisioning_request, service, subscription, tenant};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, EntityTrait, IntoActiveModel, ModelTrait,
    QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Event};
use super::tenancy::{partner_center_error, tenant_uniques};
use super::{Services, Unique, on_unique, policy, validate, visible};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::partner_center::{CallIds, NewCustomer, PartnerCenterError};

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

/// How long another caller's `PENDING` claim is honoured before it is taken over as abandoned.
fn lease(services: &Services) -> chrono::Duration {
    chrono::Duration::from_std(services.partner_center_deadline * 2).unwrap_or_default()
        + chrono::Duration::seconds(30)
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

    let request = claim(services, organization.id, &key, &fingerprint).await?;
    let request = match request {
        Claim::Done(request) => return replay(services, organization, &request).await,
        Claim::Mine(request) => request,
    };
    match provision(
        services,
        principal,
        &organization,
        &service,
        quantity,
        prefix,
        &request,
    )
    .await
    {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            fail(services, &request, &error).await;
            Err(error)
        }
    }
}

enum Claim {
    /// This call owns the request and must carry it out.
    Mine(provisioning_request::Model),
    /// An earlier call with this key succeeded.
    Done(provisioning_request::Model),
}

async fn find(
    services: &Services,
    organization: Uuid,
    key: &str,
) -> Result<Option<provisioning_request::Model>, ApiError> {
    Ok(provisioning_request::Entity::find()
        .filter(provisioning_request::Column::OrganizationId.eq(organization))
        .filter(provisioning_request::Column::IdempotencyKey.eq(key))
        .one(&services.db)
        .await?)
}

/// Claims `key`, or finds who has it: waits out a running claim, replays a success, takes
/// over a failed or abandoned one.
async fn claim(
    services: &Services,
    organization: Uuid,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, ApiError> {
    let give_up =
        tokio::time::Instant::now() + services.partner_center_deadline * 2 + Duration::from_secs(5);
    loop {
        let now = Utc::now();
        let Some(existing) = find(services, organization, key).await? else {
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
                created_at: now,
                updated_at: now,
            };
            let unique = Unique {
                constraint: "provisioning_requests_organization_id_idempotency_key_key",
                columns: "provisioning_requests.organization_id",
            };
            match fresh.into_active_model().insert(&services.db).await {
                Ok(inserted) => return Ok(Claim::Mine(inserted)),
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
            ProvisioningState::Pending if existing.updated_at > now - lease(services) => {
                if tokio::time::Instant::now() > give_up {
                    return Err(ApiError::Conflict(
                        "a call with this idempotency key is still running; retry later".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Failed, or abandoned by a caller that went away: take it over, unless another
            // caller does so first (the update then matches no row).
            ProvisioningState::Pending | ProvisioningState::Failed => {
                let taken = provisioning_request::Entity::update_many()
                    .col_expr(
                        provisioning_request::Column::State,
                        sea_orm::sea_query::Expr::value(ProvisioningState::Pending),
                    )
                    .col_expr(
                        provisioning_request::Column::UpdatedAt,
                        sea_orm::sea_query::Expr::value(now),
                    )
                    .col_expr(
                        provisioning_request::Column::ErrorCode,
                        sea_orm::sea_query::Expr::value(Option::<String>::None),
                    )
                    .filter(provisioning_request::Column::Id.eq(existing.id))
                    .filter(provisioning_request::Column::State.eq(existing.state))
                    .filter(provisioning_request::Column::UpdatedAt.eq(existing.updated_at))
                    .exec(&services.db)
                    .await?;
                if taken.rows_affected == 1 {
                    let mut mine = existing;
                    mine.state = ProvisioningState::Pending;
                    mine.updated_at = now;
                    return Ok(Claim::Mine(mine));
                }
            }
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

/// Records a failure so the key can be retried. Best effort: a request left `PENDING` is
/// taken over once its lease runs out.
async fn fail(services: &Services, request: &provisioning_request::Model, error: &ApiError) {
    let mut row = request.clone().into_active_model();
    row.state = ActiveValue::Set(ProvisioningState::Failed);
    row.error_code = ActiveValue::Set(Some(error.code().to_string()));
    row.updated_at = ActiveValue::Set(Utc::now());
    if let Err(error) = row.update(&services.db).await {
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
    request: &provisioning_request::Model,
) -> Result<Outcome, ApiError> {
    let existing = organization
        .find_related(tenant::Entity)
        .one(&services.db)
        .await?;
    let created = match existing {
        Some(_) => None,
        None => {
            let Some(prefix) = prefix else {
                return Err(ApiError::bad_input(
                    "domainPrefix",
                    "the organization has no tenant yet: a domain prefix is needed to create one",
                ));
            };
            let customer = NewCustomer {
                company_name: organization.name.clone(),
                email: organization.contact_email.clone(),
                country: organization.country.clone(),
                domain_prefix: prefix,
                culture: "en-US".into(),
                language: "en".into(),
            };
            // The request id stays the same across retries of this key.
            let ids = CallIds {
                request_id: request.id,
                correlation_id: Uuid::now_v7(),
            };
            let call = services.partner_center.create_customer(&customer, ids);
            let customer = match tokio::time::timeout(services.partner_center_deadline, call).await
            {
                Ok(Ok(customer)) => customer,
                Ok(Err(error)) => return Err(partner_center_error(error)),
                Err(_) => {
                    tracing::warn!(request_id = %request.id, "Partner Center call timed out");
                    return Err(partner_center_error(PartnerCenterError::Unavailable));
                }
            };
            Some(customer)
        }
    };

    let txn = super::write(&services.db).await?;
    let now = Utc::now();
    let current = existing_tenant(&txn, organization).await?;
    let tenant = match (&created, current) {
        (None, Some(tenant)) => tenant,
        // A tenant appeared while Partner Center worked: the organization is taken.
        (Some(_), Some(_)) => return Err(super::tenancy::already_linked()),
        (Some(customer), None) => {
            let row = tenant::Model {
                id: Uuid::now_v7(),
                organization_id: organization.id,
                microsoft_tenant_id: customer.tenant_id,
                primary_domain: customer.domain.to_ascii_lowercase(),
                link_method: TenantLinkMethod::EStore,
                management: TenantManagement::PartnerManaged,
                linked_at: now,
                linked_by: principal.subject.clone(),
                created_at: now,
                updated_at: now,
            };
            let inserted = row
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
                    .extra(json!({ "partnerCenterRequestId": request.id, "idempotencyKey": request.idempotency_key })),
            )
            .await?;
            inserted
        }
        (None, None) => {
            return Err(ApiError::Conflict(
                "the organization's tenant was unlinked meanwhile; retry".into(),
            ));
        }
    };
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
    let mut done = request.clone().into_active_model();
    done.state = ActiveValue::Set(ProvisioningState::Succeeded);
    done.microsoft_tenant_id = ActiveValue::Set(Some(tenant.microsoft_tenant_id));
    done.tenant_id = ActiveValue::Set(Some(tenant.id));
    done.subscription_id = ActiveValue::Set(Some(subscription.id));
    done.updated_at = ActiveValue::Set(now);
    done.update(&txn).await?;
    txn.commit().await?;
    Ok(Outcome {
        organization: organization.clone(),
        tenant,
        subscription,
        tenant_created: created.is_some(),
        replayed: false,
    })
}

async fn existing_tenant(
    db: &impl sea_orm::ConnectionTrait,
    organization: &organization::Model,
) -> Result<Option<tenant::Model>, ApiError> {
    Ok(organization.find_related(tenant::Entity).one(db).await?)
}
