//! A broker's own Partner Center connection: what may be read of it (never its credentials)
//! and the mutations that set and remove it. The rules live in `crate::domain::partner_connection`.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::partner_center_connection;
use uuid::Uuid;

use super::broker::Broker;
use super::mutation::caller;
use crate::domain::partner_connection::{self, ConfigureConnection};
use crate::error::ApiResult;
use crate::graphql::relay::ids::{self, Kind};

/// How brokergraph signs in to Partner Center for this broker.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerCenterAuthentication {
    /// Client credentials with the application's client secret.
    AppOnly,
    /// The App+User refresh token (secure application model).
    AppPlusUser,
}

/// A broker's Partner Center connection. Its credentials are write-only: only whether they are
/// set, when and by whom can be read.
pub struct PartnerCenterConnection(pub partner_center_connection::Model);

#[Object]
impl PartnerCenterConnection {
    /// The partner's Microsoft Entra tenant.
    async fn entra_tenant_id(&self) -> Uuid {
        self.0.entra_tenant_id
    }
    /// The Entra application (client) ID.
    async fn application_id(&self) -> Uuid {
        self.0.application_id
    }
    /// App+User when a refresh token is stored, else app-only.
    async fn authentication(&self) -> PartnerCenterAuthentication {
        if self.0.refresh_token_ciphertext.is_some() {
            PartnerCenterAuthentication::AppPlusUser
        } else {
            PartnerCenterAuthentication::AppOnly
        }
    }
    async fn client_secret_set(&self) -> bool {
        self.0.client_secret_ciphertext.is_some()
    }
    async fn refresh_token_set(&self) -> bool {
        self.0.refresh_token_ciphertext.is_some()
    }
    /// When the credentials were last set (a refresh token Microsoft rotated does not count).
    async fn credentials_set_at(&self) -> DateTime<Utc> {
        self.0.credentials_set_at
    }
    /// The JWT subject that set them.
    async fn credentials_set_by(&self) -> &str {
        &self.0.credentials_set_by
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// `Broker.partnerCenterConnection`: the platform's and the broker's own roles read it; for
/// anyone else it is null.
pub async fn of_broker(
    ctx: &Context<'_>,
    broker_id: Uuid,
) -> ApiResult<Option<PartnerCenterConnection>> {
    let request = crate::graphql::request(ctx)?;
    let Some(principal) = request.principal.as_ref() else {
        return Ok(None);
    };
    Ok(partner_connection::read(&request.db, principal, broker_id)
        .await?
        .map(PartnerCenterConnection))
}

#[derive(InputObject)]
pub struct ConfigurePartnerCenterConnectionInput {
    pub broker_id: ID,
    /// The partner's Microsoft Entra tenant ID (GUID).
    pub entra_tenant_id: String,
    /// The Entra application (client) ID (GUID).
    pub application_id: String,
    /// The application's client secret: app-only, or with a refresh token for a confidential
    /// application. Stored encrypted; never returned.
    #[graphql(secret)]
    pub client_secret: Option<String>,
    /// An App+User refresh token. Stored encrypted; never returned.
    #[graphql(secret)]
    pub refresh_token: Option<String>,
}

#[derive(SimpleObject)]
pub struct ConfigurePartnerCenterConnectionPayload {
    pub broker: Broker,
    pub connection: PartnerCenterConnection,
}

#[derive(InputObject)]
pub struct RemovePartnerCenterConnectionInput {
    pub broker_id: ID,
}

#[derive(SimpleObject)]
pub struct RemovePartnerCenterConnectionPayload {
    pub broker: Broker,
    /// False when the broker had no connection.
    pub removed: bool,
}

#[derive(Default)]
pub struct PartnerConnectionMutation;

#[Object]
impl PartnerConnectionMutation {
    /// Sets the broker's own Partner Center connection, replacing any (the broker's admins and
    /// the platform). Give a client secret, a refresh token, or both.
    async fn configure_partner_center_connection(
        &self,
        ctx: &Context<'_>,
        input: ConfigurePartnerCenterConnectionInput,
    ) -> ApiResult<ConfigurePartnerCenterConnectionPayload> {
        let (services, principal) = caller(ctx)?;
        let request = ConfigureConnection {
            broker_id: ids::required(Kind::Broker, &input.broker_id, "brokerId")?,
            entra_tenant_id: input.entra_tenant_id,
            application_id: input.application_id,
            client_secret: input.client_secret,
            refresh_token: input.refresh_token,
        };
        let (broker, connection) =
            partner_connection::configure(services, principal, request).await?;
        Ok(ConfigurePartnerCenterConnectionPayload {
            broker: Broker(broker),
            connection: PartnerCenterConnection(connection),
        })
    }

    /// Removes the broker's own Partner Center connection.
    async fn remove_partner_center_connection(
        &self,
        ctx: &Context<'_>,
        input: RemovePartnerCenterConnectionInput,
    ) -> ApiResult<RemovePartnerCenterConnectionPayload> {
        let (services, principal) = caller(ctx)?;
        let broker_id = ids::required(Kind::Broker, &input.broker_id, "brokerId")?;
        let (broker, removed) = partner_connection::remove(services, principal, broker_id).await?;
        Ok(RemovePartnerCenterConnectionPayload {
            broker: Broker(broker),
            removed,
        })
    }
}
