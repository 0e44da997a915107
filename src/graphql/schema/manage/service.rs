//! Creating, changing and deleting a broker's catalog services.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::{DeleteInput, deleted};
use crate::domain::manage::service::{self as catalog, ServiceInput};
use crate::error::ApiResult;
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::schema::enums::Vendor;
use crate::graphql::schema::mutation::{DeletePayload, caller};
use crate::graphql::schema::service::Service;

#[derive(InputObject)]
pub struct CreateServiceInput {
    pub broker_id: ID,
    pub name: String,
    pub vendor: Vendor,
    /// Unique within the broker's catalog.
    pub sku: String,
}

#[derive(InputObject)]
pub struct UpdateServiceInput {
    pub id: ID,
    pub name: Option<String>,
    pub vendor: Option<Vendor>,
    pub sku: Option<String>,
}

#[derive(SimpleObject)]
pub struct ServicePayload {
    pub service: Service,
}

#[derive(Default)]
pub struct ServiceMutation;

#[Object]
impl ServiceMutation {
    async fn create_service(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceInput,
    ) -> ApiResult<ServicePayload> {
        let (services, principal) = caller(ctx)?;
        let changes = ServiceInput {
            broker_id: Some(ids::required(Kind::Broker, &input.broker_id, "brokerId")?),
            name: Some(input.name),
            vendor: Some(input.vendor.into()),
            sku: Some(input.sku),
        };
        let row = catalog::create(services, principal, changes).await?;
        Ok(ServicePayload {
            service: Service(row),
        })
    }

    async fn update_service(
        &self,
        ctx: &Context<'_>,
        input: UpdateServiceInput,
    ) -> ApiResult<ServicePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Service, &input.id, "id")?;
        let changes = ServiceInput {
            broker_id: None,
            name: input.name,
            vendor: input.vendor.map(Into::into),
            sku: input.sku,
        };
        let row = catalog::update(services, principal, id, changes).await?;
        Ok(ServicePayload {
            service: Service(row),
        })
    }

    /// Refused while subscriptions use the service.
    async fn delete_service(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> ApiResult<DeletePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Service, &input.id, "id")?;
        let row = catalog::delete(services, principal, id).await?;
        Ok(deleted(Kind::Service, row.id))
    }
}
