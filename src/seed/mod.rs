//! Seed data: a small, realistic demo data set for the playground and a deterministic bulk data
//! set for benchmarks.
//!
//! Both are idempotent and reproducible:
//!
//! - Every row is planned in full from fixed inputs, then rows whose natural key is already in
//!   the database are left out: brokers by `slug` (a broker that exists is skipped with
//!   everything under it), tenants by `microsoft_tenant_id`, users by `email`.
//! - Primary keys are UUID v7 built from the row's `created_at` (a fixed base instant plus a
//!   per-row offset that grows in insertion order) and ten bytes of a name-based (v5) UUID of
//!   the row's natural key, so ordering by id is ordering by creation time and a re-run
//!   computes the same ids.
//!   Demo rows start at 2025-01-01T00:00:00Z (one day per broker, one minute per row), benchmark
//!   rows at 2024-01-01T00:00:00Z (ten seconds per broker, one millisecond per row), so the two
//!   sets never share an instant.
//! - Each call runs in one transaction: a failure leaves nothing half-written.

/// The demo data set.
mod demo;
/// Creation instants and deterministic primary keys.
mod ids;
/// Display names folded into domains and email addresses.
mod names;
/// The demo brokers' Partner Center sandbox.
mod sandbox;
/// The benchmark data set.
mod scale;
/// The bulk writer.
mod writer;

use std::collections::HashSet;
use std::fmt;

use entity::broker;
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionSession, TransactionTrait,
};

use demo::plan_demo;
use ids::{DEMO_BASE_MS, SCALE_BASE_MS, SCALE_BROKER_SPAN_MS};
use scale::{
    SCALE_BROKERS_PER_BATCH, SCALE_BROKERS_PER_UNIT, plan_scale_broker, scale_broker_slug,
};
use writer::{Plan, write_plan};

/// What a seed run wrote (rows inserted per table; zero everywhere on a second run).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub brokers: u64,
    pub organizations: u64,
    pub tenants: u64,
    pub users: u64,
    pub services: u64,
    pub subscriptions: u64,
    pub assignments: u64,
    /// Customers in the demo brokers' Partner Center sandbox.
    pub sandbox_customers: u64,
}

impl SeedReport {
    /// Rows inserted over all tables.
    pub fn total(&self) -> u64 {
        self.brokers
            + self.organizations
            + self.tenants
            + self.users
            + self.services
            + self.subscriptions
            + self.assignments
            + self.sandbox_customers
    }

    fn absorb(&mut self, other: &SeedReport) {
        self.brokers += other.brokers;
        self.organizations += other.organizations;
        self.tenants += other.tenants;
        self.users += other.users;
        self.services += other.services;
        self.subscriptions += other.subscriptions;
        self.assignments += other.assignments;
        self.sandbox_customers += other.sandbox_customers;
    }
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} brokers, {} organizations, {} tenants, {} users, {} services, {} subscriptions, {} assignments, {} sandbox customers",
            self.brokers,
            self.organizations,
            self.tenants,
            self.users,
            self.services,
            self.subscriptions,
            self.assignments,
            self.sandbox_customers
        )
    }
}

/// Realistic demo data for the playground; idempotent (running it twice adds nothing twice).
///
/// Three brokers with their catalogs, organizations in several countries (about two thirds of
/// them linked to a Microsoft tenant), their users, subscriptions and seat assignments, and
/// each broker's Partner Center sandbox (customers for its tenants, drifted, missing and
/// unlinked ones: see `sandbox`). A demo
/// broker whose slug already exists is skipped with everything under it, so a database holding
/// only some of the demo brokers gets the missing ones.
pub async fn seed_demo<C>(db: &C) -> Result<SeedReport, DbErr>
where
    C: TransactionTrait,
{
    let plan = plan_demo()?;
    let txn = db.begin().await?;
    let slugs: Vec<String> = plan.brokers.iter().map(|b| b.slug.clone()).collect();
    let existing: HashSet<String> = broker::Entity::find()
        .select_only()
        .column(broker::Column::Slug)
        .filter(broker::Column::Slug.is_in(slugs.iter().cloned()))
        .into_tuple::<String>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    let mut report = write_plan(&txn, plan).await?;
    // The sandbox of each demo broker written now (one that existed is skipped with
    // everything under it, its sandbox included).
    for slug in slugs.iter().filter(|slug| !existing.contains(*slug)) {
        let broker = broker::Entity::find()
            .filter(broker::Column::Slug.eq(slug.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| DbErr::Custom(format!("seed: broker {slug} was not written")))?;
        report.sandbox_customers +=
            sandbox::write_sandbox(&txn, broker.id, sandbox::plan_sandbox(slug)).await?;
    }
    txn.commit().await?;
    tracing::info!(%report, "seeded demo data");
    Ok(report)
}

/// Deterministic bulk data for benchmarks: at scale 1, 10 brokers × 100 organizations (90% with a tenant) × 20 users,
/// 5 catalog services per broker, 2 subscriptions per organization, each user assigned to one of its organization's subscriptions.
/// Scale N is N times that number of brokers (organizations per broker, users per organization stay the same). Idempotent too.
///
/// Brokers are `bench-broker-0001`, `bench-broker-0002`, ...; the ones that already exist are
/// skipped, so `seed_scale(2)` after `seed_scale(1)` adds brokers 11 to 20.
pub async fn seed_scale<C>(db: &C, scale: u32) -> Result<SeedReport, DbErr>
where
    C: TransactionTrait,
{
    let brokers = u64::from(scale) * SCALE_BROKERS_PER_UNIT;
    if brokers.saturating_mul(SCALE_BROKER_SPAN_MS) > DEMO_BASE_MS - SCALE_BASE_MS {
        return Err(DbErr::Custom(format!(
            "seed: scale {scale} is too large for the benchmark time range"
        )));
    }
    let txn = db.begin().await?;
    let mut report = SeedReport::default();
    let mut first = 1;
    while first <= brokers {
        let last = (first + SCALE_BROKERS_PER_BATCH - 1).min(brokers);
        let slugs: Vec<String> = (first..=last).map(scale_broker_slug).collect();
        let existing: HashSet<String> = broker::Entity::find()
            .select_only()
            .column(broker::Column::Slug)
            .filter(broker::Column::Slug.is_in(slugs.iter().cloned()))
            .into_tuple::<String>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        let mut plan = Plan::default();
        for (number, slug) in (first..=last).zip(&slugs) {
            if !existing.contains(slug) {
                plan_scale_broker(&mut plan, number, slug)?;
            }
        }
        report.absorb(&write_plan(&txn, plan).await?);
        first = last + 1;
    }
    txn.commit().await?;
    tracing::info!(scale, %report, "seeded benchmark data");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::error::Error;

    use chrono::{DateTime, Utc};
    use entity::enums::{
        OrganizationRole, SubscriptionStatus, TenantLinkMethod, TenantManagement, Vendor,
    };
    use entity::{organization, service, subscription, subscription_assignment, tenant, user};
    use migration::MigratorTrait;
    use sea_orm::{Database, DatabaseConnection, IntoActiveModel, PaginatorTrait, QueryOrder};
    use uuid::Uuid;

    use super::demo::DEMO_BROKERS;
    use super::ids::SEED_ACTOR;
    use super::names::{domain_prefix, email_local_part};
    use super::*;

    type TestResult = Result<(), Box<dyn Error>>;

    async fn sqlite() -> Result<(tempfile::TempDir, DatabaseConnection), Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("seed.db").display());
        let db = Database::connect(&url).await?;
        migration::Migrator::up(&db, None).await?;
        Ok((dir, db))
    }

    /// Rows per table, in the shape of a report.
    async fn row_counts(db: &DatabaseConnection) -> Result<SeedReport, DbErr> {
        Ok(SeedReport {
            brokers: broker::Entity::find().count(db).await?,
            organizations: organization::Entity::find().count(db).await?,
            tenants: tenant::Entity::find().count(db).await?,
            users: user::Entity::find().count(db).await?,
            services: service::Entity::find().count(db).await?,
            subscriptions: subscription::Entity::find().count(db).await?,
            assignments: subscription_assignment::Entity::find().count(db).await?,
            sandbox_customers: entity::sandbox_customer::Entity::find().count(db).await?,
        })
    }

    /// Every id is a v7 whose timestamp is the row's `created_at` to the millisecond, no two
    /// rows share an instant, and ids strictly increase with `created_at`.
    fn check_ids_follow_time(
        table: &str,
        rows: impl IntoIterator<Item = (Uuid, DateTime<Utc>)>,
    ) -> TestResult {
        let mut rows: Vec<_> = rows.into_iter().collect();
        for (id, created_at) in &rows {
            assert_eq!(id.get_version_num(), 7, "{table} {id} is not a v7");
            let (secs, nanos) = id.get_timestamp().ok_or("id without timestamp")?.to_unix();
            let id_ms = i64::try_from(secs * 1000 + u64::from(nanos / 1_000_000))?;
            assert_eq!(id_ms, created_at.timestamp_millis(), "{table} {id}");
        }
        rows.sort_by_key(|(_, created_at)| *created_at);
        for pair in rows.windows(2) {
            assert!(
                pair[0].1 < pair[1].1,
                "two {table} rows share {}",
                pair[0].1
            );
            assert!(
                pair[0].0 < pair[1].0,
                "{table}: {} sorts after {}",
                pair[0].0,
                pair[1].0
            );
        }
        Ok(())
    }

    /// The domain's rules, over everything in the database.
    async fn check_consistency(db: &DatabaseConnection) -> TestResult {
        let brokers = broker::Entity::find().all(db).await?;
        let organizations = organization::Entity::find().all(db).await?;
        let tenants = tenant::Entity::find().all(db).await?;
        let users = user::Entity::find().all(db).await?;
        let services = service::Entity::find().all(db).await?;
        let subscriptions = subscription::Entity::find().all(db).await?;
        let assignments = subscription_assignment::Entity::find().all(db).await?;

        let broker_of_org: HashMap<Uuid, Uuid> =
            organizations.iter().map(|o| (o.id, o.broker_id)).collect();
        let with_tenant: HashSet<Uuid> = tenants.iter().map(|t| t.organization_id).collect();
        let service_by_id: HashMap<Uuid, &service::Model> =
            services.iter().map(|s| (s.id, s)).collect();
        let org_of_user: HashMap<Uuid, Uuid> =
            users.iter().map(|u| (u.id, u.organization_id)).collect();
        let org_of_subscription: HashMap<Uuid, Uuid> = subscriptions
            .iter()
            .map(|s| (s.id, s.organization_id))
            .collect();

        for org in &organizations {
            assert!(
                org.country.len() == 2 && org.country.chars().all(|c| c.is_ascii_uppercase()),
                "{} has country {:?}",
                org.name,
                org.country
            );
            assert!(org.contact_email.contains('@'), "{}", org.contact_email);
            assert!(
                users.iter().any(|u| u.organization_id == org.id
                    && u.role == OrganizationRole::OrganizationAdmin),
                "{} has no organization admin",
                org.name
            );
        }
        for t in &tenants {
            assert!(!t.microsoft_tenant_id.is_nil());
            let prefix = t
                .primary_domain
                .strip_suffix(".onmicrosoft.com")
                .ok_or("primary domain outside onmicrosoft.com")?;
            assert!(
                !prefix.is_empty()
                    && prefix
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "bad domain prefix {prefix:?}"
            );
            assert_eq!(t.linked_by, SEED_ACTOR);
        }
        for u in &users {
            assert_eq!(u.email, u.email.to_lowercase());
        }
        for s in &subscriptions {
            let service = service_by_id
                .get(&s.service_id)
                .ok_or("subscription to an unknown service")?;
            assert_eq!(
                Some(&service.broker_id),
                broker_of_org.get(&s.organization_id),
                "subscription {} uses another broker's service",
                s.id
            );
            assert!(s.quantity > 0);
            if service.vendor == Vendor::Microsoft && s.status == SubscriptionStatus::Active {
                assert!(
                    with_tenant.contains(&s.organization_id),
                    "organization {} has an active Microsoft subscription and no tenant",
                    s.organization_id
                );
            }
        }
        let mut pairs = HashSet::new();
        for a in &assignments {
            let user_org = org_of_user
                .get(&a.user_id)
                .ok_or("assignment of an unknown user")?;
            let subscription_org = org_of_subscription
                .get(&a.subscription_id)
                .ok_or("assignment to an unknown subscription")?;
            assert_eq!(
                user_org, subscription_org,
                "assignment {} crosses organizations",
                a.id
            );
            assert!(
                pairs.insert((a.subscription_id, a.user_id)),
                "duplicate assignment"
            );
        }

        check_ids_follow_time("brokers", brokers.iter().map(|r| (r.id, r.created_at)))?;
        check_ids_follow_time(
            "organizations",
            organizations.iter().map(|r| (r.id, r.created_at)),
        )?;
        check_ids_follow_time("tenants", tenants.iter().map(|r| (r.id, r.created_at)))?;
        check_ids_follow_time("users", users.iter().map(|r| (r.id, r.created_at)))?;
        check_ids_follow_time("services", services.iter().map(|r| (r.id, r.created_at)))?;
        check_ids_follow_time(
            "subscriptions",
            subscriptions.iter().map(|r| (r.id, r.created_at)),
        )?;
        check_ids_follow_time(
            "subscription_assignments",
            assignments.iter().map(|r| (r.id, r.created_at)),
        )?;
        for t in &brokers {
            assert_eq!(t.created_at, t.updated_at);
        }

        // The database orders ids as it orders creation times.
        let by_id: Vec<Uuid> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .order_by_asc(user::Column::Id)
            .into_tuple()
            .all(db)
            .await?;
        let by_created_at: Vec<Uuid> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .order_by_asc(user::Column::CreatedAt)
            .into_tuple()
            .all(db)
            .await?;
        assert_eq!(by_id, by_created_at);
        Ok(())
    }

    #[tokio::test]
    async fn demo_is_consistent_and_idempotent() -> TestResult {
        let (_dir, db) = sqlite().await?;
        let first = seed_demo(&db).await?;
        assert!(first.brokers == 3 && first.services >= 12, "{first:?}");
        assert!(
            first.organizations > 0 && first.tenants > 0 && first.users > 0,
            "{first:?}"
        );
        assert!(
            first.subscriptions > 0 && first.assignments > 0,
            "{first:?}"
        );
        assert!(first.tenants < first.organizations, "{first:?}");
        assert_eq!(row_counts(&db).await?, first);
        check_consistency(&db).await?;

        let second = seed_demo(&db).await?;
        assert_eq!(second, SeedReport::default());
        assert_eq!(row_counts(&db).await?, first);

        // Every subscription references its own broker's catalog and organizations without a
        // tenant hold no Microsoft subscription at all.
        let tenants = tenant::Entity::find().all(&db).await?;
        let with_tenant: HashSet<Uuid> = tenants.iter().map(|t| t.organization_id).collect();
        let microsoft: HashSet<Uuid> = service::Entity::find()
            .filter(service::Column::Vendor.eq(Vendor::Microsoft))
            .all(&db)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        for s in subscription::Entity::find().all(&db).await? {
            if microsoft.contains(&s.service_id) {
                assert!(with_tenant.contains(&s.organization_id));
            }
        }
        let management: HashSet<TenantManagement> = tenants.iter().map(|t| t.management).collect();
        assert_eq!(management.len(), 2);
        let methods: HashSet<TenantLinkMethod> = tenants.iter().map(|t| t.link_method).collect();
        assert_eq!(methods.len(), 2);
        Ok(())
    }

    #[tokio::test]
    async fn demo_adds_only_the_missing_brokers() -> TestResult {
        let (_dir, db) = sqlite().await?;
        let now = Utc::now();
        broker::Entity::insert(
            broker::Model {
                id: Uuid::now_v7(),
                slug: "northwind".to_owned(),
                name: "Northwind (created by hand)".to_owned(),
                created_at: now,
                updated_at: now,
            }
            .into_active_model(),
        )
        .exec_without_returning(&db)
        .await?;

        let report = seed_demo(&db).await?;
        assert_eq!(report.brokers, 2);
        let northwind = broker::Entity::find()
            .filter(broker::Column::Slug.eq("northwind"))
            .one(&db)
            .await?
            .ok_or("northwind is gone")?;
        assert_eq!(northwind.name, "Northwind (created by hand)");
        let northwind_orgs = organization::Entity::find()
            .filter(organization::Column::BrokerId.eq(northwind.id))
            .count(&db)
            .await?;
        assert_eq!(northwind_orgs, 0);
        assert_eq!(row_counts(&db).await?.brokers, 3);
        assert_eq!(seed_demo(&db).await?, SeedReport::default());
        Ok(())
    }

    #[tokio::test]
    async fn scale_one_has_the_documented_shape_and_is_idempotent() -> TestResult {
        let (_dir, db) = sqlite().await?;
        let expected = SeedReport {
            brokers: 10,
            organizations: 1_000,
            tenants: 900,
            users: 20_000,
            services: 50,
            subscriptions: 2_000,
            assignments: 20_000,
            sandbox_customers: 0,
        };
        assert_eq!(seed_scale(&db, 1).await?, expected);
        assert_eq!(row_counts(&db).await?, expected);
        assert_eq!(seed_scale(&db, 1).await?, SeedReport::default());
        assert_eq!(row_counts(&db).await?, expected);

        // Each user is assigned to exactly one subscription of its organization.
        let assigned: HashSet<Uuid> = subscription_assignment::Entity::find()
            .all(&db)
            .await?
            .into_iter()
            .map(|a| a.user_id)
            .collect();
        assert_eq!(assigned.len(), 20_000);

        // Demo data coexists with benchmark data, and both keep ids in time order.
        let demo = seed_demo(&db).await?;
        assert_eq!(demo.brokers, 3);
        check_consistency(&db).await?;
        Ok(())
    }

    #[tokio::test]
    async fn scale_grows_by_whole_units_and_zero_writes_nothing() -> TestResult {
        let (_dir, db) = sqlite().await?;
        assert_eq!(seed_scale(&db, 0).await?, SeedReport::default());
        assert_eq!(row_counts(&db).await?, SeedReport::default());
        // Plans are deterministic: the same broker always gets the same ids.
        let mut a = Plan::default();
        let mut b = Plan::default();
        plan_scale_broker(&mut a, 7, "bench-broker-0007")?;
        plan_scale_broker(&mut b, 7, "bench-broker-0007")?;
        assert_eq!(a.users, b.users);
        assert_eq!(a.assignments, b.assignments);
        assert!(seed_scale(&db, u32::MAX).await.is_err());
        Ok(())
    }

    #[test]
    fn demo_plan_is_deterministic_and_well_formed() -> TestResult {
        let a = plan_demo()?;
        let b = plan_demo()?;
        assert_eq!(a.brokers, b.brokers);
        assert_eq!(a.tenants, b.tenants);
        assert_eq!(a.assignments, b.assignments);
        for broker in DEMO_BROKERS {
            assert!((4..=6).contains(&broker.catalog.len()), "{}", broker.slug);
            assert!(
                (4..=8).contains(&broker.organizations.len()),
                "{}",
                broker.slug
            );
            for org in broker.organizations {
                assert!((2..=6).contains(&org.users.len()), "{}", org.name);
                assert!((1..=3).contains(&org.subscriptions.len()), "{}", org.name);
            }
        }
        let emails: HashSet<&str> = a.users.iter().map(|u| u.email.as_str()).collect();
        assert_eq!(emails.len(), a.users.len());
        Ok(())
    }

    #[test]
    fn names_fold_to_ascii() {
        assert_eq!(
            domain_prefix("Müller Maschinenbau GmbH"),
            "muellermaschinenbau"
        );
        assert_eq!(
            domain_prefix("Kowalski Biuro Rachunkowe Sp. z o.o."),
            "kowalskibiurorachunkowe"
        );
        assert_eq!(
            domain_prefix("Café Olé Restaurantes SL"),
            "cafeolerestaurantes"
        );
        assert_eq!(email_local_part("Jürgen Weiß"), "juergen.weiss");
        assert_eq!(email_local_part("Daan van Dijk"), "daan.vandijk");
        assert_eq!(email_local_part("Tomasz Wiśniewski"), "tomasz.wisniewski");
    }

    #[test]
    fn base_instants_are_new_year() -> TestResult {
        let demo = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")?;
        let scale = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")?;
        assert_eq!(u64::try_from(demo.timestamp_millis())?, DEMO_BASE_MS);
        assert_eq!(u64::try_from(scale.timestamp_millis())?, SCALE_BASE_MS);
        Ok(())
    }

    /// The seed futures can be spawned on a multi-threaded runtime.
    #[allow(dead_code)]
    fn seed_futures_are_send(db: &DatabaseConnection) {
        fn assert_send<T: Send>(_: &T) {}
        assert_send(&seed_demo(db));
        assert_send(&seed_scale(db, 1));
    }
}
