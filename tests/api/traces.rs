//! Tracing (issue 15 item 5): the request ID in the log lines of DataLoader batches and SQL
//! statements, over HTTP and per WebSocket operation; OpenTelemetry traces sent over OTLP/HTTP
//! by the real binary to a local receiver.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use brokergraph::graphql::relay::ids::{self, Kind};
use entity::enums::OrganizationRole;
use futures_util::{SinkExt, StreamExt};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{TestApp, capture_logs, platform_admin};
use crate::{db_tests, fixtures};

/// Two levels below the root, each one DataLoader batch: the brokers' organizations, then the
/// organizations' users.
const TREE: &str = "{ brokers { edges { node { organizations { edges { node { name \
                    users { totalCount } } } } } } } }";

async fn tree(app: &TestApp) {
    let broker = fixtures::broker(&app.db, "traced", "Traced Cloud").await;
    for name in ["Acme", "Globex"] {
        let organization = fixtures::organization(&app.db, &broker, name, "DE").await;
        let email = format!("admin@{}.example", name.to_lowercase());
        fixtures::user(
            &app.db,
            &organization,
            &email,
            OrganizationRole::OrganizationAdmin,
        )
        .await;
    }
}

/// The captured lines that name `text`.
fn lines_with<'a>(logs: &'a str, text: &str) -> Vec<&'a str> {
    logs.lines().filter(|line| line.contains(text)).collect()
}

async fn should_name_the_request_id_in_the_log_lines_of_batches_and_statements(app: TestApp) {
    tree(&app).await;
    let logs = capture_logs();
    let id = format!("batches-{}", Uuid::new_v4().simple());
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", &id)
        .body(Body::from(json!({ "query": TREE }).to_string()))
        .unwrap();
    let answer = app.admin().send(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);

    // The batches run in tasks of their own (spawned by the DataLoader): their lines, and the
    // lines of their statements, still name the request.
    let text = logs.text();
    let of_request = lines_with(&text, &format!("request_id=\"{id}\""));
    let batches: Vec<_> = of_request
        .iter()
        .filter(|line| line.contains("batch loaded"))
        .collect();
    for table in ["organizations", "users"] {
        assert!(
            batches
                .iter()
                .any(|line| line.contains(&format!("table=\"{table}\""))),
            "a batch of {table} in the request's lines: {of_request:#?}"
        );
    }
    let statements = of_request
        .iter()
        .filter(|line| line.contains("statement finished"))
        .count();
    assert!(
        statements >= 3,
        "the root's and both batches' statements: {of_request:#?}"
    );
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the server answers")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

async fn should_give_each_websocket_operation_a_request_id_of_its_own(app: TestApp) {
    tree(&app).await;
    let logs = capture_logs();
    let connection = format!("socket-{}", Uuid::new_v4().simple());
    let url = format!("ws://{}/graphql/ws", crate::support::listen(&app).await);
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    headers.insert("x-request-id", connection.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init",
                       "payload": { "Authorization": format!("Bearer {}", platform_admin()) } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    for operation in ["1", "2"] {
        let subscribe =
            json!({ "type": "subscribe", "id": operation, "payload": { "query": TREE } });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .unwrap();
        let next = next_json(&mut socket).await;
        assert_eq!(next["type"], "next", "{next}");
        assert!(next["payload"].get("errors").is_none(), "{next}");
        assert_eq!(next_json(&mut socket).await["type"], "complete");
    }
    socket.close(None).await.ok();

    // `request{… request_id="<connection>"}:websocket operation{request_id=<operation>}: …`
    let text = logs.text();
    let of_connection = format!("request_id=\"{connection}\"");
    let prefix = "websocket operation{request_id=";
    let mut batches_by_operation: HashMap<String, usize> = HashMap::new();
    for line in lines_with(&text, &of_connection) {
        if !line.contains(prefix) {
            continue;
        }
        let rest = &line[line.find(prefix).unwrap() + prefix.len()..];
        let operation = rest.split('}').next().unwrap().to_string();
        assert!(Uuid::parse_str(&operation).is_ok(), "{line}");
        let batches = batches_by_operation.entry(operation).or_default();
        if line.contains("batch loaded") {
            *batches += 1;
        }
    }
    assert_eq!(
        batches_by_operation.len(),
        2,
        "two operations, two request IDs: {batches_by_operation:?}"
    );
    for (operation, batches) in &batches_by_operation {
        assert!(
            *batches >= 2,
            "operation {operation}'s batch lines name it: {batches_by_operation:?}"
        );
    }
}

db_tests!(
    should_name_the_request_id_in_the_log_lines_of_batches_and_statements,
    should_give_each_websocket_operation_a_request_id_of_its_own,
);

/// An OTLP attribute's value, as text.
fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|attribute| attribute.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(match value {
        any_value::Value::StringValue(text) => text.clone(),
        any_value::Value::IntValue(number) => number.to_string(),
        any_value::Value::BoolValue(flag) => flag.to_string(),
        other => format!("{other:?}"),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

const LINK: &str =
    "mutation Link($input: LinkTenantInput!) { linkTenant(input: $input) { changed } }";
const ORGANIZATIONS: &str = "query Organizations { brokers { edges { node { organizations { totalCount edges { node { name } } } } } } }";

/// The binary, run with `--otlp-endpoint` at a local receiver and a fake Partner Center: one
/// request (a batch of a mutation that calls Partner Center and a query with a DataLoader
/// level) sent with a `traceparent` and an `X-Request-Id` is one trace, continuing the
/// client's, of linked spans, flushed at SIGTERM; its log lines name the trace.
#[tokio::test]
async fn should_export_the_trace_of_a_request_to_an_otlp_receiver() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let guid = Uuid::new_v4();
    let partner_center = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{guid}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": guid,
            "companyProfile": {
                "tenantId": guid,
                "domain": "acme.onmicrosoft.com",
                "companyName": "Acme"
            }
        })))
        .mount(&partner_center)
        .await;

    // One broker (the process-wide Partner Center token serves an install with one), so the
    // demo data is not written.
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("brokergraph.db").display()
    );
    let organization = {
        let db = brokergraph::db::connect(&brokergraph::db::DbConfig::new(url))
            .await
            .unwrap();
        brokergraph::db::migrate(&db).await.unwrap();
        let broker = fixtures::broker(&db, "acme-cloud", "Acme Cloud").await;
        let organization = fixtures::organization(&db, &broker, "Acme", "DE").await;
        db.close().await.ok();
        organization
    };
    let endpoint = receiver.uri();
    let partner_center_url = partner_center.uri();
    let mut running = crate::cli::serve(
        dir.path(),
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-service-name",
            "brokergraph-under-test",
            "--partner-center-url",
            &partner_center_url,
            "--partner-center-token",
            "static-token",
            "--log-format",
            "json",
            "--log",
            "info,tower_http=debug",
        ],
    );

    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let input = json!({
        "organizationId": ids::encode(Kind::Organization, organization.id).0,
        "microsoftTenantId": guid.to_string(),
        "primaryDomain": "acme.onmicrosoft.com",
    });
    let answer = reqwest::Client::new()
        .post(format!("http://{}/graphql", running.address))
        .bearer_auth(&running.token)
        .header("x-request-id", "traced-request-1")
        .header("traceparent", format!("00-{client_trace}-{client_span}-01"))
        .json(&json!([
            { "query": LINK, "operationName": "Link", "variables": { "input": input } },
            { "query": ORGANIZATIONS },
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body[0]["data"]["linkTenant"]["changed"], true, "{body}");
    assert_eq!(
        body[1]["data"]["brokers"]["edges"][0]["node"]["organizations"]["totalCount"], 1,
        "{body}"
    );

    // The request's last log line names its trace.
    let finished = loop {
        let line = running
            .lines
            .recv_timeout(crate::cli::BOUND)
            .expect("the request's lines are logged");
        let Ok(line) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if line["fields"]["message"] == "finished processing request"
            && line["span"]["request_id"] == "traced-request-1"
        {
            break line;
        }
    };
    assert_eq!(finished["span"]["trace_id"], client_trace, "{finished}");

    // SIGTERM: the server drains, then sends the spans it still holds (the batch processor
    // would wait up to 5 s otherwise).
    let pid = running.server.0.id().to_string();
    let signal = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(signal.success());
    let status = crate::cli::wait_bounded(&mut running.server.0);
    assert!(status.success(), "{status}");

    let mut spans = Vec::new();
    for request in receiver.received_requests().await.unwrap() {
        assert_eq!(
            request.headers.get("content-type").unwrap(),
            "application/x-protobuf"
        );
        let export = ExportTraceServiceRequest::decode(request.body.as_slice()).unwrap();
        for resource in export.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.clone())
                .and_then(|value| value.value);
            assert_eq!(
                service,
                Some(any_value::Value::StringValue(
                    "brokergraph-under-test".into()
                ))
            );
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    let names: Vec<_> = spans.iter().map(|span| span.name.as_str()).collect();
    let traces: HashSet<_> = spans.iter().map(|span| hex(&span.trace_id)).collect();
    assert_eq!(
        traces,
        HashSet::from([client_trace.to_string()]),
        "one trace, the client's: {names:?}"
    );
    let named = |name: &str| {
        let found: Vec<&Span> = spans.iter().filter(|span| span.name == name).collect();
        assert_eq!(found.len(), 1, "one {name} span among {names:?}");
        found[0]
    };
    let is_child = |child: &Span, parent: &Span| child.parent_span_id == parent.span_id;

    let request = named("POST /graphql");
    assert_eq!(
        hex(&request.parent_span_id),
        client_span,
        "the client's span"
    );
    assert_eq!(
        attribute(request, "request_id").as_deref(),
        Some("traced-request-1")
    );
    assert_eq!(
        attribute(request, "http.route").as_deref(),
        Some("/graphql")
    );
    assert_eq!(
        attribute(request, "http.response.status_code").as_deref(),
        Some("200")
    );

    let mutation = named("mutation Link");
    assert!(is_child(mutation, request), "{names:?}");
    assert_eq!(
        attribute(mutation, "graphql.operation.type").as_deref(),
        Some("mutation")
    );
    assert_eq!(
        attribute(mutation, "graphql.outcome").as_deref(),
        Some("OK")
    );
    let call = named("partner_center get_customer");
    assert!(is_child(call, mutation), "{names:?}");
    assert_eq!(
        attribute(call, "partner_center.outcome").as_deref(),
        Some("OK")
    );

    let query = named("query Organizations");
    assert!(is_child(query, request), "{names:?}");
    let batch = named("batch organizations");
    assert!(is_child(batch, query), "{names:?}");
    assert_eq!(attribute(batch, "batch.keys").as_deref(), Some("1"));
    assert_eq!(
        attribute(batch, "batch.parent").as_deref(),
        Some("organizations.broker_id")
    );

    // Partner Center got the call's trace context: its trace, the call's span as the parent.
    let calls = partner_center.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1);
    let traceparent = calls[0]
        .headers
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(
        traceparent,
        format!("00-{client_trace}-{}-01", hex(&call.span_id))
    );
}
