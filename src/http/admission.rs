//! How many operations run at once: at most `max_concurrent_operations` in the process and
//! `max_concurrent_operations_per_principal` for one caller (a token's subject, role and
//! scope), over HTTP (each operation of a batch on its own) and over the WebSocket alike.
//!
//! An operation over either bound waits up to `operation_queue_wait` for a place (and never
//! past its deadline), then is refused: `TOO_MANY_CONCURRENT_OPERATIONS` (429) when its caller
//! is over its share, `SERVER_BUSY` (503) when the process is full; both with `Retry-After`.
//! The caller's bound is taken first, so a caller over its share waits on its own operations,
//! never holding a place of the process's that another caller could use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::auth::{Principal, Role};
use crate::error::ErrorCode;
use crate::scope::Scope;

/// The bounds, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Operations executing at once in the process.
    pub max_concurrent_operations: usize,
    /// Operations executing at once for one principal.
    pub max_concurrent_operations_per_principal: usize,
    /// How long an operation over a bound waits for a place before it is refused.
    pub operation_queue_wait: Duration,
}

impl AdmissionConfig {
    /// 256 in the process: eight times what a 2-core server runs usefully at once, so only a
    /// flood waits; 64 per caller: the benchmark's most concurrent clients (64, with one
    /// token) and a dashboard's parallel panels never wait. 100 ms of waiting absorbs a burst
    /// without holding a client long.
    pub const DEFAULTS: AdmissionConfig = AdmissionConfig {
        max_concurrent_operations: 256,
        max_concurrent_operations_per_principal: 64,
        operation_queue_wait: Duration::from_millis(100),
    };
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig::DEFAULTS
    }
}

/// Who an operation runs for: two tokens with the same subject, role and scope are one caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PrincipalKey {
    subject: String,
    role: Role,
    scope: Scope,
}

impl PrincipalKey {
    fn of(principal: &Principal) -> Self {
        PrincipalKey {
            subject: principal.subject.clone(),
            role: principal.role,
            scope: principal.scope(),
        }
    }
}

/// The places of the process and of each caller running operations now.
pub struct Admission {
    config: AdmissionConfig,
    process: Arc<Semaphore>,
    /// A caller's places, while it runs or waits for any (removed when the last is returned).
    principals: Arc<Mutex<HashMap<PrincipalKey, Arc<Semaphore>>>>,
}

/// An operation's places: returned when it is dropped (when the operation ends, is cut at its
/// deadline or its client goes away).
pub struct Permit {
    process: Option<OwnedSemaphorePermit>,
    principal: Option<OwnedSemaphorePermit>,
    key: PrincipalKey,
    principals: Arc<Mutex<HashMap<PrincipalKey, Arc<Semaphore>>>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.process.take();
        let mut principals = self
            .principals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let permit = self.principal.take();
        drop(permit);
        forget_if_idle(&mut principals, &self.key);
    }
}

/// Removes `key`'s places when nobody holds or waits for one (only the map refers to them).
fn forget_if_idle(principals: &mut HashMap<PrincipalKey, Arc<Semaphore>>, key: &PrincipalKey) {
    if principals
        .get(key)
        .is_some_and(|places| Arc::strong_count(places) == 1)
    {
        principals.remove(key);
    }
}

/// A place of `places`, at once or by `until`.
async fn place(places: Arc<Semaphore>, until: Instant) -> Option<OwnedSemaphorePermit> {
    match places.clone().try_acquire_owned() {
        Ok(place) => Some(place),
        Err(_) => tokio::time::timeout_at(until, places.acquire_owned())
            .await
            .ok()
            .and_then(Result::ok),
    }
}

impl Admission {
    pub fn new(config: AdmissionConfig) -> Self {
        Admission {
            process: Arc::new(Semaphore::new(config.max_concurrent_operations.max(1))),
            principals: Arc::default(),
            config,
        }
    }

    /// Places for one operation of `principal`, waiting at most the queue wait and never past
    /// `deadline`; or the code it is refused with.
    pub async fn admit(
        &self,
        principal: &Principal,
        deadline: Instant,
    ) -> Result<Permit, ErrorCode> {
        let until = deadline.min(Instant::now() + self.config.operation_queue_wait);
        let key = PrincipalKey::of(principal);
        let places = {
            let mut principals = self
                .principals
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            principals
                .entry(key.clone())
                .or_insert_with(|| {
                    Arc::new(Semaphore::new(
                        self.config.max_concurrent_operations_per_principal.max(1),
                    ))
                })
                .clone()
        };
        // From here `permit` returns the caller's places (and forgets them when idle) on every
        // path, the refusals included.
        let mut permit = Permit {
            process: None,
            principal: None,
            key,
            principals: self.principals.clone(),
        };
        let own = place(places, until).await;
        let Some(own) = own else {
            // At debug: under a flood, a line per refusal would cost more than the refusal
            // (`graphql_refusals_total` counts them).
            tracing::debug!(
                bound = self.config.max_concurrent_operations_per_principal,
                "operation refused: the caller runs too many at once"
            );
            return Err(ErrorCode::TooManyConcurrentOperations);
        };
        permit.principal = Some(own);
        let process = place(self.process.clone(), until).await;
        let Some(process) = process else {
            tracing::debug!(
                bound = self.config.max_concurrent_operations,
                "operation refused: the server runs too many at once"
            );
            return Err(ErrorCode::ServerBusy);
        };
        permit.process = Some(process);
        Ok(permit)
    }

    /// Operations running now in the process.
    pub fn running(&self) -> usize {
        self.config.max_concurrent_operations.max(1) - self.process.available_permits()
    }

    /// Callers with places held or awaited now.
    pub fn callers(&self) -> usize {
        self.principals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The error an operation refused with `code` answers.
pub fn refused(code: ErrorCode) -> async_graphql::ServerError {
    code.server_error(code.default_message())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(subject: &str) -> Principal {
        Principal {
            subject: subject.into(),
            role: Role::PlatformAdmin,
            broker_id: None,
            organization_id: None,
            expires_at: None,
        }
    }

    fn admission(process: usize, per_principal: usize) -> Admission {
        Admission::new(AdmissionConfig {
            max_concurrent_operations: process,
            max_concurrent_operations_per_principal: per_principal,
            operation_queue_wait: Duration::from_millis(20),
        })
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_caller_over_its_share_is_refused_and_others_are_not() {
        let admission = admission(10, 2);
        let (alice, bob) = (principal("alice"), principal("bob"));
        let first = admission.admit(&alice, later()).await.unwrap();
        let _second = admission.admit(&alice, later()).await.unwrap();
        assert_eq!(
            admission.admit(&alice, later()).await.err(),
            Some(ErrorCode::TooManyConcurrentOperations)
        );
        let _other = admission.admit(&bob, later()).await.unwrap();
        drop(first);
        let _third = admission.admit(&alice, later()).await.unwrap();
        assert_eq!(admission.running(), 3);
    }

    #[tokio::test]
    async fn a_full_process_refuses_with_server_busy_and_frees_the_callers_place() {
        let admission = admission(1, 5);
        let held = admission.admit(&principal("alice"), later()).await.unwrap();
        assert_eq!(
            admission.admit(&principal("bob"), later()).await.err(),
            Some(ErrorCode::ServerBusy)
        );
        assert_eq!(admission.callers(), 1, "bob's places are forgotten");
        drop(held);
        assert_eq!(admission.callers(), 0);
        assert_eq!(admission.running(), 0);
    }

    #[tokio::test]
    async fn a_waiting_operation_gets_the_place_another_returns() {
        let admission = Arc::new(admission(1, 1));
        let held = admission.admit(&principal("alice"), later()).await.unwrap();
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move {
                let wait = Duration::from_secs(5);
                let patient = Admission {
                    config: AdmissionConfig {
                        operation_queue_wait: wait,
                        ..admission.config
                    },
                    process: admission.process.clone(),
                    principals: admission.principals.clone(),
                };
                patient.admit(&principal("alice"), later()).await.is_ok()
            })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiting.await.unwrap());
    }

    #[tokio::test]
    async fn the_wait_ends_at_the_deadline() {
        let admission = Admission::new(AdmissionConfig {
            max_concurrent_operations: 1,
            max_concurrent_operations_per_principal: 1,
            operation_queue_wait: Duration::from_secs(60),
        });
        let _held = admission.admit(&principal("alice"), later()).await.unwrap();
        let deadline = Instant::now() + Duration::from_millis(20);
        let refused = tokio::time::timeout(
            Duration::from_secs(10),
            admission.admit(&principal("alice"), deadline),
        )
        .await
        .expect("the wait ended at the deadline");
        assert_eq!(refused.err(), Some(ErrorCode::TooManyConcurrentOperations));
    }
}
