//! Streaming a window's shards into the scorer, from the files of a replay directory or from
//! the store's downloads, on all cores, with the result of a sequential read.
//!
//! Worker threads take shards in key order and turn each into a [`CompactShard`]: from the
//! compact cache when its entry still matches the shard, else by parsing the JSON (and then
//! writing the entry). The shards are folded strictly in key order as they become ready (by
//! whichever worker completes the next one), so the fold never depends on which worker
//! finished first. At most
//! 64 shards are in flight; raw shard bytes live only while one worker parses them,
//! so memory is bounded by `threads` shards of at most [`MAX_SHARD_BYTES`] plus the compact
//! form of the lookahead, whatever the shards contain.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::SystemTime;

use crate::model::compact::CompactShard;
use crate::model::scan::parse_shard;
use crate::store::compact::{CompactCache, Entry, FileStat, SourceKey, format};

/// Shards larger than this are skipped (with a warning) instead of read.
pub const MAX_SHARD_BYTES: u64 = crate::fsio::SHARD_MAX_BYTES;
/// Shards taken by workers but not yet folded, at most.
const LOOKAHEAD: usize = 64;

/// What reading the shards found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadStats {
    /// Shards read and parsed, or taken from the compact cache.
    pub shards: usize,
    /// Shards taken from the compact cache (included in `shards`).
    pub shards_cached: usize,
    /// Shards skipped: unreadable, not regular files, too large, or not a JSON array.
    pub shards_skipped: usize,
    /// Records handed to the sink.
    pub records: u64,
    /// Array elements that were not usable result records.
    pub invalid_records: u64,
    /// Bytes of shard text covered (read, or represented by a cache entry).
    pub bytes: u64,
}

/// One shard's bytes from any source (a file, an S3 object, an HTTP body), named for messages.
#[derive(Debug)]
pub struct ShardBytes {
    /// File path or object key.
    pub name: String,
    /// The bytes, or why they could not be read.
    pub bytes: Result<Vec<u8>, String>,
}

/// A shard for the scorer.
#[derive(Debug)]
pub enum ShardSource {
    /// A file of a replay directory (read by a worker).
    File(PathBuf),
    /// Downloaded bytes and the object's entity tag.
    Fetched {
        /// Object key.
        name: String,
        /// The bytes, or why they could not be read.
        bytes: Result<Vec<u8>, String>,
        /// Entity tag of the object.
        etag: Option<String>,
    },
    /// A compact cache entry the store confirmed as current (304 to its entity tag).
    Cached {
        /// Object key.
        name: String,
        /// The entry.
        entry: Box<Entry>,
    },
}

/// Why a shard was not folded.
enum Skip {
    Unreadable(String),
    Malformed(String),
}

/// One shard after a worker handled it.
struct Loaded {
    name: String,
    bytes: u64,
    cached: bool,
    shard: Result<CompactShard, Skip>,
}

/// Opens `path` only if it is a regular file of at most [`MAX_SHARD_BYTES`], and reads it.
/// A FIFO, a device (a link to `/dev/zero`) or a directory is refused before anything is read,
/// and the file is opened non-blocking so a FIFO cannot hang the open either.
///
/// # Errors
/// The file cannot be opened or read, is not a regular file, or is too large.
pub fn read_shard_file(path: &Path) -> Result<(Vec<u8>, std::fs::Metadata), String> {
    let (file, metadata) = open_shard_file(path)?;
    read_opened(file, &metadata).map(|bytes| (bytes, metadata))
}

fn open_shard_file(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let before = std::fs::metadata(path).map_err(|e| e.to_string())?;
    check_shard_metadata(&before)?;
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits()).open(path).map_err(|e| e.to_string())?;
    // The path may have been swapped between the two looks: trust only the opened file.
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    check_shard_metadata(&metadata)?;
    Ok((file, metadata))
}

fn check_shard_metadata(metadata: &std::fs::Metadata) -> Result<(), String> {
    if !metadata.is_file() {
        return Err("not a regular file".to_owned());
    }
    if metadata.len() > MAX_SHARD_BYTES {
        return Err(format!("larger than the {} MiB shard limit ({} bytes)", MAX_SHARD_BYTES >> 20, metadata.len()));
    }
    Ok(())
}

fn read_opened(file: std::fs::File, metadata: &std::fs::Metadata) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(MAX_SHARD_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SHARD_BYTES {
        return Err(format!("grew past the {} MiB shard limit while being read", MAX_SHARD_BYTES >> 20));
    }
    Ok(bytes)
}

/// Parses `bytes` and, with a cache, records the result under `name` keyed by `source`.
fn parse_and_store(name: &str, bytes: &[u8], mut source: SourceKey, cache: Option<&CompactCache>) -> Result<CompactShard, Skip> {
    let parsed = parse_shard(bytes).map_err(|error| error.to_string());
    if let Some(cache) = cache {
        source.content_hash = format::hash(bytes);
        source.len = bytes.len() as u64;
        cache.store(name, &Entry { source, shard: parsed.clone() });
    }
    parsed.map_err(Skip::Malformed)
}

fn from_entry(entry: Entry) -> Result<CompactShard, Skip> {
    entry.shard.map_err(Skip::Malformed)
}

/// A replay file: the cache entry when the file's identity or content matches it, else a
/// parse (which refreshes the entry).
fn load_file(path: &Path, cache: Option<&CompactCache>) -> Loaded {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let unreadable = |name: String, reason: String| Loaded { name, bytes: 0, cached: false, shard: Err(Skip::Unreadable(reason)) };
    // An entry that recorded this very file (same inode, length and times) is used without
    // opening the file: the identity only matches a regular file that has not changed.
    let same_file = |entry: &Entry| {
        entry.source.stat.is_some_and(|recorded| {
            recorded.len == entry.source.len && std::fs::metadata(path).is_ok_and(|m| m.is_file() && FileStat::of(&m) == recorded)
        })
    };
    let entry = match cache.and_then(|cache| cache.load(&name)) {
        Some(entry) if same_file(&entry) => return Loaded { name, bytes: entry.source.len, cached: true, shard: from_entry(entry) },
        other => other,
    };
    let (file, metadata) = match open_shard_file(path) {
        Ok(opened) => opened,
        Err(reason) => return unreadable(path.display().to_string(), reason),
    };
    let stat = FileStat::of(&metadata);
    let bytes = match read_opened(file, &metadata) {
        Ok(bytes) => bytes,
        Err(reason) => return unreadable(path.display().to_string(), reason),
    };
    let settled = stat.settled(SystemTime::now());
    if let (Some(cache), Some(entry)) = (cache, entry)
        && entry.source.len == bytes.len() as u64
        && entry.source.content_hash == format::hash(&bytes)
    {
        // Same content under a new identity (copied, touched, pulled again): remember the
        // identity so the next pass need not read the file.
        if settled.is_some() {
            let refreshed = Entry { source: SourceKey { stat: settled, ..entry.source.clone() }, shard: entry.shard.clone() };
            cache.store(&name, &refreshed);
        }
        return Loaded { name, bytes: bytes.len() as u64, cached: true, shard: from_entry(entry) };
    }
    let source = SourceKey { stat: settled, ..SourceKey::default() };
    let shard = parse_and_store(&name, &bytes, source, cache);
    Loaded { name: path.display().to_string(), bytes: bytes.len() as u64, cached: false, shard }
}

fn load(source: ShardSource, cache: Option<&CompactCache>) -> Loaded {
    match source {
        ShardSource::File(path) => load_file(&path, cache),
        ShardSource::Fetched { name, bytes: Err(reason), .. } => {
            Loaded { name, bytes: 0, cached: false, shard: Err(Skip::Unreadable(reason)) }
        }
        ShardSource::Fetched { name, bytes: Ok(bytes), etag } => {
            let shard = parse_and_store(&name, &bytes, SourceKey { etag, ..SourceKey::default() }, cache);
            Loaded { name, bytes: bytes.len() as u64, cached: false, shard }
        }
        ShardSource::Cached { name, entry } => Loaded { name, bytes: entry.source.len, cached: true, shard: from_entry(*entry) },
    }
}

/// Counts shards taken but not yet folded, so workers stay at most [`LOOKAHEAD`] ahead.
struct InFlight {
    /// `(taken and not folded, workers waiting for room)`.
    state: Mutex<(usize, usize)>,
    freed: Condvar,
}

impl InFlight {
    fn new() -> Self {
        Self { state: Mutex::new((0, 0)), freed: Condvar::new() }
    }

    fn acquire(&self) {
        let mut state = self.state.lock().expect("no thread panics while holding the lock");
        while state.0 >= LOOKAHEAD {
            state.1 += 1;
            state = self.freed.wait(state).expect("no thread panics while holding the lock");
            state.1 -= 1;
        }
        state.0 += 1;
    }

    /// Frees one slot and wakes one waiting worker, if any (each slot freed wakes one, so no
    /// waiter is left behind when the sources run out).
    fn release(&self) {
        let mut state = self.state.lock().expect("no thread panics while holding the lock");
        state.0 -= 1;
        if state.1 > 0 {
            self.freed.notify_one();
        }
    }
}

/// The in-order half of the pipeline. Loaded shards wait in `ready` until every earlier one
/// is folded; whichever worker finds the fold free folds everything that is ready, and a
/// worker that finds it busy leaves its shard to the folding one and goes back to loading, so
/// folding never stops the other workers and no thread sleeps and wakes per shard.
struct Sequencer<P, S> {
    ready: Mutex<BTreeMap<usize, Loaded>>,
    fold: Mutex<Fold<P, S>>,
}

/// The fold's state: the next shard index due and where shards go.
struct Fold<P, S> {
    next: usize,
    stats: LoadStats,
    progress: P,
    sink: S,
}

impl<P: FnMut(u64), S: FnMut(&CompactShard)> Sequencer<P, S> {
    fn deliver(&self, index: usize, loaded: Loaded, in_flight: &InFlight) {
        self.ready.lock().expect("no thread panics while holding the lock").insert(index, loaded);
        loop {
            let mut fold = match self.fold.try_lock() {
                Ok(fold) => fold,
                Err(std::sync::TryLockError::WouldBlock) => return,
                Err(std::sync::TryLockError::Poisoned(_)) => panic!("a worker panicked while folding"),
            };
            loop {
                let due = fold.next;
                let Some(loaded) = self.ready.lock().expect("no thread panics while holding the lock").remove(&due) else { break };
                fold.next += 1;
                let Fold { stats, progress, sink, .. } = &mut *fold;
                fold_one(loaded, stats, progress, sink);
                in_flight.release();
            }
            let due = fold.next;
            drop(fold);
            // A shard delivered after the last look found the fold busy and was left to us.
            if !self.ready.lock().expect("no thread panics while holding the lock").contains_key(&due) {
                return;
            }
        }
    }
}

/// Loads `sources` (in key order) on `threads` workers through `cache`, and calls `sink` with
/// every shard in that order. `progress` is told the bytes of each shard handled.
///
/// Unreadable shards (missing, not regular files, too large) and shards that are not JSON
/// arrays are skipped with a warning and counted; elements that are not usable records are
/// counted.
pub fn fold_sources(
    sources: impl Iterator<Item = ShardSource> + Send,
    threads: usize,
    cache: Option<&CompactCache>,
    progress: impl FnMut(u64) + Send,
    sink: impl FnMut(&CompactShard) + Send,
) -> LoadStats {
    let next = Mutex::new(sources.enumerate());
    let in_flight = InFlight::new();
    let sequencer =
        Sequencer { ready: Mutex::new(BTreeMap::new()), fold: Mutex::new(Fold { next: 0, stats: LoadStats::default(), progress, sink }) };
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    in_flight.acquire();
                    let taken = next.lock().expect("no thread panics while holding the lock").next();
                    let Some((index, source)) = taken else {
                        in_flight.release();
                        break;
                    };
                    sequencer.deliver(index, load(source, cache), &in_flight);
                }
            });
        }
    });
    debug_assert!(sequencer.ready.into_inner().is_ok_and(|ready| ready.is_empty()), "every shard taken is folded");
    sequencer.fold.into_inner().expect("no thread panics while holding the lock").stats
}

fn fold_one(loaded: Loaded, stats: &mut LoadStats, progress: &mut impl FnMut(u64), sink: &mut impl FnMut(&CompactShard)) {
    stats.bytes += loaded.bytes;
    progress(loaded.bytes);
    match loaded.shard {
        Ok(shard) => {
            stats.shards += 1;
            stats.shards_cached += usize::from(loaded.cached);
            stats.records += shard.rows().len() as u64;
            stats.invalid_records += shard.invalid();
            sink(&shard);
        }
        Err(Skip::Unreadable(error)) => {
            tracing::warn!(shard = %loaded.name, %error, "skipping unreadable shard");
            stats.shards_skipped += 1;
        }
        Err(Skip::Malformed(error)) => {
            tracing::warn!(shard = %loaded.name, %error, "skipping malformed shard");
            stats.shards_skipped += 1;
        }
    }
}

/// [`fold_sources`] over files, in the order given.
pub fn fold_shards(paths: &[PathBuf], threads: usize, cache: Option<&CompactCache>, sink: impl FnMut(&CompactShard) + Send) -> LoadStats {
    fold_sources(paths.iter().cloned().map(ShardSource::File), threads, cache, |_| {}, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hotkeys_in_order(paths: &[PathBuf], threads: usize, cache: Option<&CompactCache>) -> (Vec<String>, LoadStats) {
        let mut seen = Vec::new();
        let stats = fold_shards(paths, threads, cache, |shard| seen.extend(shard.records().map(|r| r.hotkey.into_owned())));
        (seen, stats)
    }

    #[test]
    fn fold_keeps_key_order_across_threads_and_skips_bad_shards() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut paths = Vec::new();
        for index in 0..300 {
            let path = dir.path().join(format!("{index:03}.json"));
            let text = if index == 7 { "[{\"env\": ".to_owned() } else { format!(r#"[{{"miner":{{"hotkey":"h{index}"}},"env":"e"}}, 5]"#) };
            std::fs::write(&path, text).expect("write");
            paths.push(path);
        }
        paths.push(dir.path().join("missing.json"));
        let expected: Vec<String> = (0..300).filter(|i| *i != 7).map(|i| format!("h{i}")).collect();
        // More shards than the lookahead and more workers than cores: workers wait for room
        // and must all be woken when the sources run out.
        for threads in [1, 3, 8] {
            let (seen, stats) = hotkeys_in_order(&paths, threads, None);
            assert_eq!(seen, expected);
            assert_eq!((stats.shards, stats.shards_skipped, stats.records, stats.invalid_records), (299, 2, 299, 299));
        }
    }

    #[test]
    fn cache_serves_unchanged_files_and_rebuilds_changed_or_damaged_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompactCache::new(&dir.path().join("cache"));
        let paths: Vec<PathBuf> = (0..4).map(|i| dir.path().join(format!("{i}.json"))).collect();
        for (i, path) in paths.iter().enumerate() {
            std::fs::write(path, format!(r#"[{{"miner":{{"hotkey":"h{i}"}},"env":"e"}}]"#)).expect("write");
        }
        let (cold, stats) = hotkeys_in_order(&paths, 2, Some(&cache));
        assert_eq!(stats.shards_cached, 0);
        // Fresh files are matched by content (their identity is not settled yet).
        let (warm, stats) = hotkeys_in_order(&paths, 2, Some(&cache));
        assert_eq!((warm.clone(), stats.shards_cached), (cold.clone(), 4));
        // A changed shard is parsed again, whatever its entry says.
        std::fs::write(&paths[1], r#"[{"miner":{"hotkey":"changed"},"env":"e"}]"#).expect("rewrite");
        std::fs::write(cache.dir().join("2.json.afc"), b"AFCSHARD garbage").expect("damage");
        let (mixed, stats) = hotkeys_in_order(&paths, 2, Some(&cache));
        assert_eq!(mixed, vec!["h0", "changed", "h2", "h3"]);
        assert_eq!(stats.shards_cached, 2);
        let (again, stats) = hotkeys_in_order(&paths, 2, Some(&cache));
        assert_eq!((again, stats.shards_cached), (mixed, 4));
    }

    #[test]
    fn fifos_devices_and_oversized_files_are_skipped_without_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("000000020-fifo.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let zero = dir.path().join("000000020-zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        let big = dir.path().join("000000020-big.json");
        std::fs::File::create(&big).and_then(|f| f.set_len(MAX_SHARD_BYTES + 1)).expect("sparse file");
        let good = dir.path().join("000000020-good.json");
        std::fs::write(&good, r#"[{"env":"e"}]"#).expect("write");
        let (_, stats) = hotkeys_in_order(&[fifo.clone(), zero.clone(), big.clone(), good], 2, None);
        assert_eq!((stats.shards, stats.shards_skipped, stats.records), (1, 3, 1));
        for path in [fifo, zero, big] {
            assert!(read_shard_file(&path).is_err(), "{}", path.display());
        }
    }
}
