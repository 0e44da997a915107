//! The one error catalogue: every code a client can see, with its HTTP status and its
//! client-safe default message, and [`ApiError`], the error the domain and the schema return.
//!
//! - [`ErrorCode`]: every `extensions.code`, with [`ErrorCode::default_status`] (what a
//!   transport answers when this error is the request's outcome), its default message and,
//!   for a passing failure of the whole request, its `Retry-After`.
//! - [`AuthReason`]: every `extensions.reason` of `UNAUTHENTICATED` (why a token was refused).
//!
//! **Adding a code** is one line in the `catalogue!` below (its doc comment says when a client
//! gets it): `PartnerCenterNotConfigured = "PARTNER_CENTER_NOT_CONFIGURED", OK, "…";`, then a
//! row in README.md's table under "The API" (a test compares the two). Code elsewhere names the
//! variant (`ErrorCode::PartnerCenterNotConfigured`), never the string.
//!
//! `ApiError` deliberately does not implement `Display`: async-graphql converts any `Display`
//! type into an error without a code, so the only way to turn an `ApiError` into a GraphQL error
//! is the `From` impl below, which always attaches the code. Internal detail (SQL, I/O) is logged
//! where it happens and replaced by a fixed message.

use std::fmt;

use async_graphql::{ErrorExtensionValues, ErrorExtensions, ServerError};
use axum::http::StatusCode;

use crate::auth::AuthError;

/// Declares a catalogue enum: one line a variant, `Variant = "CODE", [STATUS,] "default message";`
/// with its doc comment; generates `ALL`, `code()`, `default_message()`, `parse()`, `Display`
/// and (with `with status`) `default_status()`. One line holds all there is to know of a code,
/// and its wire string stays greppable (strum would derive it from the variant's name, and keep
/// the status and message in matches elsewhere).
macro_rules! catalogue {
    (
        $(#[$meta:meta])*
        pub enum $name:ident with status {
            $( $(#[$doc:meta])* $variant:ident = $code:literal, $status:ident, $message:literal; )*
        }
    ) => {
        catalogue! {
            $(#[$meta])*
            pub enum $name { $( $(#[$doc])* $variant = $code, $message; )* }
        }

        impl $name {
            /// The HTTP status a transport answers when this error is the request's outcome
            /// (200 where GraphQL answers 200: an error of a field, in an operation that ran).
            pub const fn default_status(self) -> StatusCode {
                match self {
                    $( Self::$variant => StatusCode::$status, )*
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$doc:meta])* $variant:ident = $code:literal, $message:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$doc])* $variant, )*
        }

        impl $name {
            /// Every variant, in the catalogue's order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )* ];

            /// The string a client sees.
            pub const fn code(self) -> &'static str {
                match self {
                    $( Self::$variant => $code, )*
                }
            }

            /// The client-safe message when nothing more precise is said.
            pub const fn default_message(self) -> &'static str {
                match self {
                    $( Self::$variant => $message, )*
                }
            }

            /// The variant a client-visible string names.
            pub fn parse(code: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|known| known.code() == code)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        /// Tests compare with the wire string a client sees.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.code() == *other
            }
        }
    };
}

catalogue! {
    /// Every `extensions.code` a client can see.
    pub enum ErrorCode with status {
        /// The body is no GraphQL request (not JSON, no `query`, no such operation).
        BadRequest = "BAD_REQUEST", BAD_REQUEST, "the request is not a GraphQL request";
        /// The document does not parse.
        GraphqlParseFailed = "GRAPHQL_PARSE_FAILED", BAD_REQUEST, "the document does not parse";
        /// The document does not validate against the schema (or asks for introspection where
        /// it is off).
        GraphqlValidationFailed = "GRAPHQL_VALIDATION_FAILED", BAD_REQUEST, "the document does not validate against the schema";
        // Operation limits (`graphql::limits`), then the batch's.
        MaxQuerySizeExceeded = "MAX_QUERY_SIZE_EXCEEDED", BAD_REQUEST, "the query document is too large";
        MaxFieldsExceeded = "MAX_FIELDS_EXCEEDED", BAD_REQUEST, "the query reaches too many fields";
        MaxDepthExceeded = "MAX_DEPTH_EXCEEDED", BAD_REQUEST, "the query is nested too deep";
        MaxComplexityExceeded = "MAX_COMPLEXITY_EXCEEDED", BAD_REQUEST, "the query is too complex";
        MaxAliasesExceeded = "MAX_ALIASES_EXCEEDED", BAD_REQUEST, "the query has too many aliases";
        MaxRootFieldsExceeded = "MAX_ROOT_FIELDS_EXCEEDED", BAD_REQUEST, "the operation has too many root fields";
        MaxDirectivesExceeded = "MAX_DIRECTIVES_EXCEEDED", BAD_REQUEST, "a field has too many directives";
        BatchLimitExceeded = "BATCH_LIMIT_EXCEEDED", BAD_REQUEST, "the batch holds too many operations";
        /// A body over `--max-body-bytes`.
        PayloadTooLarge = "PAYLOAD_TOO_LARGE", PAYLOAD_TOO_LARGE, "the body is too large";
        /// A POST body that is not `application/json`.
        UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", UNSUPPORTED_MEDIA_TYPE, "the body must be application/json";
        /// A mutation over GET.
        MethodNotAllowed = "METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED, "mutations are only accepted over POST";
        /// Past the request's deadline (a body that did not arrive in time answers 408).
        RequestTimeout = "REQUEST_TIMEOUT", GATEWAY_TIMEOUT, "the request took too long";
        /// No valid token; `extensions.reason` ([`AuthReason`]) says why.
        Unauthenticated = "UNAUTHENTICATED", UNAUTHORIZED, "the request carries no valid token";
        /// The database cannot be reached; retryable (see [`ErrorCode::retry_after`]).
        DatabaseUnavailable = "DATABASE_UNAVAILABLE", SERVICE_UNAVAILABLE, "the database is unavailable; retry shortly";
        /// A failure inside the server; the detail is logged, never returned (a field that
        /// fails so in an operation that ran answers 200, as any field error).
        InternalServerError = "INTERNAL_SERVER_ERROR", INTERNAL_SERVER_ERROR, "internal server error";
        /// An argument or input field is invalid; `extensions.field` names it (400 when found
        /// while validating the document).
        BadUserInput = "BAD_USER_INPUT", OK, "an argument or input field is invalid";
        /// The role may not do this, or may not read this field of a row it may see.
        Forbidden = "FORBIDDEN", OK, "your role may not do this";
        /// No such object, or outside the caller's scope (indistinguishable on purpose).
        NotFound = "NOT_FOUND", OK, "not found";
        /// The change contradicts the current state.
        Conflict = "CONFLICT", OK, "the change contradicts the current state";
        /// Too many refused attempts of a limited kind; `extensions.retryAfter` says when.
        RateLimited = "RATE_LIMITED", OK, "too many attempts were refused; try again after `extensions.retryAfter` seconds";
        /// The same purchase or tenant creation is running; `extensions.retryAfter` says when.
        ProvisioningInProgress = "PROVISIONING_IN_PROGRESS", OK, "the provisioning is in progress; retry shortly";
        // Tenant rules (`domain::tenancy`).
        TenantAlreadyLinked = "TENANT_ALREADY_LINKED", OK, "the organization is linked to a different tenant; unlink it first";
        TenantIdInUse = "TENANT_ID_IN_USE", OK, "this tenant ID is linked to another organization";
        TenantRequired = "TENANT_REQUIRED", OK, "an active Microsoft subscription needs its organization's tenant";
        /// A service account with a tenant-wide privileged role (`domain::consent`).
        LeastPrivilegeViolation = "LEAST_PRIVILEGE_VIOLATION", OK, "the role grants control of the whole tenant; give the service account only the roles it needs";
        // Partner Center's answers (`partner_center::PartnerCenterError`).
        DomainPrefixTaken = "DOMAIN_PREFIX_TAKEN", OK, "the domain prefix is already taken";
        PartnerCenterValidationFailed = "PARTNER_CENTER_VALIDATION_FAILED", OK, "Partner Center refused the request";
        PartnerCenterCustomerNotFound = "PARTNER_CENTER_CUSTOMER_NOT_FOUND", OK, "the customer does not exist for this partner";
        PartnerCenterUnavailable = "PARTNER_CENTER_UNAVAILABLE", OK, "Partner Center is unavailable; try again later";
        /// The broker has no Partner Center connection and the install is not on the sandbox.
        PartnerCenterNotConfigured = "PARTNER_CENTER_NOT_CONFIGURED", OK, "this broker has no Partner Center connection: a broker admin configures one with `configurePartnerCenterConnection`";
        /// Microsoft Entra or Partner Center refused the broker's credentials.
        PartnerCenterAuthFailed = "PARTNER_CENTER_AUTH_FAILED", OK, "Microsoft refused the broker's Partner Center credentials";
        // Persisted operations and trusted documents (`graphql::exec::documents`).
        /// A hash (APQ) or `documentId` the server does not know; an APQ client sends the
        /// document with its hash next. 200 and Apollo's message, as Apollo Server and Router
        /// answer it, so Apollo's and urql's links recognise it.
        PersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND", OK, "PersistedQueryNotFound";
        /// The document sent with `extensions.persistedQuery` does not hash to its `sha256Hash`.
        PersistedQueryHashMismatch = "PERSISTED_QUERY_HASH_MISMATCH", BAD_REQUEST, "provided sha does not match query";
        /// `extensions.persistedQuery.version` is not 1.
        PersistedQueryVersionNotSupported = "PERSISTED_QUERY_VERSION_NOT_SUPPORTED", BAD_REQUEST, "Unsupported persisted query version: only version 1 is supported";
        /// `--require-trusted-documents`: the operation is not one of the trusted documents.
        PersistedQueryRequired = "PERSISTED_QUERY_REQUIRED", BAD_REQUEST, "this server runs only trusted documents: send a `documentId` or `extensions.persistedQuery` of its manifest";
        /// A synchronization of the broker is running (here or on another replica);
        /// `extensions.retryAfter` says when its lease ends.
        SyncInProgress = "SYNC_IN_PROGRESS", OK, "a synchronization of this broker with Partner Center is running; retry shortly";
        /// A field or directive with more arguments than `--max-arguments` (an operation limit).
        MaxArgumentsExceeded = "MAX_ARGUMENTS_EXCEEDED", BAD_REQUEST, "a field or directive has too many arguments";
        /// More fields, arguments, directives and values than `--max-nodes` once fragments are
        /// expanded: what validation would walk (an operation limit).
        MaxNodesExceeded = "MAX_NODES_EXCEEDED", BAD_REQUEST, "the query reaches too many fields, arguments, directives and values";
        /// The process runs `--max-concurrent-operations` already, and none finished within
        /// `--operation-queue-wait-ms`; retryable.
        ServerBusy = "SERVER_BUSY", SERVICE_UNAVAILABLE, "the server is running as many operations as it may; retry shortly";
        /// The caller (token subject, role and scope) runs
        /// `--max-concurrent-operations-per-principal` already; retryable.
        TooManyConcurrentOperations = "TOO_MANY_CONCURRENT_OPERATIONS", TOO_MANY_REQUESTS, "you are running as many operations at once as you may; retry shortly";
        /// A control of the built-in Partner Center sandbox, on an install that does not use it.
        SandboxNotInUse = "SANDBOX_NOT_IN_USE", OK, "this install does not run on the built-in Partner Center sandbox (it has a Partner Center URL)";
        // Live updates (`live`).
        /// More subscriptions than `--live-max-per-connection` / `--live-max-per-principal`.
        SubscriptionLimitExceeded = "SUBSCRIPTION_LIMIT_EXCEEDED", OK, "too many subscriptions at once; end one first";
        /// A subscriber fell more than `--live-buffer` events behind; it resumes with its last cursor.
        SubscriberTooSlow = "SUBSCRIBER_TOO_SLOW", OK, "the subscriber fell too far behind; subscribe again with the last cursor you received";
    }
}

catalogue! {
    /// Every `extensions.reason` of `UNAUTHENTICATED` (all answered 401, with
    /// `WWW-Authenticate`), as README.md's "Authentication and roles" lists them.
    pub enum AuthReason {
        TokenMissing = "TOKEN_MISSING", "send `Authorization: Bearer <JWT>`";
        TokenMalformed = "TOKEN_MALFORMED", "the token is not a well-formed JWT";
        AlgorithmNotAllowed = "ALGORITHM_NOT_ALLOWED", "the token's algorithm is not accepted";
        UnknownKey = "UNKNOWN_KEY", "the token names no key this server trusts";
        InvalidSignature = "INVALID_SIGNATURE", "the token's signature does not verify";
        ClaimMissing = "CLAIM_MISSING", "the token lacks a required claim";
        ClaimInvalid = "CLAIM_INVALID", "a registered claim of the token has the wrong type";
        TokenExpired = "TOKEN_EXPIRED", "the token has expired";
        TokenNotYetValid = "TOKEN_NOT_YET_VALID", "the token is not valid yet";
        InvalidIssuer = "INVALID_ISSUER", "the token's issuer is not accepted";
        InvalidAudience = "INVALID_AUDIENCE", "the token's audience is not accepted";
        RoleMissing = "ROLE_MISSING", "the token has no role claim";
        RoleUnknown = "ROLE_UNKNOWN", "the token's role claim names no known role";
        ScopeMissing = "SCOPE_MISSING", "the token's role needs a scope claim it lacks";
        ScopeInvalid = "SCOPE_INVALID", "the token's scope claim is not a UUID";
        SubjectUnknown = "SUBJECT_UNKNOWN", "the token's `sub` is no user of its organization";
    }
}

impl ErrorCode {
    /// A refusal by an operation or request limit (counted as `graphql_refusals_total`).
    pub const fn is_limit(self) -> bool {
        matches!(
            self,
            Self::MaxQuerySizeExceeded
                | Self::MaxFieldsExceeded
                | Self::MaxDepthExceeded
                | Self::MaxComplexityExceeded
                | Self::MaxAliasesExceeded
                | Self::MaxRootFieldsExceeded
                | Self::MaxDirectivesExceeded
                | Self::BatchLimitExceeded
                | Self::PayloadTooLarge
                | Self::RequestTimeout
                | Self::MaxArgumentsExceeded
                | Self::MaxNodesExceeded
                | Self::ServerBusy
                | Self::TooManyConcurrentOperations
        )
    }

    /// For a passing failure of the whole request: the seconds a client should wait, sent as
    /// `Retry-After`. An operation that ran and met such an error answers its
    /// [`default_status`](Self::default_status) too, rather than 200.
    pub const fn retry_after(self) -> Option<u64> {
        match self {
            Self::DatabaseUnavailable | Self::ServerBusy | Self::TooManyConcurrentOperations => {
                Some(1)
            }
            _ => None,
        }
    }

    /// The code an error carries in `extensions.code`, if it is one of the catalogue's.
    pub fn of(error: &ServerError) -> Option<ErrorCode> {
        match error.extensions.as_ref()?.get("code")? {
            async_graphql::Value::String(code) => ErrorCode::parse(code),
            _ => None,
        }
    }

    /// A GraphQL error with this code and `message`, outside any field.
    pub fn server_error(self, message: impl Into<String>) -> ServerError {
        let mut error = ServerError::new(message, None);
        error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("code", self.code());
        error
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The request carries no valid identity.
    Unauthenticated(AuthError),
    /// The identity may not do this.
    Forbidden(String),
    /// The object does not exist, or is outside the caller's scope (indistinguishable on purpose).
    NotFound(String),
    /// An argument or input field is invalid; `field` names it.
    BadUserInput {
        field: Option<String>,
        message: String,
    },
    /// The change contradicts the current state.
    Conflict(String),
    /// A domain rule with its own code (`TENANT_ALREADY_LINKED`, `TENANT_ID_IN_USE`, ...).
    Domain { code: ErrorCode, message: String },
    /// The database cannot be reached (refused, reset, or no connection within the pool's
    /// time-out). Retryable: the HTTP edge answers 503 with `Retry-After`.
    DatabaseUnavailable,
    /// Not now, but the same call may succeed later (`PROVISIONING_IN_PROGRESS`, and
    /// `RATE_LIMITED` when a caller failed a limited kind of attempt too often): the client
    /// sees `extensions.retryAfter`, in seconds.
    Retryable {
        code: ErrorCode,
        message: String,
        retry_after_seconds: u64,
    },
    /// Something failed inside the server; the detail was logged, never returned.
    Internal,
}

impl ApiError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// The domain rule `code`, with its default message.
    pub fn domain(code: ErrorCode) -> Self {
        Self::Domain {
            code,
            message: code.default_message().into(),
        }
    }

    /// The `extensions.code` a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::BadUserInput { .. } => ErrorCode::BadUserInput,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Domain { code, .. } | Self::Retryable { code, .. } => *code,
            Self::DatabaseUnavailable => ErrorCode::DatabaseUnavailable,
            Self::Internal => ErrorCode::InternalServerError,
        }
    }

    /// The message a client sees; safe by construction.
    pub fn message(&self) -> &str {
        match self {
            Self::Unauthenticated(AuthError { message, .. })
            | Self::Forbidden(message)
            | Self::NotFound(message)
            | Self::BadUserInput { message, .. }
            | Self::Conflict(message)
            | Self::Domain { message, .. }
            | Self::Retryable { message, .. } => message,
            Self::DatabaseUnavailable | Self::Internal => self.code().default_message(),
        }
    }

    /// Logs an internal failure and hides it.
    pub fn internal(context: &'static str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(context, error = %error, "internal error");
        Self::Internal
    }

    /// The error as a GraphQL error outside any field (a refused request or operation).
    pub fn into_server_error(self) -> ServerError {
        let error = async_graphql::Error::from(self);
        ServerError {
            extensions: error.extensions,
            ..ServerError::new(error.message, None)
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", error.code().code());
            match &error {
                ApiError::BadUserInput {
                    field: Some(field), ..
                } => ext.set("field", field.as_str()),
                ApiError::Unauthenticated(AuthError { reason, .. }) => {
                    ext.set("reason", reason.code())
                }
                ApiError::Retryable {
                    retry_after_seconds,
                    ..
                } => ext.set("retryAfter", *retry_after_seconds),
                _ => {}
            }
        })
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        if crate::db::is_unavailable(&error) {
            tracing::warn!(error = %error, "database unavailable");
            ApiError::DatabaseUnavailable
        } else {
            ApiError::internal("database", &error)
        }
    }
}

impl From<std::sync::Arc<sea_orm::DbErr>> for ApiError {
    fn from(error: std::sync::Arc<sea_orm::DbErr>) -> Self {
        ApiError::from((*error).clone())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    /// `ErrorCode::ALL` and `AuthReason::ALL` come from the same lines as the enums, so they
    /// hold every variant; this makes sure each variant fits its wire string in one way only,
    /// as no two reasons or codes share one.
    #[test]
    fn every_code_is_listed_once_and_named_for_its_variant() {
        let wire: Vec<&str> = ErrorCode::ALL
            .iter()
            .map(|code| code.code())
            .chain(AuthReason::ALL.iter().map(|reason| reason.code()))
            .collect();
        let unique: BTreeSet<&str> = wire.iter().copied().collect();
        assert_eq!(unique.len(), wire.len(), "a code is listed twice: {wire:?}");
        for code in ErrorCode::ALL {
            assert_eq!(screaming_snake(&format!("{code:?}")), code.code());
            assert_eq!(ErrorCode::parse(code.code()), Some(*code));
            assert!(!code.default_message().is_empty(), "{code}");
        }
        for reason in AuthReason::ALL {
            assert_eq!(screaming_snake(&format!("{reason:?}")), reason.code());
            assert_eq!(AuthReason::parse(reason.code()), Some(*reason));
            assert!(!reason.default_message().is_empty(), "{reason}");
        }
        assert_eq!(ErrorCode::parse("NO_SUCH_CODE"), None);
    }

    fn screaming_snake(camel: &str) -> String {
        let mut out = String::new();
        for (index, c) in camel.chars().enumerate() {
            if c.is_ascii_uppercase() && index > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn an_error_reads_back_its_code() {
        let error = ErrorCode::RequestTimeout.server_error("late");
        assert_eq!(ErrorCode::of(&error), Some(ErrorCode::RequestTimeout));
        assert_eq!(error.message, "late");
        assert!(error.locations.is_empty());
        assert_eq!(ErrorCode::of(&ServerError::new("uncoded", None)), None);

        let refused = ApiError::from(AuthError::of(AuthReason::TokenExpired)).into_server_error();
        let extensions = refused.extensions.clone().unwrap_or_default();
        assert_eq!(ErrorCode::of(&refused), Some(ErrorCode::Unauthenticated));
        assert_eq!(
            extensions.get("reason"),
            Some(&async_graphql::Value::from("TOKEN_EXPIRED"))
        );
        assert_eq!(refused.message, "the token has expired");
        assert!(refused.locations.is_empty());
    }

    /// The rows of the README table that follows the line `heading`: the codes each row's
    /// first cell names (in backticks), with the row's second cell.
    fn readme_rows(heading: &str) -> Vec<(Vec<String>, String)> {
        let readme = include_str!("../README.md");
        let start = readme
            .find(heading)
            .unwrap_or_else(|| panic!("README.md has no {heading:?}"));
        readme[start..]
            .lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .skip(2) // the header and its rule
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let codes = cells[1]
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(String::from)
                    .collect();
                (codes, cells[2].to_string())
            })
            .collect()
    }

    /// README.md's table of codes says what the catalogue says: every code once, with its
    /// default status first in the status cell (`Retry-After` there exactly for the codes that
    /// send it), and no code the catalogue lacks.
    #[test]
    fn the_readme_lists_every_code_with_its_status() {
        let mut listed = HashMap::new();
        for (codes, status) in readme_rows("Every `extensions.code` a client can see") {
            let number: String = status.chars().take_while(char::is_ascii_digit).collect();
            for code in codes {
                let parsed = ErrorCode::parse(&code)
                    .unwrap_or_else(|| panic!("README.md lists {code}, which is no ErrorCode"));
                assert_eq!(
                    number,
                    parsed.default_status().as_str(),
                    "README.md's status of {code}"
                );
                assert_eq!(
                    status.contains("Retry-After"),
                    parsed.retry_after().is_some(),
                    "README.md's Retry-After of {code}"
                );
                assert!(
                    listed.insert(parsed, status.clone()).is_none(),
                    "README.md lists {code} twice"
                );
            }
        }
        let missing: Vec<_> = ErrorCode::ALL
            .iter()
            .filter(|code| !listed.contains_key(*code))
            .collect();
        assert!(missing.is_empty(), "README.md lacks {missing:?}");
    }

    #[test]
    fn the_readme_lists_every_reason() {
        let mut listed = Vec::new();
        for (codes, _) in readme_rows("| reason | the token |") {
            for code in codes {
                let reason = AuthReason::parse(&code)
                    .unwrap_or_else(|| panic!("README.md lists {code}, which is no AuthReason"));
                assert!(!listed.contains(&reason), "README.md lists {code} twice");
                listed.push(reason);
            }
        }
        let missing: Vec<_> = AuthReason::ALL
            .iter()
            .filter(|reason| !listed.contains(*reason))
            .collect();
        assert!(missing.is_empty(), "README.md lacks {missing:?}");
    }
}
