use sea_orm::entity::prelude::*;
use serde::Serialize;

use crate::enums::Vendor;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "services")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub broker_id: Uuid,
    pub name: String,
    pub vendor: Vendor,
    /// Unique within the broker's catalog.
    pub sku: String,
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
    #[sea_orm(has_many = "super::subscription::Entity")]
    Subscriptions,
}

impl Related<super::broker::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Broker.def()
    }
}

impl Related<super::subscription::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Subscriptions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
