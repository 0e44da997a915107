//! The GraphQL API: the schema's types (`schema/`, one module per domain type) merged into the
//! root types here, Relay's connections, cursors and IDs (`relay/`), and the machinery an
//! operation runs on (`exec/`: limits, loaders, errors); the schemas HTTP and the WebSocket run,
//! and each request's context.

pub mod exec;
pub mod federation;
pub mod relay;
pub mod schema;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextSubscribe,
};
use async_graphql::{
    Context, MergedObject, Request, Response, Schema, SchemaBuilder, ServerResult,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sea_orm::DatabaseConnection;
use tracing::Instrument as _;

use crate::auth::{AuthError, Principal};
use crate::domain::Services;
use crate::error::{ApiError, ApiResult, AuthReason};
use crate::scope::Scope;
use exec::documents::Documents;
use exec::errors;
use exec::limits::Limits;
use exec::loaders::DbLoader;

// The query root clients see (without federation's fields: see `federation::ServedQuery`).
// A `//` comment: a doc comment would become the type's description in the SDL.
#[derive(MergedObject, Default)]
pub struct Query(QueryFields);

/// The query root's fields, one part per domain type; a root of its own in each schema.
#[derive(MergedObject, Default)]
pub struct QueryFields(
    schema::node::NodeQuery,
    schema::broker::BrokerQuery,
    schema::organization::OrganizationQuery,
    schema::tenant::TenantQuery,
    schema::user::UserQuery,
    schema::service::ServiceQuery,
    schema::subscription::SubscriptionQuery,
    schema::audit::AuditQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    schema::manage::ManageMutation,
    schema::tenancy::TenancyMutation,
    schema::partner_connection::PartnerConnectionMutation,
    schema::sync::SyncMutation,
    schema::sandbox::SandboxMutation,
);

/// The schema the server runs: the plain schema and federation's `_service` and `_entities`
/// (see [`federation`]).
pub type AppSchema = Schema<federation::ServedQuery, Mutation, schema::live::Subscription>;

/// The schema without federation's additions, for clients that never see a router.
pub type PlainSchema = Schema<Query, Mutation, schema::live::Subscription>;

/// The schema's types and rules, without a database or federation: what `brokergraph schema`
/// prints and `schema.graphql` holds.
pub fn schema() -> PlainSchema {
    builder(Query::default(), &Limits::default()).finish()
}

/// The schema the server runs, without a database: what introspection and `_service` describe.
pub fn served_schema() -> AppSchema {
    builder(federation::ServedQuery::default(), &Limits::default()).finish()
}

/// The schema's SDL as clients see it through introspection: with each scalar's
/// `@specifiedBy(url:)` (async-graphql leaves it out of `sdl()`), so `schema.graphql` and a
/// client schema built from introspection print the same.
pub fn sdl() -> String {
    schema().sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

/// The schema the HTTP handler runs. It has no extensions, so async-graphql resolves each
/// field on its fast path: the handler parses and checks the document itself
/// ([`limits::check_document`]) and gives every operation its [`RequestContext`].
pub fn server_schema(services: Services, limits: &Limits, hub: crate::live::Hub) -> AppSchema {
    with_services(
        builder(federation::ServedQuery::default(), limits),
        services,
        hub,
    )
}

/// The schema the WebSocket and Server-Sent Events run: the same, plus [`WebSocketRules`],
/// which does per operation what the HTTP handler does per request.
pub fn websocket_schema(
    services: Services,
    documents: Arc<Documents>,
    hub: crate::live::Hub,
) -> AppSchema {
    with_services(
        builder(federation::ServedQuery::default(), documents.limits())
            .extension(WebSocketRules(documents)),
        services,
        hub,
    )
}

fn with_services(
    builder: SchemaBuilder<federation::ServedQuery, Mutation, schema::live::Subscription>,
    services: Services,
    hub: crate::live::Hub,
) -> AppSchema {
    builder
        .data(services.db.clone())
        .data(services)
        .data(hub)
        .finish()
}

/// Depth is not among async-graphql's limits here: `limits::check_document` checks it, measuring
/// each fragment once, where async-graphql's depth visitor walks every fragment's expansion.
fn builder<Q: async_graphql::ObjectType + 'static>(
    query: Q,
    limits: &Limits,
) -> SchemaBuilder<Q, Mutation, schema::live::Subscription> {
    let mut builder = Schema::build(query, Mutation::default(), schema::live::Subscription)
        .limit_complexity(limits.max_complexity)
        .limit_directives(limits.max_directives);
    if !limits.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder
}

/// What a resolver knows about its request: the database, the caller and its scope, the
/// loaders (whose batches are filtered by that scope).
pub struct RequestContext {
    pub db: DatabaseConnection,
    pub principal: Option<Principal>,
    pub scope: Scope,
    loader: DataLoader<DbLoader>,
    /// How many keys the operation has asked the loader for (see `RequestContext::new`).
    asks: Arc<AtomicUsize>,
}

impl RequestContext {
    /// A request with no verified principal sees nothing.
    ///
    /// `local`: the operation runs on a single-threaded executor (see `http::graphql`). There,
    /// a batch's load is a local task that waits, yielding, until the operation stops asking
    /// for keys: async-graphql resolves a long list in chunks and yields between them, and
    /// every chunk asks for more keys. Only when a whole turn of the executor adds none has
    /// every sibling asked, so each nesting level is one statement, with no timer to race.
    /// Elsewhere (WebSocket) the loader waits the usual 1 ms for siblings, on the
    /// multi-threaded runtime.
    pub fn new(db: DatabaseConnection, principal: Option<Principal>, local: bool) -> Self {
        let scope = principal
            .as_ref()
            .map(Principal::scope)
            .unwrap_or(Scope::Nothing);
        let batches = DbLoader {
            db: db.clone(),
            scope: scope.clone(),
        };
        let asks = Arc::new(AtomicUsize::new(0));
        let loader = if local {
            let asked = asks.clone();
            DataLoader::new(batches, move |load| {
                let asked = asked.clone();
                tokio::task::spawn_local(
                    async move {
                        loop {
                            let before = asked.load(Ordering::Relaxed);
                            tokio::task::yield_now().await;
                            if asked.load(Ordering::Relaxed) == before {
                                break;
                            }
                        }
                        load.await
                    }
                    .in_current_span(),
                )
            })
            .delay(std::time::Duration::ZERO)
        } else {
            DataLoader::new(batches, |load| tokio::spawn(load.in_current_span()))
        };
        RequestContext {
            db,
            principal,
            scope,
            loader,
            asks,
        }
    }

    /// Loads one key through the request's batches.
    pub async fn load<K>(&self, key: K) -> ApiResult<Option<<DbLoader as Loader<K>>::Value>>
    where
        K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
        DbLoader: Loader<K, Error = ApiError>,
    {
        self.asks.fetch_add(1, Ordering::Relaxed);
        self.loader.load_one(key).await
    }
}

/// What the HTTP handler does per request, done per WebSocket operation: the document, found
/// and checked as over HTTP ([`Documents::prepare`]: the cache, persisted queries, trusted
/// documents, the limits and their codes), and a [`RequestContext`] of its own (fresh
/// loaders, so nothing is cached from one operation to the next on a long-lived connection).
pub struct WebSocketRules(pub Arc<Documents>);

impl ExtensionFactory for WebSocketRules {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(WebSocketRulesExtension(self.0.clone()))
    }
}

struct WebSocketRulesExtension(Arc<Documents>);

#[async_graphql::async_trait::async_trait]
impl Extension for WebSocketRulesExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // The connection closes when its token expires; an operation that arrives in the
        // moment before is refused here, as an HTTP request with that token would be.
        if ctx
            .data_opt::<crate::http::websocket::TokenExpiry>()
            .is_some_and(|expiry| expiry.has_passed())
        {
            return Err(ApiError::from(AuthError::of(AuthReason::TokenExpired)).into_server_error());
        }
        let document = self.0.prepare(&mut request, None).await?;
        request.set_parsed_query(document);
        if let Some(db) = ctx.data_opt::<DatabaseConnection>() {
            let principal = ctx.data_opt::<Principal>().cloned();
            request = request.data(RequestContext::new(db.clone(), principal, false));
        }
        next.run(ctx, request).await
    }

    /// Every answer of the operation, its refusals included, leaves coded and cut short
    /// ([`errors::for_client`]), as over HTTP.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(errors::for_client).boxed()
    }
}

/// The request's context; the server always provides it.
pub fn request<'a>(ctx: &Context<'a>) -> ApiResult<&'a RequestContext> {
    ctx.data::<RequestContext>().map_err(|_| {
        tracing::error!("request context missing");
        ApiError::Internal
    })
}

/// Refuses a field the caller's role may not read on a row it may see.
pub fn guard(
    ctx: &Context<'_>,
    allowed: impl FnOnce(&Principal) -> bool,
    what: &str,
) -> ApiResult<()> {
    match &request(ctx)?.principal {
        Some(principal) if allowed(principal) => Ok(()),
        _ => Err(ApiError::Forbidden(format!(
            "your role may not read {what}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::websocket::TokenExpiry;

    /// Runs `query` as a WebSocket operation does: with the connection's data as session data
    /// (where `connection_init` puts the expiry).
    async fn run_on_connection(expiry: TokenExpiry) -> async_graphql::Response {
        use async_graphql::Executor;
        use futures_util::StreamExt;
        let mut data = async_graphql::Data::default();
        data.insert(expiry);
        let mut stream = Executor::execute_stream(
            &websocket_rules_only(),
            Request::new("{ __typename }"),
            Some(Arc::new(data)),
        );
        stream.next().await.unwrap_or_default()
    }

    fn websocket_rules_only() -> AppSchema {
        let limits = Limits::default();
        let documents = Documents::new(
            limits.clone(),
            &exec::documents::DocumentsConfig::default(),
            sea_orm::DatabaseConnection::default(),
        );
        builder(federation::ServedQuery::default(), &limits)
            .extension(WebSocketRules(Arc::new(documents)))
            .finish()
    }

    #[tokio::test]
    async fn a_websocket_operation_past_its_tokens_expiry_is_refused() {
        let response = run_on_connection(TokenExpiry { until_millis: 0 }).await;
        let error = response.errors.first().map(|error| {
            let extensions = error.extensions.as_ref();
            (
                extensions.and_then(|ext| ext.get("code")).cloned(),
                extensions.and_then(|ext| ext.get("reason")).cloned(),
            )
        });
        assert_eq!(
            error,
            Some((
                Some(async_graphql::Value::from("UNAUTHENTICATED")),
                Some(async_graphql::Value::from("TOKEN_EXPIRED"))
            ))
        );
        let valid = run_on_connection(TokenExpiry {
            until_millis: i64::MAX,
        })
        .await;
        assert!(valid.errors.is_empty(), "{:?}", valid.errors);
    }
}
