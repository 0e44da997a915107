//! Whether an organization token's `sub` is still one of its organization's users.
//!
//! A token outlives the row it names: a user deleted (or never created) keeps a valid
//! signature until `exp`. Organization roles see their organization through their membership,
//! so a token whose subject is no member is refused, like an expired one. Broker and platform
//! subjects live in the identity provider only, so there is nothing to look up for them.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use entity::user;

use super::{AuthError, Principal, UserRef};
use crate::error::{ApiError, AuthReason};

/// `UNAUTHENTICATED` (`SUBJECT_UNKNOWN`) when `principal` has an organization role and its
/// subject (a UUID or an email) is no user of its organization; one indexed lookup, only for
/// organization roles.
pub async fn ensure_member(
    db: &impl ConnectionTrait,
    principal: &Principal,
) -> Result<(), ApiError> {
    let (true, Some(organization)) = (
        principal.role.is_organization_role(),
        principal.organization_id,
    ) else {
        return Ok(());
    };
    let mut query = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::OrganizationId.eq(organization));
    query = match principal.user_ref() {
        UserRef::Id(id) => query.filter(user::Column::Id.eq(id)),
        UserRef::Email(email) => query.filter(user::Column::Email.eq(email)),
    };
    let found: Option<uuid::Uuid> = query.into_tuple().one(db).await?;
    match found {
        Some(_) => Ok(()),
        None => Err(AuthError::of(AuthReason::SubjectUnknown).into()),
    }
}
