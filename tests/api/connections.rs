//! Connections resolve their parts and their nodes' leaves in place (`graphql::connection`);
//! anything else goes async-graphql's way. Both ways must give the same answer: each query
//! here is run as written (in place) and with every connection's selection wrapped in an inline
//! fragment, which sends it async-graphql's way; so are the objects of one-to-one relations
//! (`InPlace`).

use entity::enums::{OrganizationRole, ServiceAccountStatus};
use entity::{audit_event, organization, service_account, tenant, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{TestApp, token};
use brokergraph::auth::Role;

/// `query` with each `{!@@Type ... !}` selection written plainly, or (`generic`) with its body
/// wrapped in `... on Type { }`.
fn shaped(query: &str, generic: bool) -> String {
    let mut out = String::new();
    let mut rest = query;
    while let Some(start) = rest.find("{!@@") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 4..];
        let end = after.find(char::is_whitespace).unwrap();
        if generic {
            out.push_str(&format!("{{ ... on {} {{", &after[..end]));
        } else {
            out.push('{');
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out.replace("!}", if generic { "} }" } else { "}" })
}

const GRAPH: &str = r#"
query($first: Int, $users: Int) {
  brokers {!@@BrokerConnection
    totalCount
    nodes { slug }
    edges {
      node {
        name
        organizations(first: $first, orderBy: {field: NAME, direction: ASC}) {!@@OrganizationConnection
          __typename
          totalCount
          pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
          edges {
            __typename
            cursor
            node {
              __typename
              id
              name
              country
              tenant {!@@Tenant id microsoftTenantId linkMethod
                organization {!@@Organization name broker {!@@Broker slug !} !} !}
              users(first: $users) {!@@UserConnection
                totalCount
                pageInfo { hasNextPage endCursor }
                edges { cursor node { __typename id uuid email displayName role createdAt } }
                nodes { id mail: email }
              !}
            }
          }
          nodes { id }
        !}
      }
    }
  !}
}"#;

async fn should_answer_the_same_in_place_and_the_generic_way(app: TestApp) {
    brokergraph::seed::seed_demo(&app.db).await.unwrap();
    for (first, users) in [(3, 2), (6, 6), (0, 0), (1, 30)] {
        let variables = json!({ "first": first, "users": users });
        let in_place = app.query(&shaped(GRAPH, false), variables.clone()).await;
        let generic = app.query(&shaped(GRAPH, true), variables).await;
        assert_eq!(in_place, generic, "first: {first}, users: {users}");
        let brokers = &in_place["brokers"]["edges"];
        assert!(brokers.as_array().unwrap().len() >= 2, "{in_place}");
        if first > 0 && users > 0 {
            let organization = &brokers[0]["node"]["organizations"]["edges"][0]["node"];
            assert_eq!(organization["__typename"], "Organization");
            let user = &organization["users"]["edges"][0]["node"];
            assert_eq!(user["__typename"], "User");
            assert!(user["email"].as_str().unwrap().contains('@'), "{user}");
            assert_eq!(organization["users"]["nodes"][0]["mail"], user["email"]);
        }
    }
}

/// A field guard refuses a colleague's email: the error, its path and the data around it are
/// the same both ways.
async fn should_report_field_errors_the_same_in_place_and_the_generic_way(app: TestApp) {
    brokergraph::seed::seed_demo(&app.db).await.unwrap();
    let member = user::Entity::find()
        .filter(user::Column::Role.eq(OrganizationRole::OrganizationUser))
        .order_by_asc(user::Column::Email)
        .one(&app.db)
        .await
        .unwrap()
        .expect("the demo data has organization users");
    let organization = organization::Entity::find_by_id(member.organization_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let caller = token(
        Role::OrganizationUser,
        Some(organization.broker_id),
        Some(organization.id),
        &member.email,
    );
    let query = r#"{
      users(first: 10) {!@@UserConnection
        totalCount
        edges { node { displayName email role } }
      !}
    }"#;
    let run = |query: &'static str, generic: bool| {
        let body = json!({ "query": shaped(query, generic) });
        let client = app.with_token(Some(caller.clone()));
        async move { client.post_json(&body).await.body }
    };
    // A refused leaf beside object fields (the organization's contact details), and a refused
    // object field (a nested page too large) beside leaves.
    for other in [
        r#"{ organizations {!@@OrganizationConnection edges { node { name contactEmail
               tenant { id } users(first: 2) { totalCount } } } !} }"#,
        r#"{ organizations {!@@OrganizationConnection edges { node { name
               users(first: 500) { totalCount } tenant { id } } } !} }"#,
    ] {
        let in_place = run(other, false).await;
        let generic = run(other, true).await;
        assert!(in_place["errors"].is_array(), "{in_place}");
        // The inline fragment moves the fields, so only the errors' locations differ.
        let without_locations = |mut body: Value| {
            for error in body["errors"].as_array_mut().unwrap() {
                error.as_object_mut().unwrap().remove("locations");
            }
            body
        };
        assert_eq!(without_locations(in_place), without_locations(generic));
    }
    let in_place = run(query, false).await;
    let generic = run(query, true).await;
    let errors = |body: &Value| {
        let mut errors: Vec<(String, Value)> = body["errors"]
            .as_array()
            .expect("colleagues' emails are refused")
            .iter()
            .map(|error| {
                (
                    error["extensions"]["code"].as_str().unwrap().to_string(),
                    error["path"].clone(),
                )
            })
            .collect();
        errors.sort_by_key(|(code, path)| format!("{code}{path}"));
        errors
    };
    assert_eq!(errors(&in_place), errors(&generic));
    assert!(
        errors(&in_place)
            .iter()
            .all(|(code, path)| code == "FORBIDDEN"
                && path[path.as_array().unwrap().len() - 1] == "email")
    );
    assert_eq!(in_place["data"], generic["data"]);
    let count = in_place["data"]["users"]["totalCount"].as_i64().unwrap();
    assert!(count >= 2, "{in_place}");
    assert_eq!(errors(&in_place).len() as i64, count - 1, "{in_place}");
}

/// A page that does not ask for `totalCount` is fetched without counting (one row past its
/// end tells `hasNextPage`): its pages and flags are those of the counted page.
async fn should_page_the_same_with_and_without_total_count(app: TestApp) {
    brokergraph::seed::seed_demo(&app.db).await.unwrap();
    let query = |args: &str, total: bool| {
        let total = if total { "totalCount" } else { "" };
        format!(
            r#"{{
              organizations(first: 5) {{ edges {{ node {{ name
                users({args}) {{ {total} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
                  edges {{ cursor node {{ id }} }} }}
              }} }} }}
              users({args}) {{ {total} pageInfo {{ hasNextPage hasPreviousPage }} nodes {{ id }} }}
            }}"#
        )
    };
    let strip = |mut data: Value| {
        for edge in data["organizations"]["edges"].as_array_mut().unwrap() {
            edge["node"]["users"]
                .as_object_mut()
                .unwrap()
                .remove("totalCount");
        }
        data["users"].as_object_mut().unwrap().remove("totalCount");
        data
    };
    let mut flags = std::collections::HashSet::new();
    for args in [
        "first: 0",
        "first: 1",
        "first: 2",
        "first: 3",
        "first: 4",
        "first: 50",
        "last: 0",
        "last: 1",
        "last: 3",
        "last: 50",
    ] {
        let counted = app.query(&query(args, true), json!({})).await;
        let uncounted = app.query(&query(args, false), json!({})).await;
        assert_eq!(strip(counted.clone()), uncounted, "{args}");
        for edge in counted["organizations"]["edges"].as_array().unwrap() {
            let info = &edge["node"]["users"]["pageInfo"];
            flags.insert((info["hasNextPage"].clone(), info["hasPreviousPage"].clone()));
        }
    }
    // The pages above cover both flags, set and not.
    assert_eq!(flags.len(), 3, "{flags:?}");
}

/// One introspected field: its name, whether it takes a required argument or a `first`, and
/// its named type.
struct IntrospectedField {
    name: String,
    required_args: bool,
    pages: bool,
    type_name: String,
}

const INTROSPECTION: &str = "{ __schema { types { name kind interfaces { name }
    fields { name args { name type { kind } } type { name kind ofType { name kind ofType { name kind ofType { name kind } } } } } } } }";

/// A selection of every leaf of `type_name` (and, `depth` levels down, of the objects and
/// connections it leads to), each object type expanded once; `covered` collects them.
fn select_all(
    types: &std::collections::HashMap<String, (String, Vec<IntrospectedField>)>,
    type_name: &str,
    depth: usize,
    covered: &mut std::collections::BTreeSet<String>,
) -> String {
    covered.insert(type_name.to_string());
    let mut selection = String::from("__typename");
    for field in &types[type_name].1 {
        if field.required_args {
            continue;
        }
        let Some((kind, _)) = types.get(&field.type_name) else {
            continue;
        };
        match kind.as_str() {
            "SCALAR" | "ENUM" => selection.push_str(&format!(" {}", field.name)),
            "OBJECT" if depth > 0 && !covered.contains(&field.type_name) => {
                let page = if field.pages { "(first: 3)" } else { "" };
                let inner = if let Some(node) = field.type_name.strip_suffix("Connection") {
                    if covered.contains(node) || !types.contains_key(node) {
                        continue;
                    }
                    format!(
                        "nodes {{ {} }}",
                        select_all(types, node, depth - 1, covered)
                    )
                } else {
                    select_all(types, &field.type_name, depth - 1, covered)
                };
                selection.push_str(&format!(" {}{page} {{ {inner} }}", field.name));
            }
            _ => {}
        }
    }
    selection
}

/// The `__typename`s of every object in `value`.
fn typenames(value: &Value, found: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(name)) = object.get("__typename") {
                found.insert(name.clone());
            }
            object.values().for_each(|value| typenames(value, found));
        }
        Value::Array(items) => items.iter().for_each(|value| typenames(value, found)),
        _ => {}
    }
}

/// The in-place path's assumption, "leaf resolvers never wait": every leaf field of every
/// node type is resolved through the connections and relations, and none may have needed
/// waiting (`graphql::connection::leaves_not_ready`). A leaf that starts awaiting (a loader, a
/// query) fails here instead of silently costing every page its in-place resolution.
async fn should_resolve_every_leaf_of_every_type_without_waiting(app: TestApp) {
    brokergraph::seed::seed_demo(&app.db).await.unwrap();
    // The demo data has neither service accounts nor audit events: one of each.
    let tenant = tenant::Entity::find().one(&app.db).await.unwrap().unwrap();
    let now = chrono::Utc::now();
    service_account::Model {
        id: uuid::Uuid::now_v7(),
        tenant_id: tenant.id,
        user_principal_name: "svc-broker@leaves.onmicrosoft.com".into(),
        display_name: "Broker service account".into(),
        directory_roles: json!(["Teams Administrator"]),
        usage_location: "DE".into(),
        password_changed: true,
        mfa_configured: true,
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
    .unwrap();
    audit_event::Model {
        id: uuid::Uuid::now_v7(),
        occurred_at: now,
        actor_subject: "tester".into(),
        actor_role: "PLATFORM_ADMIN".into(),
        action: "organization.update".into(),
        entity_type: "organization".into(),
        entity_id: tenant.organization_id,
        broker_id: None,
        organization_id: Some(tenant.organization_id),
        details: json!({}),
        sequence: None,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .unwrap();
    let schema = app.query(INTROSPECTION, json!({})).await;
    let mut types = std::collections::HashMap::new();
    let mut node_types = std::collections::BTreeSet::new();
    for ty in schema["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap().to_string();
        let kind = ty["kind"].as_str().unwrap().to_string();
        if ty["interfaces"]
            .as_array()
            .is_some_and(|interfaces| interfaces.iter().any(|i| i["name"] == "Node"))
        {
            node_types.insert(name.clone());
        }
        let fields: Vec<IntrospectedField> = ty["fields"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .map(|field| {
                        let mut named = &field["type"];
                        while named["name"].is_null() {
                            named = &named["ofType"];
                        }
                        let args = field["args"].as_array().unwrap();
                        IntrospectedField {
                            name: field["name"].as_str().unwrap().to_string(),
                            required_args: args.iter().any(|a| a["type"]["kind"] == "NON_NULL"),
                            pages: args.iter().any(|a| a["name"] == "first"),
                            type_name: named["name"].as_str().unwrap().to_string(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        types.insert(name, (kind, fields));
    }
    let roots: Vec<&IntrospectedField> = types["Query"]
        .1
        .iter()
        .filter(|field| !field.required_args && field.type_name.ends_with("Connection"))
        .collect();
    assert!(roots.len() >= 5, "the root connections");
    let mut covered_anywhere = std::collections::BTreeSet::new();
    let mut answered = std::collections::BTreeSet::new();
    let before = brokergraph::graphql::exec::in_place::leaves_not_ready();
    for root in roots {
        let node = root.type_name.strip_suffix("Connection").unwrap();
        let mut covered = std::collections::BTreeSet::new();
        let selection = select_all(&types, node, 3, &mut covered);
        let query = format!(
            "{{ {}(first: 3) {{ nodes {{ {selection} }} }} }}",
            root.name
        );
        let data = app.query(&query, json!({})).await;
        typenames(&data, &mut answered);
        covered_anywhere.extend(covered);
    }
    assert_eq!(
        brokergraph::graphql::exec::in_place::leaves_not_ready(),
        before,
        "a leaf resolver waited: the in-place path no longer holds for it"
    );
    let missing: Vec<_> = node_types.difference(&answered).collect();
    assert!(missing.is_empty(), "no object of {missing:?} was resolved");
}

db_tests!(
    should_page_the_same_with_and_without_total_count,
    should_resolve_every_leaf_of_every_type_without_waiting,
    should_answer_the_same_in_place_and_the_generic_way,
    should_report_field_errors_the_same_in_place_and_the_generic_way,
);
