//! How tokens are verified: keys, issuer, audience, leeway and claim names.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwks::JwksCache;
use super::{Authenticator, Keys, dev};

/// Defaults shared by clap and [`Default`], so the two cannot drift apart.
const DEFAULT_ISSUER: &str = "brokergraph";
const DEFAULT_AUDIENCE: &str = "brokergraph";
const DEFAULT_LEEWAY_SECONDS: u64 = 30;
const DEFAULT_ROLE_CLAIM: &str = "role";
const DEFAULT_BROKER_CLAIM: &str = "broker_id";
const DEFAULT_ORGANIZATION_CLAIM: &str = "organization_id";

#[derive(Clone, PartialEq, Eq, clap::Args)]
pub struct AuthConfig {
    /// HS256 shared secret that signs and verifies tokens.
    #[arg(
        long,
        env = "BROKERGRAPH_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,

    /// Path of a PEM public key (RSA for RS256, EC P-256 for ES256) that verifies tokens.
    #[arg(long, env = "BROKERGRAPH_JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<PathBuf>,

    /// A JWKS document (a file path, or an http(s) URL fetched on start and again, at most once
    /// a minute, when a token names an unknown `kid`).
    #[arg(long, env = "BROKERGRAPH_JWKS_URL", global = true)]
    pub jwks_url: Option<String>,

    /// Algorithm of public-key tokens (RS256 or ES256); inferred from the PEM key when unset,
    /// RS256 for a JWKS. A secret always means HS256.
    #[arg(long, env = "BROKERGRAPH_JWT_ALGORITHM", global = true)]
    pub jwt_algorithm: Option<String>,

    /// Accepted `iss`.
    #[arg(
        long,
        env = "BROKERGRAPH_JWT_ISSUER",
        default_value = DEFAULT_ISSUER,
        global = true
    )]
    pub jwt_issuer: String,

    /// Accepted `aud`.
    #[arg(
        long,
        env = "BROKERGRAPH_JWT_AUDIENCE",
        default_value = DEFAULT_AUDIENCE,
        global = true
    )]
    pub jwt_audience: String,

    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(
        long,
        env = "BROKERGRAPH_JWT_LEEWAY",
        default_value_t = DEFAULT_LEEWAY_SECONDS,
        global = true
    )]
    pub jwt_leeway_seconds: u64,

    /// Claim holding the role (a name, or a dotted path such as `realm_access.roles`).
    #[arg(
        long,
        env = "BROKERGRAPH_JWT_ROLE_CLAIM",
        default_value = DEFAULT_ROLE_CLAIM,
        global = true
    )]
    pub jwt_role_claim: String,

    /// Claim holding the broker's UUID.
    #[arg(
        long,
        env = "BROKERGRAPH_JWT_BROKER_CLAIM",
        default_value = DEFAULT_BROKER_CLAIM,
        global = true
    )]
    pub jwt_broker_claim: String,

    /// Claim holding the organization's UUID.
    #[arg(
        long,
        env = "BROKERGRAPH_JWT_ORGANIZATION_CLAIM",
        default_value = DEFAULT_ORGANIZATION_CLAIM,
        global = true
    )]
    pub jwt_organization_claim: String,
}

/// Never prints the secret (the CLI's configuration is `Debug`).
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_public_key", &self.jwt_public_key)
            .field("jwks_url", &self.jwks_url)
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_leeway_seconds", &self.jwt_leeway_seconds)
            .field("claims", &self.claim_names())
            .finish()
    }
}

/// The names of the claims that carry role and scope.
#[derive(Debug, Clone)]
pub struct ClaimNames {
    pub role: String,
    pub broker_id: String,
    pub organization_id: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: None,
            jwt_public_key: None,
            jwks_url: None,
            jwt_algorithm: None,
            jwt_issuer: DEFAULT_ISSUER.into(),
            jwt_audience: DEFAULT_AUDIENCE.into(),
            jwt_leeway_seconds: DEFAULT_LEEWAY_SECONDS,
            jwt_role_claim: DEFAULT_ROLE_CLAIM.into(),
            jwt_broker_claim: DEFAULT_BROKER_CLAIM.into(),
            jwt_organization_claim: DEFAULT_ORGANIZATION_CLAIM.into(),
        }
    }
}

/// The verification keys once resolved, and whether they were generated for development.
pub struct ResolvedAuth {
    pub authenticator: Arc<Authenticator>,
    /// The HS256 secret, when there is one: what `token` signs with.
    pub signing_secret: Option<String>,
    /// Generated for the embedded database: `serve` prints a development token.
    pub development: bool,
}

fn algorithm(name: &str) -> anyhow::Result<Algorithm> {
    match name.trim().to_ascii_uppercase().as_str() {
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        "HS256" => bail!("HS256 is configured with BROKERGRAPH_JWT_SECRET, not an algorithm name"),
        other => bail!("unsupported JWT algorithm `{other}` (RS256 or ES256)"),
    }
}

impl AuthConfig {
    pub fn claim_names(&self) -> ClaimNames {
        ClaimNames {
            role: self.jwt_role_claim.clone(),
            broker_id: self.jwt_broker_claim.clone(),
            organization_id: self.jwt_organization_claim.clone(),
        }
    }

    fn configured_sources(&self) -> usize {
        [
            self.jwt_secret.is_some(),
            self.jwt_public_key.is_some(),
            self.jwks_url.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count()
    }

    /// Resolves the configured keys. With none configured, an embedded database (`dev_secret`
    /// names the file beside it) gets a generated HS256 secret; anything else is refused.
    pub async fn resolve(
        &self,
        dev_secret: Option<&std::path::Path>,
    ) -> anyhow::Result<ResolvedAuth> {
        if self.configured_sources() > 1 {
            bail!(
                "configure one JWT key source only: BROKERGRAPH_JWT_SECRET, BROKERGRAPH_JWT_PUBLIC_KEY or BROKERGRAPH_JWKS_URL"
            );
        }
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < 32 {
                bail!("BROKERGRAPH_JWT_SECRET must be at least 32 characters");
            }
            return Ok(self.hs256(secret.clone(), false));
        }
        if let Some(path) = &self.jwt_public_key {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the JWT public key {}", path.display()))?;
            let (algorithm, key) = match self.jwt_algorithm.as_deref() {
                Some(name) => {
                    let algorithm = algorithm(name)?;
                    let key = match algorithm {
                        Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
                        _ => DecodingKey::from_rsa_pem(&pem),
                    }
                    .with_context(|| {
                        format!("{} is not a {algorithm:?} public key", path.display())
                    })?;
                    (algorithm, key)
                }
                None => match DecodingKey::from_rsa_pem(&pem) {
                    Ok(key) => (Algorithm::RS256, key),
                    Err(_) => (
                        Algorithm::ES256,
                        DecodingKey::from_ec_pem(&pem).with_context(|| {
                            format!("{} is neither an RSA nor an EC public key", path.display())
                        })?,
                    ),
                },
            };
            return Ok(ResolvedAuth {
                authenticator: Arc::new(Authenticator::new(algorithm, Keys::Static(key), self)),
                signing_secret: None,
                development: false,
            });
        }
        if let Some(source) = &self.jwks_url {
            let algorithm = algorithm(self.jwt_algorithm.as_deref().unwrap_or("RS256"))?;
            let cache = JwksCache::load(source, algorithm).await?;
            return Ok(ResolvedAuth {
                authenticator: Arc::new(Authenticator::new(algorithm, Keys::Jwks(cache), self)),
                signing_secret: None,
                development: false,
            });
        }
        match dev_secret {
            Some(path) => {
                let secret = dev::load_or_create_secret(path)?;
                Ok(self.hs256(secret, true))
            }
            None => bail!(
                "no JWT key is configured: set BROKERGRAPH_JWT_SECRET (HS256), BROKERGRAPH_JWT_PUBLIC_KEY (RS256/ES256) or BROKERGRAPH_JWKS_URL (only the embedded SQLite database generates a development key)"
            ),
        }
    }

    /// An authenticator for an HS256 secret.
    pub fn hs256(&self, secret: String, development: bool) -> ResolvedAuth {
        let key = DecodingKey::from_secret(secret.as_bytes());
        ResolvedAuth {
            authenticator: Arc::new(Authenticator::new(
                Algorithm::HS256,
                Keys::Static(key),
                self,
            )),
            signing_secret: Some(secret),
            development,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(flatten)]
        auth: AuthConfig,
    }

    /// The server runs clap's defaults, tests and `token` helpers run `Default`.
    #[test]
    fn default_is_what_the_command_line_gives_without_flags() {
        let parsed = TestCli::try_parse_from(["test"]).unwrap();
        assert_eq!(parsed.auth, AuthConfig::default());
    }
}
