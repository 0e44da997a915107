//! The Partner Center sandbox in the database (issue 13 item 6, issue 16 item 1): the seeded
//! demo state, its admin-relationship control, `linkTenant` taking the domain from it, and one
//! customer per create request across replicas.

use std::sync::Arc;

use brokergraph::auth::Role;
use brokergraph::graphql::relay::ids::{self, Kind};
use brokergraph::partner_center::connections::Fallback;
use brokergraph::partner_center::sandbox::{self, Sandbox};
use brokergraph::partner_center::{CallIds, NewCustomer, PartnerCenter};
use entity::{organization, tenant};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Backend, Client, Setup, TestApp, spawn_app_with, token};
use crate::{backend_tests, db_tests, fixtures};

const LINK: &str = "mutation($input: LinkTenantInput!) { linkTenant(input: $input) { changed tenant { microsoftTenantId primaryDomain } } }";
const SET: &str = "mutation($input: SetSandboxAdminRelationshipInput!) { setSandboxAdminRelationship(input: $input) { customer { microsoftTenantId companyName domain adminRelationshipActive } } }";

async fn mutate(client: &Client<'_>, mutation: &str, input: Value) -> (Value, Vec<String>) {
    let response = client
        .post_json(&json!({ "query": mutation, "variables": { "input": input } }))
        .await;
    (response.body.clone(), response.codes())
}

fn ids() -> CallIds {
    CallIds {
        request_id: Uuid::new_v4(),
        correlation_id: Uuid::new_v4(),
    }
}

async fn should_take_the_primary_domain_from_the_brokers_partner_center(app: TestApp) {
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let acme = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    let admin = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(broker.id),
        None,
        "ba@contoso",
    )));
    let guid = Uuid::new_v4();
    app.sandbox_of(broker.id)
        .add_customer(guid, "AcmeCorp.onmicrosoft.com", "Acme Corp")
        .await
        .unwrap();
    let organization_id = ids::encode(Kind::Organization, acme.id).0;

    // Not a customer of this partner: nothing to take the domain from.
    let (body, codes) = mutate(
        &admin,
        LINK,
        json!({ "organizationId": organization_id, "microsoftTenantId": Uuid::new_v4().to_string() }),
    )
    .await;
    assert_eq!(codes, ["PARTNER_CENTER_CUSTOMER_NOT_FOUND"], "{body}");

    let (body, codes) = mutate(
        &admin,
        LINK,
        json!({ "organizationId": organization_id, "microsoftTenantId": guid.to_string() }),
    )
    .await;
    assert!(codes.is_empty(), "{body}");
    let linked = &body["data"]["linkTenant"];
    assert_eq!(linked["changed"], true);
    assert_eq!(
        linked["tenant"]["primaryDomain"],
        "acmecorp.onmicrosoft.com"
    );
    let stored = tenant::Entity::find()
        .filter(tenant::Column::OrganizationId.eq(acme.id))
        .one(&app.db)
        .await
        .unwrap()
        .expect("linked");
    assert_eq!(stored.primary_domain, "acmecorp.onmicrosoft.com");
}

async fn should_require_the_primary_domain_without_a_partner_center_connection(backend: Backend) {
    let setup = Setup {
        fallback: Some(Fallback::Nothing),
        ..Setup::default()
    };
    let Some(app) = spawn_app_with(backend, setup).await else {
        return;
    };
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let acme = fixtures::organization(&app.db, &broker, "Acme", "DE").await;
    let input = json!({
        "organizationId": ids::encode(Kind::Organization, acme.id).0,
        "microsoftTenantId": Uuid::new_v4().to_string(),
    });

    let (body, codes) = mutate(&app.admin(), LINK, input.clone()).await;
    assert_eq!(codes, ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "primaryDomain");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("no Partner Center connection"),
        "{message}"
    );

    // The sandbox's control has no sandbox to change here.
    let (body, codes) = mutate(
        &app.admin(),
        SET,
        json!({ "microsoftTenantId": Uuid::new_v4().to_string(), "active": false }),
    )
    .await;
    assert_eq!(codes, ["SANDBOX_NOT_IN_USE"], "{body}");
}

/// The demo's sandbox holds what a sync finds, and its admin relationship can be removed and
/// restored by a platform admin only.
async fn should_seed_the_demo_sandbox_and_control_its_admin_relationships(app: TestApp) {
    let report = brokergraph::seed::seed_demo(&app.db).await.unwrap();
    assert!(report.sandbox_customers > 0, "{report:?}");
    assert_eq!(
        brokergraph::seed::seed_demo(&app.db)
            .await
            .unwrap()
            .sandbox_customers,
        0,
        "idempotent"
    );
    let broker = entity::broker::Entity::find()
        .filter(entity::broker::Column::Slug.eq("contoso-cloud"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let tenant_of = |name: &'static str| {
        let db = app.db.clone();
        async move {
            let organization = organization::Entity::find()
                .filter(organization::Column::Name.eq(name))
                .one(&db)
                .await
                .unwrap()
                .unwrap();
            tenant::Entity::find()
                .filter(tenant::Column::OrganizationId.eq(organization.id))
                .one(&db)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let partner = app.sandbox_of(broker.id);
    let mut customers = Vec::new();
    let mut continuation: Option<String> = None;
    loop {
        let page = partner
            .list_customers(2, continuation.as_deref(), ids())
            .await
            .unwrap();
        customers.extend(page.customers);
        match page.continuation {
            Some(token) => continuation = Some(token),
            None => break,
        }
    }
    let find = |tenant_id: Uuid| customers.iter().find(|c| c.tenant_id == tenant_id);
    // In sync, drifted, gone.
    let muller = tenant_of("Müller Maschinenbau GmbH").await;
    let in_sync = find(muller.microsoft_tenant_id).expect("Müller's customer");
    assert_eq!(in_sync.domain, muller.primary_domain);
    let van_dijk = tenant_of("Van Dijk Logistiek B.V.").await;
    assert_eq!(
        find(van_dijk.microsoft_tenant_id).unwrap().company_name,
        "Van Dijk Logistiek Groep B.V."
    );
    let bellweather = tenant_of("Bellweather Analytics Ltd").await;
    assert!(find(bellweather.microsoft_tenant_id).is_none());
    // Customers no organization holds.
    let linked: Vec<Uuid> = tenant::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|tenant| tenant.microsoft_tenant_id)
        .collect();
    let unlinked: Vec<&str> = customers
        .iter()
        .filter(|c| !linked.contains(&c.tenant_id))
        .map(|c| c.company_name.as_str())
        .collect();
    assert!(
        unlinked.contains(&"Harbor Street Dental, LLC"),
        "{unlinked:?}"
    );

    // The PARTNER_MANAGED tenant whose admin relationship is gone, restored and removed again.
    let atelier = tenant_of("Atelier Lumière SAS").await;
    assert_eq!(
        partner
            .has_admin_relationship(atelier.microsoft_tenant_id, ids())
            .await,
        Ok(false)
    );
    let input = |active: bool| json!({ "microsoftTenantId": atelier.microsoft_tenant_id.to_string(), "active": active });
    let broker_admin = app.with_token(Some(token(
        Role::BrokerAdmin,
        Some(broker.id),
        None,
        "ba@contoso",
    )));
    let (body, codes) = mutate(&broker_admin, SET, input(true)).await;
    assert_eq!(codes, ["FORBIDDEN"], "{body}");
    let (body, codes) = mutate(&app.admin(), SET, input(true)).await;
    assert!(codes.is_empty(), "{body}");
    let customer = &body["data"]["setSandboxAdminRelationship"]["customer"];
    assert_eq!(customer["adminRelationshipActive"], true);
    assert_eq!(customer["companyName"], "Atelier Lumière SAS");
    assert_eq!(
        partner
            .has_admin_relationship(atelier.microsoft_tenant_id, ids())
            .await,
        Ok(true)
    );
    let (body, codes) = mutate(&app.admin(), SET, input(false)).await;
    assert!(codes.is_empty(), "{body}");
    assert_eq!(
        body["data"]["setSandboxAdminRelationship"]["customer"]["adminRelationshipActive"],
        false
    );
    let (_, codes) = mutate(
        &app.admin(),
        SET,
        json!({ "microsoftTenantId": Uuid::new_v4().to_string(), "active": true }),
    )
    .await;
    assert_eq!(codes, ["NOT_FOUND"]);
    let (_, codes) = mutate(
        &app.admin(),
        SET,
        json!({ "microsoftTenantId": "nope", "active": true }),
    )
    .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
}

/// Two replicas (two sandbox handles, as two processes have) receiving the same create request
/// at once: one customer, and both answer with it.
async fn should_create_one_customer_per_request_across_replicas(app: TestApp) {
    let broker = fixtures::broker(&app.db, "contoso", "Contoso Cloud").await;
    let replicas: Vec<Arc<dyn PartnerCenter>> = (0..3)
        .map(|_| {
            Arc::new(Sandbox::new().partner(app.db.clone(), broker.id)) as Arc<dyn PartnerCenter>
        })
        .collect();
    for round in 0..4 {
        let call = ids();
        let customer = NewCustomer {
            company_name: format!("Race {round}"),
            email: "it@race.example".into(),
            country: "DE".into(),
            domain_prefix: format!("race{round}{}", &call.request_id.simple().to_string()[..8]),
            culture: "en-US".into(),
            language: "en".into(),
        };
        let answers = futures_util::future::join_all(
            replicas
                .iter()
                .map(|replica| replica.create_customer(&customer, call)),
        )
        .await;
        let first = answers[0].clone().unwrap();
        for answer in answers {
            assert_eq!(answer.unwrap(), first, "round {round}");
        }
    }
    assert_eq!(sandbox::created_in(&app.db).await.unwrap(), 4);
}

db_tests!(
    should_take_the_primary_domain_from_the_brokers_partner_center,
    should_seed_the_demo_sandbox_and_control_its_admin_relationships,
    should_create_one_customer_per_request_across_replicas,
);

mod configured {
    use super::*;

    backend_tests!(should_require_the_primary_domain_without_a_partner_center_connection);
}
