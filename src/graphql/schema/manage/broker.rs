//! Creating, changing and deleting brokers.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::{DeleteInput, deleted};
use crate::domain::manage::broker::{self as brokers, BrokerInput};
use crate::error::ApiResult;
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::schema::broker::Broker;
use crate::graphql::schema::mutation::{DeletePayload, caller};

#[derive(InputObject)]
pub struct CreateBrokerInput {
    /// Lower-case letters, digits and dashes; unique.
    pub slug: String,
    pub name: String,
}

#[derive(InputObject)]
pub struct UpdateBrokerInput {
    pub id: ID,
    pub slug: Option<String>,
    pub name: Option<String>,
}

#[derive(SimpleObject)]
pub struct BrokerPayload {
    pub broker: Broker,
}

#[derive(Default)]
pub struct BrokerMutation;

#[Object]
impl BrokerMutation {
    /// Platform admins only.
    async fn create_broker(
        &self,
        ctx: &Context<'_>,
        input: CreateBrokerInput,
    ) -> ApiResult<BrokerPayload> {
        let (services, principal) = caller(ctx)?;
        let changes = BrokerInput {
            slug: Some(input.slug),
            name: Some(input.name),
        };
        let row = brokers::create(services, principal, changes).await?;
        Ok(BrokerPayload {
            broker: Broker(row),
        })
    }

    async fn update_broker(
        &self,
        ctx: &Context<'_>,
        input: UpdateBrokerInput,
    ) -> ApiResult<BrokerPayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Broker, &input.id, "id")?;
        let changes = BrokerInput {
            slug: input.slug,
            name: input.name,
        };
        let row = brokers::update(services, principal, id, changes).await?;
        Ok(BrokerPayload {
            broker: Broker(row),
        })
    }

    /// Refused while the broker has organizations or catalog services.
    async fn delete_broker(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> ApiResult<DeletePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Broker, &input.id, "id")?;
        let row = brokers::delete(services, principal, id).await?;
        Ok(deleted(Kind::Broker, row.id))
    }
}
