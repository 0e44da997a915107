//! Who is calling: JWT verification at the HTTP edge, once per request (or WebSocket
//! connection), into a [`Principal`] whose [`Scope`] every read then goes through.

pub mod claims;
pub mod config;
pub mod dev;
pub mod fields;
pub mod jwks;
pub mod subject;

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{ApiError, AuthReason};
use crate::scope::Scope;
pub use config::{AuthConfig, ClaimNames};

/// The roles of design.md §3, most privileged first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    PlatformAdmin,
    BrokerAdmin,
    BrokerReader,
    OrganizationAdmin,
    OrganizationUser,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::PlatformAdmin,
        Role::BrokerAdmin,
        Role::BrokerReader,
        Role::OrganizationAdmin,
        Role::OrganizationUser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "PLATFORM_ADMIN",
            Role::BrokerAdmin => "BROKER_ADMIN",
            Role::BrokerReader => "BROKER_READER",
            Role::OrganizationAdmin => "ORGANIZATION_ADMIN",
            Role::OrganizationUser => "ORGANIZATION_USER",
        }
    }

    /// `BROKER_ADMIN`, `broker-admin` and `broker_admin` all name the same role.
    pub fn parse(text: &str) -> Option<Role> {
        let normal = text.trim().replace('-', "_").to_ascii_uppercase();
        Role::ALL.into_iter().find(|role| role.as_str() == normal)
    }

    pub fn is_broker_role(self) -> bool {
        matches!(self, Role::BrokerAdmin | Role::BrokerReader)
    }

    pub fn is_organization_role(self) -> bool {
        matches!(self, Role::OrganizationAdmin | Role::OrganizationUser)
    }
}

/// The verified caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: for organization roles, the user's UUID or email.
    pub subject: String,
    pub role: Role,
    pub broker_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    /// The token's `exp` (Unix seconds): a WebSocket connection outlives its `connection_init`,
    /// so it checks this per operation. `None` for a principal not built from a token.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// The rows this principal may see.
    pub fn scope(&self) -> Scope {
        match (self.role, self.broker_id, self.organization_id) {
            (Role::PlatformAdmin, _, _) => Scope::Everything,
            (Role::BrokerAdmin | Role::BrokerReader, Some(broker), _) => Scope::Broker(broker),
            (Role::OrganizationAdmin, _, Some(organization)) => Scope::Organization(organization),
            (Role::OrganizationUser, _, Some(organization)) => Scope::Member {
                organization,
                user: self.user_ref(),
            },
            // `authenticate` refuses these; should one be built by hand, it sees nothing.
            _ => Scope::Nothing,
        }
    }

    /// How an organization user's own row is found: by UUID, or by email (the username).
    pub fn user_ref(&self) -> UserRef {
        match Uuid::parse_str(&self.subject) {
            Ok(id) => UserRef::Id(id),
            Err(_) => UserRef::Email(self.subject.trim().to_lowercase()),
        }
    }

    /// Whether this principal is the user `id` / `email`.
    pub fn is_user(&self, id: Uuid, email: &str) -> bool {
        match self.user_ref() {
            UserRef::Id(own) => own == id,
            UserRef::Email(own) => own == email,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    Id(Uuid),
    Email(String),
}

/// Why a request was not authenticated: a reason code and a message safe to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    pub reason: AuthReason,
    pub message: String,
}

impl AuthError {
    pub fn new(reason: AuthReason, message: impl Into<String>) -> Self {
        AuthError {
            reason,
            message: message.into(),
        }
    }

    /// `reason` with its default message.
    pub fn of(reason: AuthReason) -> Self {
        AuthError::new(reason, reason.default_message())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        ApiError::Unauthenticated(error)
    }
}

/// Where verification keys come from.
pub enum Keys {
    /// One key: an HS256 secret or a PEM public key.
    Static(DecodingKey),
    /// A JWKS document, looked up by the token's `kid`.
    Jwks(jwks::JwksCache),
}

/// Verifies bearer tokens with the configured algorithm and keys.
pub struct Authenticator {
    algorithm: Algorithm,
    keys: Keys,
    validation: Validation,
    expected: claims::Expected,
    claims: ClaimNames,
}

/// Why jsonwebtoken refused a token: only the header and the signature, since the registered
/// claims are checked by [`claims::check`].
fn reason_for(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::of(AuthReason::InvalidSignature),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            AuthError::of(AuthReason::AlgorithmNotAllowed)
        }
        _ => AuthError::of(AuthReason::TokenMalformed),
    }
}

/// The claim `name`: a top-level claim of that exact name (namespaced URLs included), else a
/// dotted path into nested objects (Keycloak's `realm_access.roles`).
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn role_of(claims: &Map<String, Value>, name: &str) -> Result<Role, AuthError> {
    let missing = || {
        AuthError::new(
            AuthReason::RoleMissing,
            format!("the token has no `{name}` claim"),
        )
    };
    let unknown = || {
        AuthError::new(
            AuthReason::RoleUnknown,
            format!("the token's `{name}` claim names no known role"),
        )
    };
    match claim(claims, name).ok_or_else(missing)? {
        Value::String(text) => Role::parse(text).ok_or_else(unknown),
        // Identity providers send lists of roles: the most privileged known one counts.
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .filter_map(Role::parse)
            .min()
            .ok_or_else(unknown),
        _ => Err(unknown()),
    }
}

fn uuid_of(claims: &Map<String, Value>, name: &str) -> Result<Option<Uuid>, AuthError> {
    match claim(claims, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Uuid::parse_str(text.trim()).map(Some).map_err(|_| {
            AuthError::new(
                AuthReason::ScopeInvalid,
                format!("the token's `{name}` claim is not a UUID"),
            )
        }),
        Some(_) => Err(AuthError::new(
            AuthReason::ScopeInvalid,
            format!("the token's `{name}` claim is not a UUID"),
        )),
    }
}

impl Authenticator {
    pub fn new(algorithm: Algorithm, keys: Keys, config: &AuthConfig) -> Self {
        // jsonwebtoken verifies the signature only; `claims::check` then judges every
        // registered claim, so that each refusal has an accurate reason.
        let mut validation = Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let expected = claims::Expected {
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            leeway: config.jwt_leeway_seconds,
        };
        Authenticator {
            algorithm,
            keys,
            validation,
            expected,
            claims: config.claim_names(),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// How many seconds past `exp` a token is still accepted.
    pub fn leeway_seconds(&self) -> u64 {
        self.expected.leeway
    }

    /// The JWKS cache, when keys come from one.
    pub fn jwks(&self) -> Option<&jwks::JwksCache> {
        match &self.keys {
            Keys::Jwks(cache) => Some(cache),
            Keys::Static(_) => None,
        }
    }

    /// Verifies an `Authorization` header value into a principal.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let authorization = authorization.ok_or_else(|| AuthError::of(AuthReason::TokenMissing))?;
        let token = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                AuthError::new(
                    AuthReason::TokenMalformed,
                    "the Authorization header is not `Bearer <JWT>`",
                )
            })?;
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = self.header(token)?;
        let key = match &self.keys {
            Keys::Static(key) => key.clone(),
            Keys::Jwks(cache) => cache.key(header.get("kid").and_then(Value::as_str)).await?,
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation)
            .map_err(|error| reason_for(error.kind()))?;
        claims::check(&data.claims, &self.expected, chrono::Utc::now().timestamp())?;
        self.principal(&data.claims)
    }

    /// The token's header, refused unless it names the configured algorithm: the algorithm
    /// comes from the configuration, never from the token (no `none`, no HS256 against an RSA
    /// public key).
    fn header(&self, token: &str) -> Result<HashMap<String, Value>, AuthError> {
        let malformed = || AuthError::of(AuthReason::TokenMalformed);
        let segment = token.split('.').next().ok_or_else(malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(segment.trim_end_matches('='))
            .map_err(|_| malformed())?;
        let header: HashMap<String, Value> =
            serde_json::from_slice(&bytes).map_err(|_| malformed())?;
        let expected = format!("{:?}", self.algorithm);
        match header.get("alg").and_then(Value::as_str) {
            Some(alg) if alg == expected => Ok(header),
            Some(alg) => Err(AuthError::new(
                AuthReason::AlgorithmNotAllowed,
                format!("tokens signed with `{alg}` are not accepted"),
            )),
            None => Err(malformed()),
        }
    }

    fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, AuthError> {
        // `claims::check` has made sure `sub` is a non-empty string.
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) => sub.clone(),
            _ => {
                return Err(AuthError::new(
                    AuthReason::ClaimMissing,
                    "the token has no `sub` claim",
                ));
            }
        };
        let role = role_of(claims, &self.claims.role)?;
        let broker_id = uuid_of(claims, &self.claims.broker_id)?;
        let organization_id = uuid_of(claims, &self.claims.organization_id)?;
        if role.is_broker_role() && broker_id.is_none() {
            return Err(AuthError::new(
                AuthReason::ScopeMissing,
                format!(
                    "a {} token needs a `{}` claim",
                    role.as_str(),
                    self.claims.broker_id
                ),
            ));
        }
        if role.is_organization_role() && organization_id.is_none() {
            return Err(AuthError::new(
                AuthReason::ScopeMissing,
                format!(
                    "a {} token needs a `{}` claim",
                    role.as_str(),
                    self.claims.organization_id
                ),
            ));
        }
        Ok(Principal {
            subject,
            role,
            broker_id,
            organization_id,
            // `decode` has checked that `exp` is a number (an integer or not).
            expires_at: claims
                .get("exp")
                .and_then(|exp| exp.as_i64().or_else(|| exp.as_f64().map(|exp| exp as i64))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_parse_in_every_usual_spelling() {
        assert_eq!(Role::parse("broker-admin"), Some(Role::BrokerAdmin));
        assert_eq!(
            Role::parse(" ORGANIZATION_USER "),
            Some(Role::OrganizationUser)
        );
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn claims_are_found_by_name_then_by_path() {
        let claims = json!({
            "https://brokergraph/role": "BROKER_READER",
            "realm_access": { "roles": ["offline_access", "organization_user", "ORGANIZATION_ADMIN"] },
        });
        let claims = claims.as_object().unwrap();
        assert_eq!(
            role_of(claims, "https://brokergraph/role"),
            Ok(Role::BrokerReader)
        );
        assert_eq!(
            role_of(claims, "realm_access.roles"),
            Ok(Role::OrganizationAdmin)
        );
        assert_eq!(
            role_of(claims, "role").unwrap_err().reason,
            AuthReason::RoleMissing
        );
    }
}
