//! What a principal may read of a row it may see (design.md §3's "may not read" column).
//!
//! Scope decides which rows exist for a caller ([`crate::scope`]); these rules decide which of
//! their fields it may read. Every place a guarded value can surface asks [`may_read`]: the
//! field's resolver, a filter or an ordering on the field, and the audit trail, whose actors and
//! snapshots repeat the values of the entities they describe. So a value hidden in one place is
//! hidden in all of them.

use uuid::Uuid;

use super::{Principal, Role};

/// A guarded field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// A user's email (the username) on the row `(id, email)`; `None` asks about every user at
    /// once (a filter or an ordering on the email).
    UserEmail(Option<(Uuid, &'a str)>),
    /// An organization's contact email, registration, VAT and customer numbers.
    OrganizationDetails,
    /// The subject of whoever linked a tenant.
    TenantLinkedBy,
    /// The audit trail at all.
    AuditTrail,
    /// Who made a change (an audit event's `actorSubject`): the role the actor held (`None`
    /// when not recorded) and the event's action.
    Actor { role: Option<Role>, action: &'a str },
}

/// Actions whose actor an entity also records in a guarded field: the event's actor is that
/// field's value, so it follows that field's rule.
pub const RECORDED_ACTORS: [(&str, Field<'static>); 1] = [("tenant.linked", Field::TenantLinkedBy)];

/// Whether `principal` may read `field`.
pub fn may_read(principal: &Principal, field: Field<'_>) -> bool {
    let member = principal.role == Role::OrganizationUser;
    match field {
        Field::UserEmail(Some((id, email))) => !member || principal.is_user(id, email),
        Field::UserEmail(None) | Field::OrganizationDetails | Field::AuditTrail => !member,
        Field::TenantLinkedBy => !principal.role.is_organization_role(),
        Field::Actor { role, action } => {
            let recorded = RECORDED_ACTORS
                .iter()
                .filter(|(recorded, _)| *recorded == action)
                .all(|(_, field)| may_read(principal, *field));
            // Organization roles read the actors of their own organization's users only (a
            // user's subject may be its email, so only where they read every email), never
            // the broker's or the platform's staff (whom `linkedBy` hides too).
            recorded
                && (!principal.role.is_organization_role()
                    || role.is_some_and(Role::is_organization_role)
                        && may_read(principal, Field::UserEmail(None)))
        }
    }
}

/// The audit events whose actor `principal` may read, as a filter can apply it in SQL: the
/// actor roles it may read, and the actions it may not read the actor of. Derived from
/// [`may_read`] over every role and recorded action, so it cannot drift from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadableActors {
    pub roles: Vec<Role>,
    pub hidden_actions: Vec<&'static str>,
}

pub fn readable_actors(principal: &Principal) -> ReadableActors {
    let roles = Role::ALL
        .into_iter()
        .filter(|role| {
            may_read(
                principal,
                Field::Actor {
                    role: Some(*role),
                    action: "",
                },
            )
        })
        .collect::<Vec<_>>();
    let hidden_actions = RECORDED_ACTORS
        .iter()
        .map(|(action, _)| *action)
        .filter(|action| {
            roles.iter().any(|role| {
                !may_read(
                    principal,
                    Field::Actor {
                        role: Some(*role),
                        action,
                    },
                )
            })
        })
        .collect();
    ReadableActors {
        roles,
        hidden_actions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, subject: &str) -> Principal {
        Principal {
            subject: subject.into(),
            role,
            broker_id: role.is_broker_role().then(Uuid::now_v7),
            organization_id: role.is_organization_role().then(Uuid::now_v7),
            expires_at: None,
        }
    }

    #[test]
    fn each_role_reads_what_design_section_3_says() {
        let own = Uuid::now_v7();
        let colleague = Uuid::now_v7();
        let (p, b, r, a, u) = (true, true, true, true, true);
        // (field, PLATFORM_ADMIN, BROKER_ADMIN, BROKER_READER, ORGANIZATION_ADMIN, ORGANIZATION_USER)
        let table: Vec<(Field<'_>, [bool; 5])> = vec![
            (
                Field::UserEmail(Some((own, "me@a.example"))),
                [p, b, r, a, u],
            ),
            (
                Field::UserEmail(Some((colleague, "you@a.example"))),
                [p, b, r, a, !u],
            ),
            (Field::UserEmail(None), [p, b, r, a, !u]),
            (Field::OrganizationDetails, [p, b, r, a, !u]),
            (Field::TenantLinkedBy, [p, b, r, !a, !u]),
            (Field::AuditTrail, [p, b, r, a, !u]),
            (
                Field::Actor {
                    role: Some(Role::BrokerAdmin),
                    action: "organization.updated",
                },
                [p, b, r, !a, !u],
            ),
            (
                Field::Actor {
                    role: Some(Role::OrganizationAdmin),
                    action: "user.created",
                },
                [p, b, r, a, !u],
            ),
            (
                Field::Actor {
                    role: Some(Role::OrganizationAdmin),
                    action: "tenant.linked",
                },
                [p, b, r, !a, !u],
            ),
            (
                Field::Actor {
                    role: None,
                    action: "user.created",
                },
                [p, b, r, !a, !u],
            ),
        ];
        for (field, expected) in table {
            for (role, expected) in Role::ALL.into_iter().zip(expected) {
                let subject = own.to_string();
                assert_eq!(
                    may_read(&principal(role, &subject), field),
                    expected,
                    "{role:?} {field:?}"
                );
            }
        }
    }

    #[test]
    fn the_sql_form_of_the_actor_rule_agrees_with_the_rule() {
        for caller in Role::ALL {
            let caller = principal(caller, "someone");
            let readable = readable_actors(&caller);
            for role in Role::ALL {
                for action in ["user.created", "tenant.linked", "tenant.unlinked"] {
                    let by_sql = readable.roles.contains(&role)
                        && !readable.hidden_actions.contains(&action);
                    let field = Field::Actor {
                        role: Some(role),
                        action,
                    };
                    assert_eq!(
                        by_sql,
                        may_read(&caller, field),
                        "{caller:?} {role:?} {action}"
                    );
                }
            }
        }
    }
}
