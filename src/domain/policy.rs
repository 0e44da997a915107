//! Who may change what (design.md §3). Reads are filtered by scope before these run, so a row
//! out of scope is already "not found"; these decide `FORBIDDEN` for rows the caller can see.

use uuid::Uuid;

use crate::auth::{Principal, Role};
use crate::error::ApiError;

/// Brokers themselves: the platform only.
pub fn brokers(principal: &Principal) -> Result<(), ApiError> {
    allow(principal.role == Role::PlatformAdmin, "manage brokers")
}

/// A broker's organizations, catalog and subscriptions, and linking its tenants.
pub fn broker_data(principal: &Principal, broker: Uuid) -> Result<(), ApiError> {
    allow(
        principal.role == Role::PlatformAdmin
            || (principal.role == Role::BrokerAdmin && principal.broker_id == Some(broker)),
        "change this broker's data",
    )
}

/// An organization's users and assignments, its E-Store purchases and its service account:
/// the broker's admins, and the organization's own admin.
pub fn organization_data(
    principal: &Principal,
    broker: Uuid,
    organization: Uuid,
) -> Result<(), ApiError> {
    allow(
        principal.role == Role::PlatformAdmin
            || (principal.role == Role::BrokerAdmin && principal.broker_id == Some(broker))
            || (principal.role == Role::OrganizationAdmin
                && principal.organization_id == Some(organization)),
        "change this organization's data",
    )
}

/// The built-in Partner Center sandbox's controls (admin relationships): the platform only.
pub fn sandbox(principal: &Principal) -> Result<(), ApiError> {
    allow(
        principal.role == Role::PlatformAdmin,
        "change the Partner Center sandbox",
    )
}

fn allow(allowed: bool, what: &str) -> Result<(), ApiError> {
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("your role may not {what}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The caller's broker and organization, another organization of that broker, and an
    /// organization of another broker.
    const BROKER: Uuid = Uuid::from_u128(0xB1);
    const OTHER_BROKER: Uuid = Uuid::from_u128(0xB2);
    const ORGANIZATION: Uuid = Uuid::from_u128(0x01);
    const SIBLING: Uuid = Uuid::from_u128(0x02);
    const OTHER: Uuid = Uuid::from_u128(0x03);

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Action {
        Brokers,
        BrokerData,
        OrganizationData,
    }

    const ACTIONS: [Action; 3] = [
        Action::Brokers,
        Action::BrokerData,
        Action::OrganizationData,
    ];

    /// Where the changed row sits, seen from the caller.
    #[derive(Debug, Clone, Copy)]
    enum Target {
        Own,
        Sibling,
        Other,
    }

    const TARGETS: [Target; 3] = [Target::Own, Target::Sibling, Target::Other];

    impl Target {
        fn broker_and_organization(self) -> (Uuid, Uuid) {
            match self {
                Target::Own => (BROKER, ORGANIZATION),
                Target::Sibling => (BROKER, SIBLING),
                Target::Other => (OTHER_BROKER, OTHER),
            }
        }
    }

    fn decide(action: Action, principal: &Principal, target: Target) -> Result<(), ApiError> {
        let (broker, organization) = target.broker_and_organization();
        match action {
            Action::Brokers => brokers(principal),
            Action::BrokerData => broker_data(principal, broker),
            Action::OrganizationData => organization_data(principal, broker, organization),
        }
    }

    /// design.md §3's "may change" column: for each role and action, whether the own, the
    /// sibling and the other broker's row may be changed (`Y`) or not (`-`).
    const TABLE: &[(Role, Action, [char; 3])] = &[
        (Role::PlatformAdmin, Action::Brokers, ['Y', 'Y', 'Y']),
        (Role::PlatformAdmin, Action::BrokerData, ['Y', 'Y', 'Y']),
        (
            Role::PlatformAdmin,
            Action::OrganizationData,
            ['Y', 'Y', 'Y'],
        ),
        (Role::BrokerAdmin, Action::Brokers, ['-', '-', '-']),
        (Role::BrokerAdmin, Action::BrokerData, ['Y', 'Y', '-']),
        (Role::BrokerAdmin, Action::OrganizationData, ['Y', 'Y', '-']),
        (Role::BrokerReader, Action::Brokers, ['-', '-', '-']),
        (Role::BrokerReader, Action::BrokerData, ['-', '-', '-']),
        (
            Role::BrokerReader,
            Action::OrganizationData,
            ['-', '-', '-'],
        ),
        (Role::OrganizationAdmin, Action::Brokers, ['-', '-', '-']),
        (Role::OrganizationAdmin, Action::BrokerData, ['-', '-', '-']),
        (
            Role::OrganizationAdmin,
            Action::OrganizationData,
            ['Y', '-', '-'],
        ),
        (Role::OrganizationUser, Action::Brokers, ['-', '-', '-']),
        (Role::OrganizationUser, Action::BrokerData, ['-', '-', '-']),
        (
            Role::OrganizationUser,
            Action::OrganizationData,
            ['-', '-', '-'],
        ),
    ];

    /// The caller of `role`, with both scope claims set: an organization role that also
    /// carries its broker's ID must still not act as the broker.
    fn caller(role: Role) -> Principal {
        Principal {
            subject: "tester".into(),
            role,
            broker_id: Some(BROKER),
            organization_id: matches!(role, Role::OrganizationAdmin | Role::OrganizationUser)
                .then_some(ORGANIZATION),
            expires_at: None,
        }
    }

    #[test]
    fn every_role_may_change_what_the_design_says_and_nothing_else() {
        for role in Role::ALL {
            for action in ACTIONS {
                let rows: Vec<_> = TABLE
                    .iter()
                    .filter(|(r, a, _)| *r == role && *a == action)
                    .collect();
                assert_eq!(rows.len(), 1, "{role:?} {action:?} is in the table once");
                let principal = caller(role);
                for (target, expected) in TARGETS.iter().zip(rows[0].2) {
                    let decision = decide(action, &principal, *target);
                    match (expected, &decision) {
                        ('Y', Ok(())) => {}
                        ('-', Err(error)) => {
                            assert_eq!(error.code(), "FORBIDDEN", "{role:?} {action:?} {target:?}")
                        }
                        _ => panic!(
                            "{role:?} {action:?} {target:?}: expected {expected}, got {decision:?}"
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn a_role_without_its_scope_claim_may_change_nothing() {
        let unscoped = |role| Principal {
            broker_id: None,
            organization_id: None,
            ..caller(role)
        };
        for role in [Role::BrokerAdmin, Role::OrganizationAdmin] {
            for action in [Action::BrokerData, Action::OrganizationData] {
                for target in TARGETS {
                    assert!(
                        decide(action, &unscoped(role), target).is_err(),
                        "{role:?} {action:?} {target:?}"
                    );
                }
            }
        }
    }
}
