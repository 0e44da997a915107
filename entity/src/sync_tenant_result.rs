use sea_orm::entity::prelude::*;
use serde::Serialize;

use crate::enums::TenantSyncState;

/// A linked tenant as one synchronization found it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "sync_tenant_results")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub run_id: Uuid,
    pub broker_id: Uuid,
    pub organization_id: Uuid,
    pub tenant_id: Uuid,
    pub state: TenantSyncState,
    /// `[{"field": "COMPANY_NAME", "ours": "...", "theirs": "..."}]`.
    pub differences: Json,
    /// A partner-managed tenant whose admin relationship (GDAP) is gone.
    pub needs_consent: bool,
    pub checked_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
