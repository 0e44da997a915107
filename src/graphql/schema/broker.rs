use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use entity::broker;

use super::organization::{Organization, OrganizationOrder};
use super::service::Service;
use crate::error::ApiResult;
use crate::graphql::exec::fetch;
use crate::graphql::exec::in_place::InPlace;
use crate::graphql::exec::loaders::{BrokerOrganizations, BrokerServices};
use crate::graphql::relay::connection::Conn;
use crate::graphql::relay::cursor::{Keyed, Order, SortKey};
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::relay::pagination::PageArgs;
use crate::graphql::request;

impl Keyed for broker::Model {
    fn id(&self) -> Uuid {
        self.id
    }
    fn sort_value(&self, key: SortKey) -> Option<String> {
        (key == SortKey::Name).then(|| self.name.clone())
    }
}

/// A company that resells cloud services to its customer organizations.
pub struct Broker(pub broker::Model);

#[Object]
impl Broker {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Broker, self.0.id)
    }
    /// The broker's UUID, as identity providers and other systems know it.
    async fn uuid(&self) -> Uuid {
        self.0.id
    }
    /// Short unique name used in URLs.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The broker's own Partner Center connection; null without one, and for organization
    /// roles.
    async fn partner_center_connection(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<super::partner_connection::PartnerCenterConnection>> {
        super::partner_connection::of_broker(ctx, self.0.id).await
    }

    /// The broker's most recent synchronization with Partner Center, whatever its outcome;
    /// null before the first, and for organization roles.
    async fn last_sync_run(&self, ctx: &Context<'_>) -> ApiResult<Option<super::sync::SyncRun>> {
        super::sync::last_run(ctx, self.0.id).await
    }

    /// The synchronization whose result is current (the last that succeeded); null before the
    /// first, and for organization roles.
    async fn current_sync_run(&self, ctx: &Context<'_>) -> ApiResult<Option<super::sync::SyncRun>> {
        super::sync::current_run(ctx, self.0.id).await
    }

    /// Partner Center customers of the broker that no organization holds, each with suggested
    /// organizations, as the current synchronization found them; null for organization roles.
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn unlinked_partner_center_customers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Option<Conn<super::sync::UnlinkedPartnerCenterCustomer>>> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        super::sync::unlinked(ctx, self.0.id, args).await
    }

    /// The broker's customer organizations.
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        order_by: Option<OrganizationOrder>,
    ) -> ApiResult<Conn<Organization>> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let order = OrganizationOrder::resolve(order_by);
        fetch::children::<BrokerOrganizations, _>(ctx, self.0.id, args, order, Organization).await
    }

    /// The broker's catalog (its E-Store), by name.
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn services(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Conn<Service>> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        fetch::children::<BrokerServices, _>(
            ctx,
            self.0.id,
            args,
            Order::asc(SortKey::Name),
            Service,
        )
        .await
    }
}

#[derive(Default)]
pub struct BrokerQuery;

#[Object]
impl BrokerQuery {
    /// Brokers, by name.
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn brokers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Conn<Broker>> {
        let select = request(ctx)?.scope.find::<broker::Entity>();
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        fetch::list(ctx, select, args, Order::asc(SortKey::Name), Broker).await
    }

    /// A broker by its global ID.
    async fn broker(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<InPlace<Broker>>> {
        let Some(uuid) = ids::decode_as(Kind::Broker, &id, "id")? else {
            return Ok(None);
        };
        Ok(fetch::by_id::<broker::Entity>(ctx, uuid)
            .await?
            .map(Broker)
            .map(InPlace))
    }

    /// A broker by its slug.
    async fn broker_by_slug(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> ApiResult<Option<InPlace<Broker>>> {
        let found = request(ctx)?
            .scope
            .find::<broker::Entity>()
            .filter(broker::Column::Slug.eq(slug))
            .one(&request(ctx)?.db)
            .await?;
        Ok(found.map(Broker).map(InPlace))
    }
}
