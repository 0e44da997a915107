//! The built-in Partner Center sandbox's controls (platform admins, installs on the sandbox).
//! The rules live in `crate::domain::sandbox`.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use uuid::Uuid;

use super::mutation::caller;
use crate::domain::sandbox;
use crate::error::ApiResult;

#[derive(InputObject)]
pub struct SetSandboxAdminRelationshipInput {
    /// The sandbox customer's Microsoft tenant ID.
    pub microsoft_tenant_id: String,
    /// False removes the partner's admin relationship (GDAP), as the customer would in its own
    /// tenant; true restores it.
    pub active: bool,
}

/// A customer of the built-in Partner Center sandbox.
#[derive(SimpleObject)]
pub struct SandboxCustomer {
    pub microsoft_tenant_id: Uuid,
    pub company_name: String,
    pub domain: String,
    /// Whether the partner (its broker) holds an active admin relationship with it.
    pub admin_relationship_active: bool,
}

#[derive(SimpleObject)]
pub struct SetSandboxAdminRelationshipPayload {
    pub customer: SandboxCustomer,
}

#[derive(Default)]
pub struct SandboxMutation;

#[Object]
impl SandboxMutation {
    /// Removes or restores the admin relationship between a customer of the built-in Partner
    /// Center sandbox and its broker (platform admins; `SANDBOX_NOT_IN_USE` on an install with
    /// a Partner Center URL). Setting what is already set changes nothing.
    async fn set_sandbox_admin_relationship(
        &self,
        ctx: &Context<'_>,
        input: SetSandboxAdminRelationshipInput,
    ) -> ApiResult<SetSandboxAdminRelationshipPayload> {
        let (services, principal) = caller(ctx)?;
        let (customer, active) = sandbox::set_admin_relationship(
            services,
            principal,
            &input.microsoft_tenant_id,
            input.active,
        )
        .await?;
        Ok(SetSandboxAdminRelationshipPayload {
            customer: SandboxCustomer {
                microsoft_tenant_id: customer.tenant_id,
                company_name: customer.company_name,
                domain: customer.domain,
                admin_relationship_active: active,
            },
        })
    }
}
