//! The real Partner Center REST API.
//!
//! Every call is one logical request with a fixed `MS-RequestId`: Partner Center deduplicates on
//! it, which is what makes retrying a `POST /v1/customers` safe. Throttling (429), server errors
//! (5xx), connection failures and per-attempt time-outs are retried with exponential back-off;
//! everything else is answered at once. Failures a client cannot act on collapse into
//! [`PartnerCenterError::Unavailable`] after being logged here with fixed messages and
//! structured fields (never the token).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::entra::{StaticToken, TokenSource};
use super::{CallIds, Customer, CustomerPage, NewCustomer, PartnerCenter, PartnerCenterError};

/// Back-off before the second attempt; doubled before each further one.
const DEFAULT_BACKOFF: Duration = Duration::from_millis(200);
/// Upper bound of any wait between attempts, whether from back-off or from `Retry-After`, so a
/// misbehaving server cannot park a GraphQL request for minutes. Public because the operation's
/// deadline ([`super::PartnerCenterConfig::deadline`]) must leave room for these waits.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Partner Center's answers are a few KiB; anything far larger is not an answer we understand.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// What a client sees when Partner Center refuses a request without saying why.
const GENERIC_VALIDATION_MESSAGE: &str = "the customer details were not accepted";
/// Partner Center's descriptions are short sentences; a cap keeps a surprise from flooding a
/// GraphQL error.
const MAX_DESCRIPTION_CHARS: usize = 500;

const MS_REQUEST_ID: &str = "MS-RequestId";
const MS_CORRELATION_ID: &str = "MS-CorrelationId";

#[derive(Clone)]
struct GraphApi {
    base_url: Url,
    tokens: Arc<dyn TokenSource>,
}

/// Partner Center's continuation header for the next page of a collection.
const MS_CONTINUATION_TOKEN: &str = "MS-ContinuationToken";

/// A Partner Center connection over HTTPS.
#[derive(Clone)]
pub struct HttpPartnerCenter {
    client: reqwest::Client,
    base_url: Url,
    /// Where the `Bearer` token comes from (marked sensitive so that it is never printed).
    tokens: Arc<dyn TokenSource>,
    /// Microsoft Graph, for the admin relationships (GDAP); its tokens have their own audience.
    graph: Option<GraphApi>,
    per_attempt_timeout: Duration,
    attempts: u32,
    backoff: Duration,
}

impl fmt::Debug for HttpPartnerCenter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPartnerCenter")
            .field("base_url", &self.base_url.as_str())
            .field("per_attempt_timeout", &self.per_attempt_timeout)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl HttpPartnerCenter {
    /// A client for the API at `base_url` (e.g. `https://api.partnercenter.microsoft.com`).
    ///
    /// `attempts` counts the first try; it and the time-out must be non-zero, since either at
    /// zero would make every call fail.
    pub fn new(
        base_url: &str,
        token: &str,
        per_attempt_timeout: Duration,
        attempts: u32,
    ) -> anyhow::Result<Self> {
        let client = client(per_attempt_timeout)?;
        Self::with_tokens(
            client,
            base_url,
            Arc::new(StaticToken::new(token)?),
            per_attempt_timeout,
            attempts,
        )
    }

    /// A client whose tokens come from `tokens` (a broker's own connection), over a shared
    /// HTTP client (see [`client`]).
    pub fn with_tokens(
        client: reqwest::Client,
        base_url: &str,
        tokens: Arc<dyn TokenSource>,
        per_attempt_timeout: Duration,
        attempts: u32,
    ) -> anyhow::Result<Self> {
        let base_url = Url::parse(base_url.trim()).context("the Partner Center URL is invalid")?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            bail!("the Partner Center URL must be an http(s) URL");
        }
        if attempts == 0 {
            bail!("Partner Center attempts must be at least 1");
        }
        if per_attempt_timeout.is_zero() {
            bail!("the Partner Center time-out must be at least 1 second");
        }
        Ok(Self {
            client,
            base_url,
            tokens,
            graph: None,
            per_attempt_timeout,
            attempts,
            backoff: DEFAULT_BACKOFF,
        })
    }

    /// Reads admin relationships from Microsoft Graph at `base_url` (e.g.
    /// `https://graph.microsoft.com`) with Graph's own tokens.
    pub fn with_graph(
        mut self,
        base_url: &str,
        tokens: Arc<dyn TokenSource>,
    ) -> anyhow::Result<Self> {
        let base_url = Url::parse(base_url.trim()).context("the Microsoft Graph URL is invalid")?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            bail!("the Microsoft Graph URL must be an http(s) URL");
        }
        self.graph = Some(GraphApi { base_url, tokens });
        Ok(self)
    }

    /// Replaces the 200 ms back-off base (tests use a tiny one).
    pub fn with_backoff(mut self, base: Duration) -> Self {
        self.backoff = base;
        self
    }

    /// `{base}/{segments...}`, each segment percent-encoded, keeping any path the base has.
    fn url(&self, segments: &[&str]) -> Result<Url, PartnerCenterError> {
        join(&self.base_url, segments)
    }

    /// Sends one logical request, retrying what is worth retrying, and returns the first answer
    /// that is final: any status but 429, 5xx, 401 and 403.
    async fn execute(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        ids: CallIds,
    ) -> Result<Reply, PartnerCenterError> {
        self.execute_with(&*self.tokens, operation, method, url, body, &[], ids)
            .await
    }

    /// [`execute`](Self::execute) with these tokens and extra headers.
    #[allow(clippy::too_many_arguments)]
    async fn execute_with(
        &self,
        tokens: &dyn TokenSource,
        operation: &'static str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        headers: &[(&'static str, HeaderValue)],
        ids: CallIds,
    ) -> Result<Reply, PartnerCenterError> {
        let request_id = ids.request_id;
        let mut bearer = tokens.bearer().await?;
        let mut renewed = false;
        let mut attempt = 1;
        loop {
            let outcome = tokio::time::timeout(
                self.per_attempt_timeout,
                self.attempt(
                    method.clone(),
                    url.clone(),
                    body.clone(),
                    &bearer,
                    headers,
                    ids,
                ),
            )
            .await;
            let wait = match outcome {
                Ok(Ok(reply)) if reply.status.is_success() => return Ok(reply),
                // An expired or revoked token: one new token, one more try (not an attempt of
                // the back-off's count: nothing was wrong with Partner Center).
                Ok(Ok(reply)) if reply.status == StatusCode::UNAUTHORIZED && !renewed => {
                    renewed = true;
                    if let Some(fresh) = tokens.renew(&bearer).await? {
                        tracing::info!(operation, %request_id, "Partner Center refused the token; retrying with a new one");
                        bearer = fresh;
                        continue;
                    }
                    tracing::error!(
                        operation,
                        status = reply.status.as_u16(),
                        %request_id,
                        "Partner Center refused our credentials; check the configured token"
                    );
                    return Err(tokens.refused());
                }
                Ok(Ok(reply))
                    if reply.status == StatusCode::UNAUTHORIZED
                        || reply.status == StatusCode::FORBIDDEN =>
                {
                    tracing::error!(
                        operation,
                        status = reply.status.as_u16(),
                        %request_id,
                        "Partner Center refused our credentials; check the configured token"
                    );
                    return Err(tokens.refused());
                }
                Ok(Ok(reply)) if reply.status == StatusCode::TOO_MANY_REQUESTS => {
                    tracing::warn!(
                        operation,
                        status = reply.status.as_u16(),
                        attempt,
                        %request_id,
                        "Partner Center throttled the request"
                    );
                    retry_after(&reply.headers).unwrap_or_else(|| self.backoff_before(attempt))
                }
                Ok(Ok(reply)) if reply.status.is_server_error() => {
                    tracing::warn!(
                        operation,
                        status = reply.status.as_u16(),
                        attempt,
                        %request_id,
                        "Partner Center answered with a server error"
                    );
                    self.backoff_before(attempt)
                }
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(error)) => {
                    tracing::warn!(
                        operation,
                        attempt,
                        %request_id,
                        error = %error.without_url(),
                        "Partner Center request failed"
                    );
                    self.backoff_before(attempt)
                }
                Err(_elapsed) => {
                    tracing::warn!(
                        operation,
                        attempt,
                        %request_id,
                        timeout_ms = u64::try_from(self.per_attempt_timeout.as_millis())
                            .unwrap_or(u64::MAX),
                        "Partner Center request timed out"
                    );
                    self.backoff_before(attempt)
                }
            };
            if attempt >= self.attempts {
                tracing::error!(
                    operation,
                    attempts = self.attempts,
                    %request_id,
                    "Partner Center unavailable after all attempts"
                );
                return Err(PartnerCenterError::Unavailable);
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt, body included, so that the caller's time-out bounds all of it.
    async fn attempt(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        bearer: &HeaderValue,
        headers: &[(&'static str, HeaderValue)],
        ids: CallIds,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self
            .client
            .request(method, url)
            .header(AUTHORIZATION, bearer.clone())
            .header(ACCEPT, "application/json")
            .header(MS_REQUEST_ID, ids.request_id.to_string())
            .header(MS_CORRELATION_ID, ids.correlation_id.to_string());
        for (name, value) in headers {
            request = request.header(*name, value.clone());
        }
        // The call's trace context (`traceparent`), when traces are on.
        let mut trace = reqwest::header::HeaderMap::new();
        crate::telemetry::inject(&mut trace);
        request = request.headers(trace);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let mut response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body,
            truncated,
        })
    }

    /// Exponential: `backoff`, `2 × backoff`, `4 × backoff`, ..., never above [`MAX_WAIT`].
    fn backoff_before(&self, failed_attempt: u32) -> Duration {
        let doublings = failed_attempt.saturating_sub(1).min(16);
        self.backoff
            .checked_mul(1 << doublings)
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT)
    }
}

/// `{base}/{segments...}`, each segment percent-encoded, keeping any path the base has.
fn join(base: &Url, segments: &[&str]) -> Result<Url, PartnerCenterError> {
    let mut url = base.clone();

    match url.path_segments_mut() {
        Ok(mut path) => {
            path.pop_if_empty().extend(segments);
        }
        Err(()) => {
            // `new` refused such base URLs; kept as an error rather than a panic.
            tracing::error!("Partner Center base URL cannot take a path");
            return Err(PartnerCenterError::Unavailable);
        }
    }
    Ok(url)
}

/// A response read in full.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    /// The body was larger than [`MAX_BODY_BYTES`] and was cut.
    truncated: bool,
}

/// The HTTP client for Partner Center and Graph: never follows redirects, since following one
/// could carry the token elsewhere.
pub fn client(connect_timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("could not build the Partner Center HTTP client")
}

/// A numeric `Retry-After` (seconds), capped; the HTTP-date form is left to the back-off.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_WAIT))
}

/// Partner Center's error body: `{"code": 600xx, "description": "...", "errorName": "..."}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PcErrorBody {
    code: Option<serde_json::Value>,
    description: Option<String>,
    error_name: Option<String>,
}

/// `Validation` with Partner Center's own description, which it writes for end users.
fn validation_error(operation: &'static str, reply: &Reply, ids: CallIds) -> PartnerCenterError {
    let body: PcErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    tracing::info!(
        operation,
        status = reply.status.as_u16(),
        request_id = %ids.request_id,
        pc_code = ?body.code,
        pc_error = body.error_name.as_deref().unwrap_or(""),
        "Partner Center refused the request"
    );
    let message = body
        .description
        .map(|description| {
            description
                .trim()
                .chars()
                .take(MAX_DESCRIPTION_CHARS)
                .collect()
        })
        .filter(|description: &String| !description.is_empty())
        .unwrap_or_else(|| GENERIC_VALIDATION_MESSAGE.to_owned());
    PartnerCenterError::Validation(message)
}

/// Any answer the operation did not expect.
fn unexpected(operation: &'static str, reply: &Reply, ids: CallIds) -> PartnerCenterError {
    tracing::error!(
        operation,
        status = reply.status.as_u16(),
        request_id = %ids.request_id,
        "Partner Center answered with an unexpected status"
    );
    PartnerCenterError::Unavailable
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateCustomerBody<'a> {
    company_profile: CreateCompanyProfile<'a>,
    billing_profile: CreateBillingProfile<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateCompanyProfile<'a> {
    domain: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateBillingProfile<'a> {
    email: &'a str,
    culture: &'a str,
    language: &'a str,
    company_name: &'a str,
    default_address: Address<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Address<'a> {
    country: &'a str,
}

/// The parts of Partner Center's customer resource that brokergraph reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerResource {
    id: Option<String>,
    company_profile: Option<CompanyProfile>,
    billing_profile: Option<BillingProfile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompanyProfile {
    tenant_id: Option<String>,
    domain: Option<String>,
    company_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BillingProfile {
    company_name: Option<String>,
}

/// What the caller already knows about the customer, used where the answer omits it.
struct Known<'a> {
    domain: &'a str,
    company_name: &'a str,
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

/// Reads a customer resource. A missing, nil or unparsable tenant ID is a broken answer: the
/// tenant ID is the one thing brokergraph must record, so it is never guessed.
fn parse_customer(
    operation: &'static str,
    reply: &Reply,
    ids: CallIds,
    known: Option<Known<'_>>,
) -> Result<Customer, PartnerCenterError> {
    let malformed = |reason: &'static str| {
        tracing::error!(
            operation,
            status = reply.status.as_u16(),
            request_id = %ids.request_id,
            reason,
            "Partner Center answered with a malformed customer"
        );
        PartnerCenterError::Unavailable
    };
    if reply.truncated {
        return Err(malformed("body too large"));
    }
    let resource: CustomerResource =
        serde_json::from_slice(&reply.body).map_err(|_| malformed("body is not a customer"))?;
    customer_of(resource, known).map_err(malformed)
}

/// The customer a resource describes, or why it cannot be read.
fn customer_of(
    resource: CustomerResource,
    known: Option<Known<'_>>,
) -> Result<Customer, &'static str> {
    let profile = resource.company_profile.unwrap_or_default();
    let tenant_id = non_blank(profile.tenant_id)
        .or_else(|| non_blank(resource.id))
        .ok_or("no tenant id")?;
    let tenant_id = Uuid::parse_str(tenant_id.trim()).map_err(|_| "bad tenant id")?;
    if tenant_id.is_nil() {
        return Err("nil tenant id");
    }
    let domain = match (non_blank(profile.domain), &known) {
        (Some(domain), _) => domain,
        (None, Some(known)) => known.domain.to_owned(),
        (None, None) => return Err("no domain"),
    };
    let company_name = non_blank(profile.company_name)
        .or_else(|| non_blank(resource.billing_profile.unwrap_or_default().company_name));
    let company_name = match (company_name, &known) {
        (Some(name), _) => name,
        (None, Some(known)) => known.company_name.to_owned(),
        (None, None) => return Err("no company name"),
    };
    Ok(Customer {
        tenant_id,
        domain,
        company_name,
    })
}

/// A page of Partner Center's customer collection.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerCollection {
    #[serde(default)]
    items: Vec<CustomerResource>,
    continuation_token: Option<String>,
    links: Option<CollectionLinks>,
}

#[derive(Debug, Default, Deserialize)]
struct CollectionLinks {
    next: Option<NextLink>,
}

#[derive(Debug, Default, Deserialize)]
struct NextLink {
    #[serde(default)]
    headers: Vec<LinkHeader>,
}

#[derive(Debug, Default, Deserialize)]
struct LinkHeader {
    key: String,
    value: String,
}

impl CustomerCollection {
    /// The token of the next page: `links.next`'s `MS-ContinuationToken` header, or the
    /// top-level `continuationToken` when a next link is there without it. No next link: done.
    fn continuation(&self) -> Option<String> {
        let next = self.links.as_ref()?.next.as_ref()?;
        next.headers
            .iter()
            .find(|header| header.key.eq_ignore_ascii_case(MS_CONTINUATION_TOKEN))
            .map(|header| header.value.clone())
            .or_else(|| self.continuation_token.clone())
            .filter(|token| !token.trim().is_empty())
    }
}

/// Graph's collection of delegated admin relationships, one page of it.
#[derive(Debug, Default, Deserialize)]
struct RelationshipCollection {
    #[serde(default)]
    value: Vec<Relationship>,
    /// The next page's URL; absent on the last page.
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// Most pages of one Graph collection read before giving up: Graph's pages hold up to 300
/// relationships of one customer, so this is far beyond any real partner's, and bounds a
/// server that keeps answering with a next link.
const MAX_GRAPH_PAGES: usize = 50;

/// The next page of a Graph collection: an absolute URL on Graph's own origin. A next link
/// elsewhere would carry the token there, so it is refused (and logged) instead.
fn graph_next_page(base: &Url, link: &str) -> Result<Url, &'static str> {
    let url = base.join(link).map_err(|_| "next link is no URL")?;
    if url.origin() != base.origin() {
        return Err("next link leaves Microsoft Graph");
    }
    Ok(url)
}

#[derive(Debug, Default, Deserialize)]
struct Relationship {
    status: Option<String>,
}

fn onmicrosoft_domain(prefix: &str) -> String {
    format!("{prefix}.onmicrosoft.com")
}

#[async_trait::async_trait]
impl PartnerCenter for HttpPartnerCenter {
    async fn create_customer(
        &self,
        customer: &NewCustomer,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        const OPERATION: &str = "create_customer";
        let domain = onmicrosoft_domain(&customer.domain_prefix);
        let body = CreateCustomerBody {
            company_profile: CreateCompanyProfile { domain: &domain },
            billing_profile: CreateBillingProfile {
                email: &customer.email,
                culture: &customer.culture,
                language: &customer.language,
                company_name: &customer.company_name,
                default_address: Address {
                    country: &customer.country,
                },
            },
        };
        let body = serde_json::to_vec(&body).map_err(|_| {
            tracing::error!(operation = OPERATION, "could not serialize the customer");
            PartnerCenterError::Unavailable
        })?;
        let url = self.url(&["v1", "customers"])?;
        let reply = self
            .execute(OPERATION, Method::POST, url, Some(body), ids)
            .await?;
        match reply.status {
            status if status.is_success() => parse_customer(
                OPERATION,
                &reply,
                ids,
                // Partner Center creates exactly what was asked, so an answer that leaves these
                // out is still a success rather than an orphaned tenant.
                Some(Known {
                    domain: &domain,
                    company_name: &customer.company_name,
                }),
            ),
            StatusCode::BAD_REQUEST => Err(validation_error(OPERATION, &reply, ids)),
            StatusCode::CONFLICT => Err(PartnerCenterError::DomainPrefixTaken(
                customer.domain_prefix.clone(),
            )),
            _ => Err(unexpected(OPERATION, &reply, ids)),
        }
    }

    async fn get_customer(
        &self,
        tenant_id: Uuid,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        const OPERATION: &str = "get_customer";
        let url = self.url(&["v1", "customers", &tenant_id.to_string()])?;
        let reply = self.execute(OPERATION, Method::GET, url, None, ids).await?;
        match reply.status {
            status if status.is_success() => parse_customer(OPERATION, &reply, ids, None),
            StatusCode::NOT_FOUND => Err(PartnerCenterError::CustomerNotFound),
            StatusCode::BAD_REQUEST => Err(validation_error(OPERATION, &reply, ids)),
            _ => Err(unexpected(OPERATION, &reply, ids)),
        }
    }

    async fn list_customers(
        &self,
        size: u32,
        continuation: Option<&str>,
        ids: CallIds,
    ) -> Result<CustomerPage, PartnerCenterError> {
        const OPERATION: &str = "list_customers";
        let mut url = self.url(&["v1", "customers"])?;
        url.query_pairs_mut()
            .append_pair("size", &size.max(1).to_string());
        let mut headers = Vec::new();
        if let Some(token) = continuation {
            let value = HeaderValue::from_str(token).map_err(|_| {
                tracing::error!(operation = OPERATION, "unusable continuation token");
                PartnerCenterError::Unavailable
            })?;
            headers.push((MS_CONTINUATION_TOKEN, value));
        }
        let reply = self
            .execute_with(
                &*self.tokens,
                OPERATION,
                Method::GET,
                url,
                None,
                &headers,
                ids,
            )
            .await?;
        if !reply.status.is_success() {
            return Err(match reply.status {
                StatusCode::BAD_REQUEST => validation_error(OPERATION, &reply, ids),
                _ => unexpected(OPERATION, &reply, ids),
            });
        }
        let malformed = |reason: &'static str| {
            tracing::error!(operation = OPERATION, request_id = %ids.request_id, reason, "Partner Center answered with a malformed page");
            PartnerCenterError::Unavailable
        };
        if reply.truncated {
            return Err(malformed("body too large"));
        }
        let collection: CustomerCollection = serde_json::from_slice(&reply.body)
            .map_err(|_| malformed("body is not a collection"))?;
        let continuation = collection.continuation();
        let customers = collection
            .items
            .into_iter()
            .map(|resource| customer_of(resource, None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(malformed)?;
        Ok(CustomerPage {
            customers,
            continuation,
        })
    }

    async fn has_admin_relationship(
        &self,
        tenant_id: Uuid,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        const OPERATION: &str = "has_admin_relationship";
        let Some(graph) = &self.graph else {
            // The process-wide token is Partner Center's only: Graph needs a connection.
            return Err(PartnerCenterError::NotConfigured);
        };
        let mut url = join(
            &graph.base_url,
            &["v1.0", "tenantRelationships", "delegatedAdminRelationships"],
        )?;
        url.query_pairs_mut()
            .append_pair("$filter", &format!("customer/tenantId eq '{tenant_id}'"));
        // Graph pages its collections: each page but the last names the next one in
        // `@odata.nextLink`, followed as it is until an active relationship turns up.
        for _ in 0..MAX_GRAPH_PAGES {
            let reply = self
                .execute_with(&*graph.tokens, OPERATION, Method::GET, url, None, &[], ids)
                .await?;
            if !reply.status.is_success() || reply.truncated {
                return Err(unexpected(OPERATION, &reply, ids));
            }
            let page: RelationshipCollection = serde_json::from_slice(&reply.body)
                .map_err(|_| unexpected(OPERATION, &reply, ids))?;
            let active = page.value.iter().any(|relationship| {
                relationship
                    .status
                    .as_deref()
                    .is_some_and(|status| status.eq_ignore_ascii_case("active"))
            });
            let next = match (active, page.next_link) {
                (true, _) => return Ok(true),
                (false, None) => return Ok(false),
                (false, Some(link)) => graph_next_page(&graph.base_url, &link),
            };
            url = next.map_err(|reason| {
                tracing::error!(operation = OPERATION, request_id = %ids.request_id, reason, "Microsoft Graph answered with an unusable next page");
                PartnerCenterError::Unavailable
            })?;
        }
        tracing::error!(
            operation = OPERATION,
            request_id = %ids.request_id,
            pages = MAX_GRAPH_PAGES,
            "Microsoft Graph kept answering with a next page"
        );
        Err(PartnerCenterError::Unavailable)
    }

    async fn domain_available(
        &self,
        prefix: &str,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        const OPERATION: &str = "domain_available";
        let url = self.url(&["v1", "domains", &onmicrosoft_domain(prefix)])?;
        let reply = self
            .execute(OPERATION, Method::HEAD, url, None, ids)
            .await?;
        match reply.status {
            status if status.is_success() => Ok(false),
            StatusCode::NOT_FOUND => Ok(true),
            StatusCode::BAD_REQUEST => Err(validation_error(OPERATION, &reply, ids)),
            _ => Err(unexpected(OPERATION, &reply, ids)),
        }
    }

    fn verifies_customers(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::{body_partial_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const TOKEN: &str = "t0k3n-for-tests";

    fn ids() -> CallIds {
        CallIds {
            request_id: Uuid::new_v4(),
            correlation_id: Uuid::new_v4(),
        }
    }

    fn client(server: &MockServer, attempts: u32) -> HttpPartnerCenter {
        HttpPartnerCenter::new(&server.uri(), TOKEN, Duration::from_secs(5), attempts)
            .unwrap()
            .with_backoff(Duration::from_millis(1))
    }

    fn contoso() -> NewCustomer {
        NewCustomer {
            company_name: "Contoso Ltd".into(),
            email: "admin@contoso.example".into(),
            country: "DE".into(),
            domain_prefix: "contoso".into(),
            culture: "en-US".into(),
            language: "en".into(),
        }
    }

    fn customer_body(tenant_id: Uuid) -> serde_json::Value {
        json!({
            "id": tenant_id,
            "companyProfile": {
                "tenantId": tenant_id,
                "domain": "contoso.onmicrosoft.com",
                "companyName": "Contoso Ltd"
            },
            "billingProfile": { "companyName": "Contoso Ltd", "email": "admin@contoso.example" }
        })
    }

    async fn received(server: &MockServer) -> Vec<wiremock::Request> {
        server.received_requests().await.unwrap()
    }

    fn request_id_of(request: &wiremock::Request) -> String {
        request.headers[MS_REQUEST_ID].to_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn should_create_a_customer_with_the_documented_body_and_headers() {
        let server = MockServer::start().await;
        let tenant_id = Uuid::new_v4();
        let ids = ids();
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .and(header("Authorization", format!("Bearer {TOKEN}").as_str()))
            .and(header("Accept", "application/json"))
            .and(header(MS_REQUEST_ID, ids.request_id.to_string().as_str()))
            .and(header(
                MS_CORRELATION_ID,
                ids.correlation_id.to_string().as_str(),
            ))
            .and(body_partial_json(json!({
                "companyProfile": { "domain": "contoso.onmicrosoft.com" },
                "billingProfile": {
                    "email": "admin@contoso.example",
                    "culture": "en-US",
                    "language": "en",
                    "companyName": "Contoso Ltd",
                    "defaultAddress": { "country": "DE" }
                }
            })))
            .respond_with(ResponseTemplate::new(201).set_body_json(customer_body(tenant_id)))
            .expect(1)
            .mount(&server)
            .await;

        let customer = client(&server, 3)
            .create_customer(&contoso(), ids)
            .await
            .unwrap();

        assert_eq!(
            customer,
            Customer {
                tenant_id,
                domain: "contoso.onmicrosoft.com".into(),
                company_name: "Contoso Ltd".into(),
            }
        );
    }

    #[tokio::test]
    async fn should_fall_back_to_the_top_level_id_and_billing_company_name() {
        let server = MockServer::start().await;
        let tenant_id = Uuid::new_v4();
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": tenant_id,
                "companyProfile": { "domain": "contoso.onmicrosoft.com" },
                "billingProfile": { "companyName": "Contoso Billing" }
            })))
            .mount(&server)
            .await;

        let customer = client(&server, 1)
            .create_customer(&contoso(), ids())
            .await
            .unwrap();

        assert_eq!(customer.tenant_id, tenant_id);
        assert_eq!(customer.company_name, "Contoso Billing");
    }

    #[tokio::test]
    async fn should_treat_a_nil_or_unparsable_tenant_id_as_unavailable() {
        for tenant_id in [json!(Uuid::nil()), json!("not-a-guid")] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/v1/customers"))
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                    "companyProfile": { "tenantId": tenant_id, "domain": "contoso.onmicrosoft.com" }
                })))
                .mount(&server)
                .await;

            let result = client(&server, 3).create_customer(&contoso(), ids()).await;

            assert_eq!(result, Err(PartnerCenterError::Unavailable), "{tenant_id}");
        }
    }

    #[tokio::test]
    async fn should_return_partner_centers_description_on_400() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "code": 60013,
                "description": "The email address is not valid.",
                "errorName": "InvalidEmail"
            })))
            .expect(1)
            .mount(&server)
            .await;

        let result = client(&server, 3).create_customer(&contoso(), ids()).await;

        assert_eq!(
            result,
            Err(PartnerCenterError::Validation(
                "The email address is not valid.".into()
            ))
        );
    }

    #[tokio::test]
    async fn should_use_a_generic_message_on_400_without_a_description() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_string("<html>bad</html>"))
            .mount(&server)
            .await;

        let result = client(&server, 3).create_customer(&contoso(), ids()).await;

        assert_eq!(
            result,
            Err(PartnerCenterError::Validation(
                GENERIC_VALIDATION_MESSAGE.into()
            ))
        );
    }

    #[tokio::test]
    async fn should_report_a_taken_domain_prefix_on_409() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .respond_with(ResponseTemplate::new(409).set_body_json(json!({
                "code": 60002,
                "description": "Domain already exists.",
                "errorName": "DomainAlreadyExists"
            })))
            .expect(1)
            .mount(&server)
            .await;

        let result = client(&server, 3).create_customer(&contoso(), ids()).await;

        assert_eq!(
            result,
            Err(PartnerCenterError::DomainPrefixTaken("contoso".into()))
        );
    }

    #[tokio::test]
    async fn should_retry_after_429_with_the_same_request_id() {
        let server = MockServer::start().await;
        let tenant_id = Uuid::new_v4();
        let ids = ids();
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .respond_with(ResponseTemplate::new(201).set_body_json(customer_body(tenant_id)))
            .mount(&server)
            .await;

        let customer = client(&server, 3)
            .create_customer(&contoso(), ids)
            .await
            .unwrap();

        assert_eq!(customer.tenant_id, tenant_id);
        let requests = received(&server).await;
        assert_eq!(requests.len(), 2);
        assert_eq!(request_id_of(&requests[0]), ids.request_id.to_string());
        assert_eq!(request_id_of(&requests[1]), ids.request_id.to_string());
        assert_eq!(
            requests[1].headers[MS_CORRELATION_ID].to_str().unwrap(),
            ids.correlation_id.to_string()
        );
    }

    #[tokio::test]
    async fn should_give_up_after_the_configured_attempts_on_500() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .respond_with(ResponseTemplate::new(500))
            .expect(3)
            .mount(&server)
            .await;

        let result = client(&server, 3).create_customer(&contoso(), ids()).await;

        assert_eq!(result, Err(PartnerCenterError::Unavailable));
        assert_eq!(received(&server).await.len(), 3);
    }

    #[tokio::test]
    async fn should_time_out_each_attempt_and_give_up() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
            .mount(&server)
            .await;
        let client = HttpPartnerCenter::new(&server.uri(), TOKEN, Duration::from_millis(200), 2)
            .unwrap()
            .with_backoff(Duration::from_millis(1));

        let result = client.get_customer(Uuid::new_v4(), ids()).await;

        assert_eq!(result, Err(PartnerCenterError::Unavailable));
        assert_eq!(received(&server).await.len(), 2);
    }

    #[tokio::test]
    async fn should_retry_when_the_server_cannot_be_reached() {
        // A port that was just free: nothing listens there any more.
        let uri = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        let client = HttpPartnerCenter::new(&uri, TOKEN, Duration::from_secs(2), 2)
            .unwrap()
            .with_backoff(Duration::from_millis(1));

        let result = client.domain_available("contoso", ids()).await;

        assert_eq!(result, Err(PartnerCenterError::Unavailable));
    }

    #[tokio::test]
    async fn should_get_a_customer() {
        let server = MockServer::start().await;
        let tenant_id = Uuid::new_v4();
        let ids = ids();
        Mock::given(method("GET"))
            .and(path(format!("/v1/customers/{tenant_id}")))
            .and(header("Authorization", format!("Bearer {TOKEN}").as_str()))
            .and(header(MS_REQUEST_ID, ids.request_id.to_string().as_str()))
            .and(header(
                MS_CORRELATION_ID,
                ids.correlation_id.to_string().as_str(),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(customer_body(tenant_id)))
            .expect(1)
            .mount(&server)
            .await;

        let customer = client(&server, 3)
            .get_customer(tenant_id, ids)
            .await
            .unwrap();

        assert_eq!(customer.tenant_id, tenant_id);
        assert_eq!(customer.domain, "contoso.onmicrosoft.com");
        assert_eq!(customer.company_name, "Contoso Ltd");
    }

    #[tokio::test]
    async fn should_report_a_missing_customer_on_404() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&server)
            .await;

        let result = client(&server, 3).get_customer(Uuid::new_v4(), ids()).await;

        assert_eq!(result, Err(PartnerCenterError::CustomerNotFound));
    }

    #[tokio::test]
    async fn should_treat_404_on_create_as_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&server)
            .await;

        let result = client(&server, 3).create_customer(&contoso(), ids()).await;

        assert_eq!(result, Err(PartnerCenterError::Unavailable));
    }

    #[tokio::test]
    async fn should_report_a_domain_as_taken_on_200_and_free_on_404() {
        let server = MockServer::start().await;
        Mock::given(method("HEAD"))
            .and(path("/v1/domains/contoso.onmicrosoft.com"))
            .and(header("Authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("HEAD"))
            .and(path("/v1/domains/fabrikam.onmicrosoft.com"))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server, 3);

        assert_eq!(client.domain_available("contoso", ids()).await, Ok(false));
        assert_eq!(client.domain_available("fabrikam", ids()).await, Ok(true));
    }

    #[tokio::test]
    async fn should_not_retry_when_our_credentials_are_refused() {
        for status in [401, 403] {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(status))
                .expect(1)
                .mount(&server)
                .await;

            let result = client(&server, 3).get_customer(Uuid::new_v4(), ids()).await;

            assert_eq!(result, Err(PartnerCenterError::Unavailable), "{status}");
            assert_eq!(received(&server).await.len(), 1, "{status}");
        }
    }

    #[tokio::test]
    async fn should_keep_a_path_in_the_base_url() {
        let server = MockServer::start().await;
        Mock::given(method("HEAD"))
            .and(path("/pc/v1/domains/contoso.onmicrosoft.com"))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&server)
            .await;
        let client = HttpPartnerCenter::new(
            &format!("{}/pc/", server.uri()),
            TOKEN,
            Duration::from_secs(5),
            1,
        )
        .unwrap();

        assert_eq!(client.domain_available("contoso", ids()).await, Ok(true));
    }

    fn page(tenant_ids: &[Uuid], next: Option<&str>) -> serde_json::Value {
        let items: Vec<_> = tenant_ids.iter().map(|id| customer_body(*id)).collect();
        let mut body = json!({
            "totalCount": items.len(),
            "items": items,
            "attributes": { "objectType": "Collection" }
        });
        if let Some(token) = next {
            body["continuationToken"] = json!(token);
            body["links"] = json!({ "next": {
                "uri": "/customers?size=2",
                "method": "GET",
                "headers": [{ "key": MS_CONTINUATION_TOKEN, "value": token }]
            } });
        }
        body
    }

    #[tokio::test]
    async fn should_page_through_customers_with_continuation_tokens() {
        let server = MockServer::start().await;
        let tenants: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        // Three pages: 2 + 2 + 1, each further one asked for with the token of the one before.
        Mock::given(method("GET"))
            .and(path("/v1/customers"))
            .and(query_param("size", "2"))
            .and(header(MS_CONTINUATION_TOKEN, "page-3"))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(&tenants[4..], None)))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/customers"))
            .and(header(MS_CONTINUATION_TOKEN, "page-2"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(page(&tenants[2..4], Some("page-3"))),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/customers"))
            .and(query_param("size", "2"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(page(&tenants[..2], Some("page-2"))),
            )
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server, 1);

        let mut seen = Vec::new();
        let mut continuation = None;
        let mut pages = 0;
        loop {
            let page = client
                .list_customers(2, continuation.as_deref(), ids())
                .await
                .unwrap();
            pages += 1;
            seen.extend(page.customers.iter().map(|customer| customer.tenant_id));
            assert!(
                page.customers
                    .iter()
                    .all(|c| c.company_name == "Contoso Ltd")
            );
            match page.continuation {
                Some(token) => continuation = Some(token),
                None => break,
            }
        }

        assert_eq!(pages, 3);
        assert_eq!(seen, tenants);
        let first = &received(&server).await[0];
        assert!(!first.headers.contains_key(MS_CONTINUATION_TOKEN));
    }

    #[tokio::test]
    async fn should_treat_a_malformed_page_as_unavailable() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/customers"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "items": [{ "companyProfile": { "tenantId": "not-a-guid" } }]
            })))
            .mount(&server)
            .await;

        let result = client(&server, 1).list_customers(10, None, ids()).await;

        assert_eq!(result, Err(PartnerCenterError::Unavailable));
    }

    #[tokio::test]
    async fn should_read_admin_relationships_from_graph_with_its_own_token() {
        let server = MockServer::start().await;
        let active = Uuid::new_v4();
        let gone = Uuid::new_v4();
        for (tenant_id, statuses) in [
            (active, vec!["terminated", "active"]),
            (gone, vec!["terminated", "expired"]),
        ] {
            let value: Vec<_> = statuses
                .iter()
                .map(|status| json!({ "id": Uuid::new_v4(), "status": status }))
                .collect();
            Mock::given(method("GET"))
                .and(path(
                    "/graph/v1.0/tenantRelationships/delegatedAdminRelationships",
                ))
                .and(query_param(
                    "$filter",
                    format!("customer/tenantId eq '{tenant_id}'").as_str(),
                ))
                .and(header("Authorization", "Bearer graph-t0ken"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": value })))
                .expect(1)
                .mount(&server)
                .await;
        }
        let client = client(&server, 1)
            .with_graph(
                &format!("{}/graph", server.uri()),
                Arc::new(StaticToken::new("graph-t0ken").unwrap()),
            )
            .unwrap();

        assert_eq!(client.has_admin_relationship(active, ids()).await, Ok(true));
        assert_eq!(client.has_admin_relationship(gone, ids()).await, Ok(false));
        // Without Graph (the process-wide token), the question needs a connection.
        let without = self::client(&server, 1);
        assert_eq!(
            without.has_admin_relationship(active, ids()).await,
            Err(PartnerCenterError::NotConfigured)
        );
    }

    #[tokio::test]
    async fn should_follow_graph_next_links_to_the_relationship_on_page_two() {
        let server = MockServer::start().await;
        let tenant_id = Uuid::new_v4();
        let base = format!("{}/graph", server.uri());
        let collection = "/graph/v1.0/tenantRelationships/delegatedAdminRelationships";
        let relationship = |status: &str| json!({ "id": Uuid::new_v4(), "status": status });
        // Page 2 is asked for with the skip token of page 1's next link, and holds the active one.
        Mock::given(method("GET"))
            .and(path(collection))
            .and(query_param("$skiptoken", "page-2"))
            .and(header("Authorization", "Bearer graph-t0ken"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "value": [relationship("expired"), relationship("active")]
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(collection))
            .and(query_param(
                "$filter",
                format!("customer/tenantId eq '{tenant_id}'").as_str(),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "value": [relationship("terminated")],
                "@odata.nextLink": format!("{server}{collection}?$filter=x&$skiptoken=page-2", server = server.uri()),
            })))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server, 1)
            .with_graph(&base, Arc::new(StaticToken::new("graph-t0ken").unwrap()))
            .unwrap();

        assert_eq!(
            client.has_admin_relationship(tenant_id, ids()).await,
            Ok(true)
        );
    }

    #[tokio::test]
    async fn should_read_every_graph_page_and_never_follow_a_next_link_elsewhere() {
        let server = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        let collection = "/v1.0/tenantRelationships/delegatedAdminRelationships";
        let (all_terminated, leaving) = (Uuid::new_v4(), Uuid::new_v4());
        let filter = |tenant_id: Uuid| format!("customer/tenantId eq '{tenant_id}'");
        // Two pages without an active relationship: false, after reading both.
        Mock::given(method("GET"))
            .and(path(collection))
            .and(query_param("$skiptoken", "last"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "value": [{ "status": "terminated" }]
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(collection))
            .and(query_param("$filter", filter(all_terminated).as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "value": [{ "status": "expired" }],
                "@odata.nextLink": format!("{}{collection}?$skiptoken=last", server.uri()),
            })))
            .expect(1)
            .mount(&server)
            .await;
        // A next link to another origin would carry the token there: not followed.
        Mock::given(method("GET"))
            .and(path(collection))
            .and(query_param("$filter", filter(leaving).as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "value": [],
                "@odata.nextLink": format!("{}{collection}?$skiptoken=stolen", elsewhere.uri()),
            })))
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server, 1)
            .with_graph(
                &server.uri(),
                Arc::new(StaticToken::new("graph-t0ken").unwrap()),
            )
            .unwrap();

        assert_eq!(
            client.has_admin_relationship(all_terminated, ids()).await,
            Ok(false)
        );
        assert_eq!(
            client.has_admin_relationship(leaving, ids()).await,
            Err(PartnerCenterError::Unavailable)
        );
        assert!(received(&elsewhere).await.is_empty());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let client =
            HttpPartnerCenter::new("https://pc.example", TOKEN, Duration::from_secs(1), 3).unwrap();
        assert_eq!(client.backoff_before(1), Duration::from_millis(200));
        assert_eq!(client.backoff_before(2), Duration::from_millis(400));
        assert_eq!(client.backoff_before(3), Duration::from_millis(800));
        assert_eq!(client.backoff_before(40), MAX_WAIT);
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&headers), Some(MAX_WAIT));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn invalid_settings_are_refused_and_debug_hides_the_token() {
        let timeout = Duration::from_secs(1);
        assert!(HttpPartnerCenter::new("not a url", TOKEN, timeout, 3).is_err());
        assert!(HttpPartnerCenter::new("ftp://pc.example", TOKEN, timeout, 3).is_err());
        assert!(HttpPartnerCenter::new("https://pc.example", TOKEN, timeout, 0).is_err());
        assert!(HttpPartnerCenter::new("https://pc.example", TOKEN, Duration::ZERO, 3).is_err());
        let error = HttpPartnerCenter::new("https://pc.example", "bad\ntoken", timeout, 3)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("bad"), "{error}");

        let client = HttpPartnerCenter::new("https://pc.example", TOKEN, timeout, 3).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains(TOKEN), "{shown}");
    }
}
