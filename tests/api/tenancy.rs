//! Turning an organization into a tenant: by hand, through the E-Store (Partner Center), and by
//! customer consent; under concurrency and with Partner Center failing or hanging.

use std::collections::HashMap;

use brokergraph::auth::Role;
use brokergraph::crypto::CredentialCipher;
use brokergraph::graphql::relay::ids::{self, Kind};
use brokergraph::partner_center::PartnerCenterError;
use entity::enums::{OrganizationRole, Vendor};
use entity::{broker, organization, service, service_account, subscription, tenant};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db_tests;
use crate::fixtures;
use crate::support::{CREDENTIAL_KEY, Client, TestApp, token};

struct Shop {
    broker: broker::Model,
    other_broker: broker::Model,
    acme: organization::Model,
    globex: organization::Model,
    foreign: organization::Model,
    m365: service::Model,
    backup: service::Model,
}

async fn shop(app: &TestApp) -> Shop {
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let other_broker = fixtures::broker(&app.db, "northwind", "Northwind").await;
    let acme = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    let globex = fixtures::organization(&app.db, &broker, "Globex", "NL").await;
    let foreign = fixtures::organization(&app.db, &other_broker, "Initech", "US").await;
    fixtures::user(
        &app.db,
        &acme,
        "admin@acme.example",
        OrganizationRole::OrganizationAdmin,
    )
    .await;
    fixtures::user(
        &app.db,
        &acme,
        "user@acme.example",
        OrganizationRole::OrganizationUser,
    )
    .await;
    let m365 = fixtures::service(
        &app.db,
        &broker,
        "Microsoft 365 Business Premium",
        "CFQ7TTC0LCHC",
    )
    .await;
    let backup = fixtures::service_of(
        &app.db,
        &broker,
        "Acronis Cyber Protect",
        "ACRONIS",
        Vendor::Other,
    )
    .await;
    Shop {
        broker,
        other_broker,
        acme,
        globex,
        foreign,
        m365,
        backup,
    }
}

fn id(kind: Kind, uuid: Uuid) -> String {
    ids::encode(kind, uuid).0
}

fn broker_admin(shop: &Shop) -> String {
    token(Role::BrokerAdmin, Some(shop.broker.id), None, "ba@contoso")
}

fn callers(shop: &Shop) -> Vec<(&'static str, String)> {
    vec![
        (
            "PLATFORM_ADMIN",
            token(Role::PlatformAdmin, None, None, "root"),
        ),
        ("BROKER_ADMIN", broker_admin(shop)),
        (
            "BROKER_READER",
            token(Role::BrokerReader, Some(shop.broker.id), None, "reader"),
        ),
        (
            "OTHER_BROKER_ADMIN",
            token(
                Role::BrokerAdmin,
                Some(shop.other_broker.id),
                None,
                "ba@northwind",
            ),
        ),
        (
            "ORGANIZATION_ADMIN",
            token(
                Role::OrganizationAdmin,
                None,
                Some(shop.acme.id),
                "admin@acme.example",
            ),
        ),
        (
            "ORGANIZATION_USER",
            token(
                Role::OrganizationUser,
                None,
                Some(shop.acme.id),
                "user@acme.example",
            ),
        ),
    ]
}

async fn mutate(client: &Client<'_>, mutation: &str, input: Value) -> (Value, Vec<String>) {
    let response = client
        .post_json(&json!({ "query": mutation, "variables": { "input": input } }))
        .await;
    assert_eq!(
        response.status,
        axum::http::StatusCode::OK,
        "{}",
        response.body
    );
    (response.body.clone(), response.codes())
}

const LINK: &str = "mutation($input: LinkTenantInput!) { linkTenant(input: $input) {
    changed tenant { uuid microsoftTenantId primaryDomain linkMethod management linkedBy organization { uuid } } } }";
const UNLINK: &str = "mutation($input: UnlinkTenantInput!) { unlinkTenant(input: $input) { unlinkedTenantId organization { tenant { uuid } } } }";
const BUY: &str =
    "mutation($input: AddMicrosoftServiceInput!) { addMicrosoftService(input: $input) {
    tenantCreated replayed tenant { uuid microsoftTenantId primaryDomain linkMethod management }
    subscription { uuid quantity status service { sku } } organization { uuid } } }";
const REGISTER: &str = "mutation($input: RegisterServiceAccountInput!) { registerServiceAccount(input: $input) {
    serviceAccount { uuid userPrincipalName directoryRoles usageLocation status hasCredential tenant { management } } } }";
const CONFIRM: &str = "mutation($input: ConfirmServiceAccountSetupInput!) { confirmServiceAccountSetup(input: $input) {
    serviceAccount { status passwordChanged mfaConfigured rolesConfirmed } } }";

fn link_input(organization: &organization::Model, guid: Uuid) -> Value {
    json!({
        "organizationId": id(Kind::Organization, organization.id),
        "microsoftTenantId": guid.to_string(),
        "primaryDomain": format!("t{}.onmicrosoft.com", &guid.simple().to_string()[..8]),
    })
}

async fn audit_count(app: &TestApp) -> u64 {
    entity::audit_event::Entity::find()
        .count(&app.db)
        .await
        .unwrap()
}

async fn tenants_of(app: &TestApp, organization: Uuid) -> u64 {
    tenant::Entity::find()
        .filter(tenant::Column::OrganizationId.eq(organization))
        .count(&app.db)
        .await
        .unwrap()
}

/// A customer that exists in the broker's (verifying) sandbox.
async fn customer(app: &TestApp, broker: Uuid) -> Uuid {
    let guid = Uuid::new_v4();
    app.sandbox_of(broker)
        .add_customer(
            guid,
            format!("t{}.onmicrosoft.com", &guid.simple().to_string()[..8]),
            "Customer",
        )
        .await
        .expect("add a sandbox customer");
    guid
}

async fn should_link_a_tenant_by_hand_exactly_once(app: TestApp) {
    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    let guid = customer(&app, shop.broker.id).await;

    let (body, codes) = mutate(&admin, LINK, link_input(&shop.acme, guid)).await;
    assert!(codes.is_empty(), "{body}");
    let linked = &body["data"]["linkTenant"];
    assert_eq!(linked["changed"], true);
    assert_eq!(linked["tenant"]["microsoftTenantId"], guid.to_string());
    assert_eq!(linked["tenant"]["linkMethod"], "MANUAL");
    assert_eq!(linked["tenant"]["management"], "PARTNER_MANAGED");
    assert_eq!(linked["tenant"]["linkedBy"], "ba@contoso");
    let events = audit_count(&app).await;

    // The same pair again: a success that changes nothing.
    let (body, codes) = mutate(&admin, LINK, link_input(&shop.acme, guid)).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(body["data"]["linkTenant"]["changed"], false);
    assert_eq!(audit_count(&app).await, events);

    // A different tenant for a linked organization; a tenant another organization holds.
    let other = customer(&app, shop.broker.id).await;
    let (_, codes) = mutate(&admin, LINK, link_input(&shop.acme, other)).await;
    assert_eq!(codes, ["TENANT_ALREADY_LINKED"]);
    let (body, codes) = mutate(&admin, LINK, link_input(&shop.globex, guid)).await;
    assert_eq!(codes, ["TENANT_ID_IN_USE"]);
    assert!(
        !body.to_string().contains("Acme"),
        "the holder is not revealed: {body}"
    );
    // A tenant Partner Center does not know for this partner.
    let (_, codes) = mutate(&admin, LINK, link_input(&shop.globex, Uuid::new_v4())).await;
    assert_eq!(codes, ["PARTNER_CENTER_CUSTOMER_NOT_FOUND"]);
    assert_eq!(tenants_of(&app, shop.globex.id).await, 0);

    // Bad input, field by field.
    for (field, value) in [
        ("microsoftTenantId", json!("not-a-guid")),
        (
            "microsoftTenantId",
            json!("00000000-0000-0000-0000-000000000000"),
        ),
        ("primaryDomain", json!("no dots")),
    ] {
        let mut input = link_input(&shop.globex, customer(&app, shop.broker.id).await);
        input[field] = value;
        let (body, codes) = mutate(&admin, LINK, input).await;
        assert_eq!(codes, ["BAD_USER_INPUT"], "{field}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    assert_eq!(audit_count(&app).await, events);

    // Who may link.
    for (caller, token) in callers(&shop) {
        let organization = if caller == "PLATFORM_ADMIN" {
            &shop.foreign
        } else {
            &shop.globex
        };
        let guid = customer(&app, organization.broker_id).await;
        let (body, codes) = mutate(
            &app.with_token(Some(token)),
            LINK,
            link_input(organization, guid),
        )
        .await;
        let expected: &[&str] = match caller {
            "PLATFORM_ADMIN" | "BROKER_ADMIN" => &[],
            "OTHER_BROKER_ADMIN" => &["NOT_FOUND"],
            _ => &["FORBIDDEN"],
        };
        if caller == "ORGANIZATION_ADMIN" || caller == "ORGANIZATION_USER" {
            // Globex is not their organization: they cannot even see it.
            assert_eq!(codes, ["NOT_FOUND"], "{caller}: {body}");
        } else {
            assert_eq!(codes, expected, "{caller}: {body}");
        }
    }
    // Their own organization, which they can see, is still not theirs to link.
    let org_admin = callers(&shop).remove(4).1;
    let (_, codes) = mutate(
        &app.with_token(Some(org_admin)),
        UNLINK,
        json!({ "organizationId": id(Kind::Organization, shop.acme.id) }),
    )
    .await;
    assert_eq!(codes, ["FORBIDDEN"]);

    let data = admin
        .query(
            "query($id: ID!) { auditEvents(filter: {entityType: \"Tenant\", action: \"tenant.linked\"}) { totalCount edges { node { actorSubject actorRole entityId organizationUuid details } } } t: tenant(id: $id) { uuid } }",
            json!({ "id": id(Kind::Tenant, Uuid::nil()) }),
        )
        .await;
    assert_eq!(
        data["auditEvents"]["totalCount"], 2,
        "Acme and Globex (by the broker admin)"
    );
    let event = &data["auditEvents"]["edges"][1]["node"];
    assert_eq!(event["actorSubject"], "ba@contoso");
    assert_eq!(event["actorRole"], "BROKER_ADMIN");
    assert_eq!(event["organizationUuid"], shop.acme.id.to_string());
    assert_eq!(
        event["details"]["after"]["microsoft_tenant_id"],
        guid.to_string()
    );
}

async fn should_refuse_to_unlink_while_microsoft_subscriptions_are_active(app: TestApp) {
    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    let guid = customer(&app, shop.broker.id).await;
    mutate(&admin, LINK, link_input(&shop.acme, guid)).await;
    let subscription = fixtures::subscription(&app.db, &shop.acme, &shop.m365, 3).await;
    let input = json!({ "organizationId": id(Kind::Organization, shop.acme.id) });
    let (_, codes) = mutate(&admin, UNLINK, input.clone()).await;
    assert_eq!(codes, ["CONFLICT"]);
    assert_eq!(tenants_of(&app, shop.acme.id).await, 1);

    let (_, codes) = mutate(
        &admin,
        "mutation($input: UpdateSubscriptionInput!) { updateSubscription(input: $input) { subscription { status } } }",
        json!({ "id": id(Kind::ServiceSubscription, subscription.id), "status": "CANCELLED" }),
    )
    .await;
    assert!(codes.is_empty());
    let (body, codes) = mutate(&admin, UNLINK, input.clone()).await;
    assert!(codes.is_empty(), "{body}");
    assert!(body["data"]["unlinkTenant"]["unlinkedTenantId"].is_string());
    assert!(body["data"]["unlinkTenant"]["organization"]["tenant"].is_null());
    // Unlinking again: nothing to unlink, nothing changes.
    let (body, codes) = mutate(&admin, UNLINK, input).await;
    assert!(codes.is_empty());
    assert!(body["data"]["unlinkTenant"]["unlinkedTenantId"].is_null());
    // The tenant ID is free again.
    let (_, codes) = mutate(&admin, LINK, link_input(&shop.globex, guid)).await;
    assert!(codes.is_empty());
}

fn buy(shop: &Shop, key: &str, quantity: i32, prefix: Option<&str>) -> Value {
    json!({
        "organizationId": id(Kind::Organization, shop.acme.id),
        "serviceId": id(Kind::Service, shop.m365.id),
        "quantity": quantity,
        "domainPrefix": prefix,
        "idempotencyKey": key,
    })
}

async fn rows(app: &TestApp) -> (u64, u64, u64) {
    (
        tenant::Entity::find().count(&app.db).await.unwrap(),
        subscription::Entity::find().count(&app.db).await.unwrap(),
        audit_count(app).await,
    )
}

async fn should_create_a_tenant_through_the_e_store_once_per_key(app: TestApp) {
    let shop = shop(&app).await;
    let org_admin = app.with_token(Some(callers(&shop).remove(4).1));

    let (body, codes) = mutate(
        &org_admin,
        BUY,
        buy(&shop, "order-0001", 5, Some("AcmeCorp")),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    let first = body["data"]["addMicrosoftService"].clone();
    assert_eq!(first["tenantCreated"], true);
    assert_eq!(first["replayed"], false);
    assert_eq!(first["tenant"]["linkMethod"], "E_STORE");
    assert_eq!(first["tenant"]["management"], "PARTNER_MANAGED");
    assert_eq!(first["tenant"]["primaryDomain"], "acmecorp.onmicrosoft.com");
    assert_eq!(first["subscription"]["quantity"], 5);
    assert_eq!(first["subscription"]["status"], "ACTIVE");
    assert_eq!(app.sandbox.created(), 1);
    let calls = app.sandbox.calls();

    // The same key and input: the first outcome, without calling Partner Center again.
    let (body, codes) = mutate(
        &org_admin,
        BUY,
        buy(&shop, "order-0001", 5, Some("acmecorp")),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    let again = &body["data"]["addMicrosoftService"];
    assert_eq!(again["replayed"], true);
    assert_eq!(again["subscription"]["uuid"], first["subscription"]["uuid"]);
    assert_eq!(again["tenant"]["uuid"], first["tenant"]["uuid"]);
    assert_eq!(app.sandbox.calls(), calls);
    // The same key with other input.
    let (_, codes) = mutate(
        &org_admin,
        BUY,
        buy(&shop, "order-0001", 6, Some("acmecorp")),
    )
    .await;
    assert_eq!(codes, ["CONFLICT"]);
    // A second purchase: the tenant exists, Partner Center is not asked.
    let (body, codes) = mutate(&org_admin, BUY, buy(&shop, "order-0002", 2, None)).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(body["data"]["addMicrosoftService"]["tenantCreated"], false);
    assert_eq!(
        body["data"]["addMicrosoftService"]["tenant"]["uuid"],
        first["tenant"]["uuid"]
    );
    assert_eq!(app.sandbox.calls(), calls);
    assert_eq!(rows(&app).await.0, 1);

    // Refusals that write nothing.
    let before = rows(&app).await;
    let globex = |mut input: Value| {
        input["organizationId"] = json!(id(Kind::Organization, shop.globex.id));
        input
    };
    let admin = app.with_token(Some(broker_admin(&shop)));
    let cases = [
        (
            globex(buy(&shop, "order-0003", 1, None)),
            "BAD_USER_INPUT",
            Some("domainPrefix"),
        ),
        (
            globex(buy(&shop, "order-0004", 1, Some("not valid!"))),
            "BAD_USER_INPUT",
            Some("domainPrefix"),
        ),
        (
            globex(buy(&shop, "order-0005", 0, Some("globex"))),
            "BAD_USER_INPUT",
            Some("quantity"),
        ),
        (
            globex(buy(&shop, "short", 1, Some("globex"))),
            "BAD_USER_INPUT",
            Some("idempotencyKey"),
        ),
        (
            globex({
                let mut i = buy(&shop, "order-0006", 1, Some("globex"));
                i["serviceId"] = json!(id(Kind::Service, shop.backup.id));
                i
            }),
            "BAD_USER_INPUT",
            Some("serviceId"),
        ),
        (
            globex(buy(&shop, "order-0007", 1, Some("acmecorp"))),
            "DOMAIN_PREFIX_TAKEN",
            None,
        ),
    ];
    for (input, code, field) in cases {
        let (body, codes) = mutate(&admin, BUY, input).await;
        assert_eq!(codes, [code], "{body}");
        if let Some(field) = field {
            assert_eq!(body["errors"][0]["extensions"]["field"], field);
        }
    }
    assert_eq!(rows(&app).await, before);

    // Who may buy.
    for (caller, token) in callers(&shop) {
        let (body, codes) = mutate(
            &app.with_token(Some(token)),
            BUY,
            buy(&shop, &format!("who-{caller}"), 1, None),
        )
        .await;
        let expected: &[&str] = match caller {
            "PLATFORM_ADMIN" | "BROKER_ADMIN" | "ORGANIZATION_ADMIN" => &[],
            "OTHER_BROKER_ADMIN" => &["NOT_FOUND"],
            _ => &["FORBIDDEN"],
        };
        assert_eq!(codes, expected, "{caller}: {body}");
    }
}

async fn should_leave_nothing_behind_when_partner_center_fails_and_succeed_on_retry(app: TestApp) {
    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    let before = rows(&app).await;
    let failures = [
        (
            PartnerCenterError::Unavailable,
            "PARTNER_CENTER_UNAVAILABLE",
        ),
        (
            PartnerCenterError::Validation("Country is not supported".into()),
            "PARTNER_CENTER_VALIDATION_FAILED",
        ),
        (
            PartnerCenterError::DomainPrefixTaken("acmeretry".into()),
            "DOMAIN_PREFIX_TAKEN",
        ),
    ];
    for (failure, code) in failures {
        app.sandbox.fail_next(failure);
        let (body, codes) =
            mutate(&admin, BUY, buy(&shop, "retry-key-1", 4, Some("acmeretry"))).await;
        assert_eq!(codes, [code], "{body}");
        assert_eq!(rows(&app).await, before, "nothing written after {code}");
    }
    // Partner Center hangs past the deadline: the call gives up, and nothing is written.
    app.sandbox.hang_next(std::time::Duration::from_secs(30));
    let (body, codes) = mutate(&admin, BUY, buy(&shop, "retry-key-1", 4, Some("acmeretry"))).await;
    assert_eq!(codes, ["PARTNER_CENTER_UNAVAILABLE"], "{body}");
    assert_eq!(rows(&app).await, before);
    assert_eq!(app.sandbox.created(), 0);

    // The same key, retried: it goes through, once.
    let (body, codes) = mutate(&admin, BUY, buy(&shop, "retry-key-1", 4, Some("acmeretry"))).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(body["data"]["addMicrosoftService"]["tenantCreated"], true);
    assert_eq!(app.sandbox.created(), 1);
    let after = rows(&app).await;
    assert_eq!((after.0, after.1), (before.0 + 1, before.1 + 1));

    // Linking by hand while Partner Center is down: refused, nothing written.
    app.sandbox.fail_next(PartnerCenterError::Unavailable);
    let (_, codes) = mutate(
        &admin,
        LINK,
        link_input(&shop.globex, customer(&app, shop.broker.id).await),
    )
    .await;
    assert_eq!(codes, ["PARTNER_CENTER_UNAVAILABLE"]);
    assert_eq!(tenants_of(&app, shop.globex.id).await, 0);
}

async fn should_link_one_tenant_id_to_one_organization_under_concurrency(app: TestApp) {
    let shop = shop(&app).await;
    let mut organizations = Vec::new();
    for n in 0..20 {
        organizations.push(
            fixtures::organization(&app.db, &shop.broker, &format!("Race {n:02}"), "DE").await,
        );
    }
    let guid = customer(&app, shop.broker.id).await;
    let admin = broker_admin(&shop);
    let calls = organizations.iter().map(|organization| {
        let admin = admin.clone();
        let input = link_input(organization, guid);
        let app = &app;
        async move { mutate(&app.with_token(Some(admin)), LINK, input).await.1 }
    });
    let outcomes = futures_util::future::join_all(calls).await;
    let mut tally: HashMap<String, usize> = HashMap::new();
    for codes in outcomes {
        *tally
            .entry(codes.first().cloned().unwrap_or_else(|| "OK".into()))
            .or_default() += 1;
    }
    assert_eq!(tally.get("OK"), Some(&1), "{tally:?}");
    assert_eq!(tally.get("TENANT_ID_IN_USE"), Some(&19), "{tally:?}");
    let holders = tenant::Entity::find()
        .filter(tenant::Column::MicrosoftTenantId.eq(guid))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(holders, 1);

    // One organization, ten different tenant IDs at once: exactly one wins.
    let mut inputs = Vec::new();
    for _ in 0..10 {
        inputs.push(link_input(
            &shop.globex,
            customer(&app, shop.broker.id).await,
        ));
    }
    let calls = inputs.into_iter().map(|input| {
        let admin = admin.clone();
        let app = &app;
        async move { mutate(&app.with_token(Some(admin)), LINK, input).await.1 }
    });
    let outcomes = futures_util::future::join_all(calls).await;
    let wins = outcomes.iter().filter(|codes| codes.is_empty()).count();
    let refused = outcomes
        .iter()
        .filter(|codes| codes.as_slice() == ["TENANT_ALREADY_LINKED"])
        .count();
    assert_eq!((wins, refused), (1, 9), "{outcomes:?}");
    assert_eq!(tenants_of(&app, shop.globex.id).await, 1);
}

async fn should_make_one_partner_center_call_for_concurrent_calls_with_one_key(app: TestApp) {
    let shop = shop(&app).await;
    let admin = broker_admin(&shop);
    let calls = (0..10).map(|_| {
        let admin = admin.clone();
        let input = buy(&shop, "concurrent-key", 7, Some("acmeparallel"));
        let app = &app;
        async move { mutate(&app.with_token(Some(admin)), BUY, input).await }
    });
    let outcomes = futures_util::future::join_all(calls).await;
    let mut subscriptions = std::collections::BTreeSet::new();
    for (body, codes) in &outcomes {
        if codes.is_empty() {
            subscriptions
                .insert(body["data"]["addMicrosoftService"]["subscription"]["uuid"].to_string());
        } else {
            assert_eq!(codes, &["PROVISIONING_IN_PROGRESS"], "{body}");
        }
    }
    // Retried, every call answers with the one subscription.
    let retry = mutate(
        &app.with_token(Some(admin.clone())),
        BUY,
        buy(&shop, "concurrent-key", 7, Some("acmeparallel")),
    )
    .await;
    assert!(retry.1.is_empty(), "{}", retry.0);
    subscriptions
        .insert(retry.0["data"]["addMicrosoftService"]["subscription"]["uuid"].to_string());
    assert_eq!(
        subscriptions.len(),
        1,
        "every call that succeeded answers with the one subscription"
    );
    assert_eq!(app.sandbox.created(), 1, "one Partner Center customer");
    assert_eq!(tenants_of(&app, shop.acme.id).await, 1);
    let count = subscription::Entity::find()
        .filter(subscription::Column::OrganizationId.eq(shop.acme.id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

fn buy_for(
    organization: &organization::Model,
    shop: &Shop,
    key: &str,
    prefix: Option<&str>,
) -> Value {
    let mut input = buy(shop, key, 1, prefix);
    input["organizationId"] = json!(id(Kind::Organization, organization.id));
    input
}

/// Two purchases with different keys for one organization without a tenant, with Partner
/// Center slow: one customer, and both purchases end well (or with the retryable code).
async fn should_create_one_customer_for_concurrent_purchases_with_different_keys(app: TestApp) {
    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    app.sandbox
        .set_latency(std::time::Duration::from_millis(500));
    for round in 0..3 {
        let organization =
            fixtures::organization(&app.db, &shop.broker, &format!("Buyer {round}"), "DE").await;
        let before = app.sandbox.created();
        let first = mutate(
            &admin,
            BUY,
            buy_for(
                &organization,
                &shop,
                &format!("first-purchase-{round}"),
                Some(&format!("buyerone{round}")),
            ),
        );
        let second = mutate(
            &admin,
            BUY,
            buy_for(
                &organization,
                &shop,
                &format!("second-purchase-{round}"),
                Some(&format!("buyertwo{round}")),
            ),
        );
        let (first, second) = futures_util::future::join(first, second).await;
        assert_eq!(
            app.sandbox.created(),
            before + 1,
            "round {round}: one customer"
        );
        assert_eq!(tenants_of(&app, organization.id).await, 1);
        let mut created = 0;
        let mut succeeded = 0;
        for (body, codes) in [&first, &second] {
            if codes.is_empty() {
                succeeded += 1;
                if body["data"]["addMicrosoftService"]["tenantCreated"] == true {
                    created += 1;
                }
            } else {
                assert_eq!(
                    codes,
                    &["PROVISIONING_IN_PROGRESS"],
                    "round {round}: {body}"
                );
                assert!(
                    body["errors"][0]["extensions"]["retryAfter"]
                        .as_u64()
                        .is_some()
                );
            }
        }
        assert_eq!(created, 1, "round {round}: {first:?} {second:?}");
        let subscriptions = subscription::Entity::find()
            .filter(subscription::Column::OrganizationId.eq(organization.id))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(subscriptions, succeeded);
    }
    assert_eq!(
        entity::unlinked_customer::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        entity::tenant_claim::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
}

/// A tenant that appears while Partner Center creates another (a writer that ignored the
/// claim): the created customer is recorded, for admins to find.
async fn should_record_a_customer_created_but_not_linked(app: TestApp) {
    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    let guid = customer(&app, shop.broker.id).await;
    app.sandbox
        .hang_next(std::time::Duration::from_millis(1200));
    let purchase = mutate(
        &admin,
        BUY,
        buy(&shop, "late-purchase", 1, Some("acmelate")),
    );
    let meanwhile = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // Linking by hand respects the purchase's claim...
        let (body, codes) = mutate(&admin, LINK, link_input(&shop.acme, guid)).await;
        assert_eq!(codes, ["PROVISIONING_IN_PROGRESS"], "{body}");
        let retry_after = body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap();
        assert!((1..=10).contains(&retry_after), "{body}");
        // ...a writer that goes around it does not.
        fixtures::tenant(&app.db, &shop.acme).await
    };
    let ((body, codes), squatter) = futures_util::future::join(purchase, meanwhile).await;
    assert_eq!(codes, ["TENANT_ALREADY_LINKED"], "{body}");
    assert_eq!(app.sandbox.created(), 1);
    let unlinked = entity::unlinked_customer::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(unlinked.len(), 1);
    assert_eq!(unlinked[0].organization_id, shop.acme.id);
    assert_eq!(unlinked[0].reason, "TENANT_ALREADY_LINKED");
    assert_eq!(unlinked[0].primary_domain, "acmelate.onmicrosoft.com");
    assert_ne!(
        unlinked[0].microsoft_tenant_id,
        squatter.microsoft_tenant_id
    );
    assert_eq!(
        entity::tenant_claim::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    let data = admin
        .query(
            "{ auditEvents(filter: {action: \"partner_center.customer_unlinked\"}) { totalCount edges { node { entityType organizationUuid details } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["auditEvents"]["totalCount"], 1, "{data}");
    let event = &data["auditEvents"]["edges"][0]["node"];
    assert_eq!(event["entityType"], "PartnerCenterCustomer");
    assert_eq!(
        event["details"]["after"]["microsoft_tenant_id"],
        unlinked[0].microsoft_tenant_id.to_string()
    );
}

/// A live, slow holder: another call with its key answers at once with a retry hint.
async fn should_answer_a_same_key_call_at_once_while_its_holder_works(app: TestApp) {
    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    app.sandbox
        .hang_next(std::time::Duration::from_millis(1500));
    let holder = mutate(&admin, BUY, buy(&shop, "slow-order-1", 3, Some("acmeslow")));
    let retry = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let response = admin
            .post_json(&json!({ "query": BUY, "variables": { "input": buy(&shop, "slow-order-1", 3, Some("acmeslow")) } }))
            .await;
        (response, started.elapsed())
    };
    let ((body, codes), (response, elapsed)) = futures_util::future::join(holder, retry).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(response.status, axum::http::StatusCode::OK);
    assert_eq!(
        response.codes(),
        ["PROVISIONING_IN_PROGRESS"],
        "{}",
        response.body
    );
    let retry_after = response.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{}", response.body);
    assert!(
        elapsed < std::time::Duration::from_millis(800),
        "answered at once, not after the holder: {elapsed:?}"
    );
    // Once the holder is done, the retry replays its outcome.
    let (body, codes) = mutate(&admin, BUY, buy(&shop, "slow-order-1", 3, Some("acmeslow"))).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(body["data"]["addMicrosoftService"]["replayed"], true);
    assert_eq!(app.sandbox.created(), 1);
}

/// A holder that died after Partner Center created the customer (its claims are rows with
/// expired leases, and nothing renews them): a retry takes over at once, and gets that same
/// customer back rather than a second one.
async fn should_take_over_a_dead_holders_claim_within_seconds(app: TestApp) {
    use brokergraph::partner_center::{CallIds, NewCustomer, PartnerCenter};
    use sea_orm::{ActiveModelTrait, IntoActiveModel};

    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    let request_id = Uuid::now_v7();
    let customer = app
        .sandbox_of(shop.broker.id)
        .create_customer(
            &NewCustomer {
                company_name: "Acme".into(),
                email: "it@acme.example".into(),
                country: "DE".into(),
                domain_prefix: "acmedead".into(),
                culture: "en-US".into(),
                language: "en".into(),
            },
            CallIds {
                request_id,
                correlation_id: Uuid::now_v7(),
            },
        )
        .await
        .unwrap();
    let died = chrono::Utc::now() - chrono::Duration::seconds(11);
    let fingerprint =
        json!({ "serviceId": shop.m365.id, "quantity": 2, "domainPrefix": "acmedead" }).to_string();
    entity::provisioning_request::Model {
        id: request_id,
        organization_id: shop.acme.id,
        idempotency_key: "dead-holder-1".into(),
        request_hash: fingerprint,
        state: entity::enums::ProvisioningState::Pending,
        microsoft_tenant_id: None,
        tenant_id: None,
        subscription_id: None,
        error_code: None,
        holder: Some(Uuid::now_v7()),
        created_at: died,
        updated_at: died,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .unwrap();
    entity::tenant_claim::Model {
        organization_id: shop.acme.id,
        partner_center_request_id: request_id,
        holder: Uuid::now_v7(),
        heartbeat_at: died,
        microsoft_tenant_id: Some(customer.tenant_id),
        created_at: died,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .unwrap();

    let started = std::time::Instant::now();
    let (body, codes) = mutate(
        &admin,
        BUY,
        buy(&shop, "dead-holder-1", 2, Some("acmedead")),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let outcome = &body["data"]["addMicrosoftService"];
    assert_eq!(
        outcome["tenant"]["microsoftTenantId"],
        customer.tenant_id.to_string()
    );
    assert_eq!(
        app.sandbox.created(),
        1,
        "the same customer, not a second one"
    );
    assert_eq!(
        entity::tenant_claim::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
}

/// A holder that crashes during its Partner Center call (its request dropped mid-flight, as
/// when the process dies): its claim is taken over one lease later, not minutes later.
async fn should_recover_from_a_holder_that_crashed_mid_call(app: TestApp) {
    use tower::ServiceExt;

    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    app.sandbox.hang_next(std::time::Duration::from_secs(60));
    let request = admin.authorize(
        axum::http::Request::post("/graphql")
            .header(axum::http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(
                json!({ "query": BUY, "variables": { "input": buy(&shop, "crash-order-1", 1, Some("acmecrash")) } }).to_string(),
            ))
            .unwrap(),
    );
    let crashed = tokio::spawn(app.router.clone().oneshot(request));
    while app.sandbox.calls() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!crashed.is_finished());
    crashed.abort();
    let crashed_at = std::time::Instant::now();

    let mut last = Value::Null;
    loop {
        let (body, codes) = mutate(
            &admin,
            BUY,
            buy(&shop, "crash-order-1", 1, Some("acmecrash")),
        )
        .await;
        if codes.is_empty() {
            assert_eq!(body["data"]["addMicrosoftService"]["tenantCreated"], true);
            break;
        }
        assert_eq!(codes, ["PROVISIONING_IN_PROGRESS"], "{body}");
        let retry_after = body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap();
        assert!(
            crashed_at.elapsed() < std::time::Duration::from_secs(15),
            "still refused: {body} (previously {last})"
        );
        last = body;
        tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    }
    assert!(crashed_at.elapsed() < std::time::Duration::from_secs(12));
    assert_eq!(tenants_of(&app, shop.acme.id).await, 1);
}

fn register_input(tenant: Uuid, domain: &str) -> Value {
    json!({
        "tenantId": id(Kind::Tenant, tenant),
        "userPrincipalName": format!("svc-broker@{domain}"),
        "displayName": "Broker service account",
        "directoryRoles": ["Teams Administrator", "exchange administrator"],
        "usageLocation": "de",
        "credential": "Initial-P@ssw0rd-42",
    })
}

async fn should_register_and_verify_a_customer_consent_account(app: TestApp) {
    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    let guid = customer(&app, shop.broker.id).await;
    let (body, _) = mutate(&admin, LINK, link_input(&shop.acme, guid)).await;
    let tenant_id: Uuid = body["data"]["linkTenant"]["tenant"]["uuid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let domain = body["data"]["linkTenant"]["tenant"]["primaryDomain"]
        .as_str()
        .unwrap()
        .to_string();
    let org_admin = app.with_token(Some(callers(&shop).remove(4).1));

    let before = audit_count(&app).await;
    let refusals = [
        (
            "directoryRoles",
            json!(["Global Administrator"]),
            "LEAST_PRIVILEGE_VIOLATION",
        ),
        (
            "directoryRoles",
            json!(["62e90394-69f5-4237-9190-012177145e10"]),
            "LEAST_PRIVILEGE_VIOLATION",
        ),
        (
            "directoryRoles",
            json!(["Teams Administrator", "Privileged Role Administrator"]),
            "LEAST_PRIVILEGE_VIOLATION",
        ),
        ("directoryRoles", json!([]), "BAD_USER_INPUT"),
        (
            "directoryRoles",
            json!(["Coffee Administrator"]),
            "BAD_USER_INPUT",
        ),
        ("usageLocation", json!("Germany"), "BAD_USER_INPUT"),
        ("usageLocation", json!("XX"), "BAD_USER_INPUT"),
        (
            "userPrincipalName",
            json!("svc@contoso.com"),
            "BAD_USER_INPUT",
        ),
        ("userPrincipalName", json!("not an upn"), "BAD_USER_INPUT"),
        ("displayName", json!("  "), "BAD_USER_INPUT"),
        ("credential", json!(""), "BAD_USER_INPUT"),
    ];
    for (field, value, code) in refusals {
        let mut input = register_input(tenant_id, &domain);
        input[field] = value;
        let (body, codes) = mutate(&org_admin, REGISTER, input).await;
        assert_eq!(codes, [code], "{field}: {body}");
        if code == "BAD_USER_INPUT" {
            assert_eq!(body["errors"][0]["extensions"]["field"], field);
        }
    }
    assert_eq!(audit_count(&app).await, before);
    assert_eq!(
        service_account::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );

    let (body, codes) = mutate(&org_admin, REGISTER, register_input(tenant_id, &domain)).await;
    assert!(codes.is_empty(), "{body}");
    let account = &body["data"]["registerServiceAccount"]["serviceAccount"];
    assert_eq!(account["status"], "PENDING_VERIFICATION");
    assert_eq!(account["hasCredential"], true);
    assert_eq!(account["usageLocation"], "DE");
    assert_eq!(
        account["directoryRoles"],
        json!(["Teams Administrator", "Exchange Administrator"])
    );
    assert_eq!(account["tenant"]["management"], "CUSTOMER_CONSENT");
    assert!(!body.to_string().contains("Initial-P@ssw0rd-42"));

    // At rest: encrypted, bound to its tenant.
    let row = service_account::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let ciphertext = row.credential_ciphertext.clone().unwrap();
    let needle = b"Initial-P@ssw0rd-42";
    assert!(!ciphertext.windows(needle.len()).any(|w| w == needle));
    let cipher = CredentialCipher::from_base64(CREDENTIAL_KEY).unwrap();
    let nonce = row.credential_nonce.clone().unwrap();
    assert_eq!(
        cipher
            .decrypt(&ciphertext, &nonce, tenant_id.as_bytes())
            .unwrap(),
        "Initial-P@ssw0rd-42"
    );
    assert!(
        cipher
            .decrypt(&ciphertext, &nonce, Uuid::nil().as_bytes())
            .is_err()
    );

    // Verified only once all three are confirmed.
    let confirm = |password: bool, mfa: bool, roles: bool| json!({ "tenantId": id(Kind::Tenant, tenant_id), "passwordChanged": password, "mfaConfigured": mfa, "rolesConfirmed": roles });
    for (input, status) in [
        (confirm(true, false, false), "PENDING_VERIFICATION"),
        (confirm(true, true, false), "PENDING_VERIFICATION"),
        (confirm(true, true, true), "VERIFIED"),
    ] {
        let (body, codes) = mutate(&org_admin, CONFIRM, input).await;
        assert!(codes.is_empty(), "{body}");
        assert_eq!(
            body["data"]["confirmServiceAccountSetup"]["serviceAccount"]["status"],
            status
        );
    }

    // Who may register.
    for (caller, token) in callers(&shop) {
        let (body, codes) = mutate(
            &app.with_token(Some(token)),
            REGISTER,
            register_input(tenant_id, &domain),
        )
        .await;
        let expected: &[&str] = match caller {
            "PLATFORM_ADMIN" | "BROKER_ADMIN" | "ORGANIZATION_ADMIN" => &[],
            "OTHER_BROKER_ADMIN" => &["NOT_FOUND"],
            _ => &["FORBIDDEN"],
        };
        assert_eq!(codes, expected, "{caller}: {body}");
    }
    let data = admin
        .query("{ auditEvents(filter: {entityType: \"ServiceAccount\"}) { totalCount edges { node { action details } } } }", json!({}))
        .await;
    let events = data["auditEvents"]["edges"].as_array().unwrap();
    assert!(events.iter().all(|e| {
        !e["node"]["details"]
            .to_string()
            .contains("Initial-P@ssw0rd")
    }));
    assert_eq!(
        events[0]["node"]["action"], "service_account.registered",
        "newest first"
    );
}

const CREATE_SUBSCRIPTION: &str = "mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { subscription { uuid quantity status } } }";
const UPDATE_SUBSCRIPTION: &str = "mutation($input: UpdateSubscriptionInput!) { updateSubscription(input: $input) { subscription { uuid quantity status } } }";
const UPDATE_SERVICE: &str =
    "mutation($input: UpdateServiceInput!) { updateService(input: $input) { service { vendor } } }";

/// Active Microsoft subscriptions of organizations without a tenant: the state no path may reach.
async fn tenantless_active_microsoft(app: &TestApp) -> usize {
    let subscriptions = subscription::Entity::find()
        .filter(subscription::Column::Status.eq(entity::enums::SubscriptionStatus::Active))
        .all(&app.db)
        .await
        .unwrap();
    let mut broken = 0;
    for row in subscriptions {
        let service = service::Entity::find_by_id(row.service_id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        if service.vendor == Vendor::Microsoft && tenants_of(app, row.organization_id).await == 0 {
            broken += 1;
        }
    }
    broken
}

async fn should_never_leave_an_active_microsoft_subscription_without_a_tenant(app: TestApp) {
    let shop = shop(&app).await;
    let admin = app.with_token(Some(broker_admin(&shop)));
    let acme = id(Kind::Organization, shop.acme.id);
    let subscription_of = |body: &Value, field: &str| -> String {
        let uuid: Uuid = body["data"][field]["subscription"]["uuid"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .parse()
            .unwrap();
        id(Kind::ServiceSubscription, uuid)
    };

    // createSubscription: ACTIVE is refused, SUSPENDED is not active and is allowed.
    let create = |status: &str| json!({ "organizationId": acme, "serviceId": id(Kind::Service, shop.m365.id), "quantity": 1, "status": status });
    let (_, codes) = mutate(&admin, CREATE_SUBSCRIPTION, create("ACTIVE")).await;
    assert_eq!(codes, ["TENANT_REQUIRED"]);
    let (body, codes) = mutate(&admin, CREATE_SUBSCRIPTION, create("SUSPENDED")).await;
    assert!(codes.is_empty(), "{body}");
    let suspended = subscription_of(&body, "createSubscription");

    // updateSubscription: re-activating it, alone or with a quantity, is refused; a quantity
    // change that leaves it suspended is not.
    let update = |changes: Value| {
        let mut input = changes;
        input["id"] = json!(suspended);
        input
    };
    for changes in [
        json!({ "status": "ACTIVE" }),
        json!({ "status": "ACTIVE", "quantity": 3 }),
    ] {
        let (body, codes) = mutate(&admin, UPDATE_SUBSCRIPTION, update(changes)).await;
        assert_eq!(codes, ["TENANT_REQUIRED"], "{body}");
    }
    let (body, codes) = mutate(
        &admin,
        UPDATE_SUBSCRIPTION,
        update(json!({ "quantity": 2 })),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(tenantless_active_microsoft(&app).await, 0);

    // Linked: it may be active. Suspended, unlinked, then re-activated: refused again.
    mutate(
        &admin,
        LINK,
        link_input(&shop.acme, customer(&app, shop.broker.id).await),
    )
    .await;
    let (body, codes) = mutate(
        &admin,
        UPDATE_SUBSCRIPTION,
        update(json!({ "status": "ACTIVE" })),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    let unlink = json!({ "organizationId": acme });
    let (_, codes) = mutate(&admin, UNLINK, unlink.clone()).await;
    assert_eq!(
        codes,
        ["CONFLICT"],
        "unlinking under an active subscription"
    );
    let (_, codes) = mutate(
        &admin,
        UPDATE_SUBSCRIPTION,
        update(json!({ "status": "SUSPENDED" })),
    )
    .await;
    assert!(codes.is_empty());
    let (body, codes) = mutate(&admin, UNLINK, unlink).await;
    assert!(codes.is_empty(), "{body}");
    let (body, codes) = mutate(
        &admin,
        UPDATE_SUBSCRIPTION,
        update(json!({ "status": "ACTIVE" })),
    )
    .await;
    assert_eq!(codes, ["TENANT_REQUIRED"], "{body}");
    assert_eq!(tenantless_active_microsoft(&app).await, 0);

    // A service that is not Microsoft's needs no tenant; making it a Microsoft service would put
    // its active subscriptions of tenantless organizations in the state: refused.
    let other = json!({ "organizationId": acme, "serviceId": id(Kind::Service, shop.backup.id), "quantity": 1 });
    let (body, codes) = mutate(&admin, CREATE_SUBSCRIPTION, other).await;
    assert!(codes.is_empty(), "{body}");
    let (body, codes) = mutate(
        &admin,
        UPDATE_SERVICE,
        json!({ "id": id(Kind::Service, shop.backup.id), "vendor": "MICROSOFT" }),
    )
    .await;
    assert_eq!(codes, ["TENANT_REQUIRED"], "{body}");
    assert_eq!(tenantless_active_microsoft(&app).await, 0);
    // Once the organization has a tenant, the same change is fine.
    mutate(
        &admin,
        LINK,
        link_input(&shop.acme, customer(&app, shop.broker.id).await),
    )
    .await;
    let (body, codes) = mutate(
        &admin,
        UPDATE_SERVICE,
        json!({ "id": id(Kind::Service, shop.backup.id), "vendor": "MICROSOFT" }),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
}

/// Unlinking races re-activation: on PostgreSQL both used to pass their checks and commit.
async fn should_keep_the_tenant_rule_when_unlink_and_reactivation_race(app: TestApp) {
    let shop = shop(&app).await;
    let admin = broker_admin(&shop);
    for round in 0..10 {
        let organization =
            fixtures::organization(&app.db, &shop.broker, &format!("Race {round}"), "DE").await;
        let tenant = fixtures::tenant(&app.db, &organization).await;
        let _ = tenant;
        let mut row = fixtures::subscription(&app.db, &organization, &shop.m365, 1).await;
        row.status = entity::enums::SubscriptionStatus::Suspended;
        sea_orm::ActiveModelTrait::update(
            sea_orm::IntoActiveModel::into_active_model(row.clone()),
            &app.db,
        )
        .await
        .unwrap();
        let client = app.with_token(Some(admin.clone()));
        let unlink = mutate(
            &client,
            UNLINK,
            json!({ "organizationId": id(Kind::Organization, organization.id) }),
        );
        let activate = mutate(
            &client,
            UPDATE_SUBSCRIPTION,
            json!({ "id": id(Kind::ServiceSubscription, row.id), "status": "ACTIVE" }),
        );
        let ((_, unlinked), (_, activated)) = futures_util::future::join(unlink, activate).await;
        assert!(
            unlinked.is_empty() != activated.is_empty(),
            "exactly one wins: {unlinked:?} {activated:?}"
        );
        assert_eq!(tenantless_active_microsoft(&app).await, 0, "round {round}");
    }
}

/// Twenty identical links at once: one links, the others find it done.
async fn should_answer_identical_concurrent_links_as_one_link(app: TestApp) {
    let shop = shop(&app).await;
    let admin = broker_admin(&shop);
    for round in 0..5 {
        let organization =
            fixtures::organization(&app.db, &shop.broker, &format!("Twin {round}"), "DE").await;
        let guid = customer(&app, shop.broker.id).await;
        let calls = (0..20).map(|_| {
            let admin = admin.clone();
            let input = link_input(&organization, guid);
            let app = &app;
            async move { mutate(&app.with_token(Some(admin)), LINK, input).await }
        });
        let outcomes = futures_util::future::join_all(calls).await;
        let mut changed = 0;
        for (body, codes) in &outcomes {
            assert!(codes.is_empty(), "round {round}: {body}");
            if body["data"]["linkTenant"]["changed"] == true {
                changed += 1;
            }
        }
        assert_eq!(changed, 1, "round {round}");
        assert_eq!(tenants_of(&app, organization.id).await, 1);
    }
}

/// Tests that build their own app (`backend_tests!` names its modules like `db_tests!`).
mod own_setup {
    use super::*;
    use crate::backend_tests;
    use crate::support::{Backend, Setup, spawn_app_with};

    /// A holder that works longer than a lease (a slow Partner Center) keeps its claims: its
    /// heartbeat renews them, so neither a retry of its key nor another purchase takes over.
    async fn should_keep_a_slow_holders_claims_alive_past_one_lease(backend: Backend) {
        let setup = Setup {
            partner_center_deadline: Some(std::time::Duration::from_secs(30)),
            ..Setup::default()
        };
        let Some(app) = spawn_app_with(backend, setup).await else {
            return;
        };
        let shop = shop(&app).await;
        let admin = app.with_token(Some(broker_admin(&shop)));
        app.sandbox.hang_next(std::time::Duration::from_secs(13));
        let holder = mutate(
            &admin,
            BUY,
            buy(&shop, "slow-holder-1", 1, Some("acmepatient")),
        );
        let later = async {
            tokio::time::sleep(std::time::Duration::from_secs(11)).await;
            let same_key = mutate(
                &admin,
                BUY,
                buy(&shop, "slow-holder-1", 1, Some("acmepatient")),
            )
            .await;
            let other_key = mutate(
                &admin,
                BUY,
                buy(&shop, "slow-holder-2", 1, Some("acmeother")),
            )
            .await;
            (same_key, other_key)
        };
        let ((body, codes), ((same_body, same_codes), (other_body, other_codes))) =
            futures_util::future::join(holder, later).await;
        assert!(codes.is_empty(), "{body}");
        assert_eq!(body["data"]["addMicrosoftService"]["tenantCreated"], true);
        assert_eq!(same_codes, ["PROVISIONING_IN_PROGRESS"], "{same_body}");
        // The other purchase waited for the tenant and used it.
        assert!(other_codes.is_empty(), "{other_body}");
        assert_eq!(
            other_body["data"]["addMicrosoftService"]["tenantCreated"],
            false
        );
        assert_eq!(app.sandbox.created(), 1);
        assert_eq!(app.sandbox.calls(), 1, "nobody else asked Partner Center");
    }

    backend_tests!(should_keep_a_slow_holders_claims_alive_past_one_lease);
}

db_tests!(
    should_link_a_tenant_by_hand_exactly_once,
    should_refuse_to_unlink_while_microsoft_subscriptions_are_active,
    should_create_a_tenant_through_the_e_store_once_per_key,
    should_leave_nothing_behind_when_partner_center_fails_and_succeed_on_retry,
    should_link_one_tenant_id_to_one_organization_under_concurrency,
    should_make_one_partner_center_call_for_concurrent_calls_with_one_key,
    should_register_and_verify_a_customer_consent_account,
    should_never_leave_an_active_microsoft_subscription_without_a_tenant,
    should_keep_the_tenant_rule_when_unlink_and_reactivation_race,
    should_answer_identical_concurrent_links_as_one_link,
    should_create_one_customer_for_concurrent_purchases_with_different_keys,
    should_record_a_customer_created_but_not_linked,
    should_answer_a_same_key_call_at_once_while_its_holder_works,
    should_take_over_a_dead_holders_claim_within_seconds,
    should_recover_from_a_holder_that_crashed_mid_call,
);
