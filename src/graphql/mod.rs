//! The GraphQL schema: one module per domain type, merged into the root types here.

pub mod broker;
pub mod enums;
pub mod fetch;
pub mod ids;
pub mod loaders;
pub mod node;
pub mod organization;
pub mod pagination;
pub mod service;
pub mod subscription;
pub mod tenant;
pub mod user;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, EmptyMutation, EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::error::{ApiError, ApiResult};
use crate::scope::Scope;
use loaders::DbLoader;

#[derive(MergedObject, Default)]
pub struct Query(
    node::NodeQuery,
    broker::BrokerQuery,
    organization::OrganizationQuery,
    tenant::TenantQuery,
    user::UserQuery,
    service::ServiceQuery,
    subscription::SubscriptionQuery,
);

pub type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Builds the schema; everything per request (scope, loaders) comes with the request.
pub fn schema() -> AppSchema {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
        .extension(crate::http::graphql::HttpRules)
        .finish()
}

/// What a resolver knows about its request: the database, the caller's scope, the loaders.
pub struct RequestContext {
    pub db: DatabaseConnection,
    pub scope: Scope,
    pub loader: DataLoader<DbLoader>,
}

impl RequestContext {
    pub fn new(db: DatabaseConnection, scope: Scope) -> Self {
        let loader = DataLoader::new(
            DbLoader {
                db: db.clone(),
                scope: scope.clone(),
            },
            tokio::spawn,
        );
        RequestContext { db, scope, loader }
    }
}

/// The request's context; the HTTP layer always provides it.
pub fn request<'a>(ctx: &Context<'a>) -> ApiResult<&'a RequestContext> {
    ctx.data::<RequestContext>().map_err(|_| {
        tracing::error!("request context missing");
        ApiError::Internal
    })
}
