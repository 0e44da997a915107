//! The demo brokers' Partner Center sandbox: customers for their linked tenants, and the cases
//! a synchronization finds, so that the playground shows them on a fresh start.
//!
//! Per broker, most linked tenants have a customer that agrees with them; some have drifted
//! (the company name or the domain differs in Partner Center), one's customer is gone, one
//! `PARTNER_MANAGED` tenant's admin relationship (GDAP) has been removed by the customer; and
//! there are customers no organization holds, some with the name or the domain of an unlinked
//! organization of that broker (what a sync suggests linking), some with neither.

use std::collections::HashSet;

use chrono::Utc;
use entity::enums::AdminRelationshipStatus;
use entity::{sandbox_admin_relationship, sandbox_customer};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::demo::DEMO_BROKERS;
use super::ids::microsoft_tenant_guid;
use super::names::domain_prefix;
use crate::partner_center::sandbox::domain_key;

/// How a linked demo tenant's customer differs from the tenant, in its broker's sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drift {
    /// Partner Center's company name.
    CompanyName(&'static str),
    /// Partner Center's domain.
    Domain(&'static str),
    /// The customer left the partner.
    Gone,
    /// The customer removed the partner's admin relationship.
    NoAdminRelationship,
}

struct DemoSandbox {
    broker: &'static str,
    /// Organizations (by name) whose tenant's customer differs; every other linked tenant's
    /// agrees with it.
    drifted: &'static [(&'static str, Drift)],
    /// Customers no organization holds: company name, domain.
    unlinked: &'static [(&'static str, &'static str)],
}

const DEMO_SANDBOXES: &[DemoSandbox] = &[
    DemoSandbox {
        broker: "contoso-cloud",
        drifted: &[
            (
                "Van Dijk Logistiek B.V.",
                Drift::CompanyName("Van Dijk Logistiek Groep B.V."),
            ),
            ("Bellweather Analytics Ltd", Drift::Gone),
            ("Atelier Lumière SAS", Drift::NoAdminRelationship),
        ],
        unlinked: &[
            // The name of Harbor Street Dental LLC, written otherwise.
            (
                "Harbor Street Dental, LLC",
                "harborstreetdental.onmicrosoft.com",
            ),
            // The domain Nordljus Design AB's would have.
            ("Nordljus", "nordljusdesign.onmicrosoft.com"),
            ("Tailspin Toys", "tailspintoys.onmicrosoft.com"),
        ],
    },
    DemoSandbox {
        broker: "northwind",
        drifted: &[
            (
                "Kowalski Biuro Rachunkowe Sp. z o.o.",
                Drift::Domain("kowalskibiuro.onmicrosoft.com"),
            ),
            (
                "Apotheke am Markt Schneider e.K.",
                Drift::NoAdminRelationship,
            ),
        ],
        unlinked: &[
            ("Fjordline Consulting AS", "fjordline.onmicrosoft.com"),
            (
                "Gouden Hop Brouwerij",
                "brouwerijdegoudenhop.onmicrosoft.com",
            ),
            ("Wide World Importers", "wideworldimporters.onmicrosoft.com"),
        ],
    },
    DemoSandbox {
        broker: "fabrikam",
        drifted: &[
            (
                "Café Olé Restaurantes SL",
                Drift::CompanyName("Grupo Café Olé SL"),
            ),
            ("Stichting Zorg Samen", Drift::Gone),
        ],
        unlinked: &[
            (
                "PINECREST VETERINARY CLINIC",
                "pinecrestvet.onmicrosoft.com",
            ),
            ("Adventure Works Cycles", "adventureworks.onmicrosoft.com"),
        ],
    },
];

/// One planned sandbox customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PlannedCustomer {
    pub(super) tenant_id: Uuid,
    pub(super) domain: String,
    pub(super) company_name: String,
    pub(super) admin_relationship: bool,
}

/// The sandbox customers of the demo broker `slug` (none for another slug).
pub(super) fn plan_sandbox(slug: &str) -> Vec<PlannedCustomer> {
    let Some(sandbox) = DEMO_SANDBOXES.iter().find(|sandbox| sandbox.broker == slug) else {
        return Vec::new();
    };
    let organizations = DEMO_BROKERS
        .iter()
        .filter(|broker| broker.slug == slug)
        .flat_map(|broker| broker.organizations);
    let mut planned = Vec::new();
    for organization in organizations.filter(|organization| organization.tenant.is_some()) {
        let prefix = domain_prefix(organization.name);
        let drift = sandbox
            .drifted
            .iter()
            .find(|(name, _)| *name == organization.name)
            .map(|(_, drift)| *drift);
        let mut customer = PlannedCustomer {
            tenant_id: microsoft_tenant_guid(&format!("{slug}/{prefix}")),
            domain: format!("{prefix}.onmicrosoft.com"),
            company_name: organization.name.to_owned(),
            admin_relationship: true,
        };
        match drift {
            None => {}
            Some(Drift::CompanyName(name)) => customer.company_name = name.to_owned(),
            Some(Drift::Domain(domain)) => customer.domain = domain.to_owned(),
            Some(Drift::Gone) => continue,
            Some(Drift::NoAdminRelationship) => customer.admin_relationship = false,
        }
        planned.push(customer);
    }
    for &(company_name, domain) in sandbox.unlinked {
        planned.push(PlannedCustomer {
            tenant_id: microsoft_tenant_guid(&format!("{slug}/sandbox/{domain}")),
            domain: domain.to_owned(),
            company_name: company_name.to_owned(),
            admin_relationship: true,
        });
    }
    planned
}

/// Writes `broker_id`'s planned customers that the sandbox does not hold yet (by tenant ID or
/// domain); how many it wrote.
pub(super) async fn write_sandbox<C: ConnectionTrait>(
    db: &C,
    broker_id: Uuid,
    planned: Vec<PlannedCustomer>,
) -> Result<u64, DbErr> {
    let taken_tenants: HashSet<Uuid> = sandbox_customer::Entity::find()
        .select_only()
        .column(sandbox_customer::Column::TenantId)
        .filter(sandbox_customer::Column::TenantId.is_in(planned.iter().map(|c| c.tenant_id)))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let taken_domains: HashSet<String> = sandbox_customer::Entity::find()
        .select_only()
        .column(sandbox_customer::Column::DomainKey)
        .filter(
            sandbox_customer::Column::DomainKey
                .is_in(planned.iter().map(|c| domain_key(&c.domain))),
        )
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let now = Utc::now();
    let mut customers = Vec::new();
    let mut relationships = Vec::new();
    for planned in planned {
        let key = domain_key(&planned.domain);
        if taken_tenants.contains(&planned.tenant_id) || taken_domains.contains(&key) {
            continue;
        }
        let id = Uuid::now_v7();
        relationships.push(sandbox_admin_relationship::ActiveModel::from(
            sandbox_admin_relationship::Model {
                id: Uuid::now_v7(),
                customer_id: id,
                status: if planned.admin_relationship {
                    AdminRelationshipStatus::Active
                } else {
                    AdminRelationshipStatus::Terminated
                },
                created_at: now,
                ended_at: (!planned.admin_relationship).then_some(now),
            },
        ));
        customers.push(sandbox_customer::ActiveModel::from(
            sandbox_customer::Model {
                id,
                broker_id,
                tenant_id: planned.tenant_id,
                domain: planned.domain,
                domain_key: key,
                company_name: planned.company_name,
                created_by_request: None,
                created_at: now,
                updated_at: now,
            },
        ));
    }
    let written = u64::try_from(customers.len()).unwrap_or(u64::MAX);
    if written > 0 {
        sandbox_customer::Entity::insert_many(customers)
            .exec_without_returning(db)
            .await?;
        sandbox_admin_relationship::Entity::insert_many(relationships)
            .exec_without_returning(db)
            .await?;
    }
    Ok(written)
}
