//! [`CompactShard`]: the scorer's fields of every record of one shard, with the strings
//! (hotkeys, models, revisions, environments) stored once per shard.
//!
//! A shard is parsed into this form once ([`super::scan`]); the aggregator folds it, and the
//! store's compact cache writes it to disk so later passes skip the JSON. Records keep their
//! array order; elements that were not usable records are only counted, so a shard of junk
//! costs a counter, not memory.

use std::borrow::Cow;
use std::collections::HashMap;

use super::CompactRecord;

/// A string id meaning "absent" (`None`).
pub const NO_STRING: u32 = u32::MAX;

/// One distinct `(hotkey, model, revision, block)` of a shard; the strings are ids into the
/// shard's string table ([`NO_STRING`] for an absent model or revision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MinerVersion {
    /// `miner.hotkey` (the empty string when absent).
    pub hotkey: u32,
    /// `miner.model`.
    pub model: u32,
    /// `miner.revision`.
    pub revision: u32,
    /// `miner.block`, truncated to an integer.
    pub block: Option<i64>,
}

/// The per-record fields of a [`CompactShard`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactRow {
    /// Index into [`CompactShard::miners`].
    pub miner: u32,
    /// String id of `env`.
    pub env: u32,
    /// `score`.
    pub score: f64,
    /// The task id when it is an integer.
    pub task_id: Option<i64>,
    /// `timestamp`.
    pub timestamp: f64,
}

/// Why [`CompactShard::from_parts`] refused its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PartsError {
    /// A string span lies outside the text or splits a character.
    #[error("string span outside the text")]
    Span,
    /// A string id is out of range.
    #[error("string id out of range")]
    StringId,
    /// A miner index is out of range.
    #[error("miner index out of range")]
    MinerIndex,
}

/// The usable records of one shard in array order, plus the count of elements that were not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactShard {
    text: String,
    spans: Vec<(u32, u32)>,
    miners: Vec<MinerVersion>,
    rows: Vec<CompactRow>,
    invalid: u64,
}

impl CompactShard {
    /// Assembles a shard from decoded parts, checking every index, so a damaged cache file can
    /// never make an accessor panic.
    ///
    /// # Errors
    /// A span outside `text` or not on character boundaries, or an id out of range.
    pub fn from_parts(
        text: String,
        spans: Vec<(u32, u32)>,
        miners: Vec<MinerVersion>,
        rows: Vec<CompactRow>,
        invalid: u64,
    ) -> Result<Self, PartsError> {
        for &(start, end) in &spans {
            let (start, end) = (start as usize, end as usize);
            if start > end || text.get(start..end).is_none() {
                return Err(PartsError::Span);
            }
        }
        let strings = u32::try_from(spans.len()).map_err(|_| PartsError::StringId)?;
        let known = |id: u32| id < strings;
        let optional = |id: u32| id == NO_STRING || id < strings;
        if !miners.iter().all(|m| known(m.hotkey) && optional(m.model) && optional(m.revision)) {
            return Err(PartsError::StringId);
        }
        if !rows.iter().all(|row| known(row.env)) {
            return Err(PartsError::StringId);
        }
        let miner_count = u32::try_from(miners.len()).map_err(|_| PartsError::MinerIndex)?;
        if !rows.iter().all(|row| row.miner < miner_count) {
            return Err(PartsError::MinerIndex);
        }
        Ok(Self { text, spans, miners, rows, invalid })
    }

    /// String `id` of the table (`None` for [`NO_STRING`]).
    #[must_use]
    pub fn string(&self, id: u32) -> Option<&str> {
        let &(start, end) = self.spans.get(id as usize)?;
        Some(&self.text[start as usize..end as usize])
    }

    /// Number of strings in the table.
    #[must_use]
    pub fn string_count(&self) -> usize {
        self.spans.len()
    }

    /// The text all strings are slices of.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `(start, end)` byte offsets of each string in [`Self::text`].
    #[must_use]
    pub fn spans(&self) -> &[(u32, u32)] {
        &self.spans
    }

    /// The distinct miner versions.
    #[must_use]
    pub fn miners(&self) -> &[MinerVersion] {
        &self.miners
    }

    /// The usable records, in array order.
    #[must_use]
    pub fn rows(&self) -> &[CompactRow] {
        &self.rows
    }

    /// Array elements that were not usable records.
    #[must_use]
    pub fn invalid(&self) -> u64 {
        self.invalid
    }

    /// The usable records as [`CompactRecord`]s, in array order.
    pub fn records(&self) -> impl Iterator<Item = CompactRecord<'_>> {
        self.rows.iter().map(|row| {
            let miner = &self.miners[row.miner as usize];
            CompactRecord {
                hotkey: Cow::Borrowed(self.string(miner.hotkey).unwrap_or_default()),
                model: self.string(miner.model).map(Cow::Borrowed),
                revision: self.string(miner.revision).map(Cow::Borrowed),
                block: miner.block,
                env: Cow::Borrowed(self.string(row.env).unwrap_or_default()),
                score: row.score,
                task_id: row.task_id,
                timestamp: row.timestamp,
            }
        })
    }
}

/// Builds a [`CompactShard`] record by record, interning strings and miner versions.
#[derive(Debug, Default)]
pub struct CompactShardBuilder<'a> {
    strings: HashMap<Cow<'a, str>, u32, foldhash::fast::RandomState>,
    miners: HashMap<MinerVersion, u32, foldhash::fast::RandomState>,
    shard: CompactShard,
}

impl<'a> CompactShardBuilder<'a> {
    /// An empty builder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, text: Cow<'a, str>) -> u32 {
        if let Some(&id) = self.strings.get(text.as_ref()) {
            return id;
        }
        let id = u32::try_from(self.shard.spans.len()).expect("a shard of at most 4 GiB has fewer than 2^32 strings");
        let start = u32::try_from(self.shard.text.len()).expect("shard text fits u32 offsets");
        self.shard.text.push_str(&text);
        let end = u32::try_from(self.shard.text.len()).expect("shard text fits u32 offsets");
        self.shard.spans.push((start, end));
        self.strings.insert(text, id);
        id
    }

    /// Appends a usable record.
    pub fn push(&mut self, record: CompactRecord<'a>) {
        let hotkey = self.intern(record.hotkey);
        let model = record.model.map_or(NO_STRING, |m| self.intern(m));
        let revision = record.revision.map_or(NO_STRING, |r| self.intern(r));
        let env = self.intern(record.env);
        let version = MinerVersion { hotkey, model, revision, block: record.block };
        let next = u32::try_from(self.shard.miners.len()).expect("fewer than 2^32 miners");
        let miner = *self.miners.entry(version).or_insert(next);
        if miner == next {
            self.shard.miners.push(version);
        }
        self.shard.rows.push(CompactRow { miner, env, score: record.score, task_id: record.task_id, timestamp: record.timestamp });
    }

    /// Counts an element that was not a usable record.
    pub fn push_invalid(&mut self) {
        self.shard.invalid += 1;
    }

    /// The shard.
    #[must_use]
    pub fn finish(self) -> CompactShard {
        self.shard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(hotkey: &'a str, model: Option<&'a str>, env: &'a str, task: Option<i64>) -> CompactRecord<'a> {
        CompactRecord {
            hotkey: hotkey.into(),
            model: model.map(Cow::Borrowed),
            revision: Some("r".into()),
            block: Some(5),
            env: env.into(),
            score: 0.5,
            task_id: task,
            timestamp: 2.0,
        }
    }

    #[test]
    fn builder_interns_strings_and_versions_and_round_trips_records() {
        let input = vec![
            record("h1", Some("m"), "affine:sat", Some(1)),
            record("h2", None, "affine:sat", None),
            record("h1", Some("m"), "affine:abd", Some(2)),
        ];
        let mut builder = CompactShardBuilder::new();
        for r in input.clone() {
            builder.push(r);
        }
        builder.push_invalid();
        let shard = builder.finish();
        assert_eq!(shard.miners().len(), 2);
        assert_eq!(shard.string_count(), 6, "h1 m r affine:sat h2 affine:abd");
        assert_eq!(shard.invalid(), 1);
        assert_eq!(shard.records().collect::<Vec<_>>(), input);
        let again = CompactShard::from_parts(
            shard.text().to_owned(),
            shard.spans().to_vec(),
            shard.miners().to_vec(),
            shard.rows().to_vec(),
            shard.invalid(),
        )
        .expect("valid parts");
        assert_eq!(again, shard);
    }

    #[test]
    fn from_parts_refuses_out_of_range_indices_and_split_characters() {
        let miner = MinerVersion { hotkey: 0, model: NO_STRING, revision: NO_STRING, block: None };
        let row = CompactRow { miner: 0, env: 0, score: 0.0, task_id: None, timestamp: 0.0 };
        let parts = |spans: Vec<(u32, u32)>, miner: MinerVersion, row: CompactRow| {
            CompactShard::from_parts("é".to_owned(), spans, vec![miner], vec![row], 0)
        };
        assert!(parts(vec![(0, 2)], miner, row).is_ok());
        assert_eq!(parts(vec![(0, 1)], miner, row), Err(PartsError::Span));
        assert_eq!(parts(vec![(0, 3)], miner, row), Err(PartsError::Span));
        assert_eq!(parts(vec![(0, 2)], MinerVersion { model: 1, ..miner }, row), Err(PartsError::StringId));
        assert_eq!(parts(vec![(0, 2)], miner, CompactRow { env: 1, ..row }), Err(PartsError::StringId));
        assert_eq!(parts(vec![(0, 2)], miner, CompactRow { miner: 1, ..row }), Err(PartsError::MinerIndex));
    }
}
