use sea_orm::entity::prelude::*;
use serde::Serialize;

/// Append-only. No foreign keys on purpose: the trail outlives what it describes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: DateTimeUtc,
    pub actor_subject: String,
    pub actor_role: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub broker_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub details: Json,
    /// The order live updates deliver events in: committed in this order, without gaps
    /// (see migration `m20261202_130000_add_audit_sequence`). Set by `domain::audit::record`.
    #[sea_orm(unique)]
    pub sequence: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
