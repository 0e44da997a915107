//! Keeping organizations and Partner Center in step (issue 13 items 4 and 5): a broker's sync
//! against a local fake of Entra, Partner Center and Microsoft Graph (wiremock), through the
//! real router with real signed tokens, on both databases.

use std::time::Duration;

use brokergraph::auth::Role;
use brokergraph::graphql::relay::ids::{self, Kind};
use brokergraph::partner_center::connections::{Fallback, Remote};
use entity::enums::{OrganizationRole, TenantManagement};
use entity::{audit_event, broker, organization, tenant};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::backend_tests;
use crate::fixtures;
use crate::support::{Backend, Client, Setup, TestApp, spawn_app_with, token};

const ENTRA_TENANT: Uuid = Uuid::from_u128(0x0e17_a000_0000_4000_8000_0000_0000_0005);
const APPLICATION: Uuid = Uuid::from_u128(0x0a99_0000_0000_4000_8000_0000_0000_0006);
const CONTINUATION: &str = "MS-ContinuationToken";
const GDAP: &str = "/graph/v1.0/tenantRelationships/delegatedAdminRelationships";

const CONFIGURE: &str = "mutation($input: ConfigurePartnerCenterConnectionInput!) {
    configurePartnerCenterConnection(input: $input) { broker { slug } } }";
const SYNC: &str = "mutation($input: SyncPartnerCenterInput!) { syncPartnerCenter(input: $input) {
    broker { slug }
    run { status startedBy customers inSync drifted missing needsCustomerConsent unlinked
          finishedAt errorCode error } } }";
const ACCEPT: &str = "mutation($input: AcceptPartnerCenterValueInput!) {
    acceptPartnerCenterValue(input: $input) {
        organization { name }
        tenant { primaryDomain sync { state differences { field ours theirs } } } } }";
const LINK_CUSTOMER: &str = "mutation($input: LinkPartnerCenterCustomerInput!) {
    linkPartnerCenterCustomer(input: $input) {
        changed tenant { microsoftTenantId primaryDomain sync { state differences { field } } } } }";
const STATE: &str = "query($id: ID!) { broker(id: $id) {
    lastSyncRun { status errorCode error customers }
    currentSyncRun { status customers drifted unlinked }
    unlinkedPartnerCenterCustomers(first: 50) { totalCount edges { node {
        microsoftTenantId companyName primaryDomain suggestedOrganizations { name } } } }
    organizations(first: 50) { edges { node { name tenant {
        microsoftTenantId sync { state lastCheckedAt needsCustomerConsentServiceAccount
                                 differences { field ours theirs } } } } } } } }";

fn id(kind: Kind, uuid: Uuid) -> String {
    ids::encode(kind, uuid).0
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x7e4a_0000_0000_4000_8000_0000_0000_0000 + n)
}

fn customer(tenant_id: Uuid, name: &str, domain: &str) -> Value {
    json!({
        "id": tenant_id,
        "companyProfile": { "tenantId": tenant_id, "domain": domain, "companyName": name }
    })
}

/// A page of Partner Center's customer collection, with the next page's token when there is one.
fn page(items: Vec<Value>, next: Option<&str>) -> Value {
    let mut body = json!({ "totalCount": items.len(), "items": items,
                           "attributes": { "objectType": "Collection" } });
    if let Some(token) = next {
        body["continuationToken"] = json!(token);
        body["links"] = json!({ "next": { "uri": "/customers?size=100", "method": "GET",
            "headers": [{ "key": CONTINUATION, "value": token }] } });
    }
    body
}

/// An app whose brokers' connections reach `server` for Entra, Partner Center and Graph.
async fn app(backend: Backend, server: &MockServer) -> Option<TestApp> {
    let mut remote =
        Remote::new(&server.uri(), &server.uri(), Duration::from_secs(2), 2).expect("valid URLs");
    remote.graph_url = format!("{}/graph", server.uri()).parse().expect("url");
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

async fn mount_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(format!("/{ENTRA_TENANT}/oauth2/v2.0/token")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3600, "access_token": "sync-acc3ss"
        })))
        .mount(server)
        .await;
}

/// The three pages of customers: the first without a token, the others with the one before's.
async fn mount_pages(server: &MockServer, pages: [Vec<Value>; 3]) {
    let [first, second, third] = pages;
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .and(header(CONTINUATION, "page-3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(third, None)))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .and(header(CONTINUATION, "page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(second, Some("page-3"))))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .and(query_param("size", "100"))
        .respond_with(move |request: &Request| {
            if request.headers.contains_key(CONTINUATION) {
                ResponseTemplate::new(400)
            } else {
                ResponseTemplate::new(200).set_body_json(page(first.clone(), Some("page-2")))
            }
        })
        .mount(server)
        .await;
}

/// Graph's answer for the admin relationships of `tenant_id`.
async fn mount_relationship(server: &MockServer, tenant_id: Uuid, status: &str) {
    Mock::given(method("GET"))
        .and(path(GDAP))
        .and(query_param(
            "$filter",
            format!("customer/tenantId eq '{tenant_id}'").as_str(),
        ))
        .and(header_exists("Authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{ "id": Uuid::new_v4(), "status": status }]
        })))
        .mount(server)
        .await;
}

async fn mutate(client: &Client<'_>, mutation: &str, input: Value) -> (Value, Vec<String>) {
    let response = client
        .post_json(&json!({ "query": mutation, "variables": { "input": input } }))
        .await;
    (response.body.clone(), response.codes())
}

async fn link(
    app: &TestApp,
    organization: &organization::Model,
    tenant_id: Uuid,
    domain: &str,
    management: TenantManagement,
) -> tenant::Model {
    let mut row = fixtures::tenant(&app.db, organization)
        .await
        .into_active_model();
    row.microsoft_tenant_id = ActiveValue::Set(tenant_id);
    row.primary_domain = ActiveValue::Set(domain.into());
    row.management = ActiveValue::Set(management);
    row.update(&app.db).await.expect("tenant")
}

async fn with_email(app: &TestApp, organization: organization::Model, email: &str) {
    let mut row = organization.into_active_model();
    row.contact_email = ActiveValue::Set(email.into());
    row.update(&app.db).await.expect("organization");
}

/// The broker of every test: every case of the design's synchronization, one organization each.
struct World {
    broker: broker::Model,
    in_sync: organization::Model,
    drifted: organization::Model,
    missing: organization::Model,
    no_admin: organization::Model,
    by_name: organization::Model,
    by_domain: organization::Model,
}

async fn world(app: &TestApp, server: &MockServer) -> World {
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let (body, codes) = mutate(
        &app.admin(),
        CONFIGURE,
        json!({ "brokerId": id(Kind::Broker, broker.id), "entraTenantId": ENTRA_TENANT.to_string(),
                "applicationId": APPLICATION.to_string(), "clientSecret": "sync-s3cret" }),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    let in_sync = fixtures::organization(&app.db, &broker, "Alpha", "DE").await;
    let drifted = fixtures::organization(&app.db, &broker, "Bravo", "DE").await;
    let missing = fixtures::organization(&app.db, &broker, "Charlie", "DE").await;
    let no_admin = fixtures::organization(&app.db, &broker, "Delta", "DE").await;
    let by_name = fixtures::organization(&app.db, &broker, "Echo Ltd", "DE").await;
    let by_domain = fixtures::organization(&app.db, &broker, "Foxtrot", "DE").await;
    with_email(app, by_domain.clone(), "admin@golf.com").await;
    let partner = TenantManagement::PartnerManaged;
    link(app, &in_sync, uuid(1), "alpha.onmicrosoft.com", partner).await;
    link(
        app,
        &drifted,
        uuid(2),
        "bravo.onmicrosoft.com",
        TenantManagement::CustomerConsent,
    )
    .await;
    link(app, &missing, uuid(3), "charlie.onmicrosoft.com", partner).await;
    link(app, &no_admin, uuid(4), "delta.onmicrosoft.com", partner).await;
    mount_token(server).await;
    mount_relationship(server, uuid(1), "active").await;
    mount_relationship(server, uuid(4), "terminated").await;
    World {
        broker,
        in_sync,
        drifted,
        missing,
        no_admin,
        by_name,
        by_domain,
    }
}

/// Partner Center's view of the world: three pages.
fn partner_center() -> [Vec<Value>; 3] {
    [
        vec![
            customer(uuid(1), "Alpha", "ALPHA.onmicrosoft.com"),
            customer(uuid(2), "Bravo Holdings", "bravoholdings.onmicrosoft.com"),
        ],
        vec![
            customer(uuid(4), "Delta", "delta.onmicrosoft.com"),
            customer(uuid(5), "Echo GmbH", "echo.onmicrosoft.com"),
        ],
        vec![
            customer(uuid(6), "Golf Industries", "golf.onmicrosoft.com"),
            customer(uuid(7), "Hotel", "hotel.onmicrosoft.com"),
        ],
    ]
}

fn broker_admin(broker: &broker::Model) -> String {
    token(Role::BrokerAdmin, Some(broker.id), None, "ba@contoso")
}

async fn sync(app: &TestApp, broker: &broker::Model) -> (Value, Vec<String>) {
    mutate(
        &app.with_token(Some(broker_admin(broker))),
        SYNC,
        json!({ "brokerId": id(Kind::Broker, broker.id) }),
    )
    .await
}

async fn state(app: &TestApp, broker: &broker::Model) -> Value {
    app.with_token(Some(broker_admin(broker)))
        .query(STATE, json!({ "id": id(Kind::Broker, broker.id) }))
        .await["broker"]
        .clone()
}

/// The `sync` of the organization named `name`, from [`STATE`].
fn sync_of<'a>(state: &'a Value, name: &str) -> &'a Value {
    let edge = state["organizations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|edge| edge["node"]["name"] == name)
        .unwrap_or_else(|| panic!("no organization {name}: {state}"));
    &edge["node"]["tenant"]["sync"]
}

/// The [`world`] against Partner Center's three pages, synchronized once: the first run's answer.
async fn synced(backend: Backend) -> Option<(MockServer, TestApp, World, Value)> {
    let server = MockServer::start().await;
    let app = app(backend, &server).await?;
    let world = world(&app, &server).await;
    mount_pages(&server, partner_center()).await;
    let (body, codes) = sync(&app, &world.broker).await;
    assert!(codes.is_empty(), "{body}");
    Some((server, app, world, body))
}

async fn tenant_of(app: &TestApp, organization: &organization::Model) -> tenant::Model {
    tenant::Entity::find()
        .filter(tenant::Column::OrganizationId.eq(organization.id))
        .one(&app.db)
        .await
        .unwrap()
        .expect("a linked tenant")
}

async fn should_sync_three_pages_and_report_every_drift_case(backend: Backend) {
    let Some((server, app, world, body)) = synced(backend).await else {
        return;
    };

    let run = &body["data"]["syncPartnerCenter"]["run"];
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["startedBy"], "ba@contoso");
    assert_eq!(run["customers"], 6, "{run}");
    assert_eq!(run["inSync"], 2, "{run}");
    assert_eq!(run["drifted"], 1, "{run}");
    assert_eq!(run["missing"], 1, "{run}");
    assert_eq!(run["needsCustomerConsent"], 1, "{run}");
    assert_eq!(run["unlinked"], 3, "{run}");
    let pages: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/customers")
        .map(|r| {
            r.headers
                .get(CONTINUATION)
                .map(|v| v.to_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        pages,
        vec![None, Some("page-2".into()), Some("page-3".into())]
    );

    let state = state(&app, &world.broker).await;
    let alpha = sync_of(&state, &world.in_sync.name);
    assert_eq!(alpha["state"], "IN_SYNC", "{alpha}");
    assert!(alpha["lastCheckedAt"].is_string());
    assert_eq!(alpha["needsCustomerConsentServiceAccount"], false);
    let bravo = sync_of(&state, &world.drifted.name);
    assert_eq!(bravo["state"], "DRIFTED");
    assert_eq!(
        bravo["differences"],
        json!([
            { "field": "COMPANY_NAME", "ours": "Bravo", "theirs": "Bravo Holdings" },
            { "field": "PRIMARY_DOMAIN", "ours": "bravo.onmicrosoft.com",
              "theirs": "bravoholdings.onmicrosoft.com" },
        ])
    );
    // A customer-consent tenant is not asked about its admin relationship.
    assert_eq!(bravo["needsCustomerConsentServiceAccount"], false);
    assert_eq!(sync_of(&state, &world.missing.name)["state"], "MISSING");
    let delta = sync_of(&state, &world.no_admin.name);
    assert_eq!(delta["state"], "IN_SYNC");
    assert_eq!(delta["needsCustomerConsentServiceAccount"], true);
    let unlinked: Vec<Value> = state["unlinkedPartnerCenterCustomers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    assert_eq!(state["unlinkedPartnerCenterCustomers"]["totalCount"], 3);
    let suggested = |tenant_id: Uuid| -> Vec<Value> {
        let node = unlinked
            .iter()
            .find(|node| node["microsoftTenantId"] == tenant_id.to_string())
            .unwrap_or_else(|| panic!("{tenant_id} not unlinked: {unlinked:?}"));
        node["suggestedOrganizations"].as_array().unwrap().clone()
    };
    assert_eq!(
        suggested(uuid(5)),
        vec![json!({ "name": world.by_name.name })]
    );
    assert_eq!(
        suggested(uuid(6)),
        vec![json!({ "name": world.by_domain.name })]
    );
    assert!(suggested(uuid(7)).is_empty());

    // Fixing the drift, one field at a time, each audited.
    let admin = app.with_token(Some(broker_admin(&world.broker)));
    let bravo_tenant = tenant_of(&app, &world.drifted).await;
    let accept =
        |field: &str| json!({ "tenantId": id(Kind::Tenant, bravo_tenant.id), "field": field });
    let (body, codes) = mutate(&admin, ACCEPT, accept("COMPANY_NAME")).await;
    assert!(codes.is_empty(), "{body}");
    let payload = &body["data"]["acceptPartnerCenterValue"];
    assert_eq!(payload["organization"]["name"], "Bravo Holdings");
    assert_eq!(payload["tenant"]["sync"]["state"], "DRIFTED");
    assert_eq!(
        payload["tenant"]["sync"]["differences"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, codes) = mutate(&admin, ACCEPT, accept("COMPANY_NAME")).await;
    assert_eq!(codes, vec!["CONFLICT"], "a field that no longer differs");
    let (body, codes) = mutate(&admin, ACCEPT, accept("PRIMARY_DOMAIN")).await;
    assert!(codes.is_empty(), "{body}");
    let payload = &body["data"]["acceptPartnerCenterValue"];
    assert_eq!(
        payload["tenant"]["primaryDomain"],
        "bravoholdings.onmicrosoft.com"
    );
    assert_eq!(payload["tenant"]["sync"]["state"], "IN_SYNC");
    let audited: Vec<String> = audit_event::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.action)
        .collect();
    assert!(
        audited.contains(&"organization.partner_center_value_accepted".to_owned()),
        "{audited:?}"
    );
    assert!(audited.contains(&"tenant.partner_center_value_accepted".to_owned()));

    // Linking a suggested customer: the domain is Partner Center's, linkTenant's check applies.
    Mock::given(method("GET"))
        .and(path(format!("/v1/customers/{}", uuid(5))))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer(
            uuid(5),
            "Echo GmbH",
            "echo.onmicrosoft.com",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let (body, codes) = mutate(
        &admin,
        LINK_CUSTOMER,
        json!({ "organizationId": id(Kind::Organization, world.by_name.id),
                "microsoftTenantId": uuid(5).to_string() }),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    let payload = &body["data"]["linkPartnerCenterCustomer"];
    assert_eq!(payload["changed"], true);
    assert_eq!(payload["tenant"]["primaryDomain"], "echo.onmicrosoft.com");
    assert_eq!(
        payload["tenant"]["sync"]["state"], "DRIFTED",
        "Echo Ltd against Echo GmbH"
    );
    assert!(audited_action(&app, "tenant.linked").await);
    let state = self::state(&app, &world.broker).await;
    assert_eq!(state["unlinkedPartnerCenterCustomers"]["totalCount"], 2);
    // A customer that is not among the unlinked ones cannot be linked this way.
    let (_, codes) = mutate(
        &admin,
        LINK_CUSTOMER,
        json!({ "organizationId": id(Kind::Organization, world.by_domain.id),
                "microsoftTenantId": uuid(5).to_string() }),
    )
    .await;
    assert_eq!(codes, vec!["NOT_FOUND"]);
}

async fn audited_action(app: &TestApp, action: &str) -> bool {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(action))
        .one(&app.db)
        .await
        .unwrap()
        .is_some()
}

async fn should_keep_the_previous_result_when_a_sync_fails_on_page_2(backend: Backend) {
    let Some((server, app, world, _)) = synced(backend).await else {
        return;
    };
    let before = state(&app, &world.broker).await;

    // Now Partner Center answers page 1 (all in sync for Bravo), then fails on page 2.
    server.reset().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .and(header(CONTINUATION, "page-2"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![customer(uuid(2), "Bravo", "bravo.onmicrosoft.com")],
            Some("page-2"),
        )))
        .mount(&server)
        .await;

    let (body, codes) = sync(&app, &world.broker).await;

    assert_eq!(codes, vec!["PARTNER_CENTER_UNAVAILABLE"], "{body}");
    let after = state(&app, &world.broker).await;
    assert_eq!(after["lastSyncRun"]["status"], "FAILED", "{after}");
    assert_eq!(
        after["lastSyncRun"]["errorCode"],
        "PARTNER_CENTER_UNAVAILABLE"
    );
    assert!(after["lastSyncRun"]["error"].is_string());
    // The previous complete result, whole: same run, same findings.
    for field in [
        "currentSyncRun",
        "unlinkedPartnerCenterCustomers",
        "organizations",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(sync_of(&after, &world.drifted.name)["state"], "DRIFTED");
    // And the lease was given up: the next sync runs.
    server.reset().await;
    mount_token(&server).await;
    mount_pages(&server, partner_center()).await;
    mount_relationship(&server, uuid(1), "active").await;
    mount_relationship(&server, uuid(4), "active").await;
    let (body, codes) = sync(&app, &world.broker).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(
        body["data"]["syncPartnerCenter"]["run"]["needsCustomerConsent"],
        0
    );
}

async fn should_run_only_one_of_two_concurrent_syncs(backend: Backend) {
    let server = MockServer::start().await;
    let Some(app) = app(backend, &server).await else {
        return;
    };
    let world = world(&app, &server).await;
    Mock::given(method("GET"))
        .and(path("/v1/customers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(
                    vec![customer(uuid(1), "Alpha", "alpha.onmicrosoft.com")],
                    None,
                ))
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&server)
        .await;

    let client = app.with_token(Some(broker_admin(&world.broker)));
    let input = json!({ "input": { "brokerId": id(Kind::Broker, world.broker.id) } });
    let request = json!({ "query": SYNC, "variables": input });
    let (one, two) = tokio::join!(client.post_json(&request), client.post_json(&request));

    let mut codes = [one.codes(), two.codes()];
    codes.sort();
    assert_eq!(
        codes,
        [vec![], vec!["SYNC_IN_PROGRESS".to_owned()]],
        "{} {}",
        one.body,
        two.body
    );
    let refused = if one.codes().is_empty() { &two } else { &one };
    let retry_after = &refused.body["errors"][0]["extensions"]["retryAfter"];
    assert!(
        retry_after.as_u64().is_some_and(|s| s >= 1),
        "{}",
        refused.body
    );
    let calls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1/customers")
        .count();
    assert_eq!(calls, 1, "the refused sync never reached Partner Center");
}

async fn should_scope_every_sync_field_and_mutation(backend: Backend) {
    let Some((_server, app, world, _)) = synced(backend).await else {
        return;
    };
    let other = fixtures::broker(&app.db, "fabrikam", "Fabrikam").await;
    for (email, role) in [
        ("admin@bravo.example", OrganizationRole::OrganizationAdmin),
        ("user@bravo.example", OrganizationRole::OrganizationUser),
    ] {
        fixtures::user(&app.db, &world.drifted, email, role).await;
    }
    let broker_id = world.broker.id;
    let org = world.drifted.id;
    let reader = token(Role::BrokerReader, Some(broker_id), None, "reader");
    let outsider = token(Role::BrokerAdmin, Some(other.id), None, "outsider");
    let org_admin = token(
        Role::OrganizationAdmin,
        None,
        Some(org),
        "admin@bravo.example",
    );
    let org_user = token(
        Role::OrganizationUser,
        None,
        Some(org),
        "user@bravo.example",
    );
    let read =
        "query($id: ID!) { broker(id: $id) { lastSyncRun { status } currentSyncRun { status }
        unlinkedPartnerCenterCustomers { totalCount } } }";
    let broker_vars = json!({ "id": id(Kind::Broker, broker_id) });

    // The broker's runs and unlinked customers: the platform and the broker's own roles.
    for token in [
        crate::support::platform_admin(),
        broker_admin(&world.broker),
        reader.clone(),
    ] {
        let data = app
            .with_token(Some(token))
            .query(read, broker_vars.clone())
            .await;
        assert_eq!(data["broker"]["lastSyncRun"]["status"], "SUCCEEDED");
        assert_eq!(
            data["broker"]["unlinkedPartnerCenterCustomers"]["totalCount"],
            3
        );
    }
    // Organization roles see their broker, but nothing of its other customers.
    let data = app
        .with_token(Some(org_admin.clone()))
        .query(read, broker_vars.clone())
        .await;
    assert_eq!(
        data["broker"],
        json!({ "lastSyncRun": null, "currentSyncRun": null,
                "unlinkedPartnerCenterCustomers": null })
    );
    let data = app
        .with_token(Some(org_user.clone()))
        .query(read, broker_vars.clone())
        .await;
    assert_eq!(
        data["broker"],
        Value::Null,
        "a member sees no broker at all"
    );
    // Another broker's admin sees no such broker.
    let data = app
        .with_token(Some(outsider.clone()))
        .query(read, broker_vars.clone())
        .await;
    assert_eq!(data["broker"], Value::Null);

    // A tenant's sync state: wherever the tenant is visible, the organization's own roles too.
    let tenants =
        "{ organizations(first: 50) { edges { node { name tenant { sync { state } } } } } }";
    for token in [org_admin.clone(), org_user.clone()] {
        let data = app.with_token(Some(token)).query(tenants, json!({})).await;
        assert_eq!(
            data["organizations"]["edges"],
            json!([{ "node": { "name": "Bravo", "tenant": { "sync": { "state": "DRIFTED" } } } }])
        );
    }
    let data = app
        .with_token(Some(outsider.clone()))
        .query(tenants, json!({}))
        .await;
    assert_eq!(data["organizations"]["edges"], json!([]));

    // Mutations: the broker's admins and the platform only; elsewhere as if it did not exist.
    let bravo_tenant = tenant_of(&app, &world.drifted).await;
    let attempts = [
        (SYNC, json!({ "brokerId": id(Kind::Broker, broker_id) })),
        (
            ACCEPT,
            json!({ "tenantId": id(Kind::Tenant, bravo_tenant.id), "field": "COMPANY_NAME" }),
        ),
        (
            LINK_CUSTOMER,
            json!({ "organizationId": id(Kind::Organization, world.by_name.id),
                    "microsoftTenantId": uuid(5).to_string() }),
        ),
    ];
    for (mutation, input) in &attempts {
        for (token, expected) in [
            (reader.clone(), "FORBIDDEN"),
            (outsider.clone(), "NOT_FOUND"),
        ] {
            let (body, codes) = mutate(&app.with_token(Some(token)), mutation, input.clone()).await;
            assert_eq!(codes, vec![expected], "{body}");
        }
    }
    // The organization's admin sees its broker and tenant, but changes neither this way; its
    // user sees its tenant, not the broker.
    for (token, expected) in [
        (org_admin.clone(), ["FORBIDDEN", "FORBIDDEN"]),
        (org_user.clone(), ["NOT_FOUND", "FORBIDDEN"]),
    ] {
        for ((mutation, input), expected) in attempts[..2].iter().zip(expected) {
            let client = app.with_token(Some(token.clone()));
            let (body, codes) = mutate(&client, mutation, input.clone()).await;
            assert_eq!(codes, vec![expected], "{body}");
        }
    }
    // Another organization is out of its scope altogether.
    let (body, codes) = mutate(
        &app.with_token(Some(org_admin)),
        LINK_CUSTOMER,
        attempts[2].1.clone(),
    )
    .await;
    assert_eq!(codes, vec!["NOT_FOUND"], "{body}");
    // Nothing was changed by the refused attempts.
    let name = organization::Entity::find_by_id(org)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(name, "Bravo");
}

backend_tests!(
    should_sync_three_pages_and_report_every_drift_case,
    should_keep_the_previous_result_when_a_sync_fails_on_page_2,
    should_run_only_one_of_two_concurrent_syncs,
    should_scope_every_sync_field_and_mutation,
);
