//! The durable spool: every result the runner keeps is committed here (an embedded, crash-safe
//! database, fsynced on every commit) before it counts as done, and leaves only once the store
//! has confirmed it.
//!
//! A row is *pending* (unsigned, as evaluated) until the uploader signs it and picks its shard;
//! it is then *prepared* (signed, with its shard key) before anything is written to the store,
//! so a restart after a crash writes exactly the same record to the same shard (the store's
//! writer skips records it already holds) instead of signing it again into another window.
//! The same database keeps the runner's small persistent state (pauses, missed task ids).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _, TableDefinition};

const ROWS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("results");
/// Rows bound to their shard, moved here from `ROWS` (so they are found without a scan).
const BOUND: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("prepared");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

const PENDING: u8 = 0;
const PREPARED: u8 = 1;

/// A spool failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be opened or created.
    #[error("cannot open the spool {path}: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A read or commit failed.
    #[error("spool {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A row does not decode (written by another build, or damaged).
    #[error("spool {path}: row {id} is damaged")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The row.
        id: u64,
    },
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(matches!(self, Self::Open { .. }))
    }

    fn hint(&self) -> Option<&'static str> {
        matches!(self, Self::Open { .. }).then_some("check --spool / AF_SPOOL: its folder must be writable and no other runner may hold it")
    }
}

/// A spooled row.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// Evaluated, not signed: the record's JSON and when it was spooled (Unix seconds).
    Pending {
        /// The row id (ascending in spool order).
        id: u64,
        /// Unix seconds.
        spooled_at: f64,
        /// The unsigned record, JSON.
        record: Vec<u8>,
    },
    /// Signed and bound to a shard, possibly already in the store.
    Prepared {
        /// The row id.
        id: u64,
        /// The shard key it goes to.
        key: String,
        /// The signed record, JSON.
        record: Vec<u8>,
    },
}

impl Row {
    /// The row id.
    #[must_use]
    pub fn id(&self) -> u64 {
        match self {
            Self::Pending { id, .. } | Self::Prepared { id, .. } => *id,
        }
    }
}

/// How full the spool is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpoolStats {
    /// Rows held.
    pub rows: u64,
    /// Bytes of the records held.
    pub bytes: u64,
}

/// The spool; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    db: Arc<Database>,
    path: PathBuf,
    next_id: Arc<AtomicU64>,
    rows: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("path", &self.path).field("rows", &self.rows.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

fn encode_pending(spooled_at: f64, record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + record.len());
    out.push(PENDING);
    out.extend_from_slice(&spooled_at.to_le_bytes());
    out.extend_from_slice(record);
    out
}

fn encode_prepared(key: &str, record: &[u8]) -> Vec<u8> {
    let key_len = u16::try_from(key.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(3 + key.len() + record.len());
    out.push(PREPARED);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&key.as_bytes()[..usize::from(key_len)]);
    out.extend_from_slice(record);
    out
}

fn decode(id: u64, bytes: &[u8]) -> Option<Row> {
    match *bytes.first()? {
        PENDING => {
            let spooled_at = f64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?);
            Some(Row::Pending { id, spooled_at, record: bytes.get(9..)?.to_vec() })
        }
        PREPARED => {
            let key_len = usize::from(u16::from_le_bytes(bytes.get(1..3)?.try_into().ok()?));
            let key = std::str::from_utf8(bytes.get(3..3 + key_len)?).ok()?.to_owned();
            Some(Row::Prepared { id, key, record: bytes.get(3 + key_len..)?.to_vec() })
        }
        _ => None,
    }
}

impl Spool {
    /// Opens (or creates) the spool at `path`, creating its folder.
    ///
    /// # Errors
    /// [`Error::Open`] when the folder cannot be made or the file is not a spool (or is held
    /// by another process).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let open = |reason: String| Error::Open { path: path.to_path_buf(), reason };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open(e.to_string()))?;
        }
        // A process of a runner that was just killed (a child between fork and exec) can hold
        // the lock for a moment; wait for it rather than refuse to start.
        let mut attempts = 0;
        let db = loop {
            match Database::create(path) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    return Err(open("another process holds it (is another runner using the same --spool?)".to_owned()));
                }
                Err(error) => return Err(open(error.to_string())),
            }
        };
        let spool = Self {
            db: Arc::new(db),
            path: path.to_path_buf(),
            next_id: Arc::new(AtomicU64::new(0)),
            rows: Arc::new(AtomicU64::new(0)),
            bytes: Arc::new(AtomicU64::new(0)),
        };
        // Create the tables, then count what a previous run left.
        let txn = spool.db.begin_write().map_err(|e| open(e.to_string()))?;
        {
            txn.open_table(ROWS).map_err(|e| open(e.to_string()))?;
            txn.open_table(BOUND).map_err(|e| open(e.to_string()))?;
            txn.open_table(META).map_err(|e| open(e.to_string()))?;
        }
        txn.commit().map_err(|e| open(e.to_string()))?;
        let read = spool.db.begin_read().map_err(|e| open(e.to_string()))?;
        let (mut rows, mut bytes, mut last) = (0, 0, None::<u64>);
        for definition in [ROWS, BOUND] {
            let table = read.open_table(definition).map_err(|e| open(e.to_string()))?;
            for entry in table.iter().map_err(|e| open(e.to_string()))? {
                let (id, value) = entry.map_err(|e| open(e.to_string()))?;
                rows += 1;
                bytes += value.value().len() as u64;
                last = Some(last.map_or(id.value(), |l| l.max(id.value())));
            }
        }
        spool.rows.store(rows, Ordering::Relaxed);
        spool.bytes.store(bytes, Ordering::Relaxed);
        spool.next_id.store(last.map_or(0, |id| id + 1), Ordering::Relaxed);
        Ok(spool)
    }

    fn io(&self, error: impl std::fmt::Display) -> Error {
        Error::Io { path: self.path.clone(), reason: error.to_string() }
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows and bytes held now.
    #[must_use]
    pub fn stats(&self) -> SpoolStats {
        SpoolStats { rows: self.rows.load(Ordering::Relaxed), bytes: self.bytes.load(Ordering::Relaxed) }
    }

    /// Commits `records` (unsigned record JSON) as pending rows in one transaction; returns
    /// their ids. Blocking: call from a blocking thread.
    ///
    /// # Errors
    /// The commit failed: nothing of the batch is in the spool.
    pub fn append(&self, records: &[Vec<u8>], spooled_at: f64) -> Result<Vec<u64>, Error> {
        let txn = self.db.begin_write().map_err(|e| self.io(e))?;
        let first = self.next_id.load(Ordering::Relaxed);
        let mut bytes = 0;
        {
            let mut table = txn.open_table(ROWS).map_err(|e| self.io(e))?;
            for (id, record) in (first..).zip(records) {
                let value = encode_pending(spooled_at, record);
                bytes += value.len() as u64;
                table.insert(id, value.as_slice()).map_err(|e| self.io(e))?;
            }
        }
        txn.commit().map_err(|e| self.io(e))?;
        let count = records.len() as u64;
        self.next_id.store(first + count, Ordering::Relaxed);
        self.rows.fetch_add(count, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok((first..first + count).collect())
    }

    /// Every prepared row, then up to `limit` pending rows from the oldest.
    ///
    /// # Errors
    /// A read failed or a row is damaged.
    pub fn oldest(&self, limit: usize) -> Result<Vec<Row>, Error> {
        let read = self.db.begin_read().map_err(|e| self.io(e))?;
        let mut rows = Vec::new();
        for (definition, cap) in [(BOUND, usize::MAX), (ROWS, limit)] {
            let table = read.open_table(definition).map_err(|e| self.io(e))?;
            for entry in table.iter().map_err(|e| self.io(e))?.take(cap) {
                let (id, value) = entry.map_err(|e| self.io(e))?;
                let id = id.value();
                rows.push(decode(id, value.value()).ok_or_else(|| Error::Damaged { path: self.path.clone(), id })?);
            }
        }
        Ok(rows)
    }

    /// When the oldest row was spooled (Unix seconds), if any row is pending.
    ///
    /// # Errors
    /// A read failed.
    pub fn oldest_spooled_at(&self) -> Result<Option<f64>, Error> {
        let read = self.db.begin_read().map_err(|e| self.io(e))?;
        if read.open_table(BOUND).map_err(|e| self.io(e))?.len().map_err(|e| self.io(e))? > 0 {
            return Ok(Some(0.0));
        }
        let table = read.open_table(ROWS).map_err(|e| self.io(e))?;
        let Some(entry) = table.iter().map_err(|e| self.io(e))?.next() else { return Ok(None) };
        let (id, value) = entry.map_err(|e| self.io(e))?;
        match decode(id.value(), value.value()) {
            Some(Row::Pending { spooled_at, .. }) => Ok(Some(spooled_at)),
            Some(Row::Prepared { .. }) => Ok(Some(0.0)),
            None => Err(Error::Damaged { path: self.path.clone(), id: id.value() }),
        }
    }

    /// Binds rows to their shard with their signed records, in one transaction.
    ///
    /// # Errors
    /// The commit failed: the rows stay pending.
    pub fn prepare(&self, rows: &[(u64, String, Vec<u8>)]) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(|e| self.io(e))?;
        let mut delta: i64 = 0;
        {
            let mut pending = txn.open_table(ROWS).map_err(|e| self.io(e))?;
            let mut bound = txn.open_table(BOUND).map_err(|e| self.io(e))?;
            for (id, key, record) in rows {
                let value = encode_prepared(key, record);
                let old_len = pending.remove(*id).map_err(|e| self.io(e))?.map_or(0, |v| v.value().len());
                bound.insert(*id, value.as_slice()).map_err(|e| self.io(e))?;
                delta += i64::try_from(value.len()).unwrap_or(0) - i64::try_from(old_len).unwrap_or(0);
            }
        }
        txn.commit().map_err(|e| self.io(e))?;
        if delta >= 0 {
            self.bytes.fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
        } else {
            self.bytes.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Removes rows the store has confirmed, in one transaction.
    ///
    /// # Errors
    /// The commit failed: the rows stay (and are written again, harmlessly, next time).
    pub fn remove(&self, ids: &[u64]) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(|e| self.io(e))?;
        let (mut rows, mut bytes) = (0, 0);
        for definition in [ROWS, BOUND] {
            let mut table = txn.open_table(definition).map_err(|e| self.io(e))?;
            for id in ids {
                if let Some(old) = table.remove(*id).map_err(|e| self.io(e))? {
                    rows += 1;
                    bytes += old.value().len() as u64;
                }
            }
        }
        txn.commit().map_err(|e| self.io(e))?;
        self.rows.fetch_sub(rows, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Every row id held (for tests and diagnostics).
    ///
    /// # Errors
    /// A read failed.
    pub fn ids(&self) -> Result<Vec<u64>, Error> {
        let read = self.db.begin_read().map_err(|e| self.io(e))?;
        let mut ids = Vec::new();
        for definition in [ROWS, BOUND] {
            let table = read.open_table(definition).map_err(|e| self.io(e))?;
            for entry in table.iter().map_err(|e| self.io(e))? {
                ids.push(entry.map_err(|e| self.io(e))?.0.value());
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Stores a small named value (pauses, missed ids) in one transaction.
    ///
    /// # Errors
    /// The commit failed.
    pub fn put_meta(&self, name: &str, value: &[u8]) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(META).map_err(|e| self.io(e))?;
            table.insert(name, value).map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// Reads a named value.
    ///
    /// # Errors
    /// A read failed.
    pub fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let read = self.db.begin_read().map_err(|e| self.io(e))?;
        let table = read.open_table(META).map_err(|e| self.io(e))?;
        Ok(table.get(name).map_err(|e| self.io(e))?.map(|v| v.value().to_vec()))
    }

    /// How many rows the table holds according to the database (a check of the counters).
    ///
    /// # Errors
    /// A read failed.
    pub fn count(&self) -> Result<u64, Error> {
        let read = self.db.begin_read().map_err(|e| self.io(e))?;
        let pending = read.open_table(ROWS).map_err(|e| self.io(e))?.len().map_err(|e| self.io(e))?;
        let bound = read.open_table(BOUND).map_err(|e| self.io(e))?.len().map_err(|e| self.io(e))?;
        Ok(pending + bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_go_pending_prepared_removed_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("spool.redb");
        let spool = Spool::open(&path).expect("open");
        let ids = spool.append(&[b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec(), b"{\"a\":3}".to_vec()], 10.5).expect("append");
        assert_eq!(ids, [0, 1, 2]);
        assert_eq!(spool.stats().rows, 3);
        assert_eq!(spool.oldest_spooled_at().expect("oldest"), Some(10.5));
        spool.prepare(&[(1, "affine/results/000000020-h.json".into(), b"{\"a\":2,\"s\":1}".to_vec())]).expect("prepare");
        let rows = spool.oldest(1).expect("oldest");
        assert!(matches!(&rows[0], Row::Prepared { id: 1, key, .. } if key.ends_with("-h.json")), "{rows:?}");
        assert_eq!(rows.iter().map(Row::id).collect::<Vec<_>>(), [1, 0]);
        drop(spool);
        let reopened = Spool::open(&path).expect("reopen");
        assert_eq!(reopened.stats().rows, 3);
        assert_eq!(reopened.append(&[b"{}".to_vec()], 11.0).expect("append"), [3], "ids keep increasing");
        reopened.remove(&[0, 1, 2, 3]).expect("remove");
        assert_eq!((reopened.stats().rows, reopened.stats().bytes, reopened.count().expect("count")), (0, 0, 0));
        reopened.put_meta("pauses", b"[]").expect("meta");
        assert_eq!(reopened.get_meta("pauses").expect("meta").as_deref(), Some(&b"[]"[..]));
    }

    #[test]
    fn a_file_that_is_not_a_spool_is_an_open_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("spool.redb");
        std::fs::write(&path, b"definitely not a database file, but long enough to look at").expect("write");
        let error = Spool::open(&path).expect_err("not a spool");
        assert!(matches!(error, Error::Open { .. }), "{error}");
    }
}
