//! How resolvers read: by id and by relation through the loaders, lists by one paged statement.

use std::sync::Arc;

use async_graphql::{Context, OutputType};
use sea_orm::{EntityTrait, FromQueryResult, Select};
use uuid::Uuid;

use super::loaders::{Children, Id, PageOf};
use crate::crypto::TokenSealer;
use crate::domain::Services;
use crate::error::{ApiError, ApiResult};
use crate::graphql::relay::connection::Conn;
use crate::graphql::relay::cursor::{Keyed, Order};
use crate::graphql::relay::keyset::fetch_pages;
use crate::graphql::relay::pagination::{PageArgs, single};
use crate::graphql::request;
use crate::scope::ById;

/// The row with this id, if it exists in the caller's scope.
pub async fn by_id<E>(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<E::Model>>
where
    E: ById,
    E::Model: Keyed + Clone + Send + Sync,
{
    request(ctx)?.load(Id::<E>::new(id)).await
}

/// A parent row every child row has; out of scope it is reported as not found.
pub async fn parent<E>(ctx: &Context<'_>, id: Uuid, what: &str) -> ApiResult<E::Model>
where
    E: ById,
    E::Model: Keyed + Clone + Send + Sync,
{
    by_id::<E>(ctx, id)
        .await?
        .ok_or_else(|| ApiError::not_found(what))
}

/// The sealer of the server's cursors: every replica derives the same one from the credential
/// key, so a cursor from one replica pages on another.
fn sealer(ctx: &Context<'_>) -> ApiResult<Arc<TokenSealer>> {
    ctx.data::<Services>()
        .map(|services| services.cipher.cursor_sealer().clone())
        .map_err(|_| {
            tracing::error!("services missing from the schema data");
            ApiError::Internal
        })
}

/// Whether the connection field being resolved selects `totalCount` (through fragments too).
fn asks_total(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// One page of a parent's children, batched with its siblings.
pub async fn children<R, N>(
    ctx: &Context<'_>,
    parent: Uuid,
    args: PageArgs,
    order: Order,
    node: impl Fn(<R::Entity as EntityTrait>::Model) -> N,
) -> ApiResult<Conn<N>>
where
    R: Children,
    <R::Entity as EntityTrait>::Model: Keyed + Clone + Send + Sync,
    N: OutputType,
{
    let sealer = sealer(ctx)?;
    let page_request = args.request(order, &sealer)?.counting(asks_total(ctx));
    let page = request(ctx)?
        .load(PageOf::<R>::new(parent, page_request))
        .await?
        .unwrap_or_default();
    Ok(page.into_connection(order, sealer, node))
}

/// One page of a root list; `select` already carries scope and filters.
pub async fn list<E, N>(
    ctx: &Context<'_>,
    select: Select<E>,
    args: PageArgs,
    order: Order,
    node: impl Fn(E::Model) -> N,
) -> ApiResult<Conn<N>>
where
    E: EntityTrait,
    E::Model: Keyed + FromQueryResult,
    N: OutputType,
{
    let sealer = sealer(ctx)?;
    let page_request = args.request(order, &sealer)?.counting(asks_total(ctx));
    let pages = fetch_pages(&request(ctx)?.db, select, None, &page_request).await?;
    Ok(single(pages).into_connection(order, sealer, node))
}
