//! brokergraph as an Apollo Federation v2 subgraph, driven as a router drives it: `_entities`
//! with the caller's `Authorization` header passed through, `_service { sdl }`, and the
//! subgraph SDL composed with a second subgraph by Apollo's own composition library.

use std::collections::BTreeSet;

use brokergraph::auth::Role;
use brokergraph::graphql::relay::ids::{self, Kind};
use entity::enums::OrganizationRole;
use serde_json::{Value, json};
use uuid::Uuid;

use brokergraph::graphql::exec::limits::Limits;

use crate::support::{Backend, Setup, TestApp, spawn_app_with, token};
use crate::{backend_tests, db_tests, fixtures};

/// What a router asks for: each representation's type and key fields.
const ENTITIES: &str = "query($representations: [_Any!]!) {
    _entities(representations: $representations) {
        __typename
        ... on Broker { uuid name }
        ... on Organization { uuid name }
        ... on Tenant { uuid primaryDomain }
        ... on User { uuid displayName }
    }
}";

struct Entity {
    label: &'static str,
    kind: Kind,
    uuid: Uuid,
}

impl Entity {
    fn typename(&self) -> &'static str {
        match self.kind {
            Kind::Broker => "Broker",
            Kind::Organization => "Organization",
            Kind::Tenant => "Tenant",
            Kind::User => "User",
            other => panic!("{other:?} is not a federation entity"),
        }
    }

    fn by_id(&self) -> Value {
        json!({ "__typename": self.typename(), "id": ids::encode(self.kind, self.uuid).0 })
    }

    fn by_uuid(&self) -> Value {
        json!({ "__typename": self.typename(), "uuid": self.uuid })
    }
}

/// Two brokers, three organizations, two tenants, four users.
async fn world(app: &TestApp) -> (Vec<Entity>, Uuid, Uuid) {
    use OrganizationRole::{OrganizationAdmin as Admin, OrganizationUser as Member};
    let db = &app.db;
    let a = fixtures::broker(db, "alpha", "Alpha").await;
    let b = fixtures::broker(db, "bravo", "Bravo").await;
    let a1 = fixtures::organization(db, &a, "A1", "DE").await;
    let a2 = fixtures::organization(db, &a, "A2", "DE").await;
    let b1 = fixtures::organization(db, &b, "B1", "US").await;
    let t_a1 = fixtures::tenant(db, &a1).await;
    let t_b1 = fixtures::tenant(db, &b1).await;
    let a1_admin = fixtures::user(db, &a1, "admin@a1.example", Admin).await;
    let a1_user = fixtures::user(db, &a1, "user@a1.example", Member).await;
    let a2_user = fixtures::user(db, &a2, "user@a2.example", Admin).await;
    let b1_user = fixtures::user(db, &b1, "user@b1.example", Admin).await;
    let entity = |label, kind, uuid| Entity { label, kind, uuid };
    let entities = vec![
        entity("broker:A", Kind::Broker, a.id),
        entity("broker:B", Kind::Broker, b.id),
        entity("org:A1", Kind::Organization, a1.id),
        entity("org:A2", Kind::Organization, a2.id),
        entity("org:B1", Kind::Organization, b1.id),
        entity("tenant:A1", Kind::Tenant, t_a1.id),
        entity("tenant:B1", Kind::Tenant, t_b1.id),
        entity("user:A1-admin", Kind::User, a1_admin.id),
        entity("user:A1-user", Kind::User, a1_user.id),
        entity("user:A2", Kind::User, a2_user.id),
        entity("user:B1", Kind::User, b1_user.id),
    ];
    (entities, a.id, a1.id)
}

/// Each role's token and the entities its scope holds (as `node` shows them: see scope_matrix).
fn roles(broker_a: Uuid, org_a1: Uuid) -> Vec<(Role, String, BTreeSet<&'static str>)> {
    let all = [
        "broker:A",
        "broker:B",
        "org:A1",
        "org:A2",
        "org:B1",
        "tenant:A1",
        "tenant:B1",
        "user:A1-admin",
        "user:A1-user",
        "user:A2",
        "user:B1",
    ];
    let broker = [
        "broker:A",
        "org:A1",
        "org:A2",
        "tenant:A1",
        "user:A1-admin",
        "user:A1-user",
        "user:A2",
    ];
    let org_admin = [
        "broker:A",
        "org:A1",
        "tenant:A1",
        "user:A1-admin",
        "user:A1-user",
    ];
    let org_user = ["org:A1", "tenant:A1", "user:A1-admin", "user:A1-user"];
    let (a, a1) = (Some(broker_a), Some(org_a1));
    vec![
        (
            Role::PlatformAdmin,
            token(Role::PlatformAdmin, None, None, "root"),
            all.into(),
        ),
        (
            Role::BrokerAdmin,
            token(Role::BrokerAdmin, a, None, "ba"),
            broker.into(),
        ),
        (
            Role::BrokerReader,
            token(Role::BrokerReader, a, None, "br"),
            broker.into(),
        ),
        (
            Role::OrganizationAdmin,
            token(Role::OrganizationAdmin, None, a1, "admin@a1.example"),
            org_admin.into(),
        ),
        (
            Role::OrganizationUser,
            token(Role::OrganizationUser, None, a1, "user@a1.example"),
            org_user.into(),
        ),
    ]
}

/// Every entity by `id` and by `uuid`, for every role: the entity itself inside the role's
/// scope, null outside it (as `node` answers), one statement per entity type.
async fn should_resolve_entities_by_id_and_uuid_within_each_roles_scope(app: TestApp) {
    let (entities, broker_a, org_a1) = world(&app).await;
    let representations: Vec<Value> = entities
        .iter()
        .flat_map(|entity| [entity.by_id(), entity.by_uuid()])
        .collect();
    for (role, token, visible) in roles(broker_a, org_a1) {
        app.reset_statements();
        let data = app
            .with_token(Some(token.clone()))
            .query(ENTITIES, json!({ "representations": representations }))
            .await;
        let statements = app.statement_count();
        let answers = data["_entities"].as_array().expect("a list");
        assert_eq!(answers.len(), representations.len(), "{role:?}");
        for (index, answer) in answers.iter().enumerate() {
            let entity = &entities[index / 2];
            let key = if index % 2 == 0 { "id" } else { "uuid" };
            if visible.contains(entity.label) {
                assert_eq!(
                    (answer["__typename"].as_str(), answer["uuid"].as_str()),
                    (
                        Some(entity.typename()),
                        Some(entity.uuid.to_string().as_str())
                    ),
                    "{role:?} resolves {} by {key}",
                    entity.label
                );
            } else {
                assert_eq!(
                    answer,
                    &Value::Null,
                    "{role:?} must not see {} by {key}",
                    entity.label
                );
            }
            // The same answer as `node` gives the same caller.
            let node = app
                .with_token(Some(token.clone()))
                .query(
                    "query($id: ID!) { node(id: $id) { __typename } }",
                    json!({ "id": ids::encode(entity.kind, entity.uuid).0 }),
                )
                .await;
            assert_eq!(
                node["node"].is_null(),
                answer.is_null(),
                "{role:?}: _entities and node disagree on {}",
                entity.label
            );
        }
        // Through the loaders: one statement per entity type (and none more for a role whose
        // scope needs a look-up of its own), however many representations.
        assert!(
            statements <= 5,
            "{role:?}: {statements} statements for {} representations",
            representations.len()
        );
    }
}

/// A representation of a well-formed key that names nothing (another kind's ID, an unknown
/// UUID) is null; one that cannot name anything is bad input.
async fn should_answer_null_for_unknown_keys_and_refuse_bad_representations(app: TestApp) {
    let (entities, _, _) = world(&app).await;
    let broker = &entities[0];
    let admin = app.admin();
    let data = admin
        .query(
            ENTITIES,
            json!({ "representations": [
                // A broker's global ID presented as an organization's.
                { "__typename": "Organization", "id": ids::encode(Kind::Broker, broker.uuid).0 },
                { "__typename": "Broker", "uuid": Uuid::now_v7() },
                broker.by_uuid(),
            ]}),
        )
        .await;
    let answers = data["_entities"].as_array().unwrap();
    assert_eq!(answers[0], Value::Null);
    assert_eq!(answers[1], Value::Null);
    assert_eq!(answers[2]["uuid"], json!(broker.uuid));

    for (representation, why) in [
        (
            json!({ "__typename": "Broker", "id": "not-a-global-id" }),
            "a malformed id",
        ),
        (
            json!({ "__typename": "Broker", "uuid": "not-a-uuid" }),
            "a malformed uuid",
        ),
        (json!({ "__typename": "Broker" }), "no key"),
        (
            json!({ "__typename": "Service", "uuid": broker.uuid }),
            "a type that is not an entity",
        ),
        (json!({ "uuid": broker.uuid }), "no __typename"),
    ] {
        let response = admin
            .post_json(&json!({
                "query": ENTITIES,
                "variables": { "representations": [representation] },
            }))
            .await;
        assert_eq!(
            response.codes(),
            ["BAD_USER_INPUT"],
            "{why}: {}",
            response.body
        );
    }
}

/// What a router forwards without a caller: the same refusal as any request without a token.
async fn should_refuse_entities_without_a_token_as_any_request(app: TestApp) {
    let (entities, _, _) = world(&app).await;
    let body = json!({
        "query": ENTITIES,
        "variables": { "representations": [entities[0].by_uuid()] },
    });
    let entities_answer = app.with_token(None).post_json(&body).await;
    let node_answer = app
        .with_token(None)
        .post_json(&json!({ "query": "{ node(id: \"x\") { id } }" }))
        .await;
    assert_eq!(entities_answer.status, node_answer.status);
    assert_eq!(entities_answer.codes(), node_answer.codes());
    assert!(
        entities_answer.body["data"]["_entities"][0].is_null(),
        "{}",
        entities_answer.body
    );
}

/// `_service { sdl }` is the subgraph SDL: `@key` by id and uuid on the entities, federation's
/// own fields and types left out; the plain schema has none of it.
async fn should_describe_the_subgraph_in_service_sdl(app: TestApp) {
    let data = app.query("{ _service { sdl } }", json!({})).await;
    let sdl = data["_service"]["sdl"].as_str().unwrap();
    assert_eq!(sdl, brokergraph::graphql::federation::subgraph_sdl());
    for entity in ["Broker", "Organization", "Tenant", "User"] {
        assert!(
            sdl.contains(&format!(
                "type {entity} implements Node @key(fields: \"id\") @key(fields: \"uuid\")"
            )),
            "{entity} lacks its keys"
        );
    }
    assert!(sdl.contains("https://specs.apollo.dev/federation/v2"));
    assert!(sdl.contains("\ntype Query {"), "the root keeps its name");
    for absent in ["_entities", "_service", "_Any", "_Entity"] {
        assert!(!sdl.contains(absent), "the subgraph SDL shows {absent}");
    }
    let plain = brokergraph::graphql::schema().sdl();
    for absent in ["_entities", "_service", "_Any", "_Entity", "@key", "@link"] {
        assert!(!plain.contains(absent), "the plain schema shows {absent}");
    }
}

/// The router reads `_service` to compose: it answers where introspection is off (as Apollo's
/// subgraphs do), while `__schema` stays refused.
async fn should_answer_service_sdl_with_introspection_off(backend: Backend) {
    let setup = Setup {
        limits: Limits {
            introspection: false,
            ..Limits::default()
        },
        ..Setup::default()
    };
    let app = spawn_app_with(backend, setup).await.unwrap();
    let data = app.query("{ _service { sdl } }", json!({})).await;
    assert_eq!(
        data["_service"]["sdl"].as_str(),
        Some(brokergraph::graphql::federation::subgraph_sdl().as_str())
    );
    let codes = app
        .query_errors("{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(codes, ["GRAPHQL_VALIDATION_FAILED"]);
}

mod configured {
    use super::*;
    backend_tests!(should_answer_service_sdl_with_introspection_off);
}

db_tests!(
    should_resolve_entities_by_id_and_uuid_within_each_roles_scope,
    should_answer_null_for_unknown_keys_and_refuse_bad_representations,
    should_refuse_entities_without_a_token_as_any_request,
    should_describe_the_subgraph_in_service_sdl,
);

/// The subgraph SDL composes with a second subgraph that extends `Organization`, by Apollo's
/// composition library (tests/federation). Runs where node and its packages are installed
/// (`npm ci` in tests/federation; `.ci/run` does it and composes again on its own).
#[test]
fn should_compose_with_a_billing_subgraph() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/federation");
    let installed = std::path::Path::new(dir)
        .join("node_modules/@apollo/composition")
        .exists();
    if !installed
        || std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_err()
    {
        eprintln!("node or tests/federation/node_modules missing: composition not checked here");
        return;
    }
    let sdl = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(sdl.path(), brokergraph::graphql::federation::subgraph_sdl()).unwrap();
    let output = std::process::Command::new("node")
        .arg(format!("{dir}/compose.mjs"))
        .arg(sdl.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "composition failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
