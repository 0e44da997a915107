//! `X-Request-Id`: kept when the client's is acceptable, made otherwise, returned on every
//! answer, carried to Partner Center as `MS-CorrelationId`, and in the request's log lines.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use brokergraph::auth::Role;
use brokergraph::graphql::relay::ids::{self, Kind};
use brokergraph::http::request_id;
use brokergraph::partner_center::connections::Connector;
use brokergraph::partner_center::sandbox::{Sandbox, SandboxPartner};
use brokergraph::partner_center::{
    CallIds, Customer, CustomerPage, NewCustomer, PartnerCenter, PartnerCenterError,
};
use sea_orm::DatabaseConnection;
use serde_json::json;
use uuid::Uuid;

use crate::support::{Backend, Setup, TestApp, TestResponse, spawn_app_with, token};
use crate::{db_tests, fixtures};

fn request_id_of(response: &TestResponse) -> String {
    let values: Vec<_> = response
        .headers
        .get_all("x-request-id")
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .collect();
    assert_eq!(values.len(), 1, "one X-Request-Id: {values:?}");
    values[0].clone()
}

fn post_with(id: Option<&[u8]>) -> Request<Body> {
    let mut request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "query": "{ brokers { totalCount } }" }).to_string(),
        ))
        .unwrap();
    if let Some(id) = id {
        request
            .headers_mut()
            .append("x-request-id", header::HeaderValue::from_bytes(id).unwrap());
    }
    request
}

fn is_new_uuid(id: &str) -> bool {
    Uuid::parse_str(id).is_ok_and(|uuid| uuid.get_version_num() == 4)
}

async fn should_make_keep_or_replace_the_request_id_on_every_answer(app: TestApp) {
    // None sent: one is made, a UUID, a new one per request.
    let first = app.admin().send(post_with(None)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = app.admin().send(post_with(None)).await;
    assert!(is_new_uuid(&request_id_of(&first)));
    assert_ne!(request_id_of(&first), request_id_of(&second));

    // An acceptable one is kept, on successes and refusals alike.
    let kept = app
        .admin()
        .send(post_with(Some(b"dashboard-7f3a:42")))
        .await;
    assert_eq!(request_id_of(&kept), "dashboard-7f3a:42");
    let unauthenticated = app.with_token(None).send(post_with(Some(b"anon-1"))).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    assert_eq!(request_id_of(&unauthenticated), "anon-1");
    let mut wrong_type = post_with(Some(b"form-1"));
    wrong_type
        .headers_mut()
        .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    let wrong_type = app.admin().send(wrong_type).await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(request_id_of(&wrong_type), "form-1");
    let missing = app
        .send(
            Request::get("/no-such-page")
                .header("x-request-id", "lost-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(request_id_of(&missing), "lost-1");
    let health = app
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert!(is_new_uuid(&request_id_of(&health)));

    // Unacceptable ones are replaced: too long, spaces, non-ASCII, empty.
    let too_long = "x".repeat(request_id::MAX_LEN + 1);
    for bad in [
        too_long.as_bytes(),
        b"two words",
        "caf\u{e9}".as_bytes(),
        b"",
    ] {
        let replaced = app.admin().send(post_with(Some(bad))).await;
        assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
        let id = request_id_of(&replaced);
        assert!(is_new_uuid(&id), "{bad:?} replaced by {id}");
    }
    let longest = "y".repeat(request_id::MAX_LEN);
    let kept = app.admin().send(post_with(Some(longest.as_bytes()))).await;
    assert_eq!(request_id_of(&kept), longest);

    // Two of them: which one is meant is unclear, so both are replaced.
    let mut twice = post_with(Some(b"one"));
    twice
        .headers_mut()
        .append("x-request-id", "two".parse().unwrap());
    let twice = app.admin().send(twice).await;
    assert!(is_new_uuid(&request_id_of(&twice)));
}

/// The sandbox, recording the identifiers of every call.
#[derive(Clone)]
struct Recording {
    inner: Sandbox,
    ids: Arc<Mutex<Vec<CallIds>>>,
}

/// One broker's sandbox, recording into its [`Recording`].
struct RecordingPartner {
    inner: SandboxPartner,
    ids: Arc<Mutex<Vec<CallIds>>>,
}

impl Connector for Recording {
    fn for_broker(&self, db: &DatabaseConnection, broker_id: Uuid) -> Arc<dyn PartnerCenter> {
        Arc::new(RecordingPartner {
            inner: self.inner.partner(db.clone(), broker_id),
            ids: self.ids.clone(),
        })
    }
}

#[async_trait::async_trait]
impl PartnerCenter for RecordingPartner {
    async fn create_customer(
        &self,
        customer: &NewCustomer,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        self.ids.lock().unwrap().push(ids);
        self.inner.create_customer(customer, ids).await
    }

    async fn get_customer(
        &self,
        tenant_id: Uuid,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        self.ids.lock().unwrap().push(ids);
        self.inner.get_customer(tenant_id, ids).await
    }

    async fn domain_available(
        &self,
        prefix: &str,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        self.ids.lock().unwrap().push(ids);
        self.inner.domain_available(prefix, ids).await
    }

    async fn list_customers(
        &self,
        size: u32,
        continuation: Option<&str>,
        ids: CallIds,
    ) -> Result<CustomerPage, PartnerCenterError> {
        self.ids.lock().unwrap().push(ids);
        self.inner.list_customers(size, continuation, ids).await
    }

    async fn has_admin_relationship(
        &self,
        tenant_id: Uuid,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        self.ids.lock().unwrap().push(ids);
        self.inner.has_admin_relationship(tenant_id, ids).await
    }

    fn verifies_customers(&self) -> bool {
        true
    }
}

const LINK: &str = "mutation($input: LinkTenantInput!) { linkTenant(input: $input) { changed } }";

async fn should_send_the_request_id_to_partner_center_as_the_correlation_id(backend: Backend) {
    let recording = Recording {
        inner: Sandbox::new().verifying(true),
        ids: Arc::default(),
    };
    let setup = Setup {
        partner_center: Some(Arc::new(recording.clone())),
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let admin = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(broker.id),
        None,
        "ba@contoso",
    )));
    let link = |organization: Uuid, guid: Uuid, id: &str| {
        let body = json!({ "query": LINK, "variables": { "input": {
            "organizationId": ids::encode(Kind::Organization, organization).0,
            "microsoftTenantId": guid.to_string(),
            "primaryDomain": format!("t{}.onmicrosoft.com", &guid.simple().to_string()[..8]),
        } } });
        Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-request-id", id)
            .body(Body::from(body.to_string()))
            .unwrap()
    };

    // A UUID request ID is the correlation ID itself.
    let acme = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    let guid = Uuid::new_v4();
    recording
        .inner
        .partner(app.db.clone(), broker.id)
        .add_customer(guid, "acme.onmicrosoft.com", "Acme")
        .await
        .unwrap();
    let id = Uuid::new_v4();
    let answer = admin.send(link(acme.id, guid, &id.to_string())).await;
    assert_eq!(
        answer.body["data"]["linkTenant"]["changed"], true,
        "{}",
        answer.body
    );
    let calls = recording.ids.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].correlation_id, id);
    assert_ne!(
        calls[0].request_id, id,
        "each call has a request ID of its own"
    );

    // Any other request ID: a UUID derived from it, the same for the same ID.
    let globex = fixtures::organization(&app.db, &broker, "Globex", "NL").await;
    let guid = Uuid::new_v4();
    recording
        .inner
        .partner(app.db.clone(), broker.id)
        .add_customer(guid, "globex.onmicrosoft.com", "Globex")
        .await
        .unwrap();
    let answer = admin.send(link(globex.id, guid, "dashboard-run-9")).await;
    assert_eq!(
        answer.body["data"]["linkTenant"]["changed"], true,
        "{}",
        answer.body
    );
    let calls = recording.ids.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[1].correlation_id,
        request_id::as_uuid("dashboard-run-9")
    );
}

db_tests!(should_make_keep_or_replace_the_request_id_on_every_answer);
/// Apart: a module holds one set of `sqlite`/`postgres` tests.
mod correlation {
    use super::should_send_the_request_id_to_partner_center_as_the_correlation_id;
    crate::backend_tests!(should_send_the_request_id_to_partner_center_as_the_correlation_id);
}

/// The log lines a running server writes for one request carry its ID: the binary logs JSON,
/// and every line of the request (tower-http's and the handler's) names it in its span.
#[tokio::test]
async fn should_name_the_request_id_in_every_log_line_of_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let running = crate::cli::serve(
        dir.path(),
        &["--log-format", "json", "--log", "info,tower_http=debug"],
    );
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("http://{}/graphql", running.address))
        .header("x-request-id", "log-line-7")
        .json(&json!({ "query": "{ brokers { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.headers()["x-request-id"], "log-line-7");

    // tower-http's "finished processing request" is the request's last line.
    let mut of_request = Vec::new();
    loop {
        let line = running
            .lines
            .recv_timeout(crate::cli::BOUND)
            .expect("the request's lines are logged");
        let Ok(line) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let message = line["fields"]["message"].as_str().unwrap_or("").to_string();
        if line["span"]["name"] == "request" || message.contains("processing request") {
            of_request.push((message.clone(), line));
        }
        if message == "finished processing request" {
            break;
        }
    }
    let messages: Vec<_> = of_request
        .iter()
        .map(|(message, _)| message.as_str())
        .collect();
    assert!(
        messages.contains(&"request refused: not authenticated"),
        "{messages:?}"
    );
    for (message, line) in &of_request {
        assert_eq!(
            line["span"]["request_id"], "log-line-7",
            "{message}: {line}"
        );
    }
}
