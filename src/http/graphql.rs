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

use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ServerError, Variables};
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument as _;

use super::AppState;
use super::request_id::Carried;
use crate::auth::{AuthError, Principal, subject};
use crate::error::{ApiError, AuthReason, ErrorCode};
use crate::graphql::RequestContext;
use crate::graphql::exec::errors::{self, Stage};

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

fn error_json(code: ErrorCode, message: &str) -> Value {
    json!({ "message": errors::shorten(message), "extensions": { "code": code.code() } })
}

/// A request refused before any GraphQL ran, with its code's status.
pub(crate) fn refuse(media: Media, code: ErrorCode, message: &str) -> Response {
    refuse_with_status(media, code.default_status(), code, message)
}

/// A request refused before any GraphQL ran, with a status other than its code's.
fn refuse_with_status(
    media: Media,
    status: StatusCode,
    code: ErrorCode,
    message: &str,
) -> Response {
    count_limit_refusal(code.code());
    respond(
        media,
        status,
        &json!({ "errors": [error_json(code, message)] }),
    )
}

/// The type of the operation a request selects from its document, as async-graphql selects it
/// (and with its messages).
pub(crate) fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Result<(OperationType, Option<&'a str>), ServerError> {
    let ty = match (&document.operations, name) {
        (DocumentOperations::Single(op), None) => Some((op.node.ty, None)),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get_key_value(name)
            .map(|(name, op)| (op.node.ty, Some(name.as_str()))),
        (DocumentOperations::Multiple(ops), None) => {
            if ops.len() == 1 {
                ops.iter()
                    .next()
                    .map(|(name, op)| (op.node.ty, Some(name.as_str())))
            } else {
                return Err(
                    ErrorCode::BadRequest.server_error("Operation name required in request.")
                );
            }
        }
    };
    ty.ok_or_else(|| {
        ErrorCode::BadRequest.server_error(format!(
            r#"Unknown operation named "{}""#,
            name.unwrap_or_default()
        ))
    })
}

/// One operation's answer.
struct Answer {
    body: Body,
    status: StatusCode,
    /// `Retry-After`, in seconds: the request failed for a passing reason.
    retry_after: Option<u64>,
    /// `OK`, or the first error's code (the metrics' `outcome`).
    outcome: &'static str,
}

/// The `outcome` of an answer with these errors: `OK` without any, else the first one's code
/// (a catalogue code, so the label's values are bounded).
fn outcome_of<'a>(mut codes: impl Iterator<Item = Option<&'a str>>) -> &'static str {
    match codes.next() {
        None => "OK",
        Some(code) => code
            .and_then(ErrorCode::parse)
            .unwrap_or(ErrorCode::InternalServerError)
            .code(),
    }
}

/// The outcome of a refusal built here.
fn outcome_of_json(body: &Value) -> &'static str {
    let errors = body["errors"].as_array().into_iter().flatten();
    outcome_of(errors.map(|error| error["extensions"]["code"].as_str()))
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
    /// With its outcome (`OK` or the first error's code).
    Ran(Result<Vec<u8>, serde_json::Error>, &'static str),
    /// An operation that ran but met an error that fails the whole request for a passing
    /// reason (a code with a `Retry-After`: the database unreachable): answered with that
    /// code's status.
    Failed(ErrorCode, Result<Vec<u8>, serde_json::Error>),
    Refused(Vec<ServerError>),
}

impl Executed {
    fn of(response: async_graphql::Response) -> Executed {
        let response = errors::for_client(response);
        let failed = response
            .errors
            .iter()
            .filter_map(ErrorCode::of)
            .find(|code| code.retry_after().is_some());
        match failed {
            Some(code) => Executed::Failed(code, serde_json::to_vec(&response)),
            None if errors::is_refusal(&response) => Executed::Refused(response.errors),
            None => {
                let outcome = outcome_of(
                    response
                        .errors
                        .iter()
                        .map(|error| ErrorCode::of(error).map(ErrorCode::code)),
                );
                Executed::Ran(serde_json::to_vec(&response), outcome)
            }
        }
    }
}

/// A request refused before it ran.
fn refusal(status: StatusCode, errors: Vec<ServerError>) -> Answer {
    let body = json!({ "errors": errors
        .into_iter()
        .map(|error| errors::error_for_client(error, Stage::Validation))
        .collect::<Vec<_>>() });
    let outcome = outcome_of_json(&body);
    count_limit_refusal(outcome);
    Answer {
        body: Body::Refused(body),
        status,
        retry_after: None,
        outcome,
    }
}

/// A request whose document was refused: 400 (a GraphQL request error), or its code's status
/// where that is not 400 (`PERSISTED_QUERY_NOT_FOUND` answers 200, as Apollo's servers do; the
/// database's failure while looking a hash up answers 503).
fn document_refusal(error: ServerError) -> Answer {
    match ErrorCode::of(&error).map(ErrorCode::default_status) {
        Some(status) if status != StatusCode::BAD_REQUEST => failure(error),
        _ => refusal(StatusCode::BAD_REQUEST, vec![error]),
    }
}

/// Counts a refusal by an operation limit (`graphql_refusals_total`).
fn count_limit_refusal(code: &str) {
    if ErrorCode::parse(code).is_some_and(ErrorCode::is_limit) {
        super::metrics::refusal(code);
    }
}

/// A request whose outcome is `error` alone: the status and `Retry-After` of its code.
fn failure(error: ServerError) -> Answer {
    // Every error given here carries a code of the catalogue.
    let code = ErrorCode::of(&error).unwrap_or(ErrorCode::InternalServerError);
    Answer {
        retry_after: code.retry_after(),
        ..refusal(code.default_status(), vec![error])
    }
}

fn internal_error() -> Answer {
    failure(ApiError::Internal.into_server_error())
}

/// The answer while the database is unreachable: at once, instead of each request waiting
/// for the pool's acquire time-out.
fn database_unavailable() -> Answer {
    failure(ApiError::DatabaseUnavailable.into_server_error())
}

/// The answer of an operation cut at its deadline (or never started, in a batch past it).
fn timed_out(state: &AppState) -> Answer {
    failure(super::timed_out(state.limits.request_timeout()))
}

/// One operation a client sent: the GraphQL request, and the `documentId` that names its
/// document when it has no `query` (see `graphql::exec::documents`).
pub(crate) struct Incoming {
    pub request: async_graphql::Request,
    pub document_id: Option<String>,
}

/// What the operations of one request (a batch's, or the one) share: the deadline, the context
/// the request carries, and whether one of them wrote: the queries after a mutation read the
/// primary, not a read replica (they may read what it wrote).
struct Shared<'a> {
    deadline: Instant,
    carried: &'a Carried,
    wrote: AtomicBool,
}

impl<'a> Shared<'a> {
    fn new(deadline: Instant, carried: &'a Carried) -> Self {
        Shared {
            deadline,
            carried,
            wrote: AtomicBool::new(false),
        }
    }
}

/// Runs one operation, which must finish by `deadline`: the request's, shared by every
/// operation of a batch; records it in the metrics and in its trace span when they are on.
async fn run(
    state: &AppState,
    principal: &Principal,
    request: Incoming,
    over_get: bool,
    shared: &Shared<'_>,
) -> Answer {
    let span = crate::telemetry::operation_span();
    if state.metrics.is_none() && span.is_none() {
        return run_operation(state, principal, request, over_get, shared, None).await;
    }
    let started = Instant::now();
    let mut selected = Selected::default();
    let answer = run_operation(
        state,
        principal,
        request,
        over_get,
        shared,
        Some(&mut selected),
    )
    .instrument(span.clone())
    .await;
    let name = selected.name.as_deref();
    crate::telemetry::record_operation(&span, name, selected.ty, answer.outcome);
    if let Some(metrics) = &state.metrics {
        let label = metrics.operations.label(name);
        super::metrics::operation(&label, selected.ty, answer.outcome, started.elapsed());
    }
    answer
}

/// The operation a request selected, once known.
struct Selected {
    name: Option<String>,
    /// `query`, `mutation`, `subscription`; `none` before one is selected.
    ty: &'static str,
}

impl Default for Selected {
    fn default() -> Self {
        Selected {
            name: None,
            ty: "none",
        }
    }
}

async fn run_operation(
    state: &AppState,
    principal: &Principal,
    incoming: Incoming,
    over_get: bool,
    shared: &Shared<'_>,
    selected: Option<&mut Selected>,
) -> Answer {
    // A place among the operations running now, before any work on the document: held until
    // the operation's task ends (on its executor, so an operation cut at its deadline holds
    // it until it has really stopped).
    let permit = match state.admission.admit(principal, shared.deadline).await {
        Ok(permit) => permit,
        Err(code) => return failure(super::admission::refused(code)),
    };
    // The checks async-graphql has no setting for, here rather than in schema extensions:
    // a schema with extensions gives up async-graphql's fast path for every field.
    let Incoming {
        mut request,
        document_id,
    } = incoming;
    let document = match state
        .documents
        .prepare(&mut request, document_id.as_deref())
        .await
    {
        Ok(document) => document,
        Err(error) => return document_refusal(error),
    };
    let operation = selected_operation(&document, request.operation_name.as_deref());
    if let (Some(selected), Ok((ty, name))) = (selected, &operation) {
        selected.name = name.map(str::to_owned);
        selected.ty = match ty {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        };
    }
    // Where the operation reads: a query from a read replica (if any), unless an earlier
    // operation of its batch wrote; a mutation, its payload included, from the primary.
    let reader = match operation.as_ref().map(|(ty, _)| *ty) {
        Ok(OperationType::Mutation) if over_get => {
            let code = ErrorCode::MethodNotAllowed;
            let error = code.server_error(code.default_message());
            return refusal(code.default_status(), vec![error]);
        }
        Ok(OperationType::Mutation) => {
            shared.wrote.store(true, Ordering::Relaxed);
            None
        }
        Ok(_) if shared.wrote.load(Ordering::Relaxed) => None,
        Ok(_) => state.readers.next(),
        Err(error) => return refusal(StatusCode::BAD_REQUEST, vec![error.clone()]),
    };
    if state.availability.is_down() {
        return database_unavailable();
    }
    request.set_parsed_query(document);
    let db = reader
        .map_or(&state.db, crate::db::Availability::db)
        .clone();
    let context = RequestContext::new(db, Some(principal.clone()), true);
    let request = request.data(context);
    // The operation runs on a single-threaded executor, so its DataLoader batches each level
    // whole (see `RequestContext::new`); the handler itself stays on the multi-threaded runtime.
    let schema = state.schema.clone();
    let carried = shared.carried.clone();
    // Aborting the pinned task drops the operation's future on its executor at its next await
    // point (tokio-util's `spawn_pinned` forwards the abort); the handle aborts on drop too,
    // so an operation whose client went away (the handler dropped) stops as well, instead of
    // running on detached.
    // The operation's span when traces are on (see `run`), else none.
    let span = match crate::telemetry::enabled() {
        true => tracing::Span::current(),
        false => tracing::Span::none(),
    };
    let mut task = AbortOnDropHandle::new(state.executors.spawn_pinned(move || {
        carried.run(
            async move {
                let _permit = permit;
                Executed::of(schema.execute(request).await)
            }
            .instrument(span),
        )
    }));
    let executed = match tokio::time::timeout_at(shared.deadline, &mut task).await {
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
        Executed::Ran(Ok(bytes), outcome) => Answer {
            body: Body::Ran(bytes),
            status: StatusCode::OK,
            retry_after: None,
            outcome,
        },
        Executed::Failed(code, Ok(bytes)) => {
            if code == ErrorCode::DatabaseUnavailable {
                reader.unwrap_or(&state.availability).mark_down();
            }
            Answer {
                body: Body::Ran(bytes),
                status: code.default_status(),
                retry_after: code.retry_after(),
                outcome: code.code(),
            }
        }
        Executed::Ran(Err(error), _) | Executed::Failed(_, Err(error)) => {
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
    let response = raw(media, status, answer.body.into_bytes());
    with_status_headers(response, answer.retry_after)
}

/// The headers an answer calls for: `Allow` with a 405, and `Retry-After` when it has one.
fn with_status_headers(mut response: Response, retry_after: Option<u64>) -> Response {
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
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
        tracing::warn!(
            reason = error.reason.code(),
            "request refused: not authenticated"
        );
        unauthorized(media, error)
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
        Err(ApiError::Unauthenticated(error)) => Err(refused(error)),
        Err(ApiError::DatabaseUnavailable) => {
            state.availability.mark_down();
            Err(finish(media, database_unavailable()))
        }
        Err(_) => Err(finish(media, internal_error())),
    }
}

pub(crate) fn unauthorized(media: Media, error: AuthError) -> Response {
    let missing = error.reason == AuthReason::TokenMissing;
    let error = ApiError::from(error);
    let status = error.code().default_status();
    let body = json!({ "errors": [error.into_server_error()] });
    let mut response = respond(media, status, &body);
    let challenge = if missing {
        HeaderValue::from_static("Bearer")
    } else {
        HeaderValue::from_static("Bearer error=\"invalid_token\"")
    };
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    response
}

/// Reads one request object of a POST body, refusing (`BAD_REQUEST`, with this message) what
/// is not a GraphQL request. A request without `query` names its document by `documentId` or
/// `extensions.persistedQuery`.
fn parse_request(value: Value) -> Result<Incoming, String> {
    let Value::Object(mut fields) = value else {
        return Err("the request must be a JSON object".into());
    };
    let document_id = match fields.remove("documentId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err("`documentId` must be a string".into()),
    };
    let persisted = fields
        .get("extensions")
        .is_some_and(|extensions| extensions.get("persistedQuery").is_some());
    match fields.get("query") {
        Some(Value::String(_)) => {}
        None | Some(Value::Null) if document_id.is_some() || persisted => {
            fields.remove("query");
        }
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("the request has no `query`".into()),
    }
    let request = serde_json::from_value(Value::Object(fields))
        .map_err(|error| format!("invalid request: {error}"))?;
    Ok(Incoming {
        request,
        document_id,
    })
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
        let code = ErrorCode::UnsupportedMediaType;
        return refuse(media, code, code.default_message());
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
            return refuse_with_status(
                media,
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
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
            return refuse(media, ErrorCode::PayloadTooLarge, &message);
        }
        Err(rejection) => {
            return refuse_with_status(
                media,
                rejection.status(),
                ErrorCode::BadRequest,
                &rejection.body_text(),
            );
        }
    };
    let deadline = Instant::now() + state.limits.request_timeout();
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) => {
            return refuse(media, ErrorCode::BadRequest, "the body is not valid JSON");
        }
    };
    match value {
        Value::Array(items) => {
            let carried = Carried::here(&headers);
            batch(&state, &principal, media, items, deadline, &carried).await
        }
        value => match parse_request(value) {
            // Server-Sent Events (`super::sse`): the same request, answered as a stream.
            Ok(incoming) if super::sse::accepts(&headers) => {
                super::sse::respond(&state, principal, incoming.request)
            }
            Ok(request) => finish(
                media,
                run(
                    &state,
                    &principal,
                    request,
                    false,
                    &Shared::new(deadline, &Carried::here(&headers)),
                )
                .await,
            ),
            Err(message) => refuse(media, ErrorCode::BadRequest, &message),
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
    carried: &Carried,
) -> Response {
    let max = state.config.max_batch_size;
    if items.is_empty() || items.len() > max {
        let message = format!("a batch holds 1 to {max} operations, got {}", items.len());
        return refuse(media, ErrorCode::BatchLimitExceeded, &message);
    }
    // The answers' JSON texts, joined into one array; the status (and `Retry-After`) of an
    // answer that failed for a passing reason (no database), else 200.
    let mut status = StatusCode::OK;
    let mut retry_after = None;
    let mut answers = vec![b'['];
    let shared = Shared::new(deadline, carried);
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            answers.push(b',');
        }
        let body = match parse_request(item) {
            Ok(_) if Instant::now() >= deadline => timed_out(state).body,
            Ok(request) => {
                let answer = run(state, principal, request, false, &shared).await;
                if answer.retry_after.is_some() {
                    status = answer.status;
                    retry_after = answer.retry_after;
                }
                answer.body
            }
            Err(message) => {
                Body::Refused(json!({ "errors": [error_json(ErrorCode::BadRequest, &message)] }))
            }
        };
        answers.extend(body.into_bytes());
    }
    answers.push(b']');
    with_status_headers(raw(media, status, answers), retry_after)
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
    let has_query = params.query.is_some();
    let mut request = async_graphql::Request::new(params.query.unwrap_or_default());
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
            return refuse(media, ErrorCode::BadRequest, &message);
        };
        if field == "variables" {
            request = request.variables(Variables::from_json(value));
        } else {
            match serde_json::from_value(value) {
                Ok(extensions) => request.extensions = extensions,
                Err(_) => {
                    let message = "`extensions` must be a JSON object";
                    return refuse(media, ErrorCode::BadRequest, message);
                }
            }
        }
    }
    if !has_query
        && params.document_id.is_none()
        && !request.extensions.contains_key("persistedQuery")
    {
        return refuse(media, ErrorCode::BadRequest, "the request has no `query`");
    }
    let deadline = Instant::now() + state.limits.request_timeout();
    let incoming = Incoming {
        request,
        document_id: params.document_id,
    };
    let answer = run(
        &state,
        &principal,
        incoming,
        true,
        &Shared::new(deadline, &Carried::here(&headers)),
    )
    .await;
    let mut response = finish(media, answer);
    // Every answer belongs to its caller's token and to the data as it is now: `private` keeps
    // a shared cache (a CDN) from serving it to anyone else, `no-cache` keeps a browser from
    // reusing it unasked; a `PERSISTED_QUERY_NOT_FOUND` is not kept either, so the client's
    // registration that follows is seen (Apollo Server sends the same for it).
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, must-revalidate"),
    );
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Authorization"));
    response
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetParams {
    query: Option<String>,
    document_id: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

#[cfg(test)]
mod tests {
    use async_graphql::{PathSegment, Response as GraphqlResponse};

    use super::*;

    /// `error` as met by a field of an operation that ran.
    fn in_a_field(mut error: ServerError) -> ServerError {
        error.path = vec![PathSegment::Field("brokers".into())];
        error
    }

    fn outcome(errors: Vec<ServerError>) -> Result<Option<ErrorCode>, &'static str> {
        match Executed::of(GraphqlResponse::from_errors(errors)) {
            Executed::Ran(Ok(_), _) => Ok(None),
            Executed::Failed(code, Ok(_)) => Ok(Some(code)),
            Executed::Refused(_) => Err("refused"),
            Executed::Ran(Err(_), _) | Executed::Failed(_, Err(_)) => Err("not serialisable"),
        }
    }

    #[test]
    fn only_a_code_with_a_retry_after_fails_an_operation_that_ran() {
        let unavailable = in_a_field(ApiError::DatabaseUnavailable.into_server_error());
        let forbidden = in_a_field(ApiError::Forbidden("no".into()).into_server_error());
        let internal = in_a_field(ApiError::Internal.into_server_error());
        assert_eq!(
            outcome(vec![forbidden.clone(), unavailable.clone()]),
            Ok(Some(ErrorCode::DatabaseUnavailable))
        );
        assert_eq!(outcome(vec![forbidden, internal]), Ok(None));
        // Refused before running, unless the refusal is the database's.
        let invalid = ErrorCode::GraphqlValidationFailed.server_error("no such field");
        assert_eq!(outcome(vec![invalid]), Err("refused"));
        let unreachable = ApiError::DatabaseUnavailable.into_server_error();
        assert_eq!(
            outcome(vec![unreachable]),
            Ok(Some(ErrorCode::DatabaseUnavailable))
        );
    }

    #[test]
    fn a_failed_request_answers_the_status_and_retry_after_of_its_code() {
        for (answer, code) in [
            (database_unavailable(), ErrorCode::DatabaseUnavailable),
            (internal_error(), ErrorCode::InternalServerError),
        ] {
            assert_eq!(answer.status, code.default_status(), "{code}");
            let response = finish(Media::Json, answer);
            assert_eq!(
                response.headers().get(header::RETRY_AFTER),
                code.retry_after().map(HeaderValue::from).as_ref(),
                "{code}"
            );
        }
        assert_eq!(
            ErrorCode::DatabaseUnavailable.retry_after(),
            Some(1),
            "README.md says `Retry-After: 1`"
        );
    }
}
