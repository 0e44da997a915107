//! Operation limits: each one exactly at its bound (accepted) and one step over it (refused
//! with a 400, one coded error, no `data`, and no resolver run), the defaults, the batch size,
//! and introspection turned off. The request time-out is not tested here: it would need timing.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use brokergraph::graphql::exec::limits::Limits;
use brokergraph::http::HttpConfig;
use entity::enums::OrganizationRole;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::{Backend, Setup, TestApp, TestResponse, spawn_app_with};

async fn app_with(backend: Backend, limits: Limits) -> TestApp {
    let setup = Setup {
        limits,
        ..Setup::default()
    };
    spawn_app_with(backend, setup)
        .await
        .expect("the backend is configured")
}

async fn post(app: &TestApp, query: &str, variables: Value) -> TestResponse {
    app.post_json(&json!({ "query": query, "variables": variables }))
        .await
}

/// Asserts the query runs (200, `data`, no errors) and reaches the database; returns `data`.
async fn assert_accepted_with(app: &TestApp, query: &str, variables: Value) -> Value {
    app.reset_statements();
    let response = post(app, query, variables).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{query}: {}",
        response.body
    );
    assert!(
        response.body.get("errors").is_none(),
        "{query}: {}",
        response.body
    );
    assert!(response.body["data"].is_object(), "{}", response.body);
    assert!(
        app.statement_count() > 0,
        "an accepted query runs its resolvers: {query}"
    );
    response.body["data"].clone()
}

async fn assert_accepted(app: &TestApp, query: &str) -> Value {
    assert_accepted_with(app, query, json!({})).await
}

/// Asserts the query is refused before anything runs: a 400 with exactly one error coded
/// `code`, no `data` key, and not one SQL statement.
async fn assert_refused_with(app: &TestApp, query: &str, variables: Value, code: &str) {
    app.reset_statements();
    let response = post(app, query, variables).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{query}: {}",
        response.body
    );
    assert_eq!(response.codes(), [code], "{query}: {}", response.body);
    assert!(
        response.body.get("data").is_none(),
        "{query}: {}",
        response.body
    );
    assert_eq!(
        app.statement_count(),
        0,
        "no resolver may run for a refused operation: {query}"
    );
}

async fn assert_refused(app: &TestApp, query: &str, code: &str) {
    assert_refused_with(app, query, json!({}), code).await;
}

// --- each limit at its bound and one over it ----------------------------------------------

async fn should_refuse_a_query_one_level_deeper_than_max_depth(backend: Backend) {
    let app = app_with(
        backend,
        Limits {
            max_depth: 7,
            ..Limits::default()
        },
    )
    .await;
    let broker = crate::fixtures::broker(&app.db, "deep", "Deep Broker").await;
    crate::fixtures::organization(&app.db, &broker, "Deep Org", "DE").await;
    // async-graphql counts every field on the deepest path, the leaf included:
    // brokers 1, edges 2, node 3, organizations 4, edges 5, node 6, name 7.
    let data = assert_accepted(
        &app,
        "{ brokers { edges { node { organizations { edges { node { name } } } } } } }",
    )
    .await;
    assert_eq!(
        data["brokers"]["edges"][0]["node"]["organizations"]["edges"][0]["node"]["name"],
        "Deep Org"
    );
    // tenant 7, microsoftTenantId 8.
    assert_refused(
        &app,
        "{ brokers { edges { node { organizations { edges { node { tenant { microsoftTenantId } } } } } } } }",
        "MAX_DEPTH_EXCEEDED",
    )
    .await;
    // Fragments are counted where they are spread.
    assert_refused(
        &app,
        "{ brokers { edges { node { ...Orgs } } } }
         fragment Orgs on Broker { organizations { edges { node { tenant { microsoftTenantId } } } } }",
        "MAX_DEPTH_EXCEEDED",
    )
    .await;
}

/// Costs exactly 30: `organizations(first: 3)` costs 3 × (totalCount 1 + edges (1 + node
/// (1 + name 1))) = 3 × 4 = 12; one broker's node 1 + name 1 + 12 = 14, its edge 15; and
/// `brokers(first: 2)` 2 × 15 = 30.
const COSTS_30: &str = "brokers(first: 2) { edges { node { name organizations(first: 3) { totalCount edges { node { name } } } } } }";

async fn should_refuse_a_query_one_point_over_max_complexity(backend: Backend) {
    let app = app_with(
        backend,
        Limits {
            max_complexity: 30,
            ..Limits::default()
        },
    )
    .await;
    crate::fixtures::broker(&app.db, "costly", "Costly Broker").await;
    let data = assert_accepted(&app, &format!("{{ {COSTS_30} }}")).await;
    assert_eq!(data["brokers"]["edges"][0]["node"]["name"], "Costly Broker");
    // One more root connection of one item with one field: 1 × 1, so 31.
    assert_refused(
        &app,
        &format!("{{ {COSTS_30} organizations(first: 1) {{ totalCount }} }}"),
        "MAX_COMPLEXITY_EXCEEDED",
    )
    .await;
    // A page size passed in a variable counts as much as a literal one.
    let by_variable = "query Page($n: Int) { brokers(first: $n) { totalCount } }";
    assert_accepted_with(&app, by_variable, json!({ "n": 30 })).await;
    assert_refused_with(
        &app,
        by_variable,
        json!({ "n": 31 }),
        "MAX_COMPLEXITY_EXCEEDED",
    )
    .await;
}

async fn should_refuse_a_query_with_one_alias_over_max_aliases(backend: Backend) {
    let app = app_with(
        backend,
        Limits {
            max_aliases: 3,
            ..Limits::default()
        },
    )
    .await;
    let data = assert_accepted(
        &app,
        "{ brokers { a: totalCount b: totalCount c: totalCount } }",
    )
    .await;
    assert_eq!(data["brokers"], json!({ "a": 0, "b": 0, "c": 0 }));
    assert_refused(
        &app,
        "{ brokers { a: totalCount b: totalCount c: totalCount d: totalCount } }",
        "MAX_ALIASES_EXCEEDED",
    )
    .await;
    // Aliases inside fragments count too.
    assert_refused(
        &app,
        "{ brokers { a: totalCount b: totalCount ...More } }
         fragment More on BrokerConnection { c: totalCount d: totalCount }",
        "MAX_ALIASES_EXCEEDED",
    )
    .await;
}

async fn should_refuse_an_operation_with_one_root_field_over_max_root_fields(backend: Backend) {
    let app = app_with(
        backend,
        Limits {
            max_root_fields: 3,
            ..Limits::default()
        },
    )
    .await;
    assert_accepted(
        &app,
        "{ brokers { totalCount } organizations { totalCount } users { totalCount } }",
    )
    .await;
    assert_refused(
        &app,
        "{ brokers { totalCount } organizations { totalCount } users { totalCount } services { totalCount } }",
        "MAX_ROOT_FIELDS_EXCEEDED",
    )
    .await;
    // Root fields spread from a fragment count as root fields.
    assert_refused(
        &app,
        "{ brokers { totalCount } ...Roots }
         fragment Roots on Query { organizations { totalCount } users { totalCount } services { totalCount } }",
        "MAX_ROOT_FIELDS_EXCEEDED",
    )
    .await;
}

async fn should_refuse_a_field_with_one_directive_over_max_directives(backend: Backend) {
    let app = app_with(
        backend,
        Limits {
            max_directives: 2,
            ..Limits::default()
        },
    )
    .await;
    let data = assert_accepted(
        &app,
        "{ brokers { totalCount @include(if: true) @skip(if: false) } }",
    )
    .await;
    assert_eq!(data["brokers"]["totalCount"], 0);
    // The limit is checked while parsing, before validation would object to the repeated
    // `@include` (only `@include` and `@skip` apply to fields, neither is repeatable).
    assert_refused(
        &app,
        "{ brokers { totalCount @include(if: true) @skip(if: false) @include(if: true) } }",
        "MAX_DIRECTIVES_EXCEEDED",
    )
    .await;
}

/// `query` padded with trailing whitespace to exactly `bytes` bytes.
fn padded(query: &str, bytes: usize) -> String {
    let text = format!("{query}{}", " ".repeat(bytes - query.len()));
    assert_eq!(text.len(), bytes);
    text
}

async fn should_refuse_a_query_document_one_byte_over_max_query_bytes(backend: Backend) {
    let app = app_with(
        backend,
        Limits {
            max_query_bytes: 64,
            ..Limits::default()
        },
    )
    .await;
    let query = "{ brokers { totalCount } }";
    assert_accepted(&app, &padded(query, 64)).await;
    assert_refused(&app, &padded(query, 65), "MAX_QUERY_SIZE_EXCEEDED").await;
    // Bytes, not characters: 61 characters, 65 bytes.
    let accented = format!("{query} # {}", "é".repeat(4));
    let accented = format!("{accented}{}", " ".repeat(65 - accented.len()));
    assert_eq!(accented.len(), 65);
    assert!(accented.chars().count() < 64);
    assert_refused(&app, &accented, "MAX_QUERY_SIZE_EXCEEDED").await;
}

// --- fragment expansion -----------------------------------------------------------------------

/// `query { ...F<n> }`, where `F0` is `root` and every other fragment spreads the one below it
/// twice: `2^n` copies of `root` from a document of about 40 bytes a fragment.
pub(crate) fn fan_out(n: usize, root: &str) -> String {
    let mut query = format!("query {{ ...F{n} }}\nfragment F0 on Query {{ {root} }}\n");
    for i in 1..=n {
        query.push_str(&format!(
            "fragment F{i} on Query {{ ...F{below} ...F{below} }}\n",
            below = i - 1
        ));
    }
    query
}

/// The same fan-out, each fragment spreading the one below through two inline fragments.
fn inline_fan_out(n: usize) -> String {
    let mut query = format!(
        "query {{ ...F{n} }}\nfragment F0 on Query {{ brokers(first: 1) {{ totalCount }} }}\n"
    );
    for i in 1..=n {
        query.push_str(&format!(
            "fragment F{i} on Query {{ ... on Query {{ ...F{below} }} ... {{ ...F{below} }} }}\n",
            below = i - 1
        ));
    }
    query
}

/// `query { ...F<n> }` where each fragment spreads only the one below it.
fn fragment_chain(n: usize) -> String {
    let mut query = format!(
        "query {{ ...F{n} }}\nfragment F0 on Query {{ brokers(first: 1) {{ totalCount }} }}\n"
    );
    for i in 1..=n {
        query.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i - 1));
    }
    query
}

/// A hang guard, not the proof (the code is): a refusal that expanded the document would take
/// minutes.
const QUICKLY: std::time::Duration = std::time::Duration::from_secs(2);

async fn assert_refused_quickly(app: &TestApp, query: &str, code: &str) {
    let started = std::time::Instant::now();
    assert_refused(app, query, code).await;
    assert!(started.elapsed() < QUICKLY, "took {:?}", started.elapsed());
}

async fn should_refuse_a_fragment_fan_out_with_max_fields_exceeded_before_expanding_it(
    backend: Backend,
) {
    let app = app_with(backend, Limits::default()).await;
    let query = fan_out(27, "brokers(first: 1) { totalCount }");
    assert!(query.len() < 1500, "{}", query.len());
    assert_refused_quickly(&app, &query, "MAX_FIELDS_EXCEEDED").await;
    // Inline fragments add a level each: 15 levels of them stay within the recursion bound.
    assert_refused_quickly(&app, &inline_fan_out(15), "MAX_FIELDS_EXCEEDED").await;
    // A fan-out as deep as async-graphql's recursion bound allows, and one spreading 64 times.
    assert_refused_quickly(
        &app,
        &fan_out(30, "brokers { totalCount }"),
        "MAX_FIELDS_EXCEEDED",
    )
    .await;
    let mut wide =
        String::from("query { ...F9 }\nfragment F0 on Query { brokers { totalCount } }\n");
    for i in 1..=9 {
        let spreads = format!("...F{} ", i - 1).repeat(64);
        wide.push_str(&format!("fragment F{i} on Query {{ {spreads}}}\n"));
    }
    assert_refused_quickly(&app, &wide, "MAX_FIELDS_EXCEEDED").await;
    // Nesting beyond the recursion bound through a long chain of single spreads.
    assert_refused_quickly(&app, &fragment_chain(500), "MAX_DEPTH_EXCEEDED").await;
    // A cycle ends the count instead of looping (even one that also fans out).
    assert_refused_quickly(
        &app,
        "query { ...A } fragment A on Query { brokers { totalCount } ...B ...B } fragment B on Query { ...A ...A }",
        "GRAPHQL_VALIDATION_FAILED",
    )
    .await;
    // A small fan-out runs, fragments merged as usual.
    let data = assert_accepted(&app, &fan_out(4, "brokers(first: 1) { totalCount }")).await;
    assert_eq!(data["brokers"]["totalCount"], 0);
}

async fn should_refuse_an_operation_one_field_over_max_fields(backend: Backend) {
    let app = app_with(
        backend,
        Limits {
            max_fields: 15,
            ..Limits::default()
        },
    )
    .await;
    // F0 reaches 2 fields, F1 its 2 spreads and 2 × 2 fields, F2 its 2 spreads and 2 × 6:
    // 14, and the operation's spread 15. Every spread counts, like every field, each time the
    // expansion reaches it.
    let query = fan_out(2, "brokers { totalCount }");
    assert_accepted(&app, &query).await;
    let one_more = query.replacen("{ ...F2 }", "{ ...F2 __typename }", 1);
    assert_refused(&app, &one_more, "MAX_FIELDS_EXCEEDED").await;
}

/// Runs `query` over a real WebSocket (`graphql-transport-ws`) as a platform admin; returns
/// the payload of the server's first answer (`next` or `error`) to it.
pub(crate) async fn over_websocket(app: &TestApp, query: &str, variables: Value) -> Value {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let address = listener.local_addr().expect("local address");
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut request = format!("ws://{address}/graphql/ws")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the handshake succeeds");
    let token = crate::support::platform_admin();
    for message in [
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
        json!({ "type": "subscribe", "id": "1", "payload": { "query": query, "variables": variables } }),
    ] {
        socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("the server answers")
            .expect("the socket stays open")
            .expect("a message");
        let Message::Text(text) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
        if matches!(message["type"].as_str(), Some("next" | "error")) {
            return message["payload"].clone();
        }
    }
}

async fn should_refuse_a_fragment_fan_out_over_websocket(backend: Backend) {
    let app = app_with(backend, Limits::default()).await;
    let started = std::time::Instant::now();
    let payload = over_websocket(
        &app,
        &fan_out(27, "brokers(first: 1) { totalCount }"),
        json!({}),
    )
    .await;
    assert!(started.elapsed() < QUICKLY, "took {:?}", started.elapsed());
    assert_eq!(
        crate::support::errors_codes(&payload),
        ["MAX_FIELDS_EXCEEDED"],
        "{payload}"
    );
    assert!(payload.get("data").is_none_or(Value::is_null), "{payload}");
    // And the playground's introspection query still runs there.
    let payload = over_websocket(&app, INTROSPECTION_QUERY, json!({})).await;
    assert!(payload.get("errors").is_none(), "{payload}");
    assert_eq!(payload["data"]["__schema"]["queryType"]["name"], "Query");
}

// --- the defaults -------------------------------------------------------------------------

#[test]
fn should_default_to_the_documented_limits() {
    let limits = Limits::default();
    assert_eq!(limits.max_depth, 15);
    assert_eq!(limits.max_fields, 2_000);
    assert_eq!(limits.max_complexity, 50_000);
    assert_eq!(limits.max_aliases, 30);
    assert_eq!(limits.max_root_fields, 20);
    assert_eq!(limits.max_directives, 10);
    assert_eq!(limits.max_query_bytes, 32 * 1024);
    assert_eq!(limits.request_timeout_seconds, 30);
    assert!(limits.introspection);
    assert_eq!(HttpConfig::default().max_batch_size, 10);
}

/// `organizations(first: 1) { edges { node { tenant { organization { tenant … } } } } }`,
/// exactly `depth` fields deep counting the leaf: the three levels of the connection, then
/// `tenant` and `organization` in turn, then a leaf.
fn chain(depth: usize) -> String {
    let links = depth - 4;
    let mut query = String::from("{ organizations(first: 1) { edges { node { ");
    for link in 0..links {
        query.push_str(if link % 2 == 0 {
            "tenant { "
        } else {
            "organization { "
        });
    }
    query.push_str(if links % 2 == 1 {
        "microsoftTenantId"
    } else {
        "name"
    });
    query.push_str(&" }".repeat(links + 4));
    query
}

/// `count` fields of the form `{name}{i}: {field}`.
fn aliased(name: &str, field: &str, count: usize) -> String {
    (0..count)
        .map(|i| format!("{name}{i}: {field}"))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn should_apply_the_default_limits_at_their_bounds(backend: Backend) {
    let app = app_with(backend, Limits::default()).await;
    let defaults = Limits::default();

    assert_accepted(&app, &chain(defaults.max_depth)).await;
    assert_refused(&app, &chain(defaults.max_depth + 1), "MAX_DEPTH_EXCEEDED").await;

    let aliases = |count| {
        format!(
            "{{ brokers(first: 1) {{ {} }} }}",
            aliased("a", "totalCount", count)
        )
    };
    assert_accepted(&app, &aliases(defaults.max_aliases)).await;
    assert_refused(
        &app,
        &aliases(defaults.max_aliases + 1),
        "MAX_ALIASES_EXCEEDED",
    )
    .await;

    let roots = |count| {
        format!(
            "{{ {} }}",
            aliased("r", "brokers(first: 1) { totalCount }", count)
        )
    };
    assert_accepted(&app, &roots(defaults.max_root_fields)).await;
    assert_refused(
        &app,
        &roots(defaults.max_root_fields + 1),
        "MAX_ROOT_FIELDS_EXCEEDED",
    )
    .await;

    // Ten directives on one field cannot pass validation (no executable directive is
    // repeatable), so only the step over the bound is checked here.
    let directives = ["@include(if: true)", "@skip(if: false)"]
        .iter()
        .cycle()
        .take(defaults.max_directives + 1)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    assert_refused(
        &app,
        &format!("{{ brokers {{ totalCount {directives} }} }}"),
        "MAX_DIRECTIVES_EXCEEDED",
    )
    .await;

    let query = "{ brokers { totalCount } }";
    assert_accepted(&app, &padded(query, defaults.max_query_bytes)).await;
    assert_refused(
        &app,
        &padded(query, defaults.max_query_bytes + 1),
        "MAX_QUERY_SIZE_EXCEEDED",
    )
    .await;
}

/// graphql-js 16's `getIntrospectionQuery({ descriptions: true, specifiedByUrl: true,
/// directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true })`, what
/// GraphiQL sends. async-graphql counts it 14 fields deep (`__schema`, `types`, `fields`,
/// `args`, `type`, eight `ofType`, `kind`) and at a complexity of 208 on this schema.
const INTROSPECTION_QUERY: &str = include_str!("../fixtures/introspection.graphql");

async fn should_pass_the_playground_introspection_query_under_default_limits(backend: Backend) {
    let app = app_with(backend, Limits::default()).await;
    let response = post(&app, INTROSPECTION_QUERY, json!({})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(
        response.body.get("errors").is_none(),
        "{}",
        response.body["errors"]
    );
    let schema = &response.body["data"]["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    let types = schema["types"].as_array().expect("types");
    assert!(!types.is_empty());
    assert!(types.iter().any(|t| t["name"] == "Broker"), "{types:?}");
    // The deepest wrapper it asks for resolves: `[Role!]!`-like types unwrap through ofType.
    assert!(
        types
            .iter()
            .flat_map(|t| t["fields"].as_array().into_iter().flatten())
            .any(|field| field["type"]["kind"] == "NON_NULL"
                && field["type"]["ofType"]["name"].is_string())
    );
}

/// `copies` aliased `__schema { types { ...FullType } }` selections, with the playground's
/// fragments.
fn aliased_introspection(copies: usize) -> String {
    let fragments = &INTROSPECTION_QUERY[INTROSPECTION_QUERY
        .find("fragment FullType")
        .expect("the FullType fragment")..];
    let selections = aliased("s", "__schema { types { ...FullType } }", copies);
    format!("query {{ {selections} }}\n{fragments}")
}

async fn should_cost_introspection_by_what_it_answers(backend: Backend) {
    // Fields and aliases allowed in plenty, so that complexity alone refuses.
    let app = app_with(
        backend,
        Limits {
            max_fields: 1_000_000,
            ..Limits::default()
        },
    )
    .await;
    let response = post(&app, &aliased_introspection(1), json!({})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(response.body.get("errors").is_none(), "{}", response.body);
    // Twenty copies answered 2 MB for an 8.5 KB document; async-graphql counts them at 4,000.
    let query = aliased_introspection(20);
    assert!(query.len() < 10 * 1024, "{}", query.len());
    app.reset_statements();
    let response = post(&app, &query, json!({})).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert_eq!(
        response.codes(),
        ["MAX_COMPLEXITY_EXCEEDED"],
        "{}",
        response.body
    );
    assert!(response.body.get("data").is_none(), "{}", response.body);
    // Under the default limits the twenty copies are refused too, before anything runs.
    let app = app_with(backend, Limits::default()).await;
    let response = post(&app, &query, json!({})).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert!(response.body.to_string().len() < 1024, "{}", response.body);
}

async fn should_pass_a_realistic_dashboard_query_under_default_limits(backend: Backend) {
    let app = app_with(backend, Limits::default()).await;
    let broker = crate::fixtures::broker(&app.db, "dash", "Dashboard Broker").await;
    let organization = crate::fixtures::organization(&app.db, &broker, "Contoso", "DE").await;
    let tenant = crate::fixtures::tenant(&app.db, &organization).await;
    crate::fixtures::user(
        &app.db,
        &organization,
        "ada@contoso.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    // 10 fields deep; costs 6,252: users(first: 20) 20 × 6 = 120, an organization 1 + name 1
    // + tenant 2 + 120 = 124, its edge 125, organizations(first: 50) 50 × 125 = 6,250, and
    // the broker's node and edge 2 more, times brokers(first: 1).
    let data = assert_accepted(
        &app,
        "{ brokers(first: 1) { edges { node { organizations(first: 50) { edges { node { name tenant { microsoftTenantId } users(first: 20) { edges { node { uuid email displayName role } } } } } } } } } }",
    )
    .await;
    let organization = &data["brokers"]["edges"][0]["node"]["organizations"]["edges"][0]["node"];
    assert_eq!(organization["name"], "Contoso");
    assert_eq!(
        organization["tenant"]["microsoftTenantId"],
        tenant.microsoft_tenant_id.to_string()
    );
    let user = &organization["users"]["edges"][0]["node"];
    assert_eq!(user["email"], "ada@contoso.example");
    assert_eq!(user["role"], "ORGANIZATION_ADMIN");
}

async fn should_refuse_a_hundred_by_hundred_by_hundred_query_under_default_limits(
    backend: Backend,
) {
    let app = app_with(backend, Limits::default()).await;
    // Costs 1,020,200: users(first: 100) { totalCount } 100, an organization 101, its edge
    // 102, organizations(first: 100) 10,200, a broker's node and edge 10,202, brokers(first:
    // 100) 1,020,200 (the default allows 50,000).
    assert_refused(
        &app,
        "{ brokers(first: 100) { edges { node { organizations(first: 100) { edges { node { users(first: 100) { totalCount } } } } } } } }",
        "MAX_COMPLEXITY_EXCEEDED",
    )
    .await;
}

async fn should_accept_a_batch_of_exactly_the_default_max_batch_size(backend: Backend) {
    let app = app_with(backend, Limits::default()).await;
    let batch = vec![
        json!({ "query": "{ brokers { totalCount } }" });
        HttpConfig::default().max_batch_size
    ];
    let response = app.post_json(&Value::Array(batch)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let answers = response.body.as_array().expect("an array");
    assert_eq!(answers.len(), HttpConfig::default().max_batch_size);
    for answer in answers {
        assert_eq!(answer["data"]["brokers"]["totalCount"], 0, "{answer}");
        assert!(answer.get("errors").is_none(), "{answer}");
    }
}

async fn should_apply_operation_limits_to_each_operation_of_a_batch(backend: Backend) {
    let app = app_with(backend, Limits::default()).await;
    let response = app
        .post_json(&json!([
            { "query": "{ brokers { totalCount } }" },
            { "query": chain(Limits::default().max_depth + 1) },
        ]))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let answers = response.body.as_array().expect("an array");
    assert_eq!(answers[0]["data"]["brokers"]["totalCount"], 0);
    assert_eq!(
        crate::support::errors_codes(&answers[1]),
        ["MAX_DEPTH_EXCEEDED"]
    );
    assert!(answers[1].get("data").is_none(), "{}", answers[1]);
}

// --- batches ------------------------------------------------------------------------------

async fn should_accept_exactly_max_batch_size_operations_and_refuse_one_more(backend: Backend) {
    let setup = Setup {
        http: HttpConfig {
            max_batch_size: 3,
            ..HttpConfig::default()
        },
        ..Setup::default()
    };
    let app = spawn_app_with(backend, setup).await.expect("configured");
    let one = json!({ "query": "{ brokers { totalCount } }" });

    app.reset_statements();
    let response = app.post_json(&json!([one, one, one])).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let answers = response.body.as_array().expect("an array");
    assert_eq!(answers.len(), 3);
    assert!(
        answers
            .iter()
            .all(|answer| answer["data"]["brokers"]["totalCount"] == 0)
    );
    assert!(app.statement_count() >= 3);

    app.reset_statements();
    let response = app.post_json(&json!([one, one, one, one])).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.codes(), ["BATCH_LIMIT_EXCEEDED"]);
    assert!(response.body.get("data").is_none());
    assert_eq!(
        app.statement_count(),
        0,
        "no operation of a refused batch runs"
    );
}

// --- introspection off ----------------------------------------------------------------------

fn no_introspection() -> Limits {
    Limits {
        introspection: false,
        ..Limits::default()
    }
}

async fn should_refuse_schema_introspection_when_introspection_is_off(backend: Backend) {
    let app = app_with(backend, no_introspection()).await;
    for query in [
        "{ __schema { types { name } } }",
        r#"{ __type(name: "Broker") { name fields { name } } }"#,
        INTROSPECTION_QUERY,
    ] {
        let response = post(&app, query, json!({})).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            response.body
        );
        assert_eq!(
            response.codes(),
            ["GRAPHQL_VALIDATION_FAILED"],
            "{}",
            response.body
        );
        assert!(response.body.get("data").is_none(), "{}", response.body);
    }
}

async fn should_not_suggest_field_names_when_introspection_is_off(backend: Backend) {
    let typo = "{ brokers { totalCont } }";
    let response = post(&app_with(backend, Limits::default()).await, typo, json!({})).await;
    let message = response.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("Did you mean"),
        "with introspection on, suggestions are given: {message}"
    );

    let app = app_with(backend, no_introspection()).await;
    let response = post(&app, typo, json!({})).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.codes(), ["GRAPHQL_VALIDATION_FAILED"]);
    let message = response.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("totalCont"), "{message}");
    assert!(
        !message.contains("Did you mean") && !message.contains("totalCount"),
        "no field name may leak: {message}"
    );
}

async fn should_not_serve_the_playground_when_introspection_is_off(backend: Backend) {
    let app = app_with(backend, no_introspection()).await;
    let page = app
        .send(Request::get("/").body(Body::empty()).expect("request"))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let health = app
        .send(
            Request::get("/healthz")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(health.status, StatusCode::OK);
    crate::fixtures::broker(&app.db, "still", "Still Served").await;
    let data = assert_accepted(&app, "{ brokers { totalCount edges { node { name } } } }").await;
    assert_eq!(data["brokers"]["totalCount"], 1);
    assert_eq!(data["brokers"]["edges"][0]["node"]["name"], "Still Served");
}

backend_tests!(
    should_refuse_a_fragment_fan_out_with_max_fields_exceeded_before_expanding_it,
    should_refuse_an_operation_one_field_over_max_fields,
    should_refuse_a_fragment_fan_out_over_websocket,
    should_refuse_a_query_one_level_deeper_than_max_depth,
    should_refuse_a_query_one_point_over_max_complexity,
    should_refuse_a_query_with_one_alias_over_max_aliases,
    should_refuse_an_operation_with_one_root_field_over_max_root_fields,
    should_refuse_a_field_with_one_directive_over_max_directives,
    should_refuse_a_query_document_one_byte_over_max_query_bytes,
    should_accept_exactly_max_batch_size_operations_and_refuse_one_more,
    should_refuse_schema_introspection_when_introspection_is_off,
    should_not_suggest_field_names_when_introspection_is_off,
    should_not_serve_the_playground_when_introspection_is_off,
    should_apply_the_default_limits_at_their_bounds,
    should_pass_the_playground_introspection_query_under_default_limits,
    should_pass_a_realistic_dashboard_query_under_default_limits,
    should_cost_introspection_by_what_it_answers,
    should_refuse_a_hundred_by_hundred_by_hundred_query_under_default_limits,
    should_accept_a_batch_of_exactly_the_default_max_batch_size,
    should_apply_operation_limits_to_each_operation_of_a_batch,
);
