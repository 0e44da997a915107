use sea_orm::entity::prelude::*;
use serde::Serialize;

/// The one caller per organization that may ask Partner Center for a new customer.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "tenant_claims")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// `MS-RequestId` of the create call; kept when the claim is taken over.
    pub partner_center_request_id: Uuid,
    /// The holder's token (its provisioning request's `holder`).
    pub holder: Uuid,
    /// Renewed by the holder's heartbeat; the claim is dead once its lease ran out.
    pub heartbeat_at: DateTimeUtc,
    /// The customer Partner Center created, once it answered (not linked yet).
    pub microsoft_tenant_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
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
