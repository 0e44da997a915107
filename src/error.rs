//! The one error catalogue: every error a client can see, with its `extensions.code`.
//!
//! `ApiError` deliberately does not implement `Display`: async-graphql converts any `Display`
//! type into an error without a code, so the only way to turn an `ApiError` into a GraphQL error
//! is the `From` impl below, which always attaches the code. Internal detail (SQL, I/O) is logged
//! where it happens and replaced by a fixed message.

use async_graphql::ErrorExtensions;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The request carries no valid identity.
    Unauthenticated {
        reason: &'static str,
        message: String,
    },
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
    Domain { code: &'static str, message: String },
    /// The database cannot be reached (refused, reset, or no connection within the pool's
    /// time-out). Retryable: the HTTP edge answers 503 with `Retry-After`.
    DatabaseUnavailable,
    /// Not now, but the same call may succeed later (`PROVISIONING_IN_PROGRESS`, and
    /// `RATE_LIMITED` when a caller failed a limited kind of attempt too often): the client
    /// sees `extensions.retryAfter`, in seconds.
    Retryable {
        code: &'static str,
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

    /// The `extensions.code` a client sees.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated { .. } => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::Domain { code, .. } | Self::Retryable { code, .. } => code,
            Self::DatabaseUnavailable => DATABASE_UNAVAILABLE,
            Self::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message a client sees; safe by construction.
    pub fn message(&self) -> &str {
        match self {
            Self::Unauthenticated { message, .. }
            | Self::Forbidden(message)
            | Self::NotFound(message)
            | Self::BadUserInput { message, .. }
            | Self::Conflict(message)
            | Self::Domain { message, .. }
            | Self::Retryable { message, .. } => message,
            Self::DatabaseUnavailable => "the database is unavailable; retry shortly",
            Self::Internal => "internal server error",
        }
    }

    /// Logs an internal failure and hides it.
    pub fn internal(context: &'static str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(context, error = %error, "internal error");
        Self::Internal
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", error.code());
            match &error {
                ApiError::BadUserInput {
                    field: Some(field), ..
                } => ext.set("field", field.as_str()),
                ApiError::Unauthenticated { reason, .. } => ext.set("reason", *reason),
                ApiError::Retryable {
                    retry_after_seconds,
                    ..
                } => ext.set("retryAfter", *retry_after_seconds),
                _ => {}
            }
        })
    }
}

/// The code of [`ApiError::DatabaseUnavailable`], which the HTTP edge looks for in answers.
pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";

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
