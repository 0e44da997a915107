//! Persisted operations (issue 15 item 3) and the document cache (issue 12 item 4): Apollo's
//! automatic persisted queries over POST and GET, stored in the database; trusted documents
//! by `documentId` and by hash, with `--require-trusted-documents` over every transport.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use brokergraph::graphql::exec::documents::{DocumentsConfig, Manifest, sha256, to_hex};
use brokergraph::http::HttpConfig;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::{
    Backend, Setup, TestApp, TestResponse, encode, platform_admin, spawn_app_with,
};
use crate::websocket::{initialised, receive_json, send, serve};

const BROKERS: &str = "query Brokers { brokers { totalCount edges { node { slug } } } }";
const USERS: &str = "{ users { totalCount } }";

fn hash(text: &str) -> String {
    to_hex(&sha256(text))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn app(backend: Backend, documents: DocumentsConfig) -> TestApp {
    let setup = Setup {
        http: HttpConfig {
            documents,
            ..HttpConfig::default()
        },
        ..Setup::default()
    };
    let app = spawn_app_with(backend, setup).await.expect("configured");
    crate::fixtures::broker(&app.db, "only", "Only Broker").await;
    app
}

async fn get(app: &TestApp, parameters: &[(&str, String)]) -> TestResponse {
    let query: Vec<String> = parameters
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    let uri = format!("/graphql?{}", query.join("&"));
    app.admin()
        .send(Request::get(uri).body(Body::empty()).expect("request"))
        .await
}

fn message_and_code(response: &TestResponse) -> (String, String) {
    let error = &response.body["errors"][0];
    (
        error["message"].as_str().unwrap_or_default().to_string(),
        error["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// The APQ round trip as Apollo's link runs it, with the cache off so that the replay reads
/// the database (what another replica would do).
async fn should_register_a_query_by_post_and_replay_it_by_hash_over_get(backend: Backend) {
    let app = app(
        backend,
        DocumentsConfig {
            cache_size: 0,
            ..DocumentsConfig::default()
        },
    )
    .await;
    let id = hash(BROKERS);
    // The hash alone, before any registration: Apollo's answer, 200 with its message.
    let unknown = app
        .post_json(&json!({ "extensions": persisted(&id) }))
        .await;
    assert_eq!(unknown.status, StatusCode::OK, "{}", unknown.body);
    assert_eq!(
        message_and_code(&unknown),
        (
            "PersistedQueryNotFound".into(),
            "PERSISTED_QUERY_NOT_FOUND".into()
        )
    );
    assert!(unknown.body.get("data").is_none(), "{}", unknown.body);
    let extensions = persisted(&id).to_string();
    let unknown_over_get = get(&app, &[("extensions", extensions.clone())]).await;
    assert_eq!(unknown_over_get.codes(), ["PERSISTED_QUERY_NOT_FOUND"]);
    assert_eq!(
        unknown_over_get.headers[header::CACHE_CONTROL],
        "private, no-cache, must-revalidate"
    );
    // The hash with its document registers it, and runs it.
    let registered = app
        .post_json(&json!({ "query": BROKERS, "extensions": persisted(&id) }))
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
    assert_eq!(registered.body["data"]["brokers"]["totalCount"], 1);
    let rows = entity::persisted_query::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].hash.as_str(), rows[0].document.as_str()),
        (id.as_str(), BROKERS)
    );
    // Registering it again is no error and no second row.
    let again = app
        .post_json(&json!({ "query": BROKERS, "extensions": persisted(&id) }))
        .await;
    assert_eq!(again.body, registered.body);
    assert_eq!(
        entity::persisted_query::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1
    );
    // Then the hash alone, over GET (what a CDN sees) and POST, answers what the text did.
    let replayed = get(&app, &[("extensions", extensions.clone())]).await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    assert_eq!(replayed.body, registered.body);
    assert_eq!(
        replayed.headers[header::CACHE_CONTROL],
        "private, no-cache, must-revalidate"
    );
    let named = get(
        &app,
        &[
            ("extensions", extensions),
            ("operationName", "Brokers".into()),
        ],
    )
    .await;
    assert_eq!(named.body, registered.body);
    let over_post = app
        .post_json(&json!({ "extensions": persisted(&id) }))
        .await;
    assert_eq!(over_post.body, registered.body);
    let null_query = app
        .post_json(&json!({ "query": null, "extensions": persisted(&id) }))
        .await;
    assert_eq!(null_query.body, registered.body);
}

async fn should_refuse_a_hash_that_does_not_match_and_a_bad_version(backend: Backend) {
    let app = app(backend, DocumentsConfig::default()).await;
    let mismatch = app
        .post_json(&json!({ "query": BROKERS, "extensions": persisted(&hash(USERS)) }))
        .await;
    assert_eq!(
        mismatch.status,
        StatusCode::BAD_REQUEST,
        "{}",
        mismatch.body
    );
    assert_eq!(
        message_and_code(&mismatch),
        (
            "provided sha does not match query".into(),
            "PERSISTED_QUERY_HASH_MISMATCH".into()
        )
    );
    // Nothing was registered under either hash.
    assert_eq!(
        entity::persisted_query::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    let version = app
        .post_json(&json!({ "query": BROKERS, "extensions":
            { "persistedQuery": { "version": 2, "sha256Hash": hash(BROKERS) } } }))
        .await;
    assert_eq!(version.status, StatusCode::BAD_REQUEST);
    assert_eq!(version.codes(), ["PERSISTED_QUERY_VERSION_NOT_SUPPORTED"]);
    for malformed in [
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
        json!({ "persistedQuery": { "version": 1 } }),
        json!({ "persistedQuery": "yes" }),
    ] {
        let response = app.post_json(&json!({ "extensions": malformed })).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{malformed}");
        assert_eq!(response.codes(), ["BAD_REQUEST"], "{malformed}");
    }
    // A document refused by a limit is not registered.
    let aliased: String = (0..40).map(|i| format!("a{i}: __typename ")).collect();
    let aliased = format!("{{ {aliased} }}");
    let refused = app
        .post_json(&json!({ "query": aliased, "extensions": persisted(&hash(&aliased)) }))
        .await;
    assert_eq!(refused.codes(), ["MAX_ALIASES_EXCEEDED"]);
    let replay = app
        .post_json(&json!({ "extensions": persisted(&hash(&aliased)) }))
        .await;
    assert_eq!(
        replay.codes(),
        ["MAX_ALIASES_EXCEEDED"],
        "the cache keeps the refusal"
    );
    assert_eq!(
        entity::persisted_query::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
}

/// A manifest as GraphQL Code Generator's client preset writes it.
fn manifest() -> Arc<Manifest> {
    let json = json!({ hash(BROKERS): BROKERS }).to_string();
    Arc::new(Manifest::parse(&json).expect("a valid manifest"))
}

fn trusted(require: bool) -> DocumentsConfig {
    DocumentsConfig {
        trusted: Some(manifest()),
        require_trusted: require,
        ..DocumentsConfig::default()
    }
}

async fn should_run_only_trusted_documents_when_they_are_required(backend: Backend) {
    let app = app(backend, trusted(true)).await;
    let expected = json!({ "data": { "brokers": { "totalCount": 1, "edges": [{ "node": { "slug": "only" } }] } } });
    // An ad-hoc query is refused, over POST, GET and in a batch, and cannot be registered.
    let ad_hoc = app.post_json(&json!({ "query": USERS })).await;
    assert_eq!(ad_hoc.status, StatusCode::BAD_REQUEST, "{}", ad_hoc.body);
    assert_eq!(ad_hoc.codes(), ["PERSISTED_QUERY_REQUIRED"]);
    assert!(ad_hoc.body.get("data").is_none());
    let over_get = get(&app, &[("query", USERS.into())]).await;
    assert_eq!(over_get.codes(), ["PERSISTED_QUERY_REQUIRED"]);
    let registration = app
        .post_json(&json!({ "query": USERS, "extensions": persisted(&hash(USERS)) }))
        .await;
    assert_eq!(registration.codes(), ["PERSISTED_QUERY_REQUIRED"]);
    assert_eq!(
        entity::persisted_query::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    let unknown = app.post_json(&json!({ "documentId": hash(USERS) })).await;
    assert_eq!(unknown.codes(), ["PERSISTED_QUERY_NOT_FOUND"]);
    let unknown = app
        .post_json(&json!({ "extensions": persisted(&hash(USERS)) }))
        .await;
    assert_eq!(unknown.codes(), ["PERSISTED_QUERY_NOT_FOUND"]);
    // The manifest's document runs by documentId (bare and prefixed), by hash, and as text.
    for body in [
        json!({ "documentId": hash(BROKERS) }),
        json!({ "documentId": format!("sha256:{}", hash(BROKERS)) }),
        json!({ "extensions": persisted(&hash(BROKERS)) }),
        json!({ "query": BROKERS }),
    ] {
        let response = app.post_json(&body).await;
        assert_eq!(response.status, StatusCode::OK, "{body}: {}", response.body);
        assert_eq!(response.body, expected, "{body}");
    }
    let by_get = get(&app, &[("documentId", hash(BROKERS))]).await;
    assert_eq!(by_get.body, expected);
    let batch = app
        .post_json(&json!([{ "documentId": hash(BROKERS) }, { "query": USERS }]))
        .await;
    assert_eq!(batch.body[0], expected, "{}", batch.body);
    assert_eq!(
        crate::support::errors_codes(&batch.body[1]),
        ["PERSISTED_QUERY_REQUIRED"]
    );
    // Both names at once are refused.
    let both = app
        .post_json(&json!({ "query": BROKERS, "documentId": hash(BROKERS) }))
        .await;
    assert_eq!(both.codes(), ["BAD_REQUEST"]);
}

async fn should_run_trusted_and_ad_hoc_documents_when_trust_is_not_required(backend: Backend) {
    let app = app(backend, trusted(false)).await;
    let response = app.post_json(&json!({ "documentId": hash(BROKERS) })).await;
    assert_eq!(
        response.body["data"]["brokers"]["totalCount"], 1,
        "{}",
        response.body
    );
    let ad_hoc = app.post_json(&json!({ "query": USERS })).await;
    assert_eq!(ad_hoc.status, StatusCode::OK);
    assert!(ad_hoc.body.get("errors").is_none(), "{}", ad_hoc.body);
}

async fn should_refuse_an_untrusted_operation_over_the_websocket(backend: Backend) {
    let app = app(backend, trusted(true)).await;
    let url = serve(&app).await;
    let mut socket = initialised(&url, &platform_admin()).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": USERS } }),
    )
    .await;
    let refused = receive_json(&mut socket).await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_REQUIRED",
        "{refused}"
    );
    assert_eq!(receive_json(&mut socket).await["type"], "complete");
    // The trusted document runs by hash and as text.
    for (id, payload) in [
        (
            "2",
            json!({ "query": "", "extensions": persisted(&hash(BROKERS)) }),
        ),
        ("3", json!({ "query": BROKERS })),
    ] {
        send(
            &mut socket,
            json!({ "type": "subscribe", "id": id, "payload": payload }),
        )
        .await;
        let next = receive_json(&mut socket).await;
        assert_eq!(next["type"], "next", "{next}");
        assert_eq!(
            next["payload"]["data"]["brokers"]["totalCount"], 1,
            "{next}"
        );
        let complete = receive_json(&mut socket).await;
        assert_eq!(complete["type"], "complete", "{complete}");
    }
}

/// The cache answers what a parse would: the same data, and the same refusals with the same
/// codes and messages, on repeat and with the cache off.
async fn should_answer_the_same_from_the_document_cache(backend: Backend) {
    let cached = app(backend, DocumentsConfig::default()).await;
    let uncached = app(
        backend,
        DocumentsConfig {
            cache_size: 0,
            ..DocumentsConfig::default()
        },
    )
    .await;
    let aliased: String = (0..40).map(|i| format!("a{i}: __typename ")).collect();
    let deep = format!(
        "{{{}{}",
        "brokers { edges { node { ".repeat(6) + "slug ",
        "}".repeat(19)
    );
    for body in [
        json!({ "query": BROKERS }),
        json!({ "query": format!("{{ {aliased} }}") }),
        json!({ "query": deep }),
        json!({ "query": "{ brokers { nope } }" }),
        json!({ "query": "{ brokers " }),
        json!({ "query": "query Q($n: Int) { brokers(first: $n) { totalCount } }", "variables": { "n": 1 } }),
        json!({ "query": "query Q($n: Int) { brokers(first: $n) { totalCount } }", "variables": { "n": "x" } }),
    ] {
        let first = cached.post_json(&body).await;
        let second = cached.post_json(&body).await;
        let without = uncached.post_json(&body).await;
        assert_eq!(first.status, second.status, "{body}");
        assert_eq!(first.body, second.body, "{body}");
        assert_eq!(first.status, without.status, "{body}");
        assert_eq!(first.body, without.body, "{body}");
    }
    // The refusals are the limits' own, with their codes.
    let aliased = cached
        .post_json(&json!({ "query": format!("{{ {aliased} }}") }))
        .await;
    assert_eq!(aliased.codes(), ["MAX_ALIASES_EXCEEDED"]);
    let deep = cached.post_json(&json!({ "query": deep })).await;
    assert_eq!(deep.codes(), ["MAX_DEPTH_EXCEEDED"]);
}

backend_tests!(
    should_register_a_query_by_post_and_replay_it_by_hash_over_get,
    should_refuse_a_hash_that_does_not_match_and_a_bad_version,
    should_run_only_trusted_documents_when_they_are_required,
    should_run_trusted_and_ad_hoc_documents_when_trust_is_not_required,
    should_refuse_an_untrusted_operation_over_the_websocket,
    should_answer_the_same_from_the_document_cache,
);
