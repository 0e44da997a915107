//! Seed data: a small, realistic demo data set for the playground and a deterministic bulk data
//! set for benchmarks.
//!
//! Both are idempotent and reproducible:
//!
//! - Every row is planned in full from fixed inputs, then rows whose natural key is already in
//!   the database are left out: brokers by `slug` (a broker that exists is skipped with
//!   everything under it), tenants by `microsoft_tenant_id`, users by `email`.
//! - Primary keys are UUID v7 built from the row's `created_at` (a fixed base instant plus a
//!   per-row offset that grows in insertion order) and ten bytes hashed from the row's natural
//!   key, so ordering by id is ordering by creation time and a re-run computes the same ids.
//!   Demo rows start at 2025-01-01T00:00:00Z (one day per broker, one minute per row), benchmark
//!   rows at 2024-01-01T00:00:00Z (ten seconds per broker, one millisecond per row), so the two
//!   sets never share an instant.
//! - Each call runs in one transaction: a failure leaves nothing half-written.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use entity::enums::{
    OrganizationRole, SubscriptionStatus, TenantLinkMethod, TenantManagement, Vendor,
};
use entity::{broker, organization, service, subscription, subscription_assignment, tenant, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    Iterable, QueryFilter, QuerySelect, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

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
    }

    fn absorb(&mut self, other: &SeedReport) {
        self.brokers += other.brokers;
        self.organizations += other.organizations;
        self.tenants += other.tenants;
        self.users += other.users;
        self.services += other.services;
        self.subscriptions += other.subscriptions;
        self.assignments += other.assignments;
    }
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} brokers, {} organizations, {} tenants, {} users, {} services, {} subscriptions, {} assignments",
            self.brokers,
            self.organizations,
            self.tenants,
            self.users,
            self.services,
            self.subscriptions,
            self.assignments
        )
    }
}

/// Realistic demo data for the playground; idempotent (running it twice adds nothing twice).
///
/// Three brokers with their catalogs, organizations in several countries (about two thirds of
/// them linked to a Microsoft tenant), their users, subscriptions and seat assignments. A demo
/// broker whose slug already exists is skipped with everything under it, so a database holding
/// only some of the demo brokers gets the missing ones.
pub async fn seed_demo<C>(db: &C) -> Result<SeedReport, DbErr>
where
    C: TransactionTrait,
{
    let plan = plan_demo()?;
    let txn = db.begin().await?;
    let report = write_plan(&txn, plan).await?;
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

// ---------------------------------------------------------------------------------------------
// Time and identifiers
// ---------------------------------------------------------------------------------------------

/// 2025-01-01T00:00:00Z: the first demo row.
const DEMO_BASE_MS: u64 = 1_735_689_600_000;
/// Each demo broker and everything under it lives in its own day.
const DEMO_BROKER_SPAN_MS: u64 = 86_400_000;
/// One minute between consecutive demo rows.
const DEMO_STEP_MS: u64 = 60_000;

/// 2024-01-01T00:00:00Z: the first benchmark row (before the demo data, never overlapping it).
const SCALE_BASE_MS: u64 = 1_704_067_200_000;
/// Each benchmark broker and its 4,396 rows live in their own ten seconds.
const SCALE_BROKER_SPAN_MS: u64 = 10_000;
/// One millisecond between consecutive benchmark rows.
const SCALE_STEP_MS: u64 = 1;

/// Who linked the seeded tenants (`tenants.linked_by`).
const SEED_ACTOR: &str = "seed";

/// One row's creation instant.
struct Stamp {
    ms: u64,
    at: DateTime<Utc>,
}

/// Hands out increasing instants inside one broker's time block.
struct Clock {
    next: u64,
    end: u64,
    step: u64,
}

impl Clock {
    fn new(start: u64, span: u64, step: u64) -> Self {
        Self {
            next: start,
            end: start + span,
            step,
        }
    }

    fn tick(&mut self) -> Result<Stamp, DbErr> {
        if self.next >= self.end {
            return Err(DbErr::Custom(
                "seed: a broker's rows overflow its time block".to_owned(),
            ));
        }
        let ms = self.next;
        self.next += self.step;
        let at = i64::try_from(ms)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| DbErr::Custom(format!("seed: {ms} ms is not a valid instant")))?;
        Ok(Stamp { ms, at })
    }
}

/// FNV-1a over the parts, each followed by a separator byte that UTF-8 never contains.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// SplitMix64: spreads one 64-bit seed over as many well-mixed words as needed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `N` bytes derived from the parts: the same parts always give the same bytes.
fn derived_bytes<const N: usize>(parts: &[&str]) -> [u8; N] {
    let mut rng = SplitMix64(fnv1a(parts));
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let word = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    out
}

/// The primary key of a row created at `stamp`: a UUID v7 whose timestamp is `created_at` and
/// whose random bits are hashed from the table and the row's natural key.
fn row_id(stamp: &Stamp, table: &str, key: &str) -> Uuid {
    let bytes = derived_bytes::<10>(&["brokergraph-seed", table, key]);
    uuid::Builder::from_unix_timestamp_millis(stamp.ms, &bytes).into_uuid()
}

/// A Microsoft tenant GUID as Partner Center would issue it (random-shaped, version 4, never
/// nil), derived from the organization's key.
fn microsoft_tenant_guid(key: &str) -> Uuid {
    let bytes = derived_bytes::<16>(&["brokergraph-seed", "microsoft-tenant", key]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

/// Legal-form suffixes left out of domain prefixes.
const LEGAL_FORMS: &[&str] = &[
    " Sp. z o.o.",
    " GmbH",
    " B.V.",
    " e.K.",
    " Inc.",
    " LLC",
    " Ltd",
    " SAS",
    " AB",
    " AS",
    " SL",
];

/// Lower-case ASCII letters and digits of `text`, with common Latin letters transliterated
/// (`ü` → `ue`, `ß` → `ss`, `é` → `e`, `ł` → `l`, ...) and everything else dropped.
fn ascii_fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let replacement = match c {
            'a'..='z' | '0'..='9' => {
                out.push(c);
                continue;
            }
            'ä' | 'æ' => "ae",
            'ö' | 'œ' => "oe",
            'ü' => "ue",
            'ß' => "ss",
            'à' | 'á' | 'â' | 'ã' | 'å' | 'ą' => "a",
            'ç' | 'ć' | 'č' => "c",
            'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ł' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ø' => "o",
            'ś' | 'š' => "s",
            'ù' | 'ú' | 'û' | 'ů' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(replacement);
    }
    out
}

/// The `<prefix>` of an organization's `<prefix>.onmicrosoft.com` domain (also the name of its
/// `<prefix>.example` mail domain): its name without the legal form, folded to lower-case
/// alphanumerics. `Müller Maschinenbau GmbH` → `muellermaschinenbau`.
fn domain_prefix(organization_name: &str) -> String {
    let name = LEGAL_FORMS
        .iter()
        .find_map(|form| organization_name.strip_suffix(form))
        .unwrap_or(organization_name);
    ascii_fold(name)
}

/// `firstname.lastname` for a display name: `Jürgen Weiß` → `juergen.weiss`,
/// `Daan van Dijk` → `daan.vandijk`.
fn email_local_part(display_name: &str) -> String {
    let mut words = display_name.split_whitespace();
    let first = words.next().map(ascii_fold).unwrap_or_default();
    let last: String = words.map(ascii_fold).collect();
    if last.is_empty() {
        first
    } else {
        format!("{first}.{last}")
    }
}

// ---------------------------------------------------------------------------------------------
// Planning and writing
// ---------------------------------------------------------------------------------------------

/// Rows to insert, parents before children, each table in creation order.
#[derive(Default)]
struct Plan {
    brokers: Vec<broker::Model>,
    services: Vec<service::Model>,
    organizations: Vec<organization::Model>,
    tenants: Vec<tenant::Model>,
    users: Vec<user::Model>,
    subscriptions: Vec<subscription::Model>,
    assignments: Vec<subscription_assignment::Model>,
}

/// Values per `IN (...)` lookup: few round trips (each may cost a network stall), well below
/// every backend's limit on bound parameters.
const LOOKUP_CHUNK: usize = 5_000;
/// Rows per `INSERT` statement, at most.
const MAX_ROWS_PER_INSERT: usize = 1_000;
/// Bound parameters per `INSERT` statement, at most (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_PARAMS_PER_INSERT: usize = 10_000;

/// Leaves out what the database already holds, then inserts the rest.
async fn write_plan<C>(db: &C, mut plan: Plan) -> Result<SeedReport, DbErr>
where
    C: ConnectionTrait,
{
    drop_existing(db, &mut plan).await?;
    Ok(SeedReport {
        brokers: insert_chunked(db, plan.brokers).await?,
        services: insert_chunked(db, plan.services).await?,
        organizations: insert_chunked(db, plan.organizations).await?,
        tenants: insert_chunked(db, plan.tenants).await?,
        users: insert_chunked(db, plan.users).await?,
        subscriptions: insert_chunked(db, plan.subscriptions).await?,
        assignments: insert_chunked(db, plan.assignments).await?,
    })
}

/// Removes from the plan every row whose natural key already exists, and what hangs on it:
/// a broker (by slug, or by id should its slug have been changed) with its whole subtree; a
/// tenant whose Microsoft tenant ID another organization holds, with its organization's
/// Microsoft subscriptions (no Microsoft subscription without a tenant); a user whose email is
/// taken; and the assignments of removed users and subscriptions.
async fn drop_existing<C>(db: &C, plan: &mut Plan) -> Result<(), DbErr>
where
    C: ConnectionTrait,
{
    let mut taken_slugs = HashSet::new();
    let mut taken_broker_ids = HashSet::new();
    for chunk in plan.brokers.chunks(LOOKUP_CHUNK) {
        let found = broker::Entity::find()
            .filter(
                Condition::any()
                    .add(broker::Column::Slug.is_in(chunk.iter().map(|b| b.slug.clone())))
                    .add(broker::Column::Id.is_in(chunk.iter().map(|b| b.id))),
            )
            .all(db)
            .await?;
        for existing in found {
            taken_slugs.insert(existing.slug);
            taken_broker_ids.insert(existing.id);
        }
    }
    let skipped_brokers: HashSet<Uuid> = plan
        .brokers
        .iter()
        .filter(|b| taken_slugs.contains(&b.slug) || taken_broker_ids.contains(&b.id))
        .map(|b| b.id)
        .collect();
    if !skipped_brokers.is_empty() {
        let skipped_organizations: HashSet<Uuid> = plan
            .organizations
            .iter()
            .filter(|o| skipped_brokers.contains(&o.broker_id))
            .map(|o| o.id)
            .collect();
        plan.brokers.retain(|b| !skipped_brokers.contains(&b.id));
        plan.services
            .retain(|s| !skipped_brokers.contains(&s.broker_id));
        plan.organizations
            .retain(|o| !skipped_brokers.contains(&o.broker_id));
        plan.tenants
            .retain(|t| !skipped_organizations.contains(&t.organization_id));
        plan.users
            .retain(|u| !skipped_organizations.contains(&u.organization_id));
        plan.subscriptions
            .retain(|s| !skipped_organizations.contains(&s.organization_id));
    }

    let mut taken_tenant_ids = HashSet::new();
    for chunk in plan.tenants.chunks(LOOKUP_CHUNK) {
        let found = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::MicrosoftTenantId)
            .filter(
                tenant::Column::MicrosoftTenantId
                    .is_in(chunk.iter().map(|t| t.microsoft_tenant_id)),
            )
            .into_tuple::<Uuid>()
            .all(db)
            .await?;
        taken_tenant_ids.extend(found);
    }
    if !taken_tenant_ids.is_empty() {
        let without_tenant: HashSet<Uuid> = plan
            .tenants
            .iter()
            .filter(|t| taken_tenant_ids.contains(&t.microsoft_tenant_id))
            .map(|t| t.organization_id)
            .collect();
        let microsoft_services: HashSet<Uuid> = plan
            .services
            .iter()
            .filter(|s| s.vendor == Vendor::Microsoft)
            .map(|s| s.id)
            .collect();
        plan.tenants
            .retain(|t| !taken_tenant_ids.contains(&t.microsoft_tenant_id));
        plan.subscriptions.retain(|s| {
            !(without_tenant.contains(&s.organization_id)
                && microsoft_services.contains(&s.service_id))
        });
    }

    let mut taken_emails = HashSet::new();
    for chunk in plan.users.chunks(LOOKUP_CHUNK) {
        let found = user::Entity::find()
            .select_only()
            .column(user::Column::Email)
            .filter(user::Column::Email.is_in(chunk.iter().map(|u| u.email.clone())))
            .into_tuple::<String>()
            .all(db)
            .await?;
        taken_emails.extend(found);
    }
    if !taken_emails.is_empty() {
        plan.users.retain(|u| !taken_emails.contains(&u.email));
    }

    let users: HashSet<Uuid> = plan.users.iter().map(|u| u.id).collect();
    let subscriptions: HashSet<Uuid> = plan.subscriptions.iter().map(|s| s.id).collect();
    plan.assignments
        .retain(|a| users.contains(&a.user_id) && subscriptions.contains(&a.subscription_id));
    Ok(())
}

/// Inserts `rows` with multi-row `INSERT`s that stay well below every backend's limit on bound
/// parameters; returns how many rows were inserted.
async fn insert_chunked<C, A, M>(db: &C, rows: Vec<M>) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    A: ActiveModelTrait,
    M: IntoActiveModel<A>,
{
    let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
    let per_statement = (MAX_PARAMS_PER_INSERT / columns).clamp(1, MAX_ROWS_PER_INSERT);
    let mut inserted = 0;
    let mut rows = rows.into_iter();
    loop {
        let chunk: Vec<A> = rows
            .by_ref()
            .take(per_statement)
            .map(IntoActiveModel::into_active_model)
            .collect();
        if chunk.is_empty() {
            break;
        }
        inserted += A::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(inserted)
}

// ---------------------------------------------------------------------------------------------
// Demo data
// ---------------------------------------------------------------------------------------------

struct DemoBroker {
    slug: &'static str,
    name: &'static str,
    catalog: &'static [DemoService],
    organizations: &'static [DemoOrganization],
}

struct DemoService {
    name: &'static str,
    vendor: Vendor,
    sku: &'static str,
}

struct DemoOrganization {
    name: &'static str,
    /// ISO 3166-1 alpha-2.
    country: &'static str,
    /// Local part of the contact address at the organization's mail domain.
    contact: &'static str,
    registration_number: Option<&'static str>,
    vat_number: Option<&'static str>,
    customer_number: Option<&'static str>,
    tenant: Option<(TenantLinkMethod, TenantManagement)>,
    /// Display name and role; the email is `firstname.lastname@<prefix>.example`.
    users: &'static [(&'static str, OrganizationRole)],
    /// SKU in the broker's catalog, quantity, status. Every subscription that is not cancelled
    /// has its first `min(quantity, users)` users assigned.
    subscriptions: &'static [(&'static str, i32, SubscriptionStatus)],
}

const MICROSOFT: Vendor = Vendor::Microsoft;
const OTHER: Vendor = Vendor::Other;
const ADMIN: OrganizationRole = OrganizationRole::OrganizationAdmin;
const USER: OrganizationRole = OrganizationRole::OrganizationUser;
const ACTIVE: SubscriptionStatus = SubscriptionStatus::Active;
const SUSPENDED: SubscriptionStatus = SubscriptionStatus::Suspended;
const CANCELLED: SubscriptionStatus = SubscriptionStatus::Cancelled;
const E_STORE_PARTNER: Option<(TenantLinkMethod, TenantManagement)> =
    Some((TenantLinkMethod::EStore, TenantManagement::PartnerManaged));
const MANUAL_PARTNER: Option<(TenantLinkMethod, TenantManagement)> =
    Some((TenantLinkMethod::Manual, TenantManagement::PartnerManaged));
const E_STORE_CONSENT: Option<(TenantLinkMethod, TenantManagement)> =
    Some((TenantLinkMethod::EStore, TenantManagement::CustomerConsent));

const M365_BUSINESS_PREMIUM: &str = "CFQ7TTC0LCHC";
const M365_BUSINESS_STANDARD: &str = "CFQ7TTC0LDPB";
const M365_BUSINESS_BASIC: &str = "CFQ7TTC0LH18";
const EXCHANGE_ONLINE_PLAN_1: &str = "CFQ7TTC0LH16";
const TEAMS_ESSENTIALS: &str = "CFQ7TTC0RM8K";

const DEMO_BROKERS: &[DemoBroker] = &[
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
fn plan_demo() -> Result<Plan, DbErr> {
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

fn plan_demo_organization(
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
        plan.tenants.push(tenant::Model {
            id: row_id(&at, "tenants", &key),
            organization_id,
            microsoft_tenant_id: microsoft_tenant_guid(&key),
            primary_domain: format!("{prefix}.onmicrosoft.com"),
            link_method,
            management,
            linked_at: at.at,
            linked_by: SEED_ACTOR.to_owned(),
            created_at: at.at,
            updated_at: at.at,
        });
    }

    let mut user_ids = Vec::with_capacity(org.users.len());
    for &(display_name, role) in org.users {
        let email = format!("{}@{prefix}.example", email_local_part(display_name));
        let at = clock.tick()?;
        let id = row_id(&at, "users", &email);
        user_ids.push(id);
        plan.users.push(user::Model {
            id,
            organization_id,
            email,
            display_name: display_name.to_owned(),
            role,
            created_at: at.at,
            updated_at: at.at,
        });
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

// ---------------------------------------------------------------------------------------------
// Benchmark data
// ---------------------------------------------------------------------------------------------

const SCALE_BROKERS_PER_UNIT: u64 = 10;
/// Brokers planned and written together (about 44,000 rows).
const SCALE_BROKERS_PER_BATCH: u64 = 10;
const SCALE_ORGANIZATIONS_PER_BROKER: u32 = 100;
const SCALE_USERS_PER_ORGANIZATION: u32 = 20;
const SCALE_SUBSCRIPTIONS_PER_ORGANIZATION: u32 = 2;

/// The benchmark catalog: three Microsoft services first, then two others.
const SCALE_CATALOG: [(&str, Vendor, &str); 5] = [
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
const SCALE_OTHER_SERVICES: [usize; 2] = [3, 4];

const SCALE_COUNTRIES: [&str; 20] = [
    "DE", "NL", "US", "GB", "FR", "SE", "ES", "IT", "PL", "BE", "AT", "CH", "DK", "NO", "FI", "IE",
    "PT", "CA", "AU", "JP",
];

fn scale_broker_slug(number: u64) -> String {
    format!("bench-broker-{number:04}")
}

/// All rows of benchmark broker `number` (1-based), in creation order: the broker, its
/// catalog, then per organization the organization, its tenant, users, subscriptions and
/// assignments.
fn plan_scale_broker(plan: &mut Plan, number: u64, slug: &str) -> Result<(), DbErr> {
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
            plan.tenants.push(tenant::Model {
                id: row_id(&at, "tenants", &key),
                organization_id,
                microsoft_tenant_id: microsoft_tenant_guid(&key),
                primary_domain: format!("benchb{number:04}o{o:03}.onmicrosoft.com"),
                link_method: if o % 2 == 0 {
                    TenantLinkMethod::EStore
                } else {
                    TenantLinkMethod::Manual
                },
                management: if o % 25 == 7 {
                    TenantManagement::CustomerConsent
                } else {
                    TenantManagement::PartnerManaged
                },
                linked_at: at.at,
                linked_by: SEED_ACTOR.to_owned(),
                created_at: at.at,
                updated_at: at.at,
            });
        }

        let mut user_ids = Vec::with_capacity(SCALE_USERS_PER_ORGANIZATION as usize);
        for u in 0..SCALE_USERS_PER_ORGANIZATION {
            let email = format!("user{u:02}@{domain}");
            let at = clock.tick()?;
            let id = row_id(&at, "users", &email);
            user_ids.push(id);
            plan.users.push(user::Model {
                id,
                organization_id,
                email,
                display_name: format!("Bench User {number:04}-{o:03}-{u:02}"),
                role: if u < 2 {
                    OrganizationRole::OrganizationAdmin
                } else {
                    OrganizationRole::OrganizationUser
                },
                created_at: at.at,
                updated_at: at.at,
            });
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::error::Error;

    use migration::MigratorTrait;
    use sea_orm::{Database, DatabaseConnection, PaginatorTrait, QueryOrder};

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
