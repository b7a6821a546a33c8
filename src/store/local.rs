//! The local-directory backend: the same key layout under a folder, so everything works
//! offline. Writes go to a temporary file that is renamed into place (readers never see half a
//! file); conditional writes hold an exclusive lock on `DIR/.af-store.lock`, so concurrent
//! writers, in this process or others, cannot lose each other's updates.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::store::backend::{Fetched, Object, Precondition, PutOutcome, content_tag};
use crate::store::error::Error;

const LOCK_FILE: &str = ".af-store.lock";

/// A store folder.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
    label: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_owned(), source }
}

impl LocalBackend {
    /// A store rooted at `root` (created on first write).
    #[must_use]
    pub fn new(root: PathBuf) -> Self {
        Self { label: format!("local store {}", root.display()), root }
    }

    /// The backend as named in messages.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    fn path(&self, key: &str) -> Result<PathBuf, Error> {
        let key = crate::names::store_key(key).map_err(|error| Error::Malformed { key: key.to_owned(), reason: error.to_string() })?;
        Ok(self.root.join(key))
    }

    /// The store folder.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads `key`; an unchanged object answers [`Fetched::NotModified`] to `if_none_match`.
    ///
    /// # Errors
    /// The file exists but cannot be read.
    pub async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched, Error> {
        let path = self.path(key)?;
        let if_none_match = if_none_match.map(str::to_owned);
        run_blocking(move || {
            let bytes = match crate::fsio::read_regular(&path, crate::fsio::SHARD_MAX_BYTES) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Fetched::Missing),
                Err(error) if crate::fsio::is_refused(&error) => {
                    return Err(Error::Malformed { key: path.display().to_string(), reason: error.to_string() });
                }
                Err(error) => return Err(Error::Io { path, source: error }),
            };
            let etag = content_tag(&bytes);
            if if_none_match.as_deref() == Some(etag.as_str()) {
                return Ok(Fetched::NotModified);
            }
            Ok(Fetched::Found(Object { bytes, etag: Some(etag) }))
        })
        .await
    }

    /// Writes `key` under `precondition`, atomically.
    ///
    /// # Errors
    /// The folder cannot be created or written.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, precondition: Precondition<'_>) -> Result<PutOutcome, Error> {
        let path = self.path(key)?;
        let root = self.root.clone();
        let expected = match precondition {
            Precondition::None => None,
            Precondition::IfAbsent => Some(None),
            Precondition::IfMatch(etag) => Some(Some(etag.to_owned())),
        };
        run_blocking(move || {
            let parent = path.parent().expect("an object path has a parent (the root)");
            std::fs::create_dir_all(parent).map_err(io(parent))?;
            let lock_path = root.join(LOCK_FILE);
            let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io(&lock_path))?;
            lock.lock().map_err(io(&lock_path))?;
            if let Some(expected) = expected {
                let current = match crate::fsio::read_regular(&path, crate::fsio::SHARD_MAX_BYTES) {
                    Ok(bytes) => Some(content_tag(&bytes)),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                    Err(error) => return Err(Error::Io { path, source: error }),
                };
                if current != expected {
                    return Ok(PutOutcome::Conflict);
                }
            }
            let etag = content_tag(&bytes);
            write_atomically(&path, &bytes)?;
            drop(lock);
            Ok(PutOutcome::Written(Some(etag)))
        })
        .await
    }
}

/// Writes `bytes` to a temporary sibling of `path`, syncs it and renames it over `path`.
///
/// # Errors
/// Any I/O failure; the target is then unchanged.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let mut temp = tempfile::NamedTempFile::new_in(parent).map_err(io(parent))?;
    temp.write_all(bytes).and_then(|()| temp.as_file().sync_all()).map_err(io(path))?;
    temp.persist(path).map_err(|error| Error::Io { path: path.to_owned(), source: error.error })?;
    Ok(())
}

/// Removes `path` if it exists; a failure is logged (it only costs a later rebuild) and the
/// file named `what` in the message.
pub fn remove_logged(path: &Path, what: &str) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), %error, "cannot remove {what}");
    }
}

async fn run_blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| Error::Io { path: PathBuf::from("<blocking task>"), source: std::io::Error::other(join) })?
}
