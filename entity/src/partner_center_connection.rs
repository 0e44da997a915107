use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A broker's own Partner Center connection. The credentials are AES-256-GCM ciphertexts bound
/// to the broker; they are never returned by the API and never audited.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "partner_center_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub broker_id: Uuid,
    /// The partner's Entra (Azure AD) tenant.
    pub entra_tenant_id: Uuid,
    /// The Entra application (client) ID.
    pub application_id: Uuid,
    #[serde(skip)]
    pub client_secret_ciphertext: Option<Vec<u8>>,
    #[serde(skip)]
    pub client_secret_nonce: Option<Vec<u8>>,
    #[serde(skip)]
    pub refresh_token_ciphertext: Option<Vec<u8>>,
    #[serde(skip)]
    pub refresh_token_nonce: Option<Vec<u8>>,
    /// When a person last set the credentials (a refresh token Entra rotated does not count).
    pub credentials_set_at: DateTimeUtc,
    /// The JWT subject who set them.
    pub credentials_set_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::broker::Entity",
        from = "Column::BrokerId",
        to = "super::broker::Column::Id"
    )]
    Broker,
}

impl Related<super::broker::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Broker.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
