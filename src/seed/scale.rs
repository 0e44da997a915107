//! The benchmark data set: `--scale N` units of identical, deterministic brokers.

use entity::enums::{
    OrganizationRole, SubscriptionStatus, TenantLinkMethod, TenantManagement, Vendor,
};
use entity::{broker, organization, service, subscription, subscription_assignment};
use sea_orm::DbErr;
use uuid::Uuid;

use super::demo::{EXCHANGE_ONLINE_PLAN_1, M365_BUSINESS_BASIC, M365_BUSINESS_PREMIUM};
use super::ids::{Clock, SCALE_BASE_MS, SCALE_BROKER_SPAN_MS, SCALE_STEP_MS, row_id};
use super::writer::Plan;

pub(super) const SCALE_BROKERS_PER_UNIT: u64 = 10;
/// Brokers planned and written together (about 44,000 rows).
pub(super) const SCALE_BROKERS_PER_BATCH: u64 = 10;
pub(super) const SCALE_ORGANIZATIONS_PER_BROKER: u32 = 100;
pub(super) const SCALE_USERS_PER_ORGANIZATION: u32 = 20;
pub(super) const SCALE_SUBSCRIPTIONS_PER_ORGANIZATION: u32 = 2;

/// The benchmark catalog: three Microsoft services first, then two others.
pub(super) const SCALE_CATALOG: [(&str, Vendor, &str); 5] = [
    (
        "Microsoft 365 Business Premium",
        Vendor::Microsoft,
        M365_BUSINESS_PREMIUM,
    ),
    (
        "Microsoft 365 Business Basic",
        Vendor::Microsoft,
        M365_BUSINESS_BASIC,
    ),
    (
        "Exchange Online (Plan 1)",
        Vendor::Microsoft,
        EXCHANGE_ONLINE_PLAN_1,
    ),
    ("Acronis Cyber Protect", Vendor::Other, "ACR-CP-STD"),
    ("Dropbox Business", Vendor::Other, "DBX-BIZ"),
];
/// Indexes in [`SCALE_CATALOG`] of the services an organization without a tenant subscribes to.
pub(super) const SCALE_OTHER_SERVICES: [usize; 2] = [3, 4];

pub(super) const SCALE_COUNTRIES: [&str; 20] = [
    "DE", "NL", "US", "GB", "FR", "SE", "ES", "IT", "PL", "BE", "AT", "CH", "DK", "NO", "FI", "IE",
    "PT", "CA", "AU", "JP",
];

pub(super) fn scale_broker_slug(number: u64) -> String {
    format!("bench-broker-{number:04}")
}

/// All rows of benchmark broker `number` (1-based), in creation order: the broker, its
/// catalog, then per organization the organization, its tenant, users, subscriptions and
/// assignments.
pub(super) fn plan_scale_broker(plan: &mut Plan, number: u64, slug: &str) -> Result<(), DbErr> {
    let mut clock = Clock::new(
        SCALE_BASE_MS + (number - 1) * SCALE_BROKER_SPAN_MS,
        SCALE_BROKER_SPAN_MS,
        SCALE_STEP_MS,
    );
    let at = clock.tick()?;
    let broker_id = row_id(&at, "brokers", slug);
    plan.brokers.push(broker::Model {
        id: broker_id,
        slug: slug.to_owned(),
        name: format!("Bench Broker {number:04}"),
        created_at: at.at,
        updated_at: at.at,
    });

    let mut service_ids = [Uuid::nil(); SCALE_CATALOG.len()];
    for (slot, &(name, vendor, sku)) in service_ids.iter_mut().zip(&SCALE_CATALOG) {
        let at = clock.tick()?;
        *slot = row_id(&at, "services", &format!("{slug}/{sku}"));
        plan.services.push(service::Model {
            id: *slot,
            broker_id,
            name: name.to_owned(),
            vendor,
            sku: sku.to_owned(),
            created_at: at.at,
            updated_at: at.at,
        });
    }

    for o in 0..SCALE_ORGANIZATIONS_PER_BROKER {
        let key = format!("{slug}/{o:03}");
        let domain = format!("org-{o:03}.{slug}.example");
        let country = SCALE_COUNTRIES[o as usize % SCALE_COUNTRIES.len()];
        let at = clock.tick()?;
        let organization_id = row_id(&at, "organizations", &key);
        plan.organizations.push(organization::Model {
            id: organization_id,
            broker_id,
            name: format!("Bench Organization {number:04}-{o:03}"),
            contact_email: format!("it@{domain}"),
            country: country.to_owned(),
            registration_number: (o % 3 != 0).then(|| format!("REG-{number:04}-{o:03}")),
            vat_number: (o % 4 != 1).then(|| format!("{country}{number:06}{o:03}")),
            customer_number: (o % 5 != 4).then(|| format!("BB{number:04}-{o:03}")),
            created_at: at.at,
            updated_at: at.at,
        });

        let has_tenant = o % 10 != 9;
        if has_tenant {
            let at = clock.tick()?;
            let link_method = if o % 2 == 0 {
                TenantLinkMethod::EStore
            } else {
                TenantLinkMethod::Manual
            };
            let management = if o % 25 == 7 {
                TenantManagement::CustomerConsent
            } else {
                TenantManagement::PartnerManaged
            };
            let domain = format!("benchb{number:04}o{o:03}.onmicrosoft.com");
            plan.tenant(
                &at,
                organization_id,
                &key,
                domain,
                (link_method, management),
            );
        }

        let mut user_ids = Vec::with_capacity(SCALE_USERS_PER_ORGANIZATION as usize);
        for u in 0..SCALE_USERS_PER_ORGANIZATION {
            let email = format!("user{u:02}@{domain}");
            let at = clock.tick()?;
            let display_name = format!("Bench User {number:04}-{o:03}-{u:02}");
            let role = if u < 2 {
                OrganizationRole::OrganizationAdmin
            } else {
                OrganizationRole::OrganizationUser
            };
            user_ids.push(plan.user(&at, organization_id, email, display_name, role));
        }

        let mut subscription_ids =
            Vec::with_capacity(SCALE_SUBSCRIPTIONS_PER_ORGANIZATION as usize);
        for s in 0..SCALE_SUBSCRIPTIONS_PER_ORGANIZATION {
            // Organizations with a tenant rotate through the whole catalog; the others only
            // take services of other vendors.
            let service = if has_tenant {
                (o + s) as usize % SCALE_CATALOG.len()
            } else {
                SCALE_OTHER_SERVICES[s as usize % SCALE_OTHER_SERVICES.len()]
            };
            let status = match (s, o % 20) {
                (1, 3) => SubscriptionStatus::Suspended,
                (1, 13) => SubscriptionStatus::Cancelled,
                _ => SubscriptionStatus::Active,
            };
            let at = clock.tick()?;
            let id = row_id(&at, "subscriptions", &format!("{key}/{s}"));
            subscription_ids.push(id);
            plan.subscriptions.push(subscription::Model {
                id,
                organization_id,
                service_id: service_ids[service],
                // Every subscription has at least as many seats as users assigned to it.
                quantity: 10 + 5 * (o % 5) as i32,
                status,
                created_at: at.at,
                updated_at: at.at,
            });
        }

        for (u, user_id) in user_ids.iter().enumerate() {
            let s = u % subscription_ids.len();
            let at = clock.tick()?;
            plan.assignments.push(subscription_assignment::Model {
                id: row_id(
                    &at,
                    "subscription_assignments",
                    &format!("{key}/{s}/{u:02}"),
                ),
                subscription_id: subscription_ids[s],
                user_id: *user_id,
                created_at: at.at,
            });
        }
    }
    Ok(())
}
