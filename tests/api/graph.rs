//! Every root field and nested relation of the read graph, filters and ordering.

use chrono::Utc;
use entity::enums::{OrganizationRole, ServiceAccountStatus};
use entity::{broker, organization, service_account, tenant, user};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db_tests;
use crate::fixtures;
use crate::support::TestApp;

/// Two brokers; Alpha has three organizations (two with tenants), Bravo one.
struct World {
    alpha: broker::Model,
    bravo: broker::Model,
    acme: organization::Model,
    acme_tenant: tenant::Model,
    alice: user::Model,
    account: service_account::Model,
}

async fn world(app: &TestApp) -> World {
    let db = &app.db;
    let alpha = fixtures::broker(db, "alpha", "Alpha Partners").await;
    let bravo = fixtures::broker(db, "bravo", "Bravo Cloud").await;
    let acme = fixtures::organization(db, &alpha, "Acme GmbH", "DE").await;
    let beta = fixtures::organization(db, &alpha, "Beta 100% BV", "NL").await;
    let gamma = fixtures::organization(db, &alpha, "Gamma_Works", "DE").await;
    let delta = fixtures::organization(db, &bravo, "Delta Inc", "US").await;
    let acme_tenant = fixtures::tenant(db, &acme).await;
    fixtures::tenant(db, &gamma).await;
    fixtures::tenant(db, &delta).await;
    let alice = fixtures::user(
        db,
        &acme,
        "alice@acme.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    let bob = fixtures::user(
        db,
        &acme,
        "bob@acme.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
    fixtures::user(
        db,
        &beta,
        "carol@beta.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    fixtures::user(
        db,
        &delta,
        "dave@delta.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    let m365 = fixtures::service(db, &alpha, "Microsoft 365 E3", "M365E3").await;
    fixtures::service(db, &alpha, "Azure Plan", "AZURE").await;
    let teams = fixtures::service(db, &bravo, "Teams Essentials", "TEAMS").await;
    let acme_m365 = fixtures::subscription(db, &acme, &m365, 10).await;
    fixtures::subscription(db, &delta, &teams, 3).await;
    fixtures::assign(db, &acme_m365, &alice).await;
    fixtures::assign(db, &acme_m365, &bob).await;
    let now = Utc::now();
    let account = service_account::Model {
        id: Uuid::now_v7(),
        tenant_id: acme_tenant.id,
        user_principal_name: "svc-broker@acme.onmicrosoft.com".into(),
        display_name: "Broker service account".into(),
        directory_roles: json!(["Teams Administrator"]),
        usage_location: "DE".into(),
        password_changed: true,
        mfa_configured: true,
        roles_confirmed: false,
        credential_ciphertext: Some(vec![1, 2, 3]),
        credential_nonce: Some(vec![0; 12]),
        status: ServiceAccountStatus::PendingVerification,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    World {
        alpha,
        bravo,
        acme,
        acme_tenant,
        alice,
        account,
    }
}

/// The `name` (or another field) of each node of a connection.
fn field_of(connection: &Value, field: &str) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|edge| edge["node"][field].as_str().unwrap_or_default().to_string())
        .collect()
}

fn names(connection: &Value) -> Vec<String> {
    field_of(connection, "name")
}

async fn id_of(app: &TestApp, root: &str, uuid: Uuid) -> String {
    // Global IDs are opaque: find them through the API, by UUID.
    let data = app
        .query(
            &format!("{{ {root}(first: 100) {{ edges {{ node {{ id uuid }} }} }} }}"),
            json!({}),
        )
        .await;
    data[root]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|edge| edge["node"]["uuid"] == uuid.to_string())
        .map(|edge| edge["node"]["id"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{uuid} not in {root}"))
}

async fn should_list_brokers_and_find_them_by_id_and_slug(app: TestApp) {
    let w = world(&app).await;
    let data = app
        .query(
            "{ brokers { totalCount edges { node { id uuid slug name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["brokers"]["totalCount"], 2);
    assert_eq!(names(&data["brokers"]), ["Alpha Partners", "Bravo Cloud"]);
    let id = id_of(&app, "brokers", w.bravo.id).await;
    let data = app
        .query(
            "query($id: ID!) { broker(id: $id) { slug } bySlug: brokerBySlug(slug: \"alpha\") { uuid } none: brokerBySlug(slug: \"zulu\") { uuid } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["broker"]["slug"], "bravo");
    assert_eq!(data["bySlug"]["uuid"], w.alpha.id.to_string());
    assert!(data["none"].is_null());
}

async fn should_filter_and_order_organizations(app: TestApp) {
    let w = world(&app).await;
    let alpha_id = id_of(&app, "brokers", w.alpha.id).await;
    let query = "query($filter: OrganizationFilter, $order: OrganizationOrder) {
        organizations(filter: $filter, orderBy: $order) { totalCount edges { node { name } } } }";
    let cases = [
        (
            json!({}),
            json!(null),
            vec!["Acme GmbH", "Beta 100% BV", "Delta Inc", "Gamma_Works"],
        ),
        (
            json!({ "brokerId": alpha_id }),
            json!(null),
            vec!["Acme GmbH", "Beta 100% BV", "Gamma_Works"],
        ),
        (
            json!({ "nameContains": "GMBH" }),
            json!(null),
            vec!["Acme GmbH"],
        ),
        // Wildcards in the text are taken literally.
        (
            json!({ "nameContains": "%" }),
            json!(null),
            vec!["Beta 100% BV"],
        ),
        (
            json!({ "nameContains": "_" }),
            json!(null),
            vec!["Gamma_Works"],
        ),
        (
            json!({ "hasTenant": true }),
            json!(null),
            vec!["Acme GmbH", "Delta Inc", "Gamma_Works"],
        ),
        (
            json!({ "hasTenant": false }),
            json!(null),
            vec!["Beta 100% BV"],
        ),
        (
            json!({ "country": "de" }),
            json!(null),
            vec!["Acme GmbH", "Gamma_Works"],
        ),
        (
            json!({ "country": "DE", "hasTenant": true, "brokerId": alpha_id }),
            json!({ "field": "NAME", "direction": "DESC" }),
            vec!["Gamma_Works", "Acme GmbH"],
        ),
        (
            json!({}),
            json!({ "field": "CREATED_AT" }),
            vec!["Acme GmbH", "Beta 100% BV", "Gamma_Works", "Delta Inc"],
        ),
        (
            json!({}),
            json!({ "field": "CREATED_AT", "direction": "DESC" }),
            vec!["Delta Inc", "Gamma_Works", "Beta 100% BV", "Acme GmbH"],
        ),
    ];
    for (filter, order, expected) in cases {
        let data = app
            .query(query, json!({ "filter": filter, "order": order }))
            .await;
        assert_eq!(names(&data["organizations"]), expected, "{filter} {order}");
        assert_eq!(
            data["organizations"]["totalCount"],
            expected.len(),
            "{filter}"
        );
    }
    let codes = app
        .query_errors(query, json!({ "filter": { "country": "Germany" } }))
        .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
    let codes = app
        .query_errors(query, json!({ "filter": { "brokerId": "garbage" } }))
        .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
}

/// The filter checks a country with the mutations' validator: two letters that ISO never
/// assigned (`XX`, `UK`) are refused naming the field, not answered with an empty page.
async fn should_refuse_an_unknown_country_in_the_organization_filter(app: TestApp) {
    world(&app).await;
    let query =
        "query($filter: OrganizationFilter) { organizations(filter: $filter) { totalCount } }";
    for country in ["XX", "uk", "Germany", "D\u{200B}E"] {
        let body = app
            .post_json(
                &json!({ "query": query, "variables": { "filter": { "country": country } } }),
            )
            .await
            .body;
        let error = &body["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{country:?}: {body}"
        );
        assert_eq!(
            error["extensions"]["field"], "filter.country",
            "{country:?}: {body}"
        );
        assert!(
            body["data"]["organizations"].is_null(),
            "{country:?}: {body}"
        );
    }
}

async fn should_walk_the_graph_from_broker_to_assignees(app: TestApp) {
    let w = world(&app).await;
    let id = id_of(&app, "brokers", w.alpha.id).await;
    let data = app
        .query(
            "query($id: ID!) { broker(id: $id) {
                services { totalCount edges { node { name sku vendor broker { slug } } } }
                organizations(first: 1) { totalCount edges { node {
                    name country contactEmail broker { slug }
                    tenant { microsoftTenantId primaryDomain linkMethod management linkedBy
                        organization { name }
                        serviceAccount { userPrincipalName directoryRoles usageLocation hasCredential
                            passwordChanged mfaConfigured rolesConfirmed status tenant { uuid } } }
                    users { totalCount edges { node { email role organization { name }
                        subscriptions { edges { node { quantity } } } } } }
                    subscriptions { edges { node { quantity status organization { name }
                        service { name } assignees { totalCount edges { node { email } } } } } }
                } } }
            } }",
            json!({ "id": id }),
        )
        .await;
    let broker = &data["broker"];
    assert_eq!(
        names(&broker["services"]),
        ["Azure Plan", "Microsoft 365 E3"]
    );
    assert_eq!(
        broker["services"]["edges"][1]["node"]["vendor"],
        "MICROSOFT"
    );
    assert_eq!(
        broker["services"]["edges"][1]["node"]["broker"]["slug"],
        "alpha"
    );
    assert_eq!(broker["organizations"]["totalCount"], 3);
    let acme = &broker["organizations"]["edges"][0]["node"];
    assert_eq!(acme["name"], "Acme GmbH");
    assert_eq!(acme["broker"]["slug"], "alpha");
    let tenant = &acme["tenant"];
    assert_eq!(
        tenant["microsoftTenantId"],
        w.acme_tenant.microsoft_tenant_id.to_string()
    );
    assert_eq!(tenant["linkMethod"], "MANUAL");
    assert_eq!(tenant["management"], "PARTNER_MANAGED");
    assert_eq!(tenant["organization"]["name"], "Acme GmbH");
    let account = &tenant["serviceAccount"];
    assert_eq!(account["userPrincipalName"], w.account.user_principal_name);
    assert_eq!(account["directoryRoles"], json!(["Teams Administrator"]));
    assert_eq!(account["hasCredential"], true);
    assert_eq!(account["status"], "PENDING_VERIFICATION");
    assert_eq!(account["tenant"]["uuid"], w.acme_tenant.id.to_string());
    assert_eq!(
        field_of(&acme["users"], "email"),
        ["alice@acme.example", "bob@acme.example"]
    );
    assert_eq!(
        acme["users"]["edges"][0]["node"]["role"],
        "ORGANIZATION_ADMIN"
    );
    assert_eq!(
        acme["users"]["edges"][1]["node"]["organization"]["name"],
        "Acme GmbH"
    );
    assert_eq!(
        acme["users"]["edges"][0]["node"]["subscriptions"]["edges"][0]["node"]["quantity"],
        10
    );
    let subscription = &acme["subscriptions"]["edges"][0]["node"];
    assert_eq!(subscription["status"], "ACTIVE");
    assert_eq!(subscription["service"]["name"], "Microsoft 365 E3");
    assert_eq!(subscription["organization"]["name"], "Acme GmbH");
    assert_eq!(subscription["assignees"]["totalCount"], 2);
    assert_eq!(
        field_of(&subscription["assignees"], "email"),
        ["alice@acme.example", "bob@acme.example"]
    );

    // An organization without a tenant.
    let data = app
        .query("{ organizations(filter: {hasTenant: false}) { edges { node { tenant { uuid } users { totalCount } subscriptions { totalCount } } } } }", json!({}))
        .await;
    let beta = &data["organizations"]["edges"][0]["node"];
    assert!(beta["tenant"].is_null());
    assert_eq!(beta["users"]["totalCount"], 1);
    assert_eq!(beta["subscriptions"]["totalCount"], 0);
}

async fn should_never_return_a_credential(app: TestApp) {
    world(&app).await;
    let codes = app
        .query_errors("{ tenants: organizations { edges { node { tenant { serviceAccount { credential } } } } } }", json!({}))
        .await;
    assert_eq!(codes, ["GRAPHQL_VALIDATION_FAILED"]);
    let data = app
        .query(
            "{ __type(name: \"ServiceAccount\") { fields { name } } }",
            json!({}),
        )
        .await;
    let fields: Vec<&str> = data["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"hasCredential"));
    assert!(
        fields
            .iter()
            .all(|f| *f == "hasCredential" || !f.to_lowercase().contains("credential")),
        "{fields:?}"
    );
}

async fn should_look_up_tenants_users_services_and_subscriptions(app: TestApp) {
    let w = world(&app).await;
    let data = app
        .query(
            "query($guid: String!) { tenantByMicrosoftId(microsoftTenantId: $guid) { uuid organization { name } }
              unknown: tenantByMicrosoftId(microsoftTenantId: \"6f1c2a4e-0000-4000-8000-000000000000\") { uuid } }",
            json!({ "guid": w.acme_tenant.microsoft_tenant_id.to_string().to_uppercase() }),
        )
        .await;
    assert_eq!(
        data["tenantByMicrosoftId"]["organization"]["name"],
        "Acme GmbH"
    );
    assert!(data["unknown"].is_null());
    let codes = app
        .query_errors(
            "{ tenantByMicrosoftId(microsoftTenantId: \"not-a-guid\") { uuid } }",
            json!({}),
        )
        .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
    // The lookup refuses what `linkTenant` refuses: the nil GUID, an invisible character.
    for guid in [
        "00000000-0000-0000-0000-000000000000",
        "6f1c2a4e-0000-4000-8000-000000000000\u{200B}",
    ] {
        let codes = app
            .query_errors(
                "query($g: String!) { tenantByMicrosoftId(microsoftTenantId: $g) { uuid } }",
                json!({ "g": guid }),
            )
            .await;
        assert_eq!(codes, ["BAD_USER_INPUT"], "{guid:?}");
    }

    let acme_id = id_of(&app, "organizations", w.acme.id).await;
    let data = app
        .query(
            "query($org: ID!) {
                byOrg: users(filter: {organizationId: $org}) { totalCount edges { node { email } } }
                admins: users(filter: {role: ORGANIZATION_ADMIN}) { totalCount }
                byEmail: users(filter: {email: \" Bob@ACME.example \"}) { edges { node { email } } }
                alphaServices: services(filter: {vendor: MICROSOFT}) { totalCount }
                acmeSubscriptions: subscriptions(filter: {organizationId: $org, status: ACTIVE}) { totalCount edges { node { id quantity } } }
                all: subscriptions { totalCount }
                organization(id: $org) { name tenant { id } }
            }",
            json!({ "org": acme_id }),
        )
        .await;
    assert_eq!(data["byOrg"]["totalCount"], 2);
    assert_eq!(data["admins"]["totalCount"], 3);
    assert_eq!(field_of(&data["byEmail"], "email"), ["bob@acme.example"]);
    assert_eq!(data["alphaServices"]["totalCount"], 3);
    assert_eq!(data["acmeSubscriptions"]["totalCount"], 1);
    assert_eq!(data["all"]["totalCount"], 2);
    assert_eq!(data["organization"]["name"], "Acme GmbH");

    let tenant_id = data["organization"]["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let user_id = id_of(&app, "users", w.alice.id).await;
    let data = app
        .query(
            "query($t: ID!, $u: ID!) { tenant(id: $t) { uuid } user(id: $u) { email } wrongKind: user(id: $t) { email } }",
            json!({ "t": tenant_id, "u": user_id }),
        )
        .await;
    assert_eq!(data["tenant"]["uuid"], w.acme_tenant.id.to_string());
    assert_eq!(data["user"]["email"], "alice@acme.example");
    assert!(
        data["wrongKind"].is_null(),
        "an ID of another kind is not found"
    );
}

async fn should_resolve_every_kind_through_node_and_nodes(app: TestApp) {
    world(&app).await;
    let data = app
        .query(
            "{ organizations(filter: {nameContains: \"acme\"}) { edges { node { id broker { id }
                tenant { id serviceAccount { id } } users(first: 1) { edges { node { id } } }
                subscriptions { edges { node { id service { id } } } } } } } }",
            json!({}),
        )
        .await;
    let org = &data["organizations"]["edges"][0]["node"];
    let ids = [
        (org["broker"]["id"].clone(), "Broker"),
        (org["id"].clone(), "Organization"),
        (org["tenant"]["id"].clone(), "Tenant"),
        (
            org["tenant"]["serviceAccount"]["id"].clone(),
            "ServiceAccount",
        ),
        (org["users"]["edges"][0]["node"]["id"].clone(), "User"),
        (
            org["subscriptions"]["edges"][0]["node"]["id"].clone(),
            "ServiceSubscription",
        ),
        (
            org["subscriptions"]["edges"][0]["node"]["service"]["id"].clone(),
            "Service",
        ),
    ];
    for (id, typename) in &ids {
        let data = app
            .query(
                "query($id: ID!) { node(id: $id) { __typename id } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(data["node"]["__typename"], *typename);
        assert_eq!(data["node"]["id"], *id);
    }
    // A well-formed ID of nothing answers null, in `node` and in `nodes`.
    let nothing = brokergraph::graphql::relay::ids::encode(
        brokergraph::graphql::relay::ids::Kind::Organization,
        Uuid::now_v7(),
    );
    let all: Vec<Value> = ids
        .iter()
        .map(|(id, _)| id.clone())
        .chain([json!(nothing.as_str())])
        .collect();
    let data = app
        .query(
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename } }",
            json!({ "ids": all }),
        )
        .await;
    let typenames: Vec<Value> = data["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["__typename"].clone())
        .collect();
    assert_eq!(typenames.len(), 8);
    assert!(typenames[7].is_null());
    assert_eq!(typenames[0], "Broker");
    let data = app
        .query(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": nothing.as_str() }),
        )
        .await;
    assert!(data["node"].is_null());
    let codes = app
        .query_errors("{ node(id: \"bm90IGFuIGlk\") { id } }", json!({}))
        .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
}

async fn should_serve_the_demo_data(app: TestApp) {
    let first = brokergraph::seed::seed_demo(&app.db).await.unwrap();
    assert!(first.total() > 0);
    let second = brokergraph::seed::seed_demo(&app.db).await.unwrap();
    assert_eq!(second.total(), 0, "seeding twice adds nothing twice");
    let data = app
        .query("{ brokers { totalCount edges { node { organizations { totalCount } services { totalCount } } } }
                  withTenant: organizations(filter: {hasTenant: true}) { totalCount }
                  withoutTenant: organizations(filter: {hasTenant: false}) { totalCount }
                  admins: users(filter: {role: ORGANIZATION_ADMIN}) { totalCount }
                  members: users(filter: {role: ORGANIZATION_USER}) { totalCount } }", json!({}))
        .await;
    assert_eq!(data["brokers"]["totalCount"], first.brokers);
    assert!(data["brokers"]["totalCount"].as_u64().unwrap() >= 2);
    assert!(data["withTenant"]["totalCount"].as_u64().unwrap() > 0);
    assert!(data["withoutTenant"]["totalCount"].as_u64().unwrap() > 0);
    assert!(data["admins"]["totalCount"].as_u64().unwrap() > 0);
    assert!(data["members"]["totalCount"].as_u64().unwrap() > 0);
}

db_tests!(
    should_list_brokers_and_find_them_by_id_and_slug,
    should_filter_and_order_organizations,
    should_refuse_an_unknown_country_in_the_organization_filter,
    should_walk_the_graph_from_broker_to_assignees,
    should_never_return_a_credential,
    should_look_up_tenants_users_services_and_subscriptions,
    should_resolve_every_kind_through_node_and_nodes,
    should_serve_the_demo_data,
);
