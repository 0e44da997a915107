//! The Microsoft Entra built-in directory roles a customer may give its broker's service
//! account. In code, not in the database: they are facts about the outside world (Microsoft)
//! rather than data a broker edits, and a validation must not depend on a table someone
//! forgot to fill.

/// A Microsoft Entra built-in directory role that a customer may give the service account it
/// creates for its broker (customer consent, design.md §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryRole {
    /// Microsoft's display name, the form brokergraph stores and returns.
    pub name: &'static str,
    /// The role template ID, the same in every tenant, so a role can be named unambiguously
    /// (display names have been renamed before; template IDs never are).
    pub template_id: &'static str,
    /// Whether the role amounts to control of the whole tenant or can grant it. Such a role
    /// defeats the point of a least-privileged account, so it is refused for a broker.
    pub privileged: bool,
}

const fn role(name: &'static str, template_id: &'static str) -> DirectoryRole {
    DirectoryRole {
        name,
        template_id,
        privileged: false,
    }
}

const fn privileged(name: &'static str, template_id: &'static str) -> DirectoryRole {
    DirectoryRole {
        name,
        template_id,
        privileged: true,
    }
}

/// The built-in roles a broker might be given to manage a customer tenant, by name, with the
/// template IDs of Microsoft's "Microsoft Entra built-in roles" reference. A closed list
/// rather than free text, so a typo is refused at registration instead of surfacing later as
/// a role the customer never assigned.
pub const DIRECTORY_ROLES: &[DirectoryRole] = &[
    role(
        "Application Administrator",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    ),
    role(
        "Authentication Administrator",
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    ),
    role(
        "Billing Administrator",
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
    ),
    role(
        "Cloud Application Administrator",
        "158c047a-c907-4556-b7ef-446551a6b5f7",
    ),
    role(
        "Compliance Administrator",
        "17315797-102d-40b4-93e0-432062caca18",
    ),
    role(
        "Desktop Analytics Administrator",
        "38a96431-2bdf-4b4c-8b6e-5d3d8abac1a4",
    ),
    role("Directory Readers", "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"),
    role(
        "Dynamics 365 Administrator",
        "44367163-eba1-44c3-98af-f5787879f96a",
    ),
    role(
        "Exchange Administrator",
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
    ),
    role(
        "Exchange Recipient Administrator",
        "31392ffb-586c-42d1-9346-e59415a2cc4e",
    ),
    privileged(
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    role("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
    role(
        "Groups Administrator",
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    ),
    role(
        "Helpdesk Administrator",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    ),
    role(
        "Intune Administrator",
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
    ),
    role(
        "License Administrator",
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
    ),
    role(
        "Office Apps Administrator",
        "2b745bdf-0803-4d80-aa65-822c4493daac",
    ),
    role(
        "Power Platform Administrator",
        "11648597-926c-4cf3-9c36-bcebb0ba8dcc",
    ),
    privileged(
        "Privileged Authentication Administrator",
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    ),
    privileged(
        "Privileged Role Administrator",
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
    ),
    role("Reports Reader", "4a5d8f65-41da-4de4-8968-e035b65339cf"),
    role(
        "Security Administrator",
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
    ),
    role("Security Reader", "5d6b6bb7-de71-4623-b4af-96380a352509"),
    role(
        "Service Support Administrator",
        "f023fd81-a637-4b56-95fd-791ac0226033",
    ),
    role(
        "SharePoint Administrator",
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    ),
    role(
        "Skype for Business Administrator",
        "75941009-915a-4869-abe7-691bff18279e",
    ),
    role(
        "Teams Administrator",
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
    ),
    role(
        "Teams Communications Administrator",
        "baf37b3a-610e-45da-9e62-d9d1e5e8914b",
    ),
    role(
        "Teams Devices Administrator",
        "3d762c5a-1b6c-493f-843e-55a3b42923d4",
    ),
    role("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    role(
        "Windows 365 Administrator",
        "11451d60-acb2-45eb-a7d6-43d0f0125c13",
    ),
];

/// The role named `name_or_id`: its display name in any case, ignoring surrounding whitespace
/// and repeated spaces (people type and paste names from the Entra admin center), or its
/// template ID in any case (Graph returns IDs in lower case, other tools in upper case).
pub fn find_role(name_or_id: &str) -> Option<&'static DirectoryRole> {
    let wanted = name_or_id.trim();
    DIRECTORY_ROLES
        .iter()
        .find(|role| role.template_id.eq_ignore_ascii_case(wanted) || same_name(role.name, wanted))
}

/// Word-by-word, case-insensitive comparison, so `"teams   administrator"` matches without
/// allocating a normalised copy.
fn same_name(canonical: &str, given: &str) -> bool {
    let mut given_words = given.split_whitespace();
    canonical.split(' ').all(|word| {
        given_words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    }) && given_words.next().is_none()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn roles_are_found_by_name_in_any_case_and_spacing() {
        let teams = find_role("teams administrator").map(|role| role.template_id);
        assert_eq!(teams, Some("69091246-20e8-4a56-aa4d-066075b2a7a8"));
        assert_eq!(
            find_role("  TEAMS   Administrator \t").map(|role| role.name),
            Some("Teams Administrator")
        );
        assert_eq!(
            find_role("skype FOR business administrator").map(|role| role.name),
            Some("Skype for Business Administrator")
        );
        assert_eq!(find_role("Teams"), None);
        assert_eq!(find_role("Teams Administrator Extra"), None);
        assert_eq!(find_role("TeamsAdministrator"), None);
        assert_eq!(find_role(""), None);
        assert_eq!(find_role("   "), None);
    }

    #[test]
    fn roles_are_found_by_template_id_in_any_case() {
        assert_eq!(
            find_role("62E90394-69F5-4237-9190-012177145E10").map(|role| role.name),
            Some("Global Administrator")
        );
        assert_eq!(
            find_role(" 29232cdf-9323-42fd-ade2-1d097af3e4de ").map(|role| role.name),
            Some("Exchange Administrator")
        );
        assert_eq!(find_role("00000000-0000-0000-0000-000000000000"), None);
    }

    #[test]
    fn exactly_the_tenant_wide_roles_are_privileged() {
        let mut privileged: Vec<&str> = DIRECTORY_ROLES
            .iter()
            .filter(|role| role.privileged)
            .map(|role| role.name)
            .collect();
        privileged.sort_unstable();
        assert_eq!(
            privileged,
            [
                "Global Administrator",
                "Privileged Authentication Administrator",
                "Privileged Role Administrator",
            ]
        );
        assert!(find_role("global administrator").is_some_and(|role| role.privileged));
        assert!(find_role("Teams Administrator").is_some_and(|role| !role.privileged));
    }

    #[test]
    fn role_names_and_template_ids_are_unique_and_well_formed() {
        let names: HashSet<String> = DIRECTORY_ROLES
            .iter()
            .map(|role| role.name.to_ascii_lowercase())
            .collect();
        assert_eq!(names.len(), DIRECTORY_ROLES.len(), "names are unique");
        let ids: HashSet<&str> = DIRECTORY_ROLES
            .iter()
            .map(|role| role.template_id)
            .collect();
        assert_eq!(ids.len(), DIRECTORY_ROLES.len(), "template IDs are unique");
        for role in DIRECTORY_ROLES {
            assert_eq!(role.name, role.name.trim(), "{}", role.name);
            assert!(!role.name.contains("  "), "{}", role.name);
            let id = role.template_id;
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
            assert!(
                id.bytes()
                    .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id} is lower-case hex"
            );
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
            // Every role is found by both of its keys, and by nothing else's.
            assert_eq!(find_role(role.name), Some(role));
            assert_eq!(find_role(id), Some(role));
        }
    }
}
