use sea_orm::entity::prelude::*;
use serde::Serialize;

use crate::enums::{TenantLinkMethod, TenantManagement};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub organization_id: Uuid,
    /// The GUID Microsoft Partner Center issued; unique across the platform.
    #[sea_orm(unique)]
    pub microsoft_tenant_id: Uuid,
    pub primary_domain: String,
    pub link_method: TenantLinkMethod,
    pub management: TenantManagement,
    pub linked_at: DateTimeUtc,
    /// JWT subject of whoever linked it.
    pub linked_by: String,
    pub created_at: DateTimeUtc,
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
    #[sea_orm(has_one = "super::service_account::Entity")]
    ServiceAccount,
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl Related<super::service_account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ServiceAccount.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
