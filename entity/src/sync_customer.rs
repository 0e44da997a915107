use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A Partner Center customer that no organization held when a synchronization ran.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "sync_customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub run_id: Uuid,
    pub broker_id: Uuid,
    pub microsoft_tenant_id: Uuid,
    pub company_name: String,
    pub primary_domain: String,
    /// The broker's organizations without a tenant that look like this customer (UUIDs).
    pub suggested_organization_ids: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
