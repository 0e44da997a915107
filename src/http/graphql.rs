//! GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it.
//!
//! - `POST` takes `application/json` (else 415); `GET` takes query parameters and never runs a
//!   mutation (405).
//! - The answer is `application/graphql-response+json` when the client accepts it,
//!   `application/json` otherwise.
//! - A request that cannot run at all (bad JSON, no query, a syntax or validation error) is a
//!   400 with `errors` and no `data`; once execution starts the status is 200.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, ValidationResult, Variables};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::auth::{AuthError, Principal};
use crate::graphql::LocalExecution;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// The media type of the answer, from the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    pub(crate) fn negotiate(headers: &HeaderMap) -> Media {
        let accepts_graphql_response = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let refused = parts.clone().any(|p| p.replace(' ', "") == "q=0");
                parts.next() == Some(GRAPHQL_RESPONSE_JSON) && !refused
            });
        if accepts_graphql_response {
            Media::GraphqlResponseJson
        } else {
            Media::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        })
    }
}

fn respond(media: Media, status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, media.content_type())],
            bytes,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error, "response not serialisable");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn error_json(code: &str, message: &str) -> Value {
    json!({ "message": message, "extensions": { "code": code } })
}

/// A request refused before any GraphQL ran.
fn refuse(media: Media, status: StatusCode, code: &str, message: &str) -> Response {
    respond(
        media,
        status,
        &json!({ "errors": [error_json(code, message)] }),
    )
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

/// What the HTTP layer needs to know of one operation's run.
#[derive(Default)]
struct Outcome {
    over_get: bool,
    operation_name: Option<String>,
    executed: AtomicBool,
    mutation_over_get: AtomicBool,
}

/// Reports to the HTTP layer whether an operation got as far as execution, refuses mutations
/// over GET, and codes parse and validation errors.
pub struct HttpRules;

impl ExtensionFactory for HttpRules {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(HttpRules)
    }
}

fn selected_operation_is_mutation(document: &ExecutableDocument, name: Option<&str>) -> bool {
    let ty = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    };
    ty == Some(OperationType::Mutation)
}

#[async_graphql::async_trait::async_trait]
impl Extension for HttpRules {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next
            .run(ctx, query, variables)
            .await
            .map_err(|error| with_code(error, "GRAPHQL_PARSE_FAILED"))?;
        if let Some(outcome) = ctx.data_opt::<Arc<Outcome>>()
            && outcome.over_get
            && selected_operation_is_mutation(&document, outcome.operation_name.as_deref())
        {
            outcome.mutation_over_get.store(true, Ordering::Relaxed);
            return Err(with_code(
                ServerError::new("mutations are only accepted over POST", None),
                "METHOD_NOT_ALLOWED",
            ));
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| with_code(error, "GRAPHQL_VALIDATION_FAILED"))
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        if let Some(outcome) = ctx.data_opt::<Arc<Outcome>>() {
            outcome.executed.store(true, Ordering::Relaxed);
        }
        next.run(ctx, operation_name).await
    }
}

/// One operation's answer.
struct Answer {
    body: Body,
    status: StatusCode,
}

enum Body {
    /// An operation that ran: serialised straight to the wire.
    Ran(async_graphql::Response),
    /// A refusal built here.
    Refused(Value),
}

impl Body {
    /// One entry of a batch's array.
    fn into_value(self) -> Value {
        match self {
            Body::Ran(response) => serde_json::to_value(&response).unwrap_or(Value::Null),
            Body::Refused(value) => value,
        }
    }
}

async fn run(
    state: &AppState,
    principal: &Principal,
    request: async_graphql::Request,
    over_get: bool,
) -> Answer {
    let outcome = Arc::new(Outcome {
        over_get,
        operation_name: request.operation_name.clone(),
        ..Outcome::default()
    });
    let request = request
        .data(principal.clone())
        .data(outcome.clone())
        .data(LocalExecution);
    let timeout = state.limits.request_timeout();
    // The operation runs on a single-threaded executor, so its DataLoader batches each level
    // whole (see `LocalExecution`); the handler itself stays on the multi-threaded runtime.
    let schema = state.schema.clone();
    let mut task = state
        .executors
        .spawn_pinned(move || async move { schema.execute(request).await });
    let response = match tokio::time::timeout(timeout, &mut task).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            tracing::error!(error = %error, "operation task failed");
            return Answer {
                body: Body::Refused(
                    json!({ "errors": [error_json("INTERNAL_SERVER_ERROR", "internal server error")] }),
                ),
                status: StatusCode::INTERNAL_SERVER_ERROR,
            };
        }
        Err(_) => {
            task.abort();
            tracing::warn!(timeout_seconds = timeout.as_secs(), "request timed out");
            let message = format!("the request took longer than {} s", timeout.as_secs());
            return Answer {
                body: Body::Refused(json!({ "errors": [error_json("REQUEST_TIMEOUT", &message)] })),
                status: StatusCode::GATEWAY_TIMEOUT,
            };
        }
    };
    if outcome.executed.load(Ordering::Relaxed) {
        return Answer {
            body: Body::Ran(response),
            status: StatusCode::OK,
        };
    }
    let errors: Vec<ServerError> = response
        .errors
        .into_iter()
        .map(|error| with_code(error, "BAD_REQUEST"))
        .collect();
    let status = if outcome.mutation_over_get.load(Ordering::Relaxed) {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        StatusCode::BAD_REQUEST
    };
    Answer {
        body: Body::Refused(json!({ "errors": errors })),
        status,
    }
}

fn finish(media: Media, answer: Answer) -> Response {
    let mut response = match &answer.body {
        Body::Ran(ran) => respond(media, answer.status, ran),
        Body::Refused(value) => respond(media, answer.status, value),
    };
    if answer.status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

/// Verifies the bearer token, or answers 401 with `WWW-Authenticate: Bearer`.
async fn authenticate(
    state: &AppState,
    media: Media,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""));
    state
        .auth
        .authenticate(authorization)
        .await
        .map_err(|error| {
            // Never the token itself: only why it was refused.
            tracing::warn!(reason = error.reason, "request refused: not authenticated");
            unauthorized(media, &error)
        })
}

pub(crate) fn unauthorized(media: Media, error: &AuthError) -> Response {
    let body = json!({ "errors": [{
        "message": error.message,
        "extensions": { "code": "UNAUTHENTICATED", "reason": error.reason },
    }] });
    let mut response = respond(media, StatusCode::UNAUTHORIZED, &body);
    let challenge = if error.reason == "TOKEN_MISSING" {
        HeaderValue::from_static("Bearer")
    } else {
        HeaderValue::from_static("Bearer error=\"invalid_token\"")
    };
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    response
}

/// Reads one request object of a POST body, refusing what is not a GraphQL request.
fn parse_request(value: Value) -> Result<async_graphql::Request, (&'static str, String)> {
    let Value::Object(fields) = &value else {
        return Err(("BAD_REQUEST", "the request must be a JSON object".into()));
    };
    match fields.get("query") {
        Some(Value::String(_)) => {}
        Some(_) => return Err(("BAD_REQUEST", "`query` must be a string".into())),
        None => return Err(("BAD_REQUEST", "the request has no `query`".into())),
    }
    serde_json::from_value(value)
        .map_err(|error| ("BAD_REQUEST", format!("invalid request: {error}")))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false)
}

/// `POST /graphql`
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let media = Media::negotiate(&headers);
    let principal = match authenticate(&state, media, &headers).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    if !is_json(&headers) {
        return refuse(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be application/json",
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = format!(
                "the body is larger than {} bytes",
                state.config.max_body_bytes
            );
            return refuse(
                media,
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &message,
            );
        }
        Err(rejection) => {
            return refuse(
                media,
                rejection.status(),
                "BAD_REQUEST",
                &rejection.body_text(),
            );
        }
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) => {
            return refuse(
                media,
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the body is not valid JSON",
            );
        }
    };
    match value {
        Value::Array(items) => batch(&state, &principal, media, items).await,
        value => match parse_request(value) {
            Ok(request) => finish(media, run(&state, &principal, request, false).await),
            Err((code, message)) => refuse(media, StatusCode::BAD_REQUEST, code, &message),
        },
    }
}

/// A JSON array of operations, run one after the other, answered as an array.
async fn batch(
    state: &AppState,
    principal: &Principal,
    media: Media,
    items: Vec<Value>,
) -> Response {
    let max = state.config.max_batch_size;
    if items.is_empty() || items.len() > max {
        let message = format!("a batch holds 1 to {max} operations, got {}", items.len());
        return refuse(
            media,
            StatusCode::BAD_REQUEST,
            "BATCH_LIMIT_EXCEEDED",
            &message,
        );
    }
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        answers.push(match parse_request(item) {
            Ok(request) => run(state, principal, request, false)
                .await
                .body
                .into_value(),
            Err((code, message)) => json!({ "errors": [error_json(code, &message)] }),
        });
    }
    respond(media, StatusCode::OK, &answers)
}

/// `GET /graphql?query=...&operationName=...&variables=...`
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> Response {
    let media = Media::negotiate(&headers);
    let principal = match authenticate(&state, media, &headers).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let Some(query) = params.query else {
        return refuse(
            media,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the request has no `query`",
        );
    };
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    for (field, text) in [
        ("variables", &params.variables),
        ("extensions", &params.extensions),
    ] {
        let Some(text) = text else { continue };
        let Ok(value @ (Value::Object(_) | Value::Null)) = serde_json::from_str::<Value>(text)
        else {
            let message = format!("`{field}` must be a JSON object");
            return refuse(media, StatusCode::BAD_REQUEST, "BAD_REQUEST", &message);
        };
        if field == "variables" {
            request = request.variables(Variables::from_json(value));
        }
    }
    finish(media, run(&state, &principal, request, true).await)
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}
