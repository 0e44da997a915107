//! Mutations that turn an organization into a Microsoft tenant: linking by hand, the E-Store
//! flow through Partner Center, and customer consent. The rules live in `crate::domain`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use crate::domain::consent::{self, ConfirmSetup, RegisterServiceAccount};
use crate::domain::provisioning::{self, AddMicrosoftService};
use crate::domain::tenancy::{self, LinkTenant};
use crate::error::ApiResult;

use super::mutation::caller;
use super::organization::Organization;
use super::subscription::ServiceSubscription;
use super::tenant::{ServiceAccount, Tenant};
use crate::graphql::relay::ids::{self, Kind};

#[derive(InputObject)]
pub struct LinkTenantInput {
    pub organization_id: ID,
    /// The tenant's GUID from Microsoft Partner Center.
    pub microsoft_tenant_id: String,
    /// E.g. `contoso.onmicrosoft.com`. Optional when the broker's Partner Center (its
    /// connection, or the sandbox) holds the customer: its company profile's domain is taken.
    pub primary_domain: Option<String>,
}

#[derive(SimpleObject)]
pub struct LinkTenantPayload {
    pub tenant: Tenant,
    /// False when the organization was already linked to this tenant.
    pub changed: bool,
}

#[derive(InputObject)]
pub struct UnlinkTenantInput {
    pub organization_id: ID,
}

#[derive(SimpleObject)]
pub struct UnlinkTenantPayload {
    pub organization: Organization,
    /// The tenant that was unlinked; null when there was none.
    pub unlinked_tenant_id: Option<ID>,
}

#[derive(InputObject)]
pub struct AddMicrosoftServiceInput {
    pub organization_id: ID,
    /// A Microsoft service of the organization's broker's catalog.
    pub service_id: ID,
    pub quantity: i32,
    /// The new tenant's `<prefix>.onmicrosoft.com`; needed when the organization has no tenant.
    pub domain_prefix: Option<String>,
    /// The same key replays the first outcome instead of buying twice (8 to 128 characters).
    pub idempotency_key: String,
}

#[derive(SimpleObject)]
pub struct AddMicrosoftServicePayload {
    pub organization: Organization,
    pub tenant: Tenant,
    pub subscription: ServiceSubscription,
    /// Partner Center created the tenant in this call.
    pub tenant_created: bool,
    /// This is the recorded outcome of an earlier call with the same key.
    pub replayed: bool,
}

#[derive(InputObject)]
pub struct RegisterServiceAccountInput {
    pub tenant_id: ID,
    /// In the tenant's domain, e.g. `svc-broker@contoso.onmicrosoft.com`.
    pub user_principal_name: String,
    pub display_name: String,
    /// Entra built-in role names or template IDs; never Global Administrator.
    pub directory_roles: Vec<String>,
    /// ISO 3166-1 alpha-2.
    pub usage_location: String,
    /// Stored encrypted; never returned.
    #[graphql(secret)]
    pub credential: String,
}

#[derive(InputObject)]
pub struct ConfirmServiceAccountSetupInput {
    pub tenant_id: ID,
    pub password_changed: bool,
    pub mfa_configured: bool,
    pub roles_confirmed: bool,
}

#[derive(SimpleObject)]
pub struct ServiceAccountPayload {
    pub service_account: ServiceAccount,
}

#[derive(Default)]
pub struct TenancyMutation;

#[Object]
impl TenancyMutation {
    /// Links an organization to an existing Microsoft tenant (broker admins). Linking the same
    /// pair again succeeds and changes nothing.
    async fn link_tenant(
        &self,
        ctx: &Context<'_>,
        input: LinkTenantInput,
    ) -> ApiResult<LinkTenantPayload> {
        let (services, principal) = caller(ctx)?;
        let link = LinkTenant {
            organization_id: ids::required(
                Kind::Organization,
                &input.organization_id,
                "organizationId",
            )?,
            microsoft_tenant_id: input.microsoft_tenant_id,
            primary_domain: input.primary_domain,
        };
        let (tenant, changed) = tenancy::link(services, principal, link).await?;
        Ok(LinkTenantPayload {
            tenant: Tenant(tenant),
            changed,
        })
    }

    /// Unlinks an organization's tenant; refused while Microsoft subscriptions are active.
    async fn unlink_tenant(
        &self,
        ctx: &Context<'_>,
        input: UnlinkTenantInput,
    ) -> ApiResult<UnlinkTenantPayload> {
        let (services, principal) = caller(ctx)?;
        let organization =
            ids::required(Kind::Organization, &input.organization_id, "organizationId")?;
        let (organization, tenant) = tenancy::unlink(services, principal, organization).await?;
        Ok(UnlinkTenantPayload {
            organization: Organization(organization),
            unlinked_tenant_id: tenant.map(|tenant| ids::encode(Kind::Tenant, tenant.id)),
        })
    }

    /// Buys a Microsoft service from the broker's E-Store; without a tenant, Partner Center
    /// creates one first. Idempotent on `idempotencyKey`.
    async fn add_microsoft_service(
        &self,
        ctx: &Context<'_>,
        input: AddMicrosoftServiceInput,
    ) -> ApiResult<AddMicrosoftServicePayload> {
        let (services, principal) = caller(ctx)?;
        let request = AddMicrosoftService {
            organization_id: ids::required(
                Kind::Organization,
                &input.organization_id,
                "organizationId",
            )?,
            service_id: ids::required(Kind::Service, &input.service_id, "serviceId")?,
            quantity: input.quantity,
            domain_prefix: input.domain_prefix,
            idempotency_key: input.idempotency_key,
        };
        let outcome = provisioning::add_microsoft_service(services, principal, request).await?;
        Ok(AddMicrosoftServicePayload {
            organization: Organization(outcome.organization),
            tenant: Tenant(outcome.tenant),
            subscription: ServiceSubscription(outcome.subscription),
            tenant_created: outcome.tenant_created,
            replayed: outcome.replayed,
        })
    }

    /// Registers the customer-consent service account of a tenant; the tenant becomes
    /// `CUSTOMER_CONSENT` and the account waits for verification.
    async fn register_service_account(
        &self,
        ctx: &Context<'_>,
        input: RegisterServiceAccountInput,
    ) -> ApiResult<ServiceAccountPayload> {
        let (services, principal) = caller(ctx)?;
        let request = RegisterServiceAccount {
            tenant_id: ids::required(Kind::Tenant, &input.tenant_id, "tenantId")?,
            user_principal_name: input.user_principal_name,
            display_name: input.display_name,
            directory_roles: input.directory_roles,
            usage_location: input.usage_location,
            credential: input.credential,
        };
        let account = consent::register(services, principal, request).await?;
        Ok(ServiceAccountPayload {
            service_account: ServiceAccount(account),
        })
    }

    /// Records the customer's confirmations; the account is `VERIFIED` when all three hold.
    async fn confirm_service_account_setup(
        &self,
        ctx: &Context<'_>,
        input: ConfirmServiceAccountSetupInput,
    ) -> ApiResult<ServiceAccountPayload> {
        let (services, principal) = caller(ctx)?;
        let request = ConfirmSetup {
            tenant_id: ids::required(Kind::Tenant, &input.tenant_id, "tenantId")?,
            password_changed: input.password_changed,
            mfa_configured: input.mfa_configured,
            roles_confirmed: input.roles_confirmed,
        };
        let account = consent::confirm(services, principal, request).await?;
        Ok(ServiceAccountPayload {
            service_account: ServiceAccount(account),
        })
    }
}
