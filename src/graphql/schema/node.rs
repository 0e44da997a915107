//! Relay's `Node` interface and the `node` / `nodes` lookups by global ID.

use async_graphql::{Context, ID, Interface, Object};
use uuid::Uuid;

use entity::{
    audit_event, broker, organization, service, service_account, subscription, tenant, user,
};

use super::audit::AuditEvent;
use super::broker::Broker;
use super::organization::Organization;
use super::service::Service;
use super::subscription::ServiceSubscription;
use super::tenant::{ServiceAccount, Tenant};
use super::user::User;
use crate::error::{ApiError, ApiResult};
use crate::graphql::exec::loaders::Id;
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::{RequestContext, request};

/// An object with a global ID.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The opaque global ID."))]
pub enum Node {
    Broker(Broker),
    Organization(Organization),
    Tenant(Tenant),
    User(User),
    Service(Service),
    ServiceSubscription(ServiceSubscription),
    ServiceAccount(ServiceAccount),
    AuditEvent(AuditEvent),
}

async fn load(ctx: &Context<'_>, kind: Kind, id: Uuid) -> ApiResult<Option<Node>> {
    load_in(request(ctx)?, kind, id).await
}

/// The object `kind` `id` as the request's scope shows it, through its loaders (also what a
/// live update's `entity` is).
pub async fn load_in(request: &RequestContext, kind: Kind, id: Uuid) -> ApiResult<Option<Node>> {
    Ok(match kind {
        Kind::Broker => request
            .load(Id::<broker::Entity>::new(id))
            .await?
            .map(|m| Node::Broker(Broker(m))),
        Kind::Organization => request
            .load(Id::<organization::Entity>::new(id))
            .await?
            .map(|m| Node::Organization(Organization(m))),
        Kind::Tenant => request
            .load(Id::<tenant::Entity>::new(id))
            .await?
            .map(|m| Node::Tenant(Tenant(m))),
        Kind::User => request
            .load(Id::<user::Entity>::new(id))
            .await?
            .map(|m| Node::User(User(m))),
        Kind::Service => request
            .load(Id::<service::Entity>::new(id))
            .await?
            .map(|m| Node::Service(Service(m))),
        Kind::ServiceSubscription => request
            .load(Id::<subscription::Entity>::new(id))
            .await?
            .map(|m| Node::ServiceSubscription(ServiceSubscription(m))),
        Kind::ServiceAccount => request
            .load(Id::<service_account::Entity>::new(id))
            .await?
            .map(|m| Node::ServiceAccount(ServiceAccount(m))),
        Kind::AuditEvent => request
            .load(Id::<audit_event::Entity>::new(id))
            .await?
            .map(|m| Node::AuditEvent(AuditEvent(m))),
    })
}

/// The most IDs one `nodes` call takes, like a page.
const MAX_NODES: usize = crate::graphql::relay::pagination::MAX_PAGE_SIZE as usize;

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object with this global ID, or null when there is none (or it is not yours to see).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        let (kind, uuid) = ids::decode_input(&id, "id")?;
        load(ctx, kind, uuid).await
    }

    /// The objects with these global IDs, in order; null where there is none.
    #[graphql(complexity = "ids.len().max(1) * child_complexity")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> ApiResult<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(ApiError::bad_input(
                "ids",
                format!("at most {MAX_NODES} IDs per call, got {}", ids.len()),
            ));
        }
        let decoded = ids
            .iter()
            .map(|id| ids::decode_input(id, "ids"))
            .collect::<ApiResult<Vec<_>>>()?;
        // Loads of one kind are batched by the loader into one statement.
        let loads = decoded
            .into_iter()
            .map(|(kind, uuid)| load(ctx, kind, uuid));
        futures_util::future::try_join_all(loads).await
    }
}
