//! The demo data set: a few brokers with realistic customers, for the playground.

use entity::enums::{
    OrganizationRole, SubscriptionStatus, TenantLinkMethod, TenantManagement, Vendor,
};
use entity::{broker, organization, service, subscription, subscription_assignment};
use sea_orm::DbErr;
use uuid::Uuid;

use super::ids::{Clock, DEMO_BASE_MS, DEMO_BROKER_SPAN_MS, DEMO_STEP_MS, row_id};
use super::names::{domain_prefix, email_local_part};
use super::writer::Plan;

pub(super) struct DemoBroker {
    pub(super) slug: &'static str,
    pub(super) name: &'static str,
    pub(super) catalog: &'static [DemoService],
    pub(super) organizations: &'static [DemoOrganization],
}

pub(super) struct DemoService {
    pub(super) name: &'static str,
    pub(super) vendor: Vendor,
    pub(super) sku: &'static str,
}

pub(super) struct DemoOrganization {
    pub(super) name: &'static str,
    /// ISO 3166-1 alpha-2.
    pub(super) country: &'static str,
    /// Local part of the contact address at the organization's mail domain.
    pub(super) contact: &'static str,
    pub(super) registration_number: Option<&'static str>,
    pub(super) vat_number: Option<&'static str>,
    pub(super) customer_number: Option<&'static str>,
    pub(super) tenant: Option<(TenantLinkMethod, TenantManagement)>,
    /// Display name and role; the email is `firstname.lastname@<prefix>.example`.
    pub(super) users: &'static [(&'static str, OrganizationRole)],
    /// SKU in the broker's catalog, quantity, status. Every subscription that is not cancelled
    /// has its first `min(quantity, users)` users assigned.
    pub(super) subscriptions: &'static [(&'static str, i32, SubscriptionStatus)],
}

pub(super) const MICROSOFT: Vendor = Vendor::Microsoft;
pub(super) const OTHER: Vendor = Vendor::Other;
pub(super) const ADMIN: OrganizationRole = OrganizationRole::OrganizationAdmin;
pub(super) const USER: OrganizationRole = OrganizationRole::OrganizationUser;
pub(super) const ACTIVE: SubscriptionStatus = SubscriptionStatus::Active;
pub(super) const SUSPENDED: SubscriptionStatus = SubscriptionStatus::Suspended;
pub(super) const CANCELLED: SubscriptionStatus = SubscriptionStatus::Cancelled;
pub(super) const E_STORE_PARTNER: Option<(TenantLinkMethod, TenantManagement)> =
    Some((TenantLinkMethod::EStore, TenantManagement::PartnerManaged));
pub(super) const MANUAL_PARTNER: Option<(TenantLinkMethod, TenantManagement)> =
    Some((TenantLinkMethod::Manual, TenantManagement::PartnerManaged));
pub(super) const E_STORE_CONSENT: Option<(TenantLinkMethod, TenantManagement)> =
    Some((TenantLinkMethod::EStore, TenantManagement::CustomerConsent));

pub(super) const M365_BUSINESS_PREMIUM: &str = "CFQ7TTC0LCHC";
pub(super) const M365_BUSINESS_STANDARD: &str = "CFQ7TTC0LDPB";
pub(super) const M365_BUSINESS_BASIC: &str = "CFQ7TTC0LH18";
pub(super) const EXCHANGE_ONLINE_PLAN_1: &str = "CFQ7TTC0LH16";
pub(super) const TEAMS_ESSENTIALS: &str = "CFQ7TTC0RM8K";

pub(super) const DEMO_BROKERS: &[DemoBroker] = &[
    DemoBroker {
        slug: "contoso-cloud",
        name: "Contoso Cloud Partners",
        catalog: &[
            DemoService {
                name: "Microsoft 365 Business Premium",
                vendor: MICROSOFT,
                sku: M365_BUSINESS_PREMIUM,
            },
            DemoService {
                name: "Microsoft 365 Business Basic",
                vendor: MICROSOFT,
                sku: M365_BUSINESS_BASIC,
            },
            DemoService {
                name: "Microsoft Teams Essentials",
                vendor: MICROSOFT,
                sku: TEAMS_ESSENTIALS,
            },
            DemoService {
                name: "Exchange Online (Plan 1)",
                vendor: MICROSOFT,
                sku: EXCHANGE_ONLINE_PLAN_1,
            },
            DemoService {
                name: "Acronis Cyber Protect Cloud",
                vendor: OTHER,
                sku: "ACR-CPC-WKS",
            },
            DemoService {
                name: "Dropbox Business Standard",
                vendor: OTHER,
                sku: "DBX-BIZ-STD",
            },
        ],
        organizations: &[
            DemoOrganization {
                name: "Müller Maschinenbau GmbH",
                country: "DE",
                contact: "it",
                registration_number: Some("HRB 738214"),
                vat_number: Some("DE298374615"),
                customer_number: Some("CCP-10001"),
                tenant: E_STORE_PARTNER,
                users: &[
                    ("Jürgen Weiß", ADMIN),
                    ("Anna Schmidt", USER),
                    ("Lukas Becker", USER),
                    ("Sophie Wagner", USER),
                ],
                subscriptions: &[
                    (M365_BUSINESS_PREMIUM, 4, ACTIVE),
                    ("ACR-CPC-WKS", 4, ACTIVE),
                ],
            },
            DemoOrganization {
                name: "Van Dijk Logistiek B.V.",
                country: "NL",
                contact: "ict",
                registration_number: Some("KvK 68125431"),
                vat_number: Some("NL857236419B01"),
                customer_number: Some("CCP-10002"),
                tenant: MANUAL_PARTNER,
                users: &[
                    ("Daan van Dijk", ADMIN),
                    ("Emma de Vries", USER),
                    ("Sem Jansen", ADMIN),
                ],
                subscriptions: &[
                    (EXCHANGE_ONLINE_PLAN_1, 25, ACTIVE),
                    (TEAMS_ESSENTIALS, 10, SUSPENDED),
                ],
            },
            DemoOrganization {
                name: "Harbor Street Dental LLC",
                country: "US",
                contact: "office",
                registration_number: None,
                vat_number: None,
                customer_number: Some("CCP-10003"),
                tenant: None,
                users: &[("Maria Garcia", ADMIN), ("James Miller", USER)],
                subscriptions: &[("DBX-BIZ-STD", 3, ACTIVE)],
            },
            DemoOrganization {
                name: "Bellweather Analytics Ltd",
                country: "GB",
                contact: "it",
                registration_number: Some("09876543"),
                vat_number: Some("GB314159265"),
                customer_number: Some("CCP-10004"),
                tenant: E_STORE_CONSENT,
                users: &[
                    ("Oliver Hughes", ADMIN),
                    ("Amelia Clarke", USER),
                    ("Harry Patel", USER),
                    ("Isla Morgan", USER),
                    ("George Evans", USER),
                ],
                subscriptions: &[
                    (M365_BUSINESS_BASIC, 12, ACTIVE),
                    (M365_BUSINESS_PREMIUM, 3, CANCELLED),
                    ("ACR-CPC-WKS", 12, ACTIVE),
                ],
            },
            DemoOrganization {
                name: "Atelier Lumière SAS",
                country: "FR",
                contact: "contact",
                registration_number: Some("811 457 302 R.C.S. Paris"),
                vat_number: Some("FR27811457302"),
                customer_number: None,
                tenant: E_STORE_PARTNER,
                users: &[
                    ("Camille Dubois", ADMIN),
                    ("Léa Moreau", USER),
                    ("Hugo Laurent", USER),
                ],
                subscriptions: &[(M365_BUSINESS_BASIC, 6, ACTIVE)],
            },
            DemoOrganization {
                name: "Nordljus Design AB",
                country: "SE",
                contact: "info",
                registration_number: Some("556912-4417"),
                vat_number: Some("SE556912441701"),
                customer_number: None,
                tenant: None,
                users: &[("Elsa Lindqvist", ADMIN), ("Oscar Berg", USER)],
                subscriptions: &[("ACR-CPC-WKS", 2, SUSPENDED)],
            },
        ],
    },
    DemoBroker {
        slug: "northwind",
        name: "Northwind Reseller",
        catalog: &[
            DemoService {
                name: "Microsoft 365 Business Standard",
                vendor: MICROSOFT,
                sku: M365_BUSINESS_STANDARD,
            },
            DemoService {
                name: "Microsoft 365 Business Premium",
                vendor: MICROSOFT,
                sku: M365_BUSINESS_PREMIUM,
            },
            DemoService {
                name: "Exchange Online (Plan 1)",
                vendor: MICROSOFT,
                sku: EXCHANGE_ONLINE_PLAN_1,
            },
            DemoService {
                name: "Acronis Cyber Protect",
                vendor: OTHER,
                sku: "ACR-CP-ADV",
            },
            DemoService {
                name: "Dropbox Business",
                vendor: OTHER,
                sku: "DBX-BIZ",
            },
        ],
        organizations: &[
            DemoOrganization {
                name: "Blue Ridge Outfitters Inc.",
                country: "US",
                contact: "it",
                registration_number: None,
                vat_number: None,
                customer_number: Some("NW-2001"),
                tenant: E_STORE_PARTNER,
                users: &[
                    ("Ethan Walker", ADMIN),
                    ("Olivia Brooks", USER),
                    ("Noah Bennett", USER),
                    ("Ava Russell", USER),
                    ("Liam Foster", USER),
                    ("Mia Hayes", USER),
                ],
                subscriptions: &[(M365_BUSINESS_STANDARD, 6, ACTIVE), ("DBX-BIZ", 6, ACTIVE)],
            },
            DemoOrganization {
                name: "Kowalski Biuro Rachunkowe Sp. z o.o.",
                country: "PL",
                contact: "biuro",
                registration_number: Some("KRS 0000412876"),
                vat_number: Some("PL5261040828"),
                customer_number: Some("NW-2002"),
                tenant: MANUAL_PARTNER,
                users: &[
                    ("Piotr Kowalski", ADMIN),
                    ("Agnieszka Nowak", USER),
                    ("Tomasz Wiśniewski", USER),
                ],
                subscriptions: &[
                    (EXCHANGE_ONLINE_PLAN_1, 3, ACTIVE),
                    (M365_BUSINESS_PREMIUM, 1, ACTIVE),
                ],
            },
            DemoOrganization {
                name: "Brouwerij De Gouden Hop",
                country: "BE",
                contact: "info",
                registration_number: Some("0712.345.678"),
                vat_number: Some("BE0712345678"),
                customer_number: None,
                tenant: None,
                users: &[("Pieter Peeters", ADMIN), ("Lotte Claes", USER)],
                subscriptions: &[("DBX-BIZ", 2, ACTIVE), ("ACR-CP-ADV", 2, CANCELLED)],
            },
            DemoOrganization {
                name: "Apotheke am Markt Schneider e.K.",
                country: "DE",
                contact: "kontakt",
                registration_number: Some("HRA 40512"),
                vat_number: Some("DE811907345"),
                customer_number: Some("NW-2004"),
                tenant: E_STORE_PARTNER,
                users: &[
                    ("Katrin Schneider", ADMIN),
                    ("Jonas Fischer", USER),
                    ("Marie Hoffmann", USER),
                ],
                subscriptions: &[
                    (M365_BUSINESS_STANDARD, 3, ACTIVE),
                    ("ACR-CP-ADV", 3, ACTIVE),
                ],
            },
            DemoOrganization {
                name: "Fjordline Consulting AS",
                country: "NO",
                contact: "post",
                registration_number: Some("923 456 781"),
                vat_number: None,
                customer_number: None,
                tenant: None,
                users: &[
                    ("Ingrid Haugen", ADMIN),
                    ("Magnus Solberg", ADMIN),
                    ("Nora Bakken", USER),
                ],
                subscriptions: &[("ACR-CP-ADV", 3, ACTIVE)],
            },
        ],
    },
    DemoBroker {
        slug: "fabrikam",
        name: "Fabrikam Services",
        catalog: &[
            DemoService {
                name: "Microsoft 365 Business Basic",
                vendor: MICROSOFT,
                sku: M365_BUSINESS_BASIC,
            },
            DemoService {
                name: "Microsoft Teams Essentials",
                vendor: MICROSOFT,
                sku: TEAMS_ESSENTIALS,
            },
            DemoService {
                name: "Dropbox Business",
                vendor: OTHER,
                sku: "DBX-BIZ",
            },
            DemoService {
                name: "Veeam Backup for Microsoft 365",
                vendor: OTHER,
                sku: "VBM365-STD",
            },
        ],
        organizations: &[
            DemoOrganization {
                name: "Greenleaf Architects Ltd",
                country: "GB",
                contact: "admin",
                registration_number: Some("11223344"),
                vat_number: Some("GB987654321"),
                customer_number: Some("FAB-301"),
                tenant: E_STORE_PARTNER,
                users: &[
                    ("Charlotte Reed", ADMIN),
                    ("William Turner", USER),
                    ("Grace Hall", USER),
                    ("Thomas Wright", USER),
                ],
                subscriptions: &[
                    (M365_BUSINESS_BASIC, 4, ACTIVE),
                    ("VBM365-STD", 4, ACTIVE),
                    (TEAMS_ESSENTIALS, 2, CANCELLED),
                ],
            },
            DemoOrganization {
                name: "Stichting Zorg Samen",
                country: "NL",
                contact: "ict",
                registration_number: Some("KvK 41203958"),
                vat_number: None,
                customer_number: Some("FAB-302"),
                tenant: MANUAL_PARTNER,
                users: &[
                    ("Fleur Bakker", ADMIN),
                    ("Ruben Visser", USER),
                    ("Sanne Smit", USER),
                ],
                subscriptions: &[(TEAMS_ESSENTIALS, 3, ACTIVE)],
            },
            DemoOrganization {
                name: "Café Olé Restaurantes SL",
                country: "ES",
                contact: "gerencia",
                registration_number: Some("B12345678"),
                vat_number: Some("ESB12345678"),
                customer_number: None,
                tenant: E_STORE_PARTNER,
                users: &[("Lucía Fernández", ADMIN), ("Javier Martín", USER)],
                subscriptions: &[(M365_BUSINESS_BASIC, 2, SUSPENDED), ("DBX-BIZ", 2, ACTIVE)],
            },
            DemoOrganization {
                name: "Pinecrest Veterinary Clinic",
                country: "CA",
                contact: "frontdesk",
                registration_number: None,
                vat_number: None,
                customer_number: Some("FAB-304"),
                tenant: None,
                users: &[("Emily Tremblay", ADMIN), ("Liam Roy", USER)],
                subscriptions: &[("DBX-BIZ", 2, ACTIVE)],
            },
        ],
    },
];

/// Every demo row, in creation order.
pub(super) fn plan_demo() -> Result<Plan, DbErr> {
    let mut plan = Plan::default();
    for (index, demo) in (0u64..).zip(DEMO_BROKERS) {
        let mut clock = Clock::new(
            DEMO_BASE_MS + index * DEMO_BROKER_SPAN_MS,
            DEMO_BROKER_SPAN_MS,
            DEMO_STEP_MS,
        );
        let at = clock.tick()?;
        let broker_id = row_id(&at, "brokers", demo.slug);
        plan.brokers.push(broker::Model {
            id: broker_id,
            slug: demo.slug.to_owned(),
            name: demo.name.to_owned(),
            created_at: at.at,
            updated_at: at.at,
        });

        let mut catalog: Vec<(&str, Uuid, Vendor)> = Vec::with_capacity(demo.catalog.len());
        for item in demo.catalog {
            let at = clock.tick()?;
            let id = row_id(&at, "services", &format!("{}/{}", demo.slug, item.sku));
            catalog.push((item.sku, id, item.vendor));
            plan.services.push(service::Model {
                id,
                broker_id,
                name: item.name.to_owned(),
                vendor: item.vendor,
                sku: item.sku.to_owned(),
                created_at: at.at,
                updated_at: at.at,
            });
        }

        for org in demo.organizations {
            plan_demo_organization(&mut plan, &mut clock, demo.slug, broker_id, &catalog, org)?;
        }
    }
    Ok(plan)
}

pub(super) fn plan_demo_organization(
    plan: &mut Plan,
    clock: &mut Clock,
    broker_slug: &str,
    broker_id: Uuid,
    catalog: &[(&str, Uuid, Vendor)],
    org: &DemoOrganization,
) -> Result<(), DbErr> {
    let prefix = domain_prefix(org.name);
    let key = format!("{broker_slug}/{prefix}");
    let at = clock.tick()?;
    let organization_id = row_id(&at, "organizations", &key);
    plan.organizations.push(organization::Model {
        id: organization_id,
        broker_id,
        name: org.name.to_owned(),
        contact_email: format!("{}@{prefix}.example", org.contact),
        country: org.country.to_owned(),
        registration_number: org.registration_number.map(str::to_owned),
        vat_number: org.vat_number.map(str::to_owned),
        customer_number: org.customer_number.map(str::to_owned),
        created_at: at.at,
        updated_at: at.at,
    });

    if let Some((link_method, management)) = org.tenant {
        let at = clock.tick()?;
        let domain = format!("{prefix}.onmicrosoft.com");
        plan.tenant(
            &at,
            organization_id,
            &key,
            domain,
            (link_method, management),
        );
    }

    let mut user_ids = Vec::with_capacity(org.users.len());
    for &(display_name, role) in org.users {
        let email = format!("{}@{prefix}.example", email_local_part(display_name));
        let at = clock.tick()?;
        user_ids.push(plan.user(&at, organization_id, email, display_name.to_owned(), role));
    }

    for &(sku, quantity, status) in org.subscriptions {
        let &(_, service_id, vendor) = catalog
            .iter()
            .find(|(catalog_sku, ..)| *catalog_sku == sku)
            .ok_or_else(|| {
                DbErr::Custom(format!(
                    "seed: {sku} is not in the catalog of {broker_slug}"
                ))
            })?;
        if vendor == Vendor::Microsoft && org.tenant.is_none() {
            return Err(DbErr::Custom(format!(
                "seed: {} has a Microsoft subscription but no tenant",
                org.name
            )));
        }
        let sub_key = format!("{key}/{sku}");
        let at = clock.tick()?;
        let subscription_id = row_id(&at, "subscriptions", &sub_key);
        plan.subscriptions.push(subscription::Model {
            id: subscription_id,
            organization_id,
            service_id,
            quantity,
            status,
            created_at: at.at,
            updated_at: at.at,
        });
        if status == SubscriptionStatus::Cancelled {
            continue;
        }
        let seats = usize::try_from(quantity).unwrap_or(0);
        for (user_id, user) in user_ids.iter().zip(org.users).take(seats) {
            let at = clock.tick()?;
            let email = email_local_part(user.0);
            plan.assignments.push(subscription_assignment::Model {
                id: row_id(
                    &at,
                    "subscription_assignments",
                    &format!("{sub_key}/{email}"),
                ),
                subscription_id,
                user_id: *user_id,
                created_at: at.at,
            });
        }
    }
    Ok(())
}
