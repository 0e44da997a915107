//! The built-in Partner Center sandbox, for local use and tests.
//!
//! It keeps Partner Center's rules that brokergraph depends on (random tenant GUIDs, one
//! customer per domain prefix, idempotency on `MS-RequestId`, the validation messages a client
//! may see). Every broker without a connection of its own is a partner of its own here, with
//! its customers and their admin relationships (GDAP).
//!
//! The state lives in the database (`sandbox_customers`, `sandbox_admin_relationships`), so
//! every replica sharing it sees one sandbox, and its rules are constraints there: two replicas
//! receiving the same create request at once make one customer (a unique request key), two
//! creating the same domain prefix at once make one (a unique domain key).
//!
//! What stays in a process is what scripts a test, not what the fake service holds: queued
//! failures, a hang, a latency, and the counts of calls and creations made through one handle.
//! A [`Sandbox`] is that handle (cheap to clone, clones share it);
//! [`Sandbox::partner`] binds it to a database and a broker.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::Utc;
use entity::enums::AdminRelationshipStatus;
use entity::{sandbox_admin_relationship as relationship, sandbox_customer};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
    TransactionTrait,
};
use uuid::Uuid;

use super::{CallIds, Customer, CustomerPage, NewCustomer, PartnerCenter, PartnerCenterError};

/// Longest domain prefix Partner Center accepts for `<prefix>.onmicrosoft.com`.
const MAX_PREFIX_LEN: usize = 27;
const ONMICROSOFT_SUFFIX: &str = ".onmicrosoft.com";

/// The handle on the sandbox: a test's controls, and whether manual links are verified.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    controls: Arc<Mutex<Controls>>,
    /// Per handle rather than shared: it describes how this handle is used, not the fake service.
    verifying: bool,
}

/// What a test scripts on one handle (per process on purpose: it is the test's, not the fake
/// service's).
#[derive(Debug, Default)]
struct Controls {
    failures: VecDeque<PartnerCenterError>,
    hang: Option<Duration>,
    latency: Duration,
    created: usize,
    calls: usize,
}

/// The part before `.onmicrosoft.com`, or the whole domain when it has another suffix.
fn domain_prefix(domain: &str) -> &str {
    let split = domain.len().saturating_sub(ONMICROSOFT_SUFFIX.len());
    match (domain.get(..split), domain.get(split..)) {
        (Some(prefix), Some(suffix)) if suffix.eq_ignore_ascii_case(ONMICROSOFT_SUFFIX) => prefix,
        _ => domain,
    }
}

/// What makes a domain taken (the unique `domain_key`): its prefix, in lower case.
pub fn domain_key(domain: &str) -> String {
    domain_prefix(domain.trim()).to_ascii_lowercase()
}

/// Partner Center's rule: 1 to 27 letters or digits (domains are case-insensitive, so either
/// case is accepted and the stored domain is lower case).
fn validate_prefix(prefix: &str) -> Result<(), PartnerCenterError> {
    if prefix.is_empty()
        || prefix.len() > MAX_PREFIX_LEN
        || !prefix.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(PartnerCenterError::Validation(format!(
            "the domain prefix must be 1 to {MAX_PREFIX_LEN} letters or digits"
        )));
    }
    Ok(())
}

fn validate(customer: &NewCustomer) -> Result<(), PartnerCenterError> {
    if customer.company_name.trim().is_empty() {
        return Err(PartnerCenterError::Validation(
            "the company name must not be blank".into(),
        ));
    }
    if !customer.email.contains('@') {
        return Err(PartnerCenterError::Validation(
            "the email address is not valid".into(),
        ));
    }
    validate_prefix(&customer.domain_prefix)
}

/// A database failure inside the fake service: logged, and what a caller of the real one would
/// see when it is down.
fn unavailable(error: DbErr) -> PartnerCenterError {
    tracing::error!(%error, "the Partner Center sandbox could not use the database");
    PartnerCenterError::Unavailable
}

fn customer_of(row: sandbox_customer::Model) -> Customer {
    Customer {
        tenant_id: row.tenant_id,
        domain: row.domain,
        company_name: row.company_name,
    }
}

/// A new customer row of `broker_id`, and its admin relationship.
fn new_rows(
    broker_id: Uuid,
    tenant_id: Uuid,
    domain: String,
    company_name: String,
    created_by_request: Option<Uuid>,
) -> (sandbox_customer::Model, relationship::Model) {
    let now = Utc::now();
    let customer = sandbox_customer::Model {
        id: Uuid::now_v7(),
        broker_id,
        tenant_id,
        domain_key: domain_key(&domain),
        domain,
        company_name,
        created_by_request,
        created_at: now,
        updated_at: now,
    };
    let relationship = relationship::Model {
        id: Uuid::now_v7(),
        customer_id: customer.id,
        status: AdminRelationshipStatus::Active,
        created_at: now,
        ended_at: None,
    };
    (customer, relationship)
}

/// Inserts a customer with an active admin relationship, in one transaction.
async fn insert_customer(
    db: &DatabaseConnection,
    (customer, relationship): (sandbox_customer::Model, relationship::Model),
) -> Result<sandbox_customer::Model, DbErr> {
    let txn = crate::domain::write(db).await?;
    let inserted = customer.into_active_model().insert(&txn).await?;
    relationship.into_active_model().insert(&txn).await?;
    txn.commit().await?;
    Ok(inserted)
}

/// Ends (or, when none is active, starts) the admin relationship of the customer with this
/// tenant ID, in `broker_id`'s sandbox or in any. `None`: no such customer.
async fn set_relationship(
    db: &DatabaseConnection,
    broker_id: Option<Uuid>,
    tenant_id: Uuid,
    active: bool,
) -> Result<Option<sandbox_customer::Model>, DbErr> {
    let txn = crate::domain::write(db).await?;
    let mut find =
        sandbox_customer::Entity::find().filter(sandbox_customer::Column::TenantId.eq(tenant_id));
    if let Some(broker_id) = broker_id {
        find = find.filter(sandbox_customer::Column::BrokerId.eq(broker_id));
    }
    let Some(customer) = find.one(&txn).await? else {
        txn.rollback().await.ok();
        return Ok(None);
    };
    let current = relationship::Entity::find()
        .filter(relationship::Column::CustomerId.eq(customer.id))
        .filter(relationship::Column::Status.eq(AdminRelationshipStatus::Active));
    let now = Utc::now();
    if active {
        if current.count(&txn).await? == 0 {
            relationship::Model {
                id: Uuid::now_v7(),
                customer_id: customer.id,
                status: AdminRelationshipStatus::Active,
                created_at: now,
                ended_at: None,
            }
            .into_active_model()
            .insert(&txn)
            .await?;
        }
    } else {
        relationship::Entity::update_many()
            .col_expr(
                relationship::Column::Status,
                Expr::value(AdminRelationshipStatus::Terminated),
            )
            .col_expr(relationship::Column::EndedAt, Expr::value(now))
            .filter(relationship::Column::CustomerId.eq(customer.id))
            .filter(relationship::Column::Status.eq(AdminRelationshipStatus::Active))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Some(customer))
}

/// Whether the customer with this tenant ID has an active admin relationship (`None`: no such
/// customer in the sandbox).
pub async fn admin_relationship_active(
    db: &impl ConnectionTrait,
    broker_id: Option<Uuid>,
    tenant_id: Uuid,
) -> Result<Option<bool>, DbErr> {
    let mut find =
        sandbox_customer::Entity::find().filter(sandbox_customer::Column::TenantId.eq(tenant_id));
    if let Some(broker_id) = broker_id {
        find = find.filter(sandbox_customer::Column::BrokerId.eq(broker_id));
    }
    let Some(customer) = find.one(db).await? else {
        return Ok(None);
    };
    let active = relationship::Entity::find()
        .filter(relationship::Column::CustomerId.eq(customer.id))
        .filter(relationship::Column::Status.eq(AdminRelationshipStatus::Active))
        .count(db)
        .await?;
    Ok(Some(active > 0))
}

/// Removes (`active` false) or restores the admin relationship of the sandbox customer with this
/// tenant ID, whichever broker's it is, as the customer would in its own tenant; the customer,
/// or `None` when the sandbox has none with this tenant ID.
pub async fn set_admin_relationship(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    active: bool,
) -> Result<Option<sandbox_customer::Model>, DbErr> {
    set_relationship(db, None, tenant_id, active).await
}

/// How many customers create calls made, through every handle and replica.
pub async fn created_in(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    sandbox_customer::Entity::find()
        .filter(sandbox_customer::Column::CreatedByRequest.is_not_null())
        .count(db)
        .await
}

impl Sandbox {
    /// A handle that does not verify manual links.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether [`PartnerCenter::verifies_customers`] says manual links must exist here. Off by
    /// default so that people exploring locally can link any GUID; tests turn it on.
    pub fn verifying(mut self, on: bool) -> Self {
        self.verifying = on;
        self
    }

    /// `broker_id`'s sandbox in `db`, through this handle.
    pub fn partner(&self, db: DatabaseConnection, broker_id: Uuid) -> SandboxPartner {
        SandboxPartner {
            handle: self.clone(),
            db,
            broker_id,
        }
    }

    /// Queues a failure: each queued failure is returned by the next call of any kind through
    /// this handle, in order.
    pub fn fail_next(&self, error: PartnerCenterError) {
        self.lock().failures.push_back(error);
    }

    /// Makes the next call sleep this long before proceeding; callers are expected to bound it
    /// with their own time-out.
    pub fn hang_next(&self, duration: Duration) {
        self.lock().hang = Some(duration);
    }

    /// Makes every call take at least this long, as a slow Partner Center would (zero: none).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// How many customers `create_customer` created through this handle (idempotent replays
    /// not counted); [`created_in`] counts every handle's.
    pub fn created(&self) -> usize {
        self.lock().created
    }

    /// Every call of any kind through this handle, failed ones included.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    /// A poisoned lock only means a test panicked while holding it; the state is still usable.
    fn lock(&self) -> MutexGuard<'_, Controls> {
        self.controls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What every call does first: count, hang or lag if asked, then hand out a queued failure.
    ///
    /// The failure is taken after the hang so that a caller that gives up during the hang does
    /// not silently consume it. The lock is never held across the sleep.
    async fn begin_call(&self) -> Result<(), PartnerCenterError> {
        let (hang, latency) = {
            let mut controls = self.lock();
            controls.calls += 1;
            (controls.hang.take(), controls.latency)
        };
        let wait = hang.unwrap_or_default() + latency;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        match self.lock().failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// One broker's sandbox: the Partner Center of a broker without a connection of its own.
#[derive(Debug, Clone)]
pub struct SandboxPartner {
    handle: Sandbox,
    db: DatabaseConnection,
    broker_id: Uuid,
}

impl SandboxPartner {
    /// Adds a customer as if it had been created in Partner Center outside brokergraph (the
    /// starting point of a manual link), with an active admin relationship. A customer with the
    /// same tenant ID is replaced (it moves to this broker).
    pub async fn add_customer(
        &self,
        tenant_id: Uuid,
        domain: impl Into<String>,
        company_name: impl Into<String>,
    ) -> Result<(), DbErr> {
        let (domain, company_name) = (domain.into(), company_name.into());
        let existing = sandbox_customer::Entity::find()
            .filter(sandbox_customer::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?;
        match existing {
            Some(row) => {
                let mut row = row.into_active_model();
                row.broker_id = sea_orm::Set(self.broker_id);
                row.domain_key = sea_orm::Set(domain_key(&domain));
                row.domain = sea_orm::Set(domain);
                row.company_name = sea_orm::Set(company_name);
                row.updated_at = sea_orm::Set(Utc::now());
                row.update(&self.db).await?;
            }
            None => {
                let rows = new_rows(self.broker_id, tenant_id, domain, company_name, None);
                insert_customer(&self.db, rows).await?;
            }
        }
        Ok(())
    }

    /// Removes a customer, as if it had left the partner.
    pub async fn remove_customer(&self, tenant_id: Uuid) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        if let Some(customer) = self.find(&txn, tenant_id).await? {
            relationship::Entity::delete_many()
                .filter(relationship::Column::CustomerId.eq(customer.id))
                .exec(&txn)
                .await?;
            sandbox_customer::Entity::delete_by_id(customer.id)
                .exec(&txn)
                .await?;
        }
        txn.commit().await
    }

    /// Removes (or restores) the partner's admin relationship with the customer's tenant, as a
    /// customer does in its own tenant; false when the broker has no such customer.
    pub async fn set_admin_relationship(
        &self,
        tenant_id: Uuid,
        active: bool,
    ) -> Result<bool, DbErr> {
        Ok(
            set_relationship(&self.db, Some(self.broker_id), tenant_id, active)
                .await?
                .is_some(),
        )
    }

    async fn find(
        &self,
        db: &impl ConnectionTrait,
        tenant_id: Uuid,
    ) -> Result<Option<sandbox_customer::Model>, DbErr> {
        sandbox_customer::Entity::find()
            .filter(sandbox_customer::Column::BrokerId.eq(self.broker_id))
            .filter(sandbox_customer::Column::TenantId.eq(tenant_id))
            .one(db)
            .await
    }

    /// The customer an earlier create call with this request ID made.
    async fn created_by(&self, request_id: Uuid) -> Result<Option<Customer>, DbErr> {
        Ok(sandbox_customer::Entity::find()
            .filter(sandbox_customer::Column::BrokerId.eq(self.broker_id))
            .filter(sandbox_customer::Column::CreatedByRequest.eq(request_id))
            .one(&self.db)
            .await?
            .map(customer_of))
    }

    /// The answer when the prefix is taken: by this very request, made by another replica since
    /// this one looked (a replay), or by another customer.
    async fn replay_or_taken(
        &self,
        customer: &NewCustomer,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        match self.created_by(ids.request_id).await.map_err(unavailable)? {
            Some(existing) => Ok(existing),
            None => Err(PartnerCenterError::DomainPrefixTaken(
                customer.domain_prefix.clone(),
            )),
        }
    }

    async fn prefix_taken(&self, prefix: &str) -> Result<bool, DbErr> {
        Ok(sandbox_customer::Entity::find()
            .filter(sandbox_customer::Column::DomainKey.eq(prefix.to_ascii_lowercase()))
            .count(&self.db)
            .await?
            > 0)
    }
}

#[async_trait::async_trait]
impl PartnerCenter for SandboxPartner {
    async fn create_customer(
        &self,
        customer: &NewCustomer,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        self.handle.begin_call().await?;
        // A replay answers before any check, so its own domain never counts as taken.
        if let Some(existing) = self.created_by(ids.request_id).await.map_err(unavailable)? {
            return Ok(existing);
        }
        validate(customer)?;
        if self
            .prefix_taken(&customer.domain_prefix)
            .await
            .map_err(unavailable)?
        {
            return self.replay_or_taken(customer, ids).await;
        }
        let rows = new_rows(
            self.broker_id,
            Uuid::new_v4(),
            format!(
                "{}{ONMICROSOFT_SUFFIX}",
                customer.domain_prefix.to_ascii_lowercase()
            ),
            customer.company_name.trim().to_owned(),
            Some(ids.request_id),
        );
        match insert_customer(&self.db, rows).await {
            Ok(created) => {
                self.handle.lock().created += 1;
                Ok(customer_of(created))
            }
            // Another replica got in first: with this request (a replay, answered with its
            // customer), or with this prefix.
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                self.replay_or_taken(customer, ids).await
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn get_customer(
        &self,
        tenant_id: Uuid,
        _ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        self.handle.begin_call().await?;
        self.find(&self.db, tenant_id)
            .await
            .map_err(unavailable)?
            .map(customer_of)
            .ok_or(PartnerCenterError::CustomerNotFound)
    }

    /// Pages in tenant ID order (stable while customers are renamed); the continuation token is
    /// the tenant ID the next page starts after, as opaque to the caller as Partner Center's.
    async fn list_customers(
        &self,
        size: u32,
        continuation: Option<&str>,
        _ids: CallIds,
    ) -> Result<CustomerPage, PartnerCenterError> {
        self.handle.begin_call().await?;
        let mut find = sandbox_customer::Entity::find()
            .filter(sandbox_customer::Column::BrokerId.eq(self.broker_id));
        if let Some(token) = continuation {
            let after = Uuid::parse_str(token).map_err(|_| {
                PartnerCenterError::Validation("the continuation token is not valid".into())
            })?;
            find = find.filter(sandbox_customer::Column::TenantId.gt(after));
        }
        let size = size.max(1);
        let mut rows = find
            .order_by_asc(sandbox_customer::Column::TenantId)
            .limit(u64::from(size) + 1)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        let more = rows.len() > usize::try_from(size).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        let continuation = more
            .then(|| rows.last().map(|last| last.tenant_id.to_string()))
            .flatten();
        Ok(CustomerPage {
            customers: rows.into_iter().map(customer_of).collect(),
            continuation,
        })
    }

    async fn has_admin_relationship(
        &self,
        tenant_id: Uuid,
        _ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        self.handle.begin_call().await?;
        Ok(
            admin_relationship_active(&self.db, Some(self.broker_id), tenant_id)
                .await
                .map_err(unavailable)?
                .unwrap_or(false),
        )
    }

    async fn domain_available(
        &self,
        prefix: &str,
        _ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        self.handle.begin_call().await?;
        validate_prefix(prefix)?;
        Ok(!self.prefix_taken(prefix).await.map_err(unavailable)?)
    }

    fn verifies_customers(&self) -> bool {
        self.handle.verifying
    }
}

#[cfg(test)]
mod tests {
    use entity::broker;

    use super::*;

    fn ids() -> CallIds {
        CallIds {
            request_id: Uuid::new_v4(),
            correlation_id: Uuid::new_v4(),
        }
    }

    fn customer(prefix: &str) -> NewCustomer {
        NewCustomer {
            company_name: "Contoso Ltd".into(),
            email: "admin@contoso.example".into(),
            country: "DE".into(),
            domain_prefix: prefix.into(),
            culture: "en-US".into(),
            language: "en".into(),
        }
    }

    fn is_validation(result: &Result<Customer, PartnerCenterError>) -> bool {
        matches!(result, Err(PartnerCenterError::Validation(_)))
    }

    /// A migrated SQLite database (a file: every connection of the pool sees it).
    struct Db {
        _dir: tempfile::TempDir,
        db: DatabaseConnection,
    }

    impl Db {
        async fn new() -> Db {
            let dir = tempfile::tempdir().unwrap();
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("sandbox.db").display()
            );
            let db = crate::db::connect(&crate::db::DbConfig::new(url))
                .await
                .unwrap();
            crate::db::migrate(&db).await.unwrap();
            Db { _dir: dir, db }
        }

        async fn broker(&self, slug: &str) -> Uuid {
            let now = Utc::now();
            broker::Model {
                id: Uuid::now_v7(),
                slug: slug.into(),
                name: slug.into(),
                created_at: now,
                updated_at: now,
            }
            .into_active_model()
            .insert(&self.db)
            .await
            .unwrap()
            .id
        }
    }

    /// A handle, one broker's sandbox through it, and the database behind.
    async fn sandbox() -> (Db, Sandbox, SandboxPartner) {
        let db = Db::new().await;
        let broker = db.broker("contoso").await;
        let handle = Sandbox::new();
        let partner = handle.partner(db.db.clone(), broker);
        (db, handle, partner)
    }

    #[tokio::test]
    async fn should_issue_a_tenant_id_and_find_the_customer_afterwards() {
        let (_db, _, sandbox) = sandbox().await;

        let created = sandbox
            .create_customer(&customer("contoso"), ids())
            .await
            .unwrap();

        assert!(!created.tenant_id.is_nil());
        assert_eq!(created.tenant_id.get_version_num(), 4);
        assert_eq!(created.domain, "contoso.onmicrosoft.com");
        assert_eq!(created.company_name, "Contoso Ltd");
        let found = sandbox
            .get_customer(created.tenant_id, ids())
            .await
            .unwrap();
        assert_eq!(found, created);
        assert!(
            sandbox
                .has_admin_relationship(created.tenant_id, ids())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn should_page_through_every_customer_once_and_track_admin_relationships() {
        let (db, handle, sandbox) = sandbox().await;
        let mut expected = Vec::new();
        for n in 0..7 {
            let tenant_id = Uuid::new_v4();
            sandbox
                .add_customer(tenant_id, format!("c{n}.onmicrosoft.com"), format!("C{n}"))
                .await
                .unwrap();
            expected.push(tenant_id);
        }
        // Another broker's customers are its own.
        let other = handle.partner(db.db.clone(), db.broker("northwind").await);
        other
            .add_customer(Uuid::new_v4(), "other.onmicrosoft.com", "Other")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut continuation: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = sandbox
                .list_customers(3, continuation.as_deref(), ids())
                .await
                .unwrap();
            pages += 1;
            seen.extend(page.customers.iter().map(|customer| customer.tenant_id));
            match page.continuation {
                Some(token) => continuation = Some(token),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        seen.sort();
        expected.sort();
        assert_eq!(seen, expected);
        assert!(matches!(
            sandbox.list_customers(3, Some("not a token"), ids()).await,
            Err(PartnerCenterError::Validation(_))
        ));

        let tenant_id = expected[0];
        assert!(
            sandbox
                .has_admin_relationship(tenant_id, ids())
                .await
                .unwrap()
        );
        assert!(
            sandbox
                .set_admin_relationship(tenant_id, false)
                .await
                .unwrap()
        );
        assert!(
            !sandbox
                .has_admin_relationship(tenant_id, ids())
                .await
                .unwrap()
        );
        assert!(!other.set_admin_relationship(tenant_id, true).await.unwrap());
        assert!(
            !sandbox
                .has_admin_relationship(tenant_id, ids())
                .await
                .unwrap(),
            "another broker cannot restore it"
        );
        assert!(
            sandbox
                .set_admin_relationship(tenant_id, true)
                .await
                .unwrap()
        );
        assert!(
            sandbox
                .set_admin_relationship(tenant_id, true)
                .await
                .unwrap()
        );
        assert!(
            sandbox
                .has_admin_relationship(tenant_id, ids())
                .await
                .unwrap()
        );
        // One terminated and one active relationship: the history stays.
        let rows = relationship::Entity::find().all(&db.db).await.unwrap();
        assert_eq!(rows.len(), 9);
        assert_eq!(
            rows.iter()
                .filter(|row| row.status == AdminRelationshipStatus::Terminated)
                .count(),
            1
        );
        assert!(
            !sandbox
                .has_admin_relationship(Uuid::new_v4(), ids())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn should_replay_the_same_customer_for_the_same_request_id() {
        let (db, handle, sandbox) = sandbox().await;
        let ids = ids();

        let first = sandbox
            .create_customer(&customer("contoso"), ids)
            .await
            .unwrap();
        let replay = sandbox
            .create_customer(&customer("contoso"), ids)
            .await
            .unwrap();

        assert_eq!(replay, first);
        assert_eq!(handle.created(), 1);
        assert_eq!(handle.calls(), 2);
        assert_eq!(created_in(&db.db).await.unwrap(), 1);
    }

    /// Two replicas (two handles on one database) receiving the same create at once make one
    /// customer, and both answer with it.
    #[tokio::test]
    async fn should_create_one_customer_when_two_handles_get_the_same_request_at_once() {
        let (db, _, first) = sandbox().await;
        let broker = first.broker_id;
        let second = Sandbox::new().partner(db.db.clone(), broker);
        for _ in 0..5 {
            let ids = ids();
            let prefix = format!("race{}", ids.request_id.simple());
            let prefix = &prefix[..20];
            let new = customer(prefix);
            let (a, b) = tokio::join!(
                first.create_customer(&new, ids),
                second.create_customer(&new, ids),
            );
            assert_eq!(a.unwrap(), b.unwrap());
        }
        assert_eq!(created_in(&db.db).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn should_refuse_a_taken_prefix_case_insensitively() {
        let (db, handle, sandbox) = sandbox().await;
        sandbox
            .create_customer(&customer("contoso"), ids())
            .await
            .unwrap();
        sandbox
            .add_customer(Uuid::new_v4(), "Fabrikam.onmicrosoft.com", "Fabrikam")
            .await
            .unwrap();
        // A prefix is taken across partners, as onmicrosoft.com is one namespace.
        let other = handle.partner(db.db.clone(), db.broker("northwind").await);

        let again = sandbox.create_customer(&customer("CONTOSO"), ids()).await;
        let added = other.create_customer(&customer("fabrikam"), ids()).await;

        assert_eq!(
            again,
            Err(PartnerCenterError::DomainPrefixTaken("CONTOSO".into()))
        );
        assert_eq!(
            added,
            Err(PartnerCenterError::DomainPrefixTaken("fabrikam".into()))
        );
        assert_eq!(handle.created(), 1);
    }

    #[tokio::test]
    async fn should_say_whether_a_domain_is_available() {
        let (_db, _, sandbox) = sandbox().await;
        sandbox
            .add_customer(Uuid::new_v4(), "contoso.onmicrosoft.com", "Contoso")
            .await
            .unwrap();

        assert_eq!(sandbox.domain_available("contoso", ids()).await, Ok(false));
        assert_eq!(sandbox.domain_available("Contoso", ids()).await, Ok(false));
        assert_eq!(sandbox.domain_available("fabrikam", ids()).await, Ok(true));
        assert!(matches!(
            sandbox.domain_available("not valid", ids()).await,
            Err(PartnerCenterError::Validation(_))
        ));
    }

    #[tokio::test]
    async fn should_validate_like_partner_center() {
        let (_db, handle, sandbox) = sandbox().await;
        let too_long = "a".repeat(MAX_PREFIX_LEN + 1);
        for prefix in ["", "con-toso", "contoso.com", "contosö", too_long.as_str()] {
            let result = sandbox.create_customer(&customer(prefix), ids()).await;
            assert!(is_validation(&result), "{prefix:?}: {result:?}");
        }
        let longest = "a".repeat(MAX_PREFIX_LEN);
        assert!(
            sandbox
                .create_customer(&customer(&longest), ids())
                .await
                .is_ok()
        );

        let blank_name = NewCustomer {
            company_name: "  ".into(),
            ..customer("blankname")
        };
        let bad_email = NewCustomer {
            email: "admin.contoso.example".into(),
            ..customer("bademail")
        };
        assert!(is_validation(
            &sandbox.create_customer(&blank_name, ids()).await
        ));
        assert!(is_validation(
            &sandbox.create_customer(&bad_email, ids()).await
        ));
        assert_eq!(handle.created(), 1);
    }

    #[tokio::test]
    async fn should_not_find_an_unknown_customer() {
        let (_db, _, sandbox) = sandbox().await;

        let result = sandbox.get_customer(Uuid::new_v4(), ids()).await;

        assert_eq!(result, Err(PartnerCenterError::CustomerNotFound));
    }

    #[tokio::test]
    async fn should_find_an_added_customer_only_in_its_brokers_sandbox() {
        let (db, handle, sandbox) = sandbox().await;
        let tenant_id = Uuid::new_v4();
        sandbox
            .add_customer(tenant_id, "fabrikam.onmicrosoft.com", "Fabrikam")
            .await
            .unwrap();

        let found = sandbox.get_customer(tenant_id, ids()).await.unwrap();
        let other = handle.partner(db.db.clone(), db.broker("northwind").await);

        assert_eq!(found.domain, "fabrikam.onmicrosoft.com");
        assert_eq!(found.company_name, "Fabrikam");
        assert_eq!(
            other.get_customer(tenant_id, ids()).await,
            Err(PartnerCenterError::CustomerNotFound)
        );
        // Added again, it is replaced; removed, it is gone with its relationship.
        sandbox
            .add_customer(tenant_id, "fabrikam.onmicrosoft.com", "Fabrikam Inc.")
            .await
            .unwrap();
        assert_eq!(
            sandbox
                .get_customer(tenant_id, ids())
                .await
                .unwrap()
                .company_name,
            "Fabrikam Inc."
        );
        sandbox.remove_customer(tenant_id).await.unwrap();
        assert_eq!(
            sandbox.get_customer(tenant_id, ids()).await,
            Err(PartnerCenterError::CustomerNotFound)
        );
        assert_eq!(relationship::Entity::find().count(&db.db).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn should_return_queued_failures_in_order_on_any_call() {
        let (_db, handle, sandbox) = sandbox().await;
        handle.fail_next(PartnerCenterError::Unavailable);
        handle.fail_next(PartnerCenterError::Validation("nope".into()));

        let first = sandbox.domain_available("contoso", ids()).await;
        let second = sandbox.create_customer(&customer("contoso"), ids()).await;
        let third = sandbox.create_customer(&customer("contoso"), ids()).await;

        assert_eq!(first, Err(PartnerCenterError::Unavailable));
        assert_eq!(second, Err(PartnerCenterError::Validation("nope".into())));
        assert!(third.is_ok());
        assert_eq!(handle.created(), 1);
        assert_eq!(handle.calls(), 3);
    }

    #[tokio::test]
    async fn should_not_create_anything_when_a_create_fails() {
        let (db, handle, sandbox) = sandbox().await;
        let ids = ids();
        handle.fail_next(PartnerCenterError::Unavailable);

        let failed = sandbox.create_customer(&customer("contoso"), ids).await;
        assert_eq!(created_in(&db.db).await.unwrap(), 0);
        let retried = sandbox.create_customer(&customer("contoso"), ids).await;

        assert_eq!(failed, Err(PartnerCenterError::Unavailable));
        assert!(retried.is_ok());
        assert_eq!(handle.created(), 1);
        assert_eq!(handle.calls(), 2);
    }

    #[tokio::test]
    async fn should_hang_the_next_call_only() {
        let (_db, handle, sandbox) = sandbox().await;
        handle.hang_next(Duration::from_secs(60));

        let hung = tokio::time::timeout(
            Duration::from_millis(50),
            sandbox.get_customer(Uuid::new_v4(), ids()),
        )
        .await;
        let next = tokio::time::timeout(
            Duration::from_secs(5),
            sandbox.get_customer(Uuid::new_v4(), ids()),
        )
        .await;

        assert!(hung.is_err(), "the first call should still be sleeping");
        assert_eq!(next, Ok(Err(PartnerCenterError::CustomerNotFound)));
        assert_eq!(handle.calls(), 2);
    }

    #[tokio::test]
    async fn clones_share_controls_and_verifying_is_off_by_default() {
        let (db, handle, sandbox) = sandbox().await;
        let shared: Arc<dyn PartnerCenter> = Arc::new(
            handle
                .clone()
                .verifying(true)
                .partner(db.db.clone(), sandbox.broker_id),
        );

        shared
            .create_customer(&customer("contoso"), ids())
            .await
            .unwrap();

        assert!(!sandbox.verifies_customers());
        assert!(shared.verifies_customers());
        assert_eq!(handle.created(), 1);
        assert_eq!(handle.calls(), 1);
    }

    #[test]
    fn a_domain_key_is_the_lower_case_prefix_or_the_whole_domain() {
        assert_eq!(domain_key("Contoso.OnMicrosoft.com"), "contoso");
        assert_eq!(domain_key("contoso.com"), "contoso.com");
    }
}
