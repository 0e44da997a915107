//! The authorization matrix: every role × {its own scope, a sibling organization under the
//! same broker, another broker's organization} × every root field, typed lookup, `node` /
//! `nodes`, aliases batching foreign IDs, and the nested paths that could leave the scope.
//! An out-of-scope row must answer exactly as a row that does not exist.

use std::collections::BTreeSet;

use brokergraph::auth::Role;
use brokergraph::graphql::relay::ids::{self, Kind};
use chrono::Utc;
use entity::enums::{OrganizationRole, ServiceAccountStatus};
use entity::service_account;
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db_tests;
use crate::fixtures;
use crate::support::{TestApp, token};

/// One row of the world, by label (`org:A1`).
#[derive(Debug, Clone)]
struct Row {
    label: &'static str,
    kind: Kind,
    uuid: Uuid,
}

struct World {
    rows: Vec<Row>,
    broker_a: Uuid,
    org_a1: Uuid,
    a1_user_email: &'static str,
    microsoft_ids: Vec<(&'static str, Uuid)>,
}

impl World {
    fn label_of(&self, uuid: &str) -> &'static str {
        self.rows
            .iter()
            .find(|row| row.uuid.to_string() == uuid)
            .map(|row| row.label)
            .unwrap_or_else(|| panic!("unknown uuid {uuid}"))
    }

    fn id(&self, label: &str) -> String {
        let row = self.rows.iter().find(|row| row.label == label).unwrap();
        ids::encode(row.kind, row.uuid).0
    }
}

async fn account(app: &TestApp, tenant: Uuid) -> Uuid {
    let now = Utc::now();
    service_account::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        user_principal_name: format!("svc@{}.onmicrosoft.com", tenant.simple()),
        display_name: "svc".into(),
        directory_roles: json!(["Teams Administrator"]),
        usage_location: "DE".into(),
        password_changed: false,
        mfa_configured: false,
        roles_confirmed: false,
        credential_ciphertext: None,
        credential_nonce: None,
        status: ServiceAccountStatus::PendingVerification,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

async fn world(app: &TestApp) -> World {
    use OrganizationRole::{OrganizationAdmin as Admin, OrganizationUser as Member};
    let db = &app.db;
    let a = fixtures::broker(db, "alpha", "Alpha").await;
    let b = fixtures::broker(db, "bravo", "Bravo").await;
    let svc_a1 = fixtures::service(db, &a, "A Microsoft 365", "A-M365").await;
    let svc_a2 = fixtures::service(db, &a, "A Backup", "A-BACKUP").await;
    let svc_b1 = fixtures::service(db, &b, "B Microsoft 365", "B-M365").await;
    let a1 = fixtures::organization(db, &a, "A1", "DE").await;
    let a2 = fixtures::organization(db, &a, "A2", "DE").await;
    let b1 = fixtures::organization(db, &b, "B1", "US").await;
    let t_a1 = fixtures::tenant(db, &a1).await;
    let t_a2 = fixtures::tenant(db, &a2).await;
    let t_b1 = fixtures::tenant(db, &b1).await;
    let sa_a1 = account(app, t_a1.id).await;
    let sa_a2 = account(app, t_a2.id).await;
    let a1_admin = fixtures::user(db, &a1, "admin@a1.example", Admin).await;
    let a1_user = fixtures::user(db, &a1, "user@a1.example", Member).await;
    let a1_other = fixtures::user(db, &a1, "other@a1.example", Member).await;
    let a2_user = fixtures::user(db, &a2, "user@a2.example", Admin).await;
    let b1_user = fixtures::user(db, &b1, "user@b1.example", Admin).await;
    let s1 = fixtures::subscription(db, &a1, &svc_a1, 5).await;
    let s2 = fixtures::subscription(db, &a1, &svc_a2, 1).await;
    let s3 = fixtures::subscription(db, &a2, &svc_a1, 2).await;
    let s4 = fixtures::subscription(db, &b1, &svc_b1, 3).await;
    fixtures::assign(db, &s1, &a1_user).await;
    fixtures::assign(db, &s1, &a1_admin).await;
    fixtures::assign(db, &s2, &a1_other).await;
    fixtures::assign(db, &s3, &a2_user).await;
    fixtures::assign(db, &s4, &b1_user).await;
    let row = |label, kind, uuid| Row { label, kind, uuid };
    World {
        rows: vec![
            row("broker:A", Kind::Broker, a.id),
            row("broker:B", Kind::Broker, b.id),
            row("org:A1", Kind::Organization, a1.id),
            row("org:A2", Kind::Organization, a2.id),
            row("org:B1", Kind::Organization, b1.id),
            row("tenant:A1", Kind::Tenant, t_a1.id),
            row("tenant:A2", Kind::Tenant, t_a2.id),
            row("tenant:B1", Kind::Tenant, t_b1.id),
            row("account:A1", Kind::ServiceAccount, sa_a1),
            row("account:A2", Kind::ServiceAccount, sa_a2),
            row("user:A1-admin", Kind::User, a1_admin.id),
            row("user:A1-user", Kind::User, a1_user.id),
            row("user:A1-other", Kind::User, a1_other.id),
            row("user:A2", Kind::User, a2_user.id),
            row("user:B1", Kind::User, b1_user.id),
            row("service:A1", Kind::Service, svc_a1.id),
            row("service:A2", Kind::Service, svc_a2.id),
            row("service:B1", Kind::Service, svc_b1.id),
            row("sub:A1-1", Kind::ServiceSubscription, s1.id),
            row("sub:A1-2", Kind::ServiceSubscription, s2.id),
            row("sub:A2", Kind::ServiceSubscription, s3.id),
            row("sub:B1", Kind::ServiceSubscription, s4.id),
        ],
        broker_a: a.id,
        org_a1: a1.id,
        a1_user_email: "user@a1.example",
        microsoft_ids: vec![
            ("tenant:A1", t_a1.microsoft_tenant_id),
            ("tenant:A2", t_a2.microsoft_tenant_id),
            ("tenant:B1", t_b1.microsoft_tenant_id),
        ],
    }
}

/// A role, its token, and the rows it may see.
struct Case {
    role: Role,
    token: String,
    visible: BTreeSet<&'static str>,
}

fn cases(world: &World) -> Vec<Case> {
    let all: BTreeSet<&str> = world.rows.iter().map(|row| row.label).collect();
    let broker_a: BTreeSet<&str> = [
        "broker:A",
        "org:A1",
        "org:A2",
        "tenant:A1",
        "tenant:A2",
        "account:A1",
        "account:A2",
        "user:A1-admin",
        "user:A1-user",
        "user:A1-other",
        "user:A2",
        "service:A1",
        "service:A2",
        "sub:A1-1",
        "sub:A1-2",
        "sub:A2",
    ]
    .into();
    let org_admin: BTreeSet<&str> = [
        "broker:A",
        "org:A1",
        "tenant:A1",
        "account:A1",
        "user:A1-admin",
        "user:A1-user",
        "user:A1-other",
        "service:A1",
        "service:A2",
        "sub:A1-1",
        "sub:A1-2",
    ]
    .into();
    let org_user: BTreeSet<&str> = [
        "org:A1",
        "tenant:A1",
        "user:A1-admin",
        "user:A1-user",
        "user:A1-other",
        "service:A1",
        "sub:A1-1",
    ]
    .into();
    let (a, a1) = (Some(world.broker_a), Some(world.org_a1));
    vec![
        Case {
            role: Role::PlatformAdmin,
            token: token(Role::PlatformAdmin, None, None, "root"),
            visible: all,
        },
        Case {
            role: Role::BrokerAdmin,
            token: token(Role::BrokerAdmin, a, None, "ba"),
            visible: broker_a.clone(),
        },
        Case {
            role: Role::BrokerReader,
            token: token(Role::BrokerReader, a, None, "br"),
            visible: broker_a,
        },
        Case {
            role: Role::OrganizationAdmin,
            token: token(Role::OrganizationAdmin, None, a1, "admin@a1.example"),
            visible: org_admin,
        },
        Case {
            role: Role::OrganizationUser,
            token: token(Role::OrganizationUser, None, a1, world.a1_user_email),
            visible: org_user,
        },
    ]
}

/// Counts the matrix rows tried, for the report.
#[derive(Default)]
struct Tally(usize);

impl Tally {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.0 += 1;
        assert!(ok, "{}", what());
    }
}

fn uuids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection}"))
        .iter()
        .map(|edge| edge["node"]["uuid"].as_str().unwrap().to_string())
        .collect()
}

fn labels_of(world: &World, connection: &Value) -> BTreeSet<&'static str> {
    uuids(connection)
        .iter()
        .map(|uuid| world.label_of(uuid))
        .collect()
}

fn expected(case: &Case, prefix: &str) -> BTreeSet<&'static str> {
    case.visible
        .iter()
        .copied()
        .filter(|label| label.starts_with(prefix))
        .collect()
}

async fn should_keep_every_role_inside_its_scope(app: TestApp) {
    let world = world(&app).await;
    let mut tally = Tally::default();
    for case in cases(&world) {
        let client = app.with_token(Some(case.token.clone()));
        let role = case.role.as_str();

        // Root lists and their counts.
        let data = client
            .query(
                "{ brokers(first: 100) { totalCount edges { node { uuid } } }
                   organizations(first: 100) { totalCount edges { node { uuid } } }
                   users(first: 100) { totalCount edges { node { uuid } } }
                   services(first: 100) { totalCount edges { node { uuid } } }
                   subscriptions(first: 100) { totalCount edges { node { uuid } } } }",
                json!({}),
            )
            .await;
        for (field, prefix) in [
            ("brokers", "broker:"),
            ("organizations", "org:"),
            ("users", "user:"),
            ("services", "service:"),
            ("subscriptions", "sub:"),
        ] {
            let seen = labels_of(&world, &data[field]);
            let want = expected(&case, prefix);
            tally.check(seen == want, || {
                format!("{role} {field}: saw {seen:?}, expected {want:?}")
            });
            tally.check(data[field]["totalCount"] == want.len(), || {
                format!("{role} {field} totalCount: {}", data[field]["totalCount"])
            });
        }

        // node(id:) for every row of the world, one by one.
        for row in &world.rows {
            let data = client
                .query(
                    "query($id: ID!) { node(id: $id) { id } }",
                    json!({ "id": world.id(row.label) }),
                )
                .await;
            let visible = case.visible.contains(row.label);
            tally.check(data["node"].is_null() != visible, || {
                format!("{role} node({}) visible={visible}: {data}", row.label)
            });
        }

        // Aliases batching the IDs (in operations of at most 11 root fields, under the
        // root-field limit), and `nodes` with every ID at once.
        let all_ids: Vec<String> = world.rows.iter().map(|row| world.id(row.label)).collect();
        let nodes = client
            .query(
                "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                json!({ "ids": all_ids }),
            )
            .await;
        for (chunk, rows) in world.rows.chunks(11).enumerate() {
            let aliased: String = rows
                .iter()
                .enumerate()
                .map(|(i, row)| format!("n{i}: node(id: \"{}\") {{ id }} ", world.id(row.label)))
                .collect();
            let data = client.query(&format!("{{ {aliased} }}"), json!({})).await;
            for (i, row) in rows.iter().enumerate() {
                let visible = case.visible.contains(row.label);
                tally.check(data[format!("n{i}")].is_null() != visible, || {
                    format!("{role} alias n{i} ({}) visible={visible}", row.label)
                });
                let index = chunk * 11 + i;
                tally.check(nodes["nodes"][index].is_null() != visible, || {
                    format!("{role} nodes[{index}] ({}) visible={visible}", row.label)
                });
            }
        }

        // Typed lookups, by global ID, slug and Microsoft tenant ID.
        for row in &world.rows {
            let field = match row.kind {
                Kind::Broker => "broker",
                Kind::Organization => "organization",
                Kind::Tenant => "tenant",
                Kind::User => "user",
                _ => continue,
            };
            let data = client
                .query(
                    &format!("query($id: ID!) {{ found: {field}(id: $id) {{ uuid }} }}"),
                    json!({ "id": world.id(row.label) }),
                )
                .await;
            let visible = case.visible.contains(row.label);
            tally.check(data["found"].is_null() != visible, || {
                format!("{role} {field}({})", row.label)
            });
        }
        for (slug, label) in [("alpha", "broker:A"), ("bravo", "broker:B")] {
            let data = client
                .query(
                    "query($s: String!) { brokerBySlug(slug: $s) { uuid } }",
                    json!({ "s": slug }),
                )
                .await;
            let visible = case.visible.contains(label);
            tally.check(data["brokerBySlug"].is_null() != visible, || {
                format!("{role} brokerBySlug({slug})")
            });
        }
        for (label, guid) in &world.microsoft_ids {
            let data = client
                .query(
                    "query($g: String!) { tenantByMicrosoftId(microsoftTenantId: $g) { uuid } }",
                    json!({ "g": guid.to_string() }),
                )
                .await;
            let visible = case.visible.contains(label);
            tally.check(data["tenantByMicrosoftId"].is_null() != visible, || {
                format!("{role} tenantByMicrosoftId({label})")
            });
        }

        // Nested paths that could climb out of the scope.
        let data = client
            .query(
                "{ organizations(first: 5) { edges { node { uuid
                    tenant { uuid organization { uuid } serviceAccount { uuid } }
                    users(first: 5) { edges { node { uuid organization { uuid }
                        subscriptions(first: 5) { edges { node { uuid assignees(first: 5) { edges { node { uuid } } } } } } } } }
                    subscriptions(first: 5) { edges { node { uuid service { uuid } organization { uuid }
                        assignees(first: 5) { edges { node { uuid } } } } } } } } } }",
                json!({}),
            )
            .await;
        let mut reached = BTreeSet::new();
        collect_uuids(&data, &world, &mut reached);
        let outside: Vec<_> = reached.difference(&case.visible).collect();
        tally.check(outside.is_empty(), || {
            format!("{role} reached out of scope: {outside:?}")
        });
        // Tenant → organization → broker → organizations: only the visible ones.
        let response = client
            .post_json(&json!({ "query": "{ organizations { edges { node { tenant { organization { broker { uuid
                organizations { edges { node { uuid } } } services { edges { node { uuid } } } } } } } } } }" }))
            .await;
        if case.role == Role::OrganizationUser {
            // Its broker is not in scope; the non-null field answers NOT_FOUND.
            tally.check(
                response.codes().iter().all(|c| c == "NOT_FOUND") && !response.codes().is_empty(),
                || format!("{role} broker of own organization: {}", response.body),
            );
        } else {
            let mut reached = BTreeSet::new();
            collect_uuids(&response.body["data"], &world, &mut reached);
            tally.check(reached.is_subset(&case.visible), || {
                format!("{role} via broker: {reached:?}")
            });
            tally.check(response.codes().is_empty(), || {
                format!("{role}: {}", response.body)
            });
        }
    }
    eprintln!("authorization matrix: {} rows tried", tally.0);
    assert!(tally.0 > 400);
}

fn collect_uuids(value: &Value, world: &World, into: &mut BTreeSet<&'static str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "uuid" {
                    into.insert(world.label_of(value.as_str().unwrap()));
                } else {
                    collect_uuids(value, world, into);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_uuids(item, world, into)),
        _ => {}
    }
}

/// Rows a role may see, with fields it may not read: `FORBIDDEN`.
async fn should_guard_fields_a_role_may_not_read(app: TestApp) {
    let world = world(&app).await;
    let by_role = |role| {
        cases(&world)
            .into_iter()
            .find(|case| case.role == role)
            .unwrap()
    };
    let member = app.with_token(Some(by_role(Role::OrganizationUser).token));
    let own = member
        .query(
            "query($id: ID!) { user(id: $id) { email displayName } }",
            json!({ "id": world.id("user:A1-user") }),
        )
        .await;
    assert_eq!(own["user"]["email"], world.a1_user_email);
    for (query, id) in [
        (
            "query($id: ID!) { user(id: $id) { email } }",
            "user:A1-other",
        ),
        (
            "query($id: ID!) { organization(id: $id) { contactEmail } }",
            "org:A1",
        ),
        (
            "query($id: ID!) { organization(id: $id) { vatNumber } }",
            "org:A1",
        ),
        (
            "query($id: ID!) { tenant(id: $id) { linkedBy } }",
            "tenant:A1",
        ),
    ] {
        let response = member
            .post_json(&json!({ "query": query, "variables": { "id": world.id(id) } }))
            .await;
        assert_eq!(
            response.codes(),
            ["FORBIDDEN"],
            "{query}: {}",
            response.body
        );
    }
    // Display names of colleagues stay readable.
    let colleague = member
        .query(
            "query($id: ID!) { user(id: $id) { displayName role } }",
            json!({ "id": world.id("user:A1-other") }),
        )
        .await;
    assert!(colleague["user"]["displayName"].is_string());

    let admin = app.with_token(Some(by_role(Role::OrganizationAdmin).token));
    let data = admin
        .query(
            "query($id: ID!, $org: ID!) { user(id: $id) { email } organization(id: $org) { contactEmail } }",
            json!({ "id": world.id("user:A1-other"), "org": world.id("org:A1") }),
        )
        .await;
    assert_eq!(data["user"]["email"], "other@a1.example");
    let response = admin
        .post_json(&json!({ "query": "query($id: ID!) { tenant(id: $id) { linkedBy } }", "variables": { "id": world.id("tenant:A1") } }))
        .await;
    assert_eq!(
        response.codes(),
        ["FORBIDDEN"],
        "organization roles do not see who linked"
    );
    for role in [Role::BrokerReader, Role::BrokerAdmin, Role::PlatformAdmin] {
        let data = app
            .with_token(Some(by_role(role).token))
            .query(
                "query($id: ID!) { tenant(id: $id) { linkedBy } }",
                json!({ "id": world.id("tenant:A1") }),
            )
            .await;
        assert_eq!(data["tenant"]["linkedBy"], "test", "{role:?}");
    }
}

/// A token whose scope names nothing that exists sees nothing, and fails nothing.
async fn should_show_nothing_to_a_scope_that_does_not_exist(app: TestApp) {
    world(&app).await;
    let ghost = Some(Uuid::now_v7());
    let query = "{ brokers { totalCount } organizations { totalCount } users { totalCount } services { totalCount } subscriptions { totalCount } }";
    let data = app
        .with_token(Some(token(Role::BrokerAdmin, ghost, None, "ghost")))
        .query(query, json!({}))
        .await;
    for field in [
        "brokers",
        "organizations",
        "users",
        "services",
        "subscriptions",
    ] {
        assert_eq!(data[field]["totalCount"], 0, "{field}");
    }
    // An organization that does not exist has no members, so no token of it names one.
    for role in [Role::OrganizationAdmin, Role::OrganizationUser] {
        let response = app
            .with_token(Some(token(role, None, ghost, "ghost")))
            .post_json(&json!({ "query": query }))
            .await;
        assert_eq!(
            response.status,
            axum::http::StatusCode::UNAUTHORIZED,
            "{role:?}"
        );
        assert_eq!(
            response.body["errors"][0]["extensions"]["reason"], "SUBJECT_UNKNOWN",
            "{role:?}"
        );
    }
}

db_tests!(
    should_keep_every_role_inside_its_scope,
    should_guard_fields_a_role_may_not_read,
    should_show_nothing_to_a_scope_that_does_not_exist,
);
