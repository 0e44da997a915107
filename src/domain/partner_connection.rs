//! A broker's own Partner Center connection (issue 13 item 1): configured by the broker's admin
//! or the platform, its credentials sealed to the broker, readable only as "set, when, by whom",
//! every change audited.

use chrono::Utc;
use entity::{broker, partner_center_connection};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    ModelTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Services, policy, validate, visible};
use crate::auth::{Principal, Role};
use crate::error::ApiError;

/// Entra client secrets are at most a few hundred characters and refresh tokens a few KiB; a
/// bound keeps a pasted file from being sealed into the database.
const MAX_CREDENTIAL_CHARS: usize = 16 * 1024;

pub struct ConfigureConnection {
    pub broker_id: Uuid,
    pub entra_tenant_id: String,
    pub application_id: String,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
}

/// A credential as given: trimmed, bounded, printable.
fn credential(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty()
        || value.chars().count() > MAX_CREDENTIAL_CHARS
        || value.chars().any(char::is_control)
    {
        return Err(ApiError::bad_input(
            field,
            format!("must be 1 to {MAX_CREDENTIAL_CHARS} printable characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// The broker the caller may configure, with the right to do so checked.
async fn broker_for_change(
    db: &impl ConnectionTrait,
    principal: &Principal,
    broker_id: Uuid,
) -> Result<broker::Model, ApiError> {
    let broker = visible::<broker::Entity>(db, principal, broker_id, "broker").await?;
    policy::broker_data(principal, broker.id)?;
    Ok(broker)
}

/// Sets the broker's connection (replacing any), with new credentials.
pub async fn configure(
    services: &Services,
    principal: &Principal,
    input: ConfigureConnection,
) -> Result<(broker::Model, partner_center_connection::Model), ApiError> {
    let entra_tenant_id = validate::tenant_guid("entraTenantId", &input.entra_tenant_id)?;
    let application_id = validate::tenant_guid("applicationId", &input.application_id)?;
    let client_secret = credential("clientSecret", input.client_secret)?;
    let refresh_token = credential("refreshToken", input.refresh_token)?;
    if client_secret.is_none() && refresh_token.is_none() {
        return Err(ApiError::bad_input(
            "clientSecret",
            "give a client secret (app-only), an App+User refresh token, or both",
        ));
    }
    let broker = broker_for_change(&services.db, principal, input.broker_id).await?;
    let seal = |value: Option<String>| match value {
        Some(value) => {
            let (ciphertext, nonce) = services.cipher.encrypt(&value, broker.id.as_bytes());
            (Some(ciphertext), Some(nonce))
        }
        None => (None, None),
    };
    let (secret_ciphertext, secret_nonce) = seal(client_secret);
    let (token_ciphertext, token_nonce) = seal(refresh_token);

    let txn = super::write(&services.db).await?;
    let now = Utc::now();
    let existing = partner_center_connection::Entity::find()
        .filter(partner_center_connection::Column::BrokerId.eq(broker.id))
        .one(&txn)
        .await?;
    let mut row = match &existing {
        Some(existing) => existing.clone().into_active_model(),
        None => partner_center_connection::ActiveModel {
            id: ActiveValue::Set(Uuid::now_v7()),
            broker_id: ActiveValue::Set(broker.id),
            created_at: ActiveValue::Set(now),
            ..Default::default()
        },
    };
    row.entra_tenant_id = ActiveValue::Set(entra_tenant_id);
    row.application_id = ActiveValue::Set(application_id);
    row.client_secret_ciphertext = ActiveValue::Set(secret_ciphertext);
    row.client_secret_nonce = ActiveValue::Set(secret_nonce);
    row.refresh_token_ciphertext = ActiveValue::Set(token_ciphertext);
    row.refresh_token_nonce = ActiveValue::Set(token_nonce);
    row.credentials_set_at = ActiveValue::Set(now);
    row.credentials_set_by = ActiveValue::Set(principal.subject.clone());
    row.updated_at = ActiveValue::Set(now);
    let connection = match &existing {
        Some(_) => row.update(&txn).await?,
        None => row.insert(&txn).await?,
    };
    let mut event = Event::new(
        "partner_center_connection.configured",
        "PartnerCenterConnection",
        connection.id,
    )
    .scope(Some(broker.id), None)
    .after(&connection)
    .extra(json!({
        "clientSecretSet": connection.client_secret_ciphertext.is_some(),
        "refreshTokenSet": connection.refresh_token_ciphertext.is_some(),
    }));
    if let Some(existing) = &existing {
        event = event.before(existing);
    }
    audit::record(&txn, principal, event).await?;
    txn.commit().await?;
    Ok((broker, connection))
}

/// Removes the broker's connection; true when there was one.
pub async fn remove(
    services: &Services,
    principal: &Principal,
    broker_id: Uuid,
) -> Result<(broker::Model, bool), ApiError> {
    let broker = broker_for_change(&services.db, principal, broker_id).await?;
    let txn = super::write(&services.db).await?;
    let Some(existing) = partner_center_connection::Entity::find()
        .filter(partner_center_connection::Column::BrokerId.eq(broker.id))
        .one(&txn)
        .await?
    else {
        txn.rollback().await.ok();
        return Ok((broker, false));
    };
    existing.clone().delete(&txn).await?;
    audit::record(
        &txn,
        principal,
        Event::new(
            "partner_center_connection.removed",
            "PartnerCenterConnection",
            existing.id,
        )
        .scope(Some(broker.id), None)
        .before(&existing),
    )
    .await?;
    txn.commit().await?;
    Ok((broker, true))
}

/// The broker's connection as the caller may read it: the platform and the broker's own roles
/// only (organization roles learn nothing of it).
pub async fn read(
    db: &impl ConnectionTrait,
    principal: &Principal,
    broker_id: Uuid,
) -> Result<Option<partner_center_connection::Model>, ApiError> {
    let readable = principal.role == Role::PlatformAdmin
        || (principal.role.is_broker_role() && principal.broker_id == Some(broker_id));
    if !readable {
        return Ok(None);
    }
    Ok(partner_center_connection::Entity::find()
        .filter(partner_center_connection::Column::BrokerId.eq(broker_id))
        .one(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_trimmed_bounded_and_printable() {
        assert_eq!(credential("x", None).unwrap(), None);
        assert_eq!(
            credential("x", Some("  s3cret ".into()))
                .unwrap()
                .as_deref(),
            Some("s3cret")
        );
        for bad in [
            "".to_owned(),
            "  ".to_owned(),
            "a\nb".to_owned(),
            "x".repeat(MAX_CREDENTIAL_CHARS + 1),
        ] {
            let error = credential("clientSecret", Some(bad)).unwrap_err();
            assert_eq!(error.code(), "BAD_USER_INPUT");
        }
    }
}
