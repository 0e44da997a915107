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
use super::{CallIds, Customer, NewCustomer, PartnerCenter, PartnerCenterError};

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

/// A Partner Center connection over HTTPS.
#[derive(Clone)]
pub struct HttpPartnerCenter {
    client: reqwest::Client,
    base_url: Url,
    /// Where the `Bearer` token comes from (marked sensitive so that it is never printed).
    tokens: Arc<dyn TokenSource>,
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
            per_attempt_timeout,
            attempts,
            backoff: DEFAULT_BACKOFF,
        })
    }

    /// Replaces the 200 ms back-off base (tests use a tiny one).
    pub fn with_backoff(mut self, base: Duration) -> Self {
        self.backoff = base;
        self
    }

    /// `{base}/{segments...}`, each segment percent-encoded, keeping any path the base has.
    fn url(&self, segments: &[&str]) -> Result<Url, PartnerCenterError> {
        let mut url = self.base_url.clone();
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
        let request_id = ids.request_id;
        let mut bearer = self.tokens.bearer().await?;
        let mut renewed = false;
        let mut attempt = 1;
        loop {
            let outcome = tokio::time::timeout(
                self.per_attempt_timeout,
                self.attempt(method.clone(), url.clone(), body.clone(), &bearer, ids),
            )
            .await;
            let wait = match outcome {
                Ok(Ok(reply)) if reply.status.is_success() => return Ok(reply),
                // An expired or revoked token: one new token, one more try (not an attempt of
                // the back-off's count: nothing was wrong with Partner Center).
                Ok(Ok(reply)) if reply.status == StatusCode::UNAUTHORIZED && !renewed => {
                    renewed = true;
                    if let Some(fresh) = self.tokens.renew(&bearer).await? {
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
                    return Err(self.tokens.refused());
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
                    return Err(self.tokens.refused());
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
        ids: CallIds,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self
            .client
            .request(method, url)
            .header(AUTHORIZATION, bearer.clone())
            .header(ACCEPT, "application/json")
            .header(MS_REQUEST_ID, ids.request_id.to_string())
            .header(MS_CORRELATION_ID, ids.correlation_id.to_string());
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
    let profile = resource.company_profile.unwrap_or_default();
    let tenant_id = non_blank(profile.tenant_id)
        .or_else(|| non_blank(resource.id))
        .ok_or_else(|| malformed("no tenant id"))?;
    let tenant_id = Uuid::parse_str(tenant_id.trim()).map_err(|_| malformed("bad tenant id"))?;
    if tenant_id.is_nil() {
        return Err(malformed("nil tenant id"));
    }
    let domain = match (non_blank(profile.domain), &known) {
        (Some(domain), _) => domain,
        (None, Some(known)) => known.domain.to_owned(),
        (None, None) => return Err(malformed("no domain")),
    };
    let company_name = non_blank(profile.company_name)
        .or_else(|| non_blank(resource.billing_profile.unwrap_or_default().company_name));
    let company_name = match (company_name, &known) {
        (Some(name), _) => name,
        (None, Some(known)) => known.company_name.to_owned(),
        (None, None) => return Err(malformed("no company name")),
    };
    Ok(Customer {
        tenant_id,
        domain,
        company_name,
    })
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
    use wiremock::matchers::{body_partial_json, header, method, path};
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
