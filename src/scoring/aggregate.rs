//! Streaming aggregation of result records into per-miner, per-environment sample statistics.
//!
//! Records are pushed one at a time in the order the reference reads them (shards in ascending
//! key order, records in array order); memory is bounded by the number of distinct
//! (miner, environment, task id) triples, not by the number of records. The rules are the
//! reference's `process_sample_data`:
//!
//! 1. records of hotkeys outside the metagraph are ignored;
//! 2. models whose name (after `owner/`) does not start with `affine` are ignored, except uid 0's;
//! 3. a change of `(model, revision)` clears the miner's samples and restarts its first block;
//! 4. alfworld scores other than 0 and 1 are dropped; sciworld scores are normalised;
//! 5. task ids outside the environment's range are dropped;
//! 6. one sample per task id is kept, the one with the latest timestamp;
//! 7. environments with fewer than 400 task ids count every sample twice.
//!
//! Where the reference would crash (a record for an environment it does not know), the record
//! is ignored before it touches any state, and counted.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::environments::{ENVIRONMENTS, EnvSpec};
use crate::model::CompactRecord;
use crate::model::compact::CompactShard;
use crate::scoring::policy::ScoringPolicy;

/// Number of scored environments.
pub const ENV_COUNT: usize = ENVIRONMENTS.len();

/// Why records were not counted, for the summary and `-vv` logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestCounters {
    /// Records offered to the aggregator.
    pub records: u64,
    /// Records that became (or replaced) a sample.
    pub accepted: u64,
    /// Miner hotkey not in the metagraph.
    pub unknown_hotkey: u64,
    /// Environment not scored by this version.
    pub unknown_env: u64,
    /// Model name without the required prefix.
    pub model_filtered: u64,
    /// Alfworld score other than 0 or 1.
    pub invalid_score: u64,
    /// Task id missing, not an integer, or outside the environment's range.
    pub task_out_of_range: u64,
    /// An older evaluation of a task id already sampled with a later timestamp.
    pub superseded: u64,
}

/// The model a miner was last seen serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerIdentity {
    /// Hugging Face repository.
    pub model: Option<String>,
    /// Revision.
    pub revision: Option<String>,
}

/// Deduplicated statistics of one miner.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerStats {
    /// Metagraph uid.
    pub uid: u32,
    /// Order in which the miner's first counted record appeared (`None`: no records; inactive).
    pub active_rank: Option<u32>,
    /// Model and revision of the miner's latest record.
    pub identity: Option<MinerIdentity>,
    /// Earliest commitment block seen in the records of the current model version.
    pub first_block: Option<i64>,
    /// Deduplicated sample count per environment (doubled for small datasets).
    pub counts: [u32; ENV_COUNT],
    /// Sum of normalised scores per environment (doubled for small datasets).
    pub sums: [f64; ENV_COUNT],
}

impl MinerStats {
    /// Whether the miner has any record in the window (the reference's "active").
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.active_rank.is_some()
    }
}

/// Everything the scorer needs from the records of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleTable {
    /// Per uid, in metagraph order.
    pub miners: Vec<MinerStats>,
    /// What happened to the records.
    pub counters: IngestCounters,
}

/// Samples of one (miner, environment): one slot per task id, in first-seen order.
#[derive(Debug, Default)]
struct TaskSamples {
    /// Index into `samples` for each task id offset, `u32::MAX` when unseen.
    slot_of_task: Vec<u32>,
    /// `(normalised score, timestamp)` in first-seen order of the task id.
    samples: Vec<(f64, f64)>,
}

impl TaskSamples {
    fn clear(&mut self) {
        self.slot_of_task.clear();
        self.samples.clear();
    }

    /// Keeps the sample with the latest timestamp; returns whether `score` was kept.
    fn offer(&mut self, offset: usize, dataset_size: usize, score: f64, timestamp: f64) -> bool {
        if self.slot_of_task.is_empty() {
            self.slot_of_task.resize(dataset_size, u32::MAX);
        }
        let slot = self.slot_of_task[offset];
        if slot == u32::MAX {
            self.slot_of_task[offset] = u32::try_from(self.samples.len()).expect("at most one slot per task id");
            self.samples.push((score, timestamp));
            return true;
        }
        let existing = &mut self.samples[slot as usize];
        if timestamp > existing.1 {
            *existing = (score, timestamp);
            return true;
        }
        false
    }
}

#[derive(Debug, Default)]
struct MinerAccumulator {
    version: Option<(Option<String>, Option<String>)>,
    first_block: Option<i64>,
    active_rank: Option<u32>,
    envs: [TaskSamples; ENV_COUNT],
}

/// Folds records into a [`SampleTable`].
#[derive(Debug)]
pub struct Aggregator<'p> {
    policy: &'p ScoringPolicy,
    uid_of_hotkey: HashMap<String, u32, FixedState>,
    miners: Vec<MinerAccumulator>,
    next_rank: u32,
    counters: IngestCounters,
    /// Environments whose scores must be exactly 0 or 1 (alfworld), by index.
    binary_scores: [bool; ENV_COUNT],
}

/// The reference's name rule: the part after `owner/` (or the whole name), lowercased, must
/// start with `prefix`; a missing model reads as `"none"`.
fn model_name_allowed(model: Option<&str>, prefix: &str) -> bool {
    let model = model.unwrap_or("None");
    let name = model.split_once('/').map_or(model, |(_, name)| name);
    // When the first bytes are ASCII they are the first characters, and lowercasing them is
    // ASCII lowercasing: the common case, without the Unicode walk.
    if let Some(head) = name.as_bytes().get(..prefix.len())
        && head.is_ascii()
    {
        return head.iter().zip(prefix.bytes()).all(|(byte, expected)| byte.to_ascii_lowercase() == expected);
    }
    let mut lowered = name.chars().flat_map(char::to_lowercase);
    prefix.chars().all(|expected| lowered.next() == Some(expected))
}

/// A record with its hotkey, environment and model rule already looked up.
struct Resolved<'r> {
    uid: Option<u32>,
    env: Option<usize>,
    model_allowed: bool,
    model: Option<&'r str>,
    revision: Option<&'r str>,
    block: Option<i64>,
    score: f64,
    task_id: Option<i64>,
    timestamp: f64,
}

/// What a shard's miner version resolves to.
struct ResolvedVersion<'s> {
    uid: Option<u32>,
    model_allowed: bool,
    model: Option<&'s str>,
    revision: Option<&'s str>,
}

/// Marks an environment string not looked up yet.
const ENV_UNRESOLVED: u8 = u8::MAX;
/// Marks an environment string this version does not score.
const ENV_UNKNOWN: u8 = u8::MAX - 1;

impl<'p> Aggregator<'p> {
    /// An aggregator for a metagraph whose uid `i` has hotkey `hotkeys[i]`.
    #[must_use]
    pub fn new(policy: &'p ScoringPolicy, hotkeys: &[String]) -> Self {
        let mut uid_of_hotkey = HashMap::with_capacity_and_hasher(hotkeys.len(), FixedState::default());
        for (uid, hotkey) in hotkeys.iter().enumerate() {
            let uid = u32::try_from(uid).expect("a metagraph has fewer than 2^32 uids");
            uid_of_hotkey.entry(hotkey.clone()).or_insert(uid);
        }
        let miners = hotkeys.iter().map(|_| MinerAccumulator::default()).collect();
        let binary_scores = std::array::from_fn(|env| ENVIRONMENTS[env].id.contains("alfworld"));
        Self { policy, uid_of_hotkey, miners, next_rank: 0, counters: IngestCounters::default(), binary_scores }
    }

    /// Counts one record, applying the reference's filters in the reference's order.
    pub fn push(&mut self, record: &CompactRecord<'_>) {
        let model = record.model.as_deref();
        self.push_resolved(&Resolved {
            uid: self.uid_of_hotkey.get(record.hotkey.as_ref()).copied(),
            env: ENVIRONMENTS.iter().position(|spec| spec.id == record.env),
            model_allowed: model_name_allowed(model, self.policy.model_name_prefix),
            model,
            revision: record.revision.as_deref(),
            block: record.block,
            score: record.score,
            task_id: record.task_id,
            timestamp: record.timestamp,
        });
    }

    /// Counts every record of a shard in order; the same as [`Self::push`] on each of
    /// [`CompactShard::records`], with hotkeys, models and environments looked up once per
    /// shard instead of once per record.
    pub fn push_shard(&mut self, shard: &CompactShard) {
        let prefix = self.policy.model_name_prefix;
        let versions: Vec<ResolvedVersion<'_>> = shard
            .miners()
            .iter()
            .map(|version| {
                let model = shard.string(version.model);
                ResolvedVersion {
                    uid: shard.string(version.hotkey).and_then(|hotkey| self.uid_of_hotkey.get(hotkey).copied()),
                    model_allowed: model_name_allowed(model, prefix),
                    model,
                    revision: shard.string(version.revision),
                }
            })
            .collect();
        let mut envs = vec![ENV_UNRESOLVED; shard.string_count()];
        for row in shard.rows() {
            let miner = &shard.miners()[row.miner as usize];
            let version = &versions[row.miner as usize];
            let env = &mut envs[row.env as usize];
            if *env == ENV_UNRESOLVED {
                let index = shard.string(row.env).and_then(|id| ENVIRONMENTS.iter().position(|spec| spec.id == id));
                *env = index.map_or(ENV_UNKNOWN, |i| u8::try_from(i).expect("fewer than 254 environments"));
            }
            self.push_resolved(&Resolved {
                uid: version.uid,
                env: (*env != ENV_UNKNOWN).then_some(usize::from(*env)),
                model_allowed: version.model_allowed,
                model: version.model,
                revision: version.revision,
                block: miner.block,
                score: row.score,
                task_id: row.task_id,
                timestamp: row.timestamp,
            });
        }
    }

    fn push_resolved(&mut self, record: &Resolved<'_>) {
        self.counters.records += 1;
        let Some(uid) = record.uid else {
            self.counters.unknown_hotkey += 1;
            return;
        };
        let Some(env_index) = record.env else {
            self.counters.unknown_env += 1;
            return;
        };
        if uid != 0 && !record.model_allowed {
            self.counters.model_filtered += 1;
            return;
        }
        let miner = &mut self.miners[uid as usize];
        let same_version = miner
            .version
            .as_ref()
            .is_some_and(|(model, revision)| model.as_deref() == record.model && revision.as_deref() == record.revision);
        if same_version {
            miner.first_block = match (miner.first_block, record.block) {
                (Some(first), Some(block)) => Some(first.min(block)),
                (first, block) => first.or(block),
            };
        } else {
            miner.version = Some((record.model.map(str::to_owned), record.revision.map(str::to_owned)));
            miner.first_block = record.block;
            miner.envs.iter_mut().for_each(TaskSamples::clear);
        }
        if miner.active_rank.is_none() {
            miner.active_rank = Some(self.next_rank);
            self.next_rank += 1;
        }

        let spec: &EnvSpec = &ENVIRONMENTS[env_index];
        #[expect(clippy::float_cmp, reason = "the reference keeps alfworld scores that are exactly 0 or 1")]
        let invalid_alfworld = self.binary_scores[env_index] && record.score != 0.0 && record.score != 1.0;
        if invalid_alfworld {
            self.counters.invalid_score += 1;
            return;
        }
        let Some(offset) = record
            .task_id
            .and_then(|task| u64::try_from(task).ok())
            .filter(|&task| spec.contains_task(task))
            .map(|task| usize::try_from(task - spec.task_start).expect("dataset sizes fit usize"))
        else {
            self.counters.task_out_of_range += 1;
            return;
        };
        let dataset_size = usize::try_from(spec.dataset_size()).expect("dataset sizes fit usize");
        let normalised = spec.normalise_score(record.score);
        if miner.envs[env_index].offer(offset, dataset_size, normalised, record.timestamp) {
            self.counters.accepted += 1;
        } else {
            self.counters.superseded += 1;
        }
    }

    /// The deduplicated statistics of every metagraph uid.
    #[must_use]
    pub fn finish(self) -> SampleTable {
        let small_threshold = self.policy.small_dataset_threshold;
        let miners = self
            .miners
            .into_iter()
            .enumerate()
            .map(|(uid, miner)| {
                let mut counts = [0_u32; ENV_COUNT];
                let mut sums = [0.0_f64; ENV_COUNT];
                for (env_index, samples) in miner.envs.iter().enumerate() {
                    let repeats = if ENVIRONMENTS[env_index].dataset_size() < small_threshold { 2 } else { 1 };
                    let mut sum = 0.0;
                    // The reference sums the list, then the same list again for small datasets;
                    // keeping that order keeps the float sums bit-identical.
                    for _ in 0..repeats {
                        for (score, _) in &samples.samples {
                            sum += score;
                        }
                    }
                    counts[env_index] = u32::try_from(samples.samples.len() * repeats).expect("sample counts fit u32");
                    sums[env_index] = sum;
                }
                MinerStats {
                    uid: u32::try_from(uid).expect("uids fit u32"),
                    active_rank: miner.active_rank,
                    identity: miner.version.map(|(model, revision)| MinerIdentity { model, revision }),
                    first_block: miner.first_block,
                    counts,
                    sums,
                }
            })
            .collect();
        SampleTable { miners, counters: self.counters }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn record<'a>(hotkey: &'a str, model: &'a str, revision: &'a str, env: &'a str, task: i64, score: f64, ts: f64) -> CompactRecord<'a> {
        CompactRecord {
            hotkey: Cow::Borrowed(hotkey),
            model: Some(Cow::Borrowed(model)),
            revision: Some(Cow::Borrowed(revision)),
            block: Some(100),
            env: Cow::Borrowed(env),
            score,
            task_id: Some(task),
            timestamp: ts,
        }
    }

    fn hotkeys() -> Vec<String> {
        vec!["base".into(), "m1".into()]
    }

    fn env_pos(id: &str) -> usize {
        crate::environments::env_index(id).expect("known env")
    }

    #[test]
    fn model_name_rule_matches_reference_lowercase_prefix() {
        assert!(model_name_allowed(Some("user/Affine-7b"), "affine"));
        assert!(model_name_allowed(Some("AFFINE"), "affine"));
        assert!(!model_name_allowed(Some("affine/other"), "affine"));
        assert!(!model_name_allowed(None, "affine"));
        assert!(!model_name_allowed(Some("user/aff"), "affine"));
    }

    #[test]
    fn aggregate_keeps_latest_timestamp_per_task_and_doubles_small_datasets() {
        let policy = ScoringPolicy::reference();
        let keys = hotkeys();
        let mut agg = Aggregator::new(&policy, &keys);
        agg.push(&record("m1", "u/affine", "r", "affine:abd", 3, 1.0, 10.0));
        agg.push(&record("m1", "u/affine", "r", "affine:abd", 3, 0.0, 5.0));
        agg.push(&record("m1", "u/affine", "r", "affine:abd", 4, 0.0, 5.0));
        agg.push(&record("m1", "u/affine", "r", "affine:sat", 4, 1.0, 5.0));
        agg.push(&record("m1", "u/affine", "r", "affine:sat", 4, 0.0, 6.0));
        let table = agg.finish();
        let m1 = &table.miners[1];
        assert_eq!(m1.counts[env_pos("affine:abd")], 4);
        assert!((m1.sums[env_pos("affine:abd")] - 2.0).abs() < 1e-12);
        assert_eq!(m1.counts[env_pos("affine:sat")], 1);
        assert!(m1.sums[env_pos("affine:sat")].abs() < 1e-12);
        assert_eq!(table.counters.superseded, 1);
    }

    #[test]
    fn aggregate_revision_change_clears_samples_and_resets_first_block() {
        let policy = ScoringPolicy::reference();
        let keys = hotkeys();
        let mut agg = Aggregator::new(&policy, &keys);
        let mut old = record("m1", "u/affine", "r1", "affine:sat", 1, 1.0, 1.0);
        old.block = Some(50);
        agg.push(&old);
        let mut new = record("m1", "u/affine", "r2", "affine:sat", 2, 1.0, 2.0);
        new.block = Some(90);
        agg.push(&new);
        let table = agg.finish();
        assert_eq!(table.miners[1].counts[env_pos("affine:sat")], 1);
        assert_eq!(table.miners[1].first_block, Some(90));
        assert_eq!(table.miners[1].identity.as_ref().and_then(|i| i.revision.as_deref()), Some("r2"));
    }

    #[test]
    fn aggregate_filters_names_alfworld_ranges_and_unknowns() {
        let policy = ScoringPolicy::reference();
        let keys = hotkeys();
        let mut agg = Aggregator::new(&policy, &keys);
        agg.push(&record("m1", "u/llama", "r", "affine:sat", 1, 1.0, 1.0));
        agg.push(&record("base", "u/llama", "r", "affine:sat", 1, 1.0, 1.0));
        agg.push(&record("m1", "u/affine", "r", "agentgym:alfworld", 2001, 0.5, 1.0));
        agg.push(&record("m1", "u/affine", "r", "agentgym:alfworld", 1, 1.0, 1.0));
        agg.push(&record("m1", "u/affine", "r", "agentgym:sciworld", 2001, 50.0, 1.0));
        agg.push(&record("nobody", "u/affine", "r", "affine:sat", 1, 1.0, 1.0));
        agg.push(&record("m1", "u/affine", "r", "affine:unknown", 1, 1.0, 1.0));
        let table = agg.finish();
        let c = table.counters;
        assert_eq!((c.model_filtered, c.invalid_score, c.task_out_of_range, c.unknown_hotkey, c.unknown_env), (1, 1, 1, 1, 1));
        assert_eq!(table.miners[0].counts[env_pos("affine:sat")], 1, "uid 0 is exempt from the name rule");
        assert!((table.miners[1].sums[env_pos("agentgym:sciworld")] - 0.75).abs() < 1e-12);
        assert_eq!(table.miners[1].active_rank, Some(1));
    }
}

#[cfg(test)]
mod properties {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::*;
    use crate::model::compact::CompactShardBuilder;

    /// Records over a few hotkeys (one unknown), models (one filtered, one absent), revisions (changes
    /// clear samples), environments (one unknown), in- and out-of-range task ids.
    /// `(hotkey, model, revision, env, task id, score, timestamp, block)` choices.
    type Choice = (usize, usize, usize, usize, i64, u8, u8, Option<i64>);

    fn records() -> impl Strategy<Value = Vec<Choice>> {
        prop::collection::vec(
            (0..4_usize, 0..4_usize, 0..2_usize, 0..9_usize, -2..600_i64, 0..3_u8, 0..4_u8, prop::option::of(0..5_i64)),
            0..300,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn push_shard_is_push_of_every_record(shards in prop::collection::vec(records(), 1..4)) {
            const HOTKEYS: [&str; 4] = ["base", "m1", "m2", "stranger"];
            const MODELS: [&str; 3] = ["u/affine-a", "u/Affine-b", "u/other"];
            const REVISIONS: [&str; 2] = ["r1", "r2"];
            let policy = ScoringPolicy::reference();
            let keys: Vec<String> = HOTKEYS[..3].iter().map(|h| (*h).to_owned()).collect();
            let mut one_by_one = Aggregator::new(&policy, &keys);
            let mut by_shard = Aggregator::new(&policy, &keys);
            for shard in &shards {
                let mut builder = CompactShardBuilder::new();
                for &(hotkey, model, revision, env, task, score, ts, block) in shard {
                    let env = ENVIRONMENTS.get(env).map_or("affine:unknown", |spec| spec.id);
                    let task = if env.starts_with("agentgym:alfworld") || env.starts_with("agentgym:sciworld") { task + 2000 } else { task };
                    let record = CompactRecord {
                        hotkey: Cow::Borrowed(HOTKEYS[hotkey]),
                        model: (model < 3).then(|| Cow::Borrowed(MODELS[model])),
                        revision: Some(Cow::Borrowed(REVISIONS[revision])),
                        block,
                        env: Cow::Borrowed(env),
                        score: f64::from(score) / 2.0,
                        task_id: Some(task),
                        timestamp: f64::from(ts),
                    };
                    one_by_one.push(&record);
                    builder.push(record);
                }
                by_shard.push_shard(&builder.finish());
            }
            prop_assert_eq!(by_shard.finish(), one_by_one.finish());
        }
    }
}
