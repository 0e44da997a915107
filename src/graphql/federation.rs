//! brokergraph as an Apollo Federation v2 subgraph: `@key` on the entities other subgraphs
//! reference, by global `id` and by `uuid`, and `_entities` resolving them exactly as `node`
//! does — through the request's loaders and its row scope, so a key outside the caller's
//! scope resolves to null.
//!
//! async-graphql adds `_service`, `_entities` and their types to any schema whose query root
//! has entity resolvers. The served schema has them ([`ServedQuery`]); the plain schema that
//! `brokergraph schema` prints and `schema.graphql` holds does not ([`super::Query`]), so
//! clients that never see a router get a schema without federation's types.

use async_graphql::{Context, ID, MergedObject, Object, ServerError};
use uuid::Uuid;

use entity::{broker, organization, tenant, user};

use super::QueryFields;
use super::exec::fetch::by_id;
use super::relay::cursor::Keyed;
use super::relay::ids::{self, Kind};
use super::schema::broker::Broker;
use super::schema::organization::Organization;
use super::schema::tenant::Tenant;
use super::schema::user::User;
use crate::error::{ApiError, ApiResult};
use crate::scope::ById;

// The query root the server runs: the plain one's fields and the entity resolvers, under the
// plain one's name (a `//` comment: a doc comment would become the type's description).
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct ServedQuery(QueryFields, EntityQuery);

/// The entity resolvers: async-graphql derives `@key(fields: "id")` and `@key(fields: "uuid")`
/// on each type from them, and `_entities` calls them.
#[derive(Default)]
pub struct EntityQuery;

/// The row with this UUID, as `node` loads it: through the request's loader, in its scope.
async fn by_uuid<E, N>(
    ctx: &Context<'_>,
    uuid: Uuid,
    wrap: fn(E::Model) -> N,
) -> ApiResult<Option<N>>
where
    E: ById,
    E::Model: Keyed + Clone + Send + Sync,
{
    Ok(by_id::<E>(ctx, uuid).await?.map(wrap))
}

/// The row with this global ID of `kind`: a malformed ID is bad input, an ID of another kind
/// is null (no entity of this type has it), as for `node`.
async fn by_global_id<E, N>(
    ctx: &Context<'_>,
    kind: Kind,
    id: &ID,
    wrap: fn(E::Model) -> N,
) -> ApiResult<Option<N>>
where
    E: ById,
    E::Model: Keyed + Clone + Send + Sync,
{
    match ids::decode_as(kind, id, "representations")? {
        Some(uuid) => by_uuid::<E, N>(ctx, uuid, wrap).await,
        None => Ok(None),
    }
}

#[Object]
impl EntityQuery {
    #[graphql(entity)]
    async fn broker_by_id(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Broker>> {
        by_global_id::<broker::Entity, _>(ctx, Kind::Broker, &id, Broker).await
    }

    #[graphql(entity)]
    async fn broker_by_uuid(&self, ctx: &Context<'_>, uuid: Uuid) -> ApiResult<Option<Broker>> {
        by_uuid::<broker::Entity, _>(ctx, uuid, Broker).await
    }

    #[graphql(entity)]
    async fn organization_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> ApiResult<Option<Organization>> {
        by_global_id::<organization::Entity, _>(ctx, Kind::Organization, &id, Organization).await
    }

    #[graphql(entity)]
    async fn organization_by_uuid(
        &self,
        ctx: &Context<'_>,
        uuid: Uuid,
    ) -> ApiResult<Option<Organization>> {
        by_uuid::<organization::Entity, _>(ctx, uuid, Organization).await
    }

    #[graphql(entity)]
    async fn tenant_by_id(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Tenant>> {
        by_global_id::<tenant::Entity, _>(ctx, Kind::Tenant, &id, Tenant).await
    }

    #[graphql(entity)]
    async fn tenant_by_uuid(&self, ctx: &Context<'_>, uuid: Uuid) -> ApiResult<Option<Tenant>> {
        by_uuid::<tenant::Entity, _>(ctx, uuid, Tenant).await
    }

    #[graphql(entity)]
    async fn user_by_id(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<User>> {
        by_global_id::<user::Entity, _>(ctx, Kind::User, &id, User).await
    }

    #[graphql(entity)]
    async fn user_by_uuid(&self, ctx: &Context<'_>, uuid: Uuid) -> ApiResult<Option<User>> {
        by_uuid::<user::Entity, _>(ctx, uuid, User).await
    }
}

/// What async-graphql answers for a representation no entity resolver takes (an unknown
/// `__typename`, or neither key, or a key that does not parse), and for one without a
/// `__typename`. Both are the client's doing: [`explain`] words them and codes them.
const UNRESOLVABLE: &[&str] = &[
    "Entity not found.",
    r#""__typename" must be an existing string."#,
];

/// A representation `_entities` cannot resolve, as a client should read it: bad input, saying
/// what a representation needs. `None` for any other error.
pub fn explain(error: &ServerError) -> Option<ServerError> {
    UNRESOLVABLE.contains(&error.message.as_str()).then(|| {
        let refusal = async_graphql::Error::from(ApiError::bad_input(
            "representations",
            "a representation needs a `__typename` of Broker, Organization, Tenant or User \
             and an `id` (global ID) or `uuid` (UUID) key",
        ));
        let mut explained = refusal.into_server_error(async_graphql::Pos::default());
        explained.locations = error.locations.clone();
        explained.path = error.path.clone();
        explained
    })
}

/// The subgraph's SDL, as `_service { sdl }` answers it (and `brokergraph schema --federation`
/// prints it): the served schema with Federation v2's `@link` and `@key`s, without
/// `_service`, `_entities` and their types.
pub fn subgraph_sdl() -> String {
    super::served_schema().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .federation()
            .compose_directive(),
    )
}
