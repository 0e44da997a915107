//! The subscription root: live updates from the audit trail (`crate::live`), each event
//! delivered only when its row is in the subscriber's scope at that moment.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Subscription as SubscriptionRoot};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use entity::audit_event;

use super::node::{Node, load_in};
use crate::auth::AuthError;
use crate::crypto::TokenSealer;
use crate::domain::Services;
use crate::error::{ApiError, ApiResult, AuthReason};
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::{RequestContext, request};
use crate::http::websocket::TokenExpiry;
use crate::live::{ConnectionSubscriptions, Hub};

/// The kinds of entity a change can be about.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ChangeEntityType {
    Broker,
    Organization,
    Tenant,
    User,
    Service,
    ServiceSubscription,
    ServiceAccount,
    PartnerCenterConnection,
    PartnerCenterCustomer,
}

impl ChangeEntityType {
    /// The audit trail's `entity_type`.
    fn name(self) -> &'static str {
        match self {
            Self::Broker => "Broker",
            Self::Organization => "Organization",
            Self::Tenant => "Tenant",
            Self::User => "User",
            Self::Service => "Service",
            Self::ServiceSubscription => "ServiceSubscription",
            Self::ServiceAccount => "ServiceAccount",
            Self::PartnerCenterConnection => "PartnerCenterConnection",
            Self::PartnerCenterCustomer => "PartnerCenterCustomer",
        }
    }
}

/// One change, as a subscriber may see it.
pub struct Change {
    event: Arc<audit_event::Model>,
    entity: Option<Node>,
    cursor: String,
}

#[Object]
impl Change {
    /// Where this change is in the order of all changes: subscribe with `after:` it to get
    /// exactly the changes after it. Opaque (it says nothing of changes you may not see).
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    /// E.g. `tenant.linked`, `organization.updated`, `user.deleted`.
    async fn action(&self) -> &str {
        &self.event.action
    }
    /// The GraphQL type of the entity, e.g. `Tenant`.
    async fn entity_type(&self) -> &str {
        &self.event.entity_type
    }
    /// The entity's global ID (also when it was deleted).
    async fn entity_id(&self) -> Option<ID> {
        ids::kind_named(&self.event.entity_type).map(|kind| ids::encode(kind, self.event.entity_id))
    }
    async fn entity_uuid(&self) -> Uuid {
        self.event.entity_id
    }
    /// The entity as it is now, resolved as a query would; null when it no longer exists
    /// (then only its ID is delivered).
    async fn entity(&self) -> Option<&Node> {
        self.entity.as_ref()
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.event.occurred_at
    }
}

const CURSOR_PREFIX: &str = "change:";

fn encode_cursor(sealer: &TokenSealer, sequence: i64) -> String {
    URL_SAFE_NO_PAD.encode(sealer.seal(format!("{CURSOR_PREFIX}{sequence}").as_bytes()))
}

fn decode_cursor(sealer: &TokenSealer, cursor: &str) -> Option<i64> {
    let sealed = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let plain = String::from_utf8(sealer.open(&sealed)?).ok()?;
    plain.strip_prefix(CURSOR_PREFIX)?.parse().ok()
}

/// What a subscriber gets of `event`: `None` when not in its scope; else the entity as the
/// scope shows it, or, when the row is gone (or not the subscriber's to see while the event
/// is), the event with the entity's ID only. An event whose audit record the subscriber may
/// not read, about a row it cannot see, is never delivered: no count or cursor reveals it.
async fn delivered(
    request: &RequestContext,
    event: &audit_event::Model,
) -> ApiResult<Option<Option<Node>>> {
    if let Some(kind) = ids::kind_named(&event.entity_type)
        && let Some(node) = load_in(request, kind, event.entity_id).await?
    {
        return Ok(Some(Some(node)));
    }
    let recorded = request
        .scope
        .find::<audit_event::Entity>()
        .filter(audit_event::Column::Id.eq(event.id))
        .one(&request.db)
        .await?;
    Ok(recorded.map(|_| None))
}

#[derive(Default)]
pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Every change you may see, as it commits: creations, updates, deletions, tenant links and
    /// unlinks, provisioning and consent steps. `after`: a change's `cursor`, to resume with
    /// exactly the changes after it (without: from now). `types`: only changes of entities of
    /// these types. `organizationId`: only changes within this organization.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        types: Option<Vec<ChangeEntityType>>,
        organization_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = ApiResult<Change>> + use<>> {
        let request = request(ctx)?;
        let Some(principal) = &request.principal else {
            return Err(ApiError::Forbidden("subscribing needs a token".into()).into());
        };
        let (hub, services) = match (ctx.data::<Hub>(), ctx.data::<Services>()) {
            (Ok(hub), Ok(services)) => (hub, services),
            _ => {
                tracing::error!("live hub missing from the schema data");
                return Err(ApiError::Internal.into());
            }
        };
        let sealer = services.cipher.cursor_sealer().clone();
        let after = match after {
            Some(cursor) => Some(decode_cursor(&sealer, &cursor).ok_or_else(|| {
                ApiError::bad_input("after", format!("`{cursor}` is not a cursor of `changes`"))
            })?),
            None => None,
        };
        let organization = match organization_id {
            Some(id) => Some(
                ids::decode_as(Kind::Organization, &id, "organizationId")?.ok_or_else(|| {
                    ApiError::bad_input("organizationId", "not the ID of an organization")
                })?,
            ),
            None => None,
        };
        let types: Option<Vec<&'static str>> =
            types.map(|types| types.into_iter().map(ChangeEntityType::name).collect());
        let connection_slot = match ctx.data_opt::<ConnectionSubscriptions>() {
            Some(held) => Some(held.take(hub.config().max_per_connection)?),
            None => None,
        };
        let admission = hub.admit(&principal.subject)?;
        let mut feed = hub.feed(after).await?;
        let expiry = ctx.data_opt::<TokenExpiry>().map(TokenExpiry::instant);
        // The scope is judged at each delivery, with loaders of the subscription's own.
        let request = RequestContext::new(request.db.clone(), request.principal.clone(), false);
        Ok(async_stream::stream! {
            let _held = (connection_slot, admission);
            let expired = async {
                match expiry {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let mut expired = std::pin::pin!(expired);
            loop {
                let event = tokio::select! {
                    event = feed.next() => event,
                    () = &mut expired => {
                        tracing::info!("subscription ended: the token expired");
                        yield Err(ApiError::from(AuthError::of(AuthReason::TokenExpired)));
                        break;
                    }
                };
                let event = match event {
                    Ok(event) => event,
                    Err(error) => {
                        yield Err(error);
                        break;
                    }
                };
                if types.as_ref().is_some_and(|types| !types.contains(&event.entity_type.as_str()))
                    || organization.is_some_and(|organization| event.organization_id != Some(organization))
                {
                    continue;
                }
                match delivered(&request, &event).await {
                    Ok(Some(entity)) => {
                        let cursor = encode_cursor(&sealer, feed.last());
                        crate::http::metrics::live_event_delivered();
                        yield Ok(Change { event, entity, cursor });
                    }
                    Ok(None) => {}
                    Err(error) => {
                        yield Err(error);
                        break;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_opens_to_its_sequence_and_nothing_else_opens() {
        let sealer = TokenSealer::derive(b"a key of the test", b"brokergraph cursor v1");
        let cursor = encode_cursor(&sealer, 42);
        assert_eq!(decode_cursor(&sealer, &cursor), Some(42));
        assert!(!cursor.contains("42"));
        let other = TokenSealer::derive(b"another key", b"brokergraph cursor v1");
        assert_eq!(decode_cursor(&other, &cursor), None);
        assert_eq!(decode_cursor(&sealer, "Y2hhbmdlOjQy"), None);
    }
}
