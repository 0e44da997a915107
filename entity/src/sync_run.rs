use sea_orm::entity::prelude::*;
use serde::Serialize;

use crate::enums::SyncRunStatus;

/// One synchronization of a broker with its Partner Center customers.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub broker_id: Uuid,
    pub status: SyncRunStatus,
    /// The JWT subject that asked for it, `cli` or `scheduler`.
    pub started_by: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// Partner Center customers read.
    pub customers: i32,
    pub in_sync: i32,
    pub drifted: i32,
    pub missing: i32,
    pub needs_consent: i32,
    pub unlinked: i32,
    /// The `extensions.code` of the failure.
    pub error_code: Option<String>,
    /// The client-safe message of the failure.
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
