//! The one place where the caller's scope is applied on the way to the database.
//!
//! Every read of the GraphQL layer starts from [`Scope::find`], so a root list, a nested
//! connection, a `totalCount`, a `node` lookup and a DataLoader batch are all filtered the same
//! way, and no resolver can forget it. A row outside the scope is simply not there: looking it
//! up answers exactly as for an id that does not exist.

use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, Select};
use uuid::Uuid;

use entity::prelude::*;
use entity::{
    audit_event, broker, organization, service, service_account, subscription,
    subscription_assignment, tenant, user,
};

use crate::auth::UserRef;

/// Which rows a request may see (design.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every row (`PLATFORM_ADMIN`).
    Everything,
    /// One broker and everything under it (`BROKER_ADMIN`, `BROKER_READER`).
    Broker(Uuid),
    /// One organization, its tenant, users and subscriptions, and its broker's name and
    /// catalog (`ORGANIZATION_ADMIN`).
    Organization(Uuid),
    /// One organization's name and tenant, its users, and the subscriptions the user is
    /// assigned to (`ORGANIZATION_USER`).
    Member { organization: Uuid, user: UserRef },
    /// No row at all.
    Nothing,
}

impl Scope {
    /// The rows of `E` this scope may see; the start of every query.
    pub fn find<E: Scoped>(&self) -> Select<E> {
        E::find().filter(E::visible(self))
    }
}

/// An entity whose rows are filtered by scope.
pub trait Scoped: EntityTrait {
    /// The condition a row must meet to be visible in `scope`.
    fn visible(scope: &Scope) -> Condition;
}

/// A scoped entity looked up by its primary key.
pub trait ById: Scoped {
    fn id_column() -> Self::Column;
}

macro_rules! by_id {
    ($($module:ident),* $(,)?) => {$(
        impl ById for $module::Entity {
            fn id_column() -> Self::Column {
                $module::Column::Id
            }
        }
    )*};
}
by_id!(
    broker,
    organization,
    tenant,
    user,
    service,
    subscription,
    service_account,
    audit_event
);

fn none() -> Condition {
    Condition::all().add(Expr::cust("1 = 0"))
}

/// `SELECT id FROM organizations WHERE broker_id = $broker`
fn organizations_of(broker: Uuid) -> SelectStatement {
    Query::select()
        .column(organization::Column::Id)
        .from(Organization)
        .and_where(organization::Column::BrokerId.eq(broker))
        .take()
}

/// `SELECT broker_id FROM organizations WHERE id = $organization`
fn broker_of(organization: Uuid) -> SelectStatement {
    Query::select()
        .column(organization::Column::BrokerId)
        .from(Organization)
        .and_where(organization::Column::Id.eq(organization))
        .take()
}

/// The organization user's own row.
fn member(organization: Uuid, user: &UserRef) -> SelectStatement {
    let mut query = Query::select();
    query
        .column(user::Column::Id)
        .from(User)
        .and_where(user::Column::OrganizationId.eq(organization));
    match user {
        UserRef::Id(id) => query.and_where(user::Column::Id.eq(*id)),
        UserRef::Email(email) => query.and_where(user::Column::Email.eq(email.clone())),
    };
    query
}

/// `SELECT subscription_id FROM subscription_assignments WHERE user_id IN (member)`
fn assigned_to(organization: Uuid, user: &UserRef) -> SelectStatement {
    Query::select()
        .column(subscription_assignment::Column::SubscriptionId)
        .from(SubscriptionAssignment)
        .and_where(subscription_assignment::Column::UserId.in_subquery(member(organization, user)))
        .take()
}

fn tenants_where(organizations: Condition) -> SelectStatement {
    Query::select()
        .column(tenant::Column::Id)
        .from(Tenant)
        .cond_where(organizations)
        .take()
}

fn subscriptions_where(condition: Condition) -> SelectStatement {
    Query::select()
        .column(subscription::Column::Id)
        .from(Subscription)
        .cond_where(condition)
        .take()
}

impl Scoped for Broker {
    fn visible(scope: &Scope) -> Condition {
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => Condition::all().add(broker::Column::Id.eq(*broker)),
            Scope::Organization(organization) => {
                Condition::all().add(broker::Column::Id.in_subquery(broker_of(*organization)))
            }
            Scope::Member { .. } | Scope::Nothing => none(),
        }
    }
}

impl Scoped for Organization {
    fn visible(scope: &Scope) -> Condition {
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => {
                Condition::all().add(organization::Column::BrokerId.eq(*broker))
            }
            Scope::Organization(organization) | Scope::Member { organization, .. } => {
                Condition::all().add(organization::Column::Id.eq(*organization))
            }
            Scope::Nothing => none(),
        }
    }
}

impl Scoped for Tenant {
    fn visible(scope: &Scope) -> Condition {
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => Condition::all()
                .add(tenant::Column::OrganizationId.in_subquery(organizations_of(*broker))),
            Scope::Organization(organization) | Scope::Member { organization, .. } => {
                Condition::all().add(tenant::Column::OrganizationId.eq(*organization))
            }
            Scope::Nothing => none(),
        }
    }
}

impl Scoped for User {
    fn visible(scope: &Scope) -> Condition {
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => Condition::all()
                .add(user::Column::OrganizationId.in_subquery(organizations_of(*broker))),
            // Colleagues are visible to a member; their emails are guarded field by field.
            Scope::Organization(organization) | Scope::Member { organization, .. } => {
                Condition::all().add(user::Column::OrganizationId.eq(*organization))
            }
            Scope::Nothing => none(),
        }
    }
}

impl Scoped for Service {
    fn visible(scope: &Scope) -> Condition {
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => Condition::all().add(service::Column::BrokerId.eq(*broker)),
            Scope::Organization(organization) => Condition::all()
                .add(service::Column::BrokerId.in_subquery(broker_of(*organization))),
            // Only the services of the member's own subscriptions.
            Scope::Member { organization, user } => {
                let own = Query::select()
                    .column(subscription::Column::ServiceId)
                    .from(Subscription)
                    .and_where(
                        subscription::Column::Id.in_subquery(assigned_to(*organization, user)),
                    )
                    .take();
                Condition::all().add(service::Column::Id.in_subquery(own))
            }
            Scope::Nothing => none(),
        }
    }
}

impl Scoped for Subscription {
    fn visible(scope: &Scope) -> Condition {
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => Condition::all()
                .add(subscription::Column::OrganizationId.in_subquery(organizations_of(*broker))),
            Scope::Organization(organization) => {
                Condition::all().add(subscription::Column::OrganizationId.eq(*organization))
            }
            Scope::Member { organization, user } => Condition::all()
                .add(subscription::Column::OrganizationId.eq(*organization))
                .add(subscription::Column::Id.in_subquery(assigned_to(*organization, user))),
            Scope::Nothing => none(),
        }
    }
}

impl Scoped for SubscriptionAssignment {
    fn visible(scope: &Scope) -> Condition {
        let column = subscription_assignment::Column::SubscriptionId;
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => {
                Condition::all().add(column.in_subquery(subscriptions_where(Condition::all().add(
                    subscription::Column::OrganizationId.in_subquery(organizations_of(*broker)),
                ))))
            }
            Scope::Organization(organization) => {
                Condition::all().add(column.in_subquery(subscriptions_where(
                    Condition::all().add(subscription::Column::OrganizationId.eq(*organization)),
                )))
            }
            Scope::Member { organization, user } => Condition::all().add(
                subscription_assignment::Column::UserId.in_subquery(member(*organization, user)),
            ),
            Scope::Nothing => none(),
        }
    }
}

impl Scoped for ServiceAccount {
    fn visible(scope: &Scope) -> Condition {
        let column = service_account::Column::TenantId;
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => Condition::all().add(
                column.in_subquery(tenants_where(Condition::all().add(
                    tenant::Column::OrganizationId.in_subquery(organizations_of(*broker)),
                ))),
            ),
            Scope::Organization(organization) => {
                Condition::all().add(column.in_subquery(tenants_where(
                    Condition::all().add(tenant::Column::OrganizationId.eq(*organization)),
                )))
            }
            Scope::Member { .. } | Scope::Nothing => none(),
        }
    }
}

impl Scoped for AuditEvent {
    fn visible(scope: &Scope) -> Condition {
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => {
                Condition::all().add(audit_event::Column::BrokerId.eq(*broker))
            }
            Scope::Organization(organization) => {
                Condition::all().add(audit_event::Column::OrganizationId.eq(*organization))
            }
            Scope::Member { .. } | Scope::Nothing => none(),
        }
    }
}

/// A broker's synchronization findings: its tenants' results are visible where the tenant is
/// (an organization sees its own); the customers no organization holds, to the broker only.
impl Scoped for SyncTenantResult {
    fn visible(scope: &Scope) -> Condition {
        use entity::sync_tenant_result::Column;
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => Condition::all().add(Column::BrokerId.eq(*broker)),
            Scope::Organization(organization) | Scope::Member { organization, .. } => {
                Condition::all().add(Column::OrganizationId.eq(*organization))
            }
            Scope::Nothing => none(),
        }
    }
}

impl Scoped for SyncCustomer {
    fn visible(scope: &Scope) -> Condition {
        match scope {
            Scope::Everything => Condition::all(),
            Scope::Broker(broker) => {
                Condition::all().add(entity::sync_customer::Column::BrokerId.eq(*broker))
            }
            Scope::Organization(_) | Scope::Member { .. } | Scope::Nothing => none(),
        }
    }
}
