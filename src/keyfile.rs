//! Generated key files (the development JWT secret, the credential key): created once, whole,
//! by whichever process starts first.

use std::io::{ErrorKind, Write as _};
use std::path::Path;

use anyhow::Context as _;

/// Reads the key in `path`, or writes `generate()`'s key there (owner-only) if there is none,
/// and returns the file's text either way.
///
/// The key is written to a temporary file beside `path` and hard-linked into place: the link
/// fails if `path` exists, and a reader never sees the file empty or half written. Two
/// processes starting together therefore agree on one key (the loser reads the winner's),
/// and neither can overwrite a key that may already protect stored data.
pub fn read_or_create(path: &Path, generate: impl FnOnce() -> String) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text),
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
    let text = generate();
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let temporary = Temporary(name.into());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(&temporary.0)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .with_context(|| format!("cannot write a key file beside {}", path.display()))?;
    match std::fs::hard_link(&temporary.0, path) {
        // No log line here: `brokergraph token` prints only the token on standard output.
        Ok(()) => Ok(text),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        }
        Err(error) => Err(error).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// A file removed when dropped, linked into place or not.
struct Temporary(std::path::PathBuf);

impl Drop for Temporary {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn many_threads_starting_together_read_one_whole_key() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("key");
            let path = &path;
            let keys: Vec<String> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|n| scope.spawn(move || read_or_create(path, || format!("key-{n}\n"))))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap().unwrap())
                    .collect()
            });
            assert!(
                keys.iter().all(|key| key == &keys[0] && !key.is_empty()),
                "{keys:?}"
            );
            // Nothing left behind but the key.
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }
}
