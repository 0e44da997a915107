//! Issue 10, items 7–9: tokens of people who are not there, cursors that carry what the caller
//! may not read, and an audit trail that follows the field guards.

use std::time::Duration;

use axum::http::StatusCode;
use brokergraph::auth::Role;
use entity::enums::OrganizationRole;
use futures_util::{SinkExt, StreamExt};
use sea_orm::{EntityTrait, ModelTrait};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::db_tests;
use crate::fixtures;
use crate::support::{TestApp, token};

const COLLEAGUES: &str = "{ organizations { edges { node { name users { totalCount } } } } }";

/// The status and the `reason` of the first error of `query` sent with `token`.
async fn refusal(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let response = app
        .with_token(Some(token.to_string()))
        .post_json(&json!({ "query": COLLEAGUES }))
        .await;
    let reason = response.body["errors"][0]["extensions"]["reason"].clone();
    (response.status, reason)
}

/// The close code the server sends after `connection_init` with `token`, or 0 for an ack.
async fn websocket_init(app: &TestApp, token: &str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut request = format!("ws://{address}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({
        "type": "connection_init",
        "payload": { "Authorization": format!("Bearer {token}") },
    });
    socket.send(Message::text(init.to_string())).await.unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the server answers")
            .expect("a message")
            .expect("no socket error");
        match message {
            Message::Text(text) if text.contains("connection_ack") => return 0,
            Message::Close(Some(frame)) => return u16::from(frame.code),
            Message::Close(None) => return 1005,
            _ => continue,
        }
    }
}

async fn should_refuse_organization_tokens_whose_subject_is_no_member(app: TestApp) {
    let broker = fixtures::broker(&app.db, "b", "Broker").await;
    let a = fixtures::organization(&app.db, &broker, "Org A", "DE").await;
    let b = fixtures::organization(&app.db, &broker, "Org B", "DE").await;
    let admin = fixtures::user(
        &app.db,
        &a,
        "admin@a.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    let member = fixtures::user(
        &app.db,
        &a,
        "member@a.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
    let foreign = fixtures::user(
        &app.db,
        &b,
        "carol@b.example",
        OrganizationRole::OrganizationUser,
    )
    .await;

    // Members, by UUID or by email (any case), are let in.
    for (role, subject) in [
        (Role::OrganizationAdmin, admin.id.to_string()),
        (Role::OrganizationAdmin, "Admin@A.example".to_string()),
        (Role::OrganizationUser, member.id.to_string()),
        (Role::OrganizationUser, member.email.clone()),
    ] {
        let data = app
            .with_token(Some(token(role, None, Some(a.id), &subject)))
            .query(COLLEAGUES, json!({}))
            .await;
        assert_eq!(
            data["organizations"]["edges"][0]["node"]["users"]["totalCount"],
            2
        );
    }

    // Never a member, a member of another organization, and a random UUID are refused.
    for role in [Role::OrganizationAdmin, Role::OrganizationUser] {
        for subject in [
            "ghost@a.example".to_string(),
            foreign.id.to_string(),
            foreign.email.clone(),
            uuid::Uuid::now_v7().to_string(),
        ] {
            let unknown = token(role, None, Some(a.id), &subject);
            assert_eq!(
                refusal(&app, &unknown).await,
                (StatusCode::UNAUTHORIZED, json!("SUBJECT_UNKNOWN")),
                "{role:?} {subject}"
            );
            assert_eq!(
                websocket_init(&app, &unknown).await,
                4403,
                "{role:?} {subject}"
            );
        }
    }

    // A member deleted since its token was issued is refused from then on.
    let token_of_member = token(
        Role::OrganizationUser,
        None,
        Some(a.id),
        &member.id.to_string(),
    );
    assert_eq!(websocket_init(&app, &token_of_member).await, 0);
    entity::user::Entity::find_by_id(member.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .delete(&app.db)
        .await
        .unwrap();
    assert_eq!(
        refusal(&app, &token_of_member).await,
        (StatusCode::UNAUTHORIZED, json!("SUBJECT_UNKNOWN"))
    );
    assert_eq!(websocket_init(&app, &token_of_member).await, 4403);

    // Broker and platform subjects live in the identity provider: nothing to look up.
    let reader = token(Role::BrokerReader, Some(broker.id), None, "nobody-we-know");
    let data = app
        .with_token(Some(reader))
        .query(COLLEAGUES, json!({}))
        .await;
    assert_eq!(data["organizations"]["edges"].as_array().unwrap().len(), 2);
}

/// Every string in `value` that sits under a key named `cursor`, `startCursor` or `endCursor`.
fn cursors(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                match value {
                    Value::String(text) if key.ends_with("ursor") => found.push(text.clone()),
                    other => cursors(other, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| cursors(item, found)),
        _ => {}
    }
}

/// A cursor read every way a client could: as is, as base64 (either alphabet) and as JSON.
fn readings(cursor: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut readings = vec![cursor.to_string()];
    let trimmed = cursor.trim_end_matches('=');
    for engine in [URL_SAFE_NO_PAD, STANDARD_NO_PAD] {
        if let Ok(bytes) = engine.decode(trimmed) {
            readings.push(String::from_utf8_lossy(&bytes).into_owned());
            if let Ok(json) = serde_json::from_slice::<Value>(&bytes) {
                readings.push(json.to_string());
            }
        }
    }
    readings
}

const EVERY_CONNECTION: &str = r#"query($order: OrganizationOrder) {
  users(first: 2) { edges { cursor } pageInfo { startCursor endCursor } }
  generic: users(first: 2) { ...UserPage }
  organizations(orderBy: $order) {
    edges { cursor node {
      users(first: 2) { edges { cursor } pageInfo { startCursor endCursor } }
      subscriptions { edges { cursor node {
        assignees(first: 2) { edges { cursor } pageInfo { startCursor endCursor } }
        generic: assignees(first: 2) { ...UserPage }
      } } }
    } }
  }
  subscriptions { edges { cursor } pageInfo { startCursor endCursor } }
}
fragment UserPage on UserConnection { edges { cursor @include(if: true) } pageInfo { endCursor } }"#;

async fn should_seal_cursors_and_guard_filters_and_orders_on_emails(app: TestApp) {
    let broker = fixtures::broker(&app.db, "b", "Broker").await;
    let org = fixtures::organization(&app.db, &broker, "Org A", "DE").await;
    let admin = fixtures::user(
        &app.db,
        &org,
        "admin@a.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    // Created in an order that is not the emails' order.
    let member = fixtures::user(
        &app.db,
        &org,
        "zed@a.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
    let colleagues = [
        fixtures::user(
            &app.db,
            &org,
            "mallory@a.example",
            OrganizationRole::OrganizationUser,
        )
        .await,
        fixtures::user(
            &app.db,
            &org,
            "bob@a.example",
            OrganizationRole::OrganizationUser,
        )
        .await,
    ];
    let service = fixtures::service(&app.db, &broker, "M365", "M365E3").await;
    let subscription = fixtures::subscription(&app.db, &org, &service, 5).await;
    for user in [&member, &colleagues[0], &colleagues[1], &admin] {
        fixtures::assign(&app.db, &subscription, user).await;
    }
    let member_token = token(
        Role::OrganizationUser,
        None,
        Some(org.id),
        &member.id.to_string(),
    );
    let admin_token = token(Role::OrganizationAdmin, None, Some(org.id), &admin.email);
    let as_member = app.with_token(Some(member_token));
    let as_admin = app.with_token(Some(admin_token));

    // No cursor of any connection, in any order, the fast way or the generic way, holds a
    // colleague's email (nor anyone's: the member's own is no exception to the format).
    for order in [
        json!(null),
        json!({ "field": "NAME" }),
        json!({ "field": "CREATED_AT", "direction": "DESC" }),
    ] {
        let response = as_member
            .post_json(&json!({ "query": EVERY_CONNECTION, "variables": { "order": order } }))
            .await;
        assert!(response.body.get("errors").is_none(), "{}", response.body);
        let mut found = Vec::new();
        cursors(&response.body["data"], &mut found);
        assert!(found.len() >= 20, "{found:?}");
        for cursor in &found {
            for (index, reading) in readings(cursor).into_iter().enumerate() {
                for user in [&admin, &member, &colleagues[0], &colleagues[1]] {
                    assert!(
                        !reading.contains(&user.email),
                        "{cursor} reads as {reading}"
                    );
                    // A short local part ("bob") turns up by chance in the random base64 of a
                    // sealed cursor; in its decodings only a leak would put it there.
                    let local = user.email.split('@').next().unwrap();
                    if index > 0 {
                        assert!(!reading.contains(local), "{cursor} reads as {reading}");
                    }
                }
            }
        }
    }

    // A member's lists of users are in creation order; an admin's by email.
    let emails = |data: &Value| -> Vec<Value> {
        data["users"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["uuid"].clone())
            .collect()
    };
    let query = "{ users { edges { node { uuid } } } }";
    let by_creation: Vec<Value> = [&admin, &member, &colleagues[0], &colleagues[1]]
        .iter()
        .map(|u| json!(u.id.to_string()))
        .collect();
    assert_eq!(
        emails(&as_member.query(query, json!({})).await),
        by_creation
    );
    let by_email: Vec<Value> = [&admin, &colleagues[1], &colleagues[0], &member]
        .iter()
        .map(|u| json!(u.id.to_string()))
        .collect();
    assert_eq!(emails(&as_admin.query(query, json!({})).await), by_email);

    // A filter on the email follows the email's guard.
    let filter = "query($email: String) { users(filter: {email: $email}) { totalCount } }";
    let guess = json!({ "email": colleagues[1].email });
    assert_eq!(
        as_member.query_errors(filter, guess.clone()).await,
        ["FORBIDDEN"]
    );
    assert_eq!(
        as_admin.query(filter, guess).await["users"]["totalCount"],
        1
    );

    // Paging on with a member's cursors works both ways.
    let page = "query($after: String, $before: String, $first: Int, $last: Int) {
        users(first: $first, after: $after, last: $last, before: $before) {
          edges { node { uuid } } pageInfo { startCursor endCursor hasNextPage hasPreviousPage } } }";
    let first = as_member.query(page, json!({ "first": 2 })).await;
    let end = first["users"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_string();
    let second = as_member
        .query(page, json!({ "first": 2, "after": end }))
        .await;
    assert_eq!(emails(&second), by_creation[2..]);
    let start = second["users"]["pageInfo"]["startCursor"]
        .as_str()
        .unwrap()
        .to_string();
    let back = as_member
        .query(page, json!({ "last": 2, "before": start }))
        .await;
    assert_eq!(emails(&back), by_creation[..2]);

    // A tampered cursor, a forged one in the old readable format, and another server's are
    // refused as bad input.
    let mut tampered = end.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let forged = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({ "k": "Id", "d": false, "i": colleagues[0].id }).to_string())
    };
    for cursor in [
        String::from_utf8(tampered).unwrap(),
        forged,
        "bm90IGEgY3Vyc29y".to_string(),
    ] {
        let response = as_member
            .post_json(&json!({ "query": page, "variables": { "first": 2, "after": cursor } }))
            .await;
        assert_eq!(response.codes(), ["BAD_USER_INPUT"], "{}", response.body);
    }
}

async fn should_show_of_audit_events_only_what_the_field_guards_let_through(app: TestApp) {
    use brokergraph::domain::audit::{Event, record};
    let broker = fixtures::broker(&app.db, "b", "Broker").await;
    let org = fixtures::organization(&app.db, &broker, "Org A", "DE").await;
    let admin = fixtures::user(
        &app.db,
        &org,
        "admin@a.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    let member = fixtures::user(
        &app.db,
        &org,
        "member@a.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
    let tenant = fixtures::tenant(&app.db, &org).await;
    let auth = crate::support::hs256_authenticator();
    let as_principal = |role, subject: &str| {
        let (broker_id, org_id) = match role {
            Role::BrokerAdmin | Role::BrokerReader => (Some(broker.id), None),
            Role::OrganizationAdmin | Role::OrganizationUser => (None, Some(org.id)),
            Role::PlatformAdmin => (None, None),
        };
        token(role, broker_id, org_id, subject)
    };
    let broker_staff = auth
        .verify(&as_principal(Role::BrokerAdmin, "ba@broker.example"))
        .await
        .unwrap();
    let org_admin = auth
        .verify(&as_principal(Role::OrganizationAdmin, &admin.email))
        .await
        .unwrap();
    let scope = |event: Event| event.scope(Some(broker.id), Some(org.id));
    // A broker admin links the tenant and edits the organization; the organization's admin
    // creates a user and links a tenant through the E-Store (the same action).
    record(
        &app.db,
        &broker_staff,
        scope(Event::new("tenant.linked", "Tenant", tenant.id).after(&tenant)),
    )
    .await
    .unwrap();
    record(
        &app.db,
        &broker_staff,
        scope(
            Event::new("organization.updated", "Organization", org.id)
                .before(&org)
                .after(&org),
        ),
    )
    .await
    .unwrap();
    record(
        &app.db,
        &org_admin,
        scope(Event::new("user.created", "User", member.id).after(&member)),
    )
    .await
    .unwrap();
    record(
        &app.db,
        &org_admin,
        scope(Event::new("tenant.linked", "Tenant", tenant.id).after(&tenant)),
    )
    .await
    .unwrap();

    let query = "query($actor: String) {
        all: auditEvents { edges { node { action actorRole actorSubject details } } }
        byActor: auditEvents(filter: {actorSubject: $actor}) { totalCount } }";
    let run = |role: Role, subject: &'static str, actor: &str| {
        let client = app.with_token(Some(as_principal(role, subject)));
        let body = json!({ "query": query, "variables": { "actor": actor } });
        async move { client.post_json(&body).await.body }
    };
    // Newest first: tenant.linked (org admin), user.created, organization.updated, tenant.linked (broker).
    for role in [Role::PlatformAdmin, Role::BrokerAdmin, Role::BrokerReader] {
        let body = run(role, "staff", "ba@broker.example").await;
        assert!(body.get("errors").is_none(), "{role:?}: {body}");
        let events = body["data"]["all"]["edges"].as_array().unwrap();
        let subjects: Vec<&str> = events
            .iter()
            .map(|e| e["node"]["actorSubject"].as_str().unwrap())
            .collect();
        assert_eq!(
            subjects,
            [
                "admin@a.example",
                "admin@a.example",
                "ba@broker.example",
                "ba@broker.example"
            ]
        );
        assert_eq!(events[3]["node"]["details"]["after"]["linked_by"], "test");
        assert_eq!(
            events[2]["node"]["details"]["after"]["contact_email"],
            org.contact_email
        );
        assert_eq!(body["data"]["byActor"]["totalCount"], 2, "{role:?}");
    }

    let body = run(
        Role::OrganizationAdmin,
        "admin@a.example",
        "ba@broker.example",
    )
    .await;
    let events = body["data"]["all"]["edges"].as_array().unwrap();
    let subjects: Vec<&Value> = events.iter().map(|e| &e["node"]["actorSubject"]).collect();
    // Only the user it can see created is attributed; who linked the tenant, and the broker's
    // staff, are not, as `tenant.linkedBy` is not.
    assert_eq!(
        subjects,
        [
            &Value::Null,
            &json!("admin@a.example"),
            &Value::Null,
            &Value::Null
        ],
        "{body}"
    );
    let forbidden: Vec<&Value> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["extensions"]["code"])
        .collect();
    assert_eq!(forbidden, [&json!("FORBIDDEN"); 3], "{body}");
    for linked in [&events[0], &events[3]] {
        let after = &linked["node"]["details"]["after"];
        assert_eq!(after["primary_domain"], tenant.primary_domain, "{body}");
        assert!(after.get("linked_by").is_none(), "{body}");
    }
    // What the organization admin reads on the organization itself stays.
    assert_eq!(
        events[2]["node"]["details"]["after"]["contact_email"],
        org.contact_email
    );
    assert_eq!(events[1]["node"]["details"]["after"]["email"], member.email);
    // Nor does a filter on the actor confirm a guess.
    assert_eq!(body["data"]["byActor"]["totalCount"], 0, "{body}");
    let body = run(
        Role::OrganizationAdmin,
        "admin@a.example",
        "admin@a.example",
    )
    .await;
    assert_eq!(body["data"]["byActor"]["totalCount"], 1, "{body}");

    let body = run(
        Role::OrganizationUser,
        "member@a.example",
        "ba@broker.example",
    )
    .await;
    let codes: Vec<&Value> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["extensions"]["code"])
        .collect();
    assert_eq!(codes, [&json!("FORBIDDEN"); 2], "{body}");
}

db_tests!(
    should_refuse_organization_tokens_whose_subject_is_no_member,
    should_seal_cursors_and_guard_filters_and_orders_on_emails,
    should_show_of_audit_events_only_what_the_field_guards_let_through,
);
