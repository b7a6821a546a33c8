//! Scoring: from deduplicated samples to the weights a validator sets. Pure: no I/O, no clock,
//! no randomness.
//!
//! The pipeline is the reference validator's (`affine/sampling.py` and `cal_weights.py` at
//! 515276e): [`aggregate`] folds records into per-miner statistics, [`beta`] puts a Jeffreys
//! interval on every (miner, environment), eligibility needs 400 samples everywhere and a
//! queryable miner, [`pareto`] finds each subset's frontier under the anti-copy challenge and
//! shares its reward, and [`weights`] turns points into the vector set on chain. Wherever the
//! reference iterated a Python `set`, this code iterates uids in ascending order, so the result
//! is deterministic.

pub mod aggregate;
pub mod beta;
pub mod pareto;
pub mod policy;
pub mod weights;

use std::collections::{BTreeMap, HashMap};

pub use aggregate::{Aggregator, ENV_COUNT, IngestCounters, MinerIdentity, MinerStats, SampleTable};
pub use policy::{ReferenceQuirks, ScoringPolicy};
pub use weights::{BASE_UID, WeightAssignment};

use crate::environments::ENVIRONMENTS;
use pareto::Contender;

/// What the chain says about the miners, as of the scored block.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainView {
    /// Hotkey of each uid.
    pub hotkeys: Vec<String>,
    /// Whether each uid passed the miner validity checks (hot chute, matching revision, ...).
    pub queryable: Vec<bool>,
    /// Block of each uid's first revealed commitment, when known (uid 0 reads as 0).
    pub first_commit_block: Vec<Option<i64>>,
    /// Share of weight burned to uid 0, in `[0, 1]`.
    pub burn: f64,
}

/// The scoring outcome for one miner that had records in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerScore {
    /// Metagraph uid.
    pub uid: u32,
    /// Model and revision of the miner's latest record.
    pub identity: Option<MinerIdentity>,
    /// Deduplicated sample counts per environment.
    pub counts: [u32; ENV_COUNT],
    /// Score sums per environment.
    pub sums: [f64; ENV_COUNT],
    /// Mean normalised score per environment.
    pub accuracy: [f64; ENV_COUNT],
    /// Jeffreys intervals per environment.
    pub intervals: [(f64, f64); ENV_COUNT],
    /// Points per scored layer, from the policy's lowest scored layer up to all environments.
    pub layer_points: Vec<f64>,
    /// Total points.
    pub points: f64,
    /// Whether the miner competed for points (the eligible set, or the queryable active miners
    /// when nobody is eligible).
    pub in_pool: bool,
    /// Whether the miner is eligible for weight.
    pub eligible: bool,
    /// Block used for display: from the records, else from the chain's first commitment.
    pub first_block: Option<i64>,
    /// Block the anti-copy rule used.
    pub challenge_block: Option<i64>,
    /// Weight in the summary (see [`WeightAssignment::by_uid`]).
    pub weight: f64,
}

/// Everything one scoring pass decides.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreReport {
    /// Miners with records in the window, in order of first appearance (the reference's
    /// "active" order).
    pub miners: Vec<MinerScore>,
    /// Winner of each environment among the pool, by uid.
    pub env_winners: [Option<u32>; ENV_COUNT],
    /// Lowest scored layer (layers run from here to `ENV_COUNT`).
    pub min_layer: usize,
    /// The weights.
    pub weights: WeightAssignment,
    /// Why the weights fell back to uid 0, if they did.
    pub note: Option<String>,
    /// Miners considered queryable by the chain view.
    pub queryable_count: usize,
}

impl ScoreReport {
    /// Uids of eligible miners, ascending.
    #[must_use]
    pub fn eligible_uids(&self) -> Vec<u32> {
        let mut uids: Vec<u32> = self.miners.iter().filter(|m| m.eligible).map(|m| m.uid).collect();
        uids.sort_unstable();
        uids
    }
}

/// Intervals are a pure function of `(sum, count)`; miners with identical statistics (copies,
/// worst-case benchmarks) share one computation.
struct IntervalCache<'p> {
    policy: &'p ScoringPolicy,
    known: HashMap<(u64, u32), (f64, f64)>,
}

impl IntervalCache<'_> {
    fn interval(&mut self, sum: f64, count: u32) -> (f64, f64) {
        let policy = self.policy;
        *self
            .known
            .entry((sum.to_bits(), count))
            .or_insert_with(|| beta::beta_interval(sum, count, policy.beta_prior, policy.confidence_level))
    }
}

/// Scores a window: eligibility, intervals, subset frontiers, points and weights.
#[must_use]
pub fn score_window(table: &SampleTable, chain: &ChainView, policy: &ScoringPolicy) -> ScoreReport {
    let mut cache = IntervalCache { policy, known: HashMap::new() };
    let mut active: Vec<&MinerStats> = table.miners.iter().filter(|m| m.is_active()).collect();
    active.sort_by_key(|m| m.active_rank);

    let queryable = |uid: u32| chain.queryable.get(uid as usize).copied().unwrap_or(false);
    let commit_block = |uid: u32| chain.first_commit_block.get(uid as usize).copied().flatten();
    let min_samples = policy.min_samples_per_env;

    let mut miners: Vec<MinerScore> = active
        .iter()
        .map(|stats| {
            let mut accuracy = [0.0; ENV_COUNT];
            let mut intervals = [(0.0, 0.0); ENV_COUNT];
            for env in 0..ENV_COUNT {
                if stats.counts[env] > 0 {
                    accuracy[env] = stats.sums[env] / f64::from(stats.counts[env]);
                    intervals[env] = cache.interval(stats.sums[env], stats.counts[env]);
                }
            }
            let eligible = queryable(stats.uid) && stats.counts.iter().all(|&count| count >= min_samples);
            let display_block = stats.first_block.or_else(|| commit_block(stats.uid));
            let challenge_block = if policy.quirks.commit_blocks_only_for_display {
                stats.first_block
            } else {
                commit_block(stats.uid).or(stats.first_block)
            };
            MinerScore {
                uid: stats.uid,
                identity: stats.identity.clone(),
                counts: stats.counts,
                sums: stats.sums,
                accuracy,
                intervals,
                layer_points: Vec::new(),
                points: 0.0,
                in_pool: false,
                eligible,
                first_block: display_block,
                challenge_block,
                weight: 0.0,
            }
        })
        .collect();

    let any_eligible = miners.iter().any(|m| m.eligible);
    for miner in &mut miners {
        miner.in_pool = if any_eligible { miner.eligible } else { queryable(miner.uid) };
    }

    // The pool in ascending uid order: the deterministic stand-in for the reference's set order.
    let mut pool: Vec<usize> = (0..miners.len()).filter(|&i| miners[i].in_pool).collect();
    pool.sort_by_key(|&i| miners[i].uid);
    let contenders: Vec<Contender> = pool
        .iter()
        .map(|&i| Contender {
            counts: miners[i].counts,
            sums: miners[i].sums,
            intervals: miners[i].intervals,
            first_block: miners[i].challenge_block,
        })
        .collect();
    let dataset_sizes: [u32; ENV_COUNT] =
        std::array::from_fn(|env| u32::try_from(ENVIRONMENTS[env].dataset_size()).expect("dataset sizes fit u32"));
    let dominated = pareto::dominated_subsets(&contenders, policy, &dataset_sizes);

    let mut env_winners = [None; ENV_COUNT];
    if !pool.is_empty() {
        for (env, winner) in env_winners.iter_mut().enumerate() {
            let subset = 1_u8 << env;
            let shares = pareto::frontier_shares(&contenders, &pareto::frontier(&dominated, subset), subset, policy);
            // min by (-share, first block), first in share order on ties, as Python's min().
            let mut best: Option<(usize, f64)> = None;
            for (member, share) in shares {
                #[expect(clippy::float_cmp, reason = "Python's min() on (-share, block) compares shares exactly")]
                let better = best.is_none_or(|(current, current_share)| {
                    share > current_share
                        || (share == current_share && block_is_earlier(contenders[member].first_block, contenders[current].first_block))
                });
                if better {
                    best = Some((member, share));
                }
            }
            *winner = best.map(|(member, _)| miners[pool[member]].uid);
        }
    }

    let min_layer = policy.min_layer(ENV_COUNT);
    let layer_count = ENV_COUNT + 1 - min_layer;
    let mut points = vec![0.0; contenders.len()];
    let mut layer_points = vec![vec![0.0; layer_count]; contenders.len()];
    if !pool.is_empty() {
        for size in min_layer..=ENV_COUNT {
            let subsets = pareto::combinations(ENV_COUNT, size);
            #[expect(clippy::cast_precision_loss, reason = "2^8 and C(8, s) are exact in f64")]
            let reward = policy.layer_scale * f64::from(1_u32 << size) / subsets.len() as f64;
            for subset in subsets {
                let members = pareto::frontier(&dominated, subset);
                for (member, share) in pareto::frontier_shares(&contenders, &members, subset, policy) {
                    points[member] += reward * share;
                    layer_points[member][size - min_layer] += reward * share;
                }
            }
        }
    }
    for (position, &index) in pool.iter().enumerate() {
        miners[index].points = points[position];
        miners[index].layer_points = std::mem::take(&mut layer_points[position]);
    }
    for miner in &mut miners {
        if miner.layer_points.is_empty() {
            miner.layer_points = vec![0.0; layer_count];
        }
    }

    let eligible: Vec<u32> = {
        let mut uids: Vec<u32> = miners.iter().filter(|m| m.eligible).map(|m| m.uid).collect();
        uids.sort_unstable();
        uids
    };
    let points_by_uid: BTreeMap<u32, f64> = miners.iter().filter(|m| m.in_pool).map(|m| (m.uid, m.points)).collect();
    let note = if eligible.is_empty() { Some("No eligible miners, defaulting to uid 0".to_owned()) } else { None };
    let weights = weights::assign_weights(&eligible, &points_by_uid, chain.burn, policy);
    for miner in &mut miners {
        miner.weight = weights.by_uid.get(&miner.uid).copied().unwrap_or(0.0);
    }

    ScoreReport { miners, env_winners, min_layer, weights, note, queryable_count: chain.queryable.iter().filter(|&&q| q).count() }
}

fn block_is_earlier(a: Option<i64>, b: Option<i64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::model::CompactRecord;

    fn chain(hotkeys: &[&str]) -> ChainView {
        ChainView {
            hotkeys: hotkeys.iter().map(|h| (*h).to_owned()).collect(),
            queryable: vec![true; hotkeys.len()],
            first_commit_block: vec![None; hotkeys.len()],
            burn: 0.0,
        }
    }

    /// Every miner gets `per_env` tasks in every env with success probability `skill`
    /// (deterministic pattern), committing at `block`.
    fn table(miners: &[(&str, f64, i64)], per_env: u64, hotkeys: &[String], policy: &ScoringPolicy) -> SampleTable {
        let mut agg = Aggregator::new(policy, hotkeys);
        for (hotkey, skill, block) in miners {
            for spec in &ENVIRONMENTS {
                for task in 0..per_env.min(spec.dataset_size()) {
                    #[expect(clippy::cast_precision_loss, reason = "test data")]
                    let hit = ((task as f64 + 0.5) / per_env as f64) < *skill;
                    let score = if spec.id == "agentgym:sciworld" { if hit { 100.0 } else { -100.0 } } else { f64::from(u8::from(hit)) };
                    agg.push(&CompactRecord {
                        hotkey: Cow::Borrowed(hotkey),
                        model: Some(Cow::Borrowed("u/affine-m")),
                        revision: Some(Cow::Borrowed("r")),
                        block: Some(*block),
                        env: Cow::Borrowed(spec.id),
                        score,
                        task_id: Some(i64::try_from(spec.task_start + task).expect("small")),
                        timestamp: 1.0,
                    });
                }
            }
        }
        agg.finish()
    }

    #[test]
    fn score_window_copy_with_later_block_gets_nothing() {
        let policy = ScoringPolicy::reference();
        let view = chain(&["base", "orig", "copy"]);
        let samples = table(&[("base", 0.3, 0), ("orig", 0.8, 10), ("copy", 0.8, 20)], 500, &view.hotkeys, &policy);
        let report = score_window(&samples, &view, &policy);
        let weight = |uid| report.weights.vector.iter().find(|(u, _)| *u == uid).map(|(_, w)| *w);
        assert_eq!(weight(2), Some(0.0));
        assert!(weight(1).is_some_and(|w| w > 0.9));
        assert!((report.weights.vector.iter().map(|v| v.1).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn score_window_too_few_samples_means_uid_zero_takes_all() {
        let policy = ScoringPolicy::reference();
        let view = chain(&["base", "m1"]);
        let samples = table(&[("base", 0.3, 0), ("m1", 0.8, 10)], 150, &view.hotkeys, &policy);
        let report = score_window(&samples, &view, &policy);
        assert_eq!(report.weights.vector, vec![(0, 1.0)]);
        assert!(report.note.is_some());
        assert!(report.miners.iter().all(|m| m.in_pool), "queryable active miners still compete for display");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A random window of eligible-looking miners with distinct blocks and skills.
    fn miners() -> impl Strategy<Value = Vec<([f64; ENV_COUNT], i64)>> {
        prop::collection::vec((prop::array::uniform8(0.05_f64..0.95), 1_i64..1_000_000), 2..10)
    }

    fn table_of(miners: &[([f64; ENV_COUNT], i64)]) -> SampleTable {
        let count = 500_u32;
        let stats = miners
            .iter()
            .enumerate()
            .map(|(uid, (skill, block))| MinerStats {
                uid: u32::try_from(uid).expect("small"),
                active_rank: Some(u32::try_from(uid).expect("small")),
                identity: None,
                first_block: Some(*block),
                counts: [count; ENV_COUNT],
                sums: skill.map(|s| s * f64::from(count)),
            })
            .collect();
        SampleTable { miners: stats, counters: IngestCounters::default() }
    }

    fn view(size: usize) -> ChainView {
        ChainView {
            hotkeys: (0..size).map(|i| format!("hk{i}")).collect(),
            queryable: vec![true; size],
            first_commit_block: vec![None; size],
            burn: 0.0,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn summary_weights_sum_to_one(miners in miners()) {
            let report = score_window(&table_of(&miners), &view(miners.len()), &ScoringPolicy::reference());
            let total: f64 = report.weights.by_uid.values().sum();
            prop_assert!((total - 1.0).abs() < 1e-9, "sum {}", total);
            prop_assert!(report.weights.vector.iter().all(|(_, w)| (0.0..=1.0).contains(w)));
        }

        #[test]
        fn relabelling_miners_keeps_their_points(miners in miners(), rotate in 0_usize..10) {
            // uid 0 is special (base), so keep it and rotate the others.
            let policy = ScoringPolicy::reference();
            let before = score_window(&table_of(&miners), &view(miners.len()), &policy);
            let mut rotated = miners.clone();
            let len = rotated.len() - 1;
            rotated[1..].rotate_left(rotate % len);
            let after = score_window(&table_of(&rotated), &view(rotated.len()), &policy);
            for (new_uid, miner) in rotated.iter().enumerate() {
                let old_uid = miners.iter().position(|m| m == miner).expect("same miners");
                let points = |report: &ScoreReport, uid: usize| report.miners.iter().find(|m| m.uid as usize == uid).map(|m| m.points);
                let (old, new) = (points(&before, old_uid), points(&after, new_uid));
                prop_assert!(old.zip(new).is_some_and(|(a, b)| (a - b).abs() < 1e-9), "{:?} vs {:?}", old, new);
            }
        }

        #[test]
        fn a_later_copy_never_outweighs_its_original(miners in miners(), original in 0_usize..10) {
            let policy = ScoringPolicy::reference();
            let mut with_copy = miners.clone();
            let source = with_copy[original % miners.len()];
            with_copy.push((source.0, source.1 + 1));
            let report = score_window(&table_of(&with_copy), &view(with_copy.len()), &policy);
            let copy_uid = with_copy.len() - 1;
            let copy = report.miners.iter().find(|m| m.uid as usize == copy_uid).expect("copy scored");
            prop_assert!(copy.points.abs() < 1e-12, "copy got {} points", copy.points);
            let weight_of = |uid: usize| report.weights.by_uid.get(&u32::try_from(uid).expect("small")).copied().unwrap_or(0.0);
            let original_uid = original % miners.len();
            prop_assert!(weight_of(copy_uid) <= weight_of(original_uid) || original_uid == 0);
        }

        #[test]
        fn challenge_is_antisymmetric_and_irreflexive(a in prop::array::uniform2(0.0_f64..1.0), b in prop::array::uniform2(0.0_f64..1.0), blocks in (0_i64..3, 0_i64..3)) {
            let contender = |bounds: [f64; 2], block: i64| pareto::Contender {
                counts: [500; ENV_COUNT],
                sums: [250.0; ENV_COUNT],
                intervals: [(bounds[0].min(bounds[1]), bounds[0].max(bounds[1])); ENV_COUNT],
                first_block: Some(block),
            };
            let (first, second) = (contender(a, blocks.0), contender(b, blocks.1));
            let forward = pareto::challenge(&first, &second, 0, 0);
            let backward = pareto::challenge(&second, &first, 0, 0);
            let flipped = match backward {
                pareto::Verdict::First => pareto::Verdict::Second,
                pareto::Verdict::Second => pareto::Verdict::First,
                pareto::Verdict::Tie => pareto::Verdict::Tie,
            };
            prop_assert_eq!(forward, flipped);
            prop_assert_eq!(pareto::challenge(&first, &first, 0, 0), pareto::Verdict::Tie);
        }
    }
}
