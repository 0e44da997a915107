use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use entity::{organization, service_account, tenant};

use super::enums::{ServiceAccountStatus, TenantLinkMethod, TenantManagement};
use super::organization::Organization;
use crate::auth::fields::{Field, may_read};
use crate::domain::validate;
use crate::error::ApiResult;
use crate::graphql::exec::fetch;
use crate::graphql::exec::in_place::InPlace;
use crate::graphql::exec::loaders::AccountOfTenant;
use crate::graphql::relay::cursor::{Keyed, SortKey};
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::{guard, request};

impl Keyed for tenant::Model {
    fn id(&self) -> Uuid {
        self.id
    }
    fn sort_value(&self, _: SortKey) -> Option<String> {
        None
    }
}

impl Keyed for service_account::Model {
    fn id(&self) -> Uuid {
        self.id
    }
    fn sort_value(&self, _: SortKey) -> Option<String> {
        None
    }
}

/// The Microsoft tenant an organization is mapped to.
pub struct Tenant(pub tenant::Model);

#[Object]
impl Tenant {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Tenant, self.0.id)
    }
    async fn uuid(&self) -> Uuid {
        self.0.id
    }
    /// The tenant's GUID as issued by Microsoft Partner Center.
    async fn microsoft_tenant_id(&self) -> Uuid {
        self.0.microsoft_tenant_id
    }
    /// `<prefix>.onmicrosoft.com`.
    async fn primary_domain(&self) -> &str {
        &self.0.primary_domain
    }
    async fn link_method(&self) -> TenantLinkMethod {
        self.0.link_method.into()
    }
    async fn management(&self) -> TenantManagement {
        self.0.management.into()
    }
    async fn linked_at(&self) -> DateTime<Utc> {
        self.0.linked_at
    }
    /// The subject of whoever linked the tenant; for broker roles only.
    async fn linked_by(&self, ctx: &Context<'_>) -> ApiResult<&str> {
        guard(
            ctx,
            |p| may_read(p, Field::TenantLinkedBy),
            "who linked a tenant",
        )?;
        Ok(&self.0.linked_by)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    async fn organization(&self, ctx: &Context<'_>) -> ApiResult<InPlace<Organization>> {
        fetch::parent::<organization::Entity>(ctx, self.0.organization_id, "organization")
            .await
            .map(|row| InPlace(Organization(row)))
    }

    /// How the tenant compares with its Partner Center customer, as the broker's last
    /// complete synchronization found it.
    async fn sync(&self, ctx: &Context<'_>) -> ApiResult<super::sync::TenantSync> {
        super::sync::of_tenant(ctx, self.0.id).await
    }

    /// The customer-consent service account, when the customer manages the tenant that way.
    async fn service_account(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<InPlace<ServiceAccount>>> {
        let account = request(ctx)?.load(AccountOfTenant(self.0.id)).await?;
        Ok(account.map(ServiceAccount).map(InPlace))
    }
}

/// The least-privileged account a customer created in its tenant for the broker to manage it.
pub struct ServiceAccount(pub service_account::Model);

#[Object]
impl ServiceAccount {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::ServiceAccount, self.0.id)
    }
    async fn uuid(&self) -> Uuid {
        self.0.id
    }
    async fn user_principal_name(&self) -> &str {
        &self.0.user_principal_name
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    /// The Entra directory roles the account holds.
    async fn directory_roles(&self) -> Vec<String> {
        serde_json::from_value(self.0.directory_roles.clone()).unwrap_or_default()
    }
    /// ISO 3166-1 alpha-2 usage location.
    async fn usage_location(&self) -> &str {
        &self.0.usage_location
    }
    async fn password_changed(&self) -> bool {
        self.0.password_changed
    }
    async fn mfa_configured(&self) -> bool {
        self.0.mfa_configured
    }
    async fn roles_confirmed(&self) -> bool {
        self.0.roles_confirmed
    }
    /// Whether a credential is stored. The credential itself is write-only.
    async fn has_credential(&self) -> bool {
        self.0.credential_ciphertext.is_some()
    }
    async fn status(&self) -> ServiceAccountStatus {
        self.0.status.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    async fn tenant(&self, ctx: &Context<'_>) -> ApiResult<InPlace<Tenant>> {
        fetch::parent::<tenant::Entity>(ctx, self.0.tenant_id, "tenant")
            .await
            .map(|row| InPlace(Tenant(row)))
    }
}

#[derive(Default)]
pub struct TenantQuery;

#[Object]
impl TenantQuery {
    /// A tenant by its global ID.
    async fn tenant(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<InPlace<Tenant>>> {
        let Some(uuid) = ids::decode_as(Kind::Tenant, &id, "id")? else {
            return Ok(None);
        };
        Ok(fetch::by_id::<tenant::Entity>(ctx, uuid)
            .await?
            .map(Tenant)
            .map(InPlace))
    }

    /// A tenant by the GUID Microsoft issued for it.
    async fn tenant_by_microsoft_id(
        &self,
        ctx: &Context<'_>,
        microsoft_tenant_id: String,
    ) -> ApiResult<Option<Tenant>> {
        // The validator `linkTenant` uses, so a lookup refuses what a link would refuse.
        let guid = validate::tenant_guid("microsoftTenantId", &microsoft_tenant_id)?;
        let context = request(ctx)?;
        let found = context
            .scope
            .find::<tenant::Entity>()
            .filter(tenant::Column::MicrosoftTenantId.eq(guid))
            .one(&context.db)
            .await?;
        Ok(found.map(Tenant))
    }
}
