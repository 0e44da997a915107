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
use crate::graphql::exec::fetch::by_id;
use crate::graphql::relay::ids::{self, Kind};

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
    Ok(match kind {
        Kind::Broker => by_id::<broker::Entity>(ctx, id)
            .await?
            .map(|m| Node::Broker(Broker(m))),
        Kind::Organization => by_id::<organization::Entity>(ctx, id)
            .await?
            .map(|m| Node::Organization(Organization(m))),
        Kind::Tenant => by_id::<tenant::Entity>(ctx, id)
            .await?
            .map(|m| Node::Tenant(Tenant(m))),
        Kind::User => by_id::<user::Entity>(ctx, id)
            .await?
            .map(|m| Node::User(User(m))),
        Kind::Service => by_id::<service::Entity>(ctx, id)
            .await?
            .map(|m| Node::Service(Service(m))),
        Kind::ServiceSubscription => by_id::<subscription::Entity>(ctx, id)
            .await?
            .map(|m| Node::ServiceSubscription(ServiceSubscription(m))),
        Kind::ServiceAccount => by_id::<service_account::Entity>(ctx, id)
            .await?
            .map(|m| Node::ServiceAccount(ServiceAccount(m))),
        Kind::AuditEvent => by_id::<audit_event::Entity>(ctx, id)
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
