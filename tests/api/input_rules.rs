//! Input hygiene: invisible characters are refused in identifiers and emails (naming the
//! field), and names are stored in NFC.

use brokergraph::auth::Role;
use brokergraph::graphql::ids::{self, Kind};
use entity::enums::OrganizationRole;
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

db_tests!(
    should_refuse_invisible_characters_in_identifiers_naming_the_field,
    should_refuse_a_look_alike_of_an_existing_email,
    should_store_names_and_emails_in_nfc,
    should_keep_the_joiners_scripts_need_in_names,
);
