//! A Partner Center connector that records each call in the metrics
//! (`partner_center_calls_total`, `partner_center_call_duration_seconds`, by `operation` and
//! `outcome`) and, when traces are on, in a span of its own (`partner center call`, with the
//! same operation and outcome); [`super::connections::PartnerCenters`] wraps every broker's
//! connector in it when metrics or traces are on.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument as _;

use super::{CallIds, Customer, CustomerPage, NewCustomer, PartnerCenter, PartnerCenterError};

/// Any Partner Center connection, with each call counted and timed.
pub struct Metered(pub Arc<dyn PartnerCenter>);

impl Metered {
    async fn time<T>(
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, PartnerCenterError>>,
    ) -> Result<T, PartnerCenterError> {
        let started = Instant::now();
        let span = crate::telemetry::partner_center_span(operation);
        let answer = call.instrument(span.clone()).await;
        let outcome = match &answer {
            Ok(_) => "OK",
            Err(error) => error.code().code(),
        };
        crate::telemetry::record_outcome(&span, outcome);
        let labels = [("operation", operation), ("outcome", outcome)];
        metrics::counter!("partner_center_calls_total", &labels).increment(1);
        metrics::histogram!("partner_center_call_duration_seconds", &labels)
            .record(started.elapsed());
        answer
    }
}

#[async_trait::async_trait]
impl PartnerCenter for Metered {
    async fn create_customer(
        &self,
        customer: &NewCustomer,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        Self::time("create_customer", self.0.create_customer(customer, ids)).await
    }

    async fn get_customer(
        &self,
        tenant_id: uuid::Uuid,
        ids: CallIds,
    ) -> Result<Customer, PartnerCenterError> {
        Self::time("get_customer", self.0.get_customer(tenant_id, ids)).await
    }

    async fn domain_available(
        &self,
        prefix: &str,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        Self::time("domain_available", self.0.domain_available(prefix, ids)).await
    }

    async fn list_customers(
        &self,
        size: u32,
        continuation: Option<&str>,
        ids: CallIds,
    ) -> Result<CustomerPage, PartnerCenterError> {
        Self::time(
            "list_customers",
            self.0.list_customers(size, continuation, ids),
        )
        .await
    }

    async fn has_admin_relationship(
        &self,
        tenant_id: uuid::Uuid,
        ids: CallIds,
    ) -> Result<bool, PartnerCenterError> {
        Self::time(
            "has_admin_relationship",
            self.0.has_admin_relationship(tenant_id, ids),
        )
        .await
    }

    fn verifies_customers(&self) -> bool {
        self.0.verifies_customers()
    }
}
