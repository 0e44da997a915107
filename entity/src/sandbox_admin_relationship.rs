use sea_orm::entity::prelude::*;

use crate::enums::AdminRelationshipStatus;

/// An admin relationship (GDAP) between a sandbox customer and its partner.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sandbox_admin_relationships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub status: AdminRelationshipStatus,
    pub created_at: DateTimeUtc,
    /// When it was terminated; `None` while it is active.
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::sandbox_customer::Entity",
        from = "Column::CustomerId",
        to = "super::sandbox_customer::Column::Id",
        on_delete = "Cascade"
    )]
    Customer,
}

impl Related<super::sandbox_customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
