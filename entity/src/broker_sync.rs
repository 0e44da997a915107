use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A broker's synchronization: the run whose result is current, and who is syncing it now.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "broker_syncs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub broker_id: Uuid,
    pub current_run_id: Option<Uuid>,
    /// The run holding the lease, while one runs.
    pub lease_holder: Option<Uuid>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
