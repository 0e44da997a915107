//! What a synchronization concludes, without a database or Partner Center: how a linked tenant
//! compares with its customer, and which organizations look like a customer no one holds.

use entity::enums::TenantSyncState;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::partner_center::Customer;

/// A field in which an organization and its Partner Center customer can differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncField {
    /// The organization's name against the customer's company name.
    CompanyName,
    /// The tenant's primary domain against the customer's domain.
    PrimaryDomain,
}

/// One difference: the field, our value, Partner Center's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub field: SyncField,
    pub ours: String,
    pub theirs: String,
}

/// Text as it is compared for drift: trimmed, in NFC (the form names are stored in).
fn plain(value: &str) -> String {
    value.trim().nfc().collect()
}

fn plain_domain(value: &str) -> String {
    value.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A linked tenant against its customer (`None`: the partner has no such customer).
pub fn compare(
    organization_name: &str,
    primary_domain: &str,
    customer: Option<&Customer>,
) -> (TenantSyncState, Vec<Difference>) {
    let Some(customer) = customer else {
        return (TenantSyncState::Missing, Vec::new());
    };
    let mut differences = Vec::new();
    if plain(organization_name) != plain(&customer.company_name) {
        differences.push(Difference {
            field: SyncField::CompanyName,
            ours: organization_name.to_owned(),
            theirs: customer.company_name.clone(),
        });
    }
    if plain_domain(primary_domain) != plain_domain(&customer.domain) {
        differences.push(Difference {
            field: SyncField::PrimaryDomain,
            ours: primary_domain.to_owned(),
            theirs: customer.domain.clone(),
        });
    }
    let state = if differences.is_empty() {
        TenantSyncState::InSync
    } else {
        TenantSyncState::Drifted
    };
    (state, differences)
}

/// Legal forms left out when names are matched (`Contoso Ltd` is `Contoso GmbH` is `contoso`).
const LEGAL_FORMS: &[&str] = &[
    "ag",
    "bv",
    "co",
    "corp",
    "corporation",
    "gmbh",
    "inc",
    "incorporated",
    "kg",
    "limited",
    "llc",
    "llp",
    "ltd",
    "nv",
    "oy",
    "plc",
    "sa",
    "sarl",
    "sas",
    "spa",
    "srl",
];

/// A company name as suggestions match it: compatibility-normalised (NFKC), lower case, words
/// of letters and digits only, without trailing legal forms.
pub fn normalised_name(name: &str) -> String {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect();
    let mut words: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect();
    while words.len() > 1
        && words
            .last()
            .is_some_and(|word| LEGAL_FORMS.contains(&word.as_str()))
    {
        words.pop();
    }
    words.join(" ")
}

/// An organization that may be given a customer: one of the broker's without a tenant.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: Uuid,
    pub name: String,
    pub contact_email: String,
}

/// Whether the customer's domain is the organization's: the contact email's domain is the
/// customer's, or its first label is the customer's `onmicrosoft.com` prefix.
fn same_domain(customer_domain: &str, contact_email: &str) -> bool {
    let Some((_, email_domain)) = contact_email.rsplit_once('@') else {
        return false;
    };
    let email_domain = plain_domain(email_domain);
    let customer_domain = plain_domain(customer_domain);
    if email_domain == customer_domain {
        return true;
    }
    let prefix = customer_domain.strip_suffix(".onmicrosoft.com");
    let first_label: String = email_domain
        .split('.')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    prefix.is_some_and(|prefix| !prefix.is_empty() && prefix == first_label)
}

/// The candidates with the customer's normalised company name or its domain, in their order.
pub fn suggestions(customer: &Customer, candidates: &[Candidate]) -> Vec<Uuid> {
    let name = normalised_name(&customer.company_name);
    candidates
        .iter()
        .filter(|candidate| {
            (!name.is_empty() && normalised_name(&candidate.name) == name)
                || same_domain(&customer.domain, &candidate.contact_email)
        })
        .map(|candidate| candidate.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(name: &str, domain: &str) -> Customer {
        Customer {
            tenant_id: Uuid::nil(),
            domain: domain.into(),
            company_name: name.into(),
        }
    }

    #[test]
    fn a_missing_customer_is_missing() {
        assert_eq!(
            compare("Acme", "acme.onmicrosoft.com", None),
            (TenantSyncState::Missing, vec![])
        );
    }

    #[test]
    fn each_differing_field_is_reported_with_ours_and_theirs() {
        let theirs = customer("Acme Corp", "acmecorp.onmicrosoft.com");
        let (state, differences) = compare("Acme", "acme.onmicrosoft.com", Some(&theirs));
        assert_eq!(state, TenantSyncState::Drifted);
        assert_eq!(
            differences,
            vec![
                Difference {
                    field: SyncField::CompanyName,
                    ours: "Acme".into(),
                    theirs: "Acme Corp".into()
                },
                Difference {
                    field: SyncField::PrimaryDomain,
                    ours: "acme.onmicrosoft.com".into(),
                    theirs: "acmecorp.onmicrosoft.com".into()
                },
            ]
        );
    }

    #[test]
    fn case_of_a_domain_and_unicode_forms_of_a_name_are_no_drift() {
        // "Café" composed (NFC) and decomposed (e + combining acute).
        let theirs = customer("Cafe\u{301} Zürich", "Cafe.OnMicrosoft.com.");
        let (state, differences) =
            compare("Caf\u{e9} Zürich", "cafe.onmicrosoft.com", Some(&theirs));
        assert_eq!((state, differences), (TenantSyncState::InSync, vec![]));
    }

    #[test]
    fn names_are_matched_without_case_punctuation_width_or_legal_form() {
        assert_eq!(normalised_name("Contoso, Ltd."), "contoso");
        assert_eq!(normalised_name("CONTOSO GmbH"), "contoso");
        assert_eq!(normalised_name("Ｃｏｎｔｏｓｏ"), "contoso");
        assert_eq!(normalised_name("Fabrikam & Sons Inc"), "fabrikam sons");
        // A name that is only a legal form keeps it.
        assert_eq!(normalised_name("Ltd"), "ltd");
    }

    #[test]
    fn suggestions_match_by_name_or_by_domain() {
        let by_name = Candidate {
            id: Uuid::from_u128(1),
            name: "Contoso GmbH".into(),
            contact_email: "it@elsewhere.example".into(),
        };
        let by_domain = Candidate {
            id: Uuid::from_u128(2),
            name: "Something else".into(),
            contact_email: "admin@contoso.com".into(),
        };
        let neither = Candidate {
            id: Uuid::from_u128(3),
            name: "Fabrikam".into(),
            contact_email: "admin@fabrikam.example".into(),
        };
        let candidates = [by_name, by_domain, neither];
        assert_eq!(
            suggestions(
                &customer("Contoso Ltd", "contoso.onmicrosoft.com"),
                &candidates
            ),
            vec![Uuid::from_u128(1), Uuid::from_u128(2)]
        );
        let exact = customer("Other", "fabrikam.example");
        assert_eq!(suggestions(&exact, &candidates), vec![Uuid::from_u128(3)]);
        assert!(suggestions(&customer("Nobody", "nobody.onmicrosoft.com"), &candidates).is_empty());
    }
}
