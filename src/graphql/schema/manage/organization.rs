//! Creating, changing, moving and deleting organizations.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::{DeleteInput, deleted, optional_id};
use crate::domain::manage::organization::{self as organizations, OrganizationInput};
use crate::error::ApiResult;
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::schema::mutation::{DeletePayload, caller};
use crate::graphql::schema::organization::Organization;

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub broker_id: ID,
    pub name: String,
    pub contact_email: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub registration_number: Option<String>,
    pub vat_number: Option<String>,
    pub customer_number: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    pub id: ID,
    /// Moves the organization to another broker: platform admins only.
    pub broker_id: Option<ID>,
    pub name: Option<String>,
    pub contact_email: Option<String>,
    pub country: Option<String>,
    /// An empty string clears it.
    pub registration_number: Option<String>,
    pub vat_number: Option<String>,
    pub customer_number: Option<String>,
}

#[derive(SimpleObject)]
pub struct OrganizationPayload {
    pub organization: Organization,
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> ApiResult<OrganizationPayload> {
        let (services, principal) = caller(ctx)?;
        let changes = OrganizationInput {
            broker_id: Some(ids::required(Kind::Broker, &input.broker_id, "brokerId")?),
            name: Some(input.name),
            contact_email: Some(input.contact_email),
            country: Some(input.country),
            registration_number: input.registration_number,
            vat_number: input.vat_number,
            customer_number: input.customer_number,
        };
        let row = organizations::create(services, principal, changes).await?;
        Ok(OrganizationPayload {
            organization: Organization(row),
        })
    }

    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationInput,
    ) -> ApiResult<OrganizationPayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Organization, &input.id, "id")?;
        let changes = OrganizationInput {
            broker_id: optional_id(Kind::Broker, &input.broker_id, "brokerId")?,
            name: input.name,
            contact_email: input.contact_email,
            country: input.country,
            registration_number: input.registration_number,
            vat_number: input.vat_number,
            customer_number: input.customer_number,
        };
        let row = organizations::update(services, principal, id, changes).await?;
        Ok(OrganizationPayload {
            organization: Organization(row),
        })
    }

    /// Deletes the organization with its users and inactive subscriptions; refused while it
    /// has a linked tenant or active subscriptions.
    async fn delete_organization(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> ApiResult<DeletePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Organization, &input.id, "id")?;
        let row = organizations::delete(services, principal, id).await?;
        Ok(deleted(Kind::Organization, row.id))
    }
}
