use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter, Select};
use uuid::Uuid;

use entity::{broker, service};

use super::broker::Broker;
use super::enums::Vendor;
use crate::error::ApiResult;
use crate::graphql::exec::fetch;
use crate::graphql::exec::in_place::InPlace;
use crate::graphql::relay::connection::Conn;
use crate::graphql::relay::cursor::{Keyed, Order, SortKey};
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::relay::pagination::PageArgs;
use crate::graphql::request;

impl Keyed for service::Model {
    fn id(&self) -> Uuid {
        self.id
    }
    fn sort_value(&self, key: SortKey) -> Option<String> {
        (key == SortKey::Name).then(|| self.name.clone())
    }
}

/// An item of a broker's catalog (its E-Store).
pub struct Service(pub service::Model);

#[Object]
impl Service {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Service, self.0.id)
    }
    async fn uuid(&self) -> Uuid {
        self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn vendor(&self) -> Vendor {
        self.0.vendor.into()
    }
    /// Stock-keeping unit, unique within the broker's catalog.
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    async fn broker(&self, ctx: &Context<'_>) -> ApiResult<InPlace<Broker>> {
        fetch::parent::<broker::Entity>(ctx, self.0.broker_id, "broker")
            .await
            .map(|row| InPlace(Broker(row)))
    }
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct ServiceFilter {
    /// Only this broker's catalog.
    pub broker_id: Option<ID>,
    pub vendor: Option<Vendor>,
}

impl ServiceFilter {
    fn apply(self, mut select: Select<service::Entity>) -> ApiResult<Select<service::Entity>> {
        if let Some(id) = &self.broker_id {
            let broker = ids::decode_as(Kind::Broker, id, "filter.brokerId")?.unwrap_or_default();
            select = select.filter(service::Column::BrokerId.eq(broker));
        }
        if let Some(vendor) = self.vendor {
            select = select.filter(service::Column::Vendor.eq(entity::enums::Vendor::from(vendor)));
        }
        Ok(select)
    }
}

#[derive(Default)]
pub struct ServiceQuery;

#[Object]
impl ServiceQuery {
    /// Catalog services, by name.
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn services(
        &self,
        ctx: &Context<'_>,
        filter: Option<ServiceFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Conn<Service>> {
        let select = filter
            .unwrap_or_default()
            .apply(request(ctx)?.scope.find::<service::Entity>())?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        fetch::list(ctx, select, args, Order::asc(SortKey::Name), Service).await
    }
}
