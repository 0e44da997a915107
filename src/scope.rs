//! The one place where the caller's scope is applied on the way to the database.
//!
//! Every read of the GraphQL layer starts from [`Scope::find`], so a root list, a nested
//! connection, a `totalCount`, a `node` lookup and a DataLoader batch are all filtered the same
//! way, and no resolver can forget it.

use sea_orm::{Condition, EntityTrait, QueryFilter, Select};

use entity::prelude::*;

/// Which rows a request may see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every row (the platform itself, and `PLATFORM_ADMIN`).
    Everything,
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

macro_rules! scoped {
    ($($entity:ty),* $(,)?) => {$(
        impl Scoped for $entity {
            fn visible(scope: &Scope) -> Condition {
                match scope {
                    Scope::Everything => Condition::all(),
                }
            }
        }
    )*};
}

scoped!(
    Broker,
    Organization,
    Tenant,
    User,
    Service,
    Subscription,
    SubscriptionAssignment,
    ServiceAccount,
    AuditEvent,
);
