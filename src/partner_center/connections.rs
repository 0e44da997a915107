//! Which Partner Center a broker's operations go to (issue 13 item 1).
//!
//! A broker with its own connection (the `partner_center_connections` row) is served by the
//! real API with that connection's Entra tokens. A broker without one falls back on the
//! install's own connector: the built-in sandbox everywhere, or the process-wide static token
//! for an install that has exactly one broker. Anything else is
//! [`PartnerCenterError::NotConfigured`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use entity::{broker, partner_center_connection};
use reqwest::Url;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use super::entra::{Audience, Entra, EntraTokens, TokenCache};
use super::http::{self, HttpPartnerCenter};
use super::sandbox::Sandbox;
use super::{PartnerCenter, PartnerCenterError};
use crate::crypto::CredentialCipher;

/// Microsoft's public endpoints, the defaults of the flags.
pub const DEFAULT_PARTNER_CENTER_URL: &str = "https://api.partnercenter.microsoft.com";
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";

/// What serves the brokers without a connection of their own: one Partner Center for all of
/// them ([`Fixed`]), or one per broker (the sandbox, where each broker is a partner).
pub trait Connector: Send + Sync + 'static {
    /// The Partner Center of `broker_id`.
    fn for_broker(&self, db: &DatabaseConnection, broker_id: Uuid) -> Arc<dyn PartnerCenter>;

    /// The built-in sandbox, when this is it.
    fn sandbox(&self) -> Option<&Sandbox> {
        None
    }
}

/// The same Partner Center for every broker (the process-wide token, or a test's connector).
pub struct Fixed(pub Arc<dyn PartnerCenter>);

impl Connector for Fixed {
    fn for_broker(&self, _db: &DatabaseConnection, _broker_id: Uuid) -> Arc<dyn PartnerCenter> {
        self.0.clone()
    }
}

impl Connector for Sandbox {
    fn for_broker(&self, db: &DatabaseConnection, broker_id: Uuid) -> Arc<dyn PartnerCenter> {
        Arc::new(self.partner(db.clone(), broker_id))
    }

    fn sandbox(&self) -> Option<&Sandbox> {
        Some(self)
    }
}

/// The connector of brokers without a connection of their own.
#[derive(Clone)]
pub enum Fallback {
    /// Every such broker (the built-in sandbox, or a test's own connector).
    Everywhere(Arc<dyn Connector>),
    /// Only while the install has one broker (the process-wide token belongs to one partner).
    OneBroker(Arc<dyn Connector>),
    /// None: each broker configures its own.
    Nothing,
}

/// Where brokers' own connections are reached.
#[derive(Debug, Clone)]
pub struct Remote {
    pub partner_center_url: Url,
    pub authority_url: Url,
    /// Microsoft Graph, for admin relationships (GDAP).
    pub graph_url: Url,
    pub timeout: Duration,
    pub attempts: u32,
    pub backoff: Option<Duration>,
}

impl Remote {
    pub fn new(
        partner_center_url: &str,
        authority_url: &str,
        timeout: Duration,
        attempts: u32,
    ) -> anyhow::Result<Self> {
        let parse = |what: &str, url: &str| -> anyhow::Result<Url> {
            let parsed = Url::parse(url.trim())
                .map_err(|_| anyhow::anyhow!("the {what} URL `{url}` is invalid"))?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "http" | "https") && !parsed.cannot_be_a_base(),
                "the {what} URL must be an http(s) URL"
            );
            Ok(parsed)
        };
        Ok(Self {
            partner_center_url: parse("Partner Center", partner_center_url)?,
            authority_url: parse("Entra authority", authority_url)?,
            graph_url: parse("Microsoft Graph", DEFAULT_GRAPH_URL)?,
            timeout,
            attempts,
            backoff: None,
        })
    }
}

/// Every broker's Partner Center, resolved per operation.
#[derive(Clone)]
pub struct PartnerCenters {
    fallback: Fallback,
    remote: Remote,
    entra: Entra,
    /// Each connector handed out records its calls in the metrics.
    metered: bool,
}

impl fmt::Debug for PartnerCenters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerCenters")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl PartnerCenters {
    pub fn new(fallback: Fallback, remote: Remote) -> anyhow::Result<Self> {
        let entra = Entra {
            client: http::client(remote.timeout)?,
            authority: remote.authority_url.clone(),
            timeout: remote.timeout,
            cache: Arc::new(TokenCache::default()),
        };
        Ok(Self {
            fallback,
            remote,
            entra,
            metered: false,
        })
    }

    /// The same, with every connector it hands out recording its calls in the metrics.
    pub fn metered(self) -> Self {
        Self {
            metered: true,
            ..self
        }
    }

    /// Whether brokers without a connection use the sandbox (or a test's connector).
    pub fn sandboxed(&self) -> bool {
        matches!(self.fallback, Fallback::Everywhere(_))
    }

    /// The built-in sandbox, when brokers without a connection use it.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        match &self.fallback {
            Fallback::Everywhere(connector) | Fallback::OneBroker(connector) => connector.sandbox(),
            Fallback::Nothing => None,
        }
    }

    /// The Partner Center of `broker_id`.
    pub async fn for_broker(
        &self,
        db: &DatabaseConnection,
        cipher: &CredentialCipher,
        broker_id: Uuid,
    ) -> Result<Arc<dyn PartnerCenter>, PartnerCenterError> {
        let connector = self.resolve(db, cipher, broker_id).await?;
        Ok(if self.metered {
            Arc::new(super::metered::Metered(connector))
        } else {
            connector
        })
    }

    async fn resolve(
        &self,
        db: &DatabaseConnection,
        cipher: &CredentialCipher,
        broker_id: Uuid,
    ) -> Result<Arc<dyn PartnerCenter>, PartnerCenterError> {
        let database = |error: sea_orm::DbErr| {
            tracing::error!(%error, "could not read the Partner Center connection");
            PartnerCenterError::Unavailable
        };
        let has_connection = partner_center_connection::Entity::find()
            .filter(partner_center_connection::Column::BrokerId.eq(broker_id))
            .count(db)
            .await
            .map_err(database)?
            > 0;
        if has_connection {
            return Ok(Arc::new(self.connected(db, cipher, broker_id)?));
        }
        match &self.fallback {
            Fallback::Everywhere(connector) => Ok(connector.for_broker(db, broker_id)),
            Fallback::OneBroker(connector) => {
                let brokers = broker::Entity::find().count(db).await.map_err(database)?;
                if brokers <= 1 {
                    Ok(connector.for_broker(db, broker_id))
                } else {
                    Err(PartnerCenterError::NotConfigured)
                }
            }
            Fallback::Nothing => Err(PartnerCenterError::NotConfigured),
        }
    }

    /// The real API with the broker's own tokens (one per audience).
    fn connected(
        &self,
        db: &DatabaseConnection,
        cipher: &CredentialCipher,
        broker_id: Uuid,
    ) -> Result<HttpPartnerCenter, PartnerCenterError> {
        let tokens = |audience| EntraTokens {
            entra: self.entra.clone(),
            db: db.clone(),
            cipher: cipher.clone(),
            broker_id,
            audience,
        };
        let client = HttpPartnerCenter::with_tokens(
            self.entra.client.clone(),
            self.remote.partner_center_url.as_str(),
            Arc::new(tokens(Audience::PartnerCenter)),
            self.remote.timeout,
            self.remote.attempts,
        )
        .and_then(|client| {
            client.with_graph(
                self.remote.graph_url.as_str(),
                Arc::new(tokens(Audience::Graph)),
            )
        })
        .map_err(|error| {
            tracing::error!(%error, "invalid Partner Center settings");
            PartnerCenterError::Unavailable
        })?;
        Ok(match self.remote.backoff {
            Some(backoff) => client.with_backoff(backoff),
            None => client,
        })
    }
}
