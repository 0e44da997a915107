//! The last step of every GraphQL error before a client sees it, on HTTP and on the WebSocket:
//! it gets a code, and the values it echoes are cut short.
//!
//! Errors of brokergraph's own carry their code from [`crate::error::ApiError`]. async-graphql's
//! own errors carry none, so they are coded here:
//! - a value that does not fit its type, in a literal or in `variables`, found while
//!   validating or while running: `BAD_USER_INPUT` (what Apollo Server answers for variables);
//! - one of async-graphql's limits: that limit's code;
//! - a federation representation `_entities` cannot resolve: `BAD_USER_INPUT` (see
//!   [`crate::graphql::federation::explain`]);
//! - anything else wrong with the document: `GRAPHQL_PARSE_FAILED` or
//!   `GRAPHQL_VALIDATION_FAILED`, by the stage that refused it;
//! - anything else once the operation runs is not the client's doing: it is logged and
//!   answered as `INTERNAL_SERVER_ERROR`, its detail hidden.

use async_graphql::{ErrorExtensionValues, Response, ServerError};

use crate::error::ErrorCode;

/// How many characters of an echoed value a message keeps.
const ECHO_CHARS: usize = 64;
/// How long a message may be, whatever it holds (values echoed without quotes, such as input
/// objects, are cut here).
const MESSAGE_CHARS: usize = 400;

/// Where an error without a code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Parsing the document.
    Parse,
    /// Validating it against the schema, before anything ran.
    Validation,
    /// Running it.
    Execution,
}

impl Stage {
    fn code(self) -> ErrorCode {
        match self {
            Stage::Parse => ErrorCode::GraphqlParseFailed,
            Stage::Validation => ErrorCode::GraphqlValidationFailed,
            Stage::Execution => ErrorCode::InternalServerError,
        }
    }
}

/// Whether a response is async-graphql refusing the document before running anything: every
/// error of a field that ran carries its path, so a response with no data and only errors
/// without a path ran nothing.
pub fn is_refusal(response: &Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// A response as a client may see it: every error coded and cut short.
pub fn for_client(mut response: Response) -> Response {
    let stage = if is_refusal(&response) {
        Stage::Validation
    } else {
        Stage::Execution
    };
    response.errors = std::mem::take(&mut response.errors)
        .into_iter()
        .map(|error| error_for_client(error, stage))
        .collect();
    response
}

/// An error as a client may see it: coded (by `stage` when nothing else tells) and cut short.
pub fn error_for_client(mut error: ServerError, stage: Stage) -> ServerError {
    if let Some(explained) = crate::graphql::federation::explain(&error) {
        error = explained;
    }
    if !has_code(&error) {
        let code = if is_bad_value(&error.message) {
            ErrorCode::BadUserInput
        } else if let Some(code) = limit_code(&error.message) {
            code
        } else {
            if stage == Stage::Execution {
                tracing::error!(error = %error.message, "uncoded error while running an operation");
                error.message = ErrorCode::InternalServerError.default_message().into();
            }
            stage.code()
        };
        error = with_code(error, code);
    }
    error.message = shorten(&error.message);
    error
}

fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|extensions| extensions.get("code").is_some())
}

/// Gives `error` a code unless it has one.
pub fn with_code(mut error: ServerError, code: ErrorCode) -> ServerError {
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code.code());
    }
    error
}

/// async-graphql's messages about an input value that does not fit its type (its
/// `InputValueError`s, its argument validation, and a variable with no value).
fn is_bad_value(message: &str) -> bool {
    message.starts_with("Failed to parse \"")
        || message.starts_with("Expected input type \"")
        || message.starts_with("Invalid value for argument ")
        || (message.starts_with("Variable ") && message.ends_with(" is not defined."))
}

/// The code of one of async-graphql's own limit errors.
fn limit_code(message: &str) -> Option<ErrorCode> {
    if message.starts_with("Query is too complex") {
        Some(ErrorCode::MaxComplexityExceeded)
    } else if message.starts_with("Query is nested too deep")
        || message.starts_with("The recursion depth of the query")
    {
        Some(ErrorCode::MaxDepthExceeded)
    } else if message.starts_with("The number of directives on the field") {
        Some(ErrorCode::MaxDirectivesExceeded)
    } else {
        None
    }
}

/// `message` with every quoted run (`"…"` or `` `…` ``) longer than [`ECHO_CHARS`] cut to
/// that many characters and "…", and the whole cut to [`MESSAGE_CHARS`].
pub fn shorten(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MESSAGE_CHARS * 4));
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = &rest[open..open + 1];
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(quote) else {
            break;
        };
        let quoted = &rest[..close];
        match quoted.char_indices().nth(ECHO_CHARS) {
            Some((cut, _)) => {
                out.push_str(&quoted[..cut]);
                out.push('…');
            }
            None => out.push_str(quoted),
        }
        out.push_str(quote);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    match out.char_indices().nth(MESSAGE_CHARS) {
        Some((cut, _)) => {
            out.truncate(cut);
            out.push('…');
            out
        }
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_long_quoted_values_and_keeps_short_ones() {
        let long = "é".repeat(100);
        let message = format!(r#"Invalid value "{long}" for `{long}`, expected "Int""#);
        let cut = "é".repeat(64);
        assert_eq!(
            shorten(&message),
            format!(r#"Invalid value "{cut}…" for `{cut}…`, expected "Int""#)
        );
        assert_eq!(
            shorten(r#"unknown field "size""#),
            r#"unknown field "size""#
        );
        // An unclosed quote keeps what follows, within the overall bound.
        assert_eq!(shorten(r#"found "abc"#), r#"found "abc"#);
    }

    #[test]
    fn cuts_any_message_to_a_bound() {
        let message = format!("found {{{}: 1}}", "x".repeat(100_000));
        let cut = shorten(&message);
        assert_eq!(cut.chars().count(), MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn codes_input_values_limits_and_stages() {
        let code = |message: &str, stage| {
            let error = error_for_client(ServerError::new(message, None), stage);
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .cloned();
            (code.map(|code| code.to_string()), error.message)
        };
        assert_eq!(
            code(r#"Failed to parse "Int": out of range"#, Stage::Execution).0,
            Some(r#""BAD_USER_INPUT""#.into())
        );
        assert_eq!(
            code("Variable s is not defined.", Stage::Execution).0,
            Some(r#""BAD_USER_INPUT""#.into())
        );
        assert_eq!(
            code("Query is too complex.", Stage::Validation).0,
            Some(r#""MAX_COMPLEXITY_EXCEEDED""#.into())
        );
        assert_eq!(
            code(r#"Unknown field "x""#, Stage::Validation).0,
            Some(r#""GRAPHQL_VALIDATION_FAILED""#.into())
        );
        assert_eq!(
            code(
                "Data `brokergraph::Secret` does not exist.",
                Stage::Execution
            ),
            (
                Some(r#""INTERNAL_SERVER_ERROR""#.into()),
                "internal server error".into()
            )
        );
        // A code already given stays.
        let coded = with_code(
            ServerError::new("Failed to parse \"Int\"", None),
            ErrorCode::NotFound,
        );
        let coded = error_for_client(coded, Stage::Execution);
        assert_eq!(
            coded.extensions.and_then(|e| e.get("code").cloned()),
            Some(async_graphql::Value::from("NOT_FOUND"))
        );
    }
}
