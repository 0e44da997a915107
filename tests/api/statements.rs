//! No N+1: the SQL statements of a request depend on the query's shape, not on the row count.

use entity::enums::OrganizationRole;
use serde_json::json;

use crate::db_tests;
use crate::fixtures;
use crate::support::TestApp;

const DASHBOARD: &str = "{ brokers(first: 20) { edges { node { name
    organizations(first: 5) { totalCount edges { node { name
        tenant { microsoftTenantId }
        users(first: 2) { totalCount edges { node { email
            subscriptions(first: 1) { totalCount edges { node { quantity } } } } } }
    } } } } } } }";

/// `brokers` brokers, each with 5 organizations (every other with a tenant), each with 2 users
/// assigned to one subscription.
async fn grow(app: &TestApp, from: usize, brokers: usize) {
    for b in from..from + brokers {
        let broker = fixtures::broker(&app.db, &format!("b{b}"), &format!("Broker {b:03}")).await;
        let service = fixtures::service(&app.db, &broker, "M365", "M365").await;
        for o in 0..5 {
            let org = fixtures::organization(&app.db, &broker, &format!("Org {b}-{o}"), "DE").await;
            if o % 2 == 0 {
                fixtures::tenant(&app.db, &org).await;
            }
            let subscription = fixtures::subscription(&app.db, &org, &service, 2).await;
            for u in 0..2 {
                let email = format!("u{u}@o{o}.b{b}.example");
                let user =
                    fixtures::user(&app.db, &org, &email, OrganizationRole::OrganizationUser).await;
                fixtures::assign(&app.db, &subscription, &user).await;
            }
        }
    }
}

async fn statements_for(app: &TestApp) -> (usize, usize) {
    app.reset_statements();
    let data = app.query(DASHBOARD, json!({})).await;
    let users: usize = data["brokers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| {
            b["node"]["organizations"]["edges"]
                .as_array()
                .unwrap()
                .clone()
        })
        .map(|o| o["node"]["users"]["edges"].as_array().unwrap().len())
        .sum();
    (app.statement_count(), users)
}

async fn should_run_as_many_statements_for_ten_times_the_data(app: TestApp) {
    grow(&app, 0, 2).await;
    let (small, small_users) = statements_for(&app).await;
    grow(&app, 2, 18).await;
    let (large, large_users) = statements_for(&app).await;
    assert_eq!(small_users, 20);
    assert_eq!(large_users, 200);
    // brokers, organizations, tenants, users, subscriptions: one statement per level.
    assert_eq!(small, 5, "statements for 2 brokers");
    assert_eq!(large, small, "statements for 20 brokers");
}

/// Under concurrent load each level is still one batch: operations run on single-threaded
/// executors, where a batch loads only once every sibling has asked (no timer to race).
async fn should_keep_one_statement_per_level_under_concurrent_load(app: TestApp) {
    grow(&app, 0, 20).await;
    app.reset_statements();
    let requests = (0..12).map(|_| app.query(DASHBOARD, json!({})));
    let answers = futures_util::future::join_all(requests).await;
    assert!(
        answers
            .iter()
            .all(|data| data["brokers"]["edges"].as_array().map(Vec::len) == Some(20))
    );
    assert_eq!(app.statement_count(), 12 * 5);
}

/// A level longer than async-graphql resolves in one go (it yields every 32 items) is still
/// one statement.
async fn should_load_a_long_list_level_in_one_statement(app: TestApp) {
    let broker = fixtures::broker(&app.db, "wide", "Wide").await;
    for o in 0..45 {
        let org = fixtures::organization(&app.db, &broker, &format!("Wide {o:02}"), "DE").await;
        fixtures::tenant(&app.db, &org).await;
        let email = format!("u@o{o}.example");
        fixtures::user(&app.db, &org, &email, OrganizationRole::OrganizationUser).await;
    }
    let query =
        "{ brokers(first: 1) { edges { node { organizations(first: 50) { edges { node { name
        tenant { microsoftTenantId } users(first: 20) { edges { node { email } } } } } } } } } }";
    app.reset_statements();
    let data = app.query(query, json!({})).await;
    let organizations = data["brokers"]["edges"][0]["node"]["organizations"]["edges"]
        .as_array()
        .unwrap();
    assert_eq!(organizations.len(), 45);
    // brokers, organizations, tenants, users
    assert_eq!(app.statement_count(), 4);
    app.reset_statements();
    let answers = futures_util::future::join_all((0..8).map(|_| app.query(query, json!({})))).await;
    assert_eq!(answers.len(), 8);
    assert_eq!(app.statement_count(), 8 * 4);
}

/// Relation loads batch by yielding: a connection polls all its nodes (`edges` or `nodes`) and
/// an object resolved in place all its relations before any of them waits, so every sibling has
/// asked for its key when the level's batch loads. Each query here follows one chain of
/// relations through 40 organizations and 80 users (more than the 32 items async-graphql
/// resolves between yields), in place through both list forms, root lookups and one-to-one
/// relations, and runs exactly one statement per level: the root list, then one per relation.
async fn should_batch_each_relation_on_many_nodes_into_one_statement_per_level(app: TestApp) {
    grow(&app, 0, 8).await;
    let first = app
        .query("{ organizations(first: 1) { nodes { id } } }", json!({}))
        .await;
    let organization = first["organizations"]["nodes"][0]["id"]
        .as_str()
        .expect("an organization")
        .to_owned();
    // (query, statements, the leaf values it answers: every node reached)
    let chains = [
        (
            "{ organizations(first: 50) { nodes { broker { slug } } } }",
            2,
            40,
        ),
        (
            "{ organizations(first: 50) { edges { node { tenant { primaryDomain
                serviceAccount { displayName } } } } } }",
            3,
            24,
        ),
        (
            "{ organizations(first: 50) { nodes { tenant { organization { name } } } } }",
            3,
            24,
        ),
        (
            "{ organizations(first: 50) { nodes { users(first: 5) { edges { node { email
                subscriptions(first: 5) { nodes { quantity } } } } } } } }",
            3,
            80 + 80,
        ),
        (
            "{ organizations(first: 50) { edges { node { subscriptions(first: 5) { nodes {
                service { broker { slug } } } } } } } }",
            4,
            40,
        ),
        (
            "{ users(first: 100) { nodes { organization { broker { services(first: 5) {
                edges { node { name } } } } } } } }",
            4,
            80,
        ),
        (
            "{ subscriptions(first: 50) { nodes { organization { name }
                assignees(first: 5) { nodes { email } } } } }",
            3,
            40 + 80,
        ),
        (
            "{ brokers(first: 10) { nodes { organizations(first: 50) { nodes {
                tenant { primaryDomain } } } } } }",
            3,
            24,
        ),
        (
            &*format!(
                "{{ organization(id: \"{organization}\") {{ users(first: 5) {{ nodes {{
                    organization {{ name }} subscriptions(first: 5) {{ nodes {{
                    service {{ name }} }} }} }} }} }} }}"
            ),
            5,
            2 + 2,
        ),
    ];
    for (query, statements, leaves) in chains {
        app.reset_statements();
        let data = app.query(query, json!({})).await;
        assert_eq!(count_leaves(&data), leaves, "{query}: {data}");
        assert_eq!(app.statement_count(), statements, "{query}");
    }
}

/// The strings and numbers in an answer.
fn count_leaves(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(fields) => fields.values().map(count_leaves).sum(),
        serde_json::Value::Array(items) => items.iter().map(count_leaves).sum(),
        serde_json::Value::Null | serde_json::Value::Bool(_) => 0,
        _ => 1,
    }
}

db_tests!(
    should_batch_each_relation_on_many_nodes_into_one_statement_per_level,
    should_run_as_many_statements_for_ten_times_the_data,
    should_load_a_long_list_level_in_one_statement,
    should_keep_one_statement_per_level_under_concurrent_load,
);
