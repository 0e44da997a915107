//! The registered claims of a verified token (RFC 7519 §4.1), checked here rather than by
//! jsonwebtoken: it reports a claim of the wrong type as missing (`"exp": "…"`, `null`, `-1`,
//! `1e20` were all `CLAIM_MISSING`), and a malformed `iss` or `aud` not at all. One function
//! decides every reason, in one order, so each refusal says what is wrong and with which claim.

use serde_json::{Map, Value};

use super::AuthError;
use crate::error::AuthReason;

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z. Beyond it a value is not a date a
/// real issuer writes (`1e20`), and would overflow the arithmetic below.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// What a token's registered claims must say.
#[derive(Debug, Clone)]
pub struct Expected {
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway: u64,
}

fn missing(claim: &str) -> AuthError {
    AuthError::new(
        AuthReason::ClaimMissing,
        format!("the token has no `{claim}` claim"),
    )
}

fn invalid(claim: &str, what: &str) -> AuthError {
    AuthError::new(
        AuthReason::ClaimInvalid,
        format!("the token's `{claim}` claim is not {what}"),
    )
}

/// A NumericDate (seconds since the epoch, fractions allowed), if the claim is present.
fn numeric_date(claims: &Map<String, Value>, claim: &str) -> Result<Option<i64>, AuthError> {
    let Some(value) = claims.get(claim) else {
        return Ok(None);
    };
    let date = || invalid(claim, "a date (seconds since 1970, up to the year 9999)");
    let seconds = value.as_f64().ok_or_else(date)?;
    if !(0.0..=MAX_NUMERIC_DATE).contains(&seconds) {
        return Err(date());
    }
    // In range, so the conversion is exact up to the dropped fraction.
    Ok(Some(seconds.floor() as i64))
}

fn string<'a>(claims: &'a Map<String, Value>, claim: &str) -> Result<&'a str, AuthError> {
    match claims.get(claim) {
        None => Err(missing(claim)),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text),
        Some(_) => Err(invalid(claim, "a non-empty string")),
    }
}

/// `aud`: one string, or a non-empty list of strings, one of which must be ours.
fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, AuthError> {
    let invalid = || invalid("aud", "a string or a list of strings");
    match claims.get("aud") {
        None => Err(missing("aud")),
        Some(Value::String(text)) => Ok(vec![text.as_str()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// Checks `sub`, `iss`, `aud`, `exp`, `nbf` and `iat` at `now` (seconds since the epoch): the
/// shape of every claim first (`CLAIM_MISSING`, `CLAIM_INVALID`), then their values.
pub fn check(claims: &Map<String, Value>, expected: &Expected, now: i64) -> Result<(), AuthError> {
    string(claims, "sub")?;
    let issuer = string(claims, "iss")?;
    let audiences = audiences(claims)?;
    let expires = numeric_date(claims, "exp")?.ok_or_else(|| missing("exp"))?;
    let not_before = numeric_date(claims, "nbf")?;
    numeric_date(claims, "iat")?;

    let leeway = i64::try_from(expected.leeway).unwrap_or(i64::MAX);
    if expires < now.saturating_sub(leeway) {
        return Err(AuthError::of(AuthReason::TokenExpired));
    }
    if not_before.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(AuthError::of(AuthReason::TokenNotYetValid));
    }
    if issuer != expected.issuer {
        return Err(AuthError::of(AuthReason::InvalidIssuer));
    }
    if !audiences.contains(&expected.audience.as_str()) {
        return Err(AuthError::of(AuthReason::InvalidAudience));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn expected() -> Expected {
        Expected {
            issuer: "brokergraph".into(),
            audience: "brokergraph".into(),
            leeway: 30,
        }
    }

    fn valid() -> Value {
        json!({
            "sub": "someone",
            "iss": "brokergraph",
            "aud": "brokergraph",
            "iat": NOW,
            "exp": NOW + 600,
        })
    }

    /// `valid()` with `claim` set to `value`, or removed when `value` is `None`.
    fn with(claim: &str, value: Option<Value>) -> Map<String, Value> {
        let mut claims = valid().as_object().cloned().unwrap_or_default();
        match value {
            Some(value) => claims.insert(claim.into(), value),
            None => claims.remove(claim),
        };
        claims
    }

    #[test]
    fn every_malformed_registered_claim_has_its_reason_and_names_the_claim() {
        let cases: Vec<(&str, Option<Value>, AuthReason)> = vec![
            ("exp", None, AuthReason::ClaimMissing),
            (
                "exp",
                Some(json!((NOW + 600).to_string())),
                AuthReason::ClaimInvalid,
            ),
            ("exp", Some(json!(null)), AuthReason::ClaimInvalid),
            ("exp", Some(json!(-1)), AuthReason::ClaimInvalid),
            ("exp", Some(json!(1e20)), AuthReason::ClaimInvalid),
            ("exp", Some(json!(true)), AuthReason::ClaimInvalid),
            ("exp", Some(json!([NOW + 600])), AuthReason::ClaimInvalid),
            (
                "nbf",
                Some(json!(NOW.to_string())),
                AuthReason::ClaimInvalid,
            ),
            ("nbf", Some(json!(null)), AuthReason::ClaimInvalid),
            ("nbf", Some(json!(-5)), AuthReason::ClaimInvalid),
            ("nbf", Some(json!(1e300)), AuthReason::ClaimInvalid),
            ("iat", Some(json!("yesterday")), AuthReason::ClaimInvalid),
            ("iat", Some(json!({})), AuthReason::ClaimInvalid),
            ("sub", None, AuthReason::ClaimMissing),
            ("sub", Some(json!(42)), AuthReason::ClaimInvalid),
            ("sub", Some(json!(null)), AuthReason::ClaimInvalid),
            ("sub", Some(json!("  ")), AuthReason::ClaimInvalid),
            ("iss", None, AuthReason::ClaimMissing),
            ("iss", Some(json!(7)), AuthReason::ClaimInvalid),
            (
                "iss",
                Some(json!(["brokergraph"])),
                AuthReason::ClaimInvalid,
            ),
            ("aud", None, AuthReason::ClaimMissing),
            ("aud", Some(json!(7)), AuthReason::ClaimInvalid),
            ("aud", Some(json!([])), AuthReason::ClaimInvalid),
            (
                "aud",
                Some(json!(["brokergraph", 7])),
                AuthReason::ClaimInvalid,
            ),
        ];
        for (claim, value, reason) in cases {
            let case = format!("{claim}: {value:?}");
            let error = check(&with(claim, value), &expected(), NOW).expect_err(&case);
            assert_eq!(error.reason, reason, "{case}");
            assert!(
                error.message.contains(&format!("`{claim}`")),
                "{case}: {}",
                error.message
            );
        }
    }

    #[test]
    fn well_formed_claims_are_judged_by_their_values() {
        let cases: Vec<(&str, Value, Option<AuthReason>)> = vec![
            ("exp", json!(NOW - 31), Some(AuthReason::TokenExpired)),
            ("exp", json!(NOW - 30), None),
            ("exp", json!(NOW as f64 + 0.5), None),
            ("nbf", json!(NOW + 31), Some(AuthReason::TokenNotYetValid)),
            ("nbf", json!(NOW + 30), None),
            (
                "iss",
                json!("someone-else"),
                Some(AuthReason::InvalidIssuer),
            ),
            (
                "aud",
                json!("another-api"),
                Some(AuthReason::InvalidAudience),
            ),
            (
                "aud",
                json!(["another-api"]),
                Some(AuthReason::InvalidAudience),
            ),
            ("aud", json!(["another-api", "brokergraph"]), None),
        ];
        for (claim, value, reason) in cases {
            let case = format!("{claim}: {value}");
            let result = check(&with(claim, Some(value)), &expected(), NOW);
            assert_eq!(result.err().map(|error| error.reason), reason, "{case}");
        }
        assert_eq!(check(&with("nbf", None), &expected(), NOW), Ok(()));
        assert_eq!(check(&with("iat", None), &expected(), NOW), Ok(()));
    }
}
