use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{ColumnTrait, QueryFilter, Select};
use uuid::Uuid;

use entity::{broker, organization, tenant};

use super::broker::Broker;
use super::subscription::ServiceSubscription;
use super::tenant::Tenant;
use super::user::User;
use crate::auth::fields::{Field, may_read};
use crate::domain::validate;
use crate::error::ApiResult;
use crate::graphql::exec::fetch;
use crate::graphql::exec::in_place::InPlace;
use crate::graphql::exec::loaders::{
    OrganizationSubscriptions, OrganizationUsers, TenantOfOrganization,
};
use crate::graphql::relay::connection::Conn;
use crate::graphql::relay::cursor::{Keyed, Order, OrderDirection, SortKey};
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::relay::pagination::PageArgs;
use crate::graphql::{guard, request};

impl Keyed for organization::Model {
    fn id(&self) -> Uuid {
        self.id
    }
    fn sort_value(&self, key: SortKey) -> Option<String> {
        (key == SortKey::Name).then(|| self.name.clone())
    }
}

/// An `ORGANIZATION_USER` sees its organization's name, not its business details.
fn not_member(principal: &crate::auth::Principal) -> bool {
    may_read(principal, Field::OrganizationDetails)
}

/// A customer company or department of one broker.
pub struct Organization(pub organization::Model);

#[Object]
impl Organization {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Organization, self.0.id)
    }
    async fn uuid(&self) -> Uuid {
        self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn contact_email(&self, ctx: &Context<'_>) -> ApiResult<&str> {
        guard(ctx, not_member, "an organization's contact email")?;
        Ok(&self.0.contact_email)
    }
    /// ISO 3166-1 alpha-2 country code.
    async fn country(&self) -> &str {
        &self.0.country
    }
    async fn registration_number(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        guard(ctx, not_member, "an organization's registration number")?;
        Ok(self.0.registration_number.as_deref())
    }
    async fn vat_number(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        guard(ctx, not_member, "an organization's VAT number")?;
        Ok(self.0.vat_number.as_deref())
    }
    /// The broker's own number for this customer.
    async fn customer_number(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        guard(ctx, not_member, "an organization's customer number")?;
        Ok(self.0.customer_number.as_deref())
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

    /// The Microsoft tenant this organization is linked to, if any.
    async fn tenant(&self, ctx: &Context<'_>) -> ApiResult<Option<InPlace<Tenant>>> {
        let tenant = request(ctx)?.load(TenantOfOrganization(self.0.id)).await?;
        Ok(tenant.map(Tenant).map(InPlace))
    }

    /// The organization's users, by email (for an `ORGANIZATION_USER`, by creation).
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn users(
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
        fetch::children::<OrganizationUsers, _>(
            ctx,
            self.0.id,
            args,
            super::user::order_of_users(ctx)?,
            User,
        )
        .await
    }

    /// The organization's subscriptions, oldest first.
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Conn<ServiceSubscription>> {
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let order = Order::asc(SortKey::Id);
        fetch::children::<OrganizationSubscriptions, _>(
            ctx,
            self.0.id,
            args,
            order,
            ServiceSubscription,
        )
        .await
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrganizationOrderField {
    #[default]
    Name,
    CreatedAt,
}

#[derive(InputObject, Debug, Clone, Copy)]
pub struct OrganizationOrder {
    pub field: OrganizationOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl OrganizationOrder {
    /// By name, A to Z, unless asked otherwise.
    pub fn resolve(order: Option<OrganizationOrder>) -> Order {
        let order = order.unwrap_or(OrganizationOrder {
            field: OrganizationOrderField::Name,
            direction: OrderDirection::Asc,
        });
        Order {
            key: match order.field {
                OrganizationOrderField::Name => SortKey::Name,
                OrganizationOrderField::CreatedAt => SortKey::Id,
            },
            direction: order.direction,
        }
    }
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct OrganizationFilter {
    /// Only organizations of this broker.
    pub broker_id: Option<ID>,
    /// Only names containing this text, ignoring case.
    pub name_contains: Option<String>,
    /// Only organizations with (true) or without (false) a linked tenant.
    pub has_tenant: Option<bool>,
    /// Only organizations of this ISO 3166-1 alpha-2 country.
    pub country: Option<String>,
}

/// A `LIKE` pattern matching `text` anywhere, with the wildcards in `text` escaped.
pub fn contains_pattern(text: &str) -> LikeExpr {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    LikeExpr::new(escaped).escape('\\')
}

impl OrganizationFilter {
    fn apply(
        self,
        mut select: Select<organization::Entity>,
    ) -> ApiResult<Select<organization::Entity>> {
        if let Some(id) = &self.broker_id {
            // An ID of another kind matches nothing, like an unknown one.
            let broker = ids::decode_as(Kind::Broker, id, "filter.brokerId")?.unwrap_or_default();
            select = select.filter(organization::Column::BrokerId.eq(broker));
        }
        if let Some(text) = &self.name_contains {
            select = select.filter(
                Expr::expr(Func::lower(Expr::col((
                    organization::Entity,
                    organization::Column::Name,
                ))))
                .like(contains_pattern(text)),
            );
        }
        if let Some(has_tenant) = self.has_tenant {
            let linked = Query::select()
                .column(tenant::Column::OrganizationId)
                .from(tenant::Entity)
                .take();
            let column = Expr::col((organization::Entity, organization::Column::Id));
            select = select.filter(if has_tenant {
                column.in_subquery(linked)
            } else {
                column.not_in_subquery(linked)
            });
        }
        if let Some(country) = &self.country {
            // The mutations' validator: a filter on a code no organization can hold is the
            // client's mistake, answered as one rather than with an empty page.
            let code = validate::country("filter.country", country)?;
            select = select.filter(organization::Column::Country.eq(code));
        }
        Ok(select)
    }
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// Customer organizations, filtered and ordered as asked (by name by default).
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrganizationFilter>,
        order_by: Option<OrganizationOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Conn<Organization>> {
        let select = request(ctx)?.scope.find::<organization::Entity>();
        let select = filter.unwrap_or_default().apply(select)?;
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
            OrganizationOrder::resolve(order_by),
            Organization,
        )
        .await
    }

    /// An organization by its global ID.
    async fn organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> ApiResult<Option<InPlace<Organization>>> {
        let Some(uuid) = ids::decode_as(Kind::Organization, &id, "id")? else {
            return Ok(None);
        };
        Ok(fetch::by_id::<organization::Entity>(ctx, uuid)
            .await?
            .map(Organization)
            .map(InPlace))
    }
}
