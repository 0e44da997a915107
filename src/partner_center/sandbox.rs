//! An in-memory Partner Center for local use and tests.
//!
//! It keeps Partner Center's rules that brokergraph depends on (random tenant GUIDs, one
//! customer per domain prefix, idempotency on `MS-RequestId`, the validation messages a client
//! may see) and adds controls that let tests script failures and slowness. State is shared by
//! all clones, so a test can keep one handle while the server holds another.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use uuid::Uuid;

use super::{CallIds, Customer, CustomerPage, NewCustomer, PartnerCenter, PartnerCenterError};

/// Longest domain prefix Partner Center accepts for `<prefix>.onmicrosoft.com`.
const MAX_PREFIX_LEN: usize = 27;
const ONMICROSOFT_SUFFIX: &str = ".onmicrosoft.com";

/// A stand-in for Partner Center, cheap to clone (clones share one state).
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    state: Arc<Mutex<State>>,
    /// Per handle rather than shared: it describes how this handle is used, not the fake service.
    verifying: bool,
}

#[derive(Debug, Default)]
struct State {
    customers: HashMap<Uuid, Customer>,
    /// Customers whose admin relationship (GDAP) with the partner was removed.
    without_admin_relationship: HashSet<Uuid>,
    /// Request ID of each successful create → the tenant it created, for idempotent replays.
    created_by_request: HashMap<Uuid, Uuid>,
    failures: VecDeque<PartnerCenterError>,
    hang: Option<Duration>,
    latency: Duration,
    created: usize,
    calls: usize,
}

impl State {
    fn prefix_taken(&self, prefix: &str) -> bool {
        self.customers
            .values()
            .any(|customer| domain_prefix(&customer.domain).eq_ignore_ascii_case(prefix))
    }
}

/// The part before `.onmicrosoft.com`, or the whole domain when it has another suffix.
fn domain_prefix(domain: &str) -> &str {
    let split = domain.len().saturating_sub(ONMICROSOFT_SUFFIX.len());
    match (domain.get(..split), domain.get(split..)) {
        (Some(prefix), Some(suffix)) if suffix.eq_ignore_ascii_case(ONMICROSOFT_SUFFIX) => prefix,
        _ => domain,
    }
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

impl Sandbox {
    /// An empty sandbox that does not verify manual links.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether [`PartnerCenter::verifies_customers`] says manual links must exist here. Off by
    /// default so that people exploring locally can link any GUID; tests turn it on.
    pub fn verifying(mut self, on: bool) -> Self {
        self.verifying = on;
        self
    }

    /// Adds a customer as if it had been created in Partner Center outside brokergraph (the
    /// starting point of a manual link). Replaces any customer with the same tenant ID.
    pub fn add_customer(
        &self,
        tenant_id: Uuid,
        domain: impl Into<String>,
        company_name: impl Into<String>,
    ) {
        let customer = Customer {
            tenant_id,
            domain: domain.into(),
            company_name: company_name.into(),
        };
        self.lock().customers.insert(tenant_id, customer);
    }

    /// Removes (or restores) the partner's admin relationship with the customer's tenant, as a
    /// customer does in its own tenant.
    pub fn set_admin_relationship(&self, tenant_id: Uuid, active: bool) {
        let mut state = self.lock();
        if active {
            state.without_admin_relationship.remove(&tenant_id);
        } else {
            state.without_admin_relationship.insert(tenant_id);
        }
    }

    /// Removes a customer, as if it had left the partner.
    pub fn remove_customer(&self, tenant_id: Uuid) {
        self.lock().customers.remove(&tenant_id);
    }

    /// Queues a failure: each queued failure is returned by the next call of any kind, in order.
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

    /// How many customers `create_customer` actually created (idempotent replays not counted).
    pub fn created(&self) -> usize {
        self.lock().created
    }

    /// Every call of any kind, failed ones included.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    /// A poisoned lock only means a test panicked while holding it; the state is still usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What every call does first: count, hang or lag if asked, then hand out a queued failure.
    ///
    /// The failure is taken after the hang so that a caller that gives up during the hang does
    /// not silently consume it. The lock is never held across the sleep.
    async fn begin_call(&self) -> Result<(), PartnerCenterError> {
        let (hang, latency) = {
            let mut state = self.lock();
            state.calls += 1;
            (state.hang.take(), state.latency)
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

#[async_trait::async_trait]
impl PartnerCenter for Sandbox {
    async fn create_customer(
        &self,
        customer: &NewCustomer,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        self.begin_call().await?;
        let mut state = self.lock();
        // A replay answers before any check, so its own domain never counts as taken.
        if let Some(existing) = state
            .created_by_request
            .get(&ids.request_id)
            .and_then(|tenant_id| state.customers.get(tenant_id))
        {
            return Ok(existing.clone());
        }
        validate(customer)?;
        if state.prefix_taken(&customer.domain_prefix) {
            return Err(PartnerCenterError::DomainPrefixTaken(
                customer.domain_prefix.clone(),
            ));
        }
        let mut tenant_id = Uuid::new_v4();
        while state.customers.contains_key(&tenant_id) {
            tenant_id = Uuid::new_v4();
        }
        let created = Customer {
            tenant_id,
            domain: format!(
                "{}{ONMICROSOFT_SUFFIX}",
                customer.domain_prefix.to_ascii_lowercase()
            ),
            company_name: customer.company_name.trim().to_owned(),
        };
        state.customers.insert(tenant_id, created.clone());
        state.created_by_request.insert(ids.request_id, tenant_id);
        state.created += 1;
        Ok(created)
    }

    async fn get_customer(
        &self,
        tenant_id: Uuid,
        _ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        self.begin_call().await?;
        self.lock()
            .customers
            .get(&tenant_id)
            .cloned()
            .ok_or(PartnerCenterError::CustomerNotFound)
    }

    /// Pages in a stable order (company name, then tenant ID); the continuation token is the
    /// tenant ID the next page starts after, as opaque to the caller as Partner Center's.
    async fn list_customers(
        &self,
        size: u32,
        continuation: Option<&str>,
        _ids: CallIds,
    ) -> Result<CustomerPage, PartnerCenterError> {
        self.begin_call().await?;
        let after = match continuation {
            None => None,
            Some(token) => Some(Uuid::parse_str(token).map_err(|_| {
                PartnerCenterError::Validation("the continuation token is not valid".into())
            })?),
        };
        let state = self.lock();
        let mut all: Vec<&Customer> = state.customers.values().collect();
        all.sort_by(|a, b| (&a.company_name, a.tenant_id).cmp(&(&b.company_name, b.tenant_id)));
        let start = match after {
            None => 0,
            Some(after) => all
                .iter()
                .position(|customer| customer.tenant_id == after)
                .map_or(all.len(), |index| index + 1),
        };
        let size = usize::try_from(size.max(1)).unwrap_or(usize::MAX);
        let customers: Vec<Customer> = all
            .iter()
            .skip(start)
            .take(size)
            .map(|c| (*c).clone())
            .collect();
        let continuation = (start + customers.len() < all.len())
            .then(|| customers.last().map(|last| last.tenant_id.to_string()))
            .flatten();
        Ok(CustomerPage {
            customers,
            continuation,
        })
    }

    async fn has_admin_relationship(
        &self,
        tenant_id: Uuid,
        _ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        self.begin_call().await?;
        let state = self.lock();
        Ok(state.customers.contains_key(&tenant_id)
            && !state.without_admin_relationship.contains(&tenant_id))
    }

    async fn domain_available(
        &self,
        prefix: &str,
        _ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        self.begin_call().await?;
        validate_prefix(prefix)?;
        Ok(!self.lock().prefix_taken(prefix))
    }

    fn verifies_customers(&self) -> bool {
        self.verifying
    }
}

#[cfg(test)]
mod tests {
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

    #[tokio::test]
    async fn should_issue_a_tenant_id_and_find_the_customer_afterwards() {
        let sandbox = Sandbox::new();

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
    }

    #[tokio::test]
    async fn should_page_through_every_customer_once_and_track_admin_relationships() {
        let sandbox = Sandbox::new();
        let mut expected = Vec::new();
        for n in 0..7 {
            let tenant_id = Uuid::new_v4();
            sandbox.add_customer(tenant_id, format!("c{n}.onmicrosoft.com"), format!("C{n}"));
            expected.push(tenant_id);
        }
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

        let tenant_id = expected[0];
        assert!(
            sandbox
                .has_admin_relationship(tenant_id, ids())
                .await
                .unwrap()
        );
        sandbox.set_admin_relationship(tenant_id, false);
        assert!(
            !sandbox
                .has_admin_relationship(tenant_id, ids())
                .await
                .unwrap()
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
        let sandbox = Sandbox::new();
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
        assert_eq!(sandbox.created(), 1);
        assert_eq!(sandbox.calls(), 2);
    }

    #[tokio::test]
    async fn should_refuse_a_taken_prefix_case_insensitively() {
        let sandbox = Sandbox::new();
        sandbox
            .create_customer(&customer("contoso"), ids())
            .await
            .unwrap();
        sandbox.add_customer(Uuid::new_v4(), "Fabrikam.onmicrosoft.com", "Fabrikam");

        let again = sandbox.create_customer(&customer("CONTOSO"), ids()).await;
        let added = sandbox.create_customer(&customer("fabrikam"), ids()).await;

        assert_eq!(
            again,
            Err(PartnerCenterError::DomainPrefixTaken("CONTOSO".into()))
        );
        assert_eq!(
            added,
            Err(PartnerCenterError::DomainPrefixTaken("fabrikam".into()))
        );
        assert_eq!(sandbox.created(), 1);
    }

    #[tokio::test]
    async fn should_say_whether_a_domain_is_available() {
        let sandbox = Sandbox::new();
        sandbox.add_customer(Uuid::new_v4(), "contoso.onmicrosoft.com", "Contoso");

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
        let sandbox = Sandbox::new();
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
        assert_eq!(sandbox.created(), 1);
    }

    #[tokio::test]
    async fn should_not_find_an_unknown_customer() {
        let sandbox = Sandbox::new();

        let result = sandbox.get_customer(Uuid::new_v4(), ids()).await;

        assert_eq!(result, Err(PartnerCenterError::CustomerNotFound));
    }

    #[tokio::test]
    async fn should_find_an_added_customer() {
        let sandbox = Sandbox::new();
        let tenant_id = Uuid::new_v4();
        sandbox.add_customer(tenant_id, "fabrikam.onmicrosoft.com", "Fabrikam");

        let found = sandbox.get_customer(tenant_id, ids()).await.unwrap();

        assert_eq!(found.domain, "fabrikam.onmicrosoft.com");
        assert_eq!(found.company_name, "Fabrikam");
    }

    #[tokio::test]
    async fn should_return_queued_failures_in_order_on_any_call() {
        let sandbox = Sandbox::new();
        sandbox.fail_next(PartnerCenterError::Unavailable);
        sandbox.fail_next(PartnerCenterError::Validation("nope".into()));

        let first = sandbox.domain_available("contoso", ids()).await;
        let second = sandbox.create_customer(&customer("contoso"), ids()).await;
        let third = sandbox.create_customer(&customer("contoso"), ids()).await;

        assert_eq!(first, Err(PartnerCenterError::Unavailable));
        assert_eq!(second, Err(PartnerCenterError::Validation("nope".into())));
        assert!(third.is_ok());
        assert_eq!(sandbox.created(), 1);
        assert_eq!(sandbox.calls(), 3);
    }

    #[tokio::test]
    async fn should_not_create_anything_when_a_create_fails() {
        let sandbox = Sandbox::new();
        let ids = ids();
        sandbox.fail_next(PartnerCenterError::Unavailable);

        let failed = sandbox.create_customer(&customer("contoso"), ids).await;
        let retried = sandbox.create_customer(&customer("contoso"), ids).await;

        assert_eq!(failed, Err(PartnerCenterError::Unavailable));
        assert!(retried.is_ok());
        assert_eq!(sandbox.created(), 1);
        assert_eq!(sandbox.calls(), 2);
    }

    #[tokio::test]
    async fn should_hang_the_next_call_only() {
        let sandbox = Sandbox::new();
        sandbox.hang_next(Duration::from_secs(60));

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
        assert_eq!(sandbox.calls(), 2);
    }

    #[tokio::test]
    async fn clones_share_state_and_verifying_is_off_by_default() {
        let sandbox = Sandbox::new();
        let shared: Arc<dyn PartnerCenter> = Arc::new(sandbox.clone().verifying(true));

        shared
            .create_customer(&customer("contoso"), ids())
            .await
            .unwrap();

        assert!(!sandbox.verifies_customers());
        assert!(shared.verifies_customers());
        assert_eq!(sandbox.created(), 1);
        assert_eq!(sandbox.calls(), 1);
    }
}
