//! Adding, changing and deleting subscriptions by hand, and assigning users to them.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use entity::{subscription, user};

use super::{DeleteInput, deleted};
use crate::domain::manage::subscription::{self as subscriptions, SubscriptionInput};
use crate::error::ApiResult;
use crate::graphql::relay::ids::{self, Kind};
use crate::graphql::schema::enums::SubscriptionStatus;
use crate::graphql::schema::mutation::{DeletePayload, caller};
use crate::graphql::schema::subscription::ServiceSubscription;
use crate::graphql::schema::user::User;

#[derive(InputObject)]
pub struct CreateSubscriptionInput {
    pub organization_id: ID,
    pub service_id: ID,
    pub quantity: i32,
    #[graphql(default_with = "SubscriptionStatus::Active")]
    pub status: SubscriptionStatus,
}

#[derive(InputObject)]
pub struct UpdateSubscriptionInput {
    pub id: ID,
    pub quantity: Option<i32>,
    pub status: Option<SubscriptionStatus>,
}

#[derive(SimpleObject)]
pub struct SubscriptionPayload {
    pub subscription: ServiceSubscription,
}

#[derive(InputObject)]
pub struct AssignmentInput {
    pub subscription_id: ID,
    pub user_id: ID,
}

#[derive(SimpleObject)]
pub struct AssignmentPayload {
    pub subscription: ServiceSubscription,
    pub user: User,
}

impl AssignmentInput {
    fn ids(&self) -> ApiResult<(uuid::Uuid, uuid::Uuid)> {
        let subscription = ids::required(
            Kind::ServiceSubscription,
            &self.subscription_id,
            "subscriptionId",
        )?;
        let user = ids::required(Kind::User, &self.user_id, "userId")?;
        Ok((subscription, user))
    }
}

impl From<(subscription::Model, user::Model)> for AssignmentPayload {
    fn from((subscription, user): (subscription::Model, user::Model)) -> Self {
        AssignmentPayload {
            subscription: ServiceSubscription(subscription),
            user: User(user),
        }
    }
}

#[derive(Default)]
pub struct SubscriptionMutation;

#[Object]
impl SubscriptionMutation {
    /// Adds a subscription by hand (broker admins). An active Microsoft subscription needs a
    /// linked tenant; `addMicrosoftService` creates one through Partner Center.
    async fn create_subscription(
        &self,
        ctx: &Context<'_>,
        input: CreateSubscriptionInput,
    ) -> ApiResult<SubscriptionPayload> {
        let (services, principal) = caller(ctx)?;
        let changes = SubscriptionInput {
            organization_id: Some(ids::required(
                Kind::Organization,
                &input.organization_id,
                "organizationId",
            )?),
            service_id: Some(ids::required(
                Kind::Service,
                &input.service_id,
                "serviceId",
            )?),
            quantity: Some(input.quantity),
            status: Some(input.status.into()),
        };
        let row = subscriptions::create(services, principal, changes).await?;
        Ok(SubscriptionPayload {
            subscription: ServiceSubscription(row),
        })
    }

    async fn update_subscription(
        &self,
        ctx: &Context<'_>,
        input: UpdateSubscriptionInput,
    ) -> ApiResult<SubscriptionPayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::ServiceSubscription, &input.id, "id")?;
        let changes = SubscriptionInput {
            organization_id: None,
            service_id: None,
            quantity: input.quantity,
            status: input.status.map(Into::into),
        };
        let row = subscriptions::update(services, principal, id, changes).await?;
        Ok(SubscriptionPayload {
            subscription: ServiceSubscription(row),
        })
    }

    async fn delete_subscription(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> ApiResult<DeletePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::ServiceSubscription, &input.id, "id")?;
        let row = subscriptions::delete(services, principal, id).await?;
        Ok(deleted(Kind::ServiceSubscription, row.id))
    }

    /// Assigns a user to a subscription of its organization; assigning twice changes nothing.
    async fn assign_user(
        &self,
        ctx: &Context<'_>,
        input: AssignmentInput,
    ) -> ApiResult<AssignmentPayload> {
        let (services, principal) = caller(ctx)?;
        let (subscription, user) = input.ids()?;
        let changed = subscriptions::assign(services, principal, subscription, user).await?;
        Ok(AssignmentPayload::from(changed))
    }

    /// Removes a user from a subscription; removing an absent assignment changes nothing.
    async fn unassign_user(
        &self,
        ctx: &Context<'_>,
        input: AssignmentInput,
    ) -> ApiResult<AssignmentPayload> {
        let (services, principal) = caller(ctx)?;
        let (subscription, user) = input.ids()?;
        let changed = subscriptions::unassign(services, principal, subscription, user).await?;
        Ok(AssignmentPayload::from(changed))
    }
}
