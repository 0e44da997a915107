use sea_orm::entity::prelude::*;

/// A customer of one broker in the built-in Partner Center sandbox.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sandbox_customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The partner: the broker whose sandbox holds the customer.
    pub broker_id: Uuid,
    /// The customer's Microsoft tenant ID (unique: one partner per tenant here).
    pub tenant_id: Uuid,
    /// E.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    /// What makes a domain taken: the lower-case `onmicrosoft.com` prefix, or the whole
    /// lower-case domain (unique).
    pub domain_key: String,
    pub company_name: String,
    /// The `MS-RequestId` of the create call that made it (unique per partner); `None` for
    /// customers added outside brokergraph.
    pub created_by_request: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::sandbox_admin_relationship::Entity")]
    AdminRelationships,
}

impl Related<super::sandbox_admin_relationship::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AdminRelationships.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
