//! Mutations that manage the graph: brokers, organizations, users, catalog services,
//! subscriptions and assignments. Each returns the changed object so clients can update their
//! caches; the rules live in `crate::domain::manage`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use crate::domain::manage::broker::{self as brokers, BrokerInput};
use crate::domain::manage::organization::{self as organizations, OrganizationInput};
use crate::domain::manage::service::{self as catalog, ServiceInput};
use crate::domain::manage::subscription::{self as subscriptions, SubscriptionInput};
use crate::domain::manage::user::{self as users, UserInput};
use crate::error::ApiResult;

use super::broker::Broker;
use super::enums::{OrganizationRole, SubscriptionStatus, Vendor};
use super::ids::{self, Kind};
use super::mutation::{DeletePayload, caller};
use super::organization::Organization;
use super::service::Service;
use super::subscription::ServiceSubscription;
use super::user::User;

fn optional_id(kind: Kind, id: &Option<ID>, field: &str) -> ApiResult<Option<uuid::Uuid>> {
    id.as_ref()
        .map(|id| ids::required(kind, id, field))
        .transpose()
}

#[derive(InputObject)]
pub struct CreateBrokerInput {
    /// Lower-case letters, digits and dashes; unique.
    pub slug: String,
    pub name: String,
}

#[derive(InputObject)]
pub struct UpdateBrokerInput {
    pub id: ID,
    pub slug: Option<String>,
    pub name: Option<String>,
}

#[derive(InputObject)]
pub struct DeleteInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct BrokerPayload {
    pub broker: Broker,
}

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub broker_id: ID,
    pub name: String,
    pub contact_email: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub registration_number: Option<String>,
    pub vat_number: Option<String>,
    pub customer_number: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    pub id: ID,
    /// Moves the organization to another broker: platform admins only.
    pub broker_id: Option<ID>,
    pub name: Option<String>,
    pub contact_email: Option<String>,
    pub country: Option<String>,
    /// An empty string clears it.
    pub registration_number: Option<String>,
    pub vat_number: Option<String>,
    pub customer_number: Option<String>,
}

#[derive(SimpleObject)]
pub struct OrganizationPayload {
    pub organization: Organization,
}

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

#[derive(InputObject)]
pub struct CreateServiceInput {
    pub broker_id: ID,
    pub name: String,
    pub vendor: Vendor,
    /// Unique within the broker's catalog.
    pub sku: String,
}

#[derive(InputObject)]
pub struct UpdateServiceInput {
    pub id: ID,
    pub name: Option<String>,
    pub vendor: Option<Vendor>,
    pub sku: Option<String>,
}

#[derive(SimpleObject)]
pub struct ServicePayload {
    pub service: Service,
}

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

fn deleted(kind: Kind, id: uuid::Uuid) -> DeletePayload {
    DeletePayload {
        deleted_id: ids::encode(kind, id),
    }
}

#[derive(Default)]
pub struct ManageMutation;

#[Object]
impl ManageMutation {
    /// Platform admins only.
    async fn create_broker(
        &self,
        ctx: &Context<'_>,
        input: CreateBrokerInput,
    ) -> ApiResult<BrokerPayload> {
        let (services, principal) = caller(ctx)?;
        let changes = BrokerInput {
            slug: Some(input.slug),
            name: Some(input.name),
        };
        let row = brokers::create(services, principal, changes).await?;
        Ok(BrokerPayload {
            broker: Broker(row),
        })
    }

    async fn update_broker(
        &self,
        ctx: &Context<'_>,
        input: UpdateBrokerInput,
    ) -> ApiResult<BrokerPayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Broker, &input.id, "id")?;
        let changes = BrokerInput {
            slug: input.slug,
            name: input.name,
        };
        let row = brokers::update(services, principal, id, changes).await?;
        Ok(BrokerPayload {
            broker: Broker(row),
        })
    }

    /// Refused while the broker has organizations or catalog services.
    async fn delete_broker(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> ApiResult<DeletePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Broker, &input.id, "id")?;
        let row = brokers::delete(services, principal, id).await?;
        Ok(deleted(Kind::Broker, row.id))
    }

    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> ApiResult<OrganizationPayload> {
        let (services, principal) = caller(ctx)?;
        let changes = OrganizationInput {
            broker_id: Some(ids::required(Kind::Broker, &input.broker_id, "brokerId")?),
            name: Some(input.name),
            contact_email: Some(input.contact_email),
            country: Some(input.country),
            registration_number: input.registration_number,
            vat_number: input.vat_number,
            customer_number: input.customer_number,
        };
        let row = organizations::create(services, principal, changes).await?;
        Ok(OrganizationPayload {
            organization: Organization(row),
        })
    }

    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationInput,
    ) -> ApiResult<OrganizationPayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Organization, &input.id, "id")?;
        let changes = OrganizationInput {
            broker_id: optional_id(Kind::Broker, &input.broker_id, "brokerId")?,
            name: input.name,
            contact_email: input.contact_email,
            country: input.country,
            registration_number: input.registration_number,
            vat_number: input.vat_number,
            customer_number: input.customer_number,
        };
        let row = organizations::update(services, principal, id, changes).await?;
        Ok(OrganizationPayload {
            organization: Organization(row),
        })
    }

    /// Deletes the organization with its users and inactive subscriptions; refused while it
    /// has a linked tenant or active subscriptions.
    async fn delete_organization(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> ApiResult<DeletePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Organization, &input.id, "id")?;
        let row = organizations::delete(services, principal, id).await?;
        Ok(deleted(Kind::Organization, row.id))
    }

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

    async fn create_service(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceInput,
    ) -> ApiResult<ServicePayload> {
        let (services, principal) = caller(ctx)?;
        let changes = ServiceInput {
            broker_id: Some(ids::required(Kind::Broker, &input.broker_id, "brokerId")?),
            name: Some(input.name),
            vendor: Some(input.vendor.into()),
            sku: Some(input.sku),
        };
        let row = catalog::create(services, principal, changes).await?;
        Ok(ServicePayload {
            service: Service(row),
        })
    }

    async fn update_service(
        &self,
        ctx: &Context<'_>,
        input: UpdateServiceInput,
    ) -> ApiResult<ServicePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Service, &input.id, "id")?;
        let changes = ServiceInput {
            broker_id: None,
            name: input.name,
            vendor: input.vendor.map(Into::into),
            sku: input.sku,
        };
        let row = catalog::update(services, principal, id, changes).await?;
        Ok(ServicePayload {
            service: Service(row),
        })
    }

    /// Refused while subscriptions use the service.
    async fn delete_service(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> ApiResult<DeletePayload> {
        let (services, principal) = caller(ctx)?;
        let id = ids::required(Kind::Service, &input.id, "id")?;
        let row = catalog::delete(services, principal, id).await?;
        Ok(deleted(Kind::Service, row.id))
    }

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
        let subscription = ids::required(
            Kind::ServiceSubscription,
            &input.subscription_id,
            "subscriptionId",
        )?;
        let user = ids::required(Kind::User, &input.user_id, "userId")?;
        let (subscription, user) =
            subscriptions::assign(services, principal, subscription, user).await?;
        Ok(AssignmentPayload {
            subscription: ServiceSubscription(subscription),
            user: User(user),
        })
    }

    /// Removes a user from a subscription; removing an absent assignment changes nothing.
    async fn unassign_user(
        &self,
        ctx: &Context<'_>,
        input: AssignmentInput,
    ) -> ApiResult<AssignmentPayload> {
        let (services, principal) = caller(ctx)?;
        let subscription = ids::required(
            Kind::ServiceSubscription,
            &input.subscription_id,
            "subscriptionId",
        )?;
        let user = ids::required(Kind::User, &input.user_id, "userId")?;
        let (subscription, user) =
            subscriptions::unassign(services, principal, subscription, user).await?;
        Ok(AssignmentPayload {
            subscription: ServiceSubscription(subscription),
            user: User(user),
        })
    }
}
