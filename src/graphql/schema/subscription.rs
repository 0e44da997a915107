use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter, Select};
use uuid::Uuid;

use entity::{organization, service, subscription};

use super::enums::SubscriptionStatus;
use super::organization::Organization;
use super::service::Service;
use super::user::User;
use crate::error::ApiResult;
use crate::graphql::exec::fetch;
use crate::graphql::exec::in_place::InPlace;
use crate::graphql::exec::loaders::SubscriptionAssignees;
use crate::graphql::relay::connection::Conn;
use crate::graphql::relay::cursor::{Keyed, Order, SortKey};
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::relay::pagination::PageArgs;
use crate::graphql::request;

impl Keyed for subscription::Model {
    fn id(&self) -> Uuid {
        self.id
    }
    fn sort_value(&self, _: SortKey) -> Option<String> {
        None
    }
}

/// An organization's purchase of a catalog service. (Not `Subscription`: Apollo Client's cache
/// takes a type of that name for the subscription root.)
pub struct ServiceSubscription(pub subscription::Model);

#[Object]
impl ServiceSubscription {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::ServiceSubscription, self.0.id)
    }
    async fn uuid(&self) -> Uuid {
        self.0.id
    }
    /// How many licences; always more than zero.
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    async fn status(&self) -> SubscriptionStatus {
        self.0.status.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    async fn organization(&self, ctx: &Context<'_>) -> ApiResult<InPlace<Organization>> {
        fetch::parent::<organization::Entity>(ctx, self.0.organization_id, "organization")
            .await
            .map(|row| InPlace(Organization(row)))
    }

    async fn service(&self, ctx: &Context<'_>) -> ApiResult<InPlace<Service>> {
        fetch::parent::<service::Entity>(ctx, self.0.service_id, "service")
            .await
            .map(|row| InPlace(Service(row)))
    }

    /// The users assigned to this subscription, by email (for an `ORGANIZATION_USER`, by
    /// creation).
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn assignees(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Conn<User>> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let order = super::user::order_of_users(ctx)?;
        fetch::children::<SubscriptionAssignees, _>(ctx, self.0.id, args, order, User).await
    }
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct SubscriptionFilter {
    pub organization_id: Option<ID>,
    pub service_id: Option<ID>,
    pub status: Option<SubscriptionStatus>,
}

impl SubscriptionFilter {
    fn apply(
        self,
        mut select: Select<subscription::Entity>,
    ) -> ApiResult<Select<subscription::Entity>> {
        if let Some(id) = &self.organization_id {
            let organization = ids::decode_as(Kind::Organization, id, "filter.organizationId")?
                .unwrap_or_default();
            select = select.filter(subscription::Column::OrganizationId.eq(organization));
        }
        if let Some(id) = &self.service_id {
            let service =
                ids::decode_as(Kind::Service, id, "filter.serviceId")?.unwrap_or_default();
            select = select.filter(subscription::Column::ServiceId.eq(service));
        }
        if let Some(status) = self.status {
            select = select.filter(
                subscription::Column::Status.eq(entity::enums::SubscriptionStatus::from(status)),
            );
        }
        Ok(select)
    }
}

#[derive(Default)]
pub struct SubscriptionQuery;

#[Object]
impl SubscriptionQuery {
    /// Subscriptions, oldest first.
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        filter: Option<SubscriptionFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Conn<ServiceSubscription>> {
        let select = filter
            .unwrap_or_default()
            .apply(request(ctx)?.scope.find::<subscription::Entity>())?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        fetch::list(
            ctx,
            select,
            args,
            Order::asc(SortKey::Id),
            ServiceSubscription,
        )
        .await
    }
}
