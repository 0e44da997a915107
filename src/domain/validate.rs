//! Input rules shared by the mutations: one validator per kind of value, and every mutation's
//! input goes through them. Each refusal names the input field.
//!
//! Characters: a value is trimmed and normalised to NFC (Unicode's composed form, so `u` + U+0308
//! and `ü` are one name and one username). Identifiers and emails (emails, principal names,
//! slugs, SKUs, domain prefixes, tenant IDs, idempotency keys, registration, VAT and customer
//! numbers) then refuse every character Unicode does not draw: format characters (general
//! category Cf: U+200B zero-width space, U+202E right-to-left override, U+00AD soft hyphen...),
//! controls (Cc), private-use (Co) and unassigned code points (Cn), and line and paragraph
//! separators; otherwise `ja\u{200B}ne@x.example` would be a second username that looks like
//! `jane@x.example`. Free-text names refuse the same, except the zero-width joiner and
//! non-joiner between two visible characters: Persian, the Indic scripts and emoji sequences
//! need them inside a word. A refusal names the code point, never echoes the value.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use uuid::Uuid;

use super::countries;
use crate::error::ApiError;

pub const MAX_NAME: usize = 200;
pub const MAX_SHORT: usize = 64;

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';

/// What characters a kind of value may hold, beyond the visible ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    /// Text a person reads: inner spaces of any kind, and joiners inside a word.
    Name,
    /// A value that is compared or matched: no spaces (`spaces: false`) or only U+0020 ones,
    /// which reference numbers such as `HRB 12345` have; other spaces (no-break, ideographic)
    /// look the same and would make two values of one.
    Identifier { spaces: bool },
}

/// What makes `c` unfit to be drawn, if anything.
fn invisible(c: char) -> Option<&'static str> {
    match c.general_category() {
        GeneralCategory::Format => Some("an invisible format character"),
        GeneralCategory::Control => Some("a control character"),
        GeneralCategory::PrivateUse => Some("a private-use character"),
        GeneralCategory::Unassigned | GeneralCategory::Surrogate => {
            Some("an unassigned code point")
        }
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
            Some("a line or paragraph separator")
        }
        _ => None,
    }
}

/// Whether `c` is a character a joiner may stand beside: drawn, and neither a space nor a joiner.
fn visible(c: Option<char>) -> bool {
    c.is_some_and(|c| !c.is_whitespace() && invisible(c).is_none())
}

/// Refuses the first character of `value` that `charset` does not allow, naming its code point.
fn characters(field: &str, value: &str, charset: Charset) -> Result<(), ApiError> {
    let chars: Vec<char> = value.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let refusal = match charset {
            Charset::Name if c == ZWJ || c == ZWNJ => {
                let inside_a_word = visible(i.checked_sub(1).map(|before| chars[before]))
                    && visible(chars.get(i + 1).copied());
                (!inside_a_word).then_some("a joiner outside a word")
            }
            Charset::Identifier { spaces } if c.is_whitespace() && !(spaces && c == ' ') => {
                Some("a space")
            }
            _ => invisible(c),
        };
        if let Some(what) = refusal {
            return Err(ApiError::bad_input(
                field,
                format!("`{field}` contains {what} (U+{:04X})", u32::from(c)),
            ));
        }
    }
    Ok(())
}

/// Trimmed and in NFC: the form every text is checked and stored in.
fn normalised(value: &str) -> String {
    value.trim().nfc().collect()
}

/// A required value of at most `max` characters, normalised, in `charset`.
fn required(field: &str, value: &str, max: usize, charset: Charset) -> Result<String, ApiError> {
    let value = normalised(value);
    if value.is_empty() {
        return Err(ApiError::bad_input(
            field,
            format!("`{field}` must not be blank"),
        ));
    }
    characters(field, &value, charset)?;
    if value.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("`{field}` is longer than {max} characters"),
        ));
    }
    Ok(value)
}

/// A required name (of a broker, organization, service, user or account): trimmed, NFC,
/// non-blank, at most `max` characters, nothing invisible.
pub fn name(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    required(field, value, max, Charset::Name)
}

/// A registration, VAT or customer number: absent or blank means none; inner spaces are kept
/// (`HRB 12345`), nothing invisible.
pub fn reference_number(field: &str, value: &str) -> Result<Option<String>, ApiError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    required(
        field,
        value,
        MAX_SHORT,
        Charset::Identifier { spaces: true },
    )
    .map(Some)
}

/// An email address (or a user principal name), lower case, NFC. Deliberately simple: one
/// `@`, a dotted domain, no spaces, nothing invisible.
pub fn email(field: &str, value: &str) -> Result<String, ApiError> {
    let value: String = value.trim().to_lowercase().nfc().collect();
    let value = required(field, &value, 254, Charset::Identifier { spaces: false })?;
    let valid = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
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

/// A catalog SKU: unique in its broker's catalog, so an identifier.
pub fn sku(field: &str, value: &str) -> Result<String, ApiError> {
    required(
        field,
        value,
        MAX_SHORT,
        Charset::Identifier { spaces: false },
    )
}

/// A value parsed against a closed syntax (a country code, GUID, domain): its characters are
/// checked first, so that the refusal names an invisible one instead of echoing it.
fn plain<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let value = value.trim();
    characters(field, value, Charset::Identifier { spaces: false })?;
    Ok(value)
}

/// An ISO 3166-1 alpha-2 country code, upper case.
pub fn country(field: &str, value: &str) -> Result<String, ApiError> {
    let value = plain(field, value)?;
    let code = value.to_ascii_uppercase();
    if countries::is_country(&code) {
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
    let value = required(
        field,
        value,
        MAX_SHORT,
        Charset::Identifier { spaces: false },
    )?;
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
    let value = plain(field, value)?;
    let guid = Uuid::parse_str(value)
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
    let value = plain(field, value)?;
    let prefix = value.to_ascii_lowercase();
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
    let value = plain(field, value)?;
    let domain = value.trim_end_matches('.').to_ascii_lowercase();
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

/// An idempotency key: what a client sends to make a retry safe. Compared for equality, so an
/// identifier (spaces allowed, as keys have always been free text).
pub fn idempotency_key(field: &str, value: &str) -> Result<String, ApiError> {
    let key = required(field, value, 128, Charset::Identifier { spaces: true })?;
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

    type Validator = fn(&str) -> Result<String, ApiError>;

    fn name_of(value: &str) -> Result<String, ApiError> {
        name("f", value, 20)
    }
    fn email_of(value: &str) -> Result<String, ApiError> {
        email("f", value)
    }
    fn sku_of(value: &str) -> Result<String, ApiError> {
        sku("f", value)
    }
    fn slug_of(value: &str) -> Result<String, ApiError> {
        slug("f", value)
    }
    fn number_of(value: &str) -> Result<String, ApiError> {
        reference_number("f", value).map(Option::unwrap_or_default)
    }
    fn key_of(value: &str) -> Result<String, ApiError> {
        idempotency_key("f", value)
    }
    fn prefix_of(value: &str) -> Result<String, ApiError> {
        domain_prefix("f", value)
    }
    fn domain_of(value: &str) -> Result<String, ApiError> {
        domain("f", value)
    }
    fn country_of(value: &str) -> Result<String, ApiError> {
        country("f", value)
    }
    fn guid_of(value: &str) -> Result<String, ApiError> {
        tenant_guid("f", value).map(|guid| guid.to_string())
    }

    /// (validator, input, what it is stored as, or the refusal's message when `Err`).
    const CASES: &[(&str, Validator, &str, Result<&str, &str>)] = &[
        // Names: trimmed, NFC, letters of every script.
        ("name", name_of, "  Acme AG ", Ok("Acme AG")),
        ("name", name_of, "Mu\u{0308}ller", Ok("M\u{00FC}ller")),
        (
            "name",
            name_of,
            "\u{5C71}\u{7530}\u{3000}\u{592A}\u{90CE}",
            Ok("\u{5C71}\u{7530}\u{3000}\u{592A}\u{90CE}"),
        ),
        (
            "name",
            name_of,
            "\u{0646}\u{0627}\u{0645}\u{0647}\u{200C}\u{0647}\u{0627}",
            Ok("\u{0646}\u{0627}\u{0645}\u{0647}\u{200C}\u{0647}\u{0627}"),
        ),
        (
            "name",
            name_of,
            "\u{1F468}\u{200D}\u{1F469}",
            Ok("\u{1F468}\u{200D}\u{1F469}"),
        ),
        ("name", name_of, "   ", Err("`f` must not be blank")),
        (
            "name",
            name_of,
            "abcdefghijklmnopqrstu",
            Err("`f` is longer than 20 characters"),
        ),
        // 20 characters once composed, 21 as sent.
        (
            "name",
            name_of,
            "abcdefghijklmnopqrsu\u{0308}",
            Ok("abcdefghijklmnopqrs\u{00FC}"),
        ),
        (
            "name",
            name_of,
            "Acme \u{202E}GA",
            Err("`f` contains an invisible format character (U+202E)"),
        ),
        (
            "name",
            name_of,
            "Ac\u{200B}me",
            Err("`f` contains an invisible format character (U+200B)"),
        ),
        (
            "name",
            name_of,
            "Acme\u{00AD}AG",
            Err("`f` contains an invisible format character (U+00AD)"),
        ),
        (
            "name",
            name_of,
            "Acme\u{2066}",
            Err("`f` contains an invisible format character (U+2066)"),
        ),
        (
            "name",
            name_of,
            "Acme\tAG",
            Err("`f` contains a control character (U+0009)"),
        ),
        (
            "name",
            name_of,
            "Acme\u{0085}AG",
            Err("`f` contains a control character (U+0085)"),
        ),
        (
            "name",
            name_of,
            "Acme\u{2028}AG",
            Err("`f` contains a line or paragraph separator (U+2028)"),
        ),
        (
            "name",
            name_of,
            "Acme\u{E000}",
            Err("`f` contains a private-use character (U+E000)"),
        ),
        (
            "name",
            name_of,
            "Acme\u{0378}",
            Err("`f` contains an unassigned code point (U+0378)"),
        ),
        (
            "name",
            name_of,
            "\u{200D}Acme",
            Err("`f` contains a joiner outside a word (U+200D)"),
        ),
        (
            "name",
            name_of,
            "Acme\u{200C}",
            Err("`f` contains a joiner outside a word (U+200C)"),
        ),
        (
            "name",
            name_of,
            "Acme \u{200D}AG",
            Err("`f` contains a joiner outside a word (U+200D)"),
        ),
        (
            "name",
            name_of,
            "Ac\u{200D}\u{200D}me",
            Err("`f` contains a joiner outside a word (U+200D)"),
        ),
        // Emails: lower case, NFC, nothing invisible, joiners neither.
        (
            "email",
            email_of,
            " Jane.Doe@Contoso.Example ",
            Ok("jane.doe@contoso.example"),
        ),
        (
            "email",
            email_of,
            "Jose\u{0301}@x.example",
            Ok("jos\u{00E9}@x.example"),
        ),
        (
            "email",
            email_of,
            "ja\u{200B}ne@x.example",
            Err("`f` contains an invisible format character (U+200B)"),
        ),
        (
            "email",
            email_of,
            "ja\u{200D}ne@x.example",
            Err("`f` contains an invisible format character (U+200D)"),
        ),
        (
            "email",
            email_of,
            "jane@x.example\u{FEFF}",
            Err("`f` contains an invisible format character (U+FEFF)"),
        ),
        (
            "email",
            email_of,
            "jane\u{00A0}@x.example",
            Err("`f` contains a space (U+00A0)"),
        ),
        (
            "email",
            email_of,
            "a b@c.d",
            Err("`f` contains a space (U+0020)"),
        ),
        ("email", email_of, "", Err("`f` must not be blank")),
        (
            "email",
            email_of,
            "jane",
            Err("`jane` is not an email address"),
        ),
        (
            "email",
            email_of,
            "jane@",
            Err("`jane@` is not an email address"),
        ),
        (
            "email",
            email_of,
            "@x.y",
            Err("`@x.y` is not an email address"),
        ),
        (
            "email",
            email_of,
            "a@b",
            Err("`a@b` is not an email address"),
        ),
        (
            "email",
            email_of,
            "a@@b.c",
            Err("`a@@b.c` is not an email address"),
        ),
        (
            "email",
            email_of,
            "a@.b.c",
            Err("`a@.b.c` is not an email address"),
        ),
        (
            "email",
            email_of,
            "a@b..c",
            Err("`a@b..c` is not an email address"),
        ),
        // SKUs and slugs: identifiers without spaces.
        ("sku", sku_of, " CFQ7TTC0LCHC ", Ok("CFQ7TTC0LCHC")),
        (
            "sku",
            sku_of,
            "M365 E3",
            Err("`f` contains a space (U+0020)"),
        ),
        (
            "sku",
            sku_of,
            "M365\u{2064}E3",
            Err("`f` contains an invisible format character (U+2064)"),
        ),
        ("slug", slug_of, "acme-1", Ok("acme-1")),
        (
            "slug",
            slug_of,
            "Acme",
            Err("`Acme` is not a slug (lower-case letters, digits and dashes)"),
        ),
        (
            "slug",
            slug_of,
            "-acme",
            Err("`-acme` is not a slug (lower-case letters, digits and dashes)"),
        ),
        (
            "slug",
            slug_of,
            "acme-",
            Err("`acme-` is not a slug (lower-case letters, digits and dashes)"),
        ),
        (
            "slug",
            slug_of,
            "acme_1",
            Err("`acme_1` is not a slug (lower-case letters, digits and dashes)"),
        ),
        (
            "slug",
            slug_of,
            "a23456789012345678901234567890123456789012345678901234567890123456",
            Err("`f` is longer than 64 characters"),
        ),
        (
            "slug",
            slug_of,
            "ac\u{200B}me",
            Err("`f` contains an invisible format character (U+200B)"),
        ),
        // Reference numbers keep inner spaces, refuse look-alike ones.
        ("number", number_of, " HRB 12345 ", Ok("HRB 12345")),
        ("number", number_of, "  ", Ok("")),
        (
            "number",
            number_of,
            "HRB\u{00A0}12345",
            Err("`f` contains a space (U+00A0)"),
        ),
        (
            "number",
            number_of,
            "DE\u{200E}123456789",
            Err("`f` contains an invisible format character (U+200E)"),
        ),
        (
            "number",
            number_of,
            "C-\u{0007}1",
            Err("`f` contains a control character (U+0007)"),
        ),
        // Idempotency keys.
        ("key", key_of, "order 2026-0001", Ok("order 2026-0001")),
        (
            "key",
            key_of,
            "short",
            Err("`f` must be at least 8 characters"),
        ),
        (
            "key",
            key_of,
            "order-\u{202E}0001",
            Err("`f` contains an invisible format character (U+202E)"),
        ),
        // Closed syntaxes name the invisible character instead of echoing it.
        (
            "prefix",
            prefix_of,
            "Contoso2.onmicrosoft.com",
            Ok("contoso2"),
        ),
        (
            "prefix",
            prefix_of,
            "con-toso",
            Err("`con-toso` is not a domain prefix (1 to 27 letters and digits)"),
        ),
        (
            "prefix",
            prefix_of,
            "a23456789012345678901234567",
            Ok("a23456789012345678901234567"),
        ),
        (
            "prefix",
            prefix_of,
            "a234567890123456789012345678",
            Err(
                "`a234567890123456789012345678` is not a domain prefix (1 to 27 letters and digits)",
            ),
        ),
        (
            "prefix",
            prefix_of,
            ".onmicrosoft.com",
            Err("`.onmicrosoft.com` is not a domain prefix (1 to 27 letters and digits)"),
        ),
        (
            "prefix",
            prefix_of,
            "con\u{200B}toso",
            Err("`f` contains an invisible format character (U+200B)"),
        ),
        (
            "domain",
            domain_of,
            "Contoso.onmicrosoft.com",
            Ok("contoso.onmicrosoft.com"),
        ),
        (
            "domain",
            domain_of,
            "contoso",
            Err("`contoso` is not a domain name"),
        ),
        (
            "domain",
            domain_of,
            "Contoso.Example.",
            Ok("contoso.example"),
        ),
        (
            "domain",
            domain_of,
            "-contoso.example",
            Err("`-contoso.example` is not a domain name"),
        ),
        (
            "domain",
            domain_of,
            "contoso..example",
            Err("`contoso..example` is not a domain name"),
        ),
        (
            "domain",
            domain_of,
            "cont_oso.example",
            Err("`cont_oso.example` is not a domain name"),
        ),
        (
            "domain",
            domain_of,
            "contoso\u{200B}.com",
            Err("`f` contains an invisible format character (U+200B)"),
        ),
        ("country", country_of, "de", Ok("DE")),
        ("country", country_of, " us ", Ok("US")),
        // Two letters are not enough: `UK` is only reserved, `XX` user-assigned.
        (
            "country",
            country_of,
            "uk",
            Err("`uk` is not an ISO 3166-1 alpha-2 country code"),
        ),
        (
            "country",
            country_of,
            "Germany",
            Err("`Germany` is not an ISO 3166-1 alpha-2 country code"),
        ),
        (
            "country",
            country_of,
            "XX",
            Err("`XX` is not an ISO 3166-1 alpha-2 country code"),
        ),
        (
            "country",
            country_of,
            "D\u{200B}E",
            Err("`f` contains an invisible format character (U+200B)"),
        ),
        (
            "guid",
            guid_of,
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            Ok("3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
        ),
        (
            "guid",
            guid_of,
            "00000000-0000-0000-0000-000000000000",
            Err("the nil GUID is not a tenant ID"),
        ),
        (
            "guid",
            guid_of,
            "not-a-guid",
            Err("`not-a-guid` is not a GUID"),
        ),
        (
            "guid",
            guid_of,
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301\u{200B}",
            Err("`f` contains an invisible format character (U+200B)"),
        ),
    ];

    #[test]
    fn every_kind_of_value_is_normalised_or_refused_naming_its_field() {
        for (kind, validate, input, expected) in CASES {
            let got = validate(input);
            match (expected, &got) {
                (Ok(stored), Ok(value)) => assert_eq!(value, stored, "{kind} {input:?}"),
                (Err(message), Err(error)) => {
                    assert_eq!(error.code(), "BAD_USER_INPUT", "{kind} {input:?}");
                    assert_eq!(error.message(), *message, "{kind} {input:?}");
                    assert!(
                        matches!(error, ApiError::BadUserInput { field: Some(f), .. } if f == "f"),
                        "{kind} {input:?} names its field"
                    );
                }
                _ => panic!("{kind} {input:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn every_format_and_control_character_is_refused_in_identifiers() {
        // The whole of general categories Cf and Cc, not a list of known offenders.
        let refused = (0..=0x10FFFF_u32).filter_map(char::from_u32).filter(|c| {
            matches!(
                c.general_category(),
                GeneralCategory::Format | GeneralCategory::Control
            )
        });
        let mut count = 0;
        for c in refused {
            count += 1;
            assert!(
                email("f", &format!("ja{c}ne@x.example")).is_err(),
                "U+{:04X}",
                u32::from(c)
            );
            assert!(
                sku("f", &format!("A{c}B")).is_err(),
                "U+{:04X}",
                u32::from(c)
            );
            let allowed_joiner = c == ZWJ || c == ZWNJ;
            assert_eq!(
                name("f", &format!("a{c}b"), 10).is_ok(),
                allowed_joiner,
                "U+{:04X}",
                u32::from(c)
            );
        }
        assert!(count > 200, "Cf and Cc hold {count} characters");
    }

    #[test]
    fn quantities() {
        // (count, accepted): the bounds and one past each.
        let cases = [
            (i32::MIN, false),
            (-1, false),
            (0, false),
            (1, true),
            (10, true),
            (1_000_000, true),
            (1_000_001, false),
            (i32::MAX, false),
        ];
        for (count, accepted) in cases {
            match quantity("q", count) {
                Ok(value) => assert!(accepted && value == count, "{count}"),
                Err(error) => {
                    assert!(!accepted, "{count}");
                    assert_eq!(error.code(), "BAD_USER_INPUT", "{count}");
                }
            }
        }
    }
}
