//! The document an operation runs, found and checked once for every transport (HTTP POST, GET,
//! batches, the WebSocket): [`Documents::prepare`].
//!
//! - **The document cache**: the outcome of parsing a document and checking it against the
//!   limits ([`limits::check_document`]): the parsed document, or the refusal with its code,
//!   kept in a bounded LRU map keyed by the SHA-256 of the document's text
//!   (`--document-cache-size`, `0` turns it off). A document seen before is neither parsed nor
//!   measured again: async-graphql gets a copy of the parsed form (`Request::set_parsed_query`)
//!   and validates it against the schema, which depends on each request's variables.
//! - **Automatic persisted queries** (Apollo's protocol): `extensions.persistedQuery
//!   {version: 1, sha256Hash}`. A hash alone runs the document registered under it, or answers
//!   `PERSISTED_QUERY_NOT_FOUND`; a hash with its document registers it (once it passes the
//!   limits) in the database's `persisted_queries`, which every replica reads, with the cache in
//!   front.
//! - **Trusted documents**: a manifest of allowed operations loaded at start
//!   (`--trusted-documents`), run by `documentId` (the GraphQL-over-HTTP persisted documents
//!   draft, bare or `sha256:`-prefixed) or by the APQ hash; with `--require-trusted-documents`
//!   nothing else runs (`PERSISTED_QUERY_REQUIRED`), though a document whose text is one of the
//!   manifest's still does (it is that operation).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerResult, Value};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use sha2::{Digest, Sha256};

use super::limits::{self, Limits};
use crate::error::{ApiError, ErrorCode};

/// A SHA-256.
pub type Hash = [u8; 32];

/// The SHA-256 of a document's text.
pub fn sha256(text: &str) -> Hash {
    Sha256::digest(text.as_bytes()).into()
}

/// Lower-case hexadecimal, as clients write hashes.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// A SHA-256 written in hexadecimal (either case).
fn parse_hash(text: &str) -> Option<Hash> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (index, pair) in text.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        hash[index] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(hash)
}

/// How documents are found and kept (see the module's doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentsConfig {
    /// The most documents the cache keeps; 0: none.
    pub cache_size: usize,
    /// The trusted documents, when a manifest is configured.
    pub trusted: Option<Arc<Manifest>>,
    /// Refuse every operation that is not a trusted document.
    pub require_trusted: bool,
}

impl DocumentsConfig {
    /// When nothing is configured: the one copy that both `Default` and the command line's
    /// defaults read.
    pub const DEFAULTS: DocumentsConfig = DocumentsConfig {
        cache_size: 1_000,
        trusted: None,
        require_trusted: false,
    };
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        DocumentsConfig::DEFAULTS
    }
}

/// The trusted documents: each by the identifier its manifest gives it, and by the SHA-256 of
/// its text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    by_id: HashMap<String, Arc<str>>,
    by_hash: HashMap<Hash, Arc<str>>,
}

impl Manifest {
    /// Reads a manifest as GraphQL Code Generator's client preset (`persisted-documents.json`)
    /// and Relay's compiler (`persistConfig`'s file) write it: one JSON object from each
    /// document's hash to its text. Each hash must be the MD5, SHA-1 or SHA-256 of its text
    /// (told apart by length), so a manifest out of step with its documents is refused.
    pub fn parse(json: &str) -> anyhow::Result<Manifest> {
        let entries: HashMap<String, String> = serde_json::from_str(json).context(
            "a trusted-documents manifest is one JSON object from each document's hash to its text",
        )?;
        let mut manifest = Manifest::default();
        for (id, text) in entries {
            let computed = match id.len() {
                32 => to_hex(&<md5::Md5 as md5::Digest>::digest(text.as_bytes())),
                40 => to_hex(&sha1::Sha1::digest(text.as_bytes())),
                64 => to_hex(&sha256(&text)),
                _ => anyhow::bail!(
                    "the trusted document {id:?} is not named by an MD5, SHA-1 or SHA-256 hash of its text"
                ),
            };
            if !computed.eq_ignore_ascii_case(&id) {
                anyhow::bail!(
                    "the trusted document {id:?} does not match its text (its hash is {computed}): regenerate the manifest"
                );
            }
            let text: Arc<str> = text.into();
            manifest.by_hash.insert(sha256(&text), text.clone());
            manifest.by_id.insert(id.to_ascii_lowercase(), text);
        }
        Ok(manifest)
    }

    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let json = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the trusted documents {}", path.display()))?;
        Manifest::parse(&json)
            .with_context(|| format!("the trusted documents {} cannot be loaded", path.display()))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn by_hash(&self, hash: &Hash) -> Option<&Arc<str>> {
        self.by_hash.get(hash)
    }

    /// A `documentId`: `sha256:<hex>` (the draft's prefixed form), or a manifest key.
    fn by_document_id(&self, id: &str) -> Option<&Arc<str>> {
        match id.strip_prefix("sha256:").map(parse_hash) {
            Some(hash) => hash.and_then(|hash| self.by_hash(&hash)),
            None => self.by_id.get(&id.to_ascii_lowercase()),
        }
    }
}

/// A document's parse and limit checks, as the cache keeps them.
struct Checked {
    text: Arc<str>,
    outcome: ServerResult<ExecutableDocument>,
}

/// How a request names its document.
enum Named<'a> {
    /// Its text, in `query`.
    Text,
    /// `documentId`.
    DocumentId(&'a str),
    /// `extensions.persistedQuery.sha256Hash`, with the text or without.
    Persisted(Hash),
}

/// The documents operations run (see the module's doc); one per server, shared by every
/// transport.
pub struct Documents {
    limits: Limits,
    cache: Option<Mutex<lru::LruCache<Hash, Arc<Checked>>>>,
    trusted: Option<Arc<Manifest>>,
    require_trusted: bool,
    db: DatabaseConnection,
}

impl Documents {
    pub fn new(limits: Limits, config: &DocumentsConfig, db: DatabaseConnection) -> Documents {
        Documents {
            limits,
            cache: NonZeroUsize::new(config.cache_size)
                .map(|size| Mutex::new(lru::LruCache::new(size))),
            trusted: config.trusted.clone(),
            require_trusted: config.require_trusted,
            db,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The document `request` runs, parsed and within the limits, found by its text, its
    /// `document_id` or its persisted-query hash; `request.query` is set to its text. Every
    /// refusal carries its code.
    pub async fn prepare(
        &self,
        request: &mut Request,
        document_id: Option<&str>,
    ) -> ServerResult<ExecutableDocument> {
        let named = match (persisted_hash(request)?, document_id) {
            (Some(_), Some(_)) => {
                return Err(ErrorCode::BadRequest.server_error(
                    "a request names its document by `documentId` or by `extensions.persistedQuery`, not both",
                ));
            }
            (Some(hash), None) => Named::Persisted(hash),
            (None, Some(id)) => Named::DocumentId(id),
            (None, None) => Named::Text,
        };
        let has_text = !request.query.is_empty();
        match named {
            Named::DocumentId(_) if has_text => Err(ErrorCode::BadRequest.server_error(
                "a request sends its document in `query` or names it by `documentId`, not both",
            )),
            Named::DocumentId(id) => {
                let text = self
                    .trusted
                    .as_deref()
                    .and_then(|manifest| manifest.by_document_id(id))
                    .cloned();
                match text {
                    Some(text) => self.run_text(request, sha256(&text), Some(text)),
                    None => Err(not_found()),
                }
            }
            Named::Persisted(hash) if has_text => {
                let computed = sha256(&request.query);
                if computed != hash {
                    return Err(ErrorCode::PersistedQueryHashMismatch
                        .server_error(ErrorCode::PersistedQueryHashMismatch.default_message()));
                }
                if self.trusted_text(&hash).is_some() {
                    return self.run_text(request, hash, None);
                }
                self.refuse_untrusted()?;
                let document = self.run_text(request, hash, None)?;
                self.register(hash, &request.query).await?;
                Ok(document)
            }
            Named::Persisted(hash) => {
                if let Some(text) = self.trusted_text(&hash) {
                    return self.run_text(request, hash, Some(text));
                }
                if self.require_trusted {
                    return Err(not_found());
                }
                if let Some(checked) = self.cached(&hash) {
                    request.query = checked.text.to_string();
                    return checked.outcome.clone();
                }
                match self.registered(&hash).await? {
                    Some(text) => self.run_text(request, hash, Some(text.into())),
                    None => Err(not_found()),
                }
            }
            Named::Text => {
                // A document over the size limit is refused before it is hashed.
                if request.query.len() > self.limits.max_query_bytes {
                    return limits::check_document(&self.limits, &request.query);
                }
                let hash = sha256(&request.query);
                if self.trusted_text(&hash).is_none() {
                    self.refuse_untrusted()?;
                }
                self.run_text(request, hash, None)
            }
        }
    }

    /// `PERSISTED_QUERY_REQUIRED` when only trusted documents run.
    fn refuse_untrusted(&self) -> ServerResult<()> {
        if self.require_trusted {
            let code = ErrorCode::PersistedQueryRequired;
            return Err(code.server_error(code.default_message()));
        }
        Ok(())
    }

    fn trusted_text(&self, hash: &Hash) -> Option<Arc<str>> {
        self.trusted.as_deref()?.by_hash(hash).cloned()
    }

    fn cached(&self, hash: &Hash) -> Option<Arc<Checked>> {
        let cache = self.cache.as_ref()?;
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(hash).cloned()
    }

    /// The checked document of `hash`, whose text is `text` (or `request.query` when `None`),
    /// from the cache or checked now (and kept); `request.query` holds the text after.
    fn run_text(
        &self,
        request: &mut Request,
        hash: Hash,
        text: Option<Arc<str>>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(text) = &text {
            request.query = text.to_string();
        }
        let Some(cache) = &self.cache else {
            return limits::check_document(&self.limits, &request.query);
        };
        let found = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&hash)
            .cloned();
        if let Some(checked) = found {
            return checked.outcome.clone();
        }
        let outcome = limits::check_document(&self.limits, &request.query);
        let checked = Checked {
            text: text.unwrap_or_else(|| request.query.as_str().into()),
            outcome: outcome.clone(),
        };
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(hash, Arc::new(checked));
        outcome
    }

    /// The document registered under `hash`, from the database.
    async fn registered(&self, hash: &Hash) -> ServerResult<Option<String>> {
        let found = entity::persisted_query::Entity::find_by_id(to_hex(hash))
            .one(&self.db)
            .await
            .map_err(|error| ApiError::from(error).into_server_error())?;
        Ok(found.map(|row| row.document))
    }

    /// Registers `text` under `hash` (a no-op when another request, or replica, did first).
    async fn register(&self, hash: Hash, text: &str) -> ServerResult<()> {
        let row = entity::persisted_query::ActiveModel {
            hash: Set(to_hex(&hash)),
            document: Set(text.to_owned()),
            created_at: Set(chrono::Utc::now()),
        };
        entity::persisted_query::Entity::insert(row)
            .on_conflict_do_nothing_on([entity::persisted_query::Column::Hash])
            .exec(&self.db)
            .await
            .map_err(|error| ApiError::from(error).into_server_error())?;
        Ok(())
    }
}

fn not_found() -> async_graphql::ServerError {
    let code = ErrorCode::PersistedQueryNotFound;
    code.server_error(code.default_message())
}

/// `extensions.persistedQuery`'s hash, if the request has one; a version other than 1, or a
/// hash that is no SHA-256, is refused.
fn persisted_hash(request: &Request) -> ServerResult<Option<Hash>> {
    let Some(value) = request.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let malformed = || {
        ErrorCode::BadRequest.server_error(
            "`extensions.persistedQuery` must be `{\"version\": 1, \"sha256Hash\": \"<64 hexadecimal digits>\"}`",
        )
    };
    let Value::Object(fields) = value else {
        return Err(malformed());
    };
    match fields.get("version") {
        Some(Value::Number(version)) if version.as_u64() == Some(1) => {}
        Some(_) => {
            let code = ErrorCode::PersistedQueryVersionNotSupported;
            return Err(code.server_error(code.default_message()));
        }
        None => return Err(malformed()),
    }
    match fields.get("sha256Hash") {
        Some(Value::String(hash)) => parse_hash(hash).map(Some).ok_or_else(malformed),
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = "{ brokers { totalCount } }";

    #[test]
    fn a_manifest_is_keyed_by_the_hash_of_each_text() {
        for id in [
            to_hex(&sha256(DOCUMENT)),
            to_hex(&sha1::Sha1::digest(DOCUMENT.as_bytes())),
            to_hex(&<md5::Md5 as md5::Digest>::digest(DOCUMENT.as_bytes())),
        ] {
            let json = serde_json::json!({ &id: DOCUMENT }).to_string();
            let manifest = Manifest::parse(&json).unwrap();
            assert_eq!(manifest.by_document_id(&id).map(|t| &**t), Some(DOCUMENT));
            let prefixed = format!("sha256:{}", to_hex(&sha256(DOCUMENT)));
            assert_eq!(
                manifest.by_document_id(&prefixed).map(|t| &**t),
                Some(DOCUMENT)
            );
        }
    }

    #[test]
    fn a_manifest_whose_hash_does_not_match_its_text_is_refused() {
        let id = to_hex(&sha256("{ users { totalCount } }"));
        let json = serde_json::json!({ id: DOCUMENT }).to_string();
        let error = Manifest::parse(&json).unwrap_err().to_string();
        assert!(error.contains("does not match its text"), "{error}");
        let error = Manifest::parse(r#"{"query1": "{ a }"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not named by"), "{error}");
        assert!(Manifest::parse("[]").is_err());
    }

    #[test]
    fn a_hash_is_read_in_either_case() {
        let hash = sha256(DOCUMENT);
        assert_eq!(parse_hash(&to_hex(&hash)), Some(hash));
        assert_eq!(parse_hash(&to_hex(&hash).to_uppercase()), Some(hash));
        assert_eq!(parse_hash("zz"), None);
        assert_eq!(parse_hash(&"é".repeat(32)), None);
    }
}
