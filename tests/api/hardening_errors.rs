//! Errors a client causes: every one carries `extensions.code`, and none echoes a large value.
//!
//! The rule: a value that does not fit its type is `BAD_USER_INPUT`, whether it is written in
//! the document or passed in `variables`, and whether async-graphql finds it while validating
//! (a 400) or while running (a field error); anything else wrong with the document, such as a
//! variable of an unknown type, is `GRAPHQL_VALIDATION_FAILED` with a 400.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use brokergraph::graphql::exec::limits::Limits;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::{Backend, Setup, TestApp, TestResponse, encode, spawn_app_with};

const VALIDATION: &str = "GRAPHQL_VALIDATION_FAILED";
const BAD_INPUT: &str = "BAD_USER_INPUT";

/// One coercion failure: its name, the document, its variables, and the code it must carry.
struct Case {
    name: &'static str,
    query: &'static str,
    variables: Value,
    code: &'static str,
}

fn case(name: &'static str, query: &'static str, variables: Value, code: &'static str) -> Case {
    Case {
        name,
        query,
        variables,
        code,
    }
}

/// Each class of input coercion failure, as a literal and as a variable.
fn coercion_failures() -> Vec<Case> {
    vec![
        // Int out of range
        case(
            "Int out of range, literal",
            "{ brokers(first: 2147483648) { totalCount } }",
            json!({}),
            BAD_INPUT,
        ),
        case(
            "Int out of range, variable",
            "query($n: Int) { brokers(first: $n) { totalCount } }",
            json!({ "n": 2147483648u64 }),
            BAD_INPUT,
        ),
        case(
            "negative Int out of range, variable",
            "query($n: Int!) { organizations(first: $n) { totalCount } }",
            json!({ "n": -2147483649i64 }),
            BAD_INPUT,
        ),
        // Int given a float, a string
        case(
            "Int given a float, literal",
            "{ brokers(first: 1.5) { totalCount } }",
            json!({}),
            BAD_INPUT,
        ),
        case(
            "Int given a float, variable",
            "query($n: Int) { brokers(first: $n) { totalCount } }",
            json!({ "n": 1.5 }),
            BAD_INPUT,
        ),
        case(
            "Int given a string, literal",
            r#"{ brokers(first: "ten") { totalCount } }"#,
            json!({}),
            BAD_INPUT,
        ),
        case(
            "Int given a string, variable",
            "query($n: Int) { brokers(first: $n) { totalCount } }",
            json!({ "n": "ten" }),
            BAD_INPUT,
        ),
        // String
        case(
            "String given an int, literal",
            "{ brokerBySlug(slug: 5) { id } }",
            json!({}),
            BAD_INPUT,
        ),
        case(
            "String given an int, variable",
            "query($s: String!) { brokerBySlug(slug: $s) { id } }",
            json!({ "s": 5 }),
            BAD_INPUT,
        ),
        // Boolean
        case(
            "Boolean given a string, literal",
            r#"{ organizations(filter: { hasTenant: "yes" }) { totalCount } }"#,
            json!({}),
            BAD_INPUT,
        ),
        case(
            "Boolean given a string, variable",
            "query($b: Boolean) { organizations(filter: { hasTenant: $b }) { totalCount } }",
            json!({ "b": "yes" }),
            BAD_INPUT,
        ),
        // ID
        case(
            "ID given a boolean, literal",
            "{ broker(id: true) { id } }",
            json!({}),
            BAD_INPUT,
        ),
        case(
            "ID given a boolean, variable",
            "query($id: ID!) { broker(id: $id) { id } }",
            json!({ "id": true }),
            BAD_INPUT,
        ),
        // enum
        case(
            "unknown enum value, literal",
            "{ organizations(orderBy: { field: SIZE }) { totalCount } }",
            json!({}),
            BAD_INPUT,
        ),
        case(
            "unknown enum value, variable",
            "query($f: OrganizationOrderField!) { organizations(orderBy: { field: $f }) { totalCount } }",
            json!({ "f": "SIZE" }),
            BAD_INPUT,
        ),
        // input objects
        case(
            "input object given a scalar, literal",
            "{ organizations(filter: 5) { totalCount } }",
            json!({}),
            BAD_INPUT,
        ),
        case(
            "input object given a scalar, variable",
            "query($f: OrganizationFilter) { organizations(filter: $f) { totalCount } }",
            json!({ "f": 5 }),
            BAD_INPUT,
        ),
        case(
            "input object with an unknown field, literal",
            "{ organizations(filter: { size: 5 }) { totalCount } }",
            json!({}),
            BAD_INPUT,
        ),
        case(
            "input object with an unknown field, variable",
            "query($f: OrganizationFilter) { organizations(filter: $f) { totalCount } }",
            json!({ "f": { "size": 5 } }),
            BAD_INPUT,
        ),
        case(
            "input object missing a required field, variable",
            "query($o: OrganizationOrder) { organizations(orderBy: $o) { totalCount } }",
            json!({ "o": { "direction": "ASC" } }),
            BAD_INPUT,
        ),
        // variables themselves
        case(
            "missing required variable",
            "query($s: String!) { brokerBySlug(slug: $s) { id } }",
            json!({}),
            BAD_INPUT,
        ),
        case(
            "unknown variable type",
            "query($s: Slug!) { brokerBySlug(slug: $s) { id } }",
            json!({ "s": "x" }),
            VALIDATION,
        ),
        // null for non-null
        case(
            "null for a non-null argument, literal",
            "{ brokerBySlug(slug: null) { id } }",
            json!({}),
            BAD_INPUT,
        ),
        case(
            "null for a non-null variable",
            "query($s: String!) { brokerBySlug(slug: $s) { id } }",
            json!({ "s": null }),
            BAD_INPUT,
        ),
        // lists where a scalar is expected, and the reverse
        case(
            "list for a scalar, literal",
            r#"{ brokerBySlug(slug: ["a"]) { id } }"#,
            json!({}),
            BAD_INPUT,
        ),
        case(
            "list for a scalar, variable",
            "query($s: String!) { brokerBySlug(slug: $s) { id } }",
            json!({ "s": ["a"] }),
            BAD_INPUT,
        ),
        case(
            "object for a list, variable",
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": { "a": 1 } }),
            BAD_INPUT,
        ),
        // custom scalars (DateTime is the only one clients send)
        case(
            "DateTime not a date, literal",
            r#"{ auditEvents(filter: { occurredAfter: "yesterday" }) { totalCount } }"#,
            json!({}),
            BAD_INPUT,
        ),
        case(
            "DateTime not a date, variable",
            "query($t: DateTime) { auditEvents(filter: { occurredAfter: $t }) { totalCount } }",
            json!({ "t": "yesterday" }),
            BAD_INPUT,
        ),
        // the example of the issue: a mutation's Int out of range
        case(
            "mutation Int out of range, literal",
            r#"mutation { createSubscription(input: { organizationId: "x", serviceId: "y", quantity: 2147483648 }) { subscription { id } } }"#,
            json!({}),
            BAD_INPUT,
        ),
        case(
            "mutation Int out of range, variable",
            r#"mutation($q: Int!) { createSubscription(input: { organizationId: "x", serviceId: "y", quantity: $q }) { subscription { id } } }"#,
            json!({ "q": 2147483648u64 }),
            BAD_INPUT,
        ),
    ]
}

async fn over_get(app: &TestApp, query: &str, variables: &Value) -> TestResponse {
    let uri = format!(
        "/graphql?query={}&variables={}",
        encode(query),
        encode(&variables.to_string())
    );
    app.admin()
        .send(Request::get(uri).body(Body::empty()).expect("request"))
        .await
}

async fn over_post(app: &TestApp, query: &str, variables: &Value) -> TestResponse {
    app.post_json(&json!({ "query": query, "variables": variables }))
        .await
}

/// Why the answer is wrong, if it is: every error must carry the case's code.
fn miscoded(case: &Case, how: &str, response: &TestResponse) -> Option<String> {
    let codes = response.codes();
    let coded = !codes.is_empty() && codes.iter().all(|code| code.as_str() == case.code);
    let refused_as_invalid = case.code != VALIDATION || response.status == StatusCode::BAD_REQUEST;
    (!coded || !refused_as_invalid).then(|| {
        format!(
            "{} over {how}: expected {} ({}), got {}",
            case.name, case.code, response.status, response.body
        )
    })
}

async fn should_give_every_input_coercion_failure_a_code(backend: Backend) {
    let app = spawn_app_with(backend, Setup::default())
        .await
        .expect("the backend is configured");
    let mut wrong = Vec::new();
    for case in coercion_failures() {
        let response = over_post(&app, case.query, &case.variables).await;
        wrong.extend(miscoded(&case, "POST", &response));
        if !case.query.starts_with("mutation") {
            let response = over_get(&app, case.query, &case.variables).await;
            wrong.extend(miscoded(&case, "GET", &response));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

async fn should_give_a_coercion_failure_a_code_over_websocket(backend: Backend) {
    let app = spawn_app_with(backend, Setup::default())
        .await
        .expect("the backend is configured");
    for case in coercion_failures()
        .into_iter()
        .filter(|case| case.name.starts_with("Int out of range"))
    {
        let payload = crate::limits::over_websocket(&app, case.query, case.variables.clone()).await;
        let codes = crate::support::errors_codes(&payload);
        assert!(!codes.is_empty(), "{}: {payload}", case.name);
        assert!(
            codes.iter().all(|code| code.as_str() == case.code),
            "{}: {payload}",
            case.name
        );
    }
}

// --- echoed values -----------------------------------------------------------------------------

/// 100 KB of text that must never come back whole.
fn huge() -> String {
    "x".repeat(100 * 1024)
}

/// The largest answer an error about a huge value may make.
const SMALL: usize = 4 * 1024;

fn assert_small(what: &str, response: &TestResponse) {
    let size = response.body.to_string().len();
    assert!(
        size < SMALL,
        "{what}: an answer of {size} bytes: {}…",
        &response.body.to_string()[..300.min(size)]
    );
    assert!(
        !response.codes().is_empty() && response.codes().iter().all(|code| !code.is_empty()),
        "{what}: {}…",
        &response.body.to_string()[..300.min(size)]
    );
}

async fn should_not_echo_a_huge_value_in_any_error(backend: Backend) {
    // A document large enough for a 100 KB literal (an operator may raise the bound).
    let setup = Setup {
        limits: Limits {
            max_query_bytes: 512 * 1024,
            ..Limits::default()
        },
        ..Setup::default()
    };
    let app = spawn_app_with(backend, setup)
        .await
        .expect("the backend is configured");
    let huge = huge();
    let literal_cases = [
        // validation (a literal of the wrong type, an unknown enum value, an unknown field)
        format!(r#"{{ brokers(first: "{huge}") {{ totalCount }} }}"#),
        format!("{{ organizations(orderBy: {{ field: {huge} }}) {{ totalCount }} }}"),
        format!("{{ brokers {{ {huge} }} }}"),
        format!(r#"{{ auditEvents(filter: {{ occurredAfter: "{huge}" }}) {{ totalCount }} }}"#),
        // parsing
        format!("{{ brokers {{ totalCount }} }} {huge}"),
        // a domain error about the value
        format!(r#"{{ node(id: "{huge}") {{ id }} }}"#),
        format!(r#"{{ tenantByMicrosoftId(microsoftTenantId: "{huge}") {{ id }} }}"#),
    ];
    for query in &literal_cases {
        let what = &query[..60];
        assert_small(what, &over_post(&app, query, &json!({})).await);
    }
    // A URI holds at most 64 KiB: GET sends 20 KB.
    let variable_cases = |huge: &str| {
        [
            (
                "query($n: Int) { brokers(first: $n) { totalCount } }",
                json!({ "n": huge }),
            ),
            (
                "query($f: OrganizationOrderField!) { organizations(orderBy: { field: $f }) { totalCount } }",
                json!({ "f": huge }),
            ),
            (
                "query($t: DateTime) { auditEvents(filter: { occurredAfter: $t }) { totalCount } }",
                json!({ "t": huge }),
            ),
            (
                "query($f: OrganizationFilter) { organizations(filter: $f) { totalCount } }",
                json!({ "f": { huge: 1 } }),
            ),
            (
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": huge }),
            ),
            (
                "query($m: String!) { tenantByMicrosoftId(microsoftTenantId: $m) { id } }",
                json!({ "m": huge }),
            ),
        ]
    };
    for (query, variables) in &variable_cases(&huge) {
        assert_small(query, &over_post(&app, query, variables).await);
    }
    for (query, variables) in &variable_cases(&huge[..20 * 1024]) {
        assert_small(query, &over_get(&app, query, variables).await);
    }
    // A request that is not a GraphQL request, with the huge value where an object belongs.
    let response = app
        .post_json(&json!({ "query": "{ brokers { totalCount } }", "variables": huge }))
        .await;
    assert_small("variables not an object", &response);
    // And over the WebSocket.
    let (query, variables) = &variable_cases(&huge)[0];
    let payload = crate::limits::over_websocket(&app, query, variables.clone()).await;
    assert!(
        payload.to_string().len() < SMALL,
        "{}",
        payload.to_string().len()
    );
}

backend_tests!(
    should_give_every_input_coercion_failure_a_code,
    should_give_a_coercion_failure_a_code_over_websocket,
    should_not_echo_a_huge_value_in_any_error,
);
