//! Mutations that manage the graph, one module per entity: brokers, organizations, users,
//! catalog services, subscriptions and assignments. Each returns the changed object so clients
//! can update their caches; the rules live in `crate::domain::manage`.

mod broker;
mod organization;
mod service;
mod subscription;
mod user;

use async_graphql::{ID, InputObject, MergedObject};

use crate::error::ApiResult;
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::schema::mutation::DeletePayload;

/// In the order the mutations are listed in the schema.
#[derive(MergedObject, Default)]
pub struct ManageMutation(
    broker::BrokerMutation,
    organization::OrganizationMutation,
    user::UserMutation,
    service::ServiceMutation,
    subscription::SubscriptionMutation,
);

#[derive(InputObject)]
pub struct DeleteInput {
    pub id: ID,
}

fn optional_id(kind: Kind, id: &Option<ID>, field: &str) -> ApiResult<Option<uuid::Uuid>> {
    id.as_ref()
        .map(|id| ids::required(kind, id, field))
        .transpose()
}

fn deleted(kind: Kind, id: uuid::Uuid) -> DeletePayload {
    DeletePayload {
        deleted_id: ids::encode(kind, id),
    }
}
