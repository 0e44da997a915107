//! GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it.
//!
//! - `POST` takes `application/json` (else 415); `GET` takes query parameters and never runs a
//!   mutation (405).
//! - The answer is `application/graphql-response+json` when the client accepts it or sends no
//!   `Accept` (as the specification asks since 2025), `application/json` otherwise.
//! - A request that is not a GraphQL request (bad JSON, no query) is a 400 with `errors` and no
//!   `data`. One that is but cannot run (a syntax or validation error, a limit, an unknown
//!   operation) is a 400 too in `application/graphql-response+json`, and a 200 in
//!   `application/json`, whose clients cannot tell a GraphQL error from an HTTP one (the
//!   specification's SHOULD). Once execution starts the status is 200.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ServerError, Variables};
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use super::AppState;
use crate::auth::{AuthError, Principal, subject};
use crate::error::ApiError;
use crate::graphql::RequestContext;
use crate::graphql::errors::{self, Stage, with_code};
use crate::graphql::limits::check_document;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// The media type of the answer, from the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    pub(crate) fn negotiate(headers: &HeaderMap) -> Media {
        if !headers.contains_key(header::ACCEPT) {
            return Media::GraphqlResponseJson;
        }
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

/// A response whose body is already JSON text.
fn raw(media: Media, status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response()
}

fn error_json(code: &str, message: &str) -> Value {
    json!({ "message": errors::shorten(message), "extensions": { "code": code } })
}

/// A request refused before any GraphQL ran.
pub(crate) fn refuse(media: Media, status: StatusCode, code: &str, message: &str) -> Response {
    respond(
        media,
        status,
        &json!({ "errors": [error_json(code, message)] }),
    )
}

/// The type of the operation a request selects from its document, as async-graphql selects it
/// (and with its messages).
fn selected_operation(
    document: &ExecutableDocument,
    name: Option<&str>,
) -> Result<OperationType, ServerError> {
    let ty = match (&document.operations, name) {
        (DocumentOperations::Single(op), None) => Some(op.node.ty),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => {
            if ops.len() == 1 {
                ops.values().next().map(|op| op.node.ty)
            } else {
                return Err(with_code(
                    ServerError::new("Operation name required in request.", None),
                    "BAD_REQUEST",
                ));
            }
        }
    };
    ty.ok_or_else(|| {
        with_code(
            ServerError::new(
                format!(r#"Unknown operation named "{}""#, name.unwrap_or_default()),
                None,
            ),
            "BAD_REQUEST",
        )
    })
}

/// One operation's answer.
struct Answer {
    body: Body,
    status: StatusCode,
}

enum Body {
    /// An operation that ran, serialised on the executor that ran it (its values are
    /// allocated there, and freeing them there is cheaper than on another thread).
    Ran(Vec<u8>),
    /// A refusal built here.
    Refused(Value),
}

impl Body {
    /// The JSON text of the answer.
    fn into_bytes(self) -> Vec<u8> {
        match self {
            Body::Ran(bytes) => bytes,
            Body::Refused(value) => value.to_string().into_bytes(),
        }
    }
}

/// What the executor hands back: the serialised response of an operation that ran, or the
/// errors of a document async-graphql refused before running it.
enum Executed {
    Ran(Result<Vec<u8>, serde_json::Error>),
    /// An operation that ran but found the database unreachable: answered 503.
    Unavailable(Result<Vec<u8>, serde_json::Error>),
    Refused(Vec<ServerError>),
}

impl Executed {
    fn of(response: async_graphql::Response) -> Executed {
        let response = errors::for_client(response);
        let unavailable = response.errors.iter().any(|error| {
            error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
                .is_some_and(|code| {
                    *code == async_graphql::Value::from(crate::error::DATABASE_UNAVAILABLE)
                })
        });
        if errors::is_refusal(&response) && !unavailable {
            Executed::Refused(response.errors)
        } else if unavailable {
            Executed::Unavailable(serde_json::to_vec(&response))
        } else {
            Executed::Ran(serde_json::to_vec(&response))
        }
    }
}

fn internal_error() -> Answer {
    Answer {
        body: Body::Refused(
            json!({ "errors": [error_json("INTERNAL_SERVER_ERROR", "internal server error")] }),
        ),
        status: StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What a client should wait before retrying a request refused for want of the database.
pub(crate) fn retry_after() -> HeaderValue {
    HeaderValue::from_static("1")
}

/// The answer while the database is unreachable: at once, instead of each request waiting
/// for the pool's acquire time-out.
fn database_unavailable() -> Answer {
    let error = crate::error::ApiError::DatabaseUnavailable;
    Answer {
        body: Body::Refused(json!({ "errors": [error_json(error.code(), error.message())] })),
        status: StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A request refused before it ran.
fn refusal(status: StatusCode, errors: Vec<ServerError>) -> Answer {
    Answer {
        body: Body::Refused(json!({ "errors": errors
            .into_iter()
            .map(|error| errors::error_for_client(error, Stage::Validation))
            .collect::<Vec<_>>() })),
        status,
    }
}

/// The answer of an operation cut at its deadline (or never started, in a batch past it).
fn timed_out(state: &AppState) -> Answer {
    let timeout = state.limits.request_timeout();
    tracing::warn!(timeout_seconds = timeout.as_secs(), "request timed out");
    let message = format!("the request took longer than {} s", timeout.as_secs());
    Answer {
        body: Body::Refused(json!({ "errors": [error_json("REQUEST_TIMEOUT", &message)] })),
        status: StatusCode::GATEWAY_TIMEOUT,
    }
}

/// Runs one operation, which must finish by `deadline`: the request's, shared by every
/// operation of a batch.
async fn run(
    state: &AppState,
    principal: &Principal,
    mut request: async_graphql::Request,
    over_get: bool,
    deadline: Instant,
) -> Answer {
    // The checks async-graphql has no setting for, here rather than in schema extensions:
    // a schema with extensions gives up async-graphql's fast path for every field.
    let document = match check_document(&state.limits, &request.query) {
        Ok(document) => document,
        Err(error) => return refusal(StatusCode::BAD_REQUEST, vec![error]),
    };
    match selected_operation(&document, request.operation_name.as_deref()) {
        Ok(OperationType::Mutation) if over_get => {
            let error = with_code(
                ServerError::new("mutations are only accepted over POST", None),
                "METHOD_NOT_ALLOWED",
            );
            return refusal(StatusCode::METHOD_NOT_ALLOWED, vec![error]);
        }
        Ok(_) => {}
        Err(error) => return refusal(StatusCode::BAD_REQUEST, vec![error]),
    }
    if state.availability.is_down() {
        return database_unavailable();
    }
    request.set_parsed_query(document);
    let context = RequestContext::new(state.db.clone(), Some(principal.clone()), true);
    let request = request.data(context);
    // The operation runs on a single-threaded executor, so its DataLoader batches each level
    // whole (see `RequestContext::new`); the handler itself stays on the multi-threaded runtime.
    let schema = state.schema.clone();
    // Aborting the pinned task drops the operation's future on its executor at its next await
    // point (tokio-util's `spawn_pinned` forwards the abort); the handle aborts on drop too,
    // so an operation whose client went away (the handler dropped) stops as well, instead of
    // running on detached.
    let mut task = AbortOnDropHandle::new(
        state
            .executors
            .spawn_pinned(move || async move { Executed::of(schema.execute(request).await) }),
    );
    let executed = match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(Ok(executed)) => executed,
        Ok(Err(error)) => {
            tracing::error!(error = %error, "operation task failed");
            return internal_error();
        }
        Err(_) => {
            task.abort();
            return timed_out(state);
        }
    };
    match executed {
        Executed::Ran(Ok(bytes)) => Answer {
            body: Body::Ran(bytes),
            status: StatusCode::OK,
        },
        Executed::Unavailable(Ok(bytes)) => {
            state.availability.mark_down();
            Answer {
                body: Body::Ran(bytes),
                status: StatusCode::SERVICE_UNAVAILABLE,
            }
        }
        Executed::Ran(Err(error)) | Executed::Unavailable(Err(error)) => {
            tracing::error!(error = %error, "response not serialisable");
            internal_error()
        }
        Executed::Refused(errors) => refusal(StatusCode::BAD_REQUEST, errors),
    }
}

fn finish(media: Media, answer: Answer) -> Response {
    // The only 400s `run` answers are GraphQL request errors (see the module's doc).
    let status = match (media, answer.status) {
        (Media::Json, StatusCode::BAD_REQUEST) => StatusCode::OK,
        (_, status) => status,
    };
    with_status_headers(raw(media, status, answer.body.into_bytes()))
}

/// The headers a status calls for: `Allow` with a 405, `Retry-After` with a 503.
fn with_status_headers(mut response: Response) -> Response {
    let status = response.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after());
    }
    response
}

/// Verifies the bearer token and, for organization roles, that its subject is a member, or
/// answers 401 with `WWW-Authenticate: Bearer`.
async fn authenticate(
    state: &AppState,
    media: Media,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""));
    let refused = |error: AuthError| {
        // Never the token itself: only why it was refused.
        tracing::warn!(reason = error.reason, "request refused: not authenticated");
        unauthorized(media, &error)
    };
    let principal = state
        .auth
        .authenticate(authorization)
        .await
        .map_err(refused)?;
    if principal.role.is_organization_role() && state.availability.is_down() {
        return Err(finish(media, database_unavailable()));
    }
    match subject::ensure_member(&state.db, &principal).await {
        Ok(()) => Ok(principal),
        Err(ApiError::Unauthenticated { reason, message }) => {
            Err(refused(AuthError::new(reason, message)))
        }
        Err(ApiError::DatabaseUnavailable) => {
            state.availability.mark_down();
            Err(finish(media, database_unavailable()))
        }
        Err(_) => Err(finish(media, internal_error())),
    }
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
    request: axum::extract::Request,
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
    // The body is read here, under its own time-out, rather than by an extractor: a client
    // that dribbles it would otherwise hold the connection for as long as it likes.
    let timeout = state.config.body_read_timeout;
    let body = match tokio::time::timeout(timeout, Bytes::from_request(request, &state)).await {
        Err(_) => {
            tracing::warn!(
                timeout_seconds = timeout.as_secs(),
                "request body timed out"
            );
            let message = format!("the body did not arrive within {} s", timeout.as_secs());
            return refuse(
                media,
                StatusCode::REQUEST_TIMEOUT,
                "REQUEST_TIMEOUT",
                &message,
            );
        }
        Ok(body) => body,
    };
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
    let deadline = Instant::now() + state.limits.request_timeout();
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
        Value::Array(items) => batch(&state, &principal, media, items, deadline).await,
        value => match parse_request(value) {
            Ok(request) => finish(
                media,
                run(&state, &principal, request, false, deadline).await,
            ),
            Err((code, message)) => refuse(media, StatusCode::BAD_REQUEST, code, &message),
        },
    }
}

/// A JSON array of operations, run one after the other, answered as an array. The request
/// has one deadline: an operation still running at it answers `REQUEST_TIMEOUT`, and so do
/// those after it, which never start.
async fn batch(
    state: &AppState,
    principal: &Principal,
    media: Media,
    items: Vec<Value>,
    deadline: Instant,
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
    // The answers' JSON texts, joined into one array; 503 when any found no database.
    let mut status = StatusCode::OK;
    let mut answers = vec![b'['];
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            answers.push(b',');
        }
        let body = match parse_request(item) {
            Ok(_) if Instant::now() >= deadline => timed_out(state).body,
            Ok(request) => {
                let answer = run(state, principal, request, false, deadline).await;
                if answer.status == StatusCode::SERVICE_UNAVAILABLE {
                    status = answer.status;
                }
                answer.body
            }
            Err((code, message)) => {
                Body::Refused(json!({ "errors": [error_json(code, &message)] }))
            }
        };
        answers.extend(body.into_bytes());
    }
    answers.push(b']');
    with_status_headers(raw(media, status, answers))
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
    let deadline = Instant::now() + state.limits.request_timeout();
    finish(
        media,
        run(&state, &principal, request, true, deadline).await,
    )
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}
