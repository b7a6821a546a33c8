//! The compact cache file: one shard's scorer fields, columnar, versioned and checksummed.
//!
//! ```text
//! magic "AFCSHARD" | version u32 | flags u32 (bit 0: the shard was rejected)
//! source: content xxh3-64 u64 | length u64 | etag (u16 length + bytes) | stat (u8 flag [+ 6 x i64])
//! rejected: reason (u16 length + bytes)
//! else: invalid u64
//!       strings: count u32 | text length u32 | ends [u32] | text
//!       miners:  count u32 | hotkey [u32] | model [u32] | revision [u32] | has block [u8] | block [i64]
//!       rows:    count u32 | miner [u32] | env [u32] | has task [u8] | task [i64] | score [f64] | timestamp [f64]
//! checksum: xxh3-64 of every byte before it
//! ```
//!
//! All integers are little-endian. A file that is short, has another magic or version, fails
//! its checksum or holds an index out of range is refused as a whole ([`FormatError`]).

use twox_hash::XxHash3_64;

use crate::model::compact::{CompactRow, CompactShard, MinerVersion, PartsError};

const MAGIC: &[u8; 8] = b"AFCSHARD";
/// The format version; a file of any other version is rebuilt.
pub const VERSION: u32 = 1;
const REJECTED: u32 = 1;

/// Identity of a shard file, to trust an entry without reading the shard again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Length in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch (cannot be set by tools like `touch`).
    pub ctime_ns: i64,
}

/// Where an entry's shard came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceKey {
    /// XXH3-64 of the shard's bytes.
    pub content_hash: u64,
    /// Length of the shard's bytes.
    pub len: u64,
    /// Entity tag of the store object, when read from a store.
    pub etag: Option<String>,
    /// Identity of the file, when read from a replay directory and old enough to trust.
    pub stat: Option<FileStat>,
}

/// A decoded cache file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Where the shard came from.
    pub source: SourceKey,
    /// The shard's records, or why the shard was rejected.
    pub shard: Result<CompactShard, String>,
}

/// Why a cache file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not a compact cache file.
    #[error("not a compact cache file")]
    Magic,
    /// Written by another format version.
    #[error("format version {0}, expected {VERSION}")]
    Version(u32),
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// Ends early or has bytes left over.
    #[error("truncated or oversized")]
    Length,
    /// Text that is not UTF-8.
    #[error("text is not UTF-8")]
    Text,
    /// An index out of range.
    #[error(transparent)]
    Parts(#[from] PartsError),
}

/// The checksum and content hash function.
#[must_use]
pub fn hash(bytes: &[u8]) -> u64 {
    XxHash3_64::oneshot(bytes)
}

fn put_u32(out: &mut Vec<u8>, value: usize) {
    out.extend_from_slice(&u32::try_from(value).expect("shard counts fit u32 (shards are capped in size)").to_le_bytes());
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    let cut = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&u16::try_from(cut.len()).expect("cut to u16").to_le_bytes());
    out.extend_from_slice(cut);
}

/// Encodes an entry.
#[must_use]
pub fn encode(entry: &Entry) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(entry.shard.as_ref().map_or(64, |s| 64 + s.text().len() + s.rows().len() * 33 + s.miners().len() * 21));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(if entry.shard.is_err() { REJECTED } else { 0 }).to_le_bytes());
    let source = &entry.source;
    out.extend_from_slice(&source.content_hash.to_le_bytes());
    out.extend_from_slice(&source.len.to_le_bytes());
    put_text(&mut out, source.etag.as_deref().unwrap_or(""));
    match source.stat {
        None => out.push(0),
        Some(stat) => {
            out.push(1);
            for value in [stat.dev, stat.ino, stat.len] {
                out.extend_from_slice(&value.to_le_bytes());
            }
            for value in [stat.mtime_ns, stat.ctime_ns] {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
    }
    match &entry.shard {
        Err(reason) => put_text(&mut out, reason),
        Ok(shard) => {
            out.extend_from_slice(&shard.invalid().to_le_bytes());
            put_u32(&mut out, shard.string_count());
            put_u32(&mut out, shard.text().len());
            for &(_, end) in shard.spans() {
                out.extend_from_slice(&end.to_le_bytes());
            }
            out.extend_from_slice(shard.text().as_bytes());
            let miners = shard.miners();
            put_u32(&mut out, miners.len());
            for column in [|m: &MinerVersion| m.hotkey, |m: &MinerVersion| m.model, |m: &MinerVersion| m.revision] {
                for miner in miners {
                    out.extend_from_slice(&column(miner).to_le_bytes());
                }
            }
            out.extend(miners.iter().map(|m| u8::from(m.block.is_some())));
            for miner in miners {
                out.extend_from_slice(&miner.block.unwrap_or(0).to_le_bytes());
            }
            let rows = shard.rows();
            put_u32(&mut out, rows.len());
            for row in rows {
                out.extend_from_slice(&row.miner.to_le_bytes());
            }
            for row in rows {
                out.extend_from_slice(&row.env.to_le_bytes());
            }
            out.extend(rows.iter().map(|r| u8::from(r.task_id.is_some())));
            for row in rows {
                out.extend_from_slice(&row.task_id.unwrap_or(0).to_le_bytes());
            }
            for row in rows {
                out.extend_from_slice(&row.score.to_le_bytes());
            }
            for row in rows {
                out.extend_from_slice(&row.timestamp.to_le_bytes());
            }
        }
    }
    let checksum = hash(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], FormatError> {
        if count > self.bytes.len() {
            return Err(FormatError::Length);
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, FormatError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        self.array().map(u32::from_le_bytes)
    }

    fn count(&mut self) -> Result<usize, FormatError> {
        self.u32().map(|n| n as usize)
    }

    fn u64(&mut self) -> Result<u64, FormatError> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, FormatError> {
        self.array().map(i64::from_le_bytes)
    }

    fn text(&mut self) -> Result<&'a str, FormatError> {
        let len = usize::from(self.u16()?);
        std::str::from_utf8(self.take(len)?).map_err(|_| FormatError::Text)
    }

    /// The bytes of `count` values of `N` bytes; the length is checked first, so a damaged
    /// count cannot make a decoder allocate more than the file holds.
    fn column<const N: usize>(&mut self, count: usize) -> Result<Column<'a, N>, FormatError> {
        Ok(Column(self.take(count.checked_mul(N).ok_or(FormatError::Length)?)?))
    }
}

/// A column of fixed-size little-endian values, read in place.
#[derive(Clone, Copy)]
struct Column<'a, const N: usize>(&'a [u8]);

impl<const N: usize> Column<'_, N> {
    fn at(self, index: usize) -> [u8; N] {
        self.0[index * N..index * N + N].try_into().expect("N bytes")
    }
}

/// Decodes a cache file, checking magic, version, checksum and every index.
///
/// # Errors
/// See [`FormatError`].
pub fn decode(bytes: &[u8]) -> Result<Entry, FormatError> {
    if bytes.len() < MAGIC.len() + 4 + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(FormatError::Magic);
    }
    let (body, checksum) = bytes.split_at(bytes.len() - 8);
    let mut reader = Reader { bytes: &body[MAGIC.len()..] };
    let version = reader.u32()?;
    if version != VERSION {
        return Err(FormatError::Version(version));
    }
    if hash(body).to_le_bytes() != checksum {
        return Err(FormatError::Checksum);
    }
    let flags = reader.u32()?;
    let content_hash = reader.u64()?;
    let len = reader.u64()?;
    let etag = Some(reader.text()?).filter(|t| !t.is_empty()).map(str::to_owned);
    let stat = match reader.u8()? {
        0 => None,
        _ => {
            Some(FileStat { dev: reader.u64()?, ino: reader.u64()?, len: reader.u64()?, mtime_ns: reader.i64()?, ctime_ns: reader.i64()? })
        }
    };
    let source = SourceKey { content_hash, len, etag, stat };
    let shard = if flags & REJECTED != 0 {
        Err(reader.text()?.to_owned())
    } else {
        let invalid = reader.u64()?;
        let strings = reader.count()?;
        let text_len = reader.count()?;
        let string_ends = reader.column::<4>(strings)?;
        let text = std::str::from_utf8(reader.take(text_len)?).map_err(|_| FormatError::Text)?.to_owned();
        let spans = (0..strings)
            .scan(0_u32, |start, i| {
                let end = u32::from_le_bytes(string_ends.at(i));
                Some((std::mem::replace(start, end), end))
            })
            .collect();
        let miner_count = reader.count()?;
        let (hotkeys, models, revisions) =
            (reader.column::<4>(miner_count)?, reader.column::<4>(miner_count)?, reader.column::<4>(miner_count)?);
        let (has_block, blocks) = (reader.column::<1>(miner_count)?, reader.column::<8>(miner_count)?);
        let miners = (0..miner_count)
            .map(|i| MinerVersion {
                hotkey: u32::from_le_bytes(hotkeys.at(i)),
                model: u32::from_le_bytes(models.at(i)),
                revision: u32::from_le_bytes(revisions.at(i)),
                block: (has_block.at(i) != [0]).then(|| i64::from_le_bytes(blocks.at(i))),
            })
            .collect();
        let row_count = reader.count()?;
        let (miner_of, env_ids) = (reader.column::<4>(row_count)?, reader.column::<4>(row_count)?);
        let (has_task, tasks) = (reader.column::<1>(row_count)?, reader.column::<8>(row_count)?);
        let (scores, timestamps) = (reader.column::<8>(row_count)?, reader.column::<8>(row_count)?);
        let rows = (0..row_count)
            .map(|i| CompactRow {
                miner: u32::from_le_bytes(miner_of.at(i)),
                env: u32::from_le_bytes(env_ids.at(i)),
                score: f64::from_le_bytes(scores.at(i)),
                task_id: (has_task.at(i) != [0]).then(|| i64::from_le_bytes(tasks.at(i))),
                timestamp: f64::from_le_bytes(timestamps.at(i)),
            })
            .collect();
        Ok(CompactShard::from_parts(text, spans, miners, rows, invalid)?)
    };
    if !reader.bytes.is_empty() {
        return Err(FormatError::Length);
    }
    Ok(Entry { source, shard })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scan::parse_shard;

    fn sample() -> Entry {
        let shard = parse_shard(
            br#"[{"miner":{"hotkey":"h1","model":"u/affine","revision":"r","block":7},"env":"affine:sat","score":1,"task_id":3,"timestamp":2.5},
                 {"miner":{"hotkey":"h2"},"env":"affine:abd","score":-0.5}, 7]"#,
        )
        .expect("valid");
        let stat = FileStat { dev: 1, ino: 2, len: 3, mtime_ns: -4, ctime_ns: 5 };
        Entry { source: SourceKey { content_hash: 9, len: 10, etag: Some("\"e\"".into()), stat: Some(stat) }, shard: Ok(shard) }
    }

    #[test]
    fn entries_round_trip_records_and_rejections() {
        let entry = sample();
        assert_eq!(decode(&encode(&entry)), Ok(entry));
        let rejected = Entry { source: SourceKey::default(), shard: Err("not a JSON array at byte 0".into()) };
        assert_eq!(decode(&encode(&rejected)), Ok(rejected));
    }

    #[test]
    fn damaged_files_are_refused_never_trusted() {
        let bytes = encode(&sample());
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Err(FormatError::Checksum));
        assert_eq!(decode(b"garbage"), Err(FormatError::Magic));
        for index in [12, 20, 40, bytes.len() / 2, bytes.len() - 9] {
            let mut flipped = bytes.clone();
            flipped[index] ^= 0x40;
            assert_eq!(decode(&flipped), Err(FormatError::Checksum), "byte {index}");
        }
        let mut other_version = bytes.clone();
        other_version[8] = 2;
        assert_eq!(decode(&other_version), Err(FormatError::Version(2)));
        // A consistent checksum over inconsistent contents is still refused.
        let mut forged = bytes[..bytes.len() - 8].to_vec();
        let last = forged.len() - 1;
        forged.truncate(last);
        let checksum = hash(&forged);
        forged.extend_from_slice(&checksum.to_le_bytes());
        assert_eq!(decode(&forged), Err(FormatError::Length));
    }
}
