//! The domain rules: who may change what, and how an organization becomes a tenant. Testable
//! without GraphQL; the GraphQL mutations are thin wrappers over these functions.
//!
//! Every change runs in one write transaction that also writes its audit event, so a change
//! and its record are never apart, and a failure leaves nothing half-written.

pub mod audit;
pub mod consent;
pub mod countries;
pub mod directory_roles;
pub mod manage;
pub mod partner_connection;
pub mod policy;
pub mod provisioning;
pub mod sandbox;
pub mod sync;
pub mod tenancy;
pub mod throttle;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, QueryFilter, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::auth::Principal;
use crate::crypto::CredentialCipher;
use crate::error::ApiError;
use crate::partner_center::connections::PartnerCenters;
use crate::partner_center::{PartnerCenter, PartnerCenterError};
use crate::scope::ById;

/// What the domain needs from the outside world.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    /// Every broker's Partner Center (its own connection, or the install's fallback).
    pub partner_centers: Arc<PartnerCenters>,
    pub cipher: CredentialCipher,
    /// The longest one Partner Center call may take, retries included, before the operation
    /// gives up (and can be retried).
    pub partner_center_deadline: Duration,
}

impl Services {
    /// The Partner Center of `broker_id`'s operations.
    pub async fn partner_center(
        &self,
        broker_id: uuid::Uuid,
    ) -> Result<Arc<dyn PartnerCenter>, PartnerCenterError> {
        self.partner_centers
            .for_broker(&self.db, &self.cipher, broker_id)
            .await
    }
}

/// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
/// a deferred transaction that reads first and writes later can fail with "database is
/// locked" when another writer got in between, instead of waiting its turn.
pub async fn write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// The row `id` of `E` as the principal sees it: outside its scope it does not exist.
pub async fn visible<E: ById>(
    db: &impl sea_orm::ConnectionTrait,
    principal: &Principal,
    id: uuid::Uuid,
    what: &str,
) -> Result<E::Model, ApiError> {
    principal
        .scope()
        .find::<E>()
        .filter(sea_orm::ColumnTrait::eq(&E::id_column(), id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found(what))
}

/// A uniqueness the database enforces, and the error a client gets when it is violated.
pub struct Unique {
    /// The PostgreSQL constraint (index) name, e.g. `tenants_microsoft_tenant_id_key`.
    pub constraint: &'static str,
    /// SQLite names the columns instead: `tenants.microsoft_tenant_id`.
    pub columns: &'static str,
}

/// Turns a violation of one of `rules` into its domain error; anything else is internal.
pub fn on_unique(error: DbErr, rules: &[(Unique, ApiError)]) -> ApiError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err() {
        for (unique, api_error) in rules {
            if message.contains(unique.constraint) || message.contains(unique.columns) {
                return api_error.clone();
            }
        }
    }
    if let Some(SqlErr::ForeignKeyConstraintViolation(_)) = error.sql_err() {
        return ApiError::Conflict("other rows still refer to this one".into());
    }
    ApiError::from(error)
}
