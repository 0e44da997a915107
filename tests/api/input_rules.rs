//! Input hygiene and account enumeration: invisible characters are refused in identifiers and
//! emails (naming the field), names are stored in NFC, and testing whether an email is a user
//! somewhere costs a principal its right to try for a while.

use brokergraph::auth::Role;
use brokergraph::domain::throttle::EMAIL_CONFLICTS;
use brokergraph::graphql::relay::ids::{self, Kind};
use entity::enums::OrganizationRole;
use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db_tests;
use crate::fixtures;
use crate::support::{Client, TestApp, token};

fn id(kind: Kind, uuid: Uuid) -> String {
    ids::encode(kind, uuid).0
}

async fn run(client: &Client<'_>, mutation: &str, input: Value) -> Value {
    client
        .post_json(&json!({ "query": mutation, "variables": { "input": input } }))
        .await
        .body
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// Rows in every table a refused mutation could have written.
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
        entity::tenant::Entity::find().count(db).await.unwrap(),
        entity::service_account::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::provisioning_request::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::audit_event::Entity::find().count(db).await.unwrap(),
    ]
}

const CREATE_BROKER: &str =
    "mutation($input: CreateBrokerInput!) { createBroker(input: $input) { broker { uuid } } }";
const UPDATE_BROKER: &str =
    "mutation($input: UpdateBrokerInput!) { updateBroker(input: $input) { broker { uuid } } }";
const CREATE_ORGANIZATION: &str = "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id name registrationNumber } } }";
const UPDATE_ORGANIZATION: &str = "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { uuid } } }";
const CREATE_USER: &str = "mutation($input: CreateUserInput!) { createUser(input: $input) { user { id email displayName } } }";
const UPDATE_USER: &str = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { user { id email displayName } } }";
const CREATE_SERVICE: &str = "mutation($input: CreateServiceInput!) { createService(input: $input) { service { id name sku } } }";
const UPDATE_SERVICE: &str =
    "mutation($input: UpdateServiceInput!) { updateService(input: $input) { service { uuid } } }";
const LINK: &str = "mutation($input: LinkTenantInput!) { linkTenant(input: $input) { changed } }";
const BUY: &str = "mutation($input: AddMicrosoftServiceInput!) { addMicrosoftService(input: $input) { tenantCreated } }";
const REGISTER: &str = "mutation($input: RegisterServiceAccountInput!) { registerServiceAccount(input: $input) { serviceAccount { uuid } } }";

struct World {
    contoso: entity::broker::Model,
    northwind: entity::broker::Model,
    acme: entity::organization::Model,
    initech: entity::organization::Model,
    jane: entity::user::Model,
    m365: entity::service::Model,
    tenant: entity::tenant::Model,
}

async fn world(app: &TestApp) -> World {
    let contoso = fixtures::broker(&app.db, "contoso", "Contoso").await;
    let northwind = fixtures::broker(&app.db, "northwind", "Northwind").await;
    let acme = fixtures::organization(&app.db, &contoso, "Acme", "DE").await;
    let globex = fixtures::organization(&app.db, &contoso, "Globex", "NL").await;
    let initech = fixtures::organization(&app.db, &northwind, "Initech", "US").await;
    let jane = fixtures::user(
        &app.db,
        &acme,
        "jane@x.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    let m365 = fixtures::service(&app.db, &contoso, "Microsoft 365 E3", "M365E3").await;
    let tenant = fixtures::tenant(&app.db, &globex).await;
    World {
        contoso,
        northwind,
        acme,
        initech,
        jane,
        m365,
        tenant,
    }
}

/// `base` with `field` set to `value`.
fn with(base: &Value, field: &str, value: &str) -> Value {
    let mut input = base.clone();
    input[field] = json!(value);
    input
}

/// Every identifier and email of every create and update mutation, and of the tenant and
/// consent flows, refuses each kind of invisible character, naming the field, and writes nothing.
async fn should_refuse_invisible_characters_in_identifiers_naming_the_field(app: TestApp) {
    let w = world(&app).await;
    let admin = app.with_token(Some(token(Role::PlatformAdmin, None, None, "root")));
    let broker = json!({ "slug": "fabrikam", "name": "Fabrikam" });
    let broker_update = json!({ "id": id(Kind::Broker, w.contoso.id) });
    let organization = json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": "Initech", "contactEmail": "it@initech.example", "country": "US" });
    let organization_update = json!({ "id": id(Kind::Organization, w.acme.id) });
    let user = json!({ "organizationId": id(Kind::Organization, w.acme.id), "email": "carol@acme.example", "displayName": "Carol" });
    let user_update = json!({ "id": id(Kind::User, w.jane.id) });
    let service = json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": "Backup", "vendor": "OTHER", "sku": "BACKUP1" });
    let service_update = json!({ "id": id(Kind::Service, w.m365.id) });
    let guid = Uuid::new_v4();
    let link = json!({ "organizationId": id(Kind::Organization, w.acme.id), "microsoftTenantId": guid.to_string(), "primaryDomain": "acme.onmicrosoft.com" });
    let buy = json!({ "organizationId": id(Kind::Organization, w.acme.id), "serviceId": id(Kind::Service, w.m365.id), "quantity": 1, "domainPrefix": "acmegmbh", "idempotencyKey": "order-0000001" });
    let register = json!({
        "tenantId": id(Kind::Tenant, w.tenant.id),
        "userPrincipalName": format!("svc@{}", w.tenant.primary_domain),
        "displayName": "Service account",
        "directoryRoles": ["Teams Administrator"],
        "usageLocation": "DE",
        "credential": "Initial-P@ssw0rd-42",
    });
    let upn = format!("svc\u{200B}@{}", w.tenant.primary_domain);
    // (mutation, valid input, field, a value with an invisible character)
    let cases: Vec<(&str, &Value, &str, String)> = vec![
        (CREATE_BROKER, &broker, "slug", "fabri\u{200B}kam".into()),
        (
            UPDATE_BROKER,
            &broker_update,
            "slug",
            "\u{FEFF}contoso".into(),
        ),
        (
            CREATE_ORGANIZATION,
            &organization,
            "contactEmail",
            "it@init\u{200B}ech.example".into(),
        ),
        (
            UPDATE_ORGANIZATION,
            &organization_update,
            "contactEmail",
            "it@acme.example\u{2060}".into(),
        ),
        (
            CREATE_ORGANIZATION,
            &organization,
            "registrationNumber",
            "HRB\u{00AD}12345".into(),
        ),
        (
            CREATE_ORGANIZATION,
            &organization,
            "vatNumber",
            "DE\u{200E}123456789".into(),
        ),
        (
            CREATE_ORGANIZATION,
            &organization,
            "customerNumber",
            "C-\u{0007}1".into(),
        ),
        (
            UPDATE_ORGANIZATION,
            &organization_update,
            "vatNumber",
            "DE\u{202E}987".into(),
        ),
        (
            UPDATE_ORGANIZATION,
            &organization_update,
            "customerNumber",
            "\u{E000}42".into(),
        ),
        (
            UPDATE_ORGANIZATION,
            &organization_update,
            "country",
            "D\u{200B}E".into(),
        ),
        (
            CREATE_USER,
            &user,
            "email",
            "ca\u{200B}rol@acme.example".into(),
        ),
        (
            CREATE_USER,
            &user,
            "email",
            "car\u{0085}ol@acme.example".into(),
        ),
        (
            UPDATE_USER,
            &user_update,
            "email",
            "ja\u{200D}ne@x.example".into(),
        ),
        (CREATE_SERVICE, &service, "sku", "BACK\u{200B}UP1".into()),
        (
            UPDATE_SERVICE,
            &service_update,
            "sku",
            "M365\u{2064}E3".into(),
        ),
        (
            LINK,
            &link,
            "primaryDomain",
            "acme\u{200B}.onmicrosoft.com".into(),
        ),
        (LINK, &link, "microsoftTenantId", format!("{guid}\u{200B}")),
        (BUY, &buy, "domainPrefix", "acme\u{200B}gmbh".into()),
        (BUY, &buy, "idempotencyKey", "order-\u{202E}0000001".into()),
        (REGISTER, &register, "userPrincipalName", upn),
        (REGISTER, &register, "usageLocation", "D\u{200B}E".into()),
        (
            REGISTER,
            &register,
            "directoryRoles",
            "Teams\u{200B} Administrator".into(),
        ),
        // Free-text names take letters of every script, never bidirectional overrides,
        // invisible separators or control characters.
        (
            CREATE_BROKER,
            &broker,
            "name",
            "Fabrikam \u{202E}moc.evil".into(),
        ),
        (
            UPDATE_BROKER,
            &broker_update,
            "name",
            "Contoso\u{2028}Cloud".into(),
        ),
        (
            CREATE_ORGANIZATION,
            &organization,
            "name",
            "Init\u{200B}ech".into(),
        ),
        (
            UPDATE_ORGANIZATION,
            &organization_update,
            "name",
            "Acme\u{2066}AG".into(),
        ),
        (CREATE_USER, &user, "displayName", "Carol\u{061C}".into()),
        (
            UPDATE_USER,
            &user_update,
            "displayName",
            "\u{200D}Jane".into(),
        ),
        (CREATE_SERVICE, &service, "name", "Backup\u{0000}".into()),
        (
            UPDATE_SERVICE,
            &service_update,
            "name",
            "M365\u{FFF9}".into(),
        ),
        (
            REGISTER,
            &register,
            "displayName",
            "Service\u{202D} account".into(),
        ),
    ];
    let before = footprint(&app).await;
    for (mutation, valid, field, value) in cases {
        let input = with(valid, field, &value);
        let body = run(&admin, mutation, input.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{input}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            !message.contains(value.as_str()),
            "the refusal does not echo the invisible character: {message}"
        );
    }
    assert_eq!(footprint(&app).await, before);
}

/// `ja\u200bne@x.example` cannot sit beside `jane@x.example` as a look-alike username.
async fn should_refuse_a_look_alike_of_an_existing_email(app: TestApp) {
    let w = world(&app).await;
    let admin = app.with_token(Some(token(Role::PlatformAdmin, None, None, "root")));
    let input = json!({ "organizationId": id(Kind::Organization, w.acme.id), "email": "ja\u{200b}ne@x.example", "displayName": "Jane" });
    let body = run(&admin, CREATE_USER, input).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "email", "{body}");
    let users = entity::user::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(
        users.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        ["jane@x.example"]
    );
}

/// Names sent decomposed (NFD) are stored, and read back, composed (NFC); an email in NFD is
/// the same username as its NFC form.
async fn should_store_names_and_emails_in_nfc(app: TestApp) {
    let w = world(&app).await;
    let admin = app.with_token(Some(token(Role::PlatformAdmin, None, None, "root")));
    let nfd = "Mu\u{0308}ller Ba\u{0308}ckerei GmbH";
    let nfc = "M\u{00FC}ller B\u{00E4}ckerei GmbH";
    let input = json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": nfd, "contactEmail": "it@mu\u{0308}ller.example", "country": "DE", "registrationNumber": "HRB 12345" });
    let body = run(&admin, CREATE_ORGANIZATION, input).await;
    let organization = &body["data"]["createOrganization"]["organization"];
    assert_eq!(organization["name"], nfc, "{body}");
    assert_eq!(organization["registrationNumber"], "HRB 12345", "{body}");
    let read = admin
        .query(
            "query($id: ID!) { node(id: $id) { ... on Organization { name contactEmail } } }",
            json!({ "id": organization["id"] }),
        )
        .await;
    assert_eq!(read["node"]["name"], nfc);
    assert_eq!(read["node"]["contactEmail"], "it@m\u{00FC}ller.example");

    let input = json!({ "organizationId": id(Kind::Organization, w.acme.id), "email": "Jose\u{0301}@x.example", "displayName": "Jose\u{0301} Nun\u{0303}ez" });
    let body = run(&admin, CREATE_USER, input).await;
    let user = &body["data"]["createUser"]["user"];
    assert_eq!(user["email"], "jos\u{00E9}@x.example", "{body}");
    assert_eq!(user["displayName"], "Jos\u{00E9} Nu\u{00F1}ez", "{body}");
    let read = admin
        .query(
            "query($id: ID!) { node(id: $id) { ... on User { email displayName } } }",
            json!({ "id": user["id"] }),
        )
        .await;
    assert_eq!(read["node"]["displayName"], "Jos\u{00E9} Nu\u{00F1}ez");
    let stored = entity::user::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.email.starts_with("jos"))
        .unwrap();
    assert_eq!(stored.display_name, "Jos\u{00E9} Nu\u{00F1}ez");
    // The composed and decomposed forms are one username.
    let again = json!({ "organizationId": id(Kind::Organization, w.acme.id), "email": "jos\u{00E9}@x.example", "displayName": "Other" });
    assert_eq!(code(&run(&admin, CREATE_USER, again).await), "CONFLICT");

    let input = json!({ "id": id(Kind::User, w.jane.id), "displayName": "Jane\u{0308}" });
    let body = run(&admin, UPDATE_USER, input).await;
    assert_eq!(
        body["data"]["updateUser"]["user"]["displayName"], "Jan\u{00EB}",
        "{body}"
    );
    let input = json!({ "brokerId": id(Kind::Broker, w.contoso.id), "name": "Cafe\u{0301} Backup", "vendor": "OTHER", "sku": "CAFE1" });
    let body = run(&admin, CREATE_SERVICE, input).await;
    assert_eq!(
        body["data"]["createService"]["service"]["name"], "Caf\u{00E9} Backup",
        "{body}"
    );
}

/// The joiners that Persian, Indic scripts and emoji need inside a word stay allowed in names.
async fn should_keep_the_joiners_scripts_need_in_names(app: TestApp) {
    let w = world(&app).await;
    let admin = app.with_token(Some(token(Role::PlatformAdmin, None, None, "root")));
    // Persian "nameh-ha" with a zero-width non-joiner, and a family emoji joined by ZWJs.
    for name in [
        "\u{0646}\u{0627}\u{0645}\u{0647}\u{200C}\u{0647}\u{0627}",
        "Family \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
    ] {
        let input = json!({ "organizationId": id(Kind::Organization, w.initech.id), "email": format!("u{}@x.example", name.len()), "displayName": name });
        let body = run(&admin, CREATE_USER, input).await;
        assert_eq!(
            body["data"]["createUser"]["user"]["displayName"], name,
            "{body}"
        );
    }
}

/// The conflicts a principal may have in a window.
const N: usize = EMAIL_CONFLICTS.max as usize;

fn conflict_input(organization: Uuid, email: &str) -> Value {
    json!({ "organizationId": id(Kind::Organization, organization), "email": email, "displayName": "Probe" })
}

/// A conflict says no more than that the address is taken: the same answer whether the user is
/// in the caller's own broker or another.
async fn should_answer_one_conflict_whoever_holds_the_email(app: TestApp) {
    let w = world(&app).await;
    fixtures::user(
        &app.db,
        &w.initech,
        "ian@initech.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
    let northwind = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(w.northwind.id),
        None,
        "nw-admin",
    )));
    let own = run(
        &northwind,
        CREATE_USER,
        conflict_input(w.initech.id, "ian@initech.example"),
    )
    .await;
    let foreign = run(
        &northwind,
        CREATE_USER,
        conflict_input(w.initech.id, "jane@x.example"),
    )
    .await;
    assert_eq!(code(&own), "CONFLICT", "{own}");
    assert_eq!(own["errors"], foreign["errors"]);
}

/// After N email conflicts in the window a principal gets RATE_LIMITED with `retryAfter` for
/// every email it tries (a free one too, so success is no signal either); successes do not
/// count; other principals are unaffected; the window's end lets it try again.
async fn should_rate_limit_email_conflicts_per_principal(app: TestApp) {
    let w = world(&app).await;
    let mallory = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(w.northwind.id),
        None,
        "mallory",
    )));
    let probe = |email: &str| conflict_input(w.initech.id, email);
    for i in 0..N - 1 {
        let body = run(&mallory, CREATE_USER, probe("jane@x.example")).await;
        assert_eq!(code(&body), "CONFLICT", "conflict {i}: {body}");
    }
    // Successes in between do not count.
    for i in 0..3 {
        let body = run(
            &mallory,
            CREATE_USER,
            probe(&format!("new{i}@initech.example")),
        )
        .await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let body = run(&mallory, CREATE_USER, probe("jane@x.example")).await;
    assert_eq!(code(&body), "CONFLICT", "the {N}th conflict: {body}");

    let users = entity::user::Entity::find().count(&app.db).await.unwrap();
    for email in ["jane@x.example", "free@initech.example"] {
        let body = run(&mallory, CREATE_USER, probe(email)).await;
        assert_eq!(code(&body), "RATE_LIMITED", "{email}: {body}");
        let retry = body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap_or(0);
        let window = EMAIL_CONFLICTS.window_seconds as u64;
        assert!((window - 60..=window + 1).contains(&retry), "{body}");
    }
    // Changing an email is the same probe.
    let new0 = entity::user::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.email == "new0@initech.example")
        .unwrap();
    let body = run(
        &mallory,
        UPDATE_USER,
        json!({ "id": id(Kind::User, new0.id), "email": "jane@x.example" }),
    )
    .await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    // A change that does not touch the email is no probe.
    let body = run(
        &mallory,
        UPDATE_USER,
        json!({ "id": id(Kind::User, new0.id), "displayName": "New Zero" }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        entity::user::Entity::find().count(&app.db).await.unwrap(),
        users,
        "a refused attempt writes nothing"
    );

    // Another principal, of the same broker, is unaffected.
    let colleague = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(w.northwind.id),
        None,
        "colleague",
    )));
    let body = run(&colleague, CREATE_USER, probe("jane@x.example")).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    let body = run(&colleague, CREATE_USER, probe("free@initech.example")).await;
    assert!(body.get("errors").is_none(), "{body}");

    // Once the window has passed over mallory's failures, it may try again.
    entity::rate_limit_hit::Entity::update_many()
        .col_expr(
            entity::rate_limit_hit::Column::OccurredAt,
            Expr::value(
                chrono::Utc::now() - chrono::Duration::seconds(EMAIL_CONFLICTS.window_seconds),
            ),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let body = run(&mallory, CREATE_USER, probe("jane@x.example")).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
}

/// A platform admin may read every user, so a conflict tells it nothing: it is not limited.
async fn should_not_limit_a_caller_that_may_read_every_user(app: TestApp) {
    let w = world(&app).await;
    let root = app.with_token(Some(token(Role::PlatformAdmin, None, None, "root")));
    for i in 0..N + 2 {
        let body = run(
            &root,
            CREATE_USER,
            conflict_input(w.initech.id, "jane@x.example"),
        )
        .await;
        assert_eq!(code(&body), "CONFLICT", "conflict {i}: {body}");
    }
}

/// Probes sent at once cannot overshoot the limit: each takes its slot before it runs.
async fn should_not_let_concurrent_probes_overshoot_the_limit(app: TestApp) {
    let w = world(&app).await;
    let mallory = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(w.northwind.id),
        None,
        "mallory",
    )));
    let probes = (0..2 * N).map(|_| {
        run(
            &mallory,
            CREATE_USER,
            conflict_input(w.initech.id, "jane@x.example"),
        )
    });
    let answers = futures_util::future::join_all(probes).await;
    let codes: Vec<&str> = answers.iter().map(code).collect();
    let conflicts = codes.iter().filter(|c| **c == "CONFLICT").count();
    assert!(conflicts <= N, "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| *c == "CONFLICT" || *c == "RATE_LIMITED"),
        "{codes:?}"
    );
    // However the race went, the window now holds N failures at most, and is full once N are in.
    for _ in conflicts..N {
        let body = run(
            &mallory,
            CREATE_USER,
            conflict_input(w.initech.id, "jane@x.example"),
        )
        .await;
        assert_eq!(code(&body), "CONFLICT", "{body}");
    }
    let body = run(
        &mallory,
        CREATE_USER,
        conflict_input(w.initech.id, "jane@x.example"),
    )
    .await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
}

db_tests!(
    should_refuse_invisible_characters_in_identifiers_naming_the_field,
    should_refuse_a_look_alike_of_an_existing_email,
    should_store_names_and_emails_in_nfc,
    should_keep_the_joiners_scripts_need_in_names,
    should_answer_one_conflict_whoever_holds_the_email,
    should_rate_limit_email_conflicts_per_principal,
    should_not_let_concurrent_probes_overshoot_the_limit,
    should_not_limit_a_caller_that_may_read_every_user,
);
