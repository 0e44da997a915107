//! Managing the graph: every mutation for every role (allowed and refused), bad input for every
//! input field (a clear error naming it, nothing written), conflicts, and the audit trail.

use brokergraph::auth::Role;
use brokergraph::graphql::relay::ids::{self, Kind};
use entity::enums::{OrganizationRole, Vendor};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db_tests;
use crate::fixtures;
use crate::support::{Client, TestApp, token};

fn id(kind: Kind, uuid: Uuid) -> String {
    ids::encode(kind, uuid).0
}

async fn run(client: &Client<'_>, mutation: &str, input: Value) -> (Value, Vec<String>) {
    let response = client
        .post_json(&json!({ "query": mutation, "variables": { "input": input } }))
        .await;
    (response.body.clone(), response.codes())
}

/// Rows in every table, to prove a refusal wrote nothing.
async fn footprint(app: &TestApp) -> Vec<u64> {
    let db = &app.db;
    vec![
        entity::broker::Entity::find().count(db).await.unwrap(),
        entity::organization::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::user::Entity::find().count(db).await.unwrap(),
        entity::service::Entity::find().count(db).await.unwrap(),
        entity::subscription::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::subscription_assignment::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::tenant::Entity::find().count(db).await.unwrap(),
        entity::audit_event::Entity::find().count(db).await.unwrap(),
    ]
}

struct World {
    contoso: entity::broker::Model,
    northwind: entity::broker::Model,
    acme: entity::organization::Model,
    globex: entity::organization::Model,
    alice: entity::user::Model,
    m365: entity::service::Model,
}

async fn world(app: &TestApp) -> World {
    let contoso = fixtures::broker(&app.db, "contoso", "Contoso").await;
    let northwind = fixtures::broker(&app.db, "northwind", "Northwind").await;
    let acme = fixtures::organization(&app.db, &contoso, "Acme", "DE").await;
    let globex = fixtures::organization(&app.db, &contoso, "Globex", "NL").await;
    let alice = fixtures::user(
        &app.db,
        &acme,
        "alice@acme.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    fixtures::user(
        &app.db,
        &acme,
        "bob@acme.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
    let m365 = fixtures::service(&app.db, &contoso, "Microsoft 365 E3", "M365E3").await;
    World {
        contoso,
        northwind,
        acme,
        globex,
        alice,
        m365,
    }
}

fn tokens(w: &World) -> Vec<(Role, String)> {
    vec![
        (
            Role::PlatformAdmin,
            token(Role::PlatformAdmin, None, None, "root"),
        ),
        (
            Role::BrokerAdmin,
            token(Role::BrokerAdmin, Some(w.contoso.id), None, "ba"),
        ),
        (
            Role::BrokerReader,
            token(Role::BrokerReader, Some(w.contoso.id), None, "br"),
        ),
        (
            Role::OrganizationAdmin,
            token(
                Role::OrganizationAdmin,
                None,
                Some(w.acme.id),
                "alice@acme.example",
            ),
        ),
        (
            Role::OrganizationUser,
            token(
                Role::OrganizationUser,
                None,
                Some(w.acme.id),
                "bob@acme.example",
            ),
        ),
    ]
}

const CREATE_BROKER: &str = "mutation($input: CreateBrokerInput!) { createBroker(input: $input) { broker { uuid slug name } } }";
const CREATE_ORGANIZATION: &str = "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { uuid name country broker { slug } } } }";
const UPDATE_ORGANIZATION: &str = "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { uuid name country vatNumber broker { slug } } } }";
const DELETE_ORGANIZATION: &str =
    "mutation($input: DeleteInput!) { deleteOrganization(input: $input) { deletedId } }";
const CREATE_USER: &str =
    "mutation($input: CreateUserInput!) { createUser(input: $input) { user { uuid email role } } }";
const UPDATE_USER: &str = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { uuid email displayName role organization { name } } } }";
const DELETE_USER: &str =
    "mutation($input: DeleteInput!) { deleteUser(input: $input) { deletedId } }";
const CREATE_SERVICE: &str = "mutation($input: CreateServiceInput!) { createService(input: $input) { service { uuid sku vendor } } }";
const DELETE_SERVICE: &str =
    "mutation($input: DeleteInput!) { deleteService(input: $input) { deletedId } }";
const CREATE_SUBSCRIPTION: &str = "mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { subscription { uuid quantity status } } }";
const ASSIGN: &str = "mutation($input: AssignmentInput!) { assignUser(input: $input) { subscription { assignees { totalCount } } user { uuid } } }";
const UNASSIGN: &str = "mutation($input: AssignmentInput!) { unassignUser(input: $input) { subscription { assignees { totalCount } } } }";

async fn should_let_each_role_change_only_what_it_owns(app: TestApp) {
    let w = world(&app).await;
    let other = fixtures::service_of(&app.db, &w.contoso, "Backup", "BACKUP", Vendor::Other).await;
    // Each mutation, and the roles that may run it; everyone else is refused.
    for (role, token) in tokens(&w) {
        let client = app.with_token(Some(token));
        let name = format!("{role:?}");
        let cases: Vec<(&str, &str, Value, bool)> = vec![
            (
                "createBroker",
                CREATE_BROKER,
                json!({ "slug": format!("b-{}", name.to_lowercase()), "name": "New" }),
                role == Role::PlatformAdmin,
            ),
            (
                "createOrganization",
                CREATE_ORGANIZATION,
                json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": format!("Org {name}"), "contactEmail": "it@new.example", "country": "FR" }),
                matches!(role, Role::PlatformAdmin | Role::BrokerAdmin),
            ),
            (
                "createUser",
                CREATE_USER,
                json!({ "organizationId": id(Kind::Organization, w.acme.id), "email": format!("{name}@acme.example"), "displayName": name }),
                matches!(
                    role,
                    Role::PlatformAdmin | Role::BrokerAdmin | Role::OrganizationAdmin
                ),
            ),
            (
                "createService",
                CREATE_SERVICE,
                json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": "Teams", "vendor": "OTHER", "sku": format!("SKU-{name}") }),
                matches!(role, Role::PlatformAdmin | Role::BrokerAdmin),
            ),
            (
                "createSubscription",
                CREATE_SUBSCRIPTION,
                json!({ "organizationId": id(Kind::Organization, w.acme.id), "serviceId": id(Kind::Service, other.id), "quantity": 2 }),
                matches!(role, Role::PlatformAdmin | Role::BrokerAdmin),
            ),
        ];
        for (mutation, query, input, allowed) in cases {
            let before = footprint(&app).await;
            let (body, codes) = run(&client, query, input).await;
            if allowed {
                assert!(codes.is_empty(), "{role:?} {mutation}: {body}");
                let after = footprint(&app).await;
                assert_eq!(after[7], before[7] + 1, "{mutation} writes one audit event");
            } else {
                assert_eq!(codes.len(), 1, "{role:?} {mutation}: {body}");
                assert!(
                    matches!(codes[0].as_str(), "FORBIDDEN" | "NOT_FOUND"),
                    "{role:?} {mutation}: {body}"
                );
                assert_eq!(
                    footprint(&app).await,
                    before,
                    "{role:?} {mutation} wrote something"
                );
            }
        }
    }
    // The other broker's admin cannot see Contoso's rows at all.
    let northwind = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(w.northwind.id),
        None,
        "nw",
    )));
    let (_, codes) = run(
        &northwind,
        UPDATE_ORGANIZATION,
        json!({ "id": id(Kind::Organization, w.acme.id), "name": "Mine" }),
    )
    .await;
    assert_eq!(codes, ["NOT_FOUND"]);
    let (_, codes) = run(&northwind, CREATE_USER, json!({ "organizationId": id(Kind::Organization, w.acme.id), "email": "x@y.example", "displayName": "X" })).await;
    assert_eq!(codes, ["NOT_FOUND"]);
}

async fn should_refuse_bad_input_naming_the_field_and_write_nothing(app: TestApp) {
    let w = world(&app).await;
    let admin = app.with_token(Some(token(Role::PlatformAdmin, None, None, "root")));
    let org = |changes: Value| {
        let mut input = json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": "Initech", "contactEmail": "it@initech.example", "country": "US" });
        for (k, v) in changes.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    };
    let user = |changes: Value| {
        let mut input = json!({ "organizationId": id(Kind::Organization, w.acme.id), "email": "carol@acme.example", "displayName": "Carol" });
        for (k, v) in changes.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    };
    let long = "x".repeat(201);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            CREATE_BROKER,
            json!({ "slug": "Not A Slug", "name": "X" }),
            "slug",
        ),
        (CREATE_BROKER, json!({ "slug": "", "name": "X" }), "slug"),
        (
            CREATE_BROKER,
            json!({ "slug": "fine", "name": "   " }),
            "name",
        ),
        (
            CREATE_BROKER,
            json!({ "slug": "fine", "name": long }),
            "name",
        ),
        (CREATE_ORGANIZATION, org(json!({ "name": "" })), "name"),
        (CREATE_ORGANIZATION, org(json!({ "name": long })), "name"),
        (
            CREATE_ORGANIZATION,
            org(json!({ "contactEmail": "not-an-email" })),
            "contactEmail",
        ),
        (
            CREATE_ORGANIZATION,
            org(json!({ "country": "Germany" })),
            "country",
        ),
        (
            CREATE_ORGANIZATION,
            org(json!({ "country": "XX" })),
            "country",
        ),
        (
            CREATE_ORGANIZATION,
            org(json!({ "vatNumber": "x".repeat(65) })),
            "vatNumber",
        ),
        (
            CREATE_ORGANIZATION,
            org(json!({ "registrationNumber": "x".repeat(65) })),
            "registrationNumber",
        ),
        (
            CREATE_ORGANIZATION,
            org(json!({ "customerNumber": "x".repeat(65) })),
            "customerNumber",
        ),
        (
            CREATE_ORGANIZATION,
            org(json!({ "brokerId": "garbage" })),
            "brokerId",
        ),
        (CREATE_USER, user(json!({ "email": "carol" })), "email"),
        (
            CREATE_USER,
            user(json!({ "displayName": " " })),
            "displayName",
        ),
        (
            CREATE_USER,
            user(json!({ "organizationId": "garbage" })),
            "organizationId",
        ),
        (
            CREATE_SERVICE,
            json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": "", "vendor": "OTHER", "sku": "S1" }),
            "name",
        ),
        (
            CREATE_SERVICE,
            json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": "S", "vendor": "OTHER", "sku": "has space" }),
            "sku",
        ),
        (
            CREATE_SUBSCRIPTION,
            json!({ "organizationId": id(Kind::Organization, w.acme.id), "serviceId": id(Kind::Service, w.m365.id), "quantity": 0 }),
            "quantity",
        ),
        (
            CREATE_SUBSCRIPTION,
            json!({ "organizationId": id(Kind::Organization, w.acme.id), "serviceId": id(Kind::Service, w.m365.id), "quantity": -3 }),
            "quantity",
        ),
        (
            UPDATE_ORGANIZATION,
            json!({ "id": id(Kind::Organization, w.acme.id), "country": "ZZ" }),
            "country",
        ),
        (
            UPDATE_ORGANIZATION,
            json!({ "id": id(Kind::Organization, w.acme.id), "contactEmail": "@" }),
            "contactEmail",
        ),
        (
            UPDATE_USER,
            json!({ "id": id(Kind::User, w.alice.id), "email": "alice at acme" }),
            "email",
        ),
    ];
    let before = footprint(&app).await;
    for (mutation, input, field) in cases {
        let (body, codes) = run(&admin, mutation, input.clone()).await;
        assert_eq!(codes, ["BAD_USER_INPUT"], "{input}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{input}: {body}"
        );
    }
    assert_eq!(footprint(&app).await, before);
}

async fn should_keep_uniqueness_and_dependent_rows_consistent(app: TestApp) {
    let w = world(&app).await;
    let admin = app.with_token(Some(token(Role::PlatformAdmin, None, None, "root")));
    let (_, codes) = run(
        &admin,
        CREATE_BROKER,
        json!({ "slug": "contoso", "name": "Again" }),
    )
    .await;
    assert_eq!(codes, ["CONFLICT"]);
    let (_, codes) = run(&admin, CREATE_USER, json!({ "organizationId": id(Kind::Organization, w.globex.id), "email": "ALICE@acme.example", "displayName": "Alice 2" })).await;
    assert_eq!(codes, ["CONFLICT"], "emails are unique whatever their case");
    let (_, codes) = run(&admin, CREATE_SERVICE, json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": "Dup", "vendor": "MICROSOFT", "sku": "M365E3" })).await;
    assert_eq!(codes, ["CONFLICT"]);
    // A Microsoft subscription needs a tenant.
    let (_, codes) = run(&admin, CREATE_SUBSCRIPTION, json!({ "organizationId": id(Kind::Organization, w.acme.id), "serviceId": id(Kind::Service, w.m365.id), "quantity": 1 })).await;
    assert_eq!(codes, ["TENANT_REQUIRED"]);
    // A service of another broker's catalog.
    let foreign = fixtures::service_of(&app.db, &w.northwind, "NW", "NW1", Vendor::Other).await;
    let (body, codes) = run(&admin, CREATE_SUBSCRIPTION, json!({ "organizationId": id(Kind::Organization, w.acme.id), "serviceId": id(Kind::Service, foreign.id), "quantity": 1 })).await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "serviceId");

    // Deleting an organization with a tenant, or with active subscriptions: a conflict.
    fixtures::tenant(&app.db, &w.acme).await;
    let (_, codes) = run(
        &admin,
        DELETE_ORGANIZATION,
        json!({ "id": id(Kind::Organization, w.acme.id) }),
    )
    .await;
    assert_eq!(codes, ["CONFLICT"]);
    let active = fixtures::subscription(&app.db, &w.globex, &foreign, 1).await;
    let _ = active;
    let (_, codes) = run(
        &admin,
        DELETE_ORGANIZATION,
        json!({ "id": id(Kind::Organization, w.globex.id) }),
    )
    .await;
    assert_eq!(codes, ["CONFLICT"]);
    // A service in use; a broker with organizations.
    let (_, codes) = run(
        &admin,
        DELETE_SERVICE,
        json!({ "id": id(Kind::Service, foreign.id) }),
    )
    .await;
    assert_eq!(codes, ["CONFLICT"]);
    let (_, codes) = run(
        &admin,
        "mutation($input: DeleteInput!) { deleteBroker(input: $input) { deletedId } }",
        json!({ "id": id(Kind::Broker, w.contoso.id) }),
    )
    .await;
    assert_eq!(codes, ["CONFLICT"]);

    // An organization without either goes, with its users.
    let empty = fixtures::organization(&app.db, &w.contoso, "Empty", "DE").await;
    fixtures::user(
        &app.db,
        &empty,
        "e@empty.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    let (body, codes) = run(
        &admin,
        DELETE_ORGANIZATION,
        json!({ "id": id(Kind::Organization, empty.id) }),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(
        body["data"]["deleteOrganization"]["deletedId"],
        id(Kind::Organization, empty.id)
    );
    let data = admin
        .query(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": id(Kind::Organization, empty.id) }),
        )
        .await;
    assert!(data["node"].is_null());
}

async fn should_move_rows_across_scope_only_for_roles_that_own_both_sides(app: TestApp) {
    let w = world(&app).await;
    let broker_admin = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(w.contoso.id),
        None,
        "ba",
    )));
    let org_admin = app.with_token(Some(token(
        Role::OrganizationAdmin,
        None,
        Some(w.acme.id),
        "alice@acme.example",
    )));
    let platform = app.with_token(Some(token(Role::PlatformAdmin, None, None, "root")));
    let move_org = json!({ "id": id(Kind::Organization, w.globex.id), "brokerId": id(Kind::Broker, w.northwind.id) });
    let (_, codes) = run(&broker_admin, UPDATE_ORGANIZATION, move_org.clone()).await;
    assert_eq!(
        codes,
        ["NOT_FOUND"],
        "the other broker is outside its scope"
    );
    let (body, codes) = run(&platform, UPDATE_ORGANIZATION, move_org).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(
        body["data"]["updateOrganization"]["organization"]["broker"]["slug"],
        "northwind"
    );

    let move_user = json!({ "id": id(Kind::User, w.alice.id), "organizationId": id(Kind::Organization, w.globex.id) });
    let (_, codes) = run(&org_admin, UPDATE_USER, move_user.clone()).await;
    assert_eq!(
        codes,
        ["NOT_FOUND"],
        "an organization admin owns one side only"
    );
    let (_, codes) = run(&broker_admin, UPDATE_USER, move_user.clone()).await;
    assert_eq!(codes, ["NOT_FOUND"], "Globex now belongs to another broker");
    let (body, codes) = run(&platform, UPDATE_USER, move_user).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(
        body["data"]["updateUser"]["user"]["organization"]["name"],
        "Globex"
    );
}

async fn should_assign_users_to_subscriptions_of_their_own_organization(app: TestApp) {
    let w = world(&app).await;
    let other = fixtures::service_of(&app.db, &w.contoso, "Backup", "BACKUP", Vendor::Other).await;
    let subscription = fixtures::subscription(&app.db, &w.acme, &other, 3).await;
    let stranger = fixtures::user(
        &app.db,
        &w.globex,
        "s@globex.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
    let org_admin = app.with_token(Some(token(
        Role::OrganizationAdmin,
        None,
        Some(w.acme.id),
        "alice@acme.example",
    )));
    let input = json!({ "subscriptionId": id(Kind::ServiceSubscription, subscription.id), "userId": id(Kind::User, w.alice.id) });
    for expected in [1, 1] {
        let (body, codes) = run(&org_admin, ASSIGN, input.clone()).await;
        assert!(codes.is_empty(), "{body}");
        assert_eq!(
            body["data"]["assignUser"]["subscription"]["assignees"]["totalCount"],
            expected
        );
    }
    let platform = app.with_token(Some(token(Role::PlatformAdmin, None, None, "root")));
    let (body, codes) = run(&platform, ASSIGN, json!({ "subscriptionId": id(Kind::ServiceSubscription, subscription.id), "userId": id(Kind::User, stranger.id) })).await;
    assert_eq!(codes, ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "userId");
    let member = app.with_token(Some(token(
        Role::OrganizationUser,
        None,
        Some(w.acme.id),
        "bob@acme.example",
    )));
    let (_, codes) = run(&member, UNASSIGN, input.clone()).await;
    assert!(
        matches!(codes.as_slice(), [c] if c == "FORBIDDEN" || c == "NOT_FOUND"),
        "{codes:?}"
    );
    let (body, codes) = run(&org_admin, UNASSIGN, input).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(
        body["data"]["unassignUser"]["subscription"]["assignees"]["totalCount"],
        0
    );
    let (_, codes) = run(
        &org_admin,
        DELETE_USER,
        json!({ "id": id(Kind::User, w.alice.id) }),
    )
    .await;
    assert!(codes.is_empty());
}

async fn should_record_every_change_in_an_append_only_trail(app: TestApp) {
    let w = world(&app).await;
    let admin = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(w.contoso.id),
        None,
        "ba",
    )));
    let (_, codes) = run(
        &admin,
        UPDATE_ORGANIZATION,
        json!({ "id": id(Kind::Organization, w.acme.id), "name": "Acme AG", "vatNumber": "DE123" }),
    )
    .await;
    assert!(codes.is_empty());
    let data = admin
        .query(
            "query($id: ID!) { auditEvents(filter: {entityId: $id}) { totalCount edges { node { action actorSubject actorRole entityType entityId details } } } }",
            json!({ "id": id(Kind::Organization, w.acme.id) }),
        )
        .await;
    let event = &data["auditEvents"]["edges"][0]["node"];
    assert_eq!(event["action"], "organization.updated");
    assert_eq!(event["actorSubject"], "ba");
    assert_eq!(event["actorRole"], "BROKER_ADMIN");
    assert_eq!(event["entityId"], id(Kind::Organization, w.acme.id));
    assert_eq!(event["details"]["before"]["name"], "Acme");
    assert_eq!(event["details"]["after"]["name"], "Acme AG");
    // Filters, and scope: the other broker's admin sees none of it, an organization user may not look.
    let data = admin
        .query("{ byAction: auditEvents(filter: {action: \"organization.updated\"}) { totalCount } byActor: auditEvents(filter: {actorSubject: \"nobody\"}) { totalCount } recent: auditEvents(filter: {occurredAfter: \"2000-01-01T00:00:00Z\"}) { totalCount } }", json!({}))
        .await;
    assert_eq!(data["byAction"]["totalCount"], 1);
    assert_eq!(data["byActor"]["totalCount"], 0);
    assert_eq!(data["recent"]["totalCount"], 1);
    let northwind = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(w.northwind.id),
        None,
        "nw",
    )));
    assert_eq!(
        northwind
            .query("{ auditEvents { totalCount } }", json!({}))
            .await["auditEvents"]["totalCount"],
        0
    );
    let member = app.with_token(Some(token(
        Role::OrganizationUser,
        None,
        Some(w.acme.id),
        "bob@acme.example",
    )));
    let response = member
        .post_json(&json!({ "query": "{ auditEvents { totalCount } }" }))
        .await;
    assert_eq!(response.codes(), ["FORBIDDEN"]);
    // Nothing in the API updates or deletes audit rows.
    let sdl = brokergraph::graphql::schema().sdl();
    for verb in ["updateAudit", "deleteAudit", "removeAudit"] {
        assert!(!sdl.contains(verb));
    }
}

/// Assigning twice changes nothing, also when the two calls race: none may answer a conflict.
async fn should_answer_identical_concurrent_assignments_as_one(app: TestApp) {
    let w = world(&app).await;
    let other = fixtures::service_of(&app.db, &w.contoso, "Backup", "BACKUP", Vendor::Other).await;
    let admin = token(Role::BrokerAdmin, Some(w.contoso.id), None, "ba");
    for round in 0..5 {
        let subscription = fixtures::subscription(&app.db, &w.acme, &other, 1 + round).await;
        let input = json!({ "subscriptionId": id(Kind::ServiceSubscription, subscription.id), "userId": id(Kind::User, w.alice.id) });
        let calls = (0..20).map(|_| {
            let admin = admin.clone();
            let input = input.clone();
            let app = &app;
            async move { run(&app.with_token(Some(admin)), ASSIGN, input).await }
        });
        for (body, codes) in futures_util::future::join_all(calls).await {
            assert!(codes.is_empty(), "round {round}: {body}");
            assert_eq!(
                body["data"]["assignUser"]["subscription"]["assignees"]["totalCount"],
                1
            );
        }
    }
}

db_tests!(
    should_let_each_role_change_only_what_it_owns,
    should_refuse_bad_input_naming_the_field_and_write_nothing,
    should_keep_uniqueness_and_dependent_rows_consistent,
    should_move_rows_across_scope_only_for_roles_that_own_both_sides,
    should_assign_users_to_subscriptions_of_their_own_organization,
    should_record_every_change_in_an_append_only_trail,
    should_answer_identical_concurrent_assignments_as_one,
);
