//! DataLoaders: one batched statement per relation and nesting level, whatever the row count.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use async_graphql::dataloader::Loader;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityName as _, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationTrait, Select,
};
use tracing::Instrument as _;
use uuid::Uuid;

use entity::{organization, service, service_account, subscription, tenant, user};

use crate::error::ApiError;
use crate::graphql::relay::cursor::Keyed;
use crate::graphql::relay::keyset::{Parent, fetch_pages};
use crate::graphql::relay::pagination::{Page, PageRequest};
use crate::scope::{ById, Scope, Scoped};
use crate::telemetry;

/// Runs the batches of one request, in that request's scope.
pub struct DbLoader {
    pub db: DatabaseConnection,
    pub scope: Scope,
}

/// Key: the row of `E` with this id.
pub struct Id<E>(pub Uuid, PhantomData<fn() -> E>);

impl<E> Id<E> {
    pub fn new(id: Uuid) -> Self {
        Id(id, PhantomData)
    }
}

// Manual impls: derives would demand the same of `E`.
impl<E> Clone for Id<E> {
    fn clone(&self) -> Self {
        Id::new(self.0)
    }
}
impl<E> PartialEq for Id<E> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<E> Eq for Id<E> {}
impl<E> Hash for Id<E> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

/// The log line of each batch (at debug): one statement of a relation at a nesting level, in
/// the span of the request that asked for it.
fn loaded(table: &str, keys: usize, found: usize) {
    tracing::debug!(table, keys, found, "batch loaded");
}

fn index_by<K: Hash + Eq, M>(rows: Vec<M>, key: impl Fn(&M) -> K) -> HashMap<K, M> {
    rows.into_iter().map(|row| (key(&row), row)).collect()
}

impl<E> Loader<Id<E>> for DbLoader
where
    E: ById,
    E::Model: Keyed + Clone + Send + Sync,
{
    type Value = E::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[Id<E>]) -> Result<HashMap<Id<E>, E::Model>, ApiError> {
        let table = E::default().table_name();
        let rows = self
            .scope
            .find::<E>()
            .filter(E::id_column().is_in(keys.iter().map(|key| key.0)))
            .all(&self.db)
            .instrument(telemetry::batch_span(table, None, keys.len()))
            .await?;
        loaded(table, keys.len(), rows.len());
        Ok(index_by(rows, |row| Id::new(row.id())))
    }
}

/// Key: the tenant an organization is linked to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TenantOfOrganization(pub Uuid);

impl Loader<TenantOfOrganization> for DbLoader {
    type Value = tenant::Model;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[TenantOfOrganization],
    ) -> Result<HashMap<TenantOfOrganization, tenant::Model>, ApiError> {
        let parent = Some(("tenants", "organization_id"));
        let rows = self
            .scope
            .find::<tenant::Entity>()
            .filter(tenant::Column::OrganizationId.is_in(keys.iter().map(|key| key.0)))
            .all(&self.db)
            .instrument(telemetry::batch_span("tenants", parent, keys.len()))
            .await?;
        loaded("tenants", keys.len(), rows.len());
        Ok(index_by(rows, |t| TenantOfOrganization(t.organization_id)))
    }
}

/// Key: the customer-consent service account of a tenant.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountOfTenant(pub Uuid);

impl Loader<AccountOfTenant> for DbLoader {
    type Value = service_account::Model;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[AccountOfTenant],
    ) -> Result<HashMap<AccountOfTenant, service_account::Model>, ApiError> {
        let (table, parent) = ("service_accounts", Some(("service_accounts", "tenant_id")));
        let rows = self
            .scope
            .find::<service_account::Entity>()
            .filter(service_account::Column::TenantId.is_in(keys.iter().map(|key| key.0)))
            .all(&self.db)
            .instrument(telemetry::batch_span(table, parent, keys.len()))
            .await?;
        loaded(table, keys.len(), rows.len());
        Ok(index_by(rows, |a| AccountOfTenant(a.tenant_id)))
    }
}

/// A one-to-many (or many-to-many) list hanging from a parent row.
pub trait Children: Send + Sync + 'static {
    type Entity: Scoped;
    /// Where the parent's id is found in the statement.
    const PARENT: Parent;
    fn select(scope: &Scope) -> Select<Self::Entity> {
        scope.find::<Self::Entity>()
    }
}

/// Key: one page of the children of one parent.
pub struct PageOf<R> {
    pub parent: Uuid,
    pub request: PageRequest,
    _relation: PhantomData<fn() -> R>,
}

impl<R> PageOf<R> {
    pub fn new(parent: Uuid, request: PageRequest) -> Self {
        PageOf {
            parent,
            request,
            _relation: PhantomData,
        }
    }
}

impl<R> Clone for PageOf<R> {
    fn clone(&self) -> Self {
        PageOf::new(self.parent, self.request.clone())
    }
}
impl<R> PartialEq for PageOf<R> {
    fn eq(&self, other: &Self) -> bool {
        self.parent == other.parent && self.request == other.request
    }
}
impl<R> Eq for PageOf<R> {}
impl<R> Hash for PageOf<R> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parent.hash(state);
        self.request.hash(state);
    }
}

impl<R> Loader<PageOf<R>> for DbLoader
where
    R: Children,
    <R::Entity as EntityTrait>::Model: Clone + Send + Sync,
{
    type Value = Page<<R::Entity as EntityTrait>::Model>;
    type Error = ApiError;

    async fn load(&self, keys: &[PageOf<R>]) -> Result<HashMap<PageOf<R>, Self::Value>, ApiError> {
        // Keys of one batch almost always share their page request (the same field of the
        // same query); each distinct request is one statement.
        let mut by_request: HashMap<&PageRequest, Vec<Uuid>> = HashMap::new();
        for key in keys {
            by_request.entry(&key.request).or_default().push(key.parent);
        }
        let table = <R::Entity as Default>::default().table_name();
        let parent = Some((R::PARENT.table, R::PARENT.column));
        let span = telemetry::batch_span(table, parent, keys.len());
        let mut out = HashMap::with_capacity(keys.len());
        for (request, parents) in by_request {
            let mut pages = fetch_pages(
                &self.db,
                R::select(&self.scope),
                Some((R::PARENT, &parents)),
                request,
            )
            .instrument(span.clone())
            .await?;
            for parent in parents {
                let page = pages.remove(&parent).unwrap_or_default();
                out.insert(PageOf::new(parent, request.clone()), page);
            }
        }
        loaded(table, keys.len(), out.len());
        Ok(out)
    }
}

macro_rules! children {
    ($name:ident, $entity:ty, $table:literal . $column:literal) => {
        pub struct $name;
        impl Children for $name {
            type Entity = $entity;
            const PARENT: Parent = Parent {
                table: $table,
                column: $column,
            };
        }
    };
}

children!(BrokerOrganizations, organization::Entity, "organizations"."broker_id");
children!(BrokerServices, service::Entity, "services"."broker_id");
children!(OrganizationUsers, user::Entity, "users"."organization_id");
children!(OrganizationSubscriptions, subscription::Entity, "subscriptions"."organization_id");

/// A user's subscriptions, through its assignments.
pub struct UserSubscriptions;
impl Children for UserSubscriptions {
    type Entity = subscription::Entity;
    const PARENT: Parent = Parent {
        table: "subscription_assignments",
        column: "user_id",
    };
    fn select(scope: &Scope) -> Select<subscription::Entity> {
        scope.find::<subscription::Entity>().join(
            JoinType::InnerJoin,
            subscription::Relation::Assignments.def(),
        )
    }
}

/// The users assigned to a subscription.
pub struct SubscriptionAssignees;
impl Children for SubscriptionAssignees {
    type Entity = user::Entity;
    const PARENT: Parent = Parent {
        table: "subscription_assignments",
        column: "subscription_id",
    };
    fn select(scope: &Scope) -> Select<user::Entity> {
        scope
            .find::<user::Entity>()
            .join(JoinType::InnerJoin, user::Relation::Assignments.def())
    }
}
