//! Streaming a window's shards into the scorer, from files or from any byte source (the
//! store's downloads feed [`fold_sources`] through a channel).
//!
//! Shards are read in batches; each batch is parsed in parallel (one shard per thread at a
//! time, straight into borrowed [`CompactRecord`]s) and then handed to the sink strictly in key
//! order, so the result is the same as a sequential read. Memory is bounded by one batch of
//! shard bytes plus what the sink keeps.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::model::{CompactRecord, RecordShape, parse_shard};

/// Bytes of shard text read before a batch is parsed.
const BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// What reading the shards found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadStats {
    /// Shards read and parsed.
    pub shards: usize,
    /// Shards skipped: unreadable, or not a JSON array.
    pub shards_skipped: usize,
    /// Records handed to the sink.
    pub records: u64,
    /// Array elements that were not usable result records.
    pub invalid_records: u64,
    /// Bytes of shard text read.
    pub bytes: u64,
}

type Parsed<'a> = Result<Vec<RecordShape<'a>>, serde_json::Error>;

fn parse_batch<'a>(buffers: &'a [Vec<u8>], threads: usize) -> Vec<Parsed<'a>> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Parsed<'a>>>> = Mutex::new((0..buffers.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(buffers.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(bytes) = buffers.get(index) else { break };
                    let mut shapes = Vec::new();
                    let parsed = parse_shard(bytes, &mut shapes).map(|()| shapes);
                    slots.lock().expect("no thread panics while holding the lock")[index] = Some(parsed);
                }
            });
        }
    });
    slots
        .into_inner()
        .expect("no thread panics while holding the lock")
        .into_iter()
        .map(|slot| slot.expect("every index below len is parsed exactly once"))
        .collect()
}

/// One shard's bytes from any source (a file, an S3 object, an HTTP body), named for messages.
#[derive(Debug)]
pub struct ShardBytes {
    /// File path or object key.
    pub name: String,
    /// The bytes, or why they could not be read.
    pub bytes: Result<Vec<u8>, String>,
}

/// Reads `paths` (already in key order), parses them on `threads` threads and calls `sink` for
/// every usable record in order. `progress` is told the bytes of each shard handled.
///
/// Unreadable shards and shards that are not JSON arrays are skipped with a warning; elements
/// that are not usable records are counted and skipped.
pub fn fold_shards(paths: &[PathBuf], threads: usize, progress: impl FnMut(u64), sink: impl FnMut(&CompactRecord<'_>)) -> LoadStats {
    let sources =
        paths.iter().map(|path| ShardBytes { name: path.display().to_string(), bytes: std::fs::read(path).map_err(|e| e.to_string()) });
    fold_sources(sources, threads, progress, sink)
}

/// [`fold_shards`] over shards from any source, in the order `sources` yields them. Reading is
/// lazy: at most one batch (about 32 MiB) of shard bytes is held at a time.
pub fn fold_sources(
    mut sources: impl Iterator<Item = ShardBytes>,
    threads: usize,
    mut progress: impl FnMut(u64),
    mut sink: impl FnMut(&CompactRecord<'_>),
) -> LoadStats {
    let mut stats = LoadStats::default();
    let mut exhausted = false;
    while !exhausted {
        let mut buffers: Vec<Vec<u8>> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut batch_bytes = 0_u64;
        while buffers.is_empty() || batch_bytes < BATCH_BYTES {
            let Some(source) = sources.next() else {
                exhausted = true;
                break;
            };
            match source.bytes {
                Ok(bytes) => {
                    batch_bytes += bytes.len() as u64;
                    buffers.push(bytes);
                    names.push(source.name);
                }
                Err(error) => {
                    tracing::warn!(shard = %source.name, %error, "skipping unreadable shard");
                    stats.shards_skipped += 1;
                }
            }
        }
        for ((parsed, name), bytes) in parse_batch(&buffers, threads).into_iter().zip(names).zip(&buffers) {
            stats.bytes += bytes.len() as u64;
            progress(bytes.len() as u64);
            match parsed {
                Ok(shapes) => {
                    stats.shards += 1;
                    for shape in shapes {
                        match shape {
                            RecordShape::Valid(record) => {
                                stats.records += 1;
                                sink(&record);
                            }
                            RecordShape::Invalid => stats.invalid_records += 1,
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(shard = %name, %error, "skipping malformed shard");
                    stats.shards_skipped += 1;
                }
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_shards_keeps_key_order_across_threads_and_skips_bad_shards() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut paths = Vec::new();
        for index in 0..40 {
            let path = dir.path().join(format!("{index:03}.json"));
            let text = if index == 7 { "[{\"env\": ".to_owned() } else { format!(r#"[{{"miner":{{"hotkey":"h{index}"}},"env":"e"}}, 5]"#) };
            std::fs::write(&path, text).expect("write");
            paths.push(path);
        }
        paths.push(dir.path().join("missing.json"));
        let mut seen = Vec::new();
        let stats = fold_shards(&paths, 3, |_| {}, |record| seen.push(record.hotkey.to_string()));
        let expected: Vec<String> = (0..40).filter(|i| *i != 7).map(|i| format!("h{i}")).collect();
        assert_eq!(seen, expected);
        assert_eq!((stats.shards, stats.shards_skipped, stats.records, stats.invalid_records), (39, 2, 39, 39));
    }
}
