use sea_orm::entity::prelude::*;
use serde::Serialize;

use crate::enums::ServiceAccountStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "service_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub tenant_id: Uuid,
    pub user_principal_name: String,
    pub display_name: String,
    /// JSON array of Entra directory role names.
    pub directory_roles: Json,
    pub usage_location: String,
    pub password_changed: bool,
    pub mfa_configured: bool,
    pub roles_confirmed: bool,
    /// AES-256-GCM ciphertext of the credential; never returned by the API, never audited.
    #[serde(skip)]
    pub credential_ciphertext: Option<Vec<u8>>,
    #[serde(skip)]
    pub credential_nonce: Option<Vec<u8>>,
    pub status: ServiceAccountStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
