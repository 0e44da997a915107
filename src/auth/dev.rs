//! The embedded default's development keys, and minting development tokens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use rand::RngCore;
use serde_json::json;
use uuid::Uuid;

use super::Role;

/// The file of an SQLite URL (`sqlite://FILE?...`), if it names one.
pub fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// A file beside the database: `brokergraph.db` → `brokergraph.db.jwt-secret`.
pub fn beside(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Reads the random secret in `path`, creating it (owner-only) on first use.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    let text = crate::keyfile::read_or_create(path, || {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    })?;
    let secret = text.trim();
    if secret.len() < 32 {
        bail!(
            "{} does not hold a usable secret; delete it to generate a new one",
            path.display()
        );
    }
    Ok(secret.to_string())
}

/// What a minted token says.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub subject: String,
    pub role: Role,
    pub broker_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub ttl: Duration,
    pub issuer: String,
    pub audience: String,
}

/// Signs an HS256 token with the standard claim names.
pub fn mint(secret: &str, request: &TokenRequest) -> anyhow::Result<String> {
    if request.role.is_broker_role() && request.broker_id.is_none() {
        bail!("a {} token needs --broker-id", request.role.as_str());
    }
    if request.role.is_organization_role() && request.organization_id.is_none() {
        bail!("a {} token needs --organization-id", request.role.as_str());
    }
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": request.subject,
        "role": request.role.as_str(),
        "iat": now,
        "exp": now + request.ttl.as_secs() as i64,
        "iss": request.issuer,
        "aud": request.audience,
    });
    if let Some(broker) = request.broker_id {
        claims["broker_id"] = json!(broker);
    }
    if let Some(organization) = request.organization_id {
        claims["organization_id"] = json!(organization);
    }
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .context("cannot sign the token")
}

/// `90`, `90s`, `30m`, `12h`, `7d`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|at| text.split_at(at))
        .unwrap_or((text, "s"));
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 1h"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: use s, m, h or d")),
    };
    Ok(Duration::from_secs(number * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://brokergraph.db?mode=rwc"),
            Some("brokergraph.db".into())
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/bg.db"),
            Some("/var/lib/bg.db".into())
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x@y/z"), None);
        assert_eq!(
            beside(Path::new("a/b.db"), "jwt-secret"),
            PathBuf::from("a/b.db.jwt-secret")
        );
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert!(parse_ttl("1y").is_err());
    }

    #[test]
    fn the_secret_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jwt-secret");
        let first = load_or_create_secret(&path).unwrap();
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
