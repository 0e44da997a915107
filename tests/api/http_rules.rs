//! The GraphQL-over-HTTP rules: media types, status codes, limits, GET, batches, health.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use brokergraph::http::HttpConfig;
use serde_json::json;

use crate::db_tests;
use crate::support::{Backend, Setup, TestApp, spawn_app_with};

const QUERY: &str = "{ brokers { totalCount } }";

async fn should_answer_application_json_unless_graphql_response_json_is_accepted(app: TestApp) {
    for accept in [
        Some("*/*"),
        Some("application/json"),
        Some("text/html, */*;q=0.8"),
    ] {
        let mut request =
            Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let body = Body::from(json!({ "query": QUERY }).to_string());
        let response = app.admin().send(request.body(body).unwrap()).await;
        assert_eq!(response.status, StatusCode::OK, "{accept:?}");
        assert!(
            response.content_type().starts_with("application/json"),
            "{accept:?}"
        );
    }
    // No `Accept` at all: graphql-response+json, as the specification asks since 2025.
    for accept in [
        None,
        Some("application/graphql-response+json"),
        Some("application/graphql-response+json, application/json;q=0.9"),
    ] {
        let mut request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8");
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let request = request
            .body(Body::from(json!({ "query": QUERY }).to_string()))
            .unwrap();
        let response = app.admin().send(request).await;
        assert_eq!(response.status, StatusCode::OK);
        assert!(
            response
                .content_type()
                .starts_with("application/graphql-response+json"),
            "{accept:?}"
        );
        assert_eq!(response.body["data"]["brokers"]["totalCount"], 0);
    }
}

async fn should_refuse_requests_that_cannot_run_with_400_and_no_data(app: TestApp) {
    let cases = [
        ("{not json", "BAD_REQUEST"),
        ("\"just a string\"", "BAD_REQUEST"),
        ("{}", "BAD_REQUEST"),
        (r#"{"query": 42}"#, "BAD_REQUEST"),
        (
            r#"{"query": "{ brokers { totalCount }", "variables": null}"#,
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            r#"{"query": "{ brokers { noSuchField } }"}"#,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            r#"{"query": "query A { brokers { totalCount } } query B { brokers { totalCount } }"}"#,
            "BAD_REQUEST",
        ),
        (
            r#"{"query": "query A { brokers { totalCount } }", "operationName": "Nope"}"#,
            "BAD_REQUEST",
        ),
    ];
    for (body, code) in cases {
        let response = app.post_raw("application/json", body.to_string()).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            response.body
        );
        assert_eq!(
            response.codes(),
            vec![code.to_string()],
            "{body}: {}",
            response.body
        );
        assert!(
            response.body.get("data").is_none(),
            "{body}: {}",
            response.body
        );
    }
}

/// A GraphQL request that cannot run is a 400 in graphql-response+json, and a 200 for a
/// client that accepts only application/json (it cannot tell a GraphQL error from an HTTP
/// one); a body that is no GraphQL request at all is a 400 in both.
async fn should_answer_request_errors_with_200_when_only_application_json_is_accepted(
    app: TestApp,
) {
    let cases = [
        (json!({ "query": "{" }), "GRAPHQL_PARSE_FAILED"),
        (
            json!({ "query": "{ brokers { noSuchField } }" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            json!({ "query": "query A { __typename } query B { __typename }" }),
            "BAD_REQUEST",
        ),
        // Variable coercion.
        (
            json!({
                "query": "query Q($n: Int) { brokers(first: $n) { totalCount } }",
                "variables": { "n": "many" },
            }),
            "BAD_USER_INPUT",
        ),
    ];
    for (body, code) in cases {
        for (accept, status) in [
            ("application/json", StatusCode::OK),
            ("application/graphql-response+json", StatusCode::BAD_REQUEST),
        ] {
            let request = Request::post("/graphql")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, accept)
                .body(Body::from(body.to_string()))
                .unwrap();
            let response = app.admin().send(request).await;
            assert_eq!(
                response.status, status,
                "{accept} {body}: {}",
                response.body
            );
            assert!(response.content_type().starts_with(accept), "{accept}");
            assert!(response.body.get("data").is_none(), "{}", response.body);
            let codes = response.codes();
            assert!(
                !codes.is_empty() && codes.iter().all(|c| c == code),
                "{body}: {}",
                response.body
            );
        }
    }
    // Over GET as well.
    let request = Request::get("/graphql?query=%7B")
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    let response = app.admin().send(request).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.codes(), ["GRAPHQL_PARSE_FAILED"]);
    // Not a GraphQL request: 400 whatever the client accepts.
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let response = app.admin().send(request).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.codes(), ["BAD_REQUEST"]);
}

async fn should_refuse_bodies_that_are_not_json_with_415(app: TestApp) {
    for content_type in [
        "text/plain",
        "application/graphql",
        "application/x-www-form-urlencoded",
    ] {
        let response = app.post_raw(content_type, QUERY).await;
        assert_eq!(
            response.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert_eq!(response.codes(), vec!["UNSUPPORTED_MEDIA_TYPE"]);
    }
    let no_type = Request::post("/graphql").body(Body::from(QUERY)).unwrap();
    assert_eq!(
        app.admin().send(no_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

async fn should_run_queries_over_get_but_never_mutations(app: TestApp) {
    let get = |uri: String| Request::get(uri).body(Body::empty()).unwrap();
    let query = "query%20Q(%24n%3AInt)%7Bbrokers(first%3A%24n)%7BtotalCount%7D%7D";
    let response = app
        .admin()
        .send(get(format!(
            "/graphql?query={query}&operationName=Q&variables=%7B%22n%22%3A1%7D"
        )))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["data"]["brokers"]["totalCount"], 0);

    let response = app
        .admin()
        .send(get("/graphql?query=mutation%20%7B%20x%20%7D".into()))
        .await;
    assert_eq!(
        response.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        response.body
    );
    assert_eq!(response.headers.get(header::ALLOW).unwrap(), "POST");
    assert_eq!(response.codes(), vec!["METHOD_NOT_ALLOWED"]);

    let response = app.admin().send(get("/graphql".into())).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let response = app
        .admin()
        .send(get(format!("/graphql?query={query}&variables=%5B1%5D")))
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.codes(), vec!["BAD_REQUEST"]);
}

async fn should_run_batches_up_to_the_limit(app: TestApp) {
    let one = json!({ "query": QUERY });
    let response = app.post_json(&json!([one, { "query": "{ nope }" }])).await;
    assert_eq!(response.status, StatusCode::OK);
    let answers = response.body.as_array().expect("an array");
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["data"]["brokers"]["totalCount"], 0);
    assert_eq!(
        answers[1]["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );

    let too_many = serde_json::Value::Array(vec![one.clone(); 11]);
    let response = app.post_json(&too_many).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.codes(), vec!["BATCH_LIMIT_EXCEEDED"]);
    let response = app.post_json(&json!([])).await;
    assert_eq!(response.codes(), vec!["BATCH_LIMIT_EXCEEDED"]);
}

async fn should_answer_execution_errors_with_200_and_data(app: TestApp) {
    let response = app
        .post_json(&json!({ "query": "{ brokers(first: 101) { totalCount } }" }))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.codes(), vec!["BAD_USER_INPUT"]);
    assert_eq!(response.body["errors"][0]["extensions"]["field"], "first");
    assert!(response.body.get("data").is_some());
}

async fn should_report_health_and_readiness(app: TestApp) {
    for path in ["/healthz", "/readyz"] {
        let response = app
            .admin()
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
    }
    let page = app
        .admin()
        .send(Request::get("/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.content_type().starts_with("text/html"));
}

db_tests!(
    should_answer_application_json_unless_graphql_response_json_is_accepted,
    should_refuse_requests_that_cannot_run_with_400_and_no_data,
    should_answer_request_errors_with_200_when_only_application_json_is_accepted,
    should_refuse_bodies_that_are_not_json_with_415,
    should_run_queries_over_get_but_never_mutations,
    should_run_batches_up_to_the_limit,
    should_answer_execution_errors_with_200_and_data,
    should_report_health_and_readiness,
);

#[tokio::test]
async fn should_refuse_bodies_over_the_limit_with_413() {
    let config = HttpConfig {
        max_body_bytes: 256,
        ..HttpConfig::default()
    };
    let setup = Setup {
        http: config,
        ..Setup::default()
    };
    let app = spawn_app_with(Backend::Sqlite, setup).await.unwrap();
    let padding = " ".repeat(300);
    let response = app
        .post_raw(
            "application/json",
            format!(r#"{{"query": "{{ brokers {{ totalCount }} }}{padding}"}}"#),
        )
        .await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.codes(), vec!["PAYLOAD_TOO_LARGE"]);
    let response = app.post_json(&json!({ "query": QUERY })).await;
    assert_eq!(response.status, StatusCode::OK);
}
