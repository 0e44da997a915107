//! Creating, changing, moving and deleting users.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::{DeleteInput, deleted, optional_id};
use crate::domain::manage::user::{self as users, UserInput};
use crate::error::ApiResult;
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::schema::enums::OrganizationRole;
use crate::graphql::schema::mutation::{DeletePayload, caller};
use crate::graphql::schema::user::User;

#[derive(InputObject)]
pub struct CreateUserInput {
    pub organization_id: ID,
    /// The username; unique.
    pub email: String,
    pub display_name: String,
    #[graphql(default_with = "OrganizationRole::OrganizationUser")]
    pub role: OrganizationRole,
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    pub id: ID,
    /// Moves the user to another organization: only a role that manages both may.
    pub organization_id: Option<ID>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<OrganizationRole>,
}

#[derive(SimpleObject)]
pub struct UserPayload {
    pub user: User,
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserInput,
    ) -> ApiResult<UserPayload> {
        let (services, principal) = caller(ctx)?;
        let changes = UserInput {
            organization_id: Some(ids::required(
                Kind::Organization,
                &input.organization_id,
                "organizationId",
            )?),
            email: Some(input.email),
            display_name: Some(input.display_name),
            role: Some(input.role.into()),
        };
        let row = users::create(services, principal, changes).await?;
        Ok(UserPayload { user: User(row) })
    }

    async fn update_user(
        &self,
        ctx: &Context<'_>,
        input: UpdateUserInput,
    ) -> ApiResult<UserPayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::User, &input.id, "id")?;
        let changes = UserInput {
            organization_id: optional_id(
                Kind::Organization,
                &input.organization_id,
                "organizationId",
            )?,
            email: input.email,
            display_name: input.display_name,
            role: input.role.map(Into::into),
        };
        let row = users::update(services, principal, id, changes).await?;
        Ok(UserPayload { user: User(row) })
    }

    async fn delete_user(&self, ctx: &Context<'_>, input: DeleteInput) -> ApiResult<DeletePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::User, &input.id, "id")?;
        let row = users::delete(services, principal, id).await?;
        Ok(deleted(Kind::User, row.id))
    }
}
