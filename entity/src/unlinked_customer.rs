use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A Partner Center customer brokergraph created but could not link to its organization.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "unlinked_customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub broker_id: Uuid,
    /// The organization it was created for (which may since have been deleted).
    pub organization_id: Uuid,
    pub microsoft_tenant_id: Uuid,
    pub primary_domain: String,
    pub partner_center_request_id: Uuid,
    /// The code of the error that kept it from being linked.
    pub reason: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
