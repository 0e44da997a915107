//! Keyset pagination both ways, its boundaries and its refusals, at the root and nested.

use serde_json::{Value, json};

use crate::db_tests;
use crate::fixtures;
use crate::support::TestApp;

/// One broker with 25 organizations "Org 01" ... "Org 25", and a second one with 3.
async fn organizations(app: &TestApp) {
    let one = fixtures::broker(&app.db, "one", "One").await;
    let two = fixtures::broker(&app.db, "two", "Two").await;
    // Created out of name order, so name order and creation order differ.
    for n in (1..=25).rev() {
        fixtures::organization(&app.db, &one, &format!("Org {n:02}"), "DE").await;
    }
    for n in 1..=3 {
        fixtures::organization(&app.db, &two, &format!("Two {n}"), "NL").await;
    }
}

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $order: OrganizationOrder) {
    organizations(first: $first, after: $after, last: $last, before: $before, orderBy: $order, filter: {country: \"DE\"}) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { name } }
    } }";

fn names(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn expected(range: impl Iterator<Item = u32>) -> Vec<String> {
    range.map(|n| format!("Org {n:02}")).collect()
}

async fn page(app: &TestApp, variables: Value) -> Value {
    app.query(PAGE, variables).await["organizations"].clone()
}

async fn should_page_forward_and_backward_through_every_row(app: TestApp) {
    organizations(&app).await;
    let default = page(&app, json!({})).await;
    assert_eq!(names(&default), expected(1..=20), "default page size is 20");
    assert_eq!(default["totalCount"], 25);
    assert_eq!(default["pageInfo"]["hasNextPage"], true);
    assert_eq!(default["pageInfo"]["hasPreviousPage"], false);

    // Forward by 10: 10, 10, 5.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    for (size, more) in [(10, true), (10, true), (5, false)] {
        let p = page(&app, json!({ "first": 10, "after": after })).await;
        assert_eq!(names(&p).len(), size);
        assert_eq!(p["pageInfo"]["hasNextPage"], more);
        assert_eq!(p["pageInfo"]["hasPreviousPage"], !after.is_null());
        assert_eq!(p["totalCount"], 25);
        assert_eq!(p["pageInfo"]["endCursor"], p["edges"][size - 1]["cursor"]);
        seen.extend(names(&p));
        after = p["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, expected(1..=25));

    // Past the end: nothing, but the count and the way back remain.
    let p = page(&app, json!({ "first": 10, "after": after })).await;
    assert!(names(&p).is_empty());
    assert_eq!(p["totalCount"], 25);
    assert_eq!(p["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(p["pageInfo"]["hasNextPage"], false);

    // Backward by 10 from the end: 16-25, 6-15, 1-5.
    let mut before = Value::Null;
    let mut pages = Vec::new();
    for (range, more) in [(16..=25, true), (6..=15, true), (1..=5, false)] {
        let p = page(&app, json!({ "last": 10, "before": before })).await;
        assert_eq!(names(&p), expected(range));
        assert_eq!(p["pageInfo"]["hasPreviousPage"], more);
        assert_eq!(p["pageInfo"]["hasNextPage"], !before.is_null());
        before = p["pageInfo"]["startCursor"].clone();
        pages.push(p);
    }

    // Between two cursors.
    let after = pages[2]["pageInfo"]["endCursor"].clone(); // Org 05
    let before = pages[0]["pageInfo"]["startCursor"].clone(); // Org 16
    let p = page(
        &app,
        json!({ "first": 3, "after": after, "before": before }),
    )
    .await;
    assert_eq!(names(&p), expected(6..=8));
    assert_eq!(p["pageInfo"]["hasNextPage"], true);
    let p = page(&app, json!({ "last": 3, "after": after, "before": before })).await;
    assert_eq!(names(&p), expected(13..=15));
    let p = page(
        &app,
        json!({ "first": 50, "after": after, "before": before }),
    )
    .await;
    assert_eq!(names(&p), expected(6..=15));
    assert_eq!(p["pageInfo"]["hasNextPage"], false);

    // Zero and the maximum are fine.
    let p = page(&app, json!({ "first": 0 })).await;
    assert!(names(&p).is_empty());
    assert_eq!(p["totalCount"], 25);
    let p = page(&app, json!({ "first": 100 })).await;
    assert_eq!(names(&p).len(), 25);
}

async fn should_page_in_each_order(app: TestApp) {
    organizations(&app).await;
    let order = json!({ "field": "NAME", "direction": "DESC" });
    let first = page(&app, json!({ "first": 4, "order": order })).await;
    assert_eq!(names(&first), expected((22..=25).rev()));
    let next = page(
        &app,
        json!({ "first": 4, "order": order, "after": first["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(names(&next), expected((18..=21).rev()));

    // Creation order: they were created from 25 down to 1.
    let order = json!({ "field": "CREATED_AT" });
    let first = page(&app, json!({ "first": 3, "order": order })).await;
    assert_eq!(names(&first), expected((23..=25).rev()));
    let next = page(
        &app,
        json!({ "first": 3, "order": order, "after": first["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(names(&next), expected((20..=22).rev()));
    let back = page(
        &app,
        json!({ "last": 2, "order": order, "before": next["pageInfo"]["startCursor"] }),
    )
    .await;
    assert_eq!(names(&back), expected((23..=24).rev()));
}

async fn should_refuse_bad_page_arguments(app: TestApp) {
    organizations(&app).await;
    let cursor = page(&app, json!({ "first": 1 })).await["pageInfo"]["endCursor"].clone();
    let cases = [
        (json!({ "first": 101 }), "first"),
        (json!({ "last": 101 }), "last"),
        (json!({ "first": -1 }), "first"),
        (json!({ "first": 1, "last": 1 }), "last"),
        (json!({ "after": "garbage" }), "after"),
        (json!({ "before": "eyJrIjoiTmFtZSJ9" }), "before"),
        // A name cursor used with the creation order.
        (
            json!({ "after": cursor, "order": { "field": "CREATED_AT" } }),
            "after",
        ),
        (
            json!({ "after": cursor, "order": { "field": "NAME", "direction": "DESC" } }),
            "after",
        ),
    ];
    for (variables, field) in cases {
        let response = app
            .post_json(&json!({ "query": PAGE, "variables": variables }))
            .await;
        assert_eq!(
            response.codes(),
            ["BAD_USER_INPUT"],
            "{variables}: {}",
            response.body
        );
        assert_eq!(
            response.body["errors"][0]["extensions"]["field"], field,
            "{variables}"
        );
    }
}

async fn should_page_nested_connections_per_parent(app: TestApp) {
    organizations(&app).await;
    let query = "query($after: String) { brokers { edges { node { slug
        organizations(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } } } } }";
    let data = app.query(query, json!({})).await;
    let brokers = data["brokers"]["edges"].as_array().unwrap();
    let one = &brokers[0]["node"]["organizations"];
    let two = &brokers[1]["node"]["organizations"];
    assert_eq!(names(one), expected(1..=2));
    assert_eq!(one["totalCount"], 25);
    assert_eq!(names(two), ["Two 1", "Two 2"]);
    assert_eq!(two["totalCount"], 3);
    assert_eq!(two["pageInfo"]["hasNextPage"], true);

    let data = app
        .query(query, json!({ "after": two["pageInfo"]["endCursor"] }))
        .await;
    let brokers = data["brokers"]["edges"].as_array().unwrap();
    assert_eq!(names(&brokers[1]["node"]["organizations"]), ["Two 3"]);
    assert_eq!(
        brokers[1]["node"]["organizations"]["pageInfo"]["hasNextPage"],
        false
    );
    // The same cursor on the other broker: past "Two 2" in name order there is nothing.
    assert_eq!(brokers[0]["node"]["organizations"]["totalCount"], 25);
    assert!(names(&brokers[0]["node"]["organizations"]).is_empty());

    let codes = app
        .query_errors(
            "{ brokers { edges { node { organizations(first: 1000) { totalCount } } } } }",
            json!({}),
        )
        .await;
    assert!(codes.iter().all(|c| c == "BAD_USER_INPUT"));
}

/// A page after a cursor seeks from the cursor's key: without `totalCount` it counts nothing,
/// and still knows whether rows come before and after it, at the root and per parent, each
/// page in one statement (a level of nested pages in one too).
async fn should_page_after_a_cursor_without_counting(app: TestApp) {
    organizations(&app).await;
    let uncounted = "query($first: Int, $after: String, $last: Int, $before: String) {
        organizations(first: $first, after: $after, last: $last, before: $before, filter: {country: \"DE\"}) {
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            edges { node { name } }
        } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    // (rows, hasNextPage, statements: past the end, a count tells `hasPreviousPage`)
    for (size, more, statements) in [(10, true, 1), (10, true, 1), (5, false, 1), (0, false, 2)] {
        app.reset_statements();
        let p = app
            .query(uncounted, json!({ "first": 10, "after": after }))
            .await["organizations"]
            .clone();
        assert_eq!(app.statement_count(), statements, "a page after {after}");
        assert_eq!(names(&p).len(), size);
        assert_eq!(p["pageInfo"]["hasNextPage"], more);
        assert_eq!(p["pageInfo"]["hasPreviousPage"], !after.is_null());
        seen.extend(names(&p));
        if size > 0 {
            after = p["pageInfo"]["endCursor"].clone();
        }
    }
    assert_eq!(seen, expected(1..=25));
    // Backward from "Org 11": 06-10, then 01-05 with nothing before.
    let before = page(&app, json!({ "first": 11 })).await["pageInfo"]["endCursor"].clone();
    let back = app
        .query(uncounted, json!({ "last": 5, "before": before }))
        .await["organizations"]
        .clone();
    assert_eq!(names(&back), expected(6..=10));
    assert_eq!(back["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(back["pageInfo"]["hasNextPage"], true);
    let start = back["pageInfo"]["startCursor"].clone();
    let back = app
        .query(uncounted, json!({ "last": 5, "before": start }))
        .await["organizations"]
        .clone();
    assert_eq!(names(&back), expected(1..=5));
    assert_eq!(back["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(back["pageInfo"]["hasNextPage"], true);

    // Nested: the same cursor pages every broker's organizations from its key.
    let nested = "query($after: String, $count: Boolean!) { brokers { edges { node { slug
        organizations(first: 1, after: $after) { totalCount @include(if: $count)
            pageInfo { hasNextPage hasPreviousPage } edges { node { name } } } } } } }";
    let first = app.query(nested, json!({ "count": false })).await;
    let one = first["brokers"]["edges"][0]["node"]["organizations"].clone();
    assert_eq!(names(&one), ["Org 01"]);
    assert_eq!(one["pageInfo"]["hasPreviousPage"], false);
    let after = app
        .query(
            "{ brokers { edges { node { organizations(first: 1) { pageInfo { endCursor } } } } } }",
            json!({}),
        )
        .await["brokers"]["edges"][0]["node"]["organizations"]["pageInfo"]["endCursor"]
        .clone();
    for count in [false, true] {
        app.reset_statements();
        let data = app
            .query(nested, json!({ "after": after, "count": count }))
            .await;
        assert_eq!(
            app.statement_count(),
            2,
            "brokers, then one page per broker"
        );
        let brokers = data["brokers"]["edges"].as_array().unwrap();
        let one = &brokers[0]["node"]["organizations"];
        let two = &brokers[1]["node"]["organizations"];
        // Past "Org 01" in name order: "Org 02" for the first broker; every name of the
        // second comes after it, none before.
        assert_eq!(names(one), expected(2..=2));
        assert_eq!(one["pageInfo"]["hasPreviousPage"], true);
        assert_eq!(one["pageInfo"]["hasNextPage"], true);
        assert_eq!(names(two), ["Two 1"]);
        assert_eq!(two["pageInfo"]["hasPreviousPage"], false);
        assert_eq!(two["pageInfo"]["hasNextPage"], true);
        if count {
            assert_eq!(one["totalCount"], 25);
            assert_eq!(two["totalCount"], 3);
        } else {
            assert!(two.get("totalCount").is_none());
        }
    }
}

db_tests!(
    should_page_forward_and_backward_through_every_row,
    should_page_in_each_order,
    should_refuse_bad_page_arguments,
    should_page_nested_connections_per_parent,
    should_page_after_a_cursor_without_counting,
);
