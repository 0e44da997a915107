//! Input rules shared by the mutations. Each refusal names the input field.

use uuid::Uuid;

use super::catalog;
use crate::error::ApiError;

pub const MAX_NAME: usize = 200;
pub const MAX_SHORT: usize = 64;

/// A required, trimmed, non-blank text of at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_input(
            field,
            format!("`{field}` must not be blank"),
        ));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("`{field}` is longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            field,
            format!("`{field}` contains control characters"),
        ));
    }
    Ok(value.to_string())
}

/// An optional text: absent or blank means none.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => text(field, value, max).map(Some),
    }
}

/// An email address, lower case. Deliberately simple: one `@`, a dotted domain, no spaces.
pub fn email(field: &str, value: &str) -> Result<String, ApiError> {
    let value = text(field, value, 254)?.to_lowercase();
    let valid = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
                && !value.contains(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(value)
    } else {
        Err(ApiError::bad_input(
            field,
            format!("`{value}` is not an email address"),
        ))
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case.
pub fn country(field: &str, value: &str) -> Result<String, ApiError> {
    let code = value.trim().to_ascii_uppercase();
    if catalog::is_country(&code) {
        Ok(code)
    } else {
        Err(ApiError::bad_input(
            field,
            format!("`{value}` is not an ISO 3166-1 alpha-2 country code"),
        ))
    }
}

/// A slug: lower-case letters, digits and dashes.
pub fn slug(field: &str, value: &str) -> Result<String, ApiError> {
    let value = text(field, value, MAX_SHORT)?;
    let valid = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if valid {
        Ok(value)
    } else {
        Err(ApiError::bad_input(
            field,
            format!("`{value}` is not a slug (lower-case letters, digits and dashes)"),
        ))
    }
}

/// A Microsoft tenant ID: a GUID, never the nil GUID.
pub fn tenant_guid(field: &str, value: &str) -> Result<Uuid, ApiError> {
    let guid = Uuid::parse_str(value.trim())
        .map_err(|_| ApiError::bad_input(field, format!("`{value}` is not a GUID")))?;
    if guid.is_nil() {
        return Err(ApiError::bad_input(
            field,
            "the nil GUID is not a tenant ID",
        ));
    }
    Ok(guid)
}

/// A tenant's initial domain prefix: what comes before `.onmicrosoft.com`.
pub fn domain_prefix(field: &str, value: &str) -> Result<String, ApiError> {
    let prefix = value.trim().to_ascii_lowercase();
    let prefix = prefix
        .strip_suffix(".onmicrosoft.com")
        .unwrap_or(&prefix)
        .to_string();
    if (1..=27).contains(&prefix.len())
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        Ok(prefix)
    } else {
        Err(ApiError::bad_input(
            field,
            format!("`{value}` is not a domain prefix (1 to 27 letters and digits)"),
        ))
    }
}

/// A tenant's primary domain: `<prefix>.onmicrosoft.com` or a custom DNS name.
pub fn domain(field: &str, value: &str) -> Result<String, ApiError> {
    let domain = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels_ok = domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if labels_ok && domain.len() <= 253 {
        Ok(domain)
    } else {
        Err(ApiError::bad_input(
            field,
            format!("`{value}` is not a domain name"),
        ))
    }
}

/// A licence count: more than zero, and not absurd.
pub fn quantity(field: &str, value: i32) -> Result<i32, ApiError> {
    if (1..=1_000_000).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_input(
            field,
            format!("`{field}` must be between 1 and 1000000, got {value}"),
        ))
    }
}

/// An idempotency key: what a client sends to make a retry safe.
pub fn idempotency_key(field: &str, value: &str) -> Result<String, ApiError> {
    let key = text(field, value, 128)?;
    if key.len() < 8 {
        return Err(ApiError::bad_input(
            field,
            format!("`{field}` must be at least 8 characters"),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email("e", " Jane.Doe@Contoso.Example ").unwrap(),
            "jane.doe@contoso.example"
        );
        for bad in [
            "", "jane", "jane@", "@x.y", "a@b", "a@@b.c", "a b@c.d", "a@.b.c", "a@b..c",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn countries_and_guids_and_prefixes() {
        assert_eq!(country("c", "de").unwrap(), "DE");
        assert!(country("c", "XX").is_err());
        assert!(country("c", "DEU").is_err());
        assert!(tenant_guid("g", "00000000-0000-0000-0000-000000000000").is_err());
        assert!(tenant_guid("g", "not-a-guid").is_err());
        assert!(tenant_guid("g", "3f2504e0-4f89-11d3-9a0c-0305e82c3301").is_ok());
        assert_eq!(
            domain_prefix("d", "Contoso2.onmicrosoft.com").unwrap(),
            "contoso2"
        );
        assert!(domain_prefix("d", "con-toso").is_err());
        assert!(domain_prefix("d", &"a".repeat(28)).is_err());
        assert_eq!(
            domain("d", "Contoso.onmicrosoft.com").unwrap(),
            "contoso.onmicrosoft.com"
        );
        assert!(domain("d", "contoso").is_err());
        assert!(quantity("q", 0).is_err());
        assert!(text("n", "   ", 10).is_err());
        assert!(text("n", "abcdefghijk", 10).is_err());
        assert!(slug("s", "Acme").is_err());
        assert_eq!(slug("s", "acme-1").unwrap(), "acme-1");
    }
}
