//! A broker's own Partner Center connection (issue 13 items 1 and 2): configuring it, who may
//! read and change it, and the Microsoft Entra tokens it signs in with, against a local fake of
//! the token endpoint and of Partner Center (wiremock).

use std::time::Duration;

use brokergraph::auth::Role;
use brokergraph::crypto::CredentialCipher;
use brokergraph::graphql::relay::ids::{self, Kind};
use brokergraph::partner_center::connections::{Fallback, Remote};
use brokergraph::partner_center::sandbox::Sandbox;
use entity::enums::OrganizationRole;
use entity::{audit_event, broker, organization, partner_center_connection};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::fixtures;
use crate::support::{
    Backend, CREDENTIAL_KEY, Client, Setup, TestApp, capture_logs, spawn_app_with, token,
};

const SECRET: &str = "cl13nt-s3cret-never-shown";
const REFRESH: &str = "r3fresh-t0ken-never-shown";
const ROTATED: &str = "r0tated-r3fresh-t0ken";
const ACCESS: &str = "acc3ss-t0ken-never-logged";

const CONFIGURE: &str = "mutation($input: ConfigurePartnerCenterConnectionInput!) {
    configurePartnerCenterConnection(input: $input) {
        broker { slug }
        connection { entraTenantId applicationId authentication clientSecretSet refreshTokenSet
                     credentialsSetAt credentialsSetBy updatedAt } } }";
const REMOVE: &str = "mutation($input: RemovePartnerCenterConnectionInput!) {
    removePartnerCenterConnection(input: $input) { removed broker { slug } } }";
const READ: &str = "query($id: ID!) { broker(id: $id) { partnerCenterConnection {
    entraTenantId applicationId authentication clientSecretSet refreshTokenSet credentialsSetBy } } }";
const LINK: &str = "mutation($input: LinkTenantInput!) { linkTenant(input: $input) {
    changed tenant { microsoftTenantId } } }";

const ENTRA_TENANT: Uuid = Uuid::from_u128(0x0e17_a000_0000_4000_8000_0000_0000_0001);
const APPLICATION: Uuid = Uuid::from_u128(0x0a99_0000_0000_4000_8000_0000_0000_0002);

fn id(kind: Kind, uuid: Uuid) -> String {
    ids::encode(kind, uuid).0
}

fn token_path() -> String {
    format!("/{ENTRA_TENANT}/oauth2/v2.0/token")
}

fn broker_admin(broker: &broker::Model) -> String {
    token(Role::BrokerAdmin, Some(broker.id), None, "ba@contoso")
}

async fn mutate(client: &Client<'_>, mutation: &str, input: Value) -> (Value, Vec<String>) {
    let response = client
        .post_json(&json!({ "query": mutation, "variables": { "input": input } }))
        .await;
    (response.body.clone(), response.codes())
}

fn configure_input(
    broker: &broker::Model,
    secret: Option<&str>,
    refresh_token: Option<&str>,
) -> Value {
    json!({
        "brokerId": id(Kind::Broker, broker.id),
        "entraTenantId": ENTRA_TENANT.to_string(),
        "applicationId": APPLICATION.to_string(),
        "clientSecret": secret,
        "refreshToken": refresh_token,
    })
}

fn link_input(organization: &organization::Model, guid: Uuid) -> Value {
    json!({
        "organizationId": id(Kind::Organization, organization.id),
        "microsoftTenantId": guid.to_string(),
        "primaryDomain": format!("t{}.onmicrosoft.com", &guid.simple().to_string()[..8]),
    })
}

fn customer_body(tenant_id: Uuid) -> Value {
    json!({
        "id": tenant_id,
        "companyProfile": {
            "tenantId": tenant_id,
            "domain": "contoso.onmicrosoft.com",
            "companyName": "Contoso Ltd"
        }
    })
}

fn token_answer(access_token: &str, expires_in: u64, refresh_token: Option<&str>) -> Value {
    let mut answer = json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "access_token": access_token,
    });
    if let Some(refresh_token) = refresh_token {
        answer["refresh_token"] = json!(refresh_token);
    }
    answer
}

/// An app whose brokers' own connections reach `server` for both Entra and Partner Center;
/// brokers without one have nothing to fall back on.
async fn connected_app(backend: Backend, server: &MockServer) -> Option<TestApp> {
    let mut remote =
        Remote::new(&server.uri(), &server.uri(), Duration::from_secs(2), 2).expect("valid URLs");
    remote.backoff = Some(Duration::from_millis(1));
    spawn_app_with(
        backend,
        Setup {
            fallback: Some(Fallback::Nothing),
            remote: Some(remote),
            ..Setup::default()
        },
    )
    .await
}

/// The organization's admin and user, as organization-role tokens need them.
async fn members(app: &TestApp, organization: &organization::Model) {
    fixtures::user(
        &app.db,
        organization,
        "admin@acme.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    fixtures::user(
        &app.db,
        organization,
        "user@acme.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
}

/// A broker with its connection configured, and an organization to link.
async fn connected_broker(
    app: &TestApp,
    secret: Option<&str>,
    refresh_token: Option<&str>,
) -> (broker::Model, organization::Model) {
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let organization = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    let (body, codes) = mutate(
        &app.admin(),
        CONFIGURE,
        configure_input(&broker, secret, refresh_token),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    (broker, organization)
}

async fn token_requests(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == token_path())
        .count()
}

async fn stored_refresh_token(app: &TestApp, broker: &broker::Model) -> String {
    let row = partner_center_connection::Entity::find()
        .filter(partner_center_connection::Column::BrokerId.eq(broker.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    CredentialCipher::from_base64(CREDENTIAL_KEY)
        .unwrap()
        .decrypt(
            row.refresh_token_ciphertext.as_deref().unwrap(),
            row.refresh_token_nonce.as_deref().unwrap(),
            broker.id.as_bytes(),
        )
        .unwrap()
}

fn assert_secret_free(what: &str, text: &str) {
    for secret in [SECRET, REFRESH, ROTATED, ACCESS] {
        assert!(!text.contains(secret), "{what} contains `{secret}`: {text}");
    }
}

async fn should_configure_a_connection_whose_secrets_are_never_readable(backend: Backend) {
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let organization = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    members(&app, &organization).await;
    let admin = app.with_token(Some(broker_admin(&broker)));

    let (body, codes) = mutate(
        &admin,
        CONFIGURE,
        configure_input(&broker, Some(SECRET), Some(REFRESH)),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    assert_secret_free("the payload", &body.to_string());
    let connection = &body["data"]["configurePartnerCenterConnection"]["connection"];
    assert_eq!(connection["entraTenantId"], ENTRA_TENANT.to_string());
    assert_eq!(connection["applicationId"], APPLICATION.to_string());
    assert_eq!(connection["authentication"], "APP_PLUS_USER");
    assert_eq!(connection["clientSecretSet"], true);
    assert_eq!(connection["refreshTokenSet"], true);
    assert_eq!(connection["credentialsSetBy"], "ba@contoso");

    // The broker's reader sees whether they are set; an organization role sees nothing.
    let variables = json!({ "id": id(Kind::Broker, broker.id) });
    let reader = app.with_token(Some(token(
        Role::BrokerReader,
        Some(broker.id),
        None,
        "reader",
    )));
    let read = reader.query(READ, variables.clone()).await;
    assert_eq!(
        read["broker"]["partnerCenterConnection"]["refreshTokenSet"],
        true
    );
    assert_secret_free("a read", &read.to_string());
    let member = app.with_token(Some(token(
        Role::OrganizationAdmin,
        None,
        Some(organization.id),
        "admin@acme.example",
    )));
    let read = member.query(READ, variables.clone()).await;
    assert_eq!(read["broker"]["partnerCenterConnection"], Value::Null);

    // Stored sealed, bound to the broker; audited without them.
    let row = partner_center_connection::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    for sealed in [
        row.client_secret_ciphertext.clone().unwrap(),
        row.refresh_token_ciphertext.clone().unwrap(),
    ] {
        assert_secret_free("the stored row", &String::from_utf8_lossy(&sealed));
    }
    assert_eq!(stored_refresh_token(&app, &broker).await, REFRESH);
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::EntityType.eq("PartnerCenterConnection"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "partner_center_connection.configured");
    assert_eq!(events[0].broker_id, Some(broker.id));
    assert_secret_free("the audit trail", &format!("{events:?}"));

    // App-only in place of App+User; then removed, once.
    let (body, codes) = mutate(
        &admin,
        CONFIGURE,
        configure_input(&broker, Some(SECRET), None),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    let connection = &body["data"]["configurePartnerCenterConnection"]["connection"];
    assert_eq!(connection["authentication"], "APP_ONLY");
    assert_eq!(connection["refreshTokenSet"], false);
    let remove = json!({ "brokerId": id(Kind::Broker, broker.id) });
    let (body, codes) = mutate(&admin, REMOVE, remove.clone()).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(
        body["data"]["removePartnerCenterConnection"]["removed"],
        true
    );
    let (body, _) = mutate(&admin, REMOVE, remove).await;
    assert_eq!(
        body["data"]["removePartnerCenterConnection"]["removed"],
        false
    );
    let read = reader.query(READ, variables).await;
    assert_eq!(read["broker"]["partnerCenterConnection"], Value::Null);
    let actions: Vec<String> = audit_event::Entity::find()
        .filter(audit_event::Column::EntityType.eq("PartnerCenterConnection"))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.action)
        .collect();
    assert_eq!(
        actions,
        [
            "partner_center_connection.configured",
            "partner_center_connection.configured",
            "partner_center_connection.removed"
        ]
    );
}

async fn should_let_only_the_brokers_admins_and_the_platform_change_the_connection(
    backend: Backend,
) {
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let other = fixtures::broker(&app.db, "northwind", "Northwind").await;
    let organization = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    members(&app, &organization).await;
    let input = configure_input(&broker, Some(SECRET), None);
    let remove = json!({ "brokerId": id(Kind::Broker, broker.id) });
    // The organization's admin sees its broker (its catalog); the organization's user does not.
    let refused = [
        (
            token(Role::BrokerAdmin, Some(other.id), None, "ba@northwind"),
            "NOT_FOUND",
        ),
        (
            token(Role::BrokerReader, Some(broker.id), None, "reader"),
            "FORBIDDEN",
        ),
        (
            token(
                Role::OrganizationAdmin,
                None,
                Some(organization.id),
                "admin@acme.example",
            ),
            "FORBIDDEN",
        ),
        (
            token(
                Role::OrganizationUser,
                None,
                Some(organization.id),
                "user@acme.example",
            ),
            "NOT_FOUND",
        ),
    ];
    for (caller, code) in &refused {
        let client = app.with_token(Some(caller.clone()));
        let (body, codes) = mutate(&client, CONFIGURE, input.clone()).await;
        assert_eq!(codes, [*code], "{caller} {body}");
        let (body, codes) = mutate(&client, REMOVE, remove.clone()).await;
        assert_eq!(codes, [*code], "{body}");
    }
    assert!(
        partner_center_connection::Entity::find()
            .one(&app.db)
            .await
            .unwrap()
            .is_none()
    );
    for caller in [
        broker_admin(&broker),
        token(Role::PlatformAdmin, None, None, "root"),
    ] {
        let (body, codes) = mutate(&app.with_token(Some(caller)), CONFIGURE, input.clone()).await;
        assert!(codes.is_empty(), "{body}");
    }
    // The other broker's admin reads nothing of it either.
    let other_admin = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(other.id),
        None,
        "ba@northwind",
    )));
    let read = other_admin
        .query(READ, json!({ "id": id(Kind::Broker, broker.id) }))
        .await;
    assert_eq!(read["broker"], Value::Null);
}

async fn should_refuse_bad_connection_input(backend: Backend) {
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let admin = app.admin();
    let mut bad = vec![
        configure_input(&broker, None, None),
        configure_input(&broker, Some("  "), None),
        configure_input(&broker, None, Some("a\u{0}b")),
    ];
    for (field, value) in [
        ("entraTenantId", "not-a-guid"),
        ("applicationId", "00000000-0000-0000-0000-000000000000"),
    ] {
        let mut input = configure_input(&broker, Some(SECRET), None);
        input[field] = json!(value);
        bad.push(input);
    }
    for input in bad {
        let (body, codes) = mutate(&admin, CONFIGURE, input).await;
        assert_eq!(codes, ["BAD_USER_INPUT"], "{body}");
        assert_secret_free("an error", &body.to_string());
    }
    let mut unknown = configure_input(&broker, Some(SECRET), None);
    unknown["brokerId"] = json!(id(Kind::Broker, Uuid::now_v7()));
    let (_, codes) = mutate(&admin, CONFIGURE, unknown).await;
    assert_eq!(codes, ["NOT_FOUND"]);
}

async fn should_answer_not_configured_for_a_broker_without_a_connection(backend: Backend) {
    // No fallback at all: every broker needs its own connection.
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let organization = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    let (body, codes) = mutate(
        &app.admin(),
        LINK,
        link_input(&organization, Uuid::new_v4()),
    )
    .await;
    assert_eq!(codes, ["PARTNER_CENTER_NOT_CONFIGURED"], "{body}");
    assert!(
        body.to_string()
            .contains("configurePartnerCenterConnection"),
        "{body}"
    );

    // The process-wide connection serves an install of one broker, and no more.
    let sandbox = Sandbox::new().verifying(true);
    let Some(app) = spawn_app_with(
        backend,
        Setup {
            fallback: Some(Fallback::OneBroker(std::sync::Arc::new(sandbox.clone()))),
            ..Setup::default()
        },
    )
    .await
    else {
        return;
    };
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let organization = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    let guid = Uuid::new_v4();
    sandbox
        .partner(app.db.clone(), broker.id)
        .add_customer(guid, "acme.onmicrosoft.com", "Acme")
        .await
        .unwrap();
    let (body, codes) = mutate(&app.admin(), LINK, link_input(&organization, guid)).await;
    assert!(codes.is_empty(), "{body}");
    let second = fixtures::broker(&app.db, "northwind", "Northwind").await;
    let other = fixtures::organization(&app.db, &second, "Initech", "US").await;
    let guid = Uuid::new_v4();
    sandbox
        .partner(app.db.clone(), second.id)
        .add_customer(guid, "initech.onmicrosoft.com", "Initech")
        .await
        .unwrap();
    let (body, codes) = mutate(&app.admin(), LINK, link_input(&other, guid)).await;
    assert_eq!(codes, ["PARTNER_CENTER_NOT_CONFIGURED"], "{body}");
}

async fn should_sign_in_with_client_credentials_and_call_partner_center_with_the_token(
    backend: Backend,
) {
    let logs = capture_logs();
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let (_, organization) = connected_broker(&app, Some(SECRET), None).await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(format!("client_id={APPLICATION}")))
        .and(body_string_contains(format!("client_secret={SECRET}")))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fapi.partnercenter.microsoft.com%2F.default",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer(ACCESS, 3600, None)))
        .expect(1)
        .mount(&server)
        .await;
    let guid = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{guid}")))
        .and(header("Authorization", format!("Bearer {ACCESS}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer_body(guid)))
        .expect(1)
        .mount(&server)
        .await;

    let (body, codes) = mutate(&app.admin(), LINK, link_input(&organization, guid)).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(
        body["data"]["linkTenant"]["tenant"]["microsoftTenantId"],
        guid.to_string()
    );
    server.verify().await;
    let text = logs.text();
    assert!(
        text.contains("Entra issued an access token"),
        "the capture works"
    );
    assert_secret_free("the logs", &text);
}

async fn should_refresh_with_the_refresh_token_and_keep_the_rotated_one(backend: Backend) {
    let logs = capture_logs();
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let (broker, organization) = connected_broker(&app, Some(SECRET), Some(REFRESH)).await;
    let second = fixtures::organization(&app.db, &broker, "Globex", "NL").await;
    // Tokens that expire within the margin are never reused: each call signs in again, the
    // second one with the refresh token Entra rotated on the first.
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(format!("refresh_token={REFRESH}")))
        .and(body_string_contains(format!("client_secret={SECRET}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer(
            ACCESS,
            60,
            Some(ROTATED),
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains(format!("refresh_token={ROTATED}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer(
            ACCESS,
            60,
            Some(ROTATED),
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer_body(Uuid::new_v4())))
        .mount(&server)
        .await;

    for organization in [&organization, &second] {
        let (body, codes) =
            mutate(&app.admin(), LINK, link_input(organization, Uuid::new_v4())).await;
        assert!(codes.is_empty(), "{body}");
        assert_eq!(stored_refresh_token(&app, &broker).await, ROTATED);
    }
    server.verify().await;
    // Rotation does not count as a person setting the credentials.
    let read = app
        .query(READ, json!({ "id": id(Kind::Broker, broker.id) }))
        .await;
    assert_eq!(
        read["broker"]["partnerCenterConnection"]["credentialsSetBy"],
        "platform-admin"
    );
    assert_secret_free("the logs", &logs.text());
}

async fn should_fetch_one_token_for_twenty_concurrent_calls(backend: Backend) {
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let (broker, _) = connected_broker(&app, Some(SECRET), None).await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_answer(ACCESS, 3600, None))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("Authorization", format!("Bearer {ACCESS}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer_body(Uuid::new_v4())))
        .expect(20)
        .mount(&server)
        .await;
    let mut organizations = Vec::new();
    for n in 0..20 {
        organizations
            .push(fixtures::organization(&app.db, &broker, &format!("Org {n}"), "DE").await);
    }
    let admin = app.admin();
    let answers = futures_util::future::join_all(
        organizations
            .iter()
            .map(|organization| mutate(&admin, LINK, link_input(organization, Uuid::new_v4()))),
    )
    .await;
    for (body, codes) in answers {
        assert!(codes.is_empty(), "{body}");
    }
    server.verify().await;
}

async fn should_use_a_token_until_shortly_before_it_expires(backend: Backend) {
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let (broker, _) = connected_broker(&app, Some(SECRET), None).await;
    // One second more than the margin: good for one second.
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer(ACCESS, 301, None)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer_body(Uuid::new_v4())))
        .mount(&server)
        .await;
    let link = |name: &'static str| {
        let app = &app;
        let broker = &broker;
        async move {
            let organization = fixtures::organization(&app.db, broker, name, "DE").await;
            let (body, codes) = mutate(
                &app.admin(),
                LINK,
                link_input(&organization, Uuid::new_v4()),
            )
            .await;
            assert!(codes.is_empty(), "{body}");
        }
    };
    link("First").await;
    link("Second").await;
    assert_eq!(token_requests(&server).await, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    link("Third").await;
    assert_eq!(token_requests(&server).await, 2);
}

async fn should_refresh_once_and_retry_once_after_a_401(backend: Backend) {
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let (broker, organization) = connected_broker(&app, Some(SECRET), None).await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer("revoked", 3600, None)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer(ACCESS, 3600, None)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("Authorization", "Bearer revoked"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    let guid = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(header("Authorization", format!("Bearer {ACCESS}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer_body(guid)))
        .expect(1)
        .mount(&server)
        .await;
    let (body, codes) = mutate(&app.admin(), LINK, link_input(&organization, guid)).await;
    assert!(codes.is_empty(), "{body}");
    server.verify().await;

    // A token Partner Center keeps refusing: one refresh, one retry, then an error to act on.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer(ACCESS, 3600, None)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let other = fixtures::organization(&app.db, &broker, "Globex", "NL").await;
    let (body, codes) = mutate(&app.admin(), LINK, link_input(&other, Uuid::new_v4())).await;
    assert_eq!(codes, ["PARTNER_CENTER_AUTH_FAILED"], "{body}");
    server.verify().await;
}

async fn should_report_a_refused_grant_as_auth_failed_without_leaking_secrets(backend: Backend) {
    let logs = capture_logs();
    let server = MockServer::start().await;
    let Some(app) = connected_app(backend, &server).await else {
        return;
    };
    let (broker, organization) = connected_broker(&app, Some(SECRET), Some(REFRESH)).await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": format!("AADSTS700082: The refresh token {REFRESH} has expired"),
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (body, codes) = mutate(
        &app.with_token(Some(broker_admin(&broker))),
        LINK,
        link_input(&organization, Uuid::new_v4()),
    )
    .await;
    assert_eq!(codes, ["PARTNER_CENTER_AUTH_FAILED"], "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("refresh token") && message.contains("configure"),
        "{message}"
    );
    assert_secret_free("the error", &body.to_string());

    // A client secret Entra no longer knows.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({ "error": "invalid_client" })),
        )
        .mount(&server)
        .await;
    connected_broker_again(&app, &broker).await;
    let (body, codes) = mutate(
        &app.admin(),
        LINK,
        link_input(&organization, Uuid::new_v4()),
    )
    .await;
    assert_eq!(codes, ["PARTNER_CENTER_AUTH_FAILED"], "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("client secret"),
        "{body}"
    );
    let text = logs.text();
    assert!(text.contains("invalid_grant"), "the capture works");
    assert_secret_free("the logs", &text);
}

/// The broker's connection set again, app-only.
async fn connected_broker_again(app: &TestApp, broker: &broker::Model) {
    let (body, codes) = mutate(
        &app.admin(),
        CONFIGURE,
        configure_input(broker, Some(SECRET), None),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
}

backend_tests!(
    should_configure_a_connection_whose_secrets_are_never_readable,
    should_let_only_the_brokers_admins_and_the_platform_change_the_connection,
    should_refuse_bad_connection_input,
    should_answer_not_configured_for_a_broker_without_a_connection,
    should_sign_in_with_client_credentials_and_call_partner_center_with_the_token,
    should_refresh_with_the_refresh_token_and_keep_the_rotated_one,
    should_fetch_one_token_for_twenty_concurrent_calls,
    should_use_a_token_until_shortly_before_it_expires,
    should_refresh_once_and_retry_once_after_a_401,
    should_report_a_refused_grant_as_auth_failed_without_leaking_secrets,
);
