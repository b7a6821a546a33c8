//! The compact cache: per shard, the scorer's fields in a small columnar file
//! ([`mod@format`]) under `DIR/compact/`, so a pass over unchanged shards reads a few bytes per
//! record instead of parsing JSON.
//!
//! An entry is keyed by its shard's name and holds what identifies the shard it was built
//! from: the store's entity tag (revalidated with a conditional GET), the content hash
//! (XXH3-64) and length, and for replay files the file's identity (device, inode, length,
//! modification and status-change times). An entry is used only when that identity matches;
//! anything else (a changed shard, a file that fails its checksum, another format version) is
//! rebuilt from the shard, never trusted. A cache that cannot be read or written only costs
//! speed: problems are logged, never returned.

pub mod format;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

pub use format::{Entry, FileStat, SourceKey};

use crate::store::local::remove_logged;

/// Folder of the entries inside the cache folder.
pub const COMPACT_DIR: &str = "compact";
/// File name suffix of an entry.
const SUFFIX: &str = ".afc";
/// Cache files larger than this are not read (an entry is a few percent of its shard, and
/// shards are capped at [`crate::store::dataset::MAX_SHARD_BYTES`]).
const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;
/// A file changed less than this long ago may change again within the same timestamp tick,
/// so its identity is not recorded (git's "racily clean" rule); the content hash still is.
const SETTLE: Duration = Duration::from_secs(2);

/// A compact cache folder (`AFFINE_CACHE_DIR`, or `--cache DIR` for replays).
#[derive(Debug, Clone)]
pub struct CompactCache {
    dir: PathBuf,
    /// Set after the first failed write, so an unwritable folder warns once, not per shard.
    write_failed: Arc<AtomicBool>,
}

impl FileStat {
    /// The identity of an open file.
    #[must_use]
    pub fn of(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        let nanos = |seconds: i64, nanos: i64| seconds.saturating_mul(1_000_000_000).saturating_add(nanos);
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: metadata.len(),
            mtime_ns: nanos(metadata.mtime(), metadata.mtime_nsec()),
            ctime_ns: nanos(metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// `Some(self)` when the file last changed at least two seconds before `now` (a change within the same
    /// timestamp tick would not show).
    #[must_use]
    pub fn settled(self, now: SystemTime) -> Option<Self> {
        let now_ns = now.duration_since(SystemTime::UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_nanos()).ok())?;
        let settle_ns = i64::try_from(SETTLE.as_nanos()).expect("two seconds fit i64");
        (self.mtime_ns.max(self.ctime_ns) <= now_ns - settle_ns).then_some(self)
    }
}

impl CompactCache {
    /// The cache inside `dir` (entries go to `dir/compact/`, created on first store).
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.join(COMPACT_DIR), write_failed: Arc::new(AtomicBool::new(false)) }
    }

    /// The folder of the entries.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry file of shard `name` (a store key or file name; only its last component
    /// counts). `None` for names that cannot be file names.
    fn path(&self, name: &str) -> Option<PathBuf> {
        let base = name.rsplit('/').next().unwrap_or(name);
        (!base.is_empty() && base != "." && base != ".." && !base.contains('\0')).then(|| self.dir.join(format!("{base}{SUFFIX}")))
    }

    /// The entry for shard `name`, if present and intact. A damaged or outdated file is
    /// removed (logged at debug), so the next store replaces it.
    #[must_use]
    pub fn load(&self, name: &str) -> Option<Entry> {
        let path = self.path(name)?;
        let bytes = match read_capped(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read a compact cache file, rebuilding it");
                remove_logged(&path, "a compact cache file");
                return None;
            }
        };
        match format::decode(&bytes) {
            Ok(entry) => Some(entry),
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "discarding a damaged or outdated compact cache file");
                remove_logged(&path, "a compact cache file");
                None
            }
        }
    }

    /// Writes the entry for shard `name` (temporary file and rename: readers see the old
    /// entry or the new one). Failures are logged and otherwise ignored.
    ///
    /// The file is not synced: a crash can at worst leave a torn entry, which fails its
    /// checksum and is rebuilt, and syncing every entry of a cold pass doubled its time.
    pub fn store(&self, name: &str, entry: &Entry) {
        let Some(path) = self.path(name) else { return };
        if let Err(error) = write_replacing(&path, &format::encode(entry)) {
            if self.write_failed.swap(true, Ordering::Relaxed) {
                tracing::debug!(path = %path.display(), %error, "cannot write the compact cache");
            } else {
                tracing::warn!(path = %path.display(), %error, "cannot write the compact cache (later passes parse again; further failures at -vv)");
            }
        }
    }
}

/// Writes `bytes` to a temporary sibling of `path` and renames it over `path`, unsynced.
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(parent)?;
    let mut temp = tempfile::NamedTempFile::new_in(parent)?;
    temp.write_all(bytes)?;
    temp.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Reads a cache file that is a regular file of at most [`MAX_ENTRY_BYTES`], in one read of
/// the length it has when opened (a file that changes meanwhile fails its checksum).
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() || metadata.len() > MAX_ENTRY_BYTES {
        return Err(std::io::Error::other("not a regular file of a plausible size"));
    }
    let mut bytes = vec![0; usize::try_from(metadata.len()).map_err(std::io::Error::other)?];
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scan::parse_shard;

    #[test]
    fn cache_round_trips_and_drops_damaged_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompactCache::new(dir.path());
        assert!(cache.load("affine/results/000000020-a.json").is_none());
        let shard = parse_shard(br#"[{"miner":{"hotkey":"h"},"env":"affine:sat","task_id":1}]"#).expect("valid");
        let entry = Entry { source: SourceKey { content_hash: 1, len: 2, etag: Some("\"e\"".into()), stat: None }, shard: Ok(shard) };
        cache.store("affine/results/000000020-a.json", &entry);
        assert_eq!(cache.load("000000020-a.json"), Some(entry));
        let file = cache.dir().join("000000020-a.json.afc");
        let mut bytes = std::fs::read(&file).expect("entry file");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&file, bytes).expect("corrupt");
        assert!(cache.load("000000020-a.json").is_none());
        assert!(!file.exists(), "a damaged entry is removed");
        assert!(cache.path("..").is_none() && cache.path("a/").is_none());
    }

    #[test]
    fn an_unwritable_cache_costs_only_speed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"not a folder").expect("write");
        let cache = CompactCache::new(&blocker);
        let entry = Entry { source: SourceKey::default(), shard: Err("rejected".into()) };
        cache.store("000000020-a.json", &entry);
        cache.store("000000040-a.json", &entry);
        assert!(cache.write_failed.load(Ordering::Relaxed));
        assert!(cache.load("000000020-a.json").is_none());
    }

    #[test]
    fn file_identity_is_recorded_only_once_settled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.json");
        std::fs::write(&path, b"[]").expect("write");
        let stat = FileStat::of(&std::fs::metadata(&path).expect("stat"));
        assert_eq!(stat.len, 2);
        assert!(stat.settled(SystemTime::now()).is_none(), "just written");
        assert_eq!(stat.settled(SystemTime::now() + Duration::from_secs(3)), Some(stat));
    }
}
