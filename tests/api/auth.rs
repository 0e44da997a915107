//! Every way a token can be refused, with real keys: an HS256 secret, an RSA and an EC key
//! pair, and a JWKS served by a local HTTP server; and the development-key defaults.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use brokergraph::auth::{AuthConfig, Authenticator};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::support::{Backend, SECRET, Setup, TestApp, spawn_app_with};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys");

fn key_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(KEYS).join(name)
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(key_file(name)).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> Value {
    json!({
        "sub": "someone",
        "role": "PLATFORM_ADMIN",
        "iss": "brokergraph",
        "aud": "brokergraph",
        "iat": now(),
        "exp": now() + 600,
    })
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

fn sign(algorithm: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        None,
        claims,
    )
}

fn rsa_key(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&pem(name)).unwrap()
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(&pem("ec_private.pem")).unwrap()
}

/// A token with `alg: none` and no signature.
fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}

async fn app_with(backend: Backend, auth: Arc<Authenticator>) -> TestApp {
    let setup = Setup {
        auth: Some(auth),
        ..Setup::default()
    };
    spawn_app_with(backend, setup).await.unwrap()
}

async fn public_key_auth(file: &str) -> Arc<Authenticator> {
    let config = AuthConfig {
        jwt_public_key: Some(key_file(file)),
        ..AuthConfig::default()
    };
    config.resolve(None).await.unwrap().authenticator
}

const QUERY: &str = "{ brokers { totalCount } }";

/// Asserts a 401 with `WWW-Authenticate: Bearer`, one UNAUTHENTICATED error with `reason`,
/// and no data.
async fn assert_refused(app: &TestApp, authorization: Option<&str>, reason: &str) {
    let mut request =
        axum::http::Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let request = request
        .body(axum::body::Body::from(
            json!({ "query": QUERY }).to_string(),
        ))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "{reason}: {}",
        response.body
    );
    let challenge = response
        .headers
        .get(header::WWW_AUTHENTICATE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(response.codes(), ["UNAUTHENTICATED"], "{reason}");
    assert_eq!(
        response.body["errors"][0]["extensions"]["reason"], reason,
        "{}",
        response.body
    );
    assert!(response.body.get("data").is_none());
}

async fn assert_accepted(app: &TestApp, token: &str) {
    let data = app
        .with_token(Some(token.to_string()))
        .query(QUERY, json!({}))
        .await;
    assert_eq!(data["brokers"]["totalCount"], 0);
}

async fn should_refuse_every_bad_hs256_token_with_its_reason(backend: Backend) {
    let app = app_with(backend, crate::support::hs256_authenticator()).await;
    assert_accepted(&app, &hs256(&claims())).await;
    let bearer = |token: String| format!("Bearer {token}");
    let mut cases: Vec<(Option<String>, &str)> = vec![
        (None, "TOKEN_MISSING"),
        (Some("Basic dXNlcjpwYXNz".into()), "TOKEN_MALFORMED"),
        (Some("Bearer ".into()), "TOKEN_MALFORMED"),
        (Some(bearer("not.a.jwt".into())), "TOKEN_MALFORMED"),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "exp": now() - 120 }),
            )))),
            "TOKEN_EXPIRED",
        ),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "nbf": now() + 600 }),
            )))),
            "TOKEN_NOT_YET_VALID",
        ),
        (
            Some(bearer(sign(
                Algorithm::HS256,
                &EncodingKey::from_secret(b"another-secret-that-is-long-enough-too"),
                None,
                &claims(),
            ))),
            "INVALID_SIGNATURE",
        ),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "iss": "someone-else" }),
            )))),
            "INVALID_ISSUER",
        ),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "aud": "another-api" }),
            )))),
            "INVALID_AUDIENCE",
        ),
        (Some(bearer(unsigned(&claims()))), "ALGORITHM_NOT_ALLOWED"),
        (
            Some(bearer(sign(
                Algorithm::RS256,
                &rsa_key("rsa_private.pem"),
                None,
                &claims(),
            ))),
            "ALGORITHM_NOT_ALLOWED",
        ),
        (
            Some(bearer(hs256(&with(claims(), json!({ "exp": null }))))),
            "CLAIM_MISSING",
        ),
        (
            Some(bearer(hs256(&with(claims(), json!({ "sub": null }))))),
            "CLAIM_MISSING",
        ),
        // A string `exp` must not skip the expiry check (jsonwebtoken before 10.3 let it); a
        // claim that is there but malformed is invalid, not missing.
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "exp": (now() - 3600).to_string() }),
            )))),
            "CLAIM_INVALID",
        ),
        (
            Some(bearer(hs256(&with(claims(), json!({ "exp": -1 }))))),
            "CLAIM_INVALID",
        ),
        (
            Some(bearer(hs256(&with(claims(), json!({ "exp": 1e20 }))))),
            "CLAIM_INVALID",
        ),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "nbf": now().to_string() }),
            )))),
            "CLAIM_INVALID",
        ),
        (
            Some(bearer(hs256(&with(claims(), json!({ "sub": 42 }))))),
            "CLAIM_INVALID",
        ),
        (
            Some(bearer(hs256(&with(claims(), json!({ "aud": 42 }))))),
            "CLAIM_INVALID",
        ),
        (
            Some(bearer(hs256(&with(claims(), json!({ "role": null }))))),
            "ROLE_MISSING",
        ),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "role": "SUPERUSER" }),
            )))),
            "ROLE_UNKNOWN",
        ),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "role": "BROKER_ADMIN" }),
            )))),
            "SCOPE_MISSING",
        ),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "role": "BROKER_READER" }),
            )))),
            "SCOPE_MISSING",
        ),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "role": "ORGANIZATION_USER", "broker_id": uuid::Uuid::now_v7() }),
            )))),
            "SCOPE_MISSING",
        ),
        (
            Some(bearer(hs256(&with(
                claims(),
                json!({ "role": "BROKER_ADMIN", "broker_id": "QnJva2VyOjE" }),
            )))),
            "SCOPE_INVALID",
        ),
    ];
    // `with` removes a claim set to null; here it is sent as `"exp": null`.
    let mut null_exp = claims();
    null_exp["exp"] = Value::Null;
    cases.push((Some(bearer(hs256(&null_exp))), "CLAIM_INVALID"));
    for (authorization, reason) in &cases {
        assert_refused(&app, authorization.as_deref(), reason).await;
    }
    // Within the leeway, a just-expired token still passes.
    assert_accepted(&app, &hs256(&with(claims(), json!({ "exp": now() - 5 })))).await;
}

async fn should_verify_rs256_and_es256_tokens_with_the_configured_key_only(backend: Backend) {
    let app = app_with(backend, public_key_auth("rsa_public.pem").await).await;
    assert_eq!(app_auth_algorithm(&app), Algorithm::RS256);
    assert_accepted(
        &app,
        &sign(
            Algorithm::RS256,
            &rsa_key("rsa_private.pem"),
            None,
            &claims(),
        ),
    )
    .await;
    let wrong_key = sign(
        Algorithm::RS256,
        &rsa_key("rsa_other_private.pem"),
        None,
        &claims(),
    );
    assert_refused(
        &app,
        Some(&format!("Bearer {wrong_key}")),
        "INVALID_SIGNATURE",
    )
    .await;
    // The classic confusion: HS256 signed with the RSA public key as the secret.
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(&pem("rsa_public.pem")),
        None,
        &claims(),
    );
    assert_refused(
        &app,
        Some(&format!("Bearer {confused}")),
        "ALGORITHM_NOT_ALLOWED",
    )
    .await;
    assert_refused(
        &app,
        Some(&format!("Bearer {}", unsigned(&claims()))),
        "ALGORITHM_NOT_ALLOWED",
    )
    .await;
    let expired = sign(
        Algorithm::RS256,
        &rsa_key("rsa_private.pem"),
        None,
        &with(claims(), json!({ "exp": now() - 120 })),
    );
    assert_refused(&app, Some(&format!("Bearer {expired}")), "TOKEN_EXPIRED").await;

    let app = app_with(backend, public_key_auth("ec_public.pem").await).await;
    assert_eq!(app_auth_algorithm(&app), Algorithm::ES256);
    assert_accepted(&app, &sign(Algorithm::ES256, &ec_key(), None, &claims())).await;
    let rsa = sign(
        Algorithm::RS256,
        &rsa_key("rsa_private.pem"),
        None,
        &claims(),
    );
    assert_refused(
        &app,
        Some(&format!("Bearer {rsa}")),
        "ALGORITHM_NOT_ALLOWED",
    )
    .await;
}

fn app_auth_algorithm(app: &TestApp) -> Algorithm {
    app.auth.algorithm()
}

/// Serves a JWKS document on a local port and counts the fetches.
struct JwksServer {
    url: String,
    keys: Arc<std::sync::Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
}

fn jwk(key: &EncodingKey, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.into());
    jwk
}

async fn jwks_server(initial: Vec<Jwk>) -> JwksServer {
    let keys = Arc::new(std::sync::Mutex::new(JwkSet { keys: initial }));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (served, counter) = (keys.clone(), fetches.clone());
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = serde_json::to_value(&*served.lock().unwrap()).unwrap();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    JwksServer {
        url: format!("http://{address}/.well-known/jwks.json"),
        keys,
        fetches,
    }
}

async fn should_verify_tokens_against_a_jwks_and_refresh_it_at_most_once_a_minute(
    backend: Backend,
) {
    let first = rsa_key("rsa_private.pem");
    let second = rsa_key("rsa_other_private.pem");
    let server = jwks_server(vec![jwk(&first, "k1")]).await;
    let config = AuthConfig {
        jwks_url: Some(server.url.clone()),
        ..AuthConfig::default()
    };
    let auth = config.resolve(None).await.unwrap().authenticator;
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "fetched on start");
    let app = app_with(backend, auth).await;

    assert_accepted(&app, &sign(Algorithm::RS256, &first, Some("k1"), &claims())).await;
    let forged = sign(Algorithm::RS256, &second, Some("k1"), &claims());
    assert_refused(&app, Some(&format!("Bearer {forged}")), "INVALID_SIGNATURE").await;

    // The issuer rotates to k2: right after a fetch, an unknown kid does not refetch.
    server.keys.lock().unwrap().keys.push(jwk(&second, "k2"));
    let rotated = sign(Algorithm::RS256, &second, Some("k2"), &claims());
    for _ in 0..3 {
        assert_refused(&app, Some(&format!("Bearer {rotated}")), "UNKNOWN_KEY").await;
    }
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "no refetch within a minute"
    );

    // Once a minute has passed, the first unknown kid refetches, and k2 verifies.
    app.auth.jwks().unwrap().allow_refresh_now().await;
    assert_accepted(&app, &rotated).await;
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
    assert_accepted(&app, &rotated).await;
    let unknown = sign(Algorithm::RS256, &second, Some("k3"), &claims());
    assert_refused(&app, Some(&format!("Bearer {unknown}")), "UNKNOWN_KEY").await;
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        2,
        "k3 came too soon after the refresh"
    );
}

async fn should_map_claims_from_other_identity_providers(backend: Backend) {
    let config = AuthConfig {
        jwt_secret: Some(SECRET.into()),
        jwt_role_claim: "realm_access.roles".into(),
        jwt_broker_claim: "https://brokergraph.example/broker".into(),
        jwt_issuer: "https://idp.example/realms/brokers".into(),
        jwt_audience: "brokergraph-api".into(),
        ..AuthConfig::default()
    };
    let app = app_with(backend, config.resolve(None).await.unwrap().authenticator).await;
    let broker = crate::fixtures::broker(&app.db, "mapped", "Mapped Broker").await;
    let keycloak_like = json!({
        "sub": "f3a9", "iss": "https://idp.example/realms/brokers", "aud": ["account", "brokergraph-api"],
        "exp": now() + 600, "iat": now(),
        "realm_access": { "roles": ["offline_access", "broker_reader"] },
        "https://brokergraph.example/broker": broker.id,
    });
    let data = app
        .with_token(Some(hs256(&keycloak_like)))
        .query("{ brokers { edges { node { slug } } } }", json!({}))
        .await;
    assert_eq!(data["brokers"]["edges"][0]["node"]["slug"], "mapped");
    let default_names = claims();
    assert_refused(
        &app,
        Some(&format!("Bearer {}", hs256(&default_names))),
        "INVALID_ISSUER",
    )
    .await;
}

backend_tests!(
    should_refuse_every_bad_hs256_token_with_its_reason,
    should_verify_rs256_and_es256_tokens_with_the_configured_key_only,
    should_verify_tokens_against_a_jwks_and_refresh_it_at_most_once_a_minute,
    should_map_claims_from_other_identity_providers,
);

#[tokio::test]
async fn should_generate_one_private_development_secret_for_the_embedded_database_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("brokergraph.db.jwt-secret");
    let config = AuthConfig::default();
    let first = config.resolve(Some(&path)).await.unwrap();
    assert!(first.development);
    let secret = first.signing_secret.clone().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), secret);
    let again = config.resolve(Some(&path)).await.unwrap();
    assert_eq!(again.signing_secret, Some(secret));

    // Without a key and without an embedded database (PostgreSQL), nothing starts.
    let error = config.resolve(None).await.err().unwrap().to_string();
    assert!(error.contains("no JWT key is configured"), "{error}");
    // A configured key never generates one.
    let configured = AuthConfig {
        jwt_secret: Some(SECRET.into()),
        ..AuthConfig::default()
    };
    let other = dir.path().join("other.jwt-secret");
    assert!(!configured.resolve(Some(&other)).await.unwrap().development);
    assert!(!other.exists());
    // Two sources at once are refused, as is a short secret.
    let both = AuthConfig {
        jwt_secret: Some(SECRET.into()),
        jwt_public_key: Some(key_file("rsa_public.pem")),
        ..AuthConfig::default()
    };
    assert!(both.resolve(None).await.is_err());
    let short = AuthConfig {
        jwt_secret: Some("short".into()),
        ..AuthConfig::default()
    };
    assert!(short.resolve(None).await.is_err());
}
