//! What every mutation needs: the domain's services and the verified caller.

use async_graphql::{Context, ID, SimpleObject};

use crate::auth::{AuthError, Principal};
use crate::domain::Services;
use crate::error::{ApiError, ApiResult, AuthReason};

/// The domain services and the caller of a mutation.
pub fn caller<'a>(ctx: &Context<'a>) -> ApiResult<(&'a Services, &'a Principal)> {
    let services = ctx.data::<Services>().map_err(|_| {
        tracing::error!("domain services missing from the schema");
        ApiError::Internal
    })?;
    let principal = crate::graphql::request(ctx)?
        .principal
        .as_ref()
        .ok_or_else(|| ApiError::from(AuthError::of(AuthReason::TokenMissing)))?;
    Ok((services, principal))
}

/// What a delete returns: the ID that is gone, for clients to evict from their caches.
#[derive(SimpleObject)]
pub struct DeletePayload {
    pub deleted_id: ID,
}
