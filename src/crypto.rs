//! Service-account credentials encrypted at rest (design.md §2.3) with AES-256-GCM.
//!
//! The credential is write-only in the API, but the database is copied into backups, replicas
//! and support bundles; encrypting it with a key kept outside the database means a copy of the
//! data alone does not hand over the keys to a customer's tenant. GCM authenticates as well as
//! encrypts, and the caller binds each ciphertext to its row (associated data), so a ciphertext
//! moved to another row, or altered, fails to decrypt instead of yielding someone else's secret.

use std::fmt;

use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// AES-256: 32-byte keys.
pub const KEY_LEN: usize = 32;

/// GCM's standard 96-bit nonce.
pub const NONCE_LEN: usize = 12;

/// Keys come from `openssl rand -base64 32`, secret managers (often URL-safe) and files with
/// or without padding; all of these are accepted rather than making operators re-encode.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Why a stored credential could not be decrypted. The messages never contain key material or
/// plaintext, so they can be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The stored nonce is not 12 bytes: the row was not written by [`CredentialCipher`].
    #[error("the stored nonce is {actual} bytes, not {NONCE_LEN}")]
    NonceLength { actual: usize },
    /// Wrong key, altered ciphertext or nonce, or a ciphertext moved to another row.
    #[error(
        "the credential failed authentication: wrong key, or the ciphertext was altered or \
         belongs to another row"
    )]
    AuthenticationFailed,
    /// Authentic but not text: cannot happen for what [`CredentialCipher::encrypt`] wrote.
    #[error("the decrypted credential is not UTF-8")]
    NotUtf8,
}

/// Encrypts and decrypts credentials with one AES-256-GCM key. Cheap to clone (the expanded
/// key is a few hundred bytes), so it can sit in shared request state.
#[derive(Clone)]
pub struct CredentialCipher {
    cipher: Aes256Gcm,
    /// Seals pagination cursors, with a key of its own derived from this one.
    cursors: Arc<TokenSealer>,
}

/// Never prints the key: the cipher ends up inside structs that are logged with `{:?}`.
impl fmt::Debug for CredentialCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCipher").finish_non_exhaustive()
    }
}

impl CredentialCipher {
    fn from_key(key: &Key<Aes256Gcm>) -> Self {
        Self {
            cipher: Aes256Gcm::new(key),
            cursors: Arc::new(TokenSealer::derive(&key[..], b"brokergraph cursor v1")),
        }
    }

    /// The sealer of pagination cursors: every replica has the credential key, so every
    /// replica opens the cursors any other one issued.
    pub fn cursor_sealer(&self) -> &Arc<TokenSealer> {
        &self.cursors
    }

    /// A cipher from a base64 key of exactly 32 bytes, standard or URL-safe alphabet, padded
    /// or not, surrounding whitespace ignored (files and env vars often end in a newline).
    /// A shorter key is refused rather than stretched: a weak key should fail loudly.
    pub fn from_base64(key: &str) -> anyhow::Result<Self> {
        let key = key.trim();
        // The error deliberately leaves out the decoder's message: it quotes the offending
        // character and its position, which is part of the secret.
        let bytes = STANDARD_LENIENT
            .decode(key)
            .or_else(|_| URL_SAFE_LENIENT.decode(key))
            .map_err(|_| {
                anyhow::anyhow!(
                    "the credential key is not base64 (standard or URL-safe); generate one with \
                     `openssl rand -base64 32`"
                )
            })?;
        let Ok(bytes) = <[u8; KEY_LEN]>::try_from(bytes.as_slice()) else {
            bail!(
                "the credential key must be {KEY_LEN} bytes (AES-256), not {}; generate one \
                 with `openssl rand -base64 32`",
                bytes.len()
            );
        };
        Ok(Self::from_key(&Key::<Aes256Gcm>::from(bytes)))
    }

    /// The key in `path`, or a fresh random key written there (owner-only) on first use, as
    /// for the development JWT secret: the embedded install works with nothing configured.
    ///
    /// Two processes starting together cannot overwrite each other's key (which would make
    /// what the loser encrypted unreadable): see [`crate::keyfile`]. An existing file that does not hold a usable key is an
    /// error, never replaced: it may be the only key to credentials already stored.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let text = crate::keyfile::read_or_create(path, || {
            format!("{}\n", STANDARD.encode(Aes256Gcm::generate_key(OsRng)))
        })?;
        Self::from_key_file(path, &text)
    }

    fn from_key_file(path: &Path, text: &str) -> anyhow::Result<Self> {
        #[cfg(unix)]
        if let Ok(metadata) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt as _;
            if metadata.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "the credential key file is readable by other users; chmod 600 it"
                );
            }
        }
        Self::from_base64(text).with_context(|| {
            format!(
                "{} does not hold a usable credential key; restore it rather than deleting it, \
                 because the stored service-account credentials can only be decrypted with it",
                path.display()
            )
        })
    }

    /// Encrypts `plaintext`, returning the ciphertext (with its 16-byte tag appended) and the
    /// 12-byte nonce to store beside it. The nonce is random and fresh on every call: GCM
    /// leaks plaintext if a nonce is ever reused under one key, and random 96-bit nonces stay
    /// safe far beyond the number of credentials one installation will store.
    ///
    /// `associated_data` (the caller passes the row's tenant id) is authenticated, not stored:
    /// decryption needs the same bytes, so a ciphertext copied to another row is refused.
    pub fn encrypt(&self, plaintext: &str, associated_data: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: associated_data,
        };
        let Ok(ciphertext) = self.cipher.encrypt(&nonce, payload) else {
            // AES-GCM only refuses messages over 64 GiB; credentials are at most 256
            // characters (the domain checks this before encrypting).
            unreachable!("AES-GCM refused a {}-byte message", plaintext.len());
        };
        (ciphertext, nonce.to_vec())
    }

    /// Decrypts what [`encrypt`](Self::encrypt) returned, given the same associated data.
    pub fn decrypt(
        &self,
        ciphertext: &[u8],
        nonce: &[u8],
        associated_data: &[u8],
    ) -> Result<String, CryptoError> {
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| CryptoError::NonceLength {
            actual: nonce.len(),
        })?;
        let payload = Payload {
            msg: ciphertext,
            aad: associated_data,
        };
        let plaintext = self
            .cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::NotUtf8)
    }
}

/// Seals short tokens a client carries and hands back (pagination cursors) so that it can
/// neither read nor alter them: AES-256-GCM under a key derived (HKDF-SHA256) from the
/// credential key for one purpose, so a sealed token and a stored credential never share a key.
///
/// The nonce is an HMAC of the plaintext (a synthetic IV, as in AES-SIV): the same plaintext
/// always seals to the same token (a row's cursor is stable from one page to the next, and
/// sealing needs no random numbers per edge), and two different plaintexts get different
/// nonces, which is what GCM needs. Equal tokens reveal only that their plaintexts are equal.
pub struct TokenSealer {
    aead: Aes256Gcm,
    nonce_key: [u8; KEY_LEN],
}

impl fmt::Debug for TokenSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSealer").finish_non_exhaustive()
    }
}

impl TokenSealer {
    /// Derives the sealer for `purpose` from the secret `master`.
    pub fn derive(master: &[u8], purpose: &[u8]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(None, master);
        let mut okm = [0u8; 2 * KEY_LEN];
        // HKDF-SHA256 yields up to 8160 bytes; 64 always fit.
        if hkdf.expand(purpose, &mut okm).is_err() {
            unreachable!("HKDF-SHA256 refused 64 bytes");
        }
        let mut aead_key = [0u8; KEY_LEN];
        let mut nonce_key = [0u8; KEY_LEN];
        aead_key.copy_from_slice(&okm[..KEY_LEN]);
        nonce_key.copy_from_slice(&okm[KEY_LEN..]);
        TokenSealer {
            aead: Aes256Gcm::new(&Key::<Aes256Gcm>::from(aead_key)),
            nonce_key,
        }
    }

    fn nonce(&self, plaintext: &[u8]) -> [u8; NONCE_LEN] {
        // HMAC takes a key of any length, so `new_from_slice` cannot fail on 32 bytes.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.nonce_key) else {
            unreachable!("HMAC refused a 32-byte key");
        };
        mac.update(plaintext);
        let tag = mac.finalize().into_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&tag[..NONCE_LEN]);
        nonce
    }

    /// The nonce followed by the ciphertext and its tag.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = self.nonce(plaintext);
        let Ok(ciphertext) = self.aead.encrypt(&Nonce::from(nonce), plaintext) else {
            // AES-GCM only refuses messages over 64 GiB; tokens are a few dozen bytes.
            unreachable!("AES-GCM refused a {}-byte token", plaintext.len());
        };
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// What [`seal`](Self::seal) sealed, or `None` for anything it did not seal (altered,
    /// truncated, or sealed with another key or for another purpose).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).ok()?;
        self.aead.decrypt(&Nonce::from(nonce), ciphertext).ok()
    }
}

/// Where the credential key comes from.
#[derive(Clone, clap::Args)]
pub struct CredentialKeyConfig {
    /// Base64 AES-256 key (32 bytes, e.g. from `openssl rand -base64 32`) that encrypts
    /// service-account credentials in the database. Every replica sharing a database needs the
    /// same key. Required with PostgreSQL; with the embedded SQLite database a key is generated
    /// in a file beside it when unset.
    #[arg(
        long,
        env = "BROKERGRAPH_CREDENTIAL_KEY",
        hide_env_values = true,
        global = true
    )]
    pub credential_key: Option<String>,
}

/// Redacts the key: the command line (`Cli`) is `Debug`, and a derived `Debug` would print it.
impl fmt::Debug for CredentialKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialKeyConfig")
            .field(
                "credential_key",
                &self.credential_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl CredentialKeyConfig {
    /// The cipher: the configured key if there is one; otherwise, when the caller names a key
    /// file (`generated_beside`, the file beside the embedded SQLite database), the key in that
    /// file, generated on first use. With neither (PostgreSQL, possibly many replicas) a
    /// generated key would differ per replica and be lost with its container, so the operator
    /// must configure one.
    pub fn resolve(&self, generated_beside: Option<&Path>) -> anyhow::Result<CredentialCipher> {
        if let Some(key) = &self.credential_key {
            return CredentialCipher::from_base64(key)
                .context("BROKERGRAPH_CREDENTIAL_KEY (--credential-key) is not usable");
        }
        if let Some(path) = generated_beside {
            return CredentialCipher::load_or_create(path);
        }
        bail!(
            "set BROKERGRAPH_CREDENTIAL_KEY (or --credential-key) to a base64 AES-256 key, e.g. \
             the output of `openssl rand -base64 32`: it encrypts the service-account \
             credentials stored in the database, and every replica must use the same key"
        )
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use clap::Parser;

    use super::*;

    const TENANT: &[u8] = b"0190f1c2-7d3e-7000-8000-000000000001";
    const OTHER_TENANT: &[u8] = b"0190f1c2-7d3e-7000-8000-000000000002";

    fn key_bytes(seed: u8) -> [u8; KEY_LEN] {
        // Bytes that hit `+`/`/` (or `-`/`_`) in base64, so the alphabet matters.
        std::array::from_fn(|i| seed.wrapping_add((i as u8).wrapping_mul(37)) | 0xf8)
    }

    fn cipher(seed: u8) -> CredentialCipher {
        CredentialCipher::from_base64(&STANDARD.encode(key_bytes(seed))).unwrap()
    }

    #[test]
    fn sealed_tokens_open_only_unaltered_and_with_their_key_and_purpose() {
        let key = key_bytes(3);
        let sealer = TokenSealer::derive(&key, b"cursor");
        let sealed = sealer.seal(b"{\"v\":\"jane@contoso.example\"}");
        assert_eq!(
            sealer.seal(b"{\"v\":\"jane@contoso.example\"}"),
            sealed,
            "deterministic"
        );
        assert_ne!(
            sealer.seal(b"{\"v\":\"john@contoso.example\"}")[..NONCE_LEN],
            sealed[..NONCE_LEN]
        );
        assert!(!sealed.windows(4).any(|w| w == b"jane"));
        assert_eq!(
            sealer.open(&sealed).as_deref(),
            Some(&b"{\"v\":\"jane@contoso.example\"}"[..])
        );
        for at in [0, NONCE_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[at] ^= 0x01;
            assert_eq!(sealer.open(&tampered), None, "byte {at}");
        }
        assert_eq!(sealer.open(&sealed[..sealed.len() - 1]), None);
        assert_eq!(sealer.open(&[]), None);
        assert_eq!(TokenSealer::derive(&key, b"other").open(&sealed), None);
        assert_eq!(
            TokenSealer::derive(&key_bytes(4), b"cursor").open(&sealed),
            None
        );
    }

    #[test]
    fn round_trip() {
        let cipher = cipher(1);
        for text in ["", "P@ssw0rd!", "Grüße, 密码 🔑", &"x".repeat(256)] {
            let (ciphertext, nonce) = cipher.encrypt(text, TENANT);
            assert_eq!(nonce.len(), NONCE_LEN);
            assert_eq!(ciphertext.len(), text.len() + 16, "ciphertext and tag");
            assert_eq!(
                cipher.decrypt(&ciphertext, &nonce, TENANT).as_deref(),
                Ok(text)
            );
        }
    }

    #[test]
    fn every_encryption_uses_a_fresh_nonce() {
        let cipher = cipher(1);
        let (first, first_nonce) = cipher.encrypt("same secret", TENANT);
        let (second, second_nonce) = cipher.encrypt("same secret", TENANT);
        assert_ne!(first_nonce, second_nonce);
        assert_ne!(first, second);
    }

    #[test]
    fn the_ciphertext_does_not_contain_the_plaintext() {
        let secret = "correct horse battery staple";
        let (ciphertext, nonce) = cipher(1).encrypt(secret, TENANT);
        let contains = |haystack: &[u8]| {
            haystack
                .windows(secret.len())
                .any(|window| window == secret.as_bytes())
        };
        assert!(!contains(&ciphertext));
        assert!(!contains(&[ciphertext, nonce].concat()));
    }

    #[test]
    fn another_row_another_key_or_an_alteration_is_refused() {
        let cipher = cipher(1);
        let (ciphertext, nonce) = cipher.encrypt("secret", TENANT);
        let refused = Err(CryptoError::AuthenticationFailed);

        assert_eq!(cipher.decrypt(&ciphertext, &nonce, OTHER_TENANT), refused);
        assert_eq!(cipher.decrypt(&ciphertext, &nonce, b""), refused);
        assert_eq!(
            self::cipher(2).decrypt(&ciphertext, &nonce, TENANT),
            refused
        );

        for at in [0, ciphertext.len() - 1] {
            let mut tampered = ciphertext.clone();
            tampered[at] ^= 0x01;
            assert_eq!(
                cipher.decrypt(&tampered, &nonce, TENANT),
                refused,
                "byte {at}"
            );
        }
        let mut other_nonce = nonce.clone();
        other_nonce[0] ^= 0x01;
        assert_eq!(cipher.decrypt(&ciphertext, &other_nonce, TENANT), refused);
        assert_eq!(cipher.decrypt(&ciphertext[..10], &nonce, TENANT), refused);
        assert_eq!(cipher.decrypt(&[], &nonce, TENANT), refused);
    }

    #[test]
    fn a_nonce_of_the_wrong_length_is_refused() {
        let cipher = cipher(1);
        let (ciphertext, nonce) = cipher.encrypt("secret", TENANT);
        assert_eq!(
            cipher.decrypt(&ciphertext, &nonce[..8], TENANT),
            Err(CryptoError::NonceLength { actual: 8 })
        );
        assert_eq!(
            cipher.decrypt(&ciphertext, &[0; 16], TENANT),
            Err(CryptoError::NonceLength { actual: 16 })
        );
    }

    #[test]
    fn keys_are_accepted_in_every_base64_spelling() {
        let key = key_bytes(7);
        let (ciphertext, nonce) = cipher(7).encrypt("secret", TENANT);
        let standard = STANDARD.encode(key);
        let url_safe = URL_SAFE.encode(key);
        assert!(standard.contains(['+', '/']) && url_safe.contains(['-', '_']));
        for spelling in [
            standard.clone(),
            STANDARD_NO_PAD.encode(key),
            url_safe,
            URL_SAFE_NO_PAD.encode(key),
            format!("  {standard}\n"),
        ] {
            let cipher = CredentialCipher::from_base64(&spelling).unwrap();
            assert_eq!(
                cipher.decrypt(&ciphertext, &nonce, TENANT).as_deref(),
                Ok("secret"),
                "{spelling:?}"
            );
        }
    }

    #[test]
    fn unusable_keys_are_refused_without_echoing_them() {
        let short = STANDARD.encode([9u8; 16]);
        let long = STANDARD.encode([9u8; 33]);
        let mixed = format!("{}-", &STANDARD.encode(key_bytes(1))[..42]);
        let cases = [
            ("", "32 bytes"),
            (short.as_str(), "32 bytes"),
            (long.as_str(), "32 bytes"),
            ("not base64 at all!", "not base64"),
            (mixed.as_str(), "not base64"),
        ];
        for (key, expected) in cases {
            let error = CredentialCipher::from_base64(key).unwrap_err().to_string();
            assert!(error.contains(expected), "{key:?}: {error}");
            assert!(error.contains("openssl rand -base64 32"), "{error}");
            if !key.is_empty() {
                assert!(!error.contains(key), "the error echoes the key: {error}");
            }
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let encoded = STANDARD.encode(key_bytes(3));
        let cipher = CredentialCipher::from_base64(&encoded).unwrap();
        let config = CredentialKeyConfig {
            credential_key: Some(encoded.clone()),
        };
        for shown in [
            format!("{cipher:?}"),
            format!("{config:?}"),
            format!("{config:#?}"),
        ] {
            assert!(!shown.contains(&encoded), "{shown}");
            assert!(!shown.contains(&encoded[..8]), "{shown}");
        }
        assert_eq!(format!("{cipher:?}"), "CredentialCipher { .. }");
        assert!(format!("{config:?}").contains("<redacted>"));
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn load_or_create_writes_an_owner_only_key_once_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brokergraph.db.credential-key");

        let first = CredentialCipher::load_or_create(&path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(
            CredentialCipher::from_base64(&written).is_ok(),
            "{written:?}"
        );
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);

        let (ciphertext, nonce) = first.encrypt("secret", TENANT);
        let second = CredentialCipher::load_or_create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            written,
            "not rewritten"
        );
        assert_eq!(
            second.decrypt(&ciphertext, &nonce, TENANT).as_deref(),
            Ok("secret")
        );

        // Another file, another key.
        let other = CredentialCipher::load_or_create(&dir.path().join("other")).unwrap();
        assert!(other.decrypt(&ciphertext, &nonce, TENANT).is_err());
    }

    #[test]
    fn processes_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let ciphers: Vec<CredentialCipher> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| CredentialCipher::load_or_create(&path)))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap().unwrap())
                .collect()
        });
        let (ciphertext, nonce) = ciphers[0].encrypt("secret", TENANT);
        for cipher in &ciphers {
            assert_eq!(
                cipher.decrypt(&ciphertext, &nonce, TENANT).as_deref(),
                Ok("secret")
            );
        }
    }

    #[test]
    fn an_unusable_key_file_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "too short").unwrap();
        let error = format!("{:#}", CredentialCipher::load_or_create(&path).unwrap_err());
        assert!(
            error.contains("does not hold a usable credential key"),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "too short");

        let missing_dir = dir.path().join("missing").join("key");
        assert!(CredentialCipher::load_or_create(&missing_dir).is_err());
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        credentials: CredentialKeyConfig,
    }

    #[test]
    fn resolve_prefers_the_configured_key() {
        let key = STANDARD.encode(key_bytes(5));
        let cli = Cli::try_parse_from(["brokergraph", "--credential-key", &key]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");

        let cipher = cli.credentials.resolve(Some(&path)).unwrap();
        assert!(!path.exists(), "no key is generated when one is configured");
        let (ciphertext, nonce) = self::cipher(5).encrypt("secret", TENANT);
        assert_eq!(
            cipher.decrypt(&ciphertext, &nonce, TENANT).as_deref(),
            Ok("secret")
        );

        let bad = CredentialKeyConfig {
            credential_key: Some("c2hvcnQ=".into()),
        };
        let error = format!("{:#}", bad.resolve(Some(&path)).unwrap_err());
        assert!(error.contains("BROKERGRAPH_CREDENTIAL_KEY"), "{error}");
        assert!(error.contains("32 bytes"), "{error}");
        assert!(
            !path.exists(),
            "a bad configured key does not fall back to a file"
        );
    }

    #[test]
    fn resolve_generates_a_key_beside_the_embedded_database() {
        let unset = CredentialKeyConfig {
            credential_key: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brokergraph.db.credential-key");

        let first = unset.resolve(Some(&path)).unwrap();
        assert!(path.exists());
        let (ciphertext, nonce) = first.encrypt("secret", TENANT);
        let again = unset.resolve(Some(&path)).unwrap();
        assert_eq!(
            again.decrypt(&ciphertext, &nonce, TENANT).as_deref(),
            Ok("secret")
        );
    }

    #[test]
    fn resolve_without_a_key_or_a_file_tells_the_operator_what_to_set() {
        let unset = CredentialKeyConfig {
            credential_key: None,
        };
        let error = unset.resolve(None).unwrap_err().to_string();
        assert!(error.contains("BROKERGRAPH_CREDENTIAL_KEY"), "{error}");
        assert!(error.contains("openssl rand -base64 32"), "{error}");
    }
}
