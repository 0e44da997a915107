//! A JWKS document, from a file or a URL, cached and refreshed when a token names a key it does
//! not hold — never more often than once a minute, so unknown `kid`s cannot flood the issuer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use super::AuthError;
use crate::error::AuthReason;

pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

enum Source {
    File(std::path::PathBuf),
    Url(reqwest::Client, String),
}

pub struct JwksCache {
    source: Source,
    algorithm: Algorithm,
    keys: RwLock<Keys>,
    /// Held while refreshing, so concurrent misses fetch once.
    last_refresh: Mutex<Instant>,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    /// Keys without a `kid`, usable by tokens without one.
    anonymous: Vec<DecodingKey>,
}

impl Source {
    async fn fetch(&self) -> anyhow::Result<JwkSet> {
        match self {
            Source::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .with_context(|| format!("cannot read the JWKS file {}", path.display()))?;
                serde_json::from_str(&text).context("the JWKS file is not a JWK set")
            }
            Source::Url(client, url) => {
                let response = client
                    .get(url)
                    .send()
                    .await
                    .with_context(|| format!("cannot fetch the JWKS from {url}"))?
                    .error_for_status()
                    .with_context(|| format!("the JWKS at {url} answered an error"))?;
                response
                    .json()
                    .await
                    .context("the JWKS document is not a JWK set")
            }
        }
    }
}

fn keys_of(set: &JwkSet, algorithm: Algorithm) -> Keys {
    let mut keys = Keys::default();
    for jwk in &set.keys {
        // A key that names another algorithm is not for us.
        if let Some(alg) = jwk.common.key_algorithm
            && format!("{alg:?}") != format!("{algorithm:?}")
        {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match &jwk.common.key_id {
            Some(kid) => {
                keys.by_kid.insert(kid.clone(), key);
            }
            None => keys.anonymous.push(key),
        }
    }
    keys
}

impl JwksCache {
    /// Fetches the document once; failing to, `serve` does not start.
    pub async fn load(location: &str, algorithm: Algorithm) -> anyhow::Result<JwksCache> {
        let source = if location.starts_with("http://") || location.starts_with("https://") {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .context("cannot build the HTTP client")?;
            Source::Url(client, location.to_string())
        } else {
            Source::File(location.trim_start_matches("file://").into())
        };
        let set = source.fetch().await?;
        let keys = keys_of(&set, algorithm);
        if keys.by_kid.is_empty() && keys.anonymous.is_empty() {
            anyhow::bail!("the JWKS at {location} holds no {algorithm:?} key");
        }
        Ok(JwksCache {
            source,
            algorithm,
            keys: RwLock::new(keys),
            last_refresh: Mutex::new(Instant::now()),
        })
    }

    fn find(keys: &Keys, kid: Option<&str>) -> Option<DecodingKey> {
        match kid {
            Some(kid) => keys.by_kid.get(kid).cloned(),
            None if keys.anonymous.len() + keys.by_kid.len() == 1 => keys
                .anonymous
                .first()
                .or_else(|| keys.by_kid.values().next())
                .cloned(),
            None => None,
        }
    }

    /// The key for `kid`, refreshing the document once when it is unknown.
    pub async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        if let Some(key) = Self::find(&*self.keys.read().await, kid) {
            return Ok(key);
        }
        let unknown = || AuthError::of(AuthReason::UnknownKey);
        let mut last_refresh = self.last_refresh.lock().await;
        // Another request may have refreshed while this one waited.
        if let Some(key) = Self::find(&*self.keys.read().await, kid) {
            return Ok(key);
        }
        if last_refresh.elapsed() < MIN_REFRESH_INTERVAL {
            return Err(unknown());
        }
        *last_refresh = Instant::now();
        match self.source.fetch().await {
            Ok(set) => {
                let keys = keys_of(&set, self.algorithm);
                let found = Self::find(&keys, kid);
                *self.keys.write().await = keys;
                tracing::info!("JWKS refreshed");
                found.ok_or_else(unknown)
            }
            Err(error) => {
                tracing::warn!(error = %error, "JWKS refresh failed");
                Err(unknown())
            }
        }
    }

    /// Lets the next unknown `kid` refresh at once (tests of the refresh itself).
    pub async fn allow_refresh_now(&self) {
        if let Some(past) = Instant::now().checked_sub(MIN_REFRESH_INTERVAL) {
            *self.last_refresh.lock().await = past;
        }
    }
}
