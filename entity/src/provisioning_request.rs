use sea_orm::entity::prelude::*;
use serde::Serialize;

use crate::enums::ProvisioningState;

/// One E-Store provisioning call, keyed by the caller's idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "provisioning_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// Unique per organization.
    pub idempotency_key: String,
    /// SHA-256 of the normalised input, to refuse a reused key with other input.
    pub request_hash: String,
    pub state: ProvisioningState,
    pub microsoft_tenant_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub error_code: Option<String>,
    /// The token of the caller holding the lease while `PENDING`; only it may write the outcome.
    pub holder: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// While `PENDING`, renewed by its holder's heartbeat: the lease runs from here.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id"
    )]
    Organization,
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
