use sea_orm::entity::prelude::*;

/// One attempt that a per-principal limit counts, while its window holds it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rate_limit_hits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The token's `sub`.
    pub principal: String,
    /// Which limit counts it, e.g. `email_conflict`.
    pub action: String,
    /// Whether the attempt failed the way the limit counts; `false` while it is in flight.
    pub failed: bool,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
