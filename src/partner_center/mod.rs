//! The Partner Center connector: the one interface through which brokergraph creates and looks
//! up Microsoft customers (tenants), with two implementations.
//!
//! - [`http::HttpPartnerCenter`]: the real REST API (time-outs, retries with back-off on 429 and
//!   5xx, `MS-RequestId` / `MS-CorrelationId` headers).
//! - [`sandbox::Sandbox`]: a stand-in that behaves like Partner Center, each broker a partner
//!   of its own, its state in the database, for local use (nothing configured) and for tests.
//!
//! Callers depend only on [`PartnerCenter`] and on [`PartnerCenterError`], whose messages are
//! safe to return to clients; the detail behind `Unavailable` is logged where it happens.

pub mod connections;
pub mod entra;
pub mod http;
pub mod metered;
pub mod sandbox;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::error::ErrorCode;

/// What brokergraph sends to create a customer (tenant) in Partner Center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub company_name: String,
    pub email: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Without `.onmicrosoft.com`.
    pub domain_prefix: String,
    /// E.g. `en-US`.
    pub culture: String,
    /// E.g. `en`.
    pub language: String,
}

/// A customer as Partner Center reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub tenant_id: uuid::Uuid,
    /// E.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    pub company_name: String,
}

/// One page of the partner's customers, and where the next one starts (`None`: the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPage {
    pub customers: Vec<Customer>,
    /// Partner Center's continuation token, sent back for the next page.
    pub continuation: Option<String>,
}

/// Identifiers of one logical call: `request_id` stays the same across retries (Partner Center
/// uses `MS-RequestId` for idempotency), `correlation_id` ties the calls of one brokergraph
/// operation together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallIds {
    pub request_id: uuid::Uuid,
    pub correlation_id: uuid::Uuid,
}

/// What can go wrong talking to Partner Center. Every message is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartnerCenterError {
    /// The domain prefix is already taken.
    #[error("the domain prefix `{0}` is already taken")]
    DomainPrefixTaken(String),
    /// Partner Center refused the request; its own (client-safe) message.
    #[error("Partner Center refused the request: {0}")]
    Validation(String),
    /// No such customer for this partner.
    #[error("{}", ErrorCode::PartnerCenterCustomerNotFound.default_message())]
    CustomerNotFound,
    /// Not reachable, timed out, throttled past the retries, 5xx, or refused our credentials
    /// (logged; never detailed to clients).
    #[error("{}", ErrorCode::PartnerCenterUnavailable.default_message())]
    Unavailable,
    /// The broker has no Partner Center connection and the install is not on the sandbox.
    #[error("{}", ErrorCode::PartnerCenterNotConfigured.default_message())]
    NotConfigured,
    /// Microsoft Entra or Partner Center refused the broker's credentials; says what to do.
    #[error("{0}")]
    AuthFailed(String),
}

impl PartnerCenterError {
    /// The `extensions.code` a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::DomainPrefixTaken(_) => ErrorCode::DomainPrefixTaken,
            Self::Validation(_) => ErrorCode::PartnerCenterValidationFailed,
            Self::CustomerNotFound => ErrorCode::PartnerCenterCustomerNotFound,
            Self::Unavailable => ErrorCode::PartnerCenterUnavailable,
            Self::NotConfigured => ErrorCode::PartnerCenterNotConfigured,
            Self::AuthFailed(_) => ErrorCode::PartnerCenterAuthFailed,
        }
    }
}

/// Microsoft Partner Center, as brokergraph needs it.
#[async_trait::async_trait]
pub trait PartnerCenter: Send + Sync + 'static {
    /// Creates the customer and its tenant; idempotent on `ids.request_id`.
    async fn create_customer(
        &self,
        customer: &NewCustomer,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError>;

    /// The customer with this tenant ID; `CustomerNotFound` when this partner has none.
    async fn get_customer(
        &self,
        tenant_id: uuid::Uuid,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError>;

    /// One page of at most `size` of the partner's customers: the first without
    /// `continuation`, each further one with the token of the page before.
    async fn list_customers(
        &self,
        size: u32,
        continuation: Option<&str>,
        ids: CallIds,
    ) -> Result<CustomerPage, PartnerCenterError>;

    /// Whether the partner still holds an active admin relationship (GDAP) with the customer's
    /// tenant.
    async fn has_admin_relationship(
        &self,
        tenant_id: uuid::Uuid,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError>;

    /// Whether `<prefix>.onmicrosoft.com` is still free.
    async fn domain_available(
        &self,
        prefix: &str,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError>;

    /// Whether a manually linked tenant must exist here first (true for the real connection).
    fn verifies_customers(&self) -> bool;
}

/// Defaults shared by clap and [`Default`], so the two cannot drift apart.
const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
const DEFAULT_ATTEMPTS: u32 = 3;
/// What [`PartnerCenterConfig::deadline`] adds to the attempts and waits: the time between
/// attempts that is neither (building a request, logging).
const DEADLINE_SPARE: Duration = Duration::from_secs(2);

/// Configuration (clap, with env fallbacks; `global = true` on every arg like the rest of the
/// CLI).
///
/// `Debug` is written by hand so that the token never reaches a log line.
#[derive(Clone, clap::Args)]
pub struct PartnerCenterConfig {
    /// Base URL of the Partner Center REST API (e.g. https://api.partnercenter.microsoft.com);
    /// unset means the built-in sandbox.
    #[arg(long, env = "BROKERGRAPH_PARTNER_CENTER_URL", global = true)]
    pub partner_center_url: Option<String>,

    /// Microsoft Entra authority that brokers' own connections get their tokens from
    /// (`{authority}/{tenant}/oauth2/v2.0/token`); a sovereign cloud's, or a local fake in tests.
    #[arg(
        long,
        env = "BROKERGRAPH_ENTRA_AUTHORITY_URL",
        default_value = connections::DEFAULT_AUTHORITY_URL,
        global = true
    )]
    pub entra_authority_url: String,

    /// Microsoft Graph base URL, where brokers' connections read admin relationships (GDAP).
    #[arg(
        long,
        env = "BROKERGRAPH_MICROSOFT_GRAPH_URL",
        default_value = connections::DEFAULT_GRAPH_URL,
        global = true
    )]
    pub microsoft_graph_url: String,

    /// Bearer token for Partner Center (App+User token) of an install with one broker.
    #[arg(
        long,
        env = "BROKERGRAPH_PARTNER_CENTER_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub partner_center_token: Option<String>,

    /// Per-attempt time-out, in seconds.
    #[arg(
        long,
        env = "BROKERGRAPH_PARTNER_CENTER_TIMEOUT",
        default_value_t = DEFAULT_TIMEOUT_SECONDS,
        global = true
    )]
    pub partner_center_timeout_seconds: u64,

    /// Attempts on 429 and 5xx (and time-outs), with exponential back-off.
    #[arg(
        long,
        env = "BROKERGRAPH_PARTNER_CENTER_ATTEMPTS",
        default_value_t = DEFAULT_ATTEMPTS,
        global = true
    )]
    pub partner_center_attempts: u32,
}

impl fmt::Debug for PartnerCenterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerCenterConfig")
            .field("partner_center_url", &self.partner_center_url)
            .field("entra_authority_url", &self.entra_authority_url)
            .field("microsoft_graph_url", &self.microsoft_graph_url)
            .field(
                "partner_center_token",
                &self.partner_center_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "partner_center_timeout_seconds",
                &self.partner_center_timeout_seconds,
            )
            .field("partner_center_attempts", &self.partner_center_attempts)
            .finish()
    }
}

impl Default for PartnerCenterConfig {
    fn default() -> Self {
        Self {
            partner_center_url: None,
            entra_authority_url: connections::DEFAULT_AUTHORITY_URL.to_owned(),
            microsoft_graph_url: connections::DEFAULT_GRAPH_URL.to_owned(),
            partner_center_token: None,
            partner_center_timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            partner_center_attempts: DEFAULT_ATTEMPTS,
        }
    }
}

impl PartnerCenterConfig {
    /// Every broker's Partner Center: brokers' own connections reach the configured URL (or
    /// Microsoft's), and brokers without one fall back on the sandbox when no URL is set, on
    /// the process-wide token when one is (an install with one broker), else on nothing
    /// (`PARTNER_CENTER_NOT_CONFIGURED`).
    ///
    /// A URL or token that is set but blank is an error rather than "unset": falling back to
    /// the sandbox there would silently hand out made-up tenant IDs in what was meant to be
    /// production.
    pub fn build(&self) -> anyhow::Result<connections::PartnerCenters> {
        let timeout = Duration::from_secs(self.partner_center_timeout_seconds);
        let url = self.partner_center_url.as_deref();
        let mut remote = connections::Remote::new(
            url.unwrap_or(connections::DEFAULT_PARTNER_CENTER_URL),
            &self.entra_authority_url,
            timeout,
            self.partner_center_attempts,
        )?;
        remote.graph_url = reqwest::Url::parse(self.microsoft_graph_url.trim())
            .map_err(|_| anyhow::anyhow!("the Microsoft Graph URL is invalid"))?;
        let Some(url) = url else {
            tracing::info!("no Partner Center URL configured: using the built-in sandbox");
            let sandbox = sandbox::Sandbox::new();
            return connections::PartnerCenters::new(
                connections::Fallback::Everywhere(Arc::new(sandbox)),
                remote,
            );
        };
        if url.trim().is_empty() {
            bail!(
                "the Partner Center URL (--partner-center-url / BROKERGRAPH_PARTNER_CENTER_URL) \
                 is set but empty; unset it to use the built-in sandbox"
            );
        }
        let fallback = match self.partner_center_token.as_deref() {
            None => connections::Fallback::Nothing,
            Some(token) if token.trim().is_empty() => bail!(
                "the Partner Center token (--partner-center-token / \
                 BROKERGRAPH_PARTNER_CENTER_TOKEN) is set but empty"
            ),
            Some(token) => {
                let client = http::HttpPartnerCenter::new(
                    url,
                    token,
                    timeout,
                    self.partner_center_attempts,
                )?;
                connections::Fallback::OneBroker(Arc::new(connections::Fixed(Arc::new(client))))
            }
        };
        connections::PartnerCenters::new(fallback, remote)
    }

    /// The longest one Partner Center operation may take: every attempt, the waits between
    /// them (each at most [`http::MAX_WAIT`], a `Retry-After` included), and a little to spare.
    /// Saturating, so an absurd configured time-out means "no deadline", not an overflow.
    pub fn deadline(&self) -> Duration {
        let attempts = self.partner_center_attempts.max(1);
        Duration::from_secs(self.partner_center_timeout_seconds)
            .saturating_mul(attempts)
            .saturating_add(http::MAX_WAIT.saturating_mul(attempts - 1))
            .saturating_add(DEADLINE_SPARE)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(flatten)]
        partner_center: PartnerCenterConfig,
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(
            PartnerCenterError::DomainPrefixTaken("x".into()).code(),
            "DOMAIN_PREFIX_TAKEN"
        );
        assert_eq!(
            PartnerCenterError::Validation("x".into()).code(),
            "PARTNER_CENTER_VALIDATION_FAILED"
        );
        assert_eq!(
            PartnerCenterError::CustomerNotFound.code(),
            "PARTNER_CENTER_CUSTOMER_NOT_FOUND"
        );
        assert_eq!(
            PartnerCenterError::Unavailable.code(),
            "PARTNER_CENTER_UNAVAILABLE"
        );
    }

    #[test]
    fn default_matches_the_command_line_defaults() {
        let cli = TestCli::try_parse_from(["test"]).unwrap();
        let parsed = cli.partner_center;
        let default = PartnerCenterConfig::default();
        assert_eq!(parsed.partner_center_url, default.partner_center_url);
        assert_eq!(parsed.entra_authority_url, default.entra_authority_url);
        assert_eq!(parsed.microsoft_graph_url, default.microsoft_graph_url);
        assert_eq!(parsed.partner_center_token, default.partner_center_token);
        assert_eq!(
            parsed.partner_center_timeout_seconds,
            default.partner_center_timeout_seconds
        );
        assert_eq!(
            parsed.partner_center_attempts,
            default.partner_center_attempts
        );
    }

    #[test]
    fn the_deadline_leaves_room_for_every_attempt_and_every_capped_wait() {
        for attempts in [0, 1, 3, 7] {
            let config = PartnerCenterConfig {
                partner_center_timeout_seconds: 5,
                partner_center_attempts: attempts,
                ..PartnerCenterConfig::default()
            };
            let tries = attempts.max(1);
            let busiest = Duration::from_secs(5) * tries + http::MAX_WAIT * (tries - 1);
            assert!(config.deadline() > busiest, "{attempts} attempts");
            assert!(
                config.deadline() <= busiest + DEADLINE_SPARE,
                "{attempts} attempts"
            );
        }
        let absurd = PartnerCenterConfig {
            partner_center_timeout_seconds: u64::MAX,
            ..PartnerCenterConfig::default()
        };
        assert_eq!(absurd.deadline(), Duration::MAX);
    }

    #[test]
    fn flags_are_parsed() {
        let cli = TestCli::try_parse_from([
            "test",
            "--partner-center-url",
            "https://pc.example",
            "--partner-center-token",
            "t0k3n",
            "--partner-center-timeout-seconds",
            "4",
            "--partner-center-attempts",
            "5",
        ])
        .unwrap();
        let config = cli.partner_center;
        assert_eq!(
            config.partner_center_url.as_deref(),
            Some("https://pc.example")
        );
        assert_eq!(config.partner_center_token.as_deref(), Some("t0k3n"));
        assert_eq!(config.partner_center_timeout_seconds, 4);
        assert_eq!(config.partner_center_attempts, 5);
    }

    #[test]
    fn no_url_builds_the_sandbox_for_every_broker() {
        let pcs = PartnerCenterConfig::default().build().unwrap();
        assert!(pcs.sandboxed());
    }

    #[test]
    fn a_url_without_a_token_leaves_each_broker_to_configure_its_own() {
        let config = PartnerCenterConfig {
            partner_center_url: Some("https://pc.example".into()),
            ..PartnerCenterConfig::default()
        };
        assert!(!config.build().unwrap().sandboxed());
        let blank_token = PartnerCenterConfig {
            partner_center_token: Some("  ".into()),
            ..config
        };
        assert!(blank_token.build().is_err());
    }

    #[test]
    fn an_invalid_authority_is_refused() {
        let config = PartnerCenterConfig {
            entra_authority_url: "not a url".into(),
            ..PartnerCenterConfig::default()
        };
        assert!(config.build().is_err());
    }

    #[test]
    fn a_blank_url_is_refused() {
        let config = PartnerCenterConfig {
            partner_center_url: Some(" ".into()),
            partner_center_token: Some("t0k3n".into()),
            ..PartnerCenterConfig::default()
        };
        assert!(config.build().is_err());
    }

    #[test]
    fn a_url_and_token_build_the_one_broker_fallback() {
        let config = PartnerCenterConfig {
            partner_center_url: Some("https://pc.example".into()),
            partner_center_token: Some("t0k3n".into()),
            ..PartnerCenterConfig::default()
        };
        assert!(!config.build().unwrap().sandboxed());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = PartnerCenterConfig {
            partner_center_url: Some("https://pc.example".into()),
            partner_center_token: Some("t0k3n-s3cret".into()),
            ..PartnerCenterConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("t0k3n-s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
