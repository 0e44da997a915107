//! `GET /metrics`: Prometheus text, scraped after requests. The recorder is the process's
//! (the tests share it), so counts shared with other tests are checked as increases, and the
//! series of one test's own operation names exactly.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use brokergraph::auth::Role;
use brokergraph::graphql::exec::limits::Limits;
use brokergraph::graphql::relay::ids::{self, Kind};
use brokergraph::http::{HttpConfig, MetricsAt};
use serde_json::json;
use uuid::Uuid;

use crate::support::{Backend, Setup, TestApp, spawn_app, spawn_app_with, token};
use crate::{backend_tests, fixtures};

/// One sample line: `name{label="value",...} number`.
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').expect("label=value");
                    (key.to_string(), value.trim_matches('"').to_string())
                })
                .collect();
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of the series `name` whose labels include `labels` (summed when several match).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|sample| sample.name == name)
        .filter(|sample| {
            labels
                .iter()
                .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
        })
        .map(|sample| sample.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let response = app
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response
            .content_type()
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        response.content_type()
    );
    parse(response.body.as_str().expect("text"))
}

async fn should_count_operations_statements_pool_partner_center_and_refusals(backend: Backend) {
    let setup = Setup {
        http: HttpConfig {
            metrics: Some(MetricsAt::MainPort),
            ..HttpConfig::default()
        },
        limits: Limits {
            max_aliases: 2,
            ..Limits::default()
        },
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let tag = Uuid::new_v4().simple().to_string();
    let probe = format!("Probe_{tag}");
    let before = scrape(&app).await;

    for _ in 0..2 {
        app.query(
            &format!("query {probe} {{ brokers {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    }
    let refused = format!("TooMany_{tag}");
    let codes = app
        .query_errors(
            &format!("query {refused} {{ brokers(first: 1000) {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    let aliases = app
        .post_json(&json!({ "query": "{ a: brokers { totalCount } b: brokers { totalCount } c: brokers { totalCount } }" }))
        .await;
    assert_eq!(
        aliases.codes(),
        ["MAX_ALIASES_EXCEEDED"],
        "{}",
        aliases.body
    );

    // Partner Center, through the (verifying) sandbox: one customer found, one not.
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let acme = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    let admin = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(broker.id),
        None,
        "ba@contoso",
    )));
    let link = |guid: Uuid| {
        json!({ "query": format!("mutation Link_{tag}($input: LinkTenantInput!) {{ linkTenant(input: $input) {{ changed }} }}"), "variables": { "input": {
        "organizationId": ids::encode(Kind::Organization, acme.id).0,
        "microsoftTenantId": guid.to_string(),
        "primaryDomain": format!("t{}.onmicrosoft.com", &guid.simple().to_string()[..8]),
    } } })
    };
    let unknown = admin.post_json(&link(Uuid::new_v4())).await;
    assert_eq!(
        unknown.codes(),
        ["PARTNER_CENTER_CUSTOMER_NOT_FOUND"],
        "{}",
        unknown.body
    );
    let guid = Uuid::new_v4();
    app.sandbox_of(broker.id)
        .add_customer(guid, "acme.onmicrosoft.com", "Acme")
        .await
        .unwrap();
    let linked = admin.post_json(&link(guid)).await;
    assert_eq!(
        linked.body["data"]["linkTenant"]["changed"], true,
        "{}",
        linked.body
    );

    let after = scrape(&app).await;
    let increase = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels).unwrap_or(0.0) - value(&before, name, labels).unwrap_or(0.0)
    };

    // Operations by name, type and outcome, with latency histograms.
    let ok = [
        ("operation", probe.as_str()),
        ("type", "query"),
        ("outcome", "OK"),
    ];
    assert_eq!(value(&after, "graphql_requests_total", &ok), Some(2.0));
    assert_eq!(
        value(&after, "graphql_request_duration_seconds_count", &ok),
        Some(2.0)
    );
    let sum = value(&after, "graphql_request_duration_seconds_sum", &ok).unwrap();
    assert!(sum > 0.0 && sum < 60.0, "{sum}");
    let mut in_buckets = ok.to_vec();
    in_buckets.push(("le", "+Inf"));
    assert_eq!(
        value(
            &after,
            "graphql_request_duration_seconds_bucket",
            &in_buckets
        ),
        Some(2.0)
    );
    let bad_input = [("operation", refused.as_str()), ("type", "query")];
    let outcome = after
        .iter()
        .find(|sample| {
            sample.name == "graphql_requests_total"
                && sample.labels.get("operation") == Some(&refused)
        })
        .map(|sample| sample.labels["outcome"].clone());
    assert_eq!(outcome.as_deref(), Some(codes[0].as_str()));
    assert_eq!(
        value(&after, "graphql_requests_total", &bad_input),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "graphql_requests_total",
            &[
                ("operation", format!("Link_{tag}").as_str()),
                ("type", "mutation"),
                ("outcome", "PARTNER_CENTER_CUSTOMER_NOT_FOUND")
            ]
        ),
        Some(1.0),
        "operation names are per server: this one's Link"
    );
    // Anonymous operations fold into one label.
    assert!(
        increase(
            "graphql_requests_total",
            &[("operation", "other"), ("outcome", "MAX_ALIASES_EXCEEDED")]
        ) >= 1.0
    );

    // Refusals by limit.
    assert!(
        increase(
            "graphql_refusals_total",
            &[("code", "MAX_ALIASES_EXCEEDED")]
        ) >= 1.0
    );

    // SQL statements and the pool.
    assert!(increase("db_statements_total", &[("outcome", "ok")]) >= 3.0);
    assert!(
        value(
            &after,
            "db_statement_duration_seconds_count",
            &[("outcome", "ok")]
        )
        .is_some()
    );
    let max = value(&after, "db_pool_max_connections", &[]).unwrap();
    assert!(max >= 1.0, "{max}");
    let open = value(&after, "db_pool_connections", &[("state", "idle")]).unwrap()
        + value(&after, "db_pool_connections", &[("state", "in_use")]).unwrap();
    assert!(open >= 1.0, "{open}");

    // Partner Center calls by operation and outcome, with latency.
    let found = [("operation", "get_customer"), ("outcome", "OK")];
    assert!(increase("partner_center_calls_total", &found) >= 1.0);
    assert!(increase("partner_center_call_duration_seconds_count", &found) >= 1.0);
    let missing = [
        ("operation", "get_customer"),
        ("outcome", "PARTNER_CENTER_CUSTOMER_NOT_FOUND"),
    ];
    assert!(increase("partner_center_calls_total", &missing) >= 1.0);
}

async fn should_not_serve_metrics_unless_asked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    // Recorded for a listener of its own: still not on the main port.
    let setup = Setup {
        http: HttpConfig {
            metrics: Some(MetricsAt::OwnListener),
            ..HttpConfig::default()
        },
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let response = app
        .send(
            Request::get("/metrics")
                .header(header::ACCEPT, "text/plain")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

backend_tests!(
    should_count_operations_statements_pool_partner_center_and_refusals,
    should_not_serve_metrics_unless_asked
);

/// Runs `query Count` on `running`, then scrapes `metrics_url` and checks that it was counted.
async fn count_and_scrape(running: &crate::cli::Running, metrics_url: &str) -> Vec<Sample> {
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("http://{}/graphql", running.address))
        .bearer_auth(&running.token)
        .json(&json!({ "query": "query Count { brokers { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = http
        .get(metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse(&text);
    let count = [("operation", "Count"), ("type", "query"), ("outcome", "OK")];
    assert_eq!(
        value(&samples, "graphql_requests_total", &count),
        Some(1.0),
        "{text}"
    );
    samples
}

/// The binary: `--metrics` on the main port, `--metrics-listen` on an address of its own.
#[tokio::test]
async fn should_serve_metrics_on_the_main_port_or_a_listener_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let running = crate::cli::serve(dir.path(), &["--metrics"]);
    count_and_scrape(&running, &format!("http://{}/metrics", running.address)).await;
    drop(running);

    let dir = tempfile::tempdir().unwrap();
    let metrics_address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let running = crate::cli::serve(dir.path(), &["--metrics-listen", &metrics_address]);
    let samples = count_and_scrape(&running, &format!("http://{metrics_address}/metrics")).await;
    assert!(value(&samples, "db_statements_total", &[]).is_some());
    let main = reqwest::get(format!("http://{}/metrics", running.address))
        .await
        .unwrap();
    assert_eq!(main.status(), 404, "not on the main port");
}

/// `live_subscribers` and `live_events_delivered_total` of the server at `address` (a process
/// of the test's own: the gauge is the process's, which other tests of this binary move).
async fn the_live_series_count_one_open_subscription(address: std::net::SocketAddr, token: &str) {
    let http = reqwest::Client::new();
    let scrape = || async {
        let text = http
            .get(format!("http://{address}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let samples = parse(&text);
        (
            value(&samples, "live_subscribers", &[]).unwrap_or(0.0),
            value(&samples, "live_events_delivered_total", &[]).unwrap_or(0.0),
        )
    };
    let until = |wanted: f64| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (open, delivered) = scrape().await;
            if open == wanted {
                return delivered;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "live_subscribers stays {open}, not {wanted}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    assert_eq!(scrape().await, (0.0, 0.0), "nothing open, nothing sent");
    let mut stream = crate::live::SseStream::open(
        address,
        token,
        json!({ "query": "subscription { changes { cursor } }" }),
    )
    .await;
    until(1.0).await;
    // One event reaches the one subscriber (brokers created until one arrives: from now).
    crate::live::first_sse_cursor(&mut stream, |n| {
        let http = http.clone();
        async move {
            let body = crate::support::post_graphql(
                &http,
                &format!("http://{address}/graphql"),
                token,
                "mutation($input: CreateBrokerInput!) { createBroker(input: $input) { broker { slug } } }",
                json!({ "input": { "slug": format!("metrics-{n}"), "name": "Metrics" } }),
            )
            .await
            .unwrap();
            assert!(body["errors"].is_null(), "{body}");
        }
    })
    .await;
    assert_eq!(scrape().await, (1.0, 1.0), "one open, one event sent");
    drop(stream);
    assert_eq!(until(0.0).await, 1.0, "closed: none open, the count stays");
}

#[tokio::test]
async fn should_count_live_subscribers_and_their_events_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let running = crate::cli::serve(dir.path(), &["--metrics"]);
    let address = running.address.parse().unwrap();
    the_live_series_count_one_open_subscription(address, &running.token).await;
}

/// PostgreSQL: a `serve` process on a database of its own (skipped without `TEST_DATABASE_URL`).
#[tokio::test]
async fn should_count_live_subscribers_and_their_events_on_postgres() {
    use crate::support::{OwnDatabase, Process, serve_args};
    let Some(database) = OwnDatabase::create().await else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let args = serve_args(&database.url, &["--metrics"]);
    let server = Process::start(args, logs.path().join("serve.log")).await;
    the_live_series_count_one_open_subscription(server.address, &crate::support::platform_admin())
        .await;
    drop(server);
}
