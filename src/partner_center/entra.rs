//! Access tokens from Microsoft Entra for a broker's own Partner Center connection.
//!
//! - Client credentials (app-only) with the application's client secret, or the App+User
//!   refresh token of the secure application model (with the client secret when the application
//!   is confidential), against `{authority}/{tenant}/oauth2/v2.0/token`.
//! - One token per broker and audience (Partner Center, Microsoft Graph), cached until
//!   [`EXPIRY_MARGIN`] before it expires. The cache slot is an async mutex held while a token is
//!   fetched, so concurrent callers wait for the one request instead of each sending their own.
//! - A refresh token that Entra rotates replaces the stored one (sealed again), so every replica
//!   reads the newest one from the database the next time it needs a token.
//! - Entra's refusals become [`PartnerCenterError::AuthFailed`] with a message a broker admin
//!   can act on. Neither the credentials nor the tokens are ever logged or put in an error:
//!   log lines carry Entra's error code and the HTTP status only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::partner_center_connection;
use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{StatusCode, Url};
use sea_orm::{ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Deserialize;
use tokio::time::Instant;
use uuid::Uuid;

use super::PartnerCenterError;
use crate::crypto::CredentialCipher;

/// A token is replaced this long before Entra says it expires, so that a call started with it
/// does not reach Partner Center with a token that expired on the way.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// Entra's answers are well under a KiB; anything far larger is not a token answer.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Which API a token is for: each has its own audience, so each its own token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    PartnerCenter,
    Graph,
}

impl Audience {
    /// The v2.0 endpoint's `scope`: the resource's `.default` permissions.
    fn scope(self) -> &'static str {
        match self {
            Self::PartnerCenter => "https://api.partnercenter.microsoft.com/.default",
            Self::Graph => "https://graph.microsoft.com/.default",
        }
    }
}

/// Where bearer tokens come from, for [`super::http::HttpPartnerCenter`].
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// The `Authorization` value to send (`Bearer ...`, marked sensitive).
    async fn bearer(&self) -> Result<HeaderValue, PartnerCenterError>;

    /// A token to retry with after `rejected` was answered with 401; `None` when this source
    /// has no other token to offer.
    async fn renew(
        &self,
        rejected: &HeaderValue,
    ) -> Result<Option<HeaderValue>, PartnerCenterError>;

    /// What the caller gets when the API keeps refusing the token.
    fn refused(&self) -> PartnerCenterError;
}

/// One token set by configuration (the process-wide `--partner-center-token`).
pub struct StaticToken(HeaderValue);

impl StaticToken {
    pub fn new(token: &str) -> anyhow::Result<Self> {
        // The error would quote the value, i.e. the token, so it is replaced.
        let value = bearer_value(token.trim()).ok_or_else(|| {
            anyhow::anyhow!("the Partner Center token contains invalid characters")
        })?;
        Ok(Self(value))
    }
}

#[async_trait::async_trait]
impl TokenSource for StaticToken {
    async fn bearer(&self) -> Result<HeaderValue, PartnerCenterError> {
        Ok(self.0.clone())
    }

    async fn renew(&self, _: &HeaderValue) -> Result<Option<HeaderValue>, PartnerCenterError> {
        Ok(None)
    }

    fn refused(&self) -> PartnerCenterError {
        PartnerCenterError::Unavailable
    }
}

fn bearer_value(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// A token in the cache, with the credentials it was obtained with.
struct Cached {
    credentials_set_at: DateTime<Utc>,
    bearer: HeaderValue,
    refresh_at: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// The tokens of every broker, shared by all requests of a process.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<(Uuid, Audience), Slot>>,
}

impl TokenCache {
    fn slot(&self, broker_id: Uuid, audience: Audience) -> Slot {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((broker_id, audience))
            .or_default()
            .clone()
    }
}

/// The Entra side of the install: the authority and the HTTP client.
#[derive(Clone)]
pub struct Entra {
    pub client: reqwest::Client,
    /// E.g. `https://login.microsoftonline.com` (or a sovereign cloud's).
    pub authority: Url,
    pub timeout: Duration,
    pub cache: Arc<TokenCache>,
}

/// The tokens of one broker's connection for one audience.
pub struct EntraTokens {
    pub entra: Entra,
    pub db: DatabaseConnection,
    pub cipher: CredentialCipher,
    pub broker_id: Uuid,
    pub audience: Audience,
}

#[async_trait::async_trait]
impl TokenSource for EntraTokens {
    async fn bearer(&self) -> Result<HeaderValue, PartnerCenterError> {
        let slot = self.entra.cache.slot(self.broker_id, self.audience);
        let mut cached = slot.lock().await;
        let connection = self.connection().await?;
        if let Some(token) = cached.as_ref().filter(|token| {
            token.credentials_set_at == connection.credentials_set_at
                && Instant::now() < token.refresh_at
        }) {
            return Ok(token.bearer.clone());
        }
        let token = self.fetch(connection).await?;
        let bearer = token.bearer.clone();
        *cached = Some(token);
        Ok(bearer)
    }

    async fn renew(
        &self,
        rejected: &HeaderValue,
    ) -> Result<Option<HeaderValue>, PartnerCenterError> {
        let slot = self.entra.cache.slot(self.broker_id, self.audience);
        let mut cached = slot.lock().await;
        let connection = self.connection().await?;
        // Another caller renewed it while this one waited: that token is the retry's.
        if let Some(token) = cached.as_ref().filter(|token| {
            token.bearer != rejected
                && token.credentials_set_at == connection.credentials_set_at
                && Instant::now() < token.refresh_at
        }) {
            return Ok(Some(token.bearer.clone()));
        }
        *cached = None;
        let token = self.fetch(connection).await?;
        let bearer = token.bearer.clone();
        *cached = Some(token);
        Ok(Some(bearer))
    }

    fn refused(&self) -> PartnerCenterError {
        PartnerCenterError::AuthFailed(
            "Partner Center refused this broker's access token: check that the application has \
             the Partner Center API permission (user_impersonation) and, for App+User, that the \
             user holds an admin agent role"
                .into(),
        )
    }
}

/// Entra's successful answer. `expires_in` is a number on v2.0 and a string on v1.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: serde_json::Value,
    refresh_token: Option<String>,
}

/// Entra's error answer (RFC 6749 §5.2).
#[derive(Deserialize, Default)]
struct TokenError {
    error: Option<String>,
}

/// What the caller needs to know of a refusal: safe to show, and tells what to do.
fn refusal(error: &str) -> PartnerCenterError {
    let message = match error {
        "invalid_grant" => {
            "Microsoft Entra refused the connection's refresh token (expired, revoked, or its \
             user lost access): create a new App+User refresh token and configure the Partner \
             Center connection again"
        }
        "invalid_client" | "unauthorized_client" => {
            "Microsoft Entra refused the connection's application or client secret (wrong, \
             expired or deleted): create a new client secret and configure the Partner Center \
             connection again"
        }
        "invalid_scope" | "consent_required" | "interaction_required" => {
            "Microsoft Entra would not issue a token for Partner Center: grant the application \
             admin consent for the Partner Center API, then try again"
        }
        _ => {
            "Microsoft Entra refused the connection's settings: check the Entra tenant ID and \
             application ID, then configure the Partner Center connection again"
        }
    };
    PartnerCenterError::AuthFailed(message.into())
}

fn undecryptable() -> PartnerCenterError {
    PartnerCenterError::AuthFailed(
        "the stored Partner Center credentials cannot be decrypted with this server's credential \
         key: configure the Partner Center connection again"
            .into(),
    )
}

impl EntraTokens {
    /// The connection as stored now: a refresh token rotated by another replica is read here.
    async fn connection(&self) -> Result<partner_center_connection::Model, PartnerCenterError> {
        partner_center_connection::Entity::find()
            .filter(partner_center_connection::Column::BrokerId.eq(self.broker_id))
            .one(&self.db)
            .await
            .map_err(|error| {
                tracing::error!(%error, "could not read the Partner Center connection");
                PartnerCenterError::Unavailable
            })?
            .ok_or(PartnerCenterError::NotConfigured)
    }

    fn open(&self, ciphertext: &Option<Vec<u8>>, nonce: &Option<Vec<u8>>) -> Option<String> {
        let (ciphertext, nonce) = (ciphertext.as_ref()?, nonce.as_ref()?);
        match self
            .cipher
            .decrypt(ciphertext, nonce, self.broker_id.as_bytes())
        {
            Ok(plaintext) => Some(plaintext),
            Err(error) => {
                tracing::error!(broker_id = %self.broker_id, %error, "Partner Center credential undecryptable");
                None
            }
        }
    }

    async fn fetch(
        &self,
        connection: partner_center_connection::Model,
    ) -> Result<Cached, PartnerCenterError> {
        let secret = self.open(
            &connection.client_secret_ciphertext,
            &connection.client_secret_nonce,
        );
        let refresh_token = self.open(
            &connection.refresh_token_ciphertext,
            &connection.refresh_token_nonce,
        );
        if (connection.client_secret_ciphertext.is_some() && secret.is_none())
            || (connection.refresh_token_ciphertext.is_some() && refresh_token.is_none())
        {
            return Err(undecryptable());
        }
        let client_id = connection.application_id.to_string();
        let scope = self.audience.scope();
        let mut form: Vec<(&str, &str)> = vec![("client_id", &client_id)];
        let grant = match &refresh_token {
            Some(refresh_token) => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", refresh_token));
                form.push(("scope", scope));
                "refresh_token"
            }
            None => {
                form.push(("grant_type", "client_credentials"));
                form.push(("scope", scope));
                "client_credentials"
            }
        };
        if let Some(secret) = &secret {
            form.push(("client_secret", secret));
        }
        let mut url = self.entra.authority.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend([
                connection.entra_tenant_id.to_string().as_str(),
                "oauth2",
                "v2.0",
                "token",
            ]);
        }
        let audience = self.audience;
        let broker_id = self.broker_id;
        let started = Instant::now();
        let request = self
            .entra
            .client
            .post(url)
            .header(ACCEPT, "application/json")
            .form(&form)
            .send();
        let (status, body) = match tokio::time::timeout(self.entra.timeout, read(request)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                tracing::warn!(%broker_id, ?audience, grant, error = %error.without_url(), "Entra token request failed");
                return Err(PartnerCenterError::Unavailable);
            }
            Err(_) => {
                tracing::warn!(%broker_id, ?audience, grant, "Entra token request timed out");
                return Err(PartnerCenterError::Unavailable);
            }
        };
        if status.is_success() {
            let Ok(answer) = serde_json::from_slice::<TokenAnswer>(&body) else {
                tracing::error!(%broker_id, ?audience, grant, "Entra answered without a token");
                return Err(PartnerCenterError::Unavailable);
            };
            let Some(bearer) = bearer_value(answer.access_token.trim()) else {
                tracing::error!(%broker_id, ?audience, grant, "Entra answered with an unusable token");
                return Err(PartnerCenterError::Unavailable);
            };
            let lifetime = match &answer.expires_in {
                serde_json::Value::Number(seconds) => seconds.as_u64(),
                serde_json::Value::String(seconds) => seconds.trim().parse().ok(),
                _ => None,
            }
            .map(Duration::from_secs)
            .unwrap_or_default();
            if let Some(rotated) = answer.refresh_token.filter(|rotated| {
                Some(rotated) != refresh_token.as_ref() && refresh_token.is_some()
            }) {
                self.store_rotated(&connection, &rotated).await?;
            }
            tracing::info!(%broker_id, ?audience, grant, lifetime_s = lifetime.as_secs(), "Entra issued an access token");
            return Ok(Cached {
                credentials_set_at: connection.credentials_set_at,
                bearer,
                refresh_at: started + lifetime.saturating_sub(EXPIRY_MARGIN),
            });
        }
        let error = serde_json::from_slice::<TokenError>(&body)
            .unwrap_or_default()
            .error
            .unwrap_or_default();
        if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
            // Entra's error codes are a closed, public set; they say nothing about the secret.
            tracing::warn!(%broker_id, ?audience, grant, status = status.as_u16(), entra_error = error.as_str(), "Entra refused the connection's credentials");
            return Err(refusal(&error));
        }
        tracing::warn!(%broker_id, ?audience, grant, status = status.as_u16(), "Entra token endpoint unavailable");
        Err(PartnerCenterError::Unavailable)
    }

    /// Seals the refresh token Entra rotated in place of the old one, unless a person set new
    /// credentials in the meantime (theirs win).
    async fn store_rotated(
        &self,
        connection: &partner_center_connection::Model,
        rotated: &str,
    ) -> Result<(), PartnerCenterError> {
        let (ciphertext, nonce) = self.cipher.encrypt(rotated, self.broker_id.as_bytes());
        let result = partner_center_connection::Entity::update_many()
            .set(partner_center_connection::ActiveModel {
                refresh_token_ciphertext: ActiveValue::Set(Some(ciphertext)),
                refresh_token_nonce: ActiveValue::Set(Some(nonce)),
                ..Default::default()
            })
            .filter(partner_center_connection::Column::Id.eq(connection.id))
            .filter(
                partner_center_connection::Column::CredentialsSetAt
                    .eq(connection.credentials_set_at),
            )
            .exec(&self.db)
            .await;
        match result {
            Ok(_) => {
                tracing::info!(broker_id = %self.broker_id, "rotated Partner Center refresh token stored");
                Ok(())
            }
            Err(error) => {
                // The old refresh token may already be void: a token that cannot be kept is a
                // failure to report, not one to hide.
                tracing::error!(broker_id = %self.broker_id, %error, "could not store the rotated refresh token");
                Err(PartnerCenterError::Unavailable)
            }
        }
    }
}

/// Status and body (bounded) of a response.
async fn read(
    request: impl std::future::Future<Output = Result<reqwest::Response, reqwest::Error>>,
) -> Result<(StatusCode, Vec<u8>), reqwest::Error> {
    let mut response = request.await?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_tells_the_admin_what_to_do() {
        for code in ["invalid_grant", "invalid_client", "invalid_scope", "other"] {
            let PartnerCenterError::AuthFailed(message) = refusal(code) else {
                panic!("{code} is an auth failure");
            };
            assert!(
                message.contains("configure") || message.contains("grant"),
                "{message}"
            );
        }
        assert_eq!(
            refusal("invalid_grant").code(),
            "PARTNER_CENTER_AUTH_FAILED"
        );
    }

    #[test]
    fn a_static_token_is_sensitive_and_refuses_invalid_characters() {
        assert!(StaticToken::new("bad\ntoken").is_err());
        let token = StaticToken::new("t0k3n").unwrap();
        assert!(token.0.is_sensitive());
    }
}
