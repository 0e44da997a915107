//! Issue 12, items 2 and 3: hostile documents refused by their measure before async-graphql
//! validates them, the operations running at once bounded per process and per caller (HTTP and
//! WebSocket), the work stopped at the deadline or when the client goes away, and a normal
//! caller answered while two hostile ones hammer the server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use brokergraph::auth::Role;
use brokergraph::graphql::exec::limits::Limits;
use brokergraph::http::HttpConfig;
use brokergraph::http::admission::AdmissionConfig;
use brokergraph::http::serve::ServeConfig;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures;
use crate::hardening_transport::{buy, initialised, listen, organizations, receive_json, send};
use crate::limits::fan_out;
use crate::support::{
    Backend, Setup, TestApp, TestResponse, platform_admin, spawn_app_with, token,
};

const QUERY: &str = "{ brokers { totalCount } }";

/// A hang guard, not the proof (the code is: each refusal's code is one only the measuring
/// before validation gives).
const GENEROUSLY: Duration = Duration::from_secs(5);

fn caller(subject: &str) -> String {
    token(Role::PlatformAdmin, None, None, subject)
}

async fn app_with(backend: Backend, admission: AdmissionConfig, limits: Limits) -> Option<TestApp> {
    let setup = Setup {
        http: HttpConfig {
            admission,
            ..HttpConfig::default()
        },
        limits,
        ..Setup::default()
    };
    spawn_app_with(backend, setup).await
}

fn bounds(process: usize, per_principal: usize, wait_ms: u64) -> AdmissionConfig {
    AdmissionConfig {
        max_concurrent_operations: process,
        max_concurrent_operations_per_principal: per_principal,
        operation_queue_wait: Duration::from_millis(wait_ms),
    }
}

async fn post_as(app: &TestApp, subject: &str, body: &Value) -> TestResponse {
    app.with_token(Some(caller(subject))).post_json(body).await
}

// --- item 2: bounded before it runs --------------------------------------------------------

/// `count` arguments `x0: 1, x1: 1, …`.
fn many_arguments(count: usize) -> String {
    (0..count)
        .map(|i| format!("x{i}: 1"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn assert_refused_before_validation(app: &TestApp, query: &str, code: &str) {
    assert!(
        query.len() <= Limits::default().max_query_bytes,
        "{}",
        query.len()
    );
    app.reset_statements();
    let started = Instant::now();
    let response = app.admin().post_json(&json!({ "query": query })).await;
    assert!(
        started.elapsed() < GENEROUSLY,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert_eq!(response.codes(), [code], "{}", response.body);
    assert_eq!(app.statement_count(), 0, "nothing ran");
}

async fn should_refuse_hostile_documents_with_their_codes_before_validation(backend: Backend) {
    let Some(app) = app_with(backend, AdmissionConfig::default(), Limits::default()).await else {
        return;
    };
    // Fan-out: 2^28 fields from 1.5 KB.
    let fan = fan_out(28, "brokers { totalCount }");
    assert_refused_before_validation(&app, &fan, "MAX_FIELDS_EXCEEDED").await;
    // A deep chain of fragments, each spreading the next.
    let mut chain =
        String::from("query { ...F400 } fragment F0 on Query { brokers { totalCount } }");
    for i in 1..=400 {
        chain.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i - 1));
    }
    assert_refused_before_validation(&app, &chain, "MAX_DEPTH_EXCEEDED").await;
    // Many overlapping fields, the first with thousands of arguments: async-graphql's
    // OverlappingFieldsCanBeMerged compares each with the first, argument by argument, and
    // reports every one that differs (quadratic).
    let overlapping = format!(
        "{{ brokers {{ edges {{ node {{ organizations({}) {{ totalCount }} {} }} }} }} }}",
        many_arguments(1_000),
        "organizations { totalCount } ".repeat(500)
    );
    assert_refused_before_validation(&app, &overlapping, "MAX_ARGUMENTS_EXCEEDED").await;
    // Within the arguments and fields limits, a fragment with a large list value spread 64
    // times: validation would walk the value 64 times.
    let list = format!("brokers(x: [{}]) {{ totalCount }}", "1 ".repeat(400));
    assert_refused_before_validation(&app, &fan_out(6, &list), "MAX_NODES_EXCEEDED").await;
    // A long list of aliases.
    let aliases: String = (0..31).map(|i| format!("a{i}: totalCount ")).collect();
    let aliased = format!("{{ brokers {{ {aliases} }} }}");
    assert_refused_before_validation(&app, &aliased, "MAX_ALIASES_EXCEEDED").await;
    // Directive floods where async-graphql counts none: on a spread, an inline fragment, the
    // operation, a variable, a fragment; and a directive with too many arguments.
    let flood = "@skip(if: false) ".repeat(11);
    for query in [
        format!("{{ ...F {flood} }} fragment F on Query {{ brokers {{ totalCount }} }}"),
        format!("{{ ... on Query {flood} {{ brokers {{ totalCount }} }} }}"),
        format!("query Q {flood} {{ brokers {{ totalCount }} }}"),
        format!("query Q($v: Int {flood}) {{ brokers(first: $v) {{ totalCount }} }}"),
        format!("{{ ...F }} fragment F on Query {flood} {{ brokers {{ totalCount }} }}"),
        format!("{{ brokers {{ totalCount {flood} }} }}"),
    ] {
        assert_refused_before_validation(&app, &query, "MAX_DIRECTIVES_EXCEEDED").await;
    }
    let wide_directive = format!(
        "{{ brokers {{ totalCount @skip(if: false, {}) }} }}",
        many_arguments(21)
    );
    assert_refused_before_validation(&app, &wide_directive, "MAX_ARGUMENTS_EXCEEDED").await;
    // What stays within the limits runs: a thousand overlapping fields are merged, in time
    // linear in them.
    let merged = format!("{{ brokers {{ {} }} }}", "totalCount ".repeat(1_000));
    let response = app.admin().post_json(&json!({ "query": merged })).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["data"]["brokers"]["totalCount"], 0);
}

async fn should_refuse_one_argument_and_one_node_over_their_bounds(backend: Backend) {
    let limits = Limits {
        max_arguments: 2,
        // `brokers` 1, its argument 1 and value 1, `totalCount` 1.
        max_nodes: 4,
        ..Limits::default()
    };
    let Some(app) = app_with(backend, AdmissionConfig::default(), limits).await else {
        return;
    };
    let at_bound = app
        .admin()
        .post_json(&json!({ "query": "{ brokers(first: 1) { totalCount } }" }))
        .await;
    assert_eq!(at_bound.status, StatusCode::OK, "{}", at_bound.body);
    assert_eq!(at_bound.body["data"]["brokers"]["totalCount"], 0);
    let node_over = "{ brokers(first: 1) { totalCount __typename } }";
    assert_refused_before_validation(&app, node_over, "MAX_NODES_EXCEEDED").await;
    let argument_over = "{ brokers(first: 1, after: null, last: null) { totalCount } }";
    assert_refused_before_validation(&app, argument_over, "MAX_ARGUMENTS_EXCEEDED").await;
}

// --- item 3: concurrency bounds ------------------------------------------------------------

fn retry_after(response: &TestResponse) -> Option<&str> {
    response
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
}

async fn should_refuse_a_caller_over_its_share_with_429_and_serve_others(backend: Backend) {
    let Some(app) = app_with(backend, bounds(8, 1, 100), Limits::default()).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 1).await;
    app.sandbox.set_latency(Duration::from_millis(800));
    let admin = app.admin();
    let purchase = buy(&organizations[0], &m365, "sharekey");
    let slow = admin.post_json(&purchase);
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let same = app.admin().post_json(&json!({ "query": QUERY })).await;
        let batch = app
            .admin()
            .post_json(&json!([{ "query": QUERY }, { "query": QUERY }]))
            .await;
        let other = post_as(&app, "someone-else", &json!({ "query": QUERY })).await;
        (same, batch, other)
    };
    let (slow, (same, batch, other)) = tokio::join!(slow, meanwhile);
    assert_eq!(slow.status, StatusCode::OK, "{}", slow.body);
    assert_eq!(same.status, StatusCode::TOO_MANY_REQUESTS, "{}", same.body);
    assert_eq!(same.codes(), ["TOO_MANY_CONCURRENT_OPERATIONS"]);
    assert_eq!(retry_after(&same), Some("1"));
    // Each operation of a batch counts.
    assert_eq!(
        batch.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        batch.body
    );
    for answer in batch.body.as_array().expect("an array") {
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "TOO_MANY_CONCURRENT_OPERATIONS",
            "{answer}"
        );
    }
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    assert_eq!(other.body["data"]["brokers"]["totalCount"], 1);
    // Once its operation is done, the caller is served again.
    let again = app.admin().post_json(&json!({ "query": QUERY })).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}

async fn should_answer_503_when_the_process_runs_its_most(backend: Backend) {
    let Some(app) = app_with(backend, bounds(1, 4, 100), Limits::default()).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 1).await;
    app.sandbox.set_latency(Duration::from_millis(800));
    let admin = app.admin();
    let purchase = buy(&organizations[0], &m365, "busykey1");
    let slow = admin.post_json(&purchase);
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        post_as(&app, "someone-else", &json!({ "query": QUERY })).await
    };
    let (slow, busy) = tokio::join!(slow, meanwhile);
    assert_eq!(slow.status, StatusCode::OK, "{}", slow.body);
    assert_eq!(
        busy.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        busy.body
    );
    assert_eq!(busy.codes(), ["SERVER_BUSY"]);
    assert_eq!(retry_after(&busy), Some("1"));
}

async fn should_let_an_operation_over_the_bound_wait_for_a_place(backend: Backend) {
    let Some(app) = app_with(backend, bounds(1, 1, 5_000), Limits::default()).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 1).await;
    app.sandbox.set_latency(Duration::from_millis(400));
    let admin = app.admin();
    let purchase = buy(&organizations[0], &m365, "waitkey1");
    let slow = admin.post_json(&purchase);
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        post_as(&app, "someone-else", &json!({ "query": QUERY })).await
    };
    let (slow, waited) = tokio::join!(slow, meanwhile);
    assert_eq!(slow.status, StatusCode::OK, "{}", slow.body);
    assert_eq!(waited.status, StatusCode::OK, "{}", waited.body);
    assert_eq!(waited.body["data"]["brokers"]["totalCount"], 1);
}

async fn should_bound_a_callers_operations_over_the_websocket_too(backend: Backend) {
    let Some(app) = app_with(backend, bounds(8, 1, 100), Limits::default()).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 1).await;
    app.sandbox.set_latency(Duration::from_millis(800));
    let address = listen(&app, ServeConfig::default()).await;
    let mut socket = initialised(address, &platform_admin()).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "slow", "payload": buy(&organizations[0], &m365, "wsbound1") }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "over", "payload": { "query": QUERY } }),
    )
    .await;
    let refused = receive_json(&mut socket).await;
    assert_eq!(refused["id"], "over", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "TOO_MANY_CONCURRENT_OPERATIONS",
        "{refused}"
    );
    // The bound is the caller's, whatever the transport.
    let over_http = app.admin().post_json(&json!({ "query": QUERY })).await;
    assert_eq!(
        over_http.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        over_http.body
    );
    let mut slow_answered = false;
    for _ in 0..3 {
        let message = receive_json(&mut socket).await;
        if message["id"] == "slow" && message["type"] == "next" {
            assert_eq!(
                message["payload"]["data"]["addMicrosoftService"]["tenantCreated"], true,
                "{message}"
            );
            slow_answered = true;
            break;
        }
    }
    assert!(slow_answered);
}

// --- item 3: the work stops -------------------------------------------------------------------

async fn should_stop_the_work_and_return_the_place_at_the_deadline(backend: Backend) {
    let limits = Limits {
        request_timeout_seconds: 1,
        ..Limits::default()
    };
    let Some(app) = app_with(backend, bounds(1, 1, 500), limits).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 1).await;
    app.sandbox.hang_next(Duration::from_millis(1500));
    let response = app
        .admin()
        .post_json(&buy(&organizations[0], &m365, "cutkey01"))
        .await;
    assert_eq!(
        response.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        response.body
    );
    assert_eq!(response.codes(), ["REQUEST_TIMEOUT"]);
    // Past the moment the hung call would have returned, no SQL ran (the operation would
    // write the tenant and its subscription), and no customer was created.
    app.reset_statements();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(app.statement_count(), 0, "SQL ran after the 504");
    assert_eq!(
        app.sandbox.created(),
        0,
        "the operation went on after the 504"
    );
    // Its place (the only one) was returned when its task ended.
    let next = app.admin().post_json(&json!({ "query": QUERY })).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
}

async fn should_cancel_the_operation_of_a_client_that_went_away(backend: Backend) {
    let Some(app) = app_with(backend, bounds(1, 1, 500), Limits::default()).await else {
        return;
    };
    let (organizations, m365) = organizations(&app, 1).await;
    app.sandbox.hang_next(Duration::from_millis(1000));
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            buy(&organizations[0], &m365, "gonekey2").to_string(),
        ))
        .unwrap();
    let sent = tokio::time::timeout(Duration::from_millis(300), app.admin().send(request)).await;
    assert!(sent.is_err(), "the client gave up first");
    app.reset_statements();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(app.statement_count(), 0, "SQL ran without a client");
    assert_eq!(
        app.sandbox.created(),
        0,
        "the operation ran on without its client"
    );
    let next = app.admin().post_json(&json!({ "query": QUERY })).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
}

#[test]
fn should_default_to_bounds_that_never_throttle_the_benchmark() {
    let defaults = HttpConfig::default().admission;
    // bench/ runs at most 64 clients with one token.
    assert_eq!(defaults.max_concurrent_operations_per_principal, 64);
    assert_eq!(defaults.max_concurrent_operations, 256);
    assert_eq!(defaults.operation_queue_wait, Duration::from_millis(100));
    let limits = Limits::default();
    assert_eq!(limits.max_arguments, 20);
    assert_eq!(limits.max_nodes, 10_000);
}

// --- the hostile-caller target -----------------------------------------------------------------

/// Costs close to the default complexity limit: 100 brokers × 100 organizations × a few fields.
const MAX_COST: &str = "{ brokers(first: 100) { edges { node { name organizations(first: 100) { edges { node { name country } } } } } } }";

async fn should_answer_a_normal_caller_while_two_hostile_callers_hammer(backend: Backend) {
    let Some(app) = app_with(backend, bounds(16, 4, 100), Limits::default()).await else {
        return;
    };
    let broker = fixtures::broker(&app.db, "contoso", "Contoso").await;
    for index in 0..20 {
        fixtures::organization(&app.db, &broker, &format!("Org {index}"), "DE").await;
    }
    let fan = fan_out(28, "brokers { totalCount }");
    let done = AtomicBool::new(false);
    let hostile = |subject: &'static str, query: String| {
        let (app, done) = (&app, &done);
        async move {
            let mut answered = 0usize;
            while !done.load(Ordering::SeqCst) {
                post_as(app, subject, &json!({ "query": query })).await;
                answered += 1;
                // A refusal can complete without the router ever waiting: let the other
                // callers of this test's one thread run (a real client waits on its socket).
                tokio::task::yield_now().await;
            }
            answered
        }
    };
    let mut loops = Vec::new();
    for _ in 0..6 {
        loops.push(hostile("hostile-fan-out", fan.clone()));
        loops.push(hostile("hostile-max-cost", MAX_COST.to_string()));
    }
    let normal = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut answers = Vec::new();
        for _ in 0..30 {
            answers.push(post_as(&app, "normal", &json!({ "query": QUERY })).await);
        }
        done.store(true, Ordering::SeqCst);
        answers
    };
    let (hostile_answers, answers) = tokio::join!(futures_util::future::join_all(loops), normal);
    assert!(hostile_answers.iter().all(|count| *count > 0));
    for answer in answers {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body.get("errors").is_none(), "{}", answer.body);
        assert_eq!(answer.body["data"]["brokers"]["totalCount"], 1);
    }
}

backend_tests!(
    should_refuse_hostile_documents_with_their_codes_before_validation,
    should_refuse_one_argument_and_one_node_over_their_bounds,
    should_refuse_a_caller_over_its_share_with_429_and_serve_others,
    should_answer_503_when_the_process_runs_its_most,
    should_let_an_operation_over_the_bound_wait_for_a_place,
    should_bound_a_callers_operations_over_the_websocket_too,
    should_stop_the_work_and_return_the_place_at_the_deadline,
    should_cancel_the_operation_of_a_client_that_went_away,
    should_answer_a_normal_caller_while_two_hostile_callers_hammer,
);
