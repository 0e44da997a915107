use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter, Select};
use uuid::Uuid;

use entity::{organization, user};

use super::enums::OrganizationRole;
use super::organization::Organization;
use super::subscription::ServiceSubscription;
use crate::auth::fields::{Field, may_read};
use crate::error::ApiResult;
use crate::graphql::exec::fetch;
use crate::graphql::exec::in_place::InPlace;
use crate::graphql::exec::loaders::UserSubscriptions;
use crate::graphql::relay::connection::Conn;
use crate::graphql::relay::cursor::{Keyed, Order, SortKey};
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::relay::pagination::PageArgs;
use crate::graphql::{guard, request};

/// How lists of users are ordered for the caller: by email, or, for a caller that may not read
/// every email in the list, by creation, so that the order says nothing of the emails.
pub fn order_of_users(ctx: &Context<'_>) -> ApiResult<Order> {
    let by_email = request(ctx)?
        .principal
        .as_ref()
        .is_some_and(|p| may_read(p, Field::UserEmail(None)));
    Ok(Order::asc(if by_email {
        SortKey::Email
    } else {
        SortKey::Id
    }))
}

impl Keyed for user::Model {
    fn id(&self) -> Uuid {
        self.id
    }
    fn sort_value(&self, key: SortKey) -> Option<String> {
        (key == SortKey::Email).then(|| self.email.clone())
    }
}

/// A person in an organization; the email is the username.
pub struct User(pub user::Model);

#[Object]
impl User {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::User, self.0.id)
    }
    async fn uuid(&self) -> Uuid {
        self.0.id
    }
    /// The username. An `ORGANIZATION_USER` reads its own only.
    async fn email(&self, ctx: &Context<'_>) -> ApiResult<&str> {
        let user = &self.0;
        guard(
            ctx,
            |p| may_read(p, Field::UserEmail(Some((user.id, &user.email)))),
            "a colleague's email",
        )?;
        Ok(&user.email)
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn role(&self) -> OrganizationRole {
        self.0.role.into()
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

    /// The subscriptions this user is assigned to, oldest first.
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
        fetch::children::<UserSubscriptions, _>(ctx, self.0.id, args, order, ServiceSubscription)
            .await
    }
}

#[derive(InputObject, Debug, Clone, Default)]
pub struct UserFilter {
    /// Only users of this organization.
    pub organization_id: Option<ID>,
    /// Only users with this role.
    pub role: Option<OrganizationRole>,
    /// Only the user with this email (ignoring case).
    pub email: Option<String>,
}

impl UserFilter {
    fn apply(
        self,
        ctx: &Context<'_>,
        mut select: Select<user::Entity>,
    ) -> ApiResult<Select<user::Entity>> {
        if let Some(id) = &self.organization_id {
            let organization = ids::decode_as(Kind::Organization, id, "filter.organizationId")?
                .unwrap_or_default();
            select = select.filter(user::Column::OrganizationId.eq(organization));
        }
        if let Some(role) = self.role {
            select =
                select.filter(user::Column::Role.eq(entity::enums::OrganizationRole::from(role)));
        }
        if let Some(email) = &self.email {
            // A filter answers which rows hold a value: on a field the caller may not read,
            // it would confirm guesses of it.
            guard(
                ctx,
                |p| may_read(p, Field::UserEmail(None)),
                "users' emails (`filter.email`)",
            )?;
            select = select.filter(user::Column::Email.eq(email.trim().to_lowercase()));
        }
        Ok(select)
    }
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// Users, by email (for an `ORGANIZATION_USER`, by creation).
    #[graphql(
        complexity = "crate::graphql::exec::limits::page_cost(first, last) * child_complexity"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Conn<User>> {
        let select = filter
            .unwrap_or_default()
            .apply(ctx, request(ctx)?.scope.find::<user::Entity>())?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        fetch::list(ctx, select, args, order_of_users(ctx)?, User).await
    }

    /// A user by its global ID.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<InPlace<User>>> {
        let Some(uuid) = ids::decode_as(Kind::User, &id, "id")? else {
            return Ok(None);
        };
        Ok(fetch::by_id::<user::Entity>(ctx, uuid)
            .await?
            .map(User)
            .map(InPlace))
    }
}
